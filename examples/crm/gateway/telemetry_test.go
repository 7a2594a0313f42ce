package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// scrape GETs path from base with the API token (or none) and parses the
// Prometheus text answer.
func scrape(t *testing.T, url, token string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, fams
}

// sample returns the value of family name's sample whose labels include
// labels ("name=value"): a counter's or gauge's value, a histogram's
// count; -1 when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// GET /metrics serves the Prometheus exposition of what the SDK records,
// behind the API token: the webhooks by outcome (those the intake refuses
// too), the delivery latency, the backlog, the calls in progress.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{})
	call := phonetNow()
	dial := hookOf(t, "dial", call.Dial().Request("/hooks/phonet/call", phonettest.WithToken("hook-token")))
	code, body := srv.send(t, dial)
	require.Equal(t, http.StatusAccepted, code, body)
	waitEvents(t, srv, 1)
	for _, l := range srv.logs.lines(t) {
		if l["msg"] == "event" {
			require.Regexp(t, `^[0-9a-f]{32}$`, l["trace_id"], "spans are not sampled, yet the log lines have their trace id")
		}
	}
	code, _ = srv.send(t, dial)
	require.Equal(t, http.StatusOK, code, "a redelivery")
	code, _ = srv.send(t, hookOf(t, "", call.Dial().Request("/hooks/phonet/call", phonettest.WithToken("wrong"))))
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = srv.send(t, hookOf(t, "", phonettest.Body{"event": "call.dial"}.Request("/hooks/phonet/call", phonettest.WithToken("hook-token"))))
	require.Equal(t, http.StatusBadRequest, code)

	code, _ = scrape(t, srv.URL+"/metrics", "")
	require.Equal(t, http.StatusUnauthorized, code, "the API token guards /metrics")
	code, _ = scrape(t, srv.URL+"/metrics", "wrong")
	require.Equal(t, http.StatusUnauthorized, code)
	code, fams := scrape(t, srv.URL+"/metrics", apiToken)
	require.Equal(t, http.StatusOK, code)

	hooks := []string{"callbridge_provider=phonet", "callbridge_endpoint=POST /hooks/phonet/call"}
	for outcome, want := range map[string]float64{"accepted": 1, "duplicate": 1, "unauthorized": 1, "bad_request": 1} {
		require.Equal(t, want, sample(fams, "callbridge_webhook_requests_total", append(hooks, "callbridge_outcome="+outcome)...), outcome)
	}
	require.Equal(t, -1.0, sample(fams, "callbridge_webhook_requests_total", append(hooks, "callbridge_outcome=sink_error")...))
	require.Equal(t, 1.0, sample(fams, "callbridge_delivery_duration_seconds", "callbridge_provider=phonet",
		"callbridge_delivery=queue", "callbridge_outcome=delivered"))
	require.Equal(t, 0.0, sample(fams, "callbridge_delivery_backlog", "callbridge_delivery=queue", "callbridge_state=pending"))
	require.Equal(t, 1.0, sample(fams, "callbridge_engine_calls_active"), "the call rings")
	require.NotNil(t, fams["go_goroutines"], "the Go runtime's metrics too")
	require.NotNil(t, fams["target_info"], "the resource: service.name")
	require.Equal(t, 1.0, sample(fams, "target_info", "service_name="+gateway.ServiceName))
}

// -metrics-addr (CRM_METRICS_ADDR) serves GET /metrics on a second address
// without the token; -log-level warn keeps the info lines off stderr.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	stdout, errOut := &syncBuffer{}, &syncBuffer{}
	env := map[string]string{"CRM_ADDR": "127.0.0.1:0", "CRM_METRICS_ADDR": "127.0.0.1:0", "CRM_API_TOKEN": apiToken,
		"CRM_EMPLOYEE_SYNC": "off", "CRM_LOG_LEVEL": "debug"}
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, nil, func(k string) string { return env[k] }, stdout, errOut, gateway.Defaults{})
	}()
	re := regexp.MustCompile(`"msg":"metrics listening","addr":"(127\.0\.0\.1:\d+)"`)
	require.Eventually(t, func() bool { return re.MatchString(errOut.String()) }, 10*time.Second, 10*time.Millisecond)
	addr := re.FindStringSubmatch(errOut.String())[1]
	code, fams := scrape(t, "http://"+addr+"/metrics", "")
	require.Equal(t, http.StatusOK, code, "no token on the metrics address")
	require.NotNil(t, fams["go_goroutines"])
	resp, err := http.Get("http://" + addr + "/api/calls")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "only /metrics there")
	cancel()
	require.NoError(t, <-done)

	var help strings.Builder
	require.NoError(t, gateway.Run(t.Context(), []string{"-h"}, noEnv, io.Discard, &help, gateway.Defaults{}))
	require.Contains(t, help.String(), "-metrics-addr")
	require.Contains(t, help.String(), "-log-level")
}

// -log-level and the configuration's checks.
func TestLogLevelConfig(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"debug": "DEBUG", "warn": "WARN", "ERROR": "ERROR", "": "INFO"} {
		cfg, err := gateway.ParseConfig([]string{"-log-level", in}, noEnv, io.Discard)
		require.NoError(t, err, in)
		require.Equal(t, want, cfg.LogLevel.String(), in)
	}
	_, err := gateway.ParseConfig([]string{"-log-level", "loud"}, noEnv, io.Discard)
	require.ErrorContains(t, err, "-log-level (CRM_LOG_LEVEL)")
	_, err = gateway.ParseConfig(nil, func(k string) string { return map[string]string{"CRM_METRICS_ADDR": "nope"}[k] }, io.Discard)
	require.ErrorContains(t, err, "metrics address")

	// warn: the info lines about the start are gone, the event lines stay.
	out, diag := &syncBuffer{}, &syncBuffer{}
	g, err := gateway.New(gateway.Config{HookToken: "hook-token", LogLevel: slog.LevelWarn, DiagOut: diag}, out)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := serve(t, g, ln, out)
	code, _ := srv.send(t, hookOf(t, "", phonetNow().Dial().Request("/hooks/phonet/call", phonettest.WithToken("wrong"))))
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = srv.send(t, hookOf(t, "", phonetNow().Dial().Request("/hooks/phonet/call", phonettest.WithToken("hook-token"))))
	require.Equal(t, http.StatusAccepted, code)
	waitEvents(t, srv, 1)
	require.NoError(t, srv.stop())
	require.Contains(t, diag.String(), "webhook refused", "a warning stays")
	require.NotContains(t, diag.String(), `"level":"INFO"`)
}

// One call's path is one trace, from the webhook request to amoCRM: the
// request's span, the queue's delivery, the engine's event, its decision
// (made later, by a timer, beneath the event that completed the call),
// the engine's store calls, and beneath them amoCRM's API calls, each
// with a client span per attempt. The log lines about the call carry its
// trace id; no attribute carries the caller's whole number.
func TestOneCallOneTrace(t *testing.T) {
	t.Parallel()
	tr := telemetrytest.NewTraces(t)
	clock := newFakeClock()
	srv := start(t, gateway.Config{Demo: true, CRM: gateway.CRMAmoCRM, Clock: clock, TracerProvider: tr.Provider})
	const client = "79169998877"
	tc := telphintest.Call{CallID: "ab000000000000000000000000009999", SubCallID: "124575-ab000000000000000000000000009999",
		Client: "+" + client, Extension: "15400*101", Start: clock.Now().Add(-time.Minute)}
	for _, f := range []map[string][]string{tc.DialIn(), tc.Answer(), tc.Hangup()} {
		code, body := srv.send(t, hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", f)))
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
	}
	waitEvents(t, srv, 3)
	clock.Advance(match.DefaultGracePeriod)
	require.Eventually(t, func() bool { return len(tr.Named("match.Engine decide")) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(srv.AmoCRMFake().Calls()) == 1 }, 10*time.Second, 5*time.Millisecond)

	spans := tr.Spans()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	chain := func(s tracetest.SpanStub) []string { // s and its ancestors, root last
		var names []string
		for {
			names = append(names, s.Name)
			p, ok := byID[s.Parent.SpanID()]
			if !ok {
				return names
			}
			s = p
		}
	}
	decide := tr.Named("match.Engine decide")[0]
	require.Equal(t, []string{"match.Engine decide", "match.Engine HandleEvent", "webhook.Queue deliver", "POST /hooks/telphin/{account}"},
		chain(decide))
	root := byID[byID[byID[decide.Parent.SpanID()].Parent.SpanID()].Parent.SpanID()]
	require.Equal(t, trace.SpanKindServer, root.SpanKind)
	require.Equal(t, "telphin", telemetrytest.Attr(root, "callbridge.provider"))
	require.Equal(t, "accepted", telemetrytest.Attr(root, "callbridge.outcome"))
	require.Equal(t, "decided", telemetrytest.Attr(decide, "callbridge.outcome"))

	// The call logged in amoCRM: store call → API call → HTTP attempt.
	var attempt tracetest.SpanStub
	for _, s := range spans {
		if s.Name == "POST" && s.SpanKind == trace.SpanKindClient && telemetrytest.Attr(s, "callbridge.operation") == "POST calls" {
			attempt = s
		}
	}
	require.NotEmpty(t, attempt.Name, "amoCRM's POST calls: %v", telemetrytest.Names(spans))
	path := chain(attempt)
	require.Equal(t, []string{"POST", "amocrm POST calls", "match.store LogCall", "match.Engine decide"}, path[:4])
	require.Equal(t, root.SpanContext.TraceID(), attempt.SpanContext.TraceID(), "one trace")
	require.True(t, strings.HasPrefix(telemetrytest.Attr(attempt, "http.response.status_code"), "2"), "amoCRM took it")

	for _, s := range spans {
		for _, kv := range s.Attributes {
			require.NotContains(t, kv.Value.String(), client[1:], "%s %s: the caller's whole number", s.Name, kv.Key)
			require.NotContains(t, kv.Value.String(), "hook-token", "%s %s", s.Name, kv.Key)
		}
	}
	// The event lines of the call carry its trace: the request's.
	traces := map[string]bool{}
	for _, s := range tr.Named("POST /hooks/telphin/{account}") {
		traces[s.SpanContext.TraceID().String()] = true
	}
	n := 0
	for _, l := range srv.logs.lines(t) {
		if l["msg"] != "event" {
			continue
		}
		n++
		require.True(t, traces[fmt.Sprint(l["trace_id"])], "event line %v", l)
		require.Equal(t, "telphin", l["provider"])
		require.Equal(t, tc.CallID, l["call_id"])
		require.NotEmpty(t, l["account"])
	}
	require.Equal(t, 3, n)
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, the gateway pushes its spans and
// metrics there by OTLP over HTTP (on Close at the latest).
func TestOTLPExport(t *testing.T) { // not parallel: it sets the environment
	var mu sync.Mutex
	got := map[string]int{}
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got[r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_SERVICE_NAME", "crm-test")
	srv := start(t, gateway.Config{})
	code, body := srv.send(t, hookOf(t, "", phonetNow().Dial().Request("/hooks/phonet/call", phonettest.WithToken("hook-token"))))
	require.Equal(t, http.StatusAccepted, code, body)
	waitEvents(t, srv, 1)
	require.NoError(t, srv.stop())
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, got["/v1/traces"], "spans exported: %v", got)
	require.Positive(t, got["/v1/metrics"], "metrics exported: %v", got)
}

// promNames are the Prometheus names of callbridge's metrics (see
// internal/telemetry), as the OpenTelemetry exporter writes them.
var promNames = map[string][]string{
	"callbridge_webhook_requests_total":          nil,
	"callbridge_delivery_duration_seconds":       {"_bucket", "_sum", "_count"},
	"callbridge_delivery_backlog":                nil,
	"callbridge_delivery_dead_letters_total":     nil,
	"callbridge_api_request_duration_seconds":    {"_bucket", "_sum", "_count"},
	"callbridge_api_retries_total":               nil,
	"callbridge_api_rate_limit_wait_seconds":     {"_bucket", "_sum", "_count"},
	"callbridge_oauth_token_refreshes_total":     nil,
	"callbridge_engine_calls_active":             nil,
	"callbridge_engine_decisions_total":          nil,
	"callbridge_engine_clients_created_total":    nil,
	"callbridge_engine_leads_created_total":      nil,
	"callbridge_engine_notifications_total":      nil,
	"callbridge_reconcile_calls_recovered_total": nil,
	"callbridge_dialer_contacts_total":           nil,
	"callbridge_dialer_results_total":            nil,
	"callbridge_dialer_attempts_total":           nil,
}

// The Grafana dashboard queries only metrics the gateway exports, and
// every one of them, from the dashboard's Prometheus data source.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../grafana/callbridge.json")
	require.NoError(t, err)
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr       string            `json:"expr"`
				Datasource map[string]string `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	known := map[string]string{}
	for name, suffixes := range promNames {
		if suffixes == nil {
			known[name] = name
		}
		for _, s := range suffixes {
			known[name+s] = name
		}
	}
	used := map[string]bool{}
	re := regexp.MustCompile(`callbridge_[a-z_]+`)
	labels := regexp.MustCompile(`\{[^}]*\}|by \([^)]*\)`) // selectors and groupings name labels, not metrics
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.Equal(t, "${datasource}", tg.Datasource["uid"], p.Title)
			names := re.FindAllString(labels.ReplaceAllString(tg.Expr, ""), -1)
			require.NotEmpty(t, names, "%s: %s", p.Title, tg.Expr)
			for _, n := range names {
				family, ok := known[n]
				require.True(t, ok, "%s: unknown metric %s", p.Title, n)
				used[family] = true
			}
		}
	}
	for name := range promNames {
		require.True(t, used[name], "no panel shows %s", name)
	}
}
