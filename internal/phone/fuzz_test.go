package phone_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/callbridge/callbridge/internal/phone"
)

var fuzzCountries = []string{"RU", "KZ", "UA", "BY", "BR"}

// callingCodeOf is the calling code of each default country.
var callingCodeOf = map[string]string{"RU": "7", "KZ": "7", "UA": "380", "BY": "375", "BR": "55"}

// FuzzNormalize checks that Normalize never panics and that its results
// are well-formed and stable:
//
//   - on success the output is 8–15 ASCII digits;
//   - on failure the output is "" and the error is one of the sentinels;
//   - "+" + output normalises to output under every default country;
//   - output normalises to itself under the same default country when it
//     is a number of that country. For a number of another country it does
//     too, with documented exceptions (see Normalize): bare digits shorter
//     than 10 are not taken as international, and bare digits that the
//     default country's own dialling rules explain are read that way
//     ("4930123456", +49 30 123456, is a Moscow-region number under "RU";
//     "810…" under RU/KZ/BY is the international prefix 810).
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"79161234567", "+7 (916) 123-45-67", "8 (916) 123-45-67 доб. 123", "%2B78123351127",
		"15400*101@sipproxy.telphin.ru", "101", "anonymous", "скрыт", "", "0", "+",
		"0671234567", "80671234567", "+380 (0)67 123 45 67", "8 029 123 45 67", "(11) 91234-5678",
		"0 21 11 91234-5678", "(11) 8765-4321", "0021 1 212 555 1234", "+44 (0)20 7946 0958",
		"tel:+7-916-123-45-67;ext=12", `"Ivan" <sip:+79161234567@host>`, "+7 916 123 45 67,,12",
		"７９１６１２３４５６７", "8 10 380 67 123 45 67", "\xff\xfe", "+49301234", "4930123456",
		"5540041234", "55900123456",
	} {
		for i := range fuzzCountries {
			f.Add(s, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, raw string, ci uint8) {
		country := fuzzCountries[int(ci)%len(fuzzCountries)]
		out, err := phone.Normalize(raw, country)
		if err != nil {
			if out != "" {
				t.Fatalf("Normalize(%q, %s) = %q with error %v", raw, country, out, err)
			}
			if !errors.Is(err, phone.ErrInvalid) && !errors.Is(err, phone.ErrInternal) && !errors.Is(err, phone.ErrAnonymous) {
				t.Fatalf("Normalize(%q, %s): unexpected error %v", raw, country, err)
			}
			return
		}
		if len(out) < 8 || len(out) > 15 || strings.Trim(out, "0123456789") != "" {
			t.Fatalf("Normalize(%q, %s) = %q: want 8–15 digits", raw, country, out)
		}
		for _, c := range fuzzCountries {
			if again, err := phone.Normalize("+"+out, c); again != out || err != nil {
				t.Fatalf("Normalize(%q, %s) = %q, but Normalize(%q, %s) = %q, %v", raw, country, out, "+"+out, c, again, err)
			}
		}
		again, err := phone.Normalize(out, country)
		if again == out && err == nil {
			return
		}
		cc := callingCodeOf[country]
		switch {
		case strings.HasPrefix(out, cc):
			t.Fatalf("not idempotent: Normalize(%q, %s) = %q, Normalize(%q, %s) = %q, %v", raw, country, out, out, country, again, err)
		case err != nil && len(out) < 10:
			// Documented: bare digits shorter than 10 are not international.
		case err == nil && strings.HasPrefix(again, cc):
			// Documented: bare digits read as a national number.
		case err == nil && strings.HasPrefix(out, "810") && country != "UA" && country != "BR":
			// Documented: bare digits starting with 810 are read as
			// dialled with the RU/KZ/BY international prefix 810.
		default:
			t.Fatalf("not idempotent: Normalize(%q, %s) = %q, Normalize(%q, %s) = %q, %v", raw, country, out, out, country, again, err)
		}
	})
}
