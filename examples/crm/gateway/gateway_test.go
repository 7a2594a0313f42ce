package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// -demo: click-to-call works for every provider against the in-process
// fakes, and each answer carries the fake's call id.
func TestDemoClickToCall(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{Demo: true})
	for _, tc := range []struct {
		body, want string
		code       int
	}{
		{`{"provider":"telphin","from":"101","to":"+7 953 000-00-00"}`, `{"call_id":"00000000000000000000000000000002"}`, 200},
		{`{"provider":"megafon","from":"andy","to":"+7 916 123-45-67"}`, `{"call_id":"CALL000001"}`, 200},
		{`{"provider":"megafon","group":"sales","to":"79161234567"}`, `{"call_id":"CALL000002"}`, 200},
		{`{"provider":"phonet","from":"001","to":"+380671234567"}`, `{"call_id":"fakecall000000000000000000000001"}`, 200},
		{`{"provider":"finaz","from":"2001","to":"+55 11 98765-4321"}`, `{"call_id":"demo-1"}`, 200},
		{`{"provider":"finaz","from":"2001","to":"5511987654321"}`, `{"call_id":"demo-2"}`, 200},
		// Phonet has no queues.
		{`{"provider":"phonet","from":"001","to":"+380671234567","queue":"sales"}`, "", 400},
		// Phonet has no group calls.
		{`{"provider":"phonet","group":"sales","to":"+380671234567"}`, `{"error":"phonet cannot do this: group call: callevent: operation not supported by this provider"}`, 400},
		// The fake PBX knows no extension 999: the caller's mistake, said
		// once, not the provider failing.
		{`{"provider":"telphin","from":"999","to":"+79530000000"}`, `{"error":"telphin: call from \"999\": unknown extension: \"999\""}`, 400},
	} {
		code, body := srv.do(t, http.MethodPost, "/api/calls", "application/json", tc.body)
		require.Equal(t, tc.code, code, "%s: %s", tc.body, body)
		if tc.want != "" {
			require.JSONEq(t, tc.want, body, tc.body)
		}
	}
}

// Without credentials a provider still receives webhooks, but
// click-to-call says which setting is missing.
func TestClickToCallNotConfigured(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{})
	for p, setting := range map[string]string{
		"telphin": "TELPHIN_CLIENT_ID and TELPHIN_CLIENT_SECRET",
		"megafon": "MEGAFON_DOMAIN and MEGAFON_API_KEY",
		"phonet":  "PHONET_DOMAIN and PHONET_API_KEY",
		"finaz":   "FINAZ_CONFIG",
	} {
		code, body := srv.do(t, http.MethodPost, "/api/calls", "application/json", `{"provider":"`+p+`","from":"101","to":"79161234567"}`)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, p+" is not configured: set "+setting)
	}
}

func TestCallRequestErrors(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{Demo: true})
	for _, tc := range []struct {
		name, body, want string
		code             int
	}{
		{"malformed", `{"provider":`, "malformed JSON", 400},
		{"not an object", `[1]`, "malformed JSON", 400},
		{"unknown field", `{"provider":"telphin","from":"101","to":"1","extra":1}`, "unknown field", 400},
		{"two objects", `{"provider":"telphin","from":"101","to":"79161234567"} {}`, "data after the object", 400},
		{"missing fields", `{}`, "missing provider, to, from (or group)", 400},
		{"unknown provider", `{"provider":"skype","from":"a","to":"b"}`, `unknown provider \"skype\"`, 400},
		{"too large", `{"provider":"` + strings.Repeat("x", 70<<10) + `"}`, "body over 65536 bytes", 413},
		{"too large, not JSON", strings.Repeat("x", 70<<10), "body over 65536 bytes", 413},
		{"too large after the object", `{"provider":"telphin","from":"101","to":"1"}` + strings.Repeat(" ", 70<<10), "body over 65536 bytes", 413},
	} {
		code, body := srv.do(t, http.MethodPost, "/api/calls", "application/json", tc.body)
		require.Equal(t, tc.code, code, "%s: %s", tc.name, body)
		require.Contains(t, body, tc.want, tc.name)
	}
	code, _ := srv.do(t, http.MethodPut, "/api/calls", "", "")
	require.Equal(t, http.StatusMethodNotAllowed, code)
}

// Bad input is refused with the right status and nothing reaches the CRM.
func TestWebhookRejections(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{})
	dial := phonettest.InboundCall().Dial()
	mf := megafontest.Call{ID: "mf-9", Direction: "in", Phone: "79161234567", User: "andy", Ext: "701"}
	finazN := finaztest.Notification{PID: "4", Num: "11987654321", CID: "fz-9", Ramal: "2001", EmpresaID: "123", Token: "wrong"}
	big := strings.Repeat("x", 1<<20+1)
	for _, tc := range []struct {
		name string
		h    hook
		code int
	}{
		{"telphin wrong token", hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "wrong", telphintest.Call{}.DialIn())), 401},
		{"telphin no token", hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "", telphintest.Call{}.DialIn())), 401},
		{"megafon wrong token", hookOf(t, "", megafontest.NewRequest("/hooks/megafon", "wrong", megafontest.Event("INCOMING", mf))), 401},
		{"phonet wrong token", hookOf(t, "", dial.Request("/hooks/phonet/call", phonettest.WithToken("wrong"))), 401},
		{"finaz wrong token", hookOf(t, "", finaztest.NewDiscadorRequest("/hooks/finaz/", finazN)), 401},
		{"telphin oversized", hook{method: "POST", target: "/hooks/telphin/app?token=hook-token", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body: []byte("a=" + big)}, 413},
		{"megafon oversized", hook{method: "POST", target: "/hooks/megafon", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body: []byte("crm_token=mf-token&a=" + big)}, 413},
		{"phonet oversized", hook{method: "POST", target: "/hooks/phonet/call?token=hook-token", header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"a":"` + big + `"}`)}, 413},
		{"telphin malformed", hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", map[string][]string{"EventType": {"hangup"}})), 400},
		{"megafon malformed", hook{method: "POST", target: "/hooks/megafon", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, body: []byte("crm_token=mf-token&cmd=event&type=INCOMING")}, 400},
		{"phonet malformed", hook{method: "POST", target: "/hooks/phonet/call?token=hook-token", header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"event":`)}, 400},
		{"finaz malformed", hook{method: "GET", target: "/hooks/finaz/atendimentodiscador?token=hook-token&num=1", header: http.Header{}}, 400},
		{"phonet unknown endpoint", hookOf(t, "", dial.Request("/hooks/phonet/other", phonettest.WithToken("hook-token"))), 404},
		{"finaz unknown endpoint", hook{method: "GET", target: "/hooks/finaz/other?token=hook-token", header: http.Header{}}, 404},
		{"megafon GET", hook{method: "GET", target: "/hooks/megafon", header: http.Header{}}, 405},
		{"telphin PUT", hook{method: "PUT", target: "/hooks/telphin/app?token=hook-token", header: http.Header{}}, 405},
		{"finaz POST", hook{method: "POST", target: "/hooks/finaz/atendimentodiscador?token=hook-token", header: http.Header{}}, 405},
	} {
		code, body := srv.send(t, tc.h)
		require.Equal(t, tc.code, code, "%s: %s", tc.name, body)
	}
	code, body := srv.do(t, http.MethodGet, "/healthz", "", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)

	var calls []gateway.Call
	getJSON(t, srv, "/api/calls", &calls)
	require.Empty(t, calls)
	var leads []gateway.Lead
	getJSON(t, srv, "/api/leads", &leads)
	require.Empty(t, leads)
	require.Zero(t, srv.logs.events(t), "events delivered")
	require.Len(t, srv.Clients(), 4, "only the seeded clients")
}

// Shutdown drains the queue: every event accepted before the stop is in
// the CRM when Serve returns.
func TestShutdownDrainsQueue(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{QueueWorkers: 1})
	const n = 200
	for i := range n {
		c := phonetNow()
		c.UUID = strings.Repeat("0", 28) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "ff"
		code, body := srv.send(t, hookOf(t, "", c.Dial().Request("/hooks/phonet/call", phonettest.WithToken("hook-token"))))
		require.Equal(t, http.StatusAccepted, code, body)
	}
	require.NoError(t, srv.stop())
	require.Equal(t, n, srv.logs.events(t))
	lines := srv.logs.lines(t)
	require.Equal(t, "stopped", lines[len(lines)-1]["msg"])
}

// The command: -h, a listening gateway that prints its URLs to stderr and
// logs JSON to stdout, and a clean exit when the context ends.
func TestRun(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	require.NoError(t, gateway.Run(t.Context(), []string{"-h"}, noEnv, io.Discard, &stderr, gateway.Defaults{}))
	require.Contains(t, stderr.String(), "-megafon-token")

	ctx, cancel := context.WithCancel(t.Context())
	stdout, errOut := &syncBuffer{}, &syncBuffer{}
	// No employee sync: it would read the real Telphin's extensions.
	env := map[string]string{"CRM_ADDR": "127.0.0.1:0", "CRM_HOOK_TOKEN": "tok", "TELPHIN_CLIENT_ID": "app1", "TELPHIN_CLIENT_SECRET": "s",
		"CRM_EMPLOYEE_SYNC": "off"}
	done := make(chan error, 1)
	seed := defaultClients(t) // on the test's goroutine: it may fail the test
	go func() {
		done <- gateway.Run(ctx, nil, func(k string) string { return env[k] }, stdout, errOut, gateway.Defaults{Clients: seed})
	}()
	re := regexp.MustCompile(`gateway on (http://127\.0\.0\.1:\d+)`)
	require.Eventually(t, func() bool { return re.MatchString(errOut.String()) }, 10*time.Second, 10*time.Millisecond)
	base := re.FindStringSubmatch(errOut.String())[1]
	for _, want := range []string{
		base + "/hooks/telphin/app1?token=tok",
		"  MegaFon  (POST)                " + base + "/hooks/megafon\n",
		"           CRM token (crm_token) ",
		base + "/hooks/phonet/customer_data?token=tok",
		base + "/hooks/phonet/call?token=tok",
		base + "/hooks/phonet/after_call_end?token=tok",
		base + "/hooks/finaz/atendimentodiscador?token=tok",
		base + "/hooks/finaz/atendimentoreceptivo?token=tok",
		"  telphin  ready\n  megafon  not configured        set MEGAFON_DOMAIN and MEGAFON_API_KEY, or run with -demo\n",
	} {
		require.Contains(t, errOut.String(), want)
	}
	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// CRM_API_TOKEN is unset: a token is generated, printed in the banner,
	// and /api/ answers with it only.
	m := regexp.MustCompile(`API token +(\S+) +\(generated;`).FindStringSubmatch(errOut.String())
	require.NotNil(t, m, "the generated token is in the banner: %s", errOut.String())
	apiTok := m[1]
	require.GreaterOrEqual(t, len(apiTok), 16, "a token that cannot be guessed")
	for _, tc := range []struct {
		auth string
		code int
	}{{"Bearer " + apiTok, http.StatusOK}, {"", http.StatusUnauthorized}, {"Bearer " + apiTok + "x", http.StatusUnauthorized}} {
		req, err := http.NewRequest(http.MethodGet, base+"/api/calls", nil)
		require.NoError(t, err)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, tc.code, resp.StatusCode, "Authorization %q", tc.auth)
	}
	// One delivered event and one refused notification.
	srv := &server{URL: base}
	code, body := srv.send(t, hookOf(t, "", phonetNow().Dial().Request("/hooks/phonet/call", phonettest.WithToken("tok"))))
	require.Equal(t, http.StatusAccepted, code, body)
	code, _ = srv.send(t, hookOf(t, "", phonettest.InboundCall().Dial().Request("/hooks/phonet/call", phonettest.WithToken("wrong"))))
	require.Equal(t, http.StatusUnauthorized, code)
	cancel()
	require.NoError(t, <-done)
	// Stdout: exactly one line per delivered event; the rest is on stderr.
	var msgs []any
	for _, l := range stdout.lines(t) {
		msgs = append(msgs, l["msg"])
	}
	require.Equal(t, []any{"event"}, msgs, stdout.String())
	msgs = nil
	for line := range strings.Lines(errOut.String()) {
		if strings.HasPrefix(line, "{") {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			msgs = append(msgs, m["msg"])
		}
	}
	require.Contains(t, msgs, "listening")
	require.Equal(t, []any{"shutting down", "stopped"}, msgs[len(msgs)-2:], errOut.String())
	require.NotContains(t, msgs, "event")
	require.Greater(t, len(msgs), 3, "the refused notification is logged on stderr: %s", errOut.String())
	require.Equal(t, 1, strings.Count(errOut.String()+stdout.String(), apiTok), "the generated token is printed once")

	err = gateway.Run(t.Context(), []string{"-addr", "256.0.0.1:1"}, noEnv, io.Discard, io.Discard, gateway.Defaults{})
	require.Error(t, err)
}

func noEnv(string) string { return "" }

func TestParseConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    gateway.Config
		wantErr string
	}{
		{name: "defaults", want: gateway.Config{Addr: "127.0.0.1:8080", Country: "RU"}},
		{
			name: "environment",
			env: map[string]string{
				"CRM_ADDR": ":9000", "CRM_COUNTRY": "UA", "CRM_CLIENTS": "c.json", "CRM_HOOK_TOKEN": "h", "MEGAFON_CRM_TOKEN": "m",
				"CRM_RULES": "r.json", "CRM_DEMO": "true", "CRM_PUBLIC_URL": "https://crm.example",
				"TELPHIN_CLIENT_ID": "id", "TELPHIN_CLIENT_SECRET": "sec", "MEGAFON_DOMAIN": "vats1.megapbx.ru", "MEGAFON_API_KEY": "k",
				"PHONET_DOMAIN": "acme.phonet.com.ua", "PHONET_API_KEY": "pk", "FINAZ_CONFIG": "f.json",
			},
			want: gateway.Config{
				Addr: ":9000", Country: "UA", ClientsFile: "c.json", HookToken: "h", MegafonToken: "m", RulesFile: "r.json",
				Demo: true, PublicURL: "https://crm.example", TelphinClientID: "id", TelphinClientSecret: "sec",
				MegafonDomain: "vats1.megapbx.ru", MegafonAPIKey: "k", PhonetDomain: "acme.phonet.com.ua", PhonetAPIKey: "pk", FinazConfig: "f.json",
			},
		},
		{
			name: "flags win over the environment",
			args: []string{"-addr", ":1", "-country", "BR", "-clients", "x.json", "-hook-token", "a", "-megafon-token", "b", "-rules", "y.json", "-demo=false"},
			env:  map[string]string{"CRM_ADDR": ":9000", "CRM_COUNTRY": "UA", "CRM_DEMO": "1"},
			want: gateway.Config{Addr: ":1", Country: "BR", ClientsFile: "x.json", HookToken: "a", MegafonToken: "b", RulesFile: "y.json"},
		},
		{name: "half telphin", env: map[string]string{"TELPHIN_CLIENT_ID": "id"}, wantErr: "TELPHIN_CLIENT_ID is set but TELPHIN_CLIENT_SECRET is not"},
		{name: "half megafon", env: map[string]string{"MEGAFON_API_KEY": "k"}, wantErr: "MEGAFON_API_KEY is set but MEGAFON_DOMAIN is not"},
		{name: "half phonet", env: map[string]string{"PHONET_DOMAIN": "d"}, wantErr: "PHONET_DOMAIN is set but PHONET_API_KEY is not"},
		{name: "bad CRM_DEMO", env: map[string]string{"CRM_DEMO": "maybe"}, wantErr: "CRM_DEMO"},
		{name: "unknown flag", args: []string{"-port", "1"}, wantErr: "flag provided but not defined"},
		{name: "arguments", args: []string{"serve"}, wantErr: "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := gateway.ParseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
	_, err := gateway.ParseConfig([]string{"-help"}, noEnv, io.Discard)
	require.True(t, errors.Is(err, flag.ErrHelp))
}

// -clients and -rules replace the embedded seed and the default rules;
// bad files stop the start with a message naming them.
func TestClientsAndRulesFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(data), 0o600))
		return p
	}
	clients := write("clients.json", `[{"id":"k1","name":"Kazakh client","phone":"8 701 123 4567","responsible":"ivan"}]`)
	noLeads := write("rules.json", `{"default": {"create": {"inbound_missed": true}}}`)
	srv := start(t, gateway.Config{ClientsFile: clients, RulesFile: noLeads, Country: "KZ"})
	require.Equal(t, []gateway.Client{{ID: "k1", Name: "Kazakh client", Phone: "77011234567", Channel: "telephony", Responsible: "ivan"}}, srv.Clients())

	missed := telphintest.Call{CallID: "cc000000000000000000000000000003", Client: "+74950001122", Start: time.Now()}
	for _, f := range missedQueueCall(missed) {
		code, body := srv.send(t, hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", f)))
		require.Equal(t, http.StatusAccepted, code, body)
	}
	require.NoError(t, srv.stop()) // drains the queue; the engine acts on the call
	require.Len(t, srv.Clients(), 2, "a client for the unknown number")
	require.Empty(t, srv.Leads(), "these rules create no lead")

	for _, tc := range []struct {
		cfg  gateway.Config
		want string
	}{
		{gateway.Config{ClientsFile: filepath.Join(dir, "none.json")}, "clients: open"},
		{gateway.Config{ClientsFile: write("bad.json", `[{"id":"x","phone":"not a phone"}]`)}, `clients: memstore: LoadClients: client 0 ("x")`},
		{gateway.Config{RulesFile: write("bad-rules.json", `{"default": {"creat": {}}}`)}, "rules " + filepath.Join(dir, "bad-rules.json")},
		{gateway.Config{FinazConfig: write("finaz.json", `{}`)}, "finaz: "},
		{gateway.Config{Country: "XX"}, "XX"},
	} {
		_, err := gateway.New(tc.cfg, io.Discard)
		require.ErrorContains(t, err, tc.want)
	}
}

// The gateway is safe under concurrent webhooks of every provider.
func TestConcurrentWebhooks(t *testing.T) {
	t.Parallel()
	// The fake clock stands still, so the Finaz call's settle timer never
	// fires (on the system clock it would after gateway.FinazSettle, which
	// a loaded machine can take to get here).
	srv := start(t, gateway.Config{Clock: newFakeClock()})
	sc := buildScenario(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	// Every notification four times, concurrently; taken counts the copies
	// answered 200 or 202, by notification.
	taken := map[string]int{}
	for range 4 {
		for _, h := range sc.events {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body, err := srv.trySend(h)
				switch {
				case err != nil:
					t.Errorf("%s: %v", h.name, err)
				case code == http.StatusOK || code == http.StatusAccepted:
					mu.Lock()
					taken[h.name]++
					mu.Unlock()
				case code == http.StatusServiceUnavailable:
					// A copy that arrives while the first is still being
					// delivered is told to come back (the provider
					// redelivers): never acknowledged, never lost.
				default:
					t.Errorf("%s: %d %s", h.name, code, body)
				}
			}()
		}
	}
	wg.Wait()
	for _, h := range sc.events {
		require.Positive(t, taken[h.name], "%s: some copy was taken", h.name)
	}
	require.NoError(t, srv.stop())
	require.Equal(t, sc.n, srv.logs.events(t), "each event delivered once")
	// The fake clock stands still, so the Finaz call is still waiting for
	// its settle timer when the gateway stops: the stop decides it.
	require.Len(t, srv.Calls(), 5, "every call, Finaz's decided by the stop")
}

// A11: at the engine's cap a new call is 503 with Retry-After (the provider
// redelivers), never a 202 whose event is dead-lettered later; the calls
// already taken still reach the CRM.
func TestFullEngineIs503NotDropped(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{MaxOpenCalls: 1})
	first := telphintest.Call{CallID: "dd000000000000000000000000000001", SubCallID: "124575-dd000000000000000000000000000011", Client: "+74950001122", Start: time.Now()}
	second := telphintest.Call{CallID: "dd000000000000000000000000000002", SubCallID: "124575-dd000000000000000000000000000022", Client: "+74950003344", Start: time.Now()}
	code, body := srv.send(t, hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", first.DialIn())))
	require.Equal(t, http.StatusAccepted, code, body)

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/hooks/telphin/app?token=hook-token",
		strings.NewReader(url.Values(second.DialIn()).Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a new call at the cap")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	require.NoError(t, srv.stop(), "nothing acknowledged was dropped")
}
