package amocrm

import (
	"errors"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/stretchr/testify/require"
)

// A8: parsing an error answer keeps nothing in the Client: the validation
// errors travel inside the error value. 100,000 answers — validation
// errors read and returned, and 429 bodies parsed by httpx for a retry
// decision and then dropped — leave the heap where it was.
func TestErrorAnswersKeepNoState(t *testing.T) {
	c, err := NewClient(Credentials{Domain: "example.amocrm.ru", LongLivedToken: "x"})
	require.NoError(t, err)
	validation := []byte(`{"validation-errors":[{"request_id":"0","errors":[{"code":"NotSupportedChoice","path":"pipeline_id","detail":"The value you selected is not a valid choice."}]}],"title":"Bad Request","type":"https://httpstatus.es/400","status":400,"detail":"Request validation failed"}`)
	resp400 := &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/problem+json"}}}
	resp429 := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Content-Type": {"application/problem+json"}}}

	answer := func(i int) {
		if i%2 == 0 {
			// A retried attempt: httpx parses the body and drops the error.
			e := &callbridge.APIError{StatusCode: http.StatusTooManyRequests, Body: validation}
			c.parseError(resp429, validation, e)
			return
		}
		e := &callbridge.APIError{StatusCode: http.StatusBadRequest, Body: validation}
		c.parseError(resp400, validation, e)
		err := c.wrapError(e)
		if got := ValidationErrors(err); len(got) != 1 || got[0].Code != "NotSupportedChoice" {
			t.Fatalf("validation errors lost: %v", got)
		}
	}
	answer(1) // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 100_000 {
		answer(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d bytes after 100k error answers", grown)
	require.Less(t, grown, int64(2<<20), "the Client keeps something per error answer")
	runtime.KeepAlive(c)
}

// ValidationErrors reads the errors out of the error value itself, however
// it is wrapped, and returns a copy.
func TestValidationErrorsFromTheError(t *testing.T) {
	body := []byte(`{"validation-errors":[{"request_id":"3","errors":[{"code":"A","path":"p1","detail":"d1"},{"request_id":"4","code":"B","path":"p2","detail":"d2"}]}],"title":"Bad Request","status":400,"detail":"Request validation failed"}`)
	e := &callbridge.APIError{StatusCode: 400, Body: body}
	err := errors.Join(errors.New("other"), &callbridge.RateLimitError{APIError: *e})
	want := []ValidationError{{RequestID: "3", Code: "A", Path: "p1", Detail: "d1"}, {RequestID: "4", Code: "B", Path: "p2", Detail: "d2"}}
	require.Equal(t, want, ValidationErrors(err))
	require.Nil(t, ValidationErrors(errors.New("x")))
	require.Nil(t, ValidationErrors(&callbridge.APIError{StatusCode: 400, Body: []byte("<html>")}))
}

// backoff waits at least 1 s after a 429 (amoCRM sends no Retry-After),
// with jitter, doubling per attempt; other answers use httpx's backoff.
func TestBackoff(t *testing.T) {
	t.Parallel()
	r429 := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{}}
	for range 50 {
		d := backoff(500*time.Millisecond, 10*time.Second, 0, r429)
		require.GreaterOrEqual(t, d, time.Second)
		require.Less(t, d, 2*time.Second)
		d = backoff(500*time.Millisecond, 10*time.Second, 1, r429)
		require.GreaterOrEqual(t, d, 2*time.Second)
	}
	r503 := &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}}
	require.Less(t, backoff(100*time.Millisecond, 10*time.Second, 0, r503), time.Second)
}

// A client keeps amoCRM's backoff unless the RetryPolicy brings its own:
// without WithRetry, and with a WithRetry that sets only MaxRetries, a 429
// waits at least 1 s; a RetryPolicy.Backoff replaces it. (NewClient hands
// token requests the same backoff and retry count.)
func TestClientBackoff(t *testing.T) {
	t.Parallel()
	r429 := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{}}
	zero := func(int, *http.Response) time.Duration { return 0 }
	for name, tt := range map[string]struct {
		opts       []callbridge.ClientOption
		amo        bool
		retryMax   int
		minW, maxW time.Duration
	}{
		"default":          {nil, true, 0, 0, 0},
		"max retries only": {[]callbridge.ClientOption{callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 5})}, true, 5, callbridge.DefaultMinWait, callbridge.DefaultMaxWait},
		"no retries":       {[]callbridge.ClientOption{callbridge.WithRetry(callbridge.RetryPolicy{})}, true, -1, callbridge.DefaultMinWait, callbridge.DefaultMaxWait},
		"own backoff":      {[]callbridge.ClientOption{callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 2, Backoff: zero})}, false, 2, callbridge.DefaultMinWait, callbridge.DefaultMaxWait},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cc, err := httpx.ClientOptions("amocrm", callbridge.ClientConfig{BaseURL: "https://example.amocrm.ru"}, tt.opts)
			require.NoError(t, err)
			hcfg := clientConfig(cc)
			require.Equal(t, "https://example.amocrm.ru/", hcfg.BaseURL)
			require.Equal(t, tt.retryMax, hcfg.RetryMax)
			require.Equal(t, tt.minW, hcfg.RetryWaitMin)
			require.Equal(t, tt.maxW, hcfg.RetryWaitMax)
			require.NotNil(t, hcfg.Backoff)
			d := hcfg.Backoff(500*time.Millisecond, 10*time.Second, 0, r429)
			if tt.amo {
				require.GreaterOrEqual(t, d, time.Second)
			} else {
				require.Zero(t, d)
			}
		})
	}
}
