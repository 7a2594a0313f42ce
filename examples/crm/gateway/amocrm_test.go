package gateway_test

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
	return seed002Call(e.next, client, e.clock.Now().Add(-time.Minute))
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

// talk lets a minute pass.
func (e *amoEnv) talk() { e.clock.Advance(time.Minute) }

// end lets the calls settle.
func (e *amoEnv) end() { e.clock.Advance(match.DefaultGracePeriod) }

// amoFake is the demo's amoCRM fake.
func (e *amoEnv) amoFake() *amocrmtest.Server { return e.amo }

// callOn waits for the call of id in amoCRM and returns the entity it is on.
func (e *amoEnv) callOn(id string) amocrmtest.Call {
	e.t.Helper()
	return amoCallOn(e.t, e.amo, "app", id)
}

// popped reports whether amoCRM showed the pop-up for phone to user.
func (e *amoEnv) popped(phone string, user int64) bool { return poppedTo(e.amo, phone, user) }

// popups is the body of GET /api/popups?employee=employee.
func (e *amoEnv) popups(employee int64) string {
	e.t.Helper()
	code, body := e.srv.do(e.t, http.MethodGet, "/api/popups?employee="+strconv.FormatInt(employee, 10), "", "")
	require.Equal(e.t, http.StatusOK, code, body)
	return body
}

// TestSeed002TenScenarios replays the ten scenarios of seed 002 (Telphin
// × amoCRM; seed002CreateOn and seed002CreateOff) through the gateway in
// amoCRM mode (-crm amocrm over the amoCRM fake), in memory and in SQLite
// mode, and checks in amoCRM what the guide lists for each: the pop-up
// cards, the contacts created (with their names, responsible and the
// moment), and the card each call lands on. TestSeed002TenScenariosProcess
// runs the same through the crm command as a process.
func TestSeed002TenScenarios(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		seed002CreateOn(t, newAmoEnv(t, db, nil)) // the guide's defaults: create contacts everywhere
		off := match.RuleSet{Default: match.Rules{Rule: match.Rule{}}}
		if db != "" {
			db = filepath.Join(t.TempDir(), "off.db")
		}
		seed002CreateOff(t, newAmoEnv(t, db, &off))
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

// TestAmoCRMNotificationDelivery: in amoCRM mode, without any sender
// configured, /api/notifications shows how telling the employee in amoCRM
// went (deliveries.amocrm), in memory and in a database.
func TestAmoCRMNotificationDelivery(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		clock := newFakeClock()
		srv := start(t, gateway.Config{Demo: true, CRM: gateway.CRMAmoCRM, Clock: clock, DB: db})
		e := &amoEnv{t: t, srv: srv, amo: srv.AmoCRMFake(), clock: clock}
		op2 := amocrmtest.DefaultUsers[1]
		e.amo.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+79162222222"}, ResponsibleUserID: op2.ID})
		c := e.call("+79162222222")
		miss := c.Hangup()
		miss.Set("CallStatus", "NOANSWER")
		miss.Set("Duration", "0")
		e.send(c.DialIn(), miss)
		e.end()
		var n gateway.Notification
		require.Eventually(t, func() bool {
			clock.Advance(time.Second) // the inbox may hand the events over after end
			n = notifications(t, srv)[c.CallID]
			return n.Deliveries["amocrm"] != nil
		}, 10*time.Second, 10*time.Millisecond, "the notification and its amoCRM delivery")
		require.True(t, e.popped("+79162222222", op2.ID), "amoCRM's pop-up")
		d := n.Deliveries["amocrm"]
		require.Equal(t, "sent", d.State)
		require.Equal(t, 1, d.Attempts)
		require.NotNil(t, d.SentAt)
		require.Nil(t, n.Delivery, "no webhook")
		require.Nil(t, n.Deliveries["email"], "no e-mail")
	})
}
