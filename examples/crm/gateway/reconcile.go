package gateway

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/callbridge/callbridge/reconcile"
)

// ReconcileEvery is how often the gateway reads the history of each
// provider it has API credentials for and recovers the calls whose
// webhooks were lost (package reconcile).
const ReconcileEvery = 10 * time.Minute

// reconcileFirst is when the first run starts, after the gateway.
const reconcileFirst = time.Minute

// reconcilers runs one reconcile.Reconciler per provider with a history.
type reconcilers struct {
	mu     sync.Mutex
	byName map[string]*reconcile.Reconciler
	memory reconcile.MemoryCursors // the cursors in memory mode
	job    periodic
}

// startReconcile runs reconcileAll after reconcileFirst, then every
// ReconcileEvery, until the gateway closes.
func (g *Gateway) startReconcile() {
	g.reconcile.job.start(g.clock(), false, reconcileFirst, ReconcileEvery, g.reconcileAll)
}

// reconcileAll recovers the lost calls of every provider with a history.
func (g *Gateway) reconcileAll(ctx context.Context) {
	for _, provider := range slices.Sorted(maps.Keys(g.callers)) {
		rc, err := g.reconcilerFor(provider)
		if err != nil || rc == nil {
			if err != nil {
				g.log.Error("reconcile: not started", "provider", provider, "error", err)
			}
			continue
		}
		rep, err := rc.Run(ctx)
		if err != nil {
			g.log.Warn("reconcile: stopped; the next run resumes", "provider", provider, "error", err,
				"recovered", rep.Recovered, "known", rep.Known)
			g.hookStats.failed(provider, fmt.Errorf("reading the call history: %w", err), time.Now().UTC())
		} else if rep.Recovered > 0 {
			g.log.Info("reconcile: calls whose webhooks were lost recovered from the history", "provider", provider,
				"recovered", rep.Recovered, "known", rep.Known, "from", rep.From, "to", rep.To)
		}
	}
}

// reconcilerFor returns the reconciler of provider, nil when its client
// has no history.
func (g *Gateway) reconcilerFor(provider string) (*reconcile.Reconciler, error) {
	r := &g.reconcile
	r.mu.Lock()
	defer r.mu.Unlock()
	if rc := r.byName[provider]; rc != nil {
		return rc, nil
	}
	h, ok := g.callers[provider].(reconcile.History)
	if !ok {
		return nil, nil
	}
	cfg := reconcile.Config{Name: provider, History: h, Sink: g.sink, Now: g.clock().Now,
		MeterProvider: g.obs.mp, TracerProvider: g.obs.tp}
	if g.db != nil {
		cfg.Calls, cfg.Cursors = g.db, g.db
	} else {
		cfg.Calls, cfg.Cursors = g.store, &r.memory
	}
	rc, err := reconcile.New(cfg)
	if err != nil {
		return nil, err
	}
	if r.byName == nil {
		r.byName = make(map[string]*reconcile.Reconciler)
	}
	r.byName[provider] = rc
	return rc, nil
}

// stopReconcile stops the runs, ends one in flight and waits for it.
func (g *Gateway) stopReconcile() { g.reconcile.job.stop() }
