// Package matchtest helps test code built on package match: a Clock that
// moves only when told to, so grace periods, the settle wait, the
// late-binding window and delayed notifications run without sleeping.
//
//	clock := matchtest.NewClock(time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))
//	store, _ := memstore.New(memstore.WithClock(clock)) // CreatedAt from the same clock
//	engine, _ := match.NewEngine(store, match.WithClock(clock))
//	// … deliver a call's events …
//	clock.Advance(match.DefaultSettle) // the engine acts on the call now
package matchtest

import (
	"slices"
	"sync"
	"time"
)

// Clock is a match.Clock whose time moves only in Advance. Timers that
// fall due run synchronously inside Advance, in time order, each seeing
// Now at its own due time. It is safe for concurrent use. (It does not
// import match, so match's own tests use it too.)
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

type timer struct {
	c    *Clock
	at   time.Time
	f    func()
	done bool
}

// NewClock returns a Clock that reads start until it is advanced.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f for when the clock has been advanced by d. The
// result is a match.Timer.
func (c *Clock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop cancels the timer; it reports false if it already ran or was
// stopped.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves the clock by d, running every timer that falls due, also
// timers those timers schedule within d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool { return t.done })
		var next *timer
		for _, t := range c.timers {
			if !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		next.done = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.now = target
	c.mu.Unlock()
}

// Jump moves the clock by d at once, as a machine waking from sleep: the
// timers due by then run once each, in time order, all seeing the new
// time, and a timer one of them schedules falls due after it. (Advance
// would run a one-minute periodic timer 1,440 times over a day.)
func (c *Clock) Jump(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	for {
		c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool { return t.done })
		var next *timer
		for _, t := range c.timers {
			if !t.at.After(c.now) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		next.done = true
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.mu.Unlock()
}

// Pending counts the timers that have neither run nor been stopped, e.g.
// to check that an engine left none behind after Close.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}
