package sqlstore

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
)

// The inbox records each event's latency from its commit to the sink's
// done, its dead letters and its backlog by state; an event it delivers
// from memory is delivered beneath the span of the request that committed
// it, one claimed back from the database (a retry) in a new trace.
func TestInboxTelemetry(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		m, tr := telemetrytest.NewMetrics(t), telemetrytest.NewTraces(t)
		rec := newRecorder()
		bad := testEvent(2, 1)
		rec.setFail(func(e callevent.Event) error {
			if e.ID == bad.ID {
				return errors.New("crm rejected")
			}
			return nil
		})
		in := newInbox(t, db, rec, InboxConfig{Backoff: zeroBackoff, MaxAttempts: 2, MeterProvider: m.Provider, TracerProvider: tr.Provider})
		ctx, request := tr.Provider.Tracer("test").Start(context.Background(), "webhook")
		for _, e := range []callevent.Event{testEvent(1, 1), bad} {
			if err := in.HandleEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		request.End()
		rec.waitDelivered(t, 1)
		eventually(t, "the dead letter", func() bool {
			n, err := in.Dead(context.Background())
			return err == nil && n == 1
		})
		eventually(t, "the last delivery's span", func() bool { return len(tr.Named("sqlstore.Inbox deliver")) == 3 })

		const dur = "callbridge.delivery.duration"
		if n := m.Count(t, dur, "callbridge.provider=telphin", "callbridge.delivery=inbox", "callbridge.outcome=delivered"); n != 1 {
			t.Errorf("delivered count %d, want 1:\n%s", n, m.Dump(t, dur))
		}
		if n := m.Count(t, dur, "callbridge.provider=telphin", "callbridge.delivery=inbox", "callbridge.outcome=dead_letter"); n != 1 {
			t.Errorf("dead letter count %d, want 1:\n%s", n, m.Dump(t, dur))
		}
		if v := m.Value(t, "callbridge.delivery.dead_letters", "callbridge.provider=telphin", "callbridge.delivery=inbox"); v != 1 {
			t.Errorf("dead letters %v, want 1", v)
		}
		for state, want := range map[string]float64{"pending": 0, "dead": 1} {
			p, ok := m.Point(t, "callbridge.delivery.backlog", "callbridge.delivery=inbox", "callbridge.state="+state)
			if !ok || p.Value != want {
				t.Errorf("backlog %s = %v (reported %v), want %v", state, p.Value, ok, want)
			}
		}
		var beneath, roots int
		for _, s := range tr.Named("sqlstore.Inbox deliver") {
			switch {
			case s.Parent.SpanID() == request.SpanContext().SpanID():
				beneath++
			case !s.Parent.IsValid():
				roots++
			}
			if s.SpanKind != trace.SpanKindConsumer {
				t.Errorf("span kind %v", s.SpanKind)
			}
		}
		if beneath != 2 || roots != 1 {
			t.Errorf("%d deliveries beneath the request, %d in new traces; want 2 and 1 (the retry)", beneath, roots)
		}
	})
}
