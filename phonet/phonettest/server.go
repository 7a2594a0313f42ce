package phonettest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/internal/fakehttp"
	"github.com/callbridge/callbridge/phonet"
)

// Defaults of a new Server.
const (
	DefaultDomain = "acme.phonet.com.ua"
	DefaultAPIKey = "k3yFromCabinet0000000000000000000"
)

// Leg is an employee side of a call as Phonet writes it. Pointer fields are
// written as null when nil (Phonet does so for test calls).
type Leg struct {
	ID          *int64  `json:"id"`
	Type        int     `json:"type,omitempty"`
	DisplayName *string `json:"displayName"`
	Ext         *string `json:"ext"`
}

// NewLeg returns a user leg with the given id, extension and name.
func NewLeg(id int64, ext, name string) *Leg {
	return &Leg{ID: &id, Type: 1, Ext: &ext, DisplayName: &name}
}

// OtherLeg is the external party of an active call or call event.
type OtherLeg struct {
	ID          any     `json:"id"` // Phonet sends a number or a string
	Name        string  `json:"name"`
	Num         string  `json:"num"`
	CompanyName *string `json:"companyName"`
	URL         *string `json:"url"`
}

// Record is a history row (company.api, missed.api, users.api). EndAt is in
// epoch milliseconds.
type Record struct {
	UUID            string  `json:"uuid"`
	ParentUUID      *string `json:"parentUuid"`
	EndAt           int64   `json:"endAt"`
	LgDirection     int     `json:"lgDirection"`
	OtherLegNum     string  `json:"otherLegNum"`
	OtherLegName    string  `json:"otherLegName"`
	Leg             *Leg    `json:"leg"`
	Leg2            *Leg    `json:"leg2"`
	BillSecs        int     `json:"billSecs"`
	Duration        int     `json:"duration"`
	Disposition     int     `json:"disposition"`
	TransferHistory *string `json:"transferHistory"`
	AudioRecURL     *string `json:"audioRecUrl"`
	Trunk           *string `json:"trunk"`
}

// ActiveCall is an entry of /rest/calls/active/v3. Times are epoch ms.
type ActiveCall struct {
	UUID        string     `json:"uuid"`
	ParentUUID  *string    `json:"parentUuid"`
	LastEvent   string     `json:"lastEvent"`
	DialAt      int64      `json:"dialAt"`
	BridgeAt    *int64     `json:"bridgeAt"`
	LgDirection int        `json:"lgDirection"`
	Leg         *Leg       `json:"leg"`
	Leg2        *Leg       `json:"leg2"`
	OtherLegs   []OtherLeg `json:"otherLegs"`
	TrunkNum    *string    `json:"trunkNum"`
	TrunkName   *string    `json:"trunkName"`
}

// User is an entry of /rest/users.
type User struct {
	ID          int64  `json:"id"`
	DisplayName string `json:"displayName"`
	Ext         string `json:"ext"`
	Email       string `json:"email"`
}

// Request is a request the Server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// Session is the JSESSIONID cookie sent, "" if none.
	Session string
	Body    []byte
}

// Failure makes the Server answer matching requests with an error or
// slowly. See Server.Fail.
type Failure struct {
	// Method and Path select requests: "" matches any method; Path is a
	// prefix of the URL path, e.g. "/rest/user/makeCall" ("" matches any).
	Method, Path string
	// Status is the answer (e.g. 429, 503); 0 answers normally (after
	// Delay).
	Status int
	// Body of the injected answer, sent as JSON when it starts with "{" or
	// "[" and as text otherwise; "" gives Phonet's own error shape, the
	// status text as text/plain.
	Body string
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter string
	// Delay is waited before answering, cut short when the client gives up
	// or the Server is closed.
	Delay time.Duration
	// Times is how many matching requests fail; 0 means 1.
	Times int
}

// History endpoint names for AddCalls.
const (
	Company = "company"
	Missed  = "missed"
	Users   = "users"
)

// Server is a fake Phonet REST API on 127.0.0.1: authorization with
// JSESSIONID sessions that can expire, makeCall, hangup, active calls, the
// three history endpoints with paging, users and recordings. It records
// every request and can inject failures. It is safe for concurrent use.
type Server struct {
	// URL is the base URL to pass to callbridge.WithBaseURL:
	// "http://127.0.0.1:<port>", without a trailing slash.
	URL string
	// Domain and APIKey are the accepted credentials (DefaultDomain and
	// DefaultAPIKey); set them before the first request.
	Domain, APIKey string

	srv       *fakehttp.Server
	closed    chan struct{} // closed by Close: cuts Delays short
	closeOnce sync.Once

	mu          sync.Mutex
	now         func() time.Time
	sessions    map[string]time.Time // id → expiry (zero: none)
	ttl         time.Duration
	expiredCode int
	noCookie    bool
	nextSession int
	nextCall    int
	active      []ActiveCall
	history     map[string][]Record
	users       []User
	audio       map[string][]byte
	requests    []Request
	failures    []*Failure
}

// NewServer starts a fake Phonet for DefaultDomain and DefaultAPIKey on
// 127.0.0.1; the caller closes it:
//
//	srv := phonettest.NewServer()
//	t.Cleanup(srv.Close)
//
// The package imports neither testing nor net/http/httptest, so a program
// that runs the fake (a demo) links no test code.
func NewServer() *Server {
	s := &Server{
		Domain:      DefaultDomain,
		APIKey:      DefaultAPIKey,
		closed:      make(chan struct{}),
		now:         time.Now,
		sessions:    map[string]time.Time{},
		expiredCode: http.StatusForbidden,
		history:     map[string][]Record{},
		audio:       map[string][]byte{},
	}
	s.srv = fakehttp.Start(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close shuts the Server down: delayed answers are cut short and open
// connections closed. It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.srv.Close()
}

// Credentials returns the credentials the Server accepts.
func (s *Server) Credentials() phonet.Credentials {
	return phonet.Credentials{Domain: s.Domain, APIKey: s.APIKey}
}

// NewClient returns a phonet.Client for this Server with instant retries
// (callbridge.WithBaseURL(s.URL) and callbridge.WithRetry with
// callbridge.DefaultMaxRetries and a Backoff that returns 0); opts are
// applied after those, so a callbridge.WithRetry of the test replaces
// them.
func (s *Server) NewClient(opts ...callbridge.ClientOption) (*phonet.Client, error) {
	all := append([]callbridge.ClientOption{
		callbridge.WithBaseURL(s.URL),
		callbridge.WithRetry(callbridge.RetryPolicy{
			MaxRetries: callbridge.DefaultMaxRetries,
			Backoff:    func(int, *http.Response) time.Duration { return 0 },
		}),
	}, opts...)
	return phonet.NewClient(s.Credentials(), all...)
}

// ExpireSessions ends every session, as Phonet does after an idle timeout.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

// SetSessionTTL makes new sessions expire d after authorization (0: never).
func (s *Server) SetSessionTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl = d
}

// SetClock makes the Server read the time from now (nil: time.Now): the
// expiry of sessions (SetSessionTTL) and the dial time of placed calls. A
// test moves its own clock past the TTL instead of sleeping.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now == nil {
		now = time.Now
	}
	s.now = now
}

// SetExpiredResponse sets how an unknown or expired session is answered:
// http.StatusForbidden (default), http.StatusUnauthorized, or
// http.StatusFound (a redirect to /login).
func (s *Server) SetExpiredResponse(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiredCode = status
}

// OmitSessionCookie makes authorization succeed without a Set-Cookie.
func (s *Server) OmitSessionCookie(omit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noCookie = omit
}

// Fail injects a failure (see Failure): the next f.Times requests that
// match it are answered with it. Failures are matched in the order given.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.failures = append(s.failures, &f)
}

// AddCalls adds history records to an endpoint: Company, Missed or Users.
func (s *Server) AddCalls(endpoint string, recs ...Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history[endpoint] = append(s.history[endpoint], recs...)
}

// AddActiveCall adds a call in progress.
func (s *Server) AddActiveCall(c ActiveCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = append(s.active, c)
}

// SetUsers sets the employees.
func (s *Server) SetUsers(users ...User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = slices.Clone(users)
}

// SetRecording stores the audio of a call.
func (s *Server) SetRecording(uuid string, audio []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audio[uuid] = slices.Clone(audio)
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns how many requests had the method and path.
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// Authorizations returns how many authorization requests were received.
func (s *Server) Authorizations() int {
	return s.Count(http.MethodPost, "/rest/security/authorize")
}

// ActiveCalls returns the calls in progress.
func (s *Server) ActiveCalls() []ActiveCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.active)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body}
	if ck, err := r.Cookie(phonet.SessionCookie); err == nil {
		req.Session = ck.Value
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	f := s.failureLocked(r)
	s.mu.Unlock()

	if f != nil {
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-s.closed:
				t.Stop()
				panic(http.ErrAbortHandler) // the connection drops, no answer
			}
		}
		if f.Status != 0 {
			writeFailure(w, f)
			return
		}
	}

	p := r.URL.Path
	switch {
	case p == "/rest/security/authorize" && r.Method == http.MethodPost:
		s.authorize(w, body)
		return
	case strings.HasPrefix(p, "/rest/public/calls/") && strings.HasSuffix(p, "/audio") && r.Method == http.MethodGet:
		s.recording(w, strings.TrimSuffix(strings.TrimPrefix(p, "/rest/public/calls/"), "/audio"))
		return
	case p == "/login":
		http.Error(w, "login page", http.StatusOK)
		return
	}
	if !s.validSession(req.Session) {
		s.rejectSession(w)
		return
	}
	switch {
	case p == "/rest/user/makeCall" && r.Method == http.MethodPost:
		s.makeCall(w, body)
	case p == "/rest/calls/active/v3" && r.Method == http.MethodGet:
		s.mu.Lock()
		active := slices.Clone(s.active)
		s.mu.Unlock()
		writeJSON(w, active)
	case strings.HasPrefix(p, "/rest/calls/active/") && strings.HasSuffix(p, "/hangup") && r.Method == http.MethodGet:
		s.hangup(w, strings.TrimSuffix(strings.TrimPrefix(p, "/rest/calls/active/"), "/hangup"))
	case p == "/rest/calls/company.api", p == "/rest/calls/missed.api", p == "/rest/calls/users.api":
		s.historyPage(w, r, strings.TrimSuffix(strings.TrimPrefix(p, "/rest/calls/"), ".api"))
	case p == "/rest/users" && r.Method == http.MethodGet:
		s.mu.Lock()
		users := slices.Clone(s.users)
		s.mu.Unlock()
		writeJSON(w, users)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) failureLocked(r *http.Request) *Failure {
	for i, f := range s.failures {
		if (f.Method == "" || f.Method == r.Method) && strings.HasPrefix(r.URL.Path, f.Path) {
			f.Times--
			if f.Times <= 0 {
				s.failures = slices.Delete(s.failures, i, i+1)
			}
			c := *f
			return &c
		}
	}
	return nil
}

// writeFailure answers with an injected failure.
func writeFailure(w http.ResponseWriter, f *Failure) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch body := strings.TrimSpace(f.Body); {
	case body == "":
		http.Error(w, http.StatusText(f.Status), f.Status)
		return
	case body[0] == '{' || body[0] == '[':
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, f.Body)
}

func (s *Server) authorize(w http.ResponseWriter, body []byte) {
	var in struct {
		Domain string `json:"domain"`
		APIKey string `json:"apiKey"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Domain != s.Domain || in.APIKey != s.APIKey {
		http.Error(w, "Forbidden error", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	s.nextSession++
	id := fmt.Sprintf("FAKESESSION%04d", s.nextSession)
	var exp time.Time
	if s.ttl > 0 {
		exp = s.now().Add(s.ttl)
	}
	s.sessions[id] = exp
	noCookie := s.noCookie
	s.mu.Unlock()
	if !noCookie {
		w.Header().Add("Set-Cookie", phonet.SessionCookie+"="+id+"; Path=/; Secure; HttpOnly")
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) validSession(id string) bool {
	if id == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.sessions[id]
	if ok && !exp.IsZero() && s.now().After(exp) {
		delete(s.sessions, id)
		return false
	}
	return ok
}

func (s *Server) rejectSession(w http.ResponseWriter) {
	s.mu.Lock()
	code := s.expiredCode
	s.mu.Unlock()
	if code >= 300 && code <= 399 {
		w.Header().Set("Location", "/login")
		w.WriteHeader(code)
		return
	}
	http.Error(w, "Forbidden error", code)
}

func (s *Server) makeCall(w http.ResponseWriter, body []byte) {
	var in struct {
		LegExt      string `json:"legExt"`
		OtherLegNum string `json:"otherLegNum"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.LegExt == "" || in.OtherLegNum == "" {
		http.Error(w, `{"message":"legExt and otherLegNum are required"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.nextCall++
	uuid := fmt.Sprintf("fakecall%024d", s.nextCall)
	ext := in.LegExt
	s.active = append(s.active, ActiveCall{
		UUID: uuid, LastEvent: "call.dial", DialAt: s.now().UnixMilli(), LgDirection: 2,
		Leg: &Leg{Ext: &ext}, OtherLegs: []OtherLeg{{Num: in.OtherLegNum}},
	})
	s.mu.Unlock()
	writeJSON(w, map[string]string{"uuid": uuid})
}

func (s *Server) hangup(w http.ResponseWriter, uuid string) {
	s.mu.Lock()
	i := slices.IndexFunc(s.active, func(c ActiveCall) bool { return c.UUID == uuid })
	if i >= 0 {
		s.active = slices.Delete(s.active, i, i+1)
	}
	s.mu.Unlock()
	if i < 0 {
		http.Error(w, "call not found", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK) // Phonet answers hangup with an empty body
}

func (s *Server) historyPage(w http.ResponseWriter, r *http.Request, endpoint string) {
	q := r.URL.Query()
	from, err1 := strconv.ParseInt(q.Get("timeFrom"), 10, 64)
	to, err2 := strconv.ParseInt(q.Get("timeTo"), 10, 64)
	limit, err3 := strconv.Atoi(q.Get("limit"))
	offset, err4 := strconv.Atoi(q.Get("offset"))
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || limit < 1 || limit > 50 || offset < 0 {
		http.Error(w, `{"message":"bad timeFrom, timeTo, limit (1..50) or offset"}`, http.StatusBadRequest)
		return
	}
	mask := 0
	if d := q.Get("directions"); d != "" {
		mask, _ = strconv.Atoi(d)
	}
	for k, v := range q {
		if strings.HasPrefix(k, "directions[") && len(v) > 0 {
			n, _ := strconv.Atoi(v[0])
			mask |= n
		}
	}
	s.mu.Lock()
	var match []Record
	for _, rec := range s.history[endpoint] {
		if rec.EndAt >= from && rec.EndAt <= to && (mask == 0 || rec.LgDirection&mask != 0) {
			match = append(match, rec)
		}
	}
	s.mu.Unlock()
	page := []Record{}
	if offset < len(match) {
		page = match[offset:min(offset+limit, len(match))]
	}
	writeJSON(w, page)
}

func (s *Server) recording(w http.ResponseWriter, uuid string) {
	s.mu.Lock()
	audio, ok := s.audio[uuid]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "recording not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "audio/mpeg")
	_, _ = w.Write(audio)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}
