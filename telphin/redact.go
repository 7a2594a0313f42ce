package telphin

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/callbridge/callbridge/internal/httpx"
)

// String shows the App ID; the App Secret is REDACTED.
func (c Credentials) String() string {
	return fmt.Sprintf("telphin.Credentials{ClientID: %q, ClientSecret: %s}", c.ClientID, httpx.RedactedIfSet(c.ClientSecret))
}

// GoString is String: %#v never shows the App Secret.
func (c Credentials) GoString() string { return c.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the App ID and REDACTED for the App Secret.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", c.ClientID), slog.String("client_secret", httpx.RedactedIfSet(c.ClientSecret)))
}

// MarshalJSON encodes the App ID and REDACTED for the App Secret, so
// credentials marshalled into a log line or a debug dump stay secret.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ClientID     string `json:"ClientID"`
		ClientSecret string `json:"ClientSecret,omitempty"`
	}{c.ClientID, httpx.RedactedIfSet(c.ClientSecret)})
}

// String describes the Client without its secrets or tokens.
func (c *Client) String() string {
	if c == nil {
		return "telphin.Client(nil)"
	}
	return fmt.Sprintf("telphin.Client{ClientID: %q, ClientSecret: %s, BaseURL: %q, Public: %t}",
		c.creds.ClientID, httpx.RedactedIfSet(c.creds.ClientSecret), c.base, c.redirect != "")
}

// GoString is String: %#v never shows secrets or tokens.
func (c *Client) GoString() string { return c.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the Client without its secrets or tokens.
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("telphin.Client(nil)")
	}
	return slog.GroupValue(slog.String("client_id", c.creds.ClientID),
		slog.String("client_secret", httpx.RedactedIfSet(c.creds.ClientSecret)), slog.String("base_url", c.base))
}

// MarshalJSON encodes what LogValue shows.
func (c *Client) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret,omitempty"`
		BaseURL      string `json:"base_url"`
	}{c.creds.ClientID, httpx.RedactedIfSet(c.creds.ClientSecret), c.base})
}
