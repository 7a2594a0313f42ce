package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// amoEnv is a gateway in amoCRM mode over the amoCRM fake (-crm amocrm
// -demo), with helpers to replay Telphin calls and read what amoCRM got.
type amoEnv struct {
	t      *testing.T
	srv    *server
	amo    *amocrmtest.Server
	clock  *matchtest.Clock
	events int
	next   int
}

func newAmoEnv(t *testing.T, db string, rules *match.RuleSet) *amoEnv {
	clock := newFakeClock()
	srv := start(t, gateway.Config{Demo: true, CRM: gateway.CRMAmoCRM, Clock: clock, DB: db, Rules: rules})
	require.NotNil(t, srv.AmoCRMFake())
	return &amoEnv{t: t, srv: srv, amo: srv.AmoCRMFake(), clock: clock}
}

// call is a new Telphin call of extension 101 with client.
func (e *amoEnv) call(client string) telphintest.Call {
	e.next++
	return telphintest.Call{CallID: fmt.Sprintf("ab00000000000000000000000000%04d", e.next),
		SubCallID: fmt.Sprintf("124575-ab00000000000000000000000000%04d", e.next), Client: client, Extension: "15400*101",
		Start: e.clock.Now().Add(-time.Minute)}
}

// send posts Telphin webhooks and waits until the engine has them.
func (e *amoEnv) send(fs ...url.Values) {
	e.t.Helper()
	for _, f := range fs {
		code, body := e.srv.send(e.t, hookOf(e.t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", f)))
		require.Contains(e.t, []int{http.StatusOK, http.StatusAccepted}, code, body)
	}
	e.events += len(fs)
	waitEvents(e.t, e.srv, e.events)
}

// end lets the calls settle.
func (e *amoEnv) end() { e.clock.Advance(match.DefaultGracePeriod) }

func (e *amoEnv) contact(name string) *amocrmtest.Contact {
	for _, c := range e.amo.Contacts() {
		if c.Name == name {
			return &c
		}
	}
	return nil
}

// callOn waits for the call of id in amoCRM and returns the entity it is on.
func (e *amoEnv) callOn(id string) amocrmtest.Call {
	e.t.Helper()
	var got amocrmtest.Call
	require.Eventually(e.t, func() bool {
		for _, c := range e.amo.Calls() {
			if c.Item["uniq"] == amocrm.CallUniq("telphin", "app", id) {
				got = c
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "call %s in amoCRM", id)
	return got
}

// popped reports whether amoCRM showed the pop-up for phone to user.
func (e *amoEnv) popped(phone string, user int64) bool {
	for _, ev := range e.amo.Events() {
		if ev.Phone == phone && slices.Contains(ev.Users, user) {
			return true
		}
	}
	return false
}

// TestSeed002TenScenarios replays the ten scenarios of seed 002 (Telphin
// × amoCRM) through the gateway in amoCRM mode (-crm amocrm over the
// amoCRM fake), in memory and in SQLite mode, and checks in amoCRM what
// the guide lists for each: the pop-up cards, the contacts created (with
// their names, responsible and the moment), and the card each call lands
// on.
func TestSeed002TenScenarios(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		e := newAmoEnv(t, db, nil)           // the guide's defaults: create contacts everywhere
		op1 := amocrmtest.DefaultUsers[0].ID // extension 101
		known := e.amo.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+79161111111"}, ResponsibleUserID: amocrmtest.DefaultUsers[1].ID})

		// 1. Inbound, known, answered: the card for the one it rings; the
		// call on the contact.
		c1 := e.call("+79161111111")
		e.send(c1.DialIn())
		require.True(t, e.popped("+79161111111", op1), "scenario 1: the card on ringing")
		e.send(c1.Answer(), c1.Hangup())
		e.end()
		require.Equal(t, known, e.callOn(c1.CallID).EntityID, "scenario 1: the call on the contact")

		// 2. Inbound, unknown, answered: contact on answer, for the one who
		// picked up.
		c2 := e.call("+79160000002")
		e.send(c2.DialIn(), c2.Answer())
		ct := e.contact("Автоконтакт: Входящий")
		require.NotNil(t, ct, "scenario 2: the contact exists during the call")
		require.Equal(t, op1, ct.ResponsibleUserID)
		e.send(c2.Hangup())
		e.end()
		require.Equal(t, ct.ID, e.callOn(c2.CallID).EntityID)

		// 4. Inbound, known, missed: the call on the contact.
		c4 := e.call("+79161111111")
		miss := c4.Hangup()
		miss.Set("CallStatus", "NOANSWER")
		miss.Set("Duration", "0")
		e.send(c4.DialIn(), miss)
		e.end()
		require.Equal(t, known, e.callOn(c4.CallID).EntityID, "scenario 4")

		// 5. Inbound, unknown, missed: «Автоконтакт: Входящий-пропущенный»
		// at the end.
		c5 := e.call("+79160000005")
		miss = c5.Hangup()
		miss.Set("CallStatus", "NOANSWER")
		miss.Set("Duration", "0")
		e.send(c5.DialIn(), miss)
		e.end()
		missed := e.contact("Автоконтакт: Входящий-пропущенный")
		require.NotNil(t, missed, "scenario 5")
		require.Equal(t, missed.ID, e.callOn(c5.CallID).EntityID)

		// 6 and 9. Outbound to a known client, answered and not: the
		// caller's card, the calls on the contact.
		c6, c9 := e.call("+79161111111"), e.call("+79161111111")
		e.send(c6.DialOut(), c6.HangupOut("ANSWER"), c9.DialOut(), c9.HangupOut("BUSY"))
		e.end()
		require.Equal(t, known, e.callOn(c6.CallID).EntityID, "scenario 6")
		require.Equal(t, known, e.callOn(c9.CallID).EntityID, "scenario 9")

		// 7 and 10. Outbound to unknown numbers: «Автоконтакт: Исходящий» on
		// dialing, answered or not, and the card links to it.
		c7 := e.call("+79160000007")
		e.send(c7.DialOut())
		out := e.contact("Автоконтакт: Исходящий")
		require.NotNil(t, out, "scenario 7: created when the call is placed")
		require.Equal(t, op1, out.ResponsibleUserID, "the manager who calls")
		require.True(t, e.popped("+79160000007", op1), "the caller's card")
		c10 := e.call("+79160000010")
		e.send(c7.HangupOut("ANSWER"), c10.DialOut(), c10.HangupOut("NOANSWER"))
		e.end()
		require.Equal(t, out.ID, e.callOn(c7.CallID).EntityID)
		var outs []amocrmtest.Contact
		for _, c := range e.amo.Contacts() {
			if c.Name == "Автоконтакт: Исходящий" {
				outs = append(outs, c)
			}
		}
		require.Len(t, outs, 2, "scenario 10: a contact for the unanswered call too")

		// 3 and 8: "create contact" off: the card offers to create one on
		// answer, and a contact made during the call gets it.
		off := match.RuleSet{Default: match.Rules{Rule: match.Rule{}}}
		e3 := newAmoEnv(t, "", &off)
		c3 := e3.call("+79160000003")
		e3.send(c3.DialIn(), c3.Answer())
		require.Nil(t, e3.contact("Автоконтакт: Входящий"), "scenario 3: nothing created")
		code, body := e3.srv.do(t, http.MethodGet, "/api/popups?employee="+strconv.FormatInt(op1, 10), "", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `"offer":true`, "scenario 3: the card offers to create a contact")
		made := e3.amo.AddContact(amocrmtest.Contact{Name: "ООО Ромашка", Phones: []string{"+79160000003"}})
		e3.clock.Advance(time.Minute) // they talk on
		e3.send(c3.Hangup())
		e3.end()
		require.Equal(t, made, e3.callOn(c3.CallID).EntityID, "scenario 3: the call on the contact made during it")
		c8 := e3.call("+79160000008")
		e3.send(c8.DialOut(), c8.AnswerOut())
		code, body = e3.srv.do(t, http.MethodGet, "/api/popups?employee="+strconv.FormatInt(op1, 10), "", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, 2, strings.Count(body, `"offer":true`), "scenario 8: the offer on answer")
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
