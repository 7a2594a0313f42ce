package live

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/callbridge/callbridge/match"
)

var (
	_ match.PopUpper = (*Hub)(nil)
	_ match.Notifier = (*Hub)(nil)
)

// CallChanged shows the engine's view of a call in progress to the
// employees of its legs (found with WithDirectory) and to those who got
// its card: pass it to match.WithOnLiveCall. A view that shows nothing
// new is not sent again. The views of one call must come one at a time,
// as the engine gives them.
func (h *Hub) CallChanged(ctx context.Context, c match.LiveCall) {
	k := callKey{c.Provider, c.Account, c.CallID}
	call := Call{Provider: c.Provider, Account: c.Account, CallID: c.CallID, Direction: c.Direction,
		ClientPhone: c.ClientPhone, LinePhone: c.LinePhone, State: stateOf(c), StartedAt: c.StartedAt,
		AnsweredAt: c.AnsweredAt, ClientID: c.ClientID, Legs: make([]Leg, len(c.Legs))}
	// The employees of the legs: known from earlier views, else looked up
	// (outside the lock: the directory may be a database).
	keys, known := make([]string, len(c.Legs)), make([]bool, len(c.Legs))
	for i, l := range c.Legs {
		call.Legs[i].Leg = l
		keys[i] = l.Extension + "\x00" + l.Login
	}
	h.mu.Lock()
	if v := h.views[k]; v != nil {
		for i, key := range keys {
			call.Legs[i].Employee, known[i] = v.emps[key]
		}
	}
	h.mu.Unlock()
	var found map[string]string // looked up now: leg key → employee
	for i, l := range c.Legs {
		if known[i] {
			continue
		}
		if id, ok := found[keys[i]]; ok {
			call.Legs[i].Employee = id
			continue
		}
		id, err := h.employeeOf(ctx, c.Account, l)
		if err != nil {
			h.log.WarnContext(ctx, "live: finding the employee of a leg failed; the update goes to every employee's streams only",
				"call_id", c.CallID, "extension", l.Extension, "login", l.Login, "err", err)
			continue
		}
		if found == nil {
			found = make(map[string]string)
		}
		found[keys[i]] = id
		call.Legs[i].Employee = id
	}
	data, err := marshal(Update{Type: TypeCall, Call: &call})
	if err != nil {
		h.log.ErrorContext(ctx, "live: encoding a call failed", "call_id", c.CallID, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	v := h.viewLocked(k)
	for key, id := range found {
		v.emps[key] = id
	}
	for _, l := range call.Legs {
		v.to = addTo(v.to, l.Employee)
	}
	if bytes.Equal(v.data, data) {
		return
	}
	v.call, v.data = call, data
	h.publishLocked(TypeCall, data, v.to)
}

// employeeOf is the id of the employee of a leg's extension, else of its
// login; "" when the directory has neither (or the hub has none).
func (h *Hub) employeeOf(ctx context.Context, account string, l match.Leg) (string, error) {
	if h.dir == nil {
		return "", nil
	}
	for _, key := range [...]string{l.Extension, l.Login} {
		if key == "" {
			continue
		}
		e, ok, err := h.dir.FindEmployee(ctx, account, key)
		if err != nil {
			return "", fmt.Errorf("find employee %q: %w", key, err)
		}
		if ok {
			return e.ID, nil
		}
	}
	return "", nil
}

// PopUp implements match.PopUpper: the card goes to the employee it is
// for, completed by WithCards; that employee then gets the call's
// updates too. It never fails.
func (h *Hub) PopUp(ctx context.Context, p match.PopUp) error {
	card := cardOf(p)
	if h.cards != nil {
		if err := h.cards(ctx, &card); err != nil {
			h.log.WarnContext(ctx, "live: completing a card failed; shown as the engine made it",
				"call_id", p.CallID, "employee", p.Employee, "err", err)
		}
	}
	data, err := marshal(Update{Type: TypeCard, Card: &card})
	if err != nil {
		h.log.ErrorContext(ctx, "live: encoding a card failed", "call_id", p.CallID, "err", err)
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	v := h.viewLocked(callKey{p.Provider, p.Account, p.CallID})
	v.to = addTo(v.to, p.Employee)
	h.publishLocked(TypeCard, data, []string{p.Employee})
	return nil
}

// Decided shows the end of a call: its last update (Call.Decided, with
// the outcome) goes to everyone who saw it and to the call's employee,
// and the hub forgets it. Pass it to match.WithOnDecision (or call it
// from yours). A call the hub never showed is not shown now.
func (h *Hub) Decided(ctx context.Context, d match.Decision) {
	r := d.Call
	k := callKey{r.Provider, r.Account, r.CallID}
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.views[k]
	if v == nil || h.closed {
		return
	}
	delete(h.views, k)
	call := v.call
	if call.Provider == "" { // only cards were shown
		call = Call{Provider: r.Provider, Account: r.Account, CallID: r.CallID, Direction: r.Direction,
			ClientPhone: r.ClientPhone, LinePhone: r.LinePhone, StartedAt: r.StartedAt, AnsweredAt: r.AnsweredAt, Legs: []Leg{}}
	}
	call.Legs = append([]Leg(nil), call.Legs...)
	for i := range call.Legs {
		if s := call.Legs[i].State; s != match.LegTransferred {
			call.Legs[i].State = match.LegEnded
		}
	}
	call.State, call.Decided, call.Status, call.LeadID, call.Employee = match.LegEnded, true, r.Status, r.LeadID, r.Employee
	call.ClientID = cmp.Or(r.ClientID, call.ClientID)
	data, err := marshal(Update{Type: TypeCall, Call: &call})
	if err != nil {
		h.log.ErrorContext(ctx, "live: encoding a call failed", "call_id", r.CallID, "err", err)
		return
	}
	h.publishLocked(TypeCall, data, addTo(v.to, r.Employee))
}

// Notify implements match.Notifier: the notification goes to the
// employee told. It never fails. To keep notifications elsewhere too,
// use Notifier.
func (h *Hub) Notify(ctx context.Context, n match.Notification) error {
	data, err := marshal(Update{Type: TypeNotification, Notification: &n})
	if err != nil {
		h.log.ErrorContext(ctx, "live: encoding a notification failed", "call_id", n.CallID, "err", err)
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(TypeNotification, data, []string{n.Employee})
	return nil
}

// Notifier returns a match.Notifier that hands each notification to
// next and, once next took it, shows it on the employee's screen: pass
// it to match.WithNotifier. A nil next only shows.
func (h *Hub) Notifier(next match.Notifier) match.Notifier { return notifier{h, next} }

type notifier struct {
	h    *Hub
	next match.Notifier
}

func (n notifier) Notify(ctx context.Context, note match.Notification) error {
	if n.next != nil {
		if err := n.next.Notify(ctx, note); err != nil {
			return err
		}
	}
	return n.h.Notify(ctx, note)
}

// StatusChanged shows an employee's new status on their screens.
func (h *Hub) StatusChanged(s Status) {
	if s.At.IsZero() {
		s.At = time.Now().UTC()
	}
	data, err := marshal(Update{Type: TypeStatus, Status: &s})
	if err != nil {
		h.log.Error("live: encoding a status failed", "employee", s.Employee, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(TypeStatus, data, []string{s.Employee})
}

// CampaignChanged shows the new state of a dialing list on the screens
// of the employee who works it (c.Employee); a campaign without an
// employee is shown to nobody.
func (h *Hub) CampaignChanged(c Campaign) {
	if c.Employee == "" {
		return
	}
	if c.At.IsZero() {
		c.At = time.Now().UTC()
	}
	data, err := marshal(Update{Type: TypeCampaign, Campaign: &c})
	if err != nil {
		h.log.Error("live: encoding a campaign failed", "campaign", c.ID, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(TypeCampaign, data, []string{c.Employee})
}

// marshal is the JSON of an update.
func marshal(u Update) ([]byte, error) {
	b, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("live: encode %s update: %w", u.Type, err)
	}
	return b, nil
}
