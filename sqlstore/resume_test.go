package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
)

// decisions counts an engine's decisions per call.
type decisions struct {
	mu   sync.Mutex
	recs map[string][]match.CallRecord
}

func (d *decisions) add(rec match.CallRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.recs == nil {
		d.recs = map[string][]match.CallRecord{}
	}
	d.recs[rec.CallID] = append(d.recs[rec.CallID], rec)
}

func (d *decisions) of(callID string) []match.CallRecord {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]match.CallRecord(nil), d.recs[callID]...)
}

func (d *decisions) total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, r := range d.recs {
		n += len(r)
	}
	return n
}

// instance is one process of a deployment: a connection pool, an engine
// and an inbox in front of it, wired as the package doc says.
type instance struct {
	db      *DB
	engine  *match.Engine
	inbox   *Inbox
	decided *decisions
}

func newInstance(t *testing.T, dsn string, opts ...match.Option) *instance {
	return newInstanceAt(t, dsn, nil, testLeaderLease, opts...)
}

// testLeaderLease is the instances' lease of delivery: short, so that a
// test waits little for a killed instance's lease to end.
const testLeaderLease = 300 * time.Millisecond

// newInstanceAt is newInstance whose database and engine run on clock
// (nil: the system's), with a lease of delivery of lease.
func newInstanceAt(t *testing.T, dsn string, clock match.Clock, lease time.Duration, opts ...match.Option) *instance {
	t.Helper()
	dbOpts := []Option{WithDefaultCountry("RU")}
	if clock != nil {
		dbOpts = append(dbOpts, WithClock(clock))
		opts = append(opts, match.WithClock(clock))
	}
	x := &instance{db: open(t, dsn, dbOpts...), decided: &decisions{}}
	var err error
	// A call that ended waits an hour for its Completed event: it stays
	// in progress unless the test completes it.
	opts = append([]match.Option{match.WithDefaultCountry("RU"), match.WithTiming(match.Timing{Grace: time.Hour})}, opts...)
	x.engine, err = match.NewEngine(x.db, append(opts,
		match.WithOnDecision(func(ctx context.Context, d match.Decision) {
			x.decided.add(d.Call)
			if err := x.inbox.Settle(ctx, d.Call.Provider, d.Call.Account, d.Call.CallID); err != nil {
				t.Errorf("Settle: %v", err)
			}
		}))...)
	if err != nil {
		t.Fatal(err)
	}
	x.inbox = newInbox(t, x.db, x.engine, InboxConfig{PollInterval: 20 * time.Millisecond, LeaderLease: lease})
	return x
}

// kill stops the instance delivering, as kill -9 would: no Close, no
// decision of what its engine holds, its lease left to expire.
func (x *instance) kill() {
	x.inbox.stopClaim()
	<-x.inbox.claimDone
}

// endLease ends the lease of delivery, whoever holds it, as if its time
// had run out.
func endLease(t *testing.T, db *DB) {
	t.Helper()
	if _, err := db.db.Exec("UPDATE cb_leases SET expires_at = 0"); err != nil {
		t.Fatal(err)
	}
}

func (x *instance) send(t *testing.T, e callevent.Event) {
	t.Helper()
	if err := x.inbox.HandleEvent(context.Background(), e); err != nil {
		t.Fatalf("HandleEvent %s: %v", e.ID, err)
	}
}

// callEvents are the Ended event (with the recording) and the Completed
// event of call c from phone.
func callEvents(c int, phone string) (ended, completed callevent.Event) {
	ended = testEvent(c, 1)
	ended.ClientPhone, ended.RecordingURL = phone, fmt.Sprintf("https://rec.example/%d.mp3", c)
	completed = testEvent(c, 2)
	completed.Kind, completed.ClientPhone = callevent.Completed, phone
	return ended, completed
}

// TestInboxResumesCallsInProgress: a call whose first events were
// delivered to an engine that then died is resumed by the next one from
// the held rows and decided once, with every event; a call decided before
// the crash is not decided again.
func TestInboxResumesCallsInProgress(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		ctx := context.Background()
		first := newInstance(t, dsn)
		aEnded, aDone := callEvents(1, "79160000001")
		bEnded, bDone := callEvents(2, "79160000002")
		first.send(t, aEnded)
		first.send(t, aDone)
		first.send(t, bEnded)
		eventually(t, "call A decided", func() bool { return len(first.decided.of("call-1")) == 1 })
		eventually(t, "call B held", func() bool {
			return countRows(t, first.db, fmt.Sprintf("state = 0 AND at = %d AND event_id = 'ev-2-1'", int64(heldAt))) == 1
		})
		eventually(t, "call A settled", func() bool {
			return countRows(t, first.db, fmt.Sprintf("state = %d AND event_id LIKE 'ev-1-%%'", inboxDelivered)) == 2
		})
		first.kill()

		next := newInstance(t, dsn)
		eventually(t, "call B resumed", func() bool { return next.engine.Undecided(bEnded) })
		next.send(t, bDone)
		eventually(t, "call B decided", func() bool { return len(next.decided.of("call-2")) == 1 })
		rec := next.decided.of("call-2")[0]
		if rec.RecordingURL != bEnded.RecordingURL {
			t.Errorf("call B decided without its resumed Ended event: recording %q", rec.RecordingURL)
		}
		if n := len(next.decided.of("call-1")); n != 0 {
			t.Errorf("call A decided again after the restart (%d times)", n)
		}
		calls, err := next.db.Calls(ctx, "acc", Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 2 {
			t.Errorf("%d calls logged, want 2: %+v", len(calls), calls)
		}
		eventually(t, "call B settled", func() bool {
			return countRows(t, next.db, fmt.Sprintf("state = 0 AND at = %d", int64(heldAt))) == 0
		})
	})
}

// TestInboxOneDelivererAcrossInstances: the events of each call reach two
// instances, split between them; one engine (the lease holder's) gets
// them all and decides each call once. When it dies, the other takes over
// its calls in progress.
func TestInboxOneDelivererAcrossInstances(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		// A lease of an hour: the leader keeps it however long a loaded
		// machine stalls its renewals (with 300 ms, a stall once handed
		// it to the other in the middle of the calls), and it ends when
		// the test ends it.
		xs := []*instance{newInstanceAt(t, dsn, nil, time.Hour), newInstanceAt(t, dsn, nil, time.Hour)}
		const calls = 20
		for c := range calls {
			ended, done := callEvents(c, "79161111111") // one number: one client
			xs[c%2].send(t, ended)
			xs[(c+1)%2].send(t, done)
		}
		eventually(t, "every call decided", func() bool { return xs[0].decided.total()+xs[1].decided.total() >= calls })
		var leader, other *instance
		for i, x := range xs {
			if x.decided.total() > 0 {
				leader, other = x, xs[1-i]
			}
		}
		if leader.decided.total() != calls || other.decided.total() != 0 {
			t.Fatalf("decisions per instance %d and %d, want all %d by one", xs[0].decided.total(), xs[1].decided.total(), calls)
		}
		// Each call decided once; an event that reached the other instance
		// reaches the decider within a poll, before or after the decision
		// (then it amends the call's record, as an event delivered late
		// does).
		for c := range calls {
			if recs := leader.decided.of(fmt.Sprintf("call-%d", c)); len(recs) != 1 {
				t.Errorf("call %d: decisions %+v, want one", c, recs)
			}
		}
		eventually(t, "every call logged with every event", func() bool {
			calls, err := leader.db.Calls(context.Background(), "acc", Page{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, rec := range calls {
				if rec.RecordingURL != "" {
					n++
				}
			}
			return n == 20
		})

		// The leader holds the first half of more calls, then dies; the
		// other gets the second halves and finishes them.
		for c := calls; c < 2*calls; c++ {
			ended, _ := callEvents(c, "79161111111")
			leader.send(t, ended)
		}
		eventually(t, "first halves held", func() bool {
			return countRows(t, leader.db, fmt.Sprintf("state = 0 AND at = %d", int64(heldAt))) == calls
		})
		leader.kill()
		// Its hour passes.
		endLease(t, other.db)
		for c := calls; c < 2*calls; c++ {
			_, done := callEvents(c, "79161111111")
			other.send(t, done)
		}
		eventually(t, "the other decides them", func() bool { return other.decided.total() == calls })
		for c := calls; c < 2*calls; c++ {
			recs := other.decided.of(fmt.Sprintf("call-%d", c))
			if len(recs) != 1 || recs[0].RecordingURL == "" {
				t.Errorf("call %d after failover: decisions %+v, want one with every event", c, recs)
			}
			if n := len(leader.decided.of(fmt.Sprintf("call-%d", c))); n != 0 {
				t.Errorf("call %d decided by the dead leader too", c)
			}
		}
		clients, err := other.db.Clients(context.Background(), "acc", Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(clients) != 1 {
			t.Errorf("%d clients for one number, want 1", len(clients))
		}
	})
}

// TestInboxReleaseLease: a leader closed gracefully gives its lease up,
// and the other process takes over at once, not when the lease (an hour)
// would end: it resumes the calls the first left undecided and decides
// each with every event, once: one still ringing, and one that ended and
// waited for its Completed event, which reaches the other process.
func TestInboxReleaseLease(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		xs := []*instance{newInstanceAt(t, dsn, nil, time.Hour), newInstanceAt(t, dsn, nil, time.Hour)}
		ended, done := callEvents(1, "79160000001")
		xs[0].send(t, ended)
		xs[1].send(t, done)
		eventually(t, "the first call decided", func() bool { return xs[0].decided.total()+xs[1].decided.total() == 1 })
		leader, other := xs[0], xs[1]
		if other.decided.total() == 1 {
			leader, other = other, leader
		}
		ctx := context.Background()
		if err := leader.inbox.ReleaseLease(ctx); err == nil {
			t.Error("ReleaseLease of an open inbox: no error")
		}
		// Calls in progress at the leader when it stops: one rings, one
		// ended and waits for its Completed event.
		ended, done = callEvents(2, "79160000002")
		ring := testEvent(2, 0)
		ring.Kind, ring.ClientPhone = callevent.Ringing, ended.ClientPhone
		ring.AnsweredAt, ring.EndedAt, ring.Duration, ring.Wait, ring.Status = time.Time{}, time.Time{}, 0, 0, 0
		leader.send(t, ring)
		ended3, done3 := callEvents(3, "79160000003")
		leader.send(t, ended3)
		eventually(t, "the calls in progress", func() bool { return leader.engine.Undecided(ring) && leader.engine.Undecided(ended3) })
		if err := leader.inbox.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := leader.engine.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := leader.inbox.ReleaseLease(ctx); err != nil {
			t.Fatal(err)
		}
		other.send(t, ended)
		other.send(t, done)
		other.send(t, done3)
		eventually(t, "the other decides the calls", func() bool { return other.decided.total() == 2 })
		if recs := other.decided.of("call-2"); len(recs) != 1 || recs[0].RecordingURL == "" || !recs[0].StartedAt.Equal(ring.At) {
			t.Errorf("call 2 decided after the handover: %+v, want once with every event (started at the ring, %v)", recs, ring.At)
		}
		if recs := other.decided.of("call-3"); len(recs) != 1 || recs[0].RecordingURL == "" {
			t.Errorf("call 3 decided after the handover: %+v, want once with every event", recs)
		}
		if n := leader.decided.total(); n != 1 {
			t.Errorf("the closed leader decided %d calls, want only the first", n)
		}
	})
}

// TestInboxRetakesItsOwnRows: an inbox that loses the lease and takes it
// back delivers the rows it had committed for itself and not handed out
// when it lost it.
func TestInboxRetakesItsOwnRows(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		x := newInstance(t, dv.dsn(t))
		ended, done := callEvents(1, "79160000001")
		x.send(t, ended)
		eventually(t, "the call in progress", func() bool { return x.engine.Undecided(ended) })

		// Another process holds the lease for a while.
		if _, err := x.db.db.Exec("UPDATE cb_leases SET owner = 'other', expires_at = $1", time.Now().Add(time.Hour).UnixNano()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the lease lost", func() bool { return !x.inbox.isLeader.Load() })
		// A row this inbox committed for itself just before, never handed out.
		b, err := json.Marshal(done)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.db.db.Exec("INSERT INTO cb_inbox (event_id, event, state, attempts, at, owner, last_error, created_at, call_key)"+
			" VALUES ($1, $2, 0, 0, $3, $4, '', $5, $6)", done.ID, string(b), int64(heldAt), x.inbox.owner, time.Now().UnixNano(),
			callKeyOf(done)); err != nil {
			t.Fatal(err)
		}
		// The other process goes away; this inbox takes the lease back.
		endLease(t, x.db)
		eventually(t, "the call decided with both events", func() bool {
			recs := x.decided.of("call-1")
			return len(recs) == 1 && recs[0].RecordingURL != ""
		})
	})
}

// TestInboxResumesDelayedNotification: a missed call decided before a
// crash whose notification delayed by NotifyRule.Delay was not sent yet stays
// held; the next instance decides it again and sends the notification
// when it was due, once, and only then settles the call.
func TestInboxResumesDelayedNotification(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		ctx := context.Background()
		clock := matchtest.NewClock(time.Now())
		rule := match.DefaultRule()
		rule.Notify = match.NotifyRule{Extra: []string{"u4"}, Delay: match.Duration(5 * time.Minute)}
		rules := match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}})
		notes := func(db *DB) int {
			ns, err := db.Notifications(ctx, "acc", Page{})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, x := range ns {
				if x.Employee == "u4" {
					n++
				}
			}
			return n
		}
		held := fmt.Sprintf("state = 0 AND at = %d AND event_id LIKE 'ev-1-%%'", int64(heldAt))

		first := newInstanceAt(t, dsn, clock, testLeaderLease, rules)
		ended, done := callEvents(1, "79160000001")
		for _, e := range []*callevent.Event{&ended, &done} {
			e.Status, e.AnsweredAt, e.Extension = callevent.Missed, time.Time{}, ""
		}
		first.send(t, ended)
		first.send(t, done)
		eventually(t, "the call logged", func() bool {
			calls, err := first.db.Calls(ctx, "acc", Page{})
			return err == nil && len(calls) == 1
		})
		clock.Advance(2 * time.Minute)
		first.kill()
		if err := first.engine.Close(ctx); err != nil { // its timers die with it
			t.Fatal(err)
		}
		if n := clock.Pending(); n != 0 {
			t.Fatalf("%d timers left by the first engine", n)
		}
		if n := len(first.decided.of("call-1")); n != 0 {
			t.Fatalf("reported decided before its delayed notification")
		}
		if n := notes(first.db); n != 0 {
			t.Fatalf("%d delayed notifications before they were due", n)
		}
		if n := countRows(t, first.db, held); n != 2 {
			t.Fatalf("%d of the call's 2 events held, want both: it is not settled before its notification", n)
		}

		clock.Advance(time.Minute) // the restart, three minutes after the decision
		next := newInstanceAt(t, dsn, clock, testLeaderLease, rules)
		// Decided again: the delayed notification's timer and the call's
		// forget timer wait on the clock.
		eventually(t, "the call decided again", func() bool { return clock.Pending() == 2 })
		clock.Advance(2*time.Minute - time.Second)
		if n := notes(next.db); n != 0 {
			t.Fatalf("%d delayed notifications before they were due", n)
		}
		clock.Advance(time.Second)
		eventually(t, "the call settled", func() bool { return countRows(t, next.db, held) == 0 })
		if n := notes(next.db); n != 1 {
			t.Errorf("%d notifications of u4, want 1", n)
		}
		if n := len(next.decided.of("call-1")); n != 1 {
			t.Errorf("reported decided %d times, want 1", n)
		}
		calls, err := next.db.Calls(ctx, "acc", Page{})
		if err != nil || len(calls) != 1 {
			t.Errorf("calls %+v (%v), want 1", calls, err)
		}
	})
}

// TestInboxRechecksAfterAFailedCommit: a commit whose answer was lost (the
// connection dropped at COMMIT) may have stored its events as held rows
// that nobody delivers, and the provider's redelivery is absorbed by their
// IDs. After a failed commit the lease holder makes its held rows due
// again, so such an event still reaches the engine.
func TestInboxRechecksAfterAFailedCommit(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		x := newInstance(t, dv.dsn(t))
		ended, _ := callEvents(7, "79160000007")
		eventually(t, "the lease", func() bool { return x.inbox.isLeader.Load() })
		// The row as the lost commit stored it: held by this inbox, never
		// delivered.
		body, err := json.Marshal(ended)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.db.db.Exec("INSERT INTO cb_inbox (event_id, event, state, attempts, at, owner, last_error, created_at, call_key)"+
			" VALUES ($1, $2, 0, 0, $3, $4, '', $5, $6)", ended.ID, string(body), int64(heldAt), x.inbox.owner,
			time.Now().UnixNano(), callKeyOf(ended)); err != nil {
			t.Fatal(err)
		}
		x.send(t, ended) // the redelivery: absorbed by the ID
		time.Sleep(50 * time.Millisecond)
		if x.engine.Undecided(ended) {
			t.Fatal("the absorbed redelivery reached the engine by itself: the test shows nothing")
		}
		x.inbox.recheck.Store(true) // what a failed commit sets
		x.inbox.wakeUp()
		eventually(t, "the held event delivered", func() bool { return x.engine.Undecided(ended) })
	})
}

// newHeldInbox opens a database of dv, an engine on it whose ended calls
// stay in progress (their events held) and an inbox in front of it, with
// cfg, polling every 10 ms and holding the lease of delivery; the inbox
// runs on the clock returned (the engine on the system's), which starts
// now.
func newHeldInbox(t *testing.T, dv backend, cfg InboxConfig) (*DB, *Inbox, *atomic.Int64) {
	t.Helper()
	db := open(t, dv.dsn(t), WithDefaultCountry("RU"))
	engine, err := match.NewEngine(db, match.WithDefaultCountry("RU"), match.WithTiming(match.Timing{Grace: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close(context.Background()) })
	now := new(atomic.Int64)
	now.Store(time.Now().UnixNano())
	cfg.Now = func() time.Time { return time.Unix(0, now.Load()) }
	cfg.PollInterval, cfg.LeaderLease = 10*time.Millisecond, 100*time.Hour
	return db, newInbox(t, db, engine, cfg), now
}

// TestInboxPurgesHeldRowsPastHoldLimit: a held row whose call is never
// settled is deleted once it is older than HoldLimit, by the workers'
// purge; a younger one stays held.
func TestInboxPurgesHeldRowsPastHoldLimit(t *testing.T) {
	if heldAtSQL != strconv.FormatInt(heldAt, 10) {
		t.Fatalf("heldAtSQL %s is not heldAt %d", heldAtSQL, int64(heldAt))
	}
	forEachDriver(t, func(t *testing.T, dv backend) {
		db, in, now := newHeldInbox(t, dv, InboxConfig{HoldLimit: time.Hour})
		held := func(call int) string {
			return fmt.Sprintf("state = 0 AND at = %s AND event_id LIKE 'ev-%d-%%'", heldAtSQL, call)
		}
		first, _ := callEvents(1, "79161111111")
		if err := in.HandleEvent(context.Background(), first); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the first call's event held", func() bool { return countRows(t, db, held(1)) == 1 })
		now.Add(int64(40 * time.Minute))
		second, _ := callEvents(2, "79162222222")
		if err := in.HandleEvent(context.Background(), second); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the second call's event held", func() bool { return countRows(t, db, held(2)) == 1 })
		now.Add(int64(40 * time.Minute)) // the first is 80 minutes old, the second 40
		eventually(t, "the first call's row purged", func() bool { return countRows(t, db, held(1)) == 0 })
		if n := countRows(t, db, held(2)); n != 1 {
			t.Errorf("%d held rows of the second call, want 1 (younger than the hold limit)", n)
		}
	})
}

// TestInboxStampsSettleTime: the rows of a settled call are stamped with
// the moment of Settle, not of the bookkeeping's commit a little later,
// so that their retention counts from the decision.
func TestInboxStampsSettleTime(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db, in, now := newHeldInbox(t, dv, InboxConfig{})
		settledAt := now.Load()
		ended, _ := callEvents(1, "79161111111")
		if err := in.HandleEvent(context.Background(), ended); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the call's event held", func() bool { return countRows(t, db, "state = 0 AND at = "+heldAtSQL) == 1 })
		if err := in.Settle(context.Background(), ended.Provider, ended.Account, ended.CallID); err != nil {
			t.Fatal(err)
		}
		now.Add(int64(time.Hour)) // before the bookkeeping's commit, bookLinger later
		eventually(t, "the call's row settled", func() bool { return countRows(t, db, "state = "+inboxDeliveredSQL) == 1 })
		if n := countRows(t, db, fmt.Sprintf("state = %s AND at = %d", inboxDeliveredSQL, settledAt)); n != 1 {
			t.Errorf("the settled row is not stamped with the moment of Settle (%d rows are)", n)
		}
	})
}
