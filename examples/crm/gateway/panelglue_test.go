package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// nextCampaign reads the stream up to its next campaign update (calls
// and cards come on it too); the stream's own bound ends a silent wait.
func nextCampaign(t *testing.T, s *sseStream) *live.Campaign {
	t.Helper()
	for {
		if u := s.next(t); u.Type == live.TypeCampaign {
			return u.Campaign
		}
	}
}

// TestPanelDrivesTheDialer: without Config.Campaigns the dialing-list
// panel is the gateway's own dialer. A power campaign started shows on
// its agent's stream as paused; the panel's Ready places the first call
// (the update: dialing, the first target with its name and number); the
// call's end from MegaFon's webhooks brings the wrap-up with its end on
// the gateway's clock and the target just called; the panel's
// disposition of that target reaches the campaign, of another is 409;
// a campaign the employee does not work is 404.
func TestPanelDrivesTheDialer(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := start(t, gateway.Config{Demo: true, Clock: clock})
	events := openEvents(t, srv, "701", "")
	require.Equal(t, live.TypeSync, events.next(t).Type)
	rep := createCampaign(t, srv, `{"name":"Весна","provider":"megafon","mode":"power","agents":["701"],"wrap_up_sec":30,
		"client_ids":["1","2"]}`)
	id := rep.Campaign.ID
	code, body := srv.do(t, http.MethodPost, "/api/campaigns/"+id+"/start", "", "")
	require.Equal(t, http.StatusOK, code, body)
	c := nextCampaign(t, events)
	require.Equal(t, live.CampaignPaused, c.State, "started: the agent joins with Ready")
	require.Equal(t, "Весна", c.Name)
	require.Nil(t, c.Target)

	ui := signIn(t, srv, "701")
	code, body = ui.do(t, http.MethodPost, "/ui/api/campaigns/"+id+"/ready", "")
	require.Equal(t, http.StatusOK, code, body)
	c = nextCampaign(t, events)
	require.Equal(t, live.CampaignDialing, c.State)
	require.Equal(t, id, c.ID)
	require.NotNil(t, c.Target)
	require.Equal(t, live.CampaignTarget{ID: "1", Name: "ООО Ромашка", Phone: "78123351127", ClientID: "1", Provider: "megafon"}, *c.Target)
	c = nextCampaign(t, events)
	require.Equal(t, live.CampaignDialing, c.State)
	require.Equal(t, "CALL000001", c.Target.CallID, "the provider's call id once it gave one")

	call := megafontest.Call{ID: "CALL000001", Direction: "out", Phone: "78123351127", User: "andy", Ext: "701"}
	sendMegafon(t, srv, megafontest.Event("OUTGOING", call), megafontest.Event("ACCEPTED", call))
	c = nextCampaign(t, events)
	require.Equal(t, live.CampaignTalking, c.State)
	sendMegafon(t, srv, megafontest.Event("COMPLETED", call),
		megafontest.History(call, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 60}))
	c = nextCampaign(t, events)
	require.Equal(t, live.CampaignWrapUp, c.State)
	require.Equal(t, clock.Now().Add(30*time.Second).UTC(), c.WrapUpUntil.UTC())
	require.Equal(t, 30*time.Second, time.Duration(c.WrapUp))
	require.Equal(t, "1", c.Target.ID, "the target just called, for its outcome")
	require.Contains(t, c.Dispositions, "call_back")

	code, body = ui.do(t, http.MethodPost, "/ui/api/campaigns/"+id+"/disposition", `{"target":"2","disposition":"call_back"}`)
	require.Equal(t, http.StatusConflict, code, body)
	code, body = ui.do(t, http.MethodPost, "/ui/api/campaigns/"+id+"/disposition", `{"target":"1","disposition":"call_back"}`)
	require.Equal(t, http.StatusOK, code, body)
	as, err := srv.CampaignAttempts(id, 1)
	require.NoError(t, err)
	require.Len(t, as, 1)
	require.Equal(t, dialer.Disposition("call_back"), as[0].Disposition, "the dialer has it")
	code, body = ui.do(t, http.MethodPost, "/ui/api/campaigns/none/ready", "")
	require.Equal(t, http.StatusNotFound, code, body)
	code, body = ui.do(t, http.MethodPost, "/ui/api/campaigns/"+id+"/pause", "")
	require.Equal(t, http.StatusOK, code, body)
	c = nextCampaign(t, events)
	require.Equal(t, live.CampaignPaused, c.State)
}
