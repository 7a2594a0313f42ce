package match_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/stretchr/testify/require"
)

// TestCapCountsOnlyUndecidedCalls: at a cap of 2 calls, a stream of 10
// calls that are each decided before the next one comes is taken whole
// (decided calls do not count), the memory of decided calls stays
// bounded, and a redelivered event of a call whose full record was dropped
// decides nothing twice.
func TestCapCountsOnlyUndecidedCalls(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.Leads.InboundAnswered = match.LeadCase{Create: true}
	h := newHarness(t, rule, match.WithLimits(match.Limits{MaxCalls: 2}))
	var all [][]callevent.Event
	const n = 2 + 2*match.DecidedMarksPerCall // full records and marks
	for i := range n {
		c := callSpec{id: fmt.Sprint("d", i), dir: callevent.Inbound, phone: fmt.Sprintf("7916555%04d", i), ext: "101", status: callevent.Success}
		all = append(all, c.events())
		h.send(all[i]...)
	}
	require.Len(t, h.s.Calls(), n)
	active, decided, marks, _ := h.e.Memory()
	require.Equal(t, 2, active, "full records of at most the cap of decided calls")
	require.Equal(t, 2, decided)
	require.Equal(t, n-2, marks)

	before := h.state()
	for _, evs := range all {
		h.send(evs...) // every event redelivered
	}
	require.Equal(t, before, h.state(), "no call decided twice")

	// After the retention the marks are gone too.
	h.clock.Advance(match.DefaultRetention)
	h.send(callSpec{id: "later", dir: callevent.Inbound, phone: known, ring: "101", status: callevent.Missed}.events()...)
	_, _, marks, _ = h.e.Memory()
	require.Zero(t, marks)
}

// TestCapRefusesNewCallsWhenFull: with 2 calls in progress and a cap of
// 2, an event of a new call gets ErrOverloaded (which suggests a
// Retry-After), events of the calls in progress are still taken, and once
// one of them is decided a new call is taken.
func TestCapRefusesNewCallsWhenFull(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule(), match.WithLimits(match.Limits{MaxCalls: 2}))
	a := callSpec{id: "a", dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}.events()
	b := callSpec{id: "b", dir: callevent.Inbound, phone: unknownB, ext: "101", status: callevent.Success}.events()
	c := callSpec{id: "c", dir: callevent.Inbound, phone: known, ext: "101", status: callevent.Success}.events()
	h.send(a[0], b[0])
	err := h.e.HandleEvent(t.Context(), c[0])
	require.ErrorIs(t, err, match.ErrOverloaded)
	var ra interface{ RetryAfter() time.Duration }
	require.True(t, errors.As(err, &ra))
	require.Positive(t, ra.RetryAfter())
	require.ErrorIs(t, h.e.Admit(t.Context(), c[0]), match.ErrOverloaded, "Admit refuses it too")

	h.send(a[1:]...) // call a completes and is decided
	require.Len(t, h.s.Calls(), 1)
	h.send(c...)
	require.Len(t, h.s.Calls(), 2)
}

// TestCapMarksFull: when the memory of decided calls is full, new calls are
// refused rather than forgetting a decided call early.
func TestCapMarksFull(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.Rule{}, match.WithLimits(match.Limits{MaxCalls: 1}))
	n := 0
	var err error
	for ; n < 100 && err == nil; n++ {
		evs := callSpec{id: fmt.Sprint("m", n), dir: callevent.Inbound, phone: known, ext: "101", status: callevent.Success}.events()
		for _, ev := range evs {
			if err = h.e.HandleEvent(t.Context(), ev); err != nil {
				break
			}
		}
	}
	require.ErrorIs(t, err, match.ErrOverloaded)
	require.Equal(t, 1+match.DecidedMarksPerCall+1, n, "one full record and 4 marks, then the next call is refused")
	h.clock.Advance(match.DefaultRetention)
	h.send(callSpec{id: "next", dir: callevent.Inbound, phone: known, ext: "101", status: callevent.Success}.events()...)
}

// TestAdmitReserves: Admit reserves room for a new call, so the event a
// queue accepted is taken when it is delivered; a reservation that never
// gets its event is dropped after the idle timeout.
func TestAdmitReserves(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule(), match.WithLimits(match.Limits{Idle: time.Hour, MaxCalls: 1}))
	a := callSpec{id: "a", dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}.events()
	b := callSpec{id: "b", dir: callevent.Inbound, phone: unknownB, ext: "101", status: callevent.Success}.events()
	require.NoError(t, h.e.Admit(t.Context(), a[0]))
	require.NoError(t, h.e.Admit(t.Context(), a[0]), "admitting a known call again is fine")
	require.ErrorIs(t, h.e.Admit(t.Context(), b[0]), match.ErrOverloaded, "the room is taken by a")
	require.ErrorIs(t, h.e.HandleEvent(t.Context(), b[0]), match.ErrOverloaded)
	require.NoError(t, h.e.Admit(t.Context(), callevent.Event{ID: "r", Kind: callevent.Rated}), "ignored events need no room")

	h.clock.Advance(time.Hour) // a's event never came
	active, _, _, _ := h.e.Memory()
	require.Zero(t, active)
	require.Empty(t, h.s.Calls(), "an empty reservation decides nothing")
	h.send(b...)
	require.Len(t, h.s.Calls(), 1)
}

// TestCloseDecidesWaitingCalls: Close decides every call whose decision
// only waits for time — a Finaz call waiting its provider idle timeout, a
// call with legs in its settle wait, a call in its grace period — and
// leaves a call still ringing alone.
func TestCloseDecidesWaitingCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule(), match.WithProviderIdle("finaz", 5*time.Second))
	finaz := callevent.Event{ID: "f1", Provider: "finaz", Account: acct, Kind: callevent.Answered, Direction: callevent.Outbound,
		CallID: "f1", ClientPhone: unknownA, Extension: "101", At: t0, AnsweredAt: t0}
	h.send(finaz)
	legged := megafonLike()
	for i := range legged {
		legged[i].CallID, legged[i].ID, legged[i].ClientPhone = "leg", "leg-"+legged[i].ID, known
	}
	done := callevent.Event{ID: "leg-done", Provider: "megafon", Account: acct, Kind: callevent.Completed, Direction: callevent.Inbound,
		CallID: "leg", LegID: "b", ClientPhone: known, LinePhone: line, Extension: "201", Status: callevent.Success,
		At: t0, AnsweredAt: t0.Add(12 * time.Second), EndedAt: t0.Add(70 * time.Second)}
	h.send(append(legged, done)...) // completed: waits DefaultSettle
	grace := megafonLike()          // ended, no Completed: waits the grace period
	for i := range grace {
		grace[i].ClientPhone = unknownB
	}
	h.send(grace...)
	ringing := callSpec{id: "ring", dir: callevent.Inbound, phone: known, ring: "101"}.events()[0]
	h.send(ringing)
	require.Empty(t, h.s.Calls())

	require.NoError(t, h.e.Close(t.Context()))
	got := map[string]bool{}
	for _, c := range h.s.Calls() {
		got[c.CallID] = true
	}
	require.Equal(t, map[string]bool{"f1": true, "leg": true, "mf1": true}, got)
	require.Zero(t, h.clock.Pending(), "no timer left")
}

// TestCloseReportsFailedDecisions: a decision that fails at Close is
// returned.
func TestCloseReportsFailedDecisions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule())
	fs := &failingStore{Store: h.s, fail: map[string]bool{"LogCall": true}}
	e, err := match.NewEngine(fs, match.WithClock(h.clock), match.WithProviderIdle("finaz", 5*time.Second))
	require.NoError(t, err)
	require.NoError(t, e.HandleEvent(t.Context(), callevent.Event{ID: "f1", Provider: "finaz", Account: acct, Kind: callevent.Answered,
		Direction: callevent.Outbound, CallID: "f1", ClientPhone: unknownA, Extension: "101", At: t0, AnsweredAt: t0}))
	require.ErrorIs(t, e.Close(t.Context()), errStoreDown)
	require.Empty(t, h.s.Calls())
}
