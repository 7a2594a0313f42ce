package dialer_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
)

// TestPowerWrapUp: a power campaign places the first call at once and
// each next one only when the wrap-up time after the previous call's end
// is over; the hook carries the target.
func TestPowerWrapUp(t *testing.T) {
	fc := &fakeCaller{}
	r := newRig(t, dialer.NewMemStore(), fc)
	c := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna"},
		WrapUp: callevent.Seconds(30 * time.Second)}, targetsOf(phones(3)))
	a := must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
	if a.State != dialer.AgentDialing || a.Target != 1 || a.CallID != "call-1" {
		t.Fatalf("after ready: %+v", a)
	}
	if got := fc.placed(); !cmp.Equal(got, []string{"+79160000001"}) {
		t.Fatalf("placed %v", got)
	}
	if h := r.hooks.all(); len(h) != 1 || h[0].Target.EntityID != "L1" || h[0].Target.Name != "Client 1" ||
		h[0].Employee != "anna" || h[0].CallID != "call-1" || h[0].Target.Fields["city"] != "Moscow" {
		t.Fatalf("hooks: %+v", h)
	}
	r.event(callevent.Answered, "call-1", "79160000001", 0)
	if a := r.agent(c.ID, "anna"); a.State != dialer.AgentInCall {
		t.Fatalf("after answer: %+v", a)
	}
	r.clock.Advance(5 * time.Minute) // a long call: nothing new is placed
	if n := len(fc.placed()); n != 1 {
		t.Fatalf("%d calls during a call", n)
	}
	r.event(callevent.Completed, "call-1", "79160000001", callevent.Success)
	if a := r.agent(c.ID, "anna"); a.State != dialer.AgentWrapUp || a.Target != 2 {
		t.Fatalf("after the call: %+v", a)
	}
	r.clock.Advance(29 * time.Second)
	if n := len(fc.placed()); n != 1 {
		t.Fatalf("%d calls before the wrap-up is over", n)
	}
	r.clock.Advance(time.Second)
	if got := fc.placed(); len(got) != 2 || got[1] != "+79160000002" {
		t.Fatalf("after the wrap-up: %v", got)
	}
	r.event(callevent.Completed, "call-2", "79160000002", callevent.Busy)
	// Ready cuts the wrap-up short.
	a = must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
	if a.State != dialer.AgentDialing || a.Target != 3 {
		t.Fatalf("ready in wrap-up: %+v", a)
	}
	st := r.status(c.ID)
	if st.Outcomes[dialer.Answered] != 1 || st.Outcomes[dialer.Busy] != 1 || st.Dialing != 1 || st.Pending != 1 {
		t.Fatalf("status: %+v", st)
	}
}

func previewCampaign() dialer.Campaign {
	return dialer.Campaign{Provider: "fake", Mode: dialer.Preview, Agents: []string{"anna", "boris"}}
}

// TestPreview: the agent sees the next target and confirms each call or
// skips it; the call-started hook fires only for calls placed.
func TestPreview(t *testing.T) {
	fc := &fakeCaller{}
	r := newRig(t, dialer.NewMemStore(), fc)
	c := r.create(previewCampaign(), targetsOf(phones(4)))
	a := must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
	if a.State != dialer.AgentPreview || a.Target != 1 || len(fc.placed()) != 0 {
		t.Fatalf("joined: %+v, placed %v", a, fc.placed())
	}
	// boris gets the next target, not anna's.
	if b := must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "boris")); b.State != dialer.AgentPreview || b.Target != 2 {
		t.Fatalf("boris: %+v", b)
	}
	a = must[dialer.Agent](t)(r.d.Skip(ctx, c.ID, "anna"))
	if a.State != dialer.AgentPreview || a.Target != 3 {
		t.Fatalf("after skip: %+v", a)
	}
	a = must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna")) // confirm
	if a.State != dialer.AgentDialing || a.Target != 3 || !cmp.Equal(fc.placed(), []string{"+79160000003"}) {
		t.Fatalf("confirmed: %+v, placed %v", a, fc.placed())
	}
	if _, err := r.d.Skip(ctx, c.ID, "anna"); !errors.Is(err, dialer.ErrState) {
		t.Fatalf("skip while dialing: %v", err)
	}
	r.event(callevent.Completed, "call-1", "79160000003", callevent.Busy)
	// Preview: the next target is offered at once, no wrap-up.
	if a := r.agent(c.ID, "anna"); a.State != dialer.AgentPreview || a.Target != 4 {
		t.Fatalf("after the call: %+v", a)
	}
	must[dialer.Agent](t)(r.d.Dispose(ctx, c.ID, "anna", "call_back"))
	as := must[[]dialer.Attempt](t)(r.store.Attempts(ctx, c.ID, 3))
	if len(as) != 1 || as[0].Disposition != "call_back" || as[0].Outcome != dialer.Busy || as[0].Employee != "anna" || as[0].CallID != "call-1" {
		t.Fatalf("attempts of target 3: %+v", as)
	}
	st := r.status(c.ID)
	if st.Outcomes[dialer.Skipped] != 1 || st.Outcomes[dialer.Busy] != 1 || len(r.hooks.all()) != 1 {
		t.Fatalf("status %+v, hooks %d", st, len(r.hooks.all()))
	}
}

// TestPauseResumeStop: an agent's pause waits for the call in progress;
// a paused campaign places nothing and gives preview targets back; Resume
// goes on; Stop releases everyone and ends the campaign.
func TestPauseResumeStop(t *testing.T) {
	fc := &fakeCaller{}
	r := newRig(t, dialer.NewMemStore(), fc)
	c := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna", "boris"},
		WrapUp: callevent.Seconds(10 * time.Second)}, targetsOf(phones(10)))
	must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
	a := must[dialer.Agent](t)(r.d.PauseAgent(ctx, c.ID, "anna"))
	if a.State != dialer.AgentDialing || !a.Leaving {
		t.Fatalf("pause during a call: %+v", a)
	}
	r.event(callevent.Completed, "call-1", "79160000001", callevent.Success)
	if a := r.agent(c.ID, "anna"); a.State != dialer.AgentAway || a.Target != 0 {
		t.Fatalf("after the call: %+v", a)
	}
	r.clock.Advance(time.Hour)
	if n := len(fc.placed()); n != 1 {
		t.Fatalf("%d calls while anna is away", n)
	}
	must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))  // call 2, target 2
	must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "boris")) // call 3, target 3
	if err := r.d.Pause(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Pause(ctx, c.ID); !errors.Is(err, dialer.ErrState) {
		t.Fatalf("second pause: %v", err)
	}
	r.event(callevent.Completed, "call-2", "79160000002", callevent.Success)
	r.event(callevent.Completed, "call-3", "79160000003", callevent.NotAvailable)
	r.clock.Advance(time.Hour)
	if n := len(fc.placed()); n != 3 {
		t.Fatalf("%d calls in a paused campaign", n)
	}
	if a := r.agent(c.ID, "anna"); a.State != dialer.AgentReady || a.Target != 0 {
		t.Fatalf("anna in a paused campaign: %+v", a)
	}
	if err := r.d.Resume(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := fc.placed(); len(got) != 5 || got[3] != "+79160000004" || got[4] != "+79160000005" {
		t.Fatalf("after resume: %v", got)
	}
	if err := r.d.SkipTarget(ctx, c.ID, 6); err != nil {
		t.Fatal(err)
	}
	if err := r.d.SkipTarget(ctx, c.ID, 4); !errors.Is(err, dialer.ErrState) {
		t.Fatalf("skipping a target being called: %v", err)
	}
	if err := r.d.Stop(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	r.event(callevent.Completed, "call-4", "79160000004", callevent.Success)
	r.event(callevent.Completed, "call-5", "79160000005", callevent.Busy)
	r.clock.Advance(24 * time.Hour)
	st := r.status(c.ID)
	if len(fc.placed()) != 5 || st.Campaign.State != dialer.Stopped || st.Outcomes[dialer.Answered] != 3 ||
		st.Outcomes[dialer.Skipped] != 1 || st.Finished != 4 || st.Pending != 6 {
		t.Fatalf("stopped: %d calls, %+v", len(fc.placed()), st)
	}
	for _, a := range st.Agents {
		if a.State != dialer.AgentAway {
			t.Fatalf("agent after stop: %+v", a)
		}
	}
	if _, err := r.d.Ready(ctx, c.ID, "anna"); !errors.Is(err, dialer.ErrState) {
		t.Fatalf("ready in a stopped campaign: %v", err)
	}
	if err := r.d.Resume(ctx, c.ID); !errors.Is(err, dialer.ErrState) {
		t.Fatalf("resume of a stopped campaign: %v", err)
	}
}

// TestStartErrors: an unknown employee, a provider without click-to-call
// and a second campaign of a busy agent are clear errors, and nothing is
// dialled.
func TestStartErrors(t *testing.T) {
	fc := &fakeCaller{}
	r := newRig(t, dialer.NewMemStore(), fc)
	c := must[dialer.Campaign](t)(r.d.Create(ctx, dialer.Campaign{Provider: "fake", Mode: dialer.Power,
		Agents: []string{"anna", "zoe", "yan"}}, targetsOf(phones(2))))
	err := r.d.Start(ctx, c.ID)
	isErr(t, err, dialer.ErrUnknownEmployee)
	if !strings.Contains(err.Error(), `"zoe"`) || !strings.Contains(err.Error(), `"yan"`) {
		t.Fatalf("error does not name the employees: %v", err)
	}
	if st := r.status(c.ID); st.Campaign.State != dialer.Draft {
		t.Fatalf("state after a failed start: %s", st.Campaign.State)
	}
	c2 := must[dialer.Campaign](t)(r.d.Create(ctx, dialer.Campaign{Provider: "mango", Mode: dialer.Power, Agents: []string{"anna"}}, targetsOf(phones(2))))
	err = r.d.Start(ctx, c2.ID)
	isErr(t, err, dialer.ErrNoCaller)
	if !strings.Contains(err.Error(), `"mango"`) {
		t.Fatalf("error does not name the provider: %v", err)
	}
	_, err = r.d.Ready(ctx, "nope", "anna")
	isErr(t, err, dialer.ErrNotFound)
	c3 := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna"}}, targetsOf(phones(2)))
	c4 := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna", "boris"}}, targetsOf(phones(2)))
	_, err = r.d.Ready(ctx, c3.ID, "boris")
	isErr(t, err, dialer.ErrNotAgent)
	must[dialer.Agent](t)(r.d.Ready(ctx, c3.ID, "anna"))
	_, err = r.d.Ready(ctx, c4.ID, "anna")
	isErr(t, err, dialer.ErrAgentBusy)
	if err := r.d.Start(ctx, c3.ID); !errors.Is(err, dialer.ErrState) {
		t.Fatalf("second start: %v", err)
	}
	if n := len(fc.placed()); n != 1 {
		t.Fatalf("%d calls", n)
	}
	// Invalid settings name their fields.
	_, err = r.d.Create(ctx, dialer.Campaign{ID: "a/b", Provider: "fake", Mode: dialer.Power, WrapUp: -1,
		Hours: dialer.CallingHours{From: 600, To: 600}, TimeZone: "Mars/Olympus", Country: "XX"}, targetsOf(phones(1)))
	isErr(t, err, dialer.ErrInvalid)
	for _, f := range []string{"id:", "agents:", "wrap_up_sec:", "hours:", "time_zone:", "country:"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%q missing in %v", f, err)
		}
	}
	_, err = r.d.Create(ctx, dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna"}},
		[]dialer.Target{{Phone: "+79160000001"}, {Phone: "abc"}, {Phone: "8 916 000-00-01"}})
	isErr(t, err, dialer.ErrInvalid)
	if !strings.Contains(err.Error(), "targets[1].phone") || !strings.Contains(err.Error(), "targets[2].phone: 79160000001 is also target 0") {
		t.Fatalf("target errors: %v", err)
	}
}

// TestDialErrors: a failed call request is a failed attempt (retried by
// the policy); after three in a row the agent is set away with the error.
func TestDialErrors(t *testing.T) {
	fc := &fakeCaller{fail: func(callevent.CallRequest) error { return errors.New("provider: 503 Service Unavailable") }}
	r := newRig(t, dialer.NewMemStore(), fc)
	c := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna"},
		WrapUp: callevent.Seconds(5 * time.Second)}, targetsOf(phones(5)))
	a := must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
	if a.State != dialer.AgentWrapUp || !strings.Contains(a.LastError, "503") {
		t.Fatalf("after a failed request: %+v", a)
	}
	r.clock.Advance(5 * time.Second)
	r.clock.Advance(5 * time.Second)
	a = r.agent(c.ID, "anna")
	if a.State != dialer.AgentAway || !strings.Contains(a.LastError, "503") {
		t.Fatalf("after three failures: %+v", a)
	}
	st := r.status(c.ID)
	if st.Outcomes[dialer.Failed] != 3 || st.Pending != 5 || st.Attempts != 3 {
		t.Fatalf("status %+v", st)
	}
	fc.mu.Lock()
	fc.fail = nil
	fc.mu.Unlock()
	if a := must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna")); a.State != dialer.AgentDialing || a.Target != 4 || a.LastError != "" {
		t.Fatalf("ready again: %+v", a)
	}
}

// TestEarlyEvents: webhooks that arrive before the provider answered the
// call request are applied once it has.
func TestEarlyEvents(t *testing.T) {
	var r *rig
	fc := &fakeCaller{}
	fc.fail = func(req callevent.CallRequest) error {
		phone := strings.TrimPrefix(req.To, "+")
		// The call id is not known yet; the number finds the call.
		fc.mu.Unlock()
		r.event(callevent.Answered, "pbx-leg-9", phone, 0)
		r.event(callevent.Completed, "pbx-leg-9", phone, callevent.Success)
		fc.mu.Lock()
		return nil
	}
	r = newRig(t, dialer.NewMemStore(), fc)
	c := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna"},
		WrapUp: callevent.Seconds(time.Minute)}, targetsOf(phones(2)))
	a := must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
	if a.State != dialer.AgentWrapUp || a.Target != 2 {
		t.Fatalf("after the call: %+v", a)
	}
	if st := r.status(c.ID); st.Outcomes[dialer.Answered] != 1 {
		t.Fatalf("status %+v", st)
	}
}

// TestProvisionalOutcome: a hang-up without a status frees the agent at
// once, and the attempt waits SettleWait for its outcome: the event that
// brings it decides the retry (busy: soon); without one, the hang-up's
// (no answer) stands.
func TestProvisionalOutcome(t *testing.T) {
	fc := &fakeCaller{}
	r := newRig(t, dialer.NewMemStore(), fc)
	c := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna"},
		WrapUp: callevent.Seconds(time.Hour), Retry: dialer.RetryPolicy{
			Busy:     dialer.Retry{Delay: callevent.Seconds(time.Minute), MaxAttempts: 2},
			NoAnswer: dialer.Retry{Delay: callevent.Seconds(3 * time.Hour), MaxAttempts: 2}}}, targetsOf(phones(2)))
	must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
	r.event(callevent.Ended, "call-1", "79160000001", 0)
	if st := r.status(c.ID); st.Dialing != 1 || len(st.Outcomes) != 0 || st.Agents[0].State != dialer.AgentWrapUp {
		t.Fatalf("after the hang-up: %+v", st)
	}
	r.event(callevent.Completed, "call-1", "79160000001", callevent.Busy)
	st := r.status(c.ID)
	if st.Outcomes[dialer.Busy] != 1 || st.Dialing != 0 || !st.NextAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after the outcome: %+v", st)
	}
	as := must[[]dialer.Attempt](t)(r.store.Attempts(ctx, c.ID, 1))
	if as[0].Outcome != dialer.Busy {
		t.Fatalf("attempt %+v", as[0])
	}
	// The second call hangs up and nothing follows.
	must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna")) // target 2
	r.event(callevent.Ended, "call-2", "79160000002", 0)
	r.clock.Advance(dialer.SettleWait - time.Second)
	if st := r.status(c.ID); st.Outcomes[dialer.NoAnswer] != 0 {
		t.Fatalf("settled early: %+v", st)
	}
	r.clock.Advance(time.Second)
	as = must[[]dialer.Attempt](t)(r.store.Attempts(ctx, c.ID, 2))
	if st := r.status(c.ID); st.Outcomes[dialer.NoAnswer] != 1 || as[0].Outcome != dialer.NoAnswer {
		t.Fatalf("settled: %+v, %+v", st, as)
	}
}

// TestSkipWorked: a number another campaign answered is skipped by a
// campaign that asks so, and called by one that does not; a
// disposition do_not_call puts the number on the list for everyone.
func TestSkipWorked(t *testing.T) {
	fc := &fakeCaller{}
	r := newRig(t, dialer.NewMemStore(), fc)
	c1 := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Preview, Agents: []string{"anna"}}, targetsOf(phones(2)))
	must[dialer.Agent](t)(r.d.Ready(ctx, c1.ID, "anna"))
	must[dialer.Agent](t)(r.d.Ready(ctx, c1.ID, "anna"))
	r.event(callevent.Completed, "call-1", "79160000001", callevent.Success)
	must[dialer.Agent](t)(r.d.Ready(ctx, c1.ID, "anna"))
	r.event(callevent.Answered, "call-2", "79160000002", 0)
	must[dialer.Agent](t)(r.d.Dispose(ctx, c1.ID, "anna", dialer.DispositionDoNotCall)) // ends the call too
	if st := r.status(c1.ID); st.Campaign.State != dialer.Done || st.Outcomes[dialer.Answered] != 2 {
		t.Fatalf("first campaign: %+v", st)
	}
	skip := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Preview, Agents: []string{"boris"}, SkipWorked: true},
		targetsOf(append(phones(3), "+79160000099")))
	b := must[dialer.Agent](t)(r.d.Ready(ctx, skip.ID, "boris"))
	if b.Target != 3 {
		t.Fatalf("boris is offered %+v", b)
	}
	st := r.status(skip.ID)
	if st.Outcomes[dialer.Worked] != 1 || st.Outcomes[dialer.DoNotCall] != 1 {
		t.Fatalf("second campaign: %+v", st)
	}
	must[dialer.Agent](t)(r.d.PauseAgent(ctx, skip.ID, "boris"))
	other := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Preview, Agents: []string{"boris"}}, targetsOf(phones(1)))
	if b := must[dialer.Agent](t)(r.d.Ready(ctx, other.ID, "boris")); b.State != dialer.AgentPreview || b.Target != 1 {
		t.Fatalf("without skip_worked: %+v", b)
	}
}

// TestConcurrentAgents: agents confirming calls and events arriving on
// goroutines of their own (as webhooks do): every target is called once.
func TestConcurrentAgents(t *testing.T) {
	fc := &fakeCaller{}
	r := newRig(t, dialer.NewMemStore(), fc)
	emps := []string{"a1", "a2", "a3", "a4"}
	ext := dialer.StaticEmployees{}
	for i, e := range emps {
		ext[e] = fmt.Sprint(200 + i)
	}
	r.d.Close()
	r.cfg.Employees = ext
	r.open()
	c := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Preview, Agents: emps}, targetsOf(phones(200)))
	var wg sync.WaitGroup
	errs := make(chan error, len(emps))
	for _, emp := range emps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				a, err := r.d.Ready(ctx, c.ID, emp)
				if errors.Is(err, dialer.ErrState) || err == nil && a.State == dialer.AgentAway {
					return // done
				}
				if err != nil {
					errs <- err
					return
				}
				if a.State != dialer.AgentDialing {
					continue // offered: confirm next round
				}
				done := make(chan error, 1)
				go func() { // the webhook, on a goroutine of its own
					e := callevent.Event{ID: a.CallID, Provider: "fake", Kind: callevent.Completed, Direction: callevent.Outbound,
						Status: callevent.Success, CallID: a.CallID, ClientPhone: fmt.Sprintf("7916%07d", a.Target), At: t0}
					done <- r.d.HandleEvent(ctx, e)
				}()
				if err := <-done; err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range fc.placed() {
		if seen[p] {
			t.Fatalf("%s called twice", p)
		}
		seen[p] = true
	}
	if st := r.status(c.ID); len(seen) != 200 || st.Campaign.State != dialer.Done || st.Outcomes[dialer.Answered] != 200 {
		t.Fatalf("%d numbers called; %+v", len(seen), st.Outcomes)
	}
}

// TestAttemptsCounted: every ended call of a campaign is counted by
// provider and outcome (callbridge.dialer.attempts) on the meter provider
// of Config.
func TestAttemptsCounted(t *testing.T) {
	fc := &fakeCaller{}
	r := newRig(t, dialer.NewMemStore(), fc)
	r.d.Close()
	m := telemetrytest.NewMetrics(t)
	r.cfg.MeterProvider = m.Provider
	r.open()
	c := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna"},
		WrapUp: callevent.Seconds(time.Second)}, targetsOf(phones(3)))
	must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
	r.event(callevent.Answered, "call-1", "79160000001", 0)
	r.event(callevent.Completed, "call-1", "79160000001", callevent.Success)
	r.clock.Advance(time.Second)
	r.event(callevent.Completed, "call-2", "79160000002", callevent.Busy)
	for outcome, want := range map[string]float64{"answered": 1, "busy": 1} {
		if got := m.Value(t, "callbridge.dialer.attempts", "callbridge.provider=fake", "callbridge.outcome="+outcome); got != want {
			t.Errorf("%s: %v attempts counted, want %v\n%s", outcome, got, want, m.Dump(t, "callbridge.dialer.attempts"))
		}
	}
}
