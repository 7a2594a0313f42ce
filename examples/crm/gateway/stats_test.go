package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/internal/pgtest"
	"github.com/callbridge/callbridge/match"
)

// TestStatsLines: GET /api/stats counts the calls of the period by the
// company number they came in on or went out from ("lines"), beside the
// employees, with the same counters computed the same way: answered and
// missed inbound calls, outbound calls, talk time of the answered ones,
// the average wait of the answered inbound ones; internal calls and calls
// outside the period are not counted. In memory, SQLite and (with
// CALLBRIDGE_POSTGRES_DSN) PostgreSQL alike; a bad period is 400.
func TestStatsLines(t *testing.T) {
	t.Parallel()
	const l1, l2 = "74950000001", "74950000002"
	from, to := t0.Add(-time.Hour), t0.Add(time.Hour)
	in, out := callevent.Inbound, callevent.Outbound
	n := 0
	rec := func(line, employee string, dir callevent.Direction, status callevent.Status, at time.Time, talk, wait time.Duration) match.CallRecord {
		n++
		return match.CallRecord{Provider: "megafon", Account: "acme", CallID: fmt.Sprint("st-", n), LinePhone: line, Employee: employee,
			ClientPhone: fmt.Sprint("7916000000", n%10), Direction: dir, Status: status, StartedAt: at, Duration: talk, Wait: wait}
	}
	calls := []match.CallRecord{
		rec(l1, "anna", in, callevent.Success, t0, time.Minute, 10*time.Second),
		rec(l1, "boris", in, callevent.Success, t0, 30*time.Second, 20*time.Second),
		rec(l1, "anna", in, callevent.Missed, t0, 0, 45*time.Second),
		rec(l1, "boris", out, callevent.Success, t0, 100*time.Second, 3*time.Second),
		rec(l2, "anna", in, callevent.Success, t0, 20*time.Second, 4*time.Second),
		rec(l2, "boris", out, callevent.Busy, t0, 0, 15*time.Second),
		rec(l2, "anna", callevent.Internal, callevent.Success, t0, time.Hour, 0),
		rec(l2, "anna", in, callevent.Success, from.Add(-time.Second), time.Hour, time.Minute),
		rec(l2, "anna", in, callevent.Success, to, time.Hour, time.Minute),
	}
	check := func(t *testing.T, db string) {
		srv := start(t, gateway.Config{Clock: newFakeClock(), DB: db})
		for _, c := range calls {
			require.NoError(t, srv.LogCall(c))
		}
		code, body := srv.do(t, http.MethodGet, "/api/stats?from="+url.QueryEscape(from.Format(time.RFC3339))+"&to="+url.QueryEscape(to.Format(time.RFC3339)), "", "")
		require.Equal(t, http.StatusOK, code, body)
		var got gateway.Stats
		require.NoError(t, json.Unmarshal([]byte(body), &got), body)
		require.Equal(t, []match.LineStats{
			{Line: l1, CallCounts: match.CallCounts{Answered: 2, Missed: 1, Outbound: 1, TalkTime: 190 * time.Second, AverageWait: 15 * time.Second}},
			{Line: l2, CallCounts: match.CallCounts{Answered: 1, Outbound: 1, TalkTime: 20 * time.Second, AverageWait: 4 * time.Second}},
		}, got.Lines)
		require.Equal(t, []match.EmployeeStats{
			{Employee: "anna", CallCounts: match.CallCounts{Answered: 2, Missed: 1, TalkTime: 80 * time.Second, AverageWait: 7 * time.Second}},
			{Employee: "boris", CallCounts: match.CallCounts{Answered: 1, Outbound: 2, TalkTime: 130 * time.Second, AverageWait: 20 * time.Second}},
		}, got.Employees, "the employees as before")
		require.JSONEq(t, `{"line":"74950000001","answered":2,"missed":1,"outbound":1,"talk_time_sec":190,"average_wait_sec":15}`,
			string(mustJSON(t, got.Lines[0])))

		code, body = srv.do(t, http.MethodGet, "/api/stats?days=0", "", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `"lines":[`, "a list, even when the period has no calls")
		for query, field := range map[string]string{
			"?from=" + url.QueryEscape(to.Format(time.RFC3339)) + "&to=" + url.QueryEscape(from.Format(time.RFC3339)): "from",
			"?from=" + url.QueryEscape(from.Format(time.RFC3339)) + "&to=tomorrow":                                    "to",
			"?to=" + url.QueryEscape(to.Format(time.RFC3339)):                                                         "from",
		} {
			code, body := srv.do(t, http.MethodGet, "/api/stats"+query, "", "")
			require.Equal(t, http.StatusBadRequest, code, "%s: %s", query, body)
			require.Contains(t, body, field, query)
		}
	}
	t.Run("memory", func(t *testing.T) { t.Parallel(); check(t, "") })
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); check(t, filepath.Join(t.TempDir(), "crm.db")) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); check(t, pgtest.NewDatabase(t)) })
}

// mustJSON is v in JSON.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
