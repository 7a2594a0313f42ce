package match

import (
	"context"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// liveState is what the engine did for a call while it was live, so that
// each phase acts once however often and in whatever order its events
// come.
type liveState struct {
	dialed   bool            // PhaseDialing done
	answered bool            // PhaseAnswered done
	looked   bool            // the client was looked up (found or not)
	rang     map[string]bool // extensions (or logins) whose ringing was handled
	leads    []Lead          // the client's active leads, read once for the cards
	leadsOK  bool
	held     map[string]bool // legs on hold by extension or login, "" for all (Engine.Hold)
}

// live runs the phases of a call that is not over yet (seed 002): cards
// for the employees it rings, the caller's card on dialing, and on answer
// the client (and its lead) the rule creates for an unknown number, with
// the answerer's card. What it creates is recorded in st.prog, so the
// decision at the end finds it done. A failure is logged and left to that
// decision, which creates what is missing. A call heard of only once it
// was over (a history record, the reconciler) and events given back more
// than liveLag after they arrived (Resume after a restart) show no cards
// and create nothing: the moment has passed, and the call is decided
// soon. st.mu is held.
func (e *Engine) live(ctx context.Context, st *callState, a assembled) {
	rec := a.rec
	over := a.completed || (a.ended && !a.openLegs)
	if a.internal || rec.ClientPhone == "" || st.shift > liveLag || over {
		return
	}
	rule, _ := e.rules.rule(rec.Account, rec.LinePhone)
	inbound := rec.Direction == callevent.Inbound
	outbound := rec.Direction == callevent.Outbound
	var err error
	switch {
	case outbound && !st.live.dialed:
		st.live.dialed = true
		err = e.dialing(ctx, st, a, rule)
	case inbound && !a.answered && e.popups != nil:
		err = e.ringing(ctx, st, a)
	}
	if err == nil && a.answered && !st.live.answered && (inbound || outbound) {
		st.live.answered = true
		err = e.answering(ctx, st, a, rule)
	}
	if err != nil {
		e.log.WarnContext(ctx, "match: acting on a live call failed; the decision at its end does what is missing",
			append(logCall(st.key), "err", err)...)
	}
}

// liveLag is how long after it arrived an event may reach the engine and
// still act on its call as live. A durable inbox (sqlstore.Inbox) hands
// every event over with Resume, a few milliseconds after it arrived when
// it runs; events resumed after a restart are older.
const liveLag = 5 * time.Second

// ringing shows the card to every employee the inbound call rings.
func (e *Engine) ringing(ctx context.Context, st *callState, a assembled) error {
	for _, ev := range a.events {
		key := ev.Extension
		if key == "" {
			key = ev.Employee
		}
		if ev.Kind != callevent.Ringing || key == "" || st.live.rang[key] {
			continue
		}
		if st.live.rang == nil {
			st.live.rang = make(map[string]bool)
		}
		st.live.rang[key] = true
		emp, ok, err := e.employee(ctx, &st.prog, a.rec.Account, key)
		if err != nil || !ok {
			return err
		}
		if err := e.resolveLive(ctx, st, a); err != nil {
			return err
		}
		if err := e.popUp(ctx, st, a, PhaseRinging, emp, false); err != nil {
			return err
		}
	}
	return nil
}

// dialing acts when an employee places an outbound call: the client of an
// unknown number is created when the rule says so (seed 002, scenarios 7
// and 10), and the caller's card shows it.
func (e *Engine) dialing(ctx context.Context, st *callState, a assembled, rule Rule) error {
	caller, ok, err := e.handlerLive(ctx, st, a, rule)
	if err != nil || (!ok && rule.MappedOnly) {
		return err
	}
	created := false
	if !st.prog.res.Found() && rule.Create.Outbound {
		if created, err = e.createLive(ctx, st, a, OutboundMissed, rule, caller, "on dialing"); err != nil {
			return err
		}
	}
	if !ok {
		return nil
	}
	return e.popUp(ctx, st, a, PhaseDialing, caller, created)
}

// answering acts when the call is answered. A client the call created
// gets its lead now, with the answerer (inbound) or the caller (outbound)
// responsible; for an inbound call from an unknown number the client is
// created first when the rule says so (seed 002, scenario 2). The
// answerer's card shows the created client; for an unknown number that
// is not created it offers to create one (scenarios 3 and 8).
func (e *Engine) answering(ctx context.Context, st *callState, a assembled, rule Rule) error {
	p, c := &st.prog, callCase(a)
	emp, ok, err := e.handlerLive(ctx, st, a, rule)
	if err != nil || (!ok && rule.MappedOnly) {
		return err
	}
	created := p.res.Match == matchCreated
	if !p.res.Found() && c == InboundAnswered && rule.Create.InboundAnswered {
		if created, err = e.createLive(ctx, st, a, c, rule, emp, "on answer"); err != nil {
			return err
		}
		if created {
			p.liveResp = emp
		}
	}
	if created && e.leads != nil && !p.leadDone && rule.Leads.get(c).Create {
		id, resp, err := e.lead(ctx, a, c, rule, emp, p, false)
		if err != nil {
			return err
		}
		p.leadDone, p.leadID, p.leadResp = true, id, resp
		st.live.leadsOK = false // the card shows the new lead
	}
	// A known client's card was shown on ringing or dialing.
	if ok && (!p.res.Found() || (created && c == InboundAnswered)) {
		return e.popUp(ctx, st, a, PhaseAnswered, emp, created)
	}
	return nil
}

// handlerLive is the employee who handles the call (who places it, who
// answered it) and whether the directory maps them; unless the rule
// handles mapped extensions only and they are not, the call's client is
// looked up too (once per call).
func (e *Engine) handlerLive(ctx context.Context, st *callState, a assembled, rule Rule) (id string, ok bool, err error) {
	if id, ok, err = e.employee(ctx, &st.prog, a.rec.Account, a.handler); err != nil || (!ok && rule.MappedOnly) {
		return id, ok, err
	}
	return id, ok, e.resolveLive(ctx, st, a)
}

// employee is the id of the employee with extension or login key; ok is
// false when key is empty or nobody's, or the engine has no Directory.
func (e *Engine) employee(ctx context.Context, p *progress, account, key string) (id string, ok bool, err error) {
	if key == "" || e.dir == nil {
		return "", false, nil
	}
	emp, ok, err := e.findEmployee(ctx, p, account, key)
	if err != nil {
		return "", false, fmt.Errorf("match: find employee: %w", err)
	}
	return emp.ID, ok, nil
}

// findEmployee is the Directory's FindEmployee, once per call for each
// key found (p.emps): the phases of a live call and its decision ask for
// the same extensions. A key nobody has is asked again, so that an
// employee added during the call counts at its end.
func (e *Engine) findEmployee(ctx context.Context, p *progress, account, key string) (Employee, bool, error) {
	if emp, ok := p.emps[key]; ok {
		return emp, true, nil
	}
	emp, ok, err := e.dir.FindEmployee(ctx, account, key)
	if err != nil || !ok {
		return emp, ok, err
	}
	if p.emps == nil {
		p.emps = make(map[string]Employee)
	}
	p.emps[key] = emp
	return emp, true, nil
}

// resolveLive looks the call's client up once while the call is live. A
// number found unknown is looked up again at the end: a client may be
// created for it during the call (from the card, by hand).
func (e *Engine) resolveLive(ctx context.Context, st *callState, a assembled) error {
	p := &st.prog
	if p.resolved || st.live.looked {
		return nil
	}
	if err := e.resolve(ctx, a, p); err != nil {
		return err
	}
	st.live.looked = true
	p.resolved = p.res.Found()
	return nil
}

// createLive creates the client of an unknown number during the call,
// one call of a phone at a time as the decisions do; created is false
// when another call created it meanwhile.
func (e *Engine) createLive(ctx context.Context, st *callState, a assembled, c Case, rule Rule, resp, when string) (created bool, err error) {
	m := e.stripe[maphash.String(e.seed, a.rec.ClientPhone)%uint64(len(e.stripe))]
	select {
	case m <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-m }()
	if err := e.createClient(ctx, a, c, rule, resp, when, &st.prog, false); err != nil {
		return false, err
	}
	created = st.prog.res.Match == matchCreated
	// A client this call has just created has no leads yet: its card needs
	// no lookup. One created meanwhile by another call may have some.
	st.live.leads, st.live.leadsOK = st.live.leads[:0], created
	return created, nil
}

// popUp shows employee the call's card in phase.
func (e *Engine) popUp(ctx context.Context, st *callState, a assembled, phase Phase, employee string, created bool) error {
	if e.popups == nil {
		return nil
	}
	p := &st.prog
	rec := a.rec
	card := PopUp{Phase: phase, Account: rec.Account, Provider: rec.Provider, CallID: rec.CallID,
		Direction: rec.Direction, Employee: employee, ClientPhone: rec.ClientPhone, LinePhone: rec.LinePhone,
		Created: created, At: e.clock.Now()}
	if p.res.Found() {
		card.Client = p.res.Client
		if !st.live.leadsOK && e.leads != nil {
			all, err := e.leads.ClientLeads(ctx, rec.Account, card.Client.ID)
			if err != nil {
				return fmt.Errorf("match: client leads: %w", err)
			}
			st.live.leads = st.live.leads[:0]
			for _, l := range all {
				if l.Active() {
					st.live.leads = append(st.live.leads, l)
				}
			}
		}
		st.live.leadsOK = true
		card.Leads = st.live.leads
	} else {
		card.Offer = phase == PhaseAnswered
	}
	ctx, cancel := context.WithTimeout(ctx, popUpTimeout)
	defer cancel()
	if err := e.popups.PopUp(ctx, card); err != nil {
		return fmt.Errorf("match: pop-up for %s: %w", employee, err)
	}
	return nil
}

// popUpTimeout bounds a card's delivery, so that a slow CRM cannot hold
// the call's events back for long.
const popUpTimeout = 5 * time.Second
