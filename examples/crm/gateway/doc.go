// Package gateway is callbridge's reference CRM telephony gateway, the
// program behind `go run ./examples/crm` and the one the end-to-end and
// load tests drive.
//
// It wires the SDK together the way a CRM would:
//
//	provider webhook → provider Handler (token, size limit, decoding, dedup)
//	                 → webhook.Queue (202 at once; workers deliver with retries)
//	                   or, with Config.DB, sqlstore.Inbox (200 once committed)
//	                 → match.Engine over a memstore.Store (SingleTenant) or the
//	                   sqlstore.DB of Config.DB (one tenant too):
//	                   clients found or created, calls logged, leads for missed calls
//	provider lookup  → the same Engine as callevent.ContactLookup (MegaFon cmd=contact,
//	                   Phonet customer_data, Telphin call_interactive, Finaz receptivo)
//	POST /api/calls   → the provider's Client (callevent.Caller / GroupCaller)
//
// # Routes
//
//	POST|GET /hooks/telphin/{account}?token=T       Telphin events; account = the app id
//	POST     /hooks/megafon                          MegaFon (ITooLabs), crm_token in the body
//	POST     /hooks/phonet/{endpoint}?token=T        customer_data, call, after_call_end
//	GET      /hooks/finaz/{endpoint}?token=T&…       atendimentodiscador, atendimentoreceptivo
//	GET      /api/calls    call records, newest first       (API token)
//	GET      /api/clients  clients in creation order        (API token)
//	GET      /api/leads    leads in creation order          (API token)
//	GET      /api/notifications  employees told, oldest first (API token)
//	GET      /api/stats    calls per employee and per line: from, to or days  (API token)
//	GET      /api/deadletters    events never delivered       (API token)
//	GET      /api/status   providers, URLs to paste, CRM state, backlogs  (API token)
//	GET      /api/events   the employees' screens, Server-Sent Events; employee=<id>  (API token)
//	GET      /status       the same as an HTML page: ?token=<API token> once, then a cookie
//	GET      /             the workspace, the employees' screen (or its sign-in page)
//	POST     /login        sign in: employee, password (form); GET /login?token=… a login link
//	POST     /logout       sign out (form field csrf)
//	GET      /ui/events    the signed-in employee's stream (Server-Sent Events)  (session)
//	*        /ui/api/…     the workspace's API: the API's handlers as the employee  (session, CSRF)
//	POST     /api/employees/{id}/login-link  {"ttl"} → a login link of the employee  (API token)
//	POST     /api/clients  {"name","phone"[,"kind"][,"responsible"]}: a contact or company  (API token)
//	POST     /api/deadletters/{id}/replay  deliver one again  (API token)
//	POST     /api/calls     {"provider","from","to"[,"group"][,"queue"]} → {"call_id"}  (API token)
//	GET      /api/calls/{provider}/{call_id}/recording?account=…  the call's recording  (API token)
//	GET      /recordings/{provider}/{call_id}?account=…&sig=…  the same by a signed link (no token)
//	POST     /api/finaz/results  {"queue"[,"account"]}: the dialer's return as calls  (API token)
//	POST     /api/campaigns  a dialer campaign: JSON (client_ids or targets) or a CSV list  (API token)
//	GET      /api/campaigns[/{id}]  the campaigns; one's progress, outcomes and agents  (API token)
//	POST     /api/campaigns/{id}/{start|pause|resume|stop|sync}  (API token)
//	POST     /api/campaigns/{id}/agents/{employee}/{ready|skip|pause|disposition}  (API token)
//	POST     /api/campaigns/{id}/targets/{number}/skip, /api/donotcall  (API token)
//	GET      /healthz      200 while the process runs
//	GET      /readyz       200 when queue and CRM take events, else 503 (Readiness)
//	GET      /metrics      Prometheus metrics  (API token; without it on Config.MetricsAddr)
//
// A wrong token is 401 and nothing is stored (refused before the body is
// read when the token is in the URL), a body over 1 MiB 413 (64 KiB for
// /api/calls), malformed input 400, a full queue or too many bodies in
// flight (Config.MaxInFlight) 503 with Retry-After (the provider
// redelivers). Webhook replies are 202 once the events are queued
// (lookups and Finaz answer with their own bodies). Serve accepts at most
// Config.MaxConnections connections at once.
//
// # API
//
// Every /api/ request needs Authorization: Bearer <Config.APIToken>
// (generated and printed once at start when not set), a Host that is an
// IP address, localhost or the host of the public URL or listen address
// (421 otherwise: DNS rebinding), and no cross-origin Origin or
// Sec-Fetch-Site (403). POST /api/calls takes only application/json (415).
// A call the provider refuses (4xx, or its client refusing the number or
// extension) is 400 with the provider's message; a provider's 429 is 429;
// a provider's 5xx, its refusing the gateway's credentials or the network
// 502.
//
// Lists answer Page: {"items":[…],"next_cursor":"…"}; limit (default
// DefaultLimit, at most MaxLimit), cursor (opaque, from the previous page)
// and filters (calls: from, to, phone, status, provider, employee; clients: phone,
// from, to; leads: status, from, to; notifications and dead letters:
// none); a bad value is 400 naming the parameter. Items are encoded one by one into the answer: a record that
// cannot be encoded is logged and left out, never failing the list.
//
// # Campaigns
//
// campaigns.go serves package dialer over the gateway's click-to-call
// clients (and Finaz's own dialer for a "remote" campaign), its
// directory (an agent is an employee id, rung at its first extension, else
// its login) and its store (the database, or memory): the events every
// webhook delivers also settle the campaigns' calls, and the card of each
// call a campaign places goes to GET /api/popups with the target
// ("dialer"). An unknown campaign, agent or target is 404, invalid input
// 400 naming the field (a CSV's bad rows are listed with their lines, the
// good ones kept), an unknown employee or a provider without click-to-call
// at start 400, an action the campaign's or agent's state forbids 409.
//
// # Recordings
//
// GET /api/calls/{provider}/{call_id}/recording streams a call's
// recording through the provider's client (callevent.RecordingFetcher:
// Telphin by the call's history, Phonet and Finaz by the call id, MegaFon
// from the link of its history push), so a CRM never needs the
// provider's credentials nor its expiring links. The first request
// downloads it into the recording cache (Config.RecordingCache, at most
// Config.RecordingCacheMB MiB, the least recently served deleted first;
// files named by the hash of the call, written to a temporary file and
// renamed; concurrent first requests share one download); every request
// is served from there with http.ServeContent: Content-Type (audio, or
// application/octet-stream), Content-Length, Accept-Ranges, 206 for a
// Range, 416 for one past the end. 404 for a call the gateway does not
// know and for one the provider has no recording of, 501 naming the
// provider when its client is not configured or cannot fetch recordings,
// 502 naming it when it fails (the next request tries again). With a
// public URL the recording link the gateway gives out (recording_url in
// the API, the link of the call in amoCRM) is its own
// /recordings/{provider}/{call_id}?sig=… (HMAC-SHA256 of the provider,
// account and call id with a key derived from Config.RecordingSecret, or
// the API token): served by the same code without a token, 403 for a bad
// signature. The log keeps the provider's link, which the gateway fetches
// from.
//
// # Screens
//
// GET /api/events streams the employees' screens (package live): the
// engine's view of each call in progress and its legs (on hold once held
// through POST /api/calls/…/hold, which tells the engine: Engine.Hold),
// the cards of live calls (with the client's last calls in memory mode,
// and links to the contact and its leads in amoCRM mode), the
// notifications to employees and the status changes of PUT
// /api/employees/{id}/status, each an SSE event with an id.
// employee=<id> streams one employee's (400 for a malformed id, 404 for
// one the directory does not have), without it every employee's;
// Last-Event-ID resumes, or a reset says what was missed is gone. A
// shutdown ends the streams first, so their browsers reconnect to
// whatever serves next.
//
// # Workspace
//
// GET / is the employees' screen (workspace.go, templates/, static/: one
// plain script, no build step): the calls of the signed-in employee as
// they happen with their client cards, call control where the provider
// can (hold, transfer through a picker of colleagues with their status,
// hang up), the status switch, the call history with filters and
// recordings, click-to-call on every number, the dialing-list panel
// (Campaigns, Gateway.CampaignChanged), notifications, in Russian or
// English (i18n.go). Employees sign in with a password
// (Config.Passwords: PBKDF2 hashes, HashPassword, crm -hash-password) or
// a login link (Gateway.LoginLink, POST /api/employees/{id}/login-link),
// into a session kept in memory (SessionCookie: HttpOnly, SameSite=Lax,
// Secure over HTTPS). The workspace's stream (GET /ui/events) and API
// (/ui/api/…) are the API's handlers called as the session's employee:
// a request naming another employee is 403; one that changes something
// needs CSRFHeader, and a cross-site Origin or Sec-Fetch-Site is 403.
// Besides the engine's, the gateway does two things for the screens
// (screenwork.go): an employee's leg that begins talking holds their
// other talking calls where the provider can (autohold.go), and an
// employee a call reaches without the engine's card — transferred to
// them, or a Finaz notification (finazcard.go, seed 004) — gets the
// card (legcards.go). With -demo a demo phone (demophone.go) sends the
// Telphin webhooks of the calls the workspace rings, answers, transfers
// and hangs up.
//
// # Status
//
// GET /api/status (GatewayStatus) and the status page (GET /status:
// html/template, no script, reloading every 30 s; an admin's workspace
// session opens it too) show each
// provider's webhook counts by outcome, last event, refusal and error,
// the webhook URLs and MegaFon's token to paste; the CRM's state
// (CRMHealth); the event backlog and the notification outbox. The page
// takes the API token once as ?token=, sets StatusCookie (an HMAC of it,
// HttpOnly, SameSite=Strict, Secure over HTTPS) and redirects to the path
// without it. In amoCRM mode with an OAuth integration the tokens are
// checked at start and every day on Config.Clock: renewed when saved
// longer than OAuthIdleRefresh ago (amoCRM drops a refresh token unused
// for 3 months), else proved by one request; a failure is CRMRevoked
// (invalid_grant: /readyz answers 503) or CRMRefreshFailing, and is told
// once to the admins (match.NotifyIntegration) through the gateway's
// notifier.
//
// # Database
//
// Config.DB (-db, CRM_DB; the crm command defaults it to DefaultDB,
// "callbridge.db", and MemoryDB, ":memory:", means none) names a SQLite
// file or a postgres:// URL, opened with sqlstore.Open. The CRM's clients,
// leads, calls, notifications and employees are kept there, and the
// webhook handlers hand events to a sqlstore.Inbox, which commits each
// before the provider gets its 2xx and delivers it to the engine, so a
// restart lists what the previous run stored and delivers what it had
// acknowledged but not delivered. The seed adds only clients whose id the
// database lacks. GET /api/deadletters lists the inbox's dead events and
// POST /api/deadletters/{id}/replay (400 for an id that is not a number,
// 404 for one that is not a dead letter) puts one back; in memory mode the
// list is empty with a note (dead letters are logged and counted in
// /readyz) and every replay is 404. /readyz reports the inbox's pending
// events as queued and a database that does not answer as a problem; a
// listing whose database fails is 503. Differences from memory mode:
// clients created for unknown numbers are numbered after the seed ("c5"),
// and the cursors of lists other than calls are positions (offsets: a
// dead letter replayed meanwhile shifts the pages after it; a calls cursor
// is the last call's key in both modes). The engine's calls in progress
// survive a crash: the inbox holds their events until the engine decides
// them (match.WithOnDecision → Inbox.Settle) and the next start resumes
// them; gateways sharing a PostgreSQL database decide through the one
// holding the inbox's lease, which another takes over when it dies (see
// package sqlstore).
//
// # Configuration
//
// ParseConfig reads the flags, each with an environment variable: -addr
// (CRM_ADDR, default 127.0.0.1:8080), -public-url (CRM_PUBLIC_URL, for the
// printed URLs), -country (CRM_COUNTRY, default RU), -clients
// (CRM_CLIENTS), -hook-token (CRM_HOOK_TOKEN), -megafon-token
// (MEGAFON_CRM_TOKEN), -api-token (CRM_API_TOKEN), -call-retention
// (CRM_CALL_RETENTION, database mode), -db-sync (CRM_DB_SYNC, SQLite:
// normal or full), -rules (CRM_RULES), -recording-cache
// (CRM_RECORDING_CACHE) and -recording-cache-mb (CRM_RECORDING_CACHE_MB;
// see Recordings, with CRM_RECORDING_SECRET),
// -demo (CRM_DEMO), -db (CRM_DB; see Database), -metrics-addr
// (CRM_METRICS_ADDR) and -log-level (CRM_LOG_LEVEL; see Observability);
// -hash-password reads a workspace password on standard input, prints its
// hash and exits. Tokens not given are generated at start; -h never
// shows a secret. -config (CRM_CONFIG) names a YAML configuration file
// (examples/crm/callbridge.example.yaml) that sets all of these, the
// employees (with their workspace password_hash and lang) and the rules;
// a flag or an environment variable overrides
// it, secrets in it are {env: NAME} or {file: PATH}, and every problem of
// it is reported at once with its line. -check-config prints the
// effective settings, secrets redacted, and exits. Provider credentials
// come from the environment (or the file): TELPHIN_CLIENT_ID/TELPHIN_CLIENT_SECRET,
// MEGAFON_DOMAIN/MEGAFON_API_KEY, PHONET_DOMAIN/PHONET_API_KEY and
// FINAZ_CONFIG (the path of a finaz JSON configuration with click2call);
// TELPHIN_BASE_URL and AMOCRM_BASE_URL point the Telphin and amoCRM
// clients at another host (a sandbox, a test fake).
// Notifications also go to a signed webhook (CRM_NOTIFY_URL,
// CRM_NOTIFY_SECRET) and by e-mail to the employee told (-smtp-addr,
// -smtp-from, -smtp-username: CRM_SMTP_ADDR, CRM_SMTP_FROM,
// CRM_SMTP_USERNAME, and CRM_SMTP_PASSWORD from the environment or the
// file), through one outbox with retries (senders.go, mail.go).
// A provider without credentials still receives webhooks; POST /api/calls
// answers 400 naming the missing setting. -demo starts the telphintest,
// megafontest, phonettest and finaztest fakes in-process and points the
// clients at them; the fakes accept calls but send no webhooks, so a demo
// call adds no row to GET /api/calls — except Telphin's, whose webhooks
// the demo phone sends for the workspace (see Workspace), and prints a
// login link of each employee.
//
// The clients file is a JSON array of {"id","name","phone","responsible"};
// responsible is the employee's extension ("101") or login at the provider
// ("andy"), and every distinct one becomes an employee of the CRM, so
// lookups route a client's call to its responsible (unless the
// configuration file lists the employees). At start and every
// Config.EmployeeSync (-employee-sync, CRM_EMPLOYEE_SYNC; default
// DefaultEmployeeSync, 10 min) the employees are merged with the user
// lists of the providers with credentials (Telphin extensions, MegaFon
// and Phonet users; amoCRM's users in amoCRM mode): a user matching an
// employee by extension, login or e-mail adds its extensions and logins,
// one matching nobody becomes the employee "<provider>:<id>"; a provider
// whose list fails keeps its employees. The default rules
// (DefaultRules) create a client for every unknown number and a lead for a
// missed inbound call of a client without an active lead.
//
// # Observability
//
// The gateway installs the OpenTelemetry SDK (telemetry.go) and hands it
// to every client, handler, the queue or inbox, the engine and the
// reconcilers through their options: a meter provider read by the
// Prometheus exporter into GET /metrics (behind the API token; without it
// on Config.MetricsAddr, -metrics-addr, CRM_METRICS_ADDR), with the Go
// runtime's and the process's metrics; and, when
// OTEL_EXPORTER_OTLP_ENDPOINT (or its _TRACES_ or _METRICS_ variant) is
// set, OTLP over HTTP for spans and metrics, configured by the standard
// OTEL_ variables (service.name ServiceName unless OTEL_SERVICE_NAME).
// Without OTLP, spans are not sampled but have ids, which the log lines
// carry. Webhooks the intake refuses before their handler (a wrong
// ?token=, too many bodies in flight) are counted as the handler would.
// Config.MeterProvider and Config.TracerProvider replace the SDK (tests,
// an embedding program). examples/crm/grafana holds a dashboard.
//
// # Logs and shutdown
//
// Stdout carries exactly one slog JSON line ("msg":"event") per event
// delivered to the CRM. Stderr carries the webhook URLs and the other log
// lines, also slog JSON: start, shutdown, refused requests and failures
// (Config.DiagOut), from Config.LogLevel up (-log-level, CRM_LOG_LEVEL:
// debug, info, warn, error). Every line logged in a request's or call's
// context carries its trace_id and span_id, and the lines about a call its
// call_id, provider and account. On SIGINT or SIGTERM the server stops accepting (and
// /readyz answers 503), waits ShutdownGrace for the requests in flight,
// then closes the connections still busy (a client holding a response
// open), drains the queue into the CRM, lets the engine decide every call
// still waiting to settle (in database mode those stay in the database,
// with the calls in progress, for the next start to resume), and exits 0
// — or 1 when an acknowledged event could not be delivered (a dead
// letter).
//
// # Time
//
// The engine acts on a call when its final record arrives (Completed; for
// Telphin, whose events carry legs, match.DefaultSettle = 3 s later), 30 s
// after its last leg ended without one, FinazSettle (5 s) after a Finaz
// notification (Finaz sends only "answered", never the end), and for a
// call of another provider that never reports an end after the engine's
// idle timeout (4 h). Config.Clock replaces the system clock, which is how the tests
// drive these timers without sleeping.
//
// # Performance
//
// BenchmarkGatewayHandler (a Phonet call.dial through routing, token,
// decoding, dedup and the queue into the engine, no network; building the
// request body included), median of -count 5 on 2 cores: 38 µs/op,
// about 26,000 events/s, 18.7 KB and 173 allocs per event. Over HTTP with
// examples/loadgen on the same two cores: about 10,600 events/s, p99 6.4 ms
// at 16 connections and 12,100 events/s, p99 9.8 ms at 32, nothing lost
// (the crm command's GOGC=400; figures and command in the README).
package gateway
