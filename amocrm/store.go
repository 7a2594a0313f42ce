package amocrm

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/phone"
)

// Defaults of a Store.
const (
	// DefaultFoundTTL is how long a phone → contact answer is reused.
	DefaultFoundTTL = time.Minute
	// DefaultNotFoundTTL is how long "no contact has this phone" is reused:
	// long enough for one call's lookups, short enough that a contact
	// created by hand is found by the next call.
	DefaultNotFoundTTL = 5 * time.Second
	// DefaultSource is the "source" of logged calls.
	DefaultSource = "callbridge"
	// usersTTL is how long the user list (and pipelines) are reused.
	usersTTL = 10 * time.Minute
	// maxCached bounds every cache of a Store.
	maxCached = 10_000
	// searchTimeout bounds a phone search shared by concurrent callers,
	// which runs detached from their contexts: the rate limiter's wait,
	// the retries and their HTTP timeouts.
	searchTimeout = 2 * time.Minute
)

// Compile-time checks: a Store plugs amoCRM into the rules engine.
var (
	_ match.ClientStore   = (*Store)(nil)
	_ match.LeadStore     = (*Store)(nil)
	_ match.CallLog       = (*Store)(nil)
	_ match.Directory     = (*Store)(nil)
	_ match.Notifier      = (*Store)(nil)
	_ match.Dialog        = (*Store)(nil)
	_ match.ClientUpdater = (*Store)(nil)
	_ match.PopUpper      = (*Store)(nil)
)

// StoreOption configures a Store.
type StoreOption func(*Store) error

// WithExtensions maps PBX extensions to amoCRM user ids. Several
// extensions may map to one user. Calls handled by an unmapped extension
// have no responsible employee (the guide: "the integration works only
// for mapped extensions").
func WithExtensions(ext map[string]int64) StoreOption {
	return func(s *Store) error {
		for k, v := range ext {
			if strings.TrimSpace(k) == "" || v <= 0 {
				return fmt.Errorf("amocrm: extension %q → user %d: want a non-empty extension and a positive user id", k, v)
			}
		}
		s.ext = maps.Clone(ext)
		return nil
	}
}

// WithSource sets the "source" of logged calls (default "callbridge").
func WithSource(source string) StoreOption {
	return func(s *Store) error {
		if source == "" {
			return errors.New("amocrm: empty call source")
		}
		s.source = source
		return nil
	}
}

// WithDefaultCountry sets the country of numbers without a country code in
// contacts' fields ("RU" by default), as in phone.Normalize.
func WithDefaultCountry(cc string) StoreOption {
	return func(s *Store) error {
		if _, err := phone.Normalize("79161234567", cc); err != nil {
			return fmt.Errorf("amocrm: %w", err)
		}
		s.country = cc
		return nil
	}
}

// CacheTTL says how long the phone → contact cache keeps an answer.
type CacheTTL struct {
	// Found is how long a found contact is reused (0: DefaultFoundTTL).
	Found time.Duration
	// NotFound is how long "no contact has this phone" is reused (0:
	// DefaultNotFoundTTL).
	NotFound time.Duration
}

// WithCacheTTL sets how long the phone → contact cache keeps a found
// contact and a "not found" (defaults DefaultFoundTTL, DefaultNotFoundTTL;
// a zero field keeps its default; negative is an error).
func WithCacheTTL(ttl CacheTTL) StoreOption {
	return func(s *Store) error {
		if ttl.Found < 0 || ttl.NotFound < 0 {
			return errors.New("amocrm: negative cache TTL")
		}
		s.foundTTL = cmp.Or(ttl.Found, s.foundTTL)
		s.missTTL = cmp.Or(ttl.NotFound, s.missTTL)
		return nil
	}
}

// WithClock sets the clock of the caches (default time.Now); give it the
// engine's clock (match.WithClock) when tests move time.
func WithClock(now func() time.Time) StoreOption {
	return func(s *Store) error {
		if now == nil {
			return errors.New("amocrm: nil clock")
		}
		s.now = now
		return nil
	}
}

// WithLogger sets the logger of the Store (default: the discard logger).
// The Client's logger is callbridge.WithLogger.
func WithLogger(l *slog.Logger) StoreOption {
	return func(s *Store) error {
		if l == nil {
			return errors.New("amocrm: nil logger")
		}
		s.log = l
		return nil
	}
}

// Store is amoCRM behind package match's store interfaces: clients are
// contacts, and companies whose number no contact has (see ClientID for
// their ids); leads are leads; the call log is /api/v4/calls or a call
// note on the chosen lead; the cards of live calls (match.PopUpper) and
// the notifier are the incoming-call pop-up; and the directory is the
// account's users plus an extension → user map. Pass it to
// match.NewEngine. One Store serves one amoCRM account: the account
// argument of its methods is only copied into the results.
//
// It is safe for concurrent use. It caches phone → client answers briefly
// (one call does not search twice), the clients' lead ids and leads it
// has seen, the user list, the pipelines and the custom fields (10
// minutes), the calls it has logged (a call logged again is not written
// twice) and the pop-ups it has shown (an hour). It is also a
// match.Dialog and a match.ClientUpdater: client fields (call variables)
// are contact or company custom fields (SetClientFields,
// WithContactFields). With WithUnsorted, inbound calls from unknown
// numbers go to "Неразобранное". It is a match.TaskStore too: call-back
// tasks are amoCRM tasks (see CreateTask).
type Store struct {
	c        *Client
	ext      map[string]int64
	source   string
	country  string
	foundTTL time.Duration
	missTTL  time.Duration
	now      func() time.Time
	log      *slog.Logger
	flights  singleflight.Group
	fieldIDs map[string]int64 // WithContactFields
	unsorted *unsortedConfig  // WithUnsorted

	mu        sync.Mutex
	phones    map[string]phoneEntry
	cards     map[string]timed[card] // by client id (ClientID)
	leads     map[int64]timed[Lead]
	logged    map[string]time.Time
	users     timed[[]User]
	pipelines timed[[]Pipeline]
	popped    map[string]time.Time // pop-ups shown: provider, account, call, user, phase
	noted     map[string]time.Time // dialog notes written: client, provider, call, text
	// fieldLists are the contacts' and companies' custom fields
	// (SetClientFields).
	fieldLists   map[EntityType]*fieldList
	unsortedUIDs map[string]string   // unsorted entries added: uniq → uid
	autoMade     map[int64]time.Time // contacts created for calls (WithUnsorted's warning)

	tasks taskCache // call-back tasks (match.TaskStore, taskstore.go)
}

type timed[T any] struct {
	v   T
	exp time.Time
}

// phoneEntry is the cached answer of a phone search: the cards whose
// PHONE field holds the phone (contacts; companies only when no contact
// does) and the cards with another field holding it (contacts, then
// companies), each group oldest first.
type phoneEntry struct {
	byPhone, byField []card
	exp              time.Time
}

// card is a contact or a company as the Store caches it: what a
// match.Client is made of, and the card's lead ids.
type card struct {
	entity      EntityType // EntityContacts or EntityCompanies
	id          int64
	name        string
	responsible int64
	createdAt   int64 // Unix seconds
	fields      []CustomField
	tags        []string
	leads       []int64
}

func contactCard(c Contact) card {
	return card{EntityContacts, c.ID, c.Name, c.ResponsibleUserID, c.CreatedAt, c.CustomFields, c.TagNames(), c.LeadIDs()}
}

func companyCard(c Company) card {
	return card{EntityCompanies, c.ID, c.Name, c.ResponsibleUserID, c.CreatedAt, c.CustomFields, c.TagNames(), c.LeadIDs()}
}

// ref is the card's match.Client ID.
func (c card) ref() string { return ClientID(c.entity, c.id) }

// CompanyIDPrefix begins the match.Client ID of an amoCRM company
// ("company:123"). amoCRM numbers contacts and companies in separate
// sequences, so a contact and a company may have the same number; a
// contact's ID is its number alone ("123").
const CompanyIDPrefix = "company:"

// ClientID is the match.Client ID a Store gives an amoCRM card: a
// company's id after CompanyIDPrefix ("company:123"), any other entity's
// (a contact's) id alone ("123").
func ClientID(entity EntityType, id int64) string {
	if entity == EntityCompanies {
		return CompanyIDPrefix + strconv.FormatInt(id, 10)
	}
	return strconv.FormatInt(id, 10)
}

// ParseClientID reads a match.Client ID of a Store (see ClientID): the
// entity (EntityContacts or EntityCompanies) and its amoCRM id. ok is
// false for anything else ("", not a positive decimal id, another
// prefix).
func ParseClientID(id string) (entity EntityType, n int64, ok bool) {
	entity = EntityContacts
	if rest, company := strings.CutPrefix(id, CompanyIDPrefix); company {
		entity, id = EntityCompanies, rest
	}
	if n = parseID(id); n == 0 {
		return "", 0, false
	}
	return entity, n, true
}

// NewStore returns a Store over the amoCRM client c. A nil option is an
// error.
func NewStore(c *Client, opts ...StoreOption) (*Store, error) {
	if c == nil {
		return nil, errors.New("amocrm: NewStore: nil Client")
	}
	s := &Store{
		c: c, source: DefaultSource, country: "RU", foundTTL: DefaultFoundTTL, missTTL: DefaultNotFoundTTL,
		now: time.Now, log: slog.New(slog.DiscardHandler),
		phones: map[string]phoneEntry{}, cards: map[string]timed[card]{}, leads: map[int64]timed[Lead]{},
		logged: map[string]time.Time{}, popped: map[string]time.Time{}, noted: map[string]time.Time{},
		fieldLists:   map[EntityType]*fieldList{EntityContacts: {}, EntityCompanies: {}},
		unsortedUIDs: map[string]string{}, autoMade: map[int64]time.Time{},
	}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("amocrm: NewStore: option %d is nil", i+1)
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// prune keeps a cache under maxCached entries: expired ones go first,
// then arbitrary ones. s.mu is held.
func prune[K comparable, V any](m map[K]V, expired func(V) bool) {
	if len(m) < maxCached {
		return
	}
	for k, v := range m {
		if expired(v) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < maxCached*9/10 {
			break
		}
		delete(m, k)
	}
}

// search returns the verified cards of a normalised phone, cached: the
// contacts, and when no contact's PHONE field holds the phone the
// companies too (a second request).
func (s *Store) search(ctx context.Context, phone string) (phoneEntry, error) {
	s.mu.Lock()
	e, ok := s.phones[phone]
	s.mu.Unlock()
	if ok && s.now().Before(e.exp) {
		return e, nil
	}
	if err := ctx.Err(); err != nil {
		return phoneEntry{}, err
	}
	// The search is shared by every caller asking for phone meanwhile, so
	// it runs detached from the first caller's cancellation (keeping its
	// values), bounded by searchTimeout; each caller stops waiting when
	// its own ctx is done.
	ch := s.flights.DoChan("phone:"+phone, func() (any, error) {
		// A search that ended between the look at the cache above and
		// this flight has filled it: no second request.
		s.mu.Lock()
		e, ok := s.phones[phone]
		s.mu.Unlock()
		if ok && s.now().Before(e.exp) {
			return e, nil
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), searchTimeout)
		defer cancel()
		e, err := s.lookup(ctx, phone)
		if err != nil {
			return phoneEntry{}, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.now()
		e.exp = now.Add(s.missTTL)
		if len(e.byPhone)+len(e.byField) > 0 {
			e.exp = now.Add(s.foundTTL)
		}
		prune(s.phones, func(x phoneEntry) bool { return !now.Before(x.exp) })
		if old, ok := s.phones[phone]; ok && len(old.byPhone) > 0 && len(e.byPhone) == 0 && now.Before(old.exp) {
			// CreateClient stored the contact while this search ran.
			return old, nil
		}
		s.phones[phone] = e
		for _, cd := range slices.Concat(e.byPhone, e.byField) {
			s.putCardLocked(cd, now)
		}
		return e, nil
	})
	select {
	case <-ctx.Done():
		return phoneEntry{}, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return phoneEntry{}, r.Err
		}
		return r.Val.(phoneEntry), nil
	}
}

// lookup searches the phone's contacts and, when no contact's PHONE field
// holds it, its companies.
func (s *Store) lookup(ctx context.Context, phone string) (phoneEntry, error) {
	contacts, contactsByField, err := s.c.searchPhone(ctx, phone, s.country)
	if err != nil {
		return phoneEntry{}, err
	}
	var e phoneEntry
	for _, ct := range contacts {
		e.byPhone = append(e.byPhone, contactCard(ct))
	}
	for _, ct := range contactsByField {
		e.byField = append(e.byField, contactCard(ct))
	}
	if len(e.byPhone) > 0 {
		return e, nil
	}
	companies, companiesByField, err := s.c.searchCompanyPhone(ctx, phone, s.country)
	if err != nil {
		return phoneEntry{}, fmt.Errorf("amocrm: search companies: %w", err)
	}
	for _, co := range companies {
		e.byPhone = append(e.byPhone, companyCard(co))
	}
	for _, co := range companiesByField {
		e.byField = append(e.byField, companyCard(co))
	}
	return e, nil
}

// putCardLocked caches a card read with its lead ids. s.mu is held.
func (s *Store) putCardLocked(cd card, now time.Time) {
	prune(s.cards, func(x timed[card]) bool { return !now.Before(x.exp) })
	s.cards[cd.ref()] = timed[card]{cd, now.Add(s.foundTTL)}
}

// FindClientByPhone implements match.ClientStore: the oldest contact whose
// PHONE field holds phone (verified by the last 10 digits), else the
// oldest company whose PHONE field holds it (seed 002: a company's number
// matches the company). A contact wins over a company: companies are
// searched only when no contact has the number, and their client ids
// are "company:<id>" (ClientID).
func (s *Store) FindClientByPhone(ctx context.Context, account, phone string) (match.Client, bool, error) {
	e, err := s.search(ctx, phone)
	if err != nil || len(e.byPhone) == 0 {
		return match.Client{}, false, err
	}
	return s.toClient(e.byPhone[0], account, phone), true, nil
}

// FindClientsByField implements match.ClientStore: up to limit contacts,
// then companies, with another field holding phone, from the same
// (cached) search; companies are among them only when no contact's PHONE
// field holds phone (then FindClientByPhone finds that contact). A limit
// of 0 or less returns none, without a request.
func (s *Store) FindClientsByField(ctx context.Context, account, phone string, limit int) ([]match.Client, error) {
	if limit <= 0 {
		return nil, nil
	}
	e, err := s.search(ctx, phone)
	if err != nil {
		return nil, err
	}
	var out []match.Client
	for _, cd := range e.byField[:min(limit, len(e.byField))] {
		out = append(out, s.toClient(cd, account, phone))
	}
	return out, nil
}

func (s *Store) toClient(cd card, account, phone string) match.Client {
	c := match.Client{
		ID: cd.ref(), Account: account, Name: cd.name, Phone: phone,
		Channel: match.ChannelTelephony, Responsible: userID(cd.responsible), Tags: cd.tags,
	}
	if cd.createdAt > 0 {
		c.CreatedAt = time.Unix(cd.createdAt, 0).UTC()
	}
	for _, f := range cd.fields {
		if len(f.Values) == 0 {
			continue
		}
		if c.Fields == nil {
			c.Fields = map[string]string{}
		}
		c.Fields[cmp.Or(f.FieldCode, f.FieldName, strconv.FormatInt(f.FieldID, 10))] = fmt.Sprint(f.Values[0].Value)
	}
	return c
}

func userID(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// parseID reads a decimal amoCRM id; "" and non-numbers are 0.
func parseID(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// CreateClient implements match.ClientStore: POST /api/v4/contacts with
// the name, the phone as a work phone (PHONE, enum WORK), the responsible
// and the tags (the engine tags a contact made for an inbound call with
// the dialled company number). Clients are always made as contacts; the
// engine makes one only for a number FindClientByPhone did not find, so a
// company's number gets none.
func (s *Store) CreateClient(ctx context.Context, c match.Client) (match.Client, error) {
	ct := Contact{Name: c.Name, ResponsibleUserID: parseID(c.Responsible)}
	if c.Phone != "" {
		ct.CustomFields = []CustomField{PhoneField(c.Phone)}
	}
	if tags := Tags(c.Tags...); len(tags) > 0 {
		ct.Embedded = &Embedded{Tags: tags}
	}
	out, err := s.c.CreateContacts(ctx, []Contact{ct})
	if err != nil {
		return match.Client{}, err
	}
	ct.ID = out[0].ID
	now := s.now()
	ct.CreatedAt = now.Unix()
	ct.Embedded = &Embedded{Tags: Tags(c.Tags...), Leads: []Ref{}}
	cd := contactCard(ct)
	s.mu.Lock()
	s.putCardLocked(cd, now)
	if c.CreatedFromCall && s.unsorted != nil {
		prune(s.autoMade, func(t time.Time) bool { return now.Sub(t) > time.Hour })
		s.autoMade[ct.ID] = now
	}
	if c.Phone != "" {
		// The contact goes after the phone's other contacts, before its
		// companies: a contact wins.
		e := s.phones[c.Phone]
		i := slices.IndexFunc(e.byPhone, func(x card) bool { return x.entity != EntityContacts })
		if i < 0 {
			i = len(e.byPhone)
		}
		e.byPhone = slices.Insert(slices.Clone(e.byPhone), i, cd)
		e.exp = now.Add(s.foundTTL)
		s.phones[c.Phone] = e
	}
	s.mu.Unlock()
	c.ID, c.CreatedAt = cd.ref(), now.UTC()
	return c, nil
}

// ClientLeads implements match.LeadStore: the contact's or company's
// leads, newest first. The lead ids come from the cached search (or GET
// the contact or company); the leads' statuses need one GET
// /api/v4/leads unless all are cached. A client without leads costs no
// request.
func (s *Store) ClientLeads(ctx context.Context, account, clientID string) ([]match.Lead, error) {
	entity, id, ok := ParseClientID(clientID)
	if !ok {
		return nil, fmt.Errorf("amocrm: client id %q is not an amoCRM contact or company id", clientID)
	}
	s.mu.Lock()
	now := s.now()
	cc, ok := s.cards[ClientID(entity, id)]
	s.mu.Unlock()
	if !ok || !now.Before(cc.exp) {
		cd, err := s.readCard(ctx, entity, id)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.putCardLocked(cd, now)
		s.mu.Unlock()
		cc.v = cd
	}
	ids := cc.v.leads
	var out []Lead
	var missing []int64
	s.mu.Lock()
	for _, lid := range ids {
		if l, ok := s.leads[lid]; ok && now.Before(l.exp) {
			out = append(out, l.v)
		} else {
			missing = append(missing, lid)
		}
	}
	s.mu.Unlock()
	if len(missing) > 0 {
		got, err := s.c.Leads(ctx, missing...)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		for _, l := range got {
			s.putLeadLocked(l, now)
		}
		s.mu.Unlock()
		out = append(out, got...)
	}
	slices.SortFunc(out, func(a, b Lead) int { return cmp.Or(cmp.Compare(b.CreatedAt, a.CreatedAt), cmp.Compare(b.ID, a.ID)) })
	res := make([]match.Lead, 0, len(out))
	for _, l := range out {
		if !l.IsDeleted {
			res = append(res, toLead(l, account, clientID))
		}
	}
	return res, nil
}

// readCard reads a contact or company with its lead ids.
func (s *Store) readCard(ctx context.Context, entity EntityType, id int64) (card, error) {
	if entity == EntityCompanies {
		co, err := s.c.Company(ctx, id)
		if err != nil {
			return card{}, err
		}
		return companyCard(*co), nil
	}
	ct, err := s.c.Contact(ctx, id)
	if err != nil {
		return card{}, err
	}
	return contactCard(*ct), nil
}

func (s *Store) putLeadLocked(l Lead, now time.Time) {
	prune(s.leads, func(x timed[Lead]) bool { return !now.Before(x.exp) })
	s.leads[l.ID] = timed[Lead]{l, now.Add(s.foundTTL)}
}

func toLead(l Lead, account, clientID string) match.Lead {
	out := match.Lead{
		ID: strconv.FormatInt(l.ID, 10), Account: account, ClientID: clientID, Name: l.Name,
		Pipeline: userID(l.PipelineID), Status: userID(l.StatusID), Responsible: userID(l.ResponsibleUserID),
	}
	switch l.StatusID {
	case StatusWon:
		out.State = match.LeadWon
	case StatusLost:
		out.State = match.LeadLost
	}
	if l.CreatedAt > 0 {
		out.CreatedAt = time.Unix(l.CreatedAt, 0).UTC()
	}
	return out
}

// CreateLead implements match.LeadStore: POST /api/v4/leads linked to the
// client: a contact as the lead's main contact, a company as its company
// (_embedded.companies). Pipeline and Status are amoCRM ids or names
// (looked up in the pipelines, cached); empty = the main pipeline's first
// stage. A non-empty Source is added as a tag.
func (s *Store) CreateLead(ctx context.Context, l match.Lead) (match.Lead, error) {
	entity, clientID, linked := ParseClientID(l.ClientID)
	pipelineID, statusID, err := s.stage(ctx, l.Pipeline, l.Status)
	if err != nil {
		return match.Lead{}, err
	}
	body := Lead{Name: l.Name, PipelineID: pipelineID, StatusID: statusID, ResponsibleUserID: parseID(l.Responsible)}
	if linked || l.Source != "" {
		body.Embedded = &Embedded{Tags: Tags(l.Source)}
		switch {
		case linked && entity == EntityCompanies:
			body.Embedded.Companies = []Ref{{ID: clientID}}
		case linked:
			body.Embedded.Contacts = []Contact{{ID: clientID, IsMain: true}}
		}
	}
	out, err := s.c.CreateLeads(ctx, []Lead{body})
	if err != nil {
		return match.Lead{}, err
	}
	body.ID = out[0].ID
	now := s.now()
	body.CreatedAt = now.Unix()
	s.mu.Lock()
	s.putLeadLocked(body, now)
	if cc, ok := s.cards[ClientID(entity, clientID)]; linked && ok {
		cc.v.leads = append(slices.Clone(cc.v.leads), body.ID)
		s.cards[ClientID(entity, clientID)] = cc
	}
	s.mu.Unlock()
	l.ID, l.CreatedAt, l.State = strconv.FormatInt(body.ID, 10), now.UTC(), match.LeadOpen
	l.Pipeline, l.Status = cmp.Or(userID(pipelineID), l.Pipeline), cmp.Or(userID(statusID), l.Status)
	return l, nil
}

// ReopenLead implements match.LeadStore: PATCH the lead's status (an id,
// or a status name of the lead's pipeline). The lead's ClientID is its
// main contact, else its company ("company:<id>").
func (s *Store) ReopenLead(ctx context.Context, account, leadID, status string) (match.Lead, error) {
	id := parseID(leadID)
	s.mu.Lock()
	cl, ok := s.leads[id]
	s.mu.Unlock()
	l := cl.v
	if !ok {
		got, err := s.c.Leads(ctx, id)
		if err != nil {
			return match.Lead{}, err
		}
		if len(got) == 0 {
			return match.Lead{}, fmt.Errorf("amocrm: lead %s: %w", leadID, ErrNotFound)
		}
		l = got[0]
	}
	pipelineID, statusID, err := s.stage(ctx, userID(l.PipelineID), status)
	if err != nil {
		return match.Lead{}, err
	}
	if statusID == 0 {
		return match.Lead{}, errors.New("amocrm: ReopenLead needs a status")
	}
	if err := s.c.UpdateLeadStatus(ctx, id, pipelineID, statusID); err != nil {
		return match.Lead{}, err
	}
	l.PipelineID, l.StatusID = cmp.Or(pipelineID, l.PipelineID), statusID
	s.mu.Lock()
	s.putLeadLocked(l, s.now())
	s.mu.Unlock()
	clientID := ""
	if l.Embedded != nil {
		for _, c := range l.Embedded.Contacts {
			if clientID == "" || c.IsMain {
				clientID = userID(c.ID)
			}
		}
		if clientID == "" && len(l.Embedded.Companies) > 0 {
			clientID = ClientID(EntityCompanies, l.Embedded.Companies[0].ID)
		}
	}
	return toLead(l, account, clientID), nil
}

// stage resolves a pipeline and status given as ids or names. Names need
// the pipelines (one request, cached).
func (s *Store) stage(ctx context.Context, pipeline, status string) (pipelineID, statusID int64, err error) {
	pipelineID, statusID = parseID(pipeline), parseID(status)
	if (pipeline == "" || pipelineID != 0) && (status == "" || statusID != 0) {
		return pipelineID, statusID, nil
	}
	ps, err := s.pipelineList(ctx)
	if err != nil {
		return 0, 0, err
	}
	var p *Pipeline
	for i := range ps {
		if (pipelineID != 0 && ps[i].ID == pipelineID) || (pipelineID == 0 && pipeline != "" && strings.EqualFold(ps[i].Name, pipeline)) ||
			(pipeline == "" && ps[i].IsMain) {
			p = &ps[i]
			break
		}
	}
	if p == nil {
		return 0, 0, fmt.Errorf("amocrm: unknown pipeline %q", pipeline)
	}
	pipelineID = p.ID
	if status != "" && statusID == 0 {
		for _, st := range p.Embedded.Statuses {
			if strings.EqualFold(st.Name, status) {
				statusID = st.ID
			}
		}
		if statusID == 0 {
			return 0, 0, fmt.Errorf("amocrm: pipeline %q has no status %q", p.Name, status)
		}
	}
	return pipelineID, statusID, nil
}

func (s *Store) pipelineList(ctx context.Context) ([]Pipeline, error) {
	return cached(s, ctx, "pipelines", &s.pipelines, s.c.Pipelines)
}

// cached returns *slot while fresh, else refreshes it single-flight.
func cached[T any](s *Store, ctx context.Context, key string, slot *timed[T], fetch func(context.Context) (T, error)) (T, error) {
	s.mu.Lock()
	v := *slot
	s.mu.Unlock()
	if s.now().Before(v.exp) {
		return v.v, nil
	}
	r, err, _ := s.flights.Do(key, func() (any, error) {
		x, err := fetch(ctx)
		if err != nil {
			return x, err
		}
		s.mu.Lock()
		*slot = timed[T]{x, s.now().Add(usersTTL)}
		s.mu.Unlock()
		return x, nil
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return r.(T), nil
}

// CallUniq is the uniq of a call logged by a Store: a stable UUID-shaped
// id of provider, account and call id, so a retried write is recognised.
func CallUniq(provider, account, callID string) string {
	h := sha256.Sum256([]byte(provider + "\x00" + account + "\x00" + callID))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// CallStatusOf maps a call outcome to amoCRM's call_status: success → 4,
// missed, not available, canceled, failed → 6 (no answer), busy → 7,
// not found → 5 (wrong number).
func CallStatusOf(st callevent.Status) CallStatus {
	switch st {
	case callevent.Success:
		return CallSuccess
	case callevent.Busy:
		return CallBusy
	case callevent.NotFound:
		return CallWrongNumber
	default:
		return CallNoAnswer
	}
}

var callResults = map[CallStatus]string{
	CallSuccess:     "Разговор состоялся",
	CallNoAnswer:    "Не дозвонился",
	CallBusy:        "Номер занят",
	CallWrongNumber: "Неверный номер",
}

// CallFor is the amoCRM call a Store logs for rec: direction, uniq
// (CallUniq), duration (talk time; for an unanswered call the time the
// client waited, as the guide shows it), source, recording link, phone,
// status and result, and the employee as call_responsible,
// responsible_user_id and created_by.
func (s *Store) CallFor(rec match.CallRecord) Call {
	st := CallStatusOf(rec.Status)
	d := rec.Duration
	if rec.Status != callevent.Success {
		d = rec.Wait
	}
	emp := parseID(rec.Employee)
	c := Call{
		Direction: Inbound, Uniq: CallUniq(rec.Provider, rec.Account, rec.CallID),
		Duration: int(d.Round(time.Second) / time.Second), Source: s.source, Link: rec.RecordingURL,
		Phone: FormatPhone(rec.ClientPhone), CallStatus: st, CallResult: callResults[st],
		CallResponsible: emp, ResponsibleUserID: emp, CreatedBy: emp,
	}
	if rec.Status == callevent.Missed {
		c.CallResult = "Пропущенный звонок"
	}
	if rec.Direction == callevent.Outbound {
		c.Direction = Outbound
	}
	if !rec.StartedAt.IsZero() {
		c.CreatedAt = rec.StartedAt.Unix()
	}
	return c
}

// LogCall implements match.CallLog. A call attached to a lead is written
// as a call note on that lead; otherwise it goes to POST /api/v4/calls
// (amoCRM places it on the contact or company with the phone), and if
// amoCRM finds no entity with the phone (it would drop the call) it is
// written as a note on the client's contact or company instead. A call without a contact
// (unknown number, creation off) is not sent — amoCRM would drop it —
// and stays with the engine's late binding, which logs it again once a
// contact with the phone appears within the window; under WithUnsorted an
// inbound one goes to "Неразобранное" instead (AddUnsortedCall), once per
// call. Anonymous calls are not logged. amoCRM calls cannot be changed
// once written: a call this Store already logged is not written again.
func (s *Store) LogCall(ctx context.Context, rec match.CallRecord) error {
	if s.unsorted != nil && rec.ClientID == "" && rec.ClientPhone != "" && rec.Direction == callevent.Inbound {
		_, err := s.AddUnsortedCall(ctx, rec)
		return err
	}
	entity, clientID, _ := ParseClientID(rec.ClientID)
	if s.unsorted != nil && rec.Direction == callevent.Inbound && entity == EntityContacts {
		s.mu.Lock()
		_, auto := s.autoMade[clientID]
		delete(s.autoMade, clientID)
		s.mu.Unlock()
		if auto {
			s.log.WarnContext(ctx, "amocrm: WithUnsorted is set, but the engine created a contact for an inbound call from an unknown number "+
				"instead of leaving it to Неразобранное: turn Rule.Create.InboundAnswered and InboundMissed off",
				"call_id", rec.CallID, "contact_id", rec.ClientID)
		}
	}
	if rec.ClientPhone == "" || rec.ClientID == "" {
		s.log.DebugContext(ctx, "amocrm: call not logged: no contact (late binding may log it)", "call_id", rec.CallID)
		return nil
	}
	call := s.CallFor(rec)
	s.mu.Lock()
	_, done := s.logged[call.Uniq]
	s.mu.Unlock()
	if done {
		return nil
	}
	var err error
	if lead := parseID(rec.LeadID); lead != 0 {
		_, err = s.c.AddCallNotes(ctx, EntityLeads, []CallNote{{EntityID: lead, Call: call}})
	} else {
		_, err = s.c.AddCalls(ctx, []Call{call})
		if errors.Is(err, ErrEntityNotFound) && clientID != 0 {
			_, err = s.c.AddCallNotes(ctx, entity, []CallNote{{EntityID: clientID, Call: call}})
		}
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	now := s.now()
	prune(s.logged, func(t time.Time) bool { return now.Sub(t) > 24*time.Hour })
	s.logged[call.Uniq] = now
	s.mu.Unlock()
	return nil
}

// FindEmployee implements match.Directory: the user an extension maps to
// (no request), or the user whose e-mail or name is key (the user list,
// cached). An unmapped digits-only key is not found without a request.
func (s *Store) FindEmployee(ctx context.Context, account, key string) (match.Employee, bool, error) {
	if uid, ok := s.ext[key]; ok {
		return s.employee(uid, nil), true, nil
	}
	if digitsOf(key) == key {
		return match.Employee{}, false, nil
	}
	emps, err := s.Employees(ctx, account)
	if err != nil {
		return match.Employee{}, false, err
	}
	for _, e := range emps {
		if strings.EqualFold(e.Email, key) || strings.EqualFold(e.Name, key) || e.Login == key {
			return e, true, nil
		}
	}
	return match.Employee{}, false, nil
}

// employee builds the Employee of user id uid, with its extensions and,
// when u (or the cached user list) knows it, name, e-mail and admin flag.
func (s *Store) employee(uid int64, u *User) match.Employee {
	e := match.Employee{ID: userID(uid)}
	for ext, id := range s.ext {
		if id == uid {
			e.Extensions = append(e.Extensions, ext)
		}
	}
	slices.Sort(e.Extensions)
	if u == nil {
		s.mu.Lock()
		for i, x := range s.users.v {
			if x.ID == uid {
				u = &s.users.v[i]
			}
		}
		s.mu.Unlock()
	}
	if u != nil {
		e.Name, e.Email, e.Login, e.Admin = u.Name, u.Email, u.Email, u.Rights.IsAdmin
	}
	return e
}

// Employees implements match.Directory: the account's active users (GET
// /api/v4/users, cached 10 minutes) with their extensions. Listing users
// needs an administrator's token; if amoCRM refuses (403 JSON), the
// mapped users are returned without names.
func (s *Store) Employees(ctx context.Context, account string) ([]match.Employee, error) {
	users, err := cached(s, ctx, "users", &s.users, func(ctx context.Context) ([]User, error) {
		var out []User
		for u, err := range s.c.Users(ctx) {
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
		return out, nil
	})
	var ae *callbridge.APIError
	if err != nil && errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden && !errors.Is(err, ErrBlocked) {
		s.log.WarnContext(ctx, "amocrm: listing users needs an administrator's token; using the extension map only", "err", err)
		users, err = nil, nil
		for _, uid := range slices.Sorted(maps.Values(s.ext)) {
			if len(users) == 0 || users[len(users)-1].ID != uid {
				users = append(users, User{ID: uid, Rights: UserRights{IsActive: true}})
			}
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]match.Employee, 0, len(users))
	for i := range users {
		if users[i].Rights.IsActive {
			out = append(out, s.employee(users[i].ID, &users[i]))
		}
	}
	slices.SortFunc(out, func(a, b match.Employee) int { return cmp.Compare(parseID(a.ID), parseID(b.ID)) })
	return out, nil
}

// Online implements match.Directory. amoCRM has no presence API: nobody
// is reported online, so "active" distribution falls back to round robin.
func (s *Store) Online(context.Context, string) ([]string, error) { return nil, nil }

// Shows reports whether Notify tells n to its employee in amoCRM: that
// needs the caller's number and an amoCRM user's id as the employee; Notify
// skips any other notification.
func (s *Store) Shows(n match.Notification) bool {
	return n.ClientPhone != "" && parseID(n.Employee) != 0
}

// Notify implements match.Notifier: the incoming-call pop-up (POST
// /api/v2/events) for the employee, with the client's phone, so amoCRM
// shows the client's card. An overdue call-back task
// (match.NotifyTaskOverdue, told to the admins) is no "who is calling"
// card: the admin gets a task of their own instead, on the client's card
// (or on no card), due in an hour: «Проконтролировать перезвон …» with
// why. Notifications without a phone, or for an employee that is not an
// amoCRM user id, are skipped.
func (s *Store) Notify(ctx context.Context, n match.Notification) error {
	if !s.Shows(n) {
		return nil
	}
	uid := parseID(n.Employee)
	if n.Kind != match.NotifyTaskOverdue {
		return s.c.ShowIncomingCall(ctx, n.ClientPhone, uid)
	}
	at := n.At
	if at.IsZero() {
		at = s.now()
	}
	t := Task{ResponsibleUserID: uid, TaskTypeID: TaskTypeCall, CompleteTill: at.Add(time.Hour).Unix(),
		Text: "Проконтролировать перезвон клиенту +" + n.ClientPhone + ": " + n.Reason}
	if entity, id, ok := ParseClientID(n.ClientID); ok {
		t.EntityType, t.EntityID = entity, id
	}
	if _, err := s.c.CreateTasks(ctx, []Task{t}); err != nil {
		return fmt.Errorf("amocrm: tell user %d of the overdue task of call %s: %w", uid, n.CallID, err)
	}
	return nil
}

// AddDialogNotes implements match.Dialog: the notes become plain notes in
// the contact's or company's timeline, one request per call. A note this
// Store wrote in the last hour is not written again.
func (s *Store) AddDialogNotes(ctx context.Context, _, clientID string, notes []match.DialogNote) error {
	entity, id, ok := ParseClientID(clientID)
	if !ok {
		return fmt.Errorf("amocrm: dialog notes: %q is not a contact or company id", clientID)
	}
	keyOf := func(n match.DialogNote) string {
		return clientID + "\x00" + n.Provider + "\x00" + n.CallID + "\x00" + n.Text
	}
	var out []TextNote
	s.mu.Lock()
	for _, n := range notes {
		if _, done := s.noted[keyOf(n)]; !done {
			out = append(out, TextNote{EntityID: id, Text: n.Text, CreatedAt: n.At.Unix()})
		}
	}
	s.mu.Unlock()
	for chunk := range slices.Chunk(out, MaxBatch) {
		if _, err := s.c.AddTextNotes(ctx, entity, chunk); err != nil {
			return fmt.Errorf("amocrm: dialog notes of %s %d: %w", entity.noun(), id, err)
		}
	}
	s.mu.Lock()
	now := s.now()
	prune(s.noted, func(t time.Time) bool { return now.Sub(t) > time.Hour })
	for _, n := range notes {
		s.noted[keyOf(n)] = now
	}
	s.mu.Unlock()
	return nil
}

// PopUp implements match.PopUpper: amoCRM's incoming-call pop-up (POST
// /api/v2/events, see Client.ShowIncomingCall) with the client's phone,
// for the amoCRM user whose id is p.Employee. amoCRM looks the number up
// itself and shows the contact or company with its leads, or offers to
// create one, which is the guide's card on ringing, dialing and answer.
//
// It is shown once per provider, account, call, user and phase: a
// PopUp repeated (a redelivered event, an engine that decides a call
// again) sends nothing, for an hour; another phase of the call shows the
// card again. A card without a phone, or for an employee that is not an
// amoCRM user id, is skipped without a request.
func (s *Store) PopUp(ctx context.Context, p match.PopUp) error {
	uid := parseID(p.Employee)
	if p.ClientPhone == "" || uid == 0 {
		return nil
	}
	key := p.Provider + "\x00" + p.Account + "\x00" + p.CallID + "\x00" + userID(uid) + "\x00" + p.Phase.String()
	s.mu.Lock()
	now := s.now()
	if t, done := s.popped[key]; done && now.Sub(t) <= time.Hour {
		s.mu.Unlock()
		return nil
	}
	// Taken before the request, so concurrent PopUps of one card send it
	// once; given back if it fails.
	prune(s.popped, func(t time.Time) bool { return now.Sub(t) > time.Hour })
	s.popped[key] = now
	s.mu.Unlock()
	if err := s.c.ShowIncomingCall(ctx, p.ClientPhone, uid); err != nil {
		s.mu.Lock()
		delete(s.popped, key)
		s.mu.Unlock()
		return fmt.Errorf("amocrm: %s pop-up of call %s for user %d: %w", p.Phase, p.CallID, uid, err)
	}
	return nil
}
