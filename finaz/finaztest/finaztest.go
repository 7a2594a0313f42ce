// Package finaztest is a fake telephony system for testing code that uses
// package finaz, and builders for the two "answered call" notifications.
//
// Finaz is configured with request templates, not a fixed API, so the fake
// PBX ([Server]) is programmable: it answers each method and path with the
// body a test configures (Reply, Handle: CSV, JSON, text, audio), records
// every request (Requests), checks credentials when told to (Authorize: a
// 401 otherwise), and injects failures (Fail: a status such as 401, 429 or
// 5xx, Retry-After, slow answers). It serves on 127.0.0.1; start one, close
// it when done, and point the client at it:
//
//	pbx := finaztest.NewServer()
//	defer pbx.Close() // in a test: t.Cleanup(pbx.Close)
//	pbx.Reply("POST", "/api/v1/calls", finaztest.Response{Body: `{"call":{"id":"c-1"}}`})
//	client, _ := finaz.NewClient(cfg, callbridge.WithBaseURL(pbx.URL))
//	pbx.Fail(finaztest.Failure{Path: "/api/v1/calls", Status: http.StatusTooManyRequests, RetryAfter: "2"})
//	…
//	reqs := pbx.Requests() // what the client sent
//
// NewDiscadorRequest and NewReceptivoRequest build the notifications the
// PBX (or an agent's browser) sends, for a handler's ServeHTTP:
//
//	h.ServeHTTP(w, finaztest.NewDiscadorRequest("https://crm.example/telephony-proxy/", finaztest.Notification{…}))
//
// It is deterministic: no randomness, no real time unless a delay is
// configured. The package links neither testing nor net/http/httptest, so
// a program (a demo) may run the fake.
package finaztest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge/internal/fakehttp"
)

// Request is a request the fake received.
type Request struct {
	Method string
	// Path is the URL path; RawPath keeps its escaping ("/calls/a%2Fb").
	Path, RawPath string
	Query         url.Values
	Header        http.Header
	Body          []byte
	// Form holds the fields of a form-urlencoded or multipart body.
	Form url.Values
	// Files holds the files of a multipart body by field name.
	Files map[string]File
}

// File is one uploaded file of a multipart body.
type File struct {
	Name        string
	ContentType string
	Data        []byte
}

// Response is what the fake answers on a route (see Server.Reply).
type Response struct {
	// Status defaults to 200.
	Status int
	Header http.Header
	Body   string
	// Delay holds the answer back. It is cut short when the client gives
	// up (nothing is answered) or the Server is closed (the connection is
	// dropped).
	Delay time.Duration
}

// Failure makes matching requests fail (or wait), whatever their route and
// before the credential check. See Server.Fail.
type Failure struct {
	// Method and Path select requests: "" matches any method; Path is a
	// prefix of the URL path ("" matches any).
	Method, Path string
	// Status is the answer; 0 answers normally (after Delay).
	Status int
	// Body of the injected answer; "" gives the fake's JSON error shape,
	// {"error": status text} (Finaz PBXs have no one error format).
	Body string
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter string
	// Header is added to the injected answer.
	Header http.Header
	// Delay before answering (a slow server). It is cut short when the
	// client gives up (nothing is answered) or the Server is closed (the
	// connection is dropped).
	Delay time.Duration
	// Times is how many requests fail; 0 means 1.
	Times int
}

// Server is the fake PBX. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the fake ("http://127.0.0.1:port", no
	// trailing slash), for callbridge.WithBaseURL.
	URL string

	srv    *fakehttp.Server
	closed chan struct{}
	once   sync.Once

	mu        sync.Mutex
	routes    map[string]func(Request) Response
	requests  []Request
	failures  []*Failure
	authorize func(Request) bool
}

// NewServer starts a fake PBX on 127.0.0.1. Requests without a route get
// 404. The caller closes it:
//
//	pbx := finaztest.NewServer()
//	t.Cleanup(pbx.Close)
func NewServer() *Server {
	s := &Server{routes: map[string]func(Request) Response{}, closed: make(chan struct{})}
	s.srv = fakehttp.Start(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close shuts the fake down; answers still held back by a Delay are
// dropped. It may be called more than once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.srv.Close()
}

// Handle answers requests with method (or any method if "") and URL path
// with f. A later call for the same method and path replaces the route.
func (s *Server) Handle(method, path string, f func(Request) Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[method+" "+path] = f
}

// Reply answers requests with method and path with a fixed response.
func (s *Server) Reply(method, path string, resp Response) {
	s.Handle(method, path, func(Request) Response { return resp })
}

// Fail injects a failure for the next f.Times matching requests (see
// Failure); they are still recorded. Failures are matched in the order
// added; a request uses up one Times of the first that selects it.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	f.Header = f.Header.Clone()
	s.failures = append(s.failures, &f)
}

// Authorize makes the fake answer 401 to requests for which ok returns
// false, e.g. a wrong or expired credential. nil removes the check.
func (s *Server) Authorize(ok func(Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorize = ok
}

// Requests returns a copy of the requests received so far, in arrival
// order, secrets as received.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Reset forgets the recorded requests and the failures not used up yet.
// Routes and the credential check stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.failures = nil, nil
}

const maxBody = 64 << 20

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	req := Request{
		Method:  r.Method,
		Path:    r.URL.Path,
		RawPath: r.URL.EscapedPath(),
		Query:   r.URL.Query(),
		Header:  r.Header.Clone(),
		Body:    body,
	}
	parseBody(&req)

	s.mu.Lock()
	s.requests = append(s.requests, req)
	fail := s.takeFailure(r)
	s.mu.Unlock()

	if fail != nil {
		if !s.wait(r, fail.Delay) {
			return
		}
		if fail.Status != 0 {
			writeFailure(w, fail)
			return
		}
	}

	s.mu.Lock()
	var resp Response
	var f func(Request) Response
	switch {
	case s.authorize != nil && !s.authorize(req):
		resp = Response{Status: http.StatusUnauthorized, Body: `{"error":"unauthorized"}`}
	default:
		f = s.routes[r.Method+" "+r.URL.Path]
		if f == nil {
			f = s.routes[" "+r.URL.Path]
		}
		if f == nil {
			resp = Response{Status: http.StatusNotFound, Body: "finaztest: no route for " + r.Method + " " + r.URL.Path}
		}
	}
	s.mu.Unlock()
	if f != nil {
		resp = f(req)
	}

	if !s.wait(r, resp.Delay) {
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	w.WriteHeader(resp.Status)
	_, _ = io.WriteString(w, resp.Body)
}

// wait sleeps d; it reports false when the client gave up first. When the
// Server is closed first, the connection is dropped.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		panic(http.ErrAbortHandler) // the client sees the connection drop
	}
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

func writeFailure(w http.ResponseWriter, f *Failure) {
	body := f.Body
	if body == "" {
		b, _ := json.Marshal(map[string]string{"error": http.StatusText(f.Status)})
		body = string(b)
		w.Header().Set("Content-Type", "application/json")
	}
	for k, v := range f.Header {
		w.Header()[k] = v
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, body)
}

func parseBody(req *Request) {
	mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil {
		return
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		req.Form, _ = url.ParseQuery(string(req.Body))
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(req.Body), params["boundary"])
		req.Form, req.Files = url.Values{}, map[string]File{}
		for {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			data, _ := io.ReadAll(p)
			if p.FileName() != "" {
				req.Files[p.FormName()] = File{Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Data: data}
			} else {
				req.Form.Add(p.FormName(), string(data))
			}
		}
	}
}

// Notification holds the parameters of an "answered call" notification.
type Notification struct {
	PID       string // pid: the CRM contact id (server-side notification only)
	Num       string // num: the client's phone
	CID       string // cid: the PBX's call id
	Ramal     string // ramal: the operator's extension
	EmpresaID string // empresaId: the Finaz company id
	// Token is sent as the "token" query parameter when not empty.
	Token string
	// ManualSpelling sends "empresald", as the manual prints it, instead
	// of "empresaId".
	ManualSpelling bool
}

func (n Notification) query(withPID bool) string {
	q := url.Values{}
	if withPID {
		q.Set("pid", n.PID)
	}
	q.Set("num", n.Num)
	q.Set("cid", n.CID)
	q.Set("ramal", n.Ramal)
	if n.ManualSpelling {
		q.Set("empresald", n.EmpresaID)
	} else {
		q.Set("empresaId", n.EmpresaID)
	}
	if n.Token != "" {
		q.Set("token", n.Token)
	}
	return q.Encode()
}

// DiscadorURL is the server-side notification URL under base (the
// handler's mount point, e.g. "https://crm.example/telephony-proxy/"):
// base + "atendimentodiscador?pid=…&num=…&cid=…&ramal=…&empresaId=…".
func DiscadorURL(base string, n Notification) string {
	return strings.TrimSuffix(base, "/") + "/atendimentodiscador?" + n.query(true)
}

// ReceptivoURL is the client-side notification URL under base (no pid).
func ReceptivoURL(base string, n Notification) string {
	return strings.TrimSuffix(base, "/") + "/atendimentoreceptivo?" + n.query(false)
}

// NewDiscadorRequest returns a server-side notification request for a
// handler's ServeHTTP: GET base/atendimentodiscador?…, as a server receives
// it (RemoteAddr 192.0.2.1:1234, Host from base or example.com).
func NewDiscadorRequest(base string, n Notification) *http.Request {
	return fakehttp.NewRequest(http.MethodGet, DiscadorURL(base, n), nil)
}

// NewReceptivoRequest returns a client-side notification request for a
// handler's ServeHTTP: GET base/atendimentoreceptivo?….
func NewReceptivoRequest(base string, n Notification) *http.Request {
	return fakehttp.NewRequest(http.MethodGet, ReceptivoURL(base, n), nil)
}
