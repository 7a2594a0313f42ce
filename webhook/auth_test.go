package webhook_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/webhook"
)

func TestSecrets(t *testing.T) {
	t.Parallel()
	s, err := webhook.NewSecrets("alpha", "beta")
	require.NoError(t, err)
	require.True(t, s.Match("alpha"))
	require.True(t, s.Match("beta"))
	require.False(t, s.Match("alph"))
	require.False(t, s.Match("alphaa"))
	require.False(t, s.Match(""))
	require.Equal(t, 1, s.Index("beta"))
	require.Equal(t, -1, s.Index("gamma"))
	require.False(t, webhook.Secrets{}.Match("alpha"), "the zero Secrets accepts nothing")
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted, err := webhook.ParsePrefixes("10.0.0.0/8", "127.0.0.1")
	require.NoError(t, err)
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies: header ignored", "203.0.113.9:5000", []string{"1.2.3.4"}, nil, "203.0.113.9"},
		{"untrusted peer: header ignored", "203.0.113.9:5000", []string{"1.2.3.4"}, trusted, "203.0.113.9"},
		{"trusted proxy", "10.1.1.1:443", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
		{"spoofed leftmost hop", "10.1.1.1:443", []string{"1.2.3.4, 198.51.100.7"}, trusted, "198.51.100.7"},
		{"chain of proxies", "127.0.0.1:1", []string{"198.51.100.7, 10.2.2.2"}, trusted, "198.51.100.7"},
		{"several header lines", "10.1.1.1:443", []string{"1.2.3.4", "198.51.100.8"}, trusted, "198.51.100.8"},
		{"garbage hop", "10.1.1.1:443", []string{"1.2.3.4, junk"}, trusted, "10.1.1.1"},
		{"all trusted", "10.1.1.1:443", []string{"10.3.3.3"}, trusted, "10.3.3.3"},
		{"ipv4-mapped v6", "[::ffff:203.0.113.9]:80", nil, nil, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr = tt.remote
			for _, h := range tt.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			ip, ok := webhook.ClientIP(r, tt.trusted)
			require.True(t, ok)
			require.Equal(t, tt.want, ip.String())
		})
	}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.RemoteAddr = "not-an-address"
	_, ok := webhook.ClientIP(r, nil)
	require.False(t, ok)
}

func TestIPAllowList(t *testing.T) {
	t.Parallel()
	allowed, err := webhook.ParsePrefixes("198.51.100.0/24")
	require.NoError(t, err)
	trusted, err := webhook.ParsePrefixes("10.0.0.0/8")
	require.NoError(t, err)
	a := webhook.IPAllowList(allowed, trusted)

	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.RemoteAddr = "10.0.0.5:1"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	require.NoError(t, a.Authenticate(r, nil))

	r.RemoteAddr = "203.0.113.1:1" // not a trusted proxy: its header is not believed
	require.ErrorIs(t, a.Authenticate(r, nil), webhook.ErrForbidden)

	_, err = webhook.ParsePrefixes("300.1.1.1")
	require.Error(t, err)
}

func TestAllOfAndForbiddenHasNoSideEffects(t *testing.T) {
	t.Parallel()
	allowed, err := webhook.ParsePrefixes("192.0.2.1")
	require.NoError(t, err)
	secrets, err := webhook.NewSecrets(secret)
	require.NoError(t, err)
	sink := &recorder{}
	dec := &countingDecoder{}
	h, err := webhook.New(sink, dec,
		webhook.WithAuthenticator(webhook.TokenAuth(secrets, webhook.QueryToken("token"))),
		webhook.WithAuthenticator(webhook.IPAllowList(allowed, nil)))
	require.NoError(t, err)

	r := httptest.NewRequest(http.MethodPost, "/?token="+secret+"&id=e1&call=c", nil)
	r.RemoteAddr = "203.0.113.1:1"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusForbidden, w.Code)
	require.Zero(t, dec.calls.Load(), "decoder ran after failed authentication")
	require.Empty(t, sink.ids())

	r.RemoteAddr = "192.0.2.1:1"
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, []string{"e1"}, sink.ids())
}
