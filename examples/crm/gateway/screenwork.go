package gateway

import (
	"context"
	"sync"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// screenWork is what the gateway does for the screens when a call's view
// changes, beyond showing it: an employee whose leg began talking gets
// their other calls held (autohold.go), and an employee whose phone the
// call reaches without the engine having shown them its card (a call
// transferred to them, a provider that reports no ringing) gets the card
// (legcards.go).
//
// The engine reports views from the goroutine that delivers the call's
// events, holding the call: changed only notes what is new and queues
// the work, which one goroutine does.
type screenWork struct {
	g    *Gateway
	mu   sync.Mutex
	talk map[callKey]map[match.Leg]bool // the legs talking at each call's last view
	// talkers are the calls of talk by the extension or login of their
	// talking legs, of the providers that can hold a call (the others'
	// calls are never held: a provider that reports answers only, as
	// Finaz, would pile them up).
	talkers map[string]map[callKey]bool
	carded  map[callKey]map[string]bool // the legs (extension or login) whose card was seen to
	jobs    chan func(context.Context)
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// maxScreenJobs bounds the jobs waiting; past it a job is dropped and
// logged (the employee holds by hand, the card stays unshown).
const maxScreenJobs = 1024

// maxViewsKept bounds the calls whose legs are remembered.
const maxViewsKept = match.DefaultMaxCalls

// newScreenWork starts the goroutine that does the work.
func newScreenWork(g *Gateway) *screenWork {
	w := &screenWork{g: g, talk: map[callKey]map[match.Leg]bool{}, talkers: map[string]map[callKey]bool{},
		carded: map[callKey]map[string]bool{},
		jobs:   make(chan func(context.Context), maxScreenJobs), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// close stops the goroutine, cutting a job in flight short, and waits
// for it.
func (w *screenWork) close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// liveChanged is the engine's view of a call in progress
// (match.WithOnLiveCall): shown on the screens, then the work it asks
// for.
func (g *Gateway) liveChanged(ctx context.Context, c match.LiveCall) {
	g.live.CallChanged(ctx, c)
	g.screens.changed(c)
}

// changed notes the legs of c that began talking since its last view
// (their employees' other calls are held) and the legs not seen before
// (their employees get the card). It never waits.
func (w *screenWork) changed(c match.LiveCall) {
	k := callKey{c.Provider, c.Account, c.CallID}
	var talking map[match.Leg]bool
	var fresh []match.Leg
	w.mu.Lock()
	if len(w.talk) >= maxViewsKept || len(w.carded) >= maxViewsKept {
		clear(w.talk) // forgetting only repeats a hold or a check
		clear(w.talkers)
		clear(w.carded)
	}
	seen := w.carded[k]
	for _, l := range c.Legs {
		key := cmpOr(l.Extension, l.Login)
		if key == "" {
			continue
		}
		if l.State == match.LegTalking {
			if talking == nil {
				talking = map[match.Leg]bool{}
			}
			l.State = match.LegTalking
			talking[l] = true
		}
		if (l.State == match.LegRinging || l.State == match.LegTalking) && !seen[key] {
			if seen == nil {
				seen = map[string]bool{}
				w.carded[k] = seen
			}
			seen[key] = true
			fresh = append(fresh, l)
		}
	}
	prev := w.talk[k]
	w.setTalking(k, talking)
	w.mu.Unlock()
	for _, l := range fresh {
		w.enqueue(func(ctx context.Context) { w.g.legCard(ctx, c, l) })
	}
	for l := range talking {
		if !prev[l] {
			w.enqueue(func(ctx context.Context) {
				w.g.holdOthers(ctx, holdJob{provider: c.Provider, account: c.Account, callID: c.CallID, leg: l})
			})
		}
	}
}

// setTalking records legs (nil: none) as those talking in call k;
// w.mu is held.
func (w *screenWork) setTalking(k callKey, legs map[match.Leg]bool) {
	for l := range w.talk[k] {
		key := cmpOr(l.Extension, l.Login)
		if calls := w.talkers[key]; calls != nil {
			if delete(calls, k); len(calls) == 0 {
				delete(w.talkers, key)
			}
		}
	}
	if legs == nil {
		delete(w.talk, k)
		return
	}
	w.talk[k] = legs
	if _, ok := w.g.callers[k.provider].(callevent.Holder); !ok {
		return
	}
	for l := range legs {
		key := cmpOr(l.Extension, l.Login)
		if w.talkers[key] == nil {
			w.talkers[key] = map[callKey]bool{}
		}
		w.talkers[key][k] = true
	}
}

// talkingOf returns the legs talking at their calls' last views whose
// extension or login is one of keys, by call, of the providers that can
// hold a call.
func (w *screenWork) talkingOf(keys map[string]bool) map[callKey][]match.Leg {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[callKey][]match.Leg{}
	for key := range keys {
		for k := range w.talkers[key] {
			for l := range w.talk[k] {
				if cmpOr(l.Extension, l.Login) == key {
					out[k] = append(out[k], l)
				}
			}
		}
	}
	return out
}

// placed asks to hold employee's calls in progress: they placed a new
// call (callID of provider) from the workspace.
func (w *screenWork) placed(employee, provider, callID string) {
	w.enqueue(func(ctx context.Context) {
		w.g.holdOthers(ctx, holdJob{employee: employee, provider: provider, callID: callID})
	})
}

// forget drops what is known of a decided call.
func (w *screenWork) forget(provider, account, callID string) {
	k := callKey{provider, account, callID}
	w.mu.Lock()
	w.setTalking(k, nil)
	delete(w.carded, k)
	w.mu.Unlock()
}

func (w *screenWork) enqueue(job func(context.Context)) {
	select {
	case <-w.stop:
		return // shutting down: the screens are closed too
	default:
	}
	select {
	case w.jobs <- job:
	default:
		w.g.log.Warn("screens: too much work waiting; a hold or a card is left out")
	}
}

func (w *screenWork) run() {
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case job := <-w.jobs:
			job(ctx)
		case <-w.stop:
			return
		}
	}
}
