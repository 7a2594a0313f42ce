package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
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
	bothModes(t, func(t *testing.T, db string) {
		clock := newFakeClock()
		srv := start(t, gateway.Config{Clock: clock, DB: db})
		const number = "74950003344"
		call := megafontest.Call{ID: "mf-live-1", Direction: "in", Phone: number, User: "andy", Ext: "701"}
		send := func(f map[string][]string) { sendMegafon(t, srv, f) }
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

// TestLeadsWithoutClient replays seed 003's setting 7 through the
// gateway: with rules that create leads but no clients for unknown
// numbers, a missed call becomes a lead with the number and no client,
// and a second missed call from the number goes to the same lead.
func TestLeadsWithoutClient(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		rules := filepath.Join(t.TempDir(), "rules.json")
		require.NoError(t, os.WriteFile(rules, []byte(`{"default": {"leads": {"inbound_missed": {"create": true, "status": "new", "source": "missed call"}}}}`), 0o600))
		clock := newFakeClock()
		srv := start(t, gateway.Config{Clock: clock, RulesFile: rules, DB: db})
		const number = "74950007788"
		for i, id := range []string{"mf-pl-1", "mf-pl-2"} {
			call := megafontest.Call{ID: id, Direction: "in", Phone: number, User: "andy", Ext: "701"}
			sendMegafon(t, srv, megafontest.Event("INCOMING", call),
				megafontest.History(call, megafontest.Outcome{Status: "Missed", Start: clock.Now().Add(-time.Minute)}))
			waitEvents(t, srv, 2*(i+1))
			clock.Advance(match.DefaultGracePeriod)
			require.Eventually(t, func() bool {
				code, body := srv.do(t, http.MethodGet, "/api/calls", "", "")
				return code == http.StatusOK && countCalls(t, body, id) == 1
			}, 10*time.Second, 5*time.Millisecond)
		}
		code, body := srv.do(t, http.MethodGet, "/api/leads", "", "")
		require.Equal(t, http.StatusOK, code, body)
		var leads struct{ Items []gateway.Lead }
		require.NoError(t, json.Unmarshal([]byte(body), &leads), body)
		require.Len(t, leads.Items, 1, "one lead for the number: %s", body)
		require.Empty(t, leads.Items[0].ClientID)
		require.Equal(t, number, leads.Items[0].Phone)
		code, body = srv.do(t, http.MethodGet, "/api/clients?phone="+number, "", "")
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, body, `"items":[]`, "no client")
	})
}

// GET /api/popups keeps the newest 500 cards, newest first: a card past
// the 500th replaces the oldest.
func TestPopUpsKeepTheNewest(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{})
	sent := 0
	ring := func(n int) { // n calls ring, delivered in any order
		for range n {
			sent++
			sendMegafon(t, srv, megafontest.Event("INCOMING", megafontest.Call{ID: fmt.Sprintf("mf-ring-%d", sent), Direction: "in",
				Phone: fmt.Sprintf("7495%07d", sent), User: "andy", Ext: "701"}))
		}
		waitEvents(t, srv, sent)
	}
	ring(10)
	ring(500)
	ring(1)
	code, body := srv.do(t, http.MethodGet, "/api/popups?employee=701", "", "")
	require.Equal(t, http.StatusOK, code, body)
	var out struct{ PopUps []match.PopUp }
	require.NoError(t, json.Unmarshal([]byte(body), &out), body)
	require.Len(t, out.PopUps, 500)
	require.Equal(t, "mf-ring-511", out.PopUps[0].CallID, "newest first")
	seen := map[string]bool{}
	for _, c := range out.PopUps {
		var n int
		_, err := fmt.Sscanf(c.CallID, "mf-ring-%d", &n)
		require.NoError(t, err)
		require.Greater(t, n, 10, "the oldest cards are gone")
		require.False(t, seen[c.CallID], "one card per call")
		seen[c.CallID] = true
	}
}
