package match_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

const (
	acct     = "acc"
	line     = "74951234567"
	known    = "79161111111" // client k1, responsible u2
	unknownA = "79162222222"
	unknownB = "79163333333"
)

func employees() []match.Employee {
	return []match.Employee{
		{ID: "u1", Name: "Anna", Login: "anna", Email: "anna@example.com", Extensions: []string{"101", "102"}},
		{ID: "u2", Name: "Boris", Login: "boris", Email: "boris@example.com", Extensions: []string{"201"}},
		{ID: "u3", Name: "Vera", Login: "vera", Extensions: []string{"301"}, Admin: true},
		{ID: "u4", Name: "Gleb", Login: "gleb", Extensions: []string{"401"}},
	}
}

type harness struct {
	t     *testing.T
	e     *match.Engine
	s     *memstore.Store
	clock *matchtest.Clock
}

// newHarness builds an engine over a memory store holding client k1 and
// the employees, with rule for account acc.
func newHarness(t *testing.T, rule match.Rule, opts ...match.Option) *harness {
	t.Helper()
	clock := matchtest.NewClock(t0)
	s, err := memstore.New(memstore.WithClock(clock))
	require.NoError(t, err)
	s.SetEmployees(acct, employees()...)
	require.NoError(t, s.AddClients(match.Client{ID: "k1", Account: acct, Name: "Иван Петров", Phone: "+7 916 111-11-11", Responsible: "u2"}))
	opts = append([]match.Option{match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}), match.WithClock(clock)}, opts...)
	e, err := match.NewEngine(s, opts...)
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
	Clients []match.Client
	Leads   []match.Lead
	Calls   []match.CallRecord
	Notes   []match.Notification
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
