package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// BenchmarkScreenLatency measures ring-to-screen: from a provider's
// webhook sent to its pop-up (the card) received by the employee's
// screen, on the stream the workspace's browser reads (GET /ui/events,
// signed in), with 200 screens connected and the load at 1,000 events a
// second. Each of b.N events is a Telphin dial-in to one of the 200
// employees in turn, a new call each, sent over HTTP by 16 senders paced
// 1 ms apart; it reports the latency's p50, p99 and max, and the rate
// the senders kept:
//
//	go test -run '^$' -bench ScreenLatency -benchtime 10000x ./examples/crm/gateway
func BenchmarkScreenLatency(b *testing.B) {
	const screens, senders = 200, 16
	const rate = time.Millisecond // 1,000 events/s
	emps := make([]match.Employee, screens)
	for i := range emps {
		emps[i] = match.Employee{ID: fmt.Sprintf("e%03d", i), Extensions: []string{fmt.Sprint(1000 + i)}}
	}
	srv := start(b, gateway.Config{Employees: emps, EmployeeSync: -1, QueueWorkers: 8})

	// 200 signed-in screens, each reading its stream.
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	got := make(chan struct{}, b.N)
	for _, e := range emps {
		jar, err := cookiejar.New(nil)
		if err != nil {
			b.Fatal(err)
		}
		c := &http.Client{Jar: jar}
		resp, err := c.Get(loginLink(b, srv, e.ID))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, srv.URL+"/ui/events", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err = c.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("stream of %s: %v %v", e.ID, resp, err)
		}
		b.Cleanup(func() { resp.Body.Close() })
		go func() {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			card := false
			for sc.Scan() {
				line := sc.Bytes()
				switch {
				case bytes.Equal(line, []byte("event: card")):
					card = true
				case card && bytes.HasPrefix(line, []byte("data: ")):
					at := time.Now()
					card = false
					var u struct {
						Card struct {
							CallID string `json:"call_id"`
						} `json:"card"`
					}
					if json.Unmarshal(line[6:], &u) != nil {
						continue
					}
					mu.Lock()
					if t0, ok := sent[u.Card.CallID]; ok {
						lat = append(lat, at.Sub(t0))
						delete(sent, u.Card.CallID)
						got <- struct{}{}
					}
					mu.Unlock()
				}
			}
		}()
	}
	for srv.Screens() < screens {
		time.Sleep(time.Millisecond) // a benchmark's setup, not a test
	}

	// The calls, built before the clock starts.
	hooks := make([]hook, b.N)
	ids := make([]string, b.N)
	now := time.Now().UTC()
	for i := range hooks {
		ext := fmt.Sprint(1000 + i%screens)
		ids[i] = fmt.Sprintf("%032x", i+1)
		c := telphintest.Call{CallID: ids[i], SubCallID: "2" + ext + "-" + ids[i], Client: fmt.Sprintf("+7495%07d", i%10_000_000),
			Extension: "15400*" + ext, ExtensionID: "2" + ext, Start: now}
		hooks[i] = hookOf(b, "telphin", telphintest.NewRequest("/hooks/telphin/app", "hook-token", c.DialIn()))
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Go(func() {
			for i := s; i < b.N; i += senders {
				time.Sleep(time.Until(start.Add(time.Duration(i) * rate))) // pacing the load
				mu.Lock()
				sent[ids[i]] = time.Now()
				mu.Unlock()
				code, body, err := srv.trySend(hooks[i])
				if err == nil && code != http.StatusAccepted {
					err = fmt.Errorf("webhook %d: %d %s", i, code, body)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for range b.N {
		select {
		case <-got:
		case <-timeout:
			mu.Lock()
			b.Fatalf("%d of %d pop-ups received", len(lat), b.N)
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
}
