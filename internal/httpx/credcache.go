package httpx

import (
	"context"
	"sync"
	"time"
)

// Defaults for CredentialCache.
const (
	DefaultEarlyExpiry  = 10 * time.Second
	DefaultFetchTimeout = 30 * time.Second
)

// CredentialCache caches one credential (an OAuth token, a session cookie)
// shared by all goroutines of one tenant.
//
// Get returns the cached value while it is valid: until its expiry minus an
// early margin (10 s by default, at most half the remaining lifetime); a
// zero expiry means "valid until invalidated". Otherwise exactly one
// goroutine's call starts fetch (single-flight) and every caller waits for
// that fetch, each returning early with its own ctx.Err() if its ctx ends.
// The fetch itself runs on a context detached from the callers'
// cancellation (context.WithoutCancel, keeping values) with its own timeout,
// so one impatient caller does not fail the fetch for the others.
//
// Invalidate(stale) drops the cached value only if it is still stale: when
// 100 goroutines get a 401 with the same token and all call Invalidate then
// Get, exactly one refresh happens.
//
// fetch receives the previous value (zero if none), even after
// invalidation, for refresh-token flows. A failed fetch is not cached: the
// next Get tries again.
type CredentialCache[T comparable] struct {
	fetch        func(ctx context.Context, prev T) (T, time.Time, error)
	margin       time.Duration
	fetchTimeout time.Duration
	now          func() time.Time

	mu        sync.Mutex
	val       T
	valid     bool
	refreshAt time.Time // zero: never
	flight    *credFlight[T]
}

type credFlight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// CacheOption configures a CredentialCache.
type CacheOption func(*cacheOptions)

type cacheOptions struct {
	margin, fetchTimeout time.Duration
}

// WithEarlyExpiry sets how long before its expiry a credential is refreshed
// (default DefaultEarlyExpiry, 10 s).
func WithEarlyExpiry(d time.Duration) CacheOption {
	return func(o *cacheOptions) { o.margin = max(d, 0) }
}

// WithFetchTimeout bounds one fetch (default DefaultFetchTimeout, 30 s).
func WithFetchTimeout(d time.Duration) CacheOption {
	return func(o *cacheOptions) {
		if d > 0 {
			o.fetchTimeout = d
		}
	}
}

// NewCredentialCache returns an empty cache that obtains values with fetch.
// fetch returns the credential and its expiry (zero: no known expiry).
func NewCredentialCache[T comparable](fetch func(ctx context.Context, prev T) (T, time.Time, error), opts ...CacheOption) *CredentialCache[T] {
	o := cacheOptions{margin: DefaultEarlyExpiry, fetchTimeout: DefaultFetchTimeout}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return &CredentialCache[T]{fetch: fetch, margin: o.margin, fetchTimeout: o.fetchTimeout, now: time.Now}
}

// Get returns a valid credential, fetching it if needed (see the type doc).
func (c *CredentialCache[T]) Get(ctx context.Context) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	c.mu.Lock()
	if c.valid && (c.refreshAt.IsZero() || c.now().Before(c.refreshAt)) {
		v := c.val
		c.mu.Unlock()
		return v, nil
	}
	f := c.flight
	if f == nil {
		f = &credFlight[T]{done: make(chan struct{})}
		c.flight = f
		go c.run(context.WithoutCancel(ctx), f, c.val)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

func (c *CredentialCache[T]) run(ctx context.Context, f *credFlight[T], prev T) {
	ctx, cancel := context.WithTimeout(ctx, c.fetchTimeout)
	defer cancel()
	defer close(f.done)
	v, exp, err := c.fetch(ctx, prev)
	f.val, f.err = v, err
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flight = nil
	if err == nil {
		c.store(v, exp)
	}
}

// Invalidate drops the cached value if it equals stale (the value the
// caller used and saw rejected). A newer value is kept.
func (c *CredentialCache[T]) Invalidate(stale T) {
	c.InvalidateFunc(func(v T) bool { return v == stale })
}

// InvalidateFunc drops the cached value if match reports true for it.
// match runs under the cache lock and must not call the cache.
func (c *CredentialCache[T]) InvalidateFunc(match func(T) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && match(c.val) {
		c.valid = false
	}
}

// Set seeds or replaces the cached value (e.g. a token loaded from storage).
// expiry zero means no known expiry. A fetch already in flight still stores
// its result when it finishes.
func (c *CredentialCache[T]) Set(v T, expiry time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store(v, expiry)
}

// Peek returns the cached value and whether it is currently valid, without
// fetching.
func (c *CredentialCache[T]) Peek() (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.val, c.valid && (c.refreshAt.IsZero() || c.now().Before(c.refreshAt))
}

// store requires c.mu.
func (c *CredentialCache[T]) store(v T, expiry time.Time) {
	c.val, c.valid = v, true
	c.refreshAt = time.Time{}
	if expiry.IsZero() {
		return
	}
	margin := c.margin
	if life := expiry.Sub(c.now()); life < 2*margin {
		margin = max(life/2, 0)
	}
	c.refreshAt = expiry.Add(-margin)
}
