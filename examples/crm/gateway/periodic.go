package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/callbridge/callbridge/match"
)

// periodic runs a job on the gateway's clock until the gateway closes:
// the background work of reconciling calls, syncing employees and
// checking the amoCRM integration. Each run gets a context that stop
// cancels; the next is scheduled when a run ends.
type periodic struct {
	mu      sync.Mutex
	timer   match.Timer
	stopped bool
	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup
}

// start runs run after first and then every every after each run ends;
// with now, also once at once, in the background.
func (p *periodic) start(clock match.Clock, now bool, first, every time.Duration, run func(ctx context.Context)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ctx, p.cancel = context.WithCancel(context.Background())
	var tick func()
	tick = func() {
		if !p.enter() {
			return
		}
		run(p.ctx)
		p.running.Done()
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.stopped {
			p.timer = clock.AfterFunc(every, tick)
		}
	}
	if now {
		p.running.Add(1)
		go func() {
			defer p.running.Done()
			run(p.ctx)
		}()
	}
	p.timer = clock.AfterFunc(first, tick)
}

// enter counts a run starting, unless stopped.
func (p *periodic) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.running.Add(1)
	return true
}

// stop ends the schedule, cancels a run in flight and waits for it.
func (p *periodic) stop() {
	p.mu.Lock()
	p.stopped = true
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	p.running.Wait()
}
