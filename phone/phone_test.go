package phone_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"

	iphone "github.com/callbridge/callbridge/internal/phone"
	"github.com/callbridge/callbridge/phone"
)

func ExampleNormalize() {
	for _, in := range []struct{ raw, country string }{
		{"8 (916) 123-45-67", "RU"},
		{"+7 (495) 123-45-67 доб. 123", "RU"},
		{"%2B78123351127", "RU"},
		{"8 701 234 56 78", "KZ"},
		{"067 123 45 67", "UA"},
		{"8 029 123 45 67", "BY"},
		{"0 21 (11) 91234-5678", "BR"},
		{"(11) 8765-4321", "BR"},
		{"+44 20 7946 0958", "RU"},
		{"15400*101@sipproxy.telphin.ru", "RU"},
		{"anonymous", "RU"},
		{"8-800-GOOD", "RU"},
	} {
		n, err := phone.Normalize(in.raw, in.country)
		switch {
		case errors.Is(err, phone.ErrInternal):
			fmt.Printf("%s: internal extension\n", in.raw)
		case errors.Is(err, phone.ErrAnonymous):
			fmt.Printf("%s: anonymous\n", in.raw)
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Printf("%s: %s\n", in.raw, n)
		}
	}
	// Output:
	// 8 (916) 123-45-67: 79161234567
	// +7 (495) 123-45-67 доб. 123: 74951234567
	// %2B78123351127: 78123351127
	// 8 701 234 56 78: 77012345678
	// 067 123 45 67: 380671234567
	// 8 029 123 45 67: 375291234567
	// 0 21 (11) 91234-5678: 5511912345678
	// (11) 8765-4321: 5511987654321
	// +44 20 7946 0958: 442079460958
	// 15400*101@sipproxy.telphin.ru: internal extension
	// anonymous: anonymous
	// phone: invalid number "8-800-GOOD": unexpected letter
}

// TestNormalizeErrorsShared checks that this package's sentinels are the
// internal core's, so errors.Is works across both.
func TestNormalizeErrorsShared(t *testing.T) {
	for _, tc := range []struct {
		raw, country string
		mine, core   error
	}{
		{"8-800-GOOD", "RU", phone.ErrInvalid, iphone.ErrInvalid},
		{"101", "RU", phone.ErrInternal, iphone.ErrInternal},
		{"скрыт", "RU", phone.ErrAnonymous, iphone.ErrAnonymous},
		{"79161234567", "US", phone.ErrUnknownCountry, iphone.ErrUnknownCountry},
	} {
		_, err := phone.Normalize(tc.raw, tc.country)
		if !errors.Is(err, tc.mine) || !errors.Is(err, tc.core) {
			t.Errorf("Normalize(%q, %q) = %v; want errors.Is %v in both packages", tc.raw, tc.country, err, tc.mine)
		}
		_, err = iphone.Normalize(tc.raw, tc.country)
		if !errors.Is(err, tc.mine) {
			t.Errorf("iphone.Normalize(%q, %q) = %v; want errors.Is the public %v", tc.raw, tc.country, err, tc.mine)
		}
	}
	sentinels := []error{phone.ErrInvalid, phone.ErrInternal, phone.ErrAnonymous, phone.ErrUnknownCountry}
	for i, a := range sentinels {
		for j, b := range sentinels {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v must not match %v", a, b)
			}
		}
	}
}

// TestNormalize covers the wrapper with one case per country and outcome;
// the exhaustive tables, the agreement test against phonenumbers and the
// fuzz target live in internal/phone.
func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		raw, country, want string
		err                error
	}{
		{"89161234567", "RU", "79161234567", nil},
		{"+7 (916) 123-45-67", "", "79161234567", nil},
		{"87012345678", "KZ", "77012345678", nil},
		{"80671234567", "UA", "380671234567", nil},
		{"80291234567", "BY", "375291234567", nil},
		{"011 91234 5678", "BR", "5511912345678", nil},
		{"380671234567", "RU", "380671234567", nil},
		{"+1 212 555 1234 x12", "BR", "12125551234", nil},
		{"5001", "RU", "", phone.ErrInternal},
		{"Hidden", "BR", "", phone.ErrAnonymous},
		{"+7 916 123", "RU", "", phone.ErrInvalid},
		{"79161234567", "DE", "", phone.ErrUnknownCountry},
	} {
		got, err := phone.Normalize(tc.raw, tc.country)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q, %v", tc.raw, tc.country, got, err, tc.want, tc.err)
		}
	}
}

// normalizeBenchInputs are shared by BenchmarkNormalize and
// BenchmarkPhonenumbersParseFormat so one run gives the ratio.
var normalizeBenchInputs = []struct {
	name, input string
}{
	{"clean", "79161234567"},
	{"formatted", "+7 (916) 123-45-67"},
	{"national", "8 (916) 123-45-67 доб. 12"},
}

var normalizeSink string

func BenchmarkNormalize(b *testing.B) {
	for _, bi := range normalizeBenchInputs {
		b.Run(bi.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := phone.Normalize(bi.input, "RU")
				if err != nil {
					b.Fatal(err)
				}
				normalizeSink = out
			}
		})
	}
}

// BenchmarkPhonenumbersParseFormat is the baseline on the same inputs:
// libphonenumber's Parse + Format(E164), "+" trimmed.
func BenchmarkPhonenumbersParseFormat(b *testing.B) {
	for _, bi := range normalizeBenchInputs {
		b.Run(bi.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				num, err := phonenumbers.Parse(bi.input, "RU")
				if err != nil {
					b.Fatal(err)
				}
				normalizeSink = strings.TrimPrefix(phonenumbers.Format(num, phonenumbers.E164), "+")
			}
		})
	}
}

// TestNormalizeBenchInputsAgree keeps the two benchmarks honest.
func TestNormalizeBenchInputsAgree(t *testing.T) {
	for _, bi := range normalizeBenchInputs {
		got, err := phone.Normalize(bi.input, "RU")
		num, perr := phonenumbers.Parse(bi.input, "RU")
		if err != nil || perr != nil {
			t.Fatalf("%q: %v / %v", bi.input, err, perr)
		}
		if want := strings.TrimPrefix(phonenumbers.Format(num, phonenumbers.E164), "+"); got != want {
			t.Errorf("%q: Normalize %q, phonenumbers %q", bi.input, got, want)
		}
	}
}
