package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/callbridge/callbridge/internal/text"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		h    map[string]string
		want RateLimit
	}{
		{"absent", nil, RateLimit{Limit: -1, Remaining: -1}},
		{"x-ratelimit delta", map[string]string{"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "7", "X-RateLimit-Reset": "30"},
			RateLimit{Limit: 100, Remaining: 7, Reset: now.Add(30 * time.Second)}},
		{"x-ratelimit epoch", map[string]string{"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1772370000"},
			RateLimit{Limit: 100, Remaining: 0, Reset: time.Unix(1772370000, 0)}},
		{"epoch with fraction", map[string]string{"X-RateLimit-Reset": "1772370000.5"},
			RateLimit{Limit: -1, Remaining: -1, Reset: time.Unix(1772370000, 5e8)}},
		{"lowercase names", map[string]string{"x-ratelimit-limit": "60", "x-ratelimit-remaining": "59"},
			RateLimit{Limit: 60, Remaining: 59}},
		{"ietf draft", map[string]string{"RateLimit-Limit": "10, 10;w=1", "RateLimit-Remaining": "3", "RateLimit-Reset": "2"},
			RateLimit{Limit: 10, Remaining: 3, Reset: now.Add(2 * time.Second)}},
		{"garbage", map[string]string{"X-RateLimit-Limit": "many", "X-RateLimit-Remaining": "-", "X-RateLimit-Reset": "soon"},
			RateLimit{Limit: -1, Remaining: -1}},
		{"negative reset", map[string]string{"X-RateLimit-Reset": "-5"}, RateLimit{Limit: -1, Remaining: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for k, v := range tc.h {
				h.Set(k, v)
			}
			got := parseRateLimit(h, now)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
	require.Equal(t, -1, ParseRateLimit(http.Header{}).Limit)
}

func TestErrorsAs(t *testing.T) {
	t.Parallel()
	var err error = &RateLimitError{APIError: APIError{StatusCode: 429, Method: "GET", URL: "https://x/"}, RetryAfter: time.Minute}
	err = fmt.Errorf("telphin: call: %w", err)

	var rle *RateLimitError
	require.ErrorAs(t, err, &rle)
	require.Equal(t, time.Minute, rle.RetryAfter)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 429, ae.StatusCode)
	require.Equal(t, "telphin: call: GET https://x/: 429 Too Many Requests (retry after 1m0s)", err.Error())

	var plain error = &APIError{StatusCode: 404}
	require.False(t, errors.As(plain, &rle))

	// The behavioural interfaces from the SDK conventions.
	type behaviour interface {
		HTTPStatusCode() int
		Retryable() bool
	}
	for _, e := range []error{&APIError{}, &RateLimitError{}, &RequestError{}} {
		var b behaviour
		require.ErrorAs(t, e, &b)
	}
}

func TestAPIErrorString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    APIError
		want string
	}{
		{APIError{StatusCode: 503, Method: "GET", URL: "u"}, "GET u: 503 Service Unavailable"},
		{APIError{StatusCode: 400, Method: "POST", URL: "u", Message: "bad"}, "POST u: 400: bad"},
		{APIError{StatusCode: 400, Method: "POST", URL: "u", Code: "E1"}, "POST u: 400 E1"},
		{APIError{StatusCode: 400, Method: "POST", URL: "u", Code: "E1", Message: "bad", RequestID: "r"}, "POST u: 400 E1: bad (request id r)"},
	} {
		require.Equal(t, tc.want, tc.e.Error())
	}
}

func TestAPIErrorRetryable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status     int
		idempotent bool
		want       bool
	}{
		{429, false, true}, {503, true, true}, {503, false, false}, {502, true, true}, {504, true, true},
		{500, true, false}, {501, true, false}, {400, true, false}, {401, true, false},
	} {
		e := &APIError{StatusCode: tc.status, Idempotent: tc.idempotent}
		require.Equal(t, tc.want, e.Retryable(), "%d idempotent=%v", tc.status, tc.idempotent)
	}
}

func TestRequestErrorString(t *testing.T) {
	t.Parallel()
	e := &RequestError{Method: "GET", URL: "https://x/?token=REDACTED", Op: "authenticate", Attempts: 2, Err: context.Canceled}
	require.Equal(t, "GET https://x/?token=REDACTED: authenticate: context canceled (after 2 attempts)", e.Error())
	require.ErrorIs(t, e, context.Canceled)
	require.Zero(t, e.HTTPStatusCode())
}

func TestDefaultParseError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, ct, body string
		code, msg      string
	}{
		{"oauth", "application/json", `{"error":"invalid_grant","error_description":"Refresh token expired"}`, "invalid_grant", "Refresh token expired"},
		{"error string", "application/json", `{"error":"Not authorized"}`, "", "Not authorized"},
		{"error and message", "application/json", `{"error":"E_PHONE","message":"bad phone"}`, "E_PHONE", "bad phone"},
		{"message", "application/json", `{"message":"Invalid key"}`, "", "Invalid key"},
		{"message+code number", "application/json", `{"code":1001,"message":"Busy"}`, "1001", "Busy"},
		{"nested", "application/json", `{"error":{"code":"not_found","message":"No such call"}}`, "not_found", "No such call"},
		{"nested numeric", "", `{"error":{"code":404,"message":"nope"}}`, "404", "nope"},
		{"problem+json", "application/problem+json", `{"type":"https://httpstatus.es/400","title":"Bad Request","status":400,"detail":"phone is empty"}`, "Bad Request", "phone is empty"},
		{"title only", "application/problem+json", `{"title":"Unauthorized","status":401}`, "", "Unauthorized"},
		{"text", "text/plain; charset=utf-8", "Access denied\nmore", "", "Access denied"},
		{"html ignored", "text/html", "<html>oops</html>", "", ""},
		{"bad json", "application/json", `{"message":`, "", ""},
		{"empty", "application/json", ``, "", ""},
		{"array", "application/json", `[1,2]`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{Header: http.Header{"Content-Type": {tc.ct}}}
			var e APIError
			DefaultParseError(resp, []byte(tc.body), &e)
			require.Equal(t, tc.code, e.Code)
			require.Equal(t, tc.msg, e.Message)
		})
	}
}

func TestRequestIDHeaders(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"X-Request-Id", "X-Request-ID", "Request-Id", "X-Amzn-RequestId", "X-Correlation-Id"} {
		h := http.Header{}
		h.Set(k, "abc")
		require.Equal(t, "abc", requestID(h), k)
	}
	require.Empty(t, requestID(http.Header{}))
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	require.Equal(t, "abc", text.Clip("abc", 5))
	require.Equal(t, "ab…", text.Clip("abcdef", 2))
	require.Equal(t, "…", text.Clip("жж", 1), "does not split a rune")
}
