// Package amocrmtest is a fake amoCRM API v4 for testing code that uses
// package amocrm (or any amoCRM client) without the network.
//
// A Server serves, on 127.0.0.1: the OAuth token endpoint
// (authorization_code and rotating single-use refresh tokens: a reused
// refresh token gets 401 "Token has been revoked"; long-lived tokens;
// Revoke disconnects the integration),
// contacts and companies (each: loose full-text search answering 204 when
// nothing matches, get, create, update, custom fields), leads (create
// linked to contacts and companies, complex create, list by id, status
// update), pipelines, calls (placed by the last 10 digits of the phone on
// the contact, else the company, with the phone, or on its single active
// lead; 400 "Entity not found" otherwise), call and text notes on
// contacts, companies and leads, custom fields (paginated; writing a
// field_id the account lacks is amoCRM's 400 with validation-errors;
// values null clears a field), unsorted SIP (required fields validated;
// listed back by GET /api/v4/leads/unsorted until accepted), the
// incoming-call pop-up (/api/v2/events), users (paginated, 204 past the
// last page) and tasks (create, update, get, and list with amoCRM's
// filters, paginated, 204 when none; see AddTask and Tasks), with the
// real response envelopes. It enforces the rate limit (a token bucket of 7
// requests per second, burst 7; 429 with a non-JSON body beyond), can
// block the account (403 with an HTML page, like amoCRM's nginx), injects
// failures (401/429/5xx/slow answers, see Fail) and records every request
// (Requests).
//
//	srv := amocrmtest.NewServer()
//	defer srv.Close() // in a test: t.Cleanup(srv.Close)
//	c, _ := amocrm.NewClient(amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: srv.LongLivedToken()},
//		callbridge.WithBaseURL(srv.URL), callbridge.WithHTTPClient(srv.Client()))
//	srv.Fail(amocrmtest.Failure{Method: "POST", Path: "/api/v4/calls", Status: http.StatusTooManyRequests, RetryAfter: "1"})
//
// Everything is deterministic: ids come from counters. The package links
// neither testing nor net/http/httptest, so a program may run the fake.
package amocrmtest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/callbridge/callbridge/internal/fakehttp"
)

// Identity of the fake account and integration.
const (
	Domain       = "example.amocrm.ru"
	AccountID    = 31296422
	ClientID     = "5e4b6a3c-8f2d-4c1e-9a7b-3d2f1e0c9b8a"
	ClientSecret = "Xq9vLk2mPz7RtY4wNc8bJh3sDf6gUa1e"
	RedirectURI  = "https://pbx.example.com/amocrm/oauth"
	// PipelineID is the main pipeline; StatusFirst its first stage after
	// "Неразобранное", StatusTalks the second.
	PipelineID  = 7249526
	StatusFirst = 60456942
	StatusTalks = 60456946
	// StatusUnsorted is the main pipeline's "Неразобранное" stage, where
	// the leads of unsorted entries wait.
	StatusUnsorted = 60456938
)

// DefaultUsers are the users a new Server has.
var DefaultUsers = []User{
	{ID: 8375357, Name: "Оператор 1", Email: "op1@example.com", Admin: true, Active: true},
	{ID: 8375358, Name: "Оператор 2", Email: "op2@example.com", Active: true},
	{ID: 8375359, Name: "Менеджер пропущенных", Email: "missed@example.com", Active: true},
}

// BlockedPage is the body of the 403 a blocked account gets.
const BlockedPage = "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// User is a user of the fake account.
type User struct {
	ID            int64
	Name, Email   string
	Admin, Active bool
}

// Contact is a contact of the fake account.
type Contact struct {
	ID                int64
	Name              string
	ResponsibleUserID int64
	// Phones are the PHONE values as written; Fields are other custom
	// field values by field code or name.
	Phones    []string
	Fields    map[string]string
	Tags      []string
	LeadIDs   []int64
	CreatedAt int64
	// Unsorted marks a contact made by an unsorted entry not accepted
	// yet: searches and calls do not find it (amoCRM keeps it in
	// "Неразобранное" until a manager accepts the entry).
	Unsorted bool
}

// Company is a company of the fake account: like a contact, a card with
// phones, other fields, tags and leads. amoCRM numbers companies in their
// own sequence; the fake draws contacts', companies' and every other id
// from one counter, so tests that want a company and a contact with one id
// set ID themselves.
type Company struct {
	ID                int64
	Name              string
	ResponsibleUserID int64
	// Phones are the PHONE values as written; Fields are other custom
	// field values by field code or name.
	Phones    []string
	Fields    map[string]string
	Tags      []string
	LeadIDs   []int64
	CreatedAt int64
}

// Field is a custom field of contacts (GET /api/v4/contacts/custom_fields)
// or of companies (GET /api/v4/companies/custom_fields). A value written
// to it is kept in Contact.Fields or Company.Fields under its Name.
type Field struct {
	ID   int64
	Name string
	// Code is optional; Type is "text" when empty.
	Code, Type string
}

// DefaultFields are the contacts' custom fields a new Server has: the
// system fields of every amoCRM account.
var DefaultFields = []Field{
	{ID: 1698050, Name: "Должность", Code: "POSITION", Type: "text"},
	{ID: 1698052, Name: "Телефон", Code: "PHONE", Type: "multitext"},
	{ID: 1698054, Name: "Email", Code: "EMAIL", Type: "multitext"},
}

// DefaultCompanyFields are the companies' custom fields a new Server has:
// the system fields of every amoCRM account.
var DefaultCompanyFields = []Field{
	{ID: 1698062, Name: "Телефон", Code: "PHONE", Type: "multitext"},
	{ID: 1698064, Name: "Email", Code: "EMAIL", Type: "multitext"},
	{ID: 1698066, Name: "Web", Code: "WEB", Type: "url"},
	{ID: 1698068, Name: "Адрес", Code: "ADDRESS", Type: "textarea"},
}

// UnsortedEntry is an entry of "Неразобранное" (POST
// /api/v4/leads/unsorted/sip): the item received, the uid given, the lead
// and contact made for it, and whether a manager accepted or declined it.
type UnsortedEntry struct {
	UID        string
	Item       map[string]any
	LeadIDs    []int64
	ContactIDs []int64
	CreatedAt  int64
	Accepted   bool
	Declined   bool
}

// Lead is a lead of the fake account.
type Lead struct {
	ID                int64
	Name              string
	PipelineID        int64
	StatusID          int64
	ResponsibleUserID int64
	ContactIDs        []int64
	CompanyIDs        []int64
	Tags              []string
	CreatedAt         int64
}

// Call is a call the fake logged (POST /api/v4/calls) or a call note
// (NoteType "call_in"/"call_out"): Entity and EntityID say where it went;
// Item is the JSON object received.
type Call struct {
	Entity   string // "contacts", "companies" or "leads"
	EntityID int64
	NoteType string // "" for /calls
	Item     map[string]any
}

// TextNote is a plain ("common") note written on an entity.
type TextNote struct {
	Entity   string // "contacts", "leads", …
	EntityID int64
	Text     string
}

// Event is an incoming-call pop-up (POST /api/v2/events).
type Event struct {
	Phone string
	Users []int64
}

// Request is a request the Server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	At     time.Time
}

// Failure makes matching requests fail (or wait). See Server.Fail.
type Failure struct {
	// Method and Path select requests: "" matches any method; Path is a
	// prefix of the URL path ("" matches any).
	Method, Path string
	// Status is the answer; 0 answers normally (after Delay).
	Status int
	// Body of the injected answer; "" gives amoCRM's own error shape: a
	// problem+json object (an HTML page for 429).
	Body string
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter string
	// Header is added to the injected answer.
	Header http.Header
	// Delay before answering (a slow server), cut short when the client
	// gives up or the Server is closed.
	Delay time.Duration
	// Times is how many requests fail; 0 means 1.
	Times int
}

// Server is a fake amoCRM account. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to pass to callbridge.WithBaseURL.
	URL string
	// TokenTTL is the expires_in of issued access tokens (default 24 h).
	TokenTTL time.Duration

	srv    *fakehttp.Server
	client *http.Client
	closed chan struct{}
	once   sync.Once

	mu        sync.Mutex
	seq       int64
	requests  []Request
	failures  []*Failure
	access    map[string]bool
	refresh   map[string]bool // issued refresh tokens; false once spent
	codes     map[string]bool
	tokenReqs int
	limiter   *rate.Limiter
	limited   int
	blocked   bool
	users     []User
	contacts  []*Contact
	companies []*Contact // kept in a contact's shape; never Unsorted
	leads     []*Lead
	calls     []Call
	notes     []TextNote
	unsorted  []*UnsortedEntry
	fields    []Field // contacts'
	coFields  []Field // companies'
	events    []Event
	tasks     []*Task // tasks.go
}

// NewServer starts a fake amoCRM on 127.0.0.1 with the DefaultUsers and
// no contacts or leads. The caller closes it:
//
//	srv := amocrmtest.NewServer()
//	t.Cleanup(srv.Close)
func NewServer() *Server {
	s := &Server{
		TokenTTL: 24 * time.Hour, seq: 1000, closed: make(chan struct{}),
		client: &http.Client{Transport: newTransport()},
		access: map[string]bool{}, refresh: map[string]bool{}, codes: map[string]bool{},
		limiter: rate.NewLimiter(7, 7), users: slices.Clone(DefaultUsers), fields: slices.Clone(DefaultFields),
		coFields: slices.Clone(DefaultCompanyFields),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/access_token", s.token)
	for _, e := range []string{contacts, companies} {
		mux.HandleFunc("GET /api/v4/"+e, s.search(e))
		mux.HandleFunc("GET /api/v4/"+e+"/{id}", s.get(e))
		mux.HandleFunc("POST /api/v4/"+e, s.create(e))
		mux.HandleFunc("PATCH /api/v4/"+e, s.update(e))
		mux.HandleFunc("GET /api/v4/"+e+"/custom_fields", s.listFields(e))
	}
	mux.HandleFunc("POST /api/v4/leads", s.createLeads)
	mux.HandleFunc("GET /api/v4/leads", s.listLeads)
	mux.HandleFunc("PATCH /api/v4/leads/{id}", s.updateLead)
	mux.HandleFunc("POST /api/v4/leads/complex", s.complexLeads)
	mux.HandleFunc("GET /api/v4/leads/pipelines", s.pipelines)
	mux.HandleFunc("POST /api/v4/leads/unsorted/sip", s.unsortedSIP)
	mux.HandleFunc("GET /api/v4/leads/unsorted", s.listUnsorted)
	mux.HandleFunc("POST /api/v4/calls", s.addCalls)
	mux.HandleFunc("POST /api/v4/{entity}/notes", s.addNotes)
	mux.HandleFunc("POST /api/v2/events", s.addEvents)
	mux.HandleFunc("GET /api/v4/users", s.listUsers)
	s.routeTasks(mux)
	s.srv = fakehttp.Start(s.wrap(mux))
	s.URL = s.srv.URL
	return s
}

// newTransport is a transport of the Server's own, like httptest's.
func newTransport() http.RoundTripper {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{}
}

// Close shuts the server down, cutting injected delays short, and closes
// the idle connections of Client. It may be called more than once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.srv.Close()
	s.client.CloseIdleConnections()
}

// Client returns the Server's *http.Client (pass to
// callbridge.WithHTTPClient): the same one on every call, with its own
// connection pool, whose idle connections Close closes.
func (s *Server) Client() *http.Client { return s.client }

// SetRateLimit changes the enforced limit: perSecond requests per second
// with burst (default 7 and 7). math.Inf(1) disables it.
func (s *Server) SetRateLimit(perSecond float64, burst int) {
	r := rate.Limit(perSecond)
	if math.IsInf(perSecond, 1) {
		r = rate.Inf
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limiter = rate.NewLimiter(r, burst)
}

// RateLimited returns how many requests got 429 for exceeding the limit.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited
}

// Block makes every request get amoCRM's HTML 403 page (on) or lifts the
// block (off).
func (s *Server) Block(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked = on
}

// Fail injects a failure for the next f.Times matching requests (see
// Failure). Failures are matched in the order added; a request uses up one
// Times of the first that selects it.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.failures = append(s.failures, &f)
}

// Requests returns the requests received so far, in order, as received
// (tokens and secrets included).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// APIRequests returns the requests to /api/ (not the token endpoint).
func (s *Server) APIRequests() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, "/api/") {
			out = append(out, r)
		}
	}
	return out
}

// Count returns how many requests had method (any if "") and a path
// starting with pathPrefix.
func (s *Server) Count(method, pathPrefix string) int {
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// MaxPerSecond returns the most /api/ requests received within any one
// second: a sliding window over the receive times (every interval shorter
// than 1 s), including requests answered 429. It is the exact view of
// amoCRM's "7 requests per second"; the enforced token bucket (burst 7)
// accepts up to 14 requests in the first second.
func (s *Server) MaxPerSecond() int {
	var at []time.Time
	for _, r := range s.APIRequests() {
		at = append(at, r.At)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	best, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= time.Second {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// TokenRequests returns how many token requests were answered with a token.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenReqs
}

// AuthorizationCode issues a one-time code as the consent page would.
func (s *Server) AuthorizationCode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	code := fmt.Sprintf("def50200code%d", s.seq)
	s.codes[code] = true
	return code
}

// LongLivedToken issues a long-lived token (no refresh token, no expiry
// until ExpireTokens).
func (s *Server) LongLivedToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	tok := fmt.Sprintf("eyJ0eXAiOiJKV1QiLCJsong.%d", s.seq)
	s.access[tok] = true
	return tok
}

// ExpireTokens revokes every access token issued so far: the next API
// request with one gets 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// Revoke disconnects the integration, as an account administrator does
// by removing it, or as amoCRM does to a refresh token unused for 3
// months: every access token (long-lived ones too) and refresh token
// issued so far is dead, so an API request gets 401 and a refresh gets
// 401 "Token has been revoked". A new authorization (AuthorizationCode,
// then its exchange) installs the integration again.
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
	for rt := range s.refresh {
		s.refresh[rt] = false
	}
}

// AddUser adds a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = append(s.users, u)
}

// RemoveUser deletes the user with id (as when an administrator removes
// them from the account).
func (s *Server) RemoveUser(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = slices.DeleteFunc(s.users, func(u User) bool { return u.ID == id })
}

// AddContact adds a contact (ID 0: one is assigned) and returns its id,
// e.g. a contact "created by hand".
func (s *Server) AddContact(c Contact) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == 0 {
		c.ID = s.nextID()
	}
	s.contacts = append(s.contacts, &c)
	return c.ID
}

// AddCompany adds a company (ID 0: one is assigned) and returns its id,
// e.g. a company "created by hand".
func (s *Server) AddCompany(c Company) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == 0 {
		c.ID = s.nextID()
	}
	s.companies = append(s.companies, &Contact{ID: c.ID, Name: c.Name, ResponsibleUserID: c.ResponsibleUserID, Phones: c.Phones,
		Fields: c.Fields, Tags: c.Tags, LeadIDs: c.LeadIDs, CreatedAt: c.CreatedAt})
	return c.ID
}

// AddLead adds a lead linked to its ContactIDs and CompanyIDs (ID 0: one
// is assigned; PipelineID 0: the main pipeline; StatusID 0: its first
// stage).
func (s *Server) AddLead(l Lead) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLeadLocked(l).ID
}

func (s *Server) addLeadLocked(l Lead) *Lead {
	if l.ID == 0 {
		l.ID = s.nextID()
	}
	if l.PipelineID == 0 {
		l.PipelineID = PipelineID
	}
	if l.StatusID == 0 {
		l.StatusID = StatusFirst
	}
	for _, cid := range l.ContactIDs {
		if c := s.contact(cid); c != nil {
			c.LeadIDs = append(c.LeadIDs, l.ID)
		}
	}
	for _, cid := range l.CompanyIDs {
		if c := s.company(cid); c != nil {
			c.LeadIDs = append(c.LeadIDs, l.ID)
		}
	}
	s.leads = append(s.leads, &l)
	return &l
}

// Contacts returns copies of the contacts, in creation order.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Contact, len(s.contacts))
	for i, c := range s.contacts {
		out[i] = c.clone()
	}
	return out
}

// Companies returns copies of the companies, in creation order.
func (s *Server) Companies() []Company {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Company, len(s.companies))
	for i, c := range s.companies {
		x := c.clone()
		out[i] = Company{ID: x.ID, Name: x.Name, ResponsibleUserID: x.ResponsibleUserID, Phones: x.Phones, Fields: x.Fields,
			Tags: x.Tags, LeadIDs: x.LeadIDs, CreatedAt: x.CreatedAt}
	}
	return out
}

// clone copies c with its slices and map.
func (c *Contact) clone() Contact {
	x := *c
	x.Phones, x.Tags, x.LeadIDs = slices.Clone(c.Phones), slices.Clone(c.Tags), slices.Clone(c.LeadIDs)
	x.Fields = maps.Clone(c.Fields)
	return x
}

// Leads returns copies of the leads, in creation order.
func (s *Server) Leads() []Lead {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Lead, len(s.leads))
	for i, l := range s.leads {
		out[i] = *l
		out[i].ContactIDs, out[i].CompanyIDs, out[i].Tags = slices.Clone(l.ContactIDs), slices.Clone(l.CompanyIDs), slices.Clone(l.Tags)
	}
	return out
}

// Calls returns the logged calls and call notes, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// TextNotes returns the plain notes written, in order.
func (s *Server) TextNotes() []TextNote {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.notes)
}

// Events returns the pop-ups shown, in order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Unsorted returns the unsorted SIP items received, in order.
func (s *Server) Unsorted() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, len(s.unsorted))
	for i, e := range s.unsorted {
		out[i] = e.Item
	}
	return out
}

// UnsortedEntries returns copies of the unsorted entries, in order.
func (s *Server) UnsortedEntries() []UnsortedEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]UnsortedEntry, len(s.unsorted))
	for i, e := range s.unsorted {
		out[i] = *e
		out[i].LeadIDs, out[i].ContactIDs = slices.Clone(e.LeadIDs), slices.Clone(e.ContactIDs)
	}
	return out
}

// AcceptUnsorted accepts the waiting unsorted entry uid as a manager
// would: its contact becomes a normal contact, its lead moves to the
// pipeline's first stage, and the entry leaves the list. It reports
// whether uid was waiting.
func (s *Server) AcceptUnsorted(uid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.unsorted {
		if e.UID != uid || e.Accepted || e.Declined {
			continue
		}
		e.Accepted = true
		for _, id := range e.ContactIDs {
			if c := s.contact(id); c != nil {
				c.Unsorted = false
			}
		}
		for _, id := range e.LeadIDs {
			if l := s.lead(id); l != nil {
				l.StatusID = StatusFirst
			}
		}
		return true
	}
	return false
}

// AddContactField adds a custom field of contacts (ID 0: one is assigned;
// Type "": "text") and returns its id, as an administrator adds one in
// Settings.
func (s *Server) AddContactField(f Field) int64 { return s.addField(contacts, f) }

// AddCompanyField adds a custom field of companies, as AddContactField
// does for contacts.
func (s *Server) AddCompanyField(f Field) int64 { return s.addField(companies, f) }

func (s *Server) addField(entity string, f Field) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.ID == 0 {
		f.ID = s.nextID()
	}
	f.Type = cmpOr(f.Type, "text")
	defs := s.fieldsOf(entity)
	*defs = append(*defs, f)
	return f.ID
}

func (s *Server) nextID() int64 {
	s.seq++
	return s.seq
}

// wrap records the request and applies the block, failures, the token
// check and the rate limit.
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
			Header: r.Header.Clone(), Body: body, At: time.Now()})
		blocked := s.blocked
		f := s.takeFailure(r)
		s.mu.Unlock()
		if blocked {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, BlockedPage)
			return
		}
		if f != nil {
			if f.Delay > 0 {
				select {
				case <-time.After(f.Delay):
				case <-r.Context().Done():
					return
				case <-s.closed:
					return
				}
			}
			if f.Status != 0 {
				writeFailure(w, f)
				return
			}
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			s.mu.Lock()
			ok := s.access[tok]
			allowed := ok && s.limiter.Allow()
			if ok && !allowed {
				s.limited++
			}
			s.mu.Unlock()
			switch {
			case !ok:
				problem(w, http.StatusUnauthorized, "Unauthorized", "Неверный логин или пароль", nil)
				return
			case !allowed:
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, "<html><body><h1>429 Too Many Requests</h1></body></html>")
				return
			}
			if r.Method == http.MethodPost || r.Method == http.MethodPatch {
				if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
					problem(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", "Content-Type must be application/json", nil)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func writeFailure(w http.ResponseWriter, f *Failure) {
	for k, v := range f.Header {
		w.Header()[k] = v
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	body := f.Body
	switch {
	case body != "":
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/problem+json")
		}
	case f.Status == http.StatusTooManyRequests:
		w.Header().Set("Content-Type", "text/html")
		body = "<html><body><h1>429 Too Many Requests</h1></body></html>"
	default:
		w.Header().Set("Content-Type", "application/problem+json")
		b, _ := json.Marshal(map[string]any{"title": http.StatusText(f.Status), "type": fmt.Sprintf("https://httpstatus.es/%d", f.Status),
			"status": f.Status, "detail": "An unknown error occurred."})
		body = string(b)
	}
	w.WriteHeader(f.Status)
	io.WriteString(w, body)
}

// takeFailure requires s.mu.
func (s *Server) takeFailure(r *http.Request) *Failure {
	for i, f := range s.failures {
		if (f.Method == "" || f.Method == r.Method) && strings.HasPrefix(r.URL.Path, f.Path) {
			f.Times--
			if f.Times <= 0 {
				s.failures = slices.Delete(s.failures, i, i+1)
			}
			return f
		}
	}
	return nil
}

// requestID is the request_id amoCRM echoes for item i of a batch: the
// item's own, else its index.
func requestID(it map[string]any, i int) string {
	return cmpOr(str(it, "request_id"), strconv.Itoa(i))
}

// writeBatch answers a batch write with amoCRM's envelope: the collection
// link and the items under _embedded[key].
func (s *Server) writeBatch(w http.ResponseWriter, path, key string, out []any) {
	writeJSON(w, http.StatusOK, map[string]any{"_links": s.href(path), "_embedded": map[string]any{key: out}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/hal+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// problem writes an amoCRM problem+json error.
func problem(w http.ResponseWriter, status int, title, detail string, extra map[string]any) {
	m := map[string]any{"title": title, "type": fmt.Sprintf("https://httpstatus.es/%d", status), "status": status, "detail": detail}
	for k, v := range extra {
		m[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(m)
}

// validation writes a 400 with validation-errors for item requestID.
func validation(w http.ResponseWriter, requestID, path, code, detail string) {
	problem(w, http.StatusBadRequest, "Bad Request", "Request validation failed", map[string]any{
		"validation-errors": []any{map[string]any{"request_id": requestID,
			"errors": []any{map[string]any{"code": code, "path": path, "detail": detail}}}},
	})
}

func (s *Server) href(path string) map[string]any {
	return map[string]any{"self": map[string]any{"href": "https://" + Domain + path}}
}

// token serves POST /oauth2/access_token (JSON or form body).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p := map[string]string{}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			problem(w, http.StatusBadRequest, "Bad Request", "invalid JSON", nil)
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			problem(w, http.StatusBadRequest, "Bad Request", "invalid form", nil)
			return
		}
		for k := range r.PostForm {
			p[k] = r.PostForm.Get(k)
		}
	}
	oauthErr := func(hint string) {
		problem(w, http.StatusUnauthorized, "Некорректный запрос", "В запросе отсутствует ряд параметров или параметры невалидны",
			map[string]any{"hint": hint, "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"})
	}
	if p["client_id"] != ClientID || p["client_secret"] != ClientSecret {
		oauthErr("Client authentication failed")
		return
	}
	if p["redirect_uri"] != RedirectURI {
		oauthErr("Redirect URI mismatch")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch p["grant_type"] {
	case "authorization_code":
		if !s.codes[p["code"]] {
			oauthErr("Authorization code has been revoked")
			return
		}
		delete(s.codes, p["code"])
	case "refresh_token":
		live, issued := s.refresh[p["refresh_token"]]
		if !issued || !live {
			oauthErr("Token has been revoked")
			return
		}
		s.refresh[p["refresh_token"]] = false // single use, globally
	default:
		oauthErr("Unsupported grant type")
		return
	}
	s.seq++
	s.tokenReqs++
	at := fmt.Sprintf("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access.%d", s.seq)
	rt := fmt.Sprintf("def50200refresh%d", s.seq)
	s.access[at] = true
	s.refresh[rt] = true
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(s.TokenTTL / time.Second),
		"access_token": at, "refresh_token": rt, "server_time": time.Now().Unix()})
}

// readArray decodes a top-level JSON array body; it writes a 400 and
// returns false otherwise.
func readArray(w http.ResponseWriter, r *http.Request) ([]map[string]any, bool) {
	var items []map[string]any
	if err := json.NewDecoder(r.Body).Decode(&items); err != nil {
		validation(w, "0", "", "InvalidType", "The body must be a JSON array of objects")
		return nil, false
	}
	if len(items) == 0 || len(items) > 50 {
		validation(w, "0", "", "InvalidCount", "Send 1 to 50 items")
		return nil, false
	}
	return items, true
}

func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func num(m map[string]any, k string) int64 {
	if v, ok := m[k].(float64); ok {
		return int64(v)
	}
	return 0
}

func obj(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	return v
}

func list(m map[string]any, k string) []map[string]any {
	var out []map[string]any
	if arr, ok := m[k].([]any); ok {
		for _, x := range arr {
			if o, ok := x.(map[string]any); ok {
				out = append(out, o)
			}
		}
	}
	return out
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func last10(s string) string {
	d := digits(s)
	if len(d) > 10 {
		return d[len(d)-10:]
	}
	return d
}

// The entities kept as cards (in a Contact's shape): contacts and
// companies.
const (
	contacts  = "contacts"
	companies = "companies"
)

// cards returns the cards of entity. s.mu is held.
func (s *Server) cards(entity string) *[]*Contact {
	if entity == companies {
		return &s.companies
	}
	return &s.contacts
}

// fieldsOf returns the custom fields of entity. s.mu is held.
func (s *Server) fieldsOf(entity string) *[]Field {
	if entity == companies {
		return &s.coFields
	}
	return &s.fields
}

// card returns the card of entity with id, or nil. s.mu is held.
func (s *Server) card(entity string, id int64) *Contact {
	for _, c := range *s.cards(entity) {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (s *Server) contact(id int64) *Contact { return s.card(contacts, id) }

func (s *Server) company(id int64) *Contact { return s.card(companies, id) }

func (s *Server) lead(id int64) *Lead {
	for _, l := range s.leads {
		if l.ID == id {
			return l
		}
	}
	return nil
}

// cardJSON is a contact or company as amoCRM returns it. s.mu is held.
func (s *Server) cardJSON(entity string, c *Contact, withLeads bool) map[string]any {
	path := fmt.Sprintf("/api/v4/%s/%d", entity, c.ID)
	defs := *s.fieldsOf(entity)
	var fields []any
	if len(c.Phones) > 0 {
		var vals []any
		for _, p := range c.Phones {
			vals = append(vals, map[string]any{"value": p, "enum_id": 1037745, "enum_code": "WORK"})
		}
		ph := defs[slices.IndexFunc(defs, func(d Field) bool { return d.Code == "PHONE" })]
		fields = append(fields, map[string]any{"field_id": ph.ID, "field_name": ph.Name, "field_code": "PHONE",
			"field_type": "multitext", "values": vals})
	}
	for _, k := range slices.Sorted(maps.Keys(c.Fields)) {
		f := Field{ID: 1698060, Name: k, Type: "text"}
		if i := slices.IndexFunc(defs, func(d Field) bool { return d.Name == k }); i >= 0 {
			f = defs[i]
		}
		var code any
		if f.Code != "" {
			code = f.Code
		}
		fields = append(fields, map[string]any{"field_id": f.ID, "field_name": f.Name, "field_code": code, "field_type": f.Type,
			"values": []any{map[string]any{"value": c.Fields[k]}}})
	}
	tags := []any{}
	for i, t := range c.Tags {
		tags = append(tags, map[string]any{"id": 5000 + i, "name": t, "color": nil})
	}
	emb := map[string]any{"tags": tags}
	if entity == companies {
		emb["contacts"] = []any{}
	} else {
		emb["companies"] = []any{}
	}
	if withLeads {
		leads := []any{}
		for _, id := range c.LeadIDs {
			leads = append(leads, map[string]any{"id": id, "_links": s.href(fmt.Sprintf("/api/v4/leads/%d", id))})
		}
		emb["leads"] = leads
	}
	var cf any
	if len(fields) > 0 {
		cf = fields
	}
	out := map[string]any{"id": c.ID, "name": c.Name, "responsible_user_id": c.ResponsibleUserID,
		"group_id": 0, "created_by": c.ResponsibleUserID, "updated_by": c.ResponsibleUserID, "created_at": c.CreatedAt,
		"updated_at": c.CreatedAt, "closest_task_at": nil, "is_deleted": false, "custom_fields_values": cf,
		"account_id": AccountID, "_links": s.href(path), "_embedded": emb}
	if entity == contacts {
		out["first_name"], out["last_name"], out["is_unsorted"] = "", "", c.Unsorted
	}
	return out
}

// matches is amoCRM's loose search: the query's digits inside any value's
// digits, or the query inside the name.
func (c *Contact) matches(q string) bool {
	if q == "" {
		return true
	}
	if d := digits(q); len(d) >= 3 {
		for _, v := range slices.Concat(c.Phones, slices.Collect(maps.Values(c.Fields))) {
			if strings.Contains(digits(v), d) {
				return true
			}
		}
	}
	return strings.Contains(strings.ToLower(c.Name), strings.ToLower(q))
}

// search serves GET /api/v4/{entity}?query=…: the cards matching the
// query (see matches), up to limit, 204 when none does.
func (s *Server) search(entity string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		if limit <= 0 || limit > 250 {
			limit = 50
		}
		withLeads := slices.Contains(strings.Split(q.Get("with"), ","), "leads")
		s.mu.Lock()
		var found []any
		for _, c := range *s.cards(entity) {
			if !c.Unsorted && c.matches(q.Get("query")) && len(found) < limit {
				found = append(found, s.cardJSON(entity, c, withLeads))
			}
		}
		s.mu.Unlock()
		if len(found) == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"_page": 1, "_links": s.href("/api/v4/" + entity + "?" + q.Encode()),
			"_embedded": map[string]any{entity: found}})
	}
}

// get serves GET /api/v4/{entity}/{id}; an unknown id answers 204.
func (s *Server) get(entity string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		s.mu.Lock()
		defer s.mu.Unlock()
		c := s.card(entity, id)
		if c == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, s.cardJSON(entity, c, slices.Contains(strings.Split(r.URL.Query().Get("with"), ","), "leads")))
	}
}

// fieldOf returns the custom field of defs an entry of
// custom_fields_values names by field_id or field_code, if there is one.
func fieldOf(defs []Field, f map[string]any) (Field, bool) {
	id, code := num(f, "field_id"), str(f, "field_code")
	i := slices.IndexFunc(defs, func(d Field) bool {
		return (id != 0 && d.ID == id) || (id == 0 && code != "" && strings.EqualFold(d.Code, code))
	})
	if i < 0 {
		return Field{}, false
	}
	return defs[i], true
}

// checkFields answers amoCRM's 400 for an entry of custom_fields_values
// naming a field defs lacks, or a value a numeric field cannot take, and
// returns false.
func checkFields(w http.ResponseWriter, defs []Field, reqID string, item map[string]any) bool {
	for i, f := range list(item, "custom_fields_values") {
		d, ok := fieldOf(defs, f)
		if !ok && num(f, "field_id") != 0 {
			validation(w, reqID, fmt.Sprintf("custom_fields_values.%d.field_id", i), "NotSupportedChoice", "The value you selected is not a valid choice.")
			return false
		}
		if !ok && str(f, "field_code") != "" {
			validation(w, reqID, fmt.Sprintf("custom_fields_values.%d.field_code", i), "NotSupportedChoice", "The value you selected is not a valid choice.")
			return false
		}
		for j, v := range list(f, "values") {
			if _, isNum := v["value"].(float64); d.Type == "numeric" && !isNum {
				validation(w, reqID, fmt.Sprintf("custom_fields_values.%d.values.%d.value", i, j), "InvalidType", "This value should be of type numeric.")
				return false
			}
		}
	}
	return true
}

// phonesOf reads custom_fields_values: the PHONE values, the values of
// other fields by field name (the field of defs, else the field_code,
// field_name or field_id sent), and the fields sent with values null
// (cleared).
func phonesOf(defs []Field, item map[string]any) (phones []string, fields map[string]string, cleared []string) {
	for _, f := range list(item, "custom_fields_values") {
		d, known := fieldOf(defs, f)
		key := cmpOr(str(f, "field_code"), str(f, "field_name"), str(f, "field_id"))
		if known {
			key = d.Name
		}
		if d.Code == "PHONE" || str(f, "field_code") == "PHONE" {
			for _, v := range list(f, "values") {
				phones = append(phones, str(v, "value"))
			}
			continue
		}
		if vals, ok := f["values"]; ok && vals == nil && key != "" {
			cleared = append(cleared, key)
			continue
		}
		for _, v := range list(f, "values") {
			if key != "" {
				if fields == nil {
					fields = map[string]string{}
				}
				fields[key] = str(v, "value")
			}
		}
	}
	return phones, fields, cleared
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func tagsOf(m map[string]any, key string) []string {
	var out []string
	for _, t := range list(obj(m, "_embedded"), key) {
		if n := str(t, "name"); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// newCardLocked stores a contact or company item.
func (s *Server) newCardLocked(entity string, item map[string]any) *Contact {
	phones, fields, _ := phonesOf(*s.fieldsOf(entity), item)
	c := &Contact{ID: s.nextID(), Name: cmpOr(str(item, "name"), strings.TrimSpace(str(item, "first_name")+" "+str(item, "last_name"))),
		ResponsibleUserID: num(item, "responsible_user_id"), Phones: phones, Fields: fields, Tags: tagsOf(item, "tags"),
		CreatedAt: time.Now().Unix()}
	if c.ResponsibleUserID == 0 {
		c.ResponsibleUserID = DefaultUsers[0].ID
	}
	cards := s.cards(entity)
	*cards = append(*cards, c)
	return c
}

func (s *Server) checkUser(w http.ResponseWriter, reqID string, item map[string]any, path string) bool {
	uid := num(item, "responsible_user_id")
	if uid == 0 || slices.ContainsFunc(s.users, func(u User) bool { return u.ID == uid }) {
		return true
	}
	validation(w, reqID, path, "InvalidUser", "Responsible user not found")
	return false
}

// create serves POST /api/v4/{entity}: a batch of contacts or companies.
func (s *Server) create(entity string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		items, ok := readArray(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		defs := *s.fieldsOf(entity)
		for i, it := range items {
			if !s.checkUser(w, requestID(it, i), it, "responsible_user_id") || !checkFields(w, defs, requestID(it, i), it) {
				return
			}
		}
		var out []any
		for i, it := range items {
			c := s.newCardLocked(entity, it)
			item := map[string]any{"id": c.ID, "is_deleted": false,
				"request_id": requestID(it, i), "_links": s.href(fmt.Sprintf("/api/v4/%s/%d", entity, c.ID))}
			if entity == contacts {
				item["is_unsorted"] = false
			}
			out = append(out, item)
		}
		s.writeBatch(w, "/api/v4/"+entity, entity, out)
	}
}

// update serves PATCH /api/v4/{entity}: a batch of changes to contacts or
// companies by id.
func (s *Server) update(entity string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		items, ok := readArray(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.updateLocked(w, entity, items)
	}
}

func (s *Server) updateLocked(w http.ResponseWriter, entity string, items []map[string]any) {
	defs := *s.fieldsOf(entity)
	for i, it := range items {
		if s.card(entity, num(it, "id")) == nil {
			validation(w, requestID(it, i), "id", "NotFound", map[string]string{contacts: "Contact not found", companies: "Company not found"}[entity])
			return
		}
		if !s.checkUser(w, requestID(it, i), it, "responsible_user_id") || !checkFields(w, defs, requestID(it, i), it) {
			return
		}
	}
	var out []any
	for i, it := range items {
		c := s.card(entity, num(it, "id"))
		if n := str(it, "name"); n != "" {
			c.Name = n
		}
		if uid := num(it, "responsible_user_id"); uid != 0 {
			c.ResponsibleUserID = uid
		}
		phones, fields, cleared := phonesOf(defs, it)
		if len(phones) > 0 {
			c.Phones = phones
		}
		if len(fields) > 0 && c.Fields == nil {
			c.Fields = map[string]string{}
		}
		maps.Copy(c.Fields, fields)
		for _, k := range cleared {
			delete(c.Fields, k)
		}
		for _, t := range list(it, "tags_to_add") {
			if n := str(t, "name"); n != "" && !slices.Contains(c.Tags, n) {
				c.Tags = append(c.Tags, n)
			}
		}
		for _, t := range list(it, "tags_to_delete") {
			c.Tags = slices.DeleteFunc(c.Tags, func(x string) bool { return x == str(t, "name") })
		}
		out = append(out, map[string]any{"id": c.ID, "request_id": requestID(it, i),
			"_links": s.href(fmt.Sprintf("/api/v4/%s/%d", entity, c.ID))})
	}
	s.writeBatch(w, "/api/v4/"+entity, entity, out)
}

// newLeadLocked stores a lead item linked to its embedded contacts and
// companies (by id).
func (s *Server) newLeadLocked(item map[string]any) *Lead {
	l := Lead{Name: str(item, "name"), PipelineID: num(item, "pipeline_id"), StatusID: num(item, "status_id"),
		ResponsibleUserID: num(item, "responsible_user_id"), Tags: tagsOf(item, "tags"), CreatedAt: time.Now().Unix()}
	for _, c := range list(obj(item, "_embedded"), "contacts") {
		if id := num(c, "id"); id != 0 {
			l.ContactIDs = append(l.ContactIDs, id)
		}
	}
	for _, c := range list(obj(item, "_embedded"), "companies") {
		if id := num(c, "id"); id != 0 {
			l.CompanyIDs = append(l.CompanyIDs, id)
		}
	}
	return s.addLeadLocked(l)
}

func (s *Server) checkLead(w http.ResponseWriter, reqID string, item map[string]any) bool {
	if !s.checkUser(w, reqID, item, "responsible_user_id") {
		return false
	}
	pid, sid := num(item, "pipeline_id"), num(item, "status_id")
	if pid != 0 && pid != PipelineID {
		validation(w, reqID, "pipeline_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
		return false
	}
	if sid != 0 && !slices.Contains([]int64{StatusFirst, StatusTalks, 142, 143}, sid) {
		validation(w, reqID, "status_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
		return false
	}
	for _, e := range []string{contacts, companies} {
		for i, c := range list(obj(item, "_embedded"), e) {
			if id := num(c, "id"); id != 0 && s.card(e, id) == nil {
				validation(w, reqID, fmt.Sprintf("_embedded.%s.%d.id", e, i), "NotFound", "Entity not found")
				return false
			}
		}
	}
	return true
}

func (s *Server) createLeads(w http.ResponseWriter, r *http.Request) {
	items, ok := readArray(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, it := range items {
		if !s.checkLead(w, requestID(it, i), it) {
			return
		}
	}
	var out []any
	for i, it := range items {
		l := s.newLeadLocked(it)
		out = append(out, map[string]any{"id": l.ID, "request_id": requestID(it, i),
			"_links": s.href(fmt.Sprintf("/api/v4/leads/%d", l.ID))})
	}
	s.writeBatch(w, "/api/v4/leads", "leads", out)
}

func (s *Server) complexLeads(w http.ResponseWriter, r *http.Request) {
	items, ok := readArray(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []any
	for i, it := range items {
		reqID := requestID(it, i)
		cs := list(obj(it, "_embedded"), "contacts")
		if len(cs) > 1 {
			validation(w, reqID, "_embedded.contacts", "InvalidCount", "At most one contact")
			return
		}
		lead := map[string]any{}
		for k, v := range it {
			lead[k] = v
		}
		var contactID any
		if len(cs) == 1 {
			c := s.newCardLocked(contacts, cs[0])
			contactID = c.ID
			lead["_embedded"] = map[string]any{"tags": obj(it, "_embedded")["tags"], "contacts": []any{map[string]any{"id": float64(c.ID)}}}
		}
		l := s.newLeadLocked(lead)
		out = append(out, map[string]any{"id": l.ID, "contact_id": contactID, "company_id": nil, "request_id": []string{reqID}, "merged": false})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) leadJSON(l *Lead) map[string]any {
	cs, cos := []any{}, []any{}
	for i, id := range l.ContactIDs {
		cs = append(cs, map[string]any{"id": id, "is_main": i == 0, "_links": s.href(fmt.Sprintf("/api/v4/contacts/%d", id))})
	}
	for _, id := range l.CompanyIDs {
		cos = append(cos, map[string]any{"id": id, "_links": s.href(fmt.Sprintf("/api/v4/companies/%d", id))})
	}
	tags := []any{}
	for i, t := range l.Tags {
		tags = append(tags, map[string]any{"id": 6000 + i, "name": t, "color": nil})
	}
	var closed any
	if l.StatusID == 142 || l.StatusID == 143 {
		closed = l.CreatedAt
	}
	return map[string]any{"id": l.ID, "name": l.Name, "price": 0, "responsible_user_id": l.ResponsibleUserID, "group_id": 0,
		"status_id": l.StatusID, "pipeline_id": l.PipelineID, "loss_reason_id": nil, "created_by": 0, "updated_by": 0,
		"created_at": l.CreatedAt, "updated_at": l.CreatedAt, "closed_at": closed, "closest_task_at": nil, "is_deleted": false,
		"custom_fields_values": nil, "score": nil, "account_id": AccountID, "labor_cost": nil,
		"_links": s.href(fmt.Sprintf("/api/v4/leads/%d", l.ID)), "_embedded": map[string]any{"tags": tags, "companies": cos, "contacts": cs}}
}

func (s *Server) listLeads(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ids []int64
	for _, v := range q["filter[id][]"] {
		id, _ := strconv.ParseInt(v, 10, 64)
		ids = append(ids, id)
	}
	s.mu.Lock()
	var out []any
	for _, l := range s.leads {
		if len(ids) == 0 || slices.Contains(ids, l.ID) {
			out = append(out, s.leadJSON(l))
		}
	}
	s.mu.Unlock()
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"_page": 1, "_links": s.href("/api/v4/leads"), "_embedded": map[string]any{"leads": out}})
}

func (s *Server) updateLead(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var item map[string]any
	if err := json.NewDecoder(r.Body).Decode(&item); err != nil {
		validation(w, "0", "", "InvalidType", "The body must be a JSON object")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lead(id)
	if l == nil {
		problem(w, http.StatusNotFound, "Not Found", "Lead not found", nil)
		return
	}
	if !s.checkLead(w, "0", item) || !s.checkUser(w, "0", item, "responsible_user_id") {
		return
	}
	if uid := num(item, "responsible_user_id"); uid != 0 {
		l.ResponsibleUserID = uid
	}
	if sid := num(item, "status_id"); sid != 0 {
		l.StatusID = sid
	}
	if pid := num(item, "pipeline_id"); pid != 0 {
		l.PipelineID = pid
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": l.ID, "updated_at": time.Now().Unix(), "_links": s.href(fmt.Sprintf("/api/v4/leads/%d", l.ID))})
}

func (s *Server) pipelines(w http.ResponseWriter, _ *http.Request) {
	st := func(id int64, name string, sort, typ int) map[string]any {
		return map[string]any{"id": id, "name": name, "sort": sort, "is_editable": id != 142 && id != 143, "pipeline_id": PipelineID,
			"color": "#99ccff", "type": typ, "account_id": AccountID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"_total_items": 1, "_links": s.href("/api/v4/leads/pipelines"),
		"_embedded": map[string]any{"pipelines": []any{map[string]any{
			"id": PipelineID, "name": "Воронка", "sort": 1, "is_main": true, "is_unsorted_on": true, "is_archive": false,
			"account_id": AccountID, "_links": s.href(fmt.Sprintf("/api/v4/leads/pipelines/%d", PipelineID)),
			"_embedded": map[string]any{"statuses": []any{
				st(StatusUnsorted, "Неразобранное", 10, 1), st(StatusFirst, "Первичный контакт", 20, 0), st(StatusTalks, "Переговоры", 30, 0),
				st(142, "Успешно реализовано", 10000, 0), st(143, "Закрыто и не реализовано", 11000, 0)}},
		}}}})
}

// place finds where amoCRM would put a call from phone: the first
// contact with the phone, else the first company with it; that card's
// single active lead if it has one, else the card.
func (s *Server) place(phone string) (string, int64) {
	want := last10(phone)
	if want == "" {
		return "", 0
	}
	for _, entity := range []string{contacts, companies} {
		for _, c := range *s.cards(entity) {
			if c.Unsorted || !slices.ContainsFunc(c.Phones, func(p string) bool { return last10(p) == want }) {
				continue
			}
			var active []int64
			for _, id := range c.LeadIDs {
				if l := s.lead(id); l != nil && l.StatusID != 142 && l.StatusID != 143 {
					active = append(active, id)
				}
			}
			if len(active) == 1 {
				return "leads", active[0]
			}
			return entity, c.ID
		}
	}
	return "", 0
}

func (s *Server) addCalls(w http.ResponseWriter, r *http.Request) {
	items, ok := readArray(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var calls, errs []any
	for i, it := range items {
		reqID := requestID(it, i)
		dir := str(it, "direction")
		if (dir != "inbound" && dir != "outbound") || str(it, "phone") == "" || str(it, "source") == "" {
			validation(w, reqID, "direction", "NotSupportedChoice", "direction, phone and source are required")
			return
		}
		entity, id := s.place(str(it, "phone"))
		if id == 0 {
			errs = append(errs, map[string]any{"title": "Entity not found", "detail": "Entity with this phone not found", "request_id": reqID})
			continue
		}
		s.calls = append(s.calls, Call{Entity: entity, EntityID: id, Item: it})
		calls = append(calls, map[string]any{"id": s.nextID(), "entity_id": id, "entity_type": strings.TrimSuffix(entity, "s"),
			"account_id": AccountID, "request_id": reqID,
			"_embedded": map[string]any{"entity": map[string]any{"id": id, "_links": s.href(fmt.Sprintf("/api/v4/%s/%d", entity, id))}}})
	}
	if errs == nil {
		errs = []any{}
	}
	status := http.StatusOK
	if len(calls) == 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, map[string]any{"_total_items": len(calls), "errors": errs, "_embedded": map[string]any{"calls": calls}})
}

func (s *Server) addNotes(w http.ResponseWriter, r *http.Request) {
	entity := r.PathValue("entity")
	if !slices.Contains([]string{"leads", "contacts", "companies", "customers"}, entity) {
		problem(w, http.StatusNotFound, "Not Found", "Unknown entity", nil)
		return
	}
	items, ok := readArray(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []any
	for i, it := range items {
		reqID := requestID(it, i)
		id := num(it, "entity_id")
		exists := (entity == "leads" && s.lead(id) != nil) || ((entity == contacts || entity == companies) && s.card(entity, id) != nil)
		if !exists {
			validation(w, reqID, "entity_id", "NotFound", "Entity not found")
			return
		}
		nt := str(it, "note_type")
		if nt == "call_in" || nt == "call_out" {
			p := obj(it, "params")
			if p == nil || str(p, "phone") == "" || str(p, "source") == "" {
				validation(w, reqID, "params", "NotBlank", "params.phone and params.source are required")
				return
			}
			s.calls = append(s.calls, Call{Entity: entity, EntityID: id, NoteType: nt, Item: it})
		}
		if nt == "common" {
			p := obj(it, "params")
			if p == nil || strings.TrimSpace(str(p, "text")) == "" {
				validation(w, reqID, "params.text", "NotBlank", "params.text is required")
				return
			}
			s.notes = append(s.notes, TextNote{Entity: entity, EntityID: id, Text: str(p, "text")})
		}
		nid := s.nextID()
		out = append(out, map[string]any{"id": nid, "entity_id": id, "request_id": reqID,
			"_links": s.href(fmt.Sprintf("/api/v4/%s/%d/notes/%d", entity, id, nid))})
	}
	s.writeBatch(w, "/api/v4/"+entity+"/notes", "notes", out)
}

// checkSIP answers amoCRM's 400 for an unsorted SIP item without a
// required field (source_uid, source_name, metadata with uniq, from,
// phone, called_at, duration and service_code) or with a pipeline the
// account lacks, and returns false.
func (s *Server) checkSIP(w http.ResponseWriter, reqID string, it map[string]any) bool {
	for _, k := range []string{"source_uid", "source_name"} {
		if strings.TrimSpace(str(it, k)) == "" {
			validation(w, reqID, k, "NotBlank", "This value should not be blank.")
			return false
		}
	}
	if pid := num(it, "pipeline_id"); pid != 0 && pid != PipelineID {
		validation(w, reqID, "pipeline_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
		return false
	}
	m := obj(it, "metadata")
	if m == nil {
		validation(w, reqID, "metadata", "NotBlank", "This value should not be blank.")
		return false
	}
	for _, k := range []string{"uniq", "from", "phone", "service_code"} {
		if strings.TrimSpace(str(m, k)) == "" {
			validation(w, reqID, "metadata."+k, "NotBlank", "This value should not be blank.")
			return false
		}
	}
	if num(m, "called_at") <= 0 {
		validation(w, reqID, "metadata.called_at", "NotBlank", "This value should not be blank.")
		return false
	}
	if d, ok := m["duration"].(float64); !ok || d < 0 {
		validation(w, reqID, "metadata.duration", "InvalidType", "This value should be of type int.")
		return false
	}
	return true
}

func (s *Server) unsortedSIP(w http.ResponseWriter, r *http.Request) {
	items, ok := readArray(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, it := range items {
		if !s.checkSIP(w, requestID(it, i), it) {
			return
		}
	}
	var out []any
	for i, it := range items {
		reqID := requestID(it, i)
		e := &UnsortedEntry{Item: it, CreatedAt: cmp.Or(num(it, "created_at"), time.Now().Unix())}
		emb := obj(it, "_embedded")
		cids, lids := []any{}, []any{}
		for _, c := range list(emb, "contacts") {
			ct := s.newCardLocked(contacts, c)
			ct.Unsorted = true
			cids = append(cids, map[string]any{"id": ct.ID})
			e.ContactIDs = append(e.ContactIDs, ct.ID)
		}
		for _, l := range list(emb, "leads") {
			ld := s.addLeadLocked(Lead{Name: str(l, "name"), PipelineID: num(it, "pipeline_id"), StatusID: StatusUnsorted,
				ResponsibleUserID: num(l, "responsible_user_id"), ContactIDs: e.ContactIDs, CreatedAt: time.Now().Unix()})
			lids = append(lids, map[string]any{"id": ld.ID})
			e.LeadIDs = append(e.LeadIDs, ld.ID)
		}
		s.seq++
		e.UID = fmt.Sprintf("a1fee7c0fc436088e64ba2e88%07d", s.seq)
		s.unsorted = append(s.unsorted, e)
		out = append(out, map[string]any{"uid": e.UID, "account_id": AccountID,
			"request_id": reqID, "_embedded": map[string]any{"leads": lids, "contacts": cids, "companies": []any{}}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"_total_items": len(out), "_embedded": map[string]any{"unsorted": out}})
}

// listUnsorted serves GET /api/v4/leads/unsorted: the entries still
// waiting, filtered by filter[uid][], filter[category][] and
// filter[pipeline_id], ordered by order[created_at] (asc by default),
// paginated (204 past the last page).
func (s *Server) listUnsorted(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, pg := pageOf(q)
	uids, cats := q["filter[uid][]"], q["filter[category][]"]
	if u := q.Get("filter[uid]"); u != "" {
		uids = append(uids, u)
	}
	pid, _ := strconv.ParseInt(q.Get("filter[pipeline_id]"), 10, 64)
	s.mu.Lock()
	var all []any
	for _, e := range s.unsorted {
		pipeline := cmp.Or(num(e.Item, "pipeline_id"), PipelineID)
		if e.Accepted || e.Declined || (len(uids) > 0 && !slices.Contains(uids, e.UID)) ||
			(len(cats) > 0 && !slices.Contains(cats, "sip")) || (pid != 0 && pid != pipeline) {
			continue
		}
		leads, contacts := []any{}, []any{}
		for _, id := range e.LeadIDs {
			leads = append(leads, map[string]any{"id": id, "_links": s.href(fmt.Sprintf("/api/v4/leads/%d", id))})
		}
		for _, id := range e.ContactIDs {
			contacts = append(contacts, map[string]any{"id": id, "_links": s.href(fmt.Sprintf("/api/v4/contacts/%d", id))})
		}
		all = append(all, map[string]any{"uid": e.UID, "source_uid": str(e.Item, "source_uid"), "source_name": str(e.Item, "source_name"),
			"category": "sip", "pipeline_id": pipeline, "created_at": e.CreatedAt, "metadata": obj(e.Item, "metadata"), "account_id": AccountID,
			"_links": s.href("/api/v4/leads/unsorted/" + e.UID), "_embedded": map[string]any{"leads": leads, "contacts": contacts, "companies": []any{}}})
	}
	s.mu.Unlock()
	if q.Get("order[created_at]") == "desc" {
		slices.Reverse(all)
	}
	from := (pg - 1) * limit
	if from >= len(all) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	out := all[from:min(from+limit, len(all))]
	links := s.href(fmt.Sprintf("/api/v4/leads/unsorted?page=%d&limit=%d", pg, limit))
	if from+limit < len(all) {
		links["next"] = map[string]any{"href": fmt.Sprintf("https://%s/api/v4/leads/unsorted?page=%d&limit=%d", Domain, pg+1, limit)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"_page": pg, "_links": links, "_embedded": map[string]any{"unsorted": out}})
}

// listFields serves GET /api/v4/{entity}/custom_fields, paginated like
// amoCRM (204 past the last page).
func (s *Server) listFields(entity string) http.HandlerFunc {
	path := "/api/v4/" + entity + "/custom_fields"
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, pg := pageOf(q)
		s.mu.Lock()
		fields := slices.Clone(*s.fieldsOf(entity))
		s.mu.Unlock()
		from := (pg - 1) * limit
		if from >= len(fields) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var out []any
		for i, f := range fields[from:min(from+limit, len(fields))] {
			var code any
			if f.Code != "" {
				code = f.Code
			}
			out = append(out, map[string]any{"id": f.ID, "name": f.Name, "code": code, "type": f.Type, "sort": 500 + from + i,
				"entity_type": entity, "is_predefined": slices.Contains([]string{"PHONE", "EMAIL", "POSITION", "WEB", "ADDRESS"}, f.Code),
				"is_deletable": true, "is_api_only": false, "enums": nil, "account_id": AccountID,
				"_links": s.href(fmt.Sprintf("%s/%d", path, f.ID))})
		}
		links := s.href(fmt.Sprintf("%s?page=%d&limit=%d", path, pg, limit))
		if len(out) == limit { // like amoCRM, even on the last page (the next one answers 204)
			links["next"] = map[string]any{"href": fmt.Sprintf("https://%s%s?page=%d&limit=%d", Domain, path, pg+1, limit)}
		}
		writeJSON(w, http.StatusOK, map[string]any{"_total_items": len(fields), "_page": pg, "_page_count": (len(fields) + limit - 1) / limit,
			"_links": links, "_embedded": map[string]any{"custom_fields": out}})
	}
}

func (s *Server) addEvents(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Add []struct {
			Type        string  `json:"type"`
			PhoneNumber string  `json:"phone_number"`
			Users       []int64 `json:"users"`
		} `json:"add"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Add) == 0 {
		problem(w, http.StatusBadRequest, "Bad Request", "add is required", nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range body.Add {
		if e.Type != "phone_call" || e.PhoneNumber == "" {
			problem(w, http.StatusBadRequest, "Bad Request", "type phone_call and phone_number are required", nil)
			return
		}
		s.events = append(s.events, Event{Phone: e.PhoneNumber, Users: e.Users})
	}
	writeJSON(w, http.StatusAccepted, map[string]any{})
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, pg := pageOf(q)
	s.mu.Lock()
	users := slices.Clone(s.users)
	s.mu.Unlock()
	from := (pg - 1) * limit
	if from >= len(users) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	pages := (len(users) + limit - 1) / limit
	var out []any
	for _, u := range users[from:min(from+limit, len(users))] {
		out = append(out, map[string]any{"id": u.ID, "name": u.Name, "email": u.Email, "lang": "ru",
			"rights": map[string]any{"leads": map[string]any{"view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A"},
				"is_admin": u.Admin, "is_free": false, "is_active": u.Active, "group_id": nil, "role_id": nil},
			"_links": s.href(fmt.Sprintf("/api/v4/users/%d", u.ID))})
	}
	links := s.href(fmt.Sprintf("/api/v4/users?page=%d&limit=%d", pg, limit))
	if len(out) == limit { // like amoCRM, even when this is the last page (then the next one answers 204)
		links["next"] = map[string]any{"href": fmt.Sprintf("https://%s/api/v4/users?page=%d&limit=%d", Domain, pg+1, limit)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"_total_items": len(users), "_page": pg, "_page_count": pages,
		"_links": links, "_embedded": map[string]any{"users": out}})
}

// pageOf is the limit (1 to 250, default 50) and the page (from 1) a list
// request asks for, as amoCRM reads them.
func pageOf(q url.Values) (limit, page int) {
	limit, _ = strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 250 {
		limit = 50
	}
	page, _ = strconv.Atoi(q.Get("page"))
	return limit, max(page, 1)
}
