package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// TestEmployeeStatuses: GET /api/employees lists the configured
// employees with their statuses; PUT /api/employees/{id}/status changes
// one, and the "active" distribution of missed calls from unknown numbers
// follows: only the employees whose status is online get them (seed 003,
// setting 19). The online set outlives a restart in database mode.
func TestEmployeeStatuses(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		rules := match.RuleSet{Default: match.Rules{Rule: match.Rule{
			Create: match.CreateRule{InboundMissed: true},
			Missed: match.MissedRule{Distribution: match.DistributeActive, Employees: []string{"anna", "boris"}},
		}}}
		clock := newFakeClock()
		cfg := gateway.Config{Clock: clock, Rules: &rules, DB: db,
			Statuses: []gateway.Status{{Name: "available", Online: true}, {Name: "lunch"}, {Name: "offline"}},
			Employees: []match.Employee{{ID: "anna", Name: "Анна", Extensions: []string{"701"}},
				{ID: "boris", Name: "Борис", Extensions: []string{"702"}}}}
		srv := start(t, cfg)
		list := func() map[string]gateway.Employee {
			code, body := srv.do(t, http.MethodGet, "/api/employees", "", "")
			require.Equal(t, http.StatusOK, code, body)
			var out struct{ Employees []gateway.Employee }
			require.NoError(t, json.Unmarshal([]byte(body), &out), body)
			m := map[string]gateway.Employee{}
			for _, e := range out.Employees {
				m[e.ID] = e
			}
			return m
		}
		emps := list()
		require.Len(t, emps, 2)
		require.Equal(t, "offline", emps["anna"].Status, "nobody is online at first")
		require.Equal(t, []string{"701"}, emps["anna"].Extensions)

		set := func(id, status string) (int, string) {
			return srv.do(t, http.MethodPut, "/api/employees/"+id+"/status", "application/json", `{"status":"`+status+`"}`)
		}
		code, body := set("boris", "available")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `"online":true`)
		code, _ = set("anna", "lunch")
		require.Equal(t, http.StatusOK, code)
		emps = list()
		require.True(t, emps["boris"].Online)
		require.Equal(t, "lunch", emps["anna"].Status)
		require.False(t, emps["anna"].Online)

		// Three missed calls from unknown numbers: all go to Борис, the
		// only one online.
		for i, number := range []string{"74950004401", "74950004402", "74950004403"} {
			call := megafontest.Call{ID: "mf-st-" + number, Direction: "in", Phone: number, User: "anna", Ext: "701"}
			sendMegafon(t, srv, megafontest.Event("INCOMING", call),
				megafontest.History(call, megafontest.Outcome{Status: "Missed", Start: clock.Now().Add(-time.Minute)}))
			waitEvents(t, srv, 2*(i+1))
		}
		clock.Advance(match.DefaultGracePeriod)
		require.Eventually(t, func() bool {
			code, body := srv.do(t, http.MethodGet, "/api/calls", "", "")
			return code == http.StatusOK && strings.Count(body, `"employee":"boris"`) == 3
		}, 10*time.Second, 5*time.Millisecond, "every missed call goes to the one online")

		// Bad input.
		for _, tc := range []struct {
			path, ctype, body string
			want              int
			msg               string
		}{
			{"/api/employees/anna/status", "application/json", `{"status":"asleep"}`, http.StatusBadRequest, `status: \"asleep\" is none of available, lunch, offline`},
			{"/api/employees/anna/status", "application/json", `{"status":`, http.StatusBadRequest, "malformed JSON"},
			{"/api/employees/anna/status", "application/json", `{"state":"lunch"}`, http.StatusBadRequest, "unknown field"},
			{"/api/employees/anna/status", "text/plain", `{"status":"lunch"}`, http.StatusUnsupportedMediaType, "Content-Type"},
			{"/api/employees/nobody/status", "application/json", `{"status":"lunch"}`, http.StatusNotFound, `no employee \"nobody\"`},
		} {
			code, body := srv.do(t, http.MethodPut, tc.path, tc.ctype, tc.body)
			require.Equal(t, tc.want, code, "%s %s: %s", tc.path, tc.body, body)
			require.Contains(t, body, tc.msg)
		}
		code, _ = srv.send(t, hook{method: http.MethodGet, target: "/api/employees", header: http.Header{}})
		require.Equal(t, http.StatusUnauthorized, code)
		require.Equal(t, "lunch", list()["anna"].Status, "a refused change changes nothing")
		if db == "" {
			return
		}
		// A restart on the same database: who was online still is.
		require.NoError(t, srv.stop())
		srv = start(t, cfg)
		emps = list()
		require.Equal(t, "available", emps["boris"].Status)
		require.Equal(t, "offline", emps["anna"].Status, "not online: offline after a restart")
	})
}
