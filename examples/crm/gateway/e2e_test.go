package gateway_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// missedQueueCall is what Telphin sends about an inbound call nobody in
// the queue answered: the extension rings (dial-in) and gives up (hangup
// NOANSWER after the default ring time), then the queue leg hangs up with
// Bridged=no.
func missedQueueCall(c telphintest.Call) []url.Values {
	const ring = 10120024 * time.Microsecond // telphintest's default
	gaveUp := c.Hangup()
	gaveUp.Set("CallStatus", "NOANSWER")
	gaveUp.Set("Duration", strconv.FormatInt(ring.Microseconds(), 10))
	gaveUp.Set("EventTime", strconv.FormatInt(c.Start.Add(ring).UnixMicro(), 10))
	return []url.Values{c.DialIn(), gaveUp, c.QueueMissed()}
}

// scenario is what the providers send about five calls, as their
// <provider>test builders make it, with the lookups' expected answers.
type scenario struct {
	events  []hook            // webhook notifications
	lookups map[string]string // lookup hook name → expected reply body
	n       int               // events the CRM must receive (each once)
}

func buildScenario(t testing.TB) scenario {
	const tok = "hook-token"
	var s scenario
	add := func(name string, r *http.Request) { s.events = append(s.events, hookOf(t, name, r)) }

	// Telphin: a known client's call routed by queue 3515*099 to extension
	// 101, answered; the account is the app id in the hook URL.
	const telphinHook = "/hooks/telphin/74c86d00"
	answered := telphintest.Call{CallID: "aa000000000000000000000000000001", SubCallID: "124575-aa000000000000000000000000000011", Client: "+78123351127", Start: t0.Add(-10 * time.Minute)}
	add("telphin dial-in", telphintest.NewRequest(telphinHook, tok, answered.DialIn()))
	add("telphin answer", telphintest.NewGETRequest(telphinHook, tok, answered.Answer()))
	add("telphin hangup", telphintest.NewRequest(telphinHook, tok, answered.Hangup()))
	// An unknown number's call that nobody in the queue answered: the
	// extension rang and gave up, then the queue leg hung up with Bridged=no.
	missed := telphintest.Call{CallID: "bb000000000000000000000000000002", SubCallID: "124575-bb000000000000000000000000000022", Client: "+7 495 765-43-21", Start: t0.Add(-5 * time.Minute)}
	for i, f := range missedQueueCall(missed) {
		add("telphin missed "+strconv.Itoa(i), telphintest.NewRequest(telphinHook, tok, f))
	}
	s.n += 6

	// MegaFon: the PBX asks who calls, then reports the call and its record.
	mf := megafontest.Call{ID: "mf-1", Direction: "in", Phone: "79161234567", Diversion: "74950000001", User: "andy", Ext: "701"}
	lookups := []hook{hookOf(t, "megafon contact", megafontest.NewRequest("/hooks/megafon", "mf-token", megafontest.Contact("79161234567", "mf-1")))}
	add("megafon INCOMING", megafontest.NewRequest("/hooks/megafon", "mf-token", megafontest.Event("INCOMING", mf)))
	add("megafon ACCEPTED", megafontest.NewRequest("/hooks/megafon", "mf-token", megafontest.Event("ACCEPTED", mf)))
	add("megafon COMPLETED", megafontest.NewRequest("/hooks/megafon", "mf-token", megafontest.Event("COMPLETED", mf)))
	add("megafon history", megafontest.NewRequest("/hooks/megafon", "mf-token", megafontest.History(mf, megafontest.Outcome{
		Status: "Success", Start: t0, Duration: 95, Wait: 7, SendWait: true, Link: "https://vats123456.megapbx.ru/rec/mf-1.mp3",
	})))
	s.n += 4

	// Phonet (Perfectum's paths): lookup, dial → bridge → hangup, full call info.
	pc := shiftPhonet(phonettest.InboundCall(), t0.Add(phonetDial))
	lookups = append(lookups, hookOf(t, "phonet customer_data", pc.Lookup().Request("/hooks/phonet/customer_data", phonettest.WithToken(tok))))
	add("phonet dial", pc.Dial().Request("/hooks/phonet/call", phonettest.WithToken(tok)))
	add("phonet bridge", pc.Bridge().Request("/hooks/phonet/call", phonettest.WithToken(tok)))
	add("phonet hangup", pc.Hangup().Request("/hooks/phonet/call", phonettest.WithToken(tok)))
	add("phonet after_call_end", pc.Record().Request("/hooks/phonet/after_call_end", phonettest.WithToken(tok)))
	s.n += 4

	// Finaz: the dialer's "answered" notification for a mailing contact.
	add("finaz atendimentodiscador", finaztest.NewDiscadorRequest("/hooks/finaz/", finaztest.Notification{
		PID: "4", Num: "11987654321", CID: "fz-1", Ramal: "2001", EmpresaID: "123", Token: tok,
	}))
	s.n++

	s.events = append(s.events, lookups...)
	s.lookups = map[string]string{
		"megafon contact":      `{"contact_name":"Иван Петров","responsible":"701"}`,
		"phonet customer_data": `{"name":"ТОВ Ромашка","url":null,"urlText":"ТОВ Ромашка","newEntity":false,"responsibleEmployeeExt":"001","responsibleEmployeeEmail":null}`,
	}
	return s
}

// The whole path: every provider's notifications, shuffled and partly
// redelivered, through the queue into the CRM; then the API must show
// exactly the calls, clients and leads the rules make of them.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run("seed "+strconv.FormatUint(seed, 10), func(t *testing.T) {
			t.Parallel()
			testEndToEnd(t, seed)
		})
	}
}

func testEndToEnd(t *testing.T, seed uint64) {
	clock := newFakeClock()
	srv := start(t, gateway.Config{Clock: clock})
	sc := buildScenario(t)

	rng := rand.New(rand.NewPCG(seed, 0))
	sends := sc.events
	for _, h := range sc.events {
		if rng.IntN(2) == 0 {
			sends = append(sends, h) // a redelivery
		}
	}
	rng.Shuffle(len(sends), func(i, j int) { sends[i], sends[j] = sends[j], sends[i] })

	arrived := clock.Now() // the fake clock stands still while the events are sent
	for _, h := range sends {
		code, body := srv.send(t, h)
		if want, ok := sc.lookups[h.name]; ok {
			require.Equal(t, http.StatusOK, code, h.name)
			require.JSONEq(t, want, body, h.name)
			continue
		}
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, "%s: %s", h.name, body)
	}
	// Every event reaches the CRM exactly once, whatever the redeliveries.
	var logErr firstError
	require.Eventually(t, func() bool {
		n, err := srv.logs.countEvents()
		logErr.set(err)
		return err == nil && n >= sc.n
	}, 10*time.Second, 5*time.Millisecond, srv.logs.String())
	require.NoError(t, logErr.get())

	// Finaz reports only "answered": the engine acts on such a call once
	// it has settled.
	clock.Advance(gateway.FinazSettle)
	require.Equal(t, sc.n, srv.logs.events(t), "events delivered to the CRM")

	var calls []gateway.Call
	getJSON(t, srv, "/api/calls", &calls)
	require.Len(t, calls, 5)
	// Finaz stamps its notification with the time it arrived, by the
	// gateway's clock.
	require.Equal(t, "finaz", calls[0].Provider)
	require.True(t, calls[0].StartedAt.Equal(arrived.Truncate(time.Microsecond)) || calls[0].StartedAt.Equal(arrived), "%v, want %v", calls[0].StartedAt, arrived)
	require.Equal(t, calls[0].StartedAt, *calls[0].AnsweredAt)
	calls[0].StartedAt, calls[0].AnsweredAt = time.Time{}, nil

	var clients []gateway.Client
	getJSON(t, srv, "/api/clients", &clients)
	var leads []gateway.Lead
	getJSON(t, srv, "/api/leads", &leads)

	if diff := cmp.Diff(wantCalls, calls); diff != "" {
		t.Errorf("/api/calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantClients, clients); diff != "" {
		t.Errorf("/api/clients (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLeads, leads); diff != "" {
		t.Errorf("/api/leads (-want +got):\n%s", diff)
	}
}

// at is t0 + d.
func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

// phonetDial is when the scenario's Phonet call rings, relative to t0.
const phonetDial = -39*time.Minute - 56*time.Second

var (
	wantCalls = []gateway.Call{
		{ // started_at and answered_at: when the notification arrived, checked above
			Provider: "finaz", Account: "123", CallID: "fz-1", Direction: "outbound", Status: "success",
			ClientID: "4", ClientPhone: "5511987654321", Employee: "2001", Extension: "2001",
		},
		{
			Provider: "megafon", CallID: "mf-1", Direction: "inbound", Status: "success",
			ClientID: "2", ClientPhone: "79161234567", Employee: "701", Extension: "701", LinePhone: "74950000001",
			StartedAt: t0, AnsweredAt: at(0), EndedAt: at(95 * time.Second),
			DurationSec: 88, WaitSec: 7, RecordingURL: "https://vats123456.megapbx.ru/rec/mf-1.mp3",
		},
		{
			Provider: "telphin", Account: "74c86d00", CallID: "bb000000000000000000000000000002", Direction: "inbound", Status: "missed",
			ClientID: "c1", ClientPhone: "74957654321", LinePhone: "78123092854",
			StartedAt: *at(-5 * time.Minute), EndedAt: at(-5*time.Minute + 10120024*time.Microsecond), WaitSec: 10, LeadID: "l1",
		},
		{
			Provider: "telphin", Account: "74c86d00", CallID: "aa000000000000000000000000000001", Direction: "inbound", Status: "success",
			ClientID: "1", ClientPhone: "78123351127", Employee: "101", Extension: "101", LinePhone: "78123092854",
			StartedAt: *at(-10 * time.Minute), AnsweredAt: at(-10*time.Minute + 10120024*time.Microsecond), EndedAt: at(-10*time.Minute + 93600001*time.Microsecond),
			DurationSec: 83, WaitSec: 10,
		},
		{
			Provider: "phonet", Account: "acme.phonet.com.ua", CallID: "5c3d2e1f0a9b4c8d7e6f5a4b3c2d1e0f", Direction: "inbound", Status: "success",
			ClientID: "3", ClientPhone: "380501112233", Employee: "001", Extension: "001", LinePhone: "380442000000",
			StartedAt: *at(phonetDial), AnsweredAt: at(phonetDial + 13*time.Second), EndedAt: at(phonetDial + 131*time.Second),
			DurationSec: 118, WaitSec: 13, RecordingURL: "https://acme.phonet.com.ua/rest/public/calls/5c3d2e1f0a9b4c8d7e6f5a4b3c2d1e0f/audio",
		},
	}
	wantClients = []gateway.Client{
		{ID: "1", Name: "ООО Ромашка", Phone: "78123351127", Channel: "telephony", Responsible: "101"},
		{ID: "2", Name: "Иван Петров", Phone: "79161234567", Channel: "telephony", Responsible: "701"},
		{ID: "3", Name: "ТОВ Ромашка", Phone: "380501112233", Channel: "telephony", Responsible: "001"},
		{ID: "4", Name: "Padaria Pão Quente", Phone: "5511987654321", Channel: "telephony", Responsible: "2001"},
		// The unknown number of the missed Telphin call.
		{ID: "c1", Name: "Автоконтакт: Входящий-пропущенный", Phone: "74957654321", Channel: "telephony", CreatedFromCall: true},
	}
	wantLeads = []gateway.Lead{
		{ID: "l1", ClientID: "c1", Name: "Входящий +74957654321", Status: "new", Source: "missed call"},
	}
)

// TestOneMissedCallPerCall: a call that a queue or group rang at several
// agents and nobody answered is one missed call: one call row, one lead,
// each employee told once, never one per agent (issue 16; Telphin queue,
// MegaFon group, Phonet call ringing two employees).
func TestOneMissedCallPerCall(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := start(t, gateway.Config{Clock: clock})
	const tok = "hook-token"
	const telphinHook = "/hooks/telphin/74c86d00"
	var hooks []hook
	// Telphin: queue 3515*099 rings extensions 101, 102 and 201; each leg
	// gives up, then the queue leg hangs up unbridged.
	tc := telphintest.Call{CallID: "cc000000000000000000000000000003", SubCallID: "124575-cc000000000000000000000000000033",
		Client: "+78123351127", Start: t0.Add(-4 * time.Minute), Queue: "3515*099", QueueID: "124583"} // client 1
	for i, agent := range []struct{ ext, id string }{{"101", "124575"}, {"102", "124576"}, {"201", "124577"}} {
		leg := tc
		leg.Extension, leg.ExtensionID = "3515*"+agent.ext, agent.id
		leg.SubCallID = fmt.Sprintf("%s-cc0000000000000000000000000000%02d", agent.id, 40+i)
		gaveUp := leg.Hangup()
		gaveUp.Set("CallStatus", "NOANSWER")
		hooks = append(hooks, hookOf(t, "telphin ring "+agent.ext, telphintest.NewRequest(telphinHook, tok, leg.DialIn())),
			hookOf(t, "telphin gave up "+agent.ext, telphintest.NewRequest(telphinHook, tok, gaveUp)))
	}
	hooks = append(hooks, hookOf(t, "telphin queue missed", telphintest.NewRequest(telphinHook, tok, tc.QueueMissed())))
	// MegaFon: group "sales" rings andy (701) and bob (702); both legs are
	// cancelled, then the history says missed.
	for _, user := range []struct{ user, ext string }{{"andy", "701"}, {"bob", "702"}} {
		mc := megafontest.Call{ID: "mf-group-1", Direction: "in", Phone: "79161234567", Diversion: "74950000001", User: user.user, Ext: user.ext} // client 2
		hooks = append(hooks, hookOf(t, "megafon incoming "+user.user, megafontest.NewRequest("/hooks/megafon", "mf-token", megafontest.Event("INCOMING", mc))),
			hookOf(t, "megafon cancelled "+user.user, megafontest.NewRequest("/hooks/megafon", "mf-token", megafontest.Event("CANCELLED", mc))))
	}
	mc := megafontest.Call{ID: "mf-group-1", Direction: "in", Phone: "79161234567", Diversion: "74950000001", User: "andy", Ext: "701"}
	hooks = append(hooks, hookOf(t, "megafon history", megafontest.NewRequest("/hooks/megafon", "mf-token",
		megafontest.History(mc, megafontest.Outcome{Status: "Missed", Start: t0.Add(-3 * time.Minute), Duration: 20}))))
	// Phonet: the call rings employees 001 and 002 (each a user event of
	// the call); nobody answers, then the call's full record comes.
	pc := phonettest.InboundCall().At(t0.Add(-2 * time.Minute)) // client 3
	pc.UUID, pc.BridgeAt = "5c3d2e1f0a9b4c8d7e6f5a4b3c2d1e99", time.Time{}
	pc.HangupAt = pc.DialAt.Add(25 * time.Second)
	for _, emp := range []struct {
		id       int64
		ext, who string
	}{{30, "001", "Олена Коваль"}, {31, "002", "Петро Шевченко"}} {
		leg := pc
		leg.LegID, leg.Ext, leg.Employee = emp.id, emp.ext, emp.who
		hooks = append(hooks, hookOf(t, "phonet dial "+emp.ext, leg.Dial().Request("/hooks/phonet/call", phonettest.WithToken(tok))),
			hookOf(t, "phonet hangup "+emp.ext, leg.Hangup().Request("/hooks/phonet/call", phonettest.WithToken(tok))))
	}
	hooks = append(hooks, hookOf(t, "phonet after_call_end", pc.Record().Request("/hooks/phonet/after_call_end", phonettest.WithToken(tok))))
	for _, h := range hooks {
		code, body := srv.send(t, h)
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, "%s: %s", h.name, body)
	}
	waitEvents(t, srv, 15) // what the hooks carry: the calls' timers are armed before the clock moves
	clock.Advance(match.DefaultGracePeriod)
	require.Eventually(t, func() bool { return len(srv.Calls()) == 3 }, 10*time.Second, 5*time.Millisecond)
	clock.Advance(time.Minute) // nothing more comes of it
	d := listAll(t, srv)
	require.Len(t, d.Calls, 3, "one call row per call")
	for _, c := range d.Calls {
		require.Equal(t, "missed", c.Status, c.CallID)
	}
	require.Len(t, d.Leads, 3, "one lead per missed call")
	told := map[string]int{}
	for _, n := range d.Notifications {
		told[n.CallID+" "+n.Employee]++
	}
	require.Len(t, told, len(d.Notifications), "each employee told once per call: %v", told)
	perCall := map[string]int{}
	for _, n := range d.Notifications {
		perCall[n.CallID]++
	}
	require.Equal(t, 1, perCall[tc.CallID], "the responsible only, not every agent the queue rang")
	require.Equal(t, 1, perCall["mf-group-1"], "the responsible only, not every member of the group")
	require.Equal(t, 1, perCall[pc.UUID], "the responsible only, not every employee the call rang")
}

// TestTelphinRecordingLinks: Telphin's hangup carries a record id, not a
// link (seed 002): the gateway asks Telphin for the link, and a recording
// stored after the call ended is put on the call when it appears.
func TestTelphinRecordingLinks(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := start(t, gateway.Config{Clock: clock})
	tsrv, tcl := telphinFake(t)
	srv.SetCaller(telphin.Provider, tcl)
	tsrv.AddRecord("REC-A", []byte("ID3-a"))

	// call n: an answered call whose hangup carries the record id rec.
	call := func(n int, rec string, start time.Time) {
		t.Helper()
		c := telphintest.Call{CallID: fmt.Sprintf("dd0000000000000000000000000000%02d", n), SubCallID: fmt.Sprintf("124575-dd0000000000000000000000000000%02d", 10+n),
			Client: "+78123351127", Start: start}
		hangup := c.Hangup()
		hangup.Set("RecID", rec)
		for _, f := range []url.Values{c.DialIn(), c.Answer(), hangup} {
			code, body := srv.send(t, hookOf(t, "telphin", telphintest.NewRequest("/hooks/telphin/74c86d00", "hook-token", f)))
			require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
		}
	}
	call(0, "REC-A", t0.Add(-5*time.Minute))
	call(1, "REC-B", t0.Add(-5*time.Minute))
	// Every event delivered (the lookups take real time) before the
	// calls' settle wait runs out.
	require.Eventually(t, func() bool { n, err := srv.logs.countEvents(); return err == nil && n == 6 }, 10*time.Second, 5*time.Millisecond)
	clock.Advance(match.DefaultSettle)
	links := func() map[string]string {
		out := map[string]string{}
		for _, c := range srv.Calls() {
			out[c.CallID] = c.RecordingURL
		}
		return out
	}
	require.Eventually(t, func() bool { return len(links()) == 2 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, tsrv.URL+"/storage/REC-A", links()["dd000000000000000000000000000000"], "a stored recording: linked at once")
	require.Empty(t, links()["dd000000000000000000000000000001"], "not stored yet")

	tsrv.AddRecord("REC-B", []byte("ID3-b")) // Telphin stores it later
	clock.Advance(time.Minute)
	require.Eventually(t, func() bool { return links()["dd000000000000000000000000000001"] == tsrv.URL+"/storage/REC-B" },
		10*time.Second, 5*time.Millisecond, "linked when it appears")
	require.Len(t, srv.Calls(), 2)

	// Telphin's API fails (not a missing record): deliveries stop waiting
	// for it for a while, and the links come from the later lookups.
	tsrv.AddRecord("REC-C", []byte("ID3-c"))
	tsrv.AddRecord("REC-D", []byte("ID3-d"))
	tsrv.Fail(telphintest.Failure{Path: "/api/ver1.0/client/@me/record/", Status: http.StatusForbidden})
	lookups := func() int { return tsrv.Count(http.MethodGet, "/api/ver1.0/client/@me/record/") }
	for i, rec := range []string{"REC-C", "REC-D"} {
		before := lookups()
		call(2+i, rec, t0.Add(-time.Minute))
		require.Eventually(t, func() bool { n, err := srv.logs.countEvents(); return err == nil && n == 10+3*i }, 10*time.Second, 5*time.Millisecond)
		if i == 1 {
			require.Equal(t, before, lookups(), "while Telphin failed, a delivery does not wait for it")
		}
	}
	clock.Advance(match.DefaultSettle)
	require.Eventually(t, func() bool { return len(links()) == 4 }, 10*time.Second, 5*time.Millisecond)
	require.Empty(t, links()["dd000000000000000000000000000002"])
	clock.Advance(time.Minute)
	require.Eventually(t, func() bool {
		l := links()
		return l["dd000000000000000000000000000002"] == tsrv.URL+"/storage/REC-C" && l["dd000000000000000000000000000003"] == tsrv.URL+"/storage/REC-D"
	}, 10*time.Second, 5*time.Millisecond, "linked by the later lookups")
}

// TestTelphinHooksRegistered: with Telphin's credentials the gateway
// registers its webhook URL for the four call events of every active
// extension, as the guide does by hand, and removes its hooks with an
// old token; another integration's hooks stay.
func TestTelphinHooksRegistered(t *testing.T) {
	t.Parallel()
	// The fake clock: the employee sync, which would read the real
	// Telphin's extensions, waits for it.
	srv := start(t, gateway.Config{PublicURL: "https://crm.example.com", TelphinClientID: "74c86d00", TelphinClientSecret: "s3cret",
		Clock: newFakeClock()})
	tsrv, tcl := telphinFake(t)
	srv.SetCaller(telphin.Provider, tcl)
	_, err := tcl.Subscribe(t.Context(), "101", "https://crm.example.com/hooks/telphin/74c86d00?token=old")
	require.NoError(t, err)
	_, err = tcl.Subscribe(t.Context(), "101", "https://salebot.example/telphin_webhook/74c86d00")
	require.NoError(t, err)

	require.NoError(t, srv.SubscribeTelphin(t.Context(), "https://crm.example.com"))
	urls := map[string]int{}
	for _, h := range tsrv.Hooks(469100) {
		urls[h.URL]++
	}
	require.Equal(t, map[string]int{"https://crm.example.com/hooks/telphin/74c86d00?token=hook-token": 4,
		"https://salebot.example/telphin_webhook/74c86d00": 4}, urls)
	require.Len(t, tsrv.Hooks(469102), 4, "every active phone extension")
}
