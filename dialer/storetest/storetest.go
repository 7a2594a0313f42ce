// Package storetest is the conformance suite of dialer.Store: the same
// tests run against every implementation (dialer.MemStore, sqlstore.DB
// on SQLite and PostgreSQL), so a restart resumes a campaign the same way
// whichever store keeps it.
//
//	func TestDialerStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) dialer.Store { return newStore(t) })
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
)

// at is the suite's time: stored to the nanosecond, read back in UTC.
var at = time.Date(2025, 3, 14, 9, 0, 0, 123456789, time.UTC)

// Run runs the suite; newStore returns an empty store for each test.
func Run(t *testing.T, newStore func(t *testing.T) dialer.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, s dialer.Store)
	}{
		{"Campaigns", testCampaigns},
		{"Targets", testTargets},
		{"Attempts", testAttempts},
		{"AttemptOnce", testAttemptOnce},
		{"NotFound", testNotFound},
		{"Numbers", testNumbers},
		{"ManyTargets", testManyTargets},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, newStore(t))
		})
	}
}

var ctx = context.Background()

func campaign(id string) dialer.Campaign {
	return dialer.Campaign{
		ID: id, Name: "Весна 2025", Account: "acme", Provider: "telphin", Mode: dialer.Power,
		Agents: []string{"anna", "boris"}, WrapUp: callevent.Seconds(30 * time.Second),
		Retry:    dialer.RetryPolicy{Busy: dialer.Retry{Delay: callevent.Seconds(time.Minute), MaxAttempts: 3}},
		Hours:    dialer.CallingHours{From: 9 * 60, To: 21 * 60, Days: []time.Weekday{time.Monday, time.Friday}},
		TimeZone: "Europe/Moscow", Country: "RU", CallerID: "74950000000", SkipWorked: true,
		State: dialer.Draft, CreatedAt: at, UpdatedAt: at,
	}
}

func targets() []dialer.Target {
	return []dialer.Target{
		{Phone: "79161234567", Entity: "lead", EntityID: "L1", Name: "Анна «Ромашка»; \"ООО\"", TimeZone: "Europe/Moscow",
			Fields: map[string]string{"city": "Москва", "budget": "100 000", "note": "line\tbreak, quote \""}},
		{Phone: "73432000000", Entity: "contact", EntityID: "C2", TimeZone: "Asia/Yekaterinburg"},
		{Phone: "5511987654321", TimeZone: "America/Sao_Paulo"},
	}
}

func fatalIf(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func progress(t *testing.T, s dialer.Store, id string) []dialer.Progress {
	t.Helper()
	var out []dialer.Progress
	fatalIf(t, s.Progress(ctx, id, func(p dialer.Progress) error { out = append(out, p); return nil }))
	return out
}

// testCampaigns: a campaign reads back as created, in creation order;
// its state changes; a taken id is ErrExists.
func testCampaigns(t *testing.T, s dialer.Store) {
	c1, c2 := campaign("c1"), campaign("c2")
	c2.Mode, c2.Agents, c2.Queue, c2.CreatedAt = dialer.Remote, nil, "q7", at.Add(time.Second)
	fatalIf(t, s.CreateCampaign(ctx, c1, targets()))
	fatalIf(t, s.CreateCampaign(ctx, c2, targets()[:1]))
	if err := s.CreateCampaign(ctx, c1, targets()); !errors.Is(err, dialer.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	got, err := s.Campaign(ctx, "c1")
	fatalIf(t, err)
	if diff := cmp.Diff(c1, got); diff != "" {
		t.Fatalf("campaign (-want +got):\n%s", diff)
	}
	all, err := s.Campaigns(ctx)
	fatalIf(t, err)
	if diff := cmp.Diff([]dialer.Campaign{c1, c2}, all); diff != "" {
		t.Fatalf("campaigns (-want +got):\n%s", diff)
	}
	later := at.Add(time.Hour).In(time.FixedZone("MSK", 3*3600))
	fatalIf(t, s.SetState(ctx, "c1", dialer.Running, later))
	got, err = s.Campaign(ctx, "c1")
	fatalIf(t, err)
	if got.State != dialer.Running || !got.UpdatedAt.Equal(later) || got.UpdatedAt.Location() != time.UTC || !got.CreatedAt.Equal(at) {
		t.Fatalf("after SetState: %+v", got)
	}
}

// testTargets: targets read back numbered in order with every text
// intact; progress starts pending and SetProgress changes it (not the
// phone, zone or disposition).
func testTargets(t *testing.T, s dialer.Store) {
	ts := targets()
	ts[0].Number, ts[1].Number = 7, 7 // numbered by the store, whatever they say
	fatalIf(t, s.CreateCampaign(ctx, campaign("c"), ts))
	for i, want := range targets() {
		want.Number = i + 1
		got, err := s.Target(ctx, "c", i+1)
		fatalIf(t, err)
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b map[string]string) bool {
			return len(a) == len(b) && (len(a) == 0 || cmp.Equal(a, b))
		})); diff != "" {
			t.Fatalf("target %d (-want +got):\n%s", i+1, diff)
		}
	}
	want := []dialer.Progress{
		{Target: 1, Phone: "79161234567", TimeZone: "Europe/Moscow", State: dialer.Pending},
		{Target: 2, Phone: "73432000000", TimeZone: "Asia/Yekaterinburg", State: dialer.Pending},
		{Target: 3, Phone: "5511987654321", TimeZone: "America/Sao_Paulo", State: dialer.Pending},
	}
	if diff := cmp.Diff(want, progress(t, s, "c")); diff != "" {
		t.Fatalf("progress (-want +got):\n%s", diff)
	}
	next := at.Add(time.Hour)
	fatalIf(t, s.SetProgress(ctx, "c", dialer.Progress{Target: 2, Phone: "70000000000", TimeZone: "UTC", State: dialer.Pending,
		Attempts: 2, NextAt: next, Outcome: dialer.Busy, Disposition: "ignored"}))
	fatalIf(t, s.SetProgress(ctx, "c", dialer.Progress{Target: 3, State: dialer.Finished, Outcome: dialer.Skipped}))
	want[1].Attempts, want[1].NextAt, want[1].Outcome = 2, next, dialer.Busy
	want[2].State, want[2].Outcome = dialer.Finished, dialer.Skipped
	if diff := cmp.Diff(want, progress(t, s, "c")); diff != "" {
		t.Fatalf("progress after SetProgress (-want +got):\n%s", diff)
	}
	// An error of yield stops Progress and comes back.
	stop := errors.New("stop")
	n := 0
	if err := s.Progress(ctx, "c", func(dialer.Progress) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Progress stopped by yield: %v after %d", err, n)
	}
}

// testAttempts: an attempt is recorded, placed and finished; the target's
// progress follows; the disposition goes on the attempt and the target;
// an answered number is worked by the campaign.
func testAttempts(t *testing.T, s dialer.Store) {
	fatalIf(t, s.CreateCampaign(ctx, campaign("c"), targets()))
	a1 := dialer.Attempt{Campaign: "c", Target: 1, Number: 1, Employee: "anna", Phone: "79161234567", StartedAt: at}
	fatalIf(t, s.BeginAttempt(ctx, a1))
	p := progress(t, s, "c")[0]
	if p.State != dialer.Dialing || p.Attempts != 1 {
		t.Fatalf("progress while dialing: %+v", p)
	}
	fatalIf(t, s.PlacedAttempt(ctx, "c", 1, 1, "call-77"))
	next := at.Add(10 * time.Minute)
	a1.Outcome, a1.EndedAt = dialer.Busy, at.Add(20*time.Second)
	fatalIf(t, s.FinishAttempt(ctx, a1, dialer.Progress{Target: 1, State: dialer.Pending, Attempts: 1, NextAt: next, Outcome: dialer.Busy}))
	a2 := dialer.Attempt{Campaign: "c", Target: 1, Number: 2, Employee: "boris", Phone: "79161234567", StartedAt: next}
	fatalIf(t, s.BeginAttempt(ctx, a2))
	a2.Outcome, a2.EndedAt, a2.CallID = dialer.Answered, next.Add(time.Minute), "call-78"
	fatalIf(t, s.FinishAttempt(ctx, a2, dialer.Progress{Target: 1, State: dialer.Finished, Attempts: 2, Outcome: dialer.Answered}))
	fatalIf(t, s.SetDisposition(ctx, "c", 1, 2, "sale"))
	got, err := s.Attempts(ctx, "c", 1)
	fatalIf(t, err)
	a1.CallID = "call-77"
	a2.Disposition = "sale"
	if diff := cmp.Diff([]dialer.Attempt{a1, a2}, got); diff != "" {
		t.Fatalf("attempts (-want +got):\n%s", diff)
	}
	want := dialer.Progress{Target: 1, Phone: "79161234567", TimeZone: "Europe/Moscow", State: dialer.Finished, Attempts: 2,
		Outcome: dialer.Answered, Disposition: "sale"}
	if diff := cmp.Diff(want, progress(t, s, "c")[0]); diff != "" {
		t.Fatalf("progress (-want +got):\n%s", diff)
	}
	sc, err := s.Screen(ctx, "79161234567")
	fatalIf(t, err)
	if sc.WorkedBy != "c" || !sc.WorkedAt.Equal(a2.EndedAt) || sc.DoNotCall {
		t.Fatalf("screening of the answered number: %+v", sc)
	}
	// A busy number is not worked; an invalid one is.
	for _, o := range []struct {
		target  int
		outcome dialer.Outcome
		worked  bool
	}{{2, dialer.Busy, false}, {3, dialer.Invalid, true}} {
		ph := targets()[o.target-1].Phone
		a := dialer.Attempt{Campaign: "c", Target: o.target, Number: 1, Phone: ph, StartedAt: at}
		fatalIf(t, s.BeginAttempt(ctx, a))
		a.Outcome, a.EndedAt = o.outcome, at
		fatalIf(t, s.FinishAttempt(ctx, a, dialer.Progress{Target: o.target, State: dialer.Finished, Attempts: 1, Outcome: o.outcome}))
		sc, err := s.Screen(ctx, ph)
		fatalIf(t, err)
		if (sc.WorkedBy == "c") != o.worked {
			t.Fatalf("%s: worked by %q", o.outcome, sc.WorkedBy)
		}
	}
	// The first campaign to work a number keeps it.
	c2 := campaign("c2")
	c2.CreatedAt = at.Add(time.Second)
	fatalIf(t, s.CreateCampaign(ctx, c2, targets()[:1]))
	a := dialer.Attempt{Campaign: "c2", Target: 1, Number: 1, Phone: "79161234567", StartedAt: at}
	fatalIf(t, s.BeginAttempt(ctx, a))
	a.Outcome, a.EndedAt = dialer.Answered, at.Add(time.Hour)
	fatalIf(t, s.FinishAttempt(ctx, a, dialer.Progress{Target: 1, State: dialer.Finished, Attempts: 1, Outcome: dialer.Answered}))
	if sc, _ := s.Screen(ctx, "79161234567"); sc.WorkedBy != "c" {
		t.Fatalf("worked by %q, want the first campaign", sc.WorkedBy)
	}
}

// testAttemptOnce: of processes recording the same attempt at once, one
// succeeds and the others get ErrAttemptExists: a call is placed at most
// once per attempt.
func testAttemptOnce(t *testing.T, s dialer.Store) {
	fatalIf(t, s.CreateCampaign(ctx, campaign("c"), targets()))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.BeginAttempt(ctx, dialer.Attempt{Campaign: "c", Target: 2, Number: 1, Employee: fmt.Sprint(i),
				Phone: "73432000000", StartedAt: at})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, dialer.ErrAttemptExists):
			t.Fatalf("BeginAttempt: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d recorded the attempt", ok, n)
	}
	got, err := s.Attempts(ctx, "c", 2)
	fatalIf(t, err)
	if len(got) != 1 {
		t.Fatalf("attempts: %+v", got)
	}
}

// testNotFound: unknown campaigns, targets and attempts are ErrNotFound.
func testNotFound(t *testing.T, s dialer.Store) {
	fatalIf(t, s.CreateCampaign(ctx, campaign("c"), targets()))
	for name, err := range map[string]error{
		"campaign":       func() error { _, err := s.Campaign(ctx, "nope"); return err }(),
		"state":          s.SetState(ctx, "nope", dialer.Running, at),
		"target 0":       func() error { _, err := s.Target(ctx, "c", 0); return err }(),
		"target 4":       func() error { _, err := s.Target(ctx, "c", 4); return err }(),
		"progress":       s.Progress(ctx, "nope", func(dialer.Progress) error { return nil }),
		"set progress":   s.SetProgress(ctx, "c", dialer.Progress{Target: 9, State: dialer.Finished}),
		"begin":          s.BeginAttempt(ctx, dialer.Attempt{Campaign: "c", Target: 9, Number: 1, Phone: "79161234567", StartedAt: at}),
		"placed":         s.PlacedAttempt(ctx, "c", 1, 1, "x"),
		"finish":         s.FinishAttempt(ctx, dialer.Attempt{Campaign: "c", Target: 1, Number: 1, Outcome: dialer.Busy}, dialer.Progress{Target: 1, State: dialer.Finished}),
		"disposition":    s.SetDisposition(ctx, "c", 1, 1, "x"),
		"attempts":       func() error { _, err := s.Attempts(ctx, "c", 9); return err }(),
		"other campaign": func() error { _, err := s.Target(ctx, "nope", 1); return err }(),
	} {
		if !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
}

// testNumbers: the do-not-call list holds across campaigns until a number
// is removed.
func testNumbers(t *testing.T, s dialer.Store) {
	fatalIf(t, s.AddDoNotCall(ctx, "79161234567", "380671234567"))
	fatalIf(t, s.AddDoNotCall(ctx, "79161234567")) // twice is once
	for ph, want := range map[string]bool{"79161234567": true, "380671234567": true, "79160000000": false} {
		sc, err := s.Screen(ctx, ph)
		fatalIf(t, err)
		if sc.DoNotCall != want || sc.WorkedBy != "" {
			t.Fatalf("%s: %+v", ph, sc)
		}
	}
	fatalIf(t, s.RemoveDoNotCall(ctx, "79161234567", "79160000000"))
	if sc, _ := s.Screen(ctx, "79161234567"); sc.DoNotCall {
		t.Fatal("removed number still on the list")
	}
	if sc, _ := s.Screen(ctx, "380671234567"); !sc.DoNotCall {
		t.Fatal("the other number left the list")
	}
}

// testManyTargets: a campaign of 5,000 targets streams back in order.
func testManyTargets(t *testing.T, s dialer.Store) {
	const n = 5000
	ts := make([]dialer.Target, n)
	for i := range ts {
		ts[i] = dialer.Target{Phone: fmt.Sprintf("7916%07d", i+1), Name: fmt.Sprint("client ", i+1), TimeZone: "Europe/Moscow"}
	}
	fatalIf(t, s.CreateCampaign(ctx, campaign("big"), ts))
	i := 0
	fatalIf(t, s.Progress(ctx, "big", func(p dialer.Progress) error {
		i++
		if p.Target != i || p.Phone != fmt.Sprintf("7916%07d", i) || p.State != dialer.Pending {
			return fmt.Errorf("progress %d: %+v", i, p)
		}
		return nil
	}))
	if i != n {
		t.Fatalf("%d of %d targets", i, n)
	}
	got, err := s.Target(ctx, "big", n)
	fatalIf(t, err)
	if got.Name != fmt.Sprint("client ", n) {
		t.Fatalf("last target: %+v", got)
	}
}
