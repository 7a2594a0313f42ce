package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/live"
)

// panelDispositions are the outcomes the dialing-list panel offers after
// a call of the gateway's dialer (dialer.Disposition codes; do_not_call
// also puts the number on the do-not-call list).
var panelDispositions = []string{"sale", "call_back", "not_interested", string(dialer.DispositionDoNotCall)}

// campaigns is the dialer behind the dialing-list panel: Config.Campaigns
// when set, else the gateway's own dialer; nil without either.
func (g *Gateway) campaigns() Campaigns {
	switch {
	case g.cfg.Campaigns != nil:
		return g.cfg.Campaigns
	case g.dialer != nil:
		return dialerPanel{g}
	}
	return nil
}

// dialerPanel is Campaigns over the gateway's dialer: the panel's buttons
// are the agent's controls of the campaign (the employee is its agent),
// its updates come from the dialer's agent hook (agentChanged).
type dialerPanel struct{ g *Gateway }

func (p dialerPanel) Ready(ctx context.Context, employee, campaign string) error {
	_, err := p.g.dialer.Ready(ctx, campaign, employee)
	return panelError(err)
}

func (p dialerPanel) Skip(ctx context.Context, employee, campaign string) error {
	_, err := p.g.dialer.Skip(ctx, campaign, employee)
	return panelError(err)
}

func (p dialerPanel) Pause(ctx context.Context, employee, campaign string) error {
	_, err := p.g.dialer.PauseAgent(ctx, campaign, employee)
	return panelError(err)
}

// Disposition records the outcome of the agent's last call (or of the
// call in progress, which it ends); target must be that call's (409
// otherwise: the panel showed another).
func (p dialerPanel) Disposition(ctx context.Context, employee, campaign, target, disposition string) error {
	st, err := p.g.dialer.Status(ctx, campaign)
	if err != nil {
		return panelError(err)
	}
	var a *dialer.Agent
	for i := range st.Agents {
		if st.Agents[i].Employee == employee {
			a = &st.Agents[i]
		}
	}
	if a == nil {
		return panelError(fmt.Errorf("%w: %q", dialer.ErrNotAgent, employee))
	}
	if n := disposedTarget(*a); n == 0 || strconv.Itoa(n) != target {
		return apiError{http.StatusConflict, fmt.Sprintf("target %q is not the one of your last call", target)}
	}
	_, err = p.g.dialer.Dispose(ctx, campaign, employee, dialer.Disposition(disposition))
	return panelError(err)
}

// disposedTarget is the target a disposition of a is about: the call in
// progress, else the last call.
func disposedTarget(a dialer.Agent) int {
	if a.State == dialer.AgentInCall {
		return a.Target
	}
	return a.LastTarget
}

// panelError turns a dialer error into the panel's: an unknown campaign
// or one the employee is not an agent of ErrNoCampaign (404), bad input
// 400, a state that does not allow the action 409; others as they are.
func panelError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dialer.ErrNotFound), errors.Is(err, dialer.ErrNotAgent):
		return fmt.Errorf("%w: %v", ErrNoCampaign, err)
	case errors.Is(err, dialer.ErrInvalid):
		return apiError{http.StatusBadRequest, err.Error()}
	case errors.Is(err, dialer.ErrState), errors.Is(err, dialer.ErrAgentBusy):
		return apiError{http.StatusConflict, err.Error()}
	}
	return err
}

// agentChanged is the dialer's agent hook: it shows the agent's new state
// on their screen (CampaignChanged) with the campaign's name, wrap-up and
// dispositions and the target — during the wrap-up the one just called,
// whose outcome the agent records. An away agent's list is paused (done
// once the campaign is over); a ready agent's waits for its next call
// (dialing without a target); a preview's target is paused until Ready.
func (g *Gateway) agentChanged(ctx context.Context, campaign string, a dialer.Agent) {
	spec, err := g.dialer.Campaign(ctx, campaign)
	if err != nil {
		g.log.WarnContext(ctx, "campaign update not shown", "campaign", campaign, "employee", a.Employee, "error", err)
		return
	}
	c := live.Campaign{ID: spec.ID, Name: spec.Name, Employee: a.Employee, WrapUp: spec.WrapUp,
		Dispositions: panelDispositions}
	if g.cfg.Clock != nil {
		c.At = g.cfg.Clock.Now().UTC()
	}
	n := a.Target
	switch a.State {
	case dialer.AgentAway, dialer.AgentPreview:
		c.State = live.CampaignPaused
		if spec.State == dialer.Done || spec.State == dialer.Stopped {
			c.State = live.CampaignDone
		}
	case dialer.AgentReady, dialer.AgentDialing:
		c.State = live.CampaignDialing
	case dialer.AgentInCall:
		c.State = live.CampaignTalking
	case dialer.AgentWrapUp:
		c.State, c.WrapUpUntil, n = live.CampaignWrapUp, a.WrapUpUntil, a.LastTarget
	}
	if n > 0 {
		t, err := g.dialStore.Target(ctx, campaign, n)
		if err != nil {
			g.log.WarnContext(ctx, "campaign target not read", "campaign", campaign, "target", n, "error", err)
		}
		c.Position, c.Target = n, &live.CampaignTarget{ID: strconv.Itoa(n), Name: t.Name, Phone: t.Phone,
			URL: g.targetURL(t), Provider: spec.Provider, CallID: a.CallID}
		if t.Entity == "client" {
			c.Target.ClientID = t.EntityID
		}
	}
	g.CampaignChanged(c)
}

// targetURL opens a target's record in amoCRM (a lead, a contact or a
// company); "" in other modes or for a target of no record.
func (g *Gateway) targetURL(t dialer.Target) string {
	d := g.cfg.AmoCRM.Domain
	if g.cfg.CRM != CRMAmoCRM || d == "" || t.EntityID == "" {
		return ""
	}
	kinds := map[string]string{"lead": "leads", "contact": "contacts", "client": "contacts", "company": "companies"}
	kind, ok := kinds[t.Entity]
	if !ok {
		return ""
	}
	return "https://" + d + "/" + kind + "/detail/" + url.PathEscape(t.EntityID)
}

// showAgents shows a campaign just started or resumed on the panels of
// its agents who have not joined (paused: Ready joins), so they can.
func (g *Gateway) showAgents(ctx context.Context, campaign string) {
	if g.cfg.Campaigns != nil {
		return
	}
	st, err := g.dialer.Status(ctx, campaign)
	if err != nil {
		g.log.WarnContext(ctx, "campaign agents not shown", "campaign", campaign, "error", err)
		return
	}
	for _, a := range st.Agents {
		if a.State == dialer.AgentAway {
			g.agentChanged(ctx, campaign, a)
		}
	}
}
