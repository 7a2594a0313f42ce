package dialer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
)

// plan is the outcome of target n's attempt: every third answers, every
// third after that is busy and answers the second time, the rest never
// answer.
func plan(n, attempt int) dialer.Outcome {
	switch n % 3 {
	case 0:
		return dialer.Answered
	case 1:
		if attempt == 1 {
			return dialer.Busy
		}
		return dialer.Answered
	}
	return dialer.NoAnswer
}

const (
	wrapUp = 20 * time.Second
	ring   = 45 * time.Second
)

func powerCampaign(provider string) dialer.Campaign {
	return dialer.Campaign{Provider: provider, Mode: dialer.Power, Agents: []string{"anna"},
		WrapUp: callevent.Seconds(wrapUp), RingTimeout: callevent.Seconds(ring),
		Retry: dialer.RetryPolicy{
			Busy:     dialer.Retry{Delay: callevent.Seconds(10 * time.Minute), MaxAttempts: 2},
			NoAnswer: dialer.Retry{Delay: callevent.Seconds(30 * time.Minute), MaxAttempts: 2},
		}}
}

// work plays the agent's calls as plan says until the campaign is done
// or stop says so, checking that no call is placed before the wrap-up
// time after the previous one is over; it returns the calls it saw.
func work(t *testing.T, r *rig, p *pbx, id string, plan func(n, attempt int) dialer.Outcome, stop func(calls int) bool) int {
	t.Helper()
	calls := 0
	spec := r.status(id).Campaign
	wrapUp, ring := time.Duration(spec.WrapUp), time.Duration(spec.RingTimeout)
	for range 1000 {
		if stop != nil && stop(calls) {
			return calls
		}
		a := r.agent(id, "anna")
		switch a.State {
		case dialer.AgentDialing:
			calls++
			tg, err := r.store.Target(ctx, id, a.Target)
			if err != nil {
				t.Fatal(err)
			}
			phone := tg.Phone
			placed := p.placed(t)
			if len(placed) == 0 || placed[len(placed)-1] != phone {
				t.Fatalf("target %d (%s) is dialling, the fake's last call went to %v", a.Target, phone, placed[max(0, len(placed)-1):])
			}
			o := plan(a.Target, a.Attempt)
			switch {
			case !p.report(t, a.CallID, phone, o):
				r.clock.Advance(ring) // nothing comes: the ring timeout ends it
			case o == dialer.Answered && !p.endsCalls:
				must[dialer.Agent](t)(r.d.Dispose(ctx, id, "anna", "sale"))
			}
			if a := r.agent(id, "anna"); a.State == dialer.AgentDialing || a.State == dialer.AgentInCall {
				t.Fatalf("the call of target %d did not end: %+v", a.Target, a)
			}
			n := len(p.placed(t))
			r.clock.Advance(wrapUp - time.Second)
			if m := len(p.placed(t)); m != n {
				t.Fatalf("a call placed %v after the previous one ended, before the wrap-up (%v) was over", wrapUp-time.Second, wrapUp)
			}
			r.clock.Advance(time.Second)
		case dialer.AgentReady:
			st := r.status(id)
			if st.NextAt.IsZero() {
				t.Fatalf("agent waits with nothing to wait for: %+v", st)
			}
			r.clock.Advance(st.NextAt.Sub(r.clock.Now()))
		default:
			if st := r.status(id); st.Campaign.State != dialer.Done {
				t.Fatalf("agent %s, campaign %s", a.State, st.Campaign.State)
			}
			return calls
		}
	}
	t.Fatal("the campaign did not end")
	return calls
}

// checkPlanned checks a finished campaign of 50 worked by plan: every
// number called as often as planned, never more, and the outcomes.
func checkPlanned(t *testing.T, r *rig, p *pbx, id string) {
	t.Helper()
	per := map[string]int{}
	for _, ph := range p.placed(t) {
		per[ph]++
	}
	for n := 1; n <= 50; n++ {
		want := 2
		if n%3 == 0 {
			want = 1
		}
		if got := per[fmt.Sprintf("7916%07d", n)]; got != want {
			t.Errorf("target %d called %d times, want %d", n, got, want)
		}
	}
	st := r.status(id)
	if st.Campaign.State != dialer.Done || st.Finished != 50 || st.Attempts != 84 ||
		st.Outcomes[dialer.Answered] != 33 || st.Outcomes[dialer.NoAnswer] != 17 || len(st.Outcomes) != 2 {
		t.Fatalf("status: %+v", st)
	}
	if h := r.hooks.all(); len(h) != 84 {
		t.Fatalf("%d call-started hooks, want 84", len(h))
	}
}

// TestCampaignOf50 runs a power campaign of 50 targets against each
// provider's fake: answered, busy and unanswered calls mixed, the
// outcomes from the providers' own webhooks, retries after their delays,
// the wrap-up time respected between calls.
func TestCampaignOf50(t *testing.T) {
	forEachProvider(t, memory, func(t *testing.T, r *rig, p *pbx) {
		c := r.create(powerCampaign(p.name), targetsOf(phones(50)))
		must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
		if calls := work(t, r, p, c.ID, plan, nil); calls != 84 {
			t.Fatalf("%d calls", calls)
		}
		checkPlanned(t, r, p, c.ID)
		for _, h := range r.hooks.all() {
			if h.Provider != p.name || h.Employee != "anna" || h.Target.Phone != digits(fmt.Sprintf("+7916%07d", h.Target.Number)) ||
				h.Target.EntityID != fmt.Sprint("L", h.Target.Number) || h.CallID == "" {
				t.Fatalf("hook %+v", h)
			}
		}
	})
}

// TestRestart stops the Dialer twice in the middle of a call of a
// campaign of 50 (against each provider's fake, with the store in
// memory, in SQLite and in PostgreSQL) and starts a new one over the same
// store: the campaign resumes where it stopped, the interrupted attempts
// end as unknown and are not placed again (the call may have gone out),
// their late webhooks change nothing, and no number is called more often
// than planned.
func TestRestart(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			forEachProvider(t, b.open, func(t *testing.T, r *rig, p *pbx) {
				c := r.create(powerCampaign(p.name), targetsOf(phones(50)))
				must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
				calls := 0
				cut := map[int]int{} // interrupted target → its attempt
				for _, at := range []int{20, 35} {
					calls += work(t, r, p, c.ID, plan, func(n int) bool { return calls+n == at })
					a := r.agent(c.ID, "anna")
					if a.State != dialer.AgentDialing {
						t.Fatalf("call %d: agent %+v", at+1, a)
					}
					cut[a.Target] = a.Attempt
					calls++
					r.restart()
					st := r.status(c.ID)
					if st.Campaign.State != dialer.Running || st.Outcomes[dialer.Unknown] != len(cut) || st.Dialing != 0 {
						t.Fatalf("after restart: %+v", st)
					}
					if a := r.agent(c.ID, "anna"); a.State != dialer.AgentAway {
						t.Fatalf("agent after restart: %+v", a)
					}
					// The interrupted call's webhooks arrive late: nothing changes.
					p.report(t, a.CallID, fmt.Sprintf("7916%07d", a.Target), dialer.Answered)
					if st2 := r.status(c.ID); !cmpStatus(st, st2) {
						t.Fatalf("late webhooks changed the campaign:\n%+v\n%+v", st, st2)
					}
					must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
				}
				calls += work(t, r, p, c.ID, plan, nil)
				per := map[string]int{}
				for _, ph := range p.placed(t) {
					per[ph]++
				}
				total := 0
				for n := 1; n <= 50; n++ {
					want := 2
					if n%3 == 0 {
						want = 1
					}
					if a, ok := cut[n]; ok {
						want = a
					}
					total += want
					if got := per[fmt.Sprintf("7916%07d", n)]; got != want {
						t.Errorf("target %d called %d times, want %d", n, got, want)
					}
				}
				st := r.status(c.ID)
				if calls != total || st.Attempts != total || st.Campaign.State != dialer.Done || st.Outcomes[dialer.Unknown] != 2 {
					t.Fatalf("%d calls, %d planned; status %+v", calls, total, st)
				}
				for n := range cut {
					as, err := r.store.Attempts(ctx, c.ID, n)
					if err != nil {
						t.Fatal(err)
					}
					if last := as[len(as)-1]; last.Outcome != dialer.Unknown || last.CallID == "" {
						t.Fatalf("interrupted attempt: %+v", last)
					}
				}
			})
		})
	}
}

// cmpStatus compares what a late event could change.
func cmpStatus(a, b dialer.Status) bool {
	return a.Pending == b.Pending && a.Dialing == b.Dialing && a.Finished == b.Finished && a.Attempts == b.Attempts &&
		fmt.Sprint(a.Outcomes) == fmt.Sprint(b.Outcomes)
}

func answered(int, int) dialer.Outcome { return dialer.Answered }

// TestCallingHours runs a campaign over a night against each provider's
// fake: Moscow (UTC+3) and Novosibirsk (UTC+7) landlines, the window
// 09:00–21:00 in each one's own zone (from the area code), starting at
// 13:30 UTC (16:30 in Moscow, 20:30 in Novosibirsk). Every call falls
// inside its target's window; the Novosibirsk targets left when their
// window closes are called the next morning, Novosibirsk time, before
// Moscow's window opens.
func TestCallingHours(t *testing.T) {
	forEachProvider(t, memory, func(t *testing.T, r *rig, p *pbx) {
		r.clock.Advance(4*time.Hour + 30*time.Minute)
		var ts []dialer.Target
		for i := 1; i <= 10; i++ {
			ph := fmt.Sprintf("+7495000%04d", i) // Moscow
			if i%2 == 0 {
				ph = fmt.Sprintf("+7383000%04d", i) // Novosibirsk
			}
			ts = append(ts, dialer.Target{Phone: ph})
		}
		c := powerCampaign(p.name)
		c.WrapUp = callevent.Seconds(20 * time.Minute)
		c.Hours = dialer.CallingHours{From: 9 * 60, To: 21 * 60}
		c = r.create(c, ts)
		must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
		if calls := work(t, r, p, c.ID, answered, nil); calls != 10 {
			t.Fatalf("%d calls", calls)
		}
		msk, _ := time.LoadLocation("Europe/Moscow")
		nsk, _ := time.LoadLocation("Asia/Novosibirsk")
		var got []string
		for _, h := range r.hooks.all() {
			loc := map[string]*time.Location{"Europe/Moscow": msk, "Asia/Novosibirsk": nsk}[h.Target.TimeZone]
			if loc == nil || dialer.ZoneOf(h.Target.Phone) != h.Target.TimeZone {
				t.Fatalf("target %d (%s) in zone %q", h.Target.Number, h.Target.Phone, h.Target.TimeZone)
			}
			local := h.At.In(loc)
			if local.Hour() < 9 || local.Hour() >= 21 {
				t.Errorf("target %d called at %s", h.Target.Number, local.Format("2006-01-02 15:04 MST"))
			}
			got = append(got, fmt.Sprintf("%d@%s", h.Target.Number, h.At.Format("02 15:04")))
		}
		want := []string{"1@14 13:30", "2@14 13:50", "3@14 14:10", "5@14 14:30", "7@14 14:50", "9@14 15:10",
			"4@15 02:00", "6@15 02:20", "8@15 02:40", "10@15 03:00"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("calls (target@day hh:mm UTC):\n got %v\nwant %v", got, want)
		}
	})
}

// TestDoNotCall: numbers on the do-not-call list, before the campaign
// starts and added while it runs (also the target reserved for the
// agent's next call), are never dialled by any provider.
func TestDoNotCall(t *testing.T) {
	forEachProvider(t, memory, func(t *testing.T, r *rig, p *pbx) {
		if err := r.d.DoNotCall(ctx, "RU", "+79160000003", "8 (916) 000-00-07"); err != nil {
			t.Fatal(err)
		}
		c := r.create(powerCampaign(p.name), targetsOf(phones(10)))
		must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
		work(t, r, p, c.ID, answered, func(calls int) bool { return calls == 3 })
		a := r.agent(c.ID, "anna")
		if a.State != dialer.AgentDialing || a.Target != 5 {
			t.Fatalf("agent %+v", a)
		}
		if !p.report(t, a.CallID, "79160000005", dialer.Answered) || !p.endsCalls {
			must[dialer.Agent](t)(r.d.Dispose(ctx, c.ID, "anna", "sale"))
		}
		// In the wrap-up target 6 is reserved for the next call.
		if a := r.agent(c.ID, "anna"); a.State != dialer.AgentWrapUp || a.Target != 6 {
			t.Fatalf("agent %+v", a)
		}
		if err := r.d.DoNotCall(ctx, "RU", "+79160000006", "+79160000009"); err != nil {
			t.Fatal(err)
		}
		r.clock.Advance(wrapUp)
		work(t, r, p, c.ID, answered, nil)
		for _, ph := range p.placed(t) {
			switch ph {
			case "79160000003", "79160000006", "79160000007", "79160000009":
				t.Errorf("%s dialled", ph)
			}
		}
		st := r.status(c.ID)
		if len(p.placed(t)) != 6 || st.Outcomes[dialer.DoNotCall] != 4 || st.Outcomes[dialer.Answered] != 6 || st.Campaign.State != dialer.Done {
			t.Fatalf("%d calls, status %+v", len(p.placed(t)), st)
		}
	})
}
