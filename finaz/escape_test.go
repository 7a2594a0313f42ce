package finaz_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"html"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/finaz"
)

// hostile values every slot must carry unchanged.
var hostile = []string{
	`plain`,
	`quote"inside`,
	`back\slash`,
	"line\nbreak\r\n",
	"+5511987654321",
	"a&b=c&token=x",
	"ünïcødé ☎ 電話",
	"semi;colon,comma",
	"../..",
	"..",
	"%2F%41",
	"path/with/slashes?q=1#frag",
	"<script>alert('x')</script>",
	"tab\tand\x01control",
	"\u2028\u2029",
	"{{ramal_operador}}",
	"",
}

// escapeConfig puts the variable ramal_operador in every slot of
// click2call, nome_cliente in a CSV cell and identificador_fila in XML text.
const escapeConfig = `{
  "base_url": "https://pbx.example.com/base/",
  "params": {"key": {"value": "k-secret", "secret": true}},
  "click2call": {
    "method": "POST",
    "url": "api/x{{ramal_operador}}y/dial",
    "query": {"ext": "{{ramal_operador}}", "key": "{{key}}"},
    "body": {"type": "json", "json": {"ext": "{{ramal_operador}}", "pre": "A-{{ramal_operador}}-Z", "list": ["{{ramal_operador}}"]}}
  },
  "transfer": {
    "url": "api/transfer",
    "body": {"type": "form", "form": {"ext": "{{ramal_operador}}", "dest": "{{numero_destino}}"}}
  },
  "clear_dialer": {
    "method": "PUT",
    "url": "api/clear",
    "headers": {"X-Queue": "{{identificador_fila}}"},
    "body": {"type": "text", "escape": "xml", "text": "<clear queue=\"{{identificador_fila}}\">{{identificador_fila}}</clear>"}
  },
  "upload_contacts": {
    "url": "api/upload",
    "body": {"type": "csv"},
    "csv": {"separator": ";", "columns": ["{{identificador_contato_crm}}", "{{nome_cliente}}", "x{{nome_cliente}}y"]}
  }
}`

func escapeClient(t *testing.T) *finaz.Client {
	t.Helper()
	cfg, err := finaz.LoadConfig(strings.NewReader(escapeConfig))
	require.NoError(t, err)
	c, err := finaz.NewClient(cfg)
	require.NoError(t, err)
	return c
}

func TestEscapingPerSlot(t *testing.T) {
	t.Parallel()
	c := escapeClient(t)
	for _, v := range hostile {
		t.Run("", func(t *testing.T) {
			// path segment, query value, JSON strings
			r, err := c.Render(finaz.OpClick2Call, map[string]string{"ramal_operador": v})
			require.NoError(t, err, "%q", v)
			u, err := url.Parse(r.URL)
			require.NoError(t, err)
			require.Equal(t, "pbx.example.com", u.Host)
			require.Equal(t, "/base/api/x"+v+"y/dial", u.Path, "path for %q", v)
			require.Equal(t, 4, strings.Count(u.EscapedPath(), "/"), "no extra segment for %q", v)
			require.Equal(t, []string{v}, u.Query()["ext"], "query for %q", v)
			require.Equal(t, []string{"REDACTED"}, u.Query()["key"], "secret redacted in dry run")
			var body struct {
				Ext, Pre string
				List     []string
			}
			require.True(t, json.Valid(r.Body), "%s", r.Body)
			require.NoError(t, json.Unmarshal(r.Body, &body))
			want := strings.ToValidUTF8(v, "\ufffd")
			require.Equal(t, want, body.Ext)
			require.Equal(t, "A-"+want+"-Z", body.Pre)
			require.Equal(t, []string{want}, body.List)
			require.Equal(t, "application/json", r.Header.Get("Content-Type"))

			// form value
			r, err = c.Render(finaz.OpTransfer, map[string]string{"ramal_operador": v, "numero_destino": "11987654321"})
			require.NoError(t, err)
			f, err := url.ParseQuery(string(r.Body))
			require.NoError(t, err)
			require.Equal(t, url.Values{"ext": {v}, "dest": {"11987654321"}}, f)

			// CSV cells
			r, err = c.Render(finaz.OpUploadContacts, map[string]string{"identificador_contato_crm": "id1", "nome_cliente": v})
			require.NoError(t, err)
			cr := csv.NewReader(bytes.NewReader(r.Body))
			cr.Comma = ';'
			recs, err := cr.ReadAll()
			require.NoError(t, err)
			cell := strings.ReplaceAll(v, "\r\n", "\n") // CSV normalises line ends inside quotes
			require.Equal(t, [][]string{{"id1", cell, "x" + cell + "y"}}, recs)
		})
	}
}

func TestEscapingXMLTextAndHeader(t *testing.T) {
	t.Parallel()
	c := escapeClient(t)
	for _, v := range hostile {
		r, err := c.Render(finaz.OpClearDialer, map[string]string{"identificador_fila": v})
		if strings.ContainsAny(v, "\r\n") {
			// A header cannot carry a line break: an error, not an injection.
			var fe *finaz.FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, finaz.OpClearDialer, fe.Op)
			require.Equal(t, "headers.X-Queue", fe.Field)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, v, r.Header.Get("X-Queue"))
		body := string(r.Body)
		require.True(t, strings.HasPrefix(body, `<clear queue="`))
		inner := strings.TrimSuffix(strings.TrimPrefix(body, `<clear queue="`), `</clear>`)
		attr, text, ok := strings.Cut(inner, `">`)
		require.True(t, ok, body)
		require.Equal(t, v, html.UnescapeString(attr))
		require.Equal(t, v, html.UnescapeString(text))
		require.NotContains(t, attr, `"`)
		require.NotContains(t, text, "<")
	}
}

func TestJSONModifiers(t *testing.T) {
	t.Parallel()
	cfg, err := finaz.LoadConfig(strings.NewReader(`{
	  "base_url": "https://pbx.example.com/",
	  "click2call": {"url": "dial", "body": {"type": "json", "json": {
	    "queue": "{{identificador_fila|number}}", "ddd": "{{ddd|number}}",
	    "ext": "{{ramal_operador|omitempty}}", "phones": ["{{telefone}}", "{{numero|omitempty}}"],
	    "static": {"n": 1.5, "b": true, "z": null, "s": "x\"y"}}}}
	}`))
	require.NoError(t, err)
	c, err := finaz.NewClient(cfg)
	require.NoError(t, err)
	tests := []struct {
		vars    map[string]string
		want    string
		wantErr string
	}{
		{map[string]string{"identificador_fila": "12", "ddd": "11", "ramal_operador": "101", "telefone": "5511987654321", "numero": "987654321"},
			`{"queue":12,"ddd":11,"ext":"101","phones":["5511987654321","987654321"],"static":{"n":1.5,"b":true,"z":null,"s":"x\"y"}}`, ""},
		{map[string]string{"identificador_fila": "", "ddd": "11", "telefone": "5511987654321", "numero": ""},
			`{"queue":null,"ddd":11,"phones":["5511987654321"],"static":{"n":1.5,"b":true,"z":null,"s":"x\"y"}}`, ""},
		{map[string]string{"identificador_fila": "12,3", "ddd": "11", "telefone": "1"},
			"", `finaz: click2call: body.json.queue: value of identificador_fila is not a number`},
		{map[string]string{"identificador_fila": "1", "telefone": "1"},
			"", `finaz: click2call: body.json.ddd: variable "ddd" has no value`},
	}
	for _, tt := range tests {
		r, err := c.Render(finaz.OpClick2Call, tt.vars)
		if tt.wantErr != "" {
			require.EqualError(t, err, tt.wantErr)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, string(r.Body))
	}
}
