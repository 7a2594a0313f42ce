package dialer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
)

// agentLog records the agent hook.
type agentLog struct {
	mu     sync.Mutex
	states []dialer.Agent
}

func (l *agentLog) on(_ context.Context, campaign string, a dialer.Agent) {
	l.mu.Lock()
	l.states = append(l.states, a)
	l.mu.Unlock()
}

// take returns the states given since the last take.
func (l *agentLog) take() []dialer.Agent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.states
	l.states = nil
	return out
}

// TestOnAgent: the agent hook gets each state of a power campaign's agent
// in order — the call placed, its call id, the answer, the wrap-up with
// its end and the next target, a skip, the next call when the wrap-up is
// over, away — and nothing when nothing changed.
func TestOnAgent(t *testing.T) {
	fc := &fakeCaller{}
	r := newRig(t, dialer.NewMemStore(), fc)
	r.d.Close()
	log := &agentLog{}
	r.cfg.OnAgent = log.on
	r.open()
	c := r.create(dialer.Campaign{Provider: "fake", Mode: dialer.Power, Agents: []string{"anna", "boris"},
		WrapUp: callevent.Seconds(30 * time.Second)}, targetsOf(phones(3)))
	if got := log.take(); len(got) != 0 {
		t.Fatalf("before ready: %+v", got)
	}
	step := func(name string, want ...dialer.Agent) {
		t.Helper()
		if diff := cmp.Diff(want, log.take()); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", name, diff)
		}
	}
	must[dialer.Agent](t)(r.d.Ready(ctx, c.ID, "anna"))
	step("ready",
		dialer.Agent{Employee: "anna", State: dialer.AgentDialing, Target: 1, Attempt: 1},
		dialer.Agent{Employee: "anna", State: dialer.AgentDialing, Target: 1, Attempt: 1, CallID: "call-1"})
	r.event(callevent.Answered, "call-1", "79160000001", 0)
	step("answered", dialer.Agent{Employee: "anna", State: dialer.AgentInCall, Target: 1, Attempt: 1, CallID: "call-1"})
	r.clock.Advance(time.Minute)
	step("a long call")
	r.event(callevent.Completed, "call-1", "79160000001", callevent.Success)
	until := t0.Add(time.Minute + 30*time.Second)
	step("ended", dialer.Agent{Employee: "anna", State: dialer.AgentWrapUp, Target: 2, LastTarget: 1, WrapUpUntil: until})
	must[dialer.Agent](t)(r.d.Skip(ctx, c.ID, "anna"))
	step("skip", dialer.Agent{Employee: "anna", State: dialer.AgentWrapUp, Target: 3, LastTarget: 1, WrapUpUntil: until})
	r.clock.Advance(29 * time.Second)
	step("during the wrap-up")
	r.clock.Advance(time.Second)
	step("wrap-up over",
		dialer.Agent{Employee: "anna", State: dialer.AgentDialing, Target: 3, Attempt: 1, LastTarget: 1},
		dialer.Agent{Employee: "anna", State: dialer.AgentDialing, Target: 3, Attempt: 1, CallID: "call-2", LastTarget: 1})
	r.event(callevent.Completed, "call-2", "79160000003", callevent.Busy)
	step("busy", dialer.Agent{Employee: "anna", State: dialer.AgentWrapUp, LastTarget: 3, WrapUpUntil: until.Add(30 * time.Second)})
	must[dialer.Agent](t)(r.d.PauseAgent(ctx, c.ID, "anna"))
	step("pause", dialer.Agent{Employee: "anna", State: dialer.AgentAway, LastTarget: 3})
	if diff := cmp.Diff([]string{"+79160000001", "+79160000003"}, fc.placed()); diff != "" {
		t.Fatalf("placed (-want +got):\n%s", diff)
	}
}
