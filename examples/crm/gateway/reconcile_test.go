package gateway_test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// TestLostWebhooksRecovered: of three MegaFon calls only the first one's
// webhooks arrive; the gateway reads MegaFon's history a minute after it
// starts and the call log then has the three calls, each once; later runs
// change nothing (issue 16, recovering lost webhooks).
func TestLostWebhooksRecovered(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"memory", "sqlite"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			cfg := gateway.Config{Clock: clock, MegafonDomain: megafontest.Domain, MegafonAPIKey: megafontest.APIKey}
			if mode == "sqlite" {
				cfg.DB = filepath.Join(t.TempDir(), "crm.db")
			}
			srv := start(t, cfg)
			pbx := megafontest.NewServer()
			t.Cleanup(pbx.Close)
			c, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
				callbridge.WithBaseURL(pbx.URL))
			require.NoError(t, err)
			srv.SetCaller(megafon.Provider, c)

			var records []megafontest.Record
			for i, id := range []string{"mf-lost-0", "mf-lost-1", "mf-lost-2"} {
				records = append(records, megafontest.Record{UID: id, Type: "in", Status: "Success", Client: "7916123450" + string(rune('0'+i)),
					Diversion: "74950000001", User: "andy", Start: t0.Add(-2*time.Hour + time.Duration(i)*time.Minute), Wait: 5, Duration: 65})
			}
			pbx.SetHistory(records...)
			arrived := megafontest.Call{ID: "mf-lost-0", Direction: "in", Phone: "79161234500", Diversion: "74950000001", User: "andy", Ext: "701"}
			for _, f := range []map[string][]string{
				megafontest.Event("INCOMING", arrived), megafontest.Event("ACCEPTED", arrived),
				megafontest.History(arrived, megafontest.Outcome{Status: "Success", Start: records[0].Start, Duration: 65}),
			} {
				code, body := srv.send(t, hookOf(t, "megafon", megafontest.NewRequest("/hooks/megafon", "mf-token", f)))
				require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
			}
			waitEvents(t, srv, 3)
			clock.Advance(match.DefaultGracePeriod)
			require.Eventually(t, func() bool { return len(srv.Calls()) == 1 }, 10*time.Second, 5*time.Millisecond)

			clock.Advance(time.Minute) // the first reconciliation
			require.Eventually(t, func() bool { return len(srv.Calls()) == 3 }, 10*time.Second, 5*time.Millisecond)
			clock.Advance(match.DefaultGracePeriod + gateway.ReconcileEvery) // and the next: nothing new
			clock.Advance(match.DefaultGracePeriod)
			seen := map[string]int{}
			for _, c := range listAll(t, srv).Calls {
				seen[c.CallID]++
			}
			require.Equal(t, map[string]int{"mf-lost-0": 1, "mf-lost-1": 1, "mf-lost-2": 1}, seen)
		})
	}
}
