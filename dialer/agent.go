package dialer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// AgentState is where an agent is in its campaign:
//
//	away → ready → (preview →) dialing → in_call → wrap_up → dialing …
//
// Ready is also waiting: no target may be called now (calling hours,
// retry delays) or the campaign is paused.
type AgentState uint8

// Agent states.
const (
	// AgentAway: not taking calls (not joined, paused, or the campaign
	// ended).
	AgentAway AgentState = iota + 1
	// AgentReady: taking calls, waiting for a target.
	AgentReady
	// AgentPreview: a target is offered; the agent confirms (Ready) or
	// skips it (preview campaigns).
	AgentPreview
	// AgentDialing: the call is placed, not answered yet.
	AgentDialing
	// AgentInCall: the client answered.
	AgentInCall
	// AgentWrapUp: the call ended; the next one is placed when the
	// wrap-up time is over (power campaigns; its target is reserved).
	AgentWrapUp
)

var agentStateNames = [...]string{"", "away", "ready", "preview", "dialing", "in_call", "wrap_up"}

// String returns the lower snake_case name, e.g. "wrap_up".
func (s AgentState) String() string { return enumString(agentStateNames[:], "AgentState", uint8(s)) }

// MarshalText implements encoding.TextMarshaler.
func (s AgentState) MarshalText() ([]byte, error) {
	return enumMarshal(agentStateNames[:], "agent state", uint8(s))
}

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an error.
func (s *AgentState) UnmarshalText(b []byte) error {
	v, err := enumParse(agentStateNames[:], "agent state", b)
	*s = AgentState(v)
	return err
}

type timerKind uint8

const (
	timerNone    timerKind = iota
	timerRing              // dialing: no answer by the ring timeout
	timerMaxCall           // in call: no end by the longest call
	timerWrapUp            // wrap-up over: the next call
	timerNext              // try the next call again (after a store failure)
)

// agent is an employee working a campaign.
type agent struct {
	c        *campaign
	employee string
	ext      string // CallRequest.From
	state    AgentState
	// target is the slot offered to or called by the agent, -1 if none;
	// attempt and callID its attempt in progress.
	target   int32
	attempt  int
	callID   string
	answered bool
	// placing: the call request is with the provider; events for it
	// wait in early.
	placing bool
	early   []callevent.Event
	// leaving: go away once the call in progress ends.
	leaving    bool
	dialErrors int
	lastError  string
	prev       lastCall
	timer      Timer
	timerKind  timerKind
	tgen       uint64 // bumped to invalidate the timer
	// settleTimer ends the wait for the last call's outcome; sgen
	// invalidates it.
	settleTimer Timer
	sgen        uint64
	// wrapUntil is when the wrap-up ends (AgentWrapUp).
	wrapUntil time.Time
	// reported is the state last given to Config.OnAgent (or queued).
	reported Agent
}

// newAgent is an away agent of c.
func newAgent(c *campaign, employee, ext string) *agent {
	a := &agent{c: c, employee: employee, ext: ext, state: AgentAway, target: -1}
	a.reported = a.view()
	return a
}

// lastCall is the agent's last call, for the disposition and, while
// pending, for the event that brings its outcome (see SettleWait).
type lastCall struct {
	target  int32
	attempt int
	callID  string
	outcome Outcome
	// pending: the attempt is not finished; outcome is provisional.
	pending bool
	ok      bool
}

func (a *agent) stopSettle() {
	a.sgen++
	if a.settleTimer != nil {
		a.settleTimer.Stop()
		a.settleTimer = nil
	}
}

func (a *agent) stopTimer() {
	a.tgen++
	if a.timer != nil {
		a.timer.Stop()
		a.timer, a.timerKind = nil, timerNone
	}
}

// Agent is an agent's state as Dialer.Status shows it.
type Agent struct {
	Employee string     `json:"employee"`
	State    AgentState `json:"state"`
	// Target is the target offered to or called by the agent (its
	// number), 0 if none; Attempt and CallID its call.
	Target  int    `json:"target,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	CallID  string `json:"call_id,omitempty"`
	// Leaving: the agent goes away when the call ends.
	Leaving bool `json:"leaving,omitempty"`
	// LastError is the last failed call request (or store failure).
	LastError string `json:"last_error,omitempty"`
	// LastTarget is the target of the agent's last call (the one a
	// disposition is about), 0 if none.
	LastTarget int `json:"last_target,omitempty"`
	// WrapUpUntil is when the wrap-up ends and the next call is placed
	// (AgentWrapUp).
	WrapUpUntil time.Time `json:"wrap_up_until,omitzero"`
}

func (a *agent) view() Agent {
	v := Agent{Employee: a.employee, State: a.state, Leaving: a.leaving, LastError: a.lastError}
	if a.target >= 0 {
		v.Target = int(a.target) + 1
		if a.state == AgentDialing || a.state == AgentInCall {
			v.Attempt, v.CallID = a.attempt, a.callID
		}
	}
	if a.prev.ok {
		v.LastTarget = int(a.prev.target) + 1
	}
	if a.state == AgentWrapUp {
		v.WrapUpUntil = a.wrapUntil
	}
	return v
}

// unlock releases c.mu, first giving Config.OnAgent the agents whose
// state changed while it was held. The hook runs without the lock; one
// caller at a time runs it, for the changes queued by all, so each
// campaign's are given in order.
func (c *campaign) unlock() {
	if c.d.cfg.OnAgent == nil {
		c.mu.Unlock()
		return
	}
	for _, a := range c.agents {
		if v := a.view(); v != a.reported {
			a.reported = v
			c.changed = append(c.changed, v)
		}
	}
	if c.notifying {
		c.mu.Unlock()
		return
	}
	c.notifying = true
	for len(c.changed) > 0 {
		vs, id := c.changed, c.spec.ID
		c.changed = nil
		c.mu.Unlock()
		for _, v := range vs {
			c.d.cfg.OnAgent(c.d.base, id, v)
		}
		c.mu.Lock()
	}
	c.notifying = false
	c.mu.Unlock()
}

// agentOf returns the campaign (running or paused, its provider and
// agents checked) and employee's agent in it.
func (d *Dialer) agentOf(ctx context.Context, id, employee string) (*campaign, *agent, error) {
	return d.agentIn(ctx, id, employee, false)
}

// agentIn is agentOf; over also accepts a campaign that is done or
// stopped (a disposition of the last call).
func (d *Dialer) agentIn(ctx context.Context, id, employee string, over bool) (*campaign, *agent, error) {
	c, err := d.get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	st, mode, checked := c.spec.State, c.spec.Mode, c.caller != nil
	a := c.agents[employee]
	c.unlock()
	if mode == Remote {
		return nil, nil, fmt.Errorf("%w: campaign %q is dialled by the remote dialer: it has no agents", ErrState, id)
	}
	if a == nil {
		return nil, nil, fmt.Errorf("%w: %q in campaign %q", ErrNotAgent, employee, id)
	}
	if st == Draft || !over && st != Running && st != Paused {
		return nil, nil, fmt.Errorf("%w: campaign %q is %s", ErrState, id, st)
	}
	if !checked && (st == Running || st == Paused) {
		if err := d.checkCampaign(ctx, c); err != nil {
			return nil, nil, err
		}
	}
	return c, a, nil
}

// Ready is the agent's "go": an away agent joins the campaign (a power
// campaign places the first call at once, a preview campaign offers the
// first target); a preview agent confirms the offered call; an agent in
// wrap-up cuts it short; an agent on a call who asked to pause stays. The
// call is placed before Ready returns. It returns the agent's state.
func (d *Dialer) Ready(ctx context.Context, id, employee string) (Agent, error) {
	c, a, err := d.agentOf(ctx, id, employee)
	if err != nil {
		return Agent{}, err
	}
	c.mu.Lock()
	var p *placement
	switch a.state {
	case AgentAway:
		d.mu.Lock()
		other := d.busy[employee]
		if other != nil && other != a {
			d.mu.Unlock()
			c.unlock()
			return Agent{}, fmt.Errorf("%w: %q works campaign %q", ErrAgentBusy, employee, other.c.spec.ID)
		}
		d.busy[employee] = a
		d.mu.Unlock()
		a.state, a.dialErrors, a.lastError = AgentReady, 0, ""
		p, err = c.next(ctx, a)
	case AgentReady:
		if a.timer == nil {
			p, err = c.next(ctx, a)
		}
	case AgentPreview:
		p, err = c.dial(ctx, a)
	case AgentWrapUp:
		a.stopTimer()
		a.state = AgentReady
		p, err = c.next(ctx, a)
	case AgentDialing, AgentInCall:
		a.leaving = false
	}
	if err != nil {
		c.retryLater(a, err)
	}
	c.unlock()
	c.place(p)
	c.mu.Lock()
	defer c.unlock()
	return a.view(), err
}

// Skip skips the target offered to the agent (a preview's, or the one
// reserved during a power campaign's wrap-up): it is finished as Skipped
// and the next one is offered. With nothing offered it is ErrState.
func (d *Dialer) Skip(ctx context.Context, id, employee string) (Agent, error) {
	c, a, err := d.agentOf(ctx, id, employee)
	if err != nil {
		return Agent{}, err
	}
	c.mu.Lock()
	defer c.unlock()
	if (a.state != AgentPreview && a.state != AgentWrapUp) || a.target < 0 {
		return a.view(), fmt.Errorf("%w: %q has no target offered to skip (%s)", ErrState, employee, a.state)
	}
	i := a.target
	if err := c.finishTarget(ctx, i, Skipped); err != nil {
		return a.view(), err
	}
	a.target = -1
	if a.state == AgentPreview {
		a.state = AgentReady
		if _, err := c.next(ctx, a); err != nil { // preview: an offer, nothing to place
			c.retryLater(a, err)
		}
	} else if _, err := c.offer(ctx, a); err != nil {
		c.d.log.ErrorContext(ctx, "dialer: next target not reserved", "campaign", c.spec.ID, "error", err)
	}
	c.maybeDone(ctx)
	return a.view(), nil
}

// Dispose records the agent's disposition of its last call (or of the
// call in progress, which it ends as answered: providers that report only
// the answer, such as Finaz's click-to-call, end calls this way).
// DispositionDoNotCall also puts the number on the do-not-call list.
func (d *Dialer) Dispose(ctx context.Context, id, employee string, disp Disposition) (Agent, error) {
	if err := disp.validate(); err != nil {
		return Agent{}, err
	}
	c, a, err := d.agentIn(ctx, id, employee, true)
	if err != nil {
		return Agent{}, err
	}
	c.mu.Lock()
	var p *placement
	if a.state == AgentInCall {
		if p, err = c.end(ctx, a, Answered, false); err != nil {
			c.unlock()
			return Agent{}, err
		}
	}
	defer func() { c.place(p) }()
	defer c.unlock()
	if !a.prev.ok {
		return a.view(), fmt.Errorf("%w: %q has no call to dispose of", ErrNotFound, employee)
	}
	i := a.prev.target
	if err := c.d.cfg.Store.SetDisposition(ctx, c.spec.ID, int(i)+1, a.prev.attempt, disp); err != nil {
		return a.view(), fmt.Errorf("dialer: disposition: %w", err)
	}
	if disp == DispositionDoNotCall {
		ph := phoneString(c.slots[i].phone)
		if err := c.d.cfg.Store.AddDoNotCall(ctx, ph); err != nil {
			return a.view(), fmt.Errorf("dialer: do-not-call: %w", err)
		}
		if st := c.slots[i].state; st == slotPending || st == slotOffered {
			for _, o := range c.agents {
				if o.target == i && (o.state == AgentPreview || o.state == AgentWrapUp) {
					o.target = -1
				}
			}
			if err := c.finishTarget(ctx, i, DoNotCall); err != nil {
				return a.view(), err
			}
		}
	}
	return a.view(), nil
}

// PauseAgent sets the agent away: at once, or when its call in progress
// ends. Its offered target goes back to the list. Ready resumes.
func (d *Dialer) PauseAgent(ctx context.Context, id, employee string) (Agent, error) {
	c, a, err := d.agentOf(ctx, id, employee)
	if err != nil {
		return Agent{}, err
	}
	c.mu.Lock()
	defer c.unlock()
	switch a.state {
	case AgentDialing, AgentInCall:
		a.leaving = true
	default:
		c.release(a.target)
		a.target = -1
		c.setAway(a)
	}
	return a.view(), nil
}

// Status is a campaign's progress: its settings and state, how many
// targets are where and how the finished ones ended, and its agents.
type Status struct {
	Campaign Campaign `json:"campaign"`
	Targets  int      `json:"targets"`
	// Pending targets wait for a call (Due of them may be called now,
	// their calling hours permitting); Dialing are being called; Finished
	// are done.
	Pending  int `json:"pending"`
	Due      int `json:"due"`
	Dialing  int `json:"dialing"`
	Finished int `json:"finished"`
	// Attempts counts every attempt recorded.
	Attempts int `json:"attempts"`
	// Outcomes counts the targets by their last outcome (a pending target
	// being retried counts under the outcome of its last attempt).
	Outcomes map[Outcome]int `json:"outcomes"`
	Agents   []Agent         `json:"agents,omitempty"`
	// NextAt is when the first pending target may be called, when none
	// may now.
	NextAt time.Time `json:"next_at,omitzero"`
}

// Status returns a campaign's progress (from memory when the campaign is
// loaded, else read from the store).
func (d *Dialer) Status(ctx context.Context, id string) (Status, error) {
	if c := d.loaded(id); c != nil {
		c.mu.Lock()
		defer c.unlock()
		return c.status(), nil
	}
	spec, err := d.cfg.Store.Campaign(ctx, id)
	if err != nil {
		return Status{}, err
	}
	st := Status{Campaign: spec, Outcomes: map[Outcome]int{}}
	for _, emp := range slices.Sorted(slices.Values(spec.Agents)) { // not loaded: nobody takes its calls
		st.Agents = append(st.Agents, Agent{Employee: emp, State: AgentAway})
	}
	now := d.clock.Now()
	err = d.cfg.Store.Progress(ctx, id, func(p Progress) error {
		st.count(p.State, p.Outcome, p.Attempts, p.NextAt, now)
		return nil
	})
	return st, err
}

func (st *Status) count(s TargetState, o Outcome, attempts int, next, now time.Time) {
	st.Targets++
	st.Attempts += attempts
	if o != 0 {
		st.Outcomes[o]++
	}
	switch s {
	case Pending:
		st.Pending++
		if !next.After(now) {
			st.Due++
		} else if st.NextAt.IsZero() || next.Before(st.NextAt) {
			st.NextAt = next
		}
	case Dialing:
		st.Dialing++
	default:
		st.Finished++
	}
}

func (c *campaign) status() Status {
	st := Status{Campaign: c.spec, Outcomes: map[Outcome]int{}}
	now := c.d.clock.Now()
	for i := range c.slots {
		s := &c.slots[i]
		var next time.Time
		if s.next != 0 {
			next = time.Unix(0, s.next)
		}
		ts := Pending
		switch s.state {
		case slotDialing:
			ts = Dialing
		case slotFinished:
			ts = Finished
		}
		st.count(ts, s.outcome, int(s.attempts), next, now)
	}
	if !st.NextAt.IsZero() {
		st.NextAt = st.NextAt.UTC()
	}
	for _, a := range c.sortedAgents() {
		st.Agents = append(st.Agents, a.view())
	}
	return st
}
