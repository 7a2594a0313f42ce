package match

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/stretchr/testify/require"
)

// fakeClock is a Clock that moves only when Advance is called; due timers
// run synchronously inside Advance, in time order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	f    func()
	done bool
}

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves the clock by d, running every timer that falls due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool { return t.done })
		var next *fakeTimer
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

// pending counts timers not yet run or stopped.
func (c *fakeClock) pending() int {
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

const (
	acct     = "acc"
	line     = "74951234567"
	known    = "79161111111" // client k1, responsible u2
	unknownA = "79162222222"
	unknownB = "79163333333"
)

func employees() []Employee {
	return []Employee{
		{ID: "u1", Name: "Anna", Login: "anna", Email: "anna@example.com", Extensions: []string{"101", "102"}},
		{ID: "u2", Name: "Boris", Login: "boris", Email: "boris@example.com", Extensions: []string{"201"}},
		{ID: "u3", Name: "Vera", Login: "vera", Extensions: []string{"301"}, Admin: true},
		{ID: "u4", Name: "Gleb", Login: "gleb", Extensions: []string{"401"}},
	}
}

type harness struct {
	t     *testing.T
	e     *Engine
	s     *MemoryStore
	clock *fakeClock
}

// newHarness builds an engine over a memory store holding client k1 and
// the employees, with rule for account acc.
func newHarness(t *testing.T, rule Rule, opts ...Option) *harness {
	t.Helper()
	clock := newFakeClock()
	s, err := NewMemoryStore("RU", WithMemoryClock(clock.Now))
	require.NoError(t, err)
	s.SetEmployees(acct, employees()...)
	require.NoError(t, s.AddClients(Client{ID: "k1", Account: acct, Name: "Иван Петров", Phone: "+7 916 111-11-11", Responsible: "u2"}))
	opts = append([]Option{WithRules(RuleSet{Default: Rules{Rule: rule}}), WithClock(clock)}, opts...)
	e, err := NewEngine(s, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return &harness{t: t, e: e, s: s, clock: clock}
}

func (h *harness) send(evs ...callevent.Event) {
	h.t.Helper()
	for _, ev := range evs {
		require.NoError(h.t, h.e.HandleEvent(context.Background(), ev))
	}
}

// state is everything the engine wrote, for comparison.
type state struct {
	Clients []Client
	Leads   []Lead
	Calls   []CallRecord
	Notes   []Notification
}

func (h *harness) state() state {
	return state{Clients: h.s.Clients(), Leads: h.s.Leads(), Calls: h.s.Calls(), Notes: h.s.Notifications()}
}

// callSpec describes a realistic call as a Telphin-like provider reports
// it: Ringing (and Answered) legs, then one Completed record.
type callSpec struct {
	id     string
	dir    callevent.Direction
	phone  string
	line   string
	ext    string // who answered (inbound) or called (outbound); "" = nobody answered
	ring   string // extension that rang for an unanswered inbound call
	status callevent.Status
	at     time.Time
}

// events returns the call's events: Ringing, Answered (if answered),
// Completed. Wait 20 s, talk 95 s.
func (c callSpec) events() []callevent.Event {
	at := c.at
	if at.IsZero() {
		at = t0
	}
	line := c.line
	if line == "" {
		line = "74951234567"
	}
	base := callevent.Event{Provider: "telphin", Account: acct, Direction: c.dir, CallID: c.id,
		ClientPhone: c.phone, LinePhone: line}
	mk := func(n int, k callevent.Kind, at time.Time) callevent.Event {
		e := base
		e.ID = c.id + "-" + strconv.Itoa(n)
		e.Kind, e.At = k, at
		return e
	}
	ringExt := c.ext
	if ringExt == "" {
		ringExt = c.ring
	}
	r := mk(1, callevent.Ringing, at)
	r.Extension = ringExt
	evs := []callevent.Event{r}
	done := mk(3, callevent.Completed, at)
	done.Status = c.status
	done.Wait = 20 * time.Second
	if c.status == callevent.Success {
		a := mk(2, callevent.Answered, at.Add(20*time.Second))
		a.Extension = c.ext
		evs = append(evs, a)
		done.AnsweredAt = a.At
		done.Duration = 95 * time.Second
		done.EndedAt = a.At.Add(done.Duration)
		done.Extension = c.ext
		done.RecordingURL = "https://rec.example.com/" + c.id + ".mp3"
	} else {
		done.EndedAt = at.Add(done.Wait)
		if c.dir == callevent.Outbound {
			done.Extension = c.ext
		}
	}
	return append(evs, done)
}
