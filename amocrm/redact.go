package amocrm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/callbridge/callbridge/internal/httpx"
)

// String shows the account host, the client id and the redirect URL; the
// client secret and the long-lived token are redacted.
func (c Credentials) String() string {
	return fmt.Sprintf("amocrm.Credentials{Domain:%q, ClientID:%q, ClientSecret:%s, RedirectURL:%q, LongLivedToken:%s}",
		c.Domain, c.ClientID, httpx.RedactedIfSet(c.ClientSecret), c.RedirectURL, httpx.RedactedIfSet(c.LongLivedToken))
}

// GoString is String, so %#v redacts the secrets too.
func (c Credentials) GoString() string { return c.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the non-secret fields; the secrets are redacted.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("domain", c.Domain),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", httpx.RedactedIfSet(c.ClientSecret)),
		slog.String("redirect_url", c.RedirectURL),
		slog.String("long_lived_token", httpx.RedactedIfSet(c.LongLivedToken)),
	)
}

// MarshalJSON encodes the non-secret fields; the secrets are "REDACTED".
// Credentials are not meant to be stored as JSON: keep the secrets in a
// secret store.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return jsonObject("domain", c.Domain, "client_id", c.ClientID, "client_secret", httpx.RedactedIfSet(c.ClientSecret),
		"redirect_url", c.RedirectURL, "long_lived_token", httpx.RedactedIfSet(c.LongLivedToken))
}

// authMode names how a Client authenticates.
func (c *Client) authMode() string {
	if c.tokens == nil {
		return "long-lived token"
	}
	return "oauth"
}

// String shows the account host and the authentication mode, never a
// secret or a token.
func (c *Client) String() string {
	if c == nil {
		return "amocrm.Client(nil)"
	}
	return fmt.Sprintf("amocrm.Client{Domain:%q, ClientID:%q, Auth:%s}", c.domain, c.creds.ClientID, c.authMode())
}

// GoString is String, so %#v shows no secret.
func (c *Client) GoString() string { return c.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the account host and the authentication mode.
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("amocrm.Client(nil)")
	}
	return slog.GroupValue(slog.String("domain", c.domain), slog.String("client_id", c.creds.ClientID),
		slog.String("auth", c.authMode()))
}

// MarshalJSON encodes what String shows.
func (c *Client) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("null"), nil
	}
	return jsonObject("domain", c.domain, "client_id", c.creds.ClientID, "auth", c.authMode())
}

// String redacts a long-lived token.
func (bearer) String() string { return "bearer(REDACTED)" }

// GoString redacts a long-lived token.
func (b bearer) GoString() string { return b.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (b bearer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// jsonObject encodes key/value string pairs as a JSON object, in order.
func jsonObject(kv ...string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv[i])
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(kv[i+1])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// String shows the Client's account host, never a secret.
func (s *Store) String() string {
	if s == nil {
		return "amocrm.Store(nil)"
	}
	return fmt.Sprintf("amocrm.Store{Client:%s, Source:%q}", s.c, s.source)
}

// GoString is String, so %#v shows no secret.
func (s *Store) GoString() string { return s.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (s *Store) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue logs the Client's account host.
func (s *Store) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("amocrm.Store(nil)")
	}
	return slog.GroupValue(slog.Any("client", s.c), slog.String("source", s.source))
}
