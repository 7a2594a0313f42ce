package dialer

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// maxEarly bounds the events held for a call whose request is in flight.
const maxEarly = 32

// HandleEvent implements callevent.Sink: the providers' events settle the
// campaigns' calls. An event belongs to a campaign of its provider (and
// account, when both are set) and to an agent's call there by its call id,
// else by the client's number among the agent's calls in progress (a
// webhook may come before the provider answered the call request, or
// carry another id). Answered puts the agent in the call; Ended and
// Completed end the attempt with an outcome from the event's Status
// (Success answered, Busy busy, Missed/Canceled/NotAvailable no answer,
// NotFound invalid, the rest failed; without a status answered if the
// call was answered, else no answer, and a later Completed may still
// correct that). Inbound and internal calls are not the dialer's.
// Events of no campaign are ignored; an error means the outcome could not
// be stored, so the event should be delivered again.
//
// For a Remote campaign, the remote dialer's "answered" notification
// (Event.ContactRef = the target's contact id) runs the call-started
// hook.
func (d *Dialer) HandleEvent(ctx context.Context, e callevent.Event) error {
	if e.Direction == callevent.Inbound || e.Direction == callevent.Internal {
		return nil
	}
	d.mu.Lock()
	var cs []*campaign
	for _, c := range d.camps {
		if c.eff.Provider == e.Provider {
			cs = append(cs, c)
		}
	}
	d.mu.Unlock()
	slices.SortFunc(cs, func(a, b *campaign) int { return strings.Compare(a.eff.ID, b.eff.ID) })
	for _, c := range cs {
		if ok, err := c.handle(ctx, e); ok {
			return err
		}
	}
	return nil
}

// handle applies e if it is about one of c's calls.
func (c *campaign) handle(ctx context.Context, e callevent.Event) (bool, error) {
	c.mu.Lock()
	if c.spec.Account != "" && e.Account != "" && e.Account != c.spec.Account {
		c.unlock()
		return false, nil
	}
	if c.spec.Mode == Remote {
		start, n, ok := c.remoteAnswered(e)
		c.unlock()
		if ok {
			c.hook(ctx, start, n)
		}
		return ok, nil
	}
	a := c.match(e)
	if a == nil {
		ok, err := c.refine(ctx, e)
		c.unlock()
		return ok, err
	}
	p, err := c.event(ctx, a, e)
	c.unlock()
	c.place(p)
	return true, err
}

// match finds the agent whose call in progress e is about.
func (c *campaign) match(e callevent.Event) *agent {
	if e.CallID != "" {
		if a := c.calls[e.CallID]; a != nil && (a.state == AgentDialing || a.state == AgentInCall) {
			return a
		}
	}
	ph, err := phoneNumber(e.ClientPhone)
	if err != nil {
		return nil
	}
	var found *agent
	for _, a := range c.sortedAgents() {
		if (a.state != AgentDialing && a.state != AgentInCall) || a.target < 0 || c.slots[a.target].phone != ph {
			continue
		}
		if found == nil || a.ext == e.Extension {
			found = a
		}
	}
	if found != nil && e.CallID != "" && !found.placing {
		if found.callID == "" {
			found.callID = e.CallID
		}
		c.calls[e.CallID] = found
	}
	return found
}

// event applies e to a's call in progress.
func (c *campaign) event(ctx context.Context, a *agent, e callevent.Event) (*placement, error) {
	if a.placing {
		if len(a.early) < maxEarly {
			a.early = append(a.early, e)
		}
		return nil, nil
	}
	switch e.Kind {
	case callevent.Answered:
		a.answered = true
		if a.state == AgentDialing {
			a.state = AgentInCall
			c.arm(a, time.Duration(c.eff.MaxCall), timerMaxCall)
		}
	case callevent.Ended, callevent.Completed:
		if e.Status == 0 {
			o := NoAnswer
			if a.answered || !e.AnsweredAt.IsZero() {
				o = Answered
			}
			return c.end(ctx, a, o, true)
		}
		return c.end(ctx, a, outcomeOf(e.Status), false)
	}
	return nil, nil
}

// refine finishes an agent's last call that awaits its outcome (it hung
// up without one) with the status a later event brings.
func (c *campaign) refine(ctx context.Context, e callevent.Event) (bool, error) {
	if (e.Kind != callevent.Completed && e.Kind != callevent.Ended) || e.Status == 0 {
		return false, nil
	}
	ph, _ := phoneNumber(e.ClientPhone)
	for _, a := range c.sortedAgents() {
		pc := &a.prev
		if !pc.pending {
			continue
		}
		if !(e.CallID != "" && pc.callID == e.CallID || pc.callID == "" && ph != 0 && c.slots[pc.target].phone == ph) {
			continue
		}
		pc.outcome = outcomeOf(e.Status)
		return true, c.settlePrev(ctx, a)
	}
	return false, nil
}

// remoteAnswered recognises the remote dialer's "answered" notification
// of one of c's targets: the hook's CallStart and target number.
func (c *campaign) remoteAnswered(e callevent.Event) (CallStart, int, bool) {
	rest, ok := strings.CutPrefix(e.ContactRef, c.spec.ID+":")
	if !ok || e.Kind != callevent.Answered {
		return CallStart{}, 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || n > len(c.slots) {
		return CallStart{}, 0, false
	}
	return CallStart{Campaign: c.spec.ID, Employee: e.Extension, Provider: c.spec.Provider, Account: c.spec.Account,
		CallID: e.CallID, Attempt: int(c.slots[n-1].attempts), At: c.d.clock.Now().UTC()}, n, true
}
