package httpx

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/callbridge/callbridge/internal/telemetry"
)

// checkRetry is the retryablehttp.CheckRetry policy. It is called after every
// attempt. See decide for the rules.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	st, _ := ctx.Value(callStateKey{}).(*callState)
	if st == nil { // not sent through Client.do; be conservative
		st = &callState{c: c, method: http.MethodPost}
	}
	st.attempts++
	if resp != nil && c.onResponse != nil {
		c.onResponse(resp)
	}
	if cerr := ctx.Err(); cerr != nil {
		return false, cerr
	}
	retry := c.decide(st, resp, err)
	if retry && err == nil && c.isPermanent(resp) {
		retry = false
	}
	if retry && st.attempts <= c.retryMax {
		args := []any{"method", st.method, "url", st.url(), "attempt", st.attempts}
		if resp != nil {
			args = append(args, "status", resp.StatusCode)
		} else if err != nil {
			args = append(args, "error", Redact(err.Error(), c.secretList()...))
		}
		c.log.DebugContext(ctx, "httpx: retrying request", args...)
		c.recordRetry(ctx, st, resp, err)
	}
	return retry, nil
}

// decide reports whether an attempt's outcome may be retried:
//
//   - transport error before the request was sent (dial: refused, DNS,
//     unreachable): any method;
//   - other transport errors (timeout, reset, EOF): idempotent requests only;
//     never TLS certificate, redirect-limit or malformed-request errors;
//   - 429: any method, unless Retry-After / X-RateLimit-Reset asks for more
//     than RetryWaitMax;
//   - 502, 503, 504: idempotent requests only (503 also not when its
//     Retry-After exceeds RetryWaitMax);
//   - anything else (2xx, 3xx, 4xx, 500, 501): no.
func (c *Client) decide(st *callState, resp *http.Response, err error) bool {
	if err != nil {
		return transportRetryable(st, err)
	}
	if resp == nil {
		return false
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return !c.waitTooLong(resp)
	case http.StatusServiceUnavailable:
		return st.idempotent && !c.waitTooLong(resp)
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return st.idempotent
	}
	return false
}

func (c *Client) waitTooLong(resp *http.Response) bool {
	d, ok := retryAfter(resp, time.Now())
	return ok && d > c.waitMax
}

// transportRetryable classifies an error returned by the HTTP client, by
// the rule RequestError.Retryable documents.
func transportRetryable(st *callState, err error) bool {
	return (&RequestError{Err: err, Idempotent: st.idempotent}).Retryable()
}

func idempotentMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// clampedBackoff calls the configured Backoff and clamps it to [0, max].
func (c *Client) clampedBackoff(minWait, maxWait time.Duration, attemptNum int, resp *http.Response) time.Duration {
	d := min(max(c.backoff(minWait, maxWait, attemptNum, resp), 0), maxWait)
	if resp != nil && resp.StatusCode == http.StatusTooManyRequests && resp.Request != nil {
		ctx := resp.Request.Context()
		st, _ := ctx.Value(callStateKey{}).(*callState)
		c.recordWait(ctx, st, telemetry.WaitServer, d)
	}
	return d
}

// DefaultBackoff is the default Config.Backoff. For a 429 or 503 with
// Retry-After (or, for 429, X-RateLimit-Reset) it returns that wait, capped
// at maxWait. Otherwise it returns an exponential backoff minWait·2^attemptNum
// capped at maxWait, with "equal jitter": a random value in [d/2, d].
func DefaultBackoff(minWait, maxWait time.Duration, attemptNum int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := retryAfter(resp, time.Now()); ok {
			return min(d, maxWait)
		}
	}
	d := maxWait
	if attemptNum < 32 && minWait > 0 {
		if exp := minWait << attemptNum; exp > 0 && exp>>attemptNum == minWait && exp < maxWait {
			d = exp
		}
	}
	if d <= 1 {
		return max(d, 0)
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
