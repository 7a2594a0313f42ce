package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
)

// testTimesRoundTrip: every time a store keeps comes back as the same
// instant to the microsecond, in UTC, whatever zone it was given in; a zero
// time stays zero; durations come back to the microsecond.
func testTimesRoundTrip(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	utc := func(what string, got, want time.Time) {
		t.Helper()
		assert.True(t, within(got.Sub(want)), "%s: got %v, want %v (to the microsecond)", what, got, want)
		assert.True(t, got.Location() == time.UTC, "%s: %v is not in UTC", what, got)
	}

	c, err := s.CreateClient(ctx, match.Client{Account: acme, Phone: phone1, CreatedAt: zoned})
	require.NoError(t, err)
	utc("CreateClient CreatedAt", c.CreatedAt, zoned)
	found, ok, err := s.FindClientByPhone(ctx, acme, phone1)
	require.NoError(t, err)
	require.True(t, ok)
	utc("FindClientByPhone CreatedAt", found.CreatedAt, zoned)

	l, err := s.CreateLead(ctx, match.Lead{Account: acme, ClientID: c.ID, Name: "deal", CreatedAt: zoned})
	require.NoError(t, err)
	utc("CreateLead CreatedAt", l.CreatedAt, zoned)
	leads, err := s.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	require.Len(t, leads, 1)
	utc("ClientLeads CreatedAt", leads[0].CreatedAt, zoned)

	answered := call("mango", acme, "answered")
	answered.StartedAt = zoned
	answered.AnsweredAt = zoned.Add(time.Second + time.Nanosecond)
	answered.EndedAt = zoned.Add(time.Minute + 999*time.Nanosecond)
	answered.Duration = time.Minute - time.Second - 500*time.Microsecond
	missed := call("mango", acme, "missed")
	missed.StartedAt = zoned
	missed.AnsweredAt, missed.EndedAt, missed.Duration = time.Time{}, time.Time{}, 0
	require.NoError(t, s.LogCall(ctx, answered))
	require.NoError(t, s.LogCall(ctx, missed))
	calls := sorted(h.Calls(t, s, acme), callKey)
	require.Len(t, calls, 2)
	got := calls[0] // "answered" < "missed"
	utc("StartedAt", got.StartedAt, answered.StartedAt)
	utc("AnsweredAt", got.AnsweredAt, answered.AnsweredAt)
	utc("EndedAt", got.EndedAt, answered.EndedAt)
	assert.True(t, within(got.Duration-answered.Duration), "Duration: got %v, want %v", got.Duration, answered.Duration)
	assert.True(t, within(got.Wait-answered.Wait), "Wait: got %v, want %v", got.Wait, answered.Wait)
	got = calls[1]
	utc("StartedAt of a missed call", got.StartedAt, missed.StartedAt)
	assert.True(t, got.AnsweredAt.IsZero(), "a zero AnsweredAt stays zero, got %v", got.AnsweredAt)
	assert.True(t, got.EndedAt.IsZero(), "a zero EndedAt stays zero, got %v", got.EndedAt)
	assert.Zero(t, got.Duration, "a zero Duration stays zero")

	n := note(acme, "mango", "missed", "u1")
	n.At = zoned
	require.NoError(t, s.Notify(ctx, n))
	notes := h.Notifications(t, s, acme)
	require.Len(t, notes, 1)
	utc("Notification At", notes[0].At, zoned)
}

// testCanceledContext: with a canceled context every method fails with an
// error wrapping context.Canceled and has no effect, and the store keeps
// working afterwards. With Harness.IgnoresContext the methods need only
// return.
func testCanceledContext(t *testing.T, h Harness) {
	s := h.New(t)
	// Something to find, so a store cannot answer from an empty table
	// without looking at the context.
	c, err := s.CreateClient(t.Context(), match.Client{Account: acme, Name: "Anna", Phone: phone1,
		Fields: map[string]string{"work": "+7 916 123-45-68"}})
	require.NoError(t, err)
	l, err := s.CreateLead(t.Context(), match.Lead{Account: acme, ClientID: c.ID, Name: "deal", Status: "lost", State: match.LeadLost})
	require.NoError(t, err)
	h.SetEmployees(t, s, acme, match.Employee{ID: "u1", Login: "anna", Extensions: []string{"101"}})
	h.SetOnline(t, s, acme, "u1")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"FindClientByPhone", func() error { _, _, err := s.FindClientByPhone(ctx, acme, phone1); return err }},
		{"FindClientsByField", func() error { _, err := s.FindClientsByField(ctx, acme, phone2, 10); return err }},
		{"CreateClient", func() error {
			_, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Boris", Phone: phone3})
			return err
		}},
		{"ClientLeads", func() error { _, err := s.ClientLeads(ctx, acme, c.ID); return err }},
		{"CreateLead", func() error {
			_, err := s.CreateLead(ctx, match.Lead{Account: acme, ClientID: c.ID, Name: "canceled"})
			return err
		}},
		{"ReopenLead", func() error { _, err := s.ReopenLead(ctx, acme, l.ID, "reopened"); return err }},
		{"LogCall", func() error { return s.LogCall(ctx, call("mango", acme, "call-1")) }},
		{"FindEmployee", func() error { _, _, err := s.FindEmployee(ctx, acme, "101"); return err }},
		{"Employees", func() error { _, err := s.Employees(ctx, acme); return err }},
		{"Online", func() error { _, err := s.Online(ctx, acme); return err }},
		{"Notify", func() error { return s.Notify(ctx, note(acme, "mango", "call-1", "u1")) }},
	}
	if pl, ok := s.(match.PhoneLeads); ok {
		calls = append(calls, struct {
			name string
			call func() error
		}{"PhoneLeads", func() error { _, err := pl.PhoneLeads(ctx, acme, phone1); return err }})
	}
	ts, tasks := s.(match.TaskStore)
	var open match.Task
	if tasks {
		var err error
		open, err = ts.CreateTask(t.Context(), task(acme, "mango", "call-0", phone1, t0))
		require.NoError(t, err)
		calls = append(calls, []struct {
			name string
			call func() error
		}{
			{"CreateTask", func() error { _, err := ts.CreateTask(ctx, task(acme, "mango", "call-1", phone2, t0)); return err }},
			{"CloseTasks", func() error { _, err := ts.CloseTasks(ctx, acme, phone1, t0, "mango/cb-1"); return err }},
			{"OverdueTasks", func() error { _, err := ts.OverdueTasks(ctx, acme, t0.Add(time.Hour)); return err }},
			{"EscalateTask", func() error { return ts.EscalateTask(ctx, acme, open.ID) }},
			{"OpenTasks", func() error { _, err := ts.OpenTasks(ctx, acme); return err }},
		}...)
	}
	for _, tc := range calls {
		err := tc.call() // a store that hangs here fails by the test binary's -timeout
		if !h.IgnoresContext {
			assert.ErrorIs(t, err, context.Canceled, "%s with a canceled context", tc.name)
		}
	}
	if h.IgnoresContext {
		return
	}

	// Nothing was written, and the store works with a live context.
	ctx = t.Context()
	_, ok, err := s.FindClientByPhone(ctx, acme, phone3)
	require.NoError(t, err)
	assert.False(t, ok, "CreateClient with a canceled context created nothing")
	leads, err := s.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{l}, leads, "CreateLead and ReopenLead with a canceled context changed nothing")
	assert.Empty(t, h.Calls(t, s, acme), "LogCall with a canceled context logged nothing")
	assert.Empty(t, h.Notifications(t, s, acme), "Notify with a canceled context notified nobody")
	if tasks {
		got, err := ts.OpenTasks(ctx, acme)
		require.NoError(t, err)
		diff(t, []match.Task{open}, got, "CreateTask, CloseTasks and EscalateTask with a canceled context changed nothing")
	}

	b, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Boris", Phone: phone3})
	require.NoError(t, err, "the store works after canceled calls")
	found, ok, err := s.FindClientByPhone(ctx, acme, phone3)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, b.ID, found.ID)
}
