package phone_test

import (
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/callbridge/callbridge/internal/phone"
)

// benchInputs are shared by BenchmarkNormalize and
// BenchmarkPhonenumbersParseFormat so one run gives the ratio.
var benchInputs = []struct {
	name    string
	inputs  []string
	country string
}{
	{"clean", []string{"79161234567"}, "RU"},
	{"formatted", []string{"+7 (916) 123-45-67"}, "RU"},
	{"mixed", []string{
		"8 (916) 123-45-67", "+7 495 123-45-67 доб. 12", "067 123 45 67", "8 029 123 45 67",
		"(11) 91234-5678", "+380501112233", "tel:+7-812-335-11-27", "0 21 11 91234-5678",
	}, ""},
}

// mixedCountries are the default countries of the "mixed" inputs.
var mixedCountries = []string{"RU", "RU", "UA", "BY", "BR", "RU", "RU", "BR"}

var sink string

func BenchmarkNormalize(b *testing.B) {
	for _, bi := range benchInputs {
		b.Run(bi.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				country := bi.country
				if country == "" {
					country = mixedCountries[i]
				}
				out, err := phone.Normalize(bi.inputs[i], country)
				if err != nil {
					b.Fatal(err)
				}
				sink = out
				if i++; i == len(bi.inputs) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkPhonenumbersParseFormat is the baseline: libphonenumber's
// Parse + Format(E164) on the same inputs.
func BenchmarkPhonenumbersParseFormat(b *testing.B) {
	for _, bi := range benchInputs {
		b.Run(bi.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				country := bi.country
				if country == "" {
					country = mixedCountries[i]
				}
				num, err := phonenumbers.Parse(bi.inputs[i], country)
				if err != nil {
					b.Fatal(err)
				}
				sink = strings.TrimPrefix(phonenumbers.Format(num, phonenumbers.E164), "+")
				if i++; i == len(bi.inputs) {
					i = 0
				}
			}
		})
	}
}

// TestBenchInputsAgree keeps the two benchmarks honest: both produce the
// same numbers from the benchmark inputs.
func TestBenchInputsAgree(t *testing.T) {
	for _, bi := range benchInputs {
		for i, in := range bi.inputs {
			country := bi.country
			if country == "" {
				country = mixedCountries[i]
			}
			got, err := phone.Normalize(in, country)
			num, perr := phonenumbers.Parse(in, country)
			if err != nil || perr != nil {
				t.Fatalf("%q: %v / %v", in, err, perr)
			}
			if want := strings.TrimPrefix(phonenumbers.Format(num, phonenumbers.E164), "+"); got != want {
				t.Errorf("%q: Normalize %q, phonenumbers %q", in, got, want)
			}
		}
	}
}
