package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// TestCallControl: POST /api/calls/{provider}/{call_id}/{action} holds,
// unholds, transfers and hangs up a call in progress through the
// provider's client (here the in-process fakes of -demo), answers 501
// naming the provider for what the provider cannot do, and refuses bad
// input before any request.
func TestCallControl(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{Demo: true})
	code, body := srv.do(t, http.MethodPost, "/api/calls", "application/json", `{"provider":"telphin","from":"101","to":"+7 953 000-00-00"}`)
	require.Equal(t, http.StatusOK, code, body)
	var placed gateway.CallReply
	require.NoError(t, json.Unmarshal([]byte(body), &placed))
	call := "/api/calls/telphin/" + placed.CallID + "/"

	for _, tc := range []struct {
		path, body string
		code       int
		want       string
	}{
		{call + "hold", `{"from":"101"}`, 200, `"action":"hold"`},
		{call + "unhold", `{"from":"101"}`, 200, `"action":"unhold"`},
		{call + "transfer", `{"from":"101","to":"102","attended":true}`, 200, `"action":"transfer"`},
		{call + "transfer", `{"from":"101"}`, 400, "to: where the transfer goes is required"},
		{call + "transfer", `{"from":"101","to":"999"}`, 400, `unknown extension`},
		{"/api/calls/telphin/ffffffffffffffffffffffffffffffff/hold", `{"from":"101"}`, 400, "not in progress"},
		{call + "hangup", `{"from":"101"}`, 200, `"action":"hangup"`},
		{call + "hangup", `{"from":"101"}`, 400, "not in progress"}, // the fake no longer has it
		{"/api/calls/megafon/CALL000001/hold", `{"from":"andy"}`, 501, "megafon cannot hold calls"},
		{"/api/calls/megafon/CALL000001/hangup", `{"from":"andy"}`, 501, "megafon cannot hangup calls"},
		{"/api/calls/phonet/fakecall000000000000000000000001/transfer", `{"to":"002"}`, 501, "phonet cannot transfer calls"},
		{"/api/calls/zadarma/1/hold", `{}`, 404, `unknown provider \"zadarma\"`},
		{call + "dance", `{}`, 404, `unknown action \"dance\"`},
		{call + "hold", `{"from":`, 400, "malformed JSON"},
		{call + "hold", `{"extension":"101"}`, 400, "unknown field"},
	} {
		code, body := srv.do(t, http.MethodPost, tc.path, "application/json", tc.body)
		require.Equal(t, tc.code, code, "%s %s: %s", tc.path, tc.body, body)
		require.Contains(t, body, tc.want, tc.path)
	}
	code, _ = srv.do(t, http.MethodPost, call+"hold", "text/plain", `{"from":"101"}`)
	require.Equal(t, http.StatusUnsupportedMediaType, code)
	code, _ = srv.send(t, hook{method: http.MethodPost, target: call + "hold", header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"from":"101"}`)})
	require.Equal(t, http.StatusUnauthorized, code, "no token")

	// Without credentials: the setting to set, as for click-to-call.
	bare := start(t, gateway.Config{})
	code, body = bare.do(t, http.MethodPost, "/api/calls/telphin/abc/hold", "application/json", `{"from":"101"}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "telphin is not configured")
}

// TestLiveCalls: GET /api/calls/live lists the calls in progress with
// their legs, and a call held through the API as on hold; a call that
// ended is not listed.
func TestLiveCalls(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := start(t, gateway.Config{Demo: true, Clock: clock})
	code, body := srv.do(t, http.MethodPost, "/api/calls", "application/json", `{"provider":"telphin","from":"101","to":"+7 953 000-00-00"}`)
	require.Equal(t, http.StatusOK, code, body)
	var placed gateway.CallReply
	require.NoError(t, json.Unmarshal([]byte(body), &placed))
	// Telphin's webhooks of the call: the employee's phone rings, then
	// the client answers.
	call := telphintest.Call{CallID: placed.CallID, SubCallID: "124575-" + placed.CallID, Client: "+79530000000", Extension: "15400*101",
		Start: clock.Now().Add(-10 * time.Second)}
	for _, f := range []url.Values{call.DialOut(), call.Answer()} {
		code, body := srv.send(t, hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", f)))
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
	}
	waitEvents(t, srv, 2)
	live := func(query string) []gateway.LiveCall {
		code, body := srv.do(t, http.MethodGet, "/api/calls/live"+query, "", "")
		require.Equal(t, http.StatusOK, code, body)
		var out struct{ Calls []gateway.LiveCall }
		require.NoError(t, json.Unmarshal([]byte(body), &out), body)
		return out.Calls
	}
	calls := live("")
	require.Len(t, calls, 1)
	require.Equal(t, placed.CallID, calls[0].CallID)
	require.Equal(t, "79530000000", calls[0].ClientPhone)
	require.Len(t, calls[0].Legs, 1)
	require.Equal(t, match.LegTalking, calls[0].Legs[0].State)
	require.False(t, calls[0].OnHold)
	require.Len(t, live("?employee=101"), 1)
	require.Empty(t, live("?employee=999"))

	code, body = srv.do(t, http.MethodPost, "/api/calls/telphin/"+placed.CallID+"/hold", "application/json", `{"from":"101"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.True(t, live("")[0].OnHold, "held through the API")
	code, body = srv.do(t, http.MethodPost, "/api/calls/telphin/"+placed.CallID+"/unhold", "application/json", `{"from":"101"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.False(t, live("")[0].OnHold)

	code, body = srv.send(t, hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", call.HangupOut("ANSWER"))))
	require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
	waitEvents(t, srv, 3)
	clock.Advance(match.DefaultGracePeriod)
	require.Eventually(t, func() bool { return len(live("")) == 0 }, 10*time.Second, 5*time.Millisecond, "an ended call is not live")
}

// TestStatus: GET /api/status counts each provider's webhooks by outcome
// and shows the last accepted and the last refused, which providers have
// their API configured, the CRM and the readiness.
func TestStatus(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{Demo: true})
	call := megafontest.Call{ID: "mf-st-1", Direction: "in", Phone: "74950009988", User: "andy", Ext: "701"}
	code, body := srv.send(t, hookOf(t, "megafon", megafontest.NewRequest("/hooks/megafon", "mf-token", megafontest.Event("INCOMING", call))))
	require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
	code, _ = srv.send(t, hookOf(t, "megafon", megafontest.NewRequest("/hooks/megafon", "wrong-token", megafontest.Event("INCOMING", call))))
	require.Equal(t, http.StatusUnauthorized, code)
	tc := telphintest.Call{CallID: "ee000000000000000000000000000001", Client: "+79160000001", Start: time.Now().Add(-time.Minute)}
	code, _ = srv.send(t, hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "wrong", tc.DialIn())))
	require.Equal(t, http.StatusUnauthorized, code)

	code, body = srv.do(t, http.MethodGet, "/api/status", "", "")
	require.Equal(t, http.StatusOK, code, body)
	var st gateway.GatewayStatus
	require.NoError(t, json.Unmarshal([]byte(body), &st), body)
	mf := st.Providers["megafon"]
	require.Equal(t, map[string]int64{gateway.OutcomeAccepted: 1, gateway.OutcomeUnauthorized: 1}, mf.Webhooks)
	require.NotNil(t, mf.LastEvent)
	require.Equal(t, http.StatusUnauthorized, mf.LastRefusal.Status)
	require.True(t, mf.Configured, "the demo's client")
	require.Equal(t, map[string]int64{gateway.OutcomeUnauthorized: 1}, st.Providers["telphin"].Webhooks)
	require.Nil(t, st.Providers["telphin"].LastEvent)
	require.Empty(t, st.Providers["phonet"].Webhooks)
	require.Equal(t, "builtin", st.CRM)
	require.True(t, st.Ready)
	code, _ = srv.send(t, hook{method: http.MethodGet, target: "/api/status", header: http.Header{}})
	require.Equal(t, http.StatusUnauthorized, code)
}
