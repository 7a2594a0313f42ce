package megafon

import (
	"container/list"
	"sync"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// Bounds of a Handler's memory of call directions.
const (
	// directionMemorySize is how many calls the memory holds; past it the
	// call touched least recently is forgotten. An entry costs about 200
	// bytes, so the memory stays under about 10 MB.
	directionMemorySize = 50_000
	// directionMemoryTTL is how long a call is remembered after its last
	// push: ACCEPTED, history and rating follow INCOMING or OUTGOING within
	// the call, or minutes after it.
	directionMemoryTTL = 2 * time.Hour
)

// directionMemory remembers the direction of recent calls, keyed by
// account and callid, so that pushes without one (ACCEPTED, rating, a
// history without type) get the direction an earlier push of the same
// call stated. It is bounded in size (least recently touched entries go
// first) and in time (entries expire ttl after their last touch). A nil
// *directionMemory remembers nothing.
type directionMemory struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	entries map[string]*list.Element // of *dirEntry
	order   list.List                // front: most recently touched
}

type dirEntry struct {
	key     string
	dir     callevent.Direction
	expires time.Time
}

func newDirectionMemory(max int, ttl time.Duration) *directionMemory {
	return &directionMemory{max: max, ttl: ttl, entries: make(map[string]*list.Element)}
}

func dirKey(account, callID string) string { return account + "\x00" + callID }

// remember records that the call (account, callID) has direction d.
func (m *directionMemory) remember(now time.Time, account, callID string, d callevent.Direction) {
	if m == nil || d == 0 {
		return
	}
	k := dirKey(account, callID)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(now)
	if el, ok := m.entries[k]; ok {
		e := el.Value.(*dirEntry)
		e.dir, e.expires = d, now.Add(m.ttl)
		m.order.MoveToFront(el)
		return
	}
	for m.order.Len() >= m.max {
		m.removeLocked(m.order.Back())
	}
	m.entries[k] = m.order.PushFront(&dirEntry{key: k, dir: d, expires: now.Add(m.ttl)})
}

// recall returns the remembered direction of the call, or 0, and keeps a
// remembered call for another ttl.
func (m *directionMemory) recall(now time.Time, account, callID string) callevent.Direction {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(now)
	el, ok := m.entries[dirKey(account, callID)]
	if !ok {
		return 0
	}
	e := el.Value.(*dirEntry)
	e.expires = now.Add(m.ttl)
	m.order.MoveToFront(el)
	return e.dir
}

// len returns the number of calls remembered.
func (m *directionMemory) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

// expireLocked forgets expired calls: they are at the back, since every
// touch moves an entry to the front with the latest expiry.
func (m *directionMemory) expireLocked(now time.Time) {
	for el := m.order.Back(); el != nil && !now.Before(el.Value.(*dirEntry).expires); el = m.order.Back() {
		m.removeLocked(el)
	}
}

func (m *directionMemory) removeLocked(el *list.Element) {
	delete(m.entries, el.Value.(*dirEntry).key)
	m.order.Remove(el)
}
