package amocrm_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
)

// A10: a multi-tenant CRM builds a Client per account. 10,000 Clients
// (half OAuth, which also refresh a token), each making its requests,
// share one transport: goroutines and heap stay where they were instead
// of keeping a transport with idle connections per Client.
func TestManyClientsShareTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/access_token") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":86400,"access_token":"at","refresh_token":"rt"}`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	build := func(i int) *amocrm.Client {
		opts := []callbridge.ClientOption{callbridge.WithBaseURL(srv.URL), noRateLimit(), noRetries()}
		creds := amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: "llt"}
		if i%2 == 1 {
			creds = oauthCreds
			expired := &oauth2.Token{AccessToken: "old", RefreshToken: "rt0", Expiry: time.Now().Add(-time.Hour)}
			opts = append(opts, callbridge.WithTokenStore(&memTokens{tok: expired}))
		}
		c, err := amocrm.NewClient(creds, opts...)
		require.NoError(t, err)
		return c
	}
	use := func(i int) {
		if _, err := build(i).SearchContacts(ctx, "916", 1); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	for i := range 100 { // warm up the shared transport
		use(i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	for i := range 10_000 {
		use(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("10,000 clients: goroutines %d → %d, heap %+d bytes", g0, g1, grown)
	require.Less(t, g1-g0, 50, "goroutines grow with the number of clients")
	require.Less(t, grown, int64(16<<20), "heap grows with the number of clients")
}
