package gateway

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
)

// MaxCalls bounds the call log: beyond it the calls that started earliest
// are forgotten (in batches of MaxCalls/16).
const MaxCalls = 100_000

// crmStore is the engine's store: a memstore.Store for clients, leads
// and employees, plus what the paginated API needs without copying whole
// lists: the creation order of clients and leads (ids only; the values
// stay in the memstore.Store) and a call log kept in listing order.
type crmStore struct {
	*memstore.Store

	mu      sync.RWMutex
	clients []string // client ids in creation order
	listed  map[string]bool
	leads   []leadRef // leads in creation order
	leadIDs map[string]bool

	calls callLog
}

// leadRef finds a listed lead: among its client's leads, or its number's
// for a lead without a client.
type leadRef struct{ clientID, phone, id string }

var (
	_ match.ClientStore  = (*crmStore)(nil)
	_ match.ClientGetter = (*crmStore)(nil)
	_ match.LeadStore    = (*crmStore)(nil)
	_ match.CallLog      = (*crmStore)(nil)
)

func newCRMStore(ms *memstore.Store) *crmStore {
	s := &crmStore{Store: ms, listed: map[string]bool{}, leadIDs: map[string]bool{}, calls: callLog{max: MaxCalls, byKey: map[callKey]*match.CallRecord{}}}
	for _, c := range ms.Clients() { // the seed: once, at start
		s.clients = append(s.clients, c.ID)
		s.listed[c.ID] = true
	}
	for _, l := range ms.Leads() {
		s.leads = append(s.leads, leadRef{l.ClientID, l.Phone, l.ID})
		s.leadIDs[l.ID] = true
	}
	return s
}

// CreateClient implements match.ClientStore and remembers the order. A
// phone that already has a client gets that client back: it is listed
// once.
func (s *crmStore) CreateClient(ctx context.Context, c match.Client) (match.Client, error) {
	c, err := s.Store.CreateClient(ctx, c)
	if err == nil {
		s.mu.Lock()
		if !s.listed[c.ID] {
			s.listed[c.ID] = true
			s.clients = append(s.clients, c.ID)
		}
		s.mu.Unlock()
	}
	return c, err
}

// CreateLead implements match.LeadStore and remembers the order. A lead
// the call made already (see match.LeadStore) is listed once.
func (s *crmStore) CreateLead(ctx context.Context, l match.Lead) (match.Lead, error) {
	l, err := s.Store.CreateLead(ctx, l)
	if err == nil {
		s.mu.Lock()
		if !s.leadIDs[l.ID] {
			s.leadIDs[l.ID] = true
			s.leads = append(s.leads, leadRef{l.ClientID, l.Phone, l.ID})
		}
		s.mu.Unlock()
	}
	return l, err
}

// LogCall implements match.CallLog.
func (s *crmStore) LogCall(_ context.Context, rec match.CallRecord) error {
	s.calls.put(rec)
	return nil
}

// clientPage returns up to n clients from position from (in creation
// order) that keep says to keep, and the position after the last one
// looked at.
func (s *crmStore) clientPage(from, n int, keep func(match.Client) bool) (out []match.Client, next int, more bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := from
	for ; i < len(s.clients); i++ {
		c, ok := s.Client("", s.clients[i])
		if !ok || !keep(c) {
			continue
		}
		if len(out) == n {
			return out, i, true
		}
		out = append(out, c)
	}
	return out, i, false
}

// leadPage is clientPage for leads.
func (s *crmStore) leadPage(ctx context.Context, from, n int, keep func(match.Lead) bool) (out []match.Lead, next int, more bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := from
	for ; i < len(s.leads); i++ {
		ref := s.leads[i]
		ls, err := s.ClientLeads(ctx, "", ref.clientID)
		if ref.clientID == "" {
			ls, err = s.PhoneLeads(ctx, "", ref.phone)
		}
		if err != nil {
			continue
		}
		j := slices.IndexFunc(ls, func(l match.Lead) bool { return l.ID == ref.id })
		if j < 0 || !keep(ls[j]) {
			continue
		}
		if len(out) == n {
			return out, i, true
		}
		out = append(out, ls[j])
	}
	return out, i, false
}

type callKey struct{ provider, account, callID string }

// callLog keeps the logged calls sorted oldest first (the reverse of the
// listing order: StartedAt descending, then provider, account and call id
// ascending), so a new call is usually appended and a page is a binary
// search and a walk backwards, with no copy of the whole log.
type callLog struct {
	mu    sync.RWMutex
	max   int
	asc   sortedCalls
	byKey map[callKey]*match.CallRecord
	// byPhone are the calls of each client number, in asc's order
	// (recent).
	byPhone map[string]sortedCalls
}

func keyOf(r *match.CallRecord) callKey { return callKey{r.Provider, r.Account, r.CallID} }

// get is the call with key k, if the log has it.
func (l *callLog) get(k callKey) (match.CallRecord, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if r := l.byKey[k]; r != nil {
		return *r, true
	}
	return match.CallRecord{}, false
}

// listingCmp orders calls as GET /api/calls lists them: newest first.
func listingCmp(a, b *match.CallRecord) int {
	return cmp.Or(b.StartedAt.Compare(a.StartedAt),
		cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Account, b.Account), cmp.Compare(a.CallID, b.CallID))
}

// sortedCalls are calls in the reverse of the listing order (oldest
// first), so that a new call is usually appended.
type sortedCalls []*match.CallRecord

// search returns the first index of s not before r (in s's order).
func (s sortedCalls) search(r *match.CallRecord) int {
	return sort.Search(len(s), func(i int) bool { return listingCmp(s[i], r) <= 0 })
}

// insert adds r in its place.
func (s *sortedCalls) insert(r *match.CallRecord) { *s = slices.Insert(*s, s.search(r), r) }

// remove removes the record r, if s has it.
func (s *sortedCalls) remove(r *match.CallRecord) {
	if i := s.search(r); i < len(*s) && (*s)[i] == r {
		*s = slices.Delete(*s, i, i+1)
	}
}

// replace puts r in the place of old, which sorts as r does.
func (s sortedCalls) replace(old, r *match.CallRecord) {
	if i := s.search(old); i < len(s) && s[i] == old {
		s[i] = r
	}
}

func (l *callLog) put(rec match.CallRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Records are never changed once stored (a page holds pointers to
	// them after the lock is released): an update stores a new one.
	k := keyOf(&rec)
	p := &rec
	old := l.byKey[k]
	l.byKey[k] = p
	if old != nil {
		if old.StartedAt.Equal(rec.StartedAt) && old.ClientPhone == rec.ClientPhone {
			l.asc.replace(old, p) // in the same place
			l.byPhone[old.ClientPhone].replace(old, p)
			return
		}
		l.asc.remove(old)
		l.unindex(old)
	}
	l.asc.insert(p)
	l.index(p)
	if len(l.asc) > l.max {
		drop := len(l.asc) - l.max + l.max/16
		for _, r := range l.asc[:drop] {
			delete(l.byKey, keyOf(r))
			l.unindex(r)
		}
		l.asc = slices.Delete(l.asc, 0, drop)
	}
}

// index adds r to the calls of its number.
func (l *callLog) index(r *match.CallRecord) {
	if r.ClientPhone == "" {
		return
	}
	if l.byPhone == nil {
		l.byPhone = map[string]sortedCalls{}
	}
	ph := l.byPhone[r.ClientPhone]
	ph.insert(r)
	l.byPhone[r.ClientPhone] = ph
}

// unindex removes r from the calls of its number.
func (l *callLog) unindex(r *match.CallRecord) {
	ph, ok := l.byPhone[r.ClientPhone]
	if !ok {
		return
	}
	if ph.remove(r); len(ph) == 0 {
		delete(l.byPhone, r.ClientPhone)
		return
	}
	l.byPhone[r.ClientPhone] = ph
}

// callFilter selects calls of a page.
type callFilter struct {
	from, to  time.Time // StartedAt in [from, to); zero: open
	phone     string
	provider  string
	employee  string
	status    callevent.Status
	hasStatus bool
}

func (f callFilter) keep(r *match.CallRecord) bool {
	return (f.phone == "" || r.ClientPhone == f.phone) && (f.employee == "" || r.Employee == f.employee) &&
		(f.provider == "" || r.Provider == f.provider) &&
		(!f.hasStatus || r.Status == f.status)
}

// judge is f for a listing read newest first, in memory or in a database:
// whether r is kept, and whether the scan stops at r (older than from,
// as every call after it).
func (f callFilter) judge(r *match.CallRecord) (ok, stop bool) {
	if !f.from.IsZero() && r.StartedAt.Before(f.from) {
		return false, true
	}
	return (f.to.IsZero() || r.StartedAt.Before(f.to)) && f.keep(r), false
}

// page returns up to n calls after the call after (nil: from the newest)
// that f keeps, and whether more may follow. The records are shared: do
// not change them.
func (l *callLog) page(after *match.CallRecord, n int, f callFilter) (out []*match.CallRecord, more bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := len(l.asc)
	if after != nil {
		i = l.asc.search(after)
	}
	if !f.to.IsZero() {
		i = min(i, sort.Search(len(l.asc), func(j int) bool { return !l.asc[j].StartedAt.Before(f.to) }))
	}
	for i--; i >= 0; i-- {
		r := l.asc[i]
		ok, stop := f.judge(r)
		if stop {
			break
		}
		if !ok {
			continue
		}
		if len(out) == n {
			return out, true
		}
		if out == nil {
			out = make([]*match.CallRecord, 0, min(n, i+1))
		}
		out = append(out, r)
	}
	return out, false
}

// recent returns up to n of the newest calls of phone, newest first.
func (l *callLog) recent(phone string, n int) []*match.CallRecord {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ph := l.byPhone[phone]
	out := make([]*match.CallRecord, 0, min(n, len(ph)))
	for _, r := range slices.Backward(ph) {
		if len(out) == n {
			break
		}
		out = append(out, r)
	}
	return out
}

// all returns every call in listing order.
func (l *callLog) all() []match.CallRecord {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]match.CallRecord, 0, len(l.asc))
	for _, r := range slices.Backward(l.asc) {
		out = append(out, *r)
	}
	return out
}

func (l *callLog) len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.asc)
}
