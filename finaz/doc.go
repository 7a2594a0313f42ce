// Package finaz implements the Finaz integration contract ("Manual
// Integração – Sistemas de Telefonia") as a library: a CRM drives any
// telephony system through HTTP requests configured once, and receives
// the one notification the PBX sends back, "call answered".
//
// # Configuration
//
// A [Config] has one [RequestTemplate] per operation the telephony system
// supports: Click2Call, Transfer, UploadContacts, ClearDialer,
// DialerResults, DownloadRecording (the manual lets any subset be enabled;
// an unconfigured operation fails with callevent.ErrUnsupported). Build it
// in Go or load it from JSON with [LoadConfig] (or a shipped set with
// [LoadTemplate]: "generic-rest", "vicidial"). Validation happens at load:
// unknown variables for the operation, placeholders in slots that cannot
// hold them, wrong body/response/results settings and missing required
// operations are [*FieldError]s naming the operation and field, all
// reported at once.
//
// Templates are not text substitution over whole bodies. Requests are built
// structurally and each placeholder "{{name}}" is escaped for its slot: a
// URL path segment (percent-encoded, "/" included; a value that would make
// its segment empty, "." or "..", even once a server decodes it, is refused,
// so a value never changes which path is requested),
// a query or form value (query-escaped: "+55…" stays "+55…"), a header
// (line breaks rejected), a JSON string (built as a tree, so quotes,
// backslashes and control characters are escaped; "{{x|number}}" makes a
// JSON number, "{{x|omitempty}}" drops an empty field), a CSV cell (quoted
// as needed, so names with ";" or quotes cannot shift columns), or XML text.
// Placeholders are not allowed in the URL's scheme, host or query string,
// and a relative URL is joined to the base URL as text, never resolved.
// A variable without a value is an error, never an empty or "<no value>"
// string. [Client.Render] is a dry run with secret Params redacted.
//
// # System variables
//
// The manual's "parâmetros de sistema", named after its Portuguese words:
//
//	identificador_fila         Identificador da Fila (queue, campaign or list id)
//	ramal_operador             Ramal do operador
//	ddd, numero                DDD do telefone, Número do telefone (Click2Call)
//	identificador_contato_crm  Identificador Contato CRM (UploadContacts)
//	nome_cliente, cpf          Nome Cliente, CPF (digits only)
//	ddd1…ddd5, numero1…numero5 DDD 1…5, Número 1…5 (UploadContacts; "" for absent phones)
//	numero_destino             Número do telefone de destino (Transfer)
//	identificador_chamada      Identificador da Chamada (DownloadRecording; also Transfer)
//
// callbridge adds telefone and telefone1…telefone5, the whole number with
// country code ("5511987654321"), which also works for numbers without a
// DDD. Numbers are normalised with Config.DefaultCountry ("BR" by default)
// and a Brazilian number is split from its 55-form into DDD and number
// ([SplitPhone]; [JoinPhone] goes back). Config.Params add the manual's
// "novos parâmetros" (credentials and the like), optionally secret.
//
// # Client
//
// [NewClient] validates the configuration; it takes the client options of
// package callbridge (callbridge.WithBaseURL, WithDefaultCountry,
// WithHTTPClient, WithUserAgent, WithRateLimit, WithRetry, WithLogger;
// WithTokenStore is refused: there is no OAuth token). [Client.Call]
// (Click2Call) and [Client.GroupCall] (with the queue) implement
// callevent.Caller and GroupCaller; [Client.Transfer] implements
// callevent.Transferer.
// [Client.UploadContacts] sends a mailing either as one CSV file (CSV mode,
// body "csv" or "multipart") or one request per contact with bounded
// concurrency; the [UploadReport] accounts for every contact, nothing is
// dropped silently. [Client.ReloadDialer] is the manual's "always clear
// before a new upload". [Client.DialerResults] reads CSV or JSON answers by
// a configured mapping and maps statuses to a [Disposition].
// [Client.DownloadRecording] streams the file; [Client.FetchRecording]
// implements callevent.RecordingFetcher with it.
//
// There is no authentication scheme of its own: credentials are Params
// placed where the telephony system wants them (a header, a query value, a
// form field). Mark them secret.
//
// # Errors
//
// Error responses are [*callbridge.APIError] (also a 2xx judged a failure
// by the template's Response: status list, success field or regex, with
// the message field as Message), 429 is [*callbridge.RateLimitError],
// failures without a response [*callbridge.RequestError]; use errors.As.
// Secret Params never appear in errors or logs. Invalid input is reported
// before anything is sent: [ErrInvalidPhone], a [*FieldError] for a
// variable without value.
// Uploads wrap [ErrUploadIncomplete]; unreadable dialer results are
// [*ResultError]s next to the good ones.
//
// # Retries and rate limits
//
// All HTTP goes through callbridge's internal/httpx: by default one
// transport shared by every client of the process (16 idle connections
// per host; callbridge.WithHTTPClient for more), default timeout 30 s
// (callbridge.DefaultTimeout), up to 3 retries with capped exponential
// backoff (callbridge.WithRetry; its RetryPolicy.Backoff replaces the
// backoff), optional client-side rate limit (callbridge.WithRateLimit).
// Reads (dialer_results, download_recording) are retried after
// 502/503/504 and timeouts when their method is idempotent. Click2Call,
// Transfer, UploadContacts and ClearDialer change state: they are never
// retried once the request may have reached the PBX (one click, at most
// one call), whatever the method, unless the template says "idempotent":
// true. A request refused with 429,
// or whose connection was refused before anything was sent, is still
// retried, whatever the method.
//
// # Secrets
//
// [Config], [Param] and [*Client] print, log (slog) and marshal to JSON
// with every secret Param as "REDACTED". A Config marshalled to JSON
// therefore loads again without its secrets: [NewClient] refuses it until
// they are set ([Config.SetSecret]).
//
// # Webhooks
//
// [NewHandler] serves both notifications of the manual and delivers a
// callevent Answered event (ContactRef = pid, ClientPhone = num, CallID =
// cid, Extension = ramal, Account = empresaId, also read as the manual's
// "empresald"); [ParseNotification] is the same decoding without HTTP.
// The server-side GET …/atendimentodiscador is answered "OK"; the
// client-side …/atendimentoreceptivo is an agent's browser window, which
// is redirected (302) to the client's CRM card found through a
// callevent.ContactLookup (webhook.WithContactLookup,
// webhook.WithCardURL), redirected to the "create contact" page of
// webhook.WithCardURL for a number the lookup does not know, or shown a
// small escaped HTML page (linking to the "create contact" page when no
// client was found). NewHandler takes the options of package webhook.
// Authentication is required: webhook.WithToken (query parameter "token",
// several tokens for rotation), webhook.WithAllowedIPs, or an explicit
// webhook.WithoutAuth. The account is always empresaId:
// webhook.WithAccount and webhook.WithTokenAccounts are refused. Every
// parameter is bounded (callevent.MaxFieldLen bytes, at most [MaxParams]
// of them) and checked before an event is built: garbage, such as a num
// that is neither a number, an extension nor anonymous or a cid with
// control characters, is a 400 naming the parameter. Mount it on a prefix:
//
//	h, err := finaz.NewHandler(sink, webhook.WithToken(token), webhook.WithContactLookup(engine))
//	mux.Handle("/telephony-proxy/", h)
//
// # Testing
//
// Package finaztest is a fake telephony system on 127.0.0.1 that records
// requests, answers with configured bodies and injects failures (status
// codes, delays, a credential check), plus builders for both notifications:
//
//	pbx := finaztest.NewServer()
//	defer pbx.Close() // in a test: t.Cleanup(pbx.Close)
//	pbx.Reply("POST", "/calls", finaztest.Response{Status: 201, Body: `{"call_id":"c-1"}`})
//	pbx.Fail(finaztest.Failure{Path: "/calls", Status: http.StatusServiceUnavailable})
//	client, err := finaz.NewClient(cfg, callbridge.WithBaseURL(pbx.URL))
//
// # Performance
//
// Go 1.26, 2 cores (AMD EPYC), median of 5 runs (-count 5):
//
//	BenchmarkRender/generic-rest   3.2 µs/op   1.9 KB/op   26 allocs/op   (JSON click2call dry run)
//	BenchmarkRender/vicidial       6.7 µs/op   4.0 KB/op   53 allocs/op   (add_lead, 14 query values)
//	BenchmarkHandler              11.6 µs/op   ≈ 86,000 events/s   9.3 KB/op   58 allocs/op
//
// A per-contact upload of 10,000 contacts to the local fake takes about
// 0.7 s (2.6 s with -race) at concurrency 8.
package finaz
