package finaz_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
)

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	const base = `"base_url": "https://pbx.example.com/", `
	tests := []struct {
		name, json string
		required   []finaz.Operation
		want       []string // substrings of the error
	}{
		{"not json", `{`, nil, []string{"finaz: config:"}},
		{"unknown field", `{"click2cal": {}}`, nil, []string{`unknown field "click2cal"`}},
		{"unknown template field", `{"click2call": {"url": "x", "bdy": {}}}`, nil, []string{`unknown field "bdy"`}},
		{"trailing data", `{"click2call": {"url": "https://x/"}} {}`, nil, []string{"trailing data"}},
		{"nothing configured", `{}`, nil, []string{"no operation is configured"}},
		{"required op missing", `{"click2call": {"url": "https://x/"}}`, []finaz.Operation{finaz.OpTransfer, finaz.OpUploadContacts},
			[]string{"finaz: transfer: operation is required but not configured", "finaz: upload_contacts: operation is required"}},
		{"unknown required op", `{"click2call": {"url": "https://x/"}}`, []finaz.Operation{"hangup"}, []string{"hangup: unknown operation"}},
		{"url required", `{"click2call": {}}`, nil, []string{"finaz: click2call: url: url is required"}},
		{"unknown variable in url", `{"click2call": {"url": "https://x/{{cpf}}"}}`, nil,
			[]string{`finaz: click2call: url: unknown variable "cpf" for click2call (available: ddd, identificador_fila, numero, ramal_operador, telefone)`}},
		{"unknown variable in query", `{"transfer": {"url": "https://x/", "query": {"n": "{{numero}}"}}}`, nil,
			[]string{`finaz: transfer: query.n: unknown variable "numero"`}},
		{"unknown variable in header", `{"download_recording": {"url": "https://x/", "headers": {"X-Q": "{{identificador_fila}}"}}}`, nil,
			[]string{`finaz: download_recording: headers.X-Q: unknown variable "identificador_fila"`}},
		{"unknown variable in json", `{"clear_dialer": {"url": "https://x/", "body": {"type": "json", "json": {"a": [{"b": "{{ddd1}}"}]}}}}`, nil,
			[]string{`finaz: clear_dialer: body.json.a[0].b: unknown variable "ddd1"`}},
		{"contact variable outside csv columns", `{` + base + `"upload_contacts": {"url": "u/{{cpf}}", "body": {"type": "csv"}, "csv": {"columns": ["{{cpf}}"]}}}`, nil,
			[]string{`finaz: upload_contacts: url: unknown variable "cpf"`}},
		{"placeholder in host", `{"click2call": {"url": "https://{{ramal_operador}}.pbx/"}}`, nil, []string{"click2call: url: placeholders are not allowed in the scheme or host"}},
		{"placeholder in url query", `{` + base + `"click2call": {"url": "dial?x={{ddd}}"}}`, nil, []string{`click2call: url: placeholders are not allowed in the URL's query: use "query"`}},
		{"relative url without base is fine at load", `{"click2call": {"url": "dial"}}`, nil, nil},
		{"unterminated", `{"click2call": {"url": "https://x/", "query": {"a": "{{ddd"}}}`, nil, []string{`click2call: query.a: unterminated "{{"`}},
		{"bad name", `{"click2call": {"url": "https://x/", "query": {"a": "{{d-d}}"}}}`, nil, []string{"click2call: query.a: bad placeholder {{d-d}}"}},
		{"unknown modifier", `{"click2call": {"url": "https://x/", "body": {"type": "json", "json": {"a": "{{ddd|upper}}"}}}}`, nil,
			[]string{`click2call: body.json.a: unknown modifier "upper"`}},
		{"modifier outside json", `{"click2call": {"url": "https://x/", "query": {"a": "{{ddd|number}}"}}}`, nil,
			[]string{"click2call: query.a: modifiers (|number, |omitempty) are only allowed in JSON bodies"}},
		{"number slot with text", `{` + base + `"upload_contacts": {"url": "u", "body": {"type": "json", "json": {"n": "{{nome_cliente|number}}"}}}}`, nil,
			[]string{`upload_contacts: body.json.n: variable "nome_cliente" is free text and cannot fill a JSON number`}},
		{"number slot not whole string", `{"click2call": {"url": "https://x/", "body": {"type": "json", "json": {"n": "0{{ddd|number}}"}}}}`, nil,
			[]string{"click2call: body.json.n: a |number or |omitempty placeholder must be the whole JSON string"}},
		{"secret number", `{"params": {"k": {"value": "1", "secret": true}}, "click2call": {"url": "https://x/", "body": {"type": "json", "json": {"n": "{{k|number}}"}}}}`, nil,
			[]string{`click2call: body.json.n: secret parameter "k" cannot fill a JSON number`}},
		{"unescaped text body", `{"click2call": {"url": "https://x/", "body": {"type": "text", "text": "ext={{ramal_operador}}"}}}`, nil,
			[]string{`click2call: body.text: variable "ramal_operador" may contain any text: set body.escape to "xml"`}},
		{"unknown body type", `{"click2call": {"url": "https://x/", "body": {"type": "xml"}}}`, nil, []string{`click2call: body.type: unknown body type "xml"`}},
		{"json body without json", `{"click2call": {"url": "https://x/", "body": {"type": "json"}}}`, nil, []string{"click2call: body.json: a json body needs a json template"}},
		{"bad json template", `{"click2call": {"url": "https://x/", "body": {"type": "json", "json": [1,]}}}`, nil, []string{"finaz: config:"}},
		{"field of another body type", `{"click2call": {"url": "https://x/", "body": {"type": "form", "form": {"a": "b"}, "text": "x"}}}`, nil,
			[]string{`click2call: body.text: not used by a "form" body`}},
		{"csv body outside csv mode", `{"click2call": {"url": "https://x/", "body": {"type": "csv"}}}`, nil,
			[]string{"click2call: body.type: a csv body needs upload_contacts with a csv spec"}},
		{"csv spec on other op", `{"click2call": {"url": "https://x/", "csv": {"columns": ["a"]}}}`, nil, []string{"click2call: csv: only upload_contacts has a CSV mode"}},
		{"csv mode needs file body", `{"upload_contacts": {"url": "https://x/", "body": {"type": "json", "json": {}}, "csv": {"columns": ["{{cpf}}"]}}}`, nil,
			[]string{`upload_contacts: body.type: CSV mode needs a body of type "csv" or "multipart"`}},
		{"csv columns", `{"upload_contacts": {"url": "https://x/", "body": {"type": "csv"}, "csv": {"separator": "ab", "header": ["A"], "columns": ["{{nope}}", "{{cpf}}"]}}}`, nil,
			[]string{"upload_contacts: csv.separator:", "upload_contacts: csv.header: 1 header names for 2 columns", `upload_contacts: csv.columns[0]: unknown variable "nope"`}},
		{"invalid header name", `{"click2call": {"url": "https://x/", "headers": {"Bad Header": "x"}}}`, nil, []string{"click2call: headers.Bad Header: invalid header name"}},
		{"invalid method", `{"click2call": {"url": "https://x/", "method": "PO ST"}}`, nil, []string{`click2call: method: invalid method "PO ST"`}},
		{"non-2xx success status", `{"click2call": {"url": "https://x/", "response": {"success_status": [200, 302]}}}`, nil,
			[]string{"click2call: response.success_status: 302 is not a 2xx status"}},
		{"call id on transfer", `{"transfer": {"url": "https://x/", "response": {"call_id_field": "id"}}}`, nil, []string{"transfer: response: only click2call returns a call id"}},
		{"bad regex", `{"click2call": {"url": "https://x/", "response": {"success_regex": "("}}}`, nil, []string{"click2call: response.success_regex:"}},
		{"results required", `{"dialer_results": {"url": "https://x/"}}`, nil, []string{"dialer_results: results: dialer_results needs a results spec"}},
		{"results spec", `{"dialer_results": {"url": "https://x/", "results": {"format": "xml", "fields": {"phone": "p", "ddd": "d"}, "time_zone": "Mars/Base", "statuses": {"X": "exploded"}}}}`, nil,
			[]string{`results.format: format must be "csv" or "json"`, "results.fields.contact_id: required", "results.fields.status: required",
				"results.fields: set phone or ddd and number, not both", `results.time_zone: unknown time zone "Mars/Base"`, `results.statuses.X: unknown disposition "exploded"`}},
		{"csv results without header need numbers", `{"dialer_results": {"url": "https://x/", "results": {"format": "csv", "fields": {"contact_id": "id", "phone": "1", "status": "2"}}}}`, nil,
			[]string{`results.fields.contact_id: without a header a field is a column number, not "id"`}},
		{"results on other op", `{"click2call": {"url": "https://x/", "results": {"format": "json"}}}`, nil, []string{"click2call: results: only dialer_results has a results spec"}},
		{"param named like a system variable", `{"params": {"ddd": "11"}, "click2call": {"url": "https://x/"}}`, nil, []string{`params.ddd: "ddd" is a system variable name`}},
		{"bad country", `{"default_country": "XX", "click2call": {"url": "https://x/"}}`, nil, []string{`default_country: unsupported country "XX"`}},
		{"bad concurrency", `{"upload_concurrency": 1000, "click2call": {"url": "https://x/"}}`, nil, []string{"upload_concurrency: 1000 is outside 1..64"}},
		{"bad base url", `{"base_url": "ftp://x", "click2call": {"url": "https://x/"}}`, nil, []string{`base_url: "ftp://x" is not an absolute http(s) URL`}},
		{"recording judged by status only", `{"download_recording": {"url": "https://x/", "response": {"success_regex": "x"}}}`, nil,
			[]string{"download_recording: response: download_recording judges success by status only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := finaz.LoadConfig(strings.NewReader(tt.json), tt.required...)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestConfigErrorsAreFieldErrors(t *testing.T) {
	t.Parallel()
	_, err := finaz.LoadConfig(strings.NewReader(`{"click2call": {"url": "https://x/{{a}}", "query": {"q": "{{b}}"}}}`))
	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	var got []finaz.FieldError
	for _, e := range joined.Unwrap() {
		var fe *finaz.FieldError
		require.ErrorAs(t, e, &fe)
		got = append(got, finaz.FieldError{Op: fe.Op, Field: fe.Field})
	}
	require.Equal(t, []finaz.FieldError{{Op: finaz.OpClick2Call, Field: "url"}, {Op: finaz.OpClick2Call, Field: "query.q"}}, got)
}

func TestConfigInGo(t *testing.T) {
	t.Parallel()
	cfg := finaz.Config{
		BaseURL: "https://pbx.example.com/",
		Click2Call: &finaz.RequestTemplate{
			Method: "post",
			URL:    "dial/{{ramal_operador}}",
			Query:  map[string]string{"to": "{{ddd}}{{numero}}", "key": "{{api_key}}"},
		},
	}
	_, err := finaz.NewClient(cfg)
	require.ErrorContains(t, err, `unknown variable "api_key"`)
	cfg.SetSecret("api_key", "s3cret")
	c, err := finaz.NewClient(cfg)
	require.NoError(t, err)
	r, err := c.Render(finaz.OpClick2Call, map[string]string{"ramal_operador": "101", "ddd": "11", "numero": "987654321"})
	require.NoError(t, err)
	require.Equal(t, "POST", r.Method)
	require.Equal(t, "https://pbx.example.com/dial/101?key=REDACTED&to=11987654321", r.URL)
	_, err = c.Render(finaz.OpClick2Call, map[string]string{"ramal_operador": "101"})
	require.EqualError(t, err, `finaz: click2call: query.to: variable "ddd" has no value`)
	_, err = c.Render(finaz.OpTransfer, nil)
	require.ErrorContains(t, err, "transfer is not configured")
	require.True(t, c.Configured(finaz.OpClick2Call))
	require.False(t, c.Configured(finaz.OpTransfer))

	var p finaz.Param
	require.NoError(t, p.UnmarshalJSON([]byte(`"plain"`)))
	require.Equal(t, finaz.Param{Value: "plain"}, p)
	require.Error(t, p.UnmarshalJSON([]byte(`{"value": "x", "secrett": true}`)))
}

// Render's URL is byte for byte the one sent: static and template query
// merged and encoded once, path escapes kept.
func TestRenderURLIsSent(t *testing.T) {
	t.Parallel()
	var sent atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent.Store(r.RequestURI) }))
	t.Cleanup(srv.Close)
	for _, tmpl := range []finaz.RequestTemplate{
		{URL: "dial/{{ramal_operador}}?z=1&a=%7e&k", Query: map[string]string{"to": "{{ddd}}{{numero}}", "A": "é ~!*'()", "z": "{{ramal_operador}}"}},
		{URL: "a%2Fb/{{ramal_operador}}?z=1&a=%7e"},
		{URL: "/a;b/x,y/{{ramal_operador}}", Query: map[string]string{"ext": "{{ramal_operador}}"}},
	} {
		c, err := finaz.NewClient(finaz.Config{Click2Call: &tmpl}, callbridge.WithBaseURL(srv.URL+"/base/"))
		require.NoError(t, err)
		r, err := c.Render(finaz.OpClick2Call, map[string]string{"ramal_operador": "1 0/1~é+%", "ddd": "11", "numero": "987654321", "telefone": "5511987654321"})
		require.NoError(t, err)
		_, err = c.Call(t.Context(), callevent.CallRequest{From: "1 0/1~é+%", To: "11987654321"})
		require.NoError(t, err)
		require.Equal(t, srv.URL+sent.Load().(string), r.URL, tmpl.URL)
	}
}
