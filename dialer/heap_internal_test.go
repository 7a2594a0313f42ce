package dialer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHeap: pops come in (next, number) order through pushes, re-keys
// and removals.
func TestHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 2000
	h := targetHeap{slots: make([]slot, n)}
	for i := range h.slots {
		h.slots[i] = slot{next: rng.Int64N(100), pos: -1}
		h.idx = append(h.idx, int32(i))
	}
	h.init()
	removed := map[int32]bool{}
	for i := range 300 {
		s := int32(rng.IntN(n))
		switch {
		case i%3 == 0 && h.slots[s].pos >= 0:
			h.remove(s)
			removed[s] = true
		case h.slots[s].pos >= 0:
			h.slots[s].next = rng.Int64N(100)
			h.fix(s)
		}
	}
	var got []int32
	for h.len() > 0 {
		s := h.top()
		h.remove(s)
		got = append(got, s)
	}
	if len(got)+len(removed) != n {
		t.Fatalf("%d popped, %d removed, of %d", len(got), len(removed), n)
	}
	if !slices.IsSortedFunc(got, func(a, b int32) int {
		if d := h.slots[a].next - h.slots[b].next; d != 0 {
			return int(d)
		}
		return int(a - b)
	}) {
		t.Fatal("popped out of order")
	}
}

// BenchmarkHeap is the next-target selection alone: take the first
// target, give it a later time, put it back (what a retry does), in heaps
// of 1k to 1M targets.
func BenchmarkHeap(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			h := targetHeap{slots: make([]slot, n)}
			for i := range h.slots {
				h.slots[i] = slot{next: rng.Int64N(1 << 40)}
				h.idx = append(h.idx, int32(i))
			}
			h.init()
			b.ResetTimer()
			for range b.N {
				s := h.top()
				h.remove(s)
				h.slots[s].next += rng.Int64N(1 << 36)
				h.push(s)
			}
		})
	}
}
