package telemetry

import (
	"context"
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every meter and tracer of
// callbridge.
const ScopeName = "github.com/callbridge/callbridge"

// Attribute keys of callbridge's own dimensions.
const (
	// ProviderKey: "telphin", "megafon", "phonet", "finaz", "amocrm".
	ProviderKey = attribute.Key("callbridge.provider")
	// OperationKey: the API operation of an outbound call ("calls.create").
	OperationKey = attribute.Key("callbridge.operation")
	// EndpointKey: the webhook endpoint (the route pattern it is mounted on,
	// or webhook.WithEndpoint's name).
	EndpointKey = attribute.Key("callbridge.endpoint")
	// OutcomeKey: what became of a request, delivery or decision.
	OutcomeKey = attribute.Key("callbridge.outcome")
	// DeliveryKey: how events reach the sink: "queue" (webhook.Queue) or
	// "inbox" (sqlstore.Inbox).
	DeliveryKey = attribute.Key("callbridge.delivery")
	// StateKey: the state of the events a backlog counts: "pending", "dead".
	StateKey = attribute.Key("callbridge.state")
	// CaseKey: the situation of a decided call ("inbound missed", …).
	CaseKey = attribute.Key("callbridge.case")
	// AccountKey, CallIDKey, EventIDKey, EventKindKey: span attributes
	// naming a call and its event.
	AccountKey   = attribute.Key("callbridge.account")
	CallIDKey    = attribute.Key("callbridge.call_id")
	EventIDKey   = attribute.Key("callbridge.event_id")
	EventKindKey = attribute.Key("callbridge.event.kind")
	// EventsKey: how many events a webhook request carried.
	EventsKey = attribute.Key("callbridge.events")
	// ClientPhoneKey: the caller's number, masked (MaskPhone) unless the
	// user opted in.
	ClientPhoneKey = attribute.Key("callbridge.client_phone")
	// ClientIDKey and LeadIDKey: the CRM records a decision used.
	ClientIDKey = attribute.Key("callbridge.client_id")
	LeadIDKey   = attribute.Key("callbridge.lead_id")
	// GrantKey: the OAuth grant of a token request.
	GrantKey = attribute.Key("callbridge.oauth.grant")
	// WaitKey: why an outbound call waited: "client" (the client-side
	// rate limit) or "server" (a 429's Retry-After).
	WaitKey = attribute.Key("callbridge.wait")
	// ReconcilerKey: a reconciler's name ("telphin/12345").
	ReconcilerKey = attribute.Key("callbridge.reconciler")
	// StoreOperationKey: the store method a store span is about.
	StoreOperationKey = attribute.Key("callbridge.store.operation")
	// AttemptsKey: deliveries of an event so far.
	AttemptsKey = attribute.Key("callbridge.attempts")
)

// Attribute keys of the OpenTelemetry semantic conventions.
const (
	HTTPMethodKey     = attribute.Key("http.request.method")
	HTTPStatusKey     = attribute.Key("http.response.status_code")
	HTTPRouteKey      = attribute.Key("http.route")
	HTTPResendKey     = attribute.Key("http.request.resend_count")
	ServerAddressKey  = attribute.Key("server.address")
	ServerPortKey     = attribute.Key("server.port")
	URLFullKey        = attribute.Key("url.full")
	ErrorTypeKey      = attribute.Key("error.type")
	ErrorTypeOther    = "_OTHER"
	ErrorTypeTimeout  = "timeout"
	ErrorTypeCanceled = "canceled"
)

// Metric names (see the package doc for their Prometheus form).
const (
	MetricWebhookRequests  = "callbridge.webhook.requests"
	MetricDeliveryDuration = "callbridge.delivery.duration"
	MetricDeliveryBacklog  = "callbridge.delivery.backlog"
	MetricDeadLetters      = "callbridge.delivery.dead_letters"
	MetricAPIDuration      = "callbridge.api.request.duration"
	MetricAPIRetries       = "callbridge.api.retries"
	MetricRateLimitWait    = "callbridge.api.rate_limit.wait"
	MetricTokenRefreshes   = "callbridge.oauth.token.refreshes"
	MetricCallsActive      = "callbridge.engine.calls.active"
	MetricDecisions        = "callbridge.engine.decisions"
	MetricClientsCreated   = "callbridge.engine.clients.created"
	MetricLeadsCreated     = "callbridge.engine.leads.created"
	MetricNotifications    = "callbridge.engine.notifications"
	MetricCallsRecovered   = "callbridge.reconcile.calls.recovered"
	MetricDialerContacts   = "callbridge.dialer.contacts"
	MetricDialerResults    = "callbridge.dialer.results"
	MetricDialerAttempts   = "callbridge.dialer.attempts"
)

// Outcomes (OutcomeKey values).
const (
	// Webhook requests.
	OutcomeAccepted     = "accepted"
	OutcomeDuplicate    = "duplicate"
	OutcomeUnauthorized = "unauthorized"
	OutcomeBadRequest   = "bad_request"
	OutcomeTooLarge     = "too_large"
	OutcomeUnavailable  = "unavailable"
	OutcomeSinkError    = "sink_error"
	// Deliveries.
	OutcomeDelivered  = "delivered"
	OutcomeDeadLetter = "dead_letter"
	// Decisions.
	OutcomeDecided = "decided"
	OutcomeIgnored = "ignored"
	OutcomeFailed  = "failed"
	// Notifications, token requests, dialer uploads.
	OutcomeSent         = "sent"
	OutcomeOK           = "ok"
	OutcomeError        = "error"
	OutcomeInvalidGrant = "invalid_grant"
	OutcomeUploaded     = "uploaded"
)

// Deliveries (DeliveryKey values).
const (
	DeliveryQueue = "queue"
	DeliveryInbox = "inbox"
)

// Bucket boundaries (seconds) of the duration histograms: those the HTTP
// semantic conventions advise, and for deliveries, which retry with
// backoff, up to five minutes.
var (
	DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	DeliveryBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
	WaitBuckets     = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
)

// Meter returns callbridge's meter of mp; nil means the global provider.
func Meter(mp metric.MeterProvider) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(ScopeName)
}

// NewTracer returns callbridge's tracer of tp; nil (or
// otel.GetTracerProvider() before any was installed) means the global
// provider.
func NewTracer(tp trace.TracerProvider) Tracer {
	if tp == nil || tp == unset {
		return Tracer{tr: otel.GetTracerProvider().Tracer(ScopeName), global: true}
	}
	_, off := tp.(tracenoop.TracerProvider)
	return Tracer{tr: tp.Tracer(ScopeName), off: off}
}

// handle reports an instrument that could not be created to the global
// error handler (the API still returns a working no-op instrument).
func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// counter creates an Int64Counter.
func counter(m metric.Meter, name, unit, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	handle(err)
	return c
}

// histogram creates a Float64Histogram in seconds with bounds.
func histogram(m metric.Meter, name, desc string, bounds []float64) metric.Float64Histogram {
	h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(bounds...))
	handle(err)
	return h
}

// Attrs is metric.WithAttributeSet of kvs: the measurement option of a set
// of attributes.
func Attrs(kvs ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(kvs...))
}

// Waits (WaitKey values).
const (
	WaitClient = "client"
	WaitServer = "server"
)

// Tracer starts callbridge's spans, sparing the allocations of those no
// one would see: with no provider installed, with the no-op provider, and
// beneath a span that is not recorded.
type Tracer struct {
	tr     trace.Tracer
	global bool // tr is the global provider's: it records once a program installs one
	off    bool // tr is the no-op provider's
}

// Start starts a span as trace.Tracer's Start does, unless no span would
// record it: when no provider is installed (the global one is still
// OpenTelemetry's default), the provider is the no-op one, or the span in
// ctx records nothing and was not sampled (a child would record nothing
// either). Then ctx is returned as it is with a span that does nothing. The
// trace id in ctx, which log lines carry, is the same either way. Without a
// span in ctx it starts a root span.
func (t Tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if t.off || t.global && !installed() {
		return ctx, noop
	}
	if p := trace.SpanFromContext(ctx); !p.IsRecording() && !p.SpanContext().IsSampled() && reflect.TypeOf(p) != noSpan {
		return ctx, noop
	}
	return t.tr.Start(ctx, name, opts...)
}

// unset is OpenTelemetry's default global tracer provider, which forwards
// to the first one a program installs (otel.SetTracerProvider) and until
// then records nothing; nil if another was installed before this package
// was initialized, or the default is not the one this package knows.
var unset = func() trace.TracerProvider {
	tp := otel.GetTracerProvider()
	if t := reflect.TypeOf(tp); t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global" {
		return tp
	}
	return nil
}()

// installed reports whether a program installed a global tracer provider.
func installed() bool {
	return unset == nil || otel.GetTracerProvider() != unset
}

// noSpan is the type of the span trace.SpanFromContext returns for a
// context without one.
var noSpan = reflect.TypeOf(trace.SpanFromContext(context.Background()))

// noop is a span that does nothing.
var noop = trace.SpanFromContext(context.Background())
