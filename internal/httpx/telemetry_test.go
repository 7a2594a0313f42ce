package httpx

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
)

// A call that waits for the client-side limiter records the wait; one
// that finds a token at once does not. The call's URL in its spans has
// its secrets redacted and its phone numbers masked.
func TestTelemetryWaitsAndURLs(t *testing.T) {
	t.Parallel()
	m, tr := telemetrytest.NewMetrics(t), telemetrytest.NewTraces(t)
	lim := rate.NewLimiter(20, 1)
	c, srv := setup(t, Config{Provider: "acme", Limiter: lim, MeterProvider: m.Provider, TracerProvider: tr.Provider},
		func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for i := range 2 {
		if i == 1 {
			// The first call took the only token. Had it taken longer than
			// 1/20 s, the token would be back: take it now, so the second
			// call finds the bucket empty however slow the machine.
			require.True(t, lim.ReserveN(time.Now(), 1).OK())
		}
		_, err := c.JSON(t.Context(), &Request{Path: "contacts", Query: url.Values{"query": {"79161234567"}, "token": {"s3cret"}},
			Operation: "contacts.find"}, nil)
		require.NoError(t, err)
	}
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	p, ok := m.Point(t, "callbridge.api.rate_limit.wait", "callbridge.provider=acme", "callbridge.operation=contacts.find",
		"server.address="+u.Hostname(), "server.port="+u.Port(), "callbridge.wait=client")
	require.True(t, ok, m.Dump(t, "callbridge.api.rate_limit.wait"))
	require.Equal(t, uint64(1), p.Count, "the second call waited")
	require.GreaterOrEqual(t, p.Value, 0.02, "about 1/20 s")

	spans := tr.Named("acme contacts.find")
	require.Len(t, spans, 2)
	full := telemetrytest.Attr(spans[0], "url.full")
	require.True(t, strings.HasPrefix(full, srv.URL+"/api/contacts?"), full)
	require.Contains(t, full, "query=*******4567")
	require.Contains(t, full, "token=REDACTED")
	require.NotContains(t, full, "s3cret")
}
