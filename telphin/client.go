package telphin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/oauth2"
	"golang.org/x/time/rate"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/oauth"
)

// DefaultBaseURL is the Telphin API host.
const DefaultBaseURL = "https://apiproxy.telphin.ru"

// DefaultTimeout is the HTTP timeout of a Client built without
// WithHTTPClient.
const DefaultTimeout = httpx.DefaultTimeout

// apiPrefix is the path of the REST API under the base URL.
const apiPrefix = "api/ver1.0/"

// Compile-time checks of the provider-neutral command interfaces.
var (
	_ callevent.Caller      = (*Client)(nil)
	_ callevent.GroupCaller = (*Client)(nil)
	_ callevent.Transferer  = (*Client)(nil)
)

// Credentials identify a Telphin API application: App ID and App Secret
// from https://apiproxy.telphin.ru/app/register/.
type Credentials struct {
	ClientID     string
	ClientSecret string
}

// TokenStore persists OAuth tokens between restarts and processes. Load
// returns (nil, nil) when nothing is stored. Save must store tok durably:
// it receives every new token, including rotated refresh tokens, before the
// token is used.
type TokenStore interface {
	Load(ctx context.Context) (*oauth2.Token, error)
	Save(ctx context.Context, tok *oauth2.Token) error
}

// Errors of the OAuth flows. Test with errors.Is.
var (
	// ErrAuthorizationRequired: a public app has no token yet (or its
	// refresh token was rejected): send the user to AuthCodeURL and call
	// Exchange with the code.
	ErrAuthorizationRequired = oauth.ErrNoToken
	// ErrInvalidGrant: Telphin rejected the refresh token or code (401
	// invalid_grant): the user must authorize the app again.
	ErrInvalidGrant = oauth.ErrInvalidGrant
	// ErrStateMismatch: the state an OAuth redirect brought back is empty
	// or not the one sent with AuthCodeURL (CheckState): a forged or
	// replayed redirect, whose code must not be exchanged.
	ErrStateMismatch = oauth.ErrStateMismatch
	// ErrEmptyState: AuthCodeURL was called without a state.
	ErrEmptyState = oauth.ErrEmptyState
)

// NewState returns a new unguessable OAuth state for AuthCodeURL (32
// random bytes, base64url). Keep it in the user's session (e.g. a Secure,
// HttpOnly cookie) and give it to CheckState when Telphin redirects back.
func NewState() (string, error) {
	s, err := oauth.NewState()
	if err != nil {
		return "", fmt.Errorf("telphin: %w", err)
	}
	return s, nil
}

// CheckState verifies the state of the redirect to the redirect URL (got,
// its "state" query parameter) against the one kept for the session
// (want), in constant time. Call it before Exchange; an error matches
// ErrStateMismatch and contains neither value.
func CheckState(want, got string) error {
	if err := oauth.CheckState(want, got); err != nil {
		return fmt.Errorf("telphin: %w", err)
	}
	return nil
}

// ErrUnknownExtension is returned when an extension given as short number,
// full name or id is not among the client's extensions.
var ErrUnknownExtension = errors.New("telphin: unknown extension")

// Option configures a Client.
type Option func(*options) error

type options struct {
	http           httpx.Config
	store          TokenStore
	redirectURL    string
	public         bool
	defaultCountry string
}

// httpOption adapts a standard httpx option to a telphin Option.
func httpOption(o httpx.Option) Option {
	return func(c *options) error {
		if err := o(&c.http); err != nil {
			return fmt.Errorf("telphin: %w", err)
		}
		return nil
	}
}

// WithHTTPClient sets the HTTP client (copied, never mutated); its Timeout
// and Transport apply. Default: a client with a 30 s timeout.
func WithHTTPClient(c *http.Client) Option { return httpOption(httpx.WithHTTPClient(c)) }

// WithBaseURL sets the API host (default https://apiproxy.telphin.ru), e.g.
// https://altapi.telphin.ru or a telphintest.Server URL.
func WithBaseURL(u string) Option { return httpOption(httpx.WithBaseURL(u)) }

// WithUserAgent appends ua to the callbridge User-Agent.
func WithUserAgent(ua string) Option { return httpOption(httpx.WithUserAgent(ua)) }

// WithRateLimit throttles requests client-side to r per second with the
// given burst (Telphin's quota is hourly and shared by all apps of a
// client).
func WithRateLimit(r rate.Limit, burst int) Option {
	return httpOption(httpx.WithRateLimit(r, burst))
}

// WithRetry sets how many times a request that is safe to repeat is retried
// (default 3; 0 disables) and the backoff bounds (default 500 ms – 10 s).
func WithRetry(maxRetries int, minWait, maxWait time.Duration) Option {
	return httpOption(httpx.WithRetry(maxRetries, minWait, maxWait))
}

// WithBackoff replaces the backoff function (tests use one returning 0).
func WithBackoff(b retryablehttp.Backoff) Option { return httpOption(httpx.WithBackoff(b)) }

// WithLogger sets a logger for debug lines (retries, token refreshes).
// Secrets are never logged. Default: discard.
func WithLogger(l *slog.Logger) Option { return httpOption(httpx.WithLogger(l)) }

// WithTokenStore persists tokens: the store is loaded before a token is
// requested and receives every new token before it is used. Optional for a
// trusted app (it saves token requests across restarts), required with
// WithPublicApp.
func WithTokenStore(s TokenStore) Option {
	return func(o *options) error {
		if s == nil {
			return errors.New("telphin: nil token store")
		}
		o.store = s
		return nil
	}
}

// WithPublicApp switches from the trusted-app flow (client_credentials) to
// the public-app flow: the user authorizes the app in the browser
// (AuthCodeURL), the app trades the code with Exchange, and the token is
// renewed with its refresh token. redirectURL must equal the one
// registered for the app. Requires WithTokenStore.
func WithPublicApp(redirectURL string) Option {
	return func(o *options) error {
		if _, err := url.ParseRequestURI(redirectURL); err != nil {
			return fmt.Errorf("telphin: invalid redirect URL %q", redirectURL)
		}
		o.public, o.redirectURL = true, redirectURL
		return nil
	}
}

// WithDialCountry sets the country of phone numbers given to Call,
// GroupCall and Transfer without a country code ("RU" by default; "KZ",
// "UA", "BY", "BR" also supported). (WithDefaultCountry is the handler's.)
func WithDialCountry(cc string) Option {
	return func(o *options) error { o.defaultCountry = cc; return nil }
}

// Client calls the Telphin REST API on behalf of one application of one
// Telphin client. It is safe for concurrent use; create one per tenant and
// share it.
type Client struct {
	creds    Credentials
	base     string
	redirect string
	api      *httpx.Client
	tokens   *oauth.Source
	country  string

	rlMu      sync.Mutex
	rateLimit callbridge.RateLimit
	blocked   time.Time // quota exhausted until then

	stats chan struct{} // one call_history request at a time

	ext       *httpx.CredentialCache[*extIndex]
	extMinAge time.Duration // a miss refreshes a list at least this old
	extTTL    time.Duration // a list this old is fetched again on use
	now       func() time.Time
}

// NewClient returns a Client for the application creds. It does no I/O:
// the first API call obtains a token.
func NewClient(creds Credentials, opts ...Option) (*Client, error) {
	if strings.TrimSpace(creds.ClientID) == "" || strings.TrimSpace(creds.ClientSecret) == "" {
		return nil, errors.New("telphin: ClientID and ClientSecret are required")
	}
	o := options{http: httpx.Config{BaseURL: DefaultBaseURL}, defaultCountry: "RU"}
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("telphin: option %d is nil", i+1)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.public && o.store == nil {
		return nil, errors.New("telphin: WithPublicApp requires WithTokenStore (refresh tokens rotate)")
	}
	if err := checkCountry(o.defaultCountry); err != nil {
		return nil, err
	}
	base := strings.TrimRight(o.http.BaseURL, "/") + "/"
	c := &Client{creds: creds, base: base, redirect: o.redirectURL, country: o.defaultCountry, stats: make(chan struct{}, 1), extMinAge: 5 * time.Second, extTTL: extensionTTL, now: time.Now}
	grant := oauth.GrantClientCredentials
	if o.public {
		grant = oauth.GrantAuthorizationCode
	}
	var store oauth.TokenStore
	if o.store != nil {
		store = o.store
	}
	var err error
	c.tokens, err = oauth.New(oauth.Config{
		Provider:     "telphin",
		TokenURL:     base + "oauth/token",
		ClientID:     creds.ClientID,
		ClientSecret: creds.ClientSecret,
		RedirectURL:  o.redirectURL,
		Grant:        grant,
		Store:        store,
		HTTPClient:   o.http.HTTPClient,
		UserAgent:    o.http.UserAgent,
		Logger:       o.http.Logger,
		RetryMax:     o.http.RetryMax,
		Backoff:      o.http.Backoff,
	})
	if err != nil {
		return nil, fmt.Errorf("telphin: %w", err)
	}
	hcfg := o.http
	hcfg.Provider = "telphin"
	hcfg.BaseURL = base
	hcfg.Auth = c.tokens
	hcfg.ParseError = parseError
	// The hourly quota's 429 may come without a reset header: never retry it.
	hcfg.Permanent = func(e *httpx.APIError) bool {
		return e.StatusCode == http.StatusTooManyRequests && e.Code == codeQuota
	}
	hcfg.Secrets = c.tokens.Secrets
	hcfg.OnResponse = c.observe
	c.api, err = httpx.New(hcfg)
	if err != nil {
		return nil, fmt.Errorf("telphin: %w", err)
	}
	c.ext = httpx.NewCredentialCache(c.fetchExtensions)
	return c, nil
}

// AuthCodeURL returns the page a public app sends the user to:
// /oauth/authorize?response_type=code&client_id=…&redirect_uri=…&scope=all&state=….
// state comes from NewState and is kept for the session; an empty state is
// an error (a URL without one cannot be protected against forged
// redirects). Telphin redirects back to the redirect URL with
// ?code=…&state=…: check the state with CheckState, then pass the code to
// Exchange.
func (c *Client) AuthCodeURL(state string) (string, error) {
	q := url.Values{"response_type": {"code"}, "client_id": {c.creds.ClientID}, "scope": {"all"}}
	if c.redirect != "" {
		q.Set("redirect_uri", c.redirect)
	}
	u, err := oauth.AuthCodeURL(c.base+"oauth/authorize", q, state)
	if err != nil {
		return "", fmt.Errorf("telphin: %w", err)
	}
	return u, nil
}

// Exchange trades the authorization code of a public app for a token,
// saves it to the TokenStore and uses it from now on. Check the redirect's
// state with CheckState first.
func (c *Client) Exchange(ctx context.Context, code string) error {
	_, err := c.tokens.Exchange(ctx, code)
	return err
}

// RateLimit returns the quota state reported by the last API response
// (Limit and Remaining are -1 before the first response).
func (c *Client) RateLimit() callbridge.RateLimit {
	c.rlMu.Lock()
	defer c.rlMu.Unlock()
	if c.rateLimit == (callbridge.RateLimit{}) {
		return callbridge.RateLimit{Limit: -1, Remaining: -1}
	}
	return c.rateLimit
}

// observe records X-RateLimit-* headers and a quota 429.
func (c *Client) observe(resp *http.Response) {
	rl := httpx.ParseRateLimit(resp.Header)
	if rl.Limit < 0 && rl.Remaining < 0 && rl.Reset.IsZero() {
		return
	}
	c.rlMu.Lock()
	defer c.rlMu.Unlock()
	c.rateLimit = rl
	if resp.StatusCode == http.StatusTooManyRequests && rl.Remaining == 0 && rl.Reset.After(time.Now()) {
		c.blocked = rl.Reset
	}
}

// codeQuota is Telphin's "status" of an exhausted hourly quota.
const codeQuota = "rate_limit_exceeded"

// noteQuota blocks the Client after a quota 429 (status
// rate_limit_exceeded) whether or not it carried X-RateLimit-* headers:
// until the reset it reports, else until the start of the next hour (the
// quota is hourly). It fills the error's Reset and RetryAfter when the
// answer did not say. Other errors (the stats 429 included) pass through.
func (c *Client) noteQuota(err error) error {
	var rl *callbridge.RateLimitError
	if !errors.As(err, &rl) || rl.Code != codeQuota {
		return err
	}
	now := time.Now()
	if !rl.Reset.After(now) {
		rl.Reset = now.Truncate(time.Hour).Add(time.Hour)
		rl.RetryAfter = rl.Reset.Sub(now)
	}
	c.rlMu.Lock()
	defer c.rlMu.Unlock()
	if rl.Reset.After(c.blocked) {
		c.blocked = rl.Reset
	}
	return err
}

// quotaError returns a synthetic *RateLimitError while the hourly quota is
// known to be exhausted, so the API is not hammered until it resets.
func (c *Client) quotaError(method, path string) error {
	c.rlMu.Lock()
	defer c.rlMu.Unlock()
	now := time.Now()
	if c.blocked.IsZero() || !now.Before(c.blocked) {
		return nil
	}
	limit := -1
	if c.rateLimit != (callbridge.RateLimit{}) {
		limit = c.rateLimit.Limit
	}
	return &callbridge.RateLimitError{
		APIError: callbridge.APIError{
			Provider: "telphin", StatusCode: http.StatusTooManyRequests, Code: codeQuota,
			Message: "hourly request quota exhausted (not sent)", Method: method, URL: c.base + strings.TrimPrefix(path, "/"),
		},
		RetryAfter: c.blocked.Sub(now), Reset: c.blocked, Limit: limit, Remaining: 0,
	}
}

// parseError reads Telphin's {"status": "...", "message": "..."} bodies.
func parseError(_ *http.Response, body []byte, e *callbridge.APIError) {
	var m struct {
		Status any `json:"status"`
	}
	if json.Unmarshal(body, &m) == nil {
		if s, ok := m.Status.(string); ok && s != "" {
			e.Code = s
		}
	}
}

// do sends one API request and decodes a JSON answer into out (may be nil).
// path is relative to /api/ver1.0/.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	if err := c.quotaError(method, apiPrefix+path); err != nil {
		return err
	}
	req, err := httpx.NewJSONRequest(method, apiPrefix+path, body)
	if err != nil {
		return fmt.Errorf("telphin: %w", err)
	}
	req.Query = query
	_, err = c.api.JSON(ctx, req, out)
	return c.noteQuota(err)
}

// User is the authorised user (GET /user/).
type User struct {
	ID               int64  `json:"id"`
	Login            string `json:"login"`
	Admin            bool   `json:"admin"`
	DealerID         *int64 `json:"dealer_id"`
	ClientID         int64  `json:"client_id"`
	ExtensionGroupID *int64 `json:"extension_group_id"`
	ExtensionID      *int64 `json:"extension_id"`
	// Timezone is an IANA zone, e.g. "Europe/Moscow".
	Timezone string `json:"timezone"`
	// Access is "full" or "read_only" (GET only).
	Access string `json:"access"`
}

// User returns the user the application acts for (GET /api/ver1.0/user/).
func (c *Client) User(ctx context.Context) (*User, error) {
	var u User
	if err := c.do(ctx, http.MethodGet, "user/", nil, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}
