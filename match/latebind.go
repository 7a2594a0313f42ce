package match

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

type bindKey struct{ account, phone string }

// ClientCreated tells the engine that a client with phone now exists in
// account, created outside the engine (by hand, by an import): calls from
// that phone that are still waiting inside the late-binding window are
// attached to it at once. Without it they are attached when the window
// closes, when the engine looks into the store once more.
func (e *Engine) ClientCreated(ctx context.Context, account, phone string) error {
	p, err := normalize(phone, e.country)
	if err != nil {
		return fmt.Errorf("match: ClientCreated: %w", err)
	}
	return e.bindLate(ctx, account, p, nil)
}

// Await resumes the late-binding wait of a call decided before a restart
// that is not bound to a client yet: rec as the call log kept it (a
// ClientPhone, no ClientID). Its window runs from the call's end
// (rec.EndedAt, else StartedAt), so the call is attached to a client with
// its phone that appears before then, by ClientCreated or when the window
// closes, as if the engine had not restarted; later events of the call
// amend it rather than decide it again. A call that is bound, anonymous,
// past its window or already known to the engine is left alone. A durable
// deployment calls Await at start for the unbound calls of the last
// window (the reference gateway does).
func (e *Engine) Await(ctx context.Context, rec CallRecord) error {
	if rec.ClientID != "" || rec.ClientPhone == "" {
		return nil
	}
	end := rec.EndedAt
	if end.IsZero() {
		end = rec.StartedAt
	}
	left := end.Add(e.window).Sub(e.clock.Now())
	if left <= 0 {
		return nil
	}
	st, err := e.state(callKey{rec.Provider, rec.Account, rec.CallID})
	if errors.Is(err, errDecided) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("match: Await: %w", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || st.finalized || len(st.events) > 0 || st.timer != nil {
		return nil // the engine has this call already
	}
	answered := !rec.AnsweredAt.IsZero() || rec.Status == callevent.Success
	c := InboundMissed
	switch {
	case rec.Direction == callevent.Outbound && answered:
		c = OutboundAnswered
	case rec.Direction == callevent.Outbound:
		c = OutboundMissed
	case answered:
		c = InboundAnswered
	}
	_, line := e.rules.rule(rec.Account, rec.LinePhone)
	st.finalized, st.rec = true, rec
	st.prog = progress{d: Decision{Call: rec, Case: c, Line: line}, resolved: true, respDone: true, resp: rec.Employee,
		leadDone: true, leadID: rec.LeadID, logged: true, wait: true}
	st.deadline = e.clock.Now().Add(left)
	st.waiting = true
	k := bindKey{rec.Account, rec.ClientPhone}
	e.mu.Lock()
	if st.decidedEl == nil {
		st.decidedEl, st.decidedAt = e.decided.PushBack(st), e.clock.Now()
	}
	e.pending[k] = append(e.pending[k], st)
	e.mu.Unlock()
	e.after(left+time.Second, func(ctx context.Context) {
		if err := e.bindOne(ctx, st, true); err != nil {
			e.log.ErrorContext(ctx, "match: late binding at the end of the window failed", append(logCall(st.key), "err", err)...)
		}
	})
	e.arm(st, timerForget, max(e.retain-e.window, time.Minute)+left)
	return nil
}

// bindLate attaches the calls waiting for phone; skip is a call whose lock
// the caller holds.
func (e *Engine) bindLate(ctx context.Context, account, phone string, skip *callState) error {
	e.mu.Lock()
	waiting := slices.Clone(e.pending[bindKey{account, phone}])
	e.mu.Unlock()
	var errs []error
	for _, st := range waiting {
		if st == skip {
			continue
		}
		if err := e.bindOne(ctx, st, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// bindOne attaches a waiting call to the client now found for its phone.
// final is the check when the window closes: it looks whatever the clock
// says (a timer fires a little late) and ends the wait either way.
func (e *Engine) bindOne(ctx context.Context, st *callState, final bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || !st.waiting {
		return nil
	}
	unwait := func() {
		e.mu.Lock()
		e.unwaitLocked(st)
		e.mu.Unlock()
	}
	if !final && e.clock.Now().After(st.deadline) {
		unwait()
		return nil
	}
	res, err := e.resolver.find(ctx, st.key.account, st.rec.ClientPhone)
	if err != nil || !res.Found() {
		if final {
			unwait()
		}
		return err
	}
	rec := st.rec
	rec.ClientID = res.Client.ID
	d := Decision{Call: rec, Case: st.prog.d.Case, Line: st.prog.d.Line}
	d.add(ActBindLate, rec.ClientID, "", "", "a client with this phone appeared within %v of the call", e.window)
	// As in decide, the call joins an active lead only where this case
	// creates leads.
	if rule, _ := e.rules.rule(st.key.account, rec.LinePhone); e.leads != nil && rule.Leads.get(d.Case).Create {
		leads, err := e.leads.ClientLeads(ctx, st.key.account, rec.ClientID)
		if err != nil {
			return fmt.Errorf("match: client leads: %w", err)
		}
		for _, l := range leads {
			if l.Active() {
				rec.LeadID = l.ID
				d.add(ActAttachLead, rec.ClientID, l.ID, "", "the client has an active lead (status %q)", l.Status)
				break
			}
		}
	}
	if e.calls != nil {
		if err := e.calls.LogCall(ctx, rec); err != nil {
			return fmt.Errorf("match: log call: %w", err)
		}
		d.add(ActLogCall, rec.ClientID, rec.LeadID, rec.Employee, "%s %s call", rec.Direction, rec.Status)
	}
	d.Call = rec
	st.rec = rec
	st.prog.d.Call = rec
	unwait()
	e.log.DebugContext(ctx, "match: call bound late", "decision", d)
	return nil
}
