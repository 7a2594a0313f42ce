package match_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// TestLiveCalls: the engine's view of the calls in progress: a queue
// rings two agents, one answers, the other's leg ends; a decided call is
// no longer live, nor is an internal one.
func TestLiveCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule())
	require.Empty(t, h.e.LiveCalls())
	mk := legEvent("lv1")
	h.send(mk("r1", callevent.Ringing, "a", "101", 0), mk("r2", callevent.Ringing, "b", "201", 0))
	internal := callevent.Event{ID: "in1", Provider: "megafon", Account: acct, Kind: callevent.Ringing, Direction: callevent.Internal,
		CallID: "int1", Extension: "101", ClientPhone: "102", At: t0}
	h.send(internal)
	live := h.e.LiveCalls()
	require.Len(t, live, 1, "an internal call is not listed")
	require.Equal(t, "lv1", live[0].CallID)
	require.Equal(t, callevent.Inbound, live[0].Direction)
	require.Equal(t, unknownA, live[0].ClientPhone)
	require.Equal(t, []match.Leg{{ID: "a", Extension: "101", State: match.LegRinging}, {ID: "b", Extension: "201", State: match.LegRinging}}, live[0].Legs)
	one, ok := h.e.LiveCall("megafon", acct, "lv1")
	require.True(t, ok)
	require.Equal(t, live[0], one, "one call as the list shows it")
	_, ok = h.e.LiveCall("megafon", acct, "int1")
	require.False(t, ok, "an internal call is not live")

	h.send(mk("an", callevent.Answered, "a", "101", 5*time.Second), mk("e2", callevent.Ended, "b", "201", 5*time.Second))
	live = h.e.LiveCalls()
	require.Equal(t, []match.Leg{{ID: "a", Extension: "101", State: match.LegTalking}, {ID: "b", Extension: "201", State: match.LegEnded}}, live[0].Legs)
	require.Equal(t, t0.Add(5*time.Second), live[0].AnsweredAt)
	require.NotEmpty(t, live[0].ClientID, "the client created on answer")

	end := mk("e1", callevent.Ended, "a", "101", time.Minute)
	end.Status = callevent.Success
	h.send(end)
	h.clock.Advance(match.DefaultGracePeriod)
	require.Empty(t, h.e.LiveCalls(), "a decided call is not live")
	_, ok = h.e.LiveCall("megafon", acct, "lv1")
	require.False(t, ok, "nor is it one by one")
}
