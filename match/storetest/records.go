package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// testLeads: CreateLead stores a lead as given (an empty ID gets one, a
// zero CreatedAt is stamped), ClientLeads lists a client's leads newest
// first, and ReopenLead makes a lead active with the new status.
func testLeads(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	c, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Anna", Phone: phone1})
	require.NoError(t, err)
	other, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Boris", Phone: phone2})
	require.NoError(t, err)

	in1 := match.Lead{Account: acme, ClientID: c.ID, Name: "first", Pipeline: "sales", Status: "new",
		State: match.LeadOpen, Source: "call", Responsible: "u1", CreatedAt: t0}
	l1, err := s.CreateLead(ctx, in1)
	require.NoError(t, err)
	require.NotEmpty(t, l1.ID, "an empty ID gets one from the store")
	in1.ID = l1.ID
	diff(t, in1, l1, "CreateLead returns the lead as stored")

	in2 := match.Lead{ID: "crm-7", Account: acme, ClientID: c.ID, Name: "second", Status: "won",
		State: match.LeadWon, Responsible: "u2", CreatedAt: t0.Add(time.Hour)}
	l2, err := s.CreateLead(ctx, in2)
	require.NoError(t, err)
	diff(t, in2, l2, "a given ID is kept")

	l3, err := s.CreateLead(ctx, match.Lead{Account: acme, ClientID: c.ID, Name: "third", Status: "lost", State: match.LeadLost})
	require.NoError(t, err)
	assert.True(t, l3.CreatedAt.After(t0), "a zero CreatedAt is stamped now, got %v", l3.CreatedAt)
	assert.True(t, l3.CreatedAt.Location() == time.UTC, "CreatedAt %v is not in UTC", l3.CreatedAt)
	assert.NotEqual(t, l1.ID, l3.ID)

	leads, err := s.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{l3, l2, l1}, leads, "ClientLeads, newest first")
	leads, err = s.ClientLeads(ctx, acme, other.ID)
	require.NoError(t, err)
	assert.Empty(t, leads, "a client without leads")

	reopened, err := s.ReopenLead(ctx, acme, l2.ID, "reopened")
	require.NoError(t, err)
	want := l2
	want.Status, want.State = "reopened", match.LeadOpen
	diff(t, want, reopened, "ReopenLead returns the lead, active with the new status")
	assert.True(t, reopened.Active())
	leads, err = s.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{l3, want, l1}, leads, "ReopenLead is stored, the order unchanged")
}

// testLeadErrors: a lead for an unknown client and an unknown lead are
// errors; reading the leads of an unknown client is not.
func testLeadErrors(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	_, err := s.CreateLead(ctx, match.Lead{Account: acme, ClientID: "no-such-client", Name: "deal"})
	require.Error(t, err, "CreateLead for an unknown client")
	leads, err := s.ClientLeads(ctx, acme, "no-such-client")
	require.NoError(t, err, "ClientLeads of an unknown client")
	assert.Empty(t, leads)
	_, err = s.ReopenLead(ctx, acme, "no-such-lead", "reopened")
	require.Error(t, err, "ReopenLead of an unknown lead")

	c, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Anna", Phone: phone1})
	require.NoError(t, err)
	l, err := s.CreateLead(ctx, match.Lead{ID: "l-1", Account: acme, ClientID: c.ID, Name: "deal"})
	require.NoError(t, err)
	_, err = s.CreateLead(ctx, match.Lead{ID: "l-1", Account: acme, ClientID: c.ID, Name: "again"})
	require.Error(t, err, "a lead ID taken in the account")
	leads, err = s.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{l}, leads, "the refused lead is not stored")
}

// testLeadIdempotentByCall: a lead is keyed by the call that created it.
// CreateLead with a Provider and CallID the account already has a lead of
// returns that lead as stored and creates nothing, whatever the other
// values, also under concurrency; another CallID, another Provider or
// another account is another lead, and an empty CallID never merges.
// Provider and CallID round-trip.
func testLeadIdempotentByCall(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	c, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Anna", Phone: phone1})
	require.NoError(t, err)
	other, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Boris", Phone: phone2})
	require.NoError(t, err)

	in := match.Lead{Account: acme, ClientID: c.ID, Name: "call lead", Pipeline: "sales", Status: "new",
		Source: "call", Provider: "mango", CallID: "call-1", Responsible: "u1", CreatedAt: t0}
	first, err := s.CreateLead(ctx, in)
	require.NoError(t, err)
	require.NotEmpty(t, first.ID)
	in.ID = first.ID
	diff(t, in, first, "CreateLead returns the lead as stored, Provider and CallID included")
	leads, err := s.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{first}, leads, "Provider and CallID are stored and read back")

	// A replay of the call: the same lead, whatever the other values
	// (a given ID, another client, name, status, time).
	for _, l := range []match.Lead{
		in,
		{Account: acme, ClientID: c.ID, Name: "call lead", Provider: "mango", CallID: "call-1"},
		{ID: "crm-9", Account: acme, ClientID: other.ID, Name: "replayed", Status: "won", State: match.LeadWon,
			Provider: "mango", CallID: "call-1", Responsible: "u2", CreatedAt: t0.Add(time.Hour)},
	} {
		again, err := s.CreateLead(ctx, l)
		require.NoError(t, err, "CreateLead(%q) again", l.Name)
		diff(t, first, again, "CreateLead(%q) for the same call returns the stored lead", l.Name)
	}
	leads, err = s.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{first}, leads, "one lead for the call")
	leads, err = s.ClientLeads(ctx, acme, other.ID)
	require.NoError(t, err)
	assert.Empty(t, leads, "a replay for another client creates nothing")

	// The stored lead is returned as it is now.
	_, err = s.ReopenLead(ctx, acme, first.ID, "reopened")
	require.NoError(t, err)
	again, err := s.CreateLead(ctx, in)
	require.NoError(t, err)
	want := first
	want.Status = "reopened"
	diff(t, want, again, "a replay after ReopenLead returns the lead as stored")

	// Another call, another provider, another account: other leads.
	otherCall, err := s.CreateLead(ctx, match.Lead{Account: acme, ClientID: c.ID, Name: "second call", Provider: "mango", CallID: "call-2"})
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, otherCall.ID, "another CallID is another lead")
	otherProvider, err := s.CreateLead(ctx, match.Lead{Account: acme, ClientID: c.ID, Name: "other provider", Provider: "telphin", CallID: "call-1"})
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, otherProvider.ID, "the same CallID of another Provider is another lead")
	assert.NotEqual(t, otherCall.ID, otherProvider.ID)
	g, err := s.CreateClient(ctx, match.Client{Account: globex, Name: "globex", Phone: phone1})
	require.NoError(t, err)
	otherAccount, err := s.CreateLead(ctx, match.Lead{Account: globex, ClientID: g.ID, Name: "globex", Provider: "mango", CallID: "call-1"})
	require.NoError(t, err)
	assert.Equal(t, "globex", otherAccount.Name, "the call key is unique per account")
	assert.Equal(t, globex, otherAccount.Account)

	// Leads without a CallID are never merged, with or without a Provider.
	var noCall []match.Lead
	for _, l := range []match.Lead{
		{Account: acme, ClientID: c.ID, Name: "manual 1"},
		{Account: acme, ClientID: c.ID, Name: "manual 2"},
		{Account: acme, ClientID: c.ID, Name: "manual 3", Provider: "mango"},
		{Account: acme, ClientID: c.ID, Name: "manual 4", Provider: "mango"},
	} {
		got, err := s.CreateLead(ctx, l)
		require.NoError(t, err, "CreateLead(%q)", l.Name)
		assert.Equal(t, l.Name, got.Name, "a lead without a CallID is created")
		noCall = append(noCall, got)
	}
	leads, err = s.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{noCall[3], noCall[2], noCall[1], noCall[0], otherProvider, otherCall, want}, leads,
		"ClientLeads: one lead per call, every lead without a call")
	leads, err = s.ClientLeads(ctx, globex, g.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{otherAccount}, leads, "globex's lead")

	// Concurrent CreateLead for one call create one lead and all return it.
	got := make([]match.Lead, concurrency)
	errs := make([]error, concurrency)
	parallel(concurrency, func(i int) {
		got[i], errs[i] = s.CreateLead(ctx, match.Lead{Account: acme, ClientID: other.ID, Name: fmt.Sprintf("caller %d", i),
			Provider: "mango", CallID: "call-concurrent"})
	})
	for i, err := range errs {
		require.NoError(t, err, "CreateLead %d", i)
	}
	returned := map[string]int{}
	for _, l := range got {
		returned[l.ID]++
	}
	require.Len(t, returned, 1, "every CreateLead returns the one lead: IDs returned (ID → count) %v", returned)
	for i := range got {
		diff(t, got[0], got[i], "CreateLead %d returns the one lead", i)
	}
	leads, err = s.ClientLeads(ctx, acme, other.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{got[0]}, leads, "exactly one lead for one call after %d concurrent CreateLead", concurrency)
	assert.Equal(t, "call-concurrent", got[0].CallID)
	assert.Equal(t, "mango", got[0].Provider)
}

// testPhoneLeads: a store that keeps leads without a client
// (match.PhoneLeads) stores a lead with an empty ClientID and a Phone,
// the phone normalised; PhoneLeads lists the account's leads without a
// client of a number, newest first (in creation order), and not a
// client's lead of the number, another number's or another account's.
// A lead with both a ClientID and a Phone is the client's, its Phone
// dropped. CreateLead is idempotent by call for leads without a client
// too, also under concurrency; ReopenLead and SetLeadResponsible work on
// them; ClientLeads of "" lists none of them. A lead with neither a client
// nor a phone, or with a phone that is not a number, is refused.
func testPhoneLeads(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	pl, ok := s.(match.PhoneLeads)
	if !ok {
		t.Skip("the store does not implement match.PhoneLeads")
	}
	phoneLeads := func(account, phone string) []match.Lead {
		t.Helper()
		leads, err := pl.PhoneLeads(ctx, account, phone)
		require.NoError(t, err, "PhoneLeads(%q, %q)", account, phone)
		return leads
	}

	in1 := match.Lead{Account: acme, Phone: "+7 916 123-45-67", Name: "missed call", Pipeline: "sales", Status: "new",
		Source: "missed call", Provider: "phonet", CallID: "call-1", Responsible: "u1", CreatedAt: t0}
	l1, err := s.CreateLead(ctx, in1)
	require.NoError(t, err)
	require.NotEmpty(t, l1.ID, "an empty ID gets one from the store")
	want1 := in1
	want1.ID, want1.Phone = l1.ID, phone1
	diff(t, want1, l1, "CreateLead returns the lead without a client as stored, its phone normalised")

	// The second lead of the number is older by CreatedAt but created
	// later: newest first is creation order.
	in2 := match.Lead{Account: acme, Phone: "79161234567", Name: "answered call", Status: "lost", State: match.LeadLost,
		Provider: "phonet", CallID: "call-2", CreatedAt: t0.Add(-time.Hour)}
	l2, err := s.CreateLead(ctx, in2)
	require.NoError(t, err)
	in2.ID = l2.ID
	diff(t, in2, l2, "a lead without a client of the number in another spelling")
	assert.NotEqual(t, l1.ID, l2.ID)

	l3, err := s.CreateLead(ctx, match.Lead{Account: acme, Phone: "+7 (916) 123-45-68", Name: "another number",
		Provider: "phonet", CallID: "call-3", CreatedAt: t0})
	require.NoError(t, err)
	assert.Equal(t, phone2, l3.Phone)

	c, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Anna", Phone: phone1})
	require.NoError(t, err)
	cl, err := s.CreateLead(ctx, match.Lead{Account: acme, ClientID: c.ID, Phone: phone1, Name: "the client's",
		Provider: "phonet", CallID: "call-4", CreatedAt: t0})
	require.NoError(t, err)
	assert.Equal(t, c.ID, cl.ClientID)
	assert.Empty(t, cl.Phone, "a lead of a client keeps no phone")
	g, err := s.CreateLead(ctx, match.Lead{Account: globex, Phone: phone3, Name: "globex", Provider: "phonet", CallID: "call-1", CreatedAt: t0})
	require.NoError(t, err)
	assert.Equal(t, "globex", g.Name, "the call key is unique per account, for leads without a client too")

	diff(t, []match.Lead{l2, l1}, phoneLeads(acme, phone1),
		"PhoneLeads: the number's leads without a client, newest first, not the client's lead")
	diff(t, []match.Lead{l3}, phoneLeads(acme, phone2), "PhoneLeads of another number")
	assert.Empty(t, phoneLeads(globex, phone1), "another account sees none of the number's leads")
	assert.Empty(t, phoneLeads(acme, phone3), "another account's lead is not acme's")
	diff(t, []match.Lead{g}, phoneLeads(globex, phone3), "globex's lead")
	assert.Empty(t, phoneLeads(acme, ""), "PhoneLeads of no number")
	leads, err := s.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{cl}, leads, "ClientLeads: the client's lead only")
	leads, err = s.ClientLeads(ctx, acme, "")
	require.NoError(t, err)
	assert.Empty(t, leads, "ClientLeads of \"\" lists no lead without a client")

	// A replay of a call: the stored lead, whatever the other values.
	for _, l := range []match.Lead{
		in1,
		{Account: acme, Phone: phone1, Name: "replayed", Provider: "phonet", CallID: "call-1"},
		{Account: acme, Phone: phone3, Name: "replayed, another number", Status: "won", State: match.LeadWon,
			Provider: "phonet", CallID: "call-1", CreatedAt: t0.Add(time.Hour)},
		{Account: acme, ClientID: c.ID, Name: "replayed for a client", Provider: "phonet", CallID: "call-1"},
	} {
		again, err := s.CreateLead(ctx, l)
		require.NoError(t, err, "CreateLead(%q) again", l.Name)
		diff(t, l1, again, "CreateLead(%q) for the same call returns the stored lead", l.Name)
	}
	diff(t, []match.Lead{l2, l1}, phoneLeads(acme, phone1), "one lead for the call")
	assert.Empty(t, phoneLeads(acme, phone3), "a replay for another number creates nothing")
	leads, err = s.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{cl}, leads, "a replay for a client creates nothing")

	// Concurrent CreateLead for one call create one lead.
	got := make([]match.Lead, concurrency)
	errs := make([]error, concurrency)
	parallel(concurrency, func(i int) {
		got[i], errs[i] = s.CreateLead(ctx, match.Lead{Account: acme, Phone: "+380 67 123 45 67", Name: fmt.Sprintf("caller %d", i),
			Provider: "phonet", CallID: "call-concurrent"})
	})
	for i, err := range errs {
		require.NoError(t, err, "CreateLead %d", i)
	}
	for i := range got {
		diff(t, got[0], got[i], "CreateLead %d returns the one lead", i)
	}
	diff(t, []match.Lead{got[0]}, phoneLeads(acme, phone3), "exactly one lead for one call after %d concurrent CreateLead", concurrency)

	// ReopenLead and SetLeadResponsible work on a lead without a client.
	reopened, err := s.ReopenLead(ctx, acme, l2.ID, "reopened")
	require.NoError(t, err)
	want2 := l2
	want2.Status, want2.State = "reopened", match.LeadOpen
	diff(t, want2, reopened, "ReopenLead returns the lead, active with the new status")
	_, err = s.ReopenLead(ctx, globex, l2.ID, "reopened")
	require.Error(t, err, "ReopenLead of another account's lead")
	if r, ok := s.(match.Reassigner); ok {
		require.NoError(t, r.SetLeadResponsible(ctx, acme, l1.ID, "u2"))
		want1 = l1
		want1.Responsible = "u2"
		l1 = want1
	}
	diff(t, []match.Lead{want2, l1}, phoneLeads(acme, phone1), "ReopenLead (and SetLeadResponsible) are stored, the order unchanged")

	// Refused: neither a client nor a phone; a phone that is not a number.
	_, err = s.CreateLead(ctx, match.Lead{Account: acme, Name: "nobody's"})
	require.Error(t, err, "a lead with neither a client nor a phone")
	_, err = s.CreateLead(ctx, match.Lead{Account: acme, Phone: "call me maybe", Name: "bad phone"})
	require.ErrorContains(t, err, "phone", "a lead with a phone that is not a number: the error names the field")
	diff(t, []match.Lead{want2, l1}, phoneLeads(acme, phone1), "the refused leads are not stored")
}

// call returns a call record with every field set.
func call(provider, account, callID string) match.CallRecord {
	return match.CallRecord{
		Provider: provider, Account: account, CallID: callID,
		Direction: callevent.Inbound, Status: callevent.Success,
		ClientID: "c1", ClientPhone: phone1, Employee: "u1", Extension: "101", LinePhone: "74951234567",
		StartedAt:    t0,
		AnsweredAt:   t0.Add(12*time.Second + 250*time.Millisecond),
		EndedAt:      t0.Add(95*time.Second + 750*time.Millisecond),
		Duration:     83*time.Second + 500*time.Millisecond,
		Wait:         12*time.Second + 250*time.Millisecond,
		RecordingURL: "https://records.example/" + callID + ".mp3",
		LeadID:       "l1",
		Rating:       4,
	}
}

// testLogCallUpserts: LogCall keeps one record per Provider, Account and
// CallID, the last logged.
func testLogCallUpserts(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	first := call("mango", acme, "call-1")
	first.Status, first.Employee, first.AnsweredAt, first.Duration, first.LeadID = callevent.Missed, "", time.Time{}, 0, ""
	require.NoError(t, s.LogCall(ctx, first))
	diff(t, []match.CallRecord{first}, h.Calls(t, s, acme), "the logged call")

	again := call("mango", acme, "call-1")
	again.Employee = "u2"
	require.NoError(t, s.LogCall(ctx, again))
	diff(t, []match.CallRecord{again}, h.Calls(t, s, acme), "logging a call again replaces it")

	otherProvider := call("telphin", acme, "call-1")
	otherCall := call("mango", acme, "call-2")
	otherAccount := call("mango", globex, "call-1")
	for _, r := range []match.CallRecord{otherProvider, otherCall, otherAccount} {
		require.NoError(t, s.LogCall(ctx, r))
	}
	diff(t, sorted([]match.CallRecord{again, otherProvider, otherCall}, callKey), sorted(h.Calls(t, s, acme), callKey),
		"one record per provider and call id")
	diff(t, []match.CallRecord{otherAccount}, h.Calls(t, s, globex), "the calls of another account")
}

// testLogCallConcurrent: concurrent LogCall of one call keeps one record,
// one of the logged ones.
func testLogCallConcurrent(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	recs := make([]match.CallRecord, concurrency)
	errs := make([]error, concurrency)
	for i := range recs {
		recs[i] = call("mango", acme, "call-1")
		recs[i].Employee = fmt.Sprintf("u%d", i)
	}
	parallel(concurrency, func(i int) { errs[i] = s.LogCall(ctx, recs[i]) })
	for i, err := range errs {
		require.NoError(t, err, "LogCall %d", i)
	}
	got := h.Calls(t, s, acme)
	require.Len(t, got, 1, "one record for one call")
	var i int
	_, err := fmt.Sscanf(got[0].Employee, "u%d", &i)
	require.NoError(t, err, "the record is one of the logged ones")
	diff(t, recs[i], got[0], "the record is one of the logged ones")
}

// note returns a notification with every field set.
func note(account, provider, callID, employee string) match.Notification {
	return match.Notification{
		Kind: match.NotifyMissed, Account: account, Employee: employee, Provider: provider, CallID: callID,
		ClientID: "c1", ClientPhone: phone1, LeadID: "l1", Reason: "responsible", At: t0,
	}
}

// testNotifyIdempotent: Notify keeps one notification per Account,
// Provider, CallID, Employee and Kind, the first: a replayed decision does
// not notify twice.
func testNotifyIdempotent(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	n := note(acme, "mango", "call-1", "u1")
	require.NoError(t, s.Notify(ctx, n))
	require.NoError(t, s.Notify(ctx, n))
	diff(t, []match.Notification{n}, h.Notifications(t, s, acme), "notifying twice stores one notification")

	replay := n
	replay.Reason, replay.At, replay.LeadID = "admin", t0.Add(time.Minute), "l2"
	require.NoError(t, s.Notify(ctx, replay))
	diff(t, []match.Notification{n}, h.Notifications(t, s, acme), "a replay with other values keeps the first")

	others := []match.Notification{
		note(acme, "mango", "call-1", "u2"),
		note(acme, "mango", "call-2", "u1"),
		note(acme, "telphin", "call-1", "u1"),
	}
	for _, o := range others {
		require.NoError(t, s.Notify(ctx, o))
	}
	otherAccount := note(globex, "mango", "call-1", "u1")
	require.NoError(t, s.Notify(ctx, otherAccount))
	diff(t, sorted(append([]match.Notification{n}, others...), noteKey), sorted(h.Notifications(t, s, acme), noteKey),
		"another employee, call or provider is another notification")
	diff(t, []match.Notification{otherAccount}, h.Notifications(t, s, globex), "the notifications of another account")
}

// testNotifyConcurrent: concurrent Notify of one notification stores one.
func testNotifyConcurrent(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	errs := make([]error, concurrency)
	n := note(acme, "mango", "call-1", "u1")
	parallel(concurrency, func(i int) { errs[i] = s.Notify(ctx, n) })
	for i, err := range errs {
		require.NoError(t, err, "Notify %d", i)
	}
	diff(t, []match.Notification{n}, h.Notifications(t, s, acme), "one notification")
}

// testDirectory: FindEmployee by any extension or the login, Employees in
// the order set, Online, each per account; SetEmployees replaces the list.
func testDirectory(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	emps, err := s.Employees(ctx, acme)
	require.NoError(t, err)
	assert.Empty(t, emps, "no employees yet")
	online, err := s.Online(ctx, acme)
	require.NoError(t, err)
	assert.Empty(t, online, "nobody online yet")
	_, ok, err := s.FindEmployee(ctx, acme, "101")
	require.NoError(t, err)
	assert.False(t, ok)

	// u2 before u1: the order set, not the order of the IDs.
	boris := match.Employee{ID: "u2", Name: "Boris", Login: "boris", Email: "boris@example.com", Extensions: []string{"201"}, Admin: true}
	anna := match.Employee{ID: "u1", Name: "Anna", Login: "anna", Extensions: []string{"101", "102"}}
	h.SetEmployees(t, s, acme, boris, anna)
	h.SetEmployees(t, s, globex, match.Employee{ID: "g1", Login: "gina", Extensions: []string{"101"}})
	h.SetOnline(t, s, acme, "u1", "u2")

	for _, tc := range []struct {
		key  string
		want match.Employee
		ok   bool
	}{
		{"101", anna, true},
		{"102", anna, true},
		{"anna", anna, true},
		{"201", boris, true},
		{"boris", boris, true},
		{"999", match.Employee{}, false},
		{"", match.Employee{}, false},
		{"gina", match.Employee{}, false},
	} {
		got, ok, err := s.FindEmployee(ctx, acme, tc.key)
		require.NoError(t, err, "FindEmployee(%q)", tc.key)
		assert.Equal(t, tc.ok, ok, "FindEmployee(%q) found", tc.key)
		diff(t, tc.want, got, "FindEmployee(%q)", tc.key)
	}
	got, ok, err := s.FindEmployee(ctx, globex, "101")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "g1", got.ID, "an extension is per account")

	emps, err = s.Employees(ctx, acme)
	require.NoError(t, err)
	diff(t, []match.Employee{boris, anna}, emps, "Employees, in the order set")
	emps, err = s.Employees(ctx, acme)
	require.NoError(t, err)
	diff(t, []match.Employee{boris, anna}, emps, "Employees again: a stable order")
	online, err = s.Online(ctx, acme)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"u1", "u2"}, online, "Online")
	online, err = s.Online(ctx, globex)
	require.NoError(t, err)
	assert.Empty(t, online, "Online is per account")

	h.SetEmployees(t, s, acme, anna)
	h.SetOnline(t, s, acme, "u1")
	emps, err = s.Employees(ctx, acme)
	require.NoError(t, err)
	diff(t, []match.Employee{anna}, emps, "SetEmployees replaces the list")
	_, ok, err = s.FindEmployee(ctx, acme, "201")
	require.NoError(t, err)
	assert.False(t, ok, "a removed employee is not found")
	online, err = s.Online(ctx, acme)
	require.NoError(t, err)
	assert.Equal(t, []string{"u1"}, online, "SetOnline replaces the set")
}

// testCallStats: a store that counts calls by employee (match.CallStats)
// counts the calls of the account that started in [from, to), internal
// calls left out, as match.StatsCounter does.
func testCallStats(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	cs, ok := s.(match.CallStats)
	if !ok {
		t.Skip("the store does not implement match.CallStats")
	}
	from, to := t0, t0.Add(24*time.Hour)
	n := 0
	rec := func(account, employee string, dir callevent.Direction, status callevent.Status, at time.Time, talk, wait time.Duration) match.CallRecord {
		n++
		r := call("telphin", account, fmt.Sprintf("call-%d", n))
		r.Employee, r.Direction, r.Status, r.StartedAt, r.Duration, r.Wait = employee, dir, status, at, talk, wait
		return r
	}
	in, out := callevent.Inbound, callevent.Outbound
	mid := t0.Add(time.Hour)
	recs := []match.CallRecord{
		rec(acme, "u1", in, callevent.Success, from, time.Minute, 10*time.Second),
		rec(acme, "u1", in, callevent.Success, mid, 30*time.Second, 21*time.Second),
		rec(acme, "u1", in, callevent.Missed, mid, 0, 0),
		rec(acme, "u1", out, callevent.Success, mid, 100*time.Second, 3*time.Second),
		rec(acme, "u1", out, callevent.Busy, mid, 0, 0),
		rec(acme, "u1", callevent.Internal, callevent.Success, mid, time.Hour, 0),
		rec(acme, "u2", in, callevent.Missed, from.Add(-time.Nanosecond), 0, 0),
		rec(acme, "u2", in, callevent.Success, to, time.Minute, time.Second),
		rec(acme, "u2", in, callevent.Success, to.Add(-time.Microsecond), 5*time.Second, 5*time.Second),
		rec(acme, "", in, callevent.Missed, mid, 0, 0),
		rec(globex, "u1", in, callevent.Success, mid, time.Minute, time.Second),
	}
	var want match.StatsCounter
	for _, r := range recs {
		require.NoError(t, s.LogCall(ctx, r))
		if r.Account == acme && !r.StartedAt.Before(from) && r.StartedAt.Before(to) {
			want.Add(r)
		}
	}
	got, err := cs.CallStats(ctx, acme, from, to)
	require.NoError(t, err)
	diff(t, []match.EmployeeStats{
		{Employee: "", CallCounts: match.CallCounts{Missed: 1}},
		{Employee: "u1", CallCounts: match.CallCounts{Answered: 2, Missed: 1, Outbound: 2, TalkTime: 190 * time.Second, AverageWait: 15*time.Second + 500*time.Millisecond}},
		{Employee: "u2", CallCounts: match.CallCounts{Answered: 1, TalkTime: 5 * time.Second, AverageWait: 5 * time.Second}},
	}, got, "the statistics of the day")
	diff(t, want.Stats(), got, "as StatsCounter counts")
	got, err = cs.CallStats(ctx, acme, to, to.Add(time.Hour))
	require.NoError(t, err)
	diff(t, []match.EmployeeStats{{Employee: "u2", CallCounts: match.CallCounts{Answered: 1, TalkTime: time.Minute, AverageWait: time.Second}}}, got, "the next hour")
}
