// Package text holds the one string helper every callbridge package needs
// for error messages: Clip, which shortens a value a provider or a user
// sent before it is quoted.
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
