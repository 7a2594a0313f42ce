package match_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/stretchr/testify/require"
)

// cards records the pop-ups the engine shows.
type cards struct {
	mu   sync.Mutex
	list []match.PopUp
	fail error
}

func (c *cards) PopUp(_ context.Context, p match.PopUp) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	c.list = append(c.list, p)
	return nil
}

func (c *cards) all() []match.PopUp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

// who lists "phase:employee" of each card, in order.
func (c *cards) who() []string {
	var out []string
	for _, p := range c.all() {
		out = append(out, p.Phase.String()+":"+p.Employee)
	}
	return out
}

// seed002Rule is the guide's setup: create contacts for unknown numbers
// and a lead in pipeline "Продажи" for answered calls.
func seed002Rule() match.Rule {
	r := match.DefaultRule()
	r.Leads.InboundAnswered = match.LeadCase{Create: true, Pipeline: "Продажи"}
	r.Leads.OutboundAnswered = match.LeadCase{Create: true, Pipeline: "Продажи"}
	return r
}

func liveEvent(call string, dir callevent.Direction, phone string) func(id string, k callevent.Kind, leg, ext string, at time.Duration) callevent.Event {
	return func(id string, k callevent.Kind, leg, ext string, at time.Duration) callevent.Event {
		return callevent.Event{ID: id, Provider: "telphin", Account: acct, Kind: k, Direction: dir, CallID: call,
			LegID: leg, Extension: ext, ClientPhone: phone, LinePhone: line, At: t0.Add(at)}
	}
}

// TestSeed002Scenario2ContactAndLeadOnAnswer: an inbound call from an
// unknown number rings two managers (both see the caller's number); when
// Anna answers, the contact «Автоконтакт: Входящий» (her, tagged with the
// number called) and the lead «Входящий +<phone>» (her, pipeline of the
// setting) exist before the call ends, and her card shows them. The end
// logs the call on them and creates nothing more, also when the events
// come again, in another order.
func TestSeed002Scenario2ContactAndLeadOnAnswer(t *testing.T) {
	t.Parallel()
	var cs cards
	h := newHarness(t, seed002Rule(), match.WithPopUps(&cs))
	ev := liveEvent("s2", callevent.Inbound, unknownA)
	ring1, ring2 := ev("r1", callevent.Ringing, "a", "101", 0), ev("r2", callevent.Ringing, "b", "201", 0)
	answer := ev("an", callevent.Answered, "a", "101", 10*time.Second)
	h.send(ring1, ring2)
	require.Equal(t, []string{"ringing:u1", "ringing:u2"}, cs.who(), "everyone the call rings sees the number")
	for _, p := range cs.all() {
		require.Equal(t, unknownA, p.ClientPhone)
		require.Empty(t, p.Client.ID, "an unknown number")
		require.False(t, p.Offer, "the offer comes on answer")
	}
	require.Len(t, h.s.Clients(), 1, "nothing is created while it rings")

	h.send(answer)
	clients := h.s.Clients()
	require.Len(t, clients, 2, "the contact exists during the call")
	c := clients[1]
	require.Equal(t, "Автоконтакт: Входящий", c.Name)
	require.Equal(t, unknownA, c.Phone)
	require.Equal(t, "u1", c.Responsible, "the manager who picked up")
	require.Equal(t, []string{line}, c.Tags, "tagged with the number called")
	leads := h.s.Leads()
	require.Len(t, leads, 1, "the lead exists during the call")
	require.Equal(t, "Входящий +"+unknownA, leads[0].Name)
	require.Equal(t, "Продажи", leads[0].Pipeline)
	require.Equal(t, "u1", leads[0].Responsible)
	require.Equal(t, c.ID, leads[0].ClientID)
	cards := cs.all()
	require.Len(t, cards, 3)
	last := cards[2]
	require.Equal(t, match.PhaseAnswered, last.Phase)
	require.Equal(t, "u1", last.Employee, "the answerer's card")
	require.Equal(t, c.ID, last.Client.ID, "shows the created contact")
	require.True(t, last.Created)
	require.Equal(t, []string{leads[0].ID}, leadIDs(last.Leads), "and its lead")
	require.Empty(t, h.s.Calls(), "the call is logged at its end")

	end := ev("e1", callevent.Ended, "a", "101", 2*time.Minute)
	end.Status = callevent.Success
	endB := ev("e2", callevent.Ended, "b", "201", 10*time.Second)
	endB.Status = callevent.Missed
	h.send(endB, end)
	h.clock.Advance(match.DefaultGracePeriod)
	calls := h.s.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, c.ID, calls[0].ClientID)
	require.Equal(t, leads[0].ID, calls[0].LeadID)
	require.Equal(t, "u1", calls[0].Employee)

	// Redelivered, out of order: nothing new.
	h.send(end, answer, ring2, ring1)
	h.clock.Advance(match.DefaultGracePeriod)
	require.Len(t, h.s.Clients(), 2)
	require.Len(t, h.s.Leads(), 1)
	require.Len(t, h.s.Calls(), 1)
	require.Len(t, cs.all(), 3, "no card twice")
}

func leadIDs(ls []match.Lead) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.ID)
	}
	return out
}

// TestSeed002Scenario3OfferToCreate: with "create contact" off, the
// answerer's card offers to create a contact or company; a client with
// the number created during the call (from the card, by hand) gets the
// call at its end, and one created after the end within the late-binding
// window gets it then.
func TestSeed002Scenario3OfferToCreate(t *testing.T) {
	t.Parallel()
	rule := seed002Rule()
	rule.Create = match.CreateRule{}
	var cs cards
	h := newHarness(t, rule, match.WithPopUps(&cs))
	ev := liveEvent("s3", callevent.Inbound, unknownA)
	h.send(ev("r1", callevent.Ringing, "a", "101", 0), ev("an", callevent.Answered, "a", "101", 5*time.Second))
	cards := cs.all()
	require.Len(t, cards, 2)
	require.Equal(t, match.PhaseAnswered, cards[1].Phase)
	require.True(t, cards[1].Offer, "the card offers to create a contact or company")
	require.Len(t, h.s.Clients(), 1, "nothing created")

	// The manager creates the contact from the card while they talk.
	made, err := h.s.CreateClient(context.Background(), match.Client{Account: acct, Name: "ООО Ромашка", Phone: unknownA, Responsible: "u1"})
	require.NoError(t, err)
	end := ev("e1", callevent.Ended, "a", "101", time.Minute)
	end.Status = callevent.Success
	h.send(end)
	h.clock.Advance(match.DefaultGracePeriod)
	calls := h.s.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, made.ID, calls[0].ClientID, "the call is on the client created during it")

	// Another call, and the client is created 9 minutes after it ended.
	ev = liveEvent("s3b", callevent.Inbound, unknownB)
	end = ev("e1", callevent.Ended, "a", "101", time.Minute)
	end.Status = callevent.Success
	h.send(ev("an", callevent.Answered, "a", "101", 0), end)
	h.clock.Advance(match.DefaultGracePeriod + 9*time.Minute)
	later, err := h.s.CreateClient(context.Background(), match.Client{Account: acct, Name: "Пётр", Phone: unknownB})
	require.NoError(t, err)
	h.clock.Advance(2 * time.Minute) // the window closes: the engine looks again
	for _, c := range h.s.Calls() {
		if c.CallID == "s3b" {
			require.Equal(t, later.ID, c.ClientID, "attached within the window")
		}
	}
}

// TestSeed002Scenarios7And10ContactOnDial: an outbound call to an unknown
// number creates «Автоконтакт: Исходящий» (the caller responsible) when it
// is placed, and the caller's card links to it; the lead «Исходящий
// +<phone>» follows when the call is answered (scenario 7). Unanswered, the
// call keeps the contact and gets no lead (scenario 10).
func TestSeed002Scenarios7And10ContactOnDial(t *testing.T) {
	t.Parallel()
	var cs cards
	h := newHarness(t, seed002Rule(), match.WithPopUps(&cs))
	ev := liveEvent("s7", callevent.Outbound, unknownA)
	h.send(ev("d", callevent.Ringing, "a", "201", 0))
	clients := h.s.Clients()
	require.Len(t, clients, 2, "the contact exists when the call is placed")
	c := clients[1]
	require.Equal(t, "Автоконтакт: Исходящий", c.Name)
	require.Equal(t, "u2", c.Responsible, "the manager who calls")
	require.Empty(t, c.Tags, "no company-number tag on outbound")
	require.Empty(t, h.s.Leads(), "no lead before the answer")
	require.Equal(t, []string{"dialing:u2"}, cs.who())
	require.Equal(t, c.ID, cs.all()[0].Client.ID, "the caller's card links to the contact")
	require.True(t, cs.all()[0].Created)

	h.send(ev("an", callevent.Answered, "a", "201", 15*time.Second))
	leads := h.s.Leads()
	require.Len(t, leads, 1, "the lead on answer")
	require.Equal(t, "Исходящий +"+unknownA, leads[0].Name)
	require.Equal(t, "u2", leads[0].Responsible)
	require.Equal(t, []string{"dialing:u2"}, cs.who(), "no second card on answer")
	end := ev("e", callevent.Ended, "a", "201", 2*time.Minute)
	end.Status = callevent.Success
	h.send(end)
	h.clock.Advance(match.DefaultGracePeriod)
	require.Len(t, h.s.Clients(), 2)
	require.Len(t, h.s.Leads(), 1)
	calls := h.s.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, c.ID, calls[0].ClientID)
	require.Equal(t, leads[0].ID, calls[0].LeadID)

	// Scenario 10: not answered.
	ev = liveEvent("s10", callevent.Outbound, unknownB)
	h.send(ev("d", callevent.Ringing, "a", "201", 0))
	require.Len(t, h.s.Clients(), 3, "created on dial")
	end = ev("e", callevent.Ended, "a", "201", 30*time.Second)
	end.Status = callevent.Busy
	h.send(end)
	h.clock.Advance(match.DefaultGracePeriod)
	require.Len(t, h.s.Clients(), 3)
	require.Len(t, h.s.Leads(), 1, "no lead for an unanswered call")
	for _, call := range h.s.Calls() {
		if call.CallID == "s10" {
			require.Equal(t, h.s.Clients()[2].ID, call.ClientID, "the call is on the contact created on dial")
		}
	}

	// Scenario 8: "create contact" off: the number only, then the offer.
	rule := seed002Rule()
	rule.Create.Outbound = false
	var cs8 cards
	h8 := newHarness(t, rule, match.WithPopUps(&cs8))
	ev = liveEvent("s8", callevent.Outbound, unknownA)
	h8.send(ev("d", callevent.Ringing, "a", "201", 0), ev("an", callevent.Answered, "a", "201", 5*time.Second))
	require.Equal(t, []string{"dialing:u2", "answered:u2"}, cs8.who())
	require.False(t, cs8.all()[0].Offer, "on dialing the number only")
	require.True(t, cs8.all()[1].Offer, "on answer the offer")
	require.Len(t, h8.s.Clients(), 1)
}

// TestSeed002Scenarios1And4KnownClientCard: a call from a known client
// pops the client's card, with its open leads, for everyone it rings;
// nothing is created during the call.
func TestSeed002Scenarios1And4KnownClientCard(t *testing.T) {
	t.Parallel()
	var cs cards
	h := newHarness(t, seed002Rule(), match.WithPopUps(&cs))
	open, err := h.s.CreateLead(context.Background(), match.Lead{Account: acct, ClientID: "k1", Name: "Поставка", Status: "new"})
	require.NoError(t, err)
	ev := liveEvent("s1", callevent.Inbound, known)
	h.send(ev("r1", callevent.Ringing, "a", "101", 0), ev("r2", callevent.Ringing, "b", "201", 0),
		ev("r3", callevent.Ringing, "c", "999", 0), // an extension of nobody: no card
		ev("an", callevent.Answered, "b", "201", 5*time.Second))
	require.Equal(t, []string{"ringing:u1", "ringing:u2"}, cs.who())
	for _, p := range cs.all() {
		require.Equal(t, "k1", p.Client.ID)
		require.Equal(t, "Иван Петров", p.Client.Name)
		require.Equal(t, []string{open.ID}, leadIDs(p.Leads))
	}
	require.Len(t, h.s.Clients(), 1)
}

// TestLiveResumedEventsShowNoCards: events given back after a restart
// (Resume, a minute after they arrived) decide the call but show no card:
// the moment has passed. Events a durable inbox hands over as they arrive
// (Resume, a moment after) act as live ones do.
func TestLiveResumedEventsShowNoCards(t *testing.T) {
	t.Parallel()
	var cs cards
	h := newHarness(t, seed002Rule(), match.WithPopUps(&cs))
	ev := liveEvent("rs", callevent.Inbound, unknownA)
	for _, e := range []callevent.Event{ev("r1", callevent.Ringing, "a", "101", 0), ev("an", callevent.Answered, "a", "101", 5*time.Second)} {
		require.NoError(t, h.e.Resume(context.Background(), e, h.clock.Now().Add(-time.Minute)))
	}
	require.Empty(t, cs.all())
	end := ev("e", callevent.Ended, "a", "101", time.Minute)
	end.Status = callevent.Success
	h.send(end)
	h.clock.Advance(match.DefaultGracePeriod)
	require.Len(t, h.s.Clients(), 2, "created at the end instead")
	require.Len(t, h.s.Leads(), 1)

	// The inbox's delivery of a call in progress, 30 ms after each event
	// arrived: its card on ringing, the client on answer.
	ev = liveEvent("rn", callevent.Inbound, unknownB)
	require.NoError(t, h.e.Resume(context.Background(), ev("r1", callevent.Ringing, "a", "101", 0), h.clock.Now().Add(-30*time.Millisecond)))
	require.Equal(t, []string{"ringing:u1"}, cs.who())
	require.NoError(t, h.e.Resume(context.Background(), ev("an", callevent.Answered, "a", "101", 5*time.Second), h.clock.Now().Add(-30*time.Millisecond)))
	require.Len(t, h.s.Clients(), 3, "created on answer")
}

// TestLivePopUpFailureIsNotFatal: a card that cannot be shown is logged;
// the call is still created and decided.
func TestLivePopUpFailureIsNotFatal(t *testing.T) {
	t.Parallel()
	cs := cards{fail: context.DeadlineExceeded}
	h := newHarness(t, seed002Rule(), match.WithPopUps(&cs))
	ev := liveEvent("pf", callevent.Inbound, unknownA)
	end := ev("e", callevent.Ended, "a", "101", time.Minute)
	end.Status = callevent.Success
	h.send(ev("r1", callevent.Ringing, "a", "101", 0), ev("an", callevent.Answered, "a", "101", 5*time.Second), end)
	h.clock.Advance(match.DefaultGracePeriod)
	require.Len(t, h.s.Clients(), 2)
	require.Len(t, h.s.Calls(), 1)
}

// TestLiveCallHeardWhenOver: a call the engine hears of only once it is
// over (a history record, the reconciler) shows no card; its client is
// created at the decision.
func TestLiveCallHeardWhenOver(t *testing.T) {
	t.Parallel()
	var cs cards
	h := newHarness(t, seed002Rule(), match.WithPopUps(&cs))
	h.send(callSpec{id: "hist", dir: callevent.Inbound, phone: unknownA, ext: "101", status: callevent.Success}.events()[2])
	h.clock.Advance(match.DefaultGracePeriod)
	require.Empty(t, cs.all(), "no card for a call that is over")
	require.Len(t, h.s.Clients(), 2)
	require.Len(t, h.s.Calls(), 1)
}

// countingDir counts the directory's look-ups by key.
type countingDir struct {
	match.Directory
	mu sync.Mutex
	n  map[string]int
}

func (d *countingDir) FindEmployee(ctx context.Context, account, key string) (match.Employee, bool, error) {
	d.mu.Lock()
	d.n[key]++
	d.mu.Unlock()
	return d.Directory.FindEmployee(ctx, account, key)
}

// TestEmployeeLookedUpOncePerCall: the extension that rang, answered and
// handled a call is looked up in the directory once for the whole call
// (its ringing card, its answer and the decision); one nobody has is asked
// again at the end, where an employee added meanwhile would count.
func TestEmployeeLookedUpOncePerCall(t *testing.T) {
	t.Parallel()
	var cs cards
	dir := &countingDir{n: map[string]int{}}
	h := newHarness(t, seed002Rule(), match.WithPopUps(&cs), match.WithDirectory(dir))
	dir.Directory = h.s // asked only once events come
	ev := liveEvent("once", callevent.Inbound, known)
	h.send(ev("r1", callevent.Ringing, "a", "201", 0), ev("r2", callevent.Ringing, "b", "999", 0),
		ev("an", callevent.Answered, "a", "201", 5*time.Second),
		ev("hu", callevent.Ended, "a", "201", 65*time.Second), ev("hb", callevent.Ended, "b", "999", 5*time.Second))
	h.clock.Advance(match.DefaultGracePeriod + match.DefaultSettle)
	require.Len(t, h.s.Calls(), 1)
	require.Equal(t, "u2", h.s.Calls()[0].Employee)
	dir.mu.Lock()
	defer dir.mu.Unlock()
	require.Equal(t, 1, dir.n["201"], "looked up once for the ringing card, the answer and the decision")
	require.Equal(t, 1, dir.n["999"], "nobody's: asked on ringing (the decision asks only for the handler)")
}

// countingLeads counts ClientLeads.
type countingLeads struct {
	match.LeadStore
	n atomic.Int32
}

func (s *countingLeads) ClientLeads(ctx context.Context, account, clientID string) ([]match.Lead, error) {
	s.n.Add(1)
	return s.LeadStore.ClientLeads(ctx, account, clientID)
}

// TestCreatedClientCardAsksNoLeads: the answerer's card of a client the
// call has just created shows it without leads and without asking the
// store for them (it has none yet); a known client's card asks once.
func TestCreatedClientCardAsksNoLeads(t *testing.T) {
	t.Parallel()
	var cs cards
	leads := &countingLeads{}
	h := newHarness(t, match.DefaultRule(), match.WithPopUps(&cs), match.WithLeadStore(leads))
	leads.LeadStore = h.s
	ev := liveEvent("new", callevent.Inbound, unknownA)
	h.send(ev("r1", callevent.Ringing, "a", "101", 0), ev("an", callevent.Answered, "a", "101", 5*time.Second))
	got := cs.all()
	require.Len(t, got, 2)
	require.True(t, got[1].Created)
	require.NotEmpty(t, got[1].Client.ID)
	require.Empty(t, got[1].Leads)
	require.Zero(t, leads.n.Load(), "a client created by the call has no leads to ask for")

	ev = liveEvent("known", callevent.Inbound, known)
	h.send(ev("r1", callevent.Ringing, "a", "101", 0), ev("an", callevent.Answered, "a", "101", 5*time.Second))
	require.Equal(t, int32(1), leads.n.Load(), "a known client's leads are asked for once per call")
}
