package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/callbridge/callbridge/reconcile"
)

// history is a provider's call history: the Completed event of each call,
// listed by start time.
type history struct {
	calls []callevent.Event
	fail  error // returned after the first call of each window when set
}

func (h *history) CompletedCalls(_ context.Context, from, to time.Time) iter.Seq2[callevent.Event, error] {
	return func(yield func(callevent.Event, error) bool) {
		n := 0
		for _, e := range h.calls {
			if e.At.Before(from) || !e.At.Before(to) {
				continue
			}
			if h.fail != nil && n == 1 {
				yield(callevent.Event{}, h.fail)
				return
			}
			n++
			if !yield(e, nil) {
				return
			}
		}
	}
}

var start = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// calls makes n calls over five hours, answered and missed, inbound and
// outbound, each as Ringing, Answered (when answered) and Completed.
func calls(n int) (events [][]callevent.Event, completed []callevent.Event) {
	for i := range n {
		at := start.Add(time.Duration(i) * 5 * time.Hour / time.Duration(n))
		c := callevent.Event{Provider: "megafon", Account: "acme", CallID: fmt.Sprintf("call-%03d", i),
			Direction: callevent.Inbound, ClientPhone: fmt.Sprintf("7916%07d", i), LinePhone: "74951234567", Extension: "101"}
		if i%3 == 0 {
			c.Direction = callevent.Outbound
		}
		ring, done := c, c
		ring.ID, ring.Kind, ring.At = c.CallID+"/ring", callevent.Ringing, at
		done.ID, done.Kind, done.At, done.EndedAt = c.CallID+"/history", callevent.Completed, at, at.Add(time.Minute)
		evs := []callevent.Event{ring}
		if i%4 == 0 {
			done.Status, done.Wait = callevent.Missed, time.Minute
			if c.Direction == callevent.Outbound {
				done.Status = callevent.NotAvailable
			}
		} else {
			ans := c
			ans.ID, ans.Kind, ans.At = c.CallID+"/answer", callevent.Answered, at.Add(10*time.Second)
			evs = append(evs, ans)
			done.Status, done.Wait, done.Duration, done.AnsweredAt = callevent.Success, 10*time.Second, 50*time.Second, ans.At
		}
		events = append(events, append(evs, done))
		completed = append(completed, done)
	}
	return events, completed
}

func newEngine(t *testing.T, store *memstore.Store) *match.Engine {
	t.Helper()
	e, err := match.NewEngine(store)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func loggedCalls(store *memstore.Store) []string {
	var ids []string
	for _, c := range store.Calls() {
		ids = append(ids, c.CallID)
	}
	slices.Sort(ids)
	return ids
}

// TestLostWebhooksRecovered: a fifth of the webhooks of 300 calls are
// lost on their way to the engine; the reconciler reads the provider's
// history and afterwards the call log equals the history exactly: every
// call once, none missing, none added, each with the history's outcome.
func TestLostWebhooksRecovered(t *testing.T) {
	ctx := context.Background()
	store, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	store.SetEmployees("acme", match.Employee{ID: "anna", Extensions: []string{"101"}})
	perCall, completed := calls(300)
	rnd := rand.New(rand.NewPCG(1, 2))
	live := newEngine(t, store)
	dropped := 0
	for _, evs := range perCall {
		for _, e := range evs {
			if rnd.IntN(5) == 0 {
				dropped++
				continue
			}
			if err := live.HandleEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := live.Close(ctx); err != nil { // decides what it heard the end of
		t.Fatal(err)
	}
	before := len(store.Calls())
	if before == len(completed) {
		t.Fatalf("no call lost with %d of %d events dropped", dropped, 3*len(completed))
	}

	engine := newEngine(t, store)
	cursors := &reconcile.MemoryCursors{}
	r, err := reconcile.New(reconcile.Config{
		Name: "megafon/acme", History: &history{calls: completed}, Calls: store, Sink: engine, Cursors: cursors,
		Backfill: 6 * time.Hour, Now: func() time.Time { return start.Add(5*time.Hour + reconcile.DefaultLag) },
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if rep.Calls != len(completed) || rep.Known != before || rep.Recovered != len(completed)-before || rep.Windows != 6 {
		t.Errorf("report %+v, want %d calls, %d known, %d recovered in 6 windows", rep, len(completed), before, len(completed)-before)
	}
	var want []string
	status := make(map[string]callevent.Status)
	for _, e := range completed {
		want = append(want, e.CallID)
		status[e.CallID] = e.Status
	}
	if got := loggedCalls(store); !slices.Equal(got, want) {
		t.Fatalf("call log has %d calls, want the history's %d", len(got), len(want))
	}
	for _, c := range store.Calls() {
		if c.Status != status[c.CallID] {
			t.Errorf("call %s logged %v, the history says %v", c.CallID, c.Status, status[c.CallID])
		}
	}

	// Again, from a lost cursor: every call is known, nothing changes.
	again, err := reconcile.New(reconcile.Config{
		Name: "megafon/acme", History: &history{calls: completed}, Calls: store, Sink: engine,
		Cursors: &reconcile.MemoryCursors{}, Backfill: 6 * time.Hour,
		Now: func() time.Time { return start.Add(5*time.Hour + reconcile.DefaultLag) },
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = again.Run(ctx)
	if err != nil || rep.Recovered != 0 || rep.Known != len(completed) {
		t.Errorf("second run: %+v, %v; want every call known", rep, err)
	}
}

// TestRunResumes: a window the provider fails is read again by the next
// run; the windows before it are not.
func TestRunResumes(t *testing.T) {
	ctx := context.Background()
	store, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	_, completed := calls(50)
	h := &history{calls: completed}
	var fed []string
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		fed = append(fed, e.CallID)
		return nil
	})
	now := start.Add(2*time.Hour + 30*time.Minute + reconcile.DefaultLag)
	r, err := reconcile.New(reconcile.Config{Name: "x", History: h, Calls: store, Sink: sink,
		Cursors: &reconcile.MemoryCursors{}, Backfill: 150 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(ctx)
	if err != nil || rep.Windows != 3 || rep.Recovered != 25 {
		t.Fatalf("first run: %+v, %v; want 3 windows, 25 calls", rep, err)
	}
	now = now.Add(3 * time.Hour) // the provider fails the next window
	h.fail = errors.New("telphin: 429 quota exhausted")
	rep, err = r.Run(ctx)
	if err == nil || rep.Windows != 0 || rep.Recovered != 0 {
		t.Fatalf("failing run: %+v, %v; want an error and nothing fed", rep, err)
	}
	h.fail = nil
	fed = fed[:0]
	rep, err = r.Run(ctx)
	if err != nil || rep.Windows != 3 || !rep.From.Equal(start.Add(150*time.Minute)) {
		t.Fatalf("resumed run: %+v, %v; want 3 windows from 11:30", rep, err)
	}
	// The failed window is read again, from its first call.
	if len(fed) != 25 || fed[0] != "call-025" {
		t.Errorf("resumed run fed %d calls from %v, want the 25 from call-025", len(fed), fed[:min(1, len(fed))])
	}
}

func TestNewChecksConfig(t *testing.T) {
	store, _ := memstore.New()
	ok := reconcile.Config{Name: "x", History: &history{}, Calls: store, Sink: newEngine(t, store), Cursors: &reconcile.MemoryCursors{}}
	for name, mod := range map[string]func(*reconcile.Config){
		"Name": func(c *reconcile.Config) { c.Name = "" }, "History": func(c *reconcile.Config) { c.History = nil },
		"Calls": func(c *reconcile.Config) { c.Calls = nil }, "Sink": func(c *reconcile.Config) { c.Sink = nil },
		"Cursors": func(c *reconcile.Config) { c.Cursors = nil }, "Window": func(c *reconcile.Config) { c.Window = -1 },
	} {
		c := ok
		mod(&c)
		if _, err := reconcile.New(c); err == nil {
			t.Errorf("New accepted a config without a good %s", name)
		}
	}
	if _, err := reconcile.New(ok); err != nil {
		t.Errorf("New(%+v): %v", ok, err)
	}
}
