package dialer_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/match/matchtest"
)

var ctx = context.Background()

// t0 is the tests' start: a Friday, 12:00 in Moscow, 09:00 UTC.
var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// fakeCaller places calls in memory: each gets the call id "call-N".
type fakeCaller struct {
	mu    sync.Mutex
	calls []callevent.CallRequest
	fail  func(req callevent.CallRequest) error // nil: every call succeeds
}

func (f *fakeCaller) Call(_ context.Context, req callevent.CallRequest) (callevent.CallRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(req); err != nil {
			return callevent.CallRef{}, err
		}
	}
	f.calls = append(f.calls, req)
	return callevent.CallRef{CallID: "call-" + strconv.Itoa(len(f.calls))}, nil
}

// placed is the numbers called, in order ("+7916…").
func (f *fakeCaller) placed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.To
	}
	return out
}

// hooks records the call-started hook.
type hooks struct {
	mu     sync.Mutex
	starts []dialer.CallStart
}

func (h *hooks) on(_ context.Context, s dialer.CallStart) {
	h.mu.Lock()
	h.starts = append(h.starts, s)
	h.mu.Unlock()
}

func (h *hooks) all() []dialer.CallStart {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]dialer.CallStart(nil), h.starts...)
}

// rig is a Dialer over a store, a fake clock and callers.
type rig struct {
	t     *testing.T
	clock *matchtest.Clock
	store dialer.Store
	// reopen opens the store again for a restart (nil: the same).
	reopen func() dialer.Store
	cfg    dialer.Config
	d      *dialer.Dialer
	hooks  *hooks
}

// newRig makes a Dialer with employees "anna" (101) and "boris" (102),
// provider "fake" calling through caller.
func newRig(t *testing.T, store dialer.Store, caller callevent.Caller) *rig {
	t.Helper()
	r := &rig{t: t, clock: matchtest.NewClock(t0), store: store, hooks: &hooks{}}
	r.cfg = dialer.Config{
		Store:     store,
		Callers:   map[string]callevent.Caller{"fake": caller},
		Employees: dialer.StaticEmployees{"anna": "101", "boris": "102"},
		Clock:     r.clock,
		OnCall:    r.hooks.on,
	}
	r.open()
	return r
}

// open starts the Dialer (again, after close: a restart).
func (r *rig) open() {
	r.t.Helper()
	d, err := dialer.New(ctx, r.cfg)
	if err != nil {
		r.t.Fatalf("New: %v", err)
	}
	r.d = d
	r.t.Cleanup(d.Close)
}

// restart closes the Dialer (and its store) and opens new ones over the
// same data.
func (r *rig) restart() {
	r.t.Helper()
	r.d.Close()
	if r.reopen != nil {
		if db, ok := r.store.(interface{ Close() error }); ok {
			if err := db.Close(); err != nil {
				r.t.Fatal(err)
			}
		}
		r.store = r.reopen()
		r.cfg.Store = r.store
	}
	r.open()
}

// phones returns n Moscow mobile numbers: "+7916000NNNN".
func phones(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+7916%07d", i+1)
	}
	return out
}

func targetsOf(ps []string) []dialer.Target {
	ts := make([]dialer.Target, len(ps))
	for i, p := range ps {
		ts[i] = dialer.Target{Phone: p, Entity: "lead", EntityID: "L" + strconv.Itoa(i+1), Name: "Client " + strconv.Itoa(i+1),
			Fields: map[string]string{"city": "Moscow"}}
	}
	return ts
}

// create creates and starts a campaign.
func (r *rig) create(c dialer.Campaign, ts []dialer.Target) dialer.Campaign {
	r.t.Helper()
	c, err := r.d.Create(ctx, c, ts)
	if err != nil {
		r.t.Fatalf("Create: %v", err)
	}
	if err := r.d.Start(ctx, c.ID); err != nil {
		r.t.Fatalf("Start: %v", err)
	}
	return c
}

// event delivers an event of provider "fake".
func (r *rig) event(kind callevent.Kind, callID, phone string, status callevent.Status) {
	r.t.Helper()
	e := callevent.Event{ID: fmt.Sprintf("%s-%s-%d", callID, kind, status), Provider: "fake", Kind: kind,
		Direction: callevent.Outbound, Status: status, CallID: callID, ClientPhone: phone, At: r.clock.Now()}
	if err := r.d.HandleEvent(ctx, e); err != nil {
		r.t.Fatalf("HandleEvent: %v", err)
	}
}

// status is the campaign's status.
func (r *rig) status(id string) dialer.Status {
	r.t.Helper()
	st, err := r.d.Status(ctx, id)
	if err != nil {
		r.t.Fatalf("Status: %v", err)
	}
	return st
}

// agent is one agent's state.
func (r *rig) agent(id, emp string) dialer.Agent {
	r.t.Helper()
	for _, a := range r.status(id).Agents {
		if a.Employee == emp {
			return a
		}
	}
	r.t.Fatalf("no agent %q in %s", emp, id)
	return dialer.Agent{}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func isErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}
