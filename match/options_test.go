package match_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// TestTimingZeroFieldsKeepDefaults: WithTiming changes only the fields it
// sets — here the grace period — and the late-binding window keeps its
// default.
func TestTimingZeroFieldsKeepDefaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.Rule{}, match.WithTiming(match.Timing{Grace: time.Minute}))
	h.send(megafonLike()...) // Ended, no Completed: waits the grace period
	h.clock.Advance(match.DefaultGracePeriod)
	require.Empty(t, h.s.Calls(), "the default grace period no longer applies")
	h.clock.Advance(time.Minute - match.DefaultGracePeriod)
	require.Len(t, h.s.Calls(), 1, "decided after the grace period set")
	require.Equal(t, "", h.s.Calls()[0].ClientID, "Rule{} creates no client: the call waits")

	h.clock.Advance(match.DefaultLateBindingWindow - time.Second)
	require.NoError(t, h.s.AddClients(match.Client{ID: "m1", Account: acct, Phone: unknownA}))
	require.NoError(t, h.e.ClientCreated(t.Context(), acct, unknownA))
	require.Equal(t, "m1", h.s.Calls()[0].ClientID, "the window is still the default")
}

// TestLimitsZeroFieldsKeepDefaults: WithLimits with only MaxCalls keeps the
// default idle timeout.
func TestLimitsZeroFieldsKeepDefaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule(), match.WithLimits(match.Limits{MaxCalls: 1}))
	h.send(callSpec{id: "r", dir: callevent.Inbound, phone: unknownA, ext: "101"}.events()[0]) // rings, never ends
	h.clock.Advance(match.DefaultIdleTimeout - time.Second)
	require.Empty(t, h.s.Calls())
	h.clock.Advance(time.Second)
	require.Len(t, h.s.Calls(), 1, "decided after the default idle timeout")
}

func TestTimingAndLimitsRejectNegatives(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule())
	for name, opt := range map[string]match.Option{
		"grace":     match.WithTiming(match.Timing{Grace: -time.Second}),
		"window":    match.WithTiming(match.Timing{Window: -time.Second}),
		"retention": match.WithTiming(match.Timing{Retention: -time.Second}),
		"idle":      match.WithLimits(match.Limits{Idle: -time.Second}),
		"max calls": match.WithLimits(match.Limits{MaxCalls: -1}),
	} {
		_, err := match.NewEngine(h.s, opt)
		require.ErrorContains(t, err, "negative", name)
	}
}
