package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/live"
)

// Campaigns is what the workspace's dialing-list panel needs of a dialer
// (seed 002: «обзванивать списки сделок, контактов и компаний»; the first
// call at once, then by the wrap-up timer, the card opening on each
// call). The panel is driven by two things only:
//
//   - updates: the dialer shows every change of a list to the employee
//     who works it with Gateway.CampaignChanged (live.Campaign: the
//     target and its card link, the state, the wrap-up's end and
//     length), an SSE update of type "campaign" on the employee's
//     stream;
//   - controls: the panel's buttons, POST
//     /ui/api/campaigns/{id}/{ready,skip,pause,disposition}, which call
//     these methods as the signed-in employee. When a wrap-up's count
//     reaches zero the panel calls Ready by itself, unless the employee
//     paused.
//
// Calls the dialer places go through the providers as any other, so
// their cards and states come on the stream too. An error answers the
// panel: ErrNoCampaign 404, callevent.ErrUnsupported 501, an error with
// HTTPStatusCode() int that status, anything else 502; its text is
// shown, so it must not hold a secret.
type Campaigns interface {
	// Ready: the employee is ready for the next call (the wrap-up is
	// over, or they end it sooner; a paused list goes on).
	Ready(ctx context.Context, employee, campaign string) error
	// Skip: the current target is not called (or no more); the next
	// one comes.
	Skip(ctx context.Context, employee, campaign string) error
	// Pause: no call is placed until Ready.
	Pause(ctx context.Context, employee, campaign string) error
	// Disposition records the outcome of the call to target, one of
	// the campaign's Dispositions.
	Disposition(ctx context.Context, employee, campaign, target, disposition string) error
}

// ErrNoCampaign is what Campaigns returns for a campaign the employee
// does not work (unknown, or another's): 404.
var ErrNoCampaign = errors.New("no such campaign of yours")

// CampaignChanged shows the new state of a dialing list on the screen
// of the employee who works it (c.Employee), as an SSE update of type
// "campaign".
func (g *Gateway) CampaignChanged(c live.Campaign) { g.live.CampaignChanged(c) }

// DispositionRequest is the body of POST
// /ui/api/campaigns/{id}/disposition.
type DispositionRequest struct {
	Target      string `json:"target"`
	Disposition string `json:"disposition"`
}

// campaignActions are the panel's controls.
var campaignActions = []string{"ready", "skip", "pause", "disposition"}

// uiCampaign is POST /ui/api/campaigns/{id}/{action}: the dialing-list
// panel's controls, as the signed-in employee (see Campaigns): to
// Config.Campaigns, else the gateway's dialer (panelglue.go). 501 without
// either, 404 for an unknown action.
func (g *Gateway) uiCampaign(w http.ResponseWriter, r *http.Request, s session) {
	id, action := r.PathValue("id"), r.PathValue("action")
	switch {
	case !slices.Contains(campaignActions, action):
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q (one of %s)", text.Clip(action, 40), strings.Join(campaignActions, ", ")))
		return
	case id == "" || len(id) > 256 || !callevent.Printable(id):
		writeError(w, http.StatusBadRequest, "id: want 1 to 256 printable characters")
		return
	case g.campaigns() == nil:
		writeError(w, http.StatusNotImplemented, "no dialer is connected to the workspace")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	c := g.campaigns()
	var err error
	switch action {
	case "ready":
		err = c.Ready(ctx, s.employee, id)
	case "skip":
		err = c.Skip(ctx, s.employee, id)
	case "pause":
		err = c.Pause(ctx, s.employee, id)
	case "disposition":
		var req DispositionRequest
		if status, derr := decodeJSON(w, r, &req); derr != nil {
			writeError(w, status, derr.Error())
			return
		}
		if req.Target == "" || req.Disposition == "" {
			writeError(w, http.StatusBadRequest, "target and disposition: both are required")
			return
		}
		err = c.Disposition(ctx, s.employee, id, req.Target, req.Disposition)
	}
	if err != nil {
		status := http.StatusBadGateway
		var sc interface{ HTTPStatusCode() int }
		switch {
		case errors.Is(err, ErrNoCampaign):
			status = http.StatusNotFound
		case errors.Is(err, callevent.ErrUnsupported):
			status = http.StatusNotImplemented
		case errors.As(err, &sc) && sc.HTTPStatusCode() >= 400 && sc.HTTPStatusCode() < 600:
			status = sc.HTTPStatusCode()
		}
		g.log.WarnContext(r.Context(), "campaign control failed", "campaign", id, "action", action, "employee", s.employee, "status", status, "error", err)
		writeError(w, status, fmt.Sprintf("campaign %s: %v", action, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"campaign": id, "action": action})
}
