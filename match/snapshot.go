package match

import (
	"cmp"
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
)

var legStateNames = [...]string{"", "ringing", "talking", "ended"}

// String returns "ringing", "talking" or "ended".
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
	ID        string   `json:"id,omitempty"`
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
	a := assemble(st.events)
	if a.internal {
		return LiveCall{}, false
	}
	r := a.rec
	c := LiveCall{Provider: r.Provider, Account: r.Account, CallID: r.CallID, Direction: r.Direction,
		ClientPhone: r.ClientPhone, LinePhone: r.LinePhone, StartedAt: r.StartedAt, AnsweredAt: r.AnsweredAt}
	if st.prog.res.Found() {
		c.ClientID = st.prog.res.Client.ID
	}
	index := map[string]int{}
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
				continue // a call-wide record names no leg
			}
			i = len(c.Legs)
			index[key] = i
			c.Legs = append(c.Legs, Leg{ID: ev.LegID, State: LegRinging})
		}
		l := &c.Legs[i]
		l.Extension, l.Login = cmp.Or(ev.Extension, l.Extension), cmp.Or(ev.Employee, l.Login)
		switch ev.Kind {
		case callevent.Answered:
			l.State = LegTalking
		case callevent.Ended, callevent.Completed:
			l.State = LegEnded
		}
	}
	return c, true
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
