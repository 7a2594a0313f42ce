package gateway_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet/phonettest"
)

// getStatus is GET /api/status, decoded strictly.
func getStatus(t *testing.T, srv *server) gateway.GatewayStatus {
	t.Helper()
	code, body := srv.do(t, http.MethodGet, "/api/status", "", "")
	require.Equal(t, http.StatusOK, code, body)
	var st gateway.GatewayStatus
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&st), body)
	return st
}

// TestStatusFields: after accepted and refused webhooks, GET /api/status
// shows per provider the counts by outcome, the last event, the last
// refusal with what the gateway answered, the webhook URLs to paste
// (under the address asked, with the hook token) and MegaFon's token;
// the CRM's state, the delivery backlog and the notification outbox; in
// memory and in database mode.
func TestStatusFields(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		t.Cleanup(receiver.Close)
		srv := start(t, gateway.Config{DB: db, NotifyURL: receiver.URL, NotifySecret: "notify-SECRET"})
		c := phonetNow()
		for _, b := range []phonettest.Body{c.Dial(), c.Bridge()} {
			code, body := srv.send(t, hookOf(t, "", b.Request("/hooks/phonet/call", phonettest.WithToken("hook-token"))))
			require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
		}
		code, _ := srv.send(t, hookOf(t, "", c.Hangup().Request("/hooks/phonet/call", phonettest.WithToken("wrong"))))
		require.Equal(t, http.StatusUnauthorized, code)
		code, _ = srv.send(t, hook{method: http.MethodPost, target: "/hooks/megafon", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			body: []byte("crm_token=mf-token&cmd=history&type=bogus%")})
		require.Equal(t, http.StatusBadRequest, code)
		waitEvents(t, srv, 2)

		st := getStatus(t, srv)
		ph := st.Providers["phonet"]
		require.Equal(t, map[string]int64{gateway.OutcomeAccepted: 2, gateway.OutcomeUnauthorized: 1}, ph.Webhooks)
		require.NotNil(t, ph.LastEvent)
		require.WithinDuration(t, time.Now(), *ph.LastEvent, time.Minute)
		require.Equal(t, http.StatusUnauthorized, ph.LastRefusal.Status)
		require.Contains(t, ph.LastRefusal.Error, "token")
		require.Nil(t, ph.LastError, "the CRM took every event")
		require.False(t, ph.Configured)
		require.Equal(t, []gateway.HookURL{
			{Method: "POST", Name: "customer_data", URL: srv.URL + "/hooks/phonet/customer_data?token=hook-token"},
			{Method: "POST", Name: "call", URL: srv.URL + "/hooks/phonet/call?token=hook-token"},
			{Method: "POST", Name: "after_call_end", URL: srv.URL + "/hooks/phonet/after_call_end?token=hook-token"},
		}, ph.Hooks)
		require.Empty(t, ph.Token, "Phonet's token is in its URLs")

		mf := st.Providers["megafon"]
		require.Equal(t, map[string]int64{gateway.OutcomeBadRequest: 1}, mf.Webhooks)
		require.Nil(t, mf.LastEvent)
		require.Equal(t, http.StatusBadRequest, mf.LastRefusal.Status)
		require.NotEmpty(t, mf.LastRefusal.Error)
		require.Equal(t, []gateway.HookURL{{Method: "POST", URL: srv.URL + "/hooks/megafon"}}, mf.Hooks)
		require.Equal(t, "mf-token", mf.Token, "MegaFon's crm_token to paste")
		require.Equal(t, srv.URL+"/hooks/telphin/{APP_ID}?token=hook-token", st.Providers["telphin"].Hooks[0].URL)
		require.Len(t, st.Providers["finaz"].Hooks, 2)
		require.Empty(t, st.Providers["finaz"].Webhooks)

		require.Equal(t, "builtin", st.CRM)
		require.Equal(t, gateway.CRMHealth{State: gateway.CRMConnected}, st.CRMHealth, "the built-in CRM, nothing failed")
		require.Equal(t, gateway.Backlog{}, st.Delivery, "everything delivered, nothing dead")
		require.Equal(t, &gateway.OutboxBacklog{}, st.Notifications, "no notification yet")
		require.True(t, st.Ready)

		plain := start(t, gateway.Config{DB: db})
		require.Nil(t, getStatus(t, plain).Notifications, "no outbox without a notification webhook")
	})
}

// TestStatusErrors: a call the CRM failed to act on (amoCRM answering
// an error; the engine retries) is the CRM's last_error; a provider's API
// failing (click-to-call answered 503) is the provider's last_error; both
// with when.
func TestStatusErrors(t *testing.T) {
	t.Parallel()
	e := newAmoEnv(t, "", nil)
	e.amo.Fail(amocrmtest.Failure{Method: http.MethodGet, Path: "/api/v4/contacts", Status: http.StatusBadRequest,
		Body: `{"title":"Bad Request","status":400,"detail":"Код ошибки 244"}`})
	c := e.call("+79160000444")
	e.send(c.DialIn())
	st := getStatus(t, e.srv)
	require.Equal(t, "amocrm", st.CRM)
	require.Equal(t, amocrmtest.Domain, st.CRMDomain)
	require.Equal(t, gateway.CRMConnected, st.CRMHealth.State)
	require.Equal(t, "long_lived_token", st.CRMHealth.Auth)
	require.NotNil(t, st.CRMHealth.LastError, "the failed action: %s", e.srv.logs)
	require.Contains(t, st.CRMHealth.LastError.Error, "244")
	require.WithinDuration(t, time.Now(), st.CRMHealth.LastError.At, time.Minute)
	require.Nil(t, st.Providers["telphin"].LastError, "Telphin did nothing wrong")

	pbx := megafontest.NewServer()
	t.Cleanup(pbx.Close)
	mc, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
		callbridge.WithBaseURL(pbx.URL), callbridge.WithRetry(callbridge.RetryPolicy{}))
	require.NoError(t, err)
	logs := &syncBuffer{}
	g, err := gateway.New(gateway.Config{HookToken: "hook-token", MegafonToken: "mf-token", APIToken: apiToken}, logs)
	require.NoError(t, err)
	g.SetCaller("megafon", mc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := serve(t, g, ln, logs)
	pbx.Fail(megafontest.Failure{Op: megafontest.OpMakeCall, Status: http.StatusBadRequest, Body: `{"message":"Invalid phone number"}`})
	code, body := srv.do(t, http.MethodPost, "/api/calls", "application/json", `{"provider":"megafon","from":"andy","to":"79161234567"}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Nil(t, getStatus(t, srv).Providers["megafon"].LastError, "the caller's mistake is no failure of MegaFon's")
	pbx.Fail(megafontest.Failure{Op: megafontest.OpMakeCall, Status: http.StatusServiceUnavailable})
	code, body = srv.do(t, http.MethodPost, "/api/calls", "application/json", `{"provider":"megafon","from":"andy","to":"79161234567"}`)
	require.Equal(t, http.StatusBadGateway, code, body)
	mf := getStatus(t, srv).Providers["megafon"]
	require.NotNil(t, mf.LastError)
	require.Contains(t, mf.LastError.Error, "503")
	require.WithinDuration(t, time.Now(), mf.LastError.At, time.Minute)
	require.NotContains(t, mf.LastError.Error, megafontest.APIKey)
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// page gets path with the headers h (name, value pairs).
func page(t *testing.T, srv *server, path string, h ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(h); i += 2 {
		if h[i] == "Host" {
			req.Host = h[i+1]
		} else {
			req.Header.Add(h[i], h[i+1])
		}
	}
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// TestStatusPage: /status needs the API token: without it, or with
// a wrong one, a 401 page says how to log in; ?token=<API token> sets an
// HttpOnly, SameSite=Strict cookie that is not the token and redirects to
// the path without the token; with the cookie (or the bearer token) the
// page shows each provider's URLs, MegaFon's token and the CRM, escaped.
func TestStatusPage(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{})
	call := megafontest.Call{ID: "mf-pg-1", Direction: "in", Phone: "74950009988", User: "andy", Ext: "701"}
	sendMegafon(t, srv, megafontest.Event("INCOMING", call))
	// A refusal whose message quotes the request: the page escapes it.
	code, _ := srv.send(t, hook{method: http.MethodPost, target: "/hooks/megafon", header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		body: []byte("crm_token=mf-token&cmd=history&x=%<b")})
	require.Equal(t, http.StatusBadRequest, code)

	resp, body := page(t, srv, "/status")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "/status?token=&lt;API token&gt;", "how to log in")
	require.Empty(t, resp.Cookies())
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	resp, body = page(t, srv, "/status?token=wrong")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "not the gateway's API token")
	require.Empty(t, resp.Cookies())
	resp, _ = page(t, srv, "/status", "Cookie", gateway.StatusCookie+"=forged")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a forged cookie")

	resp, _ = page(t, srv, "/status?token="+apiToken)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/status", resp.Header.Get("Location"), "the token leaves the address")
	require.Len(t, resp.Cookies(), 1)
	ck := resp.Cookies()[0]
	require.Equal(t, gateway.StatusCookie, ck.Name)
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	require.False(t, ck.Secure, "plain HTTP")
	require.Equal(t, "/", ck.Path)
	require.NotContains(t, ck.Value, apiToken, "the cookie is not the token")
	for _, h := range [][]string{{"Cookie", ck.String()}, {"Authorization", "Bearer " + apiToken}} {
		for _, path := range []string{"/status"} {
			resp, body = page(t, srv, path, h...)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s with %s: %s", path, h[0], body)
			require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
			require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
			for _, want := range []string{
				srv.URL + "/hooks/telphin/{APP_ID}?token=hook-token",
				srv.URL + "/hooks/megafon",
				"mf-token",
				srv.URL + "/hooks/phonet/customer_data?token=hook-token",
				srv.URL + "/hooks/phonet/call?token=hook-token",
				srv.URL + "/hooks/phonet/after_call_end?token=hook-token",
				srv.URL + "/hooks/finaz/atendimentodiscador?token=hook-token",
				"CRM: builtin", "connected", `http-equiv="refresh"`, `name="viewport"`,
			} {
				require.Contains(t, body, want, "%s with %s", path, h[0])
			}
			require.NotContains(t, body, apiToken, "the API token is never shown")
			require.NotContains(t, body, "<script", "no script")
			require.Contains(t, body, "%&lt;b", "the refusal, escaped")
			require.NotContains(t, body, "%<b")
		}
	}
	resp, _ = page(t, srv, "/status", "Cookie", ck.String(), "Host", "evil.example")
	require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, "DNS rebinding")
}
