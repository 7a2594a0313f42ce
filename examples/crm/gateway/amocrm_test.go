package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// TestAmoCRMMode replays seed 002 through the gateway in amoCRM mode
// (-crm amocrm -demo: the engine over the amoCRM store, an amoCRM fake):
// Telphin's webhooks of an answered call from an unknown number create
// «Автоконтакт: Входящий» for the answerer on answer (scenario 2) and pop
// the cards up; a missed one creates «Автоконтакт: Входящий-пропущенный»
// at its end (scenario 5); an outbound call to an unknown number creates
// «Автоконтакт: Исходящий» when it is placed (scenario 7). Each call
// reaches amoCRM's call log and the gateway's own.
func TestAmoCRMMode(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		clock := newFakeClock()
		srv := start(t, gateway.Config{Demo: true, CRM: gateway.CRMAmoCRM, Clock: clock, DB: db})
		amo := srv.AmoCRMFake()
		require.NotNil(t, amo)
		op1 := amocrmtest.DefaultUsers[0].ID // extension 101
		send := func(fs ...url.Values) {
			t.Helper()
			for _, f := range fs {
				code, body := srv.send(t, hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", f)))
				require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
			}
		}
		contact := func(name string) *amocrmtest.Contact {
			for _, c := range amo.Contacts() {
				if c.Name == name {
					return &c
				}
			}
			return nil
		}
		events := 0
		call := func(n int, client string) telphintest.Call {
			return telphintest.Call{CallID: fmt.Sprintf("ab00000000000000000000000000%04d", n), SubCallID: fmt.Sprintf("124575-ab00000000000000000000000000%04d", n),
				Client: client, Extension: "15400*101", Start: clock.Now().Add(-time.Minute)}
		}

		// Scenario 2: inbound, unknown, answered.
		c2 := call(2, "+79160000002")
		send(c2.DialIn(), c2.Answer())
		events += 2
		waitEvents(t, srv, events)
		require.Eventually(t, func() bool { return contact("Автоконтакт: Входящий") != nil }, 10*time.Second, 5*time.Millisecond,
			"the contact exists while the call is live")
		ct := contact("Автоконтакт: Входящий")
		require.Equal(t, op1, ct.ResponsibleUserID, "the manager who picked up")
		require.Equal(t, []string{"+79160000002"}, ct.Phones)
		require.NotEmpty(t, amo.Events(), "amoCRM's pop-ups")
		send(c2.Hangup())
		events++
		waitEvents(t, srv, events)
		clock.Advance(match.DefaultGracePeriod)

		// Scenario 5: inbound, unknown, missed.
		c5 := call(5, "+79160000005")
		hang := c5.Hangup()
		hang.Set("CallStatus", "NOANSWER")
		hang.Set("Duration", "0")
		send(c5.DialIn(), hang)
		events += 2
		waitEvents(t, srv, events)
		clock.Advance(match.DefaultGracePeriod)
		require.Eventually(t, func() bool { return contact("Автоконтакт: Входящий-пропущенный") != nil }, 10*time.Second, 5*time.Millisecond)

		// Scenario 7: outbound to an unknown number.
		c7 := call(7, "+79160000007")
		send(c7.DialOut())
		events++
		waitEvents(t, srv, events)
		require.Eventually(t, func() bool { return contact("Автоконтакт: Исходящий") != nil }, 10*time.Second, 5*time.Millisecond,
			"created when the call is placed")
		send(c7.HangupOut("ANSWER"))
		events++
		waitEvents(t, srv, events)
		clock.Advance(match.DefaultGracePeriod)

		require.Eventually(t, func() bool { return len(amo.Calls()) == 3 }, 10*time.Second, 5*time.Millisecond, "the calls in amoCRM")
		require.Eventually(t, func() bool {
			code, body := srv.do(t, http.MethodGet, "/api/calls", "", "")
			return code == http.StatusOK && countCalls(t, body, c2.CallID) == 1 && countCalls(t, body, c5.CallID) == 1 && countCalls(t, body, c7.CallID) == 1
		}, 10*time.Second, 5*time.Millisecond, "and in the gateway's log")
		code, body := srv.do(t, http.MethodGet, "/api/clients", "", "")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "live in amoCRM")
	})
}

// TestAmoCRMModeConfig: the amoCRM mode needs an account, unless -demo.
func TestAmoCRMModeConfig(t *testing.T) {
	t.Parallel()
	_, err := gateway.ParseConfig([]string{"-crm", "amocrm"}, noEnv, nil)
	require.ErrorContains(t, err, "AMOCRM_DOMAIN")
	env := map[string]string{"AMOCRM_DOMAIN": "example.amocrm.ru"}
	_, err = gateway.ParseConfig([]string{"-crm", "amocrm"}, func(k string) string { return env[k] }, nil)
	require.ErrorContains(t, err, "AMOCRM_TOKEN")
	env["AMOCRM_TOKEN"] = "long-SECRET"
	c, err := gateway.ParseConfig([]string{"-crm", "amocrm"}, func(k string) string { return env[k] }, nil)
	require.NoError(t, err)
	require.NotContains(t, c.String(), "long-SECRET")
	_, err = gateway.ParseConfig([]string{"-crm", "amocrm", "-demo"}, noEnv, nil)
	require.NoError(t, err, "the demo's fake")
	_, err = gateway.ParseConfig([]string{"-crm", "salesforce"}, noEnv, nil)
	require.ErrorContains(t, err, `"salesforce" is neither builtin nor amocrm`)
}

// TestAmoCRMOAuthRoutes: /oauth/amocrm/start (with the API token) sends
// the browser to amoCRM's authorization with a fresh state;
// /oauth/amocrm/callback refuses a state it did not make. Without an
// OAuth integration both are 404.
func TestAmoCRMOAuthRoutes(t *testing.T) {
	t.Parallel()
	oauth := gateway.Config{CRM: gateway.CRMAmoCRM, AmoCRM: gateway.AmoCRM{Domain: "example.amocrm.ru",
		ClientID: "0f1e2d3c-aaaa-bbbb-cccc-000000000001", ClientSecret: "oauth-SECRET", RedirectURL: "https://crm.example.com/oauth/amocrm/callback"}}
	_, err := gateway.New(oauth, io.Discard)
	require.ErrorContains(t, err, "keeps its tokens in the database", "OAuth without a database")
	oauth.DB = filepath.Join(t.TempDir(), "crm.db")
	srv := start(t, oauth)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + "/oauth/amocrm/start?token=" + apiToken)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "0f1e2d3c-aaaa-bbbb-cccc-000000000001", loc.Query().Get("client_id"))
	require.NotEmpty(t, loc.Query().Get("state"))
	require.NotContains(t, loc.String(), "oauth-SECRET")

	resp, err = client.Get(srv.URL + "/oauth/amocrm/start")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the API token is required")

	code, body := srv.send(t, hook{method: http.MethodGet, target: "/oauth/amocrm/callback?code=x&state=forged&referer=example.amocrm.ru", header: http.Header{}})
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "state")

	plain := start(t, gateway.Config{})
	code, _ = plain.send(t, hook{method: http.MethodGet, target: "/oauth/amocrm/start?token=" + apiToken, header: http.Header{}})
	require.Equal(t, http.StatusNotFound, code)
}
