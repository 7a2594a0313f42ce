package telphin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
	"github.com/callbridge/callbridge/webhook"
)

// Every type holding the App Secret or tokens redacts itself in every
// printed form: fmt verbs, slog (text and JSON), encoding/json, also when
// nested in another value.
func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	const secret = "app-secret-0c5e41f3d7"
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	srv.ClientSecret = secret
	creds := telphin.Credentials{ClientID: srv.ClientID, ClientSecret: secret}
	c, err := telphin.NewClient(creds, callbridge.WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = c.User(t.Context()) // the Client now holds an access token too
	require.NoError(t, err)
	var token string
	for _, r := range srv.Requests() {
		if h := r.Header.Get("Authorization"); h != "" {
			token = h[len("Bearer "):]
		}
	}
	require.NotEmpty(t, token)
	hook, err := telphin.NewHandler(&recorder{}, webhook.WithToken("hook-token-9b1f2e"))
	require.NoError(t, err)

	values := map[string]any{
		"Credentials":  creds,
		"*Credentials": &creds,
		"*Client":      c,
		"*Server":      srv,
		"nested": struct {
			Creds  telphin.Credentials
			Client *telphin.Client
		}{creds, c},
		"handler": hook,
	}
	for name, v := range values {
		var forms []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			forms = append(forms, fmt.Sprintf(verb, v))
		}
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("x", "v", v)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("x", "v", v)
		forms = append(forms, text.String(), js.String())
		if b, err := json.Marshal(v); err == nil {
			forms = append(forms, string(b))
		}
		for _, f := range forms {
			for _, s := range []string{secret, token, "hook-token-9b1f2e"} {
				require.NotContains(t, f, s, "%s printed a secret: %s", name, f)
			}
		}
	}
	// What is shown is useful: the App ID and that a secret is set.
	require.Contains(t, fmt.Sprintf("%+v", creds), srv.ClientID)
	require.Contains(t, fmt.Sprintf("%+v", creds), "REDACTED")
	require.Contains(t, fmt.Sprint(c), srv.URL)
	for _, v := range []any{creds, c, srv} { // structured in logs, not one string
		var text bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("x", "v", v)
		require.Contains(t, text.String(), "v.client_id="+srv.ClientID)
		require.Contains(t, text.String(), "v.client_secret=REDACTED")
	}
}
