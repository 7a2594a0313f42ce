package finaz_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
)

// noWait keeps the default retries but makes them instant. (A fresh option
// per client: callbridge.WithRetry's option writes to its captured policy
// when applied, so one value shared by parallel tests would race.)
func noWait() callbridge.ClientOption {
	return callbridge.WithRetry(callbridge.RetryPolicy{
		MaxRetries: callbridge.DefaultMaxRetries,
		Backoff:    func(int, *http.Response) time.Duration { return 0 },
	})
}

func newClient(t *testing.T, cfg finaz.Config, pbx *finaztest.Server, opts ...callbridge.ClientOption) *finaz.Client {
	t.Helper()
	opts = append([]callbridge.ClientOption{callbridge.WithBaseURL(pbx.URL), noWait()}, opts...)
	c, err := finaz.NewClient(cfg, opts...)
	require.NoError(t, err)
	return c
}

func loadTemplate(t *testing.T, name string) finaz.Config {
	t.Helper()
	cfg, err := finaz.LoadTemplate(name)
	require.NoError(t, err)
	return cfg
}

func TestTemplatesList(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"generic-rest", "vicidial"}, finaz.Templates())
	_, err := finaz.LoadTemplate("nope")
	require.ErrorContains(t, err, `no template "nope"`)
	_, err = finaz.LoadTemplate("vicidial", finaz.OpDialerResults)
	require.ErrorContains(t, err, "dialer_results: operation is required but not configured")
	f, err := finaz.TemplateFS().Open("templates/vicidial.json")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	// NewClient insists on credentials and a base URL.
	_, err = finaz.NewClient(loadTemplate(t, "generic-rest"))
	require.ErrorContains(t, err, "params.api_token: has no value")
	require.ErrorContains(t, err, "relative URL")
}

func TestGenericRESTTemplate(t *testing.T) {
	t.Parallel()
	const token = "tok-s3cr3t"
	cfg := loadTemplate(t, "generic-rest")
	cfg.SetParam("api_token", token) // keeps the template's secret flag
	cfg.DefaultQueue = "q7"
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Authorize(func(r finaztest.Request) bool { return r.Header.Get("Authorization") == "Bearer "+token })
	c := newClient(t, cfg, pbx)
	ctx := t.Context()

	// click2call
	pbx.Reply("POST", "/api/v1/calls", finaztest.Response{Status: 201, Body: `{"call":{"id":"c-42"}}`})
	ref, err := c.Call(ctx, callevent.CallRequest{From: "101", To: "(11) 98765-4321"})
	require.NoError(t, err)
	require.Equal(t, "c-42", ref.CallID)
	// group call: no extension, queue from the request
	ref, err = c.GroupCall(ctx, callevent.GroupCallRequest{Group: "vendas", To: "+55 21 3456-7890"})
	require.NoError(t, err)
	require.Equal(t, "c-42", ref.CallID)

	// transfer
	pbx.Reply("POST", "/api/v1/calls/c-42/transfer", finaztest.Response{Body: `{"ok":true}`})
	require.NoError(t, c.Transfer(ctx, callevent.TransferRequest{CallID: "c-42", From: "101", To: "0 11 3333-4444"}))

	// upload (CSV file, multipart)
	pbx.Reply("POST", "/api/v1/queues/q7/mailing", finaztest.Response{Body: `{}`})
	rep, err := c.UploadContacts(ctx, "q7", []finaz.Contact{
		{ID: "1", Name: `Ana "Aninha"; Souza`, CPF: "123.456.789-09", Phones: []string{"11987654321", "(21) 3456-7890"}},
		{ID: "2", Name: "José", Phones: []string{"+55 31 99999-0000"}},
	})
	require.NoError(t, err)
	require.Equal(t, &finaz.UploadReport{Total: 2, Uploaded: 2}, rep)

	// clear
	pbx.Reply("DELETE", "/api/v1/queues/q7/mailing", finaztest.Response{Status: 204})
	require.NoError(t, c.ClearDialer(ctx, "q7"))

	// results
	pbx.Reply("GET", "/api/v1/queues/q7/results", finaztest.Response{Body: `{"results":[
		{"contact_id":"1","ddd":"11","number":"987654321","called_at":"2026-11-21T10:00:00-03:00","status":"ANSWERED"},
		{"contact_id":"2","ddd":"31","number":"999990000","called_at":"2026-11-21T10:05:00-03:00","status":"busy"}]}`})
	res, err := c.DialerResults(ctx, "q7")
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]finaz.DialerResult{
		{ContactID: "1", Phone: "5511987654321", RawPhone: "11 987654321", At: time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC), Status: "ANSWERED", Disposition: finaz.DispositionAnswered},
		{ContactID: "2", Phone: "5531999990000", RawPhone: "31 999990000", At: time.Date(2026, 11, 21, 13, 5, 0, 0, time.UTC), Status: "busy", Disposition: finaz.DispositionBusy},
	}, res))

	// recording
	pbx.Reply("GET", "/api/v1/recordings/c-42", finaztest.Response{Header: http.Header{"Content-Type": {"audio/mpeg"}}, Body: "ID3-audio"})
	var buf bytes.Buffer
	n, err := c.DownloadRecording(ctx, "c-42", &buf)
	require.NoError(t, err)
	require.Equal(t, int64(9), n)
	require.Equal(t, "ID3-audio", buf.String())

	// exact request shapes
	reqs := pbx.Requests()
	require.Len(t, reqs, 7)
	for _, r := range reqs {
		require.Equal(t, "Bearer "+token, r.Header.Get("Authorization"))
	}
	type shape struct{ Method, Path, ContentType, Body string }
	got := func(r finaztest.Request) shape {
		return shape{r.Method, r.RawPath, r.Header.Get("Content-Type"), string(r.Body)}
	}
	require.Equal(t, shape{"POST", "/api/v1/calls", "application/json",
		`{"queue":"q7","extension":"101","to":{"ddd":"11","number":"987654321","e164":"+5511987654321"}}`}, got(reqs[0]))
	require.Equal(t, shape{"POST", "/api/v1/calls", "application/json",
		`{"queue":"vendas","to":{"ddd":"21","number":"34567890","e164":"+552134567890"}}`}, got(reqs[1]))
	require.Equal(t, shape{"POST", "/api/v1/calls/c-42/transfer", "application/json",
		`{"extension":"101","destination":"1133334444"}`}, got(reqs[2]))

	up := reqs[3]
	require.Equal(t, "/api/v1/queues/q7/mailing", up.Path)
	require.True(t, strings.HasPrefix(up.Header.Get("Content-Type"), "multipart/form-data; boundary="))
	require.Equal(t, url.Values{"queue": {"q7"}}, up.Form)
	require.Equal(t, finaztest.File{Name: "arqMailing.csv", ContentType: "text/csv; charset=utf-8", Data: []byte(
		"ID;CPF;NOME;DDD1Telefone1;DDD2Telefone2;DDD3Telefone3\n" +
			`1;12345678909;"Ana ""Aninha""; Souza";11987654321;2134567890;` + "\n" +
			"2;;José;31999990000;;\n")}, up.Files["file"])

	require.Equal(t, shape{"DELETE", "/api/v1/queues/q7/mailing", "", ""}, got(reqs[4]))
	require.Equal(t, shape{"GET", "/api/v1/queues/q7/results", "", ""}, got(reqs[5]))
	require.Equal(t, "application/json", reqs[5].Header.Get("Accept"))
	require.Equal(t, shape{"GET", "/api/v1/recordings/c-42", "", ""}, got(reqs[6]))
	require.Equal(t, "audio/*", reqs[6].Header.Get("Accept"))
}

func TestVICIdialTemplate(t *testing.T) {
	t.Parallel()
	const pass = "p@ss&word+1"
	cfg := loadTemplate(t, "vicidial")
	cfg.SetParam("user", "6666")
	cfg.SetParam("pass", pass)
	require.True(t, cfg.Params["pass"].Secret)
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	c := newClient(t, cfg, pbx)
	ctx := t.Context()

	pbx.Reply("GET", "/agc/api.php", finaztest.Response{Body: "SUCCESS: external_dial function set - 6666|11987654321|1001\n"})
	ref, err := c.Call(ctx, callevent.CallRequest{From: "1001", To: "+55 (11) 98765-4321"})
	require.NoError(t, err)
	require.Equal(t, callevent.CallRef{}, ref, "VICIdial returns no call id")
	require.NoError(t, c.Transfer(ctx, callevent.TransferRequest{From: "1001", To: "+1 212 555 0100"}))

	pbx.Reply("GET", "/vicidial/non_agent_api.php", finaztest.Response{Body: "SUCCESS: add_lead LEAD HAS BEEN ADDED - 5511987654321|6666|101|193716|-4\n"})
	rep, err := c.ReloadDialer(ctx, "101", []finaz.Contact{
		{ID: "crm-1", Name: "Ana & Bia", Phones: []string{"11 98765-4321", "21 3456-7890", "31 3222-1111"}},
	})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Uploaded)

	_, err = c.DialerResults(ctx, "101")
	require.ErrorIs(t, err, callevent.ErrUnsupported)
	_, err = c.DownloadRecording(ctx, "x", &bytes.Buffer{})
	require.ErrorIs(t, err, callevent.ErrUnsupported)

	reqs := pbx.Requests()
	require.Len(t, reqs, 4)
	auth := url.Values{"source": {"finaz"}, "user": {"6666"}, "pass": {pass}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range auth {
			v[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, r := range reqs {
		require.Equal(t, "GET", r.Method)
		require.Empty(t, r.Body)
	}
	require.Equal(t, "/agc/api.php", reqs[0].Path)
	require.Equal(t, with("agent_user", "1001", "function", "external_dial", "value", "11987654321",
		"phone_code", "55", "search", "YES", "preview", "NO", "focus", "YES"), reqs[0].Query)
	require.Equal(t, with("agent_user", "1001", "function", "transfer_conference", "value", "BLIND_TRANSFER",
		"phone_number", "12125550100"), reqs[1].Query)
	require.Equal(t, "/vicidial/non_agent_api.php", reqs[2].Path)
	require.Equal(t, with("function", "update_list", "list_id", "101", "delete_leads", "Y"), reqs[2].Query)
	require.Equal(t, with("function", "add_lead", "list_id", "101", "vendor_lead_code", "crm-1", "first_name", "Ana & Bia",
		"phone_code", "55", "phone_number", "11987654321", "alt_phone", "2134567890", "address3", "3132221111",
		"duplicate_check", "DUPLIST"), reqs[3].Query)

	// A VICIdial error reply (200 "ERROR: …") is an *APIError without the password.
	pbx.Reply("GET", "/agc/api.php", finaztest.Response{Body: "ERROR: external_dial agent_user is not logged in - 1001 " + pass + "\n"})
	_, err = c.Call(ctx, callevent.CallRequest{From: "1001", To: "11987654321"})
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 200, apiErr.StatusCode)
	require.Contains(t, apiErr.Message, "ERROR: external_dial agent_user is not logged in")
	require.NotContains(t, err.Error(), pass)
	require.NotContains(t, err.Error(), url.QueryEscape(pass))
	require.NotContains(t, apiErr.Message+string(apiErr.Body)+apiErr.URL, pass)
}

// TestCallQueuePerCall: the queue (identificador_fila) and the operator's
// extension (ramal_operador) are chosen per call; without a queue the
// configured default is used (seed 004).
func TestCallQueuePerCall(t *testing.T) {
	t.Parallel()
	cfg := loadTemplate(t, "generic-rest")
	cfg.SetParam("api_token", "tok")
	cfg.DefaultQueue = "q7"
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Reply("POST", "/api/v1/calls", finaztest.Response{Status: 201, Body: `{"call":{"id":"c-1"}}`})
	c := newClient(t, cfg, pbx)
	_, err := c.Call(t.Context(), callevent.CallRequest{From: "205", To: "(11) 98765-4321", Queue: "cobranca"})
	require.NoError(t, err)
	_, err = c.Call(t.Context(), callevent.CallRequest{From: "101", To: "(11) 98765-4321"})
	require.NoError(t, err)
	reqs := pbx.Requests()
	require.Len(t, reqs, 2)
	require.JSONEq(t, `{"queue":"cobranca","extension":"205","to":{"ddd":"11","number":"987654321","e164":"+5511987654321"}}`, string(reqs[0].Body))
	require.JSONEq(t, `{"queue":"q7","extension":"101","to":{"ddd":"11","number":"987654321","e164":"+5511987654321"}}`, string(reqs[1].Body))
}
