package match_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
)

const benchClients = 1_000_000

var (
	bigOnce     sync.Once
	bigStore    *memstore.Store
	bigPerBytes float64
)

// bigMemoryStore builds, once per process and only for benchmarks, a store
// of 1,000,000 clients (every tenth with a second number in a field) and
// measures the heap it takes per client.
func bigMemoryStore(b *testing.B) (*memstore.Store, float64) {
	bigOnce.Do(func() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, err := memstore.New()
		if err != nil {
			panic(err)
		}
		cs := make([]match.Client, 0, 10_000)
		for i := range benchClients {
			c := match.Client{Account: "bench", Name: "Client " + strconv.Itoa(i), Phone: benchPhone(i), Responsible: "u1"}
			if i%10 == 0 {
				c.Fields = map[string]string{"mobile": "7926" + fmt.Sprintf("%07d", i)}
			}
			cs = append(cs, c)
			if len(cs) == cap(cs) {
				if err := s.AddClients(cs...); err != nil {
					panic(err)
				}
				cs = cs[:0]
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		bigStore = s
		bigPerBytes = float64(after.HeapAlloc-before.HeapAlloc) / benchClients
	})
	return bigStore, bigPerBytes
}

func benchPhone(i int) string { return "7916" + fmt.Sprintf("%07d", i) }

// BenchmarkResolve resolves known numbers among 1,000,000 clients.
func BenchmarkResolve(b *testing.B) {
	s, perClient := bigMemoryStore(b)
	r, err := match.NewResolver(s, "RU")
	if err != nil {
		b.Fatal(err)
	}
	phones := make([]string, 4096)
	for i := range phones {
		phones[i] = benchPhone((i * 7919) % benchClients)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		res, err := r.Resolve(ctx, "bench", phones[i%len(phones)], nil)
		if err != nil || !res.Found() {
			b.Fatal(err, res)
		}
		i++
	}
	b.ReportMetric(perClient, "B/client")
}

// BenchmarkEngine feeds the engine a realistic mix of calls, three events
// each (Ringing, Answered when answered, Completed): 50% inbound answered
// by known clients, 20% inbound missed from new numbers, 30% outbound to
// known and new numbers. Finished calls are forgotten after 1 ms, so the
// engine's timers run as in production.
func BenchmarkEngine(b *testing.B) {
	s, err := memstore.New(memstore.WithMaxCalls(10_000))
	if err != nil {
		b.Fatal(err)
	}
	s.SetEmployees(acct, employees()...)
	for i := range 1000 {
		if err := s.AddClients(match.Client{Account: acct, Phone: benchPhone(i), Responsible: "u2"}); err != nil {
			b.Fatal(err)
		}
	}
	rule := match.DefaultRule()
	rule.Leads.InboundMissed = match.LeadCase{Create: true}
	e, err := match.NewEngine(s, match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}), match.WithTiming(match.Timing{Grace: time.Second, Window: time.Millisecond, Retention: time.Millisecond}))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(context.Background())

	const calls = 3000
	var evs []callevent.Event
	for i := range calls {
		c := callSpec{id: "b" + strconv.Itoa(i), at: t0.Add(time.Duration(i) * time.Second)}
		switch i % 10 {
		case 0, 1, 2, 3, 4:
			c.dir, c.phone, c.ext, c.status = callevent.Inbound, benchPhone(i%1000), "101", callevent.Success
		case 5, 6:
			c.dir, c.phone, c.ring, c.status = callevent.Inbound, "7926"+fmt.Sprintf("%07d", i), "201", callevent.Missed
		default:
			c.dir, c.phone, c.ext, c.status = callevent.Outbound, benchPhone((i*3)%1500), "201", callevent.NotAvailable
		}
		evs = append(evs, c.events()...)
	}
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	round := 0
	i := 0
	for b.Loop() {
		ev := evs[i%len(evs)]
		if i%len(evs) == 0 {
			round++
		}
		ev.CallID += "-" + strconv.Itoa(round)
		ev.ID += "-" + strconv.Itoa(round)
		if err := e.HandleEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "events/s")
}
