package oauth

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/callbridge/callbridge/internal/httpx"
)

// String names the grant type.
func (g Grant) String() string {
	switch g {
	case GrantClientCredentials:
		return "client_credentials"
	case GrantAuthorizationCode:
		return "authorization_code"
	}
	return fmt.Sprintf("Grant(%d)", uint8(g))
}

// String shows the token URL, client id, redirect URL and grant; the
// client secret is redacted.
func (c Config) String() string {
	return fmt.Sprintf("oauth.Config{TokenURL:%q, ClientID:%q, ClientSecret:%s, RedirectURL:%q, Grant:%s}",
		c.TokenURL, c.ClientID, httpx.RedactedIfSet(c.ClientSecret), c.RedirectURL, c.Grant)
}

// GoString is String, so %#v redacts the secret too.
func (c Config) GoString() string { return c.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the non-secret fields.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("token_url", c.TokenURL), slog.String("client_id", c.ClientID),
		slog.String("client_secret", httpx.RedactedIfSet(c.ClientSecret)), slog.String("redirect_url", c.RedirectURL),
		slog.String("grant", c.Grant.String()))
}

// MarshalJSON encodes the non-secret fields; the secret is "REDACTED".
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		TokenURL     string `json:"token_url"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		RedirectURL  string `json:"redirect_url"`
		Grant        string `json:"grant"`
	}{c.TokenURL, c.ClientID, httpx.RedactedIfSet(c.ClientSecret), c.RedirectURL, c.Grant.String()})
}

// String shows the Source's Config, never a secret or a token.
func (s *Source) String() string {
	if s == nil {
		return "oauth.Source(nil)"
	}
	return "oauth.Source{" + s.cfg.String() + "}"
}

// GoString is String, so %#v shows no secret.
func (s *Source) GoString() string { return s.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (s *Source) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue logs the Source's Config.
func (s *Source) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("oauth.Source(nil)")
	}
	return s.cfg.LogValue()
}

// MarshalJSON encodes the Source's Config.
func (s *Source) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	return s.cfg.MarshalJSON()
}
