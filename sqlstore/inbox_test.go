package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/pgtest"
	"github.com/callbridge/callbridge/webhook"
)

// testEvent returns event n of call c, about 600 bytes as JSON.
func testEvent(c, n int) callevent.Event {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
	raw, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", 200), "call": fmt.Sprint(c), "n": fmt.Sprint(n)})
	return callevent.Event{
		ID:          fmt.Sprintf("ev-%d-%d", c, n),
		Provider:    "telphin",
		Account:     "acc",
		Kind:        callevent.Ended,
		Direction:   callevent.Inbound,
		Status:      callevent.Success,
		CallID:      fmt.Sprintf("call-%d", c),
		ClientPhone: "79161234567",
		Extension:   "101",
		At:          at,
		AnsweredAt:  at.Add(5 * time.Second),
		EndedAt:     at.Add(65 * time.Second),
		Duration:    60 * time.Second,
		Wait:        5 * time.Second,
		Raw:         raw,
	}
}

// recorder is a sink counting deliveries per event ID; fail, if set,
// decides an error per event.
type recorder struct {
	mu     sync.Mutex
	counts map[string]int
	order  map[string][]string // call → event IDs in delivery order
	calls  atomic.Int64
	fail   atomic.Pointer[func(callevent.Event) error]
	got    chan string // each success, if not nil (never blocks)
}

func newRecorder() *recorder {
	return &recorder{counts: map[string]int{}, order: map[string][]string{}, got: make(chan string, 100000)}
}

func (r *recorder) setFail(f func(callevent.Event) error) { r.fail.Store(&f) }

func (r *recorder) HandleEvent(_ context.Context, e callevent.Event) error {
	r.calls.Add(1)
	if f := r.fail.Load(); f != nil && *f != nil {
		if err := (*f)(e); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.counts[e.ID]++
	r.order[e.CallID] = append(r.order[e.CallID], e.ID)
	r.mu.Unlock()
	r.got <- e.ID
	return nil
}

// distinct reports how many distinct events were delivered.
func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.counts)
}

// waitDelivered receives n successes or fails the test.
func (r *recorder) waitDelivered(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-r.got:
		case <-timeout:
			t.Fatalf("delivered %d of %d events in 30s", i, n)
		}
	}
}

// eventually polls cond a bounded number of times.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func newInbox(t *testing.T, db *DB, sink callevent.Sink, cfg InboxConfig) *Inbox {
	t.Helper()
	in, err := NewInbox(db, sink, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		in.Close(ctx)
	})
	return in
}

type inboxRow struct {
	state, attempts int
	at              int64
	owner, lastErr  string
}

func rowOf(t *testing.T, db *DB, eventID string) inboxRow {
	t.Helper()
	var r inboxRow
	err := db.db.QueryRow("SELECT state, attempts, at, owner, last_error FROM cb_inbox WHERE event_id = $1", eventID).
		Scan(&r.state, &r.attempts, &r.at, &r.owner, &r.lastErr)
	if err != nil {
		t.Fatalf("row of %s: %v", eventID, err)
	}
	return r
}

// countRows counts the inbox rows that match where.
func countRows(t *testing.T, db *DB, where string) int {
	t.Helper()
	return countIn(t, db, "cb_inbox", where)
}

// countIn counts the rows of table that match where.
func countIn(t *testing.T, db *DB, table, where string) int {
	t.Helper()
	var n int
	if err := db.db.QueryRow("SELECT COUNT(*) FROM " + table + " WHERE " + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var zeroBackoff = func(int) time.Duration { return 0 }

// gate is a sink that blocks every delivery until open is closed or its
// context ends.
type gate struct {
	open    chan struct{}
	entered chan string
}

func newGate() *gate { return &gate{open: make(chan struct{}), entered: make(chan string, 1000)} }

func (g *gate) HandleEvent(ctx context.Context, e callevent.Event) error {
	g.entered <- e.ID
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestInboxCommitBeforeReturn(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		db := open(t, dsn)
		g := newGate()
		in := newInbox(t, db, g, InboxConfig{Workers: 1})
		ev := testEvent(1, 1)
		if err := in.HandleEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		// Another connection pool (as another process would) sees it.
		other := open(t, dsn)
		if n := countRows(t, other, "event_id = 'ev-1-1'"); n != 1 {
			t.Fatalf("rows after HandleEvent = %d, want 1", n)
		}
		// Stored as callevent's JSON: durations in seconds.
		var stored string
		if err := other.db.QueryRow("SELECT event FROM cb_inbox WHERE event_id = 'ev-1-1'").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !contains(stored, `"duration_sec":60`) || !contains(stored, `"wait_sec":5`) {
			t.Errorf("stored event %s lacks duration_sec/wait_sec", stored)
		}
		<-g.entered // the worker holds it: not delivered yet
		if r := rowOf(t, other, ev.ID); r.state != inboxPending || r.owner == "" {
			t.Errorf("row while delivering = %+v, want pending and claimed", r)
		}
		close(g.open)
		eventually(t, "delivered state", func() bool { return rowOf(t, other, ev.ID).state == inboxDelivered })
		if n, err := in.Pending(context.Background()); err != nil || n != 0 {
			t.Errorf("Pending = %d, %v; want 0", n, err)
		}
	})
}

func TestInboxDuplicates(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		rec := newRecorder()
		in := newInbox(t, db, rec, InboxConfig{})
		ev := testEvent(1, 1)
		var wg sync.WaitGroup
		for range 8 { // concurrent: likely in one group commit
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := in.HandleEvent(context.Background(), ev); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		rec.waitDelivered(t, 1)
		if err := in.HandleEvent(context.Background(), ev); err != nil { // after delivery
			t.Fatal(err)
		}
		if err := in.HandleEvent(context.Background(), testEvent(1, 2)); err != nil {
			t.Fatal(err)
		}
		rec.waitDelivered(t, 1)
		if n := countRows(t, db, "1=1"); n != 2 {
			t.Errorf("rows = %d, want 2", n)
		}
		if err := in.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if c := rec.counts[ev.ID]; c != 1 {
			t.Errorf("event delivered %d times, want 1", c)
		}
	})
}

func TestInboxRetries(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		rec := newRecorder()
		var failures atomic.Int64
		rec.setFail(func(callevent.Event) error {
			if failures.Add(1) <= 2 {
				return errors.New("sink down")
			}
			return nil
		})
		in := newInbox(t, db, rec, InboxConfig{Backoff: zeroBackoff, MaxAttempts: 5})
		if err := in.HandleEvent(context.Background(), testEvent(1, 1)); err != nil {
			t.Fatal(err)
		}
		rec.waitDelivered(t, 1)
		if c := rec.calls.Load(); c != 3 {
			t.Errorf("sink called %d times, want 3", c)
		}
		eventually(t, "delivered state", func() bool { return rowOf(t, db, "ev-1-1").state == inboxDelivered })
		if r := rowOf(t, db, "ev-1-1"); r.attempts != 2 || r.lastErr != "sink down" {
			t.Errorf("row = %+v, want 2 failed attempts with the last error", r)
		}
	})
}

func TestInboxBackoffClock(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clk := newFakeClock()
		db := newDB(t, dv, WithClock(clk))
		rec := newRecorder()
		var failed atomic.Bool
		rec.setFail(func(callevent.Event) error {
			if failed.CompareAndSwap(false, true) {
				return errors.New("first fails")
			}
			return nil
		})
		var gotN atomic.Int64
		in := newInbox(t, db, rec, InboxConfig{
			Backoff:      func(n int) time.Duration { gotN.Store(int64(n)); return time.Hour },
			PollInterval: time.Hour, // only wake-ups
		})
		if err := in.HandleEvent(context.Background(), testEvent(1, 1)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first failure recorded", func() bool { return rowOf(t, db, "ev-1-1").attempts == 1 })
		r := rowOf(t, db, "ev-1-1")
		if want := clk.Now().Add(time.Hour).UnixNano(); r.state != inboxPending || r.at != want || r.owner != "" {
			t.Fatalf("row after failure = %+v, want pending, due at %d, unclaimed", r, want)
		}
		if gotN.Load() != 1 {
			t.Errorf("Backoff(%d), want Backoff(1)", gotN.Load())
		}
		in.wakeUp() // not due yet: nothing happens
		if n, _ := in.Pending(context.Background()); n != 1 {
			t.Errorf("Pending = %d, want 1", n)
		}
		clk.Advance(time.Hour)
		in.wakeUp()
		rec.waitDelivered(t, 1)
		if c := rec.calls.Load(); c != 2 {
			t.Errorf("sink called %d times, want 2", c)
		}
	})
}

func TestInboxDeadLettersReplay(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		const n = 5
		long := strings.Repeat("é", MaxLastErrorLen) // clipped, still UTF-8
		db, rec, in, dls := newDeadLetters(t, dv, n, 3, " "+long)
		ctx := context.Background()
		if c := rec.calls.Load(); c != 3*n {
			t.Errorf("sink called %d times, want %d", c, 3*n)
		}
		for i, d := range dls {
			want := testEvent(i, 1)
			if d.Event.ID != want.ID || d.Event.Duration != want.Duration || !d.Event.At.Equal(want.At) || string(d.Event.Raw) != string(want.Raw) {
				t.Errorf("dead letter %d event = %+v, want %+v", i, d.Event, want)
			}
			if d.Attempts != 3 || !strings.HasPrefix(d.LastError, "crm rejected "+want.ID) || len(d.LastError) > MaxLastErrorLen || d.At.IsZero() {
				t.Errorf("dead letter %d = attempts %d, at %v, error %.40q (%d bytes)", i, d.Attempts, d.At, d.LastError, len(d.LastError))
			}
			if !strings.HasSuffix(d.LastError, "é") {
				t.Errorf("dead letter error clipped inside a rune")
			}
		}
		// Pages: stable order, no overlap.
		if pages := deadPages(t, in, 2, nil); !slices.EqualFunc(pages, [][]int64{{dls[0].ID, dls[1].ID}, {dls[2].ID, dls[3].ID}, {dls[4].ID}}, slices.Equal) {
			t.Errorf("pages of 2 = %v, want the IDs of %v", pages, dls)
		}
		if n, _ := in.Pending(ctx); n != 0 {
			t.Errorf("Pending = %d with only dead rows", n)
		}
		if got, err := in.Dead(ctx); err != nil || got != n {
			t.Errorf("Dead = %d, %v; want %d", got, err, n)
		}
		// Unknown id.
		if err := in.Replay(ctx, dls[n-1].ID+1000); !errors.Is(err, ErrNotFound) {
			t.Errorf("Replay(unknown) = %v, want ErrNotFound", err)
		}
		// A redelivered dead event stays dead until replayed.
		if err := in.HandleEvent(ctx, testEvent(0, 1)); err != nil {
			t.Fatal(err)
		}
		if r := rowOf(t, db, "ev-0-1"); r.state != inboxDead {
			t.Errorf("redelivered dead event state %d", r.state)
		}
		rec.setFail(nil)
		if err := in.Replay(ctx, dls[0].ID); err != nil {
			t.Fatal(err)
		}
		rec.waitDelivered(t, 1)
		if err := in.Replay(ctx, dls[0].ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Replay = %v, want ErrNotFound", err)
		}
		eventually(t, "4 dead letters", func() bool {
			d, err := in.DeadLetters(ctx, 0, 0)
			return err == nil && len(d) == n-1
		})
		if rec.counts["ev-0-1"] != 1 {
			t.Errorf("replayed event delivered %d times", rec.counts["ev-0-1"])
		}
		// PurgeDead removes the rest; Purge leaves dead rows alone.
		if got, err := in.Purge(ctx); err != nil || got != 0 {
			t.Errorf("Purge = %d, %v; want 0 (the delivered row is within retention)", got, err)
		}
		if got, err := in.PurgeDead(ctx, time.Now().Add(time.Minute)); err != nil || got != n-1 {
			t.Errorf("PurgeDead = %d, %v; want %d", got, err, n-1)
		}
		if d, _ := in.DeadLetters(ctx, 0, 0); len(d) != 0 {
			t.Errorf("dead letters after PurgeDead: %d", len(d))
		}
	})
}

// An operator who replays each page of dead letters as it comes meets
// every dead letter once: the next page starts after the last one read,
// not at an offset that the replayed letters have left.
func TestInboxDeadLettersPagedWhileReplayed(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		const n = 5
		_, rec, in, all := newDeadLetters(t, dv, n, 1, "")
		ctx := context.Background()
		rec.setFail(nil)
		pages := deadPages(t, in, 2, func(d DeadLetter) {
			if err := in.Replay(ctx, d.ID); err != nil {
				t.Fatal(err)
			}
		})
		if want := [][]int64{{all[0].ID, all[1].ID}, {all[2].ID, all[3].ID}, {all[4].ID}}; !slices.EqualFunc(pages, want, slices.Equal) {
			t.Errorf("pages replayed as read = %v, want %v", pages, want)
		}
		rec.waitDelivered(t, n)
	})
}

// newDeadLetters starts an inbox whose sink refuses every event ("crm
// rejected <id>" and why), gives it n events and waits until each is a
// dead letter after attempts deliveries.
func newDeadLetters(t *testing.T, dv backend, n, attempts int, why string) (*DB, *recorder, *Inbox, []DeadLetter) {
	t.Helper()
	db := newDB(t, dv)
	rec := newRecorder()
	rec.setFail(func(e callevent.Event) error { return errors.New("crm rejected " + e.ID + why) })
	in := newInbox(t, db, rec, InboxConfig{Backoff: zeroBackoff, MaxAttempts: attempts})
	ctx := context.Background()
	for i := range n {
		if err := in.HandleEvent(ctx, testEvent(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	var dls []DeadLetter
	eventually(t, "dead letters", func() bool {
		var err error
		dls, err = in.DeadLetters(ctx, 0, 0)
		return err == nil && len(dls) == n
	})
	return db, rec, in, dls
}

// deadPages reads in's dead letters limit at a time, each page after the
// last one read, calling each (if not nil) on every letter before the
// next page, and returns the IDs of each page.
func deadPages(t *testing.T, in *Inbox, limit int, each func(DeadLetter)) [][]int64 {
	t.Helper()
	var pages [][]int64
	var after int64
	for range 100 {
		page, err := in.DeadLetters(context.Background(), after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return pages
		}
		ids := make([]int64, len(page))
		for i, d := range page {
			ids[i] = d.ID
			if each != nil {
				each(d)
			}
		}
		pages = append(pages, ids)
		after = ids[len(ids)-1]
	}
	t.Fatalf("dead letters do not end: %v", pages)
	return nil
}

func TestInboxPurge(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clk := newFakeClock()
		db := newDB(t, dv, WithClock(clk))
		rec := newRecorder()
		in := newInbox(t, db, rec, InboxConfig{Retention: time.Hour, PollInterval: time.Hour})
		ctx := context.Background()
		for i := range 3 {
			if err := in.HandleEvent(ctx, testEvent(i, 1)); err != nil {
				t.Fatal(err)
			}
		}
		rec.waitDelivered(t, 3)
		eventually(t, "3 delivered rows", func() bool { return countRows(t, db, "state = 1") == 3 })
		clk.Advance(59 * time.Minute)
		if got, err := in.Purge(ctx); err != nil || got != 0 {
			t.Errorf("Purge within retention = %d, %v", got, err)
		}
		clk.Advance(2 * time.Minute)
		if got, err := in.Purge(ctx); err != nil || got != 3 {
			t.Errorf("Purge after retention = %d, %v; want 3", got, err)
		}
		if n := countRows(t, db, "1=1"); n != 0 {
			t.Errorf("%d rows left", n)
		}
	})
}

// TestInboxPurgeByWorkers: the claim loop purges on its own.
func TestInboxPurgeByWorkers(t *testing.T) {
	db := newDB(t, drivers[0])
	rec := newRecorder()
	in := newInbox(t, db, rec, InboxConfig{Retention: time.Nanosecond, PollInterval: 10 * time.Millisecond})
	for i := range 3 {
		if err := in.HandleEvent(context.Background(), testEvent(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	rec.waitDelivered(t, 3)
	eventually(t, "purged rows", func() bool { return countRows(t, db, "1=1") == 0 })
}

func TestInboxRestartRedelivers(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		db, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		g := newGate()
		in, err := NewInbox(db, g, InboxConfig{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		const calls, perCall = 10, 5
		for c := range calls {
			for n := range perCall {
				if err := in.HandleEvent(context.Background(), testEvent(c, n)); err != nil {
					t.Fatal(err)
				}
			}
		}
		<-g.entered // a delivery is in flight and never finishes
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := in.Close(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Close(canceled) = %v, want context.Canceled", err)
		}
		err = in.HandleEvent(context.Background(), testEvent(99, 1))
		if !errors.Is(err, webhook.ErrClosed) || webhook.StatusOf(err) != 503 {
			t.Errorf("HandleEvent after Close = %v (status %d), want ErrClosed, 503", err, webhook.StatusOf(err))
		}
		// Nothing was counted as a failed attempt or left claimed.
		if n := countRows(t, db, "state = 0 AND attempts = 0 AND owner = ''"); n != calls*perCall {
			t.Errorf("%d rows pending and unclaimed after Close, want %d", n, calls*perCall)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db2 := open(t, dsn)
		rec := newRecorder()
		in2 := newInbox(t, db2, rec, InboxConfig{})
		rec.waitDelivered(t, calls*perCall)
		if err := in2.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		for c := range calls {
			for n := range perCall {
				if got := rec.counts[testEvent(c, n).ID]; got != 1 {
					t.Errorf("event %d/%d delivered %d times", c, n, got)
				}
			}
			// One worker per call, claimed in order: the call's events in order.
			want := make([]string, perCall)
			for n := range perCall {
				want[n] = testEvent(c, n).ID
			}
			if got := rec.order[fmt.Sprintf("call-%d", c)]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("call %d delivered in order %v, want %v", c, got, want)
			}
		}
		if n := countRows(t, db2, "state = 1"); n != calls*perCall {
			t.Errorf("%d delivered rows, want %d", n, calls*perCall)
		}
	})
}

func TestInboxCloseFinishesInFlight(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		g := newGate()
		in := newInbox(t, db, g, InboxConfig{Workers: 1})
		if err := in.HandleEvent(context.Background(), testEvent(1, 1)); err != nil {
			t.Fatal(err)
		}
		<-g.entered
		closed := make(chan error, 1)
		go func() { closed <- in.Close(context.Background()) }()
		// HandleEvent is refused as soon as Close began.
		accepted, k := 0, 0
		eventually(t, "refusal after Close", func() bool {
			k++
			err := in.HandleEvent(context.Background(), testEvent(2, k))
			if err == nil {
				accepted++ // before Close began
			}
			return errors.Is(err, webhook.ErrClosed)
		})
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v with a delivery in flight", err)
		default:
		}
		close(g.open)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if r := rowOf(t, db, "ev-1-1"); r.state != inboxDelivered {
			t.Errorf("in-flight event state %d after Close, want delivered", r.state)
		}
		// Those accepted before Close are stored (delivered or given back
		// unclaimed), the refused one is not.
		if n := countRows(t, db, "owner = ''"); n != 1+accepted {
			t.Errorf("%d unclaimed rows after Close, want %d", n, 1+accepted)
		}
		if n := countRows(t, db, "1=1"); n != 1+accepted {
			t.Errorf("%d rows after Close, want %d (the refused event not stored)", n, 1+accepted)
		}
		if err := in.Close(context.Background()); err != nil {
			t.Errorf("second Close = %v", err)
		}
	})
}

// admitter refuses events of call "refused".
type admitter struct{ *recorder }

func (a admitter) Admit(_ context.Context, e callevent.Event) error {
	if e.CallID == "call-7" {
		return fmt.Errorf("engine full: %w", webhook.ErrUnavailable)
	}
	return nil
}

func TestInboxAdmitter(t *testing.T) {
	db := newDB(t, drivers[0])
	rec := newRecorder()
	in := newInbox(t, db, admitter{rec}, InboxConfig{})
	err := in.HandleEvent(context.Background(), testEvent(7, 1))
	if !errors.Is(err, webhook.ErrUnavailable) {
		t.Errorf("HandleEvent of a refused event = %v, want the Admit error", err)
	}
	if err := in.HandleEvent(context.Background(), testEvent(8, 1)); err != nil {
		t.Fatal(err)
	}
	rec.waitDelivered(t, 1)
	if n := countRows(t, db, "1=1"); n != 1 {
		t.Errorf("%d rows, want only the admitted event", n)
	}
}

func TestInboxDatabaseLost(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		in := newInbox(t, db, newRecorder(), InboxConfig{})
		db.db.Close() // the database is gone
		err := in.HandleEvent(context.Background(), testEvent(1, 1))
		if !errors.Is(err, webhook.ErrUnavailable) || webhook.StatusOf(err) != 503 {
			t.Errorf("HandleEvent without a database = %v (status %d), want ErrUnavailable, 503", err, webhook.StatusOf(err))
		}
	})
}

// TestInboxLeaseExpiry: rows claimed by a process that died are delivered
// once its lease has ended, not before.
func TestInboxLeaseExpiry(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clk := newFakeClock()
		db := newDB(t, dv, WithClock(clk))
		ctx := context.Background()
		// The dead process committed two events and claimed them for 5 min.
		dead, err := NewInbox(db, newGate(), InboxConfig{PollInterval: time.Hour, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		dead.stopClaim() // it claims nothing more, as if killed
		<-dead.claimDone
		for i := range 2 {
			if err := dead.HandleEvent(ctx, testEvent(i, 1)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.db.Exec("UPDATE cb_inbox SET owner = 'dead', at = $1", clk.Now().Add(5*time.Minute).UnixNano()); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		in := newInbox(t, db, rec, InboxConfig{PollInterval: time.Hour})
		in.wakeUp()
		clk.Advance(4 * time.Minute)
		in.wakeUp()
		if n, _ := in.claim(); n != 0 {
			t.Fatalf("claimed %d rows under a live lease", n)
		}
		clk.Advance(time.Minute)
		in.wakeUp()
		rec.waitDelivered(t, 2)
		if err := in.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if rec.counts["ev-0-1"] != 1 || rec.counts["ev-1-1"] != 1 {
			t.Errorf("counts %v, want each once", rec.counts)
		}
		// The dead owner's late result does not overwrite the new owner's.
		if n := countRows(t, db, "state = 1 AND owner = ''"); n != 2 {
			t.Errorf("%d delivered rows, want 2", n)
		}
	})
}

// TestInboxTwoInstances: two Inboxes on one database (two connection
// pools, as two processes) deliver every event exactly once.
func TestInboxTwoInstances(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		rec := newRecorder()
		var ins [2]*Inbox
		for i := range ins {
			ins[i] = newInbox(t, open(t, dsn), rec, InboxConfig{Workers: 3, PollInterval: 20 * time.Millisecond})
		}
		const calls, perCall = 50, 8
		var wg sync.WaitGroup
		for c := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range perCall {
					// Each event twice, once to each instance (a provider
					// redelivering to another instance).
					for k := range 2 {
						if err := ins[(c+n+k)%2].HandleEvent(context.Background(), testEvent(c, n)); err != nil {
							t.Error(err)
						}
					}
				}
			}()
		}
		wg.Wait()
		rec.waitDelivered(t, calls*perCall)
		for _, in := range ins {
			if err := in.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if d := rec.distinct(); d != calls*perCall {
			t.Errorf("%d distinct events delivered, want %d", d, calls*perCall)
		}
		for id, c := range rec.counts {
			if c != 1 {
				t.Errorf("event %s delivered %d times", id, c)
			}
		}
		if n, _ := ins[0].Pending(context.Background()); n != 0 {
			t.Errorf("Pending = %d", n)
		}
	})
}

func TestInboxConfigErrors(t *testing.T) {
	db := newDB(t, drivers[0])
	if _, err := NewInbox(nil, newRecorder(), InboxConfig{}); err == nil {
		t.Error("nil DB accepted")
	}
	if _, err := NewInbox(db, nil, InboxConfig{}); err == nil {
		t.Error("nil sink accepted")
	}
	if _, err := NewInbox(db, newRecorder(), InboxConfig{Workers: -1}); err == nil {
		t.Error("negative workers accepted")
	}
}

// BenchmarkInboxCommit measures events/s committed by 16 concurrent
// writers: each committing its own row (per-row) against the Inbox's group
// commit (grouped, with delivery to a no-op sink running meanwhile).
//
//	CALLBRIDGE_POSTGRES_DSN=postgres://… go test ./sqlstore -run '^$' -bench InboxCommit -benchtime 20000x
func BenchmarkInboxCommit(b *testing.B) {
	for _, dv := range drivers {
		b.Run(dv.name+"/per-row", func(b *testing.B) {
			db := newDB(b, dv)
			var seq atomic.Int64
			benchWriters(b, func() error {
				i := seq.Add(1)
				ev := testEvent(int(i), 0)
				body, _ := json.Marshal(ev)
				op := &inboxOp{eventID: ev.ID, event: body}
				return db.inTx(context.Background(), func(_ context.Context, tx *sql.Tx) error {
					_, err := (&Inbox{db: db}).insertInbox(context.Background(), tx, []*inboxOp{op}, time.Now().UnixNano(), false)
					return err
				})
			})
		})
		b.Run(dv.name+"/grouped", func(b *testing.B) {
			db := newDB(b, dv)
			in, err := NewInbox(db, callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil }), InboxConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer in.Close(context.Background())
			var seq atomic.Int64
			benchWriters(b, func() error { return in.HandleEvent(context.Background(), testEvent(int(seq.Add(1)), 0)) })
		})
	}
}

func benchWriters(b *testing.B, write func() error) {
	const writers = 16
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := write(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// Several claims that reach the writer together are each answered: one
// gets the rows, the others none (a claimer left waiting would hang).
func TestInboxConcurrentClaimsAllAnswered(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		in := newInbox(t, db, newRecorder(), InboxConfig{PollInterval: time.Hour})
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if _, err := in.claim(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	})
}

// TestInboxDiskFull: a SQLite database that cannot grow (its file system
// full; here SQLite's own page limit, which fails the same way with
// SQLITE_FULL) refuses events as unavailable (503: the provider
// redelivers) and stores nothing of them, while the events it accepted
// are delivered; once space is freed the same inbox takes them again
// without a restart.
func TestInboxDiskFull(t *testing.T) {
	db := nearlyFullDB(t)
	rec := newRecorder()
	in := newInbox(t, db, rec, InboxConfig{PollInterval: time.Hour})
	ctx := context.Background()
	stored := 0
	var full error
	for i := range 1000 {
		if full = in.HandleEvent(ctx, testEvent(i, 1)); full != nil {
			break
		}
		stored++
	}
	if full == nil {
		t.Fatal("1,000 events fit into 24 pages")
	}
	if !errors.Is(full, webhook.ErrUnavailable) || webhook.StatusOf(full) != 503 {
		t.Fatalf("HandleEvent on a full database = %v (status %d), want ErrUnavailable, 503", full, webhook.StatusOf(full))
	}
	if !strings.Contains(full.Error(), "full") {
		t.Errorf("error %q does not say the database is full", full)
	}
	rec.waitDelivered(t, stored)
	if n := countRows(t, db, "1=1"); n != stored {
		t.Fatalf("%d rows after %d accepted events: a refused one was stored", n, stored)
	}
	// Space comes back (an operator deletes what the disk held).
	if _, err := db.db.Exec("DELETE FROM cb_inbox"); err != nil {
		t.Fatal(err)
	}
	redelivered := testEvent(stored, 1) // the provider sends the refused event again
	if err := in.HandleEvent(ctx, redelivered); err != nil {
		t.Fatalf("HandleEvent after space was freed: %v", err)
	}
	rec.waitDelivered(t, 1)
	if rec.counts[redelivered.ID] != 1 {
		t.Errorf("the event refused while the disk was full was delivered %d times, want 1", rec.counts[redelivered.ID])
	}
}

// TestOpenReadOnly: a database that cannot be written (a SQLite file
// opened read-only, a PostgreSQL database whose transactions are
// read-only, as on a standby) refuses to open, with one error that names
// it and says why.
func TestOpenReadOnly(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		db := open(t, dsn)
		ro := "file:" + dsn + "?mode=ro"
		if dv.name == "postgres" {
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.db.Exec("ALTER DATABASE " + strings.TrimPrefix(u.Path, "/") + " SET default_transaction_read_only = on"); err != nil {
				t.Fatal(err)
			}
			ro = dsn
		}
		db.Close()
		_, err := Open(context.Background(), ro)
		if !errors.Is(err, ErrReadOnly) {
			t.Fatalf("Open of a read-only database = %v, want ErrReadOnly", err)
		}
		name := dsn
		if dv.name == "postgres" {
			name = redactURL(dsn)
		}
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Open error = %q; want it to name %s", err, name)
		}
	})
}

// TestInboxDiskFullKeepsDeliveryResults: when new events do not fit (a
// full disk), the events are refused and the delivery results are
// committed all the same.
func TestInboxDiskFullKeepsDeliveryResults(t *testing.T) {
	db := nearlyFullDB(t)
	in := newInbox(t, db, newRecorder(), InboxConfig{PollInterval: time.Hour})
	ctx := context.Background()
	seq := inFlightRow(t, db, in)
	for i := 0; ; i++ { // fill the database
		if err := in.HandleEvent(ctx, testEvent(i, 1)); err != nil {
			break
		}
		if i == 1000 {
			t.Fatal("1,000 events fit into 24 pages")
		}
	}
	ev := testEvent(5000, 1)
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	insert := &inboxOp{kind: opInsert, ctx: ctx, eventID: ev.ID, ev: ev, event: body, done: make(chan error, 1)}
	in.commitEvents([]*inboxOp{insert})
	in.commitBook([]*inboxOp{{kind: opDelivered, seq: seq}})
	if err := <-insert.done; !errors.Is(err, webhook.ErrUnavailable) {
		t.Fatalf("insert into a full database = %v, want ErrUnavailable", err)
	}
	if n := countRows(t, db, fmt.Sprintf("seq = %d AND state = %d", seq, inboxDelivered)); n != 1 {
		t.Error("the delivery result was lost while the database refused events")
	}
	if n := countRows(t, db, "event_id = '"+ev.ID+"'"); n != 0 {
		t.Error("the refused event was stored")
	}
}

// TestInboxEventsDoNotWaitForBookkeeping: on PostgreSQL, where the two
// writers commit side by side, a delivery result stuck behind a row lock
// does not hold up the commit of new events (the webhooks' 2xx).
func TestInboxEventsDoNotWaitForBookkeeping(t *testing.T) {
	db := open(t, pgtest.NewDatabase(t))
	in := newInbox(t, db, newRecorder(), InboxConfig{PollInterval: time.Hour})
	ctx := context.Background()
	seq := inFlightRow(t, db, in)
	lock, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.Exec("SELECT seq FROM cb_inbox WHERE seq = $1 FOR UPDATE", seq); err != nil {
		t.Fatal(err)
	}
	in.send(&inboxOp{kind: opDelivered, seq: seq})
	eventually(t, "the delivery result to wait for the row lock", func() bool {
		return countIn(t, db, "pg_stat_activity", "datname = current_database() AND wait_event_type = 'Lock'") == 1
	})
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := in.HandleEvent(ectx, testEvent(1, 1)); err != nil {
		t.Fatalf("HandleEvent while a delivery result waits for a lock = %v", err)
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delivery result to be committed", func() bool {
		return countRows(t, db, fmt.Sprintf("seq = %d AND state = %d", seq, inboxDelivered)) == 1
	})
}

// inFlightRow inserts a row that in is delivering (leased to it, not due)
// and returns its seq.
func inFlightRow(t *testing.T, db *DB, in *Inbox) int64 {
	t.Helper()
	var seq int64
	if err := db.db.QueryRow("INSERT INTO cb_inbox (event_id, event, state, attempts, at, owner, last_error, created_at, call_key)"+
		" VALUES ('in-flight', '{}', 0, 0, $1, $2, '', $3, '') RETURNING seq", time.Now().Add(time.Hour).UnixNano(), in.owner, time.Now().UnixNano()).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

// nearlyFullDB is a SQLite database that can grow by 24 pages only: its
// page limit fails a write with SQLITE_FULL, as a full file system does.
func nearlyFullDB(t *testing.T) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "callbridge.db")
	db := open(t, path)
	var pages int
	if err := db.db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return open(t, fmt.Sprintf("%s?_pragma=max_page_count(%d)", path, pages+24))
}
