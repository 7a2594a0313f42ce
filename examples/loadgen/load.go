package main

import (
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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// Limits keep a run bounded.
const (
	MaxEvents      = 1_000_000
	MaxConnections = 512
)

// Config is one load run.
type Config struct {
	// URL is the gateway, on a loopback address only.
	URL string
	// Events is the number of webhook notifications to send (N).
	Events int
	// Connections is the number of concurrent connections (C).
	Connections int
	// HookToken and MegafonToken are the gateway's webhook tokens,
	// APIToken its API token (for GET /api/calls).
	HookToken, MegafonToken, APIToken string
	// Wait bounds the wait for the calls to be stored after sending.
	Wait time.Duration
	// Baseline also runs the same requests against a bare net/http
	// handler that only reads the body, in this process.
	Baseline bool
}

// request is one prepared webhook notification.
type request struct {
	method, path, contentType string
	body                      []byte
}

// call is the notifications of one call, sent in order on one connection.
type call struct {
	provider string
	id       string // call id, for the stored check; "" if the call is not expected to be stored
	reqs     []request
	failed   bool // a notification was not accepted (set by send)
}

// Result is what one run against one server measured.
type Result struct {
	Events   int
	Failed   int // non-2xx answers and transport errors
	Elapsed  time.Duration
	P50, P99 time.Duration
	Max      time.Duration
	FirstErr string
}

// Throughput is events per second.
func (r Result) Throughput() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// Report is the outcome of a load run.
type Report struct {
	Gateway Result
	// The loss check counts calls, not events, because GET /api/calls is
	// the only view of the CRM a running gateway offers: Expected is the
	// calls whose every notification the gateway accepted (2xx), Stored
	// how many of them GET /api/calls lists (matched by provider and call
	// id), and Lost = Expected − Stored. A call is stored once any of its
	// events reaches the CRM, so a lost Answered or history event of a
	// stored call goes unnoticed here; the in-process TestLoad checks
	// every event by counting the gateway's per-event log lines. Finaz
	// calls appear gateway.FinazSettle after their one notification, so
	// Wait must be longer than that. Notifications the gateway refused
	// (Gateway.Failed) are not lost: a provider redelivers them.
	Expected, Stored, Lost int
	Baseline               *Result
}

// checkLoopback refuses any target but this machine.
func checkLoopback(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("-url %q: want http://127.0.0.1:PORT", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-url %q: only loopback addresses (127.0.0.1, ::1, localhost) are allowed", raw)
	}
	return u, nil
}

func (c Config) validate() error {
	if _, err := checkLoopback(c.URL); err != nil {
		return err
	}
	if c.Events < 1 || c.Events > MaxEvents {
		return fmt.Errorf("-n %d: want 1..%d", c.Events, MaxEvents)
	}
	if c.Connections < 1 || c.Connections > MaxConnections {
		return fmt.Errorf("-c %d: want 1..%d", c.Connections, MaxConnections)
	}
	if c.HookToken == "" || c.MegafonToken == "" || c.APIToken == "" {
		return errors.New("-hook-token, -megafon-token and -api-token are required (the gateway's CRM_HOOK_TOKEN, MEGAFON_CRM_TOKEN and CRM_API_TOKEN)")
	}
	return nil
}

// workload builds calls of the four providers, round robin, totalling n
// notifications (the last call may be cut short). Ids carry run so that
// runs against one gateway do not collide; every call has its own client
// number, unknown to the CRM.
func workload(n int, run uint64, hookTok, mfTok string) []call {
	var calls []call
	total := 0
	start := time.Now().UTC().Truncate(time.Second)
	for i := 0; total < n; i++ {
		var c call
		id := func(kind byte) string { return fmt.Sprintf("%016x%08x%06x%02x", run, i, 0, kind) }
		switch i % 4 {
		case 0:
			tc := telphintest.Call{CallID: id(1), SubCallID: "124575-" + id(2), Client: fmt.Sprintf("+79%09d", i%1e9), Start: start}
			c = call{provider: "telphin", id: tc.CallID}
			for _, f := range []url.Values{tc.DialIn(), tc.Answer(), tc.Hangup()} {
				c.reqs = append(c.reqs, request{"POST", "/hooks/telphin/load?token=" + url.QueryEscape(hookTok), "application/x-www-form-urlencoded", []byte(f.Encode())})
			}
		case 1:
			mc := megafontest.Call{ID: "mf-" + id(3), Direction: "in", Phone: fmt.Sprintf("79%09d", i%1e9), Diversion: "74950000001", User: "andy", Ext: "701"}
			c = call{provider: "megafon", id: mc.ID}
			for _, f := range []url.Values{megafontest.Event("INCOMING", mc), megafontest.Event("ACCEPTED", mc), megafontest.Event("COMPLETED", mc),
				megafontest.History(mc, megafontest.Outcome{Status: "Success", Start: start, Duration: 60})} {
				c.reqs = append(c.reqs, request{"POST", "/hooks/megafon", "application/x-www-form-urlencoded", []byte(megafontest.NewRequestBody(f, mfTok))})
			}
		case 2:
			pc := phonettest.InboundCall()
			pc.UUID, pc.Client = id(4), fmt.Sprintf("+38067%07d", i%1e7)
			d := start.Sub(pc.DialAt) // now, inside the handlers' time window
			pc.DialAt, pc.BridgeAt, pc.HangupAt = start, pc.BridgeAt.Add(d), pc.HangupAt.Add(d)
			c = call{provider: "phonet", id: pc.UUID}
			for j, b := range []phonettest.Body{pc.Dial(), pc.Bridge(), pc.Hangup(), pc.Record()} {
				path := "/hooks/phonet/call"
				if j == 3 {
					path = "/hooks/phonet/after_call_end"
				}
				c.reqs = append(c.reqs, request{"POST", path + "?token=" + url.QueryEscape(hookTok), "application/json", b.JSON()})
			}
		case 3:
			n := finaztest.Notification{PID: id(5), Num: fmt.Sprintf("55119%08d", i%1e8), CID: "fz-" + id(6), Ramal: "2001", EmpresaID: "load", Token: hookTok}
			u, _ := url.Parse(finaztest.DiscadorURL("/hooks/finaz/", n))
			c = call{provider: "finaz", id: n.CID, reqs: []request{{"GET", u.RequestURI(), "", nil}}}
		}
		if extra := total + len(c.reqs) - n; extra > 0 { // cut the last call short
			c.reqs, c.id = c.reqs[:len(c.reqs)-extra], ""
		}
		total += len(c.reqs)
		calls = append(calls, c)
	}
	return calls
}

// send sends every call's notifications to base with conns concurrent
// connections and measures each request.
func send(ctx context.Context, base string, calls []call, conns int) Result {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	work := make(chan *call)
	var (
		mu       sync.Mutex
		lats     []time.Duration
		failed   int
		firstErr string
	)
	var wg sync.WaitGroup
	begin := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			bad, errText := 0, ""
			for c := range work {
				for _, r := range c.reqs {
					d, err := do(ctx, client, base, r)
					local = append(local, d)
					if err != nil {
						c.failed = true
						bad++
						if errText == "" {
							errText = err.Error()
						}
					}
				}
			}
			mu.Lock()
			lats = append(lats, local...)
			failed += bad
			if firstErr == "" {
				firstErr = errText
			}
			mu.Unlock()
		}()
	}
	for i := range calls {
		work <- &calls[i]
	}
	close(work)
	wg.Wait()
	res := Result{Events: len(lats), Failed: failed, Elapsed: time.Since(begin), FirstErr: firstErr}
	slices.Sort(lats)
	if len(lats) > 0 {
		res.P50 = lats[len(lats)*50/100]
		res.P99 = lats[min(len(lats)-1, len(lats)*99/100)]
		res.Max = lats[len(lats)-1]
	}
	return res
}

func do(ctx context.Context, client *http.Client, base string, r request) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, bytes.NewReader(r.body))
	if err != nil {
		return 0, err
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	t := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return time.Since(t), err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return d, fmt.Errorf("%s %s: %s", r.method, r.path[:strings.IndexAny(r.path+"?", "?")], resp.Status)
	}
	return d, nil
}

// stored counts the expected calls present in GET /api/calls, polling
// until all are there or wait has passed.
func stored(ctx context.Context, base, apiToken string, want map[string]bool, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		n, err := countStored(ctx, base, apiToken, want)
		if err != nil || n == len(want) || time.Now().After(deadline) {
			return n, err
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// countStored pages through GET /api/calls (1,000 calls a page).
func countStored(ctx context.Context, base, apiToken string, want map[string]bool) (int, error) {
	n, cursor := 0, ""
	for range MaxEvents/1000 + 1 { // bounded: every call has at least one event
		target := base + "/api/calls?limit=1000"
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+apiToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		var page struct {
			Items []struct {
				Provider string `json:"provider"`
				CallID   string `json:"call_id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return 0, fmt.Errorf("GET /api/calls: %s", resp.Status)
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("GET /api/calls: %w", err)
		}
		for _, c := range page.Items {
			if want[c.Provider+"/"+c.CallID] {
				n++
			}
		}
		if page.NextCursor == "" {
			return n, nil
		}
		cursor = page.NextCursor
	}
	return n, errors.New("GET /api/calls: too many pages")
}

// Run sends the load, checks what was stored and, with Baseline, runs the
// same requests against a bare handler.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	return runCalls(ctx, cfg, workload(cfg.Events, rand.Uint64(), cfg.HookToken, cfg.MegafonToken))
}

// runCalls is Run with the workload given.
func runCalls(ctx context.Context, cfg Config, calls []call) (Report, error) {
	base := strings.TrimRight(cfg.URL, "/")
	var rep Report
	rep.Gateway = send(ctx, base, calls, cfg.Connections)
	want := map[string]bool{}
	for _, c := range calls {
		if c.id != "" && !c.failed {
			want[c.provider+"/"+c.id] = true
		}
	}
	n, err := stored(ctx, base, cfg.APIToken, want, cfg.Wait)
	if err != nil {
		return rep, err
	}
	rep.Expected, rep.Stored, rep.Lost = len(want), n, len(want)-n
	if cfg.Baseline {
		b, err := baseline(ctx, calls, cfg.Connections)
		if err != nil {
			return rep, err
		}
		rep.Baseline = &b
	}
	return rep, nil
}

// baseline runs the requests against a bare net/http handler that only
// reads the body: the ceiling of this machine's HTTP stack.
func baseline(ctx context.Context, calls []call, conns int) (Result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	return send(ctx, "http://"+ln.Addr().String(), calls, conns), nil
}

// Print writes the report.
func (r Report) Print(w io.Writer, cfg Config) {
	line := func(name string, x Result) {
		fmt.Fprintf(w, "%-9s %8d events in %6.2fs  %9.0f events/s  p50 %7s  p99 %7s  max %7s  failed %d\n",
			name, x.Events, x.Elapsed.Seconds(), x.Throughput(), round(x.P50), round(x.P99), round(x.Max), x.Failed)
	}
	fmt.Fprintf(w, "loadgen: %d events, %d connections, %s\n", cfg.Events, cfg.Connections, cfg.URL)
	line("gateway", r.Gateway)
	if r.Gateway.FirstErr != "" {
		fmt.Fprintf(w, "          first failure: %s\n", r.Gateway.FirstErr)
	}
	fmt.Fprintf(w, "stored    %d of %d accepted calls  lost %d\n", r.Stored, r.Expected, r.Lost)
	if r.Baseline != nil {
		line("baseline", *r.Baseline)
		fmt.Fprintf(w, "ratio     gateway/baseline throughput %.2f\n", r.Gateway.Throughput()/r.Baseline.Throughput())
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
