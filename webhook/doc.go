// Package webhook holds the mechanics every provider's webhook handler
// shares, so each provider only writes a Decoder, and the one option
// vocabulary of every handler: telphin.NewHandler, megafon.NewHandler,
// phonet.NewHandler and finaz.NewHandler all take webhook Options.
//
//	h, err := telphin.NewHandler(engine,
//		webhook.WithToken(token),
//		webhook.WithContactLookup(engine),
//		webhook.WithDefaultCountry("RU"))
//
// The options: authentication (WithToken, WithTokenAccounts, WithTokenFunc,
// WithAllowedIPs, WithAuthenticator, WithoutAuth), the tenant (WithAccount),
// the contact lookup (WithContactLookup, WithLookupTimeout), phones
// (WithDefaultCountry), the agent's links (WithCardURL, WithNewContactText),
// the mechanics (WithMaxBodyBytes, WithMethods, WithDedup, WithLogger,
// WithClock, WithTimeWindow, WithErrorWriter) and telemetry
// (WithMeterProvider, WithTracerProvider, WithEndpoint, WithUnmaskedPhones:
// a span per request and callbridge.webhook.requests by provider, endpoint
// and outcome; a Queue records its delivery latency, backlog and dead
// letters). A provider refuses an option
// it cannot honour, naming it; ProviderOption builds the few options only
// one provider has.
//
// A Handler checks the HTTP method (405), limits the body (1 MiB by
// default, 413), authenticates (401/403, with no side effects), decodes the
// request into callevent.Events with the provider's Decoder (400 for
// malformed input), drops redeliveries through a Dedup store, delivers the
// rest to a callevent.Sink and writes the provider's reply. A failing sink
// gives 500, so the provider redelivers; a panic is recovered and answered
// with 500.
//
// Authentication is required: give WithToken (shared tokens, several at
// once for rotation; WithTokenAccounts binds each to a tenant, see
// TokenAccount), WithAllowedIPs (an address allow-list with
// trusted-proxy-aware ClientIP), WithAuthenticator (anything else), or
// explicitly WithoutAuth. When several are given all must pass, the address
// first. Tokens are kept only as hashes and compared in constant time.
//
// Delivery is synchronous by default. Wrap the sink in a Queue to reply at
// once (202) and deliver from workers with retries, backoff and a dead
// letter; a full queue answers 503. A sink that cannot take more now
// (ErrUnavailable, or an error with a RetryAfter method such as
// match.ErrOverloaded) gets 503 with Retry-After, and a Queue asks an
// Admitter sink before it accepts an event, so nothing is acknowledged that
// will be dropped. An event the Queue dead-letters is forgotten by the
// Handler's Dedup, so its redelivery is delivered again. Delivery from a
// Queue keeps the request context's values. Close the Queue on shutdown to
// drain it.
//
// Deliveries are at-least-once and may arrive out of order. Dedup claims an
// event ID before delivery and records it only when the sink accepted the
// event, so a redelivery after a failure is processed again while a
// redelivery after success is a no-op. A redelivery that arrives while the
// first delivery is still in progress (a slow sink, the provider timed out)
// gets 503: Claim returns ErrInProgress, and the provider retries once the
// first delivery succeeded or failed. Events of the same request delivered
// before stay processed. EventID derives stable IDs.
package webhook
