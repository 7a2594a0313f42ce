package callbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/callbridge/callbridge/internal/phone"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
)

// Defaults of every provider client.
const (
	// DefaultTimeout is the HTTP timeout of a client built without
	// WithHTTPClient: one attempt, response body included.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxRetries, DefaultMinWait and DefaultMaxWait are the retry
	// policy of a client built without WithRetry.
	DefaultMaxRetries = 3
	DefaultMinWait    = 500 * time.Millisecond
	DefaultMaxWait    = 10 * time.Second
)

// A ClientOption configures a provider client. NewClient of telphin,
// megafon, phonet, finaz and amocrm all take the options of this package;
// a nil option, or an option with an invalid argument, makes NewClient
// fail.
type ClientOption func(*ClientConfig) error

// ClientConfig is what ClientOptions set. A provider's NewClient starts from
// its defaults (documented with the provider), applies the options in order
// and validates the result.
type ClientConfig struct {
	// HTTPClient is copied, never mutated; its Timeout and Transport
	// apply. nil: a client with DefaultTimeout.
	HTTPClient *http.Client
	// BaseURL is the API's base URL ("" for the provider's own).
	BaseURL string
	// UserAgent is appended to "callbridge/<version>".
	UserAgent string
	// RateLimit and Burst throttle requests client-side (requests per
	// second; 0 or +Inf for none).
	RateLimit float64
	Burst     int
	// Retry is the retry policy; nil for the defaults.
	Retry *RetryPolicy
	// Logger receives debug lines (retries, token refreshes); nil
	// discards them.
	Logger *slog.Logger
	// TokenStore persists OAuth tokens (telphin, amocrm).
	TokenStore TokenStore
	// DefaultCountry is the country of phone numbers written without a
	// country code (telphin: the numbers given to Call, GroupCall and
	// Transfer); "" for the provider's default.
	DefaultCountry string
	// MeterProvider and TracerProvider receive the client's metrics and
	// spans; nil: the global providers (otel.GetMeterProvider,
	// otel.GetTracerProvider), which do nothing until the program sets
	// them.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// RetryPolicy says how a client retries a request that is safe to repeat: a
// 429, a connection that could not be made, and a 502, 503 or 504 of a
// request that cannot have taken effect twice. A click-to-call is never
// sent twice.
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt; 0
	// turns retries off.
	MaxRetries int
	// MinWait and MaxWait bound the wait between attempts; both zero
	// means DefaultMinWait and DefaultMaxWait. MaxWait also caps
	// Retry-After: an answer that asks for a longer wait is not retried.
	MinWait, MaxWait time.Duration
	// Backoff, when set, returns the wait before retry attempt (0-based);
	// resp is the answer being retried, nil after a transport error. The
	// result is clamped to [0, MaxWait]. nil: exponential backoff from
	// MinWait with jitter that honours Retry-After. Tests set one that
	// returns 0.
	Backoff func(attempt int, resp *http.Response) time.Duration
}

// TokenStore persists the OAuth tokens of a telphin or amocrm client between
// restarts and processes. Load returns (nil, nil) when nothing is stored.
// Save must store tok durably: it receives every new token, including a
// rotated refresh token, before the token is used (amoCRM refresh tokens
// are single-use: a process that loses the newest one must be authorized
// again).
type TokenStore interface {
	Load(ctx context.Context) (*oauth2.Token, error)
	Save(ctx context.Context, tok *oauth2.Token) error
}

// WithHTTPClient sets the HTTP client. It is copied, never mutated; its
// Timeout and Transport apply. Default: a client with DefaultTimeout.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *ClientConfig) error {
		if hc == nil {
			return errors.New("WithHTTPClient: nil HTTP client")
		}
		c.HTTPClient = hc
		return nil
	}
}

// WithBaseURL sets the API base URL, an absolute http(s) URL: another
// region or host of the provider, or a fake from a <provider>test package.
func WithBaseURL(u string) ClientOption {
	return func(c *ClientConfig) error {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
			return errors.New("WithBaseURL: not an absolute http(s) URL without user info")
		}
		c.BaseURL = u
		return nil
	}
}

// WithUserAgent appends ua to the "callbridge/<version>" User-Agent.
func WithUserAgent(ua string) ClientOption {
	return func(c *ClientConfig) error {
		for _, r := range ua {
			if r < ' ' || r == 0x7f {
				return errors.New("WithUserAgent: control character in user agent")
			}
		}
		c.UserAgent = ua
		return nil
	}
}

// WithRateLimit throttles requests client-side to perSecond requests per
// second with bursts of burst; every attempt counts, retries and token
// requests included. math.Inf(1) turns off a provider's default limit.
func WithRateLimit(perSecond float64, burst int) ClientOption {
	return func(c *ClientConfig) error {
		if !(perSecond > 0) || burst <= 0 {
			return fmt.Errorf("WithRateLimit: rate %v and burst %d must be positive", perSecond, burst)
		}
		c.RateLimit, c.Burst = perSecond, burst
		return nil
	}
}

// WithRetry sets the retry policy. Default: DefaultMaxRetries retries,
// waiting DefaultMinWait to DefaultMaxWait.
func WithRetry(p RetryPolicy) ClientOption {
	return func(c *ClientConfig) error {
		if p.MaxRetries < 0 || p.MinWait < 0 || p.MaxWait < p.MinWait {
			return errors.New("WithRetry: need MaxRetries >= 0 and 0 <= MinWait <= MaxWait")
		}
		q := p // one option may configure several clients, concurrently
		if q.MinWait == 0 && q.MaxWait == 0 {
			q.MinWait, q.MaxWait = DefaultMinWait, DefaultMaxWait
		}
		c.Retry = &q
		return nil
	}
}

// WithLogger sets the logger for debug lines: retries, token refreshes.
// Default: discard. Secrets are never logged.
func WithLogger(l *slog.Logger) ClientOption {
	return func(c *ClientConfig) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		c.Logger = l
		return nil
	}
}

// WithTokenStore persists the OAuth tokens of a telphin or amocrm client:
// the store is loaded before a token is requested and receives every new
// token before it is used. Clients that do not use OAuth refuse it.
func WithTokenStore(s TokenStore) ClientOption {
	return func(c *ClientConfig) error {
		if s == nil {
			return errors.New("WithTokenStore: nil token store")
		}
		c.TokenStore = s
		return nil
	}
}

// WithDefaultCountry sets the country of phone numbers written without a
// country code: "RU", "KZ", "UA", "BY" or "BR". Clients that take no phone
// numbers refuse it. Handlers take webhook.WithDefaultCountry.
func WithDefaultCountry(country string) ClientOption {
	return func(c *ClientConfig) error {
		if err := phone.CheckCountry(country); err != nil {
			return fmt.Errorf("WithDefaultCountry: %w", err)
		}
		c.DefaultCountry = country
		return nil
	}
}

// WithMeterProvider sets where the client's metrics go: outbound calls by
// provider, operation and status (callbridge.api.request.duration),
// retries (callbridge.api.retries), rate-limit waits
// (callbridge.api.rate_limit.wait) and OAuth token requests
// (callbridge.oauth.token.refreshes). Default: the global provider,
// a no-op until the program sets one (otel.SetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) ClientOption {
	return func(c *ClientConfig) error {
		if mp == nil {
			return errors.New("WithMeterProvider: nil meter provider")
		}
		c.MeterProvider = mp
		return nil
	}
}

// WithTracerProvider sets where the client's spans go: one per API call
// ("telphin calls.create"; callbridge.provider, callbridge.operation,
// http.request.method, server.address, http.response.status_code) with
// one client span per HTTP attempt beneath it, children of the span in
// the call's context. URLs in attributes have secrets redacted and phone
// numbers masked. Default: the global provider, a no-op until the program
// sets one (otel.SetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) ClientOption {
	return func(c *ClientConfig) error {
		if tp == nil {
			return errors.New("WithTracerProvider: nil tracer provider")
		}
		c.TracerProvider = tp
		return nil
	}
}
