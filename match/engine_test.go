package match_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"
)

// permutations calls f with every ordering of n indexes (Heap's algorithm).
func permutations(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var gen func(k int)
	gen = func(k int) {
		if k == 1 {
			f(p)
			return
		}
		for i := 0; i < k; i++ {
			gen(k - 1)
			if k%2 == 0 {
				p[i], p[k-1] = p[k-1], p[i]
			} else {
				p[0], p[k-1] = p[k-1], p[0]
			}
		}
	}
	gen(n)
}

// megafonLike is a call whose provider sends no Completed: two legs rang,
// one answered, both ended.
func megafonLike() []callevent.Event { return megafonCall("mf1") }

// megafonCall is megafonLike with another call id.
func megafonCall(callID string) []callevent.Event {
	mk := legEvent(callID)
	return []callevent.Event{
		mk("r1", callevent.Ringing, "a", "101", 0),
		mk("r2", callevent.Ringing, "b", "201", 0),
		mk("an", callevent.Answered, "b", "201", 12*time.Second),
		mk("e1", callevent.Ended, "a", "101", 12*time.Second),
		mk("e2", callevent.Ended, "b", "201", 70*time.Second),
	}
}

// legEvent returns a builder of the events of the inbound MegaFon call
// callID from unknownA: one event of a leg, at t0 plus at.
func legEvent(callID string) func(id string, k callevent.Kind, leg, ext string, at time.Duration) callevent.Event {
	return func(id string, k callevent.Kind, leg, ext string, at time.Duration) callevent.Event {
		return callevent.Event{ID: id, Provider: "megafon", Account: acct, Kind: k, Direction: callevent.Inbound, CallID: callID,
			LegID: leg, Extension: ext, ClientPhone: unknownA, LinePhone: line, At: t0.Add(at)}
	}
}

// TestShuffledAndDuplicated delivers the events of a call in every order,
// each twice, and expects the same final state as in order.
func TestShuffledAndDuplicated(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.Leads.InboundAnswered = match.LeadCase{Create: true}
	withCompleted := callSpec{id: "sh", dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}.events()
	// A Ended from the provider's realtime feed as well as its Completed.
	ended := withCompleted[0]
	ended.ID, ended.Kind, ended.At = "sh-e", callevent.Ended, t0.Add(115*time.Second)
	withCompleted = append(withCompleted, ended)

	// Two legs ring in parallel (a group or queue): extension 101 answers,
	// 102 gives up. Delivered in any order, B's final record may come
	// before the engine has heard of A at all.
	leg := func(id, legID, ext string, kind callevent.Kind, at time.Duration) callevent.Event {
		return callevent.Event{ID: id, Provider: "telphin", Account: acct, Kind: kind, Direction: callevent.Inbound,
			CallID: "pl", LegID: legID, ClientPhone: unknownA, LinePhone: line, Extension: ext, At: t0.Add(at)}
	}
	aDone := leg("a3", "a", "101", callevent.Completed, 10*time.Second)
	aDone.Status, aDone.AnsweredAt, aDone.EndedAt, aDone.Duration = callevent.Success, t0.Add(10*time.Second), t0.Add(100*time.Second), 90*time.Second
	bDone := leg("b2", "b", "102", callevent.Completed, 0)
	bDone.Status, bDone.EndedAt, bDone.Wait = callevent.NotAvailable, t0.Add(10*time.Second), 10*time.Second
	parallel := []callevent.Event{
		leg("a1", "a", "101", callevent.Ringing, 0), leg("b1", "b", "102", callevent.Ringing, 0),
		leg("a2", "a", "101", callevent.Answered, 10*time.Second), aDone, bDone,
	}

	for name, evs := range map[string][]callevent.Event{"with Completed": withCompleted, "Ended only": megafonLike(), "parallel legs": parallel} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run := func(order []int) state {
				h := newHarness(t, rule)
				for _, i := range order {
					h.send(evs[i], evs[i])
				}
				h.clock.Advance(match.DefaultGracePeriod)
				return h.state()
			}
			in := make([]int, len(evs))
			for i := range in {
				in[i] = i
			}
			want := run(in)
			require.Len(t, want.Clients, 2)
			require.Len(t, want.Leads, 1)
			require.Len(t, want.Calls, 1)
			require.Equal(t, callevent.Success, want.Calls[0].Status)
			require.Equal(t, "c1", want.Calls[0].ClientID)
			require.NotZero(t, want.Calls[0].Duration)
			// When the client is created depends on when the engine hears
			// of the answer: on answer while the call is live, else at
			// the decision. What is created does not.
			sameFacts := cmp.Options{cmpopts.IgnoreFields(match.Client{}, "CreatedAt"), cmpopts.IgnoreFields(match.Lead{}, "CreatedAt")}
			n := 0
			permutations(len(evs), func(order []int) {
				n++
				if diff := cmp.Diff(want, run(order), sameFacts); diff != "" {
					t.Fatalf("order %v (-in order +shuffled):\n%s", order, diff)
				}
			})
			require.Positive(t, n)
		})
	}
}

func TestEndedOnlyWaitsForGrace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule())
	h.send(megafonLike()...)
	require.Empty(t, h.s.Calls(), "nothing happens before the grace period")
	h.clock.Advance(match.DefaultGracePeriod - time.Second)
	require.Empty(t, h.s.Calls())
	h.clock.Advance(time.Second)
	calls := h.s.Calls()
	require.Len(t, calls, 1)
	want := match.CallRecord{Provider: "megafon", Account: acct, CallID: "mf1", Direction: callevent.Inbound,
		Status: callevent.Success, ClientID: "c1", ClientPhone: unknownA, Employee: "u2", Extension: "201",
		LinePhone: line, StartedAt: t0, AnsweredAt: t0.Add(12 * time.Second), EndedAt: t0.Add(70 * time.Second),
		Duration: 58 * time.Second, Wait: 12 * time.Second}
	require.Empty(t, cmp.Diff(want, calls[0]))

	// A Completed arriving late (e.g. from history) adds what it knows
	// without re-running the rules.
	late := megafonLike()[2]
	late.ID, late.Kind, late.RecordingURL, late.Status = "hist", callevent.Completed, "https://rec/1.mp3", callevent.Success
	h.send(late)
	calls = h.s.Calls()
	require.Len(t, calls, 1)
	want.RecordingURL = "https://rec/1.mp3"
	require.Empty(t, cmp.Diff(want, calls[0]))
	require.Len(t, h.s.Clients(), 2)
}

// TestProviderIdle: a provider that reports only the answer (Finaz) has
// its calls decided after its own idle timeout; other providers keep the
// general one.
func TestProviderIdle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule(), match.WithProviderIdle("finaz", time.Minute))
	answered := func(provider, id string) callevent.Event {
		return callevent.Event{ID: provider + id, Provider: provider, Account: acct, Kind: callevent.Answered,
			Direction: callevent.Outbound, CallID: id, ClientPhone: unknownA, Extension: "201", At: t0, AnsweredAt: t0}
	}
	h.send(answered("finaz", "f1"), answered("megafon", "m1"))
	h.clock.Advance(time.Minute - time.Second)
	require.Empty(t, h.s.Calls())
	h.clock.Advance(time.Second)
	calls := h.s.Calls()
	require.Len(t, calls, 1, "only the finaz call is decided after a minute")
	require.Equal(t, "f1", calls[0].CallID)
	require.Equal(t, "c1", calls[0].ClientID, "the rules ran: a client was created")
	h.clock.Advance(match.DefaultIdleTimeout)
	require.Len(t, h.s.Calls(), 2, "the other provider waits for the general idle timeout")

	_, err := match.NewEngine(h.s, match.WithProviderIdle("", time.Minute))
	require.Error(t, err)
	_, err = match.NewEngine(h.s, match.WithProviderIdle("finaz", 0))
	require.Error(t, err)
}

// TestConcurrentCallsOneUnknownNumber: 100 calls at once from one unknown
// number make one client and one lead.
func TestConcurrentCallsOneUnknownNumber(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.Leads.InboundMissed = match.LeadCase{Create: true}
	h := newHarness(t, rule)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := callSpec{id: fmt.Sprintf("cc%d", i), dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed}
			for _, ev := range c.events() {
				if err := h.e.HandleEvent(context.Background(), ev); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, h.s.Clients(), 2)
	require.Len(t, h.s.Leads(), 1)
	calls := h.s.Calls()
	require.Len(t, calls, 100)
	for _, c := range calls {
		require.Equal(t, "c1", c.ClientID)
		require.Equal(t, "l1", c.LeadID)
	}
}

func TestLateBinding(t *testing.T) {
	t.Parallel()
	noCreate := match.Rule{}
	// Clients are not created, but answered calls make leads: a call bound
	// late joins the client's active lead, as one bound at once would.
	leadsOnly := match.Rule{Leads: match.LeadRules{InboundAnswered: match.LeadCase{Create: true}}}
	tests := []struct {
		name     string
		rule     match.Rule
		wait     time.Duration
		attached bool
		wantLead string
	}{
		{"inside the window", noCreate, 10 * time.Minute, true, ""},
		{"inside the window, leads on: joins the active lead", leadsOnly, 10 * time.Minute, true, "L1"},
		{"outside the window", noCreate, 10*time.Minute + time.Second, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.rule)
			c := callSpec{id: "lb", dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}
			h.send(c.events()...)
			require.Equal(t, "", h.s.Calls()[0].ClientID)
			h.clock.Advance(tt.wait)
			require.NoError(t, h.s.AddClients(match.Client{ID: "m1", Account: acct, Phone: unknownA}))
			require.NoError(t, h.s.AddLeads(match.Lead{ID: "L1", Account: acct, ClientID: "m1"}))
			require.NoError(t, h.e.ClientCreated(t.Context(), acct, "+"+unknownA))
			got := h.s.Calls()[0]
			if tt.attached {
				require.Equal(t, "m1", got.ClientID)
			} else {
				require.Equal(t, "", got.ClientID)
			}
			require.Equal(t, tt.wantLead, got.LeadID)
			// Once bound (or expired), a second hook changes nothing.
			require.NoError(t, h.e.ClientCreated(t.Context(), acct, unknownA))
			require.Equal(t, got, h.s.Calls()[0])
		})
	}
}

// TestLateBindingWithoutHook: a client created where the engine does not
// hear of it (by hand in the CRM; no ClientCreated call) is found by the
// check when the window closes, but only if it was created inside it.
func TestLateBindingWithoutHook(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		createAt time.Duration
		want     string
	}{
		{"created inside the window", 3 * time.Minute, "m1"},
		{"created after the window", match.DefaultLateBindingWindow + 2*time.Second, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, match.Rule{})
			c := callSpec{id: "nh", dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}
			h.send(c.events()...)
			h.clock.Advance(tt.createAt)
			require.NoError(t, h.s.AddClients(match.Client{ID: "m1", Account: acct, Phone: unknownA}))
			require.Equal(t, "", h.s.Calls()[0].ClientID, "nothing happens until the window closes")
			h.clock.Advance(match.DefaultLateBindingWindow + time.Minute)
			require.Equal(t, tt.want, h.s.Calls()[0].ClientID)
		})
	}
}

// TestLateBindingByEngine: a call that waited is attached when a later
// call, under a rule that creates clients, creates the client.
func TestLateBindingByEngine(t *testing.T) {
	t.Parallel()
	rule := match.Rule{}
	sales := match.DefaultRule()
	h := newHarness(t, match.DefaultRule(), match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule,
		Lines: []match.LineRule{{Name: "sales", Numbers: []string{"+7 495 000-00-01"}, Rule: sales}}}}))
	first := callSpec{id: "w1", dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}
	h.send(first.events()...)
	h.clock.Advance(time.Minute)
	second := callSpec{id: "w2", dir: callevent.Inbound, phone: unknownA, line: "74950000001", ext: "201", status: callevent.Success}
	h.send(second.events()...)
	calls := h.s.Calls()
	require.Len(t, calls, 2)
	for _, c := range calls {
		require.Equal(t, "c1", c.ClientID, c.CallID)
	}
}

func TestIgnoredCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule())
	internal := callSpec{id: "i1", dir: callevent.Internal, phone: "", ext: "101", status: callevent.Success}
	h.send(internal.events()...)
	require.Empty(t, h.s.Calls(), "internal calls are not passed to the CRM")

	anon := callSpec{id: "a1", dir: callevent.Inbound, phone: "", ring: "101", status: callevent.Missed}
	h.send(anon.events()...)
	calls := h.s.Calls()
	require.Len(t, calls, 1, "an anonymous call is logged")
	require.Equal(t, "", calls[0].ClientID)
	require.Len(t, h.s.Clients(), 1, "no client for an anonymous caller")

	h.send(callevent.Event{ID: "rate", Provider: "telphin", Account: acct, Kind: callevent.Rated, CallID: "zz", At: t0, Rating: 5})
	require.Error(t, h.e.HandleEvent(t.Context(), callevent.Event{ID: "bad", Provider: "telphin", Kind: callevent.Ringing, At: t0}))
}

// TestRetryAfterStoreError: a failed finalization is retried by the
// redelivered event and continues where it stopped.
func TestRetryAfterStoreError(t *testing.T) {
	t.Parallel()
	clock := matchtest.NewClock(t0)
	ms, err := memstore.New(memstore.WithClock(clock))
	require.NoError(t, err)
	fs := &failingStore{Store: ms, fail: map[string]bool{"LogCall": true}}
	rule := match.DefaultRule()
	rule.Leads.InboundAnswered = match.LeadCase{Create: true}
	e, err := match.NewEngine(fs, match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}), match.WithClock(clock))
	require.NoError(t, err)
	defer e.Close(t.Context())
	ms.SetEmployees(acct, employees()...)

	evs := callSpec{id: "f1", dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}.events()
	for _, ev := range evs[:2] {
		require.NoError(t, e.HandleEvent(t.Context(), ev))
	}
	require.ErrorIs(t, e.HandleEvent(t.Context(), evs[2]), errStoreDown)
	require.Len(t, ms.Clients(), 1)
	fs.set("LogCall", false)
	require.NoError(t, e.HandleEvent(t.Context(), evs[2]), "the redelivery retries")
	require.Len(t, ms.Clients(), 1, "the client is not created twice")
	require.Len(t, ms.Leads(), 1, "the lead is created once, for the new client")
	require.Equal(t, "l1", ms.Calls()[0].LeadID)

	// Timer-driven finalization retries too.
	fs.set("Find", true)
	for _, ev := range megafonLike() {
		require.NoError(t, e.HandleEvent(t.Context(), ev))
	}
	clock.Advance(match.DefaultGracePeriod)
	require.Len(t, ms.Calls(), 1)
	fs.set("Find", false)
	clock.Advance(match.DefaultGracePeriod)
	require.Len(t, ms.Calls(), 2)
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.Missed.Distribution = match.DistributeRoundRobin
	rule.Leads.InboundMissed = match.LeadCase{Create: true, Source: "missed"}
	rule.Notify.Admins = true
	h := newHarness(t, rule)
	c := callSpec{id: "dr", dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed}
	d, err := h.e.DryRun(t.Context(), c.events()...)
	require.NoError(t, err)
	require.Equal(t, state{Clients: []match.Client{k1}}, h.state(), "a dry run writes nothing")
	want := []match.Action{
		{Kind: match.ActResponsible, Employee: "u1", Reason: "missed call from an unknown number: round robin"},
		{Kind: match.ActCreateClient, Employee: "u1", Reason: `unknown number and creating clients on inbound missed is on: telephony client "Автоконтакт: Входящий-пропущенный"`},
		{Kind: match.ActCreateLead, Employee: "u1", Reason: `no active lead, creating leads on inbound missed is on, a new client: "Входящий +79162222222"`},
		{Kind: match.ActLogCall, Employee: "u1", Reason: "inbound missed call"},
		{Kind: match.ActNotify, Employee: "u1", Reason: "responsible for the missed call"},
		{Kind: match.ActNotify, Employee: "u3", Reason: "admin"},
	}
	require.Empty(t, cmp.Diff(want, d.Actions))
	require.Equal(t, match.InboundMissed, d.Case)
	require.Contains(t, d.String(), "create client employee=u1: unknown number")

	// The real run agrees, and the dry run did not consume the round robin.
	h.send(c.events()...)
	cl, _, _ := h.s.FindClientByPhone(t.Context(), acct, unknownA)
	require.Equal(t, "u1", cl.Responsible)

	_, err = h.e.DryRun(t.Context(), append(c.events(), callSpec{id: "other", phone: known}.events()...)...)
	require.Error(t, err)
	_, err = h.e.DryRun(t.Context())
	require.Error(t, err)
}

func TestLookupContact(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule(), match.WithCardURL("https://crm.example.com/{account}/clients/{id}"))
	got, found, err := h.e.LookupContact(t.Context(), acct, "8 916 111 11 11")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, callevent.Contact{ID: "k1", Name: "Иван Петров", URL: "https://crm.example.com/acc/clients/k1",
		ResponsibleExtension: "201", ResponsibleLogin: "boris", ResponsibleEmail: "boris@example.com"}, got)
	for _, p := range []string{unknownA, "", "101", "garbage"} {
		_, found, err = h.e.LookupContact(t.Context(), acct, p)
		require.NoError(t, err)
		require.False(t, found, p)
	}
}

// TestCloseFlushesAndStops: Close acts on calls in their grace period,
// drops timers and refuses further events.
func TestCloseFlushesAndStops(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.Notify = match.NotifyRule{Extra: []string{"u4"}, Delay: match.Duration(time.Hour)}
	h := newHarness(t, rule)
	h.send(megafonLike()...)
	h.send(callSpec{id: "m", dir: callevent.Inbound, phone: unknownB, ring: "101", status: callevent.Missed}.events()...)
	require.Len(t, h.s.Calls(), 1)
	require.NoError(t, h.e.Close(t.Context()))
	require.Len(t, h.s.Calls(), 2, "the call in its grace period was acted on")
	require.Zero(t, h.clock.Pending(), "no timer left")
	require.ErrorIs(t, h.e.HandleEvent(t.Context(), megafonLike()[0]), match.ErrClosed)
	require.NoError(t, h.e.Close(t.Context()), "Close is idempotent")
}

// TestForgetsFinishedCalls: per-call state is dropped after the retention.
func TestForgetsFinishedCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.Rule{})
	for i := range 50 {
		h.send(callSpec{id: fmt.Sprint("g", i), dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}.events()...)
	}
	h.send(megafonLike()[0]) // a call that never ends
	count := func() (active, waiting int) {
		active, _, _, waiting = h.e.Memory()
		return active, waiting
	}
	active, waiting := count()
	require.Equal(t, 51, active)
	require.Equal(t, 50, waiting)
	h.clock.Advance(match.DefaultRetention)
	active, waiting = count()
	require.Equal(t, 1, active)
	require.Zero(t, waiting)
	require.Len(t, h.s.Calls(), 50)
	h.clock.Advance(match.DefaultIdleTimeout - match.DefaultRetention)
	active, _ = count()
	require.Equal(t, 1, active, "the idle call is acted on, then kept for the retention")
	require.Len(t, h.s.Calls(), 51)
	h.clock.Advance(match.DefaultRetention)
	active, _ = count()
	require.Zero(t, active)
	require.Len(t, h.s.Calls(), 51)
}

func TestEngineLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule(), match.WithLimits(match.Limits{MaxCalls: 1}))
	h.send(megafonLike()[0])
	err := h.e.HandleEvent(t.Context(), callSpec{id: "x", dir: callevent.Inbound, phone: known}.events()[0])
	require.ErrorIs(t, err, match.ErrOverloaded)

	_, err = match.NewEngine(nil)
	require.Error(t, err)
	_, err = match.NewEngine(h.s, match.WithTiming(match.Timing{Grace: -1}))
	require.Error(t, err)
	_, err = match.NewEngine(h.s, match.WithRules(match.RuleSet{Default: match.Rules{Lines: []match.LineRule{{Name: "x", Numbers: []string{"abc"}}}}}))
	require.ErrorContains(t, err, "abc")
	_, err = match.NewEngine(h.s, match.WithLogger(nil))
	require.ErrorContains(t, err, "nil logger")
}

// TestDecisionLogged: every decision is logged at debug level with its
// reasons, and nothing is logged at the default level.
func TestDecisionLogged(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, match.DefaultRule(), match.WithLogger(logger))
	h.send(callSpec{id: "lg", dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}.events()...)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	require.Contains(t, out, "level=DEBUG msg=\"match: call decided\"")
	require.Contains(t, out, "decision.call_id=lg")
	require.Contains(t, out, "create client client=c1 employee=u1: unknown number and creating clients on inbound answered is on")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestRatingLandsOnTheCall: a client's rating (a Rated event, MegaFon's
// "rating") is kept on the call it rates, whether it comes before the
// decision or after it; a rating of a call the engine does not hold makes
// no call of its own.
func TestRatingLandsOnTheCall(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule())
	rated := func(id, callID string, score int) callevent.Event {
		return callevent.Event{ID: id, Provider: "megafon", Account: acct, Kind: callevent.Rated, Direction: callevent.Inbound,
			CallID: callID, ClientPhone: unknownA, LinePhone: line, At: t0.Add(2 * time.Minute), Rating: score}
	}
	h.send(rated("stray", "never-seen", 5))
	h.send(megafonLike()...)
	h.clock.Advance(match.DefaultGracePeriod)
	calls := h.s.Calls()
	require.Len(t, calls, 1, "the rating of an unknown call made no call")
	require.Zero(t, calls[0].Rating)

	h.send(rated("rt1", "mf1", 4))
	require.Equal(t, 4, h.s.Calls()[0].Rating, "a rating after the decision amends the call")
	h.send(rated("rt2", "mf1", 5))
	require.Equal(t, 5, h.s.Calls()[0].Rating, "the last rating counts")
	require.Len(t, h.s.Calls(), 1)

	// Before the decision: decided with it.
	h.send(megafonCall("mf2")...)
	h.send(rated("rt3", "mf2", 3))
	h.clock.Advance(match.DefaultGracePeriod)
	for _, c := range h.s.Calls() {
		if c.CallID == "mf2" {
			require.Equal(t, 3, c.Rating)
			return
		}
	}
	t.Fatal("call mf2 not logged")
}

// TestFinazContactIDFromTheDialer: the dialer's answer notification names
// the contact of its mailing (pid, "Identificador Contato CRM", seed 004):
// the call goes to that client whatever number was dialled; an id the CRM
// does not have falls back to matching by phone.
func TestFinazContactIDFromTheDialer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule(), match.WithProviderIdle("finaz", time.Minute))
	answered := func(id, pid, phone string) callevent.Event {
		return callevent.Event{ID: "fz-" + id, Provider: "finaz", Account: acct, Kind: callevent.Answered,
			Direction: callevent.Outbound, CallID: id, ClientPhone: phone, Extension: "201", At: t0, AnsweredAt: t0, ContactRef: pid}
	}
	// The contact's other number (not in the CRM), the CRM's id of the
	// contact; then an id the CRM does not know; then no number at all.
	h.send(answered("f1", "k1", unknownA), answered("f2", "k99", unknownB), answered("f3", "k1", ""))
	h.clock.Advance(time.Minute)
	byID := map[string]match.CallRecord{}
	for _, c := range h.s.Calls() {
		byID[c.CallID] = c
	}
	require.Len(t, byID, 3)
	require.Equal(t, "k1", byID["f1"].ClientID, "pid names the client")
	require.Equal(t, "k1", byID["f3"].ClientID, "also without a number")
	require.NotEqual(t, "k1", byID["f2"].ClientID)
	require.NotEmpty(t, byID["f2"].ClientID, "an unknown pid: matched by phone (here: a new client)")
	require.Len(t, h.s.Clients(), 2, "no client made for the number of a named contact")
}

// TestResponsibleAfterTransfer: a call answered in a group and transferred
// belongs to the employee who took it last, the one who talked with the
// client (seed 002, "responsible after transfers and ring groups").
func TestResponsibleAfterTransfer(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.Leads.InboundAnswered = match.LeadCase{Create: true}
	h := newHarness(t, rule)
	mk := legEvent("tr1")
	h.send(
		mk("r1", callevent.Ringing, "a", "101", 0),
		mk("r2", callevent.Ringing, "b", "102", 0),
		mk("an1", callevent.Answered, "a", "101", 5*time.Second), // the group's first agent (u1)
		mk("e2", callevent.Ended, "b", "102", 5*time.Second),
		mk("tr", callevent.Transferred, "c", "201", 40*time.Second),
		mk("an2", callevent.Answered, "c", "201", 45*time.Second), // Boris (u2) takes it
		mk("e1", callevent.Ended, "a", "101", 45*time.Second),
		mk("e3", callevent.Ended, "c", "201", 3*time.Minute),
	)
	h.clock.Advance(match.DefaultGracePeriod)
	calls := h.s.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, "u2", calls[0].Employee)
	require.Equal(t, "201", calls[0].Extension)
	require.Equal(t, "u2", h.s.Clients()[1].Responsible, "the new client's responsible")
	leads := h.s.Leads()
	require.Len(t, leads, 1)
	require.Equal(t, "u2", leads[0].Responsible)

	// Without a transfer the first to answer keeps the call.
	h.send(megafonCall("pl")...)
	h.clock.Advance(match.DefaultGracePeriod)
	for _, c := range h.s.Calls() {
		if c.CallID == "pl" {
			require.Equal(t, "201", c.Extension)
		}
	}
}

// TestSalebotMegafonDialog plays seed 001's "Виды уведомлений": with
// Rule.Dialog a call writes megafon_call_event notes (ACCEPTED, COMPLETED,
// TRANSFERRED, OUTGOING) and megafon_call_status into the client's
// dialog, and sets the megafon_call_* variables on the client; replaying
// the call adds nothing.
func TestSalebotMegafonDialog(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.Dialog = true
	h := newHarness(t, rule)
	in := megafonLike() // rings 101 and 201, 201 answers, both legs end
	in = append(in, callevent.Event{ID: "rec", Provider: "megafon", Account: acct, Kind: callevent.Completed, Direction: callevent.Inbound,
		CallID: "mf1", ClientPhone: unknownA, LinePhone: line, Status: callevent.Success, At: t0, AnsweredAt: t0.Add(12 * time.Second),
		EndedAt: t0.Add(70 * time.Second), RecordingURL: "https://vats.example/rec/mf1.mp3"})
	h.send(in...)
	h.clock.Advance(match.DefaultGracePeriod)
	calls := h.s.Calls()
	require.Len(t, calls, 1)
	c := calls[0]
	texts := func(id string) []string {
		var out []string
		for _, n := range h.s.DialogNotes(acct, id) {
			out = append(out, n.Text)
		}
		return out
	}
	require.Equal(t, []string{"megafon_call_event ACCEPTED", "megafon_call_event COMPLETED", "megafon_call_status Success"}, texts(c.ClientID))
	client, ok := h.s.Client(acct, c.ClientID)
	require.True(t, ok)
	for k, v := range map[string]string{"megafon_call_direction": "in", "megafon_call_ext": "201", "megafon_call_id": "mf1",
		"megafon_call_user": "u2", "megafon_record_link": "https://vats.example/rec/mf1.mp3"} {
		require.Equal(t, v, client.Fields[k], k)
	}

	// An outbound call the client did not take, to the known client.
	out := []callevent.Event{
		{ID: "o1", Provider: "megafon", Account: acct, Kind: callevent.Ringing, Direction: callevent.Outbound, CallID: "mf2",
			ClientPhone: known, Extension: "101", At: t0},
		{ID: "o2", Provider: "megafon", Account: acct, Kind: callevent.Completed, Direction: callevent.Outbound, CallID: "mf2",
			ClientPhone: known, Extension: "101", Status: callevent.Busy, At: t0, EndedAt: t0.Add(9 * time.Second)},
	}
	h.send(out...)
	h.send(out...) // redelivered
	h.clock.Advance(match.DefaultGracePeriod)
	require.Equal(t, []string{"megafon_call_event OUTGOING", "megafon_call_status Busy"}, texts("k1"))
	k1, _ := h.s.Client(acct, "k1")
	require.Equal(t, "out", k1.Fields["megafon_call_direction"])
	require.Equal(t, "u1", k1.Fields["megafon_call_user"])
	_, hasLink := k1.Fields["megafon_record_link"]
	require.False(t, hasLink, "no recording: no link")
}

// TestMappedExtensionsOnly: with Rule.MappedOnly (seed 002, "only for
// extensions that have a mapping") a call of an extension no employee has
// is ignored and counted; the calls of mapped extensions, answered or
// missed, are handled as before.
func TestMappedExtensionsOnly(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.MappedOnly = true
	h := newHarness(t, rule)
	h.send(callSpec{id: "u1", dir: callevent.Inbound, phone: unknownA, ext: "999", status: callevent.Success}.events()...)
	h.send(callSpec{id: "u2", dir: callevent.Inbound, phone: unknownA, ring: "998", status: callevent.Missed}.events()...)
	h.send(callSpec{id: "u3", dir: callevent.Outbound, phone: unknownA, ext: "997", status: callevent.Success}.events()...)
	h.clock.Advance(match.DefaultGracePeriod)
	require.Empty(t, h.s.Calls(), "calls of unmapped extensions are not passed to the CRM")
	require.Len(t, h.s.Clients(), 1, "no client made for them")
	require.Equal(t, int64(3), h.e.Unmapped())

	h.send(callSpec{id: "m1", dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}.events()...)
	h.send(callSpec{id: "m2", dir: callevent.Inbound, phone: unknownB, ring: "201", status: callevent.Missed}.events()...)
	h.clock.Advance(match.DefaultGracePeriod)
	require.Len(t, h.s.Calls(), 2)
	require.Equal(t, int64(3), h.e.Unmapped())

	d, err := h.e.DryRun(t.Context(), callSpec{id: "x", dir: callevent.Inbound, phone: unknownA, ext: "999", status: callevent.Success}.events()...)
	require.NoError(t, err)
	require.Contains(t, d.String(), "not mapped")
	require.Equal(t, int64(3), h.e.Unmapped(), "explaining counts nothing")
}
