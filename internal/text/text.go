// Package text holds the small string helpers several callbridge packages
// share: Clip shortens a value a provider or a user sent before an error
// message quotes it, Unprefixed keeps a provider from being named twice in
// one message, and AppendJSON escapes a JSON string without allocating.
package text

import (
	"strings"
	"unicode/utf8"
)

// Clip shortens s for an error message: at most n bytes of valid UTF-8
// (invalid bytes become "?"), never cutting a rune in half, with "…"
// marking a cut.
func Clip(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "?")
	}
	s = s[:max(n, 0)]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.ToValidUTF8(s, "?") + "…"
}

// Unprefixed is err without its leading prefix (such as "telphin: "), for
// wrapping in a message that already names it, so the provider is named
// once; errors.Is and errors.As still see err.
func Unprefixed(err error, prefix string) error {
	msg, ok := strings.CutPrefix(err.Error(), prefix)
	if !ok {
		return err
	}
	return &prefixFree{msg: msg, err: err}
}

// prefixFree is an error with the text msg wrapping err.
type prefixFree struct {
	msg string
	err error
}

func (e *prefixFree) Error() string { return e.msg }
func (e *prefixFree) Unwrap() error { return e.err }
