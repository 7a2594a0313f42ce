package webhook

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMemoryDedup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Unix(1700000000, 0)
	d := NewMemoryDedup(time.Minute, 3)
	d.now = func() time.Time { return now }

	claim := func(id string) bool {
		ok, err := d.Claim(ctx, id)
		require.NoError(t, err)
		return ok
	}
	require.True(t, claim("a"))
	ok, err := d.Claim(ctx, "a")
	require.False(t, ok)
	require.ErrorIs(t, err, ErrInProgress, "in flight is not processed")
	d.Release(ctx, "a", false)
	require.True(t, claim("a"), "forgotten after a failed delivery")
	d.Release(ctx, "a", true)
	require.False(t, claim("a"), "processed")
	d.Release(ctx, "a", true) // a second release as done changes nothing
	require.False(t, claim("a"))
	// A Queue that dead-letters an accepted event makes the Dedup forget
	// it, so the provider's redelivery is processed again.
	d.Release(ctx, "a", false)
	require.Zero(t, d.Len())
	require.True(t, claim("a"), "forgotten after a dead letter")
	d.Release(ctx, "a", true)
	require.False(t, claim("a"))

	now = now.Add(time.Minute)
	require.True(t, claim("a"), "expired")
	d.Release(ctx, "a", true)

	// Bounded: at most 3 processed ids, the oldest forgotten first.
	for _, id := range []string{"b", "c", "d"} {
		require.True(t, claim(id))
		d.Release(ctx, id, true)
	}
	require.Equal(t, 3, d.Len())
	require.True(t, claim("a"), "evicted as the oldest")
	require.False(t, claim("d"))
}

func TestMemoryDedupMemoryIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := NewMemoryDedup(time.Hour, 1000)
	for i := range 100_000 {
		id := fmt.Sprint(i)
		ok, _ := d.Claim(ctx, id)
		require.True(t, ok)
		d.Release(ctx, id, true)
	}
	require.Equal(t, 1000, d.Len())
	require.Len(t, d.entries, 1000)
}
