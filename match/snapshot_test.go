package match_test

import (
	"context"
	"strings"
	"sync"
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

// TestLiveCallHoldAndTransfer: a leg put on hold through Engine.Hold is
// on hold while it talks, off it after Hold(false); a Transferred event
// of another leg marks the leg that talked transferred, and its end
// keeps it so; a call that is not in progress cannot be held.
func TestLiveCallHoldAndTransfer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule())
	ctx := context.Background()
	mk := legEvent("hd1")
	h.send(mk("r1", callevent.Ringing, "a", "101", 0), mk("an", callevent.Answered, "a", "101", 2*time.Second))
	legs := func() []match.Leg {
		c, ok := h.e.LiveCall("megafon", acct, "hd1")
		require.True(t, ok)
		return c.Legs
	}
	require.True(t, h.e.Hold(ctx, "megafon", acct, "hd1", "101", true))
	require.Equal(t, match.LegOnHold, legs()[0].State)
	require.True(t, h.e.Hold(ctx, "megafon", acct, "hd1", "101", false))
	require.Equal(t, match.LegTalking, legs()[0].State)
	require.True(t, h.e.Hold(ctx, "megafon", acct, "hd1", "15400*101", true), "a name no leg has holds the call")
	require.Equal(t, match.LegOnHold, legs()[0].State)
	require.True(t, h.e.Hold(ctx, "megafon", acct, "hd1", "", false))
	require.Equal(t, match.LegTalking, legs()[0].State)
	require.False(t, h.e.Hold(ctx, "megafon", acct, "nope", "101", true), "no such call")

	h.send(mk("tr", callevent.Transferred, "b", "201", 10*time.Second))
	require.Equal(t, []match.Leg{{ID: "a", Extension: "101", State: match.LegTransferred}, {ID: "b", Extension: "201", State: match.LegRinging}}, legs())
	h.send(mk("e1", callevent.Ended, "a", "101", 11*time.Second), mk("an2", callevent.Answered, "b", "201", 12*time.Second))
	require.Equal(t, []match.Leg{{ID: "a", Extension: "101", State: match.LegTransferred}, {ID: "b", Extension: "201", State: match.LegTalking}}, legs())

	var s match.LegState
	for _, want := range []match.LegState{match.LegOnHold, match.LegTransferred} {
		b, err := want.MarshalText()
		require.NoError(t, err)
		require.NoError(t, s.UnmarshalText(b))
		require.Equal(t, want, s)
	}
}

// TestOnLiveCall: WithOnLiveCall sees the view of a call after each of
// its events and each Hold, in order, and nothing of an internal call;
// the decision that ends the call comes to WithOnDecision after the last
// view.
func TestOnLiveCall(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string // "view: legs" and "decided"
	h := newHarness(t, match.DefaultRule(),
		match.WithOnLiveCall(func(_ context.Context, c match.LiveCall) {
			mu.Lock()
			defer mu.Unlock()
			var b strings.Builder
			b.WriteString(c.CallID + ":")
			for _, l := range c.Legs {
				b.WriteString(" " + l.Extension + "=" + l.State.String())
			}
			seen = append(seen, b.String())
		}),
		match.WithOnDecision(func(_ context.Context, d match.Decision) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, "decided "+d.Call.CallID)
		}))
	mk := legEvent("ol1")
	h.send(mk("r1", callevent.Ringing, "a", "101", 0), mk("r2", callevent.Ringing, "b", "201", 0),
		mk("an", callevent.Answered, "a", "101", time.Second))
	require.True(t, h.e.Hold(context.Background(), "megafon", acct, "ol1", "101", true))
	h.send(callevent.Event{ID: "in1", Provider: "megafon", Account: acct, Kind: callevent.Ringing, Direction: callevent.Internal,
		CallID: "int1", Extension: "101", ClientPhone: "102", At: t0})
	e1, e2 := mk("e1", callevent.Ended, "a", "101", time.Minute), mk("e2", callevent.Ended, "b", "201", time.Second)
	e1.Status = callevent.Success
	h.send(e2, e1)
	h.clock.Advance(match.DefaultGracePeriod)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{
		"ol1: 101=ringing",
		"ol1: 101=ringing 201=ringing",
		"ol1: 101=talking 201=ringing",
		"ol1: 101=on_hold 201=ringing",
		"ol1: 101=on_hold 201=ended",
		"ol1: 101=ended 201=ended",
		"decided ol1",
	}, seen, "no view of the internal call")
}

// TestLiveCallFinalRecordEndsLeg: a leg's final record ends it although
// it is dated when the call started, before the answer (MegaFon's
// history, Telphin's hangup with the call's start).
func TestLiveCallFinalRecordEndsLeg(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule())
	mk := legEvent("fr1")
	done := mk("c1", callevent.Completed, "a", "101", 0)
	done.Status, done.AnsweredAt, done.EndedAt = callevent.Success, t0.Add(5*time.Second), t0.Add(time.Minute)
	h.send(mk("r1", callevent.Ringing, "a", "101", 0), mk("an", callevent.Answered, "a", "101", 5*time.Second), done)
	c, ok := h.e.LiveCall("megafon", acct, "fr1")
	require.True(t, ok, "settling")
	require.Equal(t, []match.Leg{{ID: "a", Extension: "101", State: match.LegEnded}}, c.Legs)
}

// TestLiveCallCallWideEndEndsLegs: an end or final record that names no
// leg (a provider's hangup of the whole call) ends every leg but one
// transferred away, so no leg shows talking after the call is over.
func TestLiveCallCallWideEndEndsLegs(t *testing.T) {
	t.Parallel()
	for _, k := range []callevent.Kind{callevent.Ended, callevent.Completed} {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, match.DefaultRule())
			callID := "cw-" + k.String()
			mk := legEvent(callID)
			end := mk("end", k, "", "", time.Minute)
			if k == callevent.Completed {
				end.At = t0 // a final record is dated when the call started
			}
			end.Status, end.AnsweredAt, end.EndedAt = callevent.Success, t0.Add(5*time.Second), t0.Add(time.Minute)
			h.send(mk("r1", callevent.Ringing, "a", "101", 0), mk("an", callevent.Answered, "a", "101", 5*time.Second))
			c, ok := h.e.LiveCall("megafon", acct, callID)
			require.True(t, ok)
			require.Equal(t, match.LegTalking, c.Legs[0].State)
			h.send(end)
			c, ok = h.e.LiveCall("megafon", acct, callID)
			require.True(t, ok, "settling")
			require.Equal(t, []match.Leg{{ID: "a", Extension: "101", State: match.LegEnded}}, c.Legs)
		})
	}
}
