package text_test

import (
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
