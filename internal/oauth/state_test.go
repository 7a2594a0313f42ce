package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewState(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, err := NewState()
		require.NoError(t, err)
		require.Len(t, s, 43, "32 bytes base64url without padding")
		require.NotContains(t, s, "=")
		require.Equal(t, -1, strings.IndexAny(s, "+/"), "base64url alphabet")
		require.False(t, seen[s], "state repeated")
		seen[s] = true
		require.NoError(t, CheckState(s, s))
	}
}

func TestCheckState(t *testing.T) {
	const kept = "kept-state-value-AAAA"
	for _, tc := range []struct{ name, want, got string }{
		{"both empty", "", ""},
		{"nothing kept", "", kept},
		{"nothing returned", kept, ""},
		{"different", kept, "forged-state-value-BB"},
		{"prefix", kept, kept[:5]},
		{"longer", kept, kept + "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckState(tc.want, tc.got)
			require.ErrorIs(t, err, ErrStateMismatch)
			if tc.want != "" {
				require.NotContains(t, err.Error(), tc.want)
			}
			if tc.got != "" {
				require.NotContains(t, err.Error(), tc.got)
			}
		})
	}
	require.NoError(t, CheckState(kept, kept))
}

func TestAuthCodeURL(t *testing.T) {
	params := url.Values{"client_id": {"id"}, "scope": {"all"}}
	_, err := AuthCodeURL("https://auth.example/oauth/authorize", params, "")
	require.ErrorIs(t, err, ErrEmptyState)

	_, err = AuthCodeURL("/relative", params, "st")
	require.Error(t, err)

	got, err := AuthCodeURL("https://auth.example/oauth/authorize?mode=popup", params, "st&=x")
	require.NoError(t, err)
	u, err := url.Parse(got)
	require.NoError(t, err)
	require.Equal(t, "auth.example", u.Host)
	require.Equal(t, "/oauth/authorize", u.Path)
	require.Equal(t, url.Values{"client_id": {"id"}, "scope": {"all"}, "mode": {"popup"}, "state": {"st&=x"}}, u.Query())
	require.Equal(t, url.Values{"client_id": {"id"}, "scope": {"all"}}, params, "params not modified")

	// A state in params cannot replace the required one.
	got, err = AuthCodeURL("https://auth.example/a", url.Values{"state": {"other"}}, "st")
	require.NoError(t, err)
	u, _ = url.Parse(got)
	require.Equal(t, "st", u.Query().Get("state"))
	require.False(t, errors.Is(err, ErrEmptyState))
}

// B5: Config and Source never show the client secret or a token.
func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	f := newFakeAuthServer(t)
	store := &memStore{}
	s := newSource(t, f, GrantAuthorizationCode, store)
	tok, err := s.Exchange(t.Context(), testCode)
	require.NoError(t, err)
	secrets := []string{testSecret, tok.AccessToken, tok.RefreshToken, testCode}
	cfg := s.cfg
	for name, v := range map[string]any{"Config": cfg, "*Config": &cfg, "*Source": s, "in a struct": struct{ C Config }{cfg}} {
		t.Run(name, func(t *testing.T) {
			var out []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
				out = append(out, fmt.Sprintf(verb, v))
			}
			var text, js bytes.Buffer
			slog.New(slog.NewTextHandler(&text, nil)).Info("x", "v", v)
			slog.New(slog.NewJSONHandler(&js, nil)).Info("x", "v", v)
			out = append(out, text.String(), js.String())
			if j, err := json.Marshal(v); err == nil {
				out = append(out, string(j))
			}
			all := strings.Join(out, "\n")
			for _, sec := range secrets {
				require.NotContains(t, all, sec)
			}
			require.Contains(t, all, testID, "the non-secret fields are shown")
		})
	}
	j, err := json.Marshal(cfg)
	require.NoError(t, err)
	require.JSONEq(t, `{"token_url":"`+cfg.TokenURL+`","client_id":"app-id","client_secret":"REDACTED","redirect_url":"`+cfg.RedirectURL+`","grant":"authorization_code"}`, string(j))
}
