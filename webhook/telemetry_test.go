package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
	"github.com/callbridge/callbridge/webhook"
)

// switchSink fails as told: with an error, ErrUnavailable, or not at all.
type switchSink struct {
	mu  sync.Mutex
	err error
}

func (s *switchSink) set(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

func (s *switchSink) HandleEvent(context.Context, callevent.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Every outcome of a webhook request is counted once, under the
// provider, the endpoint (the route pattern, or WithEndpoint) and the
// outcome.
func TestHandlerCountsOutcomes(t *testing.T) {
	t.Parallel()
	m := telemetrytest.NewMetrics(t)
	sink := &switchSink{}
	h := newHandler(t, sink, webhook.ForProvider("toy"), webhook.WithMeterProvider(m.Provider), webhook.WithMaxBodyBytes(256))
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/toy", h)
	named := newHandler(t, sink, webhook.ForProvider("toy"), webhook.WithMeterProvider(m.Provider), webhook.WithEndpoint("events"))
	twin := newHandler(t, sink, webhook.ForProvider("toy"), webhook.WithMeterProvider(m.Provider), webhook.WithEndpoint("events"))

	send := func(h http.Handler, query, body string) int {
		r := httptest.NewRequest(http.MethodPost, "/hooks/toy?"+query, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	tok := "token=" + secret
	require.Equal(t, 200, send(mux, tok, "id=a1&call=c1"))
	require.Equal(t, 200, send(mux, tok, "id=a2&call=c1"))
	require.Equal(t, 200, send(mux, tok, "id=a1&call=c1"), "a redelivery")
	require.Equal(t, 401, send(mux, "token=wrong", "id=a3&call=c1"))
	require.Equal(t, 400, send(mux, tok, "call=c1"))
	require.Equal(t, 413, send(mux, tok, "id=a4&call=c1&pad="+strings.Repeat("x", 300)))
	sink.set(webhook.ErrUnavailable)
	require.Equal(t, 503, send(mux, tok, "id=a5&call=c1"))
	sink.set(errors.New("crm down"))
	require.Equal(t, 500, send(mux, tok, "id=a6&call=c1"))
	require.Equal(t, 500, send(mux, tok, "id=a7&call=c1"))
	sink.set(nil)
	require.Equal(t, 200, send(named, tok, "id=b1&call=c2"))
	require.Equal(t, 200, send(twin, tok, "id=b2&call=c2"))

	const name = "callbridge.webhook.requests"
	for outcome, want := range map[string]float64{"accepted": 2, "duplicate": 1, "unauthorized": 1, "bad_request": 1,
		"too_large": 1, "unavailable": 1, "sink_error": 2} {
		require.Equal(t, want, m.Value(t, name, "callbridge.provider=toy", "callbridge.endpoint=POST /hooks/toy", "callbridge.outcome="+outcome),
			"%s:\n%s", outcome, m.Dump(t, name))
	}
	for range 2 { // counts are cumulative; two handlers' counts of one series add up
		require.Equal(t, 2.0, m.Value(t, name, "callbridge.provider=toy", "callbridge.endpoint=events", "callbridge.outcome=accepted"))
	}
	require.Len(t, m.Points(t, name), 8, "no other series: %s", m.Dump(t, name))
}

// A request's span names its route, provider, endpoint and outcome, and
// the caller's number with its last four digits only, unless
// WithUnmaskedPhones; the sink runs beneath it.
func TestHandlerSpan(t *testing.T) {
	t.Parallel()
	tr := telemetrytest.NewTraces(t)
	var sinkSpans []trace.SpanContext // the handler calls the sink synchronously
	sink := callevent.SinkFunc(func(ctx context.Context, _ callevent.Event) error {
		sinkSpans = append(sinkSpans, trace.SpanContextFromContext(ctx))
		return nil
	})
	masked := newHandler(t, sink, webhook.ForProvider("toy"), webhook.WithTracerProvider(tr.Provider))
	full := newHandler(t, sink, webhook.ForProvider("toy"), webhook.WithTracerProvider(tr.Provider), webhook.WithUnmaskedPhones())
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/{account}", masked)
	mux.Handle("POST /full", full)

	body := url.Values{"id": {"e1"}, "call": {"c1"}, "phone": {"79161234567"}}.Encode()
	for _, path := range []string{"/hooks/acme", "/full"} {
		r := httptest.NewRequest(http.MethodPost, path+"?token="+secret, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		require.Equal(t, 200, w.Code)
	}
	spans := tr.Spans()
	require.Len(t, spans, 2)
	s := spans[0]
	require.Equal(t, "POST /hooks/{account}", s.Name)
	require.Equal(t, trace.SpanKindServer, s.SpanKind)
	require.Equal(t, s.SpanContext, sinkSpans[0], "the sink runs beneath the request's span")
	for key, want := range map[string]string{"callbridge.provider": "toy", "callbridge.endpoint": "POST /hooks/{account}",
		"callbridge.outcome": "accepted", "http.route": "/hooks/{account}", "http.response.status_code": "200",
		"callbridge.call_id": "c1", "callbridge.events": "1", "callbridge.client_phone": "*******4567"} {
		require.Equal(t, want, telemetrytest.Attr(s, key), key)
	}
	for _, kv := range s.Attributes {
		require.NotContains(t, kv.Value.String(), secret, "no attribute carries the token")
		require.NotContains(t, kv.Value.String(), "79161234567", "no attribute carries the whole number")
	}
	require.Equal(t, "79161234567", telemetrytest.Attr(spans[1], "callbridge.client_phone"), "WithUnmaskedPhones")
}

// A Queue records each event's latency from the request's arrival to the
// sink's done, its dead letters and its backlog, and delivers beneath the
// request's span.
func TestQueueTelemetry(t *testing.T) {
	t.Parallel()
	m := telemetrytest.NewMetrics(t)
	tr := telemetrytest.NewTraces(t)
	release, started := make(chan struct{}), make(chan struct{}, 8)
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		started <- struct{}{}
		<-release
		if e.ID == "bad" {
			return errors.New("refused")
		}
		return nil
	})
	dead := make(chan string, 1)
	q, err := webhook.NewQueue(sink, webhook.QueueConfig{Workers: 1, MaxAttempts: 2, Backoff: func(int) time.Duration { return 0 },
		MeterProvider: m.Provider, TracerProvider: tr.Provider,
		DeadLetter: func(_ context.Context, e callevent.Event, _ error) { dead <- e.ID }})
	require.NoError(t, err)
	h := newHandler(t, q, webhook.ForProvider("toy"), webhook.WithTracerProvider(tr.Provider))
	for _, id := range []string{"ok", "bad", "later"} {
		require.Equal(t, http.StatusAccepted, post(h, "token="+secret, url.Values{"id": {id}, "call": {"c-" + id}}).Code)
	}
	<-started // the worker holds "ok"; the two others wait
	require.Equal(t, 2.0, m.Value(t, "callbridge.delivery.backlog", "callbridge.delivery=queue", "callbridge.state=pending"))
	close(release)
	require.Equal(t, "bad", <-dead)
	require.NoError(t, q.Close(t.Context()))

	require.Equal(t, uint64(2), m.Count(t, "callbridge.delivery.duration", "callbridge.provider=toy",
		"callbridge.delivery=queue", "callbridge.outcome=delivered"), m.Dump(t, "callbridge.delivery.duration"))
	require.Equal(t, uint64(1), m.Count(t, "callbridge.delivery.duration", "callbridge.provider=toy",
		"callbridge.delivery=queue", "callbridge.outcome=dead_letter"))
	require.Equal(t, 1.0, m.Value(t, "callbridge.delivery.dead_letters", "callbridge.provider=toy", "callbridge.delivery=queue"))

	deliveries := tr.Named("webhook.Queue deliver")
	require.Len(t, deliveries, 3)
	requests := tr.Named("POST")
	require.Len(t, requests, 3)
	parents := map[trace.SpanID]bool{}
	for _, r := range requests {
		parents[r.SpanContext.SpanID()] = true
	}
	for _, d := range deliveries {
		require.True(t, parents[d.Parent.SpanID()], "a delivery is a child of its request's span")
	}
}

// BenchmarkHandlerTelemetry is BenchmarkHandler with each telemetry
// setting: the global providers left unset (what a program that installs
// none gets), explicit no-op providers, the metrics SDK with a manual
// reader, and metrics and sampled traces (spans recorded, not exported).
func BenchmarkHandlerTelemetry(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts func(b *testing.B) []webhook.Option
	}{
		{"global", func(*testing.B) []webhook.Option { return nil }},
		{"noop", func(*testing.B) []webhook.Option {
			return []webhook.Option{webhook.WithMeterProvider(metricnoop.NewMeterProvider()), webhook.WithTracerProvider(tracenoop.NewTracerProvider())}
		}},
		{"sdk-metrics", func(b *testing.B) []webhook.Option {
			return []webhook.Option{webhook.WithMeterProvider(telemetrytest.NewMetrics(b).Provider)}
		}},
		{"sdk-metrics-traces", func(b *testing.B) []webhook.Option {
			return []webhook.Option{webhook.WithMeterProvider(telemetrytest.NewMetrics(b).Provider),
				webhook.WithTracerProvider(sdktrace.NewTracerProvider())}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) { benchHandler(b, tc.opts(b)...) })
	}
}
