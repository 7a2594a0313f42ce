package gateway_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// campaignStatus is GET /api/campaigns/{id}.
func campaignStatus(t *testing.T, srv *server, id string) dialer.Status {
	t.Helper()
	code, body := srv.do(t, http.MethodGet, "/api/campaigns/"+id, "", "")
	require.Equal(t, http.StatusOK, code, body)
	var st dialer.Status
	require.NoError(t, json.Unmarshal([]byte(body), &st), body)
	return st
}

// agentDo is POST /api/campaigns/{id}/agents/{employee}/{action}.
func agentDo(t *testing.T, srv *server, id, emp, action, body string) dialer.Agent {
	t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	code, out := srv.do(t, http.MethodPost, "/api/campaigns/"+id+"/agents/"+emp+"/"+action, ct, body)
	require.Equal(t, http.StatusOK, code, out)
	var a dialer.Agent
	require.NoError(t, json.Unmarshal([]byte(out), &a), out)
	return a
}

// createCampaign posts a JSON campaign and returns the reply.
func createCampaign(t *testing.T, srv *server, body string) gateway.CampaignReply {
	t.Helper()
	code, out := srv.do(t, http.MethodPost, "/api/campaigns", "application/json", body)
	require.Equal(t, http.StatusCreated, code, out)
	var rep gateway.CampaignReply
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return rep
}

// TestCampaignEndToEnd runs a power campaign of two CRM clients through
// the gateway against the MegaFon fake: created from client ids, started,
// the agent ready (the first call goes out and its card, with the
// client, reaches the agent's screen), the outcome from MegaFon's
// webhooks, the next call only after the wrap-up time on the gateway's
// clock, busy, done.
func TestCampaignEndToEnd(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		clock := newFakeClock()
		srv := start(t, gateway.Config{Demo: true, Clock: clock, DB: db})
		rep := createCampaign(t, srv, `{"name":"Весна","provider":"megafon","mode":"power","agents":["701"],"wrap_up_sec":30,
			"retry":{"busy":{"max_attempts":1}},"client_ids":["1","2"]}`)
		require.Equal(t, 2, rep.Targets)
		require.Equal(t, dialer.Draft, rep.Campaign.State)
		id := rep.Campaign.ID
		code, body := srv.do(t, http.MethodPost, "/api/campaigns/"+id+"/start", "", "")
		require.Equal(t, http.StatusOK, code, body)

		a := agentDo(t, srv, id, "701", "ready", "")
		require.Equal(t, dialer.AgentDialing, a.State)
		require.Equal(t, 1, a.Target)
		require.Equal(t, "CALL000001", a.CallID)

		code, body = srv.do(t, http.MethodGet, "/api/popups?employee=701", "", "")
		require.Equal(t, http.StatusOK, code, body)
		var cards struct{ PopUps []gateway.Card }
		require.NoError(t, json.Unmarshal([]byte(body), &cards), body)
		require.Len(t, cards.PopUps, 1, body)
		card := cards.PopUps[0]
		require.Equal(t, match.PhaseDialing, card.Phase)
		require.Equal(t, "ООО Ромашка", card.Client.Name)
		require.Equal(t, "1", card.Client.ID)
		require.NotNil(t, card.Dialer)
		require.Equal(t, id, card.Dialer.Campaign)
		require.Equal(t, "client", card.Dialer.Target.Entity)
		require.Equal(t, "1", card.Dialer.Target.EntityID)

		agent := func() dialer.Agent { return campaignStatus(t, srv, id).Agents[0] }
		call := megafontest.Call{ID: "CALL000001", Direction: "out", Phone: "78123351127", User: "andy", Ext: "701"}
		sendMegafon(t, srv, megafontest.Event("OUTGOING", call), megafontest.Event("ACCEPTED", call))
		require.Eventually(t, func() bool { return agent().State == dialer.AgentInCall }, 10*time.Second, 5*time.Millisecond)
		sendMegafon(t, srv, megafontest.Event("COMPLETED", call),
			megafontest.History(call, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 60}))
		require.Eventually(t, func() bool { return agent().State == dialer.AgentWrapUp }, 10*time.Second, 5*time.Millisecond)
		require.Equal(t, 2, agent().Target, "the next target is reserved during the wrap-up")

		clock.Advance(29 * time.Second)
		require.Equal(t, dialer.AgentWrapUp, agent().State, "no call before the wrap-up is over")
		clock.Advance(time.Second)
		a = agent()
		require.Equal(t, dialer.AgentDialing, a.State)
		require.Equal(t, "CALL000002", a.CallID)
		busy := megafontest.Call{ID: "CALL000002", Direction: "out", Phone: "79161234567", User: "andy", Ext: "701"}
		sendMegafon(t, srv, megafontest.Event("OUTGOING", busy), megafontest.Event("CANCELLED", busy),
			megafontest.History(busy, megafontest.Outcome{Status: "Busy", Start: clock.Now().Add(-time.Minute), Duration: 3}))
		require.Eventually(t, func() bool { return campaignStatus(t, srv, id).Outcomes[dialer.Busy] == 1 }, 10*time.Second, 5*time.Millisecond)
		agentDo(t, srv, id, "701", "disposition", `{"disposition":"call_back"}`)

		st := campaignStatus(t, srv, id)
		require.Equal(t, dialer.Done, st.Campaign.State)
		require.Equal(t, map[dialer.Outcome]int{dialer.Answered: 1, dialer.Busy: 1}, st.Outcomes)
		require.Equal(t, 2, st.Attempts)
		require.Equal(t, dialer.AgentAway, st.Agents[0].State)
		// The calls are in the CRM's log too, as any call.
		require.Eventually(t, func() bool { return len(srv.Calls()) == 2 }, 10*time.Second, 5*time.Millisecond)

		code, body = srv.do(t, http.MethodGet, "/api/campaigns", "", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `"id":"`+id+`"`)
	})
}

// multipartBody builds a multipart upload with settings and a CSV file.
func multipartBody(t *testing.T, settings, csv string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if settings != "" {
		require.NoError(t, mw.WriteField("settings", settings))
	}
	if csv != "" {
		fw, err := mw.CreateFormFile("file", "list.csv")
		require.NoError(t, err)
		_, err = fw.Write([]byte(csv))
		require.NoError(t, err)
	}
	require.NoError(t, mw.Close())
	return mw.FormDataContentType(), b.String()
}

// TestCampaignCSV: a CSV upload (multipart with settings, or a text/csv
// body with settings in the query) makes a campaign of its good rows and
// lists each bad row with its line; a file of bad rows only is 400.
func TestCampaignCSV(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{Demo: true, Clock: newFakeClock()})
	csv := "phone;name;id;city\n+79161110001;Анна;L1;Москва\nnot a phone;Борис;L2;\n+79161110003;Вера\n8 916 111-00-01;Глеб;L4;\n+79161110005;Дина;L5;Тверь\n"
	ct, body := multipartBody(t, `{"provider":"telphin","mode":"preview","agents":["101"],"hours":{"from":"09:00","to":"21:00"}}`, csv)
	code, out := srv.do(t, http.MethodPost, "/api/campaigns", ct, body)
	require.Equal(t, http.StatusCreated, code, out)
	var rep gateway.CampaignReply
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Equal(t, 2, rep.Targets)
	require.Equal(t, dialer.Preview, rep.Campaign.Mode)
	var lines []int
	for _, r := range rep.Rejected {
		lines = append(lines, r.Line)
	}
	require.Equal(t, []int{3, 4, 5}, lines, out)
	require.Contains(t, out, `"error":"\"not a phone\" is not a valid phone number"`)
	require.Contains(t, out, `79161110001 is also on line 2`)

	code, out = srv.do(t, http.MethodPost, "/api/campaigns?provider=megafon&agents=701,101&wrap_up_sec=15&hours=09:00-20:00", "text/csv",
		"phone,name\n+79161110001,Анна\n+79161110002,Борис\n")
	require.Equal(t, http.StatusCreated, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Equal(t, []string{"701", "101"}, rep.Campaign.Agents)
	require.Equal(t, 15*time.Second, time.Duration(rep.Campaign.WrapUp))
	require.Equal(t, dialer.TimeOfDay(20*60), rep.Campaign.Hours.To)
	require.Equal(t, dialer.Power, rep.Campaign.Mode, "the default mode")

	for name, tc := range map[string]struct {
		ct, body, query, want string
		status                int
	}{
		"only bad rows":       {"text/csv", "phone\nabc\n", "?provider=telphin&agents=101", "every row is bad, the first line 2: phone", 400},
		"no phone column":     {"text/csv", "name\nАнна\n", "?provider=telphin&agents=101", "no phone column", 400},
		"bad setting":         {"text/csv", "phone\n+79161110001\n", "?provider=telphin&agents=101&wrap_up_sec=soon", "wrap_up_sec:", 400},
		"unknown setting":     {"text/csv", "phone\n+79161110001\n", "?provider=telphin&agent=101", "agent: unknown parameter", 400},
		"bad hours":           {"text/csv", "phone\n+79161110001\n", "?provider=telphin&agents=101&hours=9-21", "hours:", 400},
		"no file":             {"multipart", "", "", "file: required", 400},
		"settings with ids":   {"multipart", `{"provider":"telphin","agents":["101"],"client_ids":["1"]}`, "", "settings: client_ids", 400},
		"settings unknown":    {"multipart", `{"provider":"telphin","agents":["101"],"colour":"red"}`, "", "settings: malformed JSON", 400},
		"no provider":         {"text/csv", "phone\n+79161110001\n", "?agents=101", "provider: required", 400},
		"no agents":           {"text/csv", "phone\n+79161110001\n", "?provider=telphin", "agents: a power campaign needs at least one agent", 400},
		"wrong content type":  {"text/plain", "phone\n", "", "Content-Type", 415},
		"unknown time zone":   {"text/csv", "phone\n+79161110001\n", "?provider=telphin&agents=101&time_zone=Mars/Base", "time_zone: unknown time zone", 400},
		"unknown client":      {"application/json", `{"provider":"telphin","agents":["101"],"client_ids":["1","99"]}`, "", `client_ids[1]: no client \"99\"`, 400},
		"ids and targets":     {"application/json", `{"provider":"telphin","agents":["101"],"client_ids":["1"],"targets":[{"phone":"+79161110001"}]}`, "", "give one of them", 400},
		"bad target":          {"application/json", `{"provider":"telphin","agents":["101"],"targets":[{"phone":"+79161110001"},{"phone":"12"}]}`, "", "targets[1].phone", 400},
		"no targets":          {"application/json", `{"provider":"telphin","agents":["101"]}`, "", "targets: the campaign has no targets", 400},
		"bad mode":            {"application/json", `{"provider":"telphin","mode":"turbo","agents":["101"],"client_ids":["1"]}`, "", "malformed JSON", 400},
		"remote with agents":  {"application/json", `{"provider":"finaz","mode":"remote","agents":["101"],"client_ids":["4"]}`, "", "agents: a remote campaign has no agents", 400},
		"negative wrap-up":    {"application/json", `{"provider":"telphin","agents":["101"],"wrap_up_sec":-5,"client_ids":["1"]}`, "", "wrap_up_sec:", 400},
		"hours with no width": {"application/json", `{"provider":"telphin","agents":["101"],"hours":{"from":"10:00","to":"10:00"},"client_ids":["1"]}`, "", "hours:", 400},
	} {
		t.Run(name, func(t *testing.T) {
			ct, body := tc.ct, tc.body
			if ct == "multipart" {
				ct, body = multipartBody(t, tc.body, "")
			}
			code, out := srv.do(t, http.MethodPost, "/api/campaigns"+tc.query, ct, body)
			require.Equal(t, tc.status, code, out)
			require.Contains(t, out, tc.want)
			require.True(t, strings.HasPrefix(out, `{"error":`), out)
		})
	}
}

// TestCampaignErrors: unknown campaigns, agents and actions are 404;
// starting with an unknown employee or a provider without click-to-call
// is 400 naming them; actions the state forbids are 409; no token 401.
func TestCampaignErrors(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{Clock: newFakeClock()}) // no provider credentials: no click-to-call
	demo := start(t, gateway.Config{Demo: true, Clock: newFakeClock()})
	post := func(s *server, path, ct, body string) (int, string) { return s.do(t, http.MethodPost, path, ct, body) }

	noCall := createCampaign(t, srv, `{"provider":"telphin","agents":["101"],"client_ids":["1"]}`).Campaign.ID
	code, out := post(srv, "/api/campaigns/"+noCall+"/start", "", "")
	require.Equal(t, http.StatusBadRequest, code, out)
	require.Contains(t, out, `\"telphin\" has no click-to-call configured`)

	ghost := createCampaign(t, demo, `{"provider":"telphin","agents":["101","ghost"],"client_ids":["1"]}`).Campaign.ID
	code, out = post(demo, "/api/campaigns/"+ghost+"/start", "", "")
	require.Equal(t, http.StatusBadRequest, code, out)
	require.Contains(t, out, `unknown employee: agents [\"ghost\"]`)
	require.Equal(t, dialer.Draft, campaignStatus(t, demo, ghost).Campaign.State)

	remote := createCampaign(t, demo, `{"provider":"finaz","mode":"remote","client_ids":["4"]}`).Campaign.ID
	code, out = post(demo, "/api/campaigns/"+remote+"/start", "", "")
	require.Equal(t, http.StatusBadRequest, code, out)
	require.Contains(t, out, "no upload_contacts request", "the demo's Finaz has click-to-call only")
	require.Equal(t, dialer.Draft, campaignStatus(t, demo, remote).Campaign.State)

	id := createCampaign(t, demo, `{"provider":"telphin","mode":"preview","agents":["101"],"client_ids":["1","2"]}`).Campaign.ID
	for _, tc := range []struct {
		method, path, ct, body string
		status                 int
		want                   string
	}{
		{http.MethodGet, "/api/campaigns/nope", "", "", 404, "no such campaign"},
		{http.MethodPost, "/api/campaigns/nope/start", "", "", 404, "no such campaign"},
		{http.MethodPost, "/api/campaigns/nope/agents/101/ready", "", "", 404, "no such campaign"},
		{http.MethodPost, "/api/campaigns/" + id + "/launch", "", "", 404, `no campaign action \"launch\"`},
		{http.MethodPost, "/api/campaigns/" + id + "/resume", "", "", 409, "is draft, not paused"},
		{http.MethodPost, "/api/campaigns/" + id + "/agents/101/ready", "", "", 409, "is draft"},
		{http.MethodPost, "/api/campaigns/" + id + "/start", "", "", 200, ""},
		{http.MethodPost, "/api/campaigns/" + id + "/start", "", "", 409, "only a draft starts"},
		{http.MethodPost, "/api/campaigns/" + id + "/agents/999/ready", "", "", 404, `\"999\" in campaign`},
		{http.MethodPost, "/api/campaigns/" + id + "/agents/101/dance", "", "", 404, `no agent action \"dance\"`},
		{http.MethodPost, "/api/campaigns/" + id + "/agents/101/skip", "", "", 409, "no target offered"},
		{http.MethodPost, "/api/campaigns/" + id + "/agents/101/disposition", "application/json", `{"disposition":""}`, 400, "disposition:"},
		{http.MethodPost, "/api/campaigns/" + id + "/agents/101/disposition", "application/json", `{"disposition":"x"}`, 404, "no call to dispose of"},
		{http.MethodPost, "/api/campaigns/" + id + "/agents/101/disposition", "text/plain", `x`, 415, "Content-Type"},
		{http.MethodPost, "/api/campaigns/" + id + "/targets/zero/skip", "", "", 400, "number:"},
		{http.MethodPost, "/api/campaigns/" + id + "/targets/9/skip", "", "", 404, "no target 9"},
		{http.MethodPost, "/api/campaigns/" + id + "/targets/2/skip", "", "", 200, ""},
		{http.MethodPost, "/api/campaigns/" + id + "/sync", "", "", 409, "not a remote campaign"},
		{http.MethodPost, "/api/donotcall", "application/json", `{"phones":["abc"]}`, 400, "phones[0]"},
		{http.MethodPost, "/api/donotcall", "application/json", `{}`, 400, "phones: required"},
		{http.MethodPost, "/api/donotcall", "application/json", `{"phones":["8 916 123-45-67"]}`, 200, `"added":1`},
	} {
		code, out := demo.do(t, tc.method, tc.path, tc.ct, tc.body)
		require.Equal(t, tc.status, code, "%s %s: %s", tc.method, tc.path, out)
		require.Contains(t, out, tc.want, "%s %s", tc.method, tc.path)
	}
	a := agentDo(t, demo, id, "101", "ready", "")
	require.Equal(t, dialer.AgentPreview, a.State)
	require.Equal(t, 1, a.Target, "target 2 was skipped")

	for _, p := range []string{"/api/campaigns", "/api/campaigns/" + id, "/api/campaigns/" + id + "/start", "/api/campaigns/" + id + "/agents/101/ready", "/api/donotcall"} {
		method := http.MethodPost
		if p == "/api/campaigns/"+id {
			method = http.MethodGet
		}
		code, _ := demo.send(t, hook{method: method, target: p, header: http.Header{}})
		require.Equal(t, http.StatusUnauthorized, code, p)
	}
}

// TestCampaignRestart: in database mode a running campaign survives a
// restart of the gateway, the call in progress ending as unknown, never
// placed again.
func TestCampaignRestart(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/crm.db"
	clock := newFakeClock()
	srv := start(t, gateway.Config{Demo: true, Clock: clock, DB: db})
	id := createCampaign(t, srv, `{"provider":"megafon","agents":["701"],"client_ids":["1","2"]}`).Campaign.ID
	code, out := srv.do(t, http.MethodPost, "/api/campaigns/"+id+"/start", "", "")
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, dialer.AgentDialing, agentDo(t, srv, id, "701", "ready", "").State)
	require.NoError(t, srv.stop())

	srv = start(t, gateway.Config{Demo: true, Clock: clock, DB: db})
	st := campaignStatus(t, srv, id)
	require.Equal(t, dialer.Running, st.Campaign.State)
	require.Equal(t, 1, st.Outcomes[dialer.Unknown], "the call in progress at the stop")
	require.Equal(t, 1, st.Pending)
	a := agentDo(t, srv, id, "701", "ready", "")
	require.Equal(t, dialer.AgentDialing, a.State)
	require.Equal(t, 2, a.Target, "target 1 is not called again")
}
