// Package oauth is callbridge's OAuth 2.0 token machinery, shared by the
// provider packages that talk to OAuth APIs: telphin (client_credentials
// for trusted apps, authorization_code for public apps) and amocrm
// (authorization_code with single-use, rotating refresh tokens).
//
// A [Source] obtains, caches, refreshes and persists the access token of
// one credential (one tenant). It is built on [httpx.CredentialCache], so
//
//   - one token is shared by all goroutines and fetched single-flight:
//     100 concurrent calls make one token request;
//   - a token is refreshed shortly before its expiry (60 s by default,
//     [DefaultEarlyExpiry]; see Config.EarlyExpiry);
//   - a rejected token is invalidated only if it is still the cached one,
//     so many requests failing with the same stale token cause one refresh.
//
// Grants: client_credentials ([GrantClientCredentials], Telphin trusted
// apps), authorization_code exchange ([Source.Exchange]) and refresh_token
// ([GrantAuthorizationCode]: public apps, amoCRM). Refresh tokens may
// rotate (amoCRM's are single-use): every token obtained is handed to the
// [TokenStore] (Save) BEFORE it is returned or used, and a refresh token is
// sent at most once — the refresh request is never retried after it may
// have reached the server. If Save fails the new token is kept in memory,
// the error is returned, and the next use saves it again before anything
// else, so a spent refresh token is never the only copy. Before refreshing,
// the Source loads the store, so a token rotated by another process sharing
// the store is picked up instead of spending a stale refresh token.
//
// The Source is an httpx.Authenticator and httpx.Reauthenticator: it sets
// "Authorization: Bearer <token>" and, on a 401, invalidates the token the
// failed request carried; httpx then fetches a new one and replays once.
//
// The authorization redirect is protected by a state: [NewState] makes an
// unguessable one, [AuthCodeURL] refuses to build an authorization URL
// without it ([ErrEmptyState]) and [CheckState] compares, in constant
// time, the state kept for the user's session with the one the redirect
// brought back ([ErrStateMismatch]).
//
// Config and Source redact the client secret and tokens in fmt verbs,
// slog and JSON.
//
// Token requests go to Config.TokenURL through the caller's *http.Client as
// application/x-www-form-urlencoded bodies carrying client_id and
// client_secret. Errors never contain the client secret, tokens or
// authorization codes: token endpoint failures are *httpx.APIError values
// with those redacted; an "invalid_grant" answer also matches
// [ErrInvalidGrant].
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbridge/callbridge"

	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/telemetry"
)

// TokenStore is callbridge.TokenStore: Load and Save are called from the
// goroutine that fetches a token, never concurrently for one Source.
type TokenStore = callbridge.TokenStore

// Grant selects how a Source obtains a token when it has none to refresh.
type Grant uint8

const (
	// GrantClientCredentials fetches tokens with grant_type=client_credentials
	// (trusted apps). A refresh_token in the answer is used while valid.
	GrantClientCredentials Grant = iota + 1
	// GrantAuthorizationCode starts from a token given to Exchange or found
	// in the TokenStore and renews it with grant_type=refresh_token.
	GrantAuthorizationCode
)

// Errors a Source returns (possibly wrapped). Test with errors.Is.
var (
	// ErrNoToken: GrantAuthorizationCode has no token to use or refresh:
	// the user must authorize the app (Exchange a new code).
	ErrNoToken = errors.New("oauth: no token: authorization required")
	// ErrInvalidGrant: the token endpoint rejected the refresh token or
	// code ("invalid_grant"): the user must authorize the app again.
	// The error also matches *httpx.APIError with errors.As.
	ErrInvalidGrant = errors.New("oauth: invalid grant: authorization required")
)

// DefaultEarlyExpiry is how long before its expiry a token is renewed.
const DefaultEarlyExpiry = 60 * time.Second

// Config configures a Source.
type Config struct {
	// TokenURL is the absolute URL of the token endpoint. Required.
	TokenURL string
	// ClientID and ClientSecret identify the app. Required.
	ClientID, ClientSecret string
	// RedirectURL is sent with the authorization_code exchange.
	RedirectURL string
	// RedirectOnRefresh also sends RedirectURL as redirect_uri with
	// refresh_token requests: amoCRM requires it there, RFC 6749 does not.
	RedirectOnRefresh bool
	// Grant selects the flow. Required.
	Grant Grant
	// Store, if set, receives every new token before it is used and is
	// loaded before a token is fetched. Required for GrantAuthorizationCode
	// (a rotated refresh token only in memory is lost on restart).
	Store TokenStore
	// HTTP configures the client of token requests: the API client's
	// (HTTP client, user agent, logger, rate limit, retry policy, provider
	// name); BaseURL, Secrets and ParseError are set here. A
	// refresh_token or authorization_code request is only retried when it
	// cannot have reached the server.
	HTTP httpx.Config
	// EarlyExpiry: renew this long before expiry; 0 → DefaultEarlyExpiry.
	EarlyExpiry time.Duration
}

// Source obtains and caches the token of one credential. It is safe for
// concurrent use.
type Source struct {
	cfg   Config
	http  *httpx.Client
	cache *httpx.CredentialCache[*oauth2.Token]
	log   *slog.Logger
	now   func() time.Time
	tel   *telemetry.API

	obtained atomic.Int64 // tokens obtained from the endpoint so far (Refresh)

	mu      sync.Mutex
	unsaved *oauth2.Token // obtained but not yet saved (Save failed)
	last    *oauth2.Token // newest token seen, for redaction
	codes   []string      // recent authorization codes, for redaction
}

// New validates cfg and returns a Source. It does no I/O.
func New(cfg Config) (*Source, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("oauth: client id and client secret are required")
	}
	switch cfg.Grant {
	case GrantClientCredentials:
	case GrantAuthorizationCode:
		if cfg.Store == nil {
			return nil, errors.New("oauth: the authorization code grant needs a TokenStore for rotated refresh tokens")
		}
	default:
		return nil, fmt.Errorf("oauth: unknown grant %d", cfg.Grant)
	}
	u, err := url.Parse(cfg.TokenURL)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, errors.New("oauth: TokenURL must be an absolute URL")
	}
	if cfg.EarlyExpiry <= 0 {
		cfg.EarlyExpiry = DefaultEarlyExpiry
	}
	s := &Source{cfg: cfg, log: cfg.HTTP.Logger, now: time.Now,
		tel: telemetry.NewAPI(cfg.HTTP.MeterProvider, cfg.HTTP.TracerProvider)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.cache = httpx.NewCredentialCache(s.fetch, httpx.WithEarlyExpiry(cfg.EarlyExpiry))
	base := *u
	base.Path, base.RawPath, base.RawQuery, base.Fragment = "/", "", "", ""
	hcfg := cfg.HTTP
	hcfg.BaseURL, hcfg.Secrets, hcfg.ParseError = base.String(), s.Secrets, parseOAuthError
	hcfg.Auth, hcfg.Permanent, hcfg.OnResponse = nil, nil, nil
	s.http, err = httpx.New(hcfg)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	return s, nil
}

// Token returns a valid access token, fetching, refreshing or loading it as
// needed (single-flight). The token must not be modified.
func (s *Source) Token(ctx context.Context) (*oauth2.Token, error) {
	return s.cache.Get(ctx)
}

// TokenSource returns s as an oauth2.TokenSource, for code that takes one
// (oauth2.NewClient, another SDK). Its Token has no context: it is bounded
// by the HTTP client's timeout.
func (s *Source) TokenSource() oauth2.TokenSource { return tokenSource{s} }

type tokenSource struct{ s *Source }

// Token returns a copy of the current token: the caller may keep or change it.
func (t tokenSource) Token() (*oauth2.Token, error) {
	tok, err := t.s.Token(context.Background())
	if err != nil {
		return nil, err
	}
	c := *tok
	return &c, nil
}

// Refresh renews the token now, even while it is valid, saves the new
// one to the store and returns it (it must not be modified): for a caller
// that keeps an idle grant alive (amoCRM's refresh tokens lapse after 3
// months unused). The token renewed is the cached one, or the store's;
// one renewed meanwhile (by another goroutine, or by another process
// sharing the store) is taken instead of spending another refresh token,
// and so is a token Refresh had to renew anyway because it had expired.
// ErrNoToken when there is no token to refresh, ErrInvalidGrant when the
// endpoint refuses the refresh token.
func (s *Source) Refresh(ctx context.Context) (*oauth2.Token, error) {
	before := s.obtained.Load()
	cur, err := s.Token(ctx)
	if err != nil || s.obtained.Load() != before {
		return cur, err
	}
	s.Invalidate(cur)
	return s.Token(ctx)
}

// Invalidate drops the cached token if it is still stale (the token a
// rejected request carried), so the next Token fetches a new one.
func (s *Source) Invalidate(stale *oauth2.Token) {
	s.cache.InvalidateFunc(func(t *oauth2.Token) bool { return sameToken(t, stale) })
}

// Exchange trades an authorization code for a token (grant_type=
// authorization_code), saves it to the store and makes it the current token.
// The code is single-use: the request is not retried once it may have
// reached the server.
func (s *Source) Exchange(ctx context.Context, code string) (*oauth2.Token, error) {
	if code == "" {
		return nil, errors.New("oauth: empty authorization code")
	}
	s.mu.Lock()
	s.codes = append(s.codes, code)
	if len(s.codes) > 8 {
		s.codes = s.codes[len(s.codes)-8:]
	}
	s.mu.Unlock()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}}
	if s.cfg.RedirectURL != "" {
		form.Set("redirect_uri", s.cfg.RedirectURL)
	}
	tok, err := s.request(ctx, form, false)
	if err != nil {
		return nil, err
	}
	if err := s.save(ctx, tok); err != nil {
		return nil, err // kept as unsaved: the next Token saves it again and uses it
	}
	s.cache.Set(tok, tok.Expiry)
	return tok, nil
}

// Secrets returns the values to redact from errors and logs: the client
// secret, the newest access and refresh tokens and recent authorization
// codes. Pass it to httpx.Config.Secrets of the API client.
func (s *Source) Secrets() []string {
	cached, _ := s.cache.Peek()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string{s.cfg.ClientSecret}, s.codes...)
	for _, t := range []*oauth2.Token{cached, s.last, s.unsaved} {
		if t != nil {
			out = append(out, t.AccessToken, t.RefreshToken)
		}
	}
	return out
}

// Authenticate implements httpx.Authenticator: it sets the Authorization
// header to the current token.
func (s *Source) Authenticate(ctx context.Context, req *http.Request) error {
	tok, err := s.Token(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return nil
}

// Reauthenticate implements httpx.Reauthenticator: it invalidates the
// token the failed request carried, if it is still the cached one.
func (s *Source) Reauthenticate(_ context.Context, failed *http.Request) error {
	used := strings.TrimSpace(failed.Header.Get("Authorization"))
	s.cache.InvalidateFunc(func(t *oauth2.Token) bool {
		return t != nil && used == "Bearer "+t.AccessToken
	})
	return nil
}

// IsAuthFailure implements httpx.Reauthenticator: a 401 means the token
// was rejected.
func (s *Source) IsAuthFailure(resp *http.Response) bool {
	return resp.StatusCode == http.StatusUnauthorized
}

// fetch is the CredentialCache fetch function. prev is the token that was
// cached (expired or invalidated), nil at start.
func (s *Source) fetch(ctx context.Context, prev *oauth2.Token) (*oauth2.Token, time.Time, error) {
	s.mu.Lock()
	pending := s.unsaved
	s.mu.Unlock()
	if pending != nil {
		// A token whose Save failed: it may hold the only live refresh token.
		if err := s.save(ctx, pending); err != nil {
			return nil, time.Time{}, err
		}
		if s.fresh(pending) && !sameToken(pending, prev) {
			return pending, pending.Expiry, nil
		}
		prev = pending
	}
	base := prev
	if s.cfg.Store != nil {
		stored, err := s.cfg.Store.Load(ctx)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("oauth: load token: %w", err)
		}
		if stored != nil && stored.AccessToken != "" {
			if !sameToken(stored, prev) && s.fresh(stored) {
				s.remember(stored)
				return stored, stored.Expiry, nil // e.g. rotated by another process
			}
			base = stored // the store holds the newest refresh token
		}
	}
	var form url.Values
	switch {
	case base != nil && base.RefreshToken != "":
		form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {base.RefreshToken}}
		if s.cfg.RedirectOnRefresh && s.cfg.RedirectURL != "" {
			form.Set("redirect_uri", s.cfg.RedirectURL)
		}
	case s.cfg.Grant == GrantClientCredentials:
		form = url.Values{"grant_type": {"client_credentials"}}
	default:
		return nil, time.Time{}, ErrNoToken
	}
	// Asking for a client_credentials token twice is harmless; spending a
	// refresh token twice is not.
	tok, err := s.request(ctx, form, form.Get("grant_type") == "client_credentials")
	if err != nil {
		return nil, time.Time{}, err
	}
	if tok.RefreshToken == "" && base != nil && form.Get("grant_type") == "refresh_token" {
		tok.RefreshToken = base.RefreshToken // the server kept the old one
	}
	if err := s.save(ctx, tok); err != nil {
		return nil, time.Time{}, err
	}
	return tok, tok.Expiry, nil
}

// fresh reports whether t can be used for more than the early-expiry margin.
func (s *Source) fresh(t *oauth2.Token) bool {
	return t.Expiry.IsZero() || t.Expiry.Sub(s.now()) > s.cfg.EarlyExpiry
}

// save hands tok to the store. On failure tok is kept as unsaved, to be
// saved again before the next fetch does anything else.
func (s *Source) save(ctx context.Context, tok *oauth2.Token) error {
	s.remember(tok)
	if s.cfg.Store == nil {
		return nil
	}
	if err := s.cfg.Store.Save(ctx, tok); err != nil {
		s.mu.Lock()
		s.unsaved = tok
		s.mu.Unlock()
		return fmt.Errorf("oauth: save token: %w", err)
	}
	s.mu.Lock()
	if s.unsaved == tok {
		s.unsaved = nil
	}
	s.mu.Unlock()
	return nil
}

func (s *Source) remember(tok *oauth2.Token) {
	s.mu.Lock()
	s.last = tok
	s.mu.Unlock()
}

// tokenResponse is the RFC 6749 §5.1 answer; expires_in may be a number or
// a numeric string.
type tokenResponse struct {
	AccessToken  string      `json:"access_token"`
	TokenType    string      `json:"token_type"`
	RefreshToken string      `json:"refresh_token"`
	ExpiresIn    json.Number `json:"expires_in"`
	Scope        string      `json:"scope"`
}

// request posts form (plus the client credentials) to the token endpoint
// and counts the request by outcome (callbridge.oauth.token.refreshes).
func (s *Source) request(ctx context.Context, form url.Values, idempotent bool) (*oauth2.Token, error) {
	tok, err := s.tokenRequest(ctx, form, idempotent)
	if s.tel.TokenRefreshes.Enabled(ctx) {
		outcome := telemetry.OutcomeOK
		switch {
		case errors.Is(err, ErrInvalidGrant):
			outcome = telemetry.OutcomeInvalidGrant
		case err != nil:
			outcome = telemetry.OutcomeError
		}
		s.tel.TokenRefreshes.Add(ctx, 1, telemetry.Attrs(telemetry.ProviderKey.String(s.cfg.HTTP.Provider),
			telemetry.GrantKey.String(form.Get("grant_type")), telemetry.OutcomeKey.String(outcome)))
	}
	return tok, err
}

// tokenRequest is request without the count.
func (s *Source) tokenRequest(ctx context.Context, form url.Values, idempotent bool) (*oauth2.Token, error) {
	form.Set("client_id", s.cfg.ClientID)
	form.Set("client_secret", s.cfg.ClientSecret)
	req := httpx.NewFormRequest(http.MethodPost, s.cfg.TokenURL, form)
	req.Idempotent = idempotent
	req.Operation = "oauth.token"
	var tr tokenResponse
	if _, err := s.http.JSON(ctx, req, &tr); err != nil {
		var ae *httpx.APIError
		if errors.As(err, &ae) && ae.Code == "invalid_grant" {
			return nil, fmt.Errorf("%w: %w", ErrInvalidGrant, err)
		}
		return nil, fmt.Errorf("oauth: %s token request: %w", form.Get("grant_type"), err)
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("oauth: %s token response has no access_token", form.Get("grant_type"))
	}
	s.obtained.Add(1)
	tok := &oauth2.Token{AccessToken: tr.AccessToken, TokenType: tr.TokenType, RefreshToken: tr.RefreshToken}
	if tr.ExpiresIn != "" {
		secs, err := strconv.ParseFloat(string(tr.ExpiresIn), 64)
		if err != nil || secs < 0 {
			return nil, fmt.Errorf("oauth: token response has a bad expires_in %q", tr.ExpiresIn)
		}
		tok.ExpiresIn = int64(secs)
		tok.Expiry = s.now().Add(time.Duration(secs * float64(time.Second))).UTC()
	}
	if tr.Scope != "" {
		tok = tok.WithExtra(map[string]any{"scope": tr.Scope})
	}
	s.log.DebugContext(ctx, "oauth: token obtained", "grant", form.Get("grant_type"),
		"expires_in", tok.ExpiresIn, "refresh_token", tok.RefreshToken != "")
	return tok, nil
}

// parseOAuthError takes the RFC 6749 "error" code as APIError.Code, so
// {"error":"invalid_grant"} without a description is recognised.
func parseOAuthError(_ *http.Response, body []byte, e *httpx.APIError) {
	var m struct {
		Error any `json:"error"`
	}
	if json.Unmarshal(body, &m) != nil {
		return
	}
	if code, ok := m.Error.(string); ok && code != "" {
		e.Code = code
		if e.Message == code {
			e.Message = ""
		}
	}
}

func sameToken(a, b *oauth2.Token) bool {
	return a != nil && b != nil && a.AccessToken == b.AccessToken
}
