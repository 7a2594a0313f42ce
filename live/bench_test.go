package live

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbridge/callbridge/match"
)

// benchDirectory maps extension "1000"+i to employee "e"+i.
type benchDirectory struct{}

func (benchDirectory) FindEmployee(_ context.Context, _, key string) (match.Employee, bool, error) {
	n, err := strconv.Atoi(key)
	if err != nil || n < 1000 {
		return match.Employee{}, false, nil
	}
	return match.Employee{ID: "e" + strconv.Itoa(n-1000)}, true, nil
}

// benchCalls are one ringing call per employee.
func benchCalls(employees int) []match.LiveCall {
	calls := make([]match.LiveCall, employees)
	for i := range calls {
		calls[i] = match.LiveCall{Provider: "megafon", Account: "acc", CallID: fmt.Sprintf("call-%04d", i), Direction: 1,
			ClientPhone: "7916000" + fmt.Sprintf("%04d", i), LinePhone: "74950000000", StartedAt: time.Now().UTC(),
			Legs: []match.Leg{{ID: "leg-1", Extension: strconv.Itoa(1000 + i), State: match.LegRinging}}}
	}
	return calls
}

// changed is the view of call i for the n-th time: its leg alternates
// between ringing and talking, so no view repeats the last.
func changed(calls []match.LiveCall, n int) match.LiveCall {
	c := calls[n%len(calls)]
	c.Legs = slices.Clone(c.Legs)
	if (n/len(calls))%2 == 1 {
		c.Legs[0].State = match.LegTalking
	}
	return c
}

// BenchmarkCallChanged publishes call updates to one of 200 employees,
// each with 5 streams open (1,000 in all), plus streams of every
// employee: the cost of one update, from the engine's view to every
// stream's buffer. The streams drain their buffers as Handler does.
func BenchmarkCallChanged(b *testing.B) {
	for _, all := range []int{0, 10} {
		b.Run(fmt.Sprintf("screens=1000/all=%d", all), func(b *testing.B) {
			h, err := NewHub(WithDirectory(benchDirectory{}))
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			var drained atomic.Int64 // updates the streams of every employee took
			subscribe := func(emp string, everyone bool) {
				s, _, _, err := h.subscribe(emp, everyone, "")
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer h.leave(s)
					for {
						select {
						case <-s.ch:
							if everyone {
								drained.Add(1)
							}
						case <-s.cut:
							return
						}
					}
				}()
			}
			for i := range 200 {
				for range 5 {
					subscribe("e"+strconv.Itoa(i), false)
				}
			}
			for range all {
				subscribe("", true)
			}
			calls := benchCalls(200)
			ctx := context.Background()
			for i := range calls { // the directory is asked once per leg
				h.CallChanged(ctx, changed(calls, i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				h.CallChanged(ctx, changed(calls, len(calls)+i))
				// The streams of every employee get every update: now
				// and then the publisher lets them catch up, as
				// browsers over a network would, before their buffers
				// fill and they are cut.
				if all > 0 && i%64 == 63 {
					for drained.Load() < int64(all*(len(calls)+i+1)) {
						runtime.Gosched()
					}
				}
			}
			b.StopTimer()
			if n := h.Subscribers(); n != 1000+all {
				b.Fatalf("%d streams were cut", 1000+all-n)
			}
			if err := h.Close(ctx); err != nil {
				b.Fatal(err)
			}
			wg.Wait()
		})
	}
}

// BenchmarkLatency measures the time from an update's publishing to its
// read by a browser, with 200 browsers connected over HTTP (one per
// employee) and 1,000 call updates a second, each for one of them;
// p50-ms and p99-ms are the percentiles over every update.
func BenchmarkLatency(b *testing.B) {
	const screens, rate = 200, 1000
	h, err := NewHub(WithDirectory(benchDirectory{}))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler(func(r *http.Request) (string, bool, error) {
		return r.URL.Query().Get("employee"), false, nil
	}))
	defer srv.Close()
	defer h.Close(context.Background())

	calls := benchCalls(screens)
	ctx := context.Background()
	for i := range calls {
		h.CallChanged(ctx, changed(calls, i))
	}
	start := h.seq // updates before the timed ones
	sent := make([]atomic.Int64, b.N)
	var received atomic.Int64
	all := make(chan struct{})
	lat := make([][]time.Duration, screens)
	var ready, done sync.WaitGroup
	for i := range screens {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			resp, err := http.Get(srv.URL + "?employee=e" + strconv.Itoa(i))
			if err != nil {
				b.Error(err)
				ready.Done()
				return
			}
			defer resp.Body.Close()
			r := bufio.NewReader(resp.Body)
			first := true
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				id, ok := strings.CutPrefix(line, "id: ")
				if !ok {
					continue
				}
				if first { // the sync: subscribed
					first = false
					ready.Done()
					continue
				}
				_, n, _ := strings.Cut(strings.TrimSpace(id), "-")
				seq, _ := strconv.ParseUint(n, 10, 64)
				at := time.Duration(time.Now().UnixNano() - sent[seq-start-1].Load())
				lat[i] = append(lat[i], at)
				if received.Add(1) == int64(b.N) {
					close(all)
				}
			}
		}()
	}
	ready.Wait()
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		if wait := time.Until(t0.Add(time.Duration(i) * time.Second / rate)); wait > 0 {
			time.Sleep(wait) // pacing, not synchronisation
		}
		sent[i].Store(time.Now().UnixNano())
		h.CallChanged(ctx, changed(calls, screens+i))
	}
	<-all
	b.StopTimer()
	_ = h.Close(ctx)
	done.Wait()
	var every []time.Duration
	for _, l := range lat {
		every = append(every, l...)
	}
	slices.Sort(every)
	pct := func(p float64) float64 { return float64(every[int(p*float64(len(every)-1))]) / 1e6 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}
