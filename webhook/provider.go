package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// Auth is the authentication of a provider handler: shared tokens, an IP
// allow-list, or both (then both must pass, the address first, so a sender
// outside the list cannot probe whether a token is valid). Provider packages fill it from
// their WithToken / WithAllowedIPs / WithoutAuth options and install it
// with Options, so every provider authenticates the same way.
type Auth struct {
	// Tokens are the accepted secrets; several at once for rotation.
	Tokens []string
	// Token extracts the token from a request. Default: the "token" URL
	// query parameter.
	Token func(r *http.Request, body []byte) string
	// AllowedIPs, when set, admits only these client addresses; the
	// X-Forwarded-For header is believed only from TrustedProxies.
	AllowedIPs     []netip.Prefix
	TrustedProxies []netip.Prefix
	// Disabled runs without authentication (a provider's WithoutAuth).
	Disabled bool
}

// Options returns the webhook options that install a. It fails when a
// configures neither tokens nor an allow-list and is not Disabled, so a
// handler never runs unauthenticated by accident.
func (a Auth) Options() ([]Option, error) {
	var opts []Option
	if len(a.AllowedIPs) > 0 {
		opts = append(opts, WithAuthenticator(IPAllowList(a.AllowedIPs, a.TrustedProxies)))
	}
	if len(a.Tokens) > 0 {
		secrets, err := NewSecrets(a.Tokens...)
		if err != nil {
			return nil, err
		}
		from := a.Token
		if from == nil {
			from = QueryToken("token")
		}
		opts = append(opts, WithAuthenticator(TokenAuth(secrets, from)))
	}
	if len(opts) == 0 {
		if !a.Disabled {
			return nil, errors.New("webhook: no authentication configured: give a token or an IP allow-list, or WithoutAuth")
		}
		opts = append(opts, WithoutAuth())
	}
	return opts, nil
}

// String shows how a authenticates, never its tokens.
func (a Auth) String() string {
	return fmt.Sprintf("webhook.Auth{Tokens:%d, AllowedIPs:%v, TrustedProxies:%v, Disabled:%t}",
		len(a.Tokens), a.AllowedIPs, a.TrustedProxies, a.Disabled)
}

// Format writes String for every verb, so no verb shows a token.
func (a Auth) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, a.String()) }

// LogValue logs what String shows.
func (a Auth) LogValue() slog.Value { return slog.StringValue(a.String()) }

// MarshalJSON encodes what String shows, as a JSON string.
func (a Auth) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

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
