// Package reconcile recovers the calls whose webhooks never arrived.
//
// Providers give up redelivering a webhook after a while, so a call whose
// notifications were all lost is missing from the CRM for good. A
// Reconciler reads the provider's call history window by window and feeds
// every finished call the CRM does not have into a callevent.Sink (the
// durable inbox or the match engine) as a Completed event. A call the CRM
// has already changes nothing. The end of the last finished window is
// kept in a Cursors store, so a run resumes where the previous one
// stopped, across restarts.
//
// The provider packages give their history as a History:
// telphin.Client.CompletedCalls, megafon.Client.CompletedCalls and
// phonet.Client.CompletedCalls.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry"
)

// History lists a provider's finished calls that started in [from, to) as
// Completed events, with the call IDs and the account the provider's
// webhooks give, so that a recovered call is the call its webhooks would
// have made. An error ends the iteration.
type History interface {
	CompletedCalls(ctx context.Context, from, to time.Time) iter.Seq2[callevent.Event, error]
}

// Calls tells whether the CRM has a call (sqlstore.DB and match's
// memstore.Store implement it).
type Calls interface {
	HasCall(ctx context.Context, provider, account, callID string) (bool, error)
}

// Cursors keeps, per reconciler name, the end of the last window it
// finished (sqlstore.DB implements it; MemoryCursors keeps them in memory).
type Cursors interface {
	// Cursor returns the time saved for name; ok is false when none is.
	Cursor(ctx context.Context, name string) (t time.Time, ok bool, err error)
	// SetCursor saves t for name.
	SetCursor(ctx context.Context, name string, t time.Time) error
}

// Defaults of Config.
const (
	// DefaultWindow is the span of history read at a time.
	DefaultWindow = time.Hour
	// DefaultLag keeps the most recent calls out of a run: their webhooks
	// may still be on their way, or redelivered.
	DefaultLag = 10 * time.Minute
	// DefaultBackfill is how far back a reconciler without a cursor starts.
	DefaultBackfill = 24 * time.Hour
)

// Config configures a Reconciler. History, Calls, Sink and Cursors are
// required.
type Config struct {
	// Name identifies the reconciler's cursor, e.g. "telphin/12345": one
	// per provider account.
	Name    string
	History History
	Calls   Calls
	Sink    callevent.Sink
	Cursors Cursors
	// Window is the span read at a time (DefaultWindow when 0); the cursor
	// advances after each.
	Window time.Duration
	// Lag leaves the calls of the last Lag to their webhooks (DefaultLag
	// when 0).
	Lag time.Duration
	// Backfill is how far back the first run starts (DefaultBackfill when 0).
	Backfill time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// MeterProvider receives the calls recovered
	// (callbridge.reconcile.calls.recovered, by callbridge.reconciler);
	// TracerProvider a span per Run, with the events fed to the Sink
	// beneath it. nil: the global providers, no-ops until set.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// Report says what a run did.
type Report struct {
	// From and To bound the history the run read; To == From when there
	// was nothing to read yet.
	From, To time.Time
	// Windows is the number of windows read to their end.
	Windows int
	// Calls is the number of calls in the history read; Known of them were
	// in the CRM already, Recovered were fed to the Sink.
	Calls, Known, Recovered int
}

// A Reconciler recovers one provider account's lost calls. Run may be
// called from several goroutines: runs of one Reconciler take turns.
type Reconciler struct {
	cfg       Config
	mu        sync.Mutex
	tel       *telemetry.Reconcile
	recovered metric.MeasurementOption // the counter's attributes
}

// New checks cfg and returns a Reconciler.
func New(cfg Config) (*Reconciler, error) {
	switch {
	case cfg.Name == "":
		return nil, errors.New("reconcile: Config.Name is empty")
	case cfg.History == nil:
		return nil, errors.New("reconcile: Config.History is nil")
	case cfg.Calls == nil:
		return nil, errors.New("reconcile: Config.Calls is nil")
	case cfg.Sink == nil:
		return nil, errors.New("reconcile: Config.Sink is nil")
	case cfg.Cursors == nil:
		return nil, errors.New("reconcile: Config.Cursors is nil")
	case cfg.Window < 0, cfg.Lag < 0, cfg.Backfill < 0:
		return nil, errors.New("reconcile: Config.Window, Lag and Backfill must not be negative")
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Lag == 0 {
		cfg.Lag = DefaultLag
	}
	if cfg.Backfill == 0 {
		cfg.Backfill = DefaultBackfill
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reconciler{cfg: cfg, tel: telemetry.NewReconcile(cfg.MeterProvider, cfg.TracerProvider),
		recovered: telemetry.Attrs(telemetry.ReconcilerKey.String(cfg.Name))}, nil
}

// Run reads the history from the saved cursor (or Backfill ago) up to
// Lag ago, window by window, and feeds each call the CRM does not have to
// the Sink. The cursor moves after each window whose calls are all known
// or delivered, so a run that fails (the provider down, its rate limit
// spent, the Sink refusing) resumes at the window it did not finish; the
// report counts what was done until then.
func (r *Reconciler) Run(ctx context.Context) (rep Report, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, span := r.tel.Tracer.Start(ctx, "reconcile.Reconciler Run")
	defer func() {
		if span.IsRecording() {
			span.SetAttributes(telemetry.ReconcilerKey.String(r.cfg.Name), attribute.Int("callbridge.calls", rep.Calls),
				attribute.Int("callbridge.recovered", rep.Recovered))
		}
		if err != nil {
			span.SetStatus(codes.Error, telemetry.MaskDigits(err.Error()))
		}
		span.End()
	}()
	end := r.cfg.Now().Add(-r.cfg.Lag).UTC()
	from, ok, err := r.cfg.Cursors.Cursor(ctx, r.cfg.Name)
	if err != nil {
		return Report{}, fmt.Errorf("reconcile %s: read cursor: %w", r.cfg.Name, err)
	}
	if !ok {
		from = end.Add(-r.cfg.Backfill)
	}
	from = from.UTC()
	rep = Report{From: from, To: from}
	for from.Before(end) {
		to := from.Add(r.cfg.Window)
		if to.After(end) {
			to = end
		}
		if err := r.window(ctx, from, to, &rep); err != nil {
			return rep, fmt.Errorf("reconcile %s: window %s–%s: %w", r.cfg.Name,
				from.Format(time.RFC3339), to.Format(time.RFC3339), err)
		}
		if err := r.cfg.Cursors.SetCursor(ctx, r.cfg.Name, to); err != nil {
			return rep, fmt.Errorf("reconcile %s: save cursor: %w", r.cfg.Name, err)
		}
		rep.Windows++
		rep.To, from = to, to
	}
	return rep, nil
}

// window reconciles the calls that started in [from, to). The history
// is read to the end first: a provider may list a call once per leg (a
// queue's agents, a transfer), and the engine gets every leg of a call it
// does not have.
func (r *Reconciler) window(ctx context.Context, from, to time.Time, rep *Report) error {
	var order []string
	calls := make(map[string][]callevent.Event)
	for e, err := range r.cfg.History.CompletedCalls(ctx, from, to) {
		if err != nil {
			return err
		}
		key := e.Account + "\x00" + e.CallID
		evs, seen := calls[key]
		if !seen {
			order = append(order, key)
		}
		// A page may repeat a leg at its edge (new calls shift the pages
		// while they are read).
		if !slices.ContainsFunc(evs, func(x callevent.Event) bool { return x.ID == e.ID }) {
			calls[key] = append(evs, e)
		}
	}
	for _, key := range order {
		evs := calls[key]
		e := evs[0]
		rep.Calls++
		known, err := r.cfg.Calls.HasCall(ctx, e.Provider, e.Account, e.CallID)
		if err != nil {
			return fmt.Errorf("call %s: %w", e.CallID, err)
		}
		if known {
			rep.Known++
			continue
		}
		for _, e := range evs {
			if err := r.cfg.Sink.HandleEvent(ctx, e); err != nil {
				return fmt.Errorf("recover call %s: %w", e.CallID, err)
			}
		}
		rep.Recovered++
		r.tel.Recovered.Add(ctx, 1, r.recovered)
	}
	return nil
}

// MemoryCursors keeps cursors in memory (they are lost with the process:
// a new one starts Backfill ago again). The zero value is ready to use.
type MemoryCursors struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// Cursor implements Cursors.
func (c *MemoryCursors) Cursor(_ context.Context, name string) (time.Time, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[name]
	return t, ok, nil
}

// SetCursor implements Cursors.
func (c *MemoryCursors) SetCursor(_ context.Context, name string, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]time.Time)
	}
	c.m[name] = t
	return nil
}
