// Package amocrm is a client of the amoCRM / Kommo API v4 for telephony and
// a Store that plugs amoCRM into package match's call rules engine, so any
// callbridge provider (Telphin, MegaFon, Phonet, …) logs its calls into
// amoCRM the way the Telphin↔amoCRM widget does: extensions mapped to
// amoCRM users, auto-contacts and leads, calls saved to the card with the
// recording, missed calls, pop-ups and late binding.
//
// # Connecting a PBX to amoCRM
//
//	client, _ := amocrm.NewClient(amocrm.Credentials{Domain: "example.amocrm.ru", LongLivedToken: tok})
//	store, _ := amocrm.NewStore(client, amocrm.WithExtensions(map[string]int64{"101": 8375357, "102": 8375357}))
//	engine, _ := match.NewEngine(store, match.WithRules(rules))
//	h, _ := telphin.NewHandler(engine, webhook.WithToken(secret)) // the engine also shows the Store's pop-ups
//	mux.Handle("/telphin/{app}", h) // no method: Telphin hooks may be GET or POST
//
// See Example for a runnable version against the amocrmtest fake.
//
// # Authentication
//
// Credentials.Domain is the account host as amoCRM sends it in the OAuth
// redirect's "referer" ("example.amocrm.ru", "example.kommo.com"); requests
// go to https://{Domain}. Only amoCRM and Kommo account hosts are accepted
// (<account>.amocrm.ru, <account>.amocrm.com, <account>.kommo.com; no
// port, userinfo or path): the referer is attacker-controlled and the token
// request carries the client secret. callbridge.WithBaseURL (tests,
// proxies) may name any host; token requests go there too. Two modes:
//
//   - Long-lived token (private integrations): Credentials.LongLivedToken.
//     It is never refreshed; a revoked or expired token gives a 401
//     *callbridge.APIError.
//   - OAuth 2.0: ClientID, ClientSecret, RedirectURL and
//     callbridge.WithTokenStore.
//     Make a state with NewState, keep it in the browser session (a
//     cookie) and send the administrator to AuthCodeURL(state) (an empty
//     state is refused); amoCRM redirects back with code, state and
//     referer; ParseRedirect checks the state (ErrStateMismatch) and the
//     referer and gives the code and the account host; Exchange(ctx, code)
//     on a Client for that host stores the tokens (see Example_oauth). The
//     access token (24 h) is refreshed single-flight before it expires or
//     on a 401 (then the request is replayed once, body rebuilt). amoCRM
//     refresh tokens are single-use and rotate: every new pair is handed to
//     the TokenStore BEFORE it is used, the store is re-read before a
//     refresh (another process may have rotated it), and a refresh request
//     is never retried once it may have reached amoCRM. A spent, revoked or
//     3-months-unused refresh token is ErrInvalidGrant: authorize again.
//     Client.Refresh renews the pair on demand, to keep an integration
//     that makes no requests for weeks alive; Client.Token tells whether
//     the current token can be had (its Expiry) without an API request.
//     redirect_uri is sent with refreshes too, as amoCRM requires.
//
// A Client belongs to one account; do not share it across accounts.
//
// # Errors
//
// Non-2xx answers are *callbridge.APIError: Code is
// the problem+json title, Message the detail (with the first validation
// error); ValidationErrors lists amoCRM's validation-errors. A 429 that
// outlived the retries is *callbridge.RateLimitError (also a *callbridge.APIError). Sentinels
// for errors.Is: ErrBlocked (403 HTML page: account or IP blocked),
// ErrInvalidGrant, ErrAuthorizationRequired, ErrEntityNotFound (a call
// whose phone matches no card, in any of amoCRM's forms: an "Entity not
// found" title, detail or code in a 4xx answer or in the "errors" of a 2xx
// one), ErrNotFound. The block page is recognised by its Content-Type
// (text/html) or by a body starting with "<" after a byte-order mark and
// whitespace. Legacy API v2 errors ({"response":{"error":…,
// "error_code":…}}) give Message and Code.
//
//	var apiErr *callbridge.APIError
//	switch {
//	case errors.Is(err, amocrm.ErrBlocked): // stop; ask amoCRM support
//	case errors.As(err, &apiErr) && apiErr.StatusCode == 400: log(amocrm.ValidationErrors(err))
//	}
//
// Tokens and the client secret never appear in errors or logs;
// Credentials, Client, Store and Redirect redact them in fmt verbs, slog
// and JSON.
//
// # Retries and rate limits
//
// All goroutines of a Client share one limiter: 7 requests per second,
// burst 1 (DefaultRateLimit; callbridge.WithRateLimit). A 429 (amoCRM
// sends no Retry-After) is retried after at least 1 s plus jitter, doubling,
// up to 3 retries (callbridge.WithRetry; a RetryPolicy without a Backoff
// keeps this wait, one with a Backoff replaces it). 502/503/504 and network errors are retried
// for GET/PATCH-by-id and for POST /api/v4/calls when every call has a
// uniq; other writes are sent once. A 403 with amoCRM's HTML page is
// ErrBlocked, never retried, and for DefaultBlockCooldown the Client fails
// fast without sending. 204 is an empty result, not an error. The default
// HTTP timeout is 30 s (callbridge.DefaultTimeout).
//
// # API
//
// Contacts: SearchContacts, FindContactsByPhone (last 10 digits, results
// verified on the PHONE field), Contact, CreateContacts, UpdateContacts
// (PhoneField writes PHONE with enum WORK; Tags, TagsToAdd). Companies:
// SearchCompanies, Company, CreateCompanies, UpdateCompanies. Leads:
// CreateLeads, CreateLeadsComplex, Leads, ActiveLeads, UpdateLeadStatus,
// Pipelines. Custom fields: ContactCustomFields, CompanyCustomFields. Calls: AddCalls (POST
// /api/v4/calls), AddCallNotes (call_in/call_out on a chosen entity),
// AddUnsortedSIP, Unsorted (the waiting entries). The incoming-call
// pop-up: ShowIncomingCall (POST /api/v2/events). Users: an iterator over
// all pages — amoCRM lets only administrators list users. Tasks:
// CreateTasks, UpdateTasks (complete with IsCompleted and a Result),
// Task, and Tasks, an iterator over all pages of a TaskFilter. Batch
// writes take at most MaxBatch (50) items.
//
// # The Store
//
// Store implements match.ClientStore, LeadStore, CallLog, Directory,
// Notifier, PopUpper, Dialog, ClientUpdater and TaskStore:
//
//   - clients are contacts and companies (seed 002: a company's number
//     matches the company). A phone is searched among contacts, and among
//     companies only when no contact's PHONE field holds it, so a contact
//     wins; one search per call (a short-lived phone → client cache: a
//     found client for a minute, "not found" for 5 s). A contact's client
//     id is its amoCRM id ("123"), a company's "company:123" (ClientID,
//     ParseClientID: amoCRM numbers them separately). Clients are created
//     as contacts, with the PHONE (WORK), responsible and tags the engine
//     chose; a company's number gets no contact;
//   - leads are leads, active unless in the won (142) or lost (143)
//     status; pipeline and status may be ids or names; a lead is linked to
//     its client: a contact as the main contact, a company as the company;
//   - the call log is POST /api/v4/calls, or a call note on the lead the
//     engine chose; if amoCRM finds no card for the phone the call is
//     written as a note on the contact or company. A call with no client
//     (unknown number, creation off) is not sent — amoCRM would drop it —
//     and stays with the engine's late binding (10 minutes), which logs it
//     once a contact or company with that phone appears: at once when
//     engine.ClientCreated reports one created by hand, otherwise when the
//     window closes and the engine searches once more. Each call carries uniq = CallUniq(provider,
//     account, call id) and is written once: amoCRM calls are add-only, so
//     details learned after the call was logged are not written;
//   - call_status: success → 4, busy → 7, wrong number → 5, anything
//     unanswered → 6; duration is the talk time, or for an unanswered call
//     the time the client waited (the guide's "Время");
//   - the directory is the extension → user map (WithExtensions; several
//     extensions may map to one user; unmapped extensions are not
//     integrated) plus the user list for names, e-mails and admins;
//     amoCRM has no presence, so nobody is "online";
//   - the cards of a live call (match.PopUpper: the employees an inbound
//     call rings, who places an outbound one, who answers) are amoCRM's
//     incoming-call pop-up for the employee's user, with the caller's
//     number: amoCRM shows the contact or company and its leads, or offers
//     to create one. Each is shown once per call, user and phase;
//   - notifications are the same pop-up to the employee; an overdue
//     call-back task, told to the admins, is a task of the admin's instead
//     («Проконтролировать перезвон …», on the client's card, due in an
//     hour): nobody is calling;
//   - client fields (Rule.Dialog's call variables megafon_call_direction,
//     _call_ext, _call_id, _call_user, megafon_record_link) are contact
//     (company) custom fields: the field WithContactFields maps a key to,
//     else the field whose code or name is the key (GET
//     /api/v4/contacts/custom_fields or /api/v4/companies/custom_fields,
//     cached); one PATCH per call; an empty value clears the field. A key with no field is an
//     error wrapping ErrUnknownField that names it — never dropped
//     silently;
//   - with WithUnsorted (and the rules' inbound creation off), an inbound
//     call from an unknown number becomes an entry of "Неразобранное"
//     (POST /api/v4/leads/unsorted/sip: caller, number dialled, uniq,
//     duration, recording, a lead and a contact for the manager to accept
//     or decline), once per call: the Store remembers the calls it added
//     and, before adding, looks for the call's uniq among the waiting
//     entries (GET /api/v4/leads/unsorted);
//   - call-back tasks (Rule.Task) are amoCRM «Звонок» tasks on the
//     client's contact or company (on no card for a number without a
//     client) for the employee, due at the deadline. The last line of
//     their text is a marker naming the call, phone and account
//     ("callbridge:telphin/<call id>?account=…&phone=…"): amoCRM tasks
//     have no tags or external ids, so the Store finds its tasks by it,
//     one per call also after a restart, and keeps in it when a task was
//     escalated and by which call it was closed. An answered call with the
//     number completes its open tasks with a result naming the call.
//     Listing and closing read the account's open call tasks (one request
//     per 250); escalating reads and rewrites one task.
//
// Requests per completed call, measured by TestBudgetRequestsPerCall (the
// pop-ups of the live call not counted): 2 for a known contact (search,
// call), also when it has an active lead but no lead rule applies; 3 for
// a known contact with an active lead and a lead rule on (search, the
// leads' statuses, note on the active lead); 4 for an unknown number with
// a contact (the contacts' and the companies' search, contact, call); 5
// with a contact and a lead (2 searches, contact, lead, note on the
// lead); a company's number costs one more search than a contact's.
// Fifty concurrent calls from one unknown number create one contact with
// one search of each.
//
// # Testing
//
// Package amocrmtest is a fake amoCRM on 127.0.0.1: OAuth with rotating
// single-use refresh tokens, contacts/companies/leads/calls/notes/unsorted/
// events/users/pipelines/tasks with the real envelopes, 204 on an empty search, the
// 7 requests/s limit with 429 beyond, the HTML 403 block, failure injection
// (srv.Fail(amocrmtest.Failure{…})) and request recording (srv.Requests()).
// Start it with srv := amocrmtest.NewServer() and close it with
// t.Cleanup(srv.Close) (defer srv.Close() outside a test). Point a Client
// at it with callbridge.WithBaseURL(srv.URL) and
// callbridge.WithHTTPClient(srv.Client()); use callbridge.WithRetry with a RetryPolicy whose Backoff returns 0 so
// retries are instant, and the Store's WithClock with the engine's clock in
// tests that move time.
//
// # Performance
//
// go test -bench . -benchtime 2000x -count 5 ./amocrm/ on 2 shared cores,
// median of 5:
//
//	BenchmarkKnownContactCall  3290 calls/s (304 µs/call, 79 kB and 653 allocs per call, fake server included)
//	BenchmarkCachedLookup      451 ns/op, 368 B/op, 5 allocs/op
//
// Against real amoCRM the rate limit (7 requests/s) bounds throughput: a
// known contact's calls at 3.5 calls/s per account.
package amocrm
