package phone

import (
	"testing"
	"unicode/utf8"
)

func TestExtWordsFirstRune(t *testing.T) {
	for _, w := range extWords {
		if r, _ := utf8.DecodeRuneInString(w.word); r != w.first {
			t.Errorf("extWords %q: first rune %q, listed %q", w.word, r, w.first)
		}
	}
}
