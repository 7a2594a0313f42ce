package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet/phonettest"
)

// t0 is the fake clock's start: the time the tests start, so the
// scenario's payloads lie inside the handlers' time window.
var t0 = time.Now().UTC().Truncate(time.Second)

// newFakeClock is a matchtest.Clock starting at t0.
func newFakeClock() *matchtest.Clock { return matchtest.NewClock(t0) }

// syncBuffer collects the gateway's log output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON log lines; a line that is not JSON fails the test.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	out, err := s.parseLines()
	require.NoError(t, err)
	return out
}

// parseLines returns the JSON log lines, or an error for a line that is
// not JSON. Unlike lines it is safe off the test's goroutine.
func (s *syncBuffer) parseLines() ([]map[string]any, error) {
	s.mu.Lock()
	data := slices.Clone(s.b.Bytes())
	s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("log line %q: %w", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// events counts the "event" log lines: one per event delivered to the CRM.
func (s *syncBuffer) events(t *testing.T) int {
	t.Helper()
	n, err := s.countEvents()
	require.NoError(t, err)
	return n
}

// countEvents is events, safe off the test's goroutine.
func (s *syncBuffer) countEvents() (int, error) {
	lines, err := s.parseLines()
	n := 0
	for _, l := range lines {
		if l["msg"] == "event" {
			n++
		}
	}
	return n, err
}

// firstError keeps the first error reported from any goroutine (a
// require.Eventually condition, a worker), for the test's goroutine to
// assert on.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// server is a gateway serving on a random 127.0.0.1 port.
type server struct {
	*gateway.Gateway
	URL  string
	logs *syncBuffer
	stop func() error // shuts down gracefully; the result of Serve
}

// defaultClients is the crm command's embedded seed.
func defaultClients(t testing.TB) []byte {
	b, err := os.ReadFile("../testdata/clients.json")
	require.NoError(t, err)
	return b
}

// apiToken is the tests' API token.
const apiToken = "api-token"

// start starts a gateway with cfg (tokens "hook-token", "mf-token" and
// apiToken unless set, the default clients unless cfg has a clients file) and
// stops it when the test ends.
func start(t testing.TB, cfg gateway.Config) *server {
	t.Helper()
	if cfg.HookToken == "" {
		cfg.HookToken = "hook-token"
	}
	if cfg.MegafonToken == "" {
		cfg.MegafonToken = "mf-token"
	}
	if cfg.APIToken == "" {
		cfg.APIToken = apiToken
	}
	if cfg.ClientsFile == "" && cfg.DefaultClients == nil {
		cfg.DefaultClients = defaultClients(t)
	}
	logs := &syncBuffer{}
	g, err := gateway.New(cfg, logs)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return serve(t, g, ln, logs)
}

// serve serves g on ln until the test ends.
func serve(t testing.TB, g *gateway.Gateway, ln net.Listener, logs *syncBuffer) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() { require.NoError(t, stop()) })
	return &server{Gateway: g, URL: "http://" + ln.Addr().String(), logs: logs, stop: stop}
}

// hook is one webhook request as a provider sends it, replayable.
type hook struct {
	name   string
	method string
	target string // path and query
	header http.Header
	body   []byte
}

// hookOf captures a request built by a <provider>test builder.
func hookOf(t testing.TB, name string, r *http.Request) hook {
	t.Helper()
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(r.Body)
		require.NoError(t, err)
	}
	return hook{name: name, method: r.Method, target: r.URL.RequestURI(), header: r.Header.Clone(), body: body}
}

// send sends h to the server and returns the status and body.
func (s *server) send(t testing.TB, h hook) (int, string) {
	t.Helper()
	code, body, err := s.trySend(h)
	require.NoError(t, err)
	return code, body
}

// trySend is send, safe off the test's goroutine.
func (s *server) trySend(h hook) (int, string, error) {
	req, err := http.NewRequest(h.method, s.URL+h.target, bytes.NewReader(h.body))
	if err != nil {
		return 0, "", err
	}
	req.Header = h.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// do sends a request with a body to the server, with the API token on
// /api/ paths.
func (s *server) do(t testing.TB, method, path, contentType, body string) (int, string) {
	t.Helper()
	h := hook{method: method, target: path, header: http.Header{}, body: []byte(body)}
	if contentType != "" {
		h.header.Set("Content-Type", contentType)
	}
	if strings.HasPrefix(path, "/api/") {
		h.header.Set("Authorization", "Bearer "+apiToken)
	}
	return s.send(t, h)
}

// getJSON decodes the items of every page of the list at path into v (a
// pointer to a slice), following next_cursor.
func getJSON[T any](t *testing.T, s *server, path string, v *[]T) {
	t.Helper()
	*v = []T{}
	eachPage(t, s, path, func(items []T) { *v = append(*v, items...) })
}

// eachPage reads the list at path page by page, following next_cursor, and
// calls f with the items of each page before it reads the next.
func eachPage[T any](t *testing.T, s *server, path string, f func([]T)) {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	next := path
	for range 1000 {
		code, body := s.do(t, http.MethodGet, next, "", "")
		require.Equal(t, http.StatusOK, code, body)
		var page gateway.Page[T]
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&page), body)
		require.NotNil(t, page.Items, body)
		f(page.Items)
		if page.NextCursor == "" {
			return
		}
		next = path + sep + "cursor=" + url.QueryEscape(page.NextCursor)
	}
	t.Fatal("more than 1000 pages")
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// phonetNow is phonettest's inbound call, happening now (the handlers
// refuse events far from the time they arrive).
func phonetNow() phonettest.Call {
	return shiftPhonet(phonettest.InboundCall(), time.Now().UTC().Truncate(time.Millisecond))
}

// shiftPhonet moves c in time so that it rings at dial.
func shiftPhonet(c phonettest.Call, dial time.Time) phonettest.Call {
	d := dial.Sub(c.DialAt)
	c.DialAt, c.BridgeAt, c.HangupAt = dial, c.BridgeAt.Add(d), c.HangupAt.Add(d)
	return c
}

// bothModes runs f as two parallel subtests: in memory mode (db "") and
// in database mode (db a SQLite file in a temporary directory), for
// Config.DB.
func bothModes(t *testing.T, f func(t *testing.T, db string)) {
	t.Helper()
	for _, mode := range []string{"memory", "sqlite"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			db := ""
			if mode == "sqlite" {
				db = filepath.Join(t.TempDir(), "crm.db")
			}
			f(t, db)
		})
	}
}

// sendMegafon posts MegaFon pushes to the gateway, each of which must be
// acknowledged.
func sendMegafon(t *testing.T, srv *server, pushes ...map[string][]string) {
	t.Helper()
	for _, f := range pushes {
		code, body := srv.send(t, hookOf(t, "megafon", megafontest.NewRequest("/hooks/megafon", "mf-token", f)))
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
	}
}
