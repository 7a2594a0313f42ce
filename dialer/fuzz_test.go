package dialer_test

import (
	"strings"
	"testing"

	"github.com/callbridge/callbridge/dialer"
)

// FuzzImportCSV: any file is imported without a panic; every target kept
// passes CheckTargets, and every bad row has a line inside the file.
func FuzzImportCSV(f *testing.F) {
	for _, s := range []string{
		"phone,name\n+79161234567,Анна\n",
		"\ufeffТелефон;Имя;Город\n8 916 123-45-67;\"Ко;мпания\";Москва\n",
		"phone\tid\n+5511987654321\tL1\n+5511987654321\tL2\n",
		"phone,name\n\"+7916,x\n1,2,3\n",
		"",
	} {
		f.Add(s, "RU")
	}
	f.Fuzz(func(t *testing.T, in, country string) {
		ts, bad, err := dialer.ImportCSV(strings.NewReader(in), country)
		if err != nil {
			if len(ts) != 0 || len(bad) != 0 {
				t.Fatalf("an error with results: %v", err)
			}
			return
		}
		if b := dialer.CheckTargets(country, ts); len(b) != 0 {
			t.Fatalf("kept targets fail the check: %v", b[0].Error())
		}
		lines := strings.Count(in, "\n") + 1
		for _, b := range bad {
			if b.Line < 2 || b.Line > lines || b.EndLine != 0 && b.EndLine < b.Line || b.Err == nil || b.Field == "" {
				t.Fatalf("bad row %+v of a file of %d lines", b, lines)
			}
		}
	})
}
