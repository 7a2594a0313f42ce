package httpx

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

func TestOptions(t *testing.T) {
	t.Parallel()
	var c Config
	hc := &http.Client{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	require.NoError(t, c.Apply(
		WithHTTPClient(hc), WithBaseURL("https://api.example/v1"), WithUserAgent("crm/2"),
		WithRateLimit(7, 3), WithRetry(2, time.Millisecond, time.Second),
		WithBackoff(func(time.Duration, time.Duration, int, *http.Response) time.Duration { return 0 }),
		WithLogger(log),
	))
	require.Same(t, hc, c.HTTPClient)
	require.Equal(t, "https://api.example/v1", c.BaseURL)
	require.Equal(t, "crm/2", c.UserAgent)
	require.Equal(t, rate.Limit(7), c.Limiter.Limit())
	require.Equal(t, 3, c.Limiter.Burst())
	require.Equal(t, 2, c.RetryMax)
	require.Equal(t, time.Millisecond, c.RetryWaitMin)
	require.Equal(t, time.Second, c.RetryWaitMax)
	require.NotNil(t, c.Backoff)
	require.Same(t, log, c.Logger)

	require.NoError(t, c.Apply(WithRetry(0, 0, 0)))
	require.Equal(t, -1, c.RetryMax, "0 retries means none, not the default")

	for name, o := range map[string]Option{
		"nil client":     WithHTTPClient(nil),
		"relative url":   WithBaseURL("/v1"),
		"ftp url":        WithBaseURL("ftp://x/"),
		"zero rate":      WithRateLimit(0, 1),
		"zero burst":     WithRateLimit(1, 0),
		"negative retry": WithRetry(-1, 0, 0),
		"min above max":  WithRetry(1, time.Second, time.Millisecond),
		"nil backoff":    WithBackoff(nil),
		"nil logger":     WithLogger(nil),
	} {
		require.Error(t, (&Config{}).Apply(o), name)
	}
	err := (&Config{}).Apply(WithBaseURL("ftp://h/?token=SECRET"))
	require.NotContains(t, err.Error(), "SECRET")
}
