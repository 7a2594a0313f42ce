// Package phonet connects callbridge to Phonet (phonet.ua), a Ukrainian
// cloud PBX: a REST client for click-to-call, hang-up, active calls, call
// history, employees and recordings, and a webhook handler for the calls
// Phonet makes to a CRM (customer lookup, call events, full call info).
//
// Phonet's own API document is not public; the behaviour here follows
// open-source integrations and is described in the callbridge facts file.
//
// # Client and authentication
//
//	client, err := phonet.NewClient(phonet.Credentials{
//		Domain: "acme.phonet.com.ua",            // "Phonet домен"
//		APIKey: os.Getenv("PHONET_API_KEY"),     // "Phonet ApiKey"
//	})
//	ref, err := client.Call(ctx, callevent.CallRequest{From: "001", To: "+380671234567"})
//
// Phonet authenticates with a session: the first request triggers
// POST /rest/security/authorize {"domain","apiKey"}, and the JSESSIONID
// cookie it sets is sent with every later request. The session is shared by
// all goroutines using the Client; concurrent first calls authorize once.
// When Phonet rejects the session (401, 403, or a redirect to a login page —
// the Client never follows a redirect to a login page, so it can see it)
// the Client re-authorizes once, single-flight, and replays the request
// once; a second rejection is returned as an error. The API key and the
// session id never appear in errors or logs, nor when Credentials or a
// Client is printed, logged or encoded as JSON. A Client belongs to one
// Phonet company: do not share it across tenants. Clients built without
// callbridge.WithHTTPClient share one transport (and its connection pool)
// per process.
//
// NewClient takes the options of package callbridge (WithHTTPClient,
// WithBaseURL, WithUserAgent, WithRateLimit, WithRetry, WithLogger); it
// refuses WithTokenStore (there are no OAuth tokens) and WithDefaultCountry
// (numbers are passed to Phonet as given).
//
// Call rings the employee's extension (From) first, then dials To, and
// returns the call's uuid. Phonet's API has no caller-ID choice (a
// CallerID is callevent.ErrUnsupported), group call or transfer (Client
// implements neither callevent.GroupCaller nor Transferer). Calls iterates over
// the company, missed or per-employee history (50 rows per request, offset
// paging, optional direction filter in either encoding integrations use);
// FindCall finds a finished call by uuid by scanning ±10 minutes of history,
// as Phonet has no lookup by uuid. CallRecord.ToEvent turns a history row
// into the same Completed event the after_call_end webhook gives.
// DownloadRecording streams a call's recording to a writer; FetchRecording
// (callevent.RecordingFetcher) hands it over as a body to read, a call
// without one being callevent.ErrNoRecording.
//
// # Errors
//
// A non-2xx answer is a *callbridge.APIError (a 429 a *callbridge.RateLimitError, which also
// matches *callbridge.APIError):
//
//	var apiErr *callbridge.APIError
//	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound { … }
//
// Transport failures and a canceled context keep their cause:
// errors.Is(err, context.DeadlineExceeded) works. An authorization that
// sets no cookie is ErrNoSession; FindCall without a match is
// ErrCallNotFound. Hangup, DownloadRecording and FetchRecording refuse a uuid that is not
// one path segment of letters, digits and "-._~" (a "/", "%2F" or "..")
// with ErrInvalidID, before any request.
//
// # Retries, rate limits and timeouts
//
// Requests that cannot take effect twice are retried up to
// callbridge.DefaultMaxRetries (3) times with capped exponential backoff
// (callbridge.WithRetry sets the count, the bounds and the backoff): 429
// (honouring Retry-After up to the maximum wait), connection failures
// before the request was sent, and 502/503/504 or timeouts on GET
// requests. Click-to-call (a POST) is never retried once it may have
// reached Phonet: one click makes at most one call.
// callbridge.WithRateLimit adds a client-side limiter (none by default)
// that every attempt waits on, authorizations included. Without
// callbridge.WithHTTPClient the HTTP timeout is callbridge.DefaultTimeout
// (30 s). Nothing is logged unless callbridge.WithLogger is given.
//
// # Webhooks
//
// In Phonet's cabinet (Налаштування → «Інша система CRM») five URL fields
// can point at the same handler, or at Perfectum-style separate paths
// (…/customer_data, …/call, …/after_call_end): the handler tells the kinds
// apart by the body. A body with "event" is a call event; one without it
// is the full call info when it has endAt (or, without otherLegNum, other
// history-record fields: billSecs, duration, disposition), else a customer
// lookup when it has otherLegNum (null for a hidden number), even if it
// carries other call fields; any other body is a 400. A URL with a path
// segment customer_data takes only lookups and one with after_call_end
// only full call infos: another body there is a 400 saying what is
// missing. JSON is expected; a
// form-encoded body (PHP-style "leg[ext]" keys) is accepted too. A leg,
// leg2 or otherLegs sent as "", {} or [] counts as null rather than
// failing the whole notification.
//
// NewHandler takes the options of package webhook, as every provider's
// handler does, and WithPauseFunc:
//
//	h, err := phonet.NewHandler(sink,
//		webhook.WithToken(os.Getenv("PHONET_WEBHOOK_TOKEN")), // ?token=… in the cabinet URLs
//		webhook.WithAllowedIPs(phonet.PhonetIPs(), nil),
//		webhook.WithContactLookup(crm),
//		webhook.WithCardURL("https://crm.example.com/contacts/{id}", "https://crm.example.com/contacts/new?phone={phone}"),
//	)
//	mux.Handle("POST /phonet", h)
//
// Phonet does not sign its requests. Authenticate with a secret token in
// the URL (webhook.WithToken, several for rotation, repeated WithToken
// options adding up; read from the query parameter "token", or where
// webhook.WithTokenFunc says, e.g. the path) and/or Phonet's source
// addresses (webhook.WithAllowedIPs with PhonetIPs, trusted-proxy aware).
// One of them is required unless webhook.WithoutAuth. A rejected request
// (401/403) reaches neither the Sink nor the ContactLookup.
//
// Tenants: one handler may serve several Phonet companies. Bind each token
// to its company's domain with webhook.WithTokenAccounts, and/or take the
// tenant from the route with webhook.WithAccount; the tenant so chosen is
// the account of the events, pauses and lookups, and a body whose
// accountDomain names another tenant (or a token and a route that
// disagree) is refused with 403, so one tenant's token never acts as
// another. Without either, the body's accountDomain is the account: fine
// for one company, not for several.
//
// Validation at the edge: every string field is bounded at decode time
// (256 bytes, links 2048) and a longer one is a 400 naming it, lookups
// included; a phone that is neither a number, an extension nor anonymous
// is a 400 naming Phonet's field (otherLegs[0].num, trunkNum,
// otherLegNum, trunk); every event is checked by callevent's validator
// and must lie in the time window around its arrival (webhook.WithTimeWindow;
// the clock is webhook.WithClock).
//
// Mapping: call.dial → Ringing, call.bridge → Answered, call.hangup → Ended,
// full call info → Completed (billSecs → Duration, duration − billSecs →
// Wait, disposition 0..4 → Success, Missed (NotAvailable for an outgoing
// or internal call: Missed is an inbound call nobody answered),
// NotAvailable, Failed, Busy, audioRecUrl trimmed → RecordingURL). lgDirection 1/2/4 → Internal,
// Outbound, Inbound. leg.ext → Extension, leg.displayName → Employee,
// otherLegs[0].num (otherLegNum in records) → ClientPhone, trunkNum → LinePhone, both
// normalised with the default country UA (webhook.WithDefaultCountry); anonymous
// numbers and internal extensions give "". accountDomain → Account
// (the tenant of webhook.WithTokenAccounts or webhook.WithAccount when set), uuid →
// CallID. A call.hangup without hangupAt and serverTime ends at bridgeAt,
// else when it arrived. Timestamps may be milliseconds or seconds (values below 1e12 are
// seconds); 0 and null are "not set". Event.ID is derived from (account,
// uuid, event), so Phonet's duplicate deliveries are dropped by the
// webhook dedup store. Pause toggles (lgDirection 32/64) are acknowledged
// and not emitted as calls, in call events and full call info alike;
// WithPauseFunc receives those of call events. Unknown event
// types are acknowledged and ignored. Call events are answered with {}.
//
// The customer lookup sits in the ringing path of an incoming call. The
// handler asks the ContactLookup of webhook.WithContactLookup (with the
// normalised number) and answers within webhook.WithLookupTimeout (default
// 1 s), with the links of webhook.WithCardURL and the text of
// webhook.WithNewContactText:
//
//	{"name":"ТОВ Ромашка","url":"https://crm.example.com/contacts/6137","urlText":"ТОВ Ромашка",
//	 "newEntity":false,"responsibleEmployeeExt":"001","responsibleEmployeeEmail":"olena@acme.ua"}
//
// for a known number (Phonet routes the call to the manager by e-mail when
// set, else by extension),
//
//	{"name":null,"url":"https://crm.example.com/contacts/new?phone=%2B380501112233","urlText":"Додати контакт",
//	 "newEntity":true,"responsibleEmployeeExt":null,"responsibleEmployeeEmail":null}
//
// for an unknown one, and all nulls with newEntity false when the lookup
// failed, timed out, or the number is anonymous or internal.
//
// ParseNotification and ParseEvents are the same decoding without HTTP,
// for bodies taken from a queue.
//
// # Testing
//
// Package phonettest has a fake Phonet API (sessions that expire, makeCall,
// hangup, active calls, paged history, users, recordings, failure
// injection, request recording) and builders for realistic webhook bodies
// and requests, stamped with current times (Call.At moves a call):
//
//	srv := phonettest.NewServer()
//	t.Cleanup(srv.Close)
//	client, _ := srv.NewClient() // callbridge.WithBaseURL(srv.URL), instant retries
//	srv.Fail(phonettest.Failure{Path: "/rest/users", Status: http.StatusServiceUnavailable, Times: 2})
//	req := phonettest.InboundCall().Dial().Request("/phonet", phonettest.WithToken(tok))
//
// # Performance
//
// BenchmarkPhonetHandler (a call.dial through token check, decoding, phone
// normalisation, dedup and delivery; httptest request and recorder
// included), median of -count 5 on a 2-core AMD EPYC:
// about 22 µs/op (45,000 events/s), 12.9 KB/op, 95 allocs/op.
package phonet
