package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

func TestAuthOptions(t *testing.T) {
	t.Parallel()
	allowed, err := webhook.ParsePrefixes("192.0.2.1")
	require.NoError(t, err)
	header := webhook.WithTokenFunc(func(r *http.Request, _ []byte) string { return r.Header.Get("X-Token") })
	tests := []struct {
		name    string
		opts    []webhook.Option
		query   string
		remote  string
		want    int
		wantErr string
	}{
		{"nothing configured", nil, "", "", 0, "no authentication configured"},
		{"empty token", []webhook.Option{webhook.WithToken("")}, "", "", 0, "empty token"},
		{"empty allow-list", []webhook.Option{webhook.WithAllowedIPs(nil, nil)}, "", "", 0, "empty allow-list"},
		{"disabled", []webhook.Option{webhook.WithoutAuth()}, "", "203.0.113.1:1", 200, ""},
		{"token ok", []webhook.Option{webhook.WithToken("a", "b")}, "token=b", "203.0.113.1:1", 200, ""},
		{"tokens given twice add up", []webhook.Option{webhook.WithToken("a"), webhook.WithToken("b")}, "token=a", "203.0.113.1:1", 200, ""},
		{"token wrong", []webhook.Option{webhook.WithToken("a")}, "token=b", "203.0.113.1:1", 401, ""},
		{"token missing", []webhook.Option{webhook.WithToken("a")}, "", "203.0.113.1:1", 401, ""},
		{"custom token place", []webhook.Option{webhook.WithToken("a"), header}, "token=a", "203.0.113.1:1", 401, ""},
		{"ip ok", []webhook.Option{webhook.WithAllowedIPs(allowed, nil)}, "", "192.0.2.1:1", 200, ""},
		{"ip wrong", []webhook.Option{webhook.WithAllowedIPs(allowed, nil)}, "", "203.0.113.1:1", 403, ""},
		{"both, ip wrong", []webhook.Option{webhook.WithToken("a"), webhook.WithAllowedIPs(allowed, nil)}, "token=a", "203.0.113.1:1", 403, ""},
		{"both wrong: the address is checked first", []webhook.Option{webhook.WithToken("a"), webhook.WithAllowedIPs(allowed, nil)}, "token=x", "203.0.113.1:1", 403, ""},
		{"both ok", []webhook.Option{webhook.WithToken("a"), webhook.WithAllowedIPs(allowed, nil)}, "token=a", "192.0.2.1:1", 200, ""},
		{"disabled is ignored when tokens are set", []webhook.Option{webhook.WithToken("a"), webhook.WithoutAuth()}, "", "192.0.2.1:1", 401, ""},
		{"bound token ok", []webhook.Option{webhook.WithTokenAccounts(map[string]string{"t1": "acme"})}, "token=t1", "203.0.113.1:1", 200, ""},
		{"bound token wrong", []webhook.Option{webhook.WithTokenAccounts(map[string]string{"t1": "acme"})}, "token=t2", "203.0.113.1:1", 401, ""},
		{"custom authenticator runs too", []webhook.Option{webhook.WithToken("a"), webhook.WithAuthenticator(webhook.AuthenticatorFunc(func(*http.Request, []byte) error { return webhook.ErrForbidden }))}, "token=a", "203.0.113.1:1", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			dec := &countingDecoder{}
			h, err := webhook.New(sink, dec, tt.opts...)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodPost, "/?"+tt.query, strings.NewReader("id=e1&call=c1"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.RemoteAddr = tt.remote
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.want != 200 {
				require.Empty(t, sink.ids())
				require.Zero(t, dec.calls.Load(), "a rejected request never reaches the decoder")
			}
		})
	}
}

func TestLoggerReachesDecoder(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	dec := webhook.DecoderFunc(func(r *http.Request, _ []byte) (webhook.Result, error) {
		webhook.Logger(r.Context()).Info("from decoder")
		return webhook.Result{}, nil
	})
	h, err := webhook.New(&recorder{}, dec, webhook.WithoutAuth(), webhook.WithLogger(log))
	require.NoError(t, err)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil))
	require.Contains(t, buf.String(), "from decoder")
	// Outside a handler the logger discards instead of being nil.
	webhook.Logger(context.Background()).Info("nowhere")
}

func TestLookupContact(t *testing.T) {
	t.Parallel()
	found := callevent.ContactLookupFunc(func(_ context.Context, account, phone string) (callevent.Contact, bool, error) {
		return callevent.Contact{ID: account + ":" + phone}, true, nil
	})
	c, ok, err := webhook.LookupContact(t.Context(), found, time.Second, "acc", "7916")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "acc:7916", c.ID)

	failing := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		return callevent.Contact{}, false, errors.New("crm down")
	})
	_, _, err = webhook.LookupContact(t.Context(), failing, time.Second, "acc", "7916")
	require.ErrorContains(t, err, "crm down")

	panicking := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		panic("boom")
	})
	_, _, err = webhook.LookupContact(t.Context(), panicking, time.Second, "acc", "7916")
	require.ErrorContains(t, err, "panic: boom")

	// A lookup that ignores its context does not hold the caller past the deadline.
	release := make(chan struct{})
	defer close(release)
	stuck := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		<-release
		return callevent.Contact{ID: "late"}, true, nil
	})
	start := time.Now()
	_, ok, err = webhook.LookupContact(t.Context(), stuck, 20*time.Millisecond, "acc", "7916")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, ok)
	require.Less(t, time.Since(start), 10*time.Second, "not held until release, at the end of the test")
}

// TestTokenInPathNotLogged: a token carried in the URL path never reaches
// the log; the route pattern names the request.
func TestTokenInPathNotLogged(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	fromPath := func(r *http.Request, _ []byte) string { return r.PathValue("token") }
	h, err := webhook.New(&recorder{}, toyDecoder, webhook.WithToken("path-secret"), webhook.WithTokenFunc(fromPath), webhook.WithLogger(log))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/{token}/app", h)
	for _, tok := range []string{"path-secret", "wrong-secret"} {
		r := httptest.NewRequest(http.MethodPost, "/hooks/"+tok+"/app", strings.NewReader("call=c1")) // no id: 400
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		mux.ServeHTTP(httptest.NewRecorder(), r)
	}
	require.Contains(t, buf.String(), "route=\"POST /hooks/{token}/app\"")
	require.NotContains(t, buf.String(), "path-secret")
	require.NotContains(t, buf.String(), "wrong-secret")
}
