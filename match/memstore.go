package match

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Limits that keep a MemoryStore's memory per client bounded. CreateClient
// and AddClients reject larger clients with ErrTooLarge.
const (
	MaxClientFields = 32  // fields (variables) per client
	MaxClientTags   = 16  // tags per client
	MaxValueLen     = 256 // bytes in a name, phone, tag, field name or value
)

// ErrTooLarge reports a client over the MemoryStore limits.
var ErrTooLarge = errors.New("match: client exceeds the memory store limits")

// ErrNotFound reports an unknown id.
var ErrNotFound = errors.New("match: not found")

// MemoryOption configures a MemoryStore.
type MemoryOption func(*MemoryStore)

// WithMaxCalls bounds the call log: beyond n records the oldest is
// forgotten. The default is 100,000; n <= 0 keeps the default.
func WithMaxCalls(n int) MemoryOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.maxCalls = n
		}
	}
}

// WithMaxNotifications bounds the kept notifications (default 10,000).
func WithMaxNotifications(n int) MemoryOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.maxNotes = n
		}
	}
}

// SingleTenant makes the store one CRM for every telephony account: the
// account argument of client, lead and directory methods is ignored, so a
// client seeded once is found for calls from any provider. Call records
// keep their account.
func SingleTenant() MemoryOption { return func(s *MemoryStore) { s.single = true } }

// WithMemoryClock sets the clock used for CreatedAt (default time.Now).
func WithMemoryClock(now func() time.Time) MemoryOption {
	return func(s *MemoryStore) { s.now = now }
}

// MemoryStore is the in-memory, embedded default of every store interface:
// ClientStore, LeadStore, CallLog, Directory and Notifier. It is safe for
// concurrent use, indexes clients by normalised phone (their Phone and
// every field value that is a phone) and lists everything in a stable
// order for an API.
//
// The zero value is not usable; call NewMemoryStore.
type MemoryStore struct {
	mu       sync.RWMutex
	single   bool
	now      func() time.Time
	country  string
	maxCalls int
	maxNotes int

	clients  []Client // in creation order
	accounts map[string]*memAccount
	seq      uint64 // last generated client id number
	leadSeq  uint64

	leads []Lead

	calls     []CallRecord // ring buffer, callHead = oldest when full
	callHead  int
	callIndex map[callKey]int

	notes    []Notification
	noteHead int
}

type callKey struct{ provider, account, callID string }

type memAccount struct {
	byID    map[string]int32   // client id → index in clients
	byPhone map[string]int32   // Phone → first client with it
	byField map[string][]int32 // normalised field value → client indexes
	leads   map[string][]int32 // client id → lead indexes, oldest first
	leadIDs map[string]int32
	emps    []Employee
	online  []string
}

// NewMemoryStore returns an empty store. Field values are normalised with
// Normalize and defaultCountry ("" = RU).
func NewMemoryStore(defaultCountry string, opts ...MemoryOption) (*MemoryStore, error) {
	if _, err := normalize("79161234567", defaultCountry); err != nil {
		return nil, fmt.Errorf("match: NewMemoryStore: %w", err)
	}
	s := &MemoryStore{
		now:       time.Now,
		country:   defaultCountry,
		maxCalls:  100_000,
		maxNotes:  10_000,
		accounts:  make(map[string]*memAccount),
		callIndex: make(map[callKey]int),
	}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("match: NewMemoryStore: option %d is nil", i+1)
		}
		o(s)
	}
	return s, nil
}

var (
	_ ClientStore = (*MemoryStore)(nil)
	_ LeadStore   = (*MemoryStore)(nil)
	_ CallLog     = (*MemoryStore)(nil)
	_ Directory   = (*MemoryStore)(nil)
	_ Notifier    = (*MemoryStore)(nil)
)

func (s *MemoryStore) tenant(account string) string {
	if s.single {
		return ""
	}
	return account
}

// account returns the index of account, creating it; s.mu must be held for
// writing.
func (s *MemoryStore) account(account string) *memAccount {
	a := s.accounts[account]
	if a == nil {
		a = &memAccount{
			byID:    make(map[string]int32),
			byPhone: make(map[string]int32),
			byField: make(map[string][]int32),
			leads:   make(map[string][]int32),
			leadIDs: make(map[string]int32),
		}
		s.accounts[account] = a
	}
	return a
}

// FindClientByPhone implements ClientStore.
func (s *MemoryStore) FindClientByPhone(_ context.Context, account, phone string) (Client, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil {
		return Client{}, false, nil
	}
	i, ok := a.byPhone[phone]
	if !ok {
		return Client{}, false, nil
	}
	return s.clients[i], true, nil
}

// FindClientsByField implements ClientStore: clients in creation order.
func (s *MemoryStore) FindClientsByField(_ context.Context, account, phone string, limit int) ([]Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil || limit <= 0 {
		return nil, nil
	}
	idx := a.byField[phone]
	out := make([]Client, 0, min(limit, len(idx)))
	for _, i := range idx {
		if len(out) == limit {
			break
		}
		out = append(out, s.clients[i])
	}
	return out, nil
}

// CreateClient implements ClientStore. An empty ID gets a generated one
// ("c1", "c2", …); an ID already used in the account is an error. Phone
// and field values are normalised.
func (s *MemoryStore) CreateClient(_ context.Context, c Client) (Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(c)
}

// AddClients adds clients in order, as CreateClient does, and stops at the
// first error.
func (s *MemoryStore) AddClients(cs ...Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		if _, err := s.addLocked(c); err != nil {
			return err
		}
	}
	return nil
}

// LoadClients reads a JSON array of clients ({"id","name","phone",
// "responsible"} and optionally "channel", "tags", "fields") into account
// and returns how many were added. Phones are normalised; a phone that is
// not a number is an error naming the client.
func (s *MemoryStore) LoadClients(account string, r io.Reader) (int, error) {
	var cs []Client
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cs); err != nil {
		return 0, fmt.Errorf("match: LoadClients: %w", err)
	}
	for i := range cs {
		cs[i].Account = account
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range cs {
		if _, err := s.addLocked(c); err != nil {
			return i, fmt.Errorf("match: LoadClients: client %d (%q): %w", i, c.ID, err)
		}
	}
	return len(cs), nil
}

func (s *MemoryStore) addLocked(c Client) (Client, error) {
	if err := checkClient(c); err != nil {
		return Client{}, err
	}
	c.Account = s.tenant(c.Account)
	if c.Phone != "" {
		p, err := normalize(c.Phone, s.country)
		if err != nil {
			return Client{}, fmt.Errorf("match: client phone: %w", err)
		}
		c.Phone = p
	}
	if c.Channel == "" {
		c.Channel = ChannelTelephony
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now().UTC()
	}
	a := s.account(c.Account)
	if c.ID == "" {
		for {
			s.seq++
			c.ID = "c" + strconv.FormatUint(s.seq, 10)
			if _, used := a.byID[c.ID]; !used {
				break
			}
		}
	} else if _, used := a.byID[c.ID]; used {
		return Client{}, fmt.Errorf("match: client id %q already exists", c.ID)
	}
	// The stored value owns its slices and map, so callers' later changes
	// to theirs don't leak in; stored values are never modified in place.
	c.Tags = slices.Clip(slices.Clone(c.Tags))
	if c.Fields != nil {
		f := make(map[string]string, len(c.Fields))
		for k, v := range c.Fields {
			f[k] = v
		}
		c.Fields = f
	}
	i := int32(len(s.clients))
	s.clients = append(s.clients, c)
	a.byID[c.ID] = i
	if c.Phone != "" {
		if _, ok := a.byPhone[c.Phone]; !ok {
			a.byPhone[c.Phone] = i
		}
	}
	// Index each distinct phone among the field values once, in a stable
	// (sorted key) order so the index does not depend on map iteration.
	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var seen []string
	for _, k := range keys {
		p, err := normalize(c.Fields[k], s.country)
		if err != nil || slices.Contains(seen, p) {
			continue
		}
		seen = append(seen, p)
		a.byField[p] = append(a.byField[p], i)
	}
	return c, nil
}

func checkClient(c Client) error {
	long := func(s string) bool { return len(s) > MaxValueLen }
	if long(c.ID) || long(c.Name) || long(c.Phone) || long(string(c.Channel)) || long(c.Responsible) {
		return fmt.Errorf("%w: a value is longer than %d bytes", ErrTooLarge, MaxValueLen)
	}
	if len(c.Fields) > MaxClientFields {
		return fmt.Errorf("%w: %d fields (max %d)", ErrTooLarge, len(c.Fields), MaxClientFields)
	}
	if len(c.Tags) > MaxClientTags {
		return fmt.Errorf("%w: %d tags (max %d)", ErrTooLarge, len(c.Tags), MaxClientTags)
	}
	for k, v := range c.Fields {
		if long(k) || long(v) {
			return fmt.Errorf("%w: field %.32q is longer than %d bytes", ErrTooLarge, k, MaxValueLen)
		}
	}
	for _, t := range c.Tags {
		if long(t) {
			return fmt.Errorf("%w: a tag is longer than %d bytes", ErrTooLarge, MaxValueLen)
		}
	}
	return nil
}

// Client returns the client with id in account.
func (s *MemoryStore) Client(account, id string) (Client, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil {
		return Client{}, false
	}
	i, ok := a.byID[id]
	if !ok {
		return Client{}, false
	}
	return s.clients[i], true
}

// Clients returns every client in creation order.
func (s *MemoryStore) Clients() []Client {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.clients)
}

// ClientLeads implements LeadStore.
func (s *MemoryStore) ClientLeads(_ context.Context, account, clientID string) ([]Lead, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil {
		return nil, nil
	}
	idx := a.leads[clientID]
	out := make([]Lead, len(idx))
	for j, i := range idx {
		out[len(idx)-1-j] = s.leads[i]
	}
	return out, nil
}

// CreateLead implements LeadStore. An empty ID gets a generated one ("l1",
// "l2", …).
func (s *MemoryStore) CreateLead(_ context.Context, l Lead) (Lead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLeadLocked(l)
}

// AddLeads adds leads in order, as CreateLead does (with the given States),
// and stops at the first error.
func (s *MemoryStore) AddLeads(ls ...Lead) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range ls {
		if _, err := s.addLeadLocked(l); err != nil {
			return err
		}
	}
	return nil
}

func (s *MemoryStore) addLeadLocked(l Lead) (Lead, error) {
	l.Account = s.tenant(l.Account)
	a := s.account(l.Account)
	if _, ok := a.byID[l.ClientID]; !ok {
		return Lead{}, fmt.Errorf("match: lead for client %q: %w", l.ClientID, ErrNotFound)
	}
	if l.ID == "" {
		for {
			s.leadSeq++
			l.ID = "l" + strconv.FormatUint(s.leadSeq, 10)
			if _, used := a.leadIDs[l.ID]; !used {
				break
			}
		}
	} else if _, used := a.leadIDs[l.ID]; used {
		return Lead{}, fmt.Errorf("match: lead id %q already exists", l.ID)
	}
	if l.CreatedAt.IsZero() {
		l.CreatedAt = s.now().UTC()
	}
	i := int32(len(s.leads))
	s.leads = append(s.leads, l)
	a.leadIDs[l.ID] = i
	a.leads[l.ClientID] = append(a.leads[l.ClientID], i)
	return l, nil
}

// ReopenLead implements LeadStore.
func (s *MemoryStore) ReopenLead(_ context.Context, account, leadID, status string) (Lead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[s.tenant(account)]
	if a == nil {
		return Lead{}, fmt.Errorf("match: lead %q: %w", leadID, ErrNotFound)
	}
	i, ok := a.leadIDs[leadID]
	if !ok {
		return Lead{}, fmt.Errorf("match: lead %q: %w", leadID, ErrNotFound)
	}
	s.leads[i].Status = status
	s.leads[i].State = LeadOpen
	return s.leads[i], nil
}

// Leads returns every lead in creation order.
func (s *MemoryStore) Leads() []Lead {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.leads)
}

// LogCall implements CallLog. The log keeps the newest WithMaxCalls records.
func (s *MemoryStore) LogCall(_ context.Context, rec CallRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := callKey{rec.Provider, rec.Account, rec.CallID}
	if i, ok := s.callIndex[k]; ok {
		s.calls[i] = rec
		return nil
	}
	if len(s.calls) < s.maxCalls {
		s.callIndex[k] = len(s.calls)
		s.calls = append(s.calls, rec)
		return nil
	}
	old := s.calls[s.callHead]
	delete(s.callIndex, callKey{old.Provider, old.Account, old.CallID})
	s.calls[s.callHead] = rec
	s.callIndex[k] = s.callHead
	s.callHead = (s.callHead + 1) % s.maxCalls
	return nil
}

// Calls returns the logged calls, newest first (by StartedAt, then
// provider, account and call id).
func (s *MemoryStore) Calls() []CallRecord {
	s.mu.RLock()
	out := slices.Clone(s.calls)
	s.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b CallRecord) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt),
			cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Account, b.Account), cmp.Compare(a.CallID, b.CallID))
	})
	return out
}

// SetEmployees replaces the employees of account (the Directory).
func (s *MemoryStore) SetEmployees(account string, es ...Employee) {
	cp := make([]Employee, len(es))
	for i, e := range es {
		e.Extensions = slices.Clone(e.Extensions)
		cp[i] = e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account(s.tenant(account)).emps = cp
}

// SetOnline replaces the set of employees online in account.
func (s *MemoryStore) SetOnline(account string, ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account(s.tenant(account)).online = slices.Clone(ids)
}

// FindEmployee implements Directory: key is one of the extensions or the
// login of an employee.
func (s *MemoryStore) FindEmployee(_ context.Context, account, key string) (Employee, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil || key == "" {
		return Employee{}, false, nil
	}
	for _, e := range a.emps {
		if e.Login == key || slices.Contains(e.Extensions, key) {
			return e, true, nil
		}
	}
	return Employee{}, false, nil
}

// Employees implements Directory, in the order given to SetEmployees.
// The slice is shared: do not modify it.
func (s *MemoryStore) Employees(_ context.Context, account string) ([]Employee, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.accounts[s.tenant(account)]; a != nil {
		return a.emps, nil
	}
	return nil, nil
}

// Online implements Directory.
func (s *MemoryStore) Online(_ context.Context, account string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.accounts[s.tenant(account)]; a != nil {
		return a.online, nil
	}
	return nil, nil
}

// Notify implements Notifier by keeping the newest WithMaxNotifications
// notifications.
func (s *MemoryStore) Notify(_ context.Context, n Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.notes) < s.maxNotes {
		s.notes = append(s.notes, n)
		return nil
	}
	s.notes[s.noteHead] = n
	s.noteHead = (s.noteHead + 1) % s.maxNotes
	return nil
}

// Notifications returns the kept notifications, oldest first.
func (s *MemoryStore) Notifications() []Notification {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append(slices.Clone(s.notes[s.noteHead:]), s.notes[:s.noteHead]...)
}
