package amocrm_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// notifyRecorder is a match.Notifier that records every notification and
// passes it on to next (set before the engine runs).
type notifyRecorder struct {
	mu   sync.Mutex
	next match.Notifier
	got  []match.Notification
}

func (r *notifyRecorder) Notify(ctx context.Context, n match.Notification) error {
	r.mu.Lock()
	r.got = append(r.got, n)
	next := r.next
	r.mu.Unlock()
	return next.Notify(ctx, n)
}

// of returns the notifications of kind recorded so far.
func (r *notifyRecorder) of(kind match.NotificationKind) []match.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []match.Notification
	for _, n := range r.got {
		if n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

// taskRule is the default rule with call-back tasks due 30 minutes after
// a missed call.
func taskRule() match.Rule {
	r := match.DefaultRule()
	r.Task = match.TaskRule{Enabled: true, Deadline: match.Duration(30 * time.Minute)}
	return r
}

// marker is the last line of the text of the Store's task of a Telphin
// call of the tests' account.
func marker(callID, phone string, extra ...string) string {
	q := url.Values{"account": {acct}, "phone": {phone}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "callbridge:telphin/" + callID + "?" + q.Encode()
}

// TestSeed002MissedCallTask: the issue "a missed call becomes a call-back
// task for the responsible, with a deadline; the task closes itself when
// an outbound call to that number is answered, and is escalated to the
// admins when overdue", over amoCRM through Telphin webhooks. A missed
// call from a known contact becomes one amoCRM «Звонок» task on the
// contact for its responsible, due 30 minutes after the call; the call
// decided again after a restart makes no second task; once overdue, the
// admins (amoCRM users with admin rights) are told once, through the
// Store's Notify (no pop-up: nobody is calling); the manager's answered
// call back completes the task in amoCRM.
func TestSeed002MissedCallTask(t *testing.T) {
	t.Parallel()
	const (
		number = "+79161111111"
		phone  = "79161111111"
		missID = "5c0000000000000000000000000f0001"
		backID = "5c0000000000000000000000000f0002"
	)
	ctx := t.Context()
	rec := &notifyRecorder{}
	e := newEnv(t, envConfig{rule: taskRule(), engineOpt: []match.Option{match.WithNotifier(rec)}})
	rec.next = e.store
	contact := e.srv.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+7 (916) 111-11-11"}, ResponsibleUserID: op2})
	e.srv.AddTask(amocrmtest.Task{EntityType: "contacts", EntityID: contact, Text: "Позвонить насчёт договора", CompleteTill: startUnix - 3600})

	// The missed call: Telphin's queue gave up after 10.120024 s of ringing.
	e.send(call{missID, number, "101"}.inboundMissed()...)
	ended := callStart.Add(10120024 * time.Microsecond)
	due := ended.Add(30 * time.Minute)
	tasks := e.srv.Tasks()
	require.Len(t, tasks, 2, "one task for the missed call, next to the user's own")
	made := tasks[1]
	want := amocrmtest.Task{ID: made.ID, ResponsibleUserID: op2, EntityType: "contacts", EntityID: contact, TaskTypeID: amocrm.TaskTypeCall,
		Text: "Перезвонить клиенту +79161111111\n" + marker(missID, phone), CompleteTill: due.Unix(),
		CreatedAt: made.CreatedAt, UpdatedAt: made.UpdatedAt}
	require.Empty(t, cmp.Diff(want, made), "the call task on the contact, for its responsible, due 30 minutes after the call")
	require.True(t, made.CreatedAt >= startUnix && made.CreatedAt <= e.clock.Now().Unix(), "created when the call was decided, on the engine's clock")
	open, err := e.store.OpenTasks(ctx, acct)
	require.NoError(t, err)
	wantTask := match.Task{ID: itoa(made.ID), Account: acct, ClientID: itoa(contact), Phone: phone, Provider: "telphin", CallID: missID,
		Responsible: itoa(op2), Text: "Перезвонить клиенту +79161111111", Due: due.Truncate(time.Second),
		CreatedAt: time.Unix(made.CreatedAt, 0).UTC()}
	require.Empty(t, cmp.Diff([]match.Task{wantTask}, open), "OpenTasks: the Store's task only")

	// A restart: a new gateway (Store, engine) over the same account
	// decides the call again and finds the task in amoCRM.
	rec2 := &notifyRecorder{}
	e2 := newEnv(t, envConfig{rule: taskRule(), srv: e.srv, engineOpt: []match.Option{match.WithNotifier(rec2)}})
	rec2.next = e2.store
	e2.send(call{missID, number, "101"}.inboundMissed()...)
	require.Equal(t, 1, e.srv.Count(http.MethodPost, "/api/v4/tasks"), "no second task for the call")
	require.Len(t, e.srv.Tasks(), 2)
	require.Contains(t, requests(e.srv), "GET /api/v4/tasks?"+url.Values{"filter[entity_type]": {"contacts"},
		"filter[entity_id][]": {itoa(contact)}, "filter[task_type][]": {"1"}, "limit": {"250"}, "order[id]": {"asc"}, "page": {"1"}}.Encode(),
		"looked for among the contact's call tasks, open or not")

	// Nobody calls back in time.
	e2.clock.Advance(31 * time.Minute)
	overdue, err := e2.store.OverdueTasks(ctx, acct, e2.clock.Now())
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]match.Task{wantTask}, overdue), "the user's own overdue task is not the Store's")
	popups := len(e.srv.Events())
	n, err := e2.engine.EscalateOverdue(ctx, acct)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	told := rec2.of(match.NotifyTaskOverdue)
	require.Len(t, told, 1, "one admin, told once")
	require.Equal(t, itoa(op1), told[0].Employee, "operator 1 is the account's admin")
	require.Equal(t, []string{"telphin", missID, itoa(contact), phone}, []string{told[0].Provider, told[0].CallID, told[0].ClientID, told[0].ClientPhone})
	require.Len(t, e.srv.Events(), popups, "no pop-up for an overdue task")
	tasks = e.srv.Tasks()
	require.Len(t, tasks, 3, "the admin gets a task of their own")
	control := tasks[2]
	require.EqualValues(t, op1, control.ResponsibleUserID)
	require.Equal(t, []any{"contacts", contact}, []any{control.EntityType, control.EntityID}, "on the client's card")
	require.True(t, strings.HasPrefix(control.Text, "Проконтролировать перезвон клиенту +79161111111: "), control.Text)
	require.Equal(t, e2.clock.Now().Add(time.Hour).Unix(), control.CompleteTill, "due in an hour")
	require.Contains(t, e.srv.Tasks()[1].Text, "&escalated=", "the escalation is kept in amoCRM")
	overdue, err = e2.store.OverdueTasks(ctx, acct, e2.clock.Now())
	require.NoError(t, err)
	require.Empty(t, overdue, "an escalated task is not overdue again")
	n, err = e2.engine.EscalateOverdue(ctx, acct)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Len(t, rec2.of(match.NotifyTaskOverdue), 1, "the admins are not told twice")
	overdue, err = e.store.OverdueTasks(ctx, acct, e2.clock.Now())
	require.NoError(t, err)
	require.Empty(t, overdue, "another instance sees the escalation too")

	// Operator 2 calls the client back, who answers.
	back := telphintest.Call{CallID: backID, SubCallID: "124575-" + backID, Client: number, DID: line, Extension: "3515*201",
		Start: e2.clock.Now().Add(-2 * time.Minute)}
	e2.send(back.DialOut(), back.HangupOut("ANSWER"))
	answered := back.Start.Add(10120024 * time.Microsecond).Truncate(time.Second)
	tasks = e.srv.Tasks()
	require.True(t, tasks[1].IsCompleted, "the call back completes the task in amoCRM")
	require.Equal(t, "Связались с клиентом: звонок telphin/"+backID+", "+answered.UTC().Format(time.RFC3339), tasks[1].Result)
	require.False(t, tasks[0].IsCompleted, "the user's own task is left alone")
	open, err = e2.store.OpenTasks(ctx, acct)
	require.NoError(t, err)
	require.Empty(t, open)
	done := wantTask
	done.Escalated, done.Done, done.DoneAt, done.DoneBy = true, true, answered, "telphin/"+backID
	again, err := amocrmStore(t, e.srv).CreateTask(ctx, match.Task{Account: acct, ClientID: itoa(contact), Phone: phone,
		Provider: "telphin", CallID: missID, Text: "x", Due: due})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(done, again), "the call's task as stored: escalated and done by the call back")
	require.Equal(t, 2, e.srv.Count(http.MethodPost, "/api/v4/tasks"), "the call's task and the admin's, nothing more")
}

// amocrmStore returns a new Store over srv, as a restarted gateway's.
func amocrmStore(t *testing.T, srv *amocrmtest.Server, opts ...amocrm.StoreOption) *amocrm.Store {
	t.Helper()
	st, err := amocrm.NewStore(newTokenClient(t, srv), opts...)
	require.NoError(t, err)
	return st
}

// callTask is a call-back task of the tests' account.
func callTask(clientID, phone, callID string, due time.Time) match.Task {
	return match.Task{Account: acct, ClientID: clientID, Phone: phone, Provider: "telphin", CallID: callID,
		Responsible: itoa(op1), Text: "Перезвонить клиенту +" + phone, Due: due, CreatedAt: callStart}
}

// TestStoreCreateTask: the task as stored and as amoCRM has it, on a
// contact, a company or no card; an empty responsible is amoCRM's choice,
// read back.
func TestStoreCreateTask(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	due := callStart.Truncate(time.Second).Add(time.Hour)
	tests := []struct {
		name   string
		client func(srv *amocrmtest.Server) (clientID, entity string, id int64)
	}{
		{"on a contact", func(srv *amocrmtest.Server) (string, string, int64) {
			id := srv.AddContact(amocrmtest.Contact{Name: "A"})
			return itoa(id), "contacts", id
		}},
		{"on a company", func(srv *amocrmtest.Server) (string, string, int64) {
			id := srv.AddCompany(amocrmtest.Company{Name: "B"})
			return amocrm.ClientID(amocrm.EntityCompanies, id), "companies", id
		}},
		{"on no card", func(*amocrmtest.Server) (string, string, int64) { return "", "", 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, srv := newStore(t)
			clientID, entity, id := tt.client(srv)
			in := callTask(clientID, "79161234567", "c1", due.Add(789*time.Millisecond))
			in.ID, in.Done, in.DoneBy, in.Escalated = "mine", true, "x/y", true // the store's to set: ignored
			got, err := st.CreateTask(ctx, in)
			require.NoError(t, err)
			tasks := srv.Tasks()
			require.Len(t, tasks, 1)
			want := callTask(clientID, "79161234567", "c1", due)
			want.ID, want.CreatedAt = itoa(tasks[0].ID), callStart.Truncate(time.Second)
			require.Empty(t, cmp.Diff(want, got), "as stored: whole seconds, open, not escalated")
			require.Equal(t, amocrmtest.Task{ID: tasks[0].ID, ResponsibleUserID: op1, EntityType: entity, EntityID: id, TaskTypeID: 1,
				Text: "Перезвонить клиенту +79161234567\n" + marker("c1", "79161234567"), CompleteTill: due.Unix(),
				CreatedAt: startUnix, UpdatedAt: tasks[0].UpdatedAt}, tasks[0])
			open, err := st.OpenTasks(ctx, acct)
			require.NoError(t, err)
			require.Empty(t, cmp.Diff([]match.Task{want}, open), "read back from amoCRM as stored")
		})
	}
	t.Run("no responsible: amoCRM's choice, read back", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		in := callTask("", "79161234567", "c1", due)
		in.Responsible = ""
		got, err := st.CreateTask(ctx, in)
		require.NoError(t, err)
		require.Equal(t, itoa(amocrmtest.DefaultUsers[0].ID), got.Responsible)
		require.EqualValues(t, amocrmtest.DefaultUsers[0].ID, srv.Tasks()[0].ResponsibleUserID)
	})
	t.Run("a zero CreatedAt is now on the Store's clock", func(t *testing.T) {
		t.Parallel()
		now := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
		st, srv := newStore(t, amocrm.WithClock(func() time.Time { return now }))
		in := callTask("", "79161234567", "c1", due)
		in.CreatedAt = time.Time{}
		got, err := st.CreateTask(ctx, in)
		require.NoError(t, err)
		require.Equal(t, now, got.CreatedAt)
		require.Equal(t, now.Unix(), srv.Tasks()[0].CreatedAt)
	})
}

// TestStoreCreateTaskRefuses: what amoCRM cannot take is refused before
// any request.
func TestStoreCreateTaskRefuses(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	due := callStart.Add(time.Hour)
	for name, tc := range map[string]struct {
		task match.Task
		want string
	}{
		"responsible not a user id": {func() match.Task { x := callTask("", "79161234567", "c1", due); x.Responsible = "anna"; return x }(),
			`responsible "anna" is not an amoCRM user id`},
		"client not a card id": {callTask("c1", "79161234567", "c1", due), `client id "c1" is not an amoCRM contact or company id`},
		"no due time":          {callTask("", "79161234567", "c1", time.Time{}), "no due time"},
		"no phone":             {callTask("", "", "c1", due), "needs a phone"},
		"text too long": {func() match.Task {
			x := callTask("", "79161234567", "c1", due)
			x.Text = strings.Repeat("я", match.MaxTaskTextLen)
			return x
		}(), "longer than"},
	} {
		_, err := st.CreateTask(t.Context(), tc.task)
		require.ErrorContains(t, err, tc.want, name)
		require.True(t, strings.HasPrefix(err.Error(), "amocrm: "), name)
	}
	_, err := st.CreateTask(t.Context(), func() match.Task {
		x := callTask("", "79161234567", "c1", due)
		x.Text = strings.Repeat("я", match.MaxTaskTextLen)
		return x
	}())
	require.ErrorIs(t, err, match.ErrTooLarge)
	require.Empty(t, srv.Requests())
}

// TestStoreTaskIdempotentByCall: one call, one task: concurrent CreateTask
// in one Store, and a call decided again by another Store (a restart)
// with its task open or done, on a card or on none; another call is
// another task.
func TestStoreTaskIdempotentByCall(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	due := callStart.Add(time.Hour)

	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		contact := itoa(srv.AddContact(amocrmtest.Contact{Name: "A"}))
		const n = 30
		got := make([]match.Task, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				x := callTask(contact, "79161234567", "c1", due)
				x.Responsible = itoa([]int64{op1, op2, missed}[i%3])
				got[i], errs[i] = st.CreateTask(ctx, x)
			})
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, got[0], got[i])
		}
		require.Len(t, srv.Tasks(), 1)
		require.Equal(t, 1, srv.Count(http.MethodGet, "/api/v4/tasks"), "looked up in amoCRM once")
		again, err := st.CreateTask(ctx, callTask(contact, "79161234567", "c1", due))
		require.NoError(t, err)
		require.Equal(t, got[0], again)
		require.Equal(t, 1, srv.Count(http.MethodGet, "/api/v4/tasks"), "remembered")
		other, err := st.CreateTask(ctx, callTask(contact, "79161234567", "c2", due))
		require.NoError(t, err)
		require.NotEqual(t, got[0].ID, other.ID, "another call, another task")
		otherAccount := callTask(contact, "79161234567", "c1", due)
		otherAccount.Account = "app2"
		theirs, err := st.CreateTask(ctx, otherAccount)
		require.NoError(t, err)
		require.NotEqual(t, got[0].ID, theirs.ID, "another account, another task")
		require.Len(t, srv.Tasks(), 3)
	})
	for _, tt := range []struct {
		name   string
		client bool
		close  bool
	}{
		{"restart, on a contact, open", true, false},
		{"restart, on a contact, done", true, true},
		{"restart, on no card, open", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, srv := newStore(t)
			clientID := ""
			if tt.client {
				clientID = itoa(srv.AddContact(amocrmtest.Contact{Name: "A"}))
			}
			first, err := st.CreateTask(ctx, callTask(clientID, "79161234567", "c1", due))
			require.NoError(t, err)
			if tt.close {
				closed, err := st.CloseTasks(ctx, acct, "79161234567", due, "telphin/cb")
				require.NoError(t, err)
				require.Len(t, closed, 1)
				first = closed[0]
			}
			replay := callTask(clientID, "79161234567", "c1", due.Add(time.Hour))
			replay.Text, replay.Responsible = "другой текст", itoa(op2)
			again, err := amocrmStore(t, srv).CreateTask(ctx, replay)
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(first, again), "the task as stored, whatever the replay says")
			require.Len(t, srv.Tasks(), 1)
		})
	}
}

// TestStoreCloseTasks: the open tasks of a number, on its cards and on
// none, are completed with the call that reached it, oldest due first;
// other numbers, accounts, done tasks and the users' own tasks are left
// alone; closing again closes nothing; concurrent CloseTasks close each
// task once.
func TestStoreCloseTasks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, srv := newStore(t)
	const phone = "79161234567"
	contact := srv.AddContact(amocrmtest.Contact{Name: "A", Phones: []string{"+" + phone}})
	company := srv.AddCompany(amocrmtest.Company{Name: "B", Phones: []string{"+" + phone}})
	mk := func(x match.Task) match.Task {
		t.Helper()
		got, err := st.CreateTask(ctx, x)
		require.NoError(t, err)
		return got
	}
	later := mk(callTask(itoa(contact), phone, "c1", callStart.Add(2*time.Hour)))
	sooner := mk(callTask("", phone, "c2", callStart.Add(time.Hour)))
	onCompany := mk(callTask(amocrm.ClientID(amocrm.EntityCompanies, company), phone, "c3", callStart.Add(90*time.Minute)))
	otherPhone := mk(callTask("", "79160000000", "c4", callStart))
	theirs := callTask("", phone, "c1", callStart)
	theirs.Account = "app2"
	theirs = mk(theirs)
	users := srv.AddTask(amocrmtest.Task{EntityType: "contacts", EntityID: contact, Text: "Перезвонить +" + phone, CompleteTill: startUnix})

	at := time.Date(2025, 3, 14, 12, 0, 0, 999, time.FixedZone("MSK", 3*3600))
	closed, err := st.CloseTasks(ctx, acct, phone, at, "telphin/cb-1")
	require.NoError(t, err)
	done := func(x match.Task) match.Task {
		x.Done, x.DoneAt, x.DoneBy = true, at.UTC().Truncate(time.Second), "telphin/cb-1"
		return x
	}
	require.Empty(t, cmp.Diff([]match.Task{done(sooner), done(onCompany), done(later)}, closed))
	for _, x := range srv.Tasks() {
		switch itoa(x.ID) {
		case sooner.ID, onCompany.ID, later.ID:
			require.True(t, x.IsCompleted, x.ID)
			require.Equal(t, "Связались с клиентом: звонок telphin/cb-1, 2025-03-14T09:00:00Z", x.Result)
			require.True(t, strings.HasSuffix(x.Text, "done_at=1741942800&done_by=telphin%2Fcb-1&phone="+phone), x.Text)
		default:
			require.False(t, x.IsCompleted, x.ID)
		}
	}
	require.Equal(t, 1, srv.Count(http.MethodPatch, "/api/v4/tasks"), "one batch")
	open, err := st.OpenTasks(ctx, acct)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]match.Task{otherPhone}, open))
	open, err = st.OpenTasks(ctx, "app2")
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]match.Task{theirs}, open))
	require.False(t, srv.Tasks()[len(srv.Tasks())-1].IsCompleted, "the user's own task %d", users)

	again, err := st.CloseTasks(ctx, acct, phone, at, "telphin/cb-2")
	require.NoError(t, err)
	require.Empty(t, again, "closing again closes nothing")

	var want []string
	for i := range 5 {
		want = append(want, mk(callTask("", "380671234567", fmt.Sprint("many-", i), callStart.Add(time.Duration(i)*time.Minute))).ID)
	}
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			got, err := st.CloseTasks(ctx, acct, "380671234567", at, fmt.Sprint("telphin/cb-", i))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, x := range got {
				counts[x.ID]++
			}
		})
	}
	wg.Wait()
	for _, id := range want {
		require.Equal(t, 1, counts[id], "task %s reported closed by how many CloseTasks", id)
	}
	require.Len(t, counts, len(want))
}

// TestStoreOverdueAndEscalate: OverdueTasks lists the open tasks due
// strictly before now that are not escalated, oldest due first;
// EscalateTask keeps the escalation in amoCRM (another Store sees it),
// again is no error, an unknown task or another account's is
// ErrNotFound, and OpenTasks still lists the escalated task.
func TestStoreOverdueAndEscalate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, srv := newStore(t)
	now := callStart.Add(3 * time.Hour).Truncate(time.Second)
	mk := func(x match.Task) match.Task {
		t.Helper()
		got, err := st.CreateTask(ctx, x)
		require.NoError(t, err)
		return got
	}
	due1 := mk(callTask("", "79160000001", "c1", now.Add(-time.Hour)))
	due2 := mk(callTask("", "79160000002", "c2", now.Add(-2*time.Hour)))
	atNow := mk(callTask("", "79160000003", "c3", now))
	future := mk(callTask("", "79160000004", "c4", now.Add(time.Hour)))
	doneTask := mk(callTask("", "79160000005", "c5", now.Add(-3*time.Hour)))
	theirs := callTask("", "79160000001", "c1", now.Add(-time.Hour))
	theirs.Account = "app2"
	theirs = mk(theirs)
	users := srv.AddTask(amocrmtest.Task{Text: "Позвонить", CompleteTill: now.Add(-time.Hour).Unix()})
	_, err := st.CloseTasks(ctx, acct, doneTask.Phone, now, "telphin/cb")
	require.NoError(t, err)

	overdue, err := st.OverdueTasks(ctx, acct, now)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]match.Task{due2, due1}, overdue))
	require.Contains(t, srv.APIRequests()[len(srv.APIRequests())-1].Query.Get("filter[complete_till][to]"), itoa(now.Unix()+1),
		"amoCRM is asked only for the tasks due by now")

	require.NoError(t, st.EscalateTask(ctx, acct, due2.ID))
	patches := srv.Count(http.MethodPatch, "/api/v4/tasks")
	require.NoError(t, st.EscalateTask(ctx, acct, due2.ID), "again is no error")
	require.Equal(t, patches, srv.Count(http.MethodPatch, "/api/v4/tasks"), "and writes nothing")
	for _, id := range []string{"no-such-task", "999999", itoa(users), theirs.ID, ""} {
		err := st.EscalateTask(ctx, acct, id)
		require.ErrorIs(t, err, amocrm.ErrNotFound, "task %q", id)
	}
	overdue, err = st.OverdueTasks(ctx, acct, now)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]match.Task{due1}, overdue), "an escalated task is not listed again")
	overdue, err = amocrmStore(t, srv).OverdueTasks(ctx, acct, now)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]match.Task{due1}, overdue), "nor by another Store: the escalation is in amoCRM")
	overdue, err = st.OverdueTasks(ctx, "app2", now)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]match.Task{theirs}, overdue), "another account's")

	escalated := due2
	escalated.Escalated = true
	open, err := st.OpenTasks(ctx, acct)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]match.Task{escalated, due1, atNow, future}, open), "OpenTasks lists escalated tasks too")

	// Closing an escalated task keeps the escalation.
	closed, err := st.CloseTasks(ctx, acct, due2.Phone, now, "telphin/cb-2")
	require.NoError(t, err)
	require.Len(t, closed, 1)
	require.True(t, closed[0].Escalated)
	require.Contains(t, srv.Tasks()[1].Text, "escalated=")
}

// TestStoreTasksErrors: a failing amoCRM fails the task methods with the
// Store's context, and a failed create leaves nothing behind to confuse
// the next attempt.
func TestStoreTasksErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, srv := newStore(t)
	due := callStart.Add(time.Hour)
	srv.Fail(amocrmtest.Failure{Method: http.MethodPost, Path: "/api/v4/tasks", Status: http.StatusInternalServerError})
	_, err := st.CreateTask(ctx, callTask("", "79161234567", "c1", due))
	require.ErrorContains(t, err, "amocrm: task of call c1: ")
	require.Empty(t, srv.Tasks())
	got, err := st.CreateTask(ctx, callTask("", "79161234567", "c1", due))
	require.NoError(t, err, "the next attempt creates it")
	require.Len(t, srv.Tasks(), 1)

	srv.Fail(amocrmtest.Failure{Method: http.MethodGet, Path: "/api/v4/tasks", Status: http.StatusInternalServerError})
	_, err = st.OpenTasks(ctx, acct)
	require.ErrorContains(t, err, "amocrm: open tasks: ")
	srv.Fail(amocrmtest.Failure{Method: http.MethodPatch, Path: "/api/v4/tasks", Status: http.StatusInternalServerError})
	_, err = st.CloseTasks(ctx, acct, "79161234567", due, "telphin/cb")
	require.ErrorContains(t, err, "amocrm: close tasks of 79161234567: ")
	open, err := st.OpenTasks(ctx, acct)
	require.NoError(t, err)
	require.Equal(t, []match.Task{got}, open, "a failed close leaves the task open")

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	before := len(srv.Requests())
	_, err = st.CreateTask(canceled, callTask("", "79161234567", "c9", due))
	require.ErrorIs(t, err, context.Canceled)
	_, err = st.CloseTasks(canceled, acct, "79161234567", due, "telphin/cb")
	require.ErrorIs(t, err, context.Canceled)
	_, err = st.OverdueTasks(canceled, acct, due)
	require.ErrorIs(t, err, context.Canceled)
	_, err = st.OpenTasks(canceled, acct)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, st.EscalateTask(canceled, acct, got.ID), context.Canceled)
	require.Len(t, srv.Requests(), before, "nothing sent with a canceled context")
}

// TestStoreTaskCompletedByHand: a task a user completes in amoCRM is done
// for the Store too: no longer open, not closed again by a call, and
// done at its last change by no call.
func TestStoreTaskCompletedByHand(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, srv := newStore(t)
	made, err := st.CreateTask(ctx, callTask("", "79161234567", "c1", callStart.Add(time.Hour)))
	require.NoError(t, err)
	require.True(t, srv.CompleteTask(parseTaskID(t, made.ID), "Перезвонил с мобильного"))
	require.False(t, srv.CompleteTask(424242, "x"), "no such task")
	open, err := st.OpenTasks(ctx, acct)
	require.NoError(t, err)
	require.Empty(t, open)
	closed, err := st.CloseTasks(ctx, acct, "79161234567", callStart.Add(2*time.Hour), "telphin/cb")
	require.NoError(t, err)
	require.Empty(t, closed)
	// The documented limit: a done task on no card is not found when its
	// call is decided again by another Store.
	again, err := amocrmStore(t, srv).CreateTask(ctx, callTask("", "79161234567", "c1", callStart.Add(time.Hour)))
	require.NoError(t, err)
	require.NotEqual(t, made.ID, again.ID)
	require.Len(t, srv.Tasks(), 2)
	contact := itoa(srv.AddContact(amocrmtest.Contact{Name: "A"}))
	made, err = st.CreateTask(ctx, callTask(contact, "79161234567", "c2", callStart.Add(time.Hour)))
	require.NoError(t, err)
	require.True(t, srv.CompleteTask(parseTaskID(t, made.ID), "Сделано"))
	again, err = amocrmStore(t, srv).CreateTask(ctx, callTask(contact, "79161234567", "c2", callStart.Add(time.Hour)))
	require.NoError(t, err)
	want := made
	want.Done, want.DoneAt = true, time.Unix(srv.Tasks()[2].UpdatedAt, 0).UTC()
	require.Empty(t, cmp.Diff(want, again), "done at its last change, by no call")
}

func parseTaskID(t *testing.T, id string) int64 {
	t.Helper()
	var n int64
	_, err := fmt.Sscan(id, &n)
	require.NoError(t, err)
	return n
}
