package match

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	e.log.Debug("match: call bound late", "decision", d)
	return nil
}
