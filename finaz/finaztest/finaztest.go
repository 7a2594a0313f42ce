// Package finaztest is a fake telephony system for testing code that uses
// package finaz, and builders for the two "answered call" notifications.
//
// The fake PBX ([Server]) runs on httptest (127.0.0.1), records every
// request, and answers with configured bodies (CSV, JSON, text, audio). It
// can inject failures: a status (401, 429, 5xx) for the next requests,
// delays, and a credential check that answers 401. It is deterministic:
// no randomness, no real time unless a delay is configured.
//
//	pbx := finaztest.NewServer(t)
//	pbx.Reply("POST", "/api/v1/calls", finaztest.Response{Body: `{"call":{"id":"c-1"}}`})
//	client, _ := finaz.NewClient(cfg, finaz.WithBaseURL(pbx.URL()))
//	…
//	reqs := pbx.Requests() // what the client sent
package finaztest

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
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

// Response is what the fake answers.
type Response struct {
	// Status defaults to 200.
	Status int
	Header http.Header
	Body   string
	// Delay holds the answer back (the request's context still cancels it).
	Delay time.Duration
}

// Server is the fake PBX. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu        sync.Mutex
	routes    map[string]func(Request) Response
	requests  []Request
	failNext  int
	failResp  Response
	authorize func(Request) bool
}

// NewServer starts a fake PBX that tb closes at the end of the test.
// Requests without a route get 404.
// The test is a *testing.T, B or F (the package does not import testing,
// so a program that runs the fake links no test code).
func NewServer(tb interface {
	Helper()
	Cleanup(func())
}) *Server {
	tb.Helper()
	s := New()
	tb.Cleanup(s.Close)
	return s
}

// New starts a fake PBX outside a test; Close it when done.
func New() *Server {
	s := &Server{routes: map[string]func(Request) Response{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// URL is the base URL of the fake, for finaz.WithBaseURL.
func (s *Server) URL() string { return s.srv.URL + "/" }

// Client returns an HTTP client for the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

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

// FailNext answers the next n requests, whatever their route, with resp
// (e.g. Response{Status: 503} or a 429 with a Retry-After header). They
// are still recorded.
func (s *Server) FailNext(n int, resp Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failResp = n, resp
}

// Authorize makes the fake answer 401 to requests for which ok returns
// false, e.g. a wrong or expired credential. nil removes the check.
func (s *Server) Authorize(ok func(Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorize = ok
}

// Requests returns a copy of the requests received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Reset forgets the recorded requests and any pending FailNext.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.failNext = nil, 0
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
	var resp Response
	var f func(Request) Response
	switch {
	case s.failNext > 0:
		s.failNext--
		resp = s.failResp
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

	if resp.Delay > 0 {
		t := time.NewTimer(resp.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
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
// handler's ServeHTTP (httptest.NewRequest): GET base/atendimentodiscador?….
func NewDiscadorRequest(base string, n Notification) *http.Request {
	return httptest.NewRequest(http.MethodGet, DiscadorURL(base, n), nil)
}

// NewReceptivoRequest returns a client-side notification request for a
// handler's ServeHTTP: GET base/atendimentoreceptivo?….
func NewReceptivoRequest(base string, n Notification) *http.Request {
	return httptest.NewRequest(http.MethodGet, ReceptivoURL(base, n), nil)
}
