package telemetry

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
)

// API is the telemetry of outbound API calls (internal/httpx and
// internal/oauth): a span per call and per attempt, and these metrics.
type API struct {
	Tracer Tracer
	// Duration (callbridge.api.request.duration, s): one call, retries
	// included, by provider, operation, http.response.status_code and
	// error.type; its count is the calls by status.
	Duration metric.Float64Histogram
	// Retries (callbridge.api.retries, {retry}): attempts after the
	// first, by provider, operation and the status (or error.type)
	// retried.
	Retries metric.Int64Counter
	// Wait (callbridge.api.rate_limit.wait, s): time spent waiting for
	// a rate limit, by provider, operation and callbridge.wait
	// ("client": the client-side limiter; "server": a 429's
	// Retry-After).
	Wait metric.Float64Histogram
	// TokenRefreshes (callbridge.oauth.token.refreshes, {request}):
	// token requests by provider, callbridge.oauth.grant and outcome
	// ("ok", "invalid_grant", "error").
	TokenRefreshes metric.Int64Counter
}

var globalAPI = sync.OnceValue(func() *API { return newAPI(nil, nil) })

// NewAPI returns the API instruments of mp and tp (nil: the global
// providers; those instruments are made once per process, so ten thousand
// tenant clients share them).
func NewAPI(mp metric.MeterProvider, tp trace.TracerProvider) *API {
	if mp == nil && tp == nil {
		return globalAPI()
	}
	return newAPI(mp, tp)
}

func newAPI(mp metric.MeterProvider, tp trace.TracerProvider) *API {
	m := Meter(mp)
	return &API{
		Tracer:         NewTracer(tp),
		Duration:       histogram(m, MetricAPIDuration, "Duration of outbound API calls, retries included.", DurationBuckets),
		Retries:        counter(m, MetricAPIRetries, "{retry}", "Outbound API attempts after the first."),
		Wait:           histogram(m, MetricRateLimitWait, "Time outbound API calls waited for a rate limit.", WaitBuckets),
		TokenRefreshes: counter(m, MetricTokenRefreshes, "{request}", "OAuth token requests (refreshes and first tokens) by outcome."),
	}
}

// Webhook is the telemetry of webhook handlers.
type Webhook struct {
	Tracer Tracer
	// The requests (callbridge.webhook.requests, {request}) by provider,
	// endpoint and outcome, counted here and observed at each collection
	// (an asynchronous counter). A synchronous counter's measurement
	// (normalizing its attributes, offering an exemplar) costs a tenth
	// of a webhook request; this costs a comparison and an atomic add.
	// Handlers each observe their own counts: the SDK sums the
	// observations of one attribute set.
	routes sync.Map              // [2]string{provider, endpoint} → *route
	last   atomic.Pointer[route] // the route counted last
}

// webhookOutcomes are the outcomes of webhook requests (Webhook.Request).
var webhookOutcomes = [...]string{OutcomeAccepted, OutcomeDuplicate, OutcomeUnauthorized, OutcomeBadRequest,
	OutcomeTooLarge, OutcomeUnavailable, OutcomeSinkError}

// route is the request counts of a provider's endpoint, by outcome (as
// webhookOutcomes), with their attribute sets.
type route struct {
	provider, endpoint string
	counts             [len(webhookOutcomes)]atomic.Int64
	attrs              [len(webhookOutcomes)]metric.ObserveOption
}

// newRoute makes the counts of provider's endpoint.
func newRoute(provider, endpoint string) *route {
	r := &route{provider: provider, endpoint: endpoint}
	for i, o := range webhookOutcomes {
		r.attrs[i] = metric.WithAttributeSet(attribute.NewSet(ProviderKey.String(provider), EndpointKey.String(endpoint),
			OutcomeKey.String(o)))
	}
	return r
}

// NewWebhook returns the webhook instruments of mp and tp.
func NewWebhook(mp metric.MeterProvider, tp trace.TracerProvider) *Webhook {
	w := &Webhook{Tracer: NewTracer(tp)}
	m := Meter(mp)
	c, err := m.Int64ObservableCounter(MetricWebhookRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Webhook requests by provider, endpoint and outcome."))
	handle(err)
	// A callback of its own: the SDK gives every handler the same
	// instrument, and keeps only the first one's WithInt64Callback.
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		w.routes.Range(func(_, v any) bool {
			r := v.(*route)
			for i := range r.counts {
				if n := r.counts[i].Load(); n > 0 {
					o.ObserveInt64(c, n, r.attrs[i])
				}
			}
			return true
		})
		return nil
	}, c)
	handle(err)
	return w
}

// Request counts a webhook request of provider at endpoint with outcome,
// one of webhookOutcomes (another is not counted: the handlers' tests
// count every outcome). Endpoints must be few (route patterns, never
// paths).
func (w *Webhook) Request(provider, endpoint, outcome string) {
	i := slices.Index(webhookOutcomes[:], outcome)
	if i < 0 {
		return
	}
	r := w.last.Load()
	if r == nil || r.provider != provider || r.endpoint != endpoint {
		k := [2]string{provider, endpoint}
		v, ok := w.routes.Load(k)
		if !ok {
			v, _ = w.routes.LoadOrStore(k, newRoute(provider, endpoint))
		}
		r = v.(*route)
		w.last.Store(r)
	}
	r.counts[i].Add(1)
}

// Delivery is the telemetry of a delivery queue (webhook.Queue,
// sqlstore.Inbox).
type Delivery struct {
	Tracer Tracer
	Meter  metric.Meter
	// Duration (callbridge.delivery.duration, s): from the arrival of an
	// event to the sink's done (or the dead letter), by provider,
	// delivery and outcome ("delivered", "dead_letter").
	Duration metric.Float64Histogram
	// DeadLetters (callbridge.delivery.dead_letters, {event}): events
	// given up on, by provider and delivery.
	DeadLetters metric.Int64Counter
	// Backlog (callbridge.delivery.backlog, {event}): events waiting,
	// by delivery and state ("pending"; the inbox also "dead"). Observed
	// by the queue's callback.
	Backlog metric.Int64ObservableGauge

	attrs AttrCache[[3]string] // of Duration and DeadLetters: provider, delivery, outcome
}

// NewDelivery returns the delivery instruments of mp and tp.
func NewDelivery(mp metric.MeterProvider, tp trace.TracerProvider) *Delivery {
	m := Meter(mp)
	g, err := m.Int64ObservableGauge(MetricDeliveryBacklog, metric.WithUnit("{event}"),
		metric.WithDescription("Events acknowledged to a provider and not yet delivered (pending), or given up on (dead)."))
	handle(err)
	return &Delivery{
		Tracer:      NewTracer(tp),
		Meter:       m,
		Duration:    histogram(m, MetricDeliveryDuration, "Time from an event's arrival to its delivery to the sink.", DeliveryBuckets),
		DeadLetters: counter(m, MetricDeadLetters, "{event}", "Events whose delivery was given up (dead letters)."),
		Backlog:     g,
	}
}

// Engine is the telemetry of match.Engine.
type Engine struct {
	Tracer Tracer
	Meter  metric.Meter
	// Active (callbridge.engine.calls.active, {call}): calls in progress
	// (not decided yet). Observed by the engine's callback.
	Active metric.Int64ObservableGauge
	// Decisions (callbridge.engine.decisions, {decision}): by provider,
	// case and outcome ("decided", "ignored", "failed").
	Decisions metric.Int64Counter
	// ClientsCreated and LeadsCreated ({client}, {lead}): by provider.
	ClientsCreated metric.Int64Counter
	LeadsCreated   metric.Int64Counter
	// Notifications (callbridge.engine.notifications, {notification}):
	// by outcome ("sent", "failed").
	Notifications metric.Int64Counter
}

// NewEngine returns the engine instruments of mp and tp.
func NewEngine(mp metric.MeterProvider, tp trace.TracerProvider) *Engine {
	m := Meter(mp)
	g, err := m.Int64ObservableGauge(MetricCallsActive, metric.WithUnit("{call}"),
		metric.WithDescription("Calls in progress: events received, not decided yet."))
	handle(err)
	return &Engine{
		Tracer:         NewTracer(tp),
		Meter:          m,
		Active:         g,
		Decisions:      counter(m, MetricDecisions, "{decision}", "Calls decided by the rules, by case and outcome."),
		ClientsCreated: counter(m, MetricClientsCreated, "{client}", "Clients created for unknown numbers."),
		LeadsCreated:   counter(m, MetricLeadsCreated, "{lead}", "Leads created for calls."),
		Notifications:  counter(m, MetricNotifications, "{notification}", "Notifications to employees by outcome."),
	}
}

// Reconcile is the telemetry of reconcile.Reconciler.
type Reconcile struct {
	Tracer Tracer
	// Recovered (callbridge.reconcile.calls.recovered, {call}): calls
	// found in a provider's history and missing from the CRM, by
	// reconciler.
	Recovered metric.Int64Counter
}

// NewReconcile returns the reconciler instruments of mp and tp.
func NewReconcile(mp metric.MeterProvider, tp trace.TracerProvider) *Reconcile {
	return &Reconcile{
		Tracer:    NewTracer(tp),
		Recovered: counter(Meter(mp), MetricCallsRecovered, "{call}", "Calls recovered from a provider's history (their webhooks were lost)."),
	}
}

// Dialer is the telemetry of a power dialer: package dialer's campaigns
// and a remote one's (finaz).
type Dialer struct {
	// Attempts (callbridge.dialer.attempts, {call}): calls of campaigns
	// ended, by provider and outcome (answered, busy, no_answer, failed,
	// invalid, skipped, unknown).
	Attempts metric.Int64Counter
	// Contacts (callbridge.dialer.contacts, {contact}): contacts handed
	// to the dialer, by provider and outcome ("uploaded", "failed").
	Contacts metric.Int64Counter
	// Results (callbridge.dialer.results, {result}): contacts the dialer
	// reported back as worked, by provider.
	Results metric.Int64Counter
}

// NewDialer returns the dialer instruments of mp.
func NewDialer(mp metric.MeterProvider) *Dialer {
	m := Meter(mp)
	return &Dialer{
		Contacts: counter(m, MetricDialerContacts, "{contact}", "Contacts uploaded to a power dialer, by outcome."),
		Results:  counter(m, MetricDialerResults, "{result}", "Contacts a power dialer reported as worked."),
		Attempts: counter(m, MetricDialerAttempts, "{call}", "Calls of dialer campaigns ended, by outcome."),
	}
}

// AttrCache keeps the measurement options of each attribute set a hot
// path records with, so that a request builds them once, not every time.
// Keys must be few (route patterns × outcomes, never ids).
type AttrCache[K comparable] struct{ m sync.Map }

// Options are the measurement options of one attribute set, kept as the
// slices Add and Record take, so that passing them allocates nothing.
type Options struct {
	Add    []metric.AddOption
	Record []metric.RecordOption
}

// Get returns the options of k, building them with kvs on first use.
func (c *AttrCache[K]) Get(k K, kvs func() []attribute.KeyValue) *Options {
	if o, ok := c.m.Load(k); ok {
		return o.(*Options)
	}
	o := Attrs(kvs()...)
	v, _ := c.m.LoadOrStore(k, &Options{Add: []metric.AddOption{o}, Record: []metric.RecordOption{o}})
	return v.(*Options)
}

// Delivered records the end of an event's delivery (err nil) or its dead
// letter (err set) after attempts: the latency since arrived, the dead
// letter count, and the span's attributes.
func (d *Delivery) Delivered(ctx context.Context, span trace.Span, e callevent.Event, delivery string, arrived time.Time, attempts int, err error) {
	outcome := OutcomeDelivered
	if err != nil {
		outcome = OutcomeDeadLetter
	}
	if span.IsRecording() {
		span.SetAttributes(ProviderKey.String(e.Provider), AccountKey.String(e.Account), CallIDKey.String(e.CallID),
			EventIDKey.String(e.ID), EventKindKey.String(e.Kind.String()), DeliveryKey.String(delivery),
			OutcomeKey.String(outcome), AttemptsKey.Int(attempts))
	}
	if d.Duration.Enabled(ctx) {
		d.Duration.Record(ctx, time.Since(arrived).Seconds(), d.attrs.Get([3]string{e.Provider, delivery, outcome}, func() []attribute.KeyValue {
			return []attribute.KeyValue{ProviderKey.String(e.Provider), DeliveryKey.String(delivery), OutcomeKey.String(outcome)}
		}).Record...)
	}
	if err != nil && d.DeadLetters.Enabled(ctx) {
		d.DeadLetters.Add(ctx, 1, d.attrs.Get([3]string{e.Provider, delivery, ""}, func() []attribute.KeyValue {
			return []attribute.KeyValue{ProviderKey.String(e.Provider), DeliveryKey.String(delivery)}
		}).Add...)
	}
}
