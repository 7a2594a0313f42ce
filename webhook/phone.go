package webhook

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/callbridge/callbridge/internal/phone"
)

// Phone normalises the phone a provider sent in field: the digits of a
// number, or "" for an anonymous caller or an internal extension
// (internal reports which). Anything else — letters, a number of the wrong
// length, a 100-digit string — is an error wrapping ErrBadRequest that
// names field, so a handler answers 400 rather than storing a call with
// "no phone". country is the default country of national forms ("" = RU).
func Phone(field, raw, country string) (digits string, internal bool, err error) {
	if raw == "" {
		return "", false, nil
	}
	d, err := phone.Normalize(raw, country)
	switch {
	case err == nil:
		return d, false, nil
	case errors.Is(err, phone.ErrAnonymous):
		return "", false, nil
	case errors.Is(err, phone.ErrInternal):
		return "", true, nil
	case errors.Is(err, phone.ErrUnknownCountry):
		return "", false, fmt.Errorf("webhook: %s: %w", field, err)
	default:
		return "", false, fmt.Errorf("%w: %s %q is not a phone number, extension or anonymous", ErrBadRequest, field, Clip(raw, 40))
	}
}

// Clip shortens a value sent by a provider for an error message: at most
// n bytes of valid UTF-8, "…" marking a cut.
func Clip(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "?")
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.ToValidUTF8(s, "?") + "…"
}
