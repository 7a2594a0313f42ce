package match

import (
	"context"
	"time"
)

// timerRetries bounds how often a timer-driven finalization is retried
// after a store error.
const timerRetries = 5

type timerKind uint8

const (
	timerNone timerKind = iota
	timerIdle
	timerGrace
	timerSettle
	timerForget
)

// arm replaces the call's timer; st.mu is held.
func (e *Engine) arm(st *callState, kind timerKind, d time.Duration) {
	if st.timer != nil {
		st.timer.Stop()
	}
	st.timerGen++
	gen := st.timerGen
	st.timerKind = kind
	st.late = max(0, st.shift-d)
	st.timer = e.after(max(0, d-st.shift), func(ctx context.Context) { e.fire(ctx, st, gen) })
}

// after runs f after d unless the engine is closed first.
func (e *Engine) after(d time.Duration, f func(ctx context.Context)) Timer {
	return e.clock.AfterFunc(d, func() {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return
		}
		e.wg.Add(1)
		e.mu.Unlock()
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(e.base, time.Minute)
		defer cancel()
		f(ctx)
	})
}

func (e *Engine) fire(ctx context.Context, st *callState, gen uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || gen != st.timerGen {
		return
	}
	kind := st.timerKind
	st.timer, st.timerKind = nil, timerNone
	ctx = inTrace(ctx, st)
	st.shift = 0                                    // the wait is over: what follows runs from now
	if kind == timerForget || len(st.events) == 0 { // an Admit that got no event
		e.forget(st)
		return
	}
	if st.finalized {
		return
	}
	if err := e.finalize(ctx, st, assemble(st.events)); err != nil {
		st.tries++
		if st.tries >= timerRetries {
			e.log.ErrorContext(ctx, "match: giving up on a call", append(logCall(st.key), "err", err)...)
			e.forget(st)
			return
		}
		// Soon at first (a store that blinked), then less often: 1s, 2s,
		// 4s, … up to the grace period.
		retry := min(e.grace, time.Second<<(st.tries-1))
		e.log.ErrorContext(ctx, "match: acting on a call failed; will retry", append(logCall(st.key), "retry_in", retry.String(), "err", err)...)
		e.arm(st, kind, retry)
	}
}
