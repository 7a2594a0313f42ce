package live

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHistory: the ring keeps the newest entries, grows as they come, and
// knows whether the entries after a sequence number are all there.
func TestHistory(t *testing.T) {
	t.Parallel()
	seqs := func(es []*entry) []uint64 {
		out := []uint64{}
		for _, e := range es {
			out = append(out, e.seq)
		}
		return out
	}
	h := newHistory(20)
	got, ok := h.since(0)
	require.True(t, ok)
	require.Empty(t, got)
	for i := uint64(1); i <= 15; i++ {
		h.add(&entry{seq: i * 2}) // 2, 4, … 30
	}
	got, ok = h.since(7)
	require.True(t, ok)
	require.Equal(t, []uint64{8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}, seqs(got))
	got, ok = h.since(30)
	require.True(t, ok)
	require.Empty(t, got)
	for i := uint64(16); i <= 25; i++ {
		h.add(&entry{seq: i * 2}) // … 50: 2 … 10 dropped
	}
	require.Len(t, h.buf, 20, "grown to its size, no further")
	_, ok = h.since(9)
	require.False(t, ok, "10 was dropped")
	got, ok = h.since(10)
	require.True(t, ok, "nothing after 10 was dropped")
	require.Equal(t, uint64(12), got[0].seq)
	require.Len(t, got, 20)
	got, ok = h.since(49)
	require.True(t, ok)
	require.Equal(t, []uint64{50}, seqs(got))

	none := newHistory(0)
	none.add(&entry{seq: 3})
	_, ok = none.since(2)
	require.False(t, ok, "a history of 0 keeps nothing")
	_, ok = none.since(3)
	require.True(t, ok)
}
