package match

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
)

// decidedMarksPerCall sizes the memory of decided calls whose full record
// was dropped: at most this many marks per call of the cap (about 40 bytes
// each).
const decidedMarksPerCall = 4

// callKey identifies a call.
type callKey struct{ provider, account, callID string }

type mark struct {
	h   uint64
	exp time.Time
}

// callState is the engine's memory of one call.
type callState struct {
	mu     sync.Mutex
	key    callKey
	events []callevent.Event // sorted by eventOrder

	finalized bool
	retry     bool // finalization failed: a redelivery retries it
	gone      bool // forgotten; a new state must be made
	rec       CallRecord
	prog      progress
	live      liveState

	// direct: an event came through HandleEvent. Without one, a durable
	// inbox holds every event of the call and resumes them in the next
	// engine, so Close leaves the call to it.
	direct bool

	// shift is how long ago the newest event arrived when it was
	// resumed (Resume): the waits it starts are that much shorter.
	shift time.Duration
	// late is how much later than planned the call is decided when its
	// events were resumed: the waits that start at the decision (late
	// binding, delayed notifications) are that much shorter.
	late      time.Duration
	timer     Timer
	timerGen  uint64
	timerKind timerKind
	tries     int

	waiting  bool // registered for late binding
	deadline time.Time

	// trace is the span of the event that last changed the call: a
	// decision a timer makes later is traced beneath it.
	trace trace.SpanContext

	// Under Engine.mu:
	decidedEl *list.Element // in Engine.decided
	decidedAt time.Time
}

// errDecided: the call was decided and its full record dropped.
var errDecided = errors.New("match: call already decided")

// state returns the memory of call k, making it if needed.
func (e *Engine) state(k callKey) (*callState, error) {
	st, victims, err := e.stateLocked(k)
	// Drop the full records pushed out by this call (outside e.mu: a
	// call's lock is taken before the engine's).
	for _, v := range victims {
		v.mu.Lock()
		v.gone = true
		if v.timer != nil {
			v.timer.Stop()
		}
		if v.waiting {
			e.mu.Lock()
			e.unwaitLocked(v)
			e.mu.Unlock()
		}
		v.mu.Unlock()
	}
	return st, err
}

func (e *Engine) stateLocked(k callKey) (*callState, []*callState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, nil, ErrClosed
	}
	if st := e.active[k]; st != nil {
		return st, nil, nil
	}
	now := e.clock.Now()
	for len(e.markQ) > 0 && !now.Before(e.markQ[0].exp) {
		m := e.markQ[0]
		if exp, ok := e.marks[m.h]; ok && !exp.After(m.exp) {
			delete(e.marks, m.h)
		}
		e.markQ = e.markQ[1:]
	}
	if len(e.markQ) == 0 {
		e.markQ = nil // let the backing array go
	}
	h := e.keyHash(k)
	if _, ok := e.marks[h]; ok {
		return nil, nil, errDecided
	}
	if len(e.active)-e.decided.Len() >= e.maxCalls {
		return nil, nil, ErrOverloaded
	}
	// Keep the full records of at most maxCalls decided calls; older ones
	// are reduced to a mark until their retention ends.
	var victims []*callState
	for e.decided.Len() >= e.maxCalls && len(e.marks) < e.maxCalls*decidedMarksPerCall {
		v := e.decided.Remove(e.decided.Front()).(*callState)
		v.decidedEl = nil
		delete(e.active, v.key)
		vh := e.keyHash(v.key)
		exp := v.decidedAt.Add(e.retain)
		e.marks[vh] = exp
		e.markQ = append(e.markQ, mark{vh, exp})
		victims = append(victims, v)
	}
	if e.decided.Len() >= e.maxCalls {
		return nil, victims, ErrOverloaded
	}
	st := &callState{key: k}
	e.active[k] = st
	return st, victims, nil
}

func (e *Engine) keyHash(k callKey) uint64 {
	var h maphash.Hash
	h.SetSeed(e.seed)
	h.WriteString(k.provider)
	h.WriteByte(0)
	h.WriteString(k.account)
	h.WriteByte(0)
	h.WriteString(k.callID)
	return h.Sum64()
}

// add merges ev into the call and acts if the call is over; st.mu is held.
func (e *Engine) add(ctx context.Context, st *callState, ev callevent.Event, shift time.Duration) error {
	evs, added := insertEvent(st.events, ev)
	if !added {
		if len(evs) >= maxCallEvents && !slices.ContainsFunc(evs, func(x callevent.Event) bool { return x.ID == ev.ID }) {
			e.log.WarnContext(ctx, "match: too many events for one call, event dropped", append(logCall(st.key), "event_id", ev.ID)...)
		}
		if st.retry {
			return e.advance(ctx, st)
		}
		return nil
	}
	st.events, st.shift, st.late = evs, shift, shift
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		st.trace = sc
	}
	return e.advance(ctx, st)
}

// advance decides what the call's events mean now; st.mu is held.
func (e *Engine) advance(ctx context.Context, st *callState) error {
	a := assemble(st.events)
	if st.finalized {
		return e.amend(ctx, st, a)
	}
	e.live(ctx, st, a)
	e.watch(ctx, st, a)
	switch {
	case a.completed && !a.openLegs && a.legged && e.settle > 0:
		// Every event of the call restarts the wait.
		e.arm(st, timerSettle, e.settle)
	case a.completed && !a.openLegs:
		return e.finalize(ctx, st, a)
	case a.ended && !a.openLegs:
		if st.timerKind != timerGrace {
			e.arm(st, timerGrace, e.grace)
		}
	default:
		e.arm(st, timerIdle, e.idleFor(st.key.provider))
	}
	return nil
}

// amend re-logs a finished call when late events changed its record.
func (e *Engine) amend(ctx context.Context, st *callState, a assembled) error {
	if a.internal {
		return nil
	}
	rec := a.rec
	// What the rules decided stays.
	rec.ClientID, rec.LeadID, rec.Employee, rec.Extension = st.rec.ClientID, st.rec.LeadID, st.rec.Employee, st.rec.Extension
	if rec.Status != st.rec.Status {
		// The rules ran for the earlier outcome; keep it (and say so).
		e.log.DebugContext(ctx, "match: late event changed a finished call's outcome; rules are not re-run",
			append(logCall(st.key), "was", st.rec.Status, "now", rec.Status)...)
		rec.Status = st.rec.Status
	}
	if rec == st.rec || e.calls == nil || !st.prog.logged {
		return nil
	}
	if err := e.calls.LogCall(ctx, rec); err != nil {
		return fmt.Errorf("match: log call: %w", err)
	}
	st.rec = rec
	return nil
}

// forget drops a call; st.mu is held.
func (e *Engine) forget(st *callState) {
	st.gone = true
	if st.timer != nil {
		st.timer.Stop()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active[st.key] == st {
		delete(e.active, st.key)
	}
	if st.decidedEl != nil {
		e.decided.Remove(st.decidedEl)
		st.decidedEl = nil
	}
	if st.waiting {
		e.unwaitLocked(st)
	}
}

func (e *Engine) unwaitLocked(st *callState) {
	k := bindKey{st.key.account, st.rec.ClientPhone}
	l := slices.DeleteFunc(e.pending[k], func(x *callState) bool { return x == st })
	if len(l) == 0 {
		delete(e.pending, k)
	} else {
		e.pending[k] = l
	}
	st.waiting = false
}

// idleFor is the idle timeout of a call of provider.
func (e *Engine) idleFor(provider string) time.Duration {
	if d, ok := e.providerIdle[provider]; ok {
		return d
	}
	return e.idle
}
