package dialer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// campaign is a campaign in memory: its targets' slots, the heap of the
// pending ones, its agents and their calls. mu guards everything; it is
// held during the store's writes (short) but never while a provider is
// called.
type campaign struct {
	d      *Dialer
	mu     sync.Mutex
	spec   Campaign
	eff    Campaign // spec with defaults, as loaded (its State is not kept)
	caller callevent.Caller
	remote RemoteDialer
	slots  []slot
	heap   targetHeap
	zones  []*time.Location
	agents map[string]*agent // by employee
	calls  map[string]*agent // call id → the agent on it
	wake   Timer             // wakes waiting agents when the first target falls due
	wakeAt int64
	// roundAt is when a Remote campaign's round was loaded (results
	// before it belong to an earlier round); 0 after a restart.
	roundAt int64
	// unloadTimer forgets the campaign once it is over (KeepFinished).
	unloadTimer Timer
	// changed are agent states for Config.OnAgent not given yet;
	// notifying: a caller of unlock is giving them.
	changed   []Agent
	notifying bool
}

// placement is a call to place once the campaign's lock is released.
type placement struct {
	a       *agent
	tgen    uint64
	req     callevent.CallRequest
	target  int32
	attempt int
}

// setState stores and sets the campaign's state.
func (c *campaign) setState(ctx context.Context, s State) error {
	now := c.d.clock.Now().UTC()
	if err := c.d.cfg.Store.SetState(ctx, c.spec.ID, s, now); err != nil {
		return fmt.Errorf("dialer: campaign %q: %w", c.spec.ID, err)
	}
	c.spec.State, c.spec.UpdatedAt = s, now // eff keeps the settings only: it never changes
	return nil
}

// sortedAgents lists the agents by employee, for a stable order.
func (c *campaign) sortedAgents() []*agent {
	out := make([]*agent, 0, len(c.agents))
	for _, a := range c.agents {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *agent) int {
		if a.employee < b.employee {
			return -1
		}
		if a.employee > b.employee {
			return 1
		}
		return 0
	})
	return out
}

// progress is slot i as stored.
func (c *campaign) progress(i int32) Progress {
	s := &c.slots[i]
	p := Progress{Target: int(i) + 1, Phone: phoneString(s.phone), Attempts: int(s.attempts), Outcome: s.outcome}
	if int(s.zone) < len(c.zones) {
		p.TimeZone = c.zones[s.zone].String()
	}
	switch s.state {
	case slotPending, slotOffered:
		p.State = Pending
		if s.next != 0 {
			p.NextAt = time.Unix(0, s.next).UTC()
		}
	case slotDialing:
		p.State = Dialing
	default:
		p.State = Finished
	}
	return p
}

// after is slot i's progress once an attempt ended with o at now: pending
// again after the outcome's delay while attempts remain, else finished.
func (c *campaign) after(i int32, o Outcome, now time.Time) Progress {
	p := c.progress(i)
	p.Outcome, p.NextAt = o, time.Time{}
	r := c.eff.Retry.of(o)
	if r.MaxAttempts > p.Attempts {
		p.State = Pending
		p.NextAt = now.Add(time.Duration(r.Delay)).UTC()
	} else {
		p.State = Finished
	}
	return p
}

// apply sets slot i to stored progress p (not touching the heap).
func (c *campaign) apply(i int32, p Progress) {
	s := &c.slots[i]
	s.outcome, s.attempts = p.Outcome, uint8(min(p.Attempts, 255))
	switch p.State {
	case Pending:
		s.state, s.next = slotPending, 0
		if !p.NextAt.IsZero() {
			s.next = p.NextAt.UnixNano()
		}
	case Dialing:
		s.state = slotDialing
	default:
		s.state = slotFinished
	}
}

// finishTarget ends slot i (pending or offered) with o, not called.
func (c *campaign) finishTarget(ctx context.Context, i int32, o Outcome) error {
	p := c.progress(i)
	p.State, p.Outcome, p.NextAt = Finished, o, time.Time{}
	if err := c.d.cfg.Store.SetProgress(ctx, c.spec.ID, p); err != nil {
		return fmt.Errorf("dialer: campaign %q target %d: %w", c.spec.ID, i+1, err)
	}
	c.heap.remove(i)
	c.apply(i, p)
	return nil
}

// release puts an offered slot back into the heap.
func (c *campaign) release(i int32) {
	if i < 0 || c.slots[i].state != slotOffered {
		return
	}
	c.slots[i].state = slotPending
	c.heap.push(i)
}

// pop takes the first target that may be called now out of the heap:
// due, inside its calling hours, not on the do-not-call list and not
// worked elsewhere (those are finished on the way). wait is when the
// first target falls due when none may be called now (0: none pending).
func (c *campaign) pop(ctx context.Context) (i int32, wait int64, err error) {
	now := c.d.clock.Now()
	nowN := now.UnixNano()
	for c.heap.len() > 0 {
		top := c.heap.top()
		s := &c.slots[top]
		if s.next > nowN {
			return -1, s.next, nil
		}
		if open := c.eff.Hours.next(now, c.zones[s.zone]); open.After(now) {
			s.next = open.UnixNano()
			c.heap.fix(top)
			continue
		}
		ok, err := c.screen(ctx, top)
		if err != nil {
			return -1, 0, err
		}
		if ok {
			c.heap.remove(top)
			s.state = slotOffered
			return top, 0, nil
		}
	}
	return -1, 0, nil
}

// screen reports whether slot i's number may be called; one on the
// do-not-call list, or worked by another campaign when the campaign
// skips those, is finished instead.
func (c *campaign) screen(ctx context.Context, i int32) (bool, error) {
	sc, err := c.d.cfg.Store.Screen(ctx, phoneString(c.slots[i].phone))
	if err != nil {
		return false, fmt.Errorf("dialer: screening a number: %w", err)
	}
	switch {
	case sc.DoNotCall:
		return false, c.finishTarget(ctx, i, DoNotCall)
	case c.spec.SkipWorked && sc.WorkedBy != "" && sc.WorkedBy != c.spec.ID:
		return false, c.finishTarget(ctx, i, Worked)
	}
	return true, nil
}

// wakeWaiting arms the campaign's wake-up for the first pending target,
// when agents wait for one.
func (c *campaign) wakeWaiting(at int64) {
	if at == 0 || c.spec.State != Running {
		return
	}
	if c.wake != nil {
		if c.wakeAt <= at {
			return
		}
		c.wake.Stop()
	}
	c.wakeAt = at
	c.wake = c.d.after(time.Duration(at-c.d.clock.Now().UnixNano()), c.onWake)
}

// onWake gives the waiting agents their next targets.
func (c *campaign) onWake(ctx context.Context) {
	c.mu.Lock()
	c.wake, c.wakeAt = nil, 0
	var ps []*placement
	for _, a := range c.sortedAgents() {
		if a.state != AgentReady || a.timer != nil {
			continue
		}
		p, err := c.next(ctx, a)
		if err != nil {
			c.retryLater(a, err)
		}
		if p != nil {
			ps = append(ps, p)
		}
	}
	c.unlock()
	for _, p := range ps {
		c.place(p)
	}
}

// poke wakes waiting agents now that target i is pending again.
func (c *campaign) poke(i int32) {
	waiting := false
	for _, a := range c.agents {
		waiting = waiting || a.state == AgentReady && a.timer == nil
	}
	if waiting {
		c.wakeWaiting(max(c.slots[i].next, 1))
	}
}

// maybeDone ends a running campaign with nothing left to call.
func (c *campaign) maybeDone(ctx context.Context) {
	if c.spec.State != Running || c.heap.len() > 0 {
		return
	}
	for i := range c.slots {
		if st := c.slots[i].state; st == slotOffered || st == slotDialing {
			return
		}
	}
	if err := c.setState(ctx, Done); err != nil {
		c.d.log.ErrorContext(ctx, "dialer: campaign done, not stored", "campaign", c.spec.ID, "error", err)
		return
	}
	c.idleAgents(true)
	c.stopTimers()
	c.unload()
}

// KeepFinished is how long a campaign that is over (done, or stopped with
// no call in progress) stays in memory, so its agents can still give the
// dispositions of their last calls; then its memory is freed and Status
// reads it from the store.
const KeepFinished = time.Hour

// unload schedules forgetting a campaign that is over.
func (c *campaign) unload() {
	if !c.over() || c.unloadTimer != nil {
		return
	}
	c.unloadTimer = c.d.after(KeepFinished, func(context.Context) {
		c.mu.Lock()
		defer c.unlock()
		c.unloadTimer = nil
		if !c.over() {
			return
		}
		c.d.mu.Lock()
		if c.d.camps[c.spec.ID] == c {
			delete(c.d.camps, c.spec.ID)
		}
		c.d.mu.Unlock()
	})
}

// over reports whether the campaign is done or stopped with no call in
// progress.
func (c *campaign) over() bool {
	if c.spec.State != Done && c.spec.State != Stopped {
		return false
	}
	for i := range c.slots {
		if c.slots[i].state == slotDialing {
			return false
		}
	}
	return true
}

// idleAgents stops the agents' timers and gives back their offered
// targets; leave also releases them (Away).
func (c *campaign) idleAgents(leave bool) {
	for _, a := range c.agents {
		switch a.state {
		case AgentDialing, AgentInCall:
			if leave {
				a.leaving = true
			}
			continue
		}
		a.stopTimer()
		c.release(a.target)
		a.target = -1
		if leave || a.state == AgentAway {
			c.setAway(a)
		} else {
			a.state = AgentReady
		}
	}
	if c.wake != nil {
		c.wake.Stop()
		c.wake, c.wakeAt = nil, 0
	}
}

// stopTimers stops every timer of the campaign.
func (c *campaign) stopTimers() {
	for _, a := range c.agents {
		if a.state != AgentDialing && a.state != AgentInCall {
			a.stopTimer()
		}
	}
	if c.wake != nil {
		c.wake.Stop()
		c.wake, c.wakeAt = nil, 0
	}
}

// setAway makes a away and frees its employee for other campaigns.
func (c *campaign) setAway(a *agent) {
	a.stopTimer()
	a.state, a.leaving = AgentAway, false
	c.d.mu.Lock()
	if c.d.busy[a.employee] == a {
		delete(c.d.busy, a.employee)
	}
	c.d.mu.Unlock()
}

// retryLater gives an agent another try after a store failure.
func (c *campaign) retryLater(a *agent, err error) {
	c.d.log.Error("dialer: next call failed; will retry", "campaign", c.spec.ID, "employee", a.employee,
		"retry_in", storeRetry.String(), "error", err)
	a.lastError = err.Error()
	if a.state == AgentAway || c.spec.State != Running {
		return
	}
	a.state = AgentReady
	c.arm(a, storeRetry, timerNext)
}

// place calls the provider for p, without the campaign's lock, then
// records the answer.
func (c *campaign) place(p *placement) {
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.d.base, c.d.cfg.CallTimeout)
	ref, callErr := c.caller.Call(ctx, p.req)
	cancel()
	ctx, cancel = context.WithTimeout(c.d.base, time.Minute)
	defer cancel()
	c.mu.Lock()
	a := p.a
	if a.tgen != p.tgen || a.target != p.target || a.attempt != p.attempt || !a.placing {
		c.unlock()
		return // cannot happen: a placing agent is left alone
	}
	a.placing = false
	var next *placement
	if callErr != nil {
		a.dialErrors++
		a.lastError = callErr.Error()
		c.d.log.WarnContext(ctx, "dialer: call request failed", "campaign", c.spec.ID, "employee", a.employee,
			"target", p.target+1, "attempt", p.attempt, "error", callErr)
		var err error
		if next, err = c.end(ctx, a, Failed, false); err != nil {
			// The store failed: the attempt stays open; the ring timer
			// ends it later.
			c.d.log.ErrorContext(ctx, "dialer: failed call not stored", "campaign", c.spec.ID, "error", err)
			c.arm(a, time.Duration(c.eff.RingTimeout), timerRing)
		}
		c.unlock()
		c.place(next)
		return
	}
	a.dialErrors, a.lastError = 0, ""
	a.callID = ref.CallID
	if ref.CallID != "" {
		c.calls[ref.CallID] = a
		if err := c.d.cfg.Store.PlacedAttempt(ctx, c.spec.ID, int(p.target)+1, p.attempt, ref.CallID); err != nil {
			c.d.log.ErrorContext(ctx, "dialer: call id not stored", "campaign", c.spec.ID, "call_id", ref.CallID, "error", err)
		}
	}
	c.arm(a, time.Duration(c.eff.RingTimeout), timerRing)
	early := a.early
	a.early = nil
	for _, e := range early {
		n, err := c.event(ctx, a, e)
		if err != nil {
			c.d.log.ErrorContext(ctx, "dialer: early event not applied", "campaign", c.spec.ID, "event_id", e.ID, "error", err)
		}
		if n != nil {
			next = n
		}
	}
	start := CallStart{Campaign: c.spec.ID, Employee: a.employee, Provider: c.spec.Provider, Account: c.spec.Account,
		CallID: ref.CallID, Attempt: p.attempt, At: c.d.clock.Now().UTC()}
	c.unlock()
	c.hook(ctx, start, int(p.target)+1)
	c.place(next)
}

// hook runs the call-started hook with the target read from the store.
func (c *campaign) hook(ctx context.Context, s CallStart, n int) {
	if c.d.cfg.OnCall == nil {
		return
	}
	t, err := c.d.cfg.Store.Target(ctx, s.Campaign, n)
	if err != nil {
		c.d.log.ErrorContext(ctx, "dialer: target of a call not read", "campaign", s.Campaign, "target", n, "error", err)
		t = Target{Number: n}
	}
	s.Target = t
	c.d.cfg.OnCall(ctx, s)
}

// SettleWait is how long the outcome of a call that hung up without one
// is awaited (MegaFon and Phonet report the hang-up first and the outcome
// after it): the agent moves on at once, the target waits.
const SettleWait = 30 * time.Second

// end ends the agent's current call with outcome o and moves the agent
// on. A provisional outcome (a hang-up without a status) keeps the
// attempt open for SettleWait, for the event that brings the status (see
// refine). Nothing changes when the store fails.
func (c *campaign) end(ctx context.Context, a *agent, o Outcome, provisional bool) (*placement, error) {
	i := a.target
	if a.prev.pending { // one attempt of an agent awaits its outcome at a time
		if err := c.settlePrev(ctx, a); err != nil {
			return nil, err
		}
	}
	if !provisional {
		if err := c.finishAttempt(ctx, i, a.attempt, a.employee, a.callID, o); err != nil {
			return nil, err
		}
	}
	if a.callID != "" && c.calls[a.callID] == a {
		delete(c.calls, a.callID)
	}
	a.prev = lastCall{target: i, attempt: a.attempt, callID: a.callID, outcome: o, pending: provisional, ok: true}
	a.target, a.callID, a.answered, a.early = -1, "", false, nil
	a.stopTimer()
	if provisional {
		a.stopSettle()
		sgen := a.sgen
		a.settleTimer = c.d.after(SettleWait, func(ctx context.Context) { c.onSettle(ctx, a, sgen) })
	}
	if a.leaving || c.spec.State == Stopped || c.spec.State == Done {
		c.setAway(a)
		c.maybeDone(ctx)
		c.unload()
		return nil, nil
	}
	if c.spec.State != Running {
		a.state = AgentReady
		return nil, nil
	}
	if a.dialErrors >= maxDialErrors {
		c.d.log.WarnContext(ctx, "dialer: agent paused after failed call requests", "campaign", c.spec.ID,
			"employee", a.employee, "failures", a.dialErrors)
		c.setAway(a)
		return nil, nil
	}
	if c.spec.Mode == Power {
		// Wrap-up: the next target is reserved now and called when the
		// wrap-up time is over (or the agent is ready sooner).
		a.state, a.wrapUntil = AgentWrapUp, c.d.clock.Now().Add(time.Duration(c.spec.WrapUp)).UTC()
		if _, err := c.offer(ctx, a); err != nil {
			c.d.log.ErrorContext(ctx, "dialer: next target not reserved", "campaign", c.spec.ID, "error", err)
		}
		c.arm(a, time.Duration(c.spec.WrapUp), timerWrapUp)
		c.maybeDone(ctx)
		return nil, nil
	}
	a.state = AgentReady
	p2, err := c.next(ctx, a)
	if err != nil {
		c.retryLater(a, err)
	}
	c.maybeDone(ctx)
	return p2, nil
}

// finishAttempt stores attempt n of slot i ended with o and puts the
// target back on the list when the retry policy says so.
func (c *campaign) finishAttempt(ctx context.Context, i int32, n int, employee, callID string, o Outcome) error {
	now := c.d.clock.Now()
	p := c.after(i, o, now)
	at := Attempt{Campaign: c.spec.ID, Target: int(i) + 1, Number: n, Employee: employee,
		Phone: p.Phone, CallID: callID, Outcome: o, EndedAt: now.UTC()}
	if err := c.finish(ctx, at, p); err != nil {
		return fmt.Errorf("dialer: campaign %q target %d: %w", c.spec.ID, i+1, err)
	}
	c.apply(i, p)
	if c.slots[i].state == slotPending {
		c.heap.push(i)
		c.poke(i)
	}
	return nil
}

// settlePrev finishes the agent's last attempt, which awaits its outcome,
// with the outcome it has.
func (c *campaign) settlePrev(ctx context.Context, a *agent) error {
	pc := &a.prev
	if err := c.finishAttempt(ctx, pc.target, pc.attempt, a.employee, pc.callID, pc.outcome); err != nil {
		return err
	}
	pc.pending = false
	a.stopSettle()
	c.maybeDone(ctx)
	c.unload()
	return nil
}

// onSettle ends the wait for an outcome: the provisional one stands.
func (c *campaign) onSettle(ctx context.Context, a *agent, sgen uint64) {
	c.mu.Lock()
	defer c.unlock()
	if a.sgen != sgen || !a.prev.pending {
		return
	}
	a.settleTimer = nil
	if err := c.settlePrev(ctx, a); err != nil {
		c.d.log.ErrorContext(ctx, "dialer: outcome not stored; will retry", "campaign", c.spec.ID, "error", err)
		sgen := a.sgen
		a.settleTimer = c.d.after(storeRetry, func(ctx context.Context) { c.onSettle(ctx, a, sgen) })
	}
}

// maxDialErrors is how many call requests in a row may fail before the
// agent is set away (the provider is down or refuses the agent).
const maxDialErrors = 3

// offer reserves the next target for a (nothing when none is due; ok
// reports one).
func (c *campaign) offer(ctx context.Context, a *agent) (bool, error) {
	i, wait, err := c.pop(ctx)
	if err != nil {
		return false, err
	}
	if i < 0 {
		c.wakeWaiting(wait)
		return false, nil
	}
	a.target = i
	return true, nil
}

// next moves a ready agent on: a preview agent is offered the next
// target, a power agent's call is prepared (placed by the caller, after
// unlocking). With nothing due the agent waits.
func (c *campaign) next(ctx context.Context, a *agent) (*placement, error) {
	if c.spec.State != Running || a.state == AgentAway {
		return nil, nil
	}
	if a.target < 0 {
		ok, err := c.offer(ctx, a)
		if err != nil || !ok {
			a.state = AgentReady
			c.maybeDone(ctx)
			return nil, err
		}
	}
	if c.spec.Mode == Preview {
		a.state = AgentPreview
		return nil, nil
	}
	return c.dial(ctx, a)
}

// dial records the attempt on a's offered target and prepares its call.
// A target whose hours closed meanwhile goes back and the next is taken.
func (c *campaign) dial(ctx context.Context, a *agent) (*placement, error) {
	for {
		i := a.target
		s := &c.slots[i]
		now := c.d.clock.Now()
		if open := c.eff.Hours.next(now, c.zones[s.zone]); open.After(now) {
			s.next = open.UnixNano()
			c.release(i)
			a.target = -1
			ok, err := c.offer(ctx, a)
			if err != nil || !ok {
				a.state = AgentReady
				return nil, err
			}
			continue
		}
		// Screened again: the lists may have changed since the offer.
		if ok, err := c.screen(ctx, i); err != nil || !ok {
			a.target = -1
			if err != nil {
				c.release(i)
				a.state = AgentReady
				return nil, err
			}
			if ok, err := c.offer(ctx, a); err != nil || !ok {
				a.state = AgentReady
				return nil, err
			}
			continue
		}
		n := int(s.attempts) + 1
		at := Attempt{Campaign: c.spec.ID, Target: int(i) + 1, Number: n, Employee: a.employee, Phone: phoneString(s.phone),
			StartedAt: now.UTC()}
		err := c.d.cfg.Store.BeginAttempt(ctx, at)
		if errors.Is(err, ErrAttemptExists) {
			// Recorded by someone else (another process on the same
			// store): never placed twice; the target is left to it.
			c.d.log.WarnContext(ctx, "dialer: attempt recorded elsewhere", "campaign", c.spec.ID, "target", i+1, "attempt", n)
			a.target = -1
			if err := c.finishTarget(ctx, i, Unknown); err != nil {
				c.release(i)
				a.state = AgentReady
				return nil, err
			}
			if ok, err := c.offer(ctx, a); err != nil || !ok {
				a.state = AgentReady
				return nil, err
			}
			continue
		}
		if err != nil {
			c.release(i)
			a.target = -1
			a.state = AgentReady
			return nil, fmt.Errorf("dialer: recording attempt %d of target %d: %w", n, i+1, err)
		}
		s.state, s.attempts = slotDialing, uint8(n)
		a.state, a.placing, a.attempt, a.callID, a.answered = AgentDialing, true, n, "", false
		a.stopTimer()
		return &placement{a: a, tgen: a.tgen, target: i, attempt: n, req: callevent.CallRequest{
			Account: c.spec.Account, From: a.ext, To: "+" + at.Phone, CallerID: c.spec.CallerID}}, nil
	}
}

// arm (re)places a's timer.
func (c *campaign) arm(a *agent, d time.Duration, kind timerKind) {
	a.stopTimer()
	tgen := a.tgen
	a.timerKind = kind
	a.timer = c.d.after(d, func(ctx context.Context) { c.onTimer(ctx, a, tgen) })
}

// onTimer runs a's timer.
func (c *campaign) onTimer(ctx context.Context, a *agent, tgen uint64) {
	c.mu.Lock()
	if a.tgen != tgen {
		c.unlock()
		return
	}
	kind := a.timerKind
	a.timer, a.timerKind = nil, timerNone
	var p *placement
	var err error
	switch kind {
	case timerRing:
		if a.state == AgentDialing && !a.placing {
			p, err = c.end(ctx, a, NoAnswer, false)
		}
	case timerMaxCall:
		if a.state == AgentInCall {
			p, err = c.end(ctx, a, Answered, false)
		}
	case timerWrapUp, timerNext:
		if a.state == AgentWrapUp || a.state == AgentReady {
			a.state = AgentReady
			p, err = c.next(ctx, a)
		}
	}
	if err != nil {
		if kind == timerRing || kind == timerMaxCall {
			c.d.log.ErrorContext(ctx, "dialer: ending a call failed; will retry", "campaign", c.spec.ID, "error", err)
			c.arm(a, storeRetry, kind)
		} else {
			c.retryLater(a, err)
		}
	}
	c.unlock()
	c.place(p)
}

// targetRef is "<campaign>:<number>", the contact id a remote dialer
// gets for a target.
func targetRef(id string, n int) string { return id + ":" + strconv.Itoa(n) }
