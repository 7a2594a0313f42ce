package match

import (
	"context"
	"fmt"
	"slices"
	"time"
)

type delayedNote struct{ t Timer }

// Bounds of the wait before a failed delayed notification is tried again.
const (
	minNotifyRetry = time.Second
	maxNotifyRetry = time.Minute
)

// notifyMissed tells the responsible, admins, chosen employees and (after
// a delay) extra employees about a missed inbound call, each once.
func (e *Engine) notifyMissed(ctx context.Context, rec CallRecord, r Rule, p *progress, dry bool) error {
	type target struct{ id, reason string }
	var now []target
	add := func(id, reason string) {
		if id != "" && !slices.ContainsFunc(now, func(t target) bool { return t.id == id }) {
			now = append(now, target{id, reason})
		}
	}
	if !r.Notify.MuteResponsible {
		add(p.resp, "responsible for the missed call")
	}
	if r.Notify.Admins && e.dir != nil {
		emps, err := e.dir.Employees(ctx, rec.Account)
		if err != nil {
			return fmt.Errorf("match: employees: %w", err)
		}
		for _, x := range emps {
			if x.Admin {
				add(x.ID, "admin")
			}
		}
	}
	if !p.known {
		for _, id := range r.Notify.Unknown {
			add(id, "chosen for missed calls from unknown numbers")
		}
	}
	delay := time.Duration(r.Notify.ExtraDelay)
	var later []string
	for _, id := range r.Notify.Extra {
		if delay == 0 {
			add(id, "extra employee")
		} else if !slices.ContainsFunc(now, func(t target) bool { return t.id == id }) && !slices.Contains(later, id) {
			later = append(later, id)
		}
	}
	note := func(id, reason string) Notification {
		return Notification{Kind: NotifyMissed, Account: rec.Account, Employee: id, Provider: rec.Provider,
			CallID: rec.CallID, ClientID: rec.ClientID, ClientPhone: rec.ClientPhone, LeadID: rec.LeadID,
			Reason: reason, At: e.clock.Now().UTC()}
	}
	for _, t := range now {
		if slices.Contains(p.notified, t.id) {
			continue
		}
		if !dry {
			if err := e.notifier.Notify(ctx, note(t.id, t.reason)); err != nil {
				return fmt.Errorf("match: notify %s: %w", t.id, err)
			}
		}
		p.notified = append(p.notified, t.id)
		p.d.add(ActNotify, rec.ClientID, rec.LeadID, t.id, "%s", t.reason)
	}
	if len(later) > 0 && !p.scheduled {
		p.scheduled = true
		for _, id := range later {
			p.d.add(ActNotify, rec.ClientID, rec.LeadID, id, "extra employee, after %v", delay)
		}
		if !dry {
			p.later, p.laterIn, p.laterNote = later, delay, note("", "extra employee, after "+delay.String())
		}
	}
	return nil
}

// notifyLater sends the call's delayed notifications (progress.later)
// after d and then, once every one is stored, reports the decision
// (WithOnDecision): a durable inbox keeps the call's events until then,
// so a restart before they are sent decides the call again and they are
// not lost. A failed notification is tried again after retry, doubling up
// to maxNotifyRetry, until the engine closes.
func (e *Engine) notifyLater(st *callState, d, retry time.Duration) {
	dn := &delayedNote{}
	e.mu.Lock()
	e.delayed[dn] = struct{}{}
	e.mu.Unlock()
	dn.t = e.after(d, func(ctx context.Context) {
		e.mu.Lock()
		delete(e.delayed, dn)
		e.mu.Unlock()
		st.mu.Lock()
		defer st.mu.Unlock()
		p := &st.prog
		for len(p.later) > 0 {
			n := p.laterNote
			n.Employee, n.At = p.later[0], e.clock.Now().UTC()
			if err := e.notifier.Notify(ctx, n); err != nil {
				e.log.Error("match: delayed notification failed; will retry", "call_id", st.key.callID,
					"employee", n.Employee, "retry_in", retry.String(), "err", err)
				e.notifyLater(st, retry, min(2*retry, maxNotifyRetry))
				return
			}
			p.later = p.later[1:]
		}
		if e.onDecision != nil {
			e.onDecision(ctx, p.d)
		}
	})
}
