package webhook

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry"
)

// WithMeterProvider sets where the handler's metrics go: requests by
// provider, endpoint and outcome (callbridge.webhook.requests; outcomes
// accepted, duplicate, unauthorized, bad_request, too_large, unavailable,
// sink_error). Default: the global provider, a no-op until the program
// sets one (otel.SetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(h *Handler) error {
		if mp == nil {
			return errors.New("webhook: WithMeterProvider: nil meter provider")
		}
		h.mp = mp
		return nil
	}
}

// WithTracerProvider sets where the handler's spans go: one per request
// (server kind, or internal beneath a span already in the request's
// context), named by the method and route, with the provider, endpoint,
// outcome, status, the events' count and the first event's call id and
// phone number (masked, see WithUnmaskedPhones). The sink runs beneath it,
// also from a Queue. Default: the global provider, a no-op until the
// program sets one (otel.SetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(h *Handler) error {
		if tp == nil {
			return errors.New("webhook: WithTracerProvider: nil tracer provider")
		}
		h.tp = tp
		return nil
	}
}

// WithEndpoint names the endpoint in metrics and spans
// (callbridge.endpoint). Default: the route pattern the request matched on
// a ServeMux (Request.Pattern, "POST /hooks/telphin/{account}"), else
// "default". Never name it by the request's path, which may carry a token.
func WithEndpoint(name string) Option {
	return func(h *Handler) error {
		if strings.TrimSpace(name) == "" {
			return errors.New("webhook: WithEndpoint: empty name")
		}
		h.endpoint = name
		return nil
	}
}

// WithUnmaskedPhones puts whole phone numbers in span attributes. By
// default a number shows its last four digits only ("*******4567").
func WithUnmaskedPhones() Option {
	return func(h *Handler) error { h.fullPhones = true; return nil }
}

// defaultEndpoint is the endpoint of a request served without a route
// pattern and without WithEndpoint.
const defaultEndpoint = "default"

// initTelemetry makes the handler's instruments once the options ran.
func (h *Handler) initTelemetry() {
	h.tel = telemetry.NewWebhook(h.mp, h.tp)
	h.serverSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	h.innerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
}

// requestInfo is what serve learned of a request, for its span and count.
type requestInfo struct {
	events, delivered int
	first             *callevent.Event // the first event, if any
}

// startSpan starts the request's span.
func (h *Handler) startSpan(r *http.Request) (context.Context, trace.Span) {
	ctx := r.Context()
	opts := h.serverSpan
	if trace.SpanFromContext(ctx).SpanContext().IsValid() {
		opts = h.innerSpan // a server span is already there (otelhttp)
	}
	ctx, span := h.tel.Tracer.Start(ctx, "webhook", opts...)
	if span.IsRecording() {
		route := r.Pattern
		if i := strings.IndexByte(route, ' '); i >= 0 {
			route = route[i+1:] // "POST /hooks/x" → "/hooks/x"
		}
		name := r.Method
		if route != "" {
			name += " " + route
			span.SetAttributes(telemetry.HTTPRouteKey.String(route))
		}
		span.SetName(name)
		span.SetAttributes(telemetry.HTTPMethodKey.String(r.Method), telemetry.ProviderKey.String(h.cfg.Provider),
			telemetry.EndpointKey.String(h.endpointOf(r)))
	}
	return ctx, span
}

// endpointOf is the endpoint r counts under.
func (h *Handler) endpointOf(r *http.Request) string {
	switch {
	case h.endpoint != "":
		return h.endpoint
	case r.Pattern != "":
		return r.Pattern
	}
	return defaultEndpoint
}

// finish records the request's outcome on its span and counter.
func (h *Handler) finish(span trace.Span, r *http.Request, status int, err error, info *requestInfo) {
	outcome := outcomeOf(status, err, info)
	if span.IsRecording() {
		attrs := []attribute.KeyValue{telemetry.OutcomeKey.String(outcome), telemetry.HTTPStatusKey.Int(status),
			telemetry.EventsKey.Int(info.events)}
		if e := info.first; e != nil {
			attrs = append(attrs, telemetry.EventIDKey.String(e.ID), telemetry.CallIDKey.String(e.CallID),
				telemetry.AccountKey.String(e.Account), telemetry.EventKindKey.String(e.Kind.String()))
			if e.ClientPhone != "" {
				attrs = append(attrs, telemetry.Phone(e.ClientPhone, h.fullPhones))
			}
		}
		span.SetAttributes(attrs...)
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	span.End()
	h.tel.Request(h.cfg.Provider, h.endpointOf(r), outcome)
}

// outcomeOf names what became of a request answered status after err.
func outcomeOf(status int, err error, info *requestInfo) string {
	if err == nil {
		if info.events > 0 && info.delivered == 0 {
			return telemetry.OutcomeDuplicate
		}
		return telemetry.OutcomeAccepted
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return telemetry.OutcomeUnauthorized
	case http.StatusBadRequest, http.StatusMethodNotAllowed:
		return telemetry.OutcomeBadRequest
	case http.StatusRequestEntityTooLarge:
		return telemetry.OutcomeTooLarge
	case http.StatusServiceUnavailable:
		return telemetry.OutcomeUnavailable
	}
	return telemetry.OutcomeSinkError
}
