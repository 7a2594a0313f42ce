package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
)

// eventLog is the gateway's event log: one JSON line per event delivered
// to the CRM.
type eventLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *eventLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// events returns the number of "event" lines and their distinct event ids.
func (l *eventLog) events(t *testing.T) (int, map[string]bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ids := 0, map[string]bool{}
	for line := range strings.Lines(l.b.String()) {
		var m struct {
			Msg     string `json:"msg"`
			EventID string `json:"event_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		if m.Msg == "event" {
			n++
			ids[m.EventID] = true
		}
	}
	return n, ids
}

// gatewayUnderTest is a gateway served in this process on a random
// loopback port.
type gatewayUnderTest struct {
	URL    string
	events *eventLog // stdout of the crm command: the event lines
	stop   func()    // shuts down gracefully, draining the queue into the CRM
}

func startGateway(t *testing.T) *gatewayUnderTest {
	t.Helper()
	clients, err := os.ReadFile("../crm/testdata/clients.json")
	require.NoError(t, err)
	events := &eventLog{}
	g, err := gateway.New(gateway.Config{HookToken: "load", MegafonToken: "load-mf", APIToken: "load-api", DefaultClients: clients, DiagOut: io.Discard}, events)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return &gatewayUnderTest{URL: "http://" + ln.Addr().String(), events: events, stop: stop}
}

// A small load through the whole gateway: nothing refused, nothing lost.
// The big run is the command in the README.
func TestLoad(t *testing.T) {
	gw := startGateway(t)
	cfg := Config{URL: gw.URL, Events: 2000, Connections: 8, HookToken: "load", MegafonToken: "load-mf", APIToken: "load-api", Wait: 20 * time.Second, Baseline: true}
	rep, err := Run(t.Context(), cfg)
	require.NoError(t, err)
	var out bytes.Buffer
	rep.Print(&out, cfg)
	t.Log("\n" + out.String())

	require.Equal(t, 2000, rep.Gateway.Events)
	require.Zero(t, rep.Gateway.Failed, rep.Gateway.FirstErr)
	// 166 rounds of Telphin (3), MegaFon (4), Phonet (4) and Finaz (1)
	// notifications, then a Telphin and a MegaFon call and a cut Phonet one.
	require.Equal(t, 166*4+2, rep.Expected)
	require.Equal(t, rep.Expected, rep.Stored)
	require.Zero(t, rep.Lost)
	// Per event: a graceful stop drains the queue, then every accepted
	// notification must have reached the CRM exactly once, as one "event"
	// line with its own id (a lost Answered or history event of a stored
	// call shows here, not in Lost).
	gw.stop()
	lines, ids := gw.events.events(t)
	accepted := rep.Gateway.Events - rep.Gateway.Failed
	require.Equal(t, accepted, lines, "events delivered to the CRM vs notifications accepted")
	require.Len(t, ids, accepted, "distinct events")
	require.NotNil(t, rep.Baseline)
	require.Equal(t, 2000, rep.Baseline.Events)
	require.Zero(t, rep.Baseline.Failed)
	require.Positive(t, rep.Gateway.P99)
}

// A wrong token: every notification is refused (401), so none is
// expected to be stored and none is lost.
func TestLoadRefused(t *testing.T) {
	gw := startGateway(t)
	rep, err := Run(t.Context(), Config{URL: gw.URL, Events: 24, Connections: 2, HookToken: "wrong", MegafonToken: "wrong", APIToken: "load-api", Wait: time.Second})
	require.NoError(t, err)
	require.Equal(t, 24, rep.Gateway.Failed)
	require.Contains(t, rep.Gateway.FirstErr, "401 Unauthorized")
	require.Zero(t, rep.Expected)
	require.Nil(t, rep.Baseline)
	gw.stop()
	n, _ := gw.events.events(t)
	require.Zero(t, n, "nothing delivered")
}

// A gateway whose GET /api/calls misses one call that it accepted: Lost
// counts it. A call with a refused notification is not expected, so it is
// not lost.
func TestLostCall(t *testing.T) {
	t.Parallel()
	calls := workload(24, 7, "h", "m") // two rounds: telphin, megafon, phonet, finaz
	require.Len(t, calls, 8)
	refused := calls[5].reqs[1].path // the second MegaFon call's ACCEPTED…
	refusedBody := string(calls[5].reqs[1].body)
	type row struct {
		Provider string `json:"provider"`
		CallID   string `json:"call_id"`
	}
	var listed []row
	for i, c := range calls {
		if i != 2 { // …and the first Phonet call is missing from /api/calls
			listed = append(listed, row{c.provider, c.id})
		}
	}
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/calls":
			w.Header().Set("Content-Type", "application/json")
			// Two pages, as the gateway pages its list.
			if r.URL.Query().Get("cursor") == "" {
				_ = json.NewEncoder(w).Encode(map[string]any{"items": listed[:3], "next_cursor": "c2"})
			} else {
				_ = json.NewEncoder(w).Encode(map[string]any{"items": listed[3:]})
			}
		case r.URL.RequestURI() == refused && string(body) == refusedBody:
			http.Error(w, "queue full", http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer stub.Close()
	rep, err := runCalls(t.Context(), Config{URL: stub.URL, Connections: 2, Wait: 200 * time.Millisecond}, calls)
	require.NoError(t, err)
	require.Equal(t, 24, rep.Gateway.Events)
	require.Equal(t, 1, rep.Gateway.Failed)
	require.Equal(t, 7, rep.Expected, "the call with a refused notification is not expected")
	require.Equal(t, 6, rep.Stored)
	require.Equal(t, 1, rep.Lost)
	var out bytes.Buffer
	rep.Print(&out, Config{URL: stub.URL})
	require.Contains(t, out.String(), "stored    6 of 7 accepted calls  lost 1")
}

func TestConfigBounds(t *testing.T) {
	t.Parallel()
	ok := Config{URL: "http://127.0.0.1:8080", Events: 10, Connections: 1, HookToken: "a", MegafonToken: "b", APIToken: "c"}
	require.NoError(t, ok.validate())
	for _, u := range []string{"http://localhost:1", "http://[::1]:8080/"} {
		c := ok
		c.URL = u
		require.NoError(t, c.validate(), u)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.URL = "http://example.com" }, "only loopback"},
		{func(c *Config) { c.URL = "http://10.0.0.1:8080" }, "only loopback"},
		{func(c *Config) { c.URL = "ftp://127.0.0.1" }, "want http://"},
		{func(c *Config) { c.Events = 0 }, "-n 0"},
		{func(c *Config) { c.Events = MaxEvents + 1 }, "-n 1000001"},
		{func(c *Config) { c.Connections = 0 }, "-c 0"},
		{func(c *Config) { c.Connections = MaxConnections + 1 }, "-c 513"},
		{func(c *Config) { c.HookToken = "" }, "-hook-token"},
		{func(c *Config) { c.APIToken = "" }, "-api-token"},
	} {
		c := ok
		tc.mod(&c)
		require.ErrorContains(t, c.validate(), tc.want)
	}
}

func TestWorkload(t *testing.T) {
	t.Parallel()
	calls := workload(13, 7, "h", "m")
	var providers []string
	n := 0
	for _, c := range calls {
		providers = append(providers, c.provider)
		n += len(c.reqs)
	}
	require.Equal(t, 13, n)
	require.Equal(t, []string{"telphin", "megafon", "phonet", "finaz", "telphin"}, providers)
	require.Empty(t, calls[4].id, "a cut call is not expected to be stored")
	require.Len(t, calls[4].reqs, 1)
	// Ids differ between calls and runs.
	other := workload(13, 8, "h", "m")
	require.NotEqual(t, calls[0].id, calls[4].id)
	require.NotEqual(t, calls[0].id, other[0].id)
}

func TestRunCommand(t *testing.T) {
	url := startGateway(t).URL
	var stdout, stderr bytes.Buffer
	env := func(k string) string { return map[string]string{"CRM_API_TOKEN": "load-api"}[k] }
	require.NoError(t, run(t.Context(), []string{"-url", url, "-n", "48", "-c", "4", "-hook-token", "load", "-megafon-token", "load-mf", "-baseline=false"}, env, &stdout, &stderr))
	require.Contains(t, stdout.String(), "stored    16 of 16 accepted calls")
	require.NotContains(t, stdout.String(), "baseline")

	err := run(t.Context(), []string{"-url", "http://192.0.2.1:80", "-hook-token", "a", "-megafon-token", "b"}, env, &stdout, &stderr)
	require.ErrorContains(t, err, "only loopback")
	// -h never shows the tokens of the environment.
	secret := func(k string) string { return "SECRET-" + k }
	require.NoError(t, run(t.Context(), []string{"-h"}, secret, &stdout, &stderr))
	require.True(t, strings.Contains(stderr.String(), "-megafon-token"))
	require.NotContains(t, stderr.String(), "SECRET")
}
