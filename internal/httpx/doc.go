// Package httpx is the HTTP client core shared by callbridge's provider
// clients (Telphin, MegaFon, Phonet, amoCRM, Finaz). It is built on
// github.com/hashicorp/go-retryablehttp, configured explicitly, and adds
// authentication with single-flight credential refresh, client-side rate
// limiting, retries only where they are safe, and typed, redacted errors.
//
// # Construction
//
// New(Config) validates the configuration. BaseURL must be an absolute
// http(s) URL; a trailing "/" is added, and Request.Path is resolved
// relative to it (a leading "/" in Path is ignored). Config.HTTPClient is
// copied, never mutated; when nil a client with a 30 s timeout
// (DefaultTimeout) over the process-wide transport is used. The User-Agent is
// "callbridge/<Version> <Config.UserAgent>". The package is quiet by default:
// nothing is written to stderr (go-retryablehttp's own logger is disabled);
// pass Config.Logger for debug lines, and Config.OnResponse to observe every
// response's headers (X-RateLimit-*). Every request asks for gzip
// (Accept-Encoding: gzip, unless Request.Header sets another) and the
// Client decompresses the answer itself, whatever the transport.
//
// A Client with credentials belongs to one tenant (one Telphin app, one
// amoCRM account …): do not share it across CRM accounts.
//
// # Authentication
//
// Config.Auth adds credentials to requests sent to BaseURL's origin;
// absolute URLs to other hosts (e.g. a recording URL from a webhook) are
// sent without them. If the Authenticator also implements Reauthenticator,
// a response for which IsAuthFailure reports true (401; for Phonet also 403
// or a redirect to the login page) makes the Client call Reauthenticate once
// and replay the request once, rebuilt from the Request with the same body.
// A second failure is returned as an *APIError; there is no loop. A 401
// means the request was not processed, so the replay is safe for any method.
//
// CredentialCache holds one credential (OAuth token, rotating amoCRM token
// pair, Phonet JSESSIONID) for all goroutines: refresh is single-flight,
// refreshes early (10 s margin), and Invalidate(stale) only drops the value
// the caller saw rejected, so N concurrent 401s cause one refresh. The
// fetch runs on a context detached from the callers' cancellation, with its
// own timeout. CacheAuth adapts a CredentialCache to Authenticator and
// Reauthenticator. Provider code persists rotated refresh tokens inside its
// fetch function, before returning the new value.
//
// # Retries and rate limits
//
// A request is retried only when it cannot have taken effect twice:
//
//	outcome                                      GET HEAD PUT DELETE OPTIONS   POST PATCH   POST/PATCH Idempotent
//	dial error (refused, DNS): nothing sent      retry                         retry        retry
//	other transport error (timeout, reset, EOF)  retry                         no           retry
//	TLS certificate / redirect-limit error       no                            no           no
//	429                                          retry*                        retry*       retry*
//	502, 503*, 504                               retry                         no           retry
//	500, 501, other 4xx/5xx, 2xx, 3xx            no                            no           no
//	context canceled / deadline                  stop at once (errors.Is(err, context.Canceled))
//
// (*) not when Retry-After or X-RateLimit-Reset asks for longer than
// RetryWaitMax: a *RateLimitError is returned at once instead of sleeping on
// a quota reset hours away. A click-to-call POST is therefore sent at most
// once unless it carries a provider idempotency key (Request.Idempotent).
// A state-changing request sent with an idempotent method (a click-to-call
// GET) sets Request.NotIdempotent and is retried like a POST. A provider
// whose answer says in its body that retrying is pointless (a quota 429
// without headers) tells so through Config.Permanent.
//
// RetryMax defaults to 3 retries (negative: none). The wait between
// attempts is Config.Backoff (injectable; tests use a zero backoff),
// clamped to RetryWaitMax; DefaultBackoff honours Retry-After (capped) and
// otherwise backs off exponentially from RetryWaitMin (500 ms) to
// RetryWaitMax (10 s) with jitter. A custom Backoff decides the wait itself:
// Retry-After is not applied on top of it. Config.Limiter (golang.org/x/time/rate)
// is waited on before every attempt, including retries and the
// re-authenticated replay.
//
// # Errors
//
// Do returns a 2xx response as is (the caller closes the body; suitable for
// streaming). Any other status returns *APIError (StatusCode, Code,
// Message, RequestID, Body capped at 64 KiB), or *RateLimitError for 429,
// which errors.As also matches as *APIError:
//
//	var rl *httpx.RateLimitError
//	if errors.As(err, &rl) { wait(rl.RetryAfter) }
//	var apiErr *httpx.APIError
//	if errors.As(err, &apiErr) && apiErr.StatusCode == 404 { … }
//
// Failures without a response (transport, canceled context, rate-limiter
// wait, authentication, decoding) are *RequestError; its Unwrap gives the
// cause, so errors.Is(err, context.Canceled) and errors.As(err, &netOpErr)
// work. All three implement HTTPStatusCode() int and Retryable() bool.
// DefaultParseError fills Code and Message from common JSON error shapes;
// Config.ParseError lets a provider refine them.
//
// Secrets never appear in error strings, error bodies or log lines: query,
// form and JSON fields named like token, access_token, refresh_token,
// api_key, apiKey, key, client_secret, secret, password, crm_token or code,
// Authorization / Cookie / X-API-KEY values, Bearer credentials, and every
// literal value returned by Config.Secrets are replaced by "REDACTED" (see
// Redact). The *url.Error from net/http, which embeds the full URL, is
// removed from the error chain.
//
// # Testing
//
// Tests run against httptest servers with Config.Backoff set to a function
// returning 0, so retries are instant; count server hits to assert the
// exact number of attempts.
package httpx
