package megafontest

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

	"github.com/callbridge/callbridge/internal/fakehttp"
)

// Seed values of a new Server: the samples of the MegaFon API documentation.
const (
	// APIKey is the key a Server accepts until SetAPIKey changes it.
	APIKey = "9afaf8e5-0000-4b2a-9f4a-05c61af0639f"
	// Domain is the PBX domain used in the seed data.
	Domain = "vats123456.megapbx.ru"
)

// Operation names, for Failure.Op and Request.Op. Each covers the crmapi v1
// endpoint and the legacy command of the same operation.
const (
	OpMakeCall     = "makecall"     // POST /makecall; cmd=makeCall
	OpUsers        = "users"        // GET /users; cmd=accounts
	OpUser         = "user"         // GET /users/{login}
	OpGroups       = "groups"       // GET /groups; cmd=groups
	OpHistory      = "history"      // GET /history/json; cmd=history
	OpDND          = "dnd"          // /users/{login}/dnd; cmd=get_dnd, set_dnd
	OpSubscription = "subscription" // /users/{login}/subscription; cmd=subscribeOnCalls, subscriptionStatus
	OpRecording    = "recording"    // GET /rec/{name}: a recording link (SetRecording)
)

// User is an employee of the fake PBX.
type User struct {
	Login, Name, Position, Email, Ext, Telnum, Mobile, Role string
	// Status is "online" or "offline", returned by crmapi v1 with=status.
	Status string
}

// Group is a call group of the fake PBX.
type Group struct {
	ID, Name, Ext string
}

// Record is a call record of the fake PBX's history.
type Record struct {
	UID, Type, Status, Client, Diversion, User, UserName, Group string
	Start                                                       time.Time
	// Wait and Duration are seconds; Duration includes Wait.
	Wait, Duration int
	Record         string
	Rating         int
}

// Request is a request the Server received.
type Request struct {
	Method string
	// Path is the decoded path; RawPath the path as sent, escaped. The
	// fake routes by RawPath's segments, each decoded alone, so an
	// escaped "/" in an id stays inside its segment.
	Path    string
	RawPath string
	// Op is the operation (OpMakeCall, …), "" if unknown.
	Op string
	// Legacy is true for /sys/crm_api.wcgp.
	Legacy bool
	Query  url.Values
	Header http.Header
	// Params are the legacy parameters (form body and query, token
	// included) or, for crmapi v1, the query plus the fields of a JSON body.
	Params url.Values
	Body   []byte
}

// Failure makes the Server misbehave for the next Times requests it
// selects. See Server.Fail.
type Failure struct {
	// Method and Path select requests: "" matches any method; Path is a
	// prefix of the URL path ("" matches any, "/crmapi/v1/" crmapi v1 only,
	// "/sys/crm_api.wcgp" the legacy API only).
	Method, Path string
	// Op selects an operation (OpMakeCall, …) in both API generations, as
	// the legacy API multiplexes them on one path; "" matches any.
	Op string
	// Status is the status to answer (0: answer normally, after Delay).
	Status int
	// Body replaces the answer's body; "" gives the API generation's error
	// shape ({"message":…} for crmapi v1, {"error":…} for legacy).
	Body string
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter string
	// Delay is waited before answering (or until the client gives up).
	Delay time.Duration
	// Times is how many requests are affected (0 means 1).
	Times int
}

// Server is a fake MegaFon virtual PBX: crmapi v1 (X-API-KEY, JSON,
// {"message":…} errors) and the legacy /sys/crm_api.wcgp (cmd + token,
// form, {"error":…} errors, CSV history with +03:00 offsets) over one data
// set. It records every request (Requests) and injects failures (Fail).
// It is deterministic: call ids are "CALL000001", "CALL000002", … Its
// methods are safe for concurrent use.
type Server struct {
	// URL is the PBX root, for callbridge.WithBaseURL.
	URL string

	srv    *fakehttp.Server
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	key      string
	users    []User
	groups   []Group
	history  []Record
	records  map[string][]byte // recording name → audio
	dnd      map[string]bool
	subs     map[string]bool // login + "\x00" + group id
	requests []Request
	failures []Failure
	calls    int
}

// NewServer starts a Server on 127.0.0.1, seeded with one user (andy, ext
// 701), one group (sales) and two history records, accepting APIKey. The
// caller closes it:
//
//	srv := megafontest.NewServer()
//	t.Cleanup(srv.Close)
func NewServer() *Server {
	s := &Server{
		closed: make(chan struct{}),
		key:    APIKey,
		users: []User{{
			Login: "andy", Name: "Андрей Иванов", Position: "Менеджер", Email: "andy@example.ru",
			Ext: "701", Telnum: "74951234567", Mobile: "79161234567", Role: "user", Status: "online",
		}},
		groups: []Group{{ID: "sales", Name: "Отдел продаж", Ext: "710"}},
		history: []Record{
			{
				UID: "HLH8HFM77S000035", Type: "in", Status: "success", Client: "79260001122",
				Diversion: "74950000001", User: "andy", UserName: "Андрей Иванов", Group: "Продажи",
				Start: time.Date(2023, 1, 1, 12, 0, 0, 0, time.UTC), Wait: 5, Duration: 28,
				Record: "https://" + Domain + "/rec/HLH8HFM77S000035.mp3",
			},
			{
				UID: "a252179d-fa9b-4b2a-9f4a-05c61af0639f", Type: "out", Status: "success", Client: "79002445949",
				Diversion: "74996861574", User: "admin", Start: time.Date(2023, 1, 1, 13, 14, 8, 0, time.UTC),
				Duration: 11,
			},
		},
		records: map[string][]byte{},
		dnd:     map[string]bool{},
		subs:    map[string]bool{},
	}
	s.srv = fakehttp.Start(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down, cutting injected delays short. It may be
// called more than once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.srv.Close()
}

// SetAPIKey changes the accepted key; requests with the old one get 401
// (a revoked or regenerated key).
func (s *Server) SetAPIKey(key string) { s.mu.Lock(); s.key = key; s.mu.Unlock() }

// SetUsers replaces the employees.
func (s *Server) SetUsers(users ...User) { s.mu.Lock(); s.users = slices.Clone(users); s.mu.Unlock() }

// SetGroups replaces the call groups.
func (s *Server) SetGroups(groups ...Group) {
	s.mu.Lock()
	s.groups = slices.Clone(groups)
	s.mu.Unlock()
}

// SetHistory replaces the call records.
func (s *Server) SetHistory(records ...Record) {
	s.mu.Lock()
	s.history = slices.Clone(records)
	s.mu.Unlock()
}

// SetRecording stores the audio of a recording and returns its link,
// <URL>/rec/<name>, for a history push's link or a Record: a GET of it
// with the API key in X-API-KEY answers the audio (audio/mpeg), without
// the key 401 and for a name not stored 404, as crmapi v1 answers.
func (s *Server) SetRecording(name string, audio []byte) string {
	s.mu.Lock()
	s.records[name] = slices.Clone(audio)
	s.mu.Unlock()
	return s.URL + "/rec/" + url.PathEscape(name)
}

// DeleteRecording removes a recording, as the PBX does after about a week.
func (s *Server) DeleteRecording(name string) {
	s.mu.Lock()
	delete(s.records, name)
	s.mu.Unlock()
}

// Fail injects a failure (see Failure). Failures are matched in the order
// added; a request uses up one Times of the first that selects it.
func (s *Server) Fail(f Failure) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	s.failures = append(s.failures, f)
	s.mu.Unlock()
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// DND reports the fake's "do not disturb" state of login.
func (s *Server) DND(login string) bool { s.mu.Lock(); defer s.mu.Unlock(); return s.dnd[login] }

// Subscribed reports whether login is subscribed to the calls of group id.
// Users start subscribed to nothing.
func (s *Server) Subscribed(login, group string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[login+"\x00"+group]
}

// reply is an answer: status, content type and body.
type reply struct {
	status int
	ctype  string
	body   string
}

func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		return reply{http.StatusInternalServerError, "text/plain", err.Error()}
	}
	return reply{status, "application/json; charset=utf-8", string(b)}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	legacy := r.URL.Path == "/sys/crm_api.wcgp"
	recording := strings.HasPrefix(r.URL.Path, "/rec/")
	rec := Request{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Legacy: legacy,
		Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
	rec.Params = r.URL.Query()
	switch {
	case recording:
		rec.Op = OpRecording
	case legacy:
		if f, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range f {
				rec.Params[k] = v
			}
		}
		rec.Op = legacyOp(rec.Params.Get("cmd"))
	default:
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			for k, v := range m {
				rec.Params.Set(k, fmt.Sprint(v))
			}
		}
		rec.Op = v1Op(v1Segments(r.URL.EscapedPath()))
	}

	s.mu.Lock()
	s.requests = append(s.requests, rec)
	fail, failing := s.takeFailure(rec)
	s.mu.Unlock()

	if failing && fail.Delay > 0 {
		t := time.NewTimer(fail.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.closed:
			t.Stop()
			panic(http.ErrAbortHandler) // the client sees the connection drop
		}
	}
	var rep reply
	switch {
	case failing && fail.Status != 0:
		rep = failureReply(fail, legacy)
		if fail.RetryAfter != "" {
			w.Header().Set("Retry-After", fail.RetryAfter)
		}
	case recording:
		rep = s.recording(r)
	case legacy:
		rep = s.legacy(rec.Params)
	default:
		rep = s.v1(r, rec)
	}
	w.Header().Set("Content-Type", rep.ctype)
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

// takeFailure uses up one Times of the first failure selecting rec.
// s.mu is held.
func (s *Server) takeFailure(rec Request) (Failure, bool) {
	for i, f := range s.failures {
		if (f.Method != "" && f.Method != rec.Method) || !strings.HasPrefix(rec.Path, f.Path) ||
			(f.Op != "" && f.Op != rec.Op) {
			continue
		}
		if s.failures[i].Times--; s.failures[i].Times <= 0 {
			s.failures = slices.Delete(s.failures, i, i+1)
		}
		return f, true
	}
	return Failure{}, false
}

func failureReply(f Failure, legacy bool) reply {
	if f.Body != "" {
		ct := "application/json; charset=utf-8"
		if b := strings.TrimSpace(f.Body); b == "" || (b[0] != '{' && b[0] != '[' && b[0] != '"') {
			ct = "text/html; charset=utf-8"
		}
		return reply{f.Status, ct, f.Body}
	}
	return errorReply(f.Status, http.StatusText(f.Status), legacy)
}

// errorReply is the generation's error shape.
func errorReply(status int, msg string, legacy bool) reply {
	if legacy {
		return jsonReply(status, map[string]string{"error": msg})
	}
	return jsonReply(status, map[string]string{"message": msg})
}

func legacyOp(cmd string) string {
	switch strings.ToLower(cmd) {
	case "makecall":
		return OpMakeCall
	case "accounts":
		return OpUsers
	case "groups":
		return OpGroups
	case "history":
		return OpHistory
	case "get_dnd", "set_dnd":
		return OpDND
	case "subscribeoncalls", "subscriptionstatus":
		return OpSubscription
	}
	return ""
}

// v1Segments splits an escaped crmapi v1 path into its decoded segments
// after /crmapi/v1/.
func v1Segments(escapedPath string) []string {
	segs := strings.Split(strings.Trim(strings.TrimPrefix(escapedPath, "/crmapi/v1/"), "/"), "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	return segs
}

func v1Op(p []string) string {
	switch {
	case p[0] == "makecall":
		return OpMakeCall
	case p[0] == "groups":
		return OpGroups
	case p[0] == "history":
		return OpHistory
	case p[0] == "users" && len(p) == 1:
		return OpUsers
	case p[0] == "users" && len(p) == 2:
		return OpUser
	case p[0] == "users" && len(p) == 3 && (p[2] == "dnd" || p[2] == "subscription"):
		return p[2]
	}
	return ""
}

// findUser finds a user by login (or login@domain), extension or direct
// number. s.mu is held.
func (s *Server) findUser(who string) (User, bool) {
	login, _, _ := strings.Cut(who, "@")
	for _, u := range s.users {
		if u.Login == login || u.Ext == who || (u.Telnum != "" && u.Telnum == who) {
			return u, true
		}
	}
	return User{}, false
}

func digitsOnly(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// makeCall checks the parameters and returns a new call id, or an error
// message. s.mu is held.
func (s *Server) makeCall(p url.Values) (string, string) {
	if !digitsOnly(p.Get("phone")) {
		return "", "Invalid parameters: [phone]"
	}
	if c := p.Get("clid"); c != "" && !digitsOnly(c) {
		return "", "Invalid parameters: [clid]"
	}
	if g := p.Get("group"); g != "" {
		if !slices.ContainsFunc(s.groups, func(x Group) bool { return x.ID == g }) {
			return "", "Invalid parameters: [group]"
		}
	} else if _, ok := s.findUser(p.Get("user")); !ok && !digitsOnly(p.Get("user")) {
		return "", "Invalid parameters: [user]"
	}
	s.calls++
	return fmt.Sprintf("CALL%06d", s.calls), ""
}

// setSubscription applies a (un)subscription; an empty group applies to
// every group and to the user's personal group "personal_<login>".
// s.mu is held.
func (s *Server) setSubscription(login, group string, on bool) {
	if group != "" {
		s.subs[login+"\x00"+group] = on
		return
	}
	for _, g := range s.groups {
		s.subs[login+"\x00"+g.ID] = on
	}
	s.subs[login+"\x00personal_"+login] = on
}

// filterHistory applies type, start/end and limit. s.mu is held.
func (s *Server) filterHistory(p url.Values) ([]Record, string) {
	var from, to time.Time
	if p.Get("start") != "" || p.Get("end") != "" {
		var err1, err2 error
		from, err1 = time.Parse("20060102T150405Z", p.Get("start"))
		to, err2 = time.Parse("20060102T150405Z", p.Get("end"))
		if err1 != nil || err2 != nil {
			return nil, "Invalid parameters: [start, end]"
		}
	} else if p.Get("period") == "" {
		return nil, "Invalid parameters: [period]"
	}
	typ := p.Get("type")
	var out []Record
	for _, r := range s.history {
		switch {
		case typ == "in" || typ == "out":
			if r.Type != typ {
				continue
			}
		case typ == "missed":
			if strings.EqualFold(r.Status, "success") {
				continue
			}
		}
		if !from.IsZero() && (r.Start.Before(from) || !r.Start.Before(to)) {
			continue
		}
		if u := p.Get("user"); u != "" && r.User != u {
			continue
		}
		out = append(out, r)
	}
	if n, err := strconv.Atoi(p.Get("limit")); err == nil && n >= 0 && n < len(out) {
		out = out[:n]
	}
	return out, ""
}
