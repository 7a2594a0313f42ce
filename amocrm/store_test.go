package amocrm_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

func newStore(t *testing.T, opts ...amocrm.StoreOption) (*amocrm.Store, *amocrmtest.Server) {
	t.Helper()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	st, err := amocrm.NewStore(newTokenClient(t, srv), append([]amocrm.StoreOption{amocrm.WithExtensions(extensions)}, opts...)...)
	require.NoError(t, err)
	return st, srv
}

func TestStoreLogCall(t *testing.T) {
	t.Parallel()
	rec := match.CallRecord{Provider: "telphin", Account: acct, CallID: "c1", Direction: callevent.Inbound,
		Status: callevent.Success, ClientPhone: "79161111111", Employee: "8375357", Duration: 61 * time.Second,
		StartedAt: time.Unix(startUnix, 0)}

	t.Run("no contact: not sent, left to late binding", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		require.NoError(t, st.LogCall(t.Context(), rec))
		require.Empty(t, srv.Requests())
	})
	t.Run("logged once", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		id := srv.AddContact(amocrmtest.Contact{Name: "A", Phones: []string{"+79161111111"}})
		r := rec
		r.ClientID = itoa(id)
		require.NoError(t, st.LogCall(t.Context(), r))
		require.NoError(t, st.LogCall(t.Context(), r))
		require.Equal(t, 1, srv.Count("POST", "/api/v4/calls"))
	})
	t.Run("entity not found: a note on the contact", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		id := srv.AddContact(amocrmtest.Contact{Name: "A", Phones: []string{"+380441234567"}}) // amoCRM cannot match the phone
		r := rec
		r.ClientID = itoa(id)
		require.NoError(t, st.LogCall(t.Context(), r))
		require.Equal(t, []amocrmtest.Call{{Entity: "contacts", EntityID: id, NoteType: "call_in", Item: srv.Calls()[0].Item}}, srv.Calls())
		require.Equal(t, float64(61), srv.Calls()[0].Item["params"].(map[string]any)["duration"])
	})
	t.Run("a store error is returned", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		srv.Fail(amocrmtest.Failure{Path: "/api/v4/calls", Status: http.StatusInternalServerError})
		r := rec
		r.ClientID = "5"
		require.Error(t, st.LogCall(t.Context(), r))
	})
}

func TestCallStatusOf(t *testing.T) {
	t.Parallel()
	for st, want := range map[callevent.Status]amocrm.CallStatus{
		callevent.Success: 4, callevent.Missed: 6, callevent.NotAvailable: 6, callevent.Canceled: 6,
		callevent.Busy: 7, callevent.NotFound: 5, callevent.Failed: 6,
	} {
		require.Equal(t, want, amocrm.CallStatusOf(st), st.String())
	}
}

func TestStoreLeads(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	cid := srv.AddContact(amocrmtest.Contact{Name: "A", Phones: []string{"+79161111111"}})
	won := srv.AddLead(amocrmtest.Lead{Name: "Won", StatusID: amocrm.StatusWon, ContactIDs: []int64{cid}, CreatedAt: 100})
	lost := srv.AddLead(amocrmtest.Lead{Name: "Lost", StatusID: amocrm.StatusLost, ContactIDs: []int64{cid}, CreatedAt: 200})

	leads, err := st.ClientLeads(t.Context(), acct, itoa(cid))
	require.NoError(t, err)
	require.Equal(t, []string{itoa(lost), itoa(won)}, []string{leads[0].ID, leads[1].ID}, "newest first")
	require.Equal(t, []match.LeadState{match.LeadLost, match.LeadWon}, []match.LeadState{leads[0].State, leads[1].State})

	l, err := st.CreateLead(t.Context(), match.Lead{Account: acct, ClientID: itoa(cid), Name: "New", Pipeline: "Воронка", Status: "переговоры", Responsible: "8375357", Source: "missed call"})
	require.NoError(t, err)
	require.Equal(t, match.Lead{ID: l.ID, Account: acct, ClientID: itoa(cid), Name: "New", Pipeline: "7249526", Status: "60456946",
		Responsible: "8375357", Source: "missed call", CreatedAt: l.CreatedAt}, l)
	got := srv.Leads()[2]
	require.Equal(t, amocrmtest.Lead{ID: got.ID, Name: "New", PipelineID: amocrmtest.PipelineID, StatusID: amocrmtest.StatusTalks,
		ResponsibleUserID: op1, ContactIDs: []int64{cid}, Tags: []string{"missed call"}, CreatedAt: got.CreatedAt}, got)

	leads, err = st.ClientLeads(t.Context(), acct, itoa(cid))
	require.NoError(t, err)
	require.Len(t, leads, 3)
	require.True(t, leads[0].Active(), "the new lead is known without asking again")

	r, err := st.ReopenLead(t.Context(), acct, itoa(lost), "Первичный контакт")
	require.NoError(t, err)
	require.Equal(t, match.LeadOpen, r.State)
	require.EqualValues(t, amocrmtest.StatusFirst, srv.Leads()[1].StatusID)
	require.Equal(t, 1, srv.Count("GET", "/api/v4/leads/pipelines"), "pipelines are cached")

	_, err = st.CreateLead(t.Context(), match.Lead{ClientID: itoa(cid), Name: "x", Pipeline: "Нет такой"})
	require.ErrorContains(t, err, "unknown pipeline")
}

func TestStoreDirectory(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	e, ok, err := st.FindEmployee(t.Context(), acct, "102")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, match.Employee{ID: "8375357", Extensions: []string{"101", "102"}}, e, "an extension needs no request")
	_, ok, err = st.FindEmployee(t.Context(), acct, "555")
	require.NoError(t, err)
	require.False(t, ok, "unmapped extensions are not integrated")
	require.Empty(t, srv.Requests())

	emps, err := st.Employees(t.Context(), acct)
	require.NoError(t, err)
	want := []match.Employee{
		{ID: "8375357", Name: "Оператор 1", Login: "op1@example.com", Email: "op1@example.com", Extensions: []string{"101", "102"}, Admin: true},
		{ID: "8375358", Name: "Оператор 2", Login: "op2@example.com", Email: "op2@example.com", Extensions: []string{"201"}},
		{ID: "8375359", Name: "Менеджер пропущенных", Login: "missed@example.com", Email: "missed@example.com", Extensions: []string{"301"}},
	}
	if diff := cmp.Diff(want, emps); diff != "" {
		t.Errorf("employees (-want +got):\n%s", diff)
	}
	e, ok, err = st.FindEmployee(t.Context(), acct, "OP2@example.com")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "8375358", e.ID)
	require.Equal(t, 1, srv.Count("GET", "/api/v4/users"), "users are cached")

	t.Run("not an admin: the extension map", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		srv.Fail(amocrmtest.Failure{Path: "/api/v4/users", Status: http.StatusForbidden})
		emps, err := st.Employees(t.Context(), acct)
		require.NoError(t, err)
		require.Equal(t, []match.Employee{{ID: "8375357", Extensions: []string{"101", "102"}}, {ID: "8375358", Extensions: []string{"201"}},
			{ID: "8375359", Extensions: []string{"301"}}}, emps)
	})
	t.Run("blocked is an error", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		srv.Block(true)
		_, err := st.Employees(t.Context(), acct)
		require.ErrorIs(t, err, amocrm.ErrBlocked)
	})
}

// Notify pops the card of the notification's call up for the employee;
// one without a phone or for an employee that is not a user id shows
// nothing, and an overdue call-back task (nobody is calling) becomes a
// task of the admin's instead of a card.
func TestStoreNotify(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	for _, n := range []match.Notification{
		{Kind: match.NotifyMissed, Employee: "8375358", ClientPhone: "79161111111"},
		{Kind: match.NotifyCall, Employee: "8375357", ClientPhone: "79161111112"},
		{Kind: match.NotifyMissed, Employee: "8375358"},
		{Kind: match.NotifyMissed, Employee: "op2", ClientPhone: "79161111111"},
		{Kind: match.NotifyTaskOverdue, Employee: "8375357", Provider: "telphin", CallID: "c1", ClientPhone: "79161111111",
			Reason: "call-back task overdue since 09:10"},
	} {
		require.NoError(t, st.Notify(t.Context(), n), "%+v", n)
	}
	require.Equal(t, []amocrmtest.Event{{Phone: "+79161111111", Users: []int64{op2}}, {Phone: "+79161111112", Users: []int64{op1}}}, srv.Events())
	tasks := srv.Tasks()
	require.Len(t, tasks, 1, "the overdue task: a task for the admin")
	require.EqualValues(t, op1, tasks[0].ResponsibleUserID)
	require.Zero(t, tasks[0].EntityID, "no client: on no card")
	require.Equal(t, "Проконтролировать перезвон клиенту +79161111111: call-back task overdue since 09:10", tasks[0].Text)
}

// FindClientsByField returns up to limit contacts; a limit of 0 or less
// returns none (as match.ClientStore says) without a request.
func TestStoreFindClientsByFieldLimit(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	for _, name := range []string{"A", "B"} {
		srv.AddContact(amocrmtest.Contact{Name: name, Fields: map[string]string{"Доп. телефон": "89161234567"}})
	}
	for _, limit := range []int{-1, 0} {
		got, err := st.FindClientsByField(t.Context(), acct, "79161234567", limit)
		require.NoError(t, err, "limit %d", limit)
		require.Empty(t, got, "limit %d", limit)
	}
	require.Empty(t, srv.Requests())
	for limit, want := range map[int]int{1: 1, 2: 2, 5: 2} {
		got, err := st.FindClientsByField(t.Context(), acct, "79161234567", limit)
		require.NoError(t, err)
		require.Len(t, got, want, "limit %d", limit)
	}
	require.Equal(t, 1, srv.Count("GET", "/api/v4/contacts"), "one cached search")
}

// A phone search is shared by concurrent callers and runs detached from
// the caller that started it: canceling that caller does not cancel the
// search, a second caller gets its result (one request), and a waiter
// whose own context ends stops waiting at once.
func TestStoreSharedSearchOutlivesCanceledCaller(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	id := srv.AddContact(amocrmtest.Contact{Name: "A", Phones: []string{"+79161111111"}})
	const delay = 500 * time.Millisecond
	srv.Fail(amocrmtest.Failure{Method: "GET", Path: "/api/v4/contacts", Delay: delay})

	ctx1, cancel1 := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, _, err := st.FindClientByPhone(ctx1, acct, "79161111111")
		first <- err
	}()
	require.Eventually(t, func() bool { return srv.Count("GET", "/api/v4/contacts") == 1 }, time.Second, time.Millisecond, "the search is sent")
	type result struct {
		c     match.Client
		found bool
		err   error
	}
	second := make(chan result, 1)
	go func() {
		c, found, err := st.FindClientByPhone(t.Context(), acct, "79161111111")
		second <- result{c, found, err}
	}()
	cancel1()
	err1 := <-first
	ctx3, cancel3 := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel3()
	start3 := time.Now()
	_, err3 := st.FindClientsByField(ctx3, acct, "79161111111", 10)
	waited3 := time.Since(start3)
	r := <-second

	require.NoError(t, r.err, "the second caller gets the shared search's result")
	require.True(t, r.found)
	require.Equal(t, itoa(id), r.c.ID)
	require.Equal(t, 1, srv.Count("GET", "/api/v4/contacts"), "one shared search")
	require.ErrorIs(t, err1, context.Canceled, "the canceled caller returns its cancellation")
	require.ErrorIs(t, err3, context.DeadlineExceeded, "a waiter returns on its own context")
	require.Less(t, waited3, delay, "before the search answered")
}

// PopUp shows amoCRM's pop-up with the client's phone to the amoCRM user
// of the card, once per call, user and phase: the same card again sends
// nothing, another phase or another user of the call sends again, and a
// card that cannot be shown (no phone, an employee that is not a user id)
// sends nothing.
func TestStorePopUp(t *testing.T) {
	t.Parallel()
	card := func(employee string, phase match.Phase) match.PopUp {
		return match.PopUp{Phase: phase, Account: acct, Provider: "telphin", CallID: "c1", Direction: callevent.Inbound,
			Employee: employee, ClientPhone: "79161111111", LinePhone: line, At: time.Unix(startUnix, 0)}
	}
	pop := func(st *amocrm.Store, p match.PopUp) {
		t.Helper()
		require.NoError(t, st.PopUp(t.Context(), p))
	}

	t.Run("once per call, user and phase", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		pop(st, card("8375357", match.PhaseRinging))
		require.Equal(t, []amocrmtest.Event{{Phone: "+79161111111", Users: []int64{op1}}}, srv.Events(), "the phone and the user")
		pop(st, card("8375357", match.PhaseRinging))
		require.Len(t, srv.Events(), 1, "the same card again sends nothing")

		pop(st, card("8375357", match.PhaseAnswered))
		pop(st, card("8375358", match.PhaseRinging))
		other := card("8375357", match.PhaseRinging)
		other.CallID = "c2"
		pop(st, other)
		require.Equal(t, []amocrmtest.Event{{Phone: "+79161111111", Users: []int64{op1}}, {Phone: "+79161111111", Users: []int64{op1}},
			{Phone: "+79161111111", Users: []int64{op2}}, {Phone: "+79161111111", Users: []int64{op1}}}, srv.Events(),
			"another phase, another user, another call")
	})
	t.Run("nothing to show: no request", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		for _, emp := range []string{"", "op1@example.com", "0", "-8375357", "company:8375357", "8375357x"} {
			pop(st, card(emp, match.PhaseRinging))
		}
		noPhone := card("8375357", match.PhaseRinging)
		noPhone.ClientPhone = ""
		pop(st, noPhone)
		require.Empty(t, srv.Requests())
	})
	t.Run("a failure is returned and the card may be shown again", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		srv.Fail(amocrmtest.Failure{Path: "/api/v2/events", Status: http.StatusBadRequest})
		err := st.PopUp(t.Context(), card("8375357", match.PhaseDialing))
		require.ErrorContains(t, err, "amocrm: dialing pop-up of call c1 for user 8375357")
		require.Empty(t, srv.Events())
		pop(st, card("8375357", match.PhaseDialing))
		require.Len(t, srv.Events(), 1)
	})
	t.Run("concurrent cards: one request", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = st.PopUp(t.Context(), card("8375357", match.PhaseRinging))
			}()
		}
		wg.Wait()
		require.Equal(t, 1, srv.Count("POST", "/api/v2/events"))
	})
	t.Run("shown again after an hour", func(t *testing.T) {
		t.Parallel()
		now := time.Unix(startUnix, 0)
		st, srv := newStore(t, amocrm.WithClock(func() time.Time { return now }))
		pop(st, card("8375357", match.PhaseRinging))
		now = now.Add(time.Hour)
		pop(st, card("8375357", match.PhaseRinging))
		require.Len(t, srv.Events(), 1, "within the hour")
		now = now.Add(time.Second)
		pop(st, card("8375357", match.PhaseRinging))
		require.Len(t, srv.Events(), 2, "the memory is bounded")
	})
}

func TestNewStoreValidates(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	c := newTokenClient(t, srv)
	for name, opt := range map[string]amocrm.StoreOption{
		"empty extension": amocrm.WithExtensions(map[string]int64{"": 1}),
		"bad user":        amocrm.WithExtensions(map[string]int64{"101": 0}),
		"empty source":    amocrm.WithSource(""),
		"bad country":     amocrm.WithDefaultCountry("XX"),
		"negative ttl":    amocrm.WithCacheTTL(amocrm.CacheTTL{Found: -1}),
		"negative miss":   amocrm.WithCacheTTL(amocrm.CacheTTL{NotFound: -1}),
		"nil clock":       amocrm.WithClock(nil),
		"nil logger":      amocrm.WithLogger(nil),
	} {
		_, err := amocrm.NewStore(c, opt)
		require.Error(t, err, name)
	}
	_, err := amocrm.NewStore(nil)
	require.Error(t, err)
}

// WithCacheTTL sets how long each answer of the phone cache is reused, on
// the Store's clock; a zero field keeps its default.
func TestStoreCacheTTL(t *testing.T) {
	t.Parallel()
	now := time.Unix(startUnix, 0)
	clock := func() time.Time { return now }
	// An unknown number costs two searches (contacts, companies), both
	// cached; a known one, one.
	searches := func(srv *amocrmtest.Server) int { return srv.Count("GET", "/api/v4/contacts") }
	find := func(st *amocrm.Store, phone string) {
		t.Helper()
		_, _, err := st.FindClientByPhone(t.Context(), acct, phone)
		require.NoError(t, err)
	}

	st, srv := newStore(t, amocrm.WithClock(clock), amocrm.WithCacheTTL(amocrm.CacheTTL{NotFound: time.Minute}))
	find(st, "79160000001")
	now = now.Add(59 * time.Second) // inside the NotFound TTL set
	find(st, "79160000001")
	require.Equal(t, 1, searches(srv))
	now = now.Add(2 * time.Second)
	find(st, "79160000001")
	require.Equal(t, 2, searches(srv))
	require.Equal(t, 2, srv.Count("GET", "/api/v4/companies"), "companies are searched and cached with the contacts")

	srv.AddContact(amocrmtest.Contact{Name: "Клиент", Phones: []string{"+79160000002"}})
	find(st, "79160000002")
	now = now.Add(amocrm.DefaultFoundTTL - time.Second) // Found kept its default
	find(st, "79160000002")
	require.Equal(t, 3, searches(srv))
	now = now.Add(2 * time.Second)
	find(st, "79160000002")
	require.Equal(t, 4, searches(srv))
	require.Equal(t, 2, srv.Count("GET", "/api/v4/companies"), "a contact's number is not searched among companies")
}

// TestDialogNotes: with Rule.Dialog (Salebot, seed 001) a call's events
// and status become plain notes in the contact's timeline, in one request;
// a redelivered call writes none again.
func TestDialogNotes(t *testing.T) {
	rule := match.DefaultRule()
	rule.Dialog = true
	e := newEnv(t, envConfig{rule: rule, noPopups: true})
	c := call{"5c000000000000000000000000000d01", "+79161111111", "102"} // a known client
	e.send(c.inboundAnswered()...)
	var texts []string
	for _, n := range e.srv.TextNotes() {
		require.Equal(t, "contacts", n.Entity)
		require.Equal(t, int64(1002), n.EntityID, "the known client's contact")
		texts = append(texts, n.Text)
	}
	require.Equal(t, []string{"telphin_call_event ACCEPTED", "telphin_call_event COMPLETED", "telphin_call_status Success"}, texts)
	notesRequests := 0
	for _, r := range requests(e.srv) {
		if strings.HasPrefix(r, "POST /api/v4/contacts/notes") {
			notesRequests++
		}
	}
	require.Equal(t, 1, notesRequests, "one request per call")

	e.send(c.inboundAnswered()...) // redelivered
	require.Len(t, e.srv.TextNotes(), 3)

	// A decision replayed after a restart writes the same notes again:
	// the store skips what it wrote, without a request.
	requestsBefore := len(requests(e.srv))
	again := []match.DialogNote{{Provider: "telphin", CallID: c.id, Text: "telphin_call_event ACCEPTED"}}
	require.NoError(t, e.store.AddDialogNotes(t.Context(), "", "1002", again))
	require.Len(t, e.srv.TextNotes(), 3)
	require.Len(t, requests(e.srv), requestsBefore)
}
