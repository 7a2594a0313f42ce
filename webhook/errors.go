package webhook

import (
	"errors"
	"net/http"
	"time"
)

// DefaultRetryAfter is the Retry-After a Handler sends with a 503 when the
// error does not suggest one.
const DefaultRetryAfter = 10 * time.Second

// Sentinel errors a Decoder, Authenticator, Queue or Dedup returns (wrapped
// with detail) to choose the HTTP status of the reply. Test with errors.Is.
var (
	// ErrUnauthorized: missing or wrong credentials (401).
	ErrUnauthorized = errors.New("webhook: unauthorized")
	// ErrForbidden: the sender is not allowed, e.g. an IP outside the allow-list (403).
	ErrForbidden = errors.New("webhook: forbidden")
	// ErrBadRequest: malformed input; the wrapped message says what was wrong (400).
	ErrBadRequest = errors.New("webhook: bad request")
	// ErrTooLarge: the body exceeded the limit (413).
	ErrTooLarge = errors.New("webhook: request body too large")
	// ErrMethodNotAllowed: the HTTP method is not accepted (405).
	ErrMethodNotAllowed = errors.New("webhook: method not allowed")
	// ErrQueueFull: a Queue could not take the event (503, the provider retries).
	ErrQueueFull = errors.New("webhook: queue full")
	// ErrClosed: a Queue was closed (503).
	ErrClosed = errors.New("webhook: closed")
	// ErrInProgress: a Dedup store's answer from Claim for an event whose
	// delivery is in progress now (503, the provider retries later, when
	// the first delivery has either succeeded or failed and been released).
	ErrInProgress = errors.New("webhook: event delivery in progress")
	// ErrUnavailable: the sink cannot take the event now, e.g. it is at
	// capacity (503 with Retry-After, the provider redelivers). A sink may
	// also return an error with a method RetryAfter() time.Duration (as
	// match.ErrOverloaded has): it is a 503 too, with that Retry-After.
	ErrUnavailable = errors.New("webhook: temporarily unavailable")
)

// retryAfterError is an error that suggests when to try again.
type retryAfterError interface {
	error
	RetryAfter() time.Duration
}

// StatusOf maps an error to the HTTP status a webhook reply should carry:
// the sentinels above to their codes, an error with a RetryAfter method to
// 503, anything else (a failing sink, a bug) to 500 so the provider
// redelivers. A nil error is 200.
func StatusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrQueueFull), errors.Is(err, ErrClosed), errors.Is(err, ErrInProgress),
		errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	var ra retryAfterError
	if errors.As(err, &ra) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// retryAfter is the Retry-After of a 503 for err, in whole seconds (at
// least 1).
func retryAfter(err error) int {
	d := DefaultRetryAfter
	var ra retryAfterError
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		d = ra.RetryAfter()
	}
	return max(1, int((d+time.Second-1)/time.Second))
}

// publicMessage is the text a reply may show for err: the error's own
// message for client errors (they describe the input, never secrets, by
// contract of the Decoder), a generic text for server errors so internals
// do not leak.
func publicMessage(status int, err error) string {
	if status >= 500 {
		return http.StatusText(status)
	}
	return err.Error()
}
