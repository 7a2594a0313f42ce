package amocrm

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/oauth"
	"github.com/callbridge/callbridge/internal/text"
	"golang.org/x/oauth2"
)

// Defaults of a Client.
const (
	// DefaultRateLimit is amoCRM's documented limit: 7 requests per second
	// per account (burst 1), shared by every goroutine using one Client.
	// callbridge.WithRateLimit changes it.
	DefaultRateLimit float64 = 7
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
// accepted). Only <account>.amocrm.ru, <account>.amocrm.com and
// <account>.kommo.com hosts are accepted: never "www.amocrm.ru", another
// host, a port or userinfo (the referer is attacker-controlled and the
// token request carries the client secret; see ParseRedirect).
//
// Either set LongLivedToken (a private integration's long-lived token: no
// refresh; revoked or expired → 401), or ClientID, ClientSecret and
// RedirectURL of the integration for OAuth 2.0 (then
// callbridge.WithTokenStore is required: refresh tokens are single-use and
// rotate).
type Credentials struct {
	Domain                              string
	ClientID, ClientSecret, RedirectURL string
	LongLivedToken                      string
}

// Errors of a Client. Test with errors.Is.
var (
	// ErrAuthorizationRequired: there is no token yet: send the user to
	// AuthCodeURL and call Exchange with the code.
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
	// lead or customer with the call's phone (amoCRM drops such calls);
	// also any other answer saying "Entity not found", and a 204 answer
	// to a write that adds or changes entities (nothing placed).
	ErrEntityNotFound = errors.New("amocrm: no entity with this phone")
)

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
}

// NewClient returns a Client for the account and integration in creds. It
// does no I/O. It takes the callbridge client options: WithHTTPClient,
// WithBaseURL (requests and token requests go to it instead of
// https://{Credentials.Domain}, e.g. an amocrmtest.Server URL),
// WithUserAgent, WithRateLimit (default DefaultRateLimit, burst 1),
// WithRetry, WithLogger and WithTokenStore (required for OAuth
// credentials). A RetryPolicy without a Backoff keeps amoCRM's: a 429
// waits at least 1 s plus up to 1 s of jitter, doubling per attempt.
// callbridge.WithDefaultCountry is refused: the Client takes no default
// country (the Store's WithDefaultCountry sets the country of contacts'
// numbers). A nil option is an error.
func NewClient(creds Credentials, opts ...callbridge.ClientOption) (*Client, error) {
	domain, err := cleanDomain(creds.Domain)
	if err != nil {
		return nil, err
	}
	cc, err := httpx.ClientOptions("amocrm", callbridge.ClientConfig{
		BaseURL:   "https://" + domain + "/",
		RateLimit: DefaultRateLimit,
		Burst:     1,
	}, opts)
	if err != nil {
		return nil, err
	}
	if cc.DefaultCountry != "" {
		return nil, errors.New("amocrm: WithDefaultCountry is not supported: the Client takes no default country " +
			"(set the country of contacts' numbers with the Store's amocrm.WithDefaultCountry)")
	}
	hcfg := clientConfig(cc)
	logger := cmp.Or(cc.Logger, slog.New(slog.DiscardHandler))
	c := &Client{domain: domain, creds: creds, log: logger, now: time.Now}
	switch {
	case creds.LongLivedToken != "" && cc.TokenStore != nil:
		return nil, errors.New("amocrm: WithTokenStore is not supported with a LongLivedToken: it never changes")
	case creds.LongLivedToken != "":
		tok := strings.TrimSpace(creds.LongLivedToken)
		hcfg.Auth = bearer(tok)
		hcfg.Secrets = func() []string { return []string{tok, creds.ClientSecret} }
	case creds.ClientID == "" || creds.ClientSecret == "" || creds.RedirectURL == "":
		return nil, errors.New("amocrm: set LongLivedToken, or ClientID, ClientSecret and RedirectURL")
	case cc.TokenStore == nil:
		return nil, errors.New("amocrm: OAuth credentials require WithTokenStore (refresh tokens are single-use)")
	default:
		c.tokens, err = oauth.New(oauth.Config{
			TokenURL:          hcfg.BaseURL + tokenPath,
			ClientID:          creds.ClientID,
			ClientSecret:      creds.ClientSecret,
			RedirectURL:       creds.RedirectURL,
			RedirectOnRefresh: true,
			Grant:             oauth.GrantAuthorizationCode,
			Store:             cc.TokenStore,
			HTTP:              hcfg,
		})
		if err != nil {
			return nil, fmt.Errorf("amocrm: %w", err)
		}
		hcfg.Auth, hcfg.Secrets = c.tokens, c.tokens.Secrets
	}
	hcfg.ParseError = c.parseError
	c.api, err = httpx.New(hcfg)
	if err != nil {
		return nil, fmt.Errorf("amocrm: %w", err)
	}
	return c, nil
}

// clientConfig is the httpx.Config of a Client configured by cc, before
// Auth, Secrets and ParseError: the base URL ends in "/" (token requests
// go to BaseURL + tokenPath), and a retry policy without a Backoff gets
// amoCRM's.
func clientConfig(cc callbridge.ClientConfig) httpx.Config {
	hcfg := httpx.ClientConfig("amocrm", cc)
	hcfg.BaseURL = strings.TrimRight(hcfg.BaseURL, "/") + "/"
	if hcfg.Backoff == nil {
		hcfg.Backoff = backoff
	}
	return hcfg
}

// accountSuffixes are the parents of amoCRM and Kommo account hosts.
var accountSuffixes = [...]string{".amocrm.ru", ".amocrm.com", ".kommo.com"}

// cleanDomain accepts an account host: "<sub>.amocrm.ru", "<sub>.amocrm.com"
// or "<sub>.kommo.com", with <sub> one label of [a-z0-9-] (any case, an
// optional "https://" before and "/" after). Anything else — another
// host, a port, userinfo, a path, "www", a look-alike such as
// "x.amocrm.ru.evil.com" — is refused: the OAuth redirect's referer is
// attacker-controlled and the token request sends the client secret to it.
func cleanDomain(d string) (string, error) {
	d = strings.TrimSpace(d)
	if len(d) > 8 && strings.EqualFold(d[:8], "https://") {
		d = d[8:]
	} else if len(d) > 7 && strings.EqualFold(d[:7], "http://") {
		d = d[7:]
	}
	d = strings.ToLower(strings.TrimSuffix(d, "/"))
	if d == "" {
		return "", errors.New("amocrm: Credentials.Domain is required (the OAuth referer, e.g. example.amocrm.ru)")
	}
	for _, suffix := range accountSuffixes {
		if sub, ok := strings.CutSuffix(d, suffix); ok && isSubdomainLabel(sub) {
			return d, nil
		}
	}
	return "", fmt.Errorf("amocrm: Domain %q is not an amoCRM or Kommo account host (<account>.amocrm.ru, <account>.amocrm.com, <account>.kommo.com)",
		text.Clip(d, 80))
}

// isSubdomainLabel reports whether s is one DNS label of [a-z0-9-], not
// starting or ending with "-", and not "www".
func isSubdomainLabel(s string) bool {
	if s == "" || len(s) > 63 || s == "www" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// bearer is the Authenticator of a long-lived token.
type bearer string

func (b bearer) Authenticate(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+string(b))
	return nil
}

// Domain returns the account host ("example.amocrm.ru").
func (c *Client) Domain() string { return c.domain }

// AuthCodeURL returns the page to send the account administrator to, to
// install the integration: https://www.amocrm.ru/oauth?client_id=…&state=…
// (www.kommo.com for Kommo accounts). state is required (ErrEmptyState
// otherwise): make it with NewState and keep it, e.g. in a cookie, for
// ParseRedirect. amoCRM redirects to RedirectURL with code, state and
// referer (the account host): ParseRedirect checks them; build the Client
// for that referer and call Exchange with the code within 20 minutes.
func (c *Client) AuthCodeURL(state string) (string, error) {
	host := "www.amocrm.ru"
	if strings.HasSuffix(c.domain, ".kommo.com") || strings.HasSuffix(c.domain, ".amocrm.com") {
		host = "www.kommo.com"
	}
	u, err := oauth.AuthCodeURL("https://"+host+"/oauth", url.Values{"client_id": {c.creds.ClientID}}, state)
	if err != nil {
		return "", fmt.Errorf("amocrm: authorize URL: %w", err)
	}
	return u, nil
}

// Exchange trades an authorization code for tokens (grant_type=
// authorization_code), saves them to the TokenStore, uses them from now on
// and returns a copy. It fails for a Client with a long-lived token.
func (c *Client) Exchange(ctx context.Context, code string) (*oauth2.Token, error) {
	if c.tokens == nil {
		return nil, errors.New("amocrm: Exchange needs OAuth credentials, not a long-lived token")
	}
	tok, err := c.tokens.Exchange(ctx, code)
	if err != nil {
		return nil, c.wrapError(err)
	}
	cp := *tok
	return &cp, nil
}

// Token returns a copy of the access token the client uses now, loaded
// from the TokenStore or renewed as the next API request would renew it:
// ErrAuthorizationRequired before the integration is installed,
// ErrInvalidGrant when amoCRM refuses the refresh token (revoked, spent,
// or unused for 3 months). With a long-lived token it returns that token,
// without an expiry. Check a token's Expiry, never show its values.
func (c *Client) Token(ctx context.Context) (*oauth2.Token, error) {
	if c.tokens == nil {
		return c.TokenSource().Token()
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, c.wrapError(err)
	}
	cp := *tok
	return &cp, nil
}

// Refresh renews the OAuth tokens now, even while the access token is
// valid (grant_type=refresh_token), saves them to the TokenStore before
// the client uses them, and returns a copy. amoCRM's refresh token lapses
// after 3 months without use: an integration that made no request for
// weeks keeps its grant alive with Refresh. A pair renewed meanwhile (by
// another process sharing the TokenStore, or because the access token had
// expired) is taken instead of spending another refresh token. Errors as
// Token's; it fails for a Client with a long-lived token, which is never
// refreshed.
func (c *Client) Refresh(ctx context.Context) (*oauth2.Token, error) {
	if c.tokens == nil {
		return nil, errors.New("amocrm: Refresh needs OAuth credentials, not a long-lived token")
	}
	tok, err := c.tokens.Refresh(ctx)
	if err != nil {
		return nil, c.wrapError(err)
	}
	cp := *tok
	return &cp, nil
}

// TokenSource returns the client's token source, for code that takes an
// oauth2.TokenSource: the same cached, single-flight token the client
// uses, renewed when it expires (a long-lived token is returned as is).
// Each Token is a copy.
func (c *Client) TokenSource() oauth2.TokenSource {
	if c.tokens == nil {
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: strings.TrimSpace(c.creds.LongLivedToken), TokenType: "Bearer"})
	}
	return c.tokens.TokenSource()
}

// backoff is the default retry backoff: httpx.DefaultBackoff, except that a
// 429 (amoCRM sends no Retry-After) waits at least 1 s plus up to 1 s of
// jitter, doubling with each attempt.
func backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
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
	req.Operation = operation(method, path)
	resp, err := c.api.JSON(ctx, req, out)
	return resp, c.wrapError(err)
}

// operation names a request in telemetry as amoCRM's documentation does:
// the method and the path after the API version, ids replaced by {id}
// ("PATCH leads/{id}", "POST leads/notes").
func operation(method, path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) > 2 && segs[0] == "api" {
		segs = segs[2:]
	}
	for i, s := range segs {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			segs[i] = "{id}"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

// noContent is the error of a write that should have placed sent items and
// was answered 204 No Content: nothing was placed, which must not pass for
// success. It matches ErrEntityNotFound.
func noContent(resp *http.Response, sent int) error {
	if resp == nil || resp.StatusCode != http.StatusNoContent {
		return nil
	}
	what := "the request"
	if r := resp.Request; r != nil && r.URL != nil {
		what = r.Method + " " + r.URL.Path
	}
	return fmt.Errorf("%w: %s was answered 204 No Content: none of %d placed", ErrEntityNotFound, what, sent)
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
	var ae *callbridge.APIError
	if err == nil || !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae.StatusCode == http.StatusForbidden && ae.Message == blockedPage:
		c.mu.Lock()
		c.blockedUntil = c.now().Add(DefaultBlockCooldown)
		c.mu.Unlock()
		c.log.Warn("amocrm: account or IP blocked (HTML 403); not sending for a while", "cooldown", DefaultBlockCooldown)
		return fmt.Errorf("%w: %w", ErrBlocked, err)
	case strings.Contains(ae.URL, tokenPath) && (ae.StatusCode == http.StatusBadRequest || ae.StatusCode == http.StatusUnauthorized):
		if !errors.Is(err, ErrInvalidGrant) {
			return fmt.Errorf("%w: %w", ErrInvalidGrant, err)
		}
	case ae.Code == entityNotFoundCode:
		return fmt.Errorf("%w: %w", ErrEntityNotFound, err)
	}
	return err
}

// Messages parseError sets for the answers wrapError classifies.
const (
	blockedPage        = "blocked: amoCRM answered with its HTML 403 page"
	htmlPage           = "HTML error page"
	entityNotFound     = "Entity not found"
	entityNotFoundCode = "EntityNotFound"
)

// isHTML reports whether an answer is an HTML page: its Content-Type says
// so, or its body starts with "<" after a byte-order mark and whitespace.
func isHTML(resp *http.Response, body []byte) bool {
	if resp != nil {
		if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil &&
			(mt == "text/html" || mt == "application/xhtml+xml") {
			return true
		}
	}
	b := bytes.TrimLeft(body, "\ufeff\t\r\n\f\v ")
	return len(b) > 0 && b[0] == '<'
}

// isEntityNotFound reports whether an error text or code says that no
// entity matched: "Entity not found" in any case, "EntityNotFound",
// "entity_not_found".
func isEntityNotFound(s string) bool {
	s = strings.NewReplacer(" ", "", "_", "", "-", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	return s == "entitynotfound"
}

// ValidationError is one entry of amoCRM's "validation-errors": which item
// of a batch (RequestID), which field (Path) and why.
type ValidationError struct {
	RequestID string `json:"request_id"`
	Code      string `json:"code"`
	Path      string `json:"path"`
	Detail    string `json:"detail"`
}

// problem is amoCRM's error body: problem+json with validation-errors, an
// OAuth hint, the /calls errors list, or a legacy API v2 "response" error.
type problem struct {
	Title            string          `json:"title"`
	Detail           string          `json:"detail"`
	Hint             string          `json:"hint"`
	Code             json.RawMessage `json:"code"`
	ValidationErrors []struct {
		RequestID string            `json:"request_id"`
		Errors    []ValidationError `json:"errors"`
	} `json:"validation-errors"`
	Errors   []problemItem `json:"errors"`
	Response *struct {
		Error     json.RawMessage `json:"error"`
		ErrorCode json.RawMessage `json:"error_code"`
	} `json:"response"`
}

// problemItem is one entry of an "errors" list.
type problemItem struct {
	Title     string          `json:"title"`
	Detail    string          `json:"detail"`
	Code      json.RawMessage `json:"code"`
	RequestID string          `json:"request_id"`
}

// notFound reports whether the item says that no entity matched.
func (p problemItem) notFound() bool {
	return isEntityNotFound(p.Title) || isEntityNotFound(p.Detail) || isEntityNotFound(scalar(p.Code))
}

// scalar returns a JSON string or number as text ("" for anything else).
func scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// ValidationErrors returns the validation errors of an amoCRM 400 answer
// in err (nil if there are none). They are read from the *callbridge.APIError's body.
func ValidationErrors(err error) []ValidationError {
	var ae *callbridge.APIError
	if !errors.As(err, &ae) || len(ae.Body) == 0 {
		return nil
	}
	var p problem
	if json.Unmarshal(ae.Body, &p) != nil {
		return nil
	}
	return p.validationErrors()
}

// validationErrors flattens "validation-errors", each entry with its
// item's request_id.
func (p *problem) validationErrors() []ValidationError {
	var errs []ValidationError
	for _, item := range p.ValidationErrors {
		for _, v := range item.Errors {
			if v.RequestID == "" {
				v.RequestID = item.RequestID
			}
			errs = append(errs, v)
		}
	}
	return errs
}

// parseError is the httpx ParseError of amoCRM bodies. It keeps nothing:
// everything it finds goes into e.
func (c *Client) parseError(resp *http.Response, body []byte, e *callbridge.APIError) {
	if isHTML(resp, body) {
		e.Code, e.Message = "", htmlPage
		if e.StatusCode == http.StatusForbidden {
			e.Message = blockedPage
		}
		return
	}
	var p problem
	if json.Unmarshal(body, &p) != nil {
		return
	}
	if r := p.Response; r != nil {
		// Legacy API v2: {"response":{"error":"…","error_code":"110"}}.
		if msg := scalar(r.Error); msg != "" {
			e.Message = msg
		}
		if code := scalar(r.ErrorCode); code != "" {
			e.Code = code
		}
		if isEntityNotFound(scalar(r.Error)) {
			e.Code = entityNotFoundCode
		}
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
	if errs := p.validationErrors(); len(errs) > 0 {
		v := errs[0]
		e.Message = fmt.Sprintf("%s: %s: %s %s", p.Detail, v.Path, v.Code, v.Detail)
	}
	notFound := isEntityNotFound(p.Title) || isEntityNotFound(p.Detail) || isEntityNotFound(scalar(p.Code))
	for _, item := range p.Errors {
		notFound = notFound || item.notFound()
	}
	if notFound {
		e.Code = entityNotFoundCode
		if e.Message == "" {
			e.Message = entityNotFound
		}
	}
}
