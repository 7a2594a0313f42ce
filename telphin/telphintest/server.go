// Package telphintest is a fake Telphin API and webhook request builders,
// for testing code that uses package telphin without the network.
//
// A Server serves, on 127.0.0.1, what telphin.Client calls: the
// authorization page of a public app (approving at once: a redirect back
// with a code and the state), the OAuth token endpoint
// (client_credentials, authorization_code and rotating refresh tokens,
// with expiring access tokens), /user/, the
// client object, the extension list, callback, current_calls (transfer and hangup),
// call_history (paged, refusing concurrent requests with 429 as Telphin
// does), records with storage_url, and event hooks. It records every
// request (Requests) and injects failures (Fail: 401/429/5xx, Retry-After,
// slow answers). Start one, close it when done, and point the client at it:
//
//	srv := telphintest.NewServer()
//	defer srv.Close() // in a test: t.Cleanup(srv.Close)
//	c, _ := telphin.NewClient(telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret},
//		callbridge.WithBaseURL(srv.URL))
//	srv.Fail(telphintest.Failure{Path: "/api/ver1.0/user/", Status: http.StatusServiceUnavailable, RetryAfter: "7"})
//
// NewRequest and NewGETRequest build the webhook requests Telphin sends,
// for a handler's ServeHTTP:
//
//	h.ServeHTTP(w, telphintest.NewRequest("https://crm.example/telphin/app", "s3cret", telphintest.Call{}.DialIn()))
//
// Everything is deterministic: ids come from counters. The package links
// neither testing nor net/http/httptest, so a program (a demo) may run it.
package telphintest

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge/internal/fakehttp"
)

// Default credentials of a Server.
const (
	ClientID     = "74c86d009b914aacb0f04cb0795eee86"
	ClientSecret = "8a93a582ec504435bcc8fe23ba8215d9"
	// ClientNumericID is the client_id of the fake's /user/.
	ClientNumericID = 37649
)

// StatsConcurrentMessage is the 429 message Telphin gives a concurrent
// statistics request.
const StatsConcurrentMessage = "Stats request already exists, concurrent request not allowed"

// Extension is an extension of the fake (the API's JSON shape).
type Extension struct {
	ID               int64  `json:"id"`
	Name             string `json:"name"`
	Domain           string `json:"domain"`
	Type             string `json:"type"`
	Status           string `json:"status"`
	Label            string `json:"label"`
	ClientID         int64  `json:"client_id"`
	ExtensionGroupID *int64 `json:"extension_group_id"`
	CallerIDName     string `json:"caller_id_name"`
}

// DefaultExtensions are the extensions a new Server has: phones 101 and
// 102 and queue 555 of client prefix 15400.
var DefaultExtensions = []Extension{
	{ID: 469100, Name: "15400*101", Type: "phone", Label: "Иванов", CallerIDName: "Иванов Иван"},
	{ID: 469102, Name: "15400*102", Type: "phone", Label: "Петров", CallerIDName: "Петров Пётр"},
	{ID: 469555, Name: "15400*555", Type: "queue", Label: "Продажи"},
}

// Hook is an event hook registered on the fake.
type Hook struct {
	ID        int64  `json:"id"`
	URL       string `json:"url"`
	Method    string `json:"method"`
	EventType string `json:"event_type"`
}

// Request is a request the Server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Failure makes matching requests fail (or wait). See Server.Fail.
type Failure struct {
	// Method and Path select requests: "" matches any method; Path is a
	// prefix of the URL path ("" matches any, "/oauth/token" the token endpoint).
	Method, Path string
	// Status is the answer; 0 answers normally (after Delay).
	Status int
	// Body of the injected answer; "" gives Telphin's error shape,
	// {"message": status text}.
	Body string
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter string
	// Header is added to the injected answer, e.g. Telphin's
	// X-RateLimit-Limit, -Remaining and -Reset on a 429.
	Header http.Header
	// Delay before answering (a slow server). It is cut short when the
	// client gives up (the request is dropped) or the Server is closed
	// (the connection is dropped).
	Delay time.Duration
	// Times is how many requests fail; 0 means 1.
	Times int
}

// Server is a fake Telphin API. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to pass to callbridge.WithBaseURL.
	URL string
	// ClientID and ClientSecret are the accepted app credentials.
	ClientID, ClientSecret string
	// TokenTTL is the expires_in of issued tokens (default 1 h).
	TokenTTL time.Duration
	// StatsDelay is how long a call_history answer takes (default 20 ms),
	// so concurrent requests overlap and get the 429 Telphin gives.
	StatsDelay time.Duration

	srv    *fakehttp.Server
	closed chan struct{}
	once   sync.Once

	mu         sync.Mutex
	requests   []Request
	failures   []*Failure
	seq        int
	access     map[string]bool
	refresh    map[string]bool
	codes      map[string]bool
	tokenReqs  int
	quota      int // remaining requests; -1 unlimited
	extensions []Extension
	calls      map[int64][]map[string]any // current calls per extension
	history    []json.RawMessage
	records    map[string][]byte
	hooks      map[int64][]Hook
	statsBusy  bool
}

// NewServer starts a fake Telphin API on 127.0.0.1 with the default
// credentials (ClientID, ClientSecret) and extensions (DefaultExtensions).
// The caller closes it:
//
//	srv := telphintest.NewServer()
//	t.Cleanup(srv.Close)
func NewServer() *Server {
	s := &Server{
		ClientID: ClientID, ClientSecret: ClientSecret,
		TokenTTL: time.Hour, StatsDelay: 20 * time.Millisecond, closed: make(chan struct{}),
		access: map[string]bool{}, refresh: map[string]bool{}, codes: map[string]bool{},
		quota: -1, extensions: slices.Clone(DefaultExtensions),
		calls: map[int64][]map[string]any{}, records: map[string][]byte{}, hooks: map[int64][]Hook{},
	}
	for i := range s.extensions {
		s.extensions[i].Domain, s.extensions[i].Status, s.extensions[i].ClientID = "sipproxy.telphin.ru", "active", ClientNumericID
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("GET /oauth/authorize", s.authorize)
	mux.HandleFunc("GET /api/ver1.0/user/", s.user)
	mux.HandleFunc("GET /api/ver1.0/client/{cid}/", s.client)
	mux.HandleFunc("GET /api/ver1.0/client/{cid}/extension/", s.listExtensions)
	mux.HandleFunc("POST /api/ver1.0/extension/{id}/callback/", s.callback)
	mux.HandleFunc("GET /api/ver1.0/extension/{id}/current_calls/", s.currentCalls)
	mux.HandleFunc("PUT /api/ver1.0/extension/{id}/current_calls/{call}", s.controlCall)
	mux.HandleFunc("DELETE /api/ver1.0/extension/{id}/current_calls/{call}", s.controlCall)
	mux.HandleFunc("GET /api/ver1.0/client/{cid}/call_history/", s.callHistory)
	mux.HandleFunc("GET /api/ver1.0/client/{cid}/call_history/{uuid}", s.callHistoryItem)
	mux.HandleFunc("GET /api/ver1.0/client/{cid}/record/{uuid}", s.recordFile)
	mux.HandleFunc("GET /api/ver1.0/client/{cid}/record/{uuid}/storage_url/", s.storageURL)
	mux.HandleFunc("GET /storage/{uuid}", s.storage)
	mux.HandleFunc("GET /api/ver1.0/extension/{id}/event/", s.listHooks)
	mux.HandleFunc("POST /api/ver1.0/extension/{id}/event/", s.createHook)
	mux.HandleFunc("DELETE /api/ver1.0/extension/{id}/event/{hook}", s.deleteHook)
	s.srv = fakehttp.Start(s.wrap(mux))
	s.URL = s.srv.URL
	return s
}

// String describes the fake without its App Secret or the tokens it issued.
func (s *Server) String() string {
	if s == nil {
		return "telphintest.Server(nil)"
	}
	return fmt.Sprintf("telphintest.Server{URL: %q, ClientID: %q, ClientSecret: REDACTED}", s.URL, s.ClientID)
}

// GoString is String: %#v never shows the secret or tokens.
func (s *Server) GoString() string { return s.String() }

// LogValue logs the fake's URL and App ID only.
func (s *Server) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("telphintest.Server(nil)")
	}
	return slog.GroupValue(slog.String("url", s.URL), slog.String("client_id", s.ClientID), slog.String("client_secret", "REDACTED"))
}

// MarshalJSON encodes what LogValue shows.
func (s *Server) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	return json.Marshal(map[string]string{"url": s.URL, "client_id": s.ClientID, "client_secret": "REDACTED"})
}

// Close shuts the server down, cutting injected delays short. It may be
// called more than once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.srv.Close()
}

// Requests returns the requests received so far, in order, as received
// (headers with the Authorization token, bodies with the client secret).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
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

// TokenRequests returns how many token requests were answered with a token.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenReqs
}

// ExpireTokens revokes every access token issued so far, as if they had
// expired early: the next API request with one gets 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// AuthorizationCode issues a one-time code as the authorize page would.
func (s *Server) AuthorizationCode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	code := fmt.Sprintf("code-%d", s.seq)
	s.codes[code] = true
	return code
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

// SetQuota lets n more API requests through; after that the API answers
// 429 rate_limit_exceeded with X-RateLimit-Remaining: 0 until the hour ends.
// n < 0 removes the quota.
func (s *Server) SetQuota(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota = n
}

// AddExtension adds an extension (ClientID, Domain and Status are filled in).
func (s *Server) AddExtension(e Extension) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Domain == "" {
		e.Domain = "sipproxy.telphin.ru"
	}
	if e.Status == "" {
		e.Status = "active"
	}
	e.ClientID = ClientNumericID
	s.extensions = append(s.extensions, e)
}

// RemoveExtension deletes the extension with id (as when it is deleted or
// renumbered in the Telphin cabinet).
func (s *Server) RemoveExtension(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extensions = slices.DeleteFunc(s.extensions, func(e Extension) bool { return e.ID == id })
}

// AddCurrentCall puts a call in progress on extension extID; call is the
// API's current_calls object (call_api_id, call_id, …).
func (s *Server) AddCurrentCall(extID int64, call map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[extID] = append(s.calls[extID], call)
}

// CurrentCalls returns the calls in progress on extID.
func (s *Server) CurrentCalls(extID int64) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls[extID])
}

// SetHistory sets the call history, as call_history item objects, served
// in pages.
func (s *Server) SetHistory(items []json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = slices.Clone(items)
}

// AddRecord adds a call record with its audio.
func (s *Server) AddRecord(uuid string, audio []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[strings.ToUpper(uuid)] = audio
}

// Hooks returns the event hooks of extension extID.
func (s *Server) Hooks(extID int64) []Hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hooks[extID])
}

// wrap records the request, applies failures, checks the token and quota
// and sets the rate-limit headers.
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
		f := s.takeFailure(r)
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
					panic(http.ErrAbortHandler) // the client sees the connection drop
				}
			}
			if f.Status != 0 {
				w.Header().Set("Content-Type", "application/json")
				for k, v := range f.Header {
					w.Header()[k] = v
				}
				if f.RetryAfter != "" {
					w.Header().Set("Retry-After", f.RetryAfter)
				}
				msg := f.Body
				if msg == "" {
					msg = fmt.Sprintf(`{"message":%q}`, http.StatusText(f.Status))
				}
				w.WriteHeader(f.Status)
				io.WriteString(w, msg)
				return
			}
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			s.mu.Lock()
			ok := s.access[tok]
			quota := s.quota
			if ok && s.quota > 0 {
				s.quota--
			}
			s.mu.Unlock()
			if !ok {
				writeJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "message": "Unauthorized"})
				return
			}
			w.Header().Set("X-RateLimit-Limit", "10000")
			w.Header().Set("X-RateLimit-Reset", "3600")
			if quota == 0 {
				w.Header().Set("X-RateLimit-Remaining", "0")
				writeJSON(w, http.StatusTooManyRequests, map[string]any{"status": "rate_limit_exceeded", "message": "Rate limit exceeded"})
				return
			}
			rem := 9999
			if quota > 0 {
				rem = quota - 1
			}
			w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(rem))
		}
		next.ServeHTTP(w, r)
	})
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": msg})
}

// authorize is the authorization page of a public app, answering as if
// the user had approved at once: a 302 to redirect_uri with a one-time
// code and the state it was given (Telphin returns the state unchanged).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != s.ClientID:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client"})
		return
	case q.Get("response_type") != "code" || q.Get("scope") != "all":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	case err != nil || !back.IsAbs():
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_redirect_uri"})
		return
	}
	bq := back.Query()
	bq.Set("code", s.AuthorizationCode())
	if st := q.Get("state"); st != "" {
		bq.Set("state", st)
	}
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if r.PostForm.Get("client_id") != s.ClientID || r.PostForm.Get("client_secret") != s.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	withRefresh := false
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "authorization_code":
		code := r.PostForm.Get("code")
		if !s.codes[code] {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_grant"})
			return
		}
		delete(s.codes, code)
		withRefresh = true
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !s.refresh[rt] {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_grant"})
			return
		}
		delete(s.refresh, rt)
		withRefresh = true
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	s.seq++
	s.tokenReqs++
	at := fmt.Sprintf("access-%d", s.seq)
	s.access[at] = true
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(s.TokenTTL / time.Second), "scope": "all"}
	if withRefresh {
		rt := fmt.Sprintf("refresh-%d", s.seq)
		s.refresh[rt] = true
		resp["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) user(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"id": 51234, "login": "15400", "admin": false, "dealer_id": nil,
		"client_id": ClientNumericID, "extension_group_id": nil, "extension_id": nil, "timezone": "Europe/Moscow",
		"access": "full", "extra_params": nil})
}

func (s *Server) client(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"id": ClientNumericID, "login": "15400", "name": "ООО Ромашка",
		"status": "active", "dealer_id": nil})
}

func (s *Server) listExtensions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	var out []Extension
	for _, e := range s.extensions {
		if (q.Get("type") == "" || e.Type == q.Get("type")) && (q.Get("status") == "" || e.Status == q.Get("status")) &&
			(q.Get("name") == "" || e.Name == q.Get("name")) {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, page(out, q))
}

// page returns the page of items that q's page/per_page select.
func page[T any](items []T, q url.Values) []T {
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 50
	}
	p, err := strconv.Atoi(q.Get("page"))
	if err != nil || p <= 0 {
		p = 1
	}
	lo := min((p-1)*per, len(items))
	hi := min(lo+per, len(items))
	return append([]T{}, items[lo:hi]...)
}

func (s *Server) extension(w http.ResponseWriter, r *http.Request) (Extension, bool) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.extensions {
		if e.ID == id {
			return e, true
		}
	}
	notFound(w, "Not found")
	return Extension{}, false
}

func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	ext, ok := s.extension(w, r)
	if !ok {
		return
	}
	var body struct {
		SrcNum []string `json:"src_num"`
		DstNum string   `json:"dst_num"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.DstNum == "" || len(body.SrcNum) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "dst_num and src_num are required"})
		return
	}
	s.mu.Lock()
	s.seq++
	callID := fmt.Sprintf("%032x", s.seq)
	apiID := fmt.Sprintf("cb-%010d-%s", 3584709740+s.seq, callID)
	s.calls[ext.ID] = append(s.calls[ext.ID], map[string]any{
		"call_api_id": apiID, "call_id": callID, "call_flow": "OUT", "called_number": body.DstNum,
		"extension_id": ext.ID, "callback_id": callID, "real_call": true,
	})
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]string{"call_api_id": apiID, "call_id": callID})
}

func (s *Server) currentCalls(w http.ResponseWriter, r *http.Request) {
	ext, ok := s.extension(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	list := slices.Clone(s.calls[ext.ID])
	s.mu.Unlock()
	if list == nil {
		list = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"call_list": list})
}

func (s *Server) controlCall(w http.ResponseWriter, r *http.Request) {
	ext, ok := s.extension(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	calls := s.calls[ext.ID]
	i := slices.IndexFunc(calls, func(c map[string]any) bool { return c["call_api_id"] == r.PathValue("call") })
	if i < 0 {
		notFound(w, "Not found")
		return
	}
	if r.Method == http.MethodDelete {
		s.calls[ext.ID] = slices.Delete(calls, i, i+1)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var body struct {
		Action  string `json:"action"`
		SendDst string `json:"send_dst"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Action == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "action is required"})
		return
	}
	switch body.Action {
	case "hold", "offhold", "park":
	case "transfer", "attended_transfer", "conference", "pickup", "eavesdrop", "whisper":
		if body.SendDst == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "send_dst is required for " + body.Action})
			return
		}
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "unknown action " + body.Action})
		return
	}
	calls[i]["last_action"], calls[i]["send_dst"] = body.Action, body.SendDst
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) callHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("start_datetime") == "" || q.Get("end_datetime") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "start_datetime and end_datetime are required"})
		return
	}
	if !s.enterStats(w, r) {
		return
	}
	s.mu.Lock()
	items := page(s.history, q)
	s.mu.Unlock()
	p, _ := strconv.Atoi(q.Get("page"))
	per, _ := strconv.Atoi(q.Get("per_page"))
	writeJSON(w, http.StatusOK, map[string]any{"call_history": items, "page": p, "per_page": per, "order": "desc"})
}

func (s *Server) callHistoryItem(w http.ResponseWriter, r *http.Request) {
	if !s.enterStats(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, raw := range s.history {
		var h struct {
			CallUUID string `json:"call_uuid"`
		}
		if json.Unmarshal(raw, &h) == nil && strings.EqualFold(h.CallUUID, r.PathValue("uuid")) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(raw)
			return
		}
	}
	notFound(w, "Not found")
}

// enterStats holds the statistics slot for StatsDelay; a concurrent
// request gets Telphin's 429.
func (s *Server) enterStats(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	if s.statsBusy {
		s.mu.Unlock()
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": StatsConcurrentMessage})
		return false
	}
	s.statsBusy = true
	delay := s.StatsDelay
	s.mu.Unlock()
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-s.closed:
	}
	t.Stop()
	s.mu.Lock()
	s.statsBusy = false
	s.mu.Unlock()
	return true
}

func (s *Server) recordAudio(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	s.mu.Lock()
	audio, ok := s.records[strings.ToUpper(r.PathValue("uuid"))]
	s.mu.Unlock()
	if !ok {
		notFound(w, "Record not found")
	}
	return audio, ok
}

func (s *Server) recordFile(w http.ResponseWriter, r *http.Request) {
	audio, ok := s.recordAudio(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Header().Set("Content-Disposition", `attachment; filename="`+r.PathValue("uuid")+`.mp3"`)
	w.Write(audio)
}

func (s *Server) storageURL(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.recordAudio(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"record_url": s.URL + "/storage/" + url.PathEscape(r.PathValue("uuid"))})
}

func (s *Server) storage(w http.ResponseWriter, r *http.Request) {
	if audio, ok := s.recordAudio(w, r); ok {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Write(audio)
	}
}

func (s *Server) listHooks(w http.ResponseWriter, r *http.Request) {
	ext, ok := s.extension(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	hooks := slices.Clone(s.hooks[ext.ID])
	s.mu.Unlock()
	if hooks == nil {
		hooks = []Hook{}
	}
	writeJSON(w, http.StatusOK, hooks)
}

func (s *Server) createHook(w http.ResponseWriter, r *http.Request) {
	ext, ok := s.extension(w, r)
	if !ok {
		return
	}
	var h Hook
	if err := json.NewDecoder(r.Body).Decode(&h); err != nil || h.URL == "" || h.EventType == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "url and event_type are required"})
		return
	}
	if h.Method == "" {
		h.Method = http.MethodPost
	}
	s.mu.Lock()
	s.seq++
	h.ID = int64(3442 + s.seq)
	s.hooks[ext.ID] = append(s.hooks[ext.ID], h)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, h)
}

func (s *Server) deleteHook(w http.ResponseWriter, r *http.Request) {
	ext, ok := s.extension(w, r)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("hook"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	hooks := s.hooks[ext.ID]
	i := slices.IndexFunc(hooks, func(h Hook) bool { return h.ID == id })
	if i < 0 {
		notFound(w, "Not found")
		return
	}
	s.hooks[ext.ID] = slices.Delete(hooks, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}
