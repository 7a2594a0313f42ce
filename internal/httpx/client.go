package httpx

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/callbridge/callbridge/internal/telemetry"
)

// Version is the callbridge version reported in the User-Agent header.
const Version = "0.1.0"

// Defaults applied to zero Config fields.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultRetryMax         = 3
	DefaultRetryWaitMin     = 500 * time.Millisecond
	DefaultRetryWaitMax     = 10 * time.Second
	DefaultMaxResponseBytes = 32 << 20
)

// Config configures a Client. Zero values get the documented defaults.
type Config struct {
	// Provider names the API ("telphin", …) in errors.
	Provider string
	// BaseURL is the absolute http(s) URL that Request.Path is resolved
	// against. A trailing "/" is added if missing. Required.
	BaseURL string
	// HTTPClient is copied (shallow) and never mutated; its Timeout,
	// Transport, Jar and CheckRedirect apply. nil → a client with
	// Timeout DefaultTimeout (30 s) and the process-wide transport (see DefaultHTTPClient).
	HTTPClient *http.Client
	// UserAgent is appended to "callbridge/<Version>".
	UserAgent string
	// Limiter, if set, is waited on (Wait(ctx)) before every attempt,
	// retries and the re-authenticated replay included.
	Limiter *rate.Limiter
	// RetryMax is the number of retries after the first attempt.
	// 0 → DefaultRetryMax (3); negative → no retries.
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the backoff. 0 → 500 ms and 10 s.
	// RetryWaitMax also caps any wait, and a 429/503 whose Retry-After (or
	// X-RateLimit-Reset) asks for longer than RetryWaitMax is not retried.
	RetryWaitMin, RetryWaitMax time.Duration
	// Backoff computes the wait before retry attemptNum (0-based); resp is
	// the response being retried (nil after a transport error). Its result
	// is clamped to [0, RetryWaitMax]. nil → DefaultBackoff, which is the
	// one that honours Retry-After (and X-RateLimit-Reset), capped at
	// RetryWaitMax. A custom Backoff decides the wait itself: Retry-After is
	// not applied on top of it (call DefaultBackoff from it to keep that).
	// Whatever the Backoff, a 429/503 asking for longer than RetryWaitMax
	// is not retried.
	Backoff retryablehttp.Backoff
	// Auth, if set, adds credentials to requests sent to BaseURL's origin
	// (scheme, host and port). Requests to other origins (absolute
	// Request.Path) are sent without credentials. If Auth also implements
	// Reauthenticator, an auth failure is re-authenticated and replayed once.
	Auth Authenticator
	// ParseError fills Code/Message from an error body. It runs after
	// DefaultParseError and may override it. Its results are redacted.
	ParseError func(resp *http.Response, body []byte, e *APIError)
	// Permanent, when set, sees each answer the retry rules would retry
	// (429, 502/503/504), parsed as by ParseError, and reports whether it
	// must not be retried after all: a provider whose body says "quota
	// exhausted for the hour" in a 429 without headers that say so.
	Permanent func(e *APIError) bool
	// Secrets returns literal secret values (API keys, tokens) to scrub from
	// every error string, error body and log line. Called when an error or
	// log line is built, so rotating tokens are covered.
	Secrets func() []string
	// Logger receives debug lines (retries, re-authentication); nil → discard.
	// Nothing is ever written to stderr by default.
	Logger *slog.Logger
	// OnResponse, if set, is called with every response received (each
	// attempt, before the body is read), e.g. to read X-RateLimit-* headers.
	// It must not read or close the body.
	OnResponse func(*http.Response)
	// MaxResponseBytes limits the body Client.JSON decodes.
	// 0 → DefaultMaxResponseBytes (32 MiB).
	MaxResponseBytes int64
	// MeterProvider and TracerProvider receive the client's metrics and
	// spans (see telemetry.API); nil → the global providers.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// Client sends Requests with authentication, rate limiting, safe retries
// and typed errors. It is safe for concurrent use. A Client with
// credentials belongs to one tenant: do not share it across CRM accounts.
type Client struct {
	provider    string
	base        *url.URL
	userAgent   string
	http        *http.Client
	rc          *retryablehttp.Client
	limiter     *rate.Limiter
	auth        Authenticator
	reauth      Reauthenticator
	parseError  func(*http.Response, []byte, *APIError)
	permanent   func(*APIError) bool
	secrets     func() []string
	log         *slog.Logger
	onResponse  func(*http.Response)
	backoff     retryablehttp.Backoff
	retryMax    int
	waitMin     time.Duration
	waitMax     time.Duration
	maxRespBody int64
	tel         *telemetry.API
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		provider:    cfg.Provider,
		base:        base,
		userAgent:   "callbridge/" + Version,
		limiter:     cfg.Limiter,
		auth:        cfg.Auth,
		parseError:  cfg.ParseError,
		permanent:   cfg.Permanent,
		secrets:     cfg.Secrets,
		log:         cfg.Logger,
		onResponse:  cfg.OnResponse,
		backoff:     cfg.Backoff,
		retryMax:    cfg.RetryMax,
		waitMin:     cfg.RetryWaitMin,
		waitMax:     cfg.RetryWaitMax,
		maxRespBody: cfg.MaxResponseBytes,
		tel:         telemetry.NewAPI(cfg.MeterProvider, cfg.TracerProvider),
	}
	if ua := strings.TrimSpace(cfg.UserAgent); ua != "" {
		c.userAgent += " " + ua
	}
	if ra, ok := cfg.Auth.(Reauthenticator); ok {
		c.reauth = ra
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.backoff == nil {
		c.backoff = DefaultBackoff
	}
	switch {
	case c.retryMax == 0:
		c.retryMax = DefaultRetryMax
	case c.retryMax < 0:
		c.retryMax = 0
	}
	if c.waitMin < 0 || c.waitMax < 0 {
		return nil, errors.New("httpx: negative RetryWaitMin or RetryWaitMax")
	}
	if c.waitMin == 0 {
		c.waitMin = DefaultRetryWaitMin
	}
	if c.waitMax == 0 {
		c.waitMax = max(DefaultRetryWaitMax, c.waitMin)
	}
	if c.waitMin > c.waitMax {
		return nil, fmt.Errorf("httpx: RetryWaitMin %v exceeds RetryWaitMax %v", c.waitMin, c.waitMax)
	}
	if c.maxRespBody < 0 {
		return nil, errors.New("httpx: negative MaxResponseBytes")
	}
	if c.maxRespBody == 0 {
		c.maxRespBody = DefaultMaxResponseBytes
	}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.http = &hc
	} else {
		c.http = DefaultHTTPClient()
	}
	c.http.Transport = &attemptTransport{base: c.http.Transport, c: c}
	c.rc = &retryablehttp.Client{
		HTTPClient:   c.http,
		Logger:       nil, // its logger writes to stderr and does not redact query secrets
		RetryWaitMin: c.waitMin,
		RetryWaitMax: c.waitMax,
		RetryMax:     c.retryMax,
		CheckRetry:   c.checkRetry,
		Backoff:      c.clampedBackoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		PrepareRetry: c.prepareRetry,
	}
	return c, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("httpx: BaseURL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("httpx: invalid BaseURL %q", Redact(raw))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("httpx: BaseURL %q must be an absolute http or https URL", redactURL(u, nil))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("httpx: BaseURL %q must not have a query or fragment", redactURL(u, nil))
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u, nil
}

// BaseURL returns a copy of the base URL (with its trailing slash).
func (c *Client) BaseURL() *url.URL {
	u := *c.base
	return &u
}

// Request describes one logical API call. It is not modified by the Client
// and may be reused.
type Request struct {
	// Method defaults to GET.
	Method string
	// Path is relative to BaseURL ("api/ver1.0/user/"; a leading "/" is
	// ignored so the path stays under BaseURL's path) or an absolute http(s)
	// URL, used as is (and sent without credentials unless it has BaseURL's
	// origin).
	Path string
	// Query is added to any query already in Path.
	Query  url.Values
	Header http.Header
	// Body is replayed on every attempt; nil for no body.
	Body        []byte
	ContentType string
	// Idempotent marks a non-idempotent method (POST, PATCH) as safe to
	// retry on 502/503/504 and transport errors, because it carries a
	// provider idempotency key.
	Idempotent bool
	// NotIdempotent marks an idempotent method (GET, PUT, DELETE, …) as
	// unsafe to repeat, e.g. a GET that places a call: it is then retried
	// like a POST, only after a 429 or a dial error (nothing sent). It wins
	// over Idempotent.
	NotIdempotent bool
	// Operation names the call in spans and metrics
	// (callbridge.operation), e.g. "calls.create": a few fixed names per
	// provider, never an id. "" → the HTTP method.
	Operation string
}

// NewJSONRequest returns a Request whose body is v encoded as JSON
// (no body if v is nil).
func NewJSONRequest(method, path string, v any) (*Request, error) {
	r := &Request{Method: method, Path: path}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("httpx: encoding JSON request body: %w", err)
		}
		r.Body = b
		r.ContentType = "application/json"
	}
	return r, nil
}

// NewFormRequest returns a Request whose body is form,
// application/x-www-form-urlencoded.
func NewFormRequest(method, path string, form url.Values) *Request {
	return &Request{
		Method:      method,
		Path:        path,
		Body:        []byte(form.Encode()),
		ContentType: "application/x-www-form-urlencoded",
	}
}

// callState is the per-call state CheckRetry and PrepareRetry reach through
// the request context.
type callState struct {
	c          *Client
	method     string
	operation  string
	u          *url.URL
	idempotent bool
	attempts   int
	redacted   string
}

type callStateKey struct{}

func (st *callState) url() string {
	if st.redacted == "" {
		st.redacted = redactURL(st.u, st.c.secretList())
	}
	return st.redacted
}

func (c *Client) secretList() []string {
	if c.secrets == nil {
		return nil
	}
	return c.secrets()
}

// Do sends r. A 2xx response is returned as is: the caller must close its
// body (suitable for streaming downloads). Any other status returns the
// response (body already read, closed and replaced by http.NoBody; headers
// usable) and an *APIError, or *RateLimitError for 429. Failures without a
// response return a *RequestError.
func (c *Client) Do(ctx context.Context, r *Request) (*http.Response, error) {
	resp, _, err := c.do(ctx, r, false)
	return resp, err
}

// JSON is Do plus decoding a JSON response body into out (out may be nil to
// discard it). A 204 or an empty body is not decoded and is not an error.
// The body is limited to Config.MaxResponseBytes (ErrResponseTooLarge).
// The returned response has its body consumed and closed; headers are usable.
// An Accept: application/json header is sent unless r sets Accept.
func (c *Client) JSON(ctx context.Context, r *Request, out any) (*http.Response, error) {
	resp, st, err := c.do(ctx, r, true)
	if err != nil {
		return resp, err
	}
	defer func() {
		resp.Body.Close()
		resp.Body = http.NoBody
	}()
	if out == nil || resp.StatusCode == http.StatusNoContent || resp.Request != nil && resp.Request.Method == http.MethodHead {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return resp, nil
	}
	lr := &limitReader{r: resp.Body, n: c.maxRespBody}
	if err := json.NewDecoder(lr).Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return resp, nil // empty body
		}
		if lr.exceeded {
			err = ErrResponseTooLarge
		}
		return resp, c.requestError(st, "decode", err)
	}
	return resp, nil
}

func (c *Client) do(ctx context.Context, r *Request, acceptJSON bool) (resp *http.Response, st *callState, err error) {
	if r == nil {
		return nil, nil, errors.New("httpx: nil Request")
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	u, err := c.resolve(r)
	if err != nil {
		return nil, nil, err
	}
	st = &callState{c: c, method: method, operation: cmp.Or(r.Operation, method), u: u,
		idempotent: !r.NotIdempotent && (r.Idempotent || idempotentMethod(method))}
	ctx, end := c.startCall(ctx, st)
	defer func() { end(resp, err) }()
	ctx = context.WithValue(ctx, callStateKey{}, st)
	useAuth := c.auth != nil && sameOrigin(u, c.base)

	for reauthed := false; ; reauthed = true {
		req, err := c.build(ctx, method, u, r, acceptJSON)
		if err != nil {
			return nil, st, c.requestError(st, "build request", err)
		}
		if useAuth {
			if err := c.auth.Authenticate(ctx, req.Request); err != nil {
				return nil, st, c.requestError(st, "authenticate", err)
			}
		}
		resp, err := c.send(ctx, st, req)
		if err != nil {
			return nil, st, err
		}
		authFailed := useAuth && c.reauth != nil && c.reauth.IsAuthFailure(resp)
		if authFailed && !reauthed {
			drainClose(resp.Body)
			c.log.DebugContext(ctx, "httpx: authentication failed, re-authenticating",
				"method", method, "url", st.url(), "status", resp.StatusCode)
			if err := c.reauth.Reauthenticate(ctx, req.Request); err != nil {
				return nil, st, c.requestError(st, "reauthenticate", err)
			}
			continue
		}
		if !authFailed && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return resp, st, nil
		}
		return resp, st, c.responseError(st, resp, authFailed)
	}
}

// send waits for the limiter and performs the attempts of one request.
func (c *Client) send(ctx context.Context, st *callState, req *retryablehttp.Request) (*http.Response, error) {
	if err := c.wait(ctx, st); err != nil {
		return nil, err
	}
	resp, err := c.rc.Do(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		var re *RequestError
		if errors.As(err, &re) { // from prepareRetry
			return nil, err
		}
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return nil, c.requestError(st, "", err)
	}
	if err := gunzip(resp); err != nil {
		return nil, c.requestError(st, "", err)
	}
	return resp, nil
}

// limiterError makes a limiter failure caused by the context match
// errors.Is(err, ctx.Err()).
func limiterError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// prepareRetry runs before every retry attempt: it waits for the limiter.
func (c *Client) prepareRetry(req *http.Request) error {
	ctx := req.Context()
	st, _ := ctx.Value(callStateKey{}).(*callState)
	return c.wait(ctx, st)
}

// wait takes a token of the limiter, if any, and records a wait that
// took time. The token is taken when it is there, right before the
// request goes: rate.Limiter.Wait would book a time ahead instead, and
// the requests whose times passed while the process was held up (a busy
// machine, a long pause) would then go all at once, over the provider's
// limit (in CI 123 of 600 amoCRM requests were answered 429 so).
func (c *Client) wait(ctx context.Context, st *callState) error {
	if c.limiter == nil {
		return nil
	}
	start := time.Now()
	if err := takeToken(ctx, c.limiter); err != nil {
		return c.requestError(st, "rate limit", limiterError(ctx, err))
	}
	c.recordWait(ctx, st, telemetry.WaitClient, time.Since(start))
	return nil
}

// takeToken takes one token of lim, waiting until one is there. It fails
// at once when ctx's deadline comes before the next token could.
func takeToken(ctx context.Context, lim *rate.Limiter) error {
	var t *time.Timer
	for !lim.Allow() {
		limit := lim.Limit()
		if limit <= 0 {
			return fmt.Errorf("rate: a limit of %v allows no more requests", limit)
		}
		// When the next token is due, if nobody else takes it first.
		d := max(time.Duration((1-lim.Tokens())/float64(limit)*float64(time.Second)), time.Millisecond)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return fmt.Errorf("rate: the next token, in %v, comes after the context's deadline", d.Round(time.Millisecond))
		}
		if t == nil {
			t = time.NewTimer(d)
			defer t.Stop()
		} else {
			t.Reset(d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (c *Client) build(ctx context.Context, method string, u *url.URL, r *Request, acceptJSON bool) (*retryablehttp.Request, error) {
	var body any
	if len(r.Body) > 0 {
		body = r.Body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if acceptJSON && req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if req.Header.Get("Accept-Encoding") == "" {
		// Asked for explicitly (not left to the transport, which a custom
		// one may not do), so the Client decompresses itself: see send.
		req.Header.Set("Accept-Encoding", "gzip")
	}
	return req, nil
}

// gunzip replaces a gzip-encoded body with its decompressed stream.
func gunzip(resp *http.Response) error {
	if resp.Uncompressed || !strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") || resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		resp.Body.Close()
		return fmt.Errorf("gzip response: %w", err)
	}
	resp.Body = gzipBody{zr, resp.Body}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
	return nil
}

// gzipBody reads the decompressed stream and closes the wire body.
type gzipBody struct {
	*gzip.Reader
	wire io.ReadCloser
}

func (b gzipBody) Close() error { return errors.Join(b.Reader.Close(), b.wire.Close()) }

func (c *Client) resolve(r *Request) (*url.URL, error) {
	ref, err := url.Parse(r.Path)
	if err != nil {
		return nil, fmt.Errorf("httpx: invalid request path %q", Redact(r.Path, c.secretList()...))
	}
	var u *url.URL
	switch {
	case ref.IsAbs():
		if (ref.Scheme != "http" && ref.Scheme != "https") || ref.Host == "" {
			return nil, fmt.Errorf("httpx: request URL %q must be http or https", redactURL(ref, c.secretList()))
		}
		u = ref
	case ref.Host != "" || ref.User != nil:
		return nil, fmt.Errorf("httpx: scheme-relative request path %q is not allowed", redactURL(ref, c.secretList()))
	default:
		if strings.HasPrefix(ref.Path, "/") {
			ref.Path = strings.TrimLeft(ref.Path, "/")
			ref.RawPath = strings.TrimLeft(ref.RawPath, "/")
		}
		u = c.base.ResolveReference(ref)
	}
	if len(r.Query) > 0 {
		q := u.Query()
		for k, vs := range r.Query {
			q[k] = append(q[k], vs...)
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// requestError builds a *RequestError with a redacted message.
func (c *Client) requestError(st *callState, op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		// url.Error embeds the full URL; drop it from the chain.
		err = ue.Err
	}
	e := &RequestError{Provider: c.provider, Op: op, Err: &redactedError{msg: Redact(err.Error(), c.secretList()...), err: err}}
	if st != nil {
		e.Method, e.URL, e.Attempts, e.Idempotent = st.method, st.url(), st.attempts, st.idempotent
	}
	return e
}

// parse fills e's Code and Message from an error body.
func (c *Client) parse(resp *http.Response, body []byte, e *APIError) {
	DefaultParseError(resp, body, e)
	if c.parseError != nil {
		c.parseError(resp, body, e)
	}
}

// isPermanent reports whether Config.Permanent vetoes retrying resp. It
// peeks at the body (capped) and puts it back for whoever reads it next.
func (c *Client) isPermanent(resp *http.Response) bool {
	if c.permanent == nil || resp == nil || resp.Body == nil {
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBodyBytes))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	e := &APIError{StatusCode: resp.StatusCode, RequestID: requestID(resp.Header)}
	c.parse(resp, body, e)
	return c.permanent(e)
}

// responseError reads (capped), closes and replaces resp.Body, and builds
// an *APIError or *RateLimitError.
func (c *Client) responseError(st *callState, resp *http.Response, authFailed bool) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBodyBytes))
	drainClose(resp.Body)
	resp.Body = http.NoBody

	e := &APIError{
		Provider:   c.provider,
		StatusCode: resp.StatusCode,
		RequestID:  requestID(resp.Header),
		Method:     st.method,
		URL:        st.url(),
		Idempotent: st.idempotent,
	}
	c.parse(resp, body, e)
	if authFailed && e.Code == "" && e.Message == "" {
		e.Message = "authentication failed"
	}
	secrets := c.secretList()
	e.Code = Redact(e.Code, secrets...)
	e.Message = Redact(e.Message, secrets...)
	e.RequestID = Redact(e.RequestID, secrets...)
	if len(body) > 0 {
		e.Body = []byte(Redact(string(body), secrets...))
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		return e
	}
	now := time.Now()
	rl := parseRateLimit(resp.Header, now)
	rle := &RateLimitError{APIError: *e, Reset: rl.Reset, Limit: rl.Limit, Remaining: rl.Remaining}
	if d, ok := retryAfter(resp, now); ok {
		rle.RetryAfter = d
		if rle.Reset.IsZero() {
			rle.Reset = now.Add(d)
		}
	}
	return rle
}

func drainClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
	body.Close()
}

// sameOrigin reports whether a and b have the same scheme, host and port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// limitReader reads at most n bytes and reports exceeding it as
// ErrResponseTooLarge (like http.MaxBytesReader).
type limitReader struct {
	r        io.Reader
	n        int64
	exceeded bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.exceeded {
		return 0, ErrResponseTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	if int64(n) <= l.n {
		l.n -= int64(n)
		return n, err
	}
	n = int(l.n)
	l.n = 0
	l.exceeded = true
	return n, ErrResponseTooLarge
}

// DefaultHTTPClient returns a new *http.Client with Timeout DefaultTimeout
// over one transport shared by every provider client of the process, so
// that 10,000 clients (one per tenant) hold one pool of connections, not
// 10,000. The shared transport is a clone of http.DefaultTransport taken
// at first use, with more idle connections per host; when
// http.DefaultTransport has been replaced by a wrapper (otelhttp does
// that), the wrapper itself is used.
func DefaultHTTPClient() *http.Client {
	return &http.Client{Timeout: DefaultTimeout, Transport: sharedTransport()}
}

// DefaultMaxIdleConnsPerHost is the shared transport's idle-connection pool
// per host: enough for a busy tenant's parallel requests to one API.
const DefaultMaxIdleConnsPerHost = 16

var sharedTransport = sync.OnceValue(func() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	return t
})
