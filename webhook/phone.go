package webhook

import (
	"errors"
	"fmt"

	"github.com/callbridge/callbridge/internal/phone"
	"github.com/callbridge/callbridge/internal/text"
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
		return "", false, fmt.Errorf("%w: %s %q is not a phone number, extension or anonymous", ErrBadRequest, field, text.Clip(raw, 40))
	}
}
