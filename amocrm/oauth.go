package amocrm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/oauth"
	"github.com/callbridge/callbridge/internal/text"
)

// OAuth state errors. Test with errors.Is.
var (
	// ErrStateMismatch: the redirect's state is missing or is not the one
	// sent with AuthCodeURL (a forged or replayed redirect).
	ErrStateMismatch = oauth.ErrStateMismatch
	// ErrEmptyState: AuthCodeURL was called without a state.
	ErrEmptyState = oauth.ErrEmptyState
)

// NewState returns a new unguessable OAuth state (32 random bytes,
// base64url) for AuthCodeURL. Keep it with the user's browser session,
// e.g. in a Secure, HttpOnly cookie, and give it to ParseRedirect.
func NewState() (string, error) { return oauth.NewState() }

// CheckState compares the state kept for the session (want) with the one
// the redirect brought back (got) in constant time: nil only when both are
// non-empty and equal, otherwise an error matching ErrStateMismatch.
func CheckState(want, got string) error { return oauth.CheckState(want, got) }

// Redirect is what amoCRM sends to the integration's redirect URL once the
// administrator allowed access.
type Redirect struct {
	// Code is the authorization code for Client.Exchange (single use,
	// valid 20 minutes).
	Code string
	// Domain is the account host from the "referer" parameter, checked to
	// be an amoCRM or Kommo account host: use it as Credentials.Domain.
	Domain string
}

// ParseRedirect reads amoCRM's OAuth redirect (GET ?code=…&state=…&
// referer=…). It first checks the state against state, the value kept for
// this browser session when AuthCodeURL was made (ErrStateMismatch), then
// that the referer is an amoCRM or Kommo account host (anything else would
// receive the client secret), and returns the code and the account host.
// A denied authorization ("error" parameter) is an error.
func ParseRedirect(r *http.Request, state string) (Redirect, error) {
	q := r.URL.Query()
	if err := CheckState(state, q.Get("state")); err != nil {
		return Redirect{}, fmt.Errorf("amocrm: OAuth redirect: %w", err)
	}
	if e := q.Get("error"); e != "" {
		return Redirect{}, fmt.Errorf("amocrm: OAuth redirect: authorization denied: %s", text.Clip(e, 64))
	}
	code := q.Get("code")
	if code == "" {
		return Redirect{}, errors.New("amocrm: OAuth redirect: no code")
	}
	domain, err := cleanDomain(q.Get("referer"))
	if err != nil {
		return Redirect{}, fmt.Errorf("amocrm: OAuth redirect: referer: %w", err)
	}
	return Redirect{Code: code, Domain: domain}, nil
}

// String shows the account host; the code is redacted.
func (r Redirect) String() string {
	return fmt.Sprintf("amocrm.Redirect{Domain:%q, Code:%s}", r.Domain, httpx.RedactedIfSet(r.Code))
}

// GoString is String, so %#v redacts the code too.
func (r Redirect) GoString() string { return r.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (r Redirect) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// LogValue logs the account host; the code is redacted.
func (r Redirect) LogValue() slog.Value {
	return slog.GroupValue(slog.String("domain", r.Domain), slog.String("code", httpx.RedactedIfSet(r.Code)))
}

// MarshalJSON encodes the account host; the code is redacted.
func (r Redirect) MarshalJSON() ([]byte, error) {
	return jsonObject("domain", r.Domain, "code", httpx.RedactedIfSet(r.Code))
}
