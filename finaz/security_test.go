package finaz_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
)

// pathAttacks are values an attacker (or a webhook) may put in a path slot
// to walk out of the configured base path.
var pathAttacks = []string{
	"/../../admin/users",
	"%2F..%2F..%2Fadmin%2Fusers",
	"%2f%2e%2e%2f%2e%2e%2fadmin%2fusers",
	"../../admin/users",
	"..%2F..%2Fadmin%2Fusers",
	`\..\..\admin\users`,
	"..",
	".",
	"%2e%2e",
	"%252e%252e",
	".%2e",
	"..;",
	"..;/..;/admin/users",
	"/",
	"//admin",
	"/admin/users",
	"?x=1",
	"#frag",
}

// secretHeader is the credential the attacks try to carry to another path.
const secretHeader = "S3cr3t-h3ad3r"

// attackConfig puts ramal_operador at the very start of a relative URL
// (the shape of the reported bypass), identificador_chamada as a whole
// segment in transfer and download_recording, and a secret header on
// every request.
func attackConfig() finaz.Config {
	h := map[string]string{"X-Api-Key": "{{key}}"}
	return finaz.Config{
		Params:            map[string]finaz.Param{"key": {Value: secretHeader, Secret: true}},
		Click2Call:        &finaz.RequestTemplate{URL: "{{ramal_operador}}/dial", Headers: h},
		Transfer:          &finaz.RequestTemplate{URL: "/calls/{{identificador_chamada}}/transfer", Headers: h, Query: map[string]string{"to": "{{numero_destino}}"}},
		DownloadRecording: &finaz.RequestTemplate{URL: "recordings/{{identificador_chamada}}", Headers: h},
	}
}

// TestPathValuesNeverChangeThePath is the attack of issue 13 B2/B3: values
// that begin with "/" or "%2F" followed by "..", bare "..", encoded dots,
// backslashes and path parameters, in path slots at the start of a
// relative URL and as whole segments. Every request the fake PBX receives
// stays under the base path with the value inside its one segment, or the
// client refuses to send; the secret header never reaches another path.
func TestPathValuesNeverChangeThePath(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	c, err := finaz.NewClient(attackConfig(), callbridge.WithBaseURL(pbx.URL+"/base/"), callbridge.WithRetry(callbridge.RetryPolicy{}))
	require.NoError(t, err)
	ctx := context.Background()
	sent := 0
	for _, v := range pathAttacks {
		calls := []struct {
			name   string
			do     func() error
			prefix string // the path up to the value's segment
			suffix string // the path after it
		}{
			{"click2call", func() error {
				_, err := c.Call(ctx, callevent.CallRequest{From: v, To: "11987654321"})
				return err
			}, "/base/", "/dial"},
			{"transfer", func() error {
				return c.Transfer(ctx, callevent.TransferRequest{From: "1", CallID: v, To: "11987654321"})
			}, "/base/calls/", "/transfer"},
			{"download_recording", func() error {
				_, err := c.DownloadRecording(ctx, v, io.Discard)
				return err
			}, "/base/recordings/", ""},
		}
		for _, call := range calls {
			pbx.Reset()
			err := call.do()
			reqs := pbx.Requests()
			if len(reqs) == 0 {
				// Refused before sending: a FieldError naming the URL.
				var fe *finaz.FieldError
				require.ErrorAs(t, err, &fe, "%s %q", call.name, v)
				require.Equal(t, "url", fe.Field, "%s %q", call.name, v)
				require.NotContains(t, err.Error(), secretHeader)
				continue
			}
			sent++
			require.Len(t, reqs, 1, "%s %q", call.name, v)
			r := reqs[0]
			// The value is one escaped segment in its place: the raw path
			// is prefix + segment + suffix, the segment has no "/", and it
			// decodes to the value itself.
			require.True(t, strings.HasPrefix(r.RawPath, call.prefix) && strings.HasSuffix(r.RawPath, call.suffix),
				"%s %q reached %s", call.name, v, r.RawPath)
			seg := strings.TrimSuffix(strings.TrimPrefix(r.RawPath, call.prefix), call.suffix)
			require.NotContains(t, seg, "/", "%s %q", call.name, v)
			dec, err := url.PathUnescape(seg)
			require.NoError(t, err)
			require.Equal(t, v, dec, "%s: the value arrives unchanged", call.name)
			require.Empty(t, r.Query.Get("x"), "%s %q: no query injected", call.name, v)
		}
	}
	require.Positive(t, sent, "some values are sent, escaped")
}

// TestSecretHeaderStaysUnderBasePath runs every attack value against the
// fake PBX: every request that carries the secret header went to the
// configured base path, one segment in the template's place.
func TestSecretHeaderStaysUnderBasePath(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	c, err := finaz.NewClient(attackConfig(), callbridge.WithBaseURL(pbx.URL+"/base/"), callbridge.WithRetry(callbridge.RetryPolicy{}))
	require.NoError(t, err)
	for _, v := range pathAttacks {
		_, _ = c.Call(context.Background(), callevent.CallRequest{From: v, To: "11987654321"})
		_, _ = c.DownloadRecording(context.Background(), v, io.Discard)
	}
	reqs := pbx.Requests()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		require.Equal(t, secretHeader, r.Header.Get("X-Api-Key"))
		require.True(t, strings.HasPrefix(r.RawPath, "/base/"), "secret header sent to %s", r.RawPath)
		require.Equal(t, 3, strings.Count(r.RawPath, "/"), "secret header sent to %s", r.RawPath)
		require.NotEqual(t, "/admin/users", path.Clean(r.RawPath))
	}
}

// TestRenderRefusesDotSegments covers Render (the dry run) and every shape
// a dot segment can take once a server decodes the path.
func TestRenderRefusesDotSegments(t *testing.T) {
	t.Parallel()
	c, err := finaz.NewClient(attackConfig(), callbridge.WithBaseURL("https://pbx.example.com/base/"))
	require.NoError(t, err)
	for _, v := range pathAttacks {
		r, err := c.Render(finaz.OpDownloadRecording, map[string]string{"identificador_chamada": v})
		if err != nil {
			var fe *finaz.FieldError
			require.ErrorAs(t, err, &fe, "%q", v)
			require.Equal(t, "url", fe.Field)
			continue
		}
		u, err := url.Parse(r.URL)
		require.NoError(t, err)
		require.Equal(t, "pbx.example.com", u.Host)
		require.True(t, strings.HasPrefix(u.EscapedPath(), "/base/recordings/"), "%q rendered %s", v, r.URL)
		require.Equal(t, 3, strings.Count(u.EscapedPath(), "/"), "%q rendered %s", v, r.URL)
		require.Equal(t, "/base/recordings/"+v, u.Path)
	}
	for _, v := range []string{"..", ".", "../x", "x/..", "%2e%2E", "..\\x", "..;x", ""} {
		_, err := c.Render(finaz.OpDownloadRecording, map[string]string{"identificador_chamada": v})
		require.Error(t, err, "%q", v)
	}
	// Dots inside a segment are ordinary text.
	for _, v := range []string{"...", "a..b", "1.2", ".hidden", "x."} {
		r, err := c.Render(finaz.OpDownloadRecording, map[string]string{"identificador_chamada": v})
		require.NoError(t, err, "%q", v)
		require.Equal(t, "https://pbx.example.com/base/recordings/"+url.PathEscape(v), r.URL)
	}
}

// TestDotSegmentInTemplateRefused: a template whose literal path walks up
// is a configuration error.
func TestDotSegmentInTemplateRefused(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"../admin", "api/../../admin", "api/./x", "api/%2e%2e/x", "https://pbx.example.com/a/../b"} {
		cfg := finaz.Config{BaseURL: "https://pbx.example.com/base/", Click2Call: &finaz.RequestTemplate{URL: u}}
		err := cfg.Validate()
		var fe *finaz.FieldError
		require.ErrorAs(t, err, &fe, u)
		require.Equal(t, "url", fe.Field, u)
	}
	// Nor may the base URL walk up.
	cfg := finaz.Config{BaseURL: "https://pbx.example.com/a/../admin/", Click2Call: &finaz.RequestTemplate{URL: "dial"}}
	var fe *finaz.FieldError
	require.ErrorAs(t, cfg.Validate(), &fe)
	require.Equal(t, "base_url", fe.Field)
	cfg.BaseURL = ""
	_, err := finaz.NewClient(cfg, callbridge.WithBaseURL("https://pbx.example.com/a/%2e%2e/admin/"))
	require.ErrorContains(t, err, `must not have "." or ".." segments`)
}

// TestNewClientWithWrappedDefaultTransport: NewClient must not assume
// http.DefaultTransport is an *http.Transport (otelhttp wraps it). Not
// parallel: it replaces a global that other tests read.
func TestNewClientWithWrappedDefaultTransport(t *testing.T) {
	orig := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = orig })
	http.DefaultTransport = wrappedTransport{orig}
	require.NotPanics(t, func() {
		c, err := finaz.NewClient(click2callConfig("POST", false), callbridge.WithBaseURL("https://pbx.example.com/"))
		require.NoError(t, err)
		require.NotNil(t, c)
	})
}

type wrappedTransport struct{ rt http.RoundTripper }

func (w wrappedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return w.rt.RoundTrip(r)
}

// TestSecretsRedacted formats every type that holds a secret Param every
// way a program may print or log it; the secret appears nowhere, the
// non-secret values do.
func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	const secret = "pa55-w0rd-s3cr3t"
	cfg := click2callConfig("POST", false)
	cfg.BaseURL = "https://pbx.example.com/"
	cfg.SetSecret("key", secret)
	cfg.SetParam("login", "bob-login")
	c, err := finaz.NewClient(cfg)
	require.NoError(t, err)
	values := map[string]any{
		"Config": cfg, "*Config": &cfg, "Param": cfg.Params["key"], "Params": cfg.Params, "*Client": c,
		"struct": struct {
			Cfg    finaz.Config
			Client *finaz.Client
		}{cfg, c},
	}
	for name, v := range values {
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("m", "v", v)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "v", v)
		out = append(out, text.String(), js.String())
		b, err := json.Marshal(v)
		require.NoError(t, err, name)
		out = append(out, string(b))
		for i, s := range out {
			require.NotContains(t, s, secret, "%s, format %d", name, i)
			require.NotContains(t, s, hex.EncodeToString([]byte(secret)), "%s, format %d", name, i)
		}
		switch name {
		case "Config", "*Config", "struct":
			require.Contains(t, out[0], "bob-login", "%s: non-secret values are shown", name)
			require.Contains(t, js.String(), `"operations":["click2call","dialer_results"]`, "%s logs its LogValue", name)
			require.Contains(t, out[0], "pbx.example.com", name)
		case "*Client":
			require.Contains(t, out[0], "pbx.example.com", name)
		}
	}
	require.Contains(t, fmt.Sprint(cfg), "key: \"REDACTED\"")
	require.Contains(t, fmt.Sprint(c), "click2call")
}

// TestMarshalledConfigNeedsItsSecret: a Config marshalled to JSON loads
// again (templates intact) but carries "REDACTED", not the secret, and
// NewClient refuses it until the secret is set again.
func TestMarshalledConfigNeedsItsSecret(t *testing.T) {
	t.Parallel()
	cfg := click2callConfig("POST", false)
	cfg.BaseURL = "https://pbx.example.com/"
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	require.NotContains(t, string(b), "k-s3cret")
	back, err := finaz.LoadConfig(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, cfg.Click2Call, back.Click2Call)
	_, err = finaz.NewClient(back)
	require.ErrorContains(t, err, `params.key: holds "REDACTED" from a marshalled config`)
	back.SetSecret("key", "k-s3cret")
	_, err = finaz.NewClient(back)
	require.NoError(t, err)
}
