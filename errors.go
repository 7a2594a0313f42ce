package callbridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// APIError is a non-2xx answer of a provider's API, returned by every
// provider client (telphin, megafon, phonet, finaz, amocrm). Use errors.As:
//
//	var apiErr *callbridge.APIError
//	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound { … }
//
// A 429 is a *RateLimitError, which errors.As also matches as *APIError.
// Every string field and Body are redacted: they never contain a secret.
type APIError struct {
	// Provider names the API that answered: "telphin", "megafon",
	// "phonet", "finaz" or "amocrm".
	Provider string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Code is the provider's error code, if the body carried one
	// (Telphin's "status", amoCRM's problem title, MegaFon's error, …).
	Code string
	// Message is the provider's human-readable message, if any.
	Message string
	// RequestID is the provider's request id from a response header
	// (X-Request-Id, Request-Id, X-Correlation-Id, …), if any.
	RequestID string
	// Body is the response body, capped at 64 KiB.
	Body []byte
	// Method and URL identify the request.
	Method, URL string
	// Idempotent reports whether the request was safe to send again: an
	// idempotent method (GET, PUT, DELETE, …), or a POST that carried an
	// idempotency key. A click-to-call POST is not.
	Idempotent bool
}

// Error returns "<method> <url>: <status> <code>: <message>"; the provider
// clients wrap it with their name and the operation ("megafon: Call: …").
func (e *APIError) Error() string {
	var b strings.Builder
	writeRequest(&b, e.Method, e.URL)
	b.WriteString(strconv.Itoa(e.StatusCode))
	switch {
	case e.Code == "" && e.Message == "":
		if t := http.StatusText(e.StatusCode); t != "" {
			b.WriteByte(' ')
			b.WriteString(t)
		}
	case e.Code == "":
		b.WriteString(": ")
		b.WriteString(e.Message)
	default:
		b.WriteByte(' ')
		b.WriteString(e.Code)
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	return b.String()
}

func writeRequest(b *strings.Builder, method, url string) {
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(url)
	b.WriteString(": ")
}

// HTTPStatusCode returns the response status code.
func (e *APIError) HTTPStatusCode() int { return e.StatusCode }

// Retryable reports whether sending the same request again later is safe and
// may succeed: a 429 always; a 502, 503 or 504 when the request was
// Idempotent.
func (e *APIError) Retryable() bool {
	switch e.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return e.Idempotent
	}
	return false
}

// RateLimitError is a 429 answer that outlasted the retries. errors.As
// matches it both as *RateLimitError and as *APIError.
type RateLimitError struct {
	APIError
	// RetryAfter is how long the provider asked to wait (Retry-After, or the
	// time until X-RateLimit-Reset); zero if unknown.
	RetryAfter time.Duration
	// Reset is when the quota resets; zero if unknown.
	Reset time.Time
	// Limit and Remaining come from X-RateLimit-Limit and
	// X-RateLimit-Remaining; -1 if absent.
	Limit, Remaining int
}

// Error returns the APIError text plus the requested wait.
func (e *RateLimitError) Error() string {
	s := e.APIError.Error()
	if e.RetryAfter > 0 {
		s += " (retry after " + e.RetryAfter.String() + ")"
	}
	return s
}

// Unwrap returns the embedded *APIError, so errors.As(err, &apiErr) works.
func (e *RateLimitError) Unwrap() error { return &e.APIError }

// RequestError is a failure of a provider client that is not an HTTP error
// answer: a transport error (connection refused, timeout, reset), a canceled
// context, the client-side rate limit, an authentication step or decoding
// the answer. Its text is redacted. Unwrap gives the cause, so
// errors.Is(err, context.Canceled) and errors.As(err, &opErr) with a
// *net.OpError work.
type RequestError struct {
	// Provider names the API the request was for.
	Provider string
	// Method and URL identify the request.
	Method, URL string
	// Op is the failed step: "" for sending the request, or "authenticate",
	// "reauthenticate", "rate limit", "build request", "decode".
	Op string
	// Attempts is the number of HTTP attempts made (0 if none was sent).
	Attempts int
	// Idempotent reports whether the request was safe to send again (see
	// APIError.Idempotent).
	Idempotent bool
	// Err is the cause.
	Err error
}

// Error returns "<method> <url>: [<op>: ]<cause>[ (after N attempts)]".
func (e *RequestError) Error() string {
	var b strings.Builder
	writeRequest(&b, e.Method, e.URL)
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.Attempts > 1 {
		b.WriteString(" (after ")
		b.WriteString(strconv.Itoa(e.Attempts))
		b.WriteString(" attempts)")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// HTTPStatusCode returns 0: there was no HTTP answer.
func (e *RequestError) HTTPStatusCode() int { return 0 }

// Retryable reports whether sending the same request again later is safe and
// may succeed: true for a connection that could not be made (nothing was
// sent) and for other transport errors of Idempotent requests; false for a
// canceled context, a certificate error and failures of the other steps.
func (e *RequestError) Retryable() bool {
	return e.Op == "" && e.Err != nil && retryableTransport(e.Err, e.Idempotent)
}

// retryableTransport classifies an error of an HTTP round trip: a
// connection that could not be made is retryable; a canceled context, a
// certificate or protocol error is not; any other transport error
// (timeout, reset) is retryable only when idempotent.
func retryableTransport(err error, idempotent bool) bool {
	if errors.Is(err, context.Canceled) || permanentTransportError(err) {
		return false
	}
	return isDialError(err) || idempotent
}

// isDialError reports whether err happened while establishing the
// connection, before any byte of the request was sent.
func isDialError(err error) bool {
	for e := err; e != nil; {
		var op *net.OpError
		if !errors.As(e, &op) {
			return false
		}
		if op.Op == "dial" {
			return true
		}
		e = op.Err // e.g. "proxyconnect" wrapping a dial error
	}
	return false
}

func permanentTransportError(err error) bool {
	var (
		unknownAuthority *x509.UnknownAuthorityError
		hostname         x509.HostnameError
		hostnamePtr      *x509.HostnameError
		invalid          x509.CertificateInvalidError
		invalidPtr       *x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &hostnamePtr) ||
		errors.As(err, &invalid) || errors.As(err, &invalidPtr) || errors.As(err, &verify) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "unsupported protocol scheme") ||
		strings.Contains(msg, "stopped after") && strings.Contains(msg, "redirects") ||
		strings.Contains(msg, "invalid header") ||
		strings.Contains(msg, "net/http: invalid")
}

// RateLimit is a provider's quota state as its last answer reported it
// (X-RateLimit-Limit, -Remaining, -Reset).
type RateLimit struct {
	// Limit and Remaining are -1 when the header is absent or unparsable.
	Limit, Remaining int
	// Reset is when the quota resets; zero when absent.
	Reset time.Time
}
