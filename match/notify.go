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

// notify tells the employees of r.Notify about the call, each once: for a
// missed inbound call the responsible, the lead's responsible, admins and
// the employees chosen for unknown numbers; for every call the extra
// employees. With a Delay the notifications wait in p.later for
// notifyLater.
func (e *Engine) notify(ctx context.Context, rec CallRecord, c Case, r Rule, p *progress, dry bool) error {
	type target struct{ id, reason string }
	var to []target
	add := func(id, reason string) {
		if id != "" && !slices.ContainsFunc(to, func(t target) bool { return t.id == id }) {
			to = append(to, target{id, reason})
		}
	}
	kind := NotifyCall
	if c == InboundMissed {
		kind = NotifyMissed
		if !r.Notify.MuteResponsible {
			add(p.resp, "responsible for the missed call")
		}
		if r.Notify.LeadResponsible {
			add(p.leadResp, "responsible for the lead")
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
	}
	for _, id := range r.Notify.Extra {
		add(id, "chosen for every call")
	}
	delay := time.Duration(r.Notify.Delay)
	for _, t := range to {
		if slices.Contains(p.notified, t.id) {
			continue
		}
		n := Notification{Kind: kind, Account: rec.Account, Employee: t.id, Provider: rec.Provider,
			CallID: rec.CallID, ClientID: rec.ClientID, ClientPhone: rec.ClientPhone, LeadID: rec.LeadID,
			Reason: t.reason, At: e.clock.Now().UTC()}
		switch {
		case delay > 0:
			n.Reason += ", after " + delay.String()
			if !dry {
				p.later, p.laterIn = append(p.later, n), delay
			}
		case !dry:
			if err := e.notifier.Notify(ctx, n); err != nil {
				return fmt.Errorf("match: notify %s: %w", t.id, err)
			}
		}
		p.notified = append(p.notified, t.id)
		p.d.add(ActNotify, rec.ClientID, rec.LeadID, t.id, "%s", n.Reason)
	}
	return nil
}

// notifyLater sends the call's delayed notifications (progress.later)
// after d and then, once every one is stored, reports the decision
// (WithOnDecision): a durable inbox keeps the call's events until then,
// so a restart before they are sent decides the call again and they are
// not lost. A failed notification is tried again after retry, doubling up
// to maxNotifyRetry, until the engine closes. After Close nothing is
// sent and the decision is not reported.
func (e *Engine) notifyLater(st *callState, d, retry time.Duration) {
	dn := &delayedNote{}
	e.mu.Lock()
	if e.closed { // decided by Close: left for the next start
		e.mu.Unlock()
		return
	}
	e.delayed[dn] = struct{}{}
	e.mu.Unlock()
	dn.t = e.after(d, func(ctx context.Context) {
		e.mu.Lock()
		delete(e.delayed, dn)
		e.mu.Unlock()
		st.mu.Lock()
		defer st.mu.Unlock()
		ctx = inTrace(ctx, st)
		p := &st.prog
		for len(p.later) > 0 {
			n := p.later[0]
			n.At = e.clock.Now().UTC()
			if err := e.notifier.Notify(ctx, n); err != nil {
				e.log.ErrorContext(ctx, "match: delayed notification failed; will retry", append(logCall(st.key),
					"employee", n.Employee, "retry_in", retry.String(), "err", err)...)
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
