package text_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// AppendJSON writes what encoding/json writes, for every kind of input.
func TestAppendJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "ctl\x00\x01\b\f\n\r\t\x1f\x7f", "<a&b>", "bad\xff\xfeutf8",
		"ls\u2028ps\u2029", "Привет, мир", "emoji 😀", strings.Repeat("x", 100)} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got := append(text.AppendJSON([]byte(`"`), s), '"')
		if string(got) != string(want) {
			t.Errorf("AppendJSON(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("a<b>\x00\xff\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := append(text.AppendJSON([]byte(`"`), s), '"'); string(got) != string(want) {
			t.Fatalf("AppendJSON(%q) = %s, want %s", s, got, want)
		}
	})
}
