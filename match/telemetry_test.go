package match_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
	"github.com/callbridge/callbridge/match"
)

// The engine counts its calls in progress, its decisions by case and
// outcome, the clients and leads it creates and its notifications by
// outcome.
func TestEngineMetrics(t *testing.T) {
	t.Parallel()
	m := telemetrytest.NewMetrics(t)
	rule := match.DefaultRule()
	rule.Leads.InboundMissed = match.LeadCase{Create: true, Status: "new"}
	rule.Notify = match.NotifyRule{Extra: []string{"u4"}}
	notes := &flakyNotifier{id: "u4", fail: 1}
	h := newHarness(t, rule, match.WithMeterProvider(m.Provider), match.WithNotifier(notes))
	notes.Store = h.s

	// A: ringing, in progress. B: a missed call from an unknown number,
	// whose notification fails once (the decision fails, the redelivery
	// decides it). C: an anonymous caller, ignored.
	a := callSpec{id: "A", dir: callevent.Inbound, phone: known, ext: "101", status: callevent.Success}.events()
	h.send(a[0])
	b := callSpec{id: "B", dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed}.events()
	h.send(b[0])
	require.Error(t, h.e.HandleEvent(t.Context(), b[1]), "the notification fails")
	h.send(b[1])
	c := callSpec{id: "C", dir: callevent.Inbound, phone: "", ring: "101", status: callevent.Missed}.events()
	h.send(c...)

	require.Equal(t, 1.0, m.Value(t, "callbridge.engine.calls.active"), "A is in progress")
	const decisions = "callbridge.engine.decisions"
	for outcome, want := range map[string]float64{"failed": 1, "decided": 1, "ignored": 1} {
		require.Equal(t, want, m.Value(t, decisions, "callbridge.provider=telphin", "callbridge.case=inbound missed",
			"callbridge.outcome="+outcome), "%s:\n%s", outcome, m.Dump(t, decisions))
	}
	require.Len(t, m.Points(t, decisions), 3, m.Dump(t, decisions))
	require.Equal(t, 1.0, m.Value(t, "callbridge.engine.clients.created", "callbridge.provider=telphin"), "B's client, once")
	require.Equal(t, 1.0, m.Value(t, "callbridge.engine.leads.created", "callbridge.provider=telphin"))
	require.Equal(t, 1.0, m.Value(t, "callbridge.engine.notifications", "callbridge.provider=telphin", "callbridge.outcome=failed"))
	require.Equal(t, 2.0, m.Value(t, "callbridge.engine.notifications", "callbridge.provider=telphin", "callbridge.outcome=sent"),
		"u4 told of B and C")
	require.Len(t, h.s.Notifications(), 2)
}

// A decision is a span beneath the event that completed the call, with
// the engine's store calls beneath it, and the caller's number masked.
func TestEngineSpans(t *testing.T) {
	t.Parallel()
	tr := telemetrytest.NewTraces(t)
	rule := match.DefaultRule()
	rule.Leads.InboundMissed = match.LeadCase{Create: true, Status: "new"}
	h := newHarness(t, rule, match.WithTracerProvider(tr.Provider))
	ctx, parent := tr.Provider.Tracer("test").Start(t.Context(), "webhook")
	evs := callSpec{id: "B", dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed}.events()
	for _, ev := range evs {
		require.NoError(t, h.e.HandleEvent(ctx, ev))
	}
	parent.End()

	events := tr.Named("match.Engine HandleEvent")
	require.Len(t, events, 2)
	last := events[1]
	require.Equal(t, parent.SpanContext().SpanID(), last.Parent.SpanID())
	decide := tr.Named("match.Engine decide")
	require.Len(t, decide, 1)
	d := decide[0]
	require.Equal(t, last.SpanContext.SpanID(), d.Parent.SpanID(), "decided by the Completed event")
	require.Equal(t, "decided", telemetrytest.Attr(d, "callbridge.outcome"))
	require.Equal(t, "inbound missed", telemetrytest.Attr(d, "callbridge.case"))
	require.Equal(t, "*******2222", telemetrytest.Attr(d, "callbridge.client_phone"))
	var stores []string
	for _, s := range tr.Spans() {
		if s.Parent.SpanID() == d.SpanContext.SpanID() {
			stores = append(stores, s.Name)
		}
	}
	for _, want := range []string{"match.store FindClientByPhone", "match.store CreateClient", "match.store CreateLead", "match.store LogCall"} {
		require.Contains(t, stores, want)
	}
	for _, s := range tr.Spans() {
		require.Equal(t, parent.SpanContext().TraceID(), s.SpanContext.TraceID(), "%s: one trace", s.Name)
		for _, kv := range s.Attributes {
			require.NotContains(t, kv.Value.String(), unknownA, "%s %s: the whole number", s.Name, kv.Key)
		}
	}
}
