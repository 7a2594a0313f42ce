package main

// Helpers of the process-level durability tests (durability_test.go): the
// crm binary built once, gateway child processes, a TCP proxy that can cut
// the database away, the webhook sender with a provider's retries, and
// readers of the gateway's JSON API.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The gateway's tokens in every test (CRM_HOOK_TOKEN, MEGAFON_CRM_TOKEN,
// CRM_API_TOKEN).
const (
	testHookToken    = "durability-hook-token"
	testMegafonToken = "durability-megafon-token"
	testAPIToken     = "durability-api-token"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error

	children sync.Map // *gatewayProc → struct{}: every child still running
)

func TestMain(m *testing.M) {
	code := m.Run()
	// Cleanups kill every child; this catches any a failing test left.
	children.Range(func(k, _ any) bool {
		k.(*gatewayProc).Kill()
		return true
	})
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// skipShort skips the process-level tests under -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("process-level durability test: skipped under -short")
	}
}

// crmBinary builds the crm command once per test run (go build into a
// temporary directory) and returns its path.
func crmBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			if root := os.Getenv("GOROOT"); root != "" {
				goTool = filepath.Join(root, "bin", "go")
			} else {
				buildErr = fmt.Errorf("no go command on PATH: %w", err)
				return
			}
		}
		if buildDir, err = os.MkdirTemp("", "crm-durability-"); err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(buildDir, "crm")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./examples/crm: %v\n%s", err, out)
			return
		}
		buildBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if over := len(b.b) - b.max; over > 0 {
		b.b = append(b.b[:0], b.b[over:]...)
	}
	return len(p), nil
}

// Tail is the last n bytes, from a line start when possible.
func (b *tailBuffer) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b
	if len(s) > n {
		s = s[len(s)-n:]
		if i := bytes.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
			s = s[i+1:]
		}
	}
	return string(s)
}

// gatewayProc is one crm process.
type gatewayProc struct {
	name    string
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	stderr  *tailBuffer
	exited  chan struct{}
	waitErr error // set before exited is closed
}

// gatewayEnv is this process's environment without any of the gateway's
// settings, plus the test tokens.
func gatewayEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "CRM_"), strings.HasPrefix(k, "MEGAFON_"), strings.HasPrefix(k, "TELPHIN_"),
			strings.HasPrefix(k, "PHONET_"), strings.HasPrefix(k, "FINAZ_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, "CRM_HOOK_TOKEN="+testHookToken, "MEGAFON_CRM_TOKEN="+testMegafonToken, "CRM_API_TOKEN="+testAPIToken)
}

// startGateway runs the crm command on 127.0.0.1 (a free port) with -db db
// and waits until it logs that it listens. The process is killed when the
// test ends (before its deadline, too); a failed test logs the tail of its
// stderr.
func startGateway(t *testing.T, name, db string) *gatewayProc {
	t.Helper()
	bin := crmBinary(t)
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-db", db)
	cmd.Dir = t.TempDir()
	cmd.Env = gatewayEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &gatewayProc{name: name, cmd: cmd, stderr: &tailBuffer{max: 1 << 20}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	children.Store(p, struct{}{})
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- %s (%s) stderr, tail:\n%s", name, p.base, p.stderr.Tail(12<<10))
		}
	})
	if dl, ok := t.Deadline(); ok {
		// Kill the child before the test binary's timeout panics, which
		// runs no cleanup.
		if d := time.Until(dl) - 10*time.Second; d > 0 {
			timer := time.AfterFunc(d, p.Kill)
			t.Cleanup(func() { timer.Stop() })
		}
	}
	addrc := make(chan string, 1)
	go func() {
		defer close(p.exited)
		r := bufio.NewReader(stderr)
		sent := false
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				_, _ = p.stderr.Write(line)
				if !sent {
					var l struct {
						Msg  string `json:"msg"`
						Addr string `json:"addr"`
					}
					if json.Unmarshal(line, &l) == nil && l.Msg == "listening" && l.Addr != "" {
						addrc <- l.Addr
						sent = true
					}
				}
			}
			if err != nil {
				break
			}
		}
		p.waitErr = cmd.Wait()
		children.Delete(p)
	}()
	select {
	case a := <-addrc:
		p.base = "http://" + a
	case <-p.exited:
		t.Fatalf("%s exited before listening: %v\n%s", name, p.waitErr, p.stderr.Tail(8<<10))
	case <-time.After(90 * time.Second):
		t.Fatalf("%s did not log \"listening\" within 90s; its main goroutine:\n%s", name, p.mainStack())
	}
	return p
}

// mainStack asks a hung process for its goroutines (SIGQUIT) and returns
// the stack of its main goroutine from the dump on stderr.
func (p *gatewayProc) mainStack() string {
	if err := p.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		return "(no dump: " + err.Error() + ")"
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
	dump := p.stderr.Tail(1 << 20)
	i := strings.Index(dump, "\ngoroutine 1 ") // "goroutine 1 [running]:", or with gp=… under GOTRACEBACK=system
	if i < 0 {
		return dump[max(0, len(dump)-(8<<10)):]
	}
	dump = dump[i+1:]
	if j := strings.Index(dump, "\n\ngoroutine "); j >= 0 {
		dump = dump[:j]
	}
	return dump[:min(len(dump), 8<<10)]
}

// Kill kills the process (SIGKILL: kill -9) and waits until it is gone.
func (p *gatewayProc) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
	}
}

// tcpProxy forwards connections to upstream until cut: Cut closes every
// connection and refuses new ones (accepted and closed at once) until
// Restore.
type tcpProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	cut      bool
	conns    map[net.Conn]struct{}
	accepted atomic.Int64
	refused  atomic.Int64
}

func startProxy(t *testing.T, upstream string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			p.refused.Add(1)
			_ = c.Close()
			continue
		}
		p.accepted.Add(1)
		go p.forward(c)
	}
}

// track adds c to the open connections, unless the proxy is cut.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		_ = c.Close()
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.upstream, 10*time.Second)
	if err != nil {
		p.untrack(c)
		return
	}
	if !p.track(up) {
		_ = up.Close()
		p.untrack(c)
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	p.untrack(c, up)
	<-done
}

// Cut closes every connection and refuses new ones; it returns when they
// are closed.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// Restore forwards new connections again.
func (p *tcpProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *tcpProxy) Close() {
	_ = p.ln.Close()
	p.Cut()
}

// hook is one prepared webhook request.
type hook struct {
	method, path, contentType string
	body                      []byte
}

// attempt is one HTTP request of a webhook delivery.
type attempt struct {
	start, end time.Time
	status     int   // 0 on a transport error
	err        error // transport error
}

// sender delivers webhooks as a provider does: a 5xx, a 429 or a transport
// error is retried after a short backoff, a bounded number of times; any
// other 4xx is final (and a defect of the test's requests).
type sender struct {
	client      *http.Client
	maxAttempts int
	budget      time.Duration // per webhook, from its first attempt
	observe     func(attempt) // may be nil

	mu        sync.Mutex
	codes     map[int]int
	transport int
	firstErr  string
	rejected  []string
}

func newSender() *sender {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	return &sender{
		client:      &http.Client{Transport: tr, Timeout: 20 * time.Second},
		maxAttempts: 200,
		budget:      45 * time.Second,
		codes:       map[int]int{},
	}
}

func (s *sender) close() { s.client.CloseIdleConnections() }

// deliver sends h to the base URL target returns for each attempt until it
// is answered 2xx (true) or the retries are exhausted (false).
func (s *sender) deliver(ctx context.Context, h hook, target func(attempt int) string) bool {
	begin := time.Now()
	for n := 0; ; n++ {
		status, body, err := s.do(ctx, target(n), h)
		switch {
		case err == nil && status >= 200 && status <= 299:
			return true
		case err == nil && status >= 400 && status <= 499 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
			s.mu.Lock()
			if len(s.rejected) < 10 {
				s.rejected = append(s.rejected, fmt.Sprintf("%s %s: %d %s", h.method, h.path, status, strings.TrimSpace(body)))
			}
			s.mu.Unlock()
			return false
		}
		if n+1 >= s.maxAttempts || time.Since(begin) > s.budget || ctx.Err() != nil {
			return false
		}
		d := min(20*time.Millisecond<<min(n, 5), 500*time.Millisecond)
		d += rand.N(d / 2) // jitter
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
		}
	}
}

func (s *sender) do(ctx context.Context, base string, h hook) (int, string, error) {
	var body io.Reader
	if h.body != nil {
		body = bytes.NewReader(h.body)
	}
	a := attempt{start: time.Now()}
	req, err := http.NewRequestWithContext(ctx, h.method, base+h.path, body)
	if err != nil {
		return 0, "", err
	}
	if h.contentType != "" {
		req.Header.Set("Content-Type", h.contentType)
	}
	resp, err := s.client.Do(req)
	var text []byte
	if err == nil {
		text, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		a.status = resp.StatusCode
	}
	a.end, a.err = time.Now(), err
	s.mu.Lock()
	if err != nil {
		s.transport++
		if s.firstErr == "" {
			s.firstErr = err.Error()
		}
	} else {
		s.codes[a.status]++
	}
	s.mu.Unlock()
	if s.observe != nil {
		s.observe(a)
	}
	return a.status, string(text), err
}

// summary is the status codes seen, for the test log.
func (s *sender) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("statuses %v, transport errors %d (first: %q)", s.codes, s.transport, s.firstErr)
}

// checkNoRejections fails t if the gateway refused a webhook with a 4xx:
// the test's requests are then wrong and prove nothing.
func (s *sender) checkNoRejections(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rejected) > 0 {
		t.Errorf("the gateway refused webhooks with 4xx (the test's requests are wrong):\n  %s", strings.Join(s.rejected, "\n  "))
	}
}

// API: the elements of the lists, as far as the tests read them.
type apiCall struct {
	Provider    string `json:"provider"`
	CallID      string `json:"call_id"`
	Direction   string `json:"direction"`
	Status      string `json:"status"`
	ClientID    string `json:"client_id"`
	ClientPhone string `json:"client_phone"`
	LeadID      string `json:"lead_id"`
}

func (c apiCall) key() string { return c.Provider + "/" + c.CallID }

type apiClient struct {
	ID              string `json:"id"`
	Phone           string `json:"phone"`
	CreatedFromCall bool   `json:"created_from_call"`
}

func (c apiClient) key() string { return c.ID }

type apiLead struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	Status   string `json:"status"`
	Source   string `json:"source"`
}

func (l apiLead) key() string { return l.ID }

// apiHTTP reads the API; it is separate from the senders' client.
var apiHTTP = &http.Client{Timeout: 20 * time.Second}

// pageLimit is the page size the tests list with: small enough that the
// lists take several pages.
const pageLimit = 100

// listAll reads every page of an API list (?limit=&cursor=).
func listAll[T any](ctx context.Context, base, path string) ([]T, error) {
	var out []T
	cursor := ""
	for range 10_000 {
		q := url.Values{"limit": {fmt.Sprint(pageLimit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+testAPIToken)
		resp, err := apiHTTP.Do(req)
		if err != nil {
			return nil, err
		}
		var page struct {
			Items      []T    `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", path, err)
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
	return nil, errors.New("GET " + path + ": too many pages")
}

// stableList lists path until two listings in a row hold the same items
// in the same order (the lists page by offset, so a listing taken while
// rows are added may repeat or skip one), within bound.
func stableList[T interface{ key() string }](ctx context.Context, base func() string, path string, bound time.Duration) ([]T, error) {
	deadline := time.Now().Add(bound)
	var prev []T
	var lastErr error
	for {
		cur, err := listAll[T](ctx, base(), path)
		if err == nil {
			if prev != nil && sameKeys(prev, cur) {
				return cur, nil
			}
			prev = cur
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if prev != nil {
				return prev, fmt.Errorf("GET %s: no two listings in a row agreed within %v", path, bound)
			}
			return nil, lastErr
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

func sameKeys[T interface{ key() string }](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].key() != b[i].key() {
			return false
		}
	}
	return true
}

// readyz is the status of GET /readyz (0 on a transport error).
func readyz(ctx context.Context, base string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return 0
	}
	resp, err := apiHTTP.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// waitUntil polls cond until it holds (true) or bound passes (false).
func waitUntil(ctx context.Context, bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		sleep(ctx, 5*time.Millisecond)
	}
	return true
}
