package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

func TestTokenAccountReachesDecoder(t *testing.T) {
	t.Parallel()
	var got []string
	dec := webhook.DecoderFunc(func(r *http.Request, _ []byte) (webhook.Result, error) {
		got = append(got, webhook.TokenAccount(r.Context()))
		return webhook.Result{}, nil
	})
	h, err := webhook.New(&recorder{}, dec,
		webhook.WithToken("plain"),
		webhook.WithTokenAccounts(map[string]string{"t-acme": "acme", "t-beta": "beta"}))
	require.NoError(t, err)
	require.True(t, h.Config().TokenAccounts)
	for _, tok := range []string{"t-acme", "t-beta", "plain"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/?token="+tok, nil))
		require.Equal(t, http.StatusOK, w.Code)
	}
	require.Equal(t, []string{"acme", "beta", ""}, got, "a bound token names its account; an unbound one none")
	require.Empty(t, webhook.TokenAccount(context.Background()))

	_, err = webhook.New(&recorder{}, dec, webhook.WithTokenAccounts(map[string]string{"t": ""}))
	require.ErrorContains(t, err, "empty token or account")
	_, err = webhook.New(&recorder{}, dec, webhook.WithTokenAccounts(nil))
	require.ErrorContains(t, err, "no tokens")
}

func TestConfig(t *testing.T) {
	t.Parallel()
	lookup := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		return callevent.Contact{}, false, nil
	})
	clock := func() time.Time { return time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC) }
	account := func(r *http.Request) string { return "acme" }
	h, err := webhook.New(&recorder{}, toyDecoder, webhook.WithoutAuth())
	require.NoError(t, err)
	c := h.Config()
	require.Equal(t, webhook.DefaultLookupTimeout, c.LookupTimeout, "defaults")
	require.Empty(t, c.Provider)
	require.Nil(t, c.Account)
	require.False(t, c.TokenAccounts)

	h, err = webhook.New(&recorder{}, toyDecoder, webhook.ForProvider("toy"), webhook.WithoutAuth(),
		webhook.WithAccount(account), webhook.WithContactLookup(lookup), webhook.WithLookupTimeout(time.Minute),
		webhook.WithDefaultCountry("ua"), webhook.WithCardURL("https://crm.example/c/{id}", "https://crm.example/new?p={phone}"),
		webhook.WithNewContactText("Add"), webhook.WithClock(clock),
		webhook.ProviderOption("toy", "Pause", 7))
	require.NoError(t, err)
	c = h.Config()
	require.Equal(t, "toy", c.Provider)
	require.Equal(t, "acme", c.Account(nil))
	require.NotNil(t, c.ContactLookup)
	require.Equal(t, time.Minute, c.LookupTimeout)
	require.Equal(t, "ua", c.DefaultCountry)
	require.Equal(t, "https://crm.example/c/{id}", c.CardURL)
	require.Equal(t, "https://crm.example/new?p={phone}", c.NewContactURL)
	require.Equal(t, "Add", c.NewContactText)
	require.Equal(t, clock(), c.Clock())
	require.Equal(t, 7, c.Value("Pause"))
	require.Nil(t, c.Value("Other"))
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		opt  webhook.Option
		want string
	}{
		"nil token func":     {webhook.WithTokenFunc(nil), "nil function"},
		"nil account":        {webhook.WithAccount(nil), "nil function"},
		"nil lookup":         {webhook.WithContactLookup(nil), "nil lookup"},
		"zero timeout":       {webhook.WithLookupTimeout(0), "must be positive"},
		"unknown country":    {webhook.WithDefaultCountry("XX"), "unsupported default country"},
		"relative card":      {webhook.WithCardURL("/c/{id}", ""), "not an absolute http(s) URL"},
		"javascript card":    {webhook.WithCardURL("", "javascript:alert({phone})"), "not an absolute http(s) URL"},
		"empty text":         {webhook.WithNewContactText(""), "empty text"},
		"nil meters":         {webhook.WithMeterProvider(nil), "nil meter provider"},
		"nil tracers":        {webhook.WithTracerProvider(nil), "nil tracer provider"},
		"empty endpoint":     {webhook.WithEndpoint(" "), "empty name"},
		"no provider named":  {webhook.ProviderOption("phonet", "WithPauseFunc", 1), "phonet.WithPauseFunc is an option of phonet handlers, not of this handler"},
		"another provider's": {webhook.ProviderOption("phonet", "WithPauseFunc", 1), "not of megafon"},
	} {
		opts := []webhook.Option{webhook.WithoutAuth(), tc.opt}
		if name == "another provider's" {
			opts = append([]webhook.Option{webhook.ForProvider("megafon")}, opts...)
		}
		_, err := webhook.New(&recorder{}, toyDecoder, opts...)
		require.ErrorContains(t, err, tc.want, name)
	}
}

func TestCardURL(t *testing.T) {
	t.Parallel()
	got := webhook.CardURL("https://crm.example/{account}/c/{id}?p={phone}&d={digits}", "a/b 1", "+380 50", "38050", "acme&co")
	require.Equal(t, "https://crm.example/acme%26co/c/a%2Fb%201?p=%2B380%2050&d=38050", got,
		"every value is escaped, so it stays literal in a path segment or a query value")
	require.Empty(t, webhook.CardURL("", "1", "2", "3", "4"))
	require.True(t, strings.HasPrefix(webhook.CardURL("https://x/{unknown}", "", "", "", ""), "https://x/{unknown}"))
}

func TestTokenBindingsMustAgree(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]webhook.Option{
		"bound and unbound": {webhook.WithToken("t"), webhook.WithTokenAccounts(map[string]string{"t": "acme"})},
		"bound twice":       {webhook.WithTokenAccounts(map[string]string{"t": "acme"}), webhook.WithTokenAccounts(map[string]string{"t": "beta"})},
		"blank account":     {webhook.WithTokenAccounts(map[string]string{"t": " "})},
	} {
		_, err := webhook.New(&recorder{}, toyDecoder, opts...)
		require.Error(t, err, name)
		require.NotContains(t, err.Error(), `"t"`, "the error never shows a token")
	}
	h, err := webhook.New(&recorder{}, toyDecoder, webhook.WithToken("t", "t"),
		webhook.WithTokenAccounts(map[string]string{"a": "acme", "b": "acme"}))
	require.NoError(t, err, "the same binding twice is harmless")
	require.Equal(t, []string{"acme"}, h.Config().BoundAccounts)
}
