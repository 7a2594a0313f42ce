package match_test

import (
	"context"
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
