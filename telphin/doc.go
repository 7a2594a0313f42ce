// Package telphin connects a CRM to Telphin (Телфин.Офис), a Russian cloud
// PBX: a Client for its OAuth REST API (calls, call control, history,
// records, webhook subscriptions) and an http.Handler for its call-event
// webhooks, emitting callevent.Events.
//
// # Client
//
// Register an application at https://apiproxy.telphin.ru/app/register/
// (type Trusted) and use its App ID and App Secret:
//
//	client, err := telphin.NewClient(telphin.Credentials{ClientID: appID, ClientSecret: appSecret})
//	ref, err := client.Call(ctx, callevent.CallRequest{From: "101", To: "+79530000000"})
//
// Client implements callevent.Caller (Call: the employee's extension rings,
// then the client), callevent.GroupCaller (GroupCall: the client, then a
// queue), callevent.Transferer (Transfer: blind or attended),
// callevent.Holder (Hold, Unhold) and callevent.Hanger (Hangup); Control
// performs every action of Telphin's call control (conference, park,
// pickup, eavesdrop, whisper as well). Employees
// and groups are given as short number ("101"), full name ("15400*101") or
// numeric extension id and resolved through a cached extension list,
// fetched once, again on a miss, and again on use once it is an hour old
// (so a deleted or renumbered extension stops resolving to its old id). CurrentCalls lists the calls
// in progress; Extensions lists extensions; CallHistory iterates the call
// history over all pages; Record and DownloadRecord give recordings, and
// FetchRecording (callevent.RecordingFetcher) a call's recording by its id;
// Subscribe, SubscribeAll and Unsubscribe register the webhooks for you.
//
// A Client serves one Telphin client (tenant): create one per CRM account
// and share it between goroutines; never share one across accounts.
// NewClient takes the options of package callbridge (callbridge.WithBaseURL,
// WithHTTPClient, WithRetry, WithRateLimit, WithLogger, WithTokenStore,
// WithDefaultCountry). Requests time out after 30 s
// (callbridge.DefaultTimeout) unless callbridge.WithHTTPClient gives
// another client. Numbers given to Call, GroupCall and Transfer without a
// country code are Russian unless callbridge.WithDefaultCountry says
// otherwise. Responses are gzip-compressed: every request sends
// Accept-Encoding: gzip and the answer is decompressed, whatever transport
// callbridge.WithHTTPClient gives.
//
// # Authentication
//
// A trusted app gets tokens with client_credentials. The token is cached
// and shared by all goroutines, fetched once (100 concurrent calls make one
// token request), renewed a minute before it expires, and a 401 invalidates
// it, fetches a new one once and replays the request once. With
// callbridge.WithTokenStore the token is also kept across restarts.
//
// A public app (Credentials.RedirectURL set, and callbridge.WithTokenStore)
// makes a state with NewState, keeps it in the user's session and sends the user
// to AuthCodeURL(state) (an empty state is an error); when Telphin
// redirects back, CheckState(kept, state) must pass (ErrStateMismatch
// otherwise: a forged redirect) before the code is traded with Exchange.
// The app renews its token with the refresh token. Every new token, with its rotated
// refresh token, is saved to the callbridge.TokenStore before it is used; the store is
// loaded first, so several processes can share it. ErrAuthorizationRequired
// and ErrInvalidGrant say the user must authorize again.
//
// # Errors
//
// A non-2xx answer is a *callbridge.APIError (Code holds Telphin's "status" such as
// "access_denied"); a 429 is a *callbridge.RateLimitError, which errors.As also
// matches as *callbridge.APIError:
//
//	var rl *callbridge.RateLimitError
//	if errors.As(err, &rl) { retryAt := rl.Reset }
//	var apiErr *callbridge.APIError
//	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound { … }
//
// ErrUnknownExtension reports an employee or group not among the
// extensions. Errors and logs never contain the App Secret, tokens or
// authorization codes; Credentials and Client print and log themselves
// with the secret REDACTED. Ids put into API paths (record ids, call ids)
// must be Telphin ids — letters, digits, '-' and '_' —, so an id from a
// webhook can never make a request reach another path.
//
// # Retries and rate limits
//
// Only requests that cannot take effect twice are retried (3 times, 500 ms
// to 10 s backoff, see callbridge.WithRetry): GET, PUT and DELETE on
// 502/503/504 and connection failures, any request on a short 429. A callback POST is
// never retried once it may have reached Telphin: one click, at most one
// call. Telphin's request quota is hourly and shared by all apps of a
// client; RateLimit reports the X-RateLimit-* headers of the last answer.
// When the quota is exhausted (a 429 with status rate_limit_exceeded or
// X-RateLimit-Remaining: 0) the Client returns a *callbridge.RateLimitError until the
// reset (X-RateLimit-Reset, else the start of the next hour) without
// sending anything. Telphin refuses concurrent statistics requests with 429, so
// the Client sends its call_history requests one at a time.
// callbridge.WithRateLimit adds client-side throttling.
//
// # Webhooks
//
// Telphin posts call events per extension: EventType dial-in, dial-out,
// answer, hangup as a form body (POST) or query string (GET). Telphin signs
// nothing, so put a secret token in the hook URL:
//
//	h, err := telphin.NewHandler(sink, webhook.WithToken(secret))
//	mux.Handle("/telphin/", h) // hook URL: https://crm.example/telphin/{APP_ID}?token={secret}
//	err = client.SubscribeAll(ctx, "https://crm.example/telphin/"+appID+"?token="+secret)
//
// NewHandler takes the options of package webhook. The last path segment
// is Event.Account (webhook.WithAccount to change). Several tokens may be
// valid at once for rotation (webhook.WithToken); webhook.WithTokenFunc
// reads the token elsewhere; webhook.WithAllowedIPs adds an IP allow-list.
// One URL can serve several tenants with webhook.WithTokenAccounts: the
// account bound to the request's token is Event.Account and the account
// of the contact lookup, whatever the path says. Events are deduplicated,
// so a redelivery is a no-op. NewHandler fails without authentication:
// give a token, an IP allow-list, or webhook.WithoutAuth behind a gateway
// that authenticates.
//
// The mapping: dial-in and dial-out → Ringing, answer → Answered, hangup →
// Completed. CallFlow in/out (any case) → Inbound/Outbound, or Internal
// when the other party is an extension. ClientPhone is normalised from
// RemoteNumber (an internal transfer), else CallerIDNum for inbound calls
// (CallerIDName when CallerIDNum holds an extension, as answers of routed
// calls do), and from CalledNumber for outbound calls; LinePhone from
// CalledDID. Extension is the short number of the employee's extension
// ("3515*101@sipproxy.telphin.ru" → "101"); for inbound calls Group is the
// queue or IVR that routed it; on a queue/IVR hangup (Bridged present)
// Group is that queue and Extension is empty. Employee is the caller id
// name of outbound calls. CallID and LegID (SubCallID) are lower-cased;
// compare them with API ids (upper-case call_uuid) case-insensitively.
// EventTime and Duration are microseconds. Completed status: ANSWER →
// Success; on a queue/IVR hangup Bridged=no → Missed (nobody answered the
// call) and Bridged=yes → Success (the IVR itself answers); other outcomes
// of an inbound call straight to an extension (no queue or IVR routed it)
// are Missed. Other outcomes of an agent's leg of an inbound call a queue
// or IVR routed (Group set: the call may have been answered by another
// agent, and the queue's Bridged=no reports it missed), and of outbound
// and internal calls, are NotAvailable (NOANSWER, CHANUNAVAIL), Busy,
// Canceled or Failed (CONGESTION). A Completed event has EndedAt = EventTime, Duration = the
// talk time of answered legs (Wait = Duration otherwise), and At =
// AnsweredAt = EndedAt − Duration (the hangup does not tell when ringing
// began). The recording is not a URL in the event: RecID stays in Raw; get
// the URL with Client.RecordingURL (or RecID and Client.Record). Event.ID
// is stable per (account, SubCallID or CallID, EventType): a redelivery
// dedups, a second routing round to the same extension (new SubCallID)
// does not. Other event types are acknowledged and ignored. Raw holds the
// request fields as a JSON object, without the token parameter
// (TokenParam).
//
// Call Interactive (EventType=call_interactive, sent while the caller is in
// the IVR) asks where to route the call: with webhook.WithContactLookup the
// handler looks the caller up and answers
// <Response><SetVar name="number">{ResponsibleExtension}</SetVar></Response>,
// or an empty <Response></Response> for an unknown caller, a failing
// lookup or one slower than webhook.WithLookupTimeout (1 s). Telphin shows
// agents no links, so NewHandler refuses webhook.WithCardURL and
// webhook.WithNewContactText.
//
// Bad input is refused at the edge with a 400 naming the field, and
// nothing of it is delivered or kept: more than 100 fields, a field name
// over 64 bytes or a value over 256 bytes (callevent.MaxFieldLen; this
// holds for call_interactive too); CallID, SubCallID, CalledExtension,
// CallerExtension or CallerIDName that is not printable UTF-8; EventTime
// outside the years 2000–2099 or the handler's time window around the
// moment of arrival (callevent.DefaultWindow; webhook.WithTimeWindow and
// webhook.WithClock); a negative Duration or one over
// callevent.MaxDuration; a CallerIDNum, RemoteNumber, CalledNumber or
// CalledDID that is neither a number, an extension nor anonymous
// (webhook.Phone). Every event also passes Event.Validate.
//
// ParseFields maps request fields to events without HTTP, e.g. for
// requests stored in a queue; it applies the same checks but the time
// window.
//
// # Testing
//
// Package telphintest has a fake Telphin API (authorization page, tokens,
// extensions, callback, current calls, history, records, hooks; failure
// injection and request recording) to point a Client at with
// callbridge.WithBaseURL, and builders of realistic webhook requests
// carrying the handler's token, stamped with current times unless
// Call.Start says otherwise:
//
//	srv := telphintest.NewServer()
//	defer srv.Close()
//	c, err := telphin.NewClient(telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret},
//		callbridge.WithBaseURL(srv.URL))
//	srv.Fail(telphintest.Failure{Path: "/api/ver1.0/user/", Status: http.StatusServiceUnavailable, Times: 2})
//	h.ServeHTTP(w, telphintest.NewRequest("https://crm.example/telphin/app", "s3cret", telphintest.Call{}.DialIn()))
//
// # Performance
//
// BenchmarkTelphinHandler (a hangup POST through token check, decoding,
// normalisation and validation to a no-op sink, dedup off; median of
// -count 5, 2 vCPU): about 43,000 events/s on one goroutine,
// 23 µs/op, 17 KB and 101 allocations per request.
package telphin
