package httpx

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type token struct {
	Access, Refresh string
}

func TestCredentialCacheSingleFlight(t *testing.T) {
	t.Parallel()
	// In a synctest bubble the fetch's sleep ends only once every other
	// goroutine is blocked: all 100 Gets are waiting on the one fetch,
	// whatever the machine's load.
	synctest.Test(t, func(t *testing.T) {
		var fetches atomic.Int32
		var prevs []token
		var mu sync.Mutex
		cache := NewCredentialCache(func(ctx context.Context, prev token) (token, time.Time, error) {
			n := fetches.Add(1)
			mu.Lock()
			prevs = append(prevs, prev)
			mu.Unlock()
			time.Sleep(30 * time.Millisecond)
			v := string(rune('0' + n))
			return token{Access: "a" + v, Refresh: "r" + v}, time.Now().Add(time.Hour), nil
		})

		getAll := func(n int, before func()) []token {
			var wg sync.WaitGroup
			out := make([]token, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if before != nil {
						before()
					}
					v, err := cache.Get(t.Context())
					assert.NoError(t, err)
					out[i] = v
				}()
			}
			wg.Wait()
			return out
		}

		for _, v := range getAll(100, nil) {
			require.Equal(t, token{"a1", "r1"}, v)
		}
		require.Equal(t, int32(1), fetches.Load(), "100 concurrent Gets → 1 fetch")

		stale := token{"a1", "r1"}
		for _, v := range getAll(100, func() { cache.Invalidate(stale) }) {
			require.Equal(t, token{"a2", "r2"}, v)
		}
		require.Equal(t, int32(2), fetches.Load(), "100 Invalidate(same stale)+Get → exactly 1 more fetch")
		require.Equal(t, []token{{}, {"a1", "r1"}}, prevs, "fetch receives the previous value")

		cache.Invalidate(stale) // stale no longer cached: no-op
		v, err := cache.Get(t.Context())
		require.NoError(t, err)
		require.Equal(t, token{"a2", "r2"}, v)
		require.Equal(t, int32(2), fetches.Load())
	})
}

func TestCredentialCacheWaiterCancelDoesNotCancelFetch(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	fetchErr := make(chan error, 1)
	cache := NewCredentialCache(func(ctx context.Context, _ string) (string, time.Time, error) {
		close(started)
		<-release
		fetchErr <- ctx.Err()
		return "tok", time.Time{}, nil
	})

	ctx1, cancel1 := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := cache.Get(ctx1)
		first <- err
	}()
	<-started

	second := make(chan string, 1)
	go func() {
		v, err := cache.Get(t.Context())
		assert.NoError(t, err)
		second <- v
	}()

	cancel1()
	select {
	case err := <-first:
		require.ErrorIs(t, err, context.Canceled, "the canceled waiter returns at once")
	case <-time.After(2 * time.Second):
		t.Fatal("canceled waiter did not return")
	}
	close(release)
	require.Equal(t, "tok", <-second)
	require.NoError(t, <-fetchErr, "the fetch context was not canceled")

	v, ok := cache.Peek()
	require.True(t, ok)
	require.Equal(t, "tok", v)
}

func TestCredentialCacheFetchTimeout(t *testing.T) {
	t.Parallel()
	cache := NewCredentialCache(func(ctx context.Context, _ string) (string, time.Time, error) {
		<-ctx.Done()
		return "", time.Time{}, ctx.Err()
	}, WithFetchTimeout(20*time.Millisecond))
	_, err := cache.Get(t.Context())
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestCredentialCacheExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	var fetches atomic.Int32
	cache := NewCredentialCache(func(ctx context.Context, prev int) (int, time.Time, error) {
		fetches.Add(1)
		return prev + 1, clock.Load().Add(time.Hour), nil
	}, WithEarlyExpiry(time.Minute))
	cache.now = func() time.Time { return *clock.Load() }

	get := func() int {
		v, err := cache.Get(t.Context())
		require.NoError(t, err)
		return v
	}
	require.Equal(t, 1, get())
	advance := func(d time.Duration) {
		n := clock.Load().Add(d)
		clock.Store(&n)
	}
	advance(58 * time.Minute)
	require.Equal(t, 1, get(), "still valid before the margin")
	advance(time.Minute + time.Second)
	require.Equal(t, 2, get(), "refreshed within the early-expiry margin")
	require.Equal(t, int32(2), fetches.Load())

	// Seed with a short-lived value: the margin shrinks to half its life.
	cache.Set(10, clock.Load().Add(40*time.Second))
	require.Equal(t, 10, get())
	advance(21 * time.Second)
	require.Equal(t, 11, get())

	// Zero expiry: valid until invalidated.
	cache.Set(20, time.Time{})
	advance(1000 * time.Hour)
	require.Equal(t, 20, get())
	cache.Invalidate(19)
	require.Equal(t, 20, get())
	cache.Invalidate(20)
	require.Equal(t, 21, get())
}

func TestCredentialCacheErrorNotCached(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	boom := errors.New("boom")
	cache := NewCredentialCache(func(ctx context.Context, _ string) (string, time.Time, error) {
		if fetches.Add(1) == 1 {
			return "", time.Time{}, boom
		}
		return "ok", time.Time{}, nil
	})
	_, err := cache.Get(t.Context())
	require.ErrorIs(t, err, boom)
	v, err := cache.Get(t.Context())
	require.NoError(t, err)
	require.Equal(t, "ok", v)
}

func TestCredentialCacheCanceledBeforeGet(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	cache := NewCredentialCache(func(ctx context.Context, _ string) (string, time.Time, error) {
		fetches.Add(1)
		return "x", time.Time{}, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := cache.Get(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, fetches.Load())
}
