package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
)

// Authenticator decides whether a webhook request may be processed. It runs
// after the body is read and before anything is decoded or delivered, so a
// failure has no side effects. It returns an error wrapping ErrUnauthorized
// or ErrForbidden to reject.
type Authenticator interface {
	Authenticate(r *http.Request, body []byte) error
}

// AuthenticatorFunc adapts a function to an Authenticator.
type AuthenticatorFunc func(r *http.Request, body []byte) error

// Authenticate calls f(r, body).
func (f AuthenticatorFunc) Authenticate(r *http.Request, body []byte) error { return f(r, body) }

// AllOf returns an Authenticator that requires every one of auths to pass.
// Nil entries are skipped.
func AllOf(auths ...Authenticator) Authenticator {
	return AuthenticatorFunc(func(r *http.Request, body []byte) error {
		for _, a := range auths {
			if a == nil {
				continue
			}
			if err := a.Authenticate(r, body); err != nil {
				return err
			}
		}
		return nil
	})
}

// Secrets is a set of accepted shared secrets. Several may be valid at once
// so a secret can be rotated without downtime.
type Secrets struct {
	sums [][sha256.Size]byte
}

// String counts the secrets; neither they nor their hashes are shown (a
// hash of a weak token could be reversed offline).
func (s Secrets) String() string { return fmt.Sprintf("webhook.Secrets(%d)", len(s.sums)) }

// Format writes String for every verb.
func (s Secrets) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue logs what String shows.
func (s Secrets) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON encodes what String shows, as a JSON string.
func (s Secrets) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// NewSecrets returns the set of the given secrets. An empty list or an
// empty secret is an error: authentication must never pass by accident.
func NewSecrets(secrets ...string) (Secrets, error) {
	if len(secrets) == 0 {
		return Secrets{}, errors.New("webhook: no secret given")
	}
	s := Secrets{sums: make([][sha256.Size]byte, len(secrets))}
	for i, v := range secrets {
		if v == "" {
			return Secrets{}, errors.New("webhook: empty secret")
		}
		s.sums[i] = sha256.Sum256([]byte(v))
	}
	return s, nil
}

// Match reports whether candidate is one of the secrets. It compares hashes
// in constant time and checks every secret, so neither the length nor the
// position of a match leaks through timing.
func (s Secrets) Match(candidate string) bool {
	if candidate == "" || len(s.sums) == 0 {
		return false
	}
	c := sha256.Sum256([]byte(candidate))
	ok := 0
	for i := range s.sums {
		ok |= subtle.ConstantTimeCompare(c[:], s.sums[i][:])
	}
	return ok == 1
}

// Index returns the position of candidate among the secrets given to
// NewSecrets, or -1. Like Match it checks every secret in constant time. It
// lets a token also select a tenant.
func (s Secrets) Index(candidate string) int {
	if candidate == "" {
		return -1
	}
	c := sha256.Sum256([]byte(candidate))
	idx := -1
	for i := range s.sums {
		if subtle.ConstantTimeCompare(c[:], s.sums[i][:]) == 1 {
			idx = i
		}
	}
	return idx
}

// TokenAuth returns an Authenticator that takes a token from the request
// with from and accepts it when it matches one of secrets. A missing or
// wrong token is ErrUnauthorized; the error never contains the token.
func TokenAuth(secrets Secrets, from func(r *http.Request, body []byte) string) Authenticator {
	return AuthenticatorFunc(func(r *http.Request, body []byte) error {
		tok := from(r, body)
		if tok == "" {
			return fmt.Errorf("%w: missing token", ErrUnauthorized)
		}
		if !secrets.Match(tok) {
			return fmt.Errorf("%w: invalid token", ErrUnauthorized)
		}
		return nil
	})
}

// QueryToken returns a token extractor for TokenAuth that reads the URL
// query parameter name (e.g. "token").
func QueryToken(name string) func(r *http.Request, body []byte) string {
	return func(r *http.Request, _ []byte) string { return r.URL.Query().Get(name) }
}

// ParsePrefixes parses IP addresses and CIDR prefixes ("10.0.0.1",
// "192.168.0.0/16", "::1") into prefixes for IPAllowList and ClientIP.
func ParsePrefixes(values ...string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(values))
	for _, v := range values {
		v = strings.TrimSpace(v)
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return nil, fmt.Errorf("webhook: bad prefix %q: %w", v, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("webhook: bad address %q: %w", v, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ClientIP returns the address of the party that sent r. X-Forwarded-For is
// believed only as far as it was written by trusted proxies: starting from
// the peer address, each hop is accepted only while the hop before it is
// trusted, and the first untrusted address is the client. With no trusted
// proxies the peer address is the client, whatever the headers say.
func ClientIP(r *http.Request, trustedProxies []netip.Prefix) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = peer.Addr().Unmap()
	} else if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		addr = a.Unmap()
	} else {
		return netip.Addr{}, false
	}
	if !contains(trustedProxies, addr) {
		return addr, true
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return addr, true // a garbled hop: stop at the last trusted one
			}
			addr = hop.Unmap()
			if !contains(trustedProxies, addr) {
				return addr, true
			}
		}
	}
	return addr, true
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// IPAllowList returns an Authenticator that accepts only requests whose
// client address (see ClientIP) is inside allowed. Others get ErrForbidden.
func IPAllowList(allowed, trustedProxies []netip.Prefix) Authenticator {
	return AuthenticatorFunc(func(r *http.Request, _ []byte) error {
		ip, ok := ClientIP(r, trustedProxies)
		if !ok || !contains(allowed, ip) {
			return fmt.Errorf("%w: address not allowed", ErrForbidden)
		}
		return nil
	})
}
