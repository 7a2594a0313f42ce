package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// newGateway builds a gateway (not served) with the tests' tokens.
func newGateway(t testing.TB, cfg gateway.Config) (*gateway.Gateway, *syncBuffer) {
	t.Helper()
	cfg.HookToken, cfg.MegafonToken, cfg.APIToken = "hook-token", "mf-token", apiToken
	if cfg.DefaultClients == nil {
		cfg.DefaultClients = defaultClients(t)
	}
	logs := &syncBuffer{}
	g, err := gateway.New(cfg, logs)
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close(context.Background()) })
	return g, logs
}

// call is GET or POST of target on h with the API token, headers hdr
// (name, value pairs) added.
func call(h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://127.0.0.1:8080"+target, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+apiToken)
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			r.Host = hdr[i+1]
			continue
		}
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
			continue
		}
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// record is a call record that started at t0 - i seconds.
func record(i int) match.CallRecord {
	status := callevent.Success
	if i%3 == 0 {
		status = callevent.Missed
	}
	provider := []string{"telphin", "megafon", "phonet", "finaz"}[i%4]
	return match.CallRecord{
		Provider: provider, Account: "acc", CallID: fmt.Sprintf("call-%06d", i), Direction: callevent.Inbound,
		Status: status, ClientPhone: fmt.Sprintf("7916%07d", i%10), StartedAt: t0.Add(-time.Duration(i) * time.Second),
	}
}

// pages follows next_cursor through every page of target and returns the
// call ids in order.
func pages(t *testing.T, h http.Handler, target string) (ids []string, n int) {
	return pagesFrom(t, h, target, "")
}

// pagesFrom is pages starting at cursor.
func pagesFrom(t *testing.T, h http.Handler, target, cursor string) (ids []string, n int) {
	t.Helper()
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	next := target
	if cursor != "" {
		next = target + sep + "cursor=" + url.QueryEscape(cursor)
	}
	for n = 1; ; n++ {
		w := call(h, http.MethodGet, next, "")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var p gateway.Page[gateway.Call]
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
		for _, c := range p.Items {
			ids = append(ids, c.CallID)
		}
		if p.NextCursor == "" {
			return ids, n
		}
		require.Less(t, n, 1000)
		next = target + sep + "cursor=" + url.QueryEscape(p.NextCursor)
	}
}

// C: /api/* wants the bearer token; webhooks and probes do not.
func TestAPIToken(t *testing.T) {
	t.Parallel()
	g, _ := newGateway(t, gateway.Config{Demo: true})
	h := g.Handler()
	for _, target := range []string{"/api/calls", "/api/clients", "/api/leads"} {
		require.Equal(t, http.StatusOK, call(h, "GET", target, "").Code, target)
		for _, auth := range []string{"", "Bearer", "Bearer wrong", "Basic " + apiToken, "Bearer " + apiToken + "x", apiToken} {
			w := call(h, "GET", target, "", "Authorization", auth)
			require.Equal(t, http.StatusUnauthorized, w.Code, "%s with %q", target, auth)
			require.Equal(t, `Bearer realm="callbridge"`, w.Header().Get("WWW-Authenticate"))
			require.NotContains(t, w.Body.String(), "items")
		}
	}
	w := call(h, "POST", "/api/calls", `{"provider":"megafon","from":"andy","to":"79161234567"}`, "Authorization", "")
	require.Equal(t, http.StatusUnauthorized, w.Code)
	require.Equal(t, http.StatusOK, call(h, "POST", "/api/calls", `{"provider":"megafon","from":"andy","to":"79161234567"}`).Code)
	for _, target := range []string{"/healthz", "/readyz"} {
		require.Equal(t, http.StatusOK, call(h, "GET", target, "", "Authorization", "").Code, target)
	}
}

// C: a request without the token is refused before its body is read: a
// client announcing 1 MiB and sending none of it gets its 401 at once.
func TestRefusedBeforeTheBody(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{})
	for _, target := range []string{
		"POST /api/calls HTTP/1.1\r\nContent-Type: application/json\r\n",
		"POST /hooks/telphin/app?token=wrong HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n",
		"POST /hooks/phonet/call HTTP/1.1\r\nContent-Type: application/json\r\n",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		require.NoError(t, err)
		_, err = fmt.Fprintf(conn, "%sHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n{", target, 1<<20)
		require.NoError(t, err)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second))) // a bound, not a wait
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err, target)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, target)
		conn.Close()
	}
}

// B8: cross-site calls: a page the operator opens cannot place calls,
// even with the token — wrong Content-Type, a foreign Host (DNS
// rebinding) and a cross-origin Origin are refused.
func TestCrossSiteCall(t *testing.T) {
	t.Parallel()
	g, _ := newGateway(t, gateway.Config{Demo: true, PublicURL: "https://crm.example.com/", Addr: "10.1.2.3:8080"})
	h := g.Handler()
	body := `{"provider":"megafon","from":"andy","to":"79161234567"}`
	for _, tc := range []struct {
		name string
		hdr  []string
		code int
	}{
		{"text/plain (a no-cors fetch)", []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"form post", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"no content type", []string{"Content-Type", ""}, http.StatusUnsupportedMediaType},
		{"multipart", []string{"Content-Type", "multipart/form-data; boundary=x"}, http.StatusUnsupportedMediaType},
		{"DNS rebinding", []string{"Host", "attacker.example:8080"}, http.StatusMisdirectedRequest},
		{"look-alike host", []string{"Host", "crm.example.com.attacker.example"}, http.StatusMisdirectedRequest},
		{"empty host", []string{"Host", ""}, http.StatusMisdirectedRequest},
		{"cross-origin Origin", []string{"Origin", "https://attacker.example"}, http.StatusForbidden},
		{"null Origin", []string{"Origin", "null"}, http.StatusForbidden},
		{"Origin of another port", []string{"Origin", "http://127.0.0.1:9999"}, http.StatusForbidden},
		{"Sec-Fetch-Site cross-site", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"Sec-Fetch-Site same-site", []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"no token", []string{"Authorization", ""}, http.StatusUnauthorized},
		// What is allowed.
		{"curl", nil, http.StatusOK},
		{"json with charset", []string{"Content-Type", "application/json; charset=utf-8"}, http.StatusOK},
		{"same origin", []string{"Origin", "http://127.0.0.1:8080"}, http.StatusOK},
		{"localhost", []string{"Host", "localhost:8080"}, http.StatusOK},
		{"IPv6 loopback", []string{"Host", "[::1]:8080"}, http.StatusOK},
		{"public URL host", []string{"Host", "CRM.example.com"}, http.StatusOK},
		{"listen address", []string{"Host", "10.1.2.3:8080"}, http.StatusOK},
	} {
		w := call(h, "POST", "/api/calls", body, tc.hdr...)
		require.Equal(t, tc.code, w.Code, "%s: %s", tc.name, w.Body)
	}
	// The lists are guarded the same way.
	require.Equal(t, http.StatusMisdirectedRequest, call(h, "GET", "/api/clients", "", "Host", "attacker.example").Code)
	require.Equal(t, http.StatusForbidden, call(h, "GET", "/api/clients", "", "Origin", "https://attacker.example").Code)
}

// C: click-to-call errors: the caller's mistake is 4xx with the provider
// named once; only the provider failing or the network is 502.
func TestClickToCallErrors(t *testing.T) {
	t.Parallel()
	g, logs := newGateway(t, gateway.Config{})
	pbx := megafontest.NewServer()
	t.Cleanup(pbx.Close)
	c, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
		callbridge.WithBaseURL(pbx.URL), callbridge.WithRetry(callbridge.RetryPolicy{}))
	require.NoError(t, err)
	g.SetCaller("megafon", c)
	g.SetCaller("phonet", doubledCaller{})
	h := g.Handler()
	body := `{"provider":"megafon","from":"andy","to":"79161234567"}`
	for _, tc := range []struct {
		fault      megafontest.Failure
		code       int
		want       string
		retryAfter string
	}{
		{megafontest.Failure{Op: megafontest.OpMakeCall, Status: 400, Body: `{"message":"Invalid phone number"}`}, 400, "megafon answered 400: Invalid phone number", ""},
		{megafontest.Failure{Op: megafontest.OpMakeCall, Status: 404, Body: `{"message":"User not found"}`}, 400, "megafon answered 404: User not found", ""},
		{megafontest.Failure{Op: megafontest.OpMakeCall, Status: 429, RetryAfter: "7"}, 429, "megafon answered 429", "7"},
		{megafontest.Failure{Op: megafontest.OpMakeCall, Status: 401}, 502, "megafon answered 401: Unauthorized (check the gateway's credentials)", ""},
		{megafontest.Failure{Op: megafontest.OpMakeCall, Status: 503}, 502, "megafon answered 503", ""},
	} {
		pbx.Fail(tc.fault)
		w := call(h, "POST", "/api/calls", body)
		require.Equal(t, tc.code, w.Code, "%d: %s", tc.fault.Status, w.Body)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
		require.Contains(t, e.Error, tc.want)
		require.Equal(t, 1, strings.Count(e.Error, "megafon"), "the provider is named once: %s", e.Error)
		require.Equal(t, tc.retryAfter, w.Header().Get("Retry-After"))
	}
	// A bad number refused by the provider's client before sending.
	w := call(h, "POST", "/api/calls", `{"provider":"megafon","from":"andy","to":"call me"}`)
	require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
	require.Equal(t, 1, strings.Count(w.Body.String(), "megafon:"), w.Body.String())
	// The network.
	pbx.Close()
	w = call(h, "POST", "/api/calls", body)
	require.Equal(t, http.StatusBadGateway, w.Code, w.Body.String())
	require.Equal(t, 1, strings.Count(w.Body.String(), "megafon:"), w.Body.String())
	require.NotContains(t, logs.String(), megafontest.APIKey)

	// Telphin and Finaz refuse a caller's mistake before sending: 400, the
	// provider named once.
	_, tcl := telphinFake(t)
	g.SetCaller(telphin.Provider, tcl)
	fsrv := finaztest.NewServer()
	t.Cleanup(fsrv.Close)
	fc, err := finaz.NewClient(finaz.Config{Click2Call: &finaz.RequestTemplate{Method: "POST", URL: "calls",
		Query: map[string]string{"n": "{{telefone}}"}}}, callbridge.WithBaseURL(fsrv.URL))
	require.NoError(t, err)
	g.SetCaller(finaz.Provider, fc)
	for _, tc := range []struct{ provider, body, want string }{
		{"telphin", `{"provider":"telphin","from":"99999","to":"79161234567"}`, `telphin: call from "99999": unknown extension`},
		{"telphin", `{"provider":"telphin","group":"nogroup","to":"79161234567"}`, `telphin: group call to "nogroup": unknown extension`},
		{"finaz", `{"provider":"finaz","from":"201","to":"12"}`, `finaz: click2call: invalid phone number`},
		// A provider's error wrapping another of its own errors.
		{"phonet", `{"provider":"phonet","from":"001","to":"79161234567"}`, `phonet: call: unknown employee`},
	} {
		w := call(h, "POST", "/api/calls", tc.body)
		require.Equal(t, http.StatusBadRequest, w.Code, "%s: %s", tc.body, w.Body)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
		require.Contains(t, e.Error, tc.want)
		require.Equal(t, 1, strings.Count(e.Error, tc.provider), "the provider is named once: %s", e.Error)
	}
	require.Empty(t, fsrv.Requests(), "finaz: refused before sending")
}

// doubledCaller fails every call with an error naming its provider twice.
type doubledCaller struct{}

func (doubledCaller) Call(context.Context, callevent.CallRequest) (callevent.CallRef, error) {
	return callevent.CallRef{}, fmt.Errorf("phonet: call: %w", errors.New("phonet: unknown employee"))
}

// C: every list is paginated: limit (default 100, max 1000), an opaque
// cursor, filters; bad values are 400 naming the parameter. The calls'
// pages are the same in memory and in a database, where the cursor is the
// last call's key too (not a position, which a new call would shift).
func TestPagination(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"memory", "sqlite"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cfg := gateway.Config{}
			if mode == "sqlite" {
				cfg.DB = filepath.Join(t.TempDir(), "callbridge.db")
			}
			testPagination(t, cfg)
		})
	}
}

func testPagination(t *testing.T, cfg gateway.Config) {
	g, _ := newGateway(t, cfg)
	h := g.Handler()
	const n = 250
	for i := range n {
		require.NoError(t, g.LogCall(record(i)))
	}
	w := call(h, "GET", "/api/calls", "")
	var p gateway.Page[gateway.Call]
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	require.Len(t, p.Items, gateway.DefaultLimit)
	require.NotEmpty(t, p.NextCursor)

	ids, pageCount := pages(t, h, "/api/calls?limit=100")
	require.Equal(t, 3, pageCount)
	require.Len(t, ids, n)
	for i, id := range ids { // newest first, none twice, none skipped
		require.Equal(t, record(i).CallID, id)
	}
	ids, pageCount = pages(t, h, "/api/calls?limit=1000")
	require.Equal(t, 1, pageCount)
	require.Len(t, ids, n)
	ids, _ = pages(t, h, "/api/calls?limit=1")
	require.Len(t, ids, n)

	// A call logged between two pages neither repeats nor hides another.
	w = call(h, "GET", "/api/calls?limit=10", "")
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	require.NoError(t, g.LogCall(match.CallRecord{Provider: "telphin", CallID: "newest", StartedAt: t0.Add(time.Hour)}))
	rest, _ := pagesFrom(t, h, "/api/calls?limit=100", p.NextCursor)
	require.Len(t, rest, n-10)
	require.Equal(t, record(10).CallID, rest[0])

	// Filters.
	for _, tc := range []struct {
		query string
		keep  func(int) bool
	}{
		{"status=missed", func(i int) bool { return i%3 == 0 }},
		{"provider=phonet", func(i int) bool { return i%4 == 2 }},
		{"phone=" + url.QueryEscape("+7 916 000-00-03"), func(i int) bool { return i%10 == 3 }},
		{"from=" + t0.Add(-20*time.Second).Format(time.RFC3339) + "&to=" + t0.Add(-10*time.Second).Format(time.RFC3339),
			func(i int) bool { return i > 10 && i <= 20 }},
		{"status=success&provider=telphin&to=" + t0.Add(-100*time.Second).Format(time.RFC3339),
			func(i int) bool { return i%3 != 0 && i%4 == 0 && i > 100 }},
	} {
		var want []string
		for i := range n {
			if tc.keep(i) {
				want = append(want, record(i).CallID)
			}
		}
		got, _ := pages(t, h, "/api/calls?limit=7&"+tc.query)
		require.Equal(t, want, got, tc.query)
	}

	// Bad values name the parameter.
	for query, want := range map[string]string{
		"limit=1001":              "limit",
		"limit=0":                 "limit",
		"limit=ten":               "limit",
		"limit=1&limit=2":         "limit",
		"status=lost":             "status",
		"provider=skype":          "provider",
		"phone=call+me":           "phone",
		"from=yesterday":          "from",
		"to=2025-13-01T00:00:00Z": "to",
		"from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z": "from",
		"cursor=xyz":   "cursor",
		"cursor=e30":   "cursor", // {}
		"sort=desc":    "sort",
		"statuss=busy": "statuss",
	} {
		w := call(h, "GET", "/api/calls?"+query, "")
		require.Equal(t, http.StatusBadRequest, w.Code, query)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
		require.True(t, strings.HasPrefix(e.Error, want+":"), "%s: %s", query, e.Error)
	}
	// A cursor of one list is refused by another.
	w = call(h, "GET", "/api/calls?limit=1", "")
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	w = call(h, "GET", "/api/clients?cursor="+url.QueryEscape(p.NextCursor), "")
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), "cursor")
}

// C: clients and leads are paginated in creation order.
func TestPaginationClientsLeads(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{})
	var all []gateway.Client
	getJSON(t, srv, "/api/clients", &all)
	require.Len(t, all, 4)
	var one []gateway.Client
	getJSON(t, srv, "/api/clients?limit=1", &one)
	require.Equal(t, all, one)
	getJSON(t, srv, "/api/clients?phone=%2B79161234567", &one)
	require.Len(t, one, 1)
	require.Equal(t, "Иван Петров", one[0].Name)
	var leads []gateway.Lead
	getJSON(t, srv, "/api/leads?status=new&limit=5", &leads)
	require.Empty(t, leads)
	code, body := srv.do(t, "GET", "/api/leads?status=", "", "")
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, `"status:`)
	code, body = srv.do(t, "GET", "/api/clients?status=new", "", "")
	require.Equal(t, http.StatusBadRequest, code, body)
}

// A1 in the gateway: one record that cannot be encoded (a year-10000 end
// time, as a MegaFon history with start=99991231T235959Z made) is left out
// and logged; the list keeps working for everyone.
func TestUnencodableRecord(t *testing.T) {
	t.Parallel()
	g, logs := newGateway(t, gateway.Config{})
	h := g.Handler()
	g.LogCall(record(1))
	bad := record(2)
	bad.EndedAt = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Add(time.Hour)
	g.LogCall(bad)
	g.LogCall(record(3))
	for range 2 {
		w := call(h, "GET", "/api/calls", "")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var p gateway.Page[gateway.Call]
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p), w.Body.String())
		require.Len(t, p.Items, 2)
		require.Equal(t, []string{record(1).CallID, record(3).CallID}, []string{p.Items[0].CallID, p.Items[1].CallID})
	}
	require.Contains(t, logs.String(), "list: item left out: cannot encode")
}

// C: /healthz is alive; /readyz is 503 once the gateway stops taking
// events.
func TestProbes(t *testing.T) {
	t.Parallel()
	g, _ := newGateway(t, gateway.Config{})
	h := g.Handler()
	w := call(h, "GET", "/readyz", "", "Authorization", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var rd gateway.Readiness
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rd))
	require.True(t, rd.Ready)
	require.Equal(t, 1<<16, rd.QueueSize)
	require.NoError(t, g.Close(context.Background()))
	w = call(h, "GET", "/readyz", "", "Authorization", "")
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), "shutting down")
	require.NotEmpty(t, w.Header().Get("Retry-After"))
	require.Equal(t, http.StatusOK, call(h, "GET", "/healthz", "", "Authorization", "").Code)
}

// C: /readyz is 503 naming the reason while the delivery queue is full
// (the CRM is slow: here its event log blocks), and ready again once it
// drains.
func TestReadyzQueueFull(t *testing.T) {
	t.Parallel()
	out := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	g, err := gateway.New(gateway.Config{HookToken: "hook-token", MegafonToken: "mf-token", APIToken: apiToken,
		DefaultClients: defaultClients(t), QueueWorkers: 1, QueueSize: 2, DiagOut: io.Discard}, out)
	require.NoError(t, err)
	released := false
	t.Cleanup(func() {
		if !released {
			close(out.release)
		}
		_ = g.Close(context.Background())
	})
	h := g.Handler()
	hookCall := func(i int) int {
		c := telphintest.Call{CallID: fmt.Sprintf("ee%030d", i), SubCallID: fmt.Sprintf("124575-ee%030d", i),
			Client: "+7495000112" + strconv.Itoa(i), Start: time.Now()}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, telphintest.NewRequest("/hooks/telphin/app", "hook-token", c.DialIn()))
		return w.Code
	}
	readyz := func() (int, gateway.Readiness) {
		w := call(h, "GET", "/readyz", "", "Authorization", "")
		var rd gateway.Readiness
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rd), w.Body.String())
		return w.Code, rd
	}
	code, rd := readyz()
	require.Equal(t, http.StatusOK, code, "%+v", rd)

	require.Equal(t, http.StatusAccepted, hookCall(1))
	<-out.started // the only worker holds event 1
	require.Equal(t, http.StatusAccepted, hookCall(2))
	require.Equal(t, http.StatusAccepted, hookCall(3))
	code, rd = readyz()
	require.Equal(t, http.StatusServiceUnavailable, code, "%+v", rd)
	require.False(t, rd.Ready)
	require.Equal(t, []string{"queue full"}, rd.Problems)
	require.Equal(t, 2, rd.Queued)
	require.Equal(t, 2, rd.QueueSize)

	close(out.release)
	released = true
	require.NoError(t, g.Close(context.Background()), "the queue drains")
	require.Equal(t, 3, strings.Count(out.String(), `"msg":"event"`))
}

// blockingWriter signals started at its first Write and holds every Write
// until release is closed.
type blockingWriter struct {
	started, release chan struct{}
	once             sync.Once
	mu               sync.Mutex
	b                bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *blockingWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// B5: -h never prints a secret, whatever the environment holds; the
// configuration redacts its secrets in every format.
func TestNoSecretsShown(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"CRM_HOOK_TOKEN": "hook-SECRET-1", "MEGAFON_CRM_TOKEN": "mf-SECRET-2", "CRM_API_TOKEN": "api-SECRET-3",
		"TELPHIN_CLIENT_ID": "app", "TELPHIN_CLIENT_SECRET": "tel-SECRET-4", "MEGAFON_DOMAIN": "vats1.megapbx.ru",
		"MEGAFON_API_KEY": "mfk-SECRET-5", "PHONET_DOMAIN": "acme.phonet.com.ua", "PHONET_API_KEY": "ph-SECRET-6",
	}
	getenv := func(k string) string { return secrets[k] }
	var help bytes.Buffer
	require.NoError(t, gateway.Run(t.Context(), []string{"-h"}, getenv, io.Discard, &help, gateway.Defaults{}))
	require.Contains(t, help.String(), "-api-token")
	cfg, err := gateway.ParseConfig(nil, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "api-SECRET-3", cfg.APIToken, "the environment still sets the secrets")
	require.Equal(t, "hook-SECRET-1", cfg.HookToken)
	cfg2, err := gateway.ParseConfig([]string{"-api-token", "flag-SECRET-7"}, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "flag-SECRET-7", cfg2.APIToken, "a flag wins over the environment")

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", cfg2)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", cfg2)
	js, err := json.Marshal(cfg2)
	require.NoError(t, err)
	g, err := gateway.New(cfg2, io.Discard)
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close(context.Background()) })
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("gateway", "g", g)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("gateway", "g", g)
	out := help.String() + logged.String() + string(js)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out += fmt.Sprintf(verb, cfg2) + fmt.Sprintf(verb, g)
	}
	require.Contains(t, out, "vats1.megapbx.ru", "non-secret fields are shown")
	for _, s := range append([]string{"flag-SECRET-7"}, secrets["CRM_HOOK_TOKEN"], secrets["MEGAFON_CRM_TOKEN"],
		secrets["TELPHIN_CLIENT_SECRET"], secrets["MEGAFON_API_KEY"], secrets["PHONET_API_KEY"], secrets["CRM_API_TOKEN"]) {
		require.NotContains(t, out, s)
	}
	require.NotContains(t, out, "SECRET")
}

// C: the banner shows this machine's address, not [::] or 0.0.0.0.
func TestDisplayAddr(t *testing.T) {
	t.Parallel()
	ip := func() string { return "192.0.2.7" }
	for addr, want := range map[string]string{
		"[::]:8080":      "192.0.2.7:8080",
		"0.0.0.0:8080":   "192.0.2.7:8080",
		"127.0.0.1:8080": "127.0.0.1:8080",
		"[::1]:9":        "[::1]:9",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		require.NoError(t, err)
		require.Equal(t, want, gateway.DisplayAddr(a, ip), addr)
	}
	a, _ := net.ResolveTCPAddr("tcp", "[::]:80")
	require.Equal(t, "localhost:80", gateway.DisplayAddr(a, func() string { return "" }))
}

var _ = strconv.Itoa

// The list's own encoder writes exactly what encoding/json writes for a
// Call, for every string (escapes, HTML characters, invalid UTF-8, U+2028).
func TestAppendCallMatchesJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	odd := []string{"", "plain", `q"uote\back`, "<a href='x'>&amp;</a>", "\x00\x01\x1f\x7f\b\f\n\r\t", "\xff\xfe bad", "line\u2028sep\u2029",
		"Иван Петров", "emoji 😀", "\xe2\x80", "tab\tand\\"}
	for i := range 2000 {
		s := func() string {
			if i < len(odd)*4 {
				return odd[(i+rng.IntN(len(odd)))%len(odd)]
			}
			b := make([]byte, rng.IntN(12))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
			return string(b)
		}
		r := match.CallRecord{Provider: s(), Account: s(), CallID: s(), Direction: callevent.Direction(rng.IntN(4)),
			Status: callevent.Status(rng.IntN(9)), ClientID: s(), ClientPhone: s(), Employee: s(), Extension: s(), LinePhone: s(),
			StartedAt: time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC(), Duration: time.Duration(rng.Int64N(1e12)),
			Wait: time.Duration(rng.Int64N(1e11)), RecordingURL: s(), LeadID: s()}
		if rng.IntN(2) == 0 {
			r.AnsweredAt = r.StartedAt.Add(time.Second)
			r.EndedAt = r.StartedAt.Add(time.Minute + time.Nanosecond)
		}
		want, err := json.Marshal(gateway.CallOf(r))
		require.NoError(t, err)
		got, err := gateway.AppendCall(nil, &r)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
	r := record(1)
	r.EndedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := gateway.AppendCall(nil, &r)
	require.Error(t, err)
	_, err = json.Marshal(gateway.CallOf(r))
	require.Error(t, err, "encoding/json refuses it too")
}

// TestClickToCallQueue: POST /api/calls passes "queue" to the provider: a
// Finaz call goes through the queue asked for (identificador_fila).
func TestClickToCallQueue(t *testing.T) {
	t.Parallel()
	g, _ := newGateway(t, gateway.Config{})
	fsrv := finaztest.NewServer()
	t.Cleanup(fsrv.Close)
	fc, err := finaz.NewClient(finaz.Config{DefaultQueue: "geral", Click2Call: &finaz.RequestTemplate{Method: "POST", URL: "calls",
		Query: map[string]string{"fila": "{{identificador_fila}}", "ramal": "{{ramal_operador}}", "n": "{{telefone}}"}}}, callbridge.WithBaseURL(fsrv.URL))
	require.NoError(t, err)
	fsrv.Reply("POST", "/calls", finaztest.Response{Body: `{}`})
	g.SetCaller(finaz.Provider, fc)
	for _, body := range []string{
		`{"provider":"finaz","from":"205","to":"5511987654321","queue":"cobranca"}`,
		`{"provider":"finaz","from":"101","to":"5511987654321"}`,
	} {
		w := call(g.Handler(), "POST", "/api/calls", body)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	reqs := fsrv.Requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "cobranca", reqs[0].Query.Get("fila"))
	require.Equal(t, "205", reqs[0].Query.Get("ramal"))
	require.Equal(t, "geral", reqs[1].Query.Get("fila"), "the configured queue by default")
}

// TestFinazDialerResults: POST /api/finaz/results reads the dialer's
// return of a queue ("Retorno do Discador", seed 004) and logs one call
// per attempt on the contact the dialer names; reading it again logs
// nothing new; bad requests name what is wrong.
func TestFinazDialerResults(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := start(t, gateway.Config{Clock: clock})
	cfg, err := finaz.LoadTemplate("generic-rest")
	require.NoError(t, err)
	cfg.SetParam("api_token", "tok")
	fsrv := finaztest.NewServer()
	t.Cleanup(fsrv.Close)
	at := t0.Add(-time.Hour).Format(time.RFC3339)
	fsrv.Reply("GET", "/api/v1/queues/q7/results", finaztest.Response{Body: `{"results":[
		{"contact_id":"3","ddd":"11","number":"987654321","called_at":"` + at + `","status":"busy"},
		{"contact_id":"3","ddd":"11","number":"987654321","called_at":"` + t0.Format(time.RFC3339) + `","status":"ANSWERED"},
		{"contact_id":"nobody","ddd":"21","number":"34567890","called_at":"` + at + `","status":"no_answer"},
		{"contact_id":"k3","ddd":"","number":"","called_at":"` + at + `","status":"busy"}]}`})
	fc, err := finaz.NewClient(cfg, callbridge.WithBaseURL(fsrv.URL))
	require.NoError(t, err)
	srv.SetCaller(finaz.Provider, fc)

	for range 2 { // the second read changes nothing
		code, body := srv.do(t, http.MethodPost, "/api/finaz/results", "application/json", `{"queue":"q7","account":"load"}`)
		require.Equal(t, http.StatusOK, code, body)
		require.JSONEq(t, `{"attempts":4,"logged":3,"skipped":1}`, body)
		require.Eventually(t, func() bool { return len(srv.Calls()) == 3 }, 10*time.Second, 5*time.Millisecond)
	}
	statuses := map[string]int{}
	clients := map[string]int{}
	for _, c := range srv.Calls() {
		require.Equal(t, "finaz", c.Provider)
		require.Equal(t, "outbound", c.Direction)
		statuses[c.Status]++
		clients[c.ClientID]++
	}
	require.Equal(t, map[string]int{"busy": 1, "success": 1, "not_available": 1}, statuses)
	require.Equal(t, 2, clients["3"], "the contact the dialer names, not the number's client (4)")
	require.Zero(t, clients["4"])

	for body, want := range map[string]string{
		`{"queue":""}`:            "queue: required",
		`{"queue":"q7","x":1}`:    "unknown field",
		`{"account":"a"}`:         "queue: required",
		`{"queue":"q7"} trailing`: "data after the object",
	} {
		code, got := srv.do(t, http.MethodPost, "/api/finaz/results", "application/json", body)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, got, want, body)
	}
	plain := start(t, gateway.Config{})
	code, body := plain.do(t, http.MethodPost, "/api/finaz/results", "application/json", `{"queue":"q7"}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "finaz is not configured")
}

// telphinFake starts a fake Telphin and a client of it.
func telphinFake(t testing.TB) (*telphintest.Server, *telphin.Client) {
	t.Helper()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c, err := telphin.NewClient(telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret},
		callbridge.WithBaseURL(srv.URL))
	require.NoError(t, err)
	return srv, c
}
