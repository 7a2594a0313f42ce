package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// noFollow is a client that does not follow redirects.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// uiClient is a browser's session in the workspace, as the tests drive
// it over HTTP: its cookie jar and its CSRF token.
type uiClient struct {
	c    *http.Client
	base string
	csrf string
}

// signIn signs employee in by a login link and reads its CSRF token.
func signIn(t *testing.T, srv *server, employee string) *uiClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	u := &uiClient{c: &http.Client{Jar: jar}, base: srv.URL}
	resp, err := u.c.Get(loginLink(t, srv, employee))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	code, body := u.do(t, http.MethodGet, "/ui/api/me", "")
	require.Equal(t, http.StatusOK, code, body)
	var me gateway.Workspace
	require.NoError(t, json.Unmarshal([]byte(body), &me))
	require.Equal(t, employee, me.Employee.ID)
	require.NotEmpty(t, me.CSRF)
	u.csrf = me.CSRF
	return u
}

// do sends a request as the browser would: the session's cookie, and
// its CSRF token unless h sets the header (h: header name, value, …).
func (u *uiClient) do(t *testing.T, method, path, body string, h ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u.base+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		req.Header.Set(gateway.CSRFHeader, u.csrf)
	}
	for i := 0; i+1 < len(h); i += 2 {
		if h[i] == "Host" {
			req.Host = h[i+1]
		} else {
			req.Header.Set(h[i], h[i+1])
		}
	}
	resp, err := u.c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// postForm posts a sign-in form as a same-origin page does.
func postForm(t *testing.T, c *http.Client, target string, form url.Values, h ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	u, _ := url.Parse(target)
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestSignIn: the workspace's sign-in. Without a session / is the
// sign-in page (Russian by default, English for a browser that prefers
// it); a wrong password and an unknown employee get the same 401; the
// right password sets a random session cookie (HttpOnly, SameSite=Lax,
// Secure with an https public URL) and goes to the workspace; a
// cross-origin form is refused; ten failures lock the id out (429). A
// login link signs in until it expires; a tampered one does not; the API
// makes them (API token, 404 for an unknown employee, 400 for a bad
// ttl). Signing out needs the session's CSRF token and ends the session.
func TestSignIn(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := start(t, gateway.Config{Clock: clock, PublicURL: "https://crm.example.com",
		Employees: []match.Employee{{ID: "anna", Name: "Анна", Extensions: []string{"101"}}, {ID: "boris", Extensions: []string{"102"}}},
		Passwords: map[string]string{"anna": gateway.QuickPasswordHash(t, annaPassword)}})

	resp, body := page(t, srv, "/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Войти")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	_, body = page(t, srv, "/", "Accept-Language", "en-US,en;q=0.9,ru;q=0.5")
	require.Contains(t, body, "Sign in")
	_, body = page(t, srv, "/?lang=en", "Accept-Language", "ru")
	require.Contains(t, body, "Sign in", "the switch wins")

	for _, f := range []url.Values{
		{"employee": {"anna"}, "password": {"wrong"}},
		{"employee": {"nobody"}, "password": {annaPassword}},
		{"employee": {"boris"}, "password": {""}}, // no password configured: links only
	} {
		resp := postForm(t, noFollow, srv.URL+"/login", f)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, f)
		require.Empty(t, resp.Cookies())
	}
	resp = postForm(t, noFollow, srv.URL+"/login", url.Values{"employee": {"anna"}, "password": {annaPassword}}, "Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "login CSRF")

	resp = postForm(t, noFollow, srv.URL+"/login", url.Values{"employee": {"anna"}, "password": {annaPassword}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/", resp.Header.Get("Location"))
	require.Len(t, resp.Cookies(), 1)
	ck := resp.Cookies()[0]
	require.Equal(t, gateway.SessionCookie, ck.Name)
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
	require.True(t, ck.Secure, "an https public URL")
	require.Equal(t, "/", ck.Path)
	require.GreaterOrEqual(t, len(ck.Value), 40)
	require.NotContains(t, ck.Value, "anna")
	resp, body = page(t, srv, "/", "Cookie", ck.Name+"="+ck.Value)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `id="workspace"`)
	require.Contains(t, body, `<script src="/ui/static/workspace.js" defer></script>`)
	require.NotContains(t, body, annaPassword)
	resp, _ = page(t, srv, "/", "Cookie", ck.Name+"=forged")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Ten wrong passwords lock the id for a while.
	for range 10 {
		require.Equal(t, http.StatusUnauthorized, postForm(t, noFollow, srv.URL+"/login", url.Values{"employee": {"anna"}, "password": {"guess"}}).StatusCode)
	}
	resp = postForm(t, noFollow, srv.URL+"/login", url.Values{"employee": {"anna"}, "password": {annaPassword}})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "locked even with the right password")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	clock.Advance(16 * time.Minute)
	require.Equal(t, http.StatusSeeOther, postForm(t, noFollow, srv.URL+"/login", url.Values{"employee": {"anna"}, "password": {annaPassword}}).StatusCode)

	// Login links.
	code, body := srv.send(t, hook{method: http.MethodPost, target: "/api/employees/boris/login-link", header: http.Header{}})
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, body = srv.do(t, http.MethodPost, "/api/employees/nobody/login-link", "", "")
	require.Equal(t, http.StatusNotFound, code, body)
	code, body = srv.do(t, http.MethodPost, "/api/employees/boris/login-link", "application/json", `{"ttl":"1000h"}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "ttl:")
	code, body = srv.do(t, http.MethodPost, "/api/employees/boris/login-link", "application/json", `{"ttl":"1h"}`)
	require.Equal(t, http.StatusOK, code, body)
	var link gateway.LoginLinkReply
	require.NoError(t, json.Unmarshal([]byte(body), &link))
	require.True(t, strings.HasPrefix(link.URL, "https://crm.example.com/login?token="), link.URL)
	require.Equal(t, clock.Now().Add(time.Hour).Truncate(time.Second).UTC(), link.ExpiresAt)
	target := srv.URL + strings.TrimPrefix(link.URL, "https://crm.example.com")
	tampered := strings.Replace(target, "token=", "token=x", 1)
	resp, _ = page(t, srv, strings.TrimPrefix(tampered, srv.URL))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = page(t, srv, strings.TrimPrefix(target, srv.URL))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, gateway.SessionCookie, resp.Cookies()[0].Name)
	clock.Advance(time.Hour + time.Second)
	resp, body = page(t, srv, strings.TrimPrefix(target, srv.URL))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "истёк", "an expired link says so")

	// Signing out needs the CSRF token.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar, CheckRedirect: noFollow.CheckRedirect}
	resp = postForm(t, c, srv.URL+"/login", url.Values{"employee": {"anna"}, "password": {annaPassword}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	u := &uiClient{c: c, base: srv.URL}
	code, body = u.do(t, http.MethodGet, "/ui/api/me", "")
	require.Equal(t, http.StatusOK, code, body)
	var me gateway.Workspace
	require.NoError(t, json.Unmarshal([]byte(body), &me))
	require.Equal(t, http.StatusForbidden, postForm(t, c, srv.URL+"/logout", url.Values{"csrf": {"wrong"}}).StatusCode)
	require.Equal(t, http.StatusSeeOther, postForm(t, c, srv.URL+"/logout", url.Values{"csrf": {me.CSRF}}).StatusCode)
	code, _ = u.do(t, http.MethodGet, "/ui/api/me", "")
	require.Equal(t, http.StatusUnauthorized, code, "the session ended")
}

// TestWorkspaceGuards: the workspace's API acts as the signed-in employee
// only. Without a session 401; a request that changes something without
// the session's CSRF token, with a wrong one, from another origin or
// cross-site is 403; a forged employee id — another's status, history,
// phone, call, recording or client — is 403 and changes nothing; an
// unknown Host 421. The employee's own requests go through to the API's
// handlers: their history and recordings, click-to-call from their
// extension (holding their talking call), a contact they create is
// theirs.
func TestWorkspaceGuards(t *testing.T) {
	t.Parallel()
	s := startScreen(t, gateway.Config{RecordingCache: t.TempDir()})
	anna, boris := signIn(t, s.server, "anna"), signIn(t, s.server, "boris")

	anon := &uiClient{c: &http.Client{}, base: s.URL}
	code, body := anon.do(t, http.MethodGet, "/ui/api/me", "")
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, _ = anon.do(t, http.MethodGet, "/ui/events", "")
	require.Equal(t, http.StatusUnauthorized, code)

	status := `{"status":"away"}`
	for _, h := range [][]string{
		{gateway.CSRFHeader, ""},
		{gateway.CSRFHeader, "wrong"},
		{"Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "cross-site"},
	} {
		code, body := anna.do(t, http.MethodPut, "/ui/api/employees/anna/status", status, h...)
		require.Equal(t, http.StatusForbidden, code, "%v: %s", h, body)
	}
	code, _ = anna.do(t, http.MethodGet, "/ui/api/me", "", "Host", "evil.example")
	require.Equal(t, http.StatusMisdirectedRequest, code, "DNS rebinding")
	code, body = anna.do(t, http.MethodPut, "/ui/api/employees/boris/status", status)
	require.Equal(t, http.StatusForbidden, code, body)
	require.Contains(t, body, "your own status")
	code, body = anna.do(t, http.MethodPut, "/ui/api/employees/anna/status", status)
	require.Equal(t, http.StatusOK, code, body)
	var emps struct{ Employees []gateway.Employee }
	code, body = anna.do(t, http.MethodGet, "/ui/api/employees", "")
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &emps))
	for _, e := range emps.Employees {
		require.Equal(t, map[string]string{"anna": "away", "boris": "offline"}[e.ID], e.Status, e.ID)
	}

	// History: one's own calls only.
	for _, rec := range []match.CallRecord{
		{Provider: "telphin", Account: "a", CallID: "c-anna", Direction: 1, Status: 1, ClientPhone: "79161234567", Employee: "anna", StartedAt: t0, RecordingURL: "https://rec.example/1.mp3"},
		{Provider: "telphin", Account: "a", CallID: "c-boris", Direction: 1, Status: 1, ClientPhone: "79161234567", Employee: "boris", StartedAt: t0, RecordingURL: "https://rec.example/2.mp3"},
	} {
		require.NoError(t, s.LogCall(rec))
	}
	code, body = anna.do(t, http.MethodGet, "/ui/api/calls?employee=boris", "")
	require.Equal(t, http.StatusForbidden, code, body)
	code, body = anna.do(t, http.MethodGet, "/ui/events?employee=boris", "")
	require.Equal(t, http.StatusForbidden, code, body)
	code, body = anna.do(t, http.MethodGet, "/ui/api/calls?phone=79161234567", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, 1, countCalls(t, body, "c-anna"))
	require.Equal(t, 0, countCalls(t, body, "c-boris"), "not another's")
	code, body = anna.do(t, http.MethodGet, "/ui/api/calls/telphin/c-boris/recording?account=a", "")
	require.Equal(t, http.StatusForbidden, code, body)
	// Her own recording plays, through the provider.
	own := recordedCall("telphin", "a", "eeee0000000000000000000000000005", "https://rec.example/5.mp3")
	own.Employee = "anna"
	require.NoError(t, s.LogCall(own))
	s.pbx.SetHistory([]json.RawMessage{json.RawMessage(`{"call_uuid":"EEEE0000000000000000000000000005","flow":"in","cdr":[{"flow":"in","record_uuid":"rec-5"}]}`)})
	s.pbx.AddRecord("rec-5", []byte("ID3 anna's recording"))
	code, body = anna.do(t, http.MethodGet, "/ui/api/calls/telphin/"+own.CallID+"/recording?account=a", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "ID3 anna's recording", body)
	code, body = anna.do(t, http.MethodGet, "/ui/api/calls/telphin/c-none/recording?account=a", "")
	require.Equal(t, http.StatusNotFound, code, body)

	// Anna talks with a client; Boris may not control her call.
	x := telphinCall("dddd0000000000000000000000000004", "+79161234567", "101", time.Now().UTC().Add(-time.Minute))
	s.pbx.AddCurrentCall(469100, map[string]any{"call_api_id": x.CallAPIID, "call_id": x.CallID})
	s.sendTelphin(t, x.DialIn(), x.Answer())
	require.Eventually(t, func() bool {
		c, ok := liveCall(t, s.server, x.CallID)
		return ok && len(c.Legs) == 1 && c.Legs[0].State == match.LegTalking
	}, 10*time.Second, 5*time.Millisecond)
	code, body = boris.do(t, http.MethodPost, "/ui/api/calls/telphin/"+x.CallID+"/hangup", `{}`)
	require.Equal(t, http.StatusForbidden, code, body)
	code, body = anna.do(t, http.MethodPost, "/ui/api/calls/telphin/"+x.CallID+"/hangup", `{"from":"102"}`)
	require.Equal(t, http.StatusForbidden, code, "from: Boris's phone: %s", body)
	code, body = anna.do(t, http.MethodPost, "/ui/api/calls/telphin/nope/hold", `{}`)
	require.Equal(t, http.StatusNotFound, code, body)
	require.Empty(t, s.pbxRequests(http.MethodDelete, "/current_calls/"), "nothing reached Telphin")

	// Click-to-call: not from Boris's phone; from Anna's own, holding
	// her talking call.
	code, body = anna.do(t, http.MethodPost, "/ui/api/calls", `{"provider":"telphin","from":"102","to":"+79035550011"}`)
	require.Equal(t, http.StatusForbidden, code, body)
	code, body = anna.do(t, http.MethodPost, "/ui/api/calls", `{"provider":"telphin","to":"+79035550011","group":"555"}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Empty(t, s.pbxRequests(http.MethodPost, "/callback/"))
	code, body = anna.do(t, http.MethodPost, "/ui/api/calls", `{"to":"+79035550011"}`)
	require.Equal(t, http.StatusOK, code, body)
	cb := s.pbxRequests(http.MethodPost, "/callback/")
	require.Len(t, cb, 1)
	require.Equal(t, "/api/ver1.0/extension/469100/callback/", cb[0]["path"])
	require.Equal(t, "+79035550011", cb[0]["dst_num"])
	require.Eventually(t, func() bool {
		c, ok := liveCall(t, s.server, x.CallID)
		return ok && c.OnHold
	}, 10*time.Second, 5*time.Millisecond, "a new call holds the current one")
	held := s.pbxRequests(http.MethodPut, "/current_calls/"+x.CallAPIID)
	require.Len(t, held, 1)
	require.Equal(t, "hold", held[0]["action"])

	// A contact from the card's offer is the creator's.
	code, body = anna.do(t, http.MethodPost, "/ui/api/clients", `{"name":"Новый","phone":"+7 495 000-11-22","responsible":"boris"}`)
	require.Equal(t, http.StatusForbidden, code, body)
	code, body = anna.do(t, http.MethodPost, "/ui/api/clients", `{"name":"","phone":"+7 495 000-11-22"}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "name:")
	code, body = anna.do(t, http.MethodPost, "/ui/api/clients", `{"name":"ООО Новый","phone":"+7 495 000-11-22","kind":"company"}`)
	require.Equal(t, http.StatusCreated, code, body)
	var made gateway.CreatedClient
	require.NoError(t, json.Unmarshal([]byte(body), &made))
	require.Equal(t, "anna", made.Responsible)
	require.Equal(t, "74950001122", made.Phone)
	require.Equal(t, gateway.KindCompany, made.Kind)
	code, body = anna.do(t, http.MethodPost, "/ui/api/clients", `{"name":"Ещё","phone":"+7 495 000-11-22"}`)
	require.Equal(t, http.StatusConflict, code, body)

	// The campaign controls go to the gateway's dialer: a campaign of
	// none of hers is 404.
	code, body = anna.do(t, http.MethodPost, "/ui/api/campaigns/list-1/ready", "")
	require.Equal(t, http.StatusNotFound, code, body)
	code, body = anna.do(t, http.MethodPost, "/ui/api/campaigns/list-1/dance", "")
	require.Equal(t, http.StatusNotFound, code, body)

	// Languages.
	code, body = anna.do(t, http.MethodPut, "/ui/api/lang", `{"lang":"xx"}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	code, body = anna.do(t, http.MethodPut, "/ui/api/lang", `{"lang":"en"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = anna.do(t, http.MethodGet, "/ui/api/me", "")
	require.Equal(t, http.StatusOK, code, body)
	var me gateway.Workspace
	require.NoError(t, json.Unmarshal([]byte(body), &me))
	require.Equal(t, "en", me.Lang)
	require.Equal(t, "Hold", me.Messages["call.hold"])
	require.Equal(t, []gateway.ProviderControls{{Provider: "telphin", From: "101", Call: true, Hold: true, Transfer: true, Hangup: true}}, me.Providers)
}

// liveCall is the call in progress with the id, from GET /api/calls/live.
func liveCall(t *testing.T, srv *server, callID string) (gateway.LiveCall, bool) {
	t.Helper()
	code, body := srv.do(t, http.MethodGet, "/api/calls/live", "", "")
	require.Equal(t, http.StatusOK, code, body)
	var out struct{ Calls []gateway.LiveCall }
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	for _, c := range out.Calls {
		if c.CallID == callID {
			return c, true
		}
	}
	return gateway.LiveCall{}, false
}

// TestFinazOpensTheClient: seed 004's «Finaz carrega os dados do Cliente
// da chamada em questão na tela do Operador». An answered-call
// notification puts its client's card on the operator's stream (the
// employee of the ramal): the client pid names on the dialer's
// notification, even when the number is another client's; the number's
// client on the receptive one; an offer for an unknown number. A
// redelivered notification shows nothing twice; a ramal of nobody shows
// no card.
func TestFinazOpensTheClient(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		srv := start(t, gateway.Config{Clock: newFakeClock(), DB: db})
		op := openEvents(t, srv, "2001", "")
		require.Equal(t, live.TypeSync, op.next(t).Type)
		send := func(req *http.Request) {
			code, body := srv.send(t, hookOf(t, "finaz", req))
			require.Equal(t, http.StatusOK, code, body)
		}
		card := func() *live.Card {
			for {
				if u := op.next(t); u.Type == live.TypeCard {
					return u.Card
				}
			}
		}

		// pid 1 is ООО Ромашка; the number is Padaria's.
		dial := finaztest.Notification{PID: "1", Num: "11987654321", CID: "fz-1", Ramal: "2001", EmpresaID: "123", Token: "hook-token"}
		send(finaztest.NewDiscadorRequest("/hooks/finaz/", dial))
		c := card()
		require.Equal(t, "fz-1", c.CallID)
		require.Equal(t, "2001", c.Employee)
		require.Equal(t, "ООО Ромашка", c.Client.Name, "the client pid names")

		send(finaztest.NewReceptivoRequest("/hooks/finaz/", finaztest.Notification{Num: "11987654321", CID: "fz-2", Ramal: "2001", EmpresaID: "123", Token: "hook-token"}))
		c = card()
		require.Equal(t, "fz-2", c.CallID)
		require.Equal(t, match.PhaseAnswered, c.Phase)
		require.Equal(t, "Padaria Pão Quente", c.Client.Name, "the number's client")

		send(finaztest.NewReceptivoRequest("/hooks/finaz/", finaztest.Notification{Num: "11900001111", CID: "fz-3", Ramal: "2001", EmpresaID: "123", Token: "hook-token"}))
		c = card()
		require.Equal(t, "fz-3", c.CallID)
		require.Empty(t, c.Client.ID)
		require.True(t, c.Offer, "an unknown number: the card offers to create a client")

		// Redelivered, and a ramal of nobody: no card. The next card on
		// the stream is of the next call.
		send(finaztest.NewDiscadorRequest("/hooks/finaz/", dial))
		send(finaztest.NewReceptivoRequest("/hooks/finaz/", finaztest.Notification{Num: "11987654321", CID: "fz-4", Ramal: "9999", EmpresaID: "123", Token: "hook-token"}))
		send(finaztest.NewReceptivoRequest("/hooks/finaz/", finaztest.Notification{Num: "11987654321", CID: "fz-5", Ramal: "2001", EmpresaID: "123", Token: "hook-token"}))
		require.Equal(t, "fz-5", card().CallID)
		code, body := srv.do(t, http.MethodGet, "/api/popups?employee=2001", "", "")
		require.Equal(t, http.StatusOK, code, body)
		var out struct{ PopUps []match.PopUp }
		require.NoError(t, json.Unmarshal([]byte(body), &out))
		require.Len(t, out.PopUps, 4, "one card per call: %+v", out.PopUps)
	})
}

// TestCampaignUpdates: a dialing list's state (Gateway.CampaignChanged)
// reaches the stream of the employee who works it, no other; the panel's
// controls reach the dialer as that employee, and its ErrNoCampaign is
// 404.
func TestCampaignUpdates(t *testing.T) {
	t.Parallel()
	d := &recordingCampaigns{}
	srv := start(t, gateway.Config{Campaigns: d})
	mine, other := openEvents(t, srv, "101", ""), openEvents(t, srv, "701", "")
	require.Equal(t, live.TypeSync, mine.next(t).Type)
	require.Equal(t, live.TypeSync, other.next(t).Type)
	srv.CampaignChanged(live.Campaign{ID: "c1", Employee: "101", State: live.CampaignWrapUp, WrapUp: 5e9,
		Target: &live.CampaignTarget{ID: "lead-1", Phone: "79161234567"}})
	u := mine.next(t)
	require.Equal(t, live.TypeCampaign, u.Type)
	require.Equal(t, "c1", u.Campaign.ID)
	require.Equal(t, "lead-1", u.Campaign.Target.ID)
	srv.liveStatusOf(t, "701")
	require.Equal(t, live.TypeStatus, other.next(t).Type, "701 saw no campaign")

	ui := signIn(t, srv, "101")
	code, body := ui.do(t, http.MethodPost, "/ui/api/campaigns/c1/skip", "")
	require.Equal(t, http.StatusOK, code, body)
	code, body = ui.do(t, http.MethodPost, "/ui/api/campaigns/c1/disposition", `{"target":"lead-1","disposition":"refused"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = ui.do(t, http.MethodPost, "/ui/api/campaigns/c1/disposition", `{"target":"lead-1"}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	code, body = ui.do(t, http.MethodPost, "/ui/api/campaigns/other/ready", "")
	require.Equal(t, http.StatusNotFound, code, body)
	d.mu.Lock()
	defer d.mu.Unlock()
	require.Equal(t, []string{"101 c1 skip", "101 c1 disposition lead-1 refused"}, d.log)
}

// liveStatusOf sets employee's status, which shows on their stream.
func (s *server) liveStatusOf(t *testing.T, employee string) {
	t.Helper()
	code, body := s.do(t, http.MethodPut, "/api/employees/"+employee+"/status", "application/json", `{"status":"away"}`)
	require.Equal(t, http.StatusOK, code, body)
}

// recordingCampaigns is a dialer that records the controls it gets; it
// works campaign c1 only.
type recordingCampaigns struct {
	mu  sync.Mutex
	log []string
}

func (r *recordingCampaigns) rec(employee, campaign string, what ...string) error {
	if campaign != "c1" {
		return gateway.ErrNoCampaign
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, strings.Join(append([]string{employee, campaign}, what...), " "))
	return nil
}

func (r *recordingCampaigns) Ready(_ context.Context, e, c string) error { return r.rec(e, c, "ready") }
func (r *recordingCampaigns) Skip(_ context.Context, e, c string) error  { return r.rec(e, c, "skip") }
func (r *recordingCampaigns) Pause(_ context.Context, e, c string) error { return r.rec(e, c, "pause") }
func (r *recordingCampaigns) Disposition(_ context.Context, e, c, target, d string) error {
	return r.rec(e, c, "disposition", target, d)
}

// TestNoHoldWithoutHolder: two MegaFon calls answered by one
// employee are not held (MegaFon cannot): both stay talking on the
// stream and nothing is sent; the workspace shows the older as waiting.
func TestNoHoldWithoutHolder(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{Clock: newFakeClock()})
	first := megafontest.Call{ID: "mf-h-1", Direction: "in", Phone: "79161234567", User: "andy", Ext: "701"}
	second := megafontest.Call{ID: "mf-h-2", Direction: "in", Phone: "78123351127", User: "andy", Ext: "701"}
	sendMegafon(t, srv, megafontest.Event("INCOMING", first), megafontest.Event("ACCEPTED", first),
		megafontest.Event("INCOMING", second), megafontest.Event("ACCEPTED", second))
	waitEvents(t, srv, 4)
	for _, id := range []string{first.ID, second.ID} {
		c, ok := liveCall(t, srv, id)
		require.True(t, ok, id)
		require.False(t, c.OnHold, "%s: MegaFon cannot hold", id)
	}
}

// TestPasswords: -hash-password prints a hash the sign-in accepts; the
// configuration file's employees take password_hash and lang, each
// checked at its line.
func TestPasswords(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, gateway.Run(t.Context(), []string{"-hash-password"}, noEnv, &out, io.Discard,
		gateway.Defaults{Stdin: strings.NewReader("s3cret pass\n")}))
	h := strings.TrimSpace(out.String())
	require.Regexp(t, `^pbkdf2-sha256\$600000\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, h)
	require.NotContains(t, h, "s3cret")
	err := gateway.Run(t.Context(), []string{"-hash-password"}, noEnv, io.Discard, io.Discard, gateway.Defaults{Stdin: strings.NewReader("\n")})
	require.ErrorContains(t, err, "empty")

	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`employees:
  - {id: anna, extensions: ["101"], password_hash: "`+h+`", lang: en}
  - {id: boris, extensions: ["102"], password_hash: "md5$x", lang: de}
`), 0o600))
	_, err = gateway.ParseConfig([]string{"-config", file}, noEnv, io.Discard)
	require.ErrorContains(t, err, "c.yaml:3:")
	require.ErrorContains(t, err, "employees.1.password_hash: not a password hash")
	require.ErrorContains(t, err, `employees.1.lang: "de" is none of ru, en`)
	require.NotContains(t, err.Error(), "md5$x", "a hash is not repeated")

	require.NoError(t, os.WriteFile(file, []byte(`employees:
  - {id: anna, extensions: ["101"], password_hash: "`+h+`", lang: en}
`), 0o600))
	cfg, err := gateway.ParseConfig([]string{"-config", file, "-db", ":memory:"}, noEnv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"anna": h}, cfg.Passwords)
	require.Equal(t, map[string]string{"anna": "en"}, cfg.Languages)
	cfg.APIToken, cfg.DefaultClients = apiToken, defaultClients(t)
	g, err := gateway.New(cfg, io.Discard)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := serve(t, g, ln, &syncBuffer{})
	resp := postForm(t, noFollow, srv.URL+"/login", url.Values{"employee": {"anna"}, "password": {"s3cret pass"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, body := page(t, srv, "/", "Cookie", resp.Cookies()[0].Name+"="+resp.Cookies()[0].Value, "Accept-Language", "ru")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `<html lang="en">`, "anna's language, over the browser's")

	_, err = gateway.New(gateway.Config{Passwords: map[string]string{"anna": "plain"}}, io.Discard)
	require.ErrorContains(t, err, `password of employee "anna": not a password hash`)
}

// TestRunDemoLoginLinks: -demo prints a login link for each demo
// employee under the workspace's address, and each signs in.
func TestRunDemoLoginLinks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	errOut := &syncBuffer{}
	env := map[string]string{"CRM_ADDR": "127.0.0.1:0", "CRM_API_TOKEN": "demo", "CRM_EMPLOYEE_SYNC": "off"}
	done := make(chan error, 1)
	seed := defaultClients(t)
	go func() {
		done <- gateway.Run(ctx, []string{"-demo"}, func(k string) string { return env[k] }, io.Discard, errOut, gateway.Defaults{Clients: seed})
	}()
	re := regexp.MustCompile(`Workspace \(the employees' screen\): (http://127\.0\.0\.1:\d+)/\n`)
	require.Eventually(t, func() bool { return strings.Contains(errOut.String(), "Click-to-call:") }, 10*time.Second, 10*time.Millisecond)
	m := re.FindStringSubmatch(errOut.String())
	require.NotNil(t, m, errOut.String())
	for _, id := range []string{"101", "701", "001", "2001"} {
		link := regexp.MustCompile(`\n +` + id + ` +(http://\S+/login\?token=\S+)\n`).FindStringSubmatch(errOut.String())
		require.NotNil(t, link, "a link for %s: %s", id, errOut.String())
		resp, err := noFollow.Get(link[1])
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, id)
		require.Equal(t, gateway.SessionCookie, resp.Cookies()[0].Name)
	}
	cancel()
	require.NoError(t, <-done)
}
