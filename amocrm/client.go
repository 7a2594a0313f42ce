package amocrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/oauth2"
	"golang.org/x/time/rate"

	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/oauth"
)

// Defaults of a Client.
const (
	// DefaultRateLimit is amoCRM's documented limit: 7 requests per second
	// per account, shared by every goroutine using one Client.
	DefaultRateLimit rate.Limit = 7
	// DefaultTimeout is the HTTP timeout of a Client built without
	// WithHTTPClient.
	DefaultTimeout = httpx.DefaultTimeout
	// DefaultBlockCooldown is how long a Client refuses to send anything
	// after amoCRM answered with its HTML 403 block page (see ErrBlocked).
	DefaultBlockCooldown = time.Minute
	// MaxBatch is the most entities one batch write may carry.
	MaxBatch = 50
)

// tokenPath is the OAuth token endpoint on the account host.
const tokenPath = "oauth2/access_token"

// Credentials identify the amoCRM (or Kommo) account and the integration.
//
// Domain is the account host exactly as amoCRM gives it in the "referer"
// parameter of the OAuth redirect: "example.amocrm.ru" or
// "example.kommo.com" (a leading "https://" and a trailing "/" are
// accepted). Never "www.amocrm.ru" or "www.kommo.com".
//
// Either set LongLivedToken (a private integration's long-lived token: no
// refresh; revoked or expired → 401), or ClientID, ClientSecret and
// RedirectURL of the integration for OAuth 2.0 (then WithTokenStore is
// required: refresh tokens are single-use and rotate).
type Credentials struct {
	Domain                              string
	ClientID, ClientSecret, RedirectURL string
	LongLivedToken                      string
}

// APIError is a non-2xx answer of amoCRM. Use errors.As:
//
//	var apiErr *amocrm.APIError
//	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadRequest { … }
//
// Code is the problem+json title, Message its detail followed by the first
// validation error ("custom_fields_values.0.field_id: NotSupportedChoice …");
// ValidationErrors lists them all.
type APIError = httpx.APIError

// RateLimitError is a 429 answer that survived the retries; errors.As
// matches it as *RateLimitError and as *APIError.
type RateLimitError = httpx.RateLimitError

// TokenStore persists OAuth tokens between restarts and processes. Load
// returns (nil, nil) when nothing is stored. Save must store tok durably:
// it receives every new token, including the rotated refresh token, before
// the token is used. amoCRM refresh tokens are single-use: a process that
// loses the newest one must be authorized again.
type TokenStore interface {
	Load(ctx context.Context) (*oauth2.Token, error)
	Save(ctx context.Context, tok *oauth2.Token) error
}

// Errors of a Client. Test with errors.Is.
var (
	// ErrAuthorizationRequired: there is no token yet: send the user to
	// AuthorizeURL and call Exchange with the code.
	ErrAuthorizationRequired = oauth.ErrNoToken
	// ErrInvalidGrant: amoCRM rejected the refresh token or code (spent,
	// revoked, or unused for 3 months): the user must authorize again.
	ErrInvalidGrant = oauth.ErrInvalidGrant
	// ErrBlocked: amoCRM answered 403 with its HTML page: the account or
	// the IP address is blocked (usually for exceeding the rate limit).
	// It is never retried; for DefaultBlockCooldown the Client fails fast
	// with ErrBlocked without sending, so as not to prolong the block.
	// Ask amoCRM support to lift it (IP, subdomain, account id).
	ErrBlocked = errors.New("amocrm: account or IP address blocked (HTTP 403)")
	// ErrEntityNotFound: POST /api/v4/calls found no contact, company,
	// lead or customer with the call's phone (amoCRM drops such calls).
	ErrEntityNotFound = errors.New("amocrm: no entity with this phone")
)

// Option configures a Client.
type Option func(*options) error

type options struct {
	httpClient       *http.Client
	baseURL          string
	userAgent        string
	limiter          *rate.Limiter
	retryMax         int
	waitMin, waitMax time.Duration
	backoff          retryablehttp.Backoff
	logger           *slog.Logger
	store            TokenStore
}

// WithHTTPClient sets the HTTP client (copied, never mutated); its Timeout
// and Transport apply. Default: a client with a 30 s timeout.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("amocrm: nil HTTP client")
		}
		o.httpClient = c
		return nil
	}
}

// WithBaseURL sends the API and token requests to u instead of
// https://{Credentials.Domain}, e.g. an amocrmtest.Server URL.
func WithBaseURL(u string) Option {
	return func(o *options) error {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("amocrm: base URL %q must be an absolute http(s) URL", u)
		}
		o.baseURL = strings.TrimRight(u, "/") + "/"
		return nil
	}
}

// WithUserAgent appends ua to the callbridge User-Agent.
func WithUserAgent(ua string) Option {
	return func(o *options) error { o.userAgent = ua; return nil }
}

// WithRateLimit throttles requests client-side to r per second with the
// given burst, shared by every goroutine using the Client. Default: 7
// requests per second, burst 1 (amoCRM's limit; exceeding it repeatedly
// gets the account blocked).
func WithRateLimit(r rate.Limit, burst int) Option {
	return func(o *options) error {
		if r <= 0 || burst <= 0 {
			return errors.New("amocrm: rate limit and burst must be positive")
		}
		o.limiter = rate.NewLimiter(r, burst)
		return nil
	}
}

// WithRetry sets how many times a request that is safe to repeat is retried
// (default 3; 0 disables) and the backoff bounds (default 500 ms – 10 s; a
// 429 always waits at least 1 s).
func WithRetry(maxRetries int, minWait, maxWait time.Duration) Option {
	return func(o *options) error {
		if maxRetries < 0 || minWait < 0 || maxWait < minWait {
			return errors.New("amocrm: invalid retry settings")
		}
		o.retryMax = maxRetries
		if maxRetries == 0 {
			o.retryMax = -1
		}
		o.waitMin, o.waitMax = minWait, maxWait
		return nil
	}
}

// WithBackoff replaces the backoff function (tests use one returning 0).
func WithBackoff(b retryablehttp.Backoff) Option {
	return func(o *options) error {
		if b == nil {
			return errors.New("amocrm: nil backoff")
		}
		o.backoff = b
		return nil
	}
}

// WithLogger sets a logger for debug lines (retries, token refreshes).
// Secrets are never logged. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("amocrm: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithTokenStore persists OAuth tokens: the store is loaded before a token
// is requested and receives every new token before it is used. Required
// for OAuth credentials.
func WithTokenStore(s TokenStore) Option {
	return func(o *options) error {
		if s == nil {
			return errors.New("amocrm: nil token store")
		}
		o.store = s
		return nil
	}
}

// Client calls the amoCRM API v4 of one account. It is safe for concurrent
// use; create one per account and share it (the rate limit is per Client).
// Do not share a Client across accounts.
type Client struct {
	domain string
	creds  Credentials
	api    *httpx.Client
	tokens *oauth.Source // nil with a long-lived token
	log    *slog.Logger
	now    func() time.Time

	mu           sync.Mutex
	blockedUntil time.Time

	// invalid hands the validation errors parseError read from a raw body
	// (httpx redacts "code" fields in APIError.Body) to wrapError.
	invalid sync.Map // *APIError → []ValidationError
}

// NewClient returns a Client for the account and integration in creds. It
// does no I/O.
func NewClient(creds Credentials, opts ...Option) (*Client, error) {
	domain, err := cleanDomain(creds.Domain)
	if err != nil {
		return nil, err
	}
	o := options{limiter: rate.NewLimiter(DefaultRateLimit, 1), backoff: Backoff}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.baseURL == "" {
		o.baseURL = "https://" + domain + "/"
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{domain: domain, creds: creds, log: o.logger, now: time.Now}
	var auth httpx.Authenticator
	var secrets func() []string
	switch {
	case creds.LongLivedToken != "":
		tok := strings.TrimSpace(creds.LongLivedToken)
		auth = bearer(tok)
		secrets = func() []string { return []string{tok, creds.ClientSecret} }
	case creds.ClientID == "" || creds.ClientSecret == "" || creds.RedirectURL == "":
		return nil, errors.New("amocrm: set LongLivedToken, or ClientID, ClientSecret and RedirectURL")
	case o.store == nil:
		return nil, errors.New("amocrm: OAuth credentials require WithTokenStore (refresh tokens are single-use)")
	default:
		c.tokens, err = oauth.New(oauth.Config{
			TokenURL:          o.baseURL + tokenPath,
			ClientID:          creds.ClientID,
			ClientSecret:      creds.ClientSecret,
			RedirectURL:       creds.RedirectURL,
			RedirectOnRefresh: true,
			Grant:             oauth.GrantAuthorizationCode,
			Store:             o.store,
			HTTPClient:        o.httpClient,
			UserAgent:         o.userAgent,
			Logger:            o.logger,
			RetryMax:          o.retryMax,
			Backoff:           o.backoff,
		})
		if err != nil {
			return nil, fmt.Errorf("amocrm: %w", err)
		}
		auth, secrets = c.tokens, c.tokens.Secrets
	}
	c.api, err = httpx.New(httpx.Config{
		BaseURL:      o.baseURL,
		HTTPClient:   o.httpClient,
		UserAgent:    o.userAgent,
		Limiter:      o.limiter,
		RetryMax:     o.retryMax,
		RetryWaitMin: o.waitMin,
		RetryWaitMax: o.waitMax,
		Backoff:      o.backoff,
		Auth:         auth,
		ParseError:   c.parseError,
		Secrets:      secrets,
		Logger:       o.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("amocrm: %w", err)
	}
	return c, nil
}

// cleanDomain accepts "example.amocrm.ru", "https://example.amocrm.ru/".
func cleanDomain(d string) (string, error) {
	d = strings.TrimSpace(d)
	d = strings.TrimPrefix(strings.TrimPrefix(d, "https://"), "http://")
	d = strings.ToLower(strings.TrimRight(d, "/"))
	if d == "" {
		return "", errors.New("amocrm: Credentials.Domain is required (the OAuth referer, e.g. example.amocrm.ru)")
	}
	if strings.ContainsAny(d, "/?#@ ") || strings.HasPrefix(d, "www.") || !strings.Contains(d, ".") {
		return "", fmt.Errorf("amocrm: Domain %q must be the account host, e.g. example.amocrm.ru or example.kommo.com", d)
	}
	return d, nil
}

// bearer is the Authenticator of a long-lived token.
type bearer string

func (b bearer) Authenticate(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+string(b))
	return nil
}

// Domain returns the account host ("example.amocrm.ru").
func (c *Client) Domain() string { return c.domain }

// AuthorizeURL returns the page to send the account administrator to, to
// install the integration: https://www.amocrm.ru/oauth?client_id=…&state=…
// (www.kommo.com for Kommo accounts). amoCRM redirects to RedirectURL with
// code, state and referer (the account host): build the Client for that
// referer and call Exchange with the code within 20 minutes.
func (c *Client) AuthorizeURL(state string) string {
	host := "www.amocrm.ru"
	if strings.HasSuffix(c.domain, ".kommo.com") || strings.HasSuffix(c.domain, ".amocrm.com") {
		host = "www.kommo.com"
	}
	q := url.Values{"client_id": {c.creds.ClientID}}
	if state != "" {
		q.Set("state", state)
	}
	return "https://" + host + "/oauth?" + q.Encode()
}

// Exchange trades an authorization code for tokens (grant_type=
// authorization_code), saves them to the TokenStore and uses them from
// now on. It fails for a Client with a long-lived token.
func (c *Client) Exchange(ctx context.Context, code string) error {
	if c.tokens == nil {
		return errors.New("amocrm: Exchange needs OAuth credentials, not a long-lived token")
	}
	_, err := c.tokens.Exchange(ctx, code)
	return c.wrapError(err)
}

// Backoff is the default retry backoff: httpx.DefaultBackoff, except that a
// 429 (amoCRM sends no Retry-After) waits at least 1 s plus up to 1 s of
// jitter, doubling with each attempt.
func Backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	d := httpx.DefaultBackoff(minWait, maxWait, attempt, resp)
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		floor := time.Second << min(attempt, 4)
		d = max(d, floor+rand.N(time.Second))
	}
	return d
}

// call sends one API request and decodes a JSON answer into out (may be
// nil). A 204 leaves out untouched.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body, out any, idempotent bool) (*http.Response, error) {
	if err := c.blocked(); err != nil {
		return nil, err
	}
	req, err := httpx.NewJSONRequest(method, path, body)
	if err != nil {
		return nil, fmt.Errorf("amocrm: %w", err)
	}
	req.Query = query
	req.Idempotent = idempotent
	resp, err := c.api.JSON(ctx, req, out)
	return resp, c.wrapError(err)
}

// blocked fails fast while the block cooldown runs.
func (c *Client) blocked() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until := c.blockedUntil; !until.IsZero() && c.now().Before(until) {
		return fmt.Errorf("%w: not sent, cooling down until %s", ErrBlocked, until.UTC().Format(time.RFC3339))
	}
	return nil
}

// wrapError adds the sentinels: ErrBlocked (and trips the breaker),
// ErrInvalidGrant for a rejected refresh token, ErrEntityNotFound.
func (c *Client) wrapError(err error) error {
	var ae *APIError
	if err == nil || !errors.As(err, &ae) {
		return err
	}
	if v, ok := c.invalid.LoadAndDelete(ae); ok {
		err = &validationFailure{errs: v.([]ValidationError), err: err}
	}
	switch {
	case ae.StatusCode == http.StatusForbidden && isHTML(ae.Body):
		c.mu.Lock()
		c.blockedUntil = c.now().Add(DefaultBlockCooldown)
		c.mu.Unlock()
		c.log.Warn("amocrm: account or IP blocked (HTML 403); not sending for a while", "cooldown", DefaultBlockCooldown)
		return fmt.Errorf("%w: %w", ErrBlocked, err)
	case strings.Contains(ae.URL, tokenPath) && (ae.StatusCode == http.StatusBadRequest || ae.StatusCode == http.StatusUnauthorized):
		if !errors.Is(err, ErrInvalidGrant) {
			return fmt.Errorf("%w: %w", ErrInvalidGrant, err)
		}
	case ae.StatusCode == http.StatusBadRequest && ae.Message == entityNotFound:
		return fmt.Errorf("%w: %w", ErrEntityNotFound, err)
	}
	return err
}

func isHTML(body []byte) bool {
	b := bytes.TrimSpace(body)
	return len(b) > 0 && b[0] == '<'
}

const entityNotFound = "Entity not found"

// ValidationError is one entry of amoCRM's "validation-errors": which item
// of a batch (RequestID), which field (Path) and why.
type ValidationError struct {
	RequestID string `json:"request_id"`
	Code      string `json:"code"`
	Path      string `json:"path"`
	Detail    string `json:"detail"`
}

// problem is amoCRM's error body: problem+json with validation-errors, an
// OAuth hint, or the /calls errors list.
type problem struct {
	Title            string `json:"title"`
	Detail           string `json:"detail"`
	Hint             string `json:"hint"`
	ValidationErrors []struct {
		RequestID string            `json:"request_id"`
		Errors    []ValidationError `json:"errors"`
	} `json:"validation-errors"`
	Errors []struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

// ValidationErrors returns the validation errors of an amoCRM 400 answer
// in err (nil if there are none).
func ValidationErrors(err error) []ValidationError {
	var v *validationFailure
	if errors.As(err, &v) {
		return slices.Clone(v.errs)
	}
	return nil
}

// validationFailure carries the validation errors with the *APIError.
type validationFailure struct {
	errs []ValidationError
	err  error
}

func (v *validationFailure) Error() string { return v.err.Error() }
func (v *validationFailure) Unwrap() error { return v.err }

// parseError is the httpx ParseError of amoCRM bodies.
func (c *Client) parseError(_ *http.Response, body []byte, e *APIError) {
	if isHTML(body) {
		e.Code, e.Message = "", "HTML error page"
		if e.StatusCode == http.StatusForbidden {
			e.Message = "blocked: amoCRM answered with its HTML 403 page"
		}
		return
	}
	var p problem
	if json.Unmarshal(body, &p) != nil {
		return
	}
	if p.Hint != "" {
		e.Message = p.Hint
		if p.Detail != "" {
			e.Message += ": " + p.Detail
		}
	}
	if len(p.Errors) > 0 && p.Errors[0].Title != "" {
		e.Message = p.Errors[0].Title
	}
	var errs []ValidationError
	for _, item := range p.ValidationErrors {
		for _, v := range item.Errors {
			if v.RequestID == "" {
				v.RequestID = item.RequestID
			}
			if errs == nil {
				e.Message = fmt.Sprintf("%s: %s: %s %s", p.Detail, v.Path, v.Code, v.Detail)
			}
			errs = append(errs, v)
		}
	}
	if errs != nil {
		c.invalid.Store(e, errs)
	}
}
