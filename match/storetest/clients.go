package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
)

// testCreateClient: CreateClient assigns an ID when it is empty, keeps a
// given one, returns the client as stored, and FindClientByPhone finds it.
func testCreateClient(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()

	in := match.Client{
		Account: acme, Name: "Anna", Phone: phone1, Channel: match.ChannelWhatsApp,
		Responsible: "u1", CreatedFromCall: true, Tags: []string{"74951234567", "vip"},
		Fields:    map[string]string{"work_phone": "+7 916 123-45-68", "note": "hello"},
		CreatedAt: t0,
	}
	got, err := s.CreateClient(ctx, in)
	require.NoError(t, err)
	require.NotEmpty(t, got.ID, "an empty ID gets one from the store")
	want := in
	want.ID = got.ID
	diff(t, want, got, "CreateClient returns the client as stored")

	found, ok, err := s.FindClientByPhone(ctx, acme, phone1)
	require.NoError(t, err)
	require.True(t, ok, "FindClientByPhone finds the created client")
	diff(t, got, found, "FindClientByPhone")

	_, ok, err = s.FindClientByPhone(ctx, acme, phone2)
	require.NoError(t, err)
	assert.False(t, ok, "a phone only in a field is not the client's phone")
	_, ok, err = s.FindClientByPhone(ctx, acme, phone3)
	require.NoError(t, err)
	assert.False(t, ok, "unknown phone")

	given, err := s.CreateClient(ctx, match.Client{ID: "crm-42", Account: acme, Name: "Boris", Phone: phone3, CreatedAt: t0})
	require.NoError(t, err)
	assert.Equal(t, "crm-42", given.ID, "a given ID is kept")
	assert.NotEqual(t, got.ID, given.ID)

	// Clients without a phone are distinct clients, and "" finds none.
	a, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "no phone 1"})
	require.NoError(t, err)
	b, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "no phone 2"})
	require.NoError(t, err)
	assert.NotEqual(t, a.ID, b.ID, "clients without a phone are not merged")
	_, ok, err = s.FindClientByPhone(ctx, acme, "")
	require.NoError(t, err)
	assert.False(t, ok, `FindClientByPhone("") finds no client`)

	diff(t, sorted([]match.Client{got, given, a, b}, clientKey), sorted(h.Clients(t, s, acme), clientKey), "Clients")
}

// testCreateClientDefaults: an empty Channel is stored as telephony and a
// zero CreatedAt is stamped (in UTC).
func testCreateClientDefaults(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	got, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Anna", Phone: phone1})
	require.NoError(t, err)
	assert.Equal(t, match.ChannelTelephony, got.Channel, "an empty Channel is telephony")
	assert.True(t, got.CreatedAt.After(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), "a zero CreatedAt is stamped now, got %v", got.CreatedAt)
	assert.True(t, got.CreatedAt.Location() == time.UTC, "CreatedAt %v is not in UTC", got.CreatedAt)

	found, ok, err := s.FindClientByPhone(ctx, acme, phone1)
	require.NoError(t, err)
	require.True(t, ok)
	diff(t, got, found, "the defaults are stored")
}

// testCreateClientNormalisesPhone: the store normalises the phone with
// phone.Normalize, so another spelling of one number is the same client; a
// phone that is not a number is an error.
func testCreateClientNormalisesPhone(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	got, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Anna", Phone: "+7 (916) 123-45-67"})
	require.NoError(t, err)
	assert.Equal(t, phone1, got.Phone, "the phone is stored normalised")
	found, ok, err := s.FindClientByPhone(ctx, acme, phone1)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, got.ID, found.ID)

	again, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Anna again", Phone: "+79161234567"})
	require.NoError(t, err)
	assert.Equal(t, got.ID, again.ID, "another spelling of the phone is the same client")

	_, err = s.CreateClient(ctx, match.Client{Account: acme, Name: "Bad", Phone: "not a phone"})
	require.Error(t, err, "a phone that is not a number")
	assert.Len(t, h.Clients(t, s, acme), 1)
}

// testCreateClientCopiesInput: the store keeps its own copy of the
// client's Tags and Fields, so the caller may reuse its values.
func testCreateClientCopiesInput(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	in := match.Client{Account: acme, Phone: phone1, Tags: []string{"a"}, Fields: map[string]string{"k": "v"}}
	got, err := s.CreateClient(ctx, in)
	require.NoError(t, err)
	in.Tags[0] = "changed"
	in.Fields["k"] = "changed"
	in.Fields["new"] = "+7 916 123-45-68"

	found, ok, err := s.FindClientByPhone(ctx, acme, phone1)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, []string{"a"}, found.Tags)
	assert.Equal(t, map[string]string{"k": "v"}, found.Fields)
	assert.Equal(t, []string{"a"}, got.Tags, "the returned client is the stored one")
	byField, err := s.FindClientsByField(ctx, acme, phone2, 10)
	require.NoError(t, err)
	assert.Empty(t, byField, "a field added by the caller afterwards is not indexed")
}

// testClientIDUniqueInAccount: a given ID already taken in the account is
// an error and stores nothing; the same ID in another account is fine.
func testClientIDUniqueInAccount(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	_, err := s.CreateClient(ctx, match.Client{ID: "x", Account: acme, Name: "first", Phone: phone1})
	require.NoError(t, err)
	_, err = s.CreateClient(ctx, match.Client{ID: "x", Account: acme, Name: "second", Phone: phone2})
	require.Error(t, err, "an ID taken in the account")
	_, ok, err := s.FindClientByPhone(ctx, acme, phone2)
	require.NoError(t, err)
	assert.False(t, ok, "the refused client is not stored")

	other, err := s.CreateClient(ctx, match.Client{ID: "x", Account: globex, Name: "other", Phone: phone2})
	require.NoError(t, err, "IDs are unique within an account only")
	assert.Equal(t, "x", other.ID)
	assert.Equal(t, globex, other.Account)
	assert.Len(t, h.Clients(t, s, acme), 1)
	assert.Len(t, h.Clients(t, s, globex), 1)
}

// testClientLimits: a client over match's limits is refused with
// match.ErrTooLarge and nothing of it is stored.
func testClientLimits(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	tags := make([]string, match.MaxClientTags+1)
	for i := range tags {
		tags[i] = "t"
	}
	_, err := s.CreateClient(ctx, match.Client{Account: acme, Phone: phone1, Tags: tags})
	require.ErrorIs(t, err, match.ErrTooLarge)
	_, ok, err := s.FindClientByPhone(ctx, acme, phone1)
	require.NoError(t, err)
	assert.False(t, ok, "the refused client is not stored")
	assert.Empty(t, h.Clients(t, s, acme))
}

// testOnePhoneOneClient: CreateClient for a phone that already has a
// client in the account returns that client and creates nothing, whatever
// the new client's ID and other values.
func testOnePhoneOneClient(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	first, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "first", Phone: phone1, Responsible: "u1", CreatedAt: t0})
	require.NoError(t, err)

	for _, c := range []match.Client{
		{Account: acme, Name: "second", Phone: phone1, Responsible: "u2"},
		{ID: "other", Account: acme, Name: "third", Phone: phone1, CreatedFromCall: true},
		{Account: acme, Name: "fourth", Phone: "+7 916 123 45 67"},
	} {
		got, err := s.CreateClient(ctx, c)
		require.NoError(t, err, "CreateClient(%q)", c.Name)
		diff(t, first, got, "CreateClient(%q) returns the existing client", c.Name)
	}
	diff(t, []match.Client{first}, h.Clients(t, s, acme), "one client for the phone")

	other, err := s.CreateClient(ctx, match.Client{Account: globex, Name: "globex", Phone: phone1})
	require.NoError(t, err)
	assert.Equal(t, "globex", other.Name, "the phone is unique per account, not across accounts")
	assert.Equal(t, globex, other.Account)
}

// testOnePhoneOneClientConcurrent: concurrent CreateClient calls for one
// phone create exactly one client and all return it.
func testOnePhoneOneClientConcurrent(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	got := make([]match.Client, concurrency)
	errs := make([]error, concurrency)
	parallel(concurrency, func(i int) {
		got[i], errs[i] = s.CreateClient(ctx, match.Client{Account: acme, Name: fmt.Sprintf("caller %d", i), Phone: phone1})
	})
	for i, err := range errs {
		require.NoError(t, err, "CreateClient %d", i)
	}
	returned := map[string]int{}
	for _, c := range got {
		returned[c.ID]++
	}
	require.Len(t, returned, 1, "every CreateClient returns the one client: IDs returned (ID → count) %v", returned)
	for i := range got {
		diff(t, got[0], got[i], "CreateClient %d returns the one client", i)
	}
	clients := h.Clients(t, s, acme)
	require.Len(t, clients, 1, "exactly one client for one phone after %d concurrent CreateClient", concurrency)
	diff(t, got[0], clients[0], "the stored client")
	found, ok, err := s.FindClientByPhone(ctx, acme, phone1)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, got[0].ID, found.ID)
}

// testFindOrCreateClient: a store that keeps one client per phone
// (match.UniquePhones) creates a client for a free phone (created true),
// returns the phone's client for a taken one (created false, nothing
// stored), always creates a client without a phone, and of concurrent
// calls for one phone exactly one creates.
func testFindOrCreateClient(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	u, ok := s.(match.UniquePhones)
	if !ok {
		t.Skip("the store does not implement match.UniquePhones")
	}
	first, created, err := u.FindOrCreateClient(ctx, match.Client{Account: acme, Name: "first", Phone: "+7 916 123-45-67", CreatedAt: t0})
	require.NoError(t, err)
	require.True(t, created, "a free phone: created")
	assert.Equal(t, phone1, first.Phone, "normalised")
	again, created, err := u.FindOrCreateClient(ctx, match.Client{Account: acme, Name: "second", Phone: phone1})
	require.NoError(t, err)
	assert.False(t, created, "a taken phone: found")
	diff(t, first, again, "the phone's client")
	for range 2 {
		_, created, err = u.FindOrCreateClient(ctx, match.Client{Account: acme, Name: "no phone"})
		require.NoError(t, err)
		assert.True(t, created, "a client without a phone is always created")
	}
	require.Len(t, h.Clients(t, s, acme), 3)

	got := make([]match.Client, concurrency)
	made := make([]bool, concurrency)
	errs := make([]error, concurrency)
	parallel(concurrency, func(i int) {
		got[i], made[i], errs[i] = u.FindOrCreateClient(ctx, match.Client{Account: acme, Name: fmt.Sprintf("caller %d", i), Phone: phone2})
	})
	n := 0
	for i, err := range errs {
		require.NoError(t, err, "FindOrCreateClient %d", i)
		diff(t, got[0], got[i], "FindOrCreateClient %d returns the one client", i)
		if made[i] {
			n++
		}
	}
	assert.Equal(t, 1, n, "of %d concurrent calls for one phone, one created", concurrency)
}

// testConcurrentClientsDistinct: concurrent CreateClient calls for
// different phones create one client each, with distinct generated IDs.
func testConcurrentClientsDistinct(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	got := make([]match.Client, concurrency)
	errs := make([]error, concurrency)
	phoneOf := func(i int) string { return fmt.Sprintf("7916000%04d", i) }
	parallel(concurrency, func(i int) {
		got[i], errs[i] = s.CreateClient(ctx, match.Client{Account: acme, Name: fmt.Sprintf("caller %d", i), Phone: phoneOf(i)})
	})
	seen := map[string]bool{}
	for i, err := range errs {
		require.NoError(t, err, "CreateClient %d", i)
		assert.False(t, seen[got[i].ID], "ID %q generated twice", got[i].ID)
		seen[got[i].ID] = true
		found, ok, err := s.FindClientByPhone(ctx, acme, phoneOf(i))
		require.NoError(t, err)
		require.True(t, ok, "client %d", i)
		assert.Equal(t, got[i].ID, found.ID)
	}
	diff(t, sorted(got, clientKey), sorted(h.Clients(t, s, acme), clientKey), "Clients")
}

// testFindClientsByField: the clients with a field value that normalises
// to the phone, each once, in creation order (not CreatedAt, not ID),
// at most limit; a client's own Phone is not a field.
func testFindClientsByField(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	var created []match.Client
	// The matching clients are created in the order m-first, z-second,
	// a-third: neither the order of their IDs nor of their CreatedAt.
	for _, c := range []match.Client{
		{ID: "m-first", CreatedAt: t0, Fields: map[string]string{"work": "+7 (916) 123-45-67", "mobile": "+79161234567", "note": "hello"}},
		{ID: "own-phone", Phone: phone1},
		{ID: "other-phone", Fields: map[string]string{"work": "+380 67 123 4567"}},
		{ID: "not-a-phone", Fields: map[string]string{"work": "call me maybe"}},
		{ID: "z-second", CreatedAt: t0.Add(-time.Hour), Phone: phone3, Fields: map[string]string{"whatsapp": "+7 916 123 45 67"}},
		{ID: "a-third", CreatedAt: t0.Add(time.Hour), Fields: map[string]string{"x": "+7-916-123-45-67"}},
	} {
		c.Account = acme
		c.Name = c.ID
		got, err := s.CreateClient(ctx, c)
		require.NoError(t, err)
		created = append(created, got)
	}
	byID := map[string]match.Client{}
	for _, c := range created {
		byID[c.ID] = c
	}

	for _, tc := range []struct {
		phone string
		limit int
		want  []string
	}{
		{phone1, 10, []string{"m-first", "z-second", "a-third"}},
		{phone1, 3, []string{"m-first", "z-second", "a-third"}},
		{phone1, 2, []string{"m-first", "z-second"}},
		{phone1, 1, []string{"m-first"}},
		{phone1, 0, nil},
		{phone3, 10, []string{"other-phone"}},
		{phone2, 10, nil},
	} {
		got, err := s.FindClientsByField(ctx, acme, tc.phone, tc.limit)
		require.NoError(t, err, "FindClientsByField(%s, %d)", tc.phone, tc.limit)
		diff(t, tc.want, ids(got), "FindClientsByField(%s, %d)", tc.phone, tc.limit)
		for _, c := range got {
			diff(t, byID[c.ID], c, "FindClientsByField returns the client as stored")
		}
	}
}

// testAccountsIsolated: an account sees none of another's clients, leads
// or fields.
func testAccountsIsolated(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	a, err := s.CreateClient(ctx, match.Client{ID: "a1", Account: acme, Name: "acme", Phone: phone1,
		Fields: map[string]string{"work": "+7 916 123-45-68"}})
	require.NoError(t, err)
	lead, err := s.CreateLead(ctx, match.Lead{Account: acme, ClientID: a.ID, Name: "deal", Status: "won", State: match.LeadWon})
	require.NoError(t, err)

	_, ok, err := s.FindClientByPhone(ctx, globex, phone1)
	require.NoError(t, err)
	assert.False(t, ok, "FindClientByPhone in another account")
	byField, err := s.FindClientsByField(ctx, globex, phone2, 10)
	require.NoError(t, err)
	assert.Empty(t, byField, "FindClientsByField in another account")
	leads, err := s.ClientLeads(ctx, globex, a.ID)
	require.NoError(t, err)
	assert.Empty(t, leads, "ClientLeads in another account")
	_, err = s.CreateLead(ctx, match.Lead{Account: globex, ClientID: a.ID, Name: "deal"})
	assert.Error(t, err, "CreateLead for another account's client")
	_, err = s.ReopenLead(ctx, globex, lead.ID, "reopened")
	assert.Error(t, err, "ReopenLead of another account's lead")
	assert.Empty(t, h.Clients(t, s, globex))

	g, err := s.CreateClient(ctx, match.Client{ID: "g1", Account: globex, Name: "globex", Phone: phone1})
	require.NoError(t, err)
	assert.Equal(t, "g1", g.ID, "the same phone in another account is another client")
	found, ok, err := s.FindClientByPhone(ctx, acme, phone1)
	require.NoError(t, err)
	require.True(t, ok)
	diff(t, a, found, "acme's client is unchanged")
	found, ok, err = s.FindClientByPhone(ctx, globex, phone1)
	require.NoError(t, err)
	require.True(t, ok)
	diff(t, g, found, "globex's client")
	leads, err = s.ClientLeads(ctx, acme, a.ID)
	require.NoError(t, err)
	diff(t, []match.Lead{lead}, leads, "acme's leads are unchanged")
}

// testFindClient: a store that finds clients by id (match.ClientGetter)
// finds the client of the account with that id, and no other.
func testFindClient(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	g, ok := s.(match.ClientGetter)
	if !ok {
		t.Skip("the store does not implement match.ClientGetter")
	}
	c, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Ann", Phone: phone1})
	require.NoError(t, err)
	_, err = s.CreateClient(ctx, match.Client{Account: globex, ID: "g1", Name: "Bob", Phone: phone2})
	require.NoError(t, err)
	got, found, err := g.FindClient(ctx, acme, c.ID)
	require.NoError(t, err)
	require.True(t, found)
	diff(t, c, got, "the client by its id")
	for _, tc := range []struct{ account, id string }{{acme, "g1"}, {globex, c.ID}, {acme, "nobody"}, {acme, ""}} {
		_, found, err := g.FindClient(ctx, tc.account, tc.id)
		require.NoError(t, err)
		require.False(t, found, "%s %q", tc.account, tc.id)
	}
}

// testSetClientFields: a store that sets client fields (match.
// ClientUpdater) merges them, removes those set to "", keeps the field
// phones findable, holds the limits and refuses an unknown client.
func testSetClientFields(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	u, ok := s.(match.ClientUpdater)
	if !ok {
		t.Skip("the store does not implement match.ClientUpdater")
	}
	c, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Ann", Phone: phone1, Fields: map[string]string{"note": "vip", "mobile": phone2}})
	require.NoError(t, err)
	require.NoError(t, u.SetClientFields(ctx, acme, c.ID, map[string]string{"megafon_call_id": "mf1", "mobile": "", "office": phone3}))
	got := sorted(h.Clients(t, s, acme), clientKey)
	require.Len(t, got, 1)
	diff(t, map[string]string{"note": "vip", "megafon_call_id": "mf1", "office": phone3}, got[0].Fields, "merged, the emptied one removed")
	found, err := s.FindClientsByField(ctx, acme, phone3, 8)
	require.NoError(t, err)
	require.Len(t, found, 1, "a phone set in a field is found")
	found, err = s.FindClientsByField(ctx, acme, phone2, 8)
	require.NoError(t, err)
	require.Empty(t, found, "a removed field's phone is not")

	big := map[string]string{}
	for i := range match.MaxClientFields + 1 {
		big[fmt.Sprint("f", i)] = "x"
	}
	require.ErrorIs(t, u.SetClientFields(ctx, acme, c.ID, big), match.ErrTooLarge)
	require.Error(t, u.SetClientFields(ctx, acme, "nobody", map[string]string{"a": "b"}))
	require.Error(t, u.SetClientFields(ctx, globex, c.ID, map[string]string{"a": "b"}), "another account's client")
}

// testReassign: a store that hands clients and leads over (match.
// Reassigner) changes their responsible, and refuses ones it does not
// have or of another account.
func testReassign(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	r, ok := s.(match.Reassigner)
	ls, okLeads := s.(match.LeadStore)
	if !ok || !okLeads {
		t.Skip("the store does not implement match.Reassigner and match.LeadStore")
	}
	c, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Ann", Phone: phone1, Responsible: "u1"})
	require.NoError(t, err)
	l, err := ls.CreateLead(ctx, match.Lead{Account: acme, ClientID: c.ID, Name: "Входящий", Status: "new", Responsible: "u1"})
	require.NoError(t, err)
	require.NoError(t, r.SetClientResponsible(ctx, acme, c.ID, "u2"))
	require.NoError(t, r.SetLeadResponsible(ctx, acme, l.ID, "u2"))
	got, found, err := s.FindClientByPhone(ctx, acme, phone1)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "u2", got.Responsible, "the client's responsible")
	leads, err := ls.ClientLeads(ctx, acme, c.ID)
	require.NoError(t, err)
	require.Len(t, leads, 1)
	require.Equal(t, "u2", leads[0].Responsible, "the lead's responsible")

	require.Error(t, r.SetClientResponsible(ctx, acme, "nobody", "u2"))
	require.Error(t, r.SetClientResponsible(ctx, globex, c.ID, "u2"), "another account's client")
	require.Error(t, r.SetLeadResponsible(ctx, acme, "nobody", "u2"))
	require.Error(t, r.SetLeadResponsible(ctx, globex, l.ID, "u2"), "another account's lead")
}

// testDialog: a store that keeps dialogs (match.Dialog) keeps each note
// once, in order, per client, and refuses a client it does not have.
func testDialog(t *testing.T, h Harness) {
	s, ctx := h.New(t), t.Context()
	dl, ok := s.(match.Dialog)
	if !ok || h.DialogNotes == nil {
		t.Skip("the store does not implement match.Dialog")
	}
	c, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Ann", Phone: phone1})
	require.NoError(t, err)
	other, err := s.CreateClient(ctx, match.Client{Account: acme, Name: "Bob", Phone: phone2})
	require.NoError(t, err)
	notes := []match.DialogNote{
		{Provider: "megafon", CallID: "mf1", Text: "megafon_call_event ACCEPTED", At: t0},
		{Provider: "megafon", CallID: "mf1", Text: "megafon_call_status Success", At: t0.Add(time.Minute)},
	}
	require.NoError(t, dl.AddDialogNotes(ctx, acme, c.ID, notes))
	require.NoError(t, dl.AddDialogNotes(ctx, acme, c.ID, notes[1:])) // again: kept once
	require.NoError(t, dl.AddDialogNotes(ctx, acme, c.ID, []match.DialogNote{{Provider: "megafon", CallID: "mf2", Text: "megafon_call_status Busy", At: t0}}))
	diff(t, append(notes, match.DialogNote{Provider: "megafon", CallID: "mf2", Text: "megafon_call_status Busy", At: t0}),
		h.DialogNotes(t, s, acme, c.ID), "each note once, in order")
	require.Empty(t, h.DialogNotes(t, s, acme, other.ID))
	require.Error(t, dl.AddDialogNotes(ctx, acme, "nobody", notes))
}
