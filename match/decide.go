package match

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
)

// progress remembers how far a finalization got, so a retry after a store
// error continues instead of deciding again from a changed store.
type progress struct {
	d        Decision
	resolved bool
	res      resolution
	known    bool // the client existed before the call
	respDone bool
	resp     string
	handler  string
	leadDone bool
	leadID   string
	logged   bool
	leadResp string // the responsible of the call's lead
	dialog   bool   // written into the client's dialog
	taskDone bool   // call-back task created or closed (Rule.Task)
	// liveResp is the responsible given to the client (and lead) created
	// when the call was answered; reassigned: handed to who talked last.
	liveResp   string
	reassigned bool
	notified   []string
	// emps are the employees found by extension or login during the call:
	// the phases and the decision look each up once.
	emps    map[string]Employee
	later   []Notification // delayed notifications not stored yet (notifyLater)
	laterIn time.Duration  // their delay after the decision
	wait    bool
}

// finalize applies the rules to a finished call; st.mu is held.
func (e *Engine) finalize(ctx context.Context, st *callState, a assembled) error {
	var unlock func()
	if !a.internal && a.rec.ClientPhone != "" {
		// By phone alone, not account and phone: a store may keep several
		// telephony accounts as one CRM (one client for calls through any
		// provider), and the calls of one number must then still be
		// decided one at a time.
		m := e.stripe[maphash.String(e.seed, a.rec.ClientPhone)%uint64(len(e.stripe))]
		select {
		case m <- struct{}{}:
		case <-ctx.Done():
			st.retry = true
			return fmt.Errorf("match: waiting for another call of %s: %w", a.rec.ClientPhone, ctx.Err())
		}
		unlock = func() { <-m }
	}
	dctx, span := e.startDecision(ctx, st)
	err := e.decide(dctx, a, &st.prog, false)
	if unlock != nil {
		unlock()
	}
	e.endDecision(dctx, span, st.prog.d, err)
	if err != nil {
		st.retry = true
		e.log.DebugContext(dctx, "match: call decision incomplete", "decision", st.prog.d, "err", err)
		return err
	}
	st.finalized, st.retry = true, false
	st.rec = st.prog.d.Call
	e.mu.Lock()
	if !st.gone && st.decidedEl == nil {
		st.decidedEl, st.decidedAt = e.decided.PushBack(st), e.clock.Now()
	}
	e.mu.Unlock()
	e.log.DebugContext(dctx, "match: call decided", "decision", st.prog.d)
	switch {
	case len(st.prog.later) > 0:
		e.notifyLater(st, max(0, st.prog.laterIn-st.late), minNotifyRetry)
	case e.onDecision != nil:
		e.onDecision(ctx, st.prog.d)
	}
	forgetIn := e.retain
	if st.prog.wait {
		st.deadline = e.clock.Now().Add(e.window - st.late)
		st.waiting = true
		k := bindKey{st.key.account, st.rec.ClientPhone}
		e.mu.Lock()
		e.pending[k] = append(e.pending[k], st)
		e.mu.Unlock()
		// A client may be created where the engine does not hear of it
		// (by hand in the CRM, from its pop-up): look once more when the
		// window closes (a second after, so a client made at its last
		// moment counts), so the call is bound without ClientCreated.
		sc := st.trace
		e.after(max(0, e.window+time.Second-st.late), func(ctx context.Context) {
			ctx = trace.ContextWithSpanContext(ctx, sc)
			if err := e.bindOne(ctx, st, true); err != nil {
				e.log.ErrorContext(ctx, "match: late binding at the end of the window failed", append(logCall(st.key), "err", err)...)
			}
		})
	}
	e.arm(st, timerForget, forgetIn)
	if st.prog.res.Match == matchCreated {
		// Calls that waited for this phone can now be attached.
		if err := e.bindLate(ctx, st.key.account, st.rec.ClientPhone, st); err != nil {
			e.log.ErrorContext(ctx, "match: late binding failed", append(logCall(st.key), "err", err)...)
		}
	}
	return nil
}

// decide applies the rules to an assembled call, recording the actions in
// p.d. With dry set it writes nothing. p carries the progress of an
// earlier attempt that failed half-way.
func (e *Engine) decide(ctx context.Context, a assembled, p *progress, dry bool) error {
	rec := a.rec
	d := &p.d
	d.Call = rec
	account, phone := rec.Account, rec.ClientPhone
	if a.internal {
		d.add(ActIgnore, "", "", "", "internal call: local calls between extensions are not passed to the CRM")
		return nil
	}
	c := callCase(a)
	d.Case = c
	rule, line := e.rules.rule(account, rec.LinePhone)
	d.Line = line

	// Who handled the call.
	if !p.respDone && p.handler == "" && a.handler != "" && e.dir != nil {
		emp, ok, err := e.findEmployee(ctx, p, account, a.handler)
		if err != nil {
			return fmt.Errorf("match: find employee: %w", err)
		}
		if ok {
			p.handler = emp.ID
		} else {
			d.add(ActResponsible, "", "", "", "%s %q is not mapped to an employee", a.handlerBy, a.handler)
		}
	}

	// Only the calls of mapped extensions, when the rule says so.
	if rule.MappedOnly && e.dir != nil && p.handler == "" {
		ext, mapped := cmp.Or(a.handler, a.rang), false
		if a.handler == "" && ext != "" {
			_, ok, err := e.findEmployee(ctx, p, account, ext)
			if err != nil {
				return fmt.Errorf("match: find employee: %w", err)
			}
			mapped = ok
		}
		if !mapped {
			if !dry {
				e.unmapped.Add(1)
			}
			d.add(ActIgnore, "", "", "", "extension %q is not mapped to an employee and the rule handles mapped extensions only", ext)
			return nil
		}
	}

	if err := e.resolve(ctx, a, p); err != nil {
		return err
	}
	if phone == "" && !p.resolved {
		d.add(ActIgnore, "", "", "", "anonymous caller: no client to match")
		p.respDone, p.resp = true, p.handler
	}

	// The responsible employee.
	if !p.respDone {
		var why string
		switch {
		case c == InboundAnswered || c == OutboundAnswered:
			p.resp, why = p.handler, "the employee who answered"
			if c == OutboundAnswered {
				why = "the employee who called"
			}
		case c == OutboundMissed:
			p.resp, why = p.handler, "the employee who called"
		case p.known:
			p.resp, why = p.res.Client.Responsible, "missed call of a known client: the client's responsible"
		default:
			resp, reason, err := e.missedResponsible(ctx, account, line, rule, dry)
			if err != nil {
				return err
			}
			p.resp, why = resp, "missed call from an unknown number: "+reason
		}
		p.respDone = true
		d.add(ActResponsible, "", "", p.resp, "%s", why)
	}
	rec.Employee = p.resp

	// Create the client.
	if phone != "" && !p.res.Found() && !p.wait {
		if !rule.Create.enabled(c) {
			d.add(ActNoClient, "", "", "", "unknown number and creating clients on %s is off: the call waits %v for a client with this phone", c, e.window)
			p.wait = true
		} else if err := e.createClient(ctx, a, c, rule, p.resp, "", p, dry); err != nil {
			return err
		}
	}
	cl := p.res.Client
	rec.ClientID = cl.ID

	// Leads: of the client, or of the number when the store keeps leads
	// without a client (Perfectum) and the number has no client.
	if (p.res.Found() || (phone != "" && e.byPhone != nil)) && e.leads != nil && !p.leadDone {
		lead, resp, err := e.lead(ctx, a, c, rule, p.resp, p, dry)
		if err != nil {
			return err
		}
		p.leadDone, p.leadID, p.leadResp = true, lead, resp
	}
	rec.LeadID = p.leadID
	if err := e.handOver(ctx, p, dry); err != nil {
		return err
	}
	d.Call = rec

	// Log the call.
	if e.calls != nil && !p.logged {
		if !dry {
			if err := e.calls.LogCall(ctx, rec); err != nil {
				return fmt.Errorf("match: log call: %w", err)
			}
		}
		p.logged = true
		d.add(ActLogCall, rec.ClientID, rec.LeadID, rec.Employee, "%s %s call", rec.Direction, rec.Status)
	}

	// Write the call into the client's dialog.
	if rule.Dialog && rec.ClientID != "" && !p.dialog {
		if err := e.writeDialog(ctx, a, rec, p, dry); err != nil {
			return err
		}
		p.dialog = true
	}

	// Make a missed call a call-back task, or close the number's tasks.
	if e.tasks != nil && !p.taskDone {
		if err := e.task(ctx, rec, c, rule, p, dry); err != nil {
			return err
		}
		p.taskDone = true
	}

	// Tell people about the call.
	if e.notifier != nil {
		if err := e.notify(ctx, rec, c, rule, p, dry); err != nil {
			return err
		}
	}
	return nil
}

// handOver gives the client created when the call was answered, and its
// lead, to the employee who talked last when that is someone else (the
// call was transferred: seed 002, "responsible after transfers").
func (e *Engine) handOver(ctx context.Context, p *progress, dry bool) error {
	if p.liveResp == "" || p.resp == "" || p.resp == p.liveResp || p.reassigned {
		return nil
	}
	cl := p.res.Client
	if e.reassign == nil {
		p.reassigned = true
		p.d.add(ActResponsible, cl.ID, p.leadID, p.liveResp, "the call was transferred, but the store cannot hand the client created on answer to %s", p.resp)
		return nil
	}
	if !dry {
		if err := e.reassign.SetClientResponsible(ctx, cl.Account, cl.ID, p.resp); err != nil {
			return fmt.Errorf("match: hand client over: %w", err)
		}
		if p.leadID != "" && p.leadResp == p.liveResp {
			if err := e.reassign.SetLeadResponsible(ctx, cl.Account, p.leadID, p.resp); err != nil {
				return fmt.Errorf("match: hand lead over: %w", err)
			}
		}
	}
	if p.leadID != "" && p.leadResp == p.liveResp {
		p.leadResp = p.resp
	}
	p.res.Client.Responsible = p.resp
	p.reassigned = true
	p.d.add(ActResponsible, cl.ID, p.leadID, p.resp, "transferred after the answer: the client created on answer (and its lead) go to the employee who talked last")
	return nil
}

// resolve finds the call's client once: the client the provider named,
// if the store has it, else the client of the phone. p.resolved stays
// false for an anonymous call.
func (e *Engine) resolve(ctx context.Context, a assembled, p *progress) error {
	if p.resolved {
		return nil
	}
	d, account := &p.d, a.rec.Account
	if a.contactRef != "" && e.getter != nil {
		cl, ok, err := e.getter.FindClient(ctx, account, a.contactRef)
		if err != nil {
			return fmt.Errorf("match: find client %q: %w", a.contactRef, err)
		}
		if ok {
			p.res, p.known, p.resolved = resolution{Client: cl, Match: matchRef}, true, true
			d.add(ActFindClient, cl.ID, "", "", "the provider named the client (contact %q)", a.contactRef)
			return nil
		}
	}
	if a.rec.ClientPhone == "" {
		return nil
	}
	res, err := e.resolver.find(ctx, account, a.rec.ClientPhone)
	if err != nil {
		return err
	}
	p.res, p.known = res, res.Found()
	if p.known {
		reason := "the phone is the client's number"
		if res.Match == matchField {
			reason = "a field of the client holds the phone"
			if len(res.Others) > 0 {
				reason += fmt.Sprintf(" (also held by %s; the first in store order wins)", strings.Join(res.Others, ", "))
			}
		}
		d.add(ActFindClient, res.Client.ID, "", "", "%s", reason)
	}
	p.resolved = true
	return nil
}

// createClient creates the client of an unknown number in case c, with
// responsible resp, as the rule names it; when says when, if before the
// end of the call ("on answer").
func (e *Engine) createClient(ctx context.Context, a assembled, c Case, rule Rule, resp, when string, p *progress, dry bool) error {
	rec, account, phone := a.rec, a.rec.Account, a.rec.ClientPhone
	nc := newClient{
		Name:        expand(rule.Create.name(c), phone, rec.LinePhone),
		Responsible: resp,
		Messenger:   rule.Messenger,
	}
	if rec.Direction == callevent.Inbound && rec.LinePhone != "" {
		nc.Tags = []string{rec.LinePhone}
	}
	channel := cmpChannel(nc.Messenger)
	if dry {
		p.res = resolution{Client: Client{Account: account, Name: nc.Name, Phone: phone, Channel: channel,
			Responsible: nc.Responsible, Tags: nc.Tags, CreatedFromCall: true}, Match: matchCreated}
	} else {
		res, err := e.resolver.create(ctx, account, phone, &nc)
		if err != nil {
			return err
		}
		p.res = res
		if res.Match == matchCreated {
			e.created(ctx, e.tel.ClientsCreated, rec.Provider)
		}
	}
	p.resolved = true
	if p.res.Match == matchCreated {
		what := c.String()
		if rec.Direction == callevent.Outbound {
			what = "outbound calls"
		}
		if when != "" {
			when = ", " + when
		}
		p.d.add(ActCreateClient, p.res.Client.ID, "", p.res.Client.Responsible,
			"unknown number and creating clients on %s is on: %s client %q%s", what, channel, nc.Name, when)
	} else {
		p.d.add(ActFindClient, p.res.Client.ID, "", "", "created meanwhile by another call")
	}
	return nil
}

func cmpChannel(ch Channel) Channel {
	if ch == "" {
		return ChannelTelephony
	}
	return ch
}

// lead attaches the call to the client's active lead, reopens a lost one
// or creates one (its responsible resp), and returns the lead id ("" for
// none) and its responsible.
func (e *Engine) lead(ctx context.Context, a assembled, c Case, rule Rule, resp string, p *progress, dry bool) (id, responsible string, err error) {
	d := &p.d
	cl := p.res.Client
	lc := rule.Leads.get(c)
	outbound := a.rec.Direction == callevent.Outbound
	if !lc.Create && (!outbound || rule.ReopenStatus == "") {
		// As in Perfectum's rules, a call is attached to an active lead only
		// where leads are created; not asking saves a store round trip
		// (an amoCRM request) on every call.
		d.add(ActNoLead, cl.ID, "", "", "creating leads on %s is off", c)
		return "", "", nil
	}
	var leads []Lead
	account, phone := cl.Account, ""
	clientless := !p.res.Found() // a lead of the number (PhoneLeads)
	switch {
	case !clientless:
		if cl.ID != "" { // "" in a dry run that creates the client
			if leads, err = e.leads.ClientLeads(ctx, account, cl.ID); err != nil {
				return "", "", fmt.Errorf("match: client leads: %w", err)
			}
		}
	default:
		account, phone = a.rec.Account, a.rec.ClientPhone
		if leads, err = e.byPhone.PhoneLeads(ctx, account, phone); err != nil {
			return "", "", fmt.Errorf("match: leads of %s: %w", phone, err)
		}
	}
	for _, l := range leads {
		if l.Active() {
			d.add(ActAttachLead, cl.ID, l.ID, "", "the client has an active lead (status %q): the call goes there, no new lead", l.Status)
			return l.ID, l.Responsible, nil
		}
	}
	if outbound && rule.ReopenStatus != "" && len(leads) > 0 && (leads[0].State == LeadLost || leads[0].State == LeadUnqualified) {
		l := leads[0]
		if !dry {
			if l, err = e.leads.ReopenLead(ctx, account, l.ID, rule.ReopenStatus); err != nil {
				return "", "", fmt.Errorf("match: reopen lead: %w", err)
			}
		}
		d.add(ActReopenLead, cl.ID, l.ID, "", "outbound call to a client whose newest lead is %s and none is active: moved to %q", leads[0].State, rule.ReopenStatus)
		return l.ID, l.Responsible, nil
	}
	// A lead of a number without a client counts as one of a new client.
	created := p.res.Match == matchCreated || clientless
	switch {
	case !lc.Create:
		d.add(ActNoLead, cl.ID, "", "", "creating leads on %s is off", c)
		return "", "", nil
	case !created && !lc.EvenIfClientExists:
		d.add(ActNoLead, cl.ID, "", "", "the client existed before the call and \"even if the client exists\" is off for %s", c)
		return "", "", nil
	}
	name := lc.Name
	if name == "" {
		name = defaultLeadNameInbound
		if outbound {
			name = defaultLeadNameOutbound
		}
	}
	// Keyed by the call: a decision replayed after a crash finds this
	// lead instead of making a second one.
	l := Lead{Account: account, ClientID: cl.ID, Phone: phone, Name: expand(name, a.rec.ClientPhone, a.rec.LinePhone),
		Pipeline: lc.Pipeline, Status: lc.Status, Source: lc.Source, Responsible: resp, State: LeadOpen,
		Provider: a.rec.Provider, CallID: a.rec.CallID}
	if !dry {
		if l, err = e.leads.CreateLead(ctx, l); err != nil {
			return "", "", fmt.Errorf("match: create lead: %w", err)
		}
		e.created(ctx, e.tel.LeadsCreated, a.rec.Provider)
	}
	why := "a new client"
	if clientless {
		why = "a number without a client, whose leads the store keeps by number"
	}
	if !created {
		why = "\"even if the client exists\" is on"
	}
	d.add(ActCreateLead, cl.ID, l.ID, l.Responsible, "no active lead, creating leads on %s is on, %s: %q", c, why, l.Name)
	return l.ID, l.Responsible, nil
}

// missedResponsible picks the responsible for a missed call from an
// unknown number.
func (e *Engine) missedResponsible(ctx context.Context, account, line string, r Rule, dry bool) (id, why string, err error) {
	m := r.Missed
	if m.Manager != "" {
		return m.Manager, "the missed-calls manager", nil
	}
	if m.Distribution == DistributeNone {
		return "", "no missed-calls manager or distribution is set", nil
	}
	if e.dir == nil {
		return "", "distribution needs a Directory", nil
	}
	cands := m.Employees
	if len(cands) == 0 {
		emps, err := e.dir.Employees(ctx, account)
		if err != nil {
			return "", "", fmt.Errorf("match: employees: %w", err)
		}
		for _, x := range emps {
			cands = append(cands, x.ID)
		}
	}
	if len(cands) == 0 {
		return "", "no employees to distribute to", nil
	}
	pool, how := cands, "round robin"
	if m.Distribution == DistributeActive {
		online, err := e.dir.Online(ctx, account)
		if err != nil {
			return "", "", fmt.Errorf("match: online employees: %w", err)
		}
		var on []string
		for _, id := range cands {
			if slices.Contains(online, id) {
				on = append(on, id)
			}
		}
		if len(on) > 0 {
			pool, how = on, "active distribution over the online employees"
		} else {
			how = "active distribution, nobody online: round robin"
		}
	}
	key := account + "\x00" + line
	e.mu.Lock()
	n := e.rr[key]
	if !dry {
		e.rr[key] = n + 1
	}
	e.mu.Unlock()
	if len(m.Employees) > 0 {
		how += " over " + strings.Join(m.Employees, ", ")
	}
	return pool[n%uint64(len(pool))], how, nil
}

// dialogStatuses are the call statuses as Salebot's dialog names them
// (seed 001), by callevent.Status.
var dialogStatuses = map[callevent.Status]string{
	callevent.Success: "Success", callevent.Missed: "Missed", callevent.Canceled: "Cancel", callevent.Busy: "Busy",
	callevent.NotAvailable: "NotAvailable", callevent.NotAllowed: "NotAllowed", callevent.NotFound: "NotFound",
	callevent.Failed: "Failed",
}

// writeDialog writes the call into its client's dialog (a note per event
// and one with the status) and sets the client's call variables
// (Rule.Dialog), as far as the store can.
func (e *Engine) writeDialog(ctx context.Context, a assembled, rec CallRecord, p *progress, dry bool) error {
	prefix := rec.Provider + "_"
	notes := dialogNotes(a.events)
	for i, n := range notes {
		notes[i].Text = prefix + "call_event " + n.Text
	}
	end := rec.EndedAt
	if end.IsZero() {
		end = rec.StartedAt
	}
	notes = append(notes, DialogNote{Provider: rec.Provider, CallID: rec.CallID, Text: prefix + "call_status " + dialogStatuses[rec.Status], At: end})
	dir := "in"
	if rec.Direction == callevent.Outbound {
		dir = "out"
	}
	vars := map[string]string{prefix + "call_direction": dir, prefix + "call_ext": rec.Extension, prefix + "call_id": rec.CallID,
		prefix + "call_user": rec.Employee, prefix + "record_link": rec.RecordingURL}
	if !dry {
		if e.dialog != nil {
			if err := e.dialog.AddDialogNotes(ctx, rec.Account, rec.ClientID, notes); err != nil {
				return fmt.Errorf("match: dialog notes: %w", err)
			}
		}
		if e.updater != nil {
			if err := e.updater.SetClientFields(ctx, rec.Account, rec.ClientID, vars); err != nil {
				return fmt.Errorf("match: call variables: %w", err)
			}
		}
	}
	if e.dialog == nil && e.updater == nil {
		p.d.add(ActDialog, rec.ClientID, "", "", "the store keeps no dialog nor client variables")
	} else {
		p.d.add(ActDialog, rec.ClientID, "", "", "%d notes in the dialog, variables %scall_*", len(notes), prefix)
	}
	return nil
}
