package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

// noWait is an injected backoff so retry tests run instantly.
func noWait(time.Duration, time.Duration, int, *http.Response) time.Duration { return 0 }

// setup starts a test server under /api/ and returns a Client whose BaseURL
// points there. Requests outside /api/ fail the test.
func setup(t *testing.T, cfg Config, h http.HandlerFunc) (*Client, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside base path: %s %s", r.Method, r.URL)
		http.Error(w, "outside base path", http.StatusNotFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL + "/api"
	if cfg.Backoff == nil {
		cfg.Backoff = noWait
	}
	c, err := New(cfg)
	require.NoError(t, err)
	return c, srv
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"empty", Config{}, false},
		{"relative", Config{BaseURL: "api/v1"}, false},
		{"no host", Config{BaseURL: "http:///x"}, false},
		{"ftp", Config{BaseURL: "ftp://example.com/"}, false},
		{"query", Config{BaseURL: "https://example.com/?token=x"}, false},
		{"bad", Config{BaseURL: "https://exa mple.com/%zz"}, false},
		{"min>max", Config{BaseURL: "https://example.com", RetryWaitMin: time.Minute, RetryWaitMax: time.Second}, false},
		{"negative wait", Config{BaseURL: "https://example.com", RetryWaitMin: -1}, false},
		{"ok", Config{BaseURL: "https://example.com/api"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tc.cfg)
			if tc.ok {
				require.NoError(t, err)
				require.NotNil(t, c)
			} else {
				require.Error(t, err)
				require.NotContains(t, err.Error(), "token=x")
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Config{BaseURL: "https://example.com/api"})
	require.NoError(t, err)
	require.Equal(t, "https://example.com/api/", c.BaseURL().String())
	require.Equal(t, DefaultTimeout, c.http.Timeout)
	require.NotSame(t, http.DefaultTransport, c.http.Transport)
	require.Equal(t, DefaultRetryMax, c.rc.RetryMax)
	require.Equal(t, DefaultRetryWaitMin, c.rc.RetryWaitMin)
	require.Equal(t, DefaultRetryWaitMax, c.rc.RetryWaitMax)
	require.Nil(t, c.rc.Logger, "retryablehttp must not log to stderr")
	require.NotNil(t, c.rc.ErrorHandler)

	c, err = New(Config{BaseURL: "https://example.com/", RetryMax: -1})
	require.NoError(t, err)
	require.Equal(t, 0, c.rc.RetryMax)
}

func TestHTTPClientNotMutated(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	tr := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Header: http.Header{}, Request: r}, nil
	})
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	before := *hc
	c, err := New(Config{BaseURL: "https://example.com/", HTTPClient: hc})
	require.NoError(t, err)
	_, err = c.JSON(t.Context(), &Request{Path: "x"}, nil)
	require.NoError(t, err)
	require.Equal(t, int32(1), calls.Load(), "the supplied transport is used")
	require.Equal(t, before.Timeout, hc.Timeout)
	require.NotSame(t, hc, c.http)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestResolve(t *testing.T) {
	t.Parallel()
	c, err := New(Config{BaseURL: "https://example.com/base"})
	require.NoError(t, err)
	for _, tc := range []struct {
		path  string
		query url.Values
		want  string
	}{
		{"api/ver1.0/user/", nil, "https://example.com/base/api/ver1.0/user/"},
		{"/api/x", nil, "https://example.com/base/api/x"},
		{"x?a=1", url.Values{"b": {"2"}}, "https://example.com/base/x?a=1&b=2"},
		{"x?a=1", url.Values{"a": {"2"}}, "https://example.com/base/x?a=1&a=2"},
		{"", nil, "https://example.com/base/"},
		{"https://cdn.example.net/rec.mp3", nil, "https://cdn.example.net/rec.mp3"},
	} {
		u, err := c.resolve(&Request{Path: tc.path, Query: tc.query})
		require.NoError(t, err, tc.path)
		require.Equal(t, tc.want, u.String(), tc.path)
	}
	for _, bad := range []string{"//evil.example/x", "ftp://example.com/x", "%zz"} {
		_, err := c.resolve(&Request{Path: bad})
		require.Error(t, err, bad)
	}
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	type seen struct {
		Method, Path, UA, CT, Accept, Custom, Body string
	}
	got := make(chan seen, 1)
	c, _ := setup(t, Config{UserAgent: "crm-x/1.2"}, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.UserAgent(), r.Header.Get("Content-Type"), r.Header.Get("Accept"), r.Header.Get("X-Custom"), string(b)}
		w.WriteHeader(http.StatusNoContent)
	})
	r := NewFormRequest(http.MethodPost, "/api/form", url.Values{"a": {"1"}, "b": {"x y"}})
	r.Header = http.Header{"X-Custom": {"v"}}
	_, err := c.JSON(t.Context(), r, nil)
	require.NoError(t, err)
	want := seen{"POST", "/api/api/form", "callbridge/" + Version + " crm-x/1.2", "application/x-www-form-urlencoded", "application/json", "v", "a=1&b=x+y"}
	if d := cmp.Diff(want, <-got); d != "" {
		t.Fatalf("request mismatch (-want +got):\n%s", d)
	}

	jr, err := NewJSONRequest(http.MethodPut, "j", map[string]int{"n": 1})
	require.NoError(t, err)
	resp, err := c.Do(t.Context(), jr)
	require.NoError(t, err)
	resp.Body.Close()
	s := <-got
	require.Equal(t, "application/json", s.CT)
	require.Equal(t, `{"n":1}`, s.Body)
	require.Empty(t, s.Accept, "Do does not add Accept")

	_, err = NewJSONRequest(http.MethodPost, "j", make(chan int))
	require.Error(t, err)
}

func TestJSON(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, Config{MaxResponseBytes: 64}, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/ok":
			w.Header().Set("X-Thing", "1")
			_, _ = io.WriteString(w, `{"id":7,"name":"Ann"}`)
		case "/api/empty":
		case "/api/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/api/big":
			_, _ = io.WriteString(w, `{"name":"`+strings.Repeat("x", 100)+`"}`)
		case "/api/garbage":
			_, _ = io.WriteString(w, `{"id":`)
		}
	})
	type out struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	var o out
	resp, err := c.JSON(t.Context(), &Request{Path: "ok"}, &o)
	require.NoError(t, err)
	require.Equal(t, out{7, "Ann"}, o)
	require.Equal(t, "1", resp.Header.Get("X-Thing"))
	n, _ := resp.Body.Read(make([]byte, 1))
	require.Zero(t, n, "body consumed")

	for _, p := range []string{"empty", "nocontent"} {
		o = out{ID: 1}
		resp, err = c.JSON(t.Context(), &Request{Path: p}, &o)
		require.NoError(t, err, p)
		require.Equal(t, out{ID: 1}, o, "not decoded: "+p)
		require.NotNil(t, resp)
	}

	_, err = c.JSON(t.Context(), &Request{Path: "big"}, &o)
	require.ErrorIs(t, err, ErrResponseTooLarge)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "decode", re.Op)

	_, err = c.JSON(t.Context(), &Request{Path: "garbage"}, &o)
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrResponseTooLarge)

	_, err = c.JSON(t.Context(), &Request{Path: "big"}, nil)
	require.NoError(t, err, "nil out discards the body")
}

func TestDoStreamsSuccessBody(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("audio", 1000)
	c, _ := setup(t, Config{MaxResponseBytes: 10}, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, payload)
	})
	resp, err := c.Do(t.Context(), &Request{Path: "rec.mp3"})
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, payload, string(b), "Do does not limit success bodies")
}

func TestDoErrorResponse(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-42")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"code":"bad_phone","message":"phone is invalid"}}`)
		_, _ = io.WriteString(w, strings.Repeat(" ", 2*MaxErrorBodyBytes))
	})
	resp, err := c.Do(t.Context(), &Request{Method: http.MethodPost, Path: "calls"})
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, http.NoBody, resp.Body)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "bad_phone", ae.Code)
	require.Equal(t, "phone is invalid", ae.Message)
	require.Equal(t, "req-42", ae.RequestID)
	require.Equal(t, http.MethodPost, ae.Method)
	// Capped at MaxErrorBodyBytes; an error code in JSON is not a secret.
	require.Equal(t, MaxErrorBodyBytes, len(ae.Body))
	require.Contains(t, string(ae.Body), `"code":"bad_phone"`)
	require.Equal(t, "POST "+c.base.String()+"calls: 400 bad_phone: phone is invalid (request id req-42)", ae.Error())
	require.False(t, ae.Retryable())
	require.Equal(t, 400, ae.HTTPStatusCode())
}

func TestParseErrorHook(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, Config{
		ParseError: func(resp *http.Response, body []byte, e *APIError) {
			if b := strings.TrimSpace(string(body)); strings.HasPrefix(b, "ERR ") {
				e.Code = strings.TrimPrefix(b, "ERR ")
			}
		},
	}, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "ERR 42", http.StatusConflict)
	})
	_, err := c.Do(t.Context(), &Request{Path: "x"})
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "42", ae.Code)
	require.Equal(t, "ERR 42", ae.Message, "default parser read the text/plain body first")
}

func TestOnResponse(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	var lastRemaining atomic.Int64
	c, _ := setup(t, Config{OnResponse: func(r *http.Response) {
		n.Add(1)
		lastRemaining.Store(int64(ParseRateLimit(r.Header).Remaining))
	}}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Remaining", "5")
		if r.Header.Get("X-Try") == "" && n.Load() == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	})
	_, err := c.JSON(t.Context(), &Request{Path: "x"}, nil)
	require.NoError(t, err)
	require.Equal(t, int32(2), n.Load(), "called for the retried attempt and the final one")
	require.Equal(t, int64(5), lastRemaining.Load())
}

func TestNilRequest(t *testing.T) {
	t.Parallel()
	c, err := New(Config{BaseURL: "https://example.com/"})
	require.NoError(t, err)
	_, err = c.Do(context.Background(), nil)
	require.Error(t, err)
	require.False(t, errors.Is(err, context.Canceled))
}
