package match_test

import (
	"context"
	"errors"
	"github.com/callbridge/callbridge/match/memstore"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/stretchr/testify/require"
)

// TestResumeRunsWaitsFromArrival: a resumed event's waits run from when it
// arrived, not from the restart, so a call whose grace period passed while
// no engine ran is decided at once, and one that has some of it left waits
// only that.
func TestResumeRunsWaitsFromArrival(t *testing.T) {
	var decided []match.Decision
	h := newHarness(t, match.DefaultRule(), match.WithTiming(match.Timing{Grace: time.Minute}),
		match.WithOnDecision(func(_ context.Context, d match.Decision) { decided = append(decided, d) }))
	ctx := context.Background()
	ended := func(id string) callevent.Event {
		return callevent.Event{ID: id + "-e", Provider: "telphin", Account: acct, Kind: callevent.Ended,
			Direction: callevent.Inbound, Status: callevent.Success, CallID: id, ClientPhone: known,
			LinePhone: line, Extension: "101", At: t0, AnsweredAt: t0.Add(5 * time.Second), EndedAt: t0.Add(time.Minute)}
	}
	now := h.clock.Now()
	old, recent := ended("old"), ended("recent")
	require.NoError(t, h.e.Resume(ctx, old, now.Add(-2*time.Minute)))     // grace over while down
	require.NoError(t, h.e.Resume(ctx, recent, now.Add(-40*time.Second))) // 20 s of it left
	require.True(t, h.e.Undecided(old), "a resumed call is in progress until its wait is run")
	h.clock.Advance(0)
	require.Len(t, decided, 1, "the call whose grace passed is decided at once")
	require.Equal(t, "old", decided[0].Call.CallID)
	require.False(t, h.e.Undecided(old))
	h.clock.Advance(19 * time.Second)
	require.Len(t, decided, 1, "the other waits out the rest of its grace period")
	require.True(t, h.e.Undecided(recent))
	h.clock.Advance(time.Second)
	require.Len(t, decided, 2)
	require.Equal(t, "recent", decided[1].Call.CallID)

	// The grace period runs from the first end heard, also when the
	// call's next event is live.
	late := ended("late")
	require.NoError(t, h.e.Resume(ctx, late, h.clock.Now().Add(-50*time.Second)))
	late2 := late
	late2.ID, late2.RecordingURL = "late-r", "https://rec.example.com/late.mp3"
	h.send(late2)
	h.clock.Advance(9 * time.Second)
	require.Len(t, decided, 2)
	h.clock.Advance(time.Second)
	require.Len(t, decided, 3)
	require.Equal(t, "https://rec.example.com/late.mp3", decided[2].Call.RecordingURL)

	// Each call is decided once, whatever is resumed or redelivered later.
	require.NoError(t, h.e.Resume(ctx, old, now.Add(-2*time.Minute)))
	h.send(recent)
	h.clock.Advance(time.Hour)
	require.Len(t, decided, 3)
	require.False(t, h.e.Undecided(callevent.Event{Provider: "telphin", Account: acct, CallID: "never"}))
}

// TestCloseLeavesResumedCalls: Close does not decide a waiting call all of
// whose events came through Resume (a durable inbox holds them for the
// next engine, which then hears the call's later events too), and decides
// one that also had an event through HandleEvent, which nothing holds.
func TestCloseLeavesResumedCalls(t *testing.T) {
	var decided []string
	h := newHarness(t, match.DefaultRule(),
		match.WithOnDecision(func(_ context.Context, d match.Decision) { decided = append(decided, d.Call.CallID) }))
	ctx := context.Background()
	ended := func(id string) callevent.Event { // in its grace period: waits for Completed
		return callevent.Event{ID: id + "-e", Provider: "telphin", Account: acct, Kind: callevent.Ended,
			Direction: callevent.Inbound, Status: callevent.Success, CallID: id, ClientPhone: known,
			LinePhone: line, Extension: "101", At: t0, AnsweredAt: t0.Add(5 * time.Second), EndedAt: t0.Add(time.Minute)}
	}
	held, mixed, direct := ended("held"), ended("mixed"), ended("direct")
	now := h.clock.Now()
	require.NoError(t, h.e.Resume(ctx, held, now))
	require.NoError(t, h.e.Resume(ctx, mixed, now))
	rec := mixed
	rec.ID, rec.RecordingURL = "mixed-r", "https://rec.example.com/mixed.mp3"
	h.send(rec, direct)
	require.Empty(t, decided)

	require.NoError(t, h.e.Close(ctx))
	require.ElementsMatch(t, []string{"mixed", "direct"}, decided)
	require.True(t, h.e.Undecided(held), "left to the next engine")
}

// TestAwaitResumesLateBinding: a call decided without a client before a
// restart waits again, from the call's end, for a client with its phone:
// one made within the window gets the call, one made after it does not;
// the call is not decided again.
func TestAwaitResumesLateBinding(t *testing.T) {
	rule := match.Rule{} // creating clients is off: unknown numbers wait
	h := newHarness(t, rule, match.WithTiming(match.Timing{Window: 10 * time.Minute}))
	ctx := context.Background()
	c1 := callSpec{id: "w1", dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed, at: t0}
	c2 := callSpec{id: "w2", dir: callevent.Inbound, phone: unknownB, ring: "101", status: callevent.Missed, at: t0}
	h.send(append(c1.events(), c2.events()...)...)
	calls := h.s.Calls()
	require.Len(t, calls, 2)
	require.Empty(t, calls[0].ClientID)

	// The restart: a new engine on the same store, 4 minutes after the
	// calls ended (they ended at t0+20s).
	h.clock.Advance(4 * time.Minute)
	var decided []match.Decision
	e2, err := match.NewEngine(h.s, match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}), match.WithClock(h.clock),
		match.WithTiming(match.Timing{Window: 10 * time.Minute}),
		match.WithOnDecision(func(_ context.Context, d match.Decision) { decided = append(decided, d) }))
	require.NoError(t, err)
	t.Cleanup(func() { _ = e2.Close(ctx) })
	for _, rec := range calls {
		require.NoError(t, e2.Await(ctx, rec))
	}
	// A client for the first number appears within the window, one for
	// the second after it.
	require.NoError(t, h.s.AddClients(match.Client{ID: "na", Account: acct, Name: "A", Phone: unknownA}))
	h.clock.Advance(7 * time.Minute) // both windows close (the calls ended at t0+20s): the first is bound
	require.NoError(t, h.s.AddClients(match.Client{ID: "nb", Account: acct, Name: "B", Phone: unknownB}))
	h.clock.Advance(time.Minute)
	byID := map[string]match.CallRecord{}
	for _, rec := range h.s.Calls() {
		byID[rec.CallID] = rec
	}
	require.Equal(t, "na", byID["w1"].ClientID, "bound within the resumed window")
	require.Empty(t, byID["w2"].ClientID, "its window closed before its client appeared")
	require.Empty(t, decided, "an awaited call is not decided again")

	// A redelivered event of an awaited call changes nothing.
	require.NoError(t, e2.HandleEvent(ctx, c1.events()[0]))
	require.Empty(t, decided)
	require.Len(t, h.s.Calls(), 2)
}

// flakyNotifier fails the first fail notifications of employee id.
type flakyNotifier struct {
	*memstore.Store
	id   string
	fail int
}

func (f *flakyNotifier) Notify(ctx context.Context, n match.Notification) error {
	if n.Employee == f.id && f.fail > 0 {
		f.fail--
		return errors.New("notifier down")
	}
	return f.Store.Notify(ctx, n)
}

// notesFor counts the notifications of employee id.
func notesFor(s *memstore.Store, id string) int {
	n := 0
	for _, x := range s.Notifications() {
		if x.Employee == id {
			n++
		}
	}
	return n
}

// TestDelayedNotificationSettlesTheCall: a call with notifications delayed
// by NotifyRule.Delay is reported decided (WithOnDecision, which settles it in a
// durable inbox) only once they are stored; one that fails is tried again.
func TestDelayedNotificationSettlesTheCall(t *testing.T) {
	rule := match.DefaultRule()
	rule.Notify = match.NotifyRule{Extra: []string{"u4"}, Delay: match.Duration(5 * time.Minute)}
	var decided []match.Decision
	h := newHarness(t, rule, match.WithOnDecision(func(_ context.Context, d match.Decision) { decided = append(decided, d) }))
	fn := &flakyNotifier{Store: h.s, id: "u4", fail: 2}
	e, err := match.NewEngine(fn, match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}), match.WithClock(h.clock),
		match.WithOnDecision(func(_ context.Context, d match.Decision) { decided = append(decided, d) }))
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	for _, ev := range (callSpec{id: "dm", dir: callevent.Inbound, phone: known, ring: "101", status: callevent.Missed}).events() {
		require.NoError(t, e.HandleEvent(t.Context(), ev))
	}
	require.Len(t, h.s.Calls(), 1, "decided at its end")
	require.Empty(t, decided, "not reported before its delayed notification is stored")
	h.clock.Advance(5 * time.Minute) // the first try fails
	require.Zero(t, notesFor(h.s, "u4"))
	h.clock.Advance(time.Second) // so does the retry a second later
	require.Zero(t, notesFor(h.s, "u4"))
	require.Empty(t, decided)
	h.clock.Advance(2 * time.Second) // the next, two seconds after that, is stored
	require.Equal(t, 1, notesFor(h.s, "u4"))
	require.Len(t, decided, 1)
	require.Equal(t, "dm", decided[0].Call.CallID)
	h.clock.Advance(time.Hour)
	require.Len(t, decided, 1)
	require.Equal(t, 1, notesFor(h.s, "u4"))
}

// TestDelayedNotificationSurvivesRestart: an engine closed before a
// delayed notification was sent does not report the call decided, so a
// durable inbox resumes its events; the next engine decides it again and
// sends the notification when it was due, once.
func TestDelayedNotificationSurvivesRestart(t *testing.T) {
	rule := match.DefaultRule()
	rule.Notify = match.NotifyRule{Extra: []string{"u4"}, Delay: match.Duration(5 * time.Minute)}
	var decided []match.Decision
	onDecision := match.WithOnDecision(func(_ context.Context, d match.Decision) { decided = append(decided, d) })
	h := newHarness(t, rule, onDecision)
	ctx := context.Background()
	evs := (callSpec{id: "dr", dir: callevent.Inbound, phone: known, ring: "101", status: callevent.Missed}).events()
	arrived := h.clock.Now()
	h.send(evs...)
	require.Len(t, h.s.Calls(), 1, "decided at its end")
	h.clock.Advance(2 * time.Minute)
	require.NoError(t, h.e.Close(ctx))
	require.Empty(t, decided, "closed before the delayed notification: not settled")
	require.Zero(t, notesFor(h.s, "u4"))

	// The restart, a minute later: the inbox hands the held events over
	// with the time they arrived.
	h.clock.Advance(time.Minute)
	e2, err := match.NewEngine(h.s, match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}), match.WithClock(h.clock), onDecision)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e2.Close(ctx) })
	for _, ev := range evs {
		require.NoError(t, e2.Resume(ctx, ev, arrived))
	}
	h.clock.Advance(0)
	require.Len(t, h.s.Calls(), 1, "decided again, into the same call row")
	sent := arrived.Add(5 * time.Minute) // when the first engine would have sent it
	h.clock.Advance(sent.Sub(h.clock.Now()) - time.Second)
	require.Zero(t, notesFor(h.s, "u4"), "not before it was due")
	h.clock.Advance(time.Second)
	require.Equal(t, 1, notesFor(h.s, "u4"))
	require.Len(t, decided, 1)
	h.clock.Advance(time.Hour)
	require.Equal(t, 1, notesFor(h.s, "u4"))
	require.Len(t, decided, 1)
}
