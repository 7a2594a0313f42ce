package matchtest_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
)

var _ match.Clock = (*matchtest.Clock)(nil)

func TestClock(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	c := matchtest.NewClock(t0)
	var got []string
	c.AfterFunc(2*time.Second, func() {
		got = append(got, "b@"+c.Now().Sub(t0).String())
		// A timer scheduled by a timer runs in the same Advance if due.
		c.AfterFunc(time.Second, func() { got = append(got, "d@"+c.Now().Sub(t0).String()) })
	})
	c.AfterFunc(time.Second, func() { got = append(got, "a@"+c.Now().Sub(t0).String()) })
	stopped := c.AfterFunc(1500*time.Millisecond, func() { got = append(got, "never") })
	require.True(t, stopped.Stop())
	require.False(t, stopped.Stop())
	late := c.AfterFunc(time.Hour, func() { got = append(got, "late") })
	require.Equal(t, 3, c.Pending(), "the stopped timer is not pending")

	c.Advance(3 * time.Second)
	require.Equal(t, 1, c.Pending(), "only the late timer")
	require.Equal(t, []string{"a@1s", "b@2s", "d@3s"}, got)
	require.Equal(t, t0.Add(3*time.Second), c.Now())
	require.True(t, late.Stop(), "not due yet")
}

// TestClockJump: a jump runs each timer due by its end once, in time
// order, at the new time; a periodic timer re-armed meanwhile waits for
// the next jump; a timer not due and a stopped one do not run.
func TestClockJump(t *testing.T) {
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	c := matchtest.NewClock(start)
	var ran []string
	var tick func()
	tick = func() {
		ran = append(ran, "tick "+c.Now().Format("15:04"))
		c.AfterFunc(time.Minute, tick)
	}
	c.AfterFunc(time.Minute, tick)
	c.AfterFunc(30*time.Second, func() { ran = append(ran, "early "+c.Now().Format("15:04")) })
	c.AfterFunc(2*time.Hour, func() { ran = append(ran, "late") })
	c.AfterFunc(time.Second, func() { ran = append(ran, "stopped") }).Stop()
	c.Jump(time.Hour)
	if want := []string{"early 10:00", "tick 10:00"}; !slices.Equal(ran, want) {
		t.Fatalf("after an hour's jump: %v, want %v", ran, want)
	}
	c.Jump(time.Minute)
	if len(ran) != 3 || ran[2] != "tick 10:01" {
		t.Fatalf("after a minute more: %v", ran)
	}
	if got := c.Now(); !got.Equal(start.Add(time.Hour + time.Minute)) {
		t.Fatalf("now %v", got)
	}
}
