package finaz_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
)

func click2callConfig(method string, idempotent bool) finaz.Config {
	return finaz.Config{
		Params: map[string]finaz.Param{"key": {Value: "k-s3cret", Secret: true}},
		Click2Call: &finaz.RequestTemplate{
			Method:     method,
			URL:        "dial",
			Query:      map[string]string{"ext": "{{ramal_operador}}", "to": "{{ddd}}{{numero}}", "key": "{{key}}"},
			Idempotent: idempotent,
			Response:   &finaz.ResponseSpec{CallIDRegex: `call=(\w+)`},
		},
		DialerResults: &finaz.RequestTemplate{
			URL:     "results",
			Results: &finaz.ResultsSpec{Format: "csv", Fields: finaz.ResultFields{ContactID: "0", Phone: "1", Status: "2"}},
		},
	}
}

func TestClick2CallRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		idempotent bool
		fail       int
		wantReqs   int
		wantOK     bool
	}{
		// One click, at most one call: a 5xx may come after the PBX dialled.
		{"POST 503 not retried", "POST", false, 503, 1, false},
		{"POST 502 not retried", "POST", false, 502, 1, false},
		{"GET 503 not retried either", "GET", false, 503, 1, false},
		{"GET 504 not retried either", "GET", false, 504, 1, false},
		// 429 means the PBX refused the request: safe to retry, whatever the method.
		{"POST 429 retried", "POST", false, 429, 2, true},
		{"GET 429 retried", "GET", false, 429, 2, true},
		// Only a template declared idempotent is retried after a 5xx.
		{"idempotent POST 503 retried", "POST", true, 503, 2, true},
		{"idempotent GET 503 retried", "GET", true, 503, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pbx := finaztest.NewServer()
			t.Cleanup(pbx.Close)
			pbx.Reply(tt.method, "/dial", finaztest.Response{Body: "ok call=abc"})
			pbx.Fail(finaztest.Failure{Status: tt.fail})
			c := newClient(t, click2callConfig(tt.method, tt.idempotent), pbx)
			ref, err := c.Call(t.Context(), callevent.CallRequest{From: "101", To: "11987654321"})
			require.Len(t, pbx.Requests(), tt.wantReqs)
			for _, r := range pbx.Requests() {
				require.Equal(t, tt.method, r.Method, "the template's method is used")
			}
			if !tt.wantOK {
				var apiErr *callbridge.APIError
				require.ErrorAs(t, err, &apiErr)
				require.Equal(t, tt.fail, apiErr.StatusCode)
				require.False(t, apiErr.Retryable(), "not safe to send again")
				require.NotContains(t, err.Error(), "k-s3cret")
				return
			}
			require.NoError(t, err)
			require.Equal(t, "abc", ref.CallID)
		})
	}
}

// A connection refused before anything was sent is retried, even for a
// click2call sent as GET.
func TestClick2CallConnectionRefusedRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c, err := finaz.NewClient(click2callConfig("GET", false), callbridge.WithBaseURL("http://"+addr+"/"), noWait())
	require.NoError(t, err)
	_, err = c.Call(t.Context(), callevent.CallRequest{From: "101", To: "11987654321"})
	var re *callbridge.RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 4, re.Attempts, "1 attempt + 3 retries")
}

func TestReadsAreRetried(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Reply("GET", "/results", finaztest.Response{Body: "c1;11987654321;ANSWER\n"})
	pbx.Fail(finaztest.Failure{Status: 503, Times: 2})
	c := newClient(t, click2callConfig("POST", false), pbx)
	res, err := c.DialerResults(t.Context(), "q")
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Len(t, pbx.Requests(), 3)

	// A RetryPolicy with MaxRetries 0 disables retries.
	pbx.Reset()
	pbx.Fail(finaztest.Failure{Status: 503})
	c = newClient(t, click2callConfig("POST", false), pbx, callbridge.WithRetry(callbridge.RetryPolicy{}))
	_, err = c.DialerResults(t.Context(), "q")
	require.Error(t, err)
	require.Len(t, pbx.Requests(), 1)
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Reply("POST", "/dial", finaztest.Response{Body: "ok"})
	c := newClient(t, click2callConfig("POST", false), pbx)
	ctx := t.Context()

	for _, to := range []string{"", "anonymous", "101", "abc", "+55 11 1234"} {
		_, err := c.Call(ctx, callevent.CallRequest{From: "101", To: to})
		require.ErrorIs(t, err, finaz.ErrInvalidPhone, "%q", to)
	}
	// A foreign number has no DDD: the template needs one, so it fails.
	_, err := c.Call(ctx, callevent.CallRequest{From: "101", To: "+7 916 123-45-67"})
	require.EqualError(t, err, `finaz: click2call: query.to: variable "ddd" has no value`)
	// No From: ramal_operador has no value.
	_, err = c.Call(ctx, callevent.CallRequest{To: "11987654321"})
	require.EqualError(t, err, `finaz: click2call: query.ext: variable "ramal_operador" has no value`)
	require.Empty(t, pbx.Requests(), "nothing is sent for invalid input")

	// No call id in the answer is not an error (the call may be up).
	ref, err := c.Call(ctx, callevent.CallRequest{From: "101", To: "11987654321"})
	require.NoError(t, err)
	require.Empty(t, ref.CallID)

	// Operations without a template.
	err = c.Transfer(ctx, callevent.TransferRequest{To: "11987654321"})
	require.ErrorIs(t, err, callevent.ErrUnsupported)
	err = c.Transfer(ctx, callevent.TransferRequest{To: "11987654321", Attended: true})
	require.ErrorIs(t, err, callevent.ErrUnsupported)
	require.ErrorIs(t, c.ClearDialer(ctx, "q"), callevent.ErrUnsupported)

	// Canceled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Call(cctx, callevent.CallRequest{From: "101", To: "11987654321"})
	require.ErrorIs(t, err, context.Canceled)
}

func TestJudgedResponses(t *testing.T) {
	t.Parallel()
	cfg := finaz.Config{
		Params: map[string]finaz.Param{"token": {Value: "tk-9", Secret: true}},
		Click2Call: &finaz.RequestTemplate{
			Method: "POST", URL: "calls",
			Headers: map[string]string{"X-Token": "{{token}}"},
			Body:    &finaz.Body{Type: "json", JSON: []byte(`{"to": "{{telefone}}"}`)},
			Response: &finaz.ResponseSpec{
				SuccessStatus: []int{201}, SuccessField: "result.ok", SuccessValues: []string{"true", "yes"},
				MessageField: "result.msg", CallIDField: "result.call.0",
			},
		},
		DownloadRecording: &finaz.RequestTemplate{URL: "rec/{{identificador_chamada}}", Response: &finaz.ResponseSpec{SuccessStatus: []int{200}}},
	}
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	c := newClient(t, cfg, pbx)
	tests := []struct {
		resp    finaztest.Response
		wantID  string
		wantErr string
	}{
		{finaztest.Response{Status: 201, Body: `{"result":{"ok":true,"call":["id-1"]}}`}, "id-1", ""},
		{finaztest.Response{Status: 201, Body: `{"result":{"ok":"yes","call":[7]}}`}, "7", ""},
		{finaztest.Response{Status: 200, Body: `{"result":{"ok":true}}`}, "", "status 200 is not one of [201]"},
		{finaztest.Response{Status: 201, Body: `{"result":{"ok":false,"msg":"ramal offline"}}`}, "", ": 201: ramal offline"},
		{finaztest.Response{Status: 201, Body: `not json`}, "", `result.ok is ""`},
		{finaztest.Response{Status: 500, Body: `{"error":"boom tk-9"}`}, "", "500"},
	}
	for _, tt := range tests {
		pbx.Reply("POST", "/calls", tt.resp)
		ref, err := c.Call(t.Context(), callevent.CallRequest{To: "11987654321"})
		if tt.wantErr == "" {
			require.NoError(t, err)
			require.Equal(t, tt.wantID, ref.CallID)
			continue
		}
		var apiErr *callbridge.APIError
		require.ErrorAs(t, err, &apiErr)
		require.ErrorContains(t, err, tt.wantErr)
		require.NotContains(t, err.Error()+string(apiErr.Body), "tk-9")
	}

	pbx.Reply("GET", "/rec/a b", finaztest.Response{Status: 206, Body: "partial"})
	var buf bytes.Buffer
	_, err := c.DownloadRecording(t.Context(), "a b", &buf)
	require.ErrorContains(t, err, "status 206 is not one of [200]")
	require.Zero(t, buf.Len())
	pbx.Reply("GET", "/rec/a b", finaztest.Response{Status: 404})
	_, err = c.DownloadRecording(t.Context(), "a b", &buf)
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 404, apiErr.StatusCode)
	require.Equal(t, "/rec/a%20b", pbx.Requests()[len(pbx.Requests())-1].RawPath)
}

func TestSlowPBXAndRateLimit(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	arrived := make(chan struct{}, 4)
	pbx.Handle("POST", "/dial", func(finaztest.Request) finaztest.Response {
		arrived <- struct{}{}
		return finaztest.Response{Body: "call=x", Delay: time.Minute} // cut short when the client gives up
	})
	// The client gives up 100 ms after it has sent the whole request
	// (ResponseHeaderTimeout), not 100 ms after it started (Client.Timeout):
	// the PBX then surely has the click2call, however slowly this machine
	// runs, and the test is about a click2call the PBX got.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 100 * time.Millisecond
	t.Cleanup(tr.CloseIdleConnections)
	c := newClient(t, click2callConfig("POST", false), pbx, callbridge.WithHTTPClient(&http.Client{Transport: tr}))
	start := time.Now()
	_, err := c.Call(t.Context(), callevent.CallRequest{From: "1", To: "11987654321"})
	var reqErr *callbridge.RequestError
	require.ErrorAs(t, err, &reqErr)
	require.Less(t, time.Since(start), 30*time.Second, "the client does not wait for the slow PBX")
	require.Equal(t, 1, reqErr.Attempts, "a timed-out click2call is not repeated")
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the click2call never reached the PBX")
	}
	require.Len(t, pbx.Requests(), 1, "a timed-out click2call is not repeated")

	pbx.Reset()
	pbx.Fail(finaztest.Failure{Status: 429, RetryAfter: "3600"})
	c = newClient(t, click2callConfig("POST", false), pbx)
	_, err = c.Call(t.Context(), callevent.CallRequest{From: "1", To: "11987654321"})
	var rl *callbridge.RateLimitError
	require.ErrorAs(t, err, &rl)
	require.Equal(t, time.Hour, rl.RetryAfter)
	require.Len(t, pbx.Requests(), 1, "a Retry-After beyond the maximum wait is not waited for")
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	cfg := click2callConfig("POST", false)
	for _, tt := range []struct {
		o    callbridge.ClientOption
		want string
	}{
		{callbridge.WithHTTPClient(nil), "finaz: WithHTTPClient: nil HTTP client"},
		{callbridge.WithBaseURL("nope"), "finaz: WithBaseURL: "},
		{callbridge.WithBaseURL("https://pbx.example.com/?key=1"), "finaz: WithBaseURL: must not have a query, fragment or user info"},
		{callbridge.WithRateLimit(0, 1), "finaz: WithRateLimit: "},
		{callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: -1}), "finaz: WithRetry: "},
		{callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 1, MinWait: time.Second, MaxWait: time.Millisecond}), "finaz: WithRetry: "},
		{callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 1, MinWait: time.Second}), "finaz: WithRetry: "},
		{callbridge.WithLogger(nil), "finaz: WithLogger: "},
		{callbridge.WithDefaultCountry("XX"), "finaz: WithDefaultCountry: "},
		{callbridge.WithTokenStore(nopStore{}), "finaz: WithTokenStore is not supported: "},
	} {
		_, err := finaz.NewClient(cfg, callbridge.WithBaseURL("https://pbx.example.com/"), tt.o)
		require.ErrorContains(t, err, tt.want)
		require.True(t, strings.HasPrefix(err.Error(), tt.want), "%q names the provider once, then the option", err)
		require.Equal(t, 1, strings.Count(err.Error(), "finaz"), err.Error())
	}
	c, err := finaz.NewClient(cfg, callbridge.WithBaseURL("https://pbx.example.com/"), callbridge.WithUserAgent("crm/1"), callbridge.WithRateLimit(10, 1),
		callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 2, MinWait: time.Millisecond, MaxWait: time.Second}), callbridge.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	require.NotNil(t, c)
}

type nopStore struct{}

func (nopStore) Load(context.Context) (*oauth2.Token, error) { return nil, nil }
func (nopStore) Save(context.Context, *oauth2.Token) error   { return nil }

// callbridge.WithDefaultCountry overrides Config.DefaultCountry for the
// numbers the client takes.
func TestWithDefaultCountry(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Reply("POST", "/dial", finaztest.Response{Body: "call=x"})
	cfg := click2callConfig("POST", false)
	cfg.Click2Call.Query = map[string]string{"ext": "{{ramal_operador}}", "full": "{{telefone}}"} // no DDD outside Brazil
	ctx := t.Context()

	c := newClient(t, cfg, pbx)
	_, err := c.Call(ctx, callevent.CallRequest{From: "101", To: "11987654321"})
	require.NoError(t, err)
	c = newClient(t, cfg, pbx, callbridge.WithDefaultCountry("RU"))
	_, err = c.Call(ctx, callevent.CallRequest{From: "101", To: "9161234567"})
	require.NoError(t, err)
	cfg.DefaultCountry = "UA" // the option wins over the Config
	c = newClient(t, cfg, pbx, callbridge.WithDefaultCountry("RU"))
	_, err = c.Call(ctx, callevent.CallRequest{From: "101", To: "(916) 123-45-67"})
	require.NoError(t, err)

	reqs := pbx.Requests()
	require.Len(t, reqs, 3)
	require.Equal(t, "5511987654321", reqs[0].Query.Get("full"), "BR by default")
	require.Equal(t, "79161234567", reqs[1].Query.Get("full"))
	require.Equal(t, "79161234567", reqs[2].Query.Get("full"))
}

func TestSplitJoinPhone(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, full, ddd, num string }{
		{"(11) 98765-4321", "5511987654321", "11", "987654321"},
		{"+55 21 3456-7890", "552134567890", "21", "34567890"},
		{"0 21 11 98765 4321", "5511987654321", "11", "987654321"},
		{"+7 916 123-45-67", "79161234567", "", ""},
	}
	for _, tt := range tests {
		full, ddd, num, err := finaz.SplitPhone(tt.raw, "")
		require.NoError(t, err, tt.raw)
		require.Equal(t, []string{tt.full, tt.ddd, tt.num}, []string{full, ddd, num}, tt.raw)
		if ddd != "" {
			back, err := finaz.JoinPhone(ddd, num)
			require.NoError(t, err)
			require.Equal(t, full, back, "join is the inverse of split")
		}
	}
	back, err := finaz.JoinPhone("(11)", "8765-4321")
	require.NoError(t, err)
	require.Equal(t, "5511987654321", back, "the ninth digit is restored")
	_, err = finaz.JoinPhone("", "")
	require.True(t, errors.Is(err, finaz.ErrInvalidPhone))
	_, _, _, err = finaz.SplitPhone("101", "BR")
	require.ErrorIs(t, err, finaz.ErrInvalidPhone)
	require.True(t, strings.Contains(err.Error(), "internal extension"))
	_, _, _, err = finaz.SplitPhone("11987654321", "XX")
	require.Error(t, err)
}

// TestFetchRecording: a call's recording through the download_recording
// template (callevent.RecordingFetcher), with its content type; the
// telephony system's 404 is ErrNoRecording, its failure its error; a
// client without the template cannot (ErrUnsupported), without a request.
func TestFetchRecording(t *testing.T) {
	t.Parallel()
	cfg := finaz.Config{
		Params:            map[string]finaz.Param{"token": {Value: "tk-9", Secret: true}},
		DownloadRecording: &finaz.RequestTemplate{URL: "gravacoes/{{identificador_chamada}}", Query: map[string]string{"token": "{{token}}"}},
	}
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	c := newClient(t, cfg, pbx)
	audio := strings.Repeat("RIFF....WAVE", 400)
	pbx.Reply("GET", "/gravacoes/c-77", finaztest.Response{Header: http.Header{"Content-Type": {"audio/wav"}}, Body: audio})
	rec, err := c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "c-77"})
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rec.Body)
	require.NoError(t, err)
	require.NoError(t, rec.Body.Close())
	require.Equal(t, audio, buf.String())
	require.Equal(t, "audio/wav", rec.ContentType)
	require.Equal(t, "tk-9", pbx.Requests()[0].Query.Get("token"))

	_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "c-78"})
	require.ErrorIs(t, err, callevent.ErrNoRecording, "no route: the fake's 404")

	pbx.Fail(finaztest.Failure{Path: "/gravacoes/", Status: http.StatusInternalServerError, Times: callbridge.DefaultMaxRetries + 1})
	_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "c-77"})
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusInternalServerError, apiErr.StatusCode)
	require.NotErrorIs(t, err, callevent.ErrNoRecording)
	require.NotContains(t, err.Error(), "tk-9")

	bare := newClient(t, finaz.Config{Click2Call: &finaz.RequestTemplate{URL: "dial"}}, pbx)
	sent := len(pbx.Requests())
	_, err = bare.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "c-77"})
	require.ErrorIs(t, err, callevent.ErrUnsupported)
	require.Len(t, pbx.Requests(), sent)
}
