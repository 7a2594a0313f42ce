package main

// Process-level durability tests of the crm command ("Durable by
// default"): the gateway runs as a child process on a database, the test
// sends every provider's webhooks as the providers would (retrying what
// was not answered 2xx), kills the process with SIGKILL, cuts its
// database away or runs two processes on one database, and then checks
// through the JSON API that every call whose webhooks were all answered
// 2xx is listed exactly once, and that no client or lead was created
// twice.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/internal/pgtest"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// The clients of the embedded testdata/clients.json, by normalised phone,
// for the numbers the workloads call from.
var (
	knownPhones      = []string{"78123351127", "79161234567", "380501112233"} // Telphin, MegaFon and Phonet calls
	knownFinazPhone  = "5511987654321"
	knownFinazClient = "4"
)

// tcall is one call of a workload: its webhooks in the order the provider
// sends them, and what became of them.
type tcall struct {
	provider, id string
	phone        string // the client's number, normalised
	missed       bool   // an inbound call nobody answered: the default rules may create a lead
	hooks        []hook

	acked    atomic.Int32 // webhooks answered 2xx
	allAcked atomic.Bool  // every webhook answered 2xx
}

func (c *tcall) key() string { return c.provider + "/" + c.id }

// builder makes the calls of one run: ids carry run, so no two runs
// collide.
type builder struct {
	run uint64
	n   int
}

func (b *builder) id(kind byte) string {
	return fmt.Sprintf("%016x%08x%06x%02x", b.run, b.n, 0, kind)
}

// call builds one call of provider from (or, for Finaz, to) phone, the
// webhooks as the <provider>test builders make them, with current times.
func (b *builder) call(provider, phone string, missed bool) *tcall {
	b.n++
	hookTok := url.QueryEscape(testHookToken)
	c := &tcall{provider: provider, phone: phone, missed: missed}
	switch provider {
	case "telphin":
		tc := telphintest.Call{CallID: b.id(1), SubCallID: "124575-" + b.id(2), Client: "+" + phone,
			Start: time.Now().Add(-2 * time.Minute).Truncate(time.Microsecond).UTC()}
		c.id = tc.CallID
		fields := []url.Values{tc.DialIn(), tc.Answer(), tc.Hangup()}
		if missed {
			// The extension rings and gives up, then the queue leg hangs
			// up with Bridged=no: Telphin's missed call.
			gaveUp := tc.Hangup()
			gaveUp.Set("CallStatus", "NOANSWER")
			gaveUp.Set("Duration", strconv.FormatInt((10120024*time.Microsecond).Microseconds(), 10))
			gaveUp.Set("EventTime", tc.Answer().Get("EventTime"))
			fields = []url.Values{tc.DialIn(), gaveUp, tc.QueueMissed()}
		}
		for _, f := range fields {
			c.hooks = append(c.hooks, hook{"POST", "/hooks/telphin/durability?token=" + hookTok, "application/x-www-form-urlencoded", []byte(f.Encode())})
		}
	case "megafon":
		mc := megafontest.Call{ID: "mf-" + b.id(3), Direction: "in", Phone: phone, Diversion: "74950000001", User: "andy", Ext: "701"}
		c.id = mc.ID
		fields := []url.Values{megafontest.Event("INCOMING", mc), megafontest.Event("ACCEPTED", mc), megafontest.Event("COMPLETED", mc),
			megafontest.History(mc, megafontest.Outcome{Status: "Success", Duration: 60})}
		if missed {
			fields = []url.Values{megafontest.Event("INCOMING", mc), megafontest.Event("CANCELLED", mc),
				megafontest.History(mc, megafontest.Outcome{Status: "Missed", Duration: 20})}
		}
		for _, f := range fields {
			c.hooks = append(c.hooks, hook{"POST", "/hooks/megafon", "application/x-www-form-urlencoded", []byte(megafontest.NewRequestBody(f, testMegafonToken))})
		}
	case "phonet":
		pc := phonettest.InboundCall()
		pc.UUID, pc.Client, pc.ClientName, pc.ClientID, pc.ClientURL = b.id(4), "+"+phone, "+"+phone, 0, ""
		c.id = pc.UUID
		bodies := []phonettest.Body{pc.Dial(), pc.Bridge(), pc.Hangup(), pc.Record()}
		if missed {
			pc.BridgeAt, pc.HangupAt = time.Time{}, pc.DialAt.Add(20*time.Second)
			bodies = []phonettest.Body{pc.Dial(), pc.Hangup(), pc.Record()}
		}
		for i, body := range bodies {
			path := "/hooks/phonet/call"
			if i == len(bodies)-1 {
				path = "/hooks/phonet/after_call_end"
			}
			c.hooks = append(c.hooks, hook{"POST", path + "?token=" + hookTok, "application/json", body.JSON()})
		}
	case "finaz":
		n := finaztest.Notification{Num: phone, CID: "fz-" + b.id(6), Ramal: "2001", EmpresaID: "durability", Token: testHookToken}
		if phone == knownFinazPhone {
			n.PID = knownFinazClient
		}
		c.id = n.CID
		u, err := url.Parse(finaztest.DiscadorURL("/hooks/finaz/", n))
		if err != nil {
			panic(err)
		}
		c.hooks = []hook{{"GET", u.RequestURI(), "", nil}}
	default:
		panic("unknown provider " + provider)
	}
	return c
}

// newWorkload returns a random source and a builder for one run, seeded
// afresh and logged, so a failing run can be reproduced.
func newWorkload(t *testing.T) (*rand.Rand, *builder) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 1)), &builder{run: seed}
}

// mixedCalls is n calls of the four providers, round robin: about a
// quarter from the seeded clients' numbers, a third from a few repeated
// unknown numbers (several calls racing to create one client, and missed
// calls racing to create its lead), the rest from unknown numbers of their
// own; a third of the Telphin, MegaFon and Phonet calls are missed.
func (b *builder) mixedCalls(rng *rand.Rand, n int) []*tcall {
	hot := []string{"79990000001", "79990000002", "79990000003"}
	hotFinaz := []string{"5511900000001", "5511900000002"}
	var out []*tcall
	for i := range n {
		provider := []string{"telphin", "megafon", "phonet", "finaz"}[i%4]
		r := rng.IntN(100)
		var phone string
		switch {
		case provider == "finaz" && r < 25:
			phone = knownFinazPhone
		case provider == "finaz" && r < 60:
			phone = hotFinaz[rng.IntN(len(hotFinaz))]
		case provider == "finaz":
			phone = fmt.Sprintf("55119%08d", b.run%1e4*1e4+uint64(b.n))
		case r < 25:
			phone = knownPhones[rng.IntN(len(knownPhones))]
		case r < 60:
			phone = hot[rng.IntN(len(hot))]
		default:
			phone = fmt.Sprintf("7998%07d", b.run%1e3*1e4+uint64(b.n))
		}
		out = append(out, b.call(provider, phone, provider != "finaz" && rng.IntN(3) == 0))
	}
	return out
}

// progress counts a workload's way.
type progress struct {
	callsDone  atomic.Int64 // calls whose every webhook was tried
	hooksAcked atomic.Int64
}

// sendCalls sends the calls with workers concurrent senders, each call's
// webhooks in order; target names the gateway of each attempt of each
// webhook. A webhook that is not answered 2xx after the sender's retries
// leaves its call not fully acknowledged; the call's later webhooks are
// sent all the same, as a provider would.
func sendCalls(ctx context.Context, s *sender, calls []*tcall, workers int, pr *progress, target func(c *tcall, hook, attempt int) string) {
	work := make(chan *tcall)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range work {
				ok := true
				for i, h := range c.hooks {
					if s.deliver(ctx, h, func(a int) string { return target(c, i, a) }) {
						c.acked.Add(1)
						pr.hooksAcked.Add(1)
					} else {
						ok = false
					}
				}
				c.allAcked.Store(ok)
				pr.callsDone.Add(1)
			}
		})
	}
	for _, c := range calls {
		select {
		case work <- c:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

func countAcked(calls []*tcall) (n int) {
	for _, c := range calls {
		if c.allAcked.Load() {
			n++
		}
	}
	return n
}

func countHooks(calls []*tcall) (n int) {
	for _, c := range calls {
		n += len(c.hooks)
	}
	return n
}

// reporter is what checkCRM reports to: a *testing.T, or a recorder in
// the test of checkCRM itself.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// crmState is what the API lists after a run.
type crmState struct {
	calls   []apiCall
	clients []apiClient
	leads   []apiLead
}

// awaitCRM polls GET /api/calls (every page) until every fully
// acknowledged call is listed and two listings in a row agree, or bound
// passes, and then reads the clients and leads.
func awaitCRM(t *testing.T, ctx context.Context, base func() string, calls []*tcall, bound time.Duration) crmState {
	t.Helper()
	want := map[string]bool{}
	for _, c := range calls {
		if c.allAcked.Load() {
			want[c.key()] = true
		}
	}
	begin := time.Now()
	deadline := begin.Add(bound)
	var st crmState
	var prev []apiCall
	var lastErr error
	found, stable := 0, false
	for {
		cur, err := listAll[apiCall](ctx, base(), "/api/calls")
		if err != nil {
			lastErr = err
		} else {
			listed := map[string]bool{}
			for _, c := range cur {
				listed[c.key()] = true
			}
			found = 0
			for k := range want {
				if listed[k] {
					found++
				}
			}
			st.calls = cur
			if found == len(want) && prev != nil && sameKeys(prev, cur) {
				stable = true
				break
			}
			prev = cur
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		sleep(ctx, 250*time.Millisecond)
	}
	t.Logf("after %v: %d of %d fully acknowledged calls listed (listing stable: %v, last API error: %v)",
		time.Since(begin).Round(10*time.Millisecond), found, len(want), stable, lastErr)
	var err error
	if st.clients, err = stableList[apiClient](ctx, base, "/api/clients", 15*time.Second); err != nil {
		t.Errorf("clients: %v", err)
	}
	if st.leads, err = stableList[apiLead](ctx, base, "/api/leads", 15*time.Second); err != nil {
		t.Errorf("leads: %v", err)
	}
	if dead, err := listAll[json.RawMessage](ctx, base(), "/api/deadletters"); err != nil {
		t.Logf("dead letters: %v", err)
	} else if len(dead) > 0 {
		t.Logf("observation: %d dead letters (acknowledged events the CRM failed to take), e.g. %s", len(dead), dead[0])
	}
	return st
}

// checkCRM asserts what a durable gateway guarantees, whatever happened to
// its processes: every call whose webhooks were all answered 2xx is listed
// exactly once (with its client's number), no call twice, no two clients
// with one number, and no client with more than one lead (the default
// rules create a lead for a missed inbound call only when the client has
// no active lead, and nothing closes the leads here) or with a lead though
// no missed call of its number was sent.
func checkCRM(t reporter, st crmState, calls []*tcall, extraHot ...string) {
	t.Helper()
	byKey := map[string]*tcall{}
	missedOf := map[string]int{}   // phone → missed calls sent
	ackedPhone := map[string]int{} // phone → fully acknowledged calls
	acked := 0
	for _, c := range calls {
		byKey[c.key()] = c
		if c.missed {
			missedOf[c.phone]++
		}
		if c.allAcked.Load() {
			acked++
			ackedPhone[c.phone]++
		}
	}

	// Calls: each fully acknowledged one exactly once.
	seen := map[string]int{}
	for _, c := range st.calls {
		seen[c.key()]++
	}
	var lost, dups, wrongPhone []string
	lostBy := map[string]int{}
	for _, c := range calls {
		if c.allAcked.Load() && seen[c.key()] == 0 {
			lost = append(lost, c.key())
			lostBy[c.provider]++
		}
	}
	for k, n := range seen {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	var wrongStatus []string
	for _, c := range st.calls {
		tc := byKey[c.key()]
		if tc == nil {
			continue
		}
		if c.ClientPhone != tc.phone {
			wrongPhone = append(wrongPhone, fmt.Sprintf("%s: client_phone %q, sent %q", c.key(), c.ClientPhone, tc.phone))
		}
		// A call whose every webhook was acknowledged is decided on all of
		// them: missed if it was, else answered.
		if want := map[bool]string{true: "missed", false: "success"}[tc.missed]; tc.allAcked.Load() && c.Status != want {
			wrongStatus = append(wrongStatus, fmt.Sprintf("%s: status %q, want %q", c.key(), c.Status, want))
		}
	}
	sort.Strings(lost)
	sort.Strings(dups)
	t.Logf("calls: %d sent, %d fully acknowledged, %d listed in all (%d keys), %d acknowledged but not listed, %d listed more than once",
		len(calls), acked, len(st.calls), len(seen), len(lost), len(dups))
	if len(lost) > 0 {
		t.Errorf("%d of %d fully acknowledged calls are not in /api/calls (lost; by provider %v), e.g. %s",
			len(lost), acked, lostBy, strings.Join(lost[:min(len(lost), 8)], ", "))
	}
	if len(dups) > 0 {
		t.Errorf("%d calls are listed more than once in /api/calls: %s", len(dups), strings.Join(dups[:min(len(dups), 8)], ", "))
	}
	if len(wrongStatus) > 0 {
		// Not a failure: a webhook that was refused and redelivered
		// later than the engine's settle wait arrives after the call was
		// decided, durable or not. Reported, as it is also what a call
		// whose events were split over two engines, or lost from memory,
		// looks like.
		sort.Strings(wrongStatus)
		t.Logf("observation: %d fully acknowledged calls are listed with another outcome than their webhooks say (decided before, or without, some of them), e.g. %s",
			len(wrongStatus), strings.Join(wrongStatus[:min(len(wrongStatus), 5)], "; "))
	}
	if len(wrongPhone) > 0 {
		t.Errorf("%d listed calls carry another client number than was sent, e.g. %s", len(wrongPhone), strings.Join(wrongPhone[:min(len(wrongPhone), 5)], "; "))
	}

	// Clients: one per number.
	clientsOf := map[string][]string{} // phone → client ids
	clientByID := map[string]apiClient{}
	for _, c := range st.clients {
		clientsOf[c.Phone] = append(clientsOf[c.Phone], c.ID)
		clientByID[c.ID] = c
	}
	var twice []string
	for p, ids := range clientsOf {
		if len(ids) > 1 {
			twice = append(twice, fmt.Sprintf("%s: clients %v", p, ids))
		}
	}
	sort.Strings(twice)
	if len(twice) > 0 {
		t.Errorf("%d numbers have more than one client in /api/clients: %s", len(twice), strings.Join(twice[:min(len(twice), 8)], "; "))
	}
	hot := append([]string{"79990000001", "79990000002", "79990000003", "5511900000001", "5511900000002"}, extraHot...)
	for _, p := range hot {
		if ackedPhone[p] > 0 && len(clientsOf[p]) != 1 {
			t.Errorf("number %s (%d fully acknowledged calls): %d clients, want exactly 1", p, ackedPhone[p], len(clientsOf[p]))
		}
	}
	// A listed call of a number points at that number's client.
	var unbound []string
	for _, c := range st.calls {
		if byKey[c.key()] == nil || c.ClientPhone == "" {
			continue
		}
		if cl, ok := clientByID[c.ClientID]; !ok || cl.Phone != c.ClientPhone {
			unbound = append(unbound, fmt.Sprintf("%s (%s): client_id %q", c.key(), c.ClientPhone, c.ClientID))
		}
	}
	if len(unbound) > 0 {
		t.Errorf("%d listed calls are not attached to their number's client, e.g. %s", len(unbound), strings.Join(unbound[:min(len(unbound), 5)], "; "))
	}

	// Leads: at most one (active) lead per client, and only where a missed
	// call of its number was sent.
	// Every lead here is "new", so active: the default rules attach a
	// missed call to the client's active lead instead of creating another.
	leadsOf := map[string][]string{}
	for _, l := range st.leads {
		leadsOf[l.ClientID] = append(leadsOf[l.ClientID], l.ID)
	}
	callsOfLead := map[string][]string{} // lead → listed calls attached to it
	for _, c := range st.calls {
		if c.LeadID != "" {
			callsOfLead[c.LeadID] = append(callsOfLead[c.LeadID], c.key()+" "+c.Status)
		}
	}
	var bad []string
	for cid, ids := range leadsOf {
		cl, ok := clientByID[cid]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("leads %v of unknown client %q", ids, cid))
		case len(ids) > 1:
			// Which calls point at which lead tells one call creating two
			// (a lead no call points at) from calls racing past the
			// "no active lead" check (each lead with its own call).
			var by []string
			for _, id := range ids {
				cs := callsOfLead[id]
				by = append(by, fmt.Sprintf("%s ← %d calls %v", id, len(cs), cs[:min(len(cs), 3)]))
			}
			bad = append(bad, fmt.Sprintf("client %s (%s): %d leads %v, want at most 1 active lead (%d missed calls sent; %s)",
				cid, cl.Phone, len(ids), ids, missedOf[cl.Phone], strings.Join(by, ", ")))
		case missedOf[cl.Phone] == 0:
			bad = append(bad, fmt.Sprintf("client %s (%s): lead %v though no missed call of the number was sent", cid, cl.Phone, ids))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("%d clients have leads the rules cannot have made: %s", len(bad), strings.Join(bad[:min(len(bad), 8)], "; "))
	}
	t.Logf("clients: %d (%d numbers), leads: %d", len(st.clients), len(clientsOf), len(st.leads))
}

// TestCrashSQLite: kill -9 of the gateway on a SQLite file mid-stream; a
// restart on the same file must list every call that was acknowledged.
func TestCrashSQLite(t *testing.T) {
	skipShort(t)
	testCrash(t, filepath.Join(t.TempDir(), "crm.db"))
}

// TestCrashPostgres is TestCrashSQLite on PostgreSQL.
func TestCrashPostgres(t *testing.T) {
	skipShort(t)
	testCrash(t, pgtest.NewDatabase(t))
}

func testCrash(t *testing.T, db string) {
	const n, workers = 200, 8
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rng, b := newWorkload(t)
	calls := b.mixedCalls(rng, n)

	g1 := startGateway(t, "gateway 1", db)
	var base atomic.Pointer[string]
	base.Store(&g1.base)
	s := newSender()
	defer s.close()
	var pr progress
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		sendCalls(ctx, s, calls, workers, &pr, func(*tcall, int, int) string { return *base.Load() })
	}()

	// Kill mid-stream: once half the calls were sent.
	if !waitUntil(ctx, time.Minute, func() bool { return pr.callsDone.Load() >= n/2 }) {
		t.Fatalf("only %d of %d calls sent within a minute (%s)", pr.callsDone.Load(), n, s.summary())
	}
	g1.Kill()
	before, hooksBefore := countAcked(calls), pr.hooksAcked.Load()
	t.Logf("killed gateway 1 (kill -9) after %d calls: %d calls fully acknowledged, %d webhooks acknowledged", pr.callsDone.Load(), before, hooksBefore)

	g2 := startGateway(t, "gateway 2", db)
	base.Store(&g2.base)
	<-sent
	s.checkNoRejections(t)
	acked := countAcked(calls)
	t.Logf("sent: %d of %d calls fully acknowledged; %s", acked, n, s.summary())
	if before == 0 || acked < n/2 {
		t.Fatalf("the run proves nothing: %d calls acknowledged before the kill, %d in all", before, acked)
	}

	st := awaitCRM(t, ctx, func() string { return g2.base }, calls, time.Minute)
	checkCRM(t, st, calls)
}

// TestFailoverPostgres: two gateways on one PostgreSQL database, each
// call's webhooks split between them at random, 100 calls at once from
// one unknown number; one gateway is killed mid-stream and the rest goes
// to the survivor, which must take over: every acknowledged call listed
// once, one client for the number.
func TestFailoverPostgres(t *testing.T) {
	skipShort(t)
	const hotPhone = "79990000777"
	db := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rng, b := newWorkload(t)
	var hot []*tcall
	for i := range 100 {
		hot = append(hot, b.call([]string{"telphin", "megafon", "phonet"}[i%3], hotPhone, rng.IntN(4) == 0))
	}
	others := b.mixedCalls(rng, 100)
	all := append(slices.Clone(hot), others...)

	ga := startGateway(t, "gateway A", db)
	gb := startGateway(t, "gateway B", db)
	var mu sync.Mutex // guards alive and rng (not safe for concurrent use)
	alive := []*gatewayProc{ga, gb}
	pick := func(*tcall, int, int) string {
		mu.Lock()
		defer mu.Unlock()
		return alive[rng.IntN(len(alive))].base
	}
	s := newSender()
	defer s.close()
	var pr progress
	var wg sync.WaitGroup
	wg.Go(func() { sendCalls(ctx, s, hot, len(hot), &pr, pick) }) // all 100 at once
	wg.Go(func() { sendCalls(ctx, s, others, 8, &pr, pick) })

	total := int64(countHooks(all))
	if !waitUntil(ctx, time.Minute, func() bool { return pr.hooksAcked.Load() >= total/2 }) {
		t.Fatalf("only %d of %d webhooks acknowledged within a minute (%s)", pr.hooksAcked.Load(), total, s.summary())
	}
	mu.Lock()
	alive = []*gatewayProc{gb}
	mu.Unlock()
	ga.Kill()
	before := countAcked(all)
	t.Logf("killed gateway A (kill -9) after %d of %d webhooks acknowledged, %d calls fully acknowledged", pr.hooksAcked.Load(), total, before)
	wg.Wait()
	s.checkNoRejections(t)
	acked := countAcked(all)
	t.Logf("sent: %d of %d calls fully acknowledged (%d from %s); %s", acked, len(all), countAcked(hot), hotPhone, s.summary())
	if before == 0 || acked < len(all)/2 {
		t.Fatalf("the run proves nothing: %d calls acknowledged before the kill, %d in all", before, acked)
	}

	st := awaitCRM(t, ctx, func() string { return gb.base }, all, 90*time.Second)
	checkCRM(t, st, all, hotPhone)
	n := 0
	for _, c := range st.clients {
		if c.Phone == hotPhone {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d clients with the number %s of the 100 concurrent calls, want exactly 1", n, hotPhone)
	}
}

// TestDatabaseLostPostgres: the gateway reaches PostgreSQL through a proxy
// the test cuts under load for a few seconds. While it is cut a webhook
// must not be acknowledged (5xx, so the provider redelivers); once it is
// back the gateway must recover by itself, and every acknowledged call be
// listed once.
func TestDatabaseLostPostgres(t *testing.T) {
	skipShort(t)
	const n, workers = 200, 8
	dsn := pgtest.NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	u.Host = proxy.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rng, b := newWorkload(t)
	calls := b.mixedCalls(rng, n)

	g := startGateway(t, "gateway", u.String())
	base := func() string { return g.base }
	s := newSender()
	defer s.close()
	var (
		amu      sync.Mutex
		attempts []attempt
		cutAt    time.Time // zero until the cut
	)
	s.observe = func(a attempt) {
		amu.Lock()
		attempts = append(attempts, a)
		amu.Unlock()
	}
	// duringCut is the attempts that began after the cut was complete and
	// ended before the restore began.
	duringCut := func(until time.Time) (ok2xx, err5xx, other int, statuses map[int]int) {
		amu.Lock()
		defer amu.Unlock()
		statuses = map[int]int{}
		for _, a := range attempts {
			if cutAt.IsZero() || a.start.Before(cutAt) || (!until.IsZero() && !a.end.Before(until)) {
				continue
			}
			statuses[a.status]++
			switch {
			case a.err == nil && a.status >= 200 && a.status <= 299:
				ok2xx++
			case a.err == nil && a.status >= 500:
				err5xx++
			default:
				other++
			}
		}
		return
	}

	var pr progress
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		sendCalls(ctx, s, calls, workers, &pr, func(*tcall, int, int) string { return base() })
	}()
	if !waitUntil(ctx, time.Minute, func() bool { return pr.callsDone.Load() >= n/3 }) {
		t.Fatalf("only %d of %d calls sent within a minute (%s)", pr.callsDone.Load(), n, s.summary())
	}

	proxy.Cut()
	amu.Lock()
	cutAt = time.Now()
	amu.Unlock()
	t.Logf("database cut after %d calls sent", pr.callsDone.Load())
	// /readyz while cut.
	readyCodes := map[int]int{}
	var rdone sync.WaitGroup
	stopReady := make(chan struct{})
	rdone.Go(func() {
		for {
			select {
			case <-stopReady:
				return
			default:
			}
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			code := readyz(rctx, base())
			rcancel()
			readyCodes[code]++
			sleep(ctx, 200*time.Millisecond)
		}
	})
	// Cut for a few seconds: at least 5 s and until 10 webhooks were
	// answered while it was, at most 20 s.
	waitUntil(ctx, 20*time.Second, func() bool {
		_, e5, _, _ := duringCut(time.Time{})
		return time.Since(cutAt) >= 5*time.Second && e5 >= 10
	})
	restoreAt := time.Now()
	proxy.Restore()
	close(stopReady)
	rdone.Wait()
	ok2xx, err5xx, other, statuses := duringCut(restoreAt)
	t.Logf("database restored after %v: webhook attempts wholly inside the cut: %d 2xx, %d 5xx, %d other (status→count, 0 = transport error: %v); /readyz while cut: %v; proxy refused %d connections",
		restoreAt.Sub(cutAt).Round(time.Millisecond), ok2xx, err5xx, other, statuses, readyCodes, proxy.refused.Load())
	if ok2xx > 0 {
		t.Errorf("%d webhooks were answered 2xx while the database was unreachable: acknowledged without being committed", ok2xx)
	}
	if err5xx == 0 {
		t.Errorf("no webhook was answered 5xx while the database was cut (%v): the gateway must refuse them so providers redeliver", statuses)
	}

	<-sent
	acked := countAcked(calls)
	t.Logf("sent: %d of %d calls fully acknowledged; %s", acked, n, s.summary())

	// The gateway recovers by itself: new calls are acknowledged, and it
	// reports ready again.
	fresh := b.mixedCalls(rng, 20)
	var fpr progress
	sendCalls(ctx, s, fresh, 4, &fpr, func(*tcall, int, int) string { return base() })
	if got := countAcked(fresh); got != len(fresh) {
		t.Errorf("after the database came back, %d of %d new calls were fully acknowledged (%s)", got, len(fresh), s.summary())
	}
	if !waitUntil(ctx, time.Minute, func() bool { return readyz(ctx, base()) == 200 }) {
		t.Errorf("/readyz not 200 within a minute after the database came back")
	}
	s.checkNoRejections(t)
	all := append(slices.Clone(calls), fresh...)
	if acked < n/2 {
		t.Fatalf("the run proves nothing: %d of %d calls acknowledged", acked, n)
	}
	st := awaitCRM(t, ctx, base, all, time.Minute)
	checkCRM(t, st, all)
}

// checkRecorder records what checkCRM reports.
type checkRecorder struct{ errs, logs []string }

func (r *checkRecorder) Helper() {}
func (r *checkRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *checkRecorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

// TestCheckCRM: the checks of the durability tests fail on a lost call, a
// call listed twice, two clients of one number and two leads of one
// client, and pass on a clean state. No process runs.
func TestCheckCRM(t *testing.T) {
	b := &builder{run: 42}
	known := b.call("telphin", "78123351127", false)
	missed := b.call("megafon", "79990000001", true)
	again := b.call("phonet", "79990000001", true)
	finaz := b.call("finaz", "5511900000001", false)
	calls := []*tcall{known, missed, again, finaz}
	for _, c := range calls {
		c.allAcked.Store(true)
	}
	listed := func(c *tcall, clientID, status string) apiCall {
		return apiCall{Provider: c.provider, CallID: c.id, ClientID: clientID, ClientPhone: c.phone, Status: status}
	}
	clean := func() crmState {
		return crmState{
			calls: []apiCall{listed(finaz, "c2", "success"), listed(again, "c1", "missed"),
				listed(missed, "c1", "missed"), listed(known, "1", "success")},
			clients: []apiClient{{ID: "1", Phone: "78123351127"}, {ID: "c1", Phone: "79990000001", CreatedFromCall: true},
				{ID: "c2", Phone: "5511900000001", CreatedFromCall: true}},
			leads: []apiLead{{ID: "l1", ClientID: "c1", Status: "new", Source: "missed call"}},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*crmState)
		want   string // in an error; "" for none
	}{
		{"clean", func(*crmState) {}, ""},
		{"lost call", func(s *crmState) { s.calls = s.calls[1:] }, "not in /api/calls (lost"},
		{"call twice", func(s *crmState) { s.calls = append(s.calls, s.calls[0]) }, "listed more than once"},
		{"client twice", func(s *crmState) {
			s.clients = append(s.clients, apiClient{ID: "c3", Phone: "79990000001", CreatedFromCall: true})
		}, "more than one client"},
		{"lead twice", func(s *crmState) {
			s.leads = append(s.leads, apiLead{ID: "l2", ClientID: "c1", Status: "new", Source: "missed call"})
		}, "2 leads [l1 l2], want at most 1 active lead"},
		{"lead without a missed call", func(s *crmState) {
			s.leads = append(s.leads, apiLead{ID: "l2", ClientID: "c2", Status: "new", Source: "missed call"})
		}, "no missed call of the number was sent"},
		{"call of another client", func(s *crmState) { s.calls[0].ClientID = "1" }, "not attached to their number's client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := clean()
			tc.change(&st)
			var r checkRecorder
			checkCRM(&r, st, calls)
			if tc.want == "" {
				if len(r.errs) > 0 {
					t.Fatalf("errors on a clean state: %q", r.errs)
				}
				return
			}
			if !slices.ContainsFunc(r.errs, func(e string) bool { return strings.Contains(e, tc.want) }) {
				t.Fatalf("no error containing %q: %q", tc.want, r.errs)
			}
		})
	}
}
