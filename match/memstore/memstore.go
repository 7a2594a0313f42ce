package memstore

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

	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/phone"
)

// Defaults of the bounded lists.
const (
	defaultMaxCalls         = 100_000
	defaultMaxNotifications = 10_000
)

var (
	// ErrNotFound reports an unknown client or lead id.
	ErrNotFound = errors.New("memstore: not found")
)

// Option configures a Store.
type Option func(*Store) error

// WithDefaultCountry sets the country of national numbers in client
// phones and fields ("" = RU); give the engine's (match.WithDefaultCountry).
func WithDefaultCountry(country string) Option {
	return func(s *Store) error { s.country = country; return nil }
}

// WithClock sets the clock that stamps CreatedAt of clients and leads
// (default: the system clock); give the engine's (match.WithClock).
func WithClock(c match.Clock) Option {
	return func(s *Store) error {
		if c == nil {
			return errors.New("nil clock")
		}
		s.now = c.Now
		return nil
	}
}

// WithMaxCalls bounds the call log: beyond n records the oldest is
// forgotten. The default is 100,000; n <= 0 keeps the default.
func WithMaxCalls(n int) Option {
	return func(s *Store) error {
		if n > 0 {
			s.maxCalls = n
		}
		return nil
	}
}

// WithMaxNotifications bounds the kept notifications: beyond n the oldest
// is forgotten. The default is 10,000; n <= 0 keeps the default.
func WithMaxNotifications(n int) Option {
	return func(s *Store) error {
		if n > 0 {
			s.maxNotes = n
		}
		return nil
	}
}

// SingleTenant makes the store one CRM for every telephony account: the
// account argument of client, lead and directory methods is ignored, so a
// client seeded once is found for calls from any provider. Call records
// keep their account.
func SingleTenant() Option { return func(s *Store) error { s.single = true; return nil } }

// Store implements every store interface of package match in memory:
// match.ClientStore, match.LeadStore, match.CallLog, match.Directory,
// match.Notifier and match.TaskStore. It is safe for concurrent use, indexes clients by
// normalised phone (their Phone and every field value that is a phone)
// and lists everything in a stable order for an API.
//
// The zero value is not usable; call New.
type Store struct {
	mu       sync.RWMutex
	single   bool
	now      func() time.Time
	country  string
	maxCalls int
	maxNotes int

	clients  []match.Client // in creation order
	accounts map[string]*accountIndex
	seq      uint64 // last generated client id number
	leadSeq  uint64

	leads []match.Lead

	tasks   []match.Task // in creation order
	taskSeq uint64

	calls     []match.CallRecord // ring buffer, callHead = oldest when full
	callHead  int
	callIndex map[callKey]int

	notes    []match.Notification
	noteHead int
	noteKeys map[noteKey]struct{} // keys of the kept notifications

	dialogs map[clientKey][]match.DialogNote // oldest first, at most MaxDialogNotes
}

type clientKey struct{ account, id string }

// MaxDialogNotes bounds the dialog kept per client: older notes are
// dropped.
const MaxDialogNotes = 1000

type callKey struct{ provider, account, callID string }

// noteKey identifies a notification: Notify keeps one per key.
type noteKey struct {
	account, provider, callID, employee string
	kind                                match.NotificationKind
}

func keyOf(n match.Notification) noteKey {
	return noteKey{n.Account, n.Provider, n.CallID, n.Employee, n.Kind}
}

// accountIndex holds the indexes and the directory of one account.
type accountIndex struct {
	byID    map[string]int32   // client id → index in clients
	byPhone map[string]int32   // Phone → first client with it
	byField map[string][]int32 // normalised field value → client indexes
	leads   map[string][]int32 // client id → lead indexes, oldest first
	// phoneLeads indexes the leads without a client by Phone, oldest
	// first.
	phoneLeads map[string][]int32
	leadIDs    map[string]int32
	// leadCalls indexes the leads with a CallID by leadCallKey(Provider,
	// CallID). Leads are never removed; a removal would delete its key.
	leadCalls map[string]int32
	// taskCalls indexes the tasks by leadCallKey(Provider, CallID);
	// taskIDs by ID; openTasks the open ones by phone, in creation order.
	taskCalls map[string]int32
	taskIDs   map[string]int32
	openTasks map[string][]int32
	emps      []match.Employee
	online    []string
}

// New returns an empty store. Phones and field values are normalised
// with phone.Normalize in the country of WithDefaultCountry. It fails on
// an unknown country or a nil option.
func New(opts ...Option) (*Store, error) {
	s := &Store{
		now:       time.Now,
		maxCalls:  defaultMaxCalls,
		maxNotes:  defaultMaxNotifications,
		accounts:  make(map[string]*accountIndex),
		callIndex: make(map[callKey]int),
		noteKeys:  make(map[noteKey]struct{}),
		dialogs:   make(map[clientKey][]match.DialogNote),
	}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("memstore: New: option %d is nil", i+1)
		}
		if err := o(s); err != nil {
			return nil, fmt.Errorf("memstore: New: %w", err)
		}
	}
	if _, err := phone.Normalize("79161234567", s.country); err != nil {
		return nil, fmt.Errorf("memstore: New: %w", err)
	}
	return s, nil
}

var (
	_ match.ClientStore   = (*Store)(nil)
	_ match.ClientGetter  = (*Store)(nil)
	_ match.ClientUpdater = (*Store)(nil)
	_ match.Dialog        = (*Store)(nil)
	_ match.LeadStore     = (*Store)(nil)
	_ match.PhoneLeads    = (*Store)(nil)
	_ match.CallLog       = (*Store)(nil)
	_ match.Directory     = (*Store)(nil)
	_ match.Notifier      = (*Store)(nil)
	_ match.TaskStore     = (*Store)(nil)
)

func (s *Store) tenant(account string) string {
	if s.single {
		return ""
	}
	return account
}

// account returns the index of account, creating it; s.mu must be held for
// writing.
func (s *Store) account(account string) *accountIndex {
	a := s.accounts[account]
	if a == nil {
		a = &accountIndex{
			byID:       make(map[string]int32),
			byPhone:    make(map[string]int32),
			byField:    make(map[string][]int32),
			leads:      make(map[string][]int32),
			phoneLeads: make(map[string][]int32),
			leadIDs:    make(map[string]int32),
			leadCalls:  make(map[string]int32),
			taskCalls:  make(map[string]int32),
			taskIDs:    make(map[string]int32),
			openTasks:  make(map[string][]int32),
		}
		s.accounts[account] = a
	}
	return a
}

// FindClientByPhone implements match.ClientStore.
func (s *Store) FindClientByPhone(_ context.Context, account, phone string) (match.Client, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil {
		return match.Client{}, false, nil
	}
	i, ok := a.byPhone[phone]
	if !ok {
		return match.Client{}, false, nil
	}
	return s.clients[i], true, nil
}

// FindClient implements match.ClientGetter: Client.
func (s *Store) FindClient(_ context.Context, account, id string) (match.Client, bool, error) {
	c, ok := s.Client(account, id)
	return c, ok, nil
}

// FindClientsByField implements match.ClientStore: clients in creation
// order.
func (s *Store) FindClientsByField(_ context.Context, account, phone string, limit int) ([]match.Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil || limit <= 0 {
		return nil, nil
	}
	idx := a.byField[phone]
	out := make([]match.Client, 0, min(limit, len(idx)))
	for _, i := range idx {
		if len(out) == limit {
			break
		}
		out = append(out, s.clients[i])
	}
	return out, nil
}

// CreateClient implements match.ClientStore. An empty ID gets a generated
// one ("c1", "c2", …); an ID already used in the account is an error.
// Phone and field values are normalised; CreatedAt is stored in UTC (a
// zero CreatedAt is stamped by the store's clock).
//
// One phone has at most one client per account: when the account already
// has a client with c's (normalised) Phone, CreateClient creates nothing
// and returns that client, whatever c's ID, so concurrent creations for
// one unknown number yield one client.
func (s *Store) CreateClient(_ context.Context, c match.Client) (match.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(c, true)
}

// AddClients adds clients in order, as CreateClient does, and stops at the
// first error. Unlike CreateClient it adds a client whose phone another
// client already has (a CRM export may hold such duplicates):
// FindClientByPhone finds the first of them.
func (s *Store) AddClients(cs ...match.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		if _, err := s.addLocked(c, false); err != nil {
			return err
		}
	}
	return nil
}

// LoadClients reads a JSON array of clients ({"id","name","phone",
// "responsible"} and optionally "channel", "tags", "fields") into account
// and returns how many were added. Phones are normalised; a phone that is
// not a number is an error naming the client. Like AddClients it keeps
// clients that share a phone.
func (s *Store) LoadClients(account string, r io.Reader) (int, error) {
	var cs []match.Client
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cs); err != nil {
		return 0, fmt.Errorf("memstore: LoadClients: %w", err)
	}
	for i := range cs {
		cs[i].Account = account
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range cs {
		if _, err := s.addLocked(c, false); err != nil {
			return i, fmt.Errorf("memstore: LoadClients: client %d (%q): %w", i, c.ID, text.Unprefixed(err, "memstore: "))
		}
	}
	return len(cs), nil
}

// addLocked stores c. With unique, a client that already has c's phone in
// the account is returned instead of adding c.
func (s *Store) addLocked(c match.Client, unique bool) (match.Client, error) {
	if err := c.Validate(); err != nil {
		return match.Client{}, err
	}
	c.Account = s.tenant(c.Account)
	if c.Phone != "" {
		p, err := phone.Normalize(c.Phone, s.country)
		if err != nil {
			return match.Client{}, fmt.Errorf("memstore: client phone: %w", err)
		}
		c.Phone = p
	}
	if c.Channel == "" {
		c.Channel = match.ChannelTelephony
	}
	c.CreatedAt = c.CreatedAt.UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now().UTC()
	}
	a := s.account(c.Account)
	if unique && c.Phone != "" {
		if i, ok := a.byPhone[c.Phone]; ok {
			return s.clients[i], nil
		}
	}
	if c.ID == "" {
		for {
			s.seq++
			c.ID = "c" + strconv.FormatUint(s.seq, 10)
			if _, used := a.byID[c.ID]; !used {
				break
			}
		}
	} else if _, used := a.byID[c.ID]; used {
		return match.Client{}, fmt.Errorf("memstore: client id %q already exists", c.ID)
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
	for _, p := range s.fieldPhones(c.Fields) {
		a.byField[p] = append(a.byField[p], i)
	}
	return c, nil
}

// fieldPhones returns each distinct phone among the values of fields once,
// in a stable (sorted key) order so the index does not depend on map
// iteration.
func (s *Store) fieldPhones(fields map[string]string) []string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		p, err := phone.Normalize(fields[k], s.country)
		if err != nil || p == "" || slices.Contains(out, p) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// SetClientFields implements match.ClientUpdater.
func (s *Store) SetClientFields(_ context.Context, account, id string, fields map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[s.tenant(account)]
	i, ok := s.indexOf(s.tenant(account), id)
	if !ok {
		return fmt.Errorf("memstore: set client fields: no client %q", id)
	}
	c := s.clients[i]
	f := match.MergeFields(c.Fields, fields)
	old := c.Fields
	c.Fields = f
	if err := c.Validate(); err != nil {
		return fmt.Errorf("memstore: set client fields: %w", err)
	}
	for _, p := range s.fieldPhones(old) {
		a.byField[p] = slices.DeleteFunc(a.byField[p], func(x int32) bool { return x == i })
		if len(a.byField[p]) == 0 {
			delete(a.byField, p)
		}
	}
	for _, p := range s.fieldPhones(f) {
		idx := a.byField[p]
		at, _ := slices.BinarySearch(idx, i) // creation order
		a.byField[p] = slices.Insert(idx, at, i)
	}
	s.clients[i] = c // stored values are replaced, never modified in place
	return nil
}

// SetClientResponsible implements match.Reassigner.
func (s *Store) SetClientResponsible(_ context.Context, account, id, employee string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.indexOf(s.tenant(account), id)
	if !ok {
		return fmt.Errorf("memstore: set client responsible: no client %q: %w", id, ErrNotFound)
	}
	c := s.clients[i]
	c.Responsible = employee
	s.clients[i] = c // stored values are replaced, never modified in place
	return nil
}

// SetLeadResponsible implements match.Reassigner.
func (s *Store) SetLeadResponsible(_ context.Context, account, id, employee string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[s.tenant(account)]
	var i int32
	ok := false
	if a != nil {
		i, ok = a.leadIDs[id]
	}
	if !ok {
		return fmt.Errorf("memstore: set lead responsible: no lead %q: %w", id, ErrNotFound)
	}
	s.leads[i].Responsible = employee
	return nil
}

// AddDialogNotes implements match.Dialog.
func (s *Store) AddDialogNotes(_ context.Context, account, clientID string, notes []match.DialogNote) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := clientKey{s.tenant(account), clientID}
	if _, ok := s.indexOf(k.account, clientID); !ok {
		return fmt.Errorf("memstore: dialog notes: no client %q", clientID)
	}
	d := s.dialogs[k]
	for _, n := range notes {
		if slices.ContainsFunc(d, func(x match.DialogNote) bool {
			return x.Provider == n.Provider && x.CallID == n.CallID && x.Text == n.Text
		}) {
			continue
		}
		n.At = n.At.UTC()
		if len(d) >= MaxDialogNotes {
			d = slices.Delete(d, 0, len(d)-MaxDialogNotes+1)
		}
		d = append(d, n)
	}
	s.dialogs[k] = d
	return nil
}

// DialogNotes returns the dialog of the client of account with id, oldest
// first.
func (s *Store) DialogNotes(account, id string) []match.DialogNote {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.dialogs[clientKey{s.tenant(account), id}])
}

// indexOf returns the index in s.clients of the client of the tenant
// account with id; s.mu is held.
func (s *Store) indexOf(account, id string) (int32, bool) {
	a := s.accounts[account]
	if a == nil {
		return 0, false
	}
	i, ok := a.byID[id]
	return i, ok
}

// Client returns the client with id in account.
func (s *Store) Client(account, id string) (match.Client, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.indexOf(s.tenant(account), id)
	if !ok {
		return match.Client{}, false
	}
	return s.clients[i], true
}

// Clients returns every client in creation order.
func (s *Store) Clients() []match.Client {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.clients)
}

// ClientLeads implements match.LeadStore. The leads without a client are
// no client's: ClientLeads of "" returns none (see PhoneLeads).
func (s *Store) ClientLeads(_ context.Context, account, clientID string) ([]match.Lead, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil {
		return nil, nil
	}
	return s.newestFirst(a.leads[clientID]), nil
}

// PhoneLeads implements match.PhoneLeads: the leads of account without a
// client whose Phone is phone (normalised, as CreateLead stores it),
// newest first.
func (s *Store) PhoneLeads(_ context.Context, account, phone string) ([]match.Lead, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil || phone == "" {
		return nil, nil
	}
	return s.newestFirst(a.phoneLeads[phone]), nil
}

// newestFirst returns the leads at idx (oldest first) newest first; s.mu
// is held.
func (s *Store) newestFirst(idx []int32) []match.Lead {
	out := make([]match.Lead, len(idx))
	for j, i := range idx {
		out[len(idx)-1-j] = s.leads[i]
	}
	return out
}

// CreateLead implements match.LeadStore. An empty ID gets a generated one
// ("l1", "l2", …); CreatedAt is stored in UTC (a zero CreatedAt is stamped
// by the store's clock). A lead for a client the account does not have is
// an error wrapping ErrNotFound.
//
// A lead without a client (empty ClientID) needs a Phone (match.PhoneLeads):
// it is normalised like client phones (WithDefaultCountry), and one that
// is not a number is an error. Without a Phone such a lead is refused as
// one of the unknown client "" (ErrNotFound). The Phone of a lead of a
// client is dropped: it is stored with an empty Phone, found by
// ClientLeads only.
//
// CreateLead is idempotent by call: when l.CallID is not empty and the
// account already has a lead with l's Provider and CallID, it creates
// nothing and returns that lead as stored (with any later ReopenLead),
// whatever l's ID and other values.
func (s *Store) CreateLead(_ context.Context, l match.Lead) (match.Lead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLeadLocked(l)
}

// AddLeads adds leads in order, as CreateLead does (with the given States,
// and leads without a client by Phone), and stops at the first error.
// Like CreateLead it skips a lead whose Provider and CallID an earlier
// lead of the account already has.
func (s *Store) AddLeads(ls ...match.Lead) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range ls {
		if _, err := s.addLeadLocked(l); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) addLeadLocked(l match.Lead) (match.Lead, error) {
	l.Account = s.tenant(l.Account)
	a := s.account(l.Account)
	var ck string
	if l.CallID != "" {
		ck = leadCallKey(l.Provider, l.CallID)
		if i, ok := a.leadCalls[ck]; ok {
			return s.leads[i], nil
		}
	}
	if l.ClientID != "" || l.Phone == "" {
		if _, ok := a.byID[l.ClientID]; !ok {
			return match.Lead{}, fmt.Errorf("memstore: lead for client %q: %w", l.ClientID, ErrNotFound)
		}
		l.Phone = "" // a lead of a client is found by the client
	} else {
		p, err := phone.Normalize(l.Phone, s.country)
		if err != nil {
			return match.Lead{}, fmt.Errorf("memstore: lead phone: %w", err)
		}
		l.Phone = p
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
		return match.Lead{}, fmt.Errorf("memstore: lead id %q already exists", l.ID)
	}
	l.CreatedAt = l.CreatedAt.UTC()
	if l.CreatedAt.IsZero() {
		l.CreatedAt = s.now().UTC()
	}
	i := int32(len(s.leads))
	s.leads = append(s.leads, l)
	a.leadIDs[l.ID] = i
	if l.ClientID != "" {
		a.leads[l.ClientID] = append(a.leads[l.ClientID], i)
	} else {
		a.phoneLeads[l.Phone] = append(a.phoneLeads[l.Phone], i)
	}
	if ck != "" {
		a.leadCalls[ck] = i
	}
	return l, nil
}

// leadCallKey is the key of a lead in accountIndex.leadCalls.
func leadCallKey(provider, callID string) string { return provider + "\x00" + callID }

// ReopenLead implements match.LeadStore.
func (s *Store) ReopenLead(_ context.Context, account, leadID, status string) (match.Lead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[s.tenant(account)]
	if a == nil {
		return match.Lead{}, fmt.Errorf("memstore: lead %q: %w", leadID, ErrNotFound)
	}
	i, ok := a.leadIDs[leadID]
	if !ok {
		return match.Lead{}, fmt.Errorf("memstore: lead %q: %w", leadID, ErrNotFound)
	}
	s.leads[i].Status = status
	s.leads[i].State = match.LeadOpen
	return s.leads[i], nil
}

// Leads returns every lead in creation order.
func (s *Store) Leads() []match.Lead {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.leads)
}

// LogCall implements match.CallLog. The log keeps the newest WithMaxCalls
// records; times are stored in UTC.
func (s *Store) LogCall(_ context.Context, rec match.CallRecord) error {
	rec.StartedAt, rec.AnsweredAt, rec.EndedAt = rec.StartedAt.UTC(), rec.AnsweredAt.UTC(), rec.EndedAt.UTC()
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

// CallStats implements match.CallStats over the calls it keeps.
func (s *Store) CallStats(_ context.Context, account string, from, to time.Time) ([]match.EmployeeStats, error) {
	var c match.StatsCounter
	s.mu.RLock()
	for _, rec := range s.calls {
		if rec.Account == account && !rec.StartedAt.Before(from) && rec.StartedAt.Before(to) {
			c.Add(rec)
		}
	}
	s.mu.RUnlock()
	return c.Stats(), nil
}

// Calls returns the logged calls, newest first (by StartedAt, then
// provider, account and call id).
func (s *Store) Calls() []match.CallRecord {
	s.mu.RLock()
	out := slices.Clone(s.calls)
	s.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b match.CallRecord) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt),
			cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Account, b.Account), cmp.Compare(a.CallID, b.CallID))
	})
	return out
}

// SetEmployees replaces the employees of account (the Directory).
func (s *Store) SetEmployees(account string, es ...match.Employee) {
	cp := make([]match.Employee, len(es))
	for i, e := range es {
		e.Extensions = slices.Clone(e.Extensions)
		cp[i] = e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account(s.tenant(account)).emps = cp
}

// SetOnline replaces the set of employees online in account.
func (s *Store) SetOnline(account string, ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account(s.tenant(account)).online = slices.Clone(ids)
}

// FindEmployee implements match.Directory: key is one of the extensions
// or the login of an employee.
func (s *Store) FindEmployee(_ context.Context, account, key string) (match.Employee, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil || key == "" {
		return match.Employee{}, false, nil
	}
	for _, e := range a.emps {
		if e.Login == key || slices.Contains(e.Extensions, key) {
			return e, true, nil
		}
	}
	return match.Employee{}, false, nil
}

// Employees implements match.Directory, in the order given to SetEmployees.
// The slice is shared: do not modify it.
func (s *Store) Employees(_ context.Context, account string) ([]match.Employee, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.accounts[s.tenant(account)]; a != nil {
		return a.emps, nil
	}
	return nil, nil
}

// Online implements match.Directory.
func (s *Store) Online(_ context.Context, account string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.accounts[s.tenant(account)]; a != nil {
		return a.online, nil
	}
	return nil, nil
}

// Notify implements match.Notifier by keeping the newest WithMaxNotifications
// notifications (At in UTC).
//
// Notify is idempotent: it keeps one notification per Account, Provider,
// CallID, Employee and Kind, the first, so a replayed decision does not
// notify twice. A notification already forgotten (beyond
// WithMaxNotifications) is kept again.
func (s *Store) Notify(_ context.Context, n match.Notification) error {
	n.At = n.At.UTC()
	k := keyOf(n)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.noteKeys[k]; dup {
		return nil
	}
	s.noteKeys[k] = struct{}{}
	if len(s.notes) < s.maxNotes {
		s.notes = append(s.notes, n)
		return nil
	}
	delete(s.noteKeys, keyOf(s.notes[s.noteHead]))
	s.notes[s.noteHead] = n
	s.noteHead = (s.noteHead + 1) % s.maxNotes
	return nil
}

// Notifications returns the kept notifications, oldest first.
func (s *Store) Notifications() []match.Notification {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append(slices.Clone(s.notes[s.noteHead:]), s.notes[:s.noteHead]...)
}

// CreateTask implements match.TaskStore. IDs are generated ("t1", "t2",
// …); CreatedAt is stored in UTC (a zero CreatedAt is stamped by the
// store's clock), as are Due and DoneAt.
//
// CreateTask is idempotent by call: when the account already has a task
// with t's Provider and CallID, it creates nothing and returns that task
// as stored (closed or escalated meanwhile, if so).
func (s *Store) CreateTask(_ context.Context, t match.Task) (match.Task, error) {
	if err := t.Validate(); err != nil {
		return match.Task{}, fmt.Errorf("memstore: create task: %w", err)
	}
	t.Account = s.tenant(t.Account)
	t.Done, t.DoneAt, t.DoneBy, t.Escalated = false, time.Time{}, "", false
	t.Due, t.CreatedAt = t.Due.UTC(), t.CreatedAt.UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(t.Account)
	ck := leadCallKey(t.Provider, t.CallID)
	if i, ok := a.taskCalls[ck]; ok {
		return s.tasks[i], nil
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now().UTC()
	}
	for {
		s.taskSeq++
		t.ID = "t" + strconv.FormatUint(s.taskSeq, 10)
		if _, used := a.taskIDs[t.ID]; !used {
			break
		}
	}
	i := int32(len(s.tasks))
	s.tasks = append(s.tasks, t)
	a.taskCalls[ck] = i
	a.taskIDs[t.ID] = i
	a.openTasks[t.Phone] = append(a.openTasks[t.Phone], i)
	return t, nil
}

// CloseTasks implements match.TaskStore.
func (s *Store) CloseTasks(_ context.Context, account, phone string, at time.Time, by string) ([]match.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[s.tenant(account)]
	if a == nil {
		return nil, nil
	}
	idx := s.byDue(a.openTasks[phone])
	delete(a.openTasks, phone)
	out := make([]match.Task, len(idx))
	for j, i := range idx {
		t := s.tasks[i]
		t.Done, t.DoneAt, t.DoneBy = true, at.UTC(), by
		s.tasks[i] = t // stored values are replaced, never modified in place
		out[j] = t
	}
	return out, nil
}

// OverdueTasks implements match.TaskStore.
func (s *Store) OverdueTasks(_ context.Context, account string, now time.Time) ([]match.Task, error) {
	return s.openTasks(account, func(t match.Task) bool { return !t.Escalated && t.Due.Before(now) }), nil
}

// OpenTasks implements match.TaskStore.
func (s *Store) OpenTasks(_ context.Context, account string) ([]match.Task, error) {
	return s.openTasks(account, func(match.Task) bool { return true }), nil
}

// openTasks returns the open tasks of account that keep says to, oldest
// due first.
func (s *Store) openTasks(account string, keep func(match.Task) bool) []match.Task {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.accounts[s.tenant(account)]
	if a == nil {
		return nil
	}
	var idx []int32
	for _, l := range a.openTasks {
		for _, i := range l {
			if keep(s.tasks[i]) {
				idx = append(idx, i)
			}
		}
	}
	out := make([]match.Task, len(idx))
	for j, i := range s.byDue(idx) {
		out[j] = s.tasks[i]
	}
	return out
}

// byDue returns the task indexes idx sorted oldest due first, then in
// creation order; s.mu is held.
func (s *Store) byDue(idx []int32) []int32 {
	idx = slices.Clone(idx)
	slices.SortFunc(idx, func(i, j int32) int { return cmp.Or(s.tasks[i].Due.Compare(s.tasks[j].Due), cmp.Compare(i, j)) })
	return idx
}

// EscalateTask implements match.TaskStore. An unknown task is an error
// wrapping ErrNotFound.
func (s *Store) EscalateTask(_ context.Context, account, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[s.tenant(account)]
	if a == nil {
		return fmt.Errorf("memstore: escalate task %q: %w", id, ErrNotFound)
	}
	i, ok := a.taskIDs[id]
	if !ok {
		return fmt.Errorf("memstore: escalate task %q: %w", id, ErrNotFound)
	}
	t := s.tasks[i]
	t.Escalated = true
	s.tasks[i] = t
	return nil
}

// Tasks returns every task, open or done, in creation order.
func (s *Store) Tasks() []match.Task {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.tasks)
}
