package text_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/callbridge/callbridge/internal/text"
)

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 2, "ab…"},
		{"яя", 3, "я…"},
		{"a\xffb", 5, "a?b"},
		{"abc", 0, "…"},
	} {
		if got := text.Clip(tt.s, tt.n); got != tt.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestUnprefixed(t *testing.T) {
	base := errors.New("telphin: unknown extension")
	err := fmt.Errorf("telphin: call from %q: %w", "9", text.Unprefixed(base, "telphin: "))
	if got, want := err.Error(), `telphin: call from "9": unknown extension`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, base) {
		t.Error("errors.Is lost the wrapped error")
	}
	if other := errors.New("x"); text.Unprefixed(other, "telphin: ") != other {
		t.Error("an error without the prefix is returned as it is")
	}
}
