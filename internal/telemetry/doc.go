// Package telemetry defines the OpenTelemetry instruments of every
// callbridge package in one place, so that a provider client, a webhook
// handler, a delivery queue and the rules engine record under the same
// metric names, units and attribute keys.
//
// It uses the OpenTelemetry API only (go.opentelemetry.io/otel, metric,
// trace, attribute, codes, propagation): nothing is recorded until the
// program installs an SDK, globally (otel.SetMeterProvider,
// otel.SetTracerProvider) or through the packages' options
// (callbridge.WithMeterProvider, webhook.WithMeterProvider,
// match.WithMeterProvider, …). A nil provider means the global one, which
// is a no-op until set.
//
// Metric names follow the OpenTelemetry naming guidelines (dotted,
// lower-case, units in UCUM: "s" for durations, {request} style
// annotations for counts); the Prometheus exporter turns
// callbridge.webhook.requests into callbridge_webhook_requests_total and
// callbridge.delivery.duration ("s") into
// callbridge_delivery_duration_seconds. Where a semantic convention exists
// its attribute names are used (http.request.method, server.address,
// http.response.status_code, error.type).
//
// What it costs where nothing records: Tracer.Start starts no span (and
// allocates nothing) while no provider is installed, with the no-op
// provider, and beneath a span that is not recorded; synchronous
// instruments are measured only when Enabled, and their attribute sets are
// built once (AttrCache). The webhook request count, on every request, is
// an asynchronous counter kept in memory (Webhook.Request): an atomic add
// instead of a synchronous measurement, whatever the SDK.
//
// Attributes never carry a secret, and a phone number only as MaskPhone
// leaves it (the last four digits) unless the user opted in to full
// numbers.
package telemetry
