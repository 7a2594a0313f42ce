// Package phone normalises the phone numbers telephony providers and CRMs
// write ("8 (916) 123-45-67", "+380 67 123 45 67", "(11) 91234-5678") to
// the digits of their E.164 form ("79161234567"): the form of
// callevent.Event.ClientPhone and the key of every phone lookup in
// callbridge. It is the package to import for phones alone, without the
// rules engine of package match.
package phone

import "github.com/callbridge/callbridge/internal/phone"

// Errors returned by [Normalize]; compare with errors.Is.
var (
	// ErrInvalid reports a value that is not a valid phone number (letters,
	// a wrong length for the country, an unknown calling code, an input
	// longer than 64 bytes). The returned error wraps it with the quoted
	// input.
	ErrInvalid = phone.ErrInvalid

	// ErrInternal reports an internal PBX extension: 2–6 digits ("101",
	// Phonet "001") or a Telphin extension name ("15400*101",
	// "15400*101@sipproxy.telphin.ru"). Returned unwrapped.
	ErrInternal = phone.ErrInternal

	// ErrAnonymous reports a hidden caller: "", "anonymous", "unknown",
	// "private", "restricted", "unavailable", "hidden", "скрыт", "скрытый",
	// all zeros, a lone "+", …. Returned unwrapped.
	ErrAnonymous = phone.ErrAnonymous

	// ErrUnknownCountry reports a default country without national rules;
	// supported are "RU", "KZ", "UA", "BY", "BR" (any case) and "" (RU).
	// The returned error wraps it with the quoted country.
	ErrUnknownCountry = phone.ErrUnknownCountry
)

// Normalize returns the phone number in raw as the digits of its E.164
// form, country code first and without the "+" ("79161234567"): the form
// of callevent.Event.ClientPhone and the key of every phone lookup.
//
// defaultCountry ("RU", "KZ", "UA", "BY", "BR", any case; "" means "RU")
// supplies the national rules for numbers without an international prefix:
//
//   - RU/KZ (+7): "8 (916) 123-45-67", "89161234567", "9161234567",
//     "79161234567" → "79161234567"; Kazakh 7xx numbers come out as "77…";
//     "8 10 …" is the international prefix.
//   - UA (+380): "067 123 45 67", the old "8 067 …", "380…", "+380…".
//   - BY (+375): "8 029 123 45 67", "8 29 …", "029 …", "375…".
//   - BR (+55): "(11) 91234-5678", "011 91234 5678", carrier selection
//     codes "0 21 11 91234-5678", collect calls "90 21 …", "55…"; a legacy
//     8-digit mobile without its ninth digit ("(11) 8765-4321", starting
//     with 6, 8 or 9) gets it added ("5511987654321"), as Brazil has
//     required since 2016; "00 <carrier> <number>" dials abroad.
//
// A number with "+" or "00" is accepted for any calling code when its
// length fits that code. Bare digits that are no national number of the
// default country are tried as international when at least 10 digits long
// and not written with brackets (MegaFon sends "375291234567").
//
// Separators, "tel:"/"sip:user@host" forms, percent-encoding and extension
// suffixes ("доб. 12", "ext 12", "x12", "#12", "вн. 12", ",,12") are
// removed.
//
// Errors: [ErrInternal] and [ErrAnonymous] (unwrapped, so those routine
// outcomes allocate nothing), [ErrInvalid] and [ErrUnknownCountry]
// (wrapped); compare with errors.Is.
//
// Normalize is safe for concurrent use and never panics. It returns a
// substring of raw without allocating when the digits appear there as they
// are ("79161234567", "+79161234567", "tel:+79161234567") and allocates
// only the result string otherwise.
//
// Normalize is idempotent for numbers of the default country, and "+" +
// output always normalises to output. A foreign number's output,
// normalised again without "+", can be read differently when it is shorter
// than 10 digits, starts with 810 under RU/KZ/BY, or also forms a national
// number of the default country ("4930123456" is +49 30 123456 and, under
// "RU", also +7 493 012-34-56): bare digits are ambiguous, so store and
// pass on the output, not a re-normalised copy.
func Normalize(raw, defaultCountry string) (string, error) {
	return phone.Normalize(raw, defaultCountry)
}
