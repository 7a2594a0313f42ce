package httpx

import (
	"io"
	"log/slog"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

func TestClientConfig(t *testing.T) {
	t.Parallel()
	hc := &http.Client{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cc, err := ClientOptions("acme", callbridge.ClientConfig{BaseURL: "https://default.example/"}, []callbridge.ClientOption{
		callbridge.WithHTTPClient(hc), callbridge.WithBaseURL("https://api.example/v1"), callbridge.WithUserAgent("crm/2"),
		callbridge.WithRateLimit(7, 3),
		callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 2, MinWait: time.Millisecond, MaxWait: time.Second,
			Backoff: func(attempt int, _ *http.Response) time.Duration { return time.Duration(attempt) }}),
		callbridge.WithLogger(log),
	})
	require.NoError(t, err)
	c := ClientConfig("acme", cc)
	require.Equal(t, "acme", c.Provider)
	require.Same(t, hc, c.HTTPClient)
	require.Equal(t, "https://api.example/v1", c.BaseURL)
	require.Equal(t, "crm/2", c.UserAgent)
	require.Equal(t, rate.Limit(7), c.Limiter.Limit())
	require.Equal(t, 3, c.Limiter.Burst())
	require.Equal(t, 2, c.RetryMax)
	require.Equal(t, time.Millisecond, c.RetryWaitMin)
	require.Equal(t, time.Second, c.RetryWaitMax)
	require.Equal(t, 5*time.Nanosecond, c.Backoff(0, 0, 5, nil), "the policy's Backoff gets the attempt")
	require.Same(t, log, c.Logger)

	cc, err = ClientOptions("acme", callbridge.ClientConfig{}, []callbridge.ClientOption{callbridge.WithRetry(callbridge.RetryPolicy{})})
	require.NoError(t, err)
	require.Equal(t, -1, ClientConfig("acme", cc).RetryMax, "0 retries means none, not the default")
	require.Equal(t, 0, ClientConfig("acme", callbridge.ClientConfig{}).RetryMax, "no policy: the default")

	_, err = ClientOptions("acme", callbridge.ClientConfig{}, []callbridge.ClientOption{nil})
	require.EqualError(t, err, "acme: option 1 is nil")
	_, err = ClientOptions("acme", callbridge.ClientConfig{}, []callbridge.ClientOption{callbridge.WithLogger(nil)})
	require.EqualError(t, err, "acme: WithLogger: nil logger")
}

func TestClientConfigRateLimitOff(t *testing.T) {
	t.Parallel()
	cc, err := ClientOptions("acme", callbridge.ClientConfig{RateLimit: 5, Burst: 10}, []callbridge.ClientOption{callbridge.WithRateLimit(math.Inf(1), 1)})
	require.NoError(t, err)
	require.Nil(t, ClientConfig("acme", cc).Limiter, "+Inf turns the provider's default limit off")
	require.NotNil(t, ClientConfig("acme", callbridge.ClientConfig{RateLimit: 5, Burst: 10}).Limiter)
}
