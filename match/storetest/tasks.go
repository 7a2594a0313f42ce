package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
)

// taskStore returns s as a match.TaskStore, skipping the test for a store
// that keeps no tasks.
func taskStore(t *testing.T, s Store) match.TaskStore {
	t.Helper()
	ts, ok := s.(match.TaskStore)
	if !ok {
		t.Skip("the store does not implement match.TaskStore")
	}
	return ts
}

// task returns a call-back task of the missed call callID from phone,
// due at due.
func task(account, provider, callID, phone string, due time.Time) match.Task {
	return match.Task{Account: account, ClientID: "c1", Phone: phone, Provider: provider, CallID: callID,
		Responsible: "u1", Text: "Перезвонить клиенту +" + phone, Due: due, CreatedAt: t0}
}

// testCreateTask: CreateTask stores an open, unescalated task as given
// with an ID from the store (a zero CreatedAt stamped, times in UTC),
// OpenTasks lists it, and a task without a phone or call, or over the
// limits, is refused.
func testCreateTask(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	ts := taskStore(t, s)

	in := task(acme, "mango", "call-1", phone1, zoned)
	in.CreatedAt = zoned.Add(-time.Hour)
	// What the store sets itself is ignored.
	given := in
	given.ID, given.Done, given.DoneAt, given.DoneBy, given.Escalated = "mine", true, zoned, "mango/x", true
	got, err := ts.CreateTask(ctx, given)
	require.NoError(t, err)
	require.NotEmpty(t, got.ID, "the store assigns an ID")
	want := in
	want.ID = got.ID
	diff(t, want, got, "CreateTask returns the task as stored: open, not escalated")
	assert.True(t, got.Due.Location() == time.UTC, "Due %v is not in UTC", got.Due)
	assert.True(t, got.CreatedAt.Location() == time.UTC, "CreatedAt %v is not in UTC", got.CreatedAt)
	open, err := ts.OpenTasks(ctx, acme)
	require.NoError(t, err)
	diff(t, []match.Task{want}, open, "OpenTasks lists the task as stored")
	if len(open) == 1 {
		assert.True(t, open[0].Due.Location() == time.UTC, "OpenTasks: Due %v is not in UTC", open[0].Due)
		assert.True(t, open[0].DoneAt.IsZero(), "a zero DoneAt stays zero")
	}

	stamped := task(acme, "mango", "call-2", phone2, t0)
	stamped.CreatedAt = time.Time{}
	got2, err := ts.CreateTask(ctx, stamped)
	require.NoError(t, err)
	assert.False(t, got2.CreatedAt.IsZero(), "a zero CreatedAt is stamped")
	assert.True(t, got2.CreatedAt.Location() == time.UTC, "CreatedAt %v is not in UTC", got2.CreatedAt)
	assert.NotEqual(t, got.ID, got2.ID, "IDs are unique in an account")

	for name, bad := range map[string]match.Task{
		"no phone":   task(acme, "mango", "call-3", "", t0),
		"no call id": task(acme, "mango", "", phone3, t0),
		"long text": func() match.Task {
			x := task(acme, "mango", "call-4", phone3, t0)
			x.Text = strings.Repeat("я", match.MaxTaskTextLen)
			return x
		}(),
		"long responsible": func() match.Task {
			x := task(acme, "mango", "call-5", phone3, t0)
			x.Responsible = strings.Repeat("u", match.MaxValueLen+1)
			return x
		}(),
	} {
		_, err := ts.CreateTask(ctx, bad)
		require.Error(t, err, "CreateTask with %s", name)
		if strings.HasPrefix(name, "long") {
			assert.True(t, errors.Is(err, match.ErrTooLarge), "CreateTask with %s: %v does not wrap match.ErrTooLarge", name, err)
		}
	}
	open, err = ts.OpenTasks(ctx, acme)
	require.NoError(t, err)
	diff(t, []match.Task{got2, want}, open, "the refused tasks are not stored; oldest due first")
}

// testTaskIdempotentByCall: a task is keyed by its missed call. CreateTask
// for a Provider and CallID the account has a task of returns that task
// as stored, whatever the other values, also when it is done meanwhile and
// under concurrency; another call, provider or account is another task.
func testTaskIdempotentByCall(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	ts := taskStore(t, s)

	first, err := ts.CreateTask(ctx, task(acme, "mango", "call-1", phone1, t0))
	require.NoError(t, err)
	replay := task(acme, "mango", "call-1", phone2, t0.Add(time.Hour))
	replay.Responsible, replay.Text, replay.ClientID = "u9", "other", ""
	again, err := ts.CreateTask(ctx, replay)
	require.NoError(t, err)
	diff(t, first, again, "CreateTask for the same call returns the stored task")

	otherCall, err := ts.CreateTask(ctx, task(acme, "mango", "call-2", phone1, t0))
	require.NoError(t, err)
	otherProvider, err := ts.CreateTask(ctx, task(acme, "telphin", "call-1", phone1, t0))
	require.NoError(t, err)
	otherAccount, err := ts.CreateTask(ctx, task(globex, "mango", "call-1", phone1, t0))
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, otherCall.ID, "another CallID is another task")
	assert.NotEqual(t, first.ID, otherProvider.ID, "the same CallID of another Provider is another task")
	assert.Equal(t, globex, otherAccount.Account, "the call key is unique per account")
	open, err := ts.OpenTasks(ctx, acme)
	require.NoError(t, err)
	diff(t, []match.Task{first, otherCall, otherProvider}, open, "one task per call, in creation order for one due time")

	// A decision replayed after the task was done finds the done task and
	// opens none.
	closed, err := ts.CloseTasks(ctx, acme, phone1, t0.Add(time.Minute), "mango/cb-1")
	require.NoError(t, err)
	require.Len(t, closed, 3)
	again, err = ts.CreateTask(ctx, task(acme, "mango", "call-1", phone1, t0))
	require.NoError(t, err)
	diff(t, closed[0], again, "a replay after CloseTasks returns the done task")
	assert.True(t, again.Done)
	open, err = ts.OpenTasks(ctx, acme)
	require.NoError(t, err)
	assert.Empty(t, open, "a replay of a done task's call opens no task")

	// Concurrent CreateTask for one call create one task and all return it.
	got := make([]match.Task, concurrency)
	errs := make([]error, concurrency)
	parallel(concurrency, func(i int) {
		x := task(acme, "mango", "call-concurrent", phone2, t0)
		x.Responsible = fmt.Sprintf("u%d", i)
		got[i], errs[i] = ts.CreateTask(ctx, x)
	})
	for i, err := range errs {
		require.NoError(t, err, "CreateTask %d", i)
	}
	for i := range got {
		diff(t, got[0], got[i], "CreateTask %d returns the one task", i)
	}
	open, err = ts.OpenTasks(ctx, acme)
	require.NoError(t, err)
	diff(t, []match.Task{got[0]}, open, "exactly one task for one call after %d concurrent CreateTask", concurrency)
}

// testCloseTasks: CloseTasks marks every open task of the account for the
// phone done, with when and by which call, and returns them oldest due
// first; other phones and accounts keep theirs; closing again closes
// nothing; concurrent CloseTasks close each task once.
func testCloseTasks(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	ts := taskStore(t, s)
	mk := func(x match.Task) match.Task {
		t.Helper()
		got, err := ts.CreateTask(ctx, x)
		require.NoError(t, err)
		return got
	}
	later := mk(task(acme, "mango", "call-1", phone1, t0.Add(2*time.Hour)))
	sooner := mk(task(acme, "mango", "call-2", phone1, t0.Add(time.Hour)))
	other := mk(task(acme, "mango", "call-3", phone2, t0))
	theirs := mk(task(globex, "mango", "call-1", phone1, t0))

	none, err := ts.CloseTasks(ctx, acme, phone3, zoned, "mango/cb-0")
	require.NoError(t, err)
	assert.Empty(t, none, "a phone without tasks")

	closed, err := ts.CloseTasks(ctx, acme, phone1, zoned, "telphin/cb-1")
	require.NoError(t, err)
	done := func(x match.Task) match.Task {
		x.Done, x.DoneAt, x.DoneBy = true, zoned, "telphin/cb-1"
		return x
	}
	diff(t, []match.Task{done(sooner), done(later)}, closed, "CloseTasks returns the tasks it closed, oldest due first")
	for _, x := range closed {
		assert.True(t, x.DoneAt.Location() == time.UTC, "DoneAt %v is not in UTC", x.DoneAt)
	}
	open, err := ts.OpenTasks(ctx, acme)
	require.NoError(t, err)
	diff(t, []match.Task{other}, open, "another phone's task stays open")
	open, err = ts.OpenTasks(ctx, globex)
	require.NoError(t, err)
	diff(t, []match.Task{theirs}, open, "another account's task for the phone stays open")
	again, err := ts.CloseTasks(ctx, acme, phone1, zoned.Add(time.Hour), "telphin/cb-2")
	require.NoError(t, err)
	assert.Empty(t, again, "closing again closes nothing")
	replayed, err := ts.CreateTask(ctx, task(acme, "mango", "call-1", phone1, t0))
	require.NoError(t, err)
	diff(t, done(later), replayed, "a closed task keeps when and by which call it was closed")

	// Several instances decide answered calls of one number at once: each
	// task is closed, and reported closed, once.
	var want []match.Task
	for i := range 10 {
		want = append(want, mk(task(acme, "mango", fmt.Sprintf("many-%d", i), phone3, t0.Add(time.Duration(i)*time.Minute))))
	}
	got := make([][]match.Task, concurrency)
	errs := make([]error, concurrency)
	parallel(concurrency, func(i int) {
		got[i], errs[i] = ts.CloseTasks(ctx, acme, phone3, zoned, fmt.Sprintf("mango/cb-%d", i))
	})
	count := map[string]int{}
	for i, err := range errs {
		require.NoError(t, err, "CloseTasks %d", i)
		for _, x := range got[i] {
			count[x.ID]++
		}
	}
	for _, x := range want {
		assert.Equal(t, 1, count[x.ID], "task %s reported closed by how many concurrent CloseTasks", x.ID)
	}
	assert.Len(t, count, len(want), "only the phone's tasks are closed")
}

// testOverdueTasks: OverdueTasks lists the open tasks due strictly before
// now that are not escalated, oldest due first; EscalateTask marks one
// (again is no error, an unknown task is), and OpenTasks still lists it.
func testOverdueTasks(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	ts := taskStore(t, s)
	mk := func(x match.Task) match.Task {
		t.Helper()
		got, err := ts.CreateTask(ctx, x)
		require.NoError(t, err)
		return got
	}
	now := t0.Add(3 * time.Hour)
	due1 := mk(task(acme, "mango", "call-1", phone1, now.Add(-time.Hour)))
	due2 := mk(task(acme, "mango", "call-2", phone2, now.Add(-2*time.Hour)))
	atNow := mk(task(acme, "mango", "call-3", phone3, now))
	future := mk(task(acme, "mango", "call-4", "79160000004", now.Add(time.Hour)))
	doneTask := mk(task(acme, "mango", "call-5", "79160000005", now.Add(-3*time.Hour)))
	theirs := mk(task(globex, "mango", "call-1", phone1, now.Add(-time.Hour)))
	_, err := ts.CloseTasks(ctx, acme, doneTask.Phone, now, "mango/cb-1")
	require.NoError(t, err)

	overdue, err := ts.OverdueTasks(ctx, acme, now)
	require.NoError(t, err)
	diff(t, []match.Task{due2, due1}, overdue, "open tasks due before now, oldest due first")
	overdue, err = ts.OverdueTasks(ctx, globex, now)
	require.NoError(t, err)
	diff(t, []match.Task{theirs}, overdue, "another account's")

	require.NoError(t, ts.EscalateTask(ctx, acme, due2.ID))
	require.NoError(t, ts.EscalateTask(ctx, acme, due2.ID), "escalating again is no error")
	require.Error(t, ts.EscalateTask(ctx, acme, "no-such-task"), "an unknown task")
	require.Error(t, ts.EscalateTask(ctx, acme, theirs.ID+"-x"), "an unknown task")
	if !slices.Contains([]string{due1.ID, due2.ID, atNow.ID, future.ID, doneTask.ID}, theirs.ID) {
		require.Error(t, ts.EscalateTask(ctx, acme, theirs.ID), "another account's task")
	}
	overdue, err = ts.OverdueTasks(ctx, acme, now)
	require.NoError(t, err)
	diff(t, []match.Task{due1}, overdue, "an escalated task is not listed again")
	overdue, err = ts.OverdueTasks(ctx, globex, now)
	require.NoError(t, err)
	diff(t, []match.Task{theirs}, overdue, "escalating a task of acme leaves globex's alone")

	escalated := due2
	escalated.Escalated = true
	open, err := ts.OpenTasks(ctx, acme)
	require.NoError(t, err)
	diff(t, []match.Task{escalated, due1, atNow, future}, open, "OpenTasks lists escalated tasks too, oldest due first")
}
