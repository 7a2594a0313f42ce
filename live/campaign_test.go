package live_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/live"
)

// TestCampaignChanged: a dialing list's state goes to the stream of the
// employee who works it and to the streams of every employee, not to
// another's; it is kept for a resuming stream like any update; a
// campaign of nobody is shown to nobody.
func TestCampaignChanged(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	srv := serveHub(t, h)
	anna, boris, all := open(t, srv.URL, "anna", ""), open(t, srv.URL, "boris", ""), open(t, srv.URL, "*", "")
	for _, s := range []*stream{anna, boris, all} {
		require.Equal(t, live.TypeSync, s.next().update(t).Type)
	}
	h.CampaignChanged(live.Campaign{ID: "c0", State: live.CampaignDone}) // nobody's
	c := live.Campaign{ID: "c1", Name: "Обзвон", Employee: "anna", State: live.CampaignWrapUp, Position: 2, Total: 9,
		Target:      &live.CampaignTarget{ID: "lead-7", Name: "Сделка", Phone: "79160000001", URL: "https://crm.example/leads/7"},
		WrapUpUntil: t0.Add(30 * time.Second), WrapUp: callevent.Seconds(30 * time.Second), At: t0, Dispositions: []string{"ok"}}
	h.CampaignChanged(c)
	h.StatusChanged(live.Status{Employee: "boris", Status: "away", At: t0})

	e := anna.next()
	u := e.update(t)
	require.Equal(t, live.TypeCampaign, u.Type)
	require.Equal(t, c, *u.Campaign)
	require.Contains(t, e.Data, `"wrap_up_sec":30`)
	require.Equal(t, live.TypeCampaign, all.next().update(t).Type)
	require.Equal(t, live.TypeStatus, boris.next().update(t).Type, "Boris saw no campaign")

	anna.close()
	again := open(t, srv.URL, "anna", "")
	require.Equal(t, live.TypeSync, again.next().update(t).Type)
	resumed := open(t, srv.URL, "anna", e.ID)
	h.StatusChanged(live.Status{Employee: "anna", Status: "busy", At: t0})
	require.Equal(t, live.TypeStatus, resumed.next().update(t).Type, "nothing missed after the campaign")
}
