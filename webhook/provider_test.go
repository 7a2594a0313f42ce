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
	tests := []struct {
		name    string
		auth    webhook.Auth
		query   string
		remote  string
		want    int
		wantErr string
	}{
		{"nothing configured", webhook.Auth{}, "", "", 0, "no authentication configured"},
		{"empty token", webhook.Auth{Tokens: []string{""}}, "", "", 0, "empty secret"},
		{"disabled", webhook.Auth{Disabled: true}, "", "203.0.113.1:1", 200, ""},
		{"token ok", webhook.Auth{Tokens: []string{"a", "b"}}, "token=b", "203.0.113.1:1", 200, ""},
		{"token wrong", webhook.Auth{Tokens: []string{"a"}}, "token=b", "203.0.113.1:1", 401, ""},
		{"custom token place", webhook.Auth{Tokens: []string{"a"}, Token: func(r *http.Request, _ []byte) string { return r.Header.Get("X-Token") }}, "token=a", "203.0.113.1:1", 401, ""},
		{"ip ok", webhook.Auth{AllowedIPs: allowed}, "", "192.0.2.1:1", 200, ""},
		{"ip wrong", webhook.Auth{AllowedIPs: allowed}, "", "203.0.113.1:1", 403, ""},
		{"both, ip wrong", webhook.Auth{Tokens: []string{"a"}, AllowedIPs: allowed}, "token=a", "203.0.113.1:1", 403, ""},
		{"both wrong: the address is checked first", webhook.Auth{Tokens: []string{"a"}, AllowedIPs: allowed}, "token=x", "203.0.113.1:1", 403, ""},
		{"both ok", webhook.Auth{Tokens: []string{"a"}, AllowedIPs: allowed}, "token=a", "192.0.2.1:1", 200, ""},
		{"disabled is ignored when tokens are set", webhook.Auth{Tokens: []string{"a"}, Disabled: true}, "", "192.0.2.1:1", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts, err := tt.auth.Options()
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			sink := &recorder{}
			h, err := webhook.New(sink, toyDecoder, opts...)
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodPost, "/?"+tt.query, strings.NewReader("id=e1&call=c1"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.RemoteAddr = tt.remote
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.want != 200 {
				require.Empty(t, sink.ids())
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
	require.Less(t, time.Since(start), time.Second)
}

// TestTokenInPathNotLogged: a token carried in the URL path never reaches
// the log; the route pattern names the request.
func TestTokenInPathNotLogged(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	fromPath := func(r *http.Request, _ []byte) string { return r.PathValue("token") }
	opts, err := webhook.Auth{Tokens: []string{"path-secret"}, Token: fromPath}.Options()
	require.NoError(t, err)
	h, err := webhook.New(&recorder{}, toyDecoder, append(opts, webhook.WithLogger(log))...)
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
