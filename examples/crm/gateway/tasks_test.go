package gateway_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// TestCallBackTasks: with "task" in the rules, a missed call becomes an
// open call-back task in GET /api/tasks, and the answered call back to
// the number closes it, in memory and in the database (issue 16, what
// users of every integration ask for).
func TestCallBackTasks(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"memory", "sqlite"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			rules := filepath.Join(dir, "rules.json")
			require.NoError(t, os.WriteFile(rules, []byte(`{"default": {"create": {"inbound_missed": true, "outbound": true},
				"task": {"enabled": true, "deadline": "30m"}}}`), 0o600))
			clock := newFakeClock()
			cfg := gateway.Config{Clock: clock, RulesFile: rules}
			if mode == "sqlite" {
				cfg.DB = filepath.Join(dir, "crm.db")
			}
			srv := start(t, cfg)
			openTasks := func() []match.Task {
				code, body := srv.do(t, http.MethodGet, "/api/tasks", "", "")
				require.Equal(t, http.StatusOK, code, body)
				var out struct{ Tasks []match.Task }
				require.NoError(t, json.Unmarshal([]byte(body), &out), body)
				return out.Tasks
			}

			missed := telphintest.Call{CallID: "cc000000000000000000000000000019", Client: "+74950001199", Start: t0.Add(-time.Minute)}
			for _, f := range missedQueueCall(missed) {
				code, body := srv.send(t, hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", f)))
				require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
			}
			waitEvents(t, srv, 3) // the engine has them all before the call settles
			clock.Advance(match.DefaultGracePeriod)
			require.Eventually(t, func() bool { return len(openTasks()) == 1 }, 10*time.Second, 5*time.Millisecond)
			task := openTasks()[0]
			require.Equal(t, "74950001199", task.Phone)
			require.Equal(t, missed.CallID, task.CallID)
			require.True(t, task.Due.After(t0), "due %v", task.Due)

			// The manager calls back through MegaFon and the client answers.
			back := megafontest.Call{ID: "mf-back-1", Direction: "out", Phone: "74950001199", User: "andy", Ext: "701"}
			for _, f := range []map[string][]string{
				megafontest.Event("OUTGOING", back), megafontest.Event("ACCEPTED", back),
				megafontest.History(back, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 60}),
			} {
				code, body := srv.send(t, hookOf(t, "megafon", megafontest.NewRequest("/hooks/megafon", "mf-token", f)))
				require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
			}
			waitEvents(t, srv, 6)
			clock.Advance(match.DefaultGracePeriod)
			require.Eventually(t, func() bool { return len(openTasks()) == 0 }, 10*time.Second, 5*time.Millisecond,
				"the answered call back closes the task")
		})
	}
}

// waitEvents waits until the engine has had n events in all: in database
// mode they reach it from the inbox after the webhooks' answers, and a
// fake clock advanced before that would settle nothing.
func waitEvents(t *testing.T, srv *server, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		got, err := srv.logs.countEvents()
		return err == nil && got == n
	}, 10*time.Second, 5*time.Millisecond, "the engine has %d events", n)
}
