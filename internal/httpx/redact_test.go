package httpx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		secrets  []string
	}{
		{"https://x/a?token=SECRET&b=1", "https://x/a?token=REDACTED&b=1", nil},
		{"https://x/a?b=1&apiKey=SECRET", "https://x/a?b=1&apiKey=REDACTED", nil},
		{"https://x/a?ACCESS_TOKEN=SECRET", "https://x/a?ACCESS_TOKEN=REDACTED", nil},
		{"https://x/a?refresh_token=SECRET&api_key=SECRET&key=SECRET&client_secret=SECRET&password=SECRET&crm_token=SECRET&code=SECRET&secret=SECRET&apikey=SECRET",
			"https://x/a?refresh_token=REDACTED&api_key=REDACTED&key=REDACTED&client_secret=REDACTED&password=REDACTED&crm_token=REDACTED&code=REDACTED&secret=REDACTED&apikey=REDACTED", nil},
		{"https://x/a?status_code=200&monkey=1", "https://x/a?status_code=200&monkey=1", nil},
		{"grant_type=refresh_token&refresh_token=SECRET&client_id=abc", "grant_type=refresh_token&refresh_token=REDACTED&client_id=abc", nil},
		{`{"access_token":"SECRET","token_type":"bearer","expires_in":3600}`, `{"access_token":"REDACTED","token_type":"bearer","expires_in":3600}`, nil},
		{`{"Refresh_Token" : "SEC\"RET"}`, `{"Refresh_Token" : "REDACTED"}`, nil},
		{`{"headers":{"Authorization":"Bearer SECRET","X-Api-Key":"SECRET"}}`, `{"headers":{"Authorization":"REDACTED","X-Api-Key":"REDACTED"}}`, nil},
		{`{"body":"{\"client_secret\":\"SECRET\",\"n\":1}"}`, `{"body":"{\"client_secret\":\"REDACTED\",\"n\":1}"}`, nil},
		{`{"body":"password=SECRET&x=1"}`, `{"body":"password=REDACTED&x=1"}`, nil},
		{"Authorization: Bearer SECRET\r\nAccept: */*", "Authorization: REDACTED\r\nAccept: */*", nil},
		{"X-API-KEY: SECRET", "X-API-KEY: REDACTED", nil},
		{"Cookie: JSESSIONID=SECRET; lang=ru", "Cookie: REDACTED", nil},
		{"JSESSIONID=SECRET; Path=/", "JSESSIONID=REDACTED; Path=/", nil},
		{"token rejected: bearer SECRET.x-y_z", "token rejected: bearer REDACTED", nil},
		{"basic auth failed: Basic U0VDUkVUOnB3ZA==", "basic auth failed: Basic REDACTED", nil},
		{"api/SECRETKEY/calls", "api/REDACTED/calls", []string{"SECRETKEY"}},
		{"k=a%2Fb+c", "k=REDACTED", []string{"a/b c"}},
		{"x a/b c y", "x REDACTED y", []string{"a/b c", ""}},
		{"SECRET2 and SECRET", "REDACTED and REDACTED", []string{"SECRET", "SECRET2"}},
		{"", "", []string{"x"}},
		{"nothing here", "nothing here", nil},
	} {
		got := Redact(tc.in, tc.secrets...)
		require.Equal(t, tc.want, got, tc.in)
		require.NotContains(t, got, "SECRET", tc.in)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("https://user:SECRET@x/a?token=SECRET")
	require.Equal(t, "https://REDACTED@x/a?token=REDACTED", redactURL(u, nil))
	require.Empty(t, redactURL(nil, nil))
}

// TestNoSecretInErrors checks every path that builds an error string.
func TestNoSecretInErrors(t *testing.T) {
	t.Parallel()
	const secret = "SECRET"
	const literal = "lit3ralKeyValue" // only known through Config.Secrets
	echo := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "rid-"+literal)
		w.WriteHeader(http.StatusUnauthorized)
		// Echo everything back, as some APIs do in error bodies.
		_, _ = io.WriteString(w, `{"error":"invalid_token","error_description":"token `+literal+` rejected","access_token":"SECRET","refresh_token":"SECRET",`+
			`"request":{"url":"`+r.URL.String()+`","authorization":"`+r.Header.Get("Authorization")+`","x-api-key":"`+r.Header.Get("X-Api-Key")+`","body":`+strconvQuote(string(body))+`}}`)
	}
	plainEcho := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "denied for "+r.URL.RawQuery+" body "+string(body)+" auth "+r.Header.Get("Authorization"))
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		req     *Request
		refused bool
	}{
		{"query params", echo, &Request{Path: "calls", Query: url.Values{"token": {secret}, "apiKey": {secret}}}, false},
		{"path query", echo, &Request{Path: "calls?access_token=SECRET&key=SECRET"}, false},
		{"authorization header", echo, &Request{Path: "calls", Header: http.Header{"Authorization": {"Bearer " + secret}, "X-Api-Key": {secret}}}, false},
		{"json body", echo, mustJSON(t, &Request{Method: http.MethodPost, Path: "oauth/token"}, map[string]string{"client_secret": secret, "refresh_token": secret, "code": secret}), false},
		{"form body", echo, NewFormRequest(http.MethodPost, "oauth/token", url.Values{"client_secret": {secret}, "password": {secret}, "crm_token": {secret}}), false},
		{"literal secret in path", echo, &Request{Path: "api/" + literal + "/calls"}, false},
		{"plain text echo", plainEcho, &Request{Method: http.MethodPost, Path: "calls?token=SECRET", Body: []byte("api_key=SECRET&x=" + literal), Header: http.Header{"Authorization": {"Bearer " + secret}}}, false},
		{"transport error url", nil, &Request{Path: "calls?token=SECRET&apiKey=SECRET&x=" + literal}, true},
		{"transport error literal in path", nil, &Request{Method: http.MethodPost, Path: literal + "/calls"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Backoff: noWait, Secrets: func() []string { return []string{literal} }}
			var c *Client
			if tc.refused {
				var err error
				cfg.BaseURL = "http://" + closedAddr(t) + "/api/"
				cfg.RetryMax = 1
				c, err = New(cfg)
				require.NoError(t, err)
			} else {
				c, _ = setup(t, cfg, tc.handler)
			}
			_, err := c.Do(t.Context(), tc.req)
			require.Error(t, err)
			msg := err.Error()
			require.NotContains(t, msg, secret)
			require.NotContains(t, msg, literal)
			var ae *APIError
			if errors.As(err, &ae) {
				require.NotEmpty(t, ae.Body)
				require.NotContains(t, string(ae.Body), secret)
				require.NotContains(t, string(ae.Body), literal)
				require.Contains(t, string(ae.Body), Redacted)
				for _, s := range []string{ae.Code, ae.Message, ae.URL, ae.RequestID} {
					require.NotContains(t, s, secret)
					require.NotContains(t, s, literal)
				}
			} else {
				var re *RequestError
				require.ErrorAs(t, err, &re)
				require.NotContains(t, re.URL, secret)
				require.NotContains(t, re.URL, literal)
			}
		})
	}
}

func strconvQuote(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func mustJSON(t *testing.T, base *Request, v any) *Request {
	t.Helper()
	r, err := NewJSONRequest(base.Method, base.Path, v)
	require.NoError(t, err)
	return r
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsAreRedacted(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := 0
	var mu sync.Mutex
	c, _ := setup(t, Config{Logger: logger, Secrets: func() []string { return []string{"lit3ral"} }}, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	_, err := c.Do(context.Background(), &Request{Path: "lit3ral/x?token=SECRET"})
	require.NoError(t, err)
	out := buf.String()
	require.Contains(t, out, "retrying", "a retry was logged")
	require.NotContains(t, out, "SECRET")
	require.NotContains(t, out, "lit3ral")
	require.True(t, strings.Contains(out, "token=REDACTED"), out)
}

func TestRedactKeepsJSONErrorCodes(t *testing.T) {
	t.Parallel()
	body := `{"validation-errors":[{"request_id":"0","errors":[{"code":"NotSupportedChoice","path":"custom_fields_values.0.field_code"}]}]}`
	require.Equal(t, body, Redact(body))
	// Authorization codes in query strings and form bodies stay secret.
	require.Equal(t, "grant_type=authorization_code&code=REDACTED", Redact("grant_type=authorization_code&code=def502"))
}
