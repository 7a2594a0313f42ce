package callbridge_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/stretchr/testify/require"
)

func TestClientOptionsValidate(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]callbridge.ClientOption{
		"nil client":      callbridge.WithHTTPClient(nil),
		"relative url":    callbridge.WithBaseURL("/v1"),
		"ftp url":         callbridge.WithBaseURL("ftp://x/"),
		"user info":       callbridge.WithBaseURL("https://user:pw@x/"),
		"control char":    callbridge.WithUserAgent("crm\r\nX-Evil: 1"),
		"zero rate":       callbridge.WithRateLimit(0, 1),
		"NaN rate":        callbridge.WithRateLimit(nanRate(), 1),
		"zero burst":      callbridge.WithRateLimit(1, 0),
		"negative retry":  callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: -1}),
		"min above max":   callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 1, MinWait: time.Second, MaxWait: time.Millisecond}),
		"nil logger":      callbridge.WithLogger(nil),
		"nil token store": callbridge.WithTokenStore(nil),
		"country":         callbridge.WithDefaultCountry("XX"),
		"nil meters":      callbridge.WithMeterProvider(nil),
		"nil tracers":     callbridge.WithTracerProvider(nil),
	} {
		require.Error(t, o(&callbridge.ClientConfig{}), name)
	}
	err := callbridge.WithBaseURL("ftp://h/?token=SECRET")(&callbridge.ClientConfig{})
	require.NotContains(t, err.Error(), "SECRET")

	var cc callbridge.ClientConfig
	require.NoError(t, callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 2})(&cc))
	require.Equal(t, callbridge.RetryPolicy{MaxRetries: 2, MinWait: callbridge.DefaultMinWait, MaxWait: callbridge.DefaultMaxWait}, *cc.Retry,
		"zero waits take the defaults")
	require.NoError(t, callbridge.WithDefaultCountry("ua")(&cc))
	require.NoError(t, callbridge.WithHTTPClient(http.DefaultClient)(&cc))
}

func nanRate() float64 {
	zero := 0.0
	return zero / zero
}

func TestWithRetryIsReusable(t *testing.T) {
	t.Parallel()
	opt := callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 1})
	var a, b callbridge.ClientConfig
	require.NoError(t, opt(&a))
	require.NoError(t, opt(&b))
	require.NotSame(t, a.Retry, b.Retry, "each client gets its own policy")
	a.Retry.MaxRetries = 9
	require.Equal(t, 1, b.Retry.MaxRetries)
}
