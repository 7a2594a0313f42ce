package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/internal/telemetry"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/webhook"
)

// ServiceName is the gateway's service.name in its metrics and traces,
// unless OTEL_SERVICE_NAME says otherwise.
const ServiceName = "callbridge-gateway"

// telemetryShutdownTimeout bounds the last export of metrics and spans at
// Close.
const telemetryShutdownTimeout = 5 * time.Second

// observability is the gateway's OpenTelemetry SDK: the meter provider
// every package of the SDK records to, read by the Prometheus exporter
// (GET /metrics) and, when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) is set, pushed by OTLP over HTTP;
// and the tracer provider, exporting by OTLP over HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) is set. Without an
// exporter spans are not recorded, but they still have ids, which the log
// lines carry (trace_id), so the lines of one call can be found together.
// Config.MeterProvider and Config.TracerProvider replace both.
type observability struct {
	mp       metric.MeterProvider
	tp       trace.TracerProvider
	metrics  http.Handler // GET /metrics
	shutdown []func(context.Context) error
	hooks    *telemetry.Webhook // the requests the intake refuses
}

// newObservability builds the SDK of cfg; env reads the OTEL_ variables.
func newObservability(cfg Config, env func(string) string) (*observability, error) {
	o := &observability{mp: cfg.MeterProvider, tp: cfg.TracerProvider}
	ctx := context.Background()
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", ServiceName)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	reg := prometheus.NewRegistry()
	o.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if o.mp == nil {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		prom, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
		}
		opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(prom)}
		if otlpSet(env, "METRICS") {
			exp, err := otlpmetrichttp.New(ctx)
			if err != nil {
				return nil, fmt.Errorf("telemetry: OTLP metrics exporter: %w", err)
			}
			opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		}
		mp := sdkmetric.NewMeterProvider(opts...)
		o.mp, o.shutdown = mp, append(o.shutdown, mp.Shutdown)
	}
	if o.tp == nil {
		opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
		if otlpSet(env, "TRACES") {
			exp, err := otlptracehttp.New(ctx)
			if err != nil {
				return nil, fmt.Errorf("telemetry: OTLP trace exporter: %w", err)
			}
			// The sampler follows OTEL_TRACES_SAMPLER (default: every
			// trace).
			opts = append(opts, sdktrace.WithBatcher(exp))
		} else {
			opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
		}
		tp := sdktrace.NewTracerProvider(opts...)
		o.tp, o.shutdown = tp, append(o.shutdown, tp.Shutdown)
	}
	o.hooks = telemetry.NewWebhook(o.mp, o.tp)
	return o, nil
}

// reached notes, on the statusWriter of counted that the intake passes
// on, that a request got past the intake (token, bodies in flight) to h,
// a provider's handler, which counts it itself.
func reached(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sw, ok := w.(*statusWriter); ok {
			sw.reached = true
		}
		h.ServeHTTP(w, r)
	})
}

// refused counts on callbridge.webhook.requests, as the provider's
// handler would have, a webhook request the gateway's intake answered
// with status before the handler: a wrong ?token= (unauthorized) or too
// many bodies in flight (unavailable).
func (o *observability) refused(r *http.Request, provider string, status int) {
	outcome := telemetry.OutcomeUnavailable
	if status == http.StatusUnauthorized {
		outcome = telemetry.OutcomeUnauthorized
	}
	o.hooks.Request(provider, r.Pattern, outcome)
}

// otlpSet reports whether OTLP export of signal ("TRACES", "METRICS") is
// configured: OTEL_EXPORTER_OTLP_ENDPOINT or its per-signal variable.
func otlpSet(env func(string) string, signal string) bool {
	return strings.TrimSpace(env("OTEL_EXPORTER_OTLP_ENDPOINT")) != "" ||
		strings.TrimSpace(env("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT")) != ""
}

// close exports what is left and stops the SDK.
func (o *observability) close() {
	ctx, cancel := context.WithTimeout(context.Background(), telemetryShutdownTimeout)
	defer cancel()
	for _, f := range o.shutdown {
		_ = f(ctx) // an unreachable collector must not fail the shutdown
	}
}

// clientOpts are the options of every provider client the gateway builds:
// its logger and telemetry.
func (g *Gateway) clientOpts(more ...callbridge.ClientOption) []callbridge.ClientOption {
	return append([]callbridge.ClientOption{callbridge.WithLogger(g.log),
		callbridge.WithMeterProvider(g.obs.mp), callbridge.WithTracerProvider(g.obs.tp)}, more...)
}

// hookOpts are the telemetry options of the webhook handlers.
func (g *Gateway) hookOpts() []webhook.Option {
	return []webhook.Option{webhook.WithMeterProvider(g.obs.mp), webhook.WithTracerProvider(g.obs.tp)}
}

// engineOpts are the telemetry options of the engine.
func (g *Gateway) engineOpts() []match.Option {
	return []match.Option{match.WithMeterProvider(g.obs.mp), match.WithTracerProvider(g.obs.tp)}
}

// serveMetrics answers GET /metrics in the Prometheus text format.
func (g *Gateway) serveMetrics(w http.ResponseWriter, r *http.Request) { g.obs.metrics.ServeHTTP(w, r) }

// MetricsHandler is GET /metrics without the API token, for
// Config.MetricsAddr.
func (g *Gateway) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", g.serveMetrics)
	return mux
}

// listenMetrics serves MetricsHandler on Config.MetricsAddr, if set,
// until ctx is done.
func (g *Gateway) listenMetrics(ctx context.Context) error {
	if g.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", g.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("-metrics-addr: %w", err)
	}
	srv := &http.Server{Handler: g.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("metrics listener failed", "addr", ln.Addr().String(), "error", err)
		}
	}()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	g.log.Info("metrics listening", "addr", ln.Addr().String())
	return nil
}

// newLoggers returns the event logger (one line per delivered event, at
// info whatever the level) and the diagnostic logger (Config.LogLevel),
// both slog JSON with the trace_id and span_id of the context they are
// given.
func newLoggers(cfg Config, logOut io.Writer) (events, diag *slog.Logger) {
	eh := slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: min(cfg.LogLevel, slog.LevelInfo)})
	events = slog.New(traceHandler{eh, slog.LevelInfo})
	dh := eh // one handler, so lines to one writer never interleave
	if cfg.DiagOut != nil {
		dh = slog.NewJSONHandler(cfg.DiagOut, &slog.HandlerOptions{Level: cfg.LogLevel})
	}
	return events, slog.New(traceHandler{dh, cfg.LogLevel})
}

// traceHandler adds the trace_id and span_id of the record's context to
// every line, and drops lines below its level.
type traceHandler struct {
	h     slog.Handler
	level slog.Level
}

// Enabled implements slog.Handler.
func (t traceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= t.level && t.h.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (t traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return t.h.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (t traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{t.h.WithAttrs(as), t.level}
}

// WithGroup implements slog.Handler.
func (t traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{t.h.WithGroup(name), t.level}
}

// parseLogLevel reads debug, info, warn or error.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
}

// osEnv is the process environment, where the OpenTelemetry exporters
// read their OTEL_ variables.
func osEnv(k string) string { return os.Getenv(k) }
