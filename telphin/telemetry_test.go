package telphin_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// Outbound calls are measured by provider, operation and status: a 429
// retried (a retry and the server's wait recorded), a 500 that fails, the
// token request; each call is a span with one client span per attempt.
func TestClientTelemetry(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	m := telemetrytest.NewMetrics(t)
	tr := telemetrytest.NewTraces(t)
	c := newClient(t, srv, callbridge.WithMeterProvider(m.Provider), callbridge.WithTracerProvider(tr.Provider))

	srv.Fail(telphintest.Failure{Path: "/api/ver1.0/user/", Status: http.StatusTooManyRequests, RetryAfter: "1"})
	_, err := c.User(t.Context())
	require.NoError(t, err, "the 429 is retried")
	srv.Fail(telphintest.Failure{Path: "/api/ver1.0/user/", Status: http.StatusInternalServerError})
	_, err = c.User(t.Context())
	require.Error(t, err)

	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	call := func(op string, more ...string) []string {
		return append([]string{"callbridge.provider=telphin", "callbridge.operation=" + op,
			"server.address=" + u.Hostname(), "server.port=" + u.Port()}, more...)
	}
	const duration = "callbridge.api.request.duration"
	require.Equal(t, uint64(1), m.Count(t, duration, call("user.get", "http.response.status_code=200")...), m.Dump(t, duration))
	require.Equal(t, uint64(1), m.Count(t, duration, call("user.get", "http.response.status_code=500", "error.type=500")...), m.Dump(t, duration))
	require.Equal(t, uint64(1), m.Count(t, duration, call("oauth.token", "http.response.status_code=200")...), m.Dump(t, duration))
	require.Len(t, m.Points(t, duration), 3, m.Dump(t, duration))
	require.Equal(t, 1.0, m.Value(t, "callbridge.api.retries", call("user.get", "error.type=429")...), m.Dump(t, "callbridge.api.retries"))
	require.Equal(t, uint64(1), m.Count(t, "callbridge.api.rate_limit.wait", call("user.get", "callbridge.wait=server")...),
		m.Dump(t, "callbridge.api.rate_limit.wait"))
	require.Equal(t, 1.0, m.Value(t, "callbridge.oauth.token.refreshes", "callbridge.provider=telphin",
		"callbridge.oauth.grant=client_credentials", "callbridge.outcome=ok"))

	calls := tr.Named("telphin user.get")
	require.Len(t, calls, 2)
	first := calls[0]
	require.Equal(t, "200", telemetrytest.Attr(first, "http.response.status_code"))
	require.Equal(t, "2", telemetrytest.Attr(first, "callbridge.attempts"))
	require.Equal(t, "500", telemetrytest.Attr(calls[1], "error.type"))
	var resends []string
	for _, s := range tr.Named("GET") {
		if s.Parent.SpanID() == first.SpanContext.SpanID() {
			resends = append(resends, telemetrytest.Attr(s, "http.request.resend_count")+"/"+telemetrytest.Attr(s, "http.response.status_code"))
		}
	}
	require.Equal(t, []string{"0/429", "1/200"}, resends, "one client span per attempt beneath the call's")
	for _, s := range tr.Spans() {
		for _, kv := range s.Attributes {
			require.NotContains(t, kv.Value.String(), srv.ClientSecret, "%s: %s", s.Name, kv.Key)
		}
	}
}
