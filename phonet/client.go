package phonet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/internal/httpx"
)

// ErrNoSession is returned (wrapped) when Phonet accepted the authorization
// request but set no session cookie.
var ErrNoSession = errors.New("phonet: authorize returned no session cookie")

// SessionCookie is the name of Phonet's session cookie.
const SessionCookie = "JSESSIONID"

// Credentials are the «Дані для авторизації за API» of the Phonet cabinet.
type Credentials struct {
	// Domain is the company host, e.g. "acme.phonet.com.ua" ("Phonet домен").
	// A scheme and trailing slashes are removed.
	Domain string
	// APIKey is the "Phonet ApiKey". It never appears in errors or logs.
	APIKey string
}

// String shows the domain and hides the API key, so %v, %+v and %s of
// Credentials never print it.
func (c Credentials) String() string {
	return "phonet.Credentials{Domain: " + strconv.Quote(c.Domain) + ", APIKey: " + httpx.RedactedIfSet(c.APIKey) + "}"
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the domain and hides the API key.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("domain", c.Domain), slog.String("api_key", httpx.RedactedIfSet(c.APIKey)))
}

// MarshalJSON writes the domain and hides the API key.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct{ Domain, APIKey string }{c.Domain, httpx.RedactedIfSet(c.APIKey)})
}

// session is a Phonet session cookie.
type session struct {
	name, value string
}

// Client is a Phonet REST client for one company. It authorizes lazily,
// shares one session among all goroutines and re-authorizes once when the
// session is rejected. It is safe for concurrent use; do not share one
// Client across tenants.
type Client struct {
	domain, apiKey string
	api            *httpx.Client // authenticated with the session cookie
	authAPI        *httpx.Client // for the authorize call itself
	sessions       *httpx.CredentialCache[session]
}

// NewClient validates creds and returns a Client. No request is sent until
// the first call. It takes the options of package callbridge:
// WithHTTPClient (copied, never mutated; its Transport and Timeout apply; in
// the copy, redirects to a login page are not followed, so an expired
// session is seen, and the cookie jar is removed, as the Client manages the
// session cookie), WithBaseURL (default "https://<Domain>/"; phonettest's
// fake), WithUserAgent, WithRateLimit (default none; every attempt counts,
// re-authorizations included), WithRetry and WithLogger. Phonet
// authenticates with an API key and passes numbers on as given, so
// WithTokenStore and WithDefaultCountry are refused. A nil option is an
// error.
func NewClient(creds Credentials, opts ...callbridge.ClientOption) (*Client, error) {
	domain := strings.TrimSpace(creds.Domain)
	if i := strings.Index(domain, "://"); i >= 0 {
		domain = domain[i+3:]
	}
	domain = strings.TrimRight(domain, "/")
	if domain == "" || strings.ContainsAny(domain, "/?#@ \t") {
		return nil, fmt.Errorf("phonet: invalid domain %q: want a host such as acme.phonet.com.ua", creds.Domain)
	}
	if strings.TrimSpace(creds.APIKey) == "" {
		return nil, errors.New("phonet: API key is empty")
	}
	cc, err := httpx.ClientOptions("phonet", callbridge.ClientConfig{BaseURL: "https://" + domain + "/"}, opts)
	if err != nil {
		return nil, err
	}
	if cc.TokenStore != nil {
		return nil, errors.New("phonet: WithTokenStore is not supported: Phonet authenticates with an API key and a session cookie, not OAuth tokens")
	}
	if cc.DefaultCountry != "" {
		return nil, errors.New("phonet: WithDefaultCountry is not supported: the client passes numbers to Phonet as given (the handler takes webhook.WithDefaultCountry)")
	}
	// Both clients, the one that authorizes and the one that sends the
	// session cookie, are built from the same options.
	hcfg := httpx.ClientConfig("phonet", cc)
	c := &Client{domain: domain, apiKey: creds.APIKey}
	c.sessions = httpx.NewCredentialCache(c.authorize)
	hcfg.HTTPClient = httpClient(hcfg.HTTPClient)
	hcfg.Secrets = c.secrets
	if c.authAPI, err = httpx.New(hcfg); err != nil {
		return nil, fmt.Errorf("phonet: %w", err)
	}
	hcfg.Auth = &httpx.CacheAuth[session]{
		Cache:       c.sessions,
		Apply:       func(r *http.Request, s session) { r.AddCookie(&http.Cookie{Name: s.name, Value: s.value}) },
		AuthFailure: IsSessionExpired,
	}
	if c.api, err = httpx.New(hcfg); err != nil {
		return nil, fmt.Errorf("phonet: %w", err)
	}
	return c, nil
}

// String shows the client's domain only: neither the API key nor the
// session id.
func (c *Client) String() string {
	if c == nil {
		return "phonet.Client(nil)"
	}
	return "phonet.Client{Domain: " + strconv.Quote(c.domain) + ", APIKey: " + httpx.Redacted + "}"
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the client's domain only.
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("phonet.Client(nil)")
	}
	return slog.GroupValue(slog.String("domain", c.domain), slog.String("api_key", httpx.Redacted))
}

// MarshalJSON writes the client's domain only.
func (c *Client) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("null"), nil
	}
	return json.Marshal(struct{ Domain, APIKey string }{c.domain, httpx.Redacted})
}

// Domain returns the company host the client was created for.
func (c *Client) Domain() string { return c.domain }

func (c *Client) secrets() []string {
	out := []string{c.apiKey}
	if s, _ := c.sessions.Peek(); s.value != "" {
		out = append(out, s.value)
	}
	return out
}

// httpClient copies hc (or the default client, whose transport every
// Client of the process shares: httpx.DefaultHTTPClient) so that redirects
// to a login page are not followed and no cookie jar interferes.
func httpClient(hc *http.Client) *http.Client {
	if hc == nil {
		hc = httpx.DefaultHTTPClient()
	}
	c := *hc
	c.Jar = nil
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if isLoginURL(req.URL) {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// IsSessionExpired reports whether resp means Phonet rejected the session:
// 401, 403, or a redirect to a login page. The Client re-authorizes once
// (single-flight) and replays the request once when it sees one.
func IsSessionExpired(resp *http.Response) bool {
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return true
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		loc, err := resp.Location()
		return err == nil && isLoginURL(loc)
	}
	return false
}

func isLoginURL(u *url.URL) bool {
	p := strings.ToLower(u.Path)
	for _, w := range []string{"login", "signin", "sign-in", "logon", "/auth"} {
		if strings.Contains(p, w) {
			return true
		}
	}
	return false
}

// authorize is the CredentialCache fetch: POST /rest/security/authorize.
func (c *Client) authorize(ctx context.Context, _ session) (session, time.Time, error) {
	req, err := httpx.NewJSONRequest(http.MethodPost, "rest/security/authorize",
		map[string]string{"domain": c.domain, "apiKey": c.apiKey})
	if err != nil {
		return session{}, time.Time{}, err
	}
	req.Idempotent = true // a repeated authorize only opens another session
	req.Operation = "authorize"
	resp, err := c.authAPI.Do(ctx, req)
	if err != nil {
		return session{}, time.Time{}, fmt.Errorf("phonet: authorize: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	var first *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Value == "" {
			continue
		}
		if strings.EqualFold(ck.Name, SessionCookie) {
			first = ck
			break
		}
		if first == nil {
			first = ck
		}
	}
	if first == nil {
		return session{}, time.Time{}, ErrNoSession
	}
	var exp time.Time
	switch {
	case first.MaxAge > 0:
		exp = time.Now().Add(time.Duration(first.MaxAge) * time.Second)
	case !first.Expires.IsZero():
		exp = first.Expires
	}
	return session{name: first.Name, value: first.Value}, exp, nil
}
