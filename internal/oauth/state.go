package oauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
)

// stateBytes is the entropy of a state value made by NewState.
const stateBytes = 32

// ErrStateMismatch: the state a redirect brought back is empty or is not
// the one the app sent (a forged or replayed redirect: CSRF).
var ErrStateMismatch = errors.New("oauth: state mismatch")

// ErrEmptyState: an authorization URL was asked for without a state.
var ErrEmptyState = errors.New("oauth: empty state: use NewState and keep the value to check the redirect")

// NewState returns a new unguessable OAuth state value: 32 random bytes
// from crypto/rand, base64url-encoded without padding. Keep it (e.g. in a
// cookie bound to the user's session) and compare it with CheckState when
// the provider redirects back.
func NewState() (string, error) {
	b := make([]byte, stateBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("oauth: new state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CheckState compares the state the app kept (want) with the state the
// redirect brought back (got) in constant time. It returns nil only when
// both are non-empty and equal; otherwise an error matching
// ErrStateMismatch that never contains either value.
func CheckState(want, got string) error {
	switch {
	case want == "":
		return fmt.Errorf("%w: no state was kept for this session", ErrStateMismatch)
	case got == "":
		return fmt.Errorf("%w: the redirect has no state", ErrStateMismatch)
	case subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1:
		return fmt.Errorf("%w: the redirect's state is not the one sent", ErrStateMismatch)
	}
	return nil
}

// AuthCodeURL returns endpoint with params and state added to its query.
// It fails with ErrEmptyState for an empty state: an authorization URL
// without one cannot be protected against CSRF. params is not modified.
func AuthCodeURL(endpoint string, params url.Values, state string) (string, error) {
	if state == "" {
		return "", ErrEmptyState
	}
	u, err := url.Parse(endpoint)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", errors.New("oauth: the authorization endpoint must be an absolute URL")
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = append([]string(nil), vs...)
	}
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
