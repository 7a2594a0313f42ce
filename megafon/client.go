package megafon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/httpx"
)

// Provider is the value of callevent.Event.Provider for MegaFon events.
const Provider = "megafon"

// Defaults of a Client.
const (
	// DefaultRateLimit is the client-side request rate, in requests per
	// second: the PBX documents no limits, so the client stays polite by
	// default. callbridge.WithRateLimit changes it; a rate of
	// math.Inf(1) turns the limit off.
	DefaultRateLimit float64 = 5
	// DefaultBurst is the burst of DefaultRateLimit.
	DefaultBurst int = 10
	// usersPageSize is the page size used by Users on crmapi v1.
	usersPageSize = 100
	// maxResponseBytes caps a response body the client reads.
	maxResponseBytes = 32 << 20
)

// The two API generations, relative to the PBX root URL.
const (
	v1Prefix   = "crmapi/v1/"
	legacyPath = "sys/crm_api.wcgp"
)

// ErrNotFound is returned (wrapped, with the *callbridge.APIError when the PBX sent
// one) when a user looked up by login does not exist. Test with errors.Is.
var ErrNotFound = errors.New("megafon: not found")

// Credentials identify one virtual PBX.
type Credentials struct {
	// Domain is the PBX address used to log in to its cabinet, e.g.
	// "vats123456.megapbx.ru" (a leading "https://" and a trailing "/" are
	// accepted). Other operators of the platform work too
	// ("example.gravitel.ru", "cloudpbx.beeline.ru").
	Domain string
	// APIKey is the "Ключ для авторизации в АТС" from the CRM integration
	// settings: the X-API-KEY of crmapi v1, the token of the legacy API.
	APIKey string
	// LegacyAPI makes the client speak the legacy form API
	// (POST /sys/crm_api.wcgp with cmd and token) instead of crmapi v1,
	// for PBXes that only have it. GroupCall needs crmapi v1.
	LegacyAPI bool
}

// String returns the credentials with the API key redacted, so that
// printing or logging them never shows it.
func (c Credentials) String() string {
	return fmt.Sprintf("megafon.Credentials{Domain:%q APIKey:%s LegacyAPI:%t}", c.Domain, httpx.RedactedIfSet(c.APIKey), c.LegacyAPI)
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// Format prints String for every verb (%d or %x of a struct would show
// its fields otherwise).
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer: the domain, a redacted key and
// LegacyAPI.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("domain", c.Domain), slog.String("api_key", httpx.RedactedIfSet(c.APIKey)),
		slog.Bool("legacy_api", c.LegacyAPI))
}

// MarshalJSON encodes the domain, a redacted key and LegacyAPI:
// credentials are not meant to be stored by marshalling them.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Domain    string
		APIKey    string
		LegacyAPI bool
	}{c.Domain, httpx.RedactedIfSet(c.APIKey), c.LegacyAPI})
}

// Client talks to one virtual PBX. It is safe for concurrent use. It holds
// one tenant's key: do not share it across CRM accounts.
type Client struct {
	domain string
	key    string
	legacy bool
	http   *httpx.Client
}

var (
	_ callevent.Caller      = (*Client)(nil)
	_ callevent.GroupCaller = (*Client)(nil)
)

// NewClient returns a client for the PBX in creds. Domain and APIKey are
// required. It takes the options of package callbridge:
//
//   - callbridge.WithHTTPClient: the HTTP client (copied, never mutated);
//     its Timeout, Transport and redirect policy apply. The default
//     client has a 30 s timeout (callbridge.DefaultTimeout) and does not
//     follow redirects, so the 301 a PBX answers to a wrong domain is a
//     *callbridge.APIError instead of a silently re-sent request.
//   - callbridge.WithBaseURL: the PBX root URL, under which crmapi/v1/ and
//     sys/crm_api.wcgp live (default "https://<Domain>/"), for tests
//     (megafontest.Server.URL) or a proxy.
//   - callbridge.WithUserAgent, callbridge.WithLogger (debug lines of
//     retries; the API key is never logged).
//   - callbridge.WithRateLimit: default DefaultRateLimit (5/s) with bursts
//     of DefaultBurst (10); math.Inf(1) turns the limit off.
//   - callbridge.WithRetry: how often a request that is safe to repeat is
//     retried (default 3) and the backoff.
//
// callbridge.WithTokenStore (the key is no OAuth token) and
// callbridge.WithDefaultCountry (numbers go to the PBX as given) make it
// fail.
func NewClient(creds Credentials, opts ...callbridge.ClientOption) (*Client, error) {
	domain, err := cleanDomain(creds.Domain)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(creds.APIKey) == "" {
		return nil, errors.New("megafon: APIKey is required")
	}
	cc, err := httpx.ClientOptions(Provider, callbridge.ClientConfig{RateLimit: DefaultRateLimit, Burst: DefaultBurst}, opts)
	if err != nil {
		return nil, err
	}
	if cc.TokenStore != nil {
		return nil, errors.New("megafon: WithTokenStore is not supported: the PBX's API key is no OAuth token")
	}
	if cc.DefaultCountry != "" {
		return nil, errors.New("megafon: WithDefaultCountry is not supported: the client sends numbers to the PBX as given")
	}
	if cc.BaseURL == "" {
		cc.BaseURL = "https://" + domain + "/"
	}
	if cc.HTTPClient == nil {
		// The process-wide shared transport: a client per tenant costs no
		// connection pool of its own.
		hc := *httpx.DefaultHTTPClient()
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		cc.HTTPClient = &hc
	}
	hcfg := httpx.ClientConfig(Provider, cc)
	key := creds.APIKey
	hcfg.Secrets = func() []string { return []string{key} }
	hcfg.MaxResponseBytes = maxResponseBytes
	hc, err := httpx.New(hcfg)
	if err != nil {
		return nil, fmt.Errorf("megafon: %w", err)
	}
	return &Client{domain: domain, key: key, legacy: creds.LegacyAPI, http: hc}, nil
}

// cleanDomain accepts "vats1.megapbx.ru", "https://vats1.megapbx.ru/" and
// returns the host.
func cleanDomain(d string) (string, error) {
	d = strings.TrimSpace(d)
	d = strings.TrimPrefix(strings.TrimPrefix(d, "https://"), "http://")
	d = strings.TrimSuffix(d, "/")
	if d == "" {
		return "", errors.New("megafon: Domain is required")
	}
	if strings.ContainsAny(d, "/?#@ ") {
		return "", fmt.Errorf("megafon: Domain %q must be a host name such as vats123456.megapbx.ru", d)
	}
	return strings.ToLower(d), nil
}

// String describes the client without its API key.
func (c *Client) String() string {
	if c == nil {
		return "megafon.Client(nil)"
	}
	return fmt.Sprintf("megafon.Client{Domain:%q Legacy:%t APIKey:%s}", c.domain, c.legacy, httpx.RedactedIfSet(c.key))
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Format prints String for every verb.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer: the domain, never the key.
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("megafon.Client(nil)")
	}
	return slog.GroupValue(slog.String("domain", c.domain), slog.Bool("legacy", c.legacy), slog.String("api_key", httpx.RedactedIfSet(c.key)))
}

// MarshalJSON encodes what LogValue shows.
func (c *Client) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		Domain string `json:"domain"`
		Legacy bool   `json:"legacy"`
		APIKey string `json:"api_key"`
	}{c.domain, c.legacy, httpx.RedactedIfSet(c.key)})
}

// Domain returns the PBX domain; it is the Account of this PBX's events.
func (c *Client) Domain() string { return c.domain }

// Legacy reports whether the client speaks the legacy form API.
func (c *Client) Legacy() bool { return c.legacy }

// apiCall is one operation in both wire formats. Every method fills the
// fields of both generations from the same arguments and send picks one.
type apiCall struct {
	name string // operation name for error messages

	// crmapi v1: method and path under crmapi/v1/, query, JSON body.
	method string
	path   string
	query  url.Values
	body   any

	// legacy: cmd and its form parameters (the token is added by send).
	// An empty cmd means the operation exists only in crmapi v1.
	cmd  string
	form url.Values

	// safe marks an operation that may be repeated (a read or a state
	// change to a given value), so a legacy POST is retried like a GET.
	// A click-to-call is never safe.
	safe bool
}

// send performs a in the client's API generation and returns the 2xx body.
func (c *Client) send(ctx context.Context, a apiCall) ([]byte, error) {
	var req *httpx.Request
	if c.legacy {
		if a.cmd == "" {
			return nil, fmt.Errorf("megafon: %s needs crmapi v1: %w", a.name, callevent.ErrUnsupported)
		}
		form := url.Values{"cmd": {a.cmd}}
		for k, v := range a.form {
			form[k] = v
		}
		form.Set("token", c.key)
		req = httpx.NewFormRequest(http.MethodPost, legacyPath, form)
	} else {
		var err error
		req, err = httpx.NewJSONRequest(a.method, v1Prefix+a.path, a.body)
		if err != nil {
			return nil, fmt.Errorf("megafon: %s: %w", a.name, err)
		}
		req.Query = a.query
		req.Header = http.Header{"X-Api-Key": {c.key}, "Accept": {"application/json"}}
	}
	req.Idempotent, req.Operation = a.safe, a.name
	resp, err := c.http.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("megafon: %s: %w", a.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("megafon: %s: read response: %w", a.name, err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("megafon: %s: %w", a.name, httpx.ErrResponseTooLarge)
	}
	return body, nil
}
