// Package phone is callbridge's phone-number normalisation core. The public
// entry point is package phone (callbridge/phone), a thin wrapper around
// [Normalize].
//
// [Normalize] turns whatever a telephony provider or a CRM puts in a phone
// field ("+7 (916) 123-45-67 доб. 12", "8 029 123 45 67", "%2B380671234567",
// "sip:+5511912345678@host", "(11) 91234-5678") into the digits of the
// E.164 number without the "+": "79161234567". It knows the national rules
// of the countries callbridge's providers serve: Russia and Kazakhstan
// (+7, trunk prefix 8, international prefix 810), Ukraine (+380, trunk 0,
// the old "8 0XX" habit), Belarus (+375, trunk 8 / 80 / 0, international
// prefix 810) and Brazil (+55, DDD area codes, the mobile ninth digit,
// trunk 0 and carrier selection codes). Numbers of every other country are
// accepted in international form ("+<cc>…", "00<cc>…") and checked against
// the possible national-number lengths of their calling code.
//
// It does not replace libphonenumber: it validates the shape of a number
// (calling code, length, leading digits, Brazilian area codes), not whether
// every prefix is allocated. For every number libphonenumber
// (github.com/nyaruka/phonenumbers) considers valid for the supported
// countries, the output is identical to libphonenumber's E.164 formatting
// minus the "+"; the tests check that on thousands of generated numbers.
//
// # Errors
//
// A value that is not a phone number is reported with one of the sentinel
// errors, compared with errors.Is:
//
//   - [ErrAnonymous]: empty, "anonymous", "unknown", "private", "скрыт",
//     all zeros, a lone "+", … — the caller hid the number.
//   - [ErrInternal]: a short extension ("101", "5001", Phonet "001") or a
//     Telphin extension name ("15400*101", "15400*101@sipproxy.telphin.ru").
//   - [ErrInvalid]: anything else that is not a valid number (letters, wrong
//     length, an unknown calling code, input longer than [MaxInputLen]).
//     The returned error wraps ErrInvalid and quotes the input.
//   - [ErrUnknownCountry]: the default country is not one of "RU", "KZ",
//     "UA", "BY", "BR" or "".
//
// ErrAnonymous and ErrInternal are returned unwrapped, so those routine
// outcomes cost no allocation.
//
// # Performance
//
// Normalize works in fixed-size stack buffers and allocates nothing when
// the result is a substring of the input (already clean digits, "+7916…",
// "tel:+7916…"). Otherwise it allocates exactly the result string.
package phone
