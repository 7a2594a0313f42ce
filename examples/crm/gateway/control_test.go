package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
)

// TestCallControl: POST /api/calls/{provider}/{call_id}/{action} holds,
// unholds, transfers and hangs up a call in progress through the
// provider's client (here the in-process fakes of -demo), answers 501
// naming the provider for what the provider cannot do, and refuses bad
// input before any request.
func TestCallControl(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{Demo: true})
	code, body := srv.do(t, http.MethodPost, "/api/call", "application/json", `{"provider":"telphin","from":"101","to":"+7 953 000-00-00"}`)
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
