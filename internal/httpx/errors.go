package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge"

	"github.com/callbridge/callbridge/internal/text"
)

// MaxErrorBodyBytes caps the error response body kept in APIError.Body.
const MaxErrorBodyBytes = 64 << 10

// maxMessageLen caps APIError.Message taken from a plain-text body.
const maxMessageLen = 512

// ErrResponseTooLarge is returned (wrapped in a *RequestError) by
// Client.JSON when a response body exceeds Config.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("httpx: response body too large")

// The error types of every client are callbridge's; these names keep the
// code of this package short.
type (
	APIError       = callbridge.APIError
	RateLimitError = callbridge.RateLimitError
	RequestError   = callbridge.RequestError
	RateLimit      = callbridge.RateLimit
)

// redactedError is a cause whose text has had secrets removed; Unwrap gives
// the original, so errors.Is and errors.As still see it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// ParseRateLimit reads X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Reset (falling back to the IETF draft RateLimit-Limit,
// RateLimit-Remaining, RateLimit-Reset). Limit and Remaining take the leading
// integer ("100" or "100, 100;w=60"). Reset is an integer or decimal number:
// values above 1e9 are Unix epoch seconds (an absolute time after 2001);
// smaller values are seconds from now (RateLimit-Reset is always a delta).
func ParseRateLimit(h http.Header) RateLimit { return parseRateLimit(h, time.Now()) }

func parseRateLimit(h http.Header, now time.Time) RateLimit {
	rl := RateLimit{Limit: -1, Remaining: -1}
	get := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(h.Get(n)); v != "" {
				return v
			}
		}
		return ""
	}
	if n, ok := leadingInt(get("X-RateLimit-Limit", "RateLimit-Limit")); ok {
		rl.Limit = n
	}
	if n, ok := leadingInt(get("X-RateLimit-Remaining", "RateLimit-Remaining")); ok {
		rl.Remaining = n
	}
	if v := get("X-RateLimit-Reset"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			if f > 1e9 {
				sec := int64(f)
				rl.Reset = time.Unix(sec, int64((f-float64(sec))*1e9))
			} else {
				rl.Reset = now.Add(time.Duration(f * float64(time.Second)))
			}
		}
	} else if n, ok := leadingInt(get("RateLimit-Reset")); ok {
		rl.Reset = now.Add(time.Duration(n) * time.Second)
	}
	return rl
}

func leadingInt(s string) (int, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s[:i])
	return n, err == nil
}

// retryAfter returns the wait a response asks for: Retry-After (delta
// seconds or an HTTP date) or, for a 429 without it, the time until
// X-RateLimit-Reset. ok is false when the response says nothing.
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	if v := strings.TrimSpace(resp.Header.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			if n < 0 {
				return 0, false
			}
			if n > int64(1<<62)/int64(time.Second) {
				n = int64(1<<62) / int64(time.Second)
			}
			return time.Duration(n) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if rl := parseRateLimit(resp.Header, now); !rl.Reset.IsZero() {
			return max(rl.Reset.Sub(now), 0), true
		}
	}
	return 0, false
}

var requestIDHeaders = []string{
	"X-Request-Id", "Request-Id", "X-Amzn-RequestId", "X-Amz-Request-Id",
	"X-Correlation-Id", "X-Trace-Id", "Trace-Id", "X-Req-Id",
}

func requestID(h http.Header) string {
	for _, k := range requestIDHeaders {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// DefaultParseError fills e.Code and e.Message from common error body shapes:
//
//	{"error":"invalid_grant","error_description":"…"}  (OAuth 2)
//	{"error":"…"}
//	{"message":"…","code":"…"}
//	{"error":{"code":…,"message":…}}
//	{"title":"…","detail":"…"}                          (RFC 9457 problem+json)
//
// and from a short text/plain body. It runs before Config.ParseError, which
// may override what it set.
func DefaultParseError(resp *http.Response, body []byte, e *APIError) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return
	}
	if trimmed[0] == '{' {
		var m map[string]json.RawMessage
		if json.Unmarshal(trimmed, &m) == nil {
			parseErrorObject(m, e)
		}
		return
	}
	if resp != nil {
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/plain" {
			msg := string(trimmed)
			if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
				msg = msg[:i]
			}
			e.Message = text.Clip(msg, maxMessageLen)
		}
	}
}

func parseErrorObject(m map[string]json.RawMessage, e *APIError) {
	str := func(k string) string {
		raw, ok := m[k]
		if !ok {
			return ""
		}
		return jsonScalar(raw)
	}
	if raw, ok := m["error"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) == nil {
			parseErrorObject(inner, e)
			return
		}
		if s := jsonScalar(raw); s != "" {
			if d := str("error_description"); d != "" {
				e.Code, e.Message = text.Clip(s, maxMessageLen), text.Clip(d, maxMessageLen)
				return
			}
			if msg := str("message"); msg != "" {
				e.Code, e.Message = text.Clip(s, maxMessageLen), text.Clip(msg, maxMessageLen)
				return
			}
			e.Message = text.Clip(s, maxMessageLen)
			return
		}
	}
	if msg := str("message"); msg != "" {
		e.Message = text.Clip(msg, maxMessageLen)
		for _, k := range []string{"code", "error_code", "errorCode"} {
			if c := str(k); c != "" {
				e.Code = text.Clip(c, maxMessageLen)
				break
			}
		}
		return
	}
	title, detail := str("title"), str("detail")
	switch {
	case title != "" && detail != "":
		e.Code, e.Message = text.Clip(title, maxMessageLen), text.Clip(detail, maxMessageLen)
	case detail != "":
		e.Message = text.Clip(detail, maxMessageLen)
	case title != "":
		e.Message = text.Clip(title, maxMessageLen)
	}
}

// jsonScalar renders a JSON string, number or bool as text; "" otherwise.
func jsonScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '{', '[', 'n':
		return ""
	default:
		return string(raw)
	}
	return ""
}
