package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/callbridge/callbridge/reconcile"
)

// The calls a run recovers are counted by reconciler, and the run is a
// span with the events it fed beneath it.
func TestRecoveredCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	perCall, completed := calls(6)
	live := newEngine(t, store)
	for _, e := range perCall[0] { // one call arrived by its webhooks
		if err := live.HandleEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := live.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m, tr := telemetrytest.NewMetrics(t), telemetrytest.NewTraces(t)
	engine := newEngine(t, store)
	r, err := reconcile.New(reconcile.Config{
		Name: "megafon/acme", History: &history{calls: completed}, Calls: store, Sink: engine, Cursors: &reconcile.MemoryCursors{},
		Backfill: 6 * time.Hour, Now: func() time.Time { return start.Add(5*time.Hour + reconcile.DefaultLag) },
		MeterProvider: m.Provider, TracerProvider: tr.Provider,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Recovered != 5 {
		t.Fatalf("recovered %d calls, want 5", rep.Recovered)
	}
	if got := m.Value(t, "callbridge.reconcile.calls.recovered", "callbridge.reconciler=megafon/acme"); got != 5 {
		t.Fatalf("counted %v recovered calls, want 5:\n%s", got, m.Dump(t, "callbridge.reconcile.calls.recovered"))
	}
	runs := tr.Named("reconcile.Reconciler Run")
	if len(runs) != 1 || telemetrytest.Attr(runs[0], "callbridge.recovered") != "5" {
		t.Fatalf("spans %v", telemetrytest.Names(tr.Spans()))
	}
}
