package dialer_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/callbridge/callbridge/dialer"
)

// TestImportCSV: a ";" file with a byte-order mark, the columns named in
// Russian and English, a custom field, quoted cells holding the separator
// and quotes; a quote never closed makes one bad row of the lines it runs
// over, the rows before it kept.
func TestImportCSV(t *testing.T) {
	in := "\ufeffТелефон;Name;ID;Entity;Город;time_zone\n" + // line 1
		"8 (916) 123-45-67;Анна;L1;lead;Москва;\n" + // 2
		"\"+7 (383) 200-00-00\";\"Ко;мпания \"\"Лес\"\"\";C11;company;Новосибирск;Asia/Novosibirsk\n" + // 3
		"+79161234569;\"Дина;L5;lead;;\n" + // 4: a quote never closed…
		"+79161234570;Егор;L6;lead;;\n" // 5: …runs to the end
	ts, bad, err := dialer.ImportCSV(strings.NewReader(in), "RU")
	if err != nil {
		t.Fatal(err)
	}
	want := []dialer.Target{
		{Phone: "8 (916) 123-45-67", Name: "Анна", EntityID: "L1", Entity: "lead", Fields: map[string]string{"Город": "Москва"}},
		{Phone: "+7 (383) 200-00-00", Name: `Ко;мпания "Лес"`, EntityID: "C11", Entity: "company", TimeZone: "Asia/Novosibirsk",
			Fields: map[string]string{"Город": "Новосибирск"}},
	}
	if diff := cmp.Diff(want, ts); diff != "" {
		t.Fatalf("targets (-want +got):\n%s", diff)
	}
	if len(bad) != 1 || bad[0].Error() != `lines 4–5: row: extraneous or missing " in quoted-field` {
		t.Fatalf("bad rows: %v", bad)
	}
}

// TestImportCSVLines: each kind of bad row, each on its own line, is
// reported with its line, the good rows between them kept.
func TestImportCSVLines(t *testing.T) {
	long := strings.Repeat("я", 200)
	rows := []string{
		"phone,name,id,city",              // 1
		"+79161234567,Анна,L1,Москва",     // 2 good
		"+79161234568,Борис",              // 3 two cells
		"not a phone,Вера,L3,",            // 4 bad phone
		",Глеб,L4,",                       // 5 no phone
		"8 916 123 45 67,Ж,L7,",           // 6 the number of line 2
		"+79161234571," + long + ",L8,",   // 7 name too long
		"101,И,L10,",                      // 8 an extension
		"+79161234573,\"Ко\"x,L12,",       // 9 a quote inside a quoted cell
		"+55 11 98765-4321,Maria,L13,Rio", // 10 good
		"",                                // 11 blank: skipped
		"+79161234574,Зоя,L14,",           // 12 good
	}
	ts, bad, err := dialer.ImportCSV(strings.NewReader(strings.Join(rows, "\r\n")), "RU")
	if err != nil {
		t.Fatal(err)
	}
	var phones []string
	for _, tg := range ts {
		phones = append(phones, tg.Phone)
	}
	if diff := cmp.Diff([]string{"+79161234567", "+55 11 98765-4321", "+79161234574"}, phones); diff != "" {
		t.Fatalf("good rows (-want +got):\n%s", diff)
	}
	var got []string
	for _, b := range bad {
		got = append(got, fmt.Sprintf("%d %s", b.Line, b.Field))
	}
	if diff := cmp.Diff([]string{"3 row", "4 phone", "5 phone", "6 phone", "7 name", "8 phone", "9 row"}, got); diff != "" {
		t.Fatalf("bad rows (-want +got):\n%s", diff)
	}
	if !strings.Contains(bad[3].Error(), "79161234567 is also on line 2") || !strings.Contains(bad[5].Error(), "internal extension") {
		t.Fatalf("messages: %v / %v", bad[3], bad[5])
	}
	// The good rows make a campaign.
	r := newRig(t, dialer.NewMemStore(), &fakeCaller{})
	c := must[dialer.Campaign](t)(r.d.Create(ctx, dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna"}}, ts))
	tg := must[dialer.Target](t)(r.store.Target(ctx, c.ID, 2))
	if tg.Phone != "5511987654321" || tg.TimeZone != "America/Sao_Paulo" || tg.Fields["city"] != "Rio" || tg.EntityID != "L13" {
		t.Fatalf("target 2: %+v", tg)
	}
}

// TestImportCSVFile: files that cannot be read as a whole are errors.
func TestImportCSVFile(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"no phone":       "name,id\nАнна,1\n",
		"named twice":    "phone,name,Name\n1,2,3\n",
		"unnamed column": "phone,,name\n1,2,3\n",
		"broken header":  "phone,\"name\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := dialer.ImportCSV(strings.NewReader(in), "RU")
			if !errors.Is(err, dialer.ErrInvalid) {
				t.Fatalf("err %v", err)
			}
		})
	}
	// A header only is no error: no targets (Create refuses none).
	ts, bad, err := dialer.ImportCSV(strings.NewReader("phone;name\n"), "RU")
	if err != nil || len(ts) != 0 || len(bad) != 0 {
		t.Fatalf("%v %v %v", ts, bad, err)
	}
}
