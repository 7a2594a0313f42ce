// Package megafon connects a CRM to the MegaFon virtual PBX
// (vatsNNNNNN.megapbx.ru) and to every other operator of the same ITooLabs
// platform (Gravitel, Beeline, MTS Exolve, Dom.ru, Moldcell, Kcell, …): a
// Client for the PBX's CRM API and an http.Handler for the calls the PBX
// reports to the CRM.
//
// # Client
//
//	c, err := megafon.NewClient(megafon.Credentials{
//		Domain: "vats123456.megapbx.ru", // the cabinet's address ("Megafon domain")
//		APIKey: key,                     // "Ключ для авторизации в АТС" ("API token")
//	})
//	ref, err := c.Call(ctx, callevent.CallRequest{From: "andy", To: "79161234567"})
//
// Call rings the employee (login, extension or direct number) and then the
// client; GroupCall rings a call group. The PBX API has no transfer
// command, so Client does not implement callevent.Transferer (transfers
// are only reported, as TRANSFERRED events). Users iterates over the employees page
// by page with their online status; User, Groups, History, DND/SetDND and
// Subscription/SetSubscription (call-group membership; every group only
// through the explicit SetSubscriptionAllGroups) complete the API.
// FetchRecording (callevent.RecordingFetcher) downloads a call's recording
// from the link of its history push, sending the key to the PBX's own
// host only.
//
// The PBX has two API generations and the Client speaks both behind the
// same methods: crmapi v1 (https://<domain>/crmapi/v1/…, X-API-KEY header,
// JSON), the default, and with Credentials.LegacyAPI the older form API
// (POST /sys/crm_api.wcgp with cmd and token) for PBXes that only have it.
// GroupCall needs crmapi v1.
//
// NewClient takes the client options of package callbridge
// (callbridge.WithHTTPClient, WithBaseURL, WithUserAgent, WithRateLimit,
// WithRetry, WithLogger).
//
// A Client serves one PBX and holds its key: use one per tenant. Clients
// made without callbridge.WithHTTPClient share one process-wide transport,
// so thousands of tenants' clients keep one connection pool, not
// thousands.
//
// # Authentication
//
// The API key is sent as the X-API-KEY header (v1) or the token form field
// (legacy). It never appears in an error or a log line: Credentials and
// *Client print, log (slog) and marshal to JSON with the key "REDACTED".
// Ids placed in an API path (logins) are escaped as one path segment, and
// ".", ".." or an id with "/" is refused before anything is sent.
//
// # Errors
//
// A non-2xx answer of either generation ({"message":…} or {"error":…}) is
// a *callbridge.APIError (a 429 a *callbridge.RateLimitError) with the status and the PBX's
// message:
//
//	var apiErr *callbridge.APIError
//	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized { … }
//
// User reports an unknown login with an error wrapping ErrNotFound. The
// default HTTP client does not follow redirects, so the 301 a PBX answers
// for a wrong domain is a *callbridge.APIError too. Failures without an answer
// (timeouts, refused connections) unwrap to their cause, so
// errors.Is(err, context.DeadlineExceeded) works.
//
// # Retries and rate limits
//
// Each attempt has a 30 s timeout (callbridge.DefaultTimeout;
// callbridge.WithHTTPClient to change it). Requests that are safe to
// repeat (reads, and setting DND or a subscription to a given value) are
// retried up to 3 times on 429, 502, 503, 504 and connection errors, with
// exponential backoff honouring Retry-After (callbridge.WithRetry). A click-to-call is never retried
// once it may have reached the PBX: one click, at most one call. The PBX
// documents no rate limits; the client limits itself to 5 requests per
// second, bursts of 10 (DefaultRateLimit, DefaultBurst;
// callbridge.WithRateLimit changes them, math.Inf(1) turns the limit off).
//
// # Webhooks
//
// The PBX posts cmd=history, event, contact and rating to one URL ("Адрес
// вашей CRM"), authenticated only by crm_token in the body ("Ключ для
// авторизации в вашей CRM"). NewHandler receives them:
//
//	h, err := megafon.NewHandler(sink,
//		webhook.WithToken(crmToken),
//		webhook.WithAccount(func(*http.Request) string { return "vats123456.megapbx.ru" }),
//		webhook.WithContactLookup(lookup))
//	mux.Handle("POST /megafon/callback", h)
//
// NewHandler takes the handler options of package webhook (see
// NewHandler for what each means here). The token is compared in constant
// time; several may be valid at once (rotation), and
// webhook.WithTokenAccounts maps each token to a tenant for a CRM serving
// many PBXes on one URL. A wrong or missing token is answered 401
// {"error":"Invalid token"} and nothing is delivered. Only the
// crm_token field is looked at before the token is accepted (a scan, not a
// decode), so a malformed body with the right token is a 400 and one
// without it costs no decoding.
//
// Every push is validated at the edge: bad input is a 400 whose message
// names the PBX's field and nothing of the request is delivered. callid,
// user, ext and group must be printable UTF-8 and bounded; phone,
// diversion and telnum a number, an extension or anonymous; start a time
// in the years 2000–2099 and inside the handler's time window around its
// clock (webhook.WithTimeWindow: 30 days back to 1 hour ahead by default;
// webhook.WithClock sets the clock); duration and wait whole seconds up to
// a week; rating 0–100; link an absolute http(s) URL (a javascript: link
// is refused).
//
// Pushes become callevent.Events (see Parse for the mapping): INCOMING and
// OUTGOING → Ringing, ACCEPTED → Answered, TRANSFERRED → Transferred,
// COMPLETED and CANCELLED → Ended (one per leg), history → Completed,
// rating → Rated. Phones are normalised ("" for anonymous; an internal
// extension makes an Internal call), user is split into Employee or Group
// (a phone number, the mobile leg of a bridge, is neither), and Raw keeps
// every field but crm_token. Event.ID is stable per
// notification, so redeliveries are dropped by the handler's dedup while
// per-leg events are all delivered.
//
// # Direction
//
// INCOMING and OUTGOING pushes and most history records state the call's
// direction (direction or type); an internal extension as phone makes the
// call Internal. ACCEPTED, COMPLETED, CANCELLED and TRANSFERRED may come
// without one, rating never has one, and a history may lack type. For
// those the handler uses, in order:
//
//   - the direction an earlier push of the same call stated: the handler
//     remembers it per account and callid, for at most 50,000 calls (the
//     least recently active are forgotten first, a few MB at most) and 2
//     hours after the call's last push;
//   - the numbers: an event carrying diversion (the company number the
//     client dialled) is Inbound;
//   - the status of a history: Busy, NotAvailable, NotAllowed and NotFound
//     exist for outbound calls only (Outbound); a record by the switch
//     itself (user=pbx) is a group's missed inbound call (Inbound).
//
// What stays unknown (Direction 0): a push that arrives before any push
// stating its call's direction (pushes race each other) or after the
// handler forgot the call (restart, 2 hours, 50,000 newer calls, another
// handler instance), unless its numbers or status tell: notably a rating,
// and an ACCEPTED or COMPLETED without diversion. Parse alone, without a
// handler, has no memory.
//
// cmd=contact asks, while the call rings, who the caller is. The handler
// asks the ContactLookup (webhook.WithContactLookup) within a deadline
// (1 s by default, webhook.WithLookupTimeout) and answers
// {"contact_name":…,"responsible":…} — responsible being the employee's
// login, or extension when that is all the CRM knows — or {} when the
// contact is not found, the lookup fails or runs late (logged to the
// handler's logger, webhook.WithLogger). The PBX then routes the call to
// the responsible employee.
//
// Parse and Fields decode pushes without HTTP, e.g. from a queue.
//
// # Testing
//
// Package megafontest has a fake PBX (both API generations, recordings,
// request recording, failure injection with Server.Fail: 401/429/5xx/slow/revoked
// key) to point a Client at with callbridge.WithBaseURL, and builders of
// realistic webhook requests for a Handler, stamped with current times:
//
//	srv := megafontest.NewServer()
//	t.Cleanup(srv.Close)
//	srv.Fail(megafontest.Failure{Op: megafontest.OpMakeCall, Status: http.StatusServiceUnavailable})
//	c, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
//		callbridge.WithBaseURL(srv.URL))
//
// Tests replaying recorded pushes give the handler a clock near their
// times (webhook.WithClock).
//
// # Performance
//
// BenchmarkMegafonHandler (whole request path: token check, parse,
// normalisation, validation, delivery; go test -bench -count 5, median, on
// a 2-core AMD EPYC VM):
//
//	event   (§7 G INCOMING): ~11.3 µs/op, ~88,000 events/s, 5.4 KB/op, 72 allocs/op
//	history (§7 H):          ~13.9 µs/op, ~72,000 events/s, 8.3 KB/op, 87 allocs/op
package megafon
