package webhook

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Dedup remembers which events were already processed, so that a
// redelivered notification is a no-op. Deliveries are at-least-once: an
// event whose processing failed must be forgotten so its redelivery is
// processed, which is why a claim is released as done or not done.
//
// "Processed" and "in progress" are different answers: a redelivery of a
// processed event is acknowledged (200), while a redelivery of an event
// still being processed gets 503 so the provider retries later — the
// first delivery may yet fail, and then only the retry can process it.
type Dedup interface {
	// Claim reports whether the event id may be processed now:
	// (true, nil) claims it; (false, nil) means id was released as done
	// (within the store's retention); (false, ErrInProgress) means another
	// delivery of id holds a claim now. Other errors are failures of the
	// store.
	Claim(ctx context.Context, id string) (bool, error)
	// Release ends a claim. done records id as processed; !done forgets it
	// so a redelivery is processed again. Release(ctx, id, false) also
	// forgets an id already released as done: a Queue does that when it
	// dead-letters an event it had accepted.
	Release(ctx context.Context, id string, done bool)
}

// Defaults of NewMemoryDedup.
const (
	DefaultDedupTTL        = 24 * time.Hour
	DefaultDedupMaxEntries = 100_000
)

// MemoryDedup is an in-memory Dedup with a time-to-live and a bounded size.
// When full, the oldest processed ids are forgotten first, so memory stays
// bounded at the cost of possibly processing a very old redelivery again.
// It is safe for concurrent use.
type MemoryDedup struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // id → element of order (done) or nil (in flight)
	order   list.List                // done ids, oldest first
}

type dedupEntry struct {
	id      string
	expires time.Time
}

// NewMemoryDedup returns a MemoryDedup that remembers processed ids for ttl
// and at most maxEntries of them. Zero values select DefaultDedupTTL and
// DefaultDedupMaxEntries.
func NewMemoryDedup(ttl time.Duration, maxEntries int) *MemoryDedup {
	if ttl <= 0 {
		ttl = DefaultDedupTTL
	}
	if maxEntries <= 0 {
		maxEntries = DefaultDedupMaxEntries
	}
	return &MemoryDedup{ttl: ttl, max: maxEntries, now: time.Now, entries: make(map[string]*list.Element)}
}

// Claim implements Dedup.
func (d *MemoryDedup) Claim(_ context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(d.now())
	if el, ok := d.entries[id]; ok {
		if el == nil {
			return false, ErrInProgress
		}
		return false, nil
	}
	d.entries[id] = nil // in flight
	return true, nil
}

// Release implements Dedup.
func (d *MemoryDedup) Release(_ context.Context, id string, done bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	el, ok := d.entries[id]
	if !ok {
		return
	}
	if !done {
		if el != nil {
			d.order.Remove(el)
		}
		delete(d.entries, id)
		return
	}
	if el != nil { // already done
		return
	}
	for d.order.Len() >= d.max {
		oldest := d.order.Front()
		delete(d.entries, oldest.Value.(dedupEntry).id)
		d.order.Remove(oldest)
	}
	d.entries[id] = d.order.PushBack(dedupEntry{id: id, expires: d.now().Add(d.ttl)})
}

// Len reports how many processed ids are remembered.
func (d *MemoryDedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}

// expireLocked drops processed ids whose time has passed. The TTL is the
// same for every entry, so the list is in expiry order.
func (d *MemoryDedup) expireLocked(now time.Time) {
	for el := d.order.Front(); el != nil; el = d.order.Front() {
		e := el.Value.(dedupEntry)
		if now.Before(e.expires) {
			return
		}
		delete(d.entries, e.id)
		d.order.Remove(el)
	}
}
