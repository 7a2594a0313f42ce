package telphin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/oauth"
	"golang.org/x/oauth2"
)

// DefaultBaseURL is the Telphin API host.
const DefaultBaseURL = "https://apiproxy.telphin.ru"

// apiPrefix is the path of the REST API under the base URL.
const apiPrefix = "api/ver1.0/"

// Compile-time checks of the provider-neutral command interfaces.
var (
	_ callevent.Caller      = (*Client)(nil)
	_ callevent.GroupCaller = (*Client)(nil)
	_ callevent.Transferer  = (*Client)(nil)
	_ callevent.Holder      = (*Client)(nil)
	_ callevent.Hanger      = (*Client)(nil)

	_ callevent.RecordingFetcher = (*Client)(nil)
)

// Credentials identify a Telphin API application: App ID and App Secret
// from https://apiproxy.telphin.ru/app/register/.
type Credentials struct {
	ClientID     string
	ClientSecret string
	// RedirectURL, when set, selects the public-app flow instead of the
	// trusted-app one (client_credentials): the user authorizes the app in
	// the browser (AuthCodeURL), the app trades the code with Exchange,
	// and the token is renewed with its refresh token. It must be an
	// absolute URL equal to the one registered for the app, and the
	// client needs callbridge.WithTokenStore (refresh tokens rotate).
	RedirectURL string
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
//
// Options are those of package callbridge. Defaults: base URL
// DefaultBaseURL (callbridge.WithBaseURL for https://altapi.telphin.ru or a
// telphintest.Server), no client-side rate limit, country "RU" for the
// numbers given to Call, GroupCall and Transfer without a country code
// (callbridge.WithDefaultCountry). callbridge.WithTokenStore persists
// tokens: optional for a trusted app (it saves token requests across
// restarts), required for a public app (Credentials.RedirectURL).
func NewClient(creds Credentials, opts ...callbridge.ClientOption) (*Client, error) {
	if strings.TrimSpace(creds.ClientID) == "" || strings.TrimSpace(creds.ClientSecret) == "" {
		return nil, errors.New("telphin: ClientID and ClientSecret are required")
	}
	public := creds.RedirectURL != ""
	if public {
		if _, err := url.ParseRequestURI(creds.RedirectURL); err != nil {
			return nil, fmt.Errorf("telphin: invalid redirect URL %q", creds.RedirectURL)
		}
	}
	cc, err := httpx.ClientOptions("telphin", callbridge.ClientConfig{BaseURL: DefaultBaseURL, DefaultCountry: "RU"}, opts)
	if err != nil {
		return nil, err
	}
	if public && cc.TokenStore == nil {
		return nil, errors.New("telphin: a public app (Credentials.RedirectURL) requires callbridge.WithTokenStore (refresh tokens rotate)")
	}
	hcfg := httpx.ClientConfig("telphin", cc)
	base := strings.TrimRight(cc.BaseURL, "/") + "/"
	c := &Client{creds: creds, base: base, redirect: creds.RedirectURL, country: cc.DefaultCountry, stats: make(chan struct{}, 1), extMinAge: 5 * time.Second, extTTL: extensionTTL, now: time.Now}
	grant := oauth.GrantClientCredentials
	if public {
		grant = oauth.GrantAuthorizationCode
	}
	c.tokens, err = oauth.New(oauth.Config{
		TokenURL:     base + "oauth/token",
		ClientID:     creds.ClientID,
		ClientSecret: creds.ClientSecret,
		RedirectURL:  creds.RedirectURL,
		Grant:        grant,
		Store:        cc.TokenStore, // a nil callbridge.TokenStore converts to a nil oauth.TokenStore
		HTTP:         hcfg,
	})
	if err != nil {
		return nil, fmt.Errorf("telphin: %w", err)
	}
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
// saves it to the TokenStore, uses it from now on and returns a copy.
// Check the redirect's state with CheckState first.
func (c *Client) Exchange(ctx context.Context, code string) (*oauth2.Token, error) {
	tok, err := c.tokens.Exchange(ctx, code)
	if err != nil {
		return nil, err
	}
	cp := *tok
	return &cp, nil
}

// TokenSource returns the client's token source, for code that takes an
// oauth2.TokenSource: the same cached, single-flight token the client
// uses, renewed when it expires. Each Token is a copy.
func (c *Client) TokenSource() oauth2.TokenSource { return c.tokens.TokenSource() }

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

// do sends one API request, named op in telemetry, and decodes a JSON
// answer into out (may be nil). path is relative to /api/ver1.0/.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	if err := c.quotaError(method, apiPrefix+path); err != nil {
		return err
	}
	req, err := httpx.NewJSONRequest(method, apiPrefix+path, body)
	if err != nil {
		return fmt.Errorf("telphin: %w", err)
	}
	req.Query, req.Operation = query, op
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
	if err := c.do(ctx, "user.get", http.MethodGet, "user/", nil, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}
