package httpx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

func TestRetryPolicyByStatusAndMethod(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method     string
		idempotent bool
		status     int
		attempts   int // with RetryMax 3
	}{
		{http.MethodGet, false, 503, 4},
		{http.MethodGet, false, 502, 4},
		{http.MethodGet, false, 504, 4},
		{http.MethodHead, false, 503, 4},
		{http.MethodPut, false, 503, 4},
		{http.MethodDelete, false, 504, 4},
		{http.MethodOptions, false, 502, 4},
		{http.MethodPost, false, 503, 1},
		{http.MethodPost, false, 502, 1},
		{http.MethodPost, false, 504, 1},
		{http.MethodPatch, false, 503, 1},
		{http.MethodPost, true, 503, 4},
		{http.MethodPatch, true, 502, 4},
		{http.MethodPost, false, 500, 1},
		{http.MethodPost, true, 500, 1},
		{http.MethodGet, false, 500, 1},
		{http.MethodGet, false, 501, 1},
		{http.MethodGet, false, 400, 1},
		{http.MethodGet, false, 404, 1},
		{http.MethodPost, false, 401, 1},
		{http.MethodPost, false, 409, 1},
		{http.MethodPost, false, 429, 4},
		{http.MethodGet, false, 429, 4},
	} {
		name := fmt.Sprintf("%s idempotent=%v %d", tc.method, tc.idempotent, tc.status)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int32
			var bodies sync.Map
			c, _ := setup(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
				n := attempts.Add(1)
				b, _ := io.ReadAll(r.Body)
				bodies.Store(n, string(b))
				w.WriteHeader(tc.status)
			})
			resp, err := c.Do(t.Context(), &Request{Method: tc.method, Path: "calls", Body: []byte(`{"to":"79161234567"}`), Idempotent: tc.idempotent})
			require.Error(t, err)
			require.Equal(t, int32(tc.attempts), attempts.Load(), "attempts")
			require.NotNil(t, resp)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.status, ae.StatusCode)
			var rle *RateLimitError
			require.Equal(t, tc.status == 429, errors.As(err, &rle), "RateLimitError only for 429")
			if tc.method != http.MethodHead {
				bodies.Range(func(k, v any) bool {
					require.Equal(t, `{"to":"79161234567"}`, v, "body replayed on attempt %v", k)
					return true
				})
			}
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	c, _ := setup(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) < 3 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	var out struct{ OK bool }
	_, err := c.JSON(t.Context(), &Request{Path: "x"}, &out)
	require.NoError(t, err)
	require.True(t, out.OK)
	require.Equal(t, int32(3), attempts.Load())
}

func TestRetryMaxNegativeMeansNoRetry(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	c, _ := setup(t, Config{RetryMax: -1}, func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, err := c.Do(t.Context(), &Request{Path: "x"})
	require.Error(t, err)
	require.Equal(t, int32(1), attempts.Load())
}

// Retry-After is honoured through the Client by the default backoff (no
// Config.Backoff): a 429 with Retry-After: 1 is retried after about a
// second, where the first exponential backoff waits at most RetryWaitMin
// (500 ms). The one test that really sleeps on a retry.
func Test429RetryAfterHonoured(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var times []time.Time
	_, srv := setup(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c, err := New(Config{BaseURL: srv.URL + "/api/"}) // default backoff
	require.NoError(t, err)
	_, err = c.JSON(t.Context(), &Request{Method: http.MethodPost, Path: "calls"}, nil)
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, times, 2)
	wait := times[1].Sub(times[0])
	require.GreaterOrEqual(t, wait, 950*time.Millisecond, "Retry-After: 1 not honoured")
	require.Less(t, wait, 3*time.Second)
}

func Test429WaitBeyondCapNotRetried(t *testing.T) {
	t.Parallel()
	// Parallel subtests may start late under load: the tolerance below is
	// loose, as the point is "hours, not retried", not the exact second.
	future := time.Now().Add(3 * time.Hour)
	for _, tc := range []struct {
		name       string
		header     http.Header
		wantAfter  time.Duration
		tolerance  time.Duration
		wantLimit  int
		wantRemain int
	}{
		{"retry-after seconds", http.Header{"Retry-After": {"3600"}}, time.Hour, 0, -1, -1},
		{"retry-after date", http.Header{"Retry-After": {future.UTC().Format(http.TimeFormat)}}, 3 * time.Hour, time.Minute, -1, -1},
		{"x-ratelimit-reset epoch", http.Header{
			"X-Ratelimit-Limit":     {"1000"},
			"X-Ratelimit-Remaining": {"0"},
			"X-Ratelimit-Reset":     {strconv.FormatInt(future.Unix(), 10)},
		}, 3 * time.Hour, time.Minute, 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int32
			c, _ := setup(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				w.WriteHeader(http.StatusTooManyRequests)
			})
			start := time.Now()
			_, err := c.Do(t.Context(), &Request{Path: "history"})
			require.Less(t, time.Since(start), 2*time.Second, "must not sleep")
			require.Equal(t, int32(1), attempts.Load(), "not retried")
			var rle *RateLimitError
			require.ErrorAs(t, err, &rle)
			require.InDelta(t, float64(tc.wantAfter), float64(rle.RetryAfter), float64(tc.tolerance))
			require.False(t, rle.Reset.IsZero())
			require.Equal(t, tc.wantLimit, rle.Limit)
			require.Equal(t, tc.wantRemain, rle.Remaining)
			require.True(t, rle.Retryable())
			require.Contains(t, err.Error(), "429")
		})
	}
}

func Test503RetryAfterBeyondCapNotRetried(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	c, _ := setup(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		w.Header().Set("Retry-After", "86400")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, err := c.Do(t.Context(), &Request{Path: "x"})
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, int32(1), attempts.Load())
}

// closedAddr returns the address of a listener that has been closed, so
// connecting to it is refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func countingClient(dials *atomic.Int32) *http.Client {
	d := &net.Dialer{Timeout: time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestConnectionRefusedRetriedForPOST(t *testing.T) {
	t.Parallel()
	var dials atomic.Int32
	c, err := New(Config{BaseURL: "http://" + closedAddr(t) + "/api/", HTTPClient: countingClient(&dials), Backoff: noWait})
	require.NoError(t, err)
	_, err = c.Do(t.Context(), &Request{Method: http.MethodPost, Path: "calls", Body: []byte("x")})
	require.Error(t, err)
	require.Equal(t, int32(4), dials.Load(), "1 attempt + RetryMax retries")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 4, re.Attempts)
	require.Equal(t, http.MethodPost, re.Method)
	require.True(t, re.Retryable())
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	require.Equal(t, "dial", op.Op)
	var ue *url.Error
	require.False(t, errors.As(err, &ue), "url.Error (full URL) is not in the chain")
}

// A GET marked NotIdempotent is retried like a POST: after 429 and dial
// errors only.
func TestNotIdempotentGETRetriedLikePOST(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status   int
		attempts int32
	}{{503, 1}, {502, 1}, {504, 1}, {429, 4}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int32
			c, _ := setup(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				w.WriteHeader(tc.status)
			})
			_, err := c.Do(t.Context(), &Request{Method: http.MethodGet, Path: "dial", NotIdempotent: true, Idempotent: true})
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.attempts, attempts.Load(), "attempts")
			require.Equal(t, tc.status == 429, ae.Retryable())
		})
	}
	t.Run("request sent, connection dropped", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int32
		c, err := New(Config{BaseURL: hangupServer(t, &hits), Backoff: noWait})
		require.NoError(t, err)
		_, err = c.Do(t.Context(), &Request{Method: http.MethodGet, Path: "dial", NotIdempotent: true})
		var re *RequestError
		require.ErrorAs(t, err, &re)
		require.Equal(t, int32(1), hits.Load())
		require.False(t, re.Retryable())
	})
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		var dials atomic.Int32
		c, err := New(Config{BaseURL: "http://" + closedAddr(t) + "/api/", HTTPClient: countingClient(&dials), Backoff: noWait})
		require.NoError(t, err)
		_, err = c.Do(t.Context(), &Request{Method: http.MethodGet, Path: "dial", NotIdempotent: true})
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		require.Equal(t, int32(4), dials.Load())
	})
}

// hangupServer reads each request fully and then drops the connection
// without answering: the request reached the server.
func hangupServer(t *testing.T, hits *atomic.Int32) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/api/"
}

// resetServer reads each request (head and body) and then resets the
// connection (SO_LINGER 0, so Close sends RST): the request reached the
// server and the client sees "connection reset by peer", a *net.OpError
// that is not a dial error.
func resetServer(t *testing.T, hits *atomic.Int32) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				if req, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
					_, _ = io.Copy(io.Discard, req.Body)
					hits.Add(1)
				}
				_ = conn.(*net.TCPConn).SetLinger(0)
				_ = conn.Close()
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/api/"
}

// A connection reset after the request was sent is not a dial error: a
// POST is never repeated, a GET is.
func TestConnectionResetAfterSend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method   string
		attempts int32
	}{{http.MethodPost, 1}, {http.MethodGet, 4}} {
		t.Run(tc.method, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			c, err := New(Config{BaseURL: resetServer(t, &hits), Backoff: noWait})
			require.NoError(t, err)
			_, err = c.Do(t.Context(), &Request{Method: tc.method, Path: "calls", Body: []byte("{}")})
			require.ErrorIs(t, err, syscall.ECONNRESET)
			var op *net.OpError
			require.ErrorAs(t, err, &op)
			require.NotEqual(t, "dial", op.Op)
			require.Equal(t, tc.attempts, hits.Load(), "requests that reached the server")
			var re *RequestError
			require.ErrorAs(t, err, &re)
			require.Equal(t, tc.method == http.MethodGet, re.Retryable())
		})
	}
}

func TestTransportErrorAfterSend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method     string
		idempotent bool
		attempts   int32
	}{
		{http.MethodPost, false, 1},
		{http.MethodPost, true, 4},
		{http.MethodGet, false, 4},
		{http.MethodPut, false, 4},
	} {
		t.Run(fmt.Sprintf("%s idempotent=%v", tc.method, tc.idempotent), func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			c, err := New(Config{BaseURL: hangupServer(t, &hits), Backoff: noWait})
			require.NoError(t, err)
			_, err = c.Do(t.Context(), &Request{Method: tc.method, Path: "calls", Body: []byte("{}"), Idempotent: tc.idempotent})
			var re *RequestError
			require.ErrorAs(t, err, &re)
			require.Equal(t, tc.attempts, hits.Load(), "requests that reached the server")
			require.Equal(t, tc.idempotent || tc.method != http.MethodPost, re.Retryable())
		})
	}
}

func TestTimeoutPOSTNotRetried(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	_, srv := setup(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	for _, tc := range []struct {
		method string
		want   int32
	}{{http.MethodPost, 1}, {http.MethodGet, 2}} {
		hits.Store(0)
		c, err := New(Config{BaseURL: srv.URL + "/api/", HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}, RetryMax: 1, Backoff: noWait})
		require.NoError(t, err)
		_, err = c.Do(t.Context(), &Request{Method: tc.method, Path: "x"})
		require.Error(t, err)
		require.Equal(t, tc.want, hits.Load(), tc.method)
	}
}

func TestContextCancelDuringBackoff(t *testing.T) {
	t.Parallel()
	hit := make(chan struct{}, 10)
	backingOff := make(chan struct{}, 10)
	c, _ := setup(t, Config{
		RetryWaitMax: 2 * time.Hour,
		Backoff: func(time.Duration, time.Duration, int, *http.Response) time.Duration {
			backingOff <- struct{}{} // the client is about to wait an hour
			return time.Hour
		},
	}, func(w http.ResponseWriter, r *http.Request) {
		hit <- struct{}{}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-backingOff
		cancel()
	}()
	_, err := c.Do(ctx, &Request{Path: "x"})
	require.ErrorIs(t, err, context.Canceled, "the hour-long wait ended with the context")
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.False(t, re.Retryable())
	require.Len(t, hit, 1, "one attempt, no second")
}

func TestContextDeadline(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, Config{
		RetryWaitMax: time.Hour,
		Backoff:      func(time.Duration, time.Duration, int, *http.Response) time.Duration { return time.Minute },
	}, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, &Request{Path: "x"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestContextAlreadyCanceled(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	c, _ := setup(t, Config{}, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Do(ctx, &Request{Path: "x"})
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, hits.Load())
}

// Limiter tests are not parallel: TestLimiterPacesRequests measures wall time.

func TestLimiterPacesRequests(t *testing.T) {
	const n = 60
	var hits atomic.Int32
	c, _ := setup(t, Config{Limiter: rate.NewLimiter(50, 1)}, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	})
	start := time.Now()
	for range n {
		_, err := c.JSON(t.Context(), &Request{Path: "x"}, nil)
		require.NoError(t, err)
	}
	elapsed := time.Since(start)
	want := time.Duration(n-1) * time.Second / 50 // the first token is available at once
	require.Equal(t, int32(n), hits.Load())
	// Only the lower bound is a property of the limiter: an upper bound
	// would measure how busy the machine is.
	require.GreaterOrEqual(t, elapsed, want*9/10, "limiter not applied")
}

// TestTakeTokenBooksNothingAhead: waiting requests take their tokens
// when the tokens are there, not booked ahead as rate.Limiter.Wait books
// them, so requests held up past their turn (a stalled process) cannot go
// together: at any moment at most the tokens in the bucket are taken.
func TestTakeTokenBooksNothingAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := rate.NewLimiter(10, 1)
		require.True(t, lim.Allow())
		var done atomic.Int32
		for range 5 {
			go func() {
				if takeToken(t.Context(), lim) == nil {
					done.Add(1)
				}
			}()
		}
		synctest.Wait()
		require.Zero(t, done.Load())
		require.GreaterOrEqual(t, lim.Tokens(), 0.0, "tokens booked ahead (Wait would leave -5)")
		time.Sleep(250 * time.Millisecond) // tokens at 100 and 200 ms
		synctest.Wait()
		require.EqualValues(t, 2, done.Load())
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		require.EqualValues(t, 5, done.Load())
	})
}

// TestTakeTokenDeadline: a wait longer than the context's deadline fails
// at once; a limit of 0 fails too.
func TestTakeTokenDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := rate.NewLimiter(1, 1)
		require.True(t, lim.Allow())
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		require.ErrorContains(t, takeToken(ctx, lim), "after the context's deadline")
		require.Zero(t, time.Since(start))
		require.Error(t, takeToken(t.Context(), rate.NewLimiter(0, 0)))
	})
}

func TestLimiterBeforeEveryRetry(t *testing.T) {
	// Every attempt takes one token: with a burst of 10 and no refill in the
	// test's lifetime, four attempts leave six. Counting tokens, not
	// measuring gaps, keeps the test exact on a loaded machine.
	lim := rate.NewLimiter(rate.Every(time.Hour), 10)
	var attempts atomic.Int32
	c, _ := setup(t, Config{Limiter: lim}, func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) < 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	_, err := c.JSON(t.Context(), &Request{Path: "x"}, nil)
	require.NoError(t, err)
	require.EqualValues(t, 4, attempts.Load())
	require.InDelta(t, 6, lim.Tokens(), 0.01, "one token per attempt, retries included")

	// With the tokens gone, the next attempt waits for the limiter, not the server.
	empty := rate.NewLimiter(rate.Every(time.Hour), 1)
	attempts.Store(0)
	c, _ = setup(t, Config{Limiter: empty}, func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = c.JSON(ctx, &Request{Path: "x"}, nil)
	require.Error(t, err)
	require.EqualValues(t, 1, attempts.Load(), "the retry waited on the limiter")
}

func TestLimiterWaitCanceled(t *testing.T) {
	c, _ := setup(t, Config{Limiter: rate.NewLimiter(rate.Every(time.Hour), 1)}, func(w http.ResponseWriter, r *http.Request) {})
	_, err := c.JSON(t.Context(), &Request{Path: "x"}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.JSON(ctx, &Request{Path: "x"}, nil)
	require.Less(t, time.Since(start), 2*time.Second)
	require.ErrorIs(t, err, context.Canceled)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "rate limit", re.Op)
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	const lo, hi = 100 * time.Millisecond, 10 * time.Second
	resp := func(status int, ra string) *http.Response {
		h := http.Header{}
		if ra != "" {
			h.Set("Retry-After", ra)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	require.Equal(t, time.Second, DefaultBackoff(lo, hi, 0, resp(429, "1")))
	require.Equal(t, 2*time.Second, DefaultBackoff(lo, hi, 0, resp(503, "2")))
	require.Equal(t, hi, DefaultBackoff(lo, hi, 0, resp(429, "3600")), "Retry-After capped")
	d := DefaultBackoff(lo, hi, 0, resp(429, time.Now().Add(5*time.Second).UTC().Format(http.TimeFormat)))
	require.InDelta(t, float64(5*time.Second), float64(d), float64(1100*time.Millisecond))
	require.Zero(t, DefaultBackoff(lo, hi, 0, resp(429, "Mon, 02 Jan 2006 15:04:05 GMT")), "date in the past")

	for _, tc := range []struct {
		attempt int
		min     time.Duration
		max     time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, hi / 2, hi},
		{63, hi / 2, hi},
		{1000, hi / 2, hi},
	} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := DefaultBackoff(lo, hi, tc.attempt, resp(502, ""))
			require.GreaterOrEqual(t, d, tc.min, "attempt %d", tc.attempt)
			require.LessOrEqual(t, d, tc.max, "attempt %d", tc.attempt)
			seen[d] = true
		}
		require.Greater(t, len(seen), 1, "jitter at attempt %d", tc.attempt)
	}
	require.Zero(t, DefaultBackoff(0, 0, 3, nil))
}

func TestClampedBackoff(t *testing.T) {
	t.Parallel()
	c, err := New(Config{BaseURL: "https://example.com/", RetryWaitMax: time.Second,
		Backoff: func(_, _ time.Duration, n int, _ *http.Response) time.Duration {
			if n == 0 {
				return -time.Second
			}
			return time.Hour
		}})
	require.NoError(t, err)
	require.Zero(t, c.clampedBackoff(c.waitMin, c.waitMax, 0, nil))
	require.Equal(t, time.Second, c.clampedBackoff(c.waitMin, c.waitMax, 1, nil))
}

// TestPermanentVetoesRetry: Config.Permanent sees an answer the rules
// would retry, parsed, and can stop the retry; the error still carries the
// whole body.
func TestPermanentVetoesRetry(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		permanent func(*APIError) bool
		want      int32
	}{
		{"no hook: retried", nil, 4},
		{"hook says no: one attempt", func(e *APIError) bool { return e.StatusCode == 429 && e.Code == "quota" }, 1},
		{"hook says yes: retried", func(e *APIError) bool { return e.Code == "other" }, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var attempts atomic.Int32
			c, _ := setup(t, Config{Permanent: tt.permanent}, func(w http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"error":{"code":"quota","message":"hourly quota exhausted"}}`)
			})
			_, err := c.Do(t.Context(), &Request{Method: http.MethodPost, Path: "calls"})
			var rle *RateLimitError
			require.ErrorAs(t, err, &rle)
			require.Equal(t, "quota", rle.Code)
			require.Equal(t, "hourly quota exhausted", rle.Message)
			require.Contains(t, string(rle.Body), "hourly quota exhausted")
			require.Equal(t, tt.want, attempts.Load())
		})
	}
}
