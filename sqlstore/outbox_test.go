package sqlstore

import (
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestOutbox: a message is enqueued once per key; a claim leases the due
// messages to one caller (two instances claiming at once get each message
// once) and counts the attempt; a failure makes it due again at its retry
// time, or failed for good; a sent message is not claimed again; a lease
// that ends without a result (a dead sender) gives the message back; old
// messages that are done are purged.
func TestOutbox(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clock := newFakeClock()
		db := newDB(t, dv, WithClock(clock))
		for _, k := range []string{"a", "b", "c", "a"} {
			if err := db.Enqueue(ctx, k, []byte(`{"k":"`+k+`"}`)); err != nil {
				t.Fatal(err)
			}
		}
		// Two claimers at once: each message goes to one of them.
		var mu sync.Mutex
		var got []string
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				ds, err := db.ClaimDeliveries(ctx, time.Minute, 10)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, d := range ds {
					got = append(got, d.Key)
					if d.Attempts != 1 || string(d.Payload) != `{"k":"`+d.Key+`"}` {
						t.Errorf("claimed %+v", d)
					}
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(got)
		if !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("claimed %v, want each of a, b, c once", got)
		}
		byKey, err := db.Deliveries(ctx, []string{"a", "b", "c", "nope"})
		if err != nil || len(byKey) != 3 {
			t.Fatalf("Deliveries = %v, %v", byKey, err)
		}
		if err := db.DeliveryDone(ctx, byKey["a"].ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeliveryFailed(ctx, byKey["b"].ID, "503 from the receiver", clock.Now().Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := db.DeliveryFailed(ctx, byKey["c"].ID, "410 gone", time.Time{}); err != nil {
			t.Fatal(err)
		}
		if ds, _ := db.ClaimDeliveries(ctx, time.Minute, 10); len(ds) != 0 {
			t.Fatalf("claimed %v before the retry is due", ds)
		}
		clock.Advance(10 * time.Second)
		ds, err := db.ClaimDeliveries(ctx, time.Minute, 10)
		if err != nil || len(ds) != 1 || ds[0].Key != "b" || ds[0].Attempts != 2 || ds[0].LastError != "503 from the receiver" {
			t.Fatalf("retry claimed %+v, %v", ds, err)
		}
		// The claimer dies: the lease ends and the message is due again.
		clock.Advance(time.Minute)
		if ds, _ := db.ClaimDeliveries(ctx, time.Minute, 10); len(ds) != 1 || ds[0].Attempts != 3 {
			t.Fatalf("after the lease: %+v", ds)
		}
		byKey, _ = db.Deliveries(ctx, []string{"a", "c"})
		if a := byKey["a"]; a.State != DeliverySent || a.SentAt.IsZero() {
			t.Errorf("a = %+v, want sent", a)
		}
		if c := byKey["c"]; c.State != DeliveryFailed || c.LastError != "410 gone" {
			t.Errorf("c = %+v, want failed", c)
		}
		counts, err := db.DeliveryCounts(ctx)
		if want := map[DeliveryState]int{DeliveryPending: 1, DeliverySent: 1, DeliveryFailed: 1}; err != nil || !maps.Equal(counts, want) {
			t.Errorf("DeliveryCounts = %v, %v; want %v", counts, err, want)
		}
		clock.Advance(time.Hour)
		n, err := db.PurgeDeliveries(ctx, clock.Now())
		if err != nil || n != 2 {
			t.Fatalf("purged %d, %v; want a and c", n, err)
		}
	})
}

// TestOutboxRecord: a message delivered by other means is kept as sent,
// or failed with its reason, and never claimed; a key already there is
// left alone.
func TestOutboxRecord(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clock := newFakeClock()
		db := newDB(t, dv, WithClock(clock))
		if err := db.Record(ctx, "sent", []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
		if err := db.Record(ctx, "skipped", []byte(`{}`), "not shown"); err != nil {
			t.Fatal(err)
		}
		if err := db.Enqueue(ctx, "pending", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if err := db.Record(ctx, "pending", []byte(`{}`), ""); err != nil {
			t.Fatal(err)
		}
		got, err := db.Deliveries(ctx, []string{"sent", "skipped", "pending"})
		if err != nil {
			t.Fatal(err)
		}
		if d := got["sent"]; d.State != DeliverySent || d.Attempts != 1 || !d.SentAt.Equal(clock.Now()) {
			t.Errorf("sent: %+v", d)
		}
		if d := got["skipped"]; d.State != DeliveryFailed || d.LastError != "not shown" || !d.SentAt.IsZero() {
			t.Errorf("skipped: %+v", d)
		}
		if d := got["pending"]; d.State != DeliveryPending || d.Attempts != 0 {
			t.Errorf("pending: %+v", d)
		}
		ds, err := db.ClaimDeliveries(ctx, time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Key != "pending" {
			t.Errorf("claimed %+v, want only pending", ds)
		}
	})
}
