// Package callbridge is an embeddable Go SDK that brings cloud telephony
// into CRMs.
//
// A CRM imports a provider package, mounts its webhook handler on its own
// router, places calls with Call / GroupCall / Transfer, and lets package
// match turn every call into CRM facts: which client called (found by phone,
// or created), which manager is responsible, a missed call that needs a
// lead, a recording link on the card.
//
// The packages:
//
//   - callevent: the shared vocabulary — Event, Kind, Direction, Status,
//     Sink, ContactLookup and the provider-neutral call commands.
//   - webhook: the mechanics every provider handler shares — body limits,
//     authentication, deduplication, synchronous or queued delivery.
//   - phone: phone normalisation (Normalize) to E.164 digits, for users
//     who want phones without the rules engine.
//   - match: phone → client resolution and the call rules engine (Engine)
//     over small store interfaces; match/memstore: those stores in memory.
//   - live: each employee's live screen (calls and legs, client cards,
//     notifications) as Server-Sent Events, fed by the engine.
//   - telphin, megafon, phonet, finaz: one provider each — a Client for
//     calls and history, a webhook handler, and a <provider>test fake.
//   - amocrm: an amoCRM / Kommo client and a match store over it.
//   - internal/httpx: the retrying, rate-limited HTTP client core with typed
//     errors that provider clients are built on; internal/oauth: OAuth token
//     handling shared by Telphin and amoCRM; internal/phone: the phone
//     normalisation core behind package phone.
//
// This package holds what every provider client shares, so it is written
// once: the options of NewClient (WithHTTPClient, WithBaseURL,
// WithUserAgent, WithRateLimit, WithRetry, WithLogger, WithTokenStore,
// WithDefaultCountry, WithMeterProvider, WithTracerProvider), the
// TokenStore of the OAuth clients, and the errors they return (*APIError
// with the Provider that answered, *RateLimitError, *RequestError):
//
//	client, err := telphin.NewClient(creds,
//		callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 2}),
//		callbridge.WithLogger(logger))
//
// Handlers share the options of package webhook in the same way.
//
// Every package records metrics and spans with the OpenTelemetry API only
// (go.opentelemetry.io/otel): nothing is recorded until the program
// installs an SDK, globally (otel.SetMeterProvider, otel.SetTracerProvider)
// or through WithMeterProvider and WithTracerProvider (here, in webhook and
// in match; MeterProvider and TracerProvider fields in webhook.QueueConfig,
// sqlstore.InboxConfig and reconcile.Config). No package links the SDK or
// an exporter; examples/crm shows the SDK with Prometheus and OTLP. The
// option pair is the one OpenTelemetry's own instrumentation libraries
// take (otelhttp.WithMeterProvider, otelhttp.WithTracerProvider).
//
// examples/crm is the reference CRM telephony gateway built on all of them:
// go run ./examples/crm.
package callbridge
