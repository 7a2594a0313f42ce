package match

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// LegState is where a leg of a live call is.
type LegState uint8

// Leg states.
const (
	LegRinging LegState = iota + 1
	LegTalking
	LegEnded
	// LegOnHold: talking, and put on hold (Engine.Hold): no provider
	// reports a hold, so the program that holds the call tells the
	// engine.
	LegOnHold
	// LegTransferred: the call was transferred away from this leg (a
	// Transferred event of another leg came while it talked).
	LegTransferred
)

var legStateNames = [...]string{"", "ringing", "talking", "ended", "on_hold", "transferred"}

// String returns "ringing", "talking", "ended", "on_hold" or
// "transferred".
func (s LegState) String() string {
	if int(s) < len(legStateNames) && s > 0 {
		return legStateNames[s]
	}
	return "LegState(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (s LegState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *LegState) UnmarshalText(b []byte) error {
	for i, n := range legStateNames {
		if i > 0 && n == string(b) {
			*s = LegState(i)
			return nil
		}
	}
	return fmt.Errorf("match: unknown leg state %q", b)
}

// Leg is one leg of a live call: an employee's phone the call rang or
// reached.
type Leg struct {
	// ID is the provider's leg id, "" for a provider without legs.
	ID string `json:"id,omitempty"`
	// Extension and Login are the employee's phone as the events name it.
	Extension string   `json:"extension,omitempty"`
	Login     string   `json:"login,omitempty"`
	State     LegState `json:"state"`
}

// LiveCall is a call in progress as the engine holds it: not decided yet.
type LiveCall struct {
	Provider    string              `json:"provider"`
	Account     string              `json:"account"`
	CallID      string              `json:"call_id"`
	Direction   callevent.Direction `json:"direction"`
	ClientPhone string              `json:"client_phone"`
	LinePhone   string              `json:"line_phone,omitempty"`
	StartedAt   time.Time           `json:"started_at"`
	AnsweredAt  time.Time           `json:"answered_at,omitzero"`
	// Legs are the call's legs in the order they started.
	Legs []Leg `json:"legs"`
	// ClientID is the client found or created for the call so far, ""
	// when none is yet.
	ClientID string `json:"client_id,omitempty"`
}

// LiveCalls returns the calls in progress (events heard, no decision
// yet, internal calls left out), oldest first: the "calls now" view of a
// CRM screen.
func (e *Engine) LiveCalls() []LiveCall {
	e.mu.Lock()
	states := make([]*callState, 0, len(e.active))
	for _, st := range e.active {
		states = append(states, st)
	}
	e.mu.Unlock()
	var out []LiveCall
	for _, st := range states {
		st.mu.Lock()
		if c, ok := liveCallOf(st); ok {
			out = append(out, c)
		}
		st.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b LiveCall) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.CallID, b.CallID))
	})
	return out
}

// liveCallOf folds the events of a call in progress into its legs; ok is
// false for a call decided, forgotten, without events or internal. st.mu
// is held.
func liveCallOf(st *callState) (LiveCall, bool) {
	if st.finalized || st.gone || len(st.events) == 0 {
		return LiveCall{}, false
	}
	return liveView(st, assemble(st.events))
}

// liveView is liveCallOf with the call's events assembled as a. A
// Transferred event's leg is the party the call goes to (it rings); the
// legs talking then are transferred away from. Legs talking are on hold
// as Engine.Hold set. st.mu is held.
func liveView(st *callState, a assembled) (LiveCall, bool) {
	if a.internal {
		return LiveCall{}, false
	}
	r := a.rec
	c := LiveCall{Provider: r.Provider, Account: r.Account, CallID: r.CallID, Direction: r.Direction,
		ClientPhone: r.ClientPhone, LinePhone: r.LinePhone, StartedAt: r.StartedAt, AnsweredAt: r.AnsweredAt}
	if st.prog.res.Found() {
		c.ClientID = st.prog.res.Client.ID
	}
	// What each leg went through: its state follows from that, not from
	// the order of its events (a final record is dated when the call
	// started, before the answer).
	type legFacts struct{ answered, ended, away bool }
	var facts []legFacts
	index := map[string]int{}
	over := false // a call-wide end or final record: every leg ended
	for _, ev := range st.events {
		if ev.Kind == callevent.Rated {
			continue
		}
		key := ev.LegID
		if key == "" {
			key = ev.Extension + "\x00" + ev.Employee
		}
		i, ok := index[key]
		if !ok {
			if ev.Extension == "" && ev.Employee == "" && ev.LegID == "" {
				over = over || ev.Kind == callevent.Ended || ev.Kind == callevent.Completed
				continue // a call-wide record names no leg
			}
			i = len(c.Legs)
			index[key] = i
			c.Legs = append(c.Legs, Leg{ID: ev.LegID})
			facts = append(facts, legFacts{})
		}
		l := &c.Legs[i]
		l.Extension, l.Login = cmp.Or(ev.Extension, l.Extension), cmp.Or(ev.Employee, l.Login)
		switch ev.Kind {
		case callevent.Answered:
			facts[i].answered = true
		case callevent.Ended, callevent.Completed:
			facts[i].ended = true
		case callevent.Transferred:
			for j := range facts {
				if j != i && facts[j].answered && !facts[j].ended {
					facts[j].away = true
				}
			}
		}
	}
	for i, f := range facts {
		switch {
		case f.away:
			c.Legs[i].State = LegTransferred
		case f.ended || over:
			c.Legs[i].State = LegEnded
		case f.answered:
			c.Legs[i].State = LegTalking
		default:
			c.Legs[i].State = LegRinging
		}
	}
	if len(st.live.held) > 0 {
		all := st.live.held[""] || !slices.ContainsFunc(c.Legs, func(l Leg) bool { return st.live.held[l.Extension] || st.live.held[l.Login] })
		for i := range c.Legs {
			l := &c.Legs[i]
			if l.State == LegTalking && (all || st.live.held[l.Extension] || st.live.held[l.Login]) {
				l.State = LegOnHold
			}
		}
	}
	return c, true
}

// Hold records that the call in progress was put on hold (held) or taken
// off it, by a command of the program (callevent.Holder): no provider
// reports it. from names the leg as the command did (an extension or a
// login); "", or a name no leg of the call has, is every leg. The legs
// talking show LegOnHold until the call is taken off hold or they end;
// the change goes to WithOnLiveCall. ok is false for a call that is not
// in progress here.
func (e *Engine) Hold(ctx context.Context, provider, account, callID, from string, held bool) (ok bool) {
	e.mu.Lock()
	st := e.active[callKey{provider, account, callID}]
	e.mu.Unlock()
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.finalized || st.gone || len(st.events) == 0 {
		return false
	}
	switch {
	case held:
		if st.live.held == nil {
			st.live.held = make(map[string]bool)
		}
		if len(st.live.held) >= maxHeld { // a call has few legs: a name too many holds it all
			from = ""
		}
		st.live.held[from] = true
	case from == "":
		clear(st.live.held)
	default:
		delete(st.live.held, from)
		delete(st.live.held, "")
	}
	a := assemble(st.events)
	if a.internal {
		return false
	}
	e.watch(ctx, st, a)
	return true
}

// maxHeld bounds the names a call is held by (Engine.Hold).
const maxHeld = 16

// watch tells WithOnLiveCall the call's view; st.mu is held.
func (e *Engine) watch(ctx context.Context, st *callState, a assembled) {
	if e.onLive == nil {
		return
	}
	if c, ok := liveView(st, a); ok {
		e.onLive(ctx, c)
	}
}

// LiveCall returns one call in progress, as LiveCalls lists it; ok is
// false for a call that is not in progress here.
func (e *Engine) LiveCall(provider, account, callID string) (c LiveCall, ok bool) {
	e.mu.Lock()
	st := e.active[callKey{provider, account, callID}]
	e.mu.Unlock()
	if st == nil {
		return LiveCall{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return liveCallOf(st)
}

// CallEvents returns the events of a call the engine holds, in time
// order: a call in progress, or one decided within the retention
// (DefaultRetention); ok is false for a call it does not hold (any more).
func (e *Engine) CallEvents(provider, account, callID string) (events []callevent.Event, ok bool) {
	e.mu.Lock()
	st := e.active[callKey{provider, account, callID}]
	e.mu.Unlock()
	if st == nil {
		return nil, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || len(st.events) == 0 {
		return nil, false
	}
	return slices.Clone(st.events), true
}
