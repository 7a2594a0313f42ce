package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/internal/browsertest"
	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// The workspace in a real browser (the system's Chromium, headless,
// through chromedp; skipped without one, failed under CI=true): one
// browser for the test, a browser context of its own per employee.
// Every wait is for a condition on the page, bounded by
// browsertest.StepTimeout; screenshots of the main states are saved when
// a test fails (the directory is in the log).

// screenClients are the CRM's clients of the browser tests.
const screenClients = `[
  {"id": "1", "name": "Иван Петров", "phone": "+7 916 123-45-67", "responsible": "anna"},
  {"id": "2", "name": "ООО Ромашка", "phone": "+7 812 335-11-27", "responsible": "anna"},
  {"id": "3", "name": "Пётр Сидоров", "phone": "+7 903 555-00-11", "responsible": "anna"}
]`

// annaPassword is anna's password; its hash has few iterations, for the
// tests' speed.
const annaPassword = "correct horse battery staple"

// screen is a gateway for the browser tests with a Telphin fake behind
// it, and the employees anna (101, admin, with a password) and boris
// (102).
type screen struct {
	*server
	pbx   *telphintest.Server
	clock *matchtest.Clock
}

func startScreen(t testing.TB, cfg gateway.Config) *screen {
	t.Helper()
	pbx := telphintest.NewServer()
	t.Cleanup(pbx.Close)
	clock := newFakeClock()
	cfg.Clock = clock
	cfg.TelphinClientID, cfg.TelphinClientSecret, cfg.TelphinBaseURL = pbx.ClientID, pbx.ClientSecret, pbx.URL
	cfg.EmployeeSync = -1
	if cfg.Employees == nil {
		cfg.Employees = []match.Employee{
			{ID: "anna", Name: "Анна", Extensions: []string{"101"}, Admin: true},
			{ID: "boris", Name: "Борис", Extensions: []string{"102"}},
		}
		cfg.Passwords = map[string]string{"anna": gateway.QuickPasswordHash(t, annaPassword)}
	}
	if cfg.DefaultClients == nil {
		cfg.DefaultClients = []byte(screenClients)
	}
	return &screen{server: start(t, cfg), pbx: pbx, clock: clock}
}

// loginLink is a login link of employee, from the API.
func loginLink(t testing.TB, srv *server, employee string) string {
	t.Helper()
	code, body := srv.do(t, http.MethodPost, "/api/employees/"+employee+"/login-link", "", "")
	require.Equal(t, http.StatusOK, code, body)
	var rep gateway.LoginLinkReply
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	return rep.URL
}

// telphinCall is a Telphin call of the tests: its leg on extension ext
// (101 → 469100, 102 → 469102 on the fake) starting at start.
func telphinCall(id, client, ext string, start time.Time) telphintest.Call {
	extID := map[string]string{"101": "469100", "102": "469102"}[ext]
	return telphintest.Call{CallID: id, CallAPIID: "3584709001-" + id[:8], SubCallID: extID + "-" + id,
		Client: client, DID: "74950000000", Extension: "15400*" + ext, ExtensionID: extID, Start: start,
		Ring: time.Second, Talk: 5 * time.Second}
}

// unanswered is the hangup of a leg that rang and was not answered.
func unanswered(c telphintest.Call) url.Values {
	v := c.Hangup()
	v.Set("CallStatus", "CANCEL")
	v.Set("Duration", "0")
	return v
}

// sendTelphin sends Telphin webhooks to the gateway, each acknowledged.
func (s *screen) sendTelphin(t testing.TB, hooks ...url.Values) {
	t.Helper()
	for _, f := range hooks {
		code, body := s.send(t, hookOf(t, "telphin", telphintest.NewRequest("/hooks/telphin/"+s.pbx.ClientID, "hook-token", f)))
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
	}
}

// pbxRequests are the fake's requests with method and a path containing
// part, each with its JSON body decoded.
func (s *screen) pbxRequests(method, part string) []map[string]any {
	var out []map[string]any
	for _, r := range s.pbx.Requests() {
		if r.Method == method && strings.Contains(r.Path, part) {
			m := map[string]any{"path": r.Path}
			_ = json.Unmarshal(r.Body, &m)
			out = append(out, m)
		}
	}
	return out
}

// css is a chromedp CSS selector.
func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// waitCall waits for the call's panel in state on tab.
func waitCall(t *testing.T, tab context.Context, what, callID, state string) {
	t.Helper()
	browsertest.Step(t, tab, what, chromedp.WaitVisible(css(fmt.Sprintf(`[data-popup][data-call-id=%q][data-state=%q]`, callID, state))))
}

// clickIn clicks the button sel of the call's panel.
func clickIn(t *testing.T, tab context.Context, what, callID, sel string) {
	t.Helper()
	browsertest.Step(t, tab, what, chromedp.Click(css(fmt.Sprintf(`[data-popup][data-call-id=%q] %s`, callID, sel))))
}

// textOf is the text of the element sel.
func textOf(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	return browsertest.Get(t, tab, "text of "+sel, chromedp.TextContent(css(sel)))
}

// TestWorkspaceInBrowser proves the workspace's items in Chromium.
func TestWorkspaceInBrowser(t *testing.T) {
	browser := browsertest.Browser(t)

	// Anna signs in with her password, Boris by a login link. A
	// Telphin call from a client pops up on Anna's screen with the
	// client; she answers; a second call comes and, answered, puts the
	// first on hold through Telphin; she hangs the second up, takes the
	// first back and transfers it through the picker, which shows Boris
	// away on extension 102; it rings Boris with the card, he answers and
	// hangs up, and it is in the history. A missed call is told to Anna as it
	// happens; clicking a number calls it from her extension.
	t.Run("calls", func(t *testing.T) {
		s := startScreen(t, gateway.Config{})
		shots := browsertest.NewShots(t)
		anna, boris := browsertest.Tab(t, browser), browsertest.Tab(t, browser)
		shots.Watch("anna", anna)
		shots.Watch("boris", boris)

		browsertest.Step(t, anna, "sign-in page", chromedp.Navigate(s.URL+"/"), chromedp.WaitVisible(css("#signin-submit")))
		browsertest.Step(t, anna, "wrong password",
			chromedp.SendKeys(css("#employee"), "anna"), chromedp.SendKeys(css("#password"), "wrong"),
			chromedp.Click(css("#signin-submit")), chromedp.WaitVisible(css(".error")))
		browsertest.Step(t, anna, "sign in",
			chromedp.SendKeys(css("#password"), annaPassword), chromedp.Click(css("#signin-submit")),
			chromedp.WaitVisible(css("body[data-connected=true] #workspace")))
		require.Equal(t, "Анна", textOf(t, anna, "#me-name"))
		require.Equal(t, "/status", browsertest.Get(t, anna, "status link", chromedp.AttributeValue(css("#status-page-link"), "href")).Value,
			"an admin is linked to the status page")
		browsertest.Step(t, boris, "login link", chromedp.Navigate(loginLink(t, s.server, "boris")),
			chromedp.WaitVisible(css("body[data-connected=true] #workspace")))
		require.Equal(t, 0, browsertest.Get(t, boris, "no status link", chromedp.Evaluate[int](`document.querySelectorAll('#status-page-link').length`)))

		// Boris sets his own status with the switch.
		browsertest.Step(t, boris, "status switch", chromedp.Evaluate[chromedp.Void](
			`(() => { const s = document.querySelector('#status-select'); s.value = 'away'; s.dispatchEvent(new Event('change')); })()`),
			chromedp.WaitVisible(css(".toast")))
		var emps struct{ Employees []gateway.Employee }
		code, body := s.do(t, http.MethodGet, "/api/employees", "", "")
		require.Equal(t, http.StatusOK, code, body)
		require.NoError(t, json.Unmarshal([]byte(body), &emps))
		require.Equal(t, "away", emps.Employees[slices.IndexFunc(emps.Employees, func(e gateway.Employee) bool { return e.ID == "boris" })].Status)

		// A client calls Anna: the pop-up shows Ivan Petrov.
		base := time.Now().UTC().Add(-2 * time.Minute).Truncate(time.Millisecond)
		x := telphinCall("aaaa0000000000000000000000000001", "+79161234567", "101", base)
		s.pbx.AddCurrentCall(469100, map[string]any{"call_api_id": x.CallAPIID, "call_id": x.CallID})
		s.sendTelphin(t, x.DialIn())
		waitCall(t, anna, "the pop-up", x.CallID, "ringing")
		require.Contains(t, textOf(t, anna, `[data-call-id="`+x.CallID+`"] .client-name`), "Иван Петров")
		shots.Take(anna, "pop-up")
		s.sendTelphin(t, x.Answer())
		waitCall(t, anna, "answered", x.CallID, "talking")

		// A second call, answered, puts the first on hold (Telphin can).
		y := telphinCall("bbbb0000000000000000000000000002", "+78123351127", "101", base.Add(10*time.Second))
		s.pbx.AddCurrentCall(469100, map[string]any{"call_api_id": y.CallAPIID, "call_id": y.CallID})
		s.sendTelphin(t, y.DialIn(), y.Answer())
		waitCall(t, anna, "the second call", y.CallID, "talking")
		waitCall(t, anna, "the first held by itself", x.CallID, "on_hold")
		shots.Take(anna, "two calls, one held")
		held := s.pbxRequests(http.MethodPut, "/current_calls/"+x.CallAPIID)
		require.Len(t, held, 1, "%v", held)
		require.Equal(t, "hold", held[0]["action"])

		// She hangs the second up and takes the first back.
		clickIn(t, anna, "hang up the second", y.CallID, ".act-hangup")
		require.Eventually(t, func() bool { return len(s.pbxRequests(http.MethodDelete, "/current_calls/"+y.CallAPIID)) == 1 },
			browsertest.StepTimeout, 5*time.Millisecond, "Telphin asked to hang up")
		y.Talk = 15 * time.Second
		s.sendTelphin(t, y.Hangup())
		waitCall(t, anna, "the second ended", y.CallID, "ended")
		clickIn(t, anna, "take the first back", x.CallID, ".act-unhold")
		waitCall(t, anna, "the first talking again", x.CallID, "talking")
		require.Equal(t, "offhold", s.pbxRequests(http.MethodPut, "/current_calls/"+x.CallAPIID)[1]["action"])

		// The transfer picker shows Boris, away, extension 102.
		clickIn(t, anna, "transfer", x.CallID, ".act-transfer")
		browsertest.Step(t, anna, "the picker", chromedp.WaitVisible(css(`#transfer-dialog .pick[data-employee="boris"]`)))
		shots.Take(anna, "transfer picker")
		require.Equal(t, "away", textOf(t, anna, `.pick[data-employee="boris"] .badge`))
		require.Contains(t, textOf(t, anna, `.pick[data-employee="boris"]`), "102")
		browsertest.Step(t, anna, "pick Boris", chromedp.Click(css(`.pick[data-employee="boris"]`)))
		require.Eventually(t, func() bool { return len(s.pbxRequests(http.MethodPut, "/current_calls/"+x.CallAPIID)) == 3 },
			browsertest.StepTimeout, 5*time.Millisecond, "Telphin asked to transfer")
		tr := s.pbxRequests(http.MethodPut, "/current_calls/"+x.CallAPIID)[2]
		require.Equal(t, map[string]any{"path": tr["path"], "action": "transfer", "send_dst": "15400*102"}, tr)

		// Telphin rings Boris with the call; Anna's leg ends.
		bx := telphinCall(x.CallID, x.Client, "102", base.Add(30*time.Second))
		bx.CallAPIID = x.CallAPIID
		s.pbx.AddCurrentCall(469102, map[string]any{"call_api_id": x.CallAPIID, "call_id": x.CallID})
		x.Talk = 35 * time.Second
		s.sendTelphin(t, bx.TransferredDialIn("15400*101"), x.Hangup())
		waitCall(t, boris, "Boris's pop-up", x.CallID, "ringing")
		require.Contains(t, textOf(t, boris, `[data-call-id="`+x.CallID+`"] .client-name`), "Иван Петров")
		s.sendTelphin(t, bx.Answer())
		waitCall(t, boris, "Boris talks", x.CallID, "talking")
		clickIn(t, boris, "Boris hangs up", x.CallID, ".act-hangup")
		require.Eventually(t, func() bool { return len(s.pbxRequests(http.MethodDelete, "/extension/469102/current_calls/")) == 1 },
			browsertest.StepTimeout, 5*time.Millisecond, "Telphin asked to hang up Boris's leg")
		s.sendTelphin(t, bx.Hangup())
		waitCall(t, boris, "ended", x.CallID, "ended")
		waitEvents(t, s.server, 9)
		s.clock.Advance(match.DefaultSettle)
		// The call is Anna's, who answered it (the engine's decision).
		browsertest.Step(t, anna, "in the history", chromedp.WaitVisible(css(`#history tr[data-call-id="`+x.CallID+`"][data-status=success]`)))
		shots.Take(anna, "history")

		// A client hangs up before Anna answers: she is told at once.
		m := telphinCall("cccc0000000000000000000000000003", "+79035550011", "101", base.Add(40*time.Second))
		s.sendTelphin(t, m.DialIn(), m.QueueMissed(), unanswered(m))
		waitEvents(t, s.server, 12)
		s.clock.Advance(match.DefaultSettle)
		browsertest.Step(t, anna, "the missed call told", chromedp.WaitVisible(css(`#notes .kind-missed[data-call-id="`+m.CallID+`"]`)))
		shots.Take(anna, "missed call")

		// Click-to-call on the number of the notification.
		browsertest.Step(t, anna, "click a number", chromedp.Click(css(`#notes .kind-missed [data-phone="79035550011"]`)))
		require.Eventually(t, func() bool { return len(s.pbxRequests(http.MethodPost, "/extension/469100/callback/")) == 1 },
			browsertest.StepTimeout, 5*time.Millisecond, "Telphin asked to call")
		cb := s.pbxRequests(http.MethodPost, "/extension/469100/callback/")[0]
		require.Equal(t, []any{"15400*101"}, cb["src_num"], "from Anna's extension")
		require.Equal(t, "+79035550011", cb["dst_num"], "to the number clicked")
	})

	// The dialing list: the panel shows the list's first target and its
	// card, counts the wrap-up down and at zero tells the dialer Anna is
	// ready, and the next call goes out with the next target's card; a
	// disposition and a skip reach the dialer.
	t.Run("dialing list", func(t *testing.T) {
		d := &listDialer{employee: "anna", from: "101", wrapUp: time.Second, targets: []live.CampaignTarget{
			{ID: "lead-1", Name: "Сделка: Иван Петров", Phone: "79161234567", URL: "https://crm.example/leads/1"},
			{ID: "lead-2", Name: "Сделка: ООО Ромашка", Phone: "78123351127", URL: "https://crm.example/leads/2"},
			{ID: "lead-3", Name: "Сделка: Пётр Сидоров", Phone: "79035550011"},
		}}
		s := startScreen(t, gateway.Config{Campaigns: d})
		d.s = s
		shots := browsertest.NewShots(t)
		anna := browsertest.Tab(t, browser)
		shots.Watch("anna", anna)
		browsertest.Step(t, anna, "login link", chromedp.Navigate(loginLink(t, s.server, "anna")),
			chromedp.WaitVisible(css("body[data-connected=true] #workspace")))

		d.start(t)
		browsertest.Step(t, anna, "the first target", chromedp.WaitVisible(css(`#campaign-target[data-target="lead-1"] .client-name a`)))
		require.Equal(t, "https://crm.example/leads/1", browsertest.Get(t, anna, "card link",
			chromedp.AttributeValue(css(`#campaign-target .client-name a`), "href")).Value)
		require.Equal(t, "+79161234567", s.pbxRequests(http.MethodPost, "/callback/")[0]["dst_num"])

		// The call ends: the wrap-up counts down and the list goes on.
		d.wrap(t)
		browsertest.Step(t, anna, "the wrap-up", chromedp.WaitVisible(css(`#campaign[data-state=wrap_up] #campaign-countdown[data-left]`)))
		shots.Take(anna, "wrap-up")
		browsertest.Step(t, anna, "the next target", chromedp.WaitVisible(css(`#campaign-target[data-target="lead-2"]`)))
		require.GreaterOrEqual(t, d.readyAfter(), d.wrapUp, "ready came when the wrap-up was over, not before")
		require.Len(t, s.pbxRequests(http.MethodPost, "/callback/"), 2)
		require.Equal(t, "+78123351127", s.pbxRequests(http.MethodPost, "/callback/")[1]["dst_num"])

		d.wrap(t)
		browsertest.Step(t, anna, "record an outcome", chromedp.WaitVisible(css(`#campaign-disposition`)),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#campaign-outcome').value = 'callback'`),
			chromedp.Click(css(`#campaign-disposition button`)))
		browsertest.Step(t, anna, "pause, then skip", chromedp.Click(css(`#campaign-pause`)),
			chromedp.WaitVisible(css(`#campaign[data-state=paused]`)),
			chromedp.Click(css(`#campaign-skip`)), chromedp.WaitVisible(css(`#campaign-target[data-target="lead-3"]`)))
		require.Equal(t, []string{"ready", "disposition lead-2 callback", "pause", "skip"}, d.log())
	})

	// Seed 004: a Finaz answered-call notification opens its client on
	// the operator's screen — the client pid names (the dialer), or the
	// number's (receptive). A name with HTML in it is shown as text. Two
	// MegaFon calls answered at once: MegaFon cannot hold, so the first
	// waits, without a hold button.
	t.Run("finaz, escaping and waiting", func(t *testing.T) {
		clients := strings.Replace(string(defaultClients(t)), "\n]", `,
  {"id": "6", "name": "<img src=x onerror=\"window.__xss=1\"><b>Злой</b> & Co", "phone": "+55 11 91234-0000", "responsible": "2001"}
]`, 1)
		srv := start(t, gateway.Config{Clock: newFakeClock(), DefaultClients: []byte(clients)})
		shots := browsertest.NewShots(t)
		op, ivan := browsertest.Tab(t, browser), browsertest.Tab(t, browser)
		shots.Watch("operator", op)
		shots.Watch("701", ivan)
		browsertest.Step(t, op, "operator 2001", chromedp.Navigate(loginLink(t, srv, "2001")), chromedp.WaitVisible(css("body[data-connected=true] #workspace")))
		browsertest.Step(t, ivan, "employee 701", chromedp.Navigate(loginLink(t, srv, "701")), chromedp.WaitVisible(css("body[data-connected=true] #workspace")))

		n := finaztest.Notification{PID: "6", Num: "11987654321", CID: "fz-1", Ramal: "2001", EmpresaID: "123", Token: "hook-token"}
		code, body := srv.send(t, hookOf(t, "finaz", finaztest.NewDiscadorRequest("/hooks/finaz/", n)))
		require.Equal(t, http.StatusOK, code, body)
		browsertest.Step(t, op, "the dialer's client", chromedp.WaitVisible(css(`[data-popup][data-call-id="fz-1"] .client-name`)))
		shots.Take(op, "finaz card")
		require.Equal(t, `<img src=x onerror="window.__xss=1"><b>Злой</b> & Co`, textOf(t, op, `[data-call-id="fz-1"] .client-name`),
			"pid names the client, shown as text")
		require.Equal(t, 0, browsertest.Get(t, op, "no markup", chromedp.Evaluate[int](`document.querySelectorAll('#calls img, #calls b').length`)))
		require.Equal(t, "undefined", browsertest.Get(t, op, "no script ran", chromedp.Evaluate[string](`typeof window.__xss`)))

		n = finaztest.Notification{Num: "11987654321", CID: "fz-2", Ramal: "2001", EmpresaID: "123", Token: "hook-token"}
		code, body = srv.send(t, hookOf(t, "finaz", finaztest.NewReceptivoRequest("/hooks/finaz/", n)))
		require.Equal(t, http.StatusOK, code, body)
		browsertest.Step(t, op, "the receptive call's client", chromedp.WaitVisible(css(`[data-popup][data-call-id="fz-2"] .client-name`)))
		require.Equal(t, "Padaria Pão Quente", textOf(t, op, `[data-call-id="fz-2"] .client-name`))

		first := megafontest.Call{ID: "mf-w-1", Direction: "in", Phone: "79161234567", User: "andy", Ext: "701"}
		second := megafontest.Call{ID: "mf-w-2", Direction: "in", Phone: "78123351127", User: "andy", Ext: "701"}
		sendMegafon(t, srv, megafontest.Event("INCOMING", first), megafontest.Event("ACCEPTED", first))
		waitCall(t, ivan, "the first call", first.ID, "talking")
		sendMegafon(t, srv, megafontest.Event("INCOMING", second), megafontest.Event("ACCEPTED", second))
		waitCall(t, ivan, "the second call", second.ID, "talking")
		waitCall(t, ivan, "the first waits", first.ID, "waiting")
		shots.Take(ivan, "waiting")
		require.Equal(t, 0, browsertest.Get(t, ivan, "no hold button", chromedp.Evaluate[int](`document.querySelectorAll('[data-popup] .act-hold').length`)),
			"MegaFon cannot hold: no button")
	})

	// -demo as a newcomer sees it: a demo employee's login link, the demo
	// phone rings with a client, answers, holds and hangs up through the
	// Telphin fake; an unknown number's card offers a contact, created
	// with the employee responsible; a client who hangs up before the
	// answer is a missed call told at once.
	t.Run("demo", func(t *testing.T) {
		clock := newFakeClock()
		srv := start(t, gateway.Config{Demo: true, Clock: clock,
			Rules: &match.RuleSet{Default: match.Rules{Rule: match.Rule{}}}}) // seed 002 scenario 3: offer, not create
		shots := browsertest.NewShots(t)
		tab := browsertest.Tab(t, browser)
		shots.Watch("101", tab)
		browsertest.Step(t, tab, "login link", chromedp.Navigate(loginLink(t, srv, "101")), chromedp.WaitVisible(css("body[data-connected=true] #demo-ring-known")))

		browsertest.Step(t, tab, "ring", chromedp.Click(css("#demo-ring-known")), chromedp.WaitVisible(css(`[data-popup][data-state=ringing] .act-demo-answer`)))
		id := browsertest.Get(t, tab, "call id", chromedp.AttributeValue(css(`[data-popup][data-state=ringing]`), "data-call-id")).Value
		require.Contains(t, textOf(t, tab, `[data-call-id="`+id+`"] .client-name`), "ООО Ромашка")
		clickIn(t, tab, "answer", id, ".act-demo-answer")
		waitCall(t, tab, "talking", id, "talking")
		clickIn(t, tab, "hold", id, ".act-hold")
		waitCall(t, tab, "on hold", id, "on_hold")
		clickIn(t, tab, "hang up", id, ".act-hangup")
		waitCall(t, tab, "ended", id, "ended")
		clickIn(t, tab, "close", id, ".act-dismiss")

		browsertest.Step(t, tab, "an unknown number", chromedp.Click(css("#demo-ring-unknown")), chromedp.WaitVisible(css(`[data-popup][data-state=ringing] .act-demo-answer`)))
		id = browsertest.Get(t, tab, "call id", chromedp.AttributeValue(css(`[data-popup][data-state=ringing]`), "data-call-id")).Value
		clickIn(t, tab, "answer", id, ".act-demo-answer")
		browsertest.Step(t, tab, "the offer", chromedp.WaitVisible(css(`[data-call-id="`+id+`"] .act-create-company`)))
		shots.Take(tab, "offer")
		browsertest.Step(t, tab, "create a company", chromedp.SendKeys(css(`[data-call-id="`+id+`"] .offer input`), "ООО Новый клиент"),
			chromedp.Click(css(`[data-call-id="`+id+`"] .act-create-company`)))
		browsertest.Step(t, tab, "its card", chromedp.WaitNotPresent(css(`[data-call-id="`+id+`"] .offer`)))
		require.Equal(t, "ООО Новый клиент", textOf(t, tab, `[data-call-id="`+id+`"] .client-name`))
		var made []gateway.Client
		getJSON(t, srv, "/api/clients", &made)
		require.Equal(t, "ООО Новый клиент", made[len(made)-1].Name)
		require.Equal(t, "101", made[len(made)-1].Responsible, "the employee who created it")
		clickIn(t, tab, "hang up", id, ".act-hangup")
		waitCall(t, tab, "ended", id, "ended")

		browsertest.Step(t, tab, "ring again", chromedp.Click(css("#demo-ring-known")), chromedp.WaitVisible(css(`[data-popup][data-state=ringing] .act-demo-abandon`)))
		id = browsertest.Get(t, tab, "call id", chromedp.AttributeValue(css(`[data-popup][data-state=ringing]`), "data-call-id")).Value
		clickIn(t, tab, "the client hangs up", id, ".act-demo-abandon")
		waitEvents(t, srv, 9)
		clock.Advance(match.DefaultSettle)
		browsertest.Step(t, tab, "the missed call told", chromedp.WaitVisible(css(`#notes .kind-missed[data-call-id="`+id+`"]`)))
	})
}

// listDialer is the dialing list of the browser test: the smallest
// dialer behind the panel's interface (gateway.Campaigns), placing each
// call through the gateway's click-to-call API and showing each change
// with CampaignChanged.
type listDialer struct {
	s        *screen
	employee string
	from     string
	wrapUp   time.Duration
	targets  []live.CampaignTarget

	mu      sync.Mutex
	pos     int
	paused  bool
	wrapped time.Time // when the last wrap-up began
	readyAt time.Time // when the panel was ready after it
	actions []string
}

func (d *listDialer) publish(state string) {
	c := live.Campaign{ID: "list-1", Name: "Обзвон: сделки", Employee: d.employee, State: state, Position: d.pos + 1,
		Total: len(d.targets), Dispositions: []string{"interested", "callback", "refused"}}
	if d.pos < len(d.targets) {
		tg := d.targets[d.pos]
		c.Target = &tg
	}
	if state == live.CampaignWrapUp {
		c.WrapUp, c.WrapUpUntil = callevent.Seconds(d.wrapUp), time.Now().Add(d.wrapUp)
	}
	d.s.CampaignChanged(c)
}

// call places the call to the current target.
func (d *listDialer) call() error {
	tg := &d.targets[d.pos]
	body, _ := json.Marshal(gateway.CallRequest{Provider: "telphin", From: d.from, To: "+" + tg.Phone})
	req, err := http.NewRequest(http.MethodPost, d.s.URL+"/api/calls", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var rep gateway.CallReply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("click-to-call: %d %v", resp.StatusCode, err)
	}
	tg.Provider, tg.CallID = "telphin", rep.CallID
	d.publish(live.CampaignDialing)
	return nil
}

func (d *listDialer) start(t *testing.T) {
	d.mu.Lock()
	defer d.mu.Unlock()
	require.NoError(t, d.call())
}

// wrap: the current call ended, the wrap-up begins.
func (d *listDialer) wrap(t *testing.T) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.wrapped = time.Now()
	d.publish(live.CampaignWrapUp)
}

// readyAfter is how long after the wrap-up began the panel was ready.
func (d *listDialer) readyAfter() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readyAt.Sub(d.wrapped)
}

func (d *listDialer) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.actions)
}

func (d *listDialer) check(employee, campaign string) error {
	if employee != d.employee || campaign != "list-1" {
		return gateway.ErrNoCampaign
	}
	return nil
}

// next goes on with the next target.
func (d *listDialer) next() error {
	d.paused = false
	if d.pos+1 >= len(d.targets) {
		d.pos = len(d.targets)
		d.publish(live.CampaignDone)
		return nil
	}
	d.pos++
	return d.call()
}

func (d *listDialer) Ready(_ context.Context, employee, campaign string) error {
	if err := d.check(employee, campaign); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.actions = append(d.actions, "ready")
	d.readyAt = time.Now()
	return d.next()
}

func (d *listDialer) Skip(_ context.Context, employee, campaign string) error {
	if err := d.check(employee, campaign); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.actions = append(d.actions, "skip")
	return d.next()
}

func (d *listDialer) Pause(_ context.Context, employee, campaign string) error {
	if err := d.check(employee, campaign); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.actions = append(d.actions, "pause")
	d.paused = true
	d.publish(live.CampaignPaused)
	return nil
}

func (d *listDialer) Disposition(_ context.Context, employee, campaign, target, disposition string) error {
	if err := d.check(employee, campaign); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.actions = append(d.actions, "disposition "+target+" "+disposition)
	return nil
}

// BenchmarkBrowserPopup measures webhook → pop-up in Chromium: from
// sending a Telphin dial-in to the page's MutationObserver seeing the
// call's pop-up inserted in the DOM, both on the wall clock (the page's
// performance.timeOrigin + performance.now()). Each call rings Anna, a
// new call each; it reports the p50 and the max:
//
//	go test -run '^$' -bench BrowserPopup -benchtime 50x ./examples/crm/gateway
func BenchmarkBrowserPopup(b *testing.B) {
	browser := browsertest.Browser(b)
	s := startScreen(b, gateway.Config{})
	tab := browsertest.Tab(b, browser)
	browsertest.Step(b, tab, "login link", chromedp.Navigate(loginLink(b, s.server, "anna")),
		chromedp.WaitVisible(css("body[data-connected=true] #workspace")),
		chromedp.Evaluate[chromedp.Void](`(() => {
			window.__seen = {};
			new MutationObserver(() => {
				for (const el of document.querySelectorAll('[data-popup][data-call-id]')) {
					const id = el.dataset.callId;
					if (!(id in window.__seen)) window.__seen[id] = performance.timeOrigin + performance.now();
				}
			}).observe(document.getElementById('calls'), {childList: true, subtree: true});
		})()`))
	lat := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("%032x", 0xb0000+i)
		c := telphinCall(id, "+79161234567", "101", time.Now().UTC().Add(-time.Second))
		sent := float64(time.Now().UnixMicro()) / 1000
		s.sendTelphin(b, c.DialIn())
		drawn := browsertest.Get(b, tab, "the pop-up", chromedp.Poll[float64](fmt.Sprintf("window.__seen[%q]", id),
			chromedp.WithPollingTimeout(browsertest.StepTimeout)))
		lat = append(lat, drawn-sent)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[len(lat)-1], "max-ms")
	b.ReportMetric(0, "ns/op")
}
