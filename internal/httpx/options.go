package httpx

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"
)

// Option sets part of a Config, validating its argument. Provider packages
// wrap these as their own client options (telphin.WithRetry, …), so the
// standard options check and mean the same for every provider.
type Option func(*Config) error

// Apply runs opts on c in order and returns the first error.
func (c *Config) Apply(opts ...Option) error {
	for i, o := range opts {
		if o == nil {
			return fmt.Errorf("httpx: option %d is nil", i+1)
		}
		if err := o(c); err != nil {
			return err
		}
	}
	return nil
}

// WithHTTPClient sets the HTTP client. It is copied, never mutated; its
// Timeout and Transport apply. Default: a client with DefaultTimeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Config) error {
		if hc == nil {
			return errors.New("nil HTTP client")
		}
		c.HTTPClient = hc
		return nil
	}
}

// WithBaseURL sets the API base URL, an absolute http(s) URL.
func WithBaseURL(u string) Option {
	return func(c *Config) error {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("base URL %q is not an absolute http(s) URL", Redact(u))
		}
		c.BaseURL = u
		return nil
	}
}

// WithUserAgent appends ua to the "callbridge/<version>" User-Agent.
func WithUserAgent(ua string) Option {
	return func(c *Config) error { c.UserAgent = ua; return nil }
}

// WithRateLimit throttles every attempt (retries and re-authentication
// included) to r requests per second with bursts of burst.
func WithRateLimit(r rate.Limit, burst int) Option {
	return func(c *Config) error {
		if r <= 0 || burst <= 0 {
			return errors.New("rate limit and burst must be positive")
		}
		c.Limiter = rate.NewLimiter(r, burst)
		return nil
	}
}

// WithRetry sets how many times a request that is safe to repeat is
// retried after the first attempt (0 turns retries off; default
// DefaultRetryMax) and the backoff bounds (defaults DefaultRetryWaitMin and
// DefaultRetryWaitMax; maxWait also caps Retry-After).
func WithRetry(maxRetries int, minWait, maxWait time.Duration) Option {
	return func(c *Config) error {
		if maxRetries < 0 || minWait < 0 || maxWait < minWait {
			return errors.New("retry settings need maxRetries >= 0 and 0 <= minWait <= maxWait")
		}
		c.RetryMax = maxRetries
		if maxRetries == 0 {
			c.RetryMax = -1 // Config: negative means none
		}
		c.RetryWaitMin, c.RetryWaitMax = minWait, maxWait
		return nil
	}
}

// WithBackoff replaces the wait between retries (tests pass one that
// returns 0). The custom backoff decides the wait itself: only
// DefaultBackoff, the default, honours Retry-After (capped at the maximum
// wait), so a backoff that should keep doing so calls DefaultBackoff for
// 429 and 503 responses.
func WithBackoff(b retryablehttp.Backoff) Option {
	return func(c *Config) error {
		if b == nil {
			return errors.New("nil backoff")
		}
		c.Backoff = b
		return nil
	}
}

// WithLogger sets the logger for retries and re-authentication (debug
// level). Default: discard. Secrets are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Config) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.Logger = l
		return nil
	}
}
