package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

type (
	loggerKey  struct{}
	arrivalKey struct{}
)

// Arrival returns when the Handler serving the request whose context is
// ctx received it, by the Handler's clock (WithClock): a Decoder stamps
// events that carry no time of their own with it, so they fall inside the
// time window the Handler checks. Outside a Handler it returns time.Now().
func Arrival(ctx context.Context) time.Time {
	if t, ok := ctx.Value(arrivalKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

// Logger returns the logger of the Handler serving the request whose
// context is ctx (set with WithLogger), so a Decoder logs where its handler
// does. Outside a Handler it returns a logger that discards.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// DefaultLookupTimeout is how long a provider handler waits for a
// ContactLookup while the provider holds a ringing call.
const DefaultLookupTimeout = time.Second

// LookupContact asks l for the contact of phone within timeout. A provider
// holds the ringing call while it waits for the answer, so the wait is
// bounded even when l ignores its context: after the deadline
// LookupContact returns ctx's error and leaves l to finish on its own. A
// panic in l is returned as an error.
func LookupContact(ctx context.Context, l callevent.ContactLookup, timeout time.Duration, account, phone string) (callevent.Contact, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		c     callevent.Contact
		found bool
		err   error
	}
	ch := make(chan result, 1) // buffered: a late lookup never blocks
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: fmt.Errorf("webhook: contact lookup panic: %v", p)}
			}
		}()
		c, found, err := l.LookupContact(ctx, account, phone)
		ch <- result{c, found, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.found, r.err
	case <-ctx.Done():
		return callevent.Contact{}, false, fmt.Errorf("webhook: contact lookup: %w", ctx.Err())
	}
}
