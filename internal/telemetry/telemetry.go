package telemetry

import (
	"context"
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
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

// Tracer returns callbridge's tracer of tp; nil means the global provider.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName)
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

// noSpan is the type of the span trace.SpanFromContext returns for a
// context without one.
var noSpan = reflect.TypeOf(trace.SpanFromContext(context.Background()))

// Start starts a span beneath the span in ctx, as tr.Start does, unless
// that span records nothing and was not sampled (no SDK is installed, or
// the trace is not sampled): a child would record nothing either, so ctx
// is returned as it is with a span that does nothing, sparing the
// allocations of a span no one sees. The trace id in ctx, which log lines
// carry, is the same either way. Without a span in ctx it starts a root
// span.
func Start(ctx context.Context, tr trace.Tracer, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if p := trace.SpanFromContext(ctx); !p.IsRecording() && !p.SpanContext().IsSampled() && reflect.TypeOf(p) != noSpan {
		return ctx, noop
	}
	return tr.Start(ctx, name, opts...)
}

// noop is a span that does nothing.
var noop = trace.SpanFromContext(context.Background())
