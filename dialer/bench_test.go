package dialer_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
)

// benchTargets makes n targets with a name and a CRM id each.
func benchTargets(n int) []dialer.Target {
	ts := make([]dialer.Target, n)
	for i := range ts {
		ts[i] = dialer.Target{Phone: fmt.Sprintf("7916%07d", i+1), Entity: "lead", EntityID: fmt.Sprint(100000 + i),
			Name: fmt.Sprint("Client ", i+1)}
	}
	return ts
}

// benchCampaign is a preview campaign inside its calling hours whose busy
// targets come back at once, so a campaign of n targets serves any number
// of calls with n targets pending.
func benchCampaign() dialer.Campaign {
	return dialer.Campaign{Provider: "fake", Mode: dialer.Preview, Agents: []string{"anna"},
		Hours: dialer.CallingHours{From: 8 * 60, To: 22 * 60},
		Retry: dialer.RetryPolicy{Busy: dialer.Retry{MaxAttempts: dialer.MaxAttempts}}}
}

// BenchmarkCall is the scheduling overhead of one call in campaigns of 10k
// to 1M pending targets: the next target taken from the heap (calling
// hours and the do-not-call list checked), the attempt recorded, the call
// placed (a fake caller that does nothing), the busy outcome applied and
// the target put back. A flat time per call across sizes shows the
// O(log n) selection.
func BenchmarkCall(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			fc := &fakeCaller{}
			r := newRig(&testing.T{}, dialer.NewMemStore(), fc)
			r.d.Close()
			r.cfg.OnCall = func(context.Context, dialer.CallStart) {} // the target is read for it, not kept
			r.open()
			c, err := r.d.Create(ctx, benchCampaign(), benchTargets(n))
			if err != nil {
				b.Fatal(err)
			}
			if err := r.d.Start(ctx, c.ID); err != nil {
				b.Fatal(err)
			}
			if _, err := r.d.Ready(ctx, c.ID, "anna"); err != nil {
				b.Fatal(err)
			}
			e := callevent.Event{ID: "x", Provider: "fake", Kind: callevent.Completed, Direction: callevent.Outbound,
				Status: callevent.Busy, At: t0}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				a, err := r.d.Ready(ctx, c.ID, "anna") // confirm the offered target: the call is placed
				if err != nil || a.State != dialer.AgentDialing {
					b.Fatalf("call %d: %+v %v", i, a, err)
				}
				e.CallID = a.CallID
				if err := r.d.HandleEvent(ctx, e); err != nil { // busy: the next target is offered
					b.Fatal(err)
				}
				if i%1024 == 0 { // the fake keeps every request: not the dialer's memory
					fc.mu.Lock()
					fc.calls = fc.calls[:0]
					fc.mu.Unlock()
				}
			}
		})
	}
}

// heapAlloc is the live heap after a collection.
func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemory measures the memory of a campaign of 1M pending
// targets: the Dialer's (what it holds whatever the store: B/target) and
// the MemStore's (its targets' texts and progress: store-B/target). Run
// with -benchtime=1x.
func BenchmarkMemory(b *testing.B) {
	const n = 1_000_000
	for range b.N {
		store := dialer.NewMemStore()
		r := newRig(&testing.T{}, store, &fakeCaller{})
		base := heapAlloc()
		ts := benchTargets(n)
		c, err := r.d.Create(ctx, benchCampaign(), ts)
		if err != nil {
			b.Fatal(err)
		}
		ts = nil
		withStore := heapAlloc()
		start := time.Now()
		if err := r.d.Start(ctx, c.ID); err != nil { // loads the campaign: slots and heap
			b.Fatal(err)
		}
		load := time.Since(start)
		loaded := heapAlloc()
		b.ReportMetric(float64(int64(loaded)-int64(withStore))/n, "B/target")
		b.ReportMetric(float64(int64(withStore)-int64(base))/n, "store-B/target")
		b.ReportMetric(float64(load.Milliseconds()), "load-ms")
		st, err := r.d.Status(ctx, c.ID)
		if err != nil || st.Pending != n {
			b.Fatalf("%+v %v", st.Pending, err)
		}
		runtime.KeepAlive(r)
		r.d.Close()
	}
}
