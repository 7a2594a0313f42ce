package httpx

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/callbridge/callbridge"
	"golang.org/x/time/rate"
)

// ClientOptions applies opts to defaults for the client of provider and
// returns the result. An error names the provider and the option.
func ClientOptions(provider string, defaults callbridge.ClientConfig, opts []callbridge.ClientOption) (callbridge.ClientConfig, error) {
	cc := defaults
	for i, o := range opts {
		if o == nil {
			return cc, fmt.Errorf("%s: option %d is nil", provider, i+1)
		}
		if err := o(&cc); err != nil {
			return cc, fmt.Errorf("%s: %w", provider, err)
		}
	}
	return cc, nil
}

// ClientConfig returns the Config of a Client of provider configured by cc.
// Fields cc leaves zero keep this package's defaults; the caller adds Auth,
// ParseError and the rest.
func ClientConfig(provider string, cc callbridge.ClientConfig) Config {
	c := Config{
		Provider:   provider,
		BaseURL:    cc.BaseURL,
		HTTPClient: cc.HTTPClient,
		UserAgent:  cc.UserAgent,
		Logger:     cc.Logger,

		MeterProvider:  cc.MeterProvider,
		TracerProvider: cc.TracerProvider,
	}
	if cc.RateLimit > 0 && !math.IsInf(cc.RateLimit, 1) {
		c.Limiter = rate.NewLimiter(rate.Limit(cc.RateLimit), max(cc.Burst, 1))
	}
	if p := cc.Retry; p != nil {
		c.RetryMax = p.MaxRetries
		if p.MaxRetries == 0 {
			c.RetryMax = -1 // Config: negative means none
		}
		c.RetryWaitMin, c.RetryWaitMax = p.MinWait, p.MaxWait
		if b := p.Backoff; b != nil {
			c.Backoff = func(_, _ time.Duration, attempt int, resp *http.Response) time.Duration { return b(attempt, resp) }
		}
	}
	return c
}
