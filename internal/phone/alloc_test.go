//go:build !race

package phone_test

import (
	"testing"

	"github.com/callbridge/callbridge/internal/phone"
)

// TestNormalizeAllocs pins the allocation budget: nothing when the result
// is a substring of the input or the outcome is internal/anonymous, one
// string otherwise. (The race detector changes allocation counts, hence
// the build tag.)
func TestNormalizeAllocs(t *testing.T) {
	for _, tc := range []struct {
		in, country string
		allocs      float64
	}{
		{"79161234567", "RU", 0},
		{"+79161234567", "RU", 0},
		{"tel:+79161234567", "RU", 0},
		{"sip:+79161234567@sipproxy.telphin.ru", "RU", 0},
		{"380671234567", "UA", 0},
		{"5511912345678", "BR", 0},
		{"101", "RU", 0},
		{"15400*101@sipproxy.telphin.ru", "RU", 0},
		{"anonymous", "RU", 0},
		{"", "RU", 0},
		{"+7 (916) 123-45-67", "RU", 1},
		{"8 (916) 123-45-67 доб. 123", "RU", 1},
		{"89161234567", "RU", 1},
		{"0671234567", "UA", 1},
		{"(11) 8765-4321", "BR", 1},
	} {
		got := testing.AllocsPerRun(100, func() {
			_, _ = phone.Normalize(tc.in, tc.country)
		})
		if got != tc.allocs {
			t.Errorf("Normalize(%q, %q): %v allocs/op, want %v", tc.in, tc.country, got, tc.allocs)
		}
	}
}
