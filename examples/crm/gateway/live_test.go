package gateway_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/stretchr/testify/require"
)

// TestContactOnAnswer replays seed 002's scenario 2 through the gateway:
// an inbound MegaFon call from an unknown number rings and is answered;
// the contact «Автоконтакт: Входящий» is in /api/clients while the call
// is live, /api/popups holds the ringing card and the answerer's card with
// the contact, and the end creates no second contact.
func TestContactOnAnswer(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"memory", "sqlite"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			cfg := gateway.Config{Clock: clock}
			if mode == "sqlite" {
				cfg.DB = filepath.Join(t.TempDir(), "crm.db")
			}
			srv := start(t, cfg)
			const number = "74950003344"
			call := megafontest.Call{ID: "mf-live-1", Direction: "in", Phone: number, User: "andy", Ext: "701"}
			send := func(f map[string][]string) {
				t.Helper()
				code, body := srv.send(t, hookOf(t, "megafon", megafontest.NewRequest("/hooks/megafon", "mf-token", f)))
				require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
			}
			clientsOf := func() []map[string]any {
				code, body := srv.do(t, http.MethodGet, "/api/clients?phone="+number, "", "")
				require.Equal(t, http.StatusOK, code, body)
				var out struct{ Items []map[string]any }
				require.NoError(t, json.Unmarshal([]byte(body), &out), body)
				return out.Items
			}
			cards := func() []match.PopUp {
				code, body := srv.do(t, http.MethodGet, "/api/popups?employee=701", "", "")
				require.Equal(t, http.StatusOK, code, body)
				var out struct{ PopUps []match.PopUp }
				require.NoError(t, json.Unmarshal([]byte(body), &out), body)
				return out.PopUps
			}

			send(megafontest.Event("INCOMING", call))
			waitEvents(t, srv, 1)
			require.Empty(t, clientsOf(), "nothing is created while it rings")
			send(megafontest.Event("ACCEPTED", call))
			waitEvents(t, srv, 2)
			live := clientsOf()
			require.Len(t, live, 1, "the contact exists while the call is live")
			require.Equal(t, "Автоконтакт: Входящий", live[0]["name"])
			got := cards()
			require.Len(t, got, 2, "%+v", got)
			require.Equal(t, match.PhaseAnswered, got[0].Phase, "newest first")
			require.Equal(t, live[0]["id"], got[0].Client.ID, "the answerer's card shows the contact")
			require.True(t, got[0].Created)
			require.Equal(t, match.PhaseRinging, got[1].Phase)

			send(megafontest.History(call, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 60}))
			waitEvents(t, srv, 3)
			clock.Advance(match.DefaultGracePeriod)
			require.Eventually(t, func() bool {
				code, body := srv.do(t, http.MethodGet, "/api/calls", "", "")
				return code == http.StatusOK && countCalls(t, body, call.ID) == 1
			}, 10*time.Second, 5*time.Millisecond)
			require.Len(t, clientsOf(), 1, "no second contact at the end")
		})
	}
}

func countCalls(t *testing.T, body, callID string) int {
	t.Helper()
	var out struct {
		Items []struct {
			CallID string `json:"call_id"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out), body)
	n := 0
	for _, c := range out.Items {
		if c.CallID == callID {
			n++
		}
	}
	return n
}
