package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// TestGetCall: GET /api/calls/{provider}/{call_id} shows one call: while
// it is live from the engine's events, once decided from the log with its
// status, client and lead; 404 for a call nobody has.
func TestGetCall(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		clock := newFakeClock()
		srv := start(t, gateway.Config{Clock: clock, DB: db})
		call := megafontest.Call{ID: "mf-one-1", Direction: "in", Phone: "74950005566", User: "andy", Ext: "701"}
		send := func(f map[string][]string) { sendMegafon(t, srv, f) }
		send(megafontest.Event("INCOMING", call))
		waitEvents(t, srv, 1)
		code, body := srv.do(t, http.MethodGet, "/api/calls/live", "", "")
		require.Equal(t, http.StatusOK, code, body)
		var live struct{ Calls []gateway.LiveCall }
		require.NoError(t, json.Unmarshal([]byte(body), &live))
		require.Len(t, live.Calls, 1)
		path := "/api/calls/megafon/" + call.ID + "?account=" + url.QueryEscape(live.Calls[0].Account)
		get := func() gateway.CallDetail {
			t.Helper()
			code, body := srv.do(t, http.MethodGet, path, "", "")
			require.Equal(t, http.StatusOK, code, body)
			var d gateway.CallDetail
			require.NoError(t, json.Unmarshal([]byte(body), &d), body)
			return d
		}
		d := get()
		require.Equal(t, call.ID, d.Call.CallID)
		require.Equal(t, "74950005566", d.Call.ClientPhone)
		require.Len(t, d.Events, 1, "the ringing, while live")
		require.Equal(t, callevent.Ringing, d.Events[0].Kind)
		require.Nil(t, d.Client, "nobody created yet")

		send(megafontest.History(call, megafontest.Outcome{Status: "Missed", Start: clock.Now().Add(-time.Minute)}))
		waitEvents(t, srv, 2)
		clock.Advance(match.DefaultGracePeriod)
		require.Eventually(t, func() bool { return get().Call.Status == callevent.Missed }, 10*time.Second, 5*time.Millisecond)
		d = get()
		require.Len(t, d.Events, 2, "still held within the retention")
		require.NotNil(t, d.Client, "the client created for the missed call")
		require.Equal(t, d.Call.ClientID, d.Client.ID)
		require.NotNil(t, d.Lead, "the lead of the missed call (the gateway's default rules)")
		require.Equal(t, d.Call.LeadID, d.Lead.ID)

		for _, p := range []string{"/api/calls/megafon/nope", "/api/calls/zadarma/" + call.ID, "/api/calls/megafon/" + call.ID + "?account=other"} {
			code, body := srv.do(t, http.MethodGet, p, "", "")
			require.Equal(t, http.StatusNotFound, code, "%s: %s", p, body)
		}
		code, _ = srv.send(t, hook{method: http.MethodGet, target: path, header: http.Header{}})
		require.Equal(t, http.StatusUnauthorized, code)
	})
}
