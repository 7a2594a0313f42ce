package amocrm_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

func TestClientID(t *testing.T) {
	t.Parallel()
	require.Equal(t, "123", amocrm.ClientID(amocrm.EntityContacts, 123))
	require.Equal(t, "company:123", amocrm.ClientID(amocrm.EntityCompanies, 123))
	for in, want := range map[string]struct {
		entity amocrm.EntityType
		id     int64
		ok     bool
	}{
		"123":         {amocrm.EntityContacts, 123, true},
		"company:123": {amocrm.EntityCompanies, 123, true},
		"":            {},
		"0":           {},
		"-5":          {},
		"company:":    {},
		"company:0":   {},
		"company:x":   {},
		"Company:123": {},
		"lead:123":    {},
		"123abc":      {},
	} {
		entity, id, ok := amocrm.ParseClientID(in)
		require.Equal(t, want.entity, entity, in)
		require.Equal(t, want.id, id, in)
		require.Equal(t, want.ok, ok, in)
	}
}

// The Client's company calls against the fake: search (204 is empty),
// get (204 is ErrNotFound), create, update, custom fields.
func TestClientCompanies(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	c := newTokenClient(t, srv)
	ctx := t.Context()

	found, err := c.SearchCompanies(ctx, "9163333333", 0)
	require.NoError(t, err)
	require.Empty(t, found, "204")

	made, err := c.CreateCompanies(ctx, []amocrm.Company{{Name: "ООО Ромашка", ResponsibleUserID: op2,
		CustomFields: []amocrm.CustomField{amocrm.PhoneField("79163333333")}, Embedded: &amocrm.Embedded{Tags: amocrm.Tags("опт")}}})
	require.NoError(t, err)
	require.Len(t, made, 1)
	id := made[0].ID
	lead := srv.AddLead(amocrmtest.Lead{Name: "Сделка", CompanyIDs: []int64{id}})

	found, err = c.SearchCompanies(ctx, "9163333333", 0)
	require.NoError(t, err)
	require.Len(t, found, 1)
	co := found[0]
	require.Equal(t, "ООО Ромашка", co.Name)
	require.True(t, co.HasPhone("8 (916) 333-33-33"))
	require.Equal(t, []string{"+79163333333"}, co.Phones())
	require.Equal(t, []int64{lead}, co.LeadIDs())
	require.Equal(t, []string{"опт"}, co.TagNames())
	require.EqualValues(t, op2, co.ResponsibleUserID)

	got, err := c.Company(ctx, id)
	require.NoError(t, err)
	require.Equal(t, []int64{lead}, got.LeadIDs())
	_, err = c.Company(ctx, 999999)
	require.ErrorIs(t, err, amocrm.ErrNotFound)
	require.ErrorContains(t, err, "company 999999")

	_, err = c.UpdateCompanies(ctx, []amocrm.Company{{ID: id, Name: "ООО Ромашка+"}})
	require.NoError(t, err)
	require.Equal(t, "ООО Ромашка+", srv.Companies()[0].Name)
	_, err = c.UpdateCompanies(ctx, []amocrm.Company{{Name: "no id"}})
	require.ErrorContains(t, err, "every company needs an ID")

	defs, err := c.CompanyCustomFields(ctx)
	require.NoError(t, err)
	var codes []string
	for _, d := range defs {
		codes = append(codes, d.Code)
	}
	require.Equal(t, []string{"PHONE", "EMAIL", "WEB", "ADDRESS"}, codes)
	require.Equal(t, 1, srv.Count("GET", "/api/v4/companies/custom_fields"))
	srv.Fail(amocrmtest.Failure{Path: "/api/v4/companies/custom_fields", Status: http.StatusInternalServerError, Times: 4})
	_, err = c.CompanyCustomFields(ctx)
	require.ErrorContains(t, err, "amocrm: companies' custom fields, page 1")
}

// newCompanyStore is a Store over a fake with a contact (1002, Иван
// Петров, +79161111111) and a company with the same id (1002, ООО
// Ромашка, +79163333333, responsible op2), as amoCRM's separate
// sequences allow.
func newCompanyStore(t *testing.T, opts ...amocrm.StoreOption) (*amocrm.Store, *amocrmtest.Server) {
	t.Helper()
	st, srv := newStore(t, opts...)
	require.EqualValues(t, 1002, srv.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+79161111111"}, ResponsibleUserID: op1}))
	srv.AddCompany(amocrmtest.Company{ID: 1002, Name: "ООО Ромашка", Phones: []string{"+7 (916) 333-33-33"}, ResponsibleUserID: op2,
		Fields: map[string]string{"Web": "https://romashka.example"}, Tags: []string{"опт"}, CreatedAt: startUnix})
	return st, srv
}

// A company's number finds the company, as a client whose id is
// "company:<id>"; a contact with the number wins, and then companies are
// not searched.
func TestStoreFindsCompanies(t *testing.T) {
	t.Parallel()
	t.Run("the company's number", func(t *testing.T) {
		t.Parallel()
		st, srv := newCompanyStore(t)
		c, found, err := st.FindClientByPhone(t.Context(), acct, "79163333333")
		require.NoError(t, err)
		require.True(t, found)
		want := match.Client{ID: "company:1002", Account: acct, Name: "ООО Ромашка", Phone: "79163333333", Channel: match.ChannelTelephony,
			Responsible: "8375358", Tags: []string{"опт"}, CreatedAt: time.Unix(startUnix, 0).UTC(),
			Fields: map[string]string{"PHONE": "+7 (916) 333-33-33", "WEB": "https://romashka.example"}}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("client (-want +got):\n%s", diff)
		}
		require.Equal(t, []string{search("9163333333"), searchCompanies("9163333333")}, requests(srv))
	})
	t.Run("a contact with the number wins", func(t *testing.T) {
		t.Parallel()
		st, srv := newCompanyStore(t)
		srv.AddContact(amocrmtest.Contact{Name: "Секретарь", Phones: []string{"+79163333333"}})
		c, found, err := st.FindClientByPhone(t.Context(), acct, "79163333333")
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, "1003", c.ID)
		require.Zero(t, srv.Count("GET", "/api/v4/companies"), "companies are not searched")
	})
	t.Run("another field: contacts, then companies", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		srv.AddCompany(amocrmtest.Company{ID: 5, Name: "Филиал", Fields: map[string]string{"Доп. телефон": "89165555555"}})
		srv.AddContact(amocrmtest.Contact{ID: 7, Name: "Бухгалтер", Fields: map[string]string{"Доп. телефон": "+7 916 555-55-55"}})
		found, err := st.FindClientsByField(t.Context(), acct, "79165555555", 5)
		require.NoError(t, err)
		var ids []string
		for _, c := range found {
			ids = append(ids, c.ID)
		}
		require.Equal(t, []string{"7", "company:5"}, ids)
		_, ok, err := st.FindClientByPhone(t.Context(), acct, "79165555555")
		require.NoError(t, err)
		require.False(t, ok, "no PHONE field holds it")
		require.Equal(t, 1, srv.Count("GET", "/api/v4/companies"), "one cached search")
	})
	t.Run("a failed company search is an error, not \"not found\"", func(t *testing.T) {
		t.Parallel()
		st, srv := newCompanyStore(t)
		srv.Fail(amocrmtest.Failure{Method: "GET", Path: "/api/v4/companies", Status: http.StatusInternalServerError, Times: 4})
		_, _, err := st.FindClientByPhone(t.Context(), acct, "79163333333")
		require.ErrorContains(t, err, "amocrm: search companies")
	})
}

// A company created after a lookup is found by a later one as soon as a
// contact would be: the "not found" answer is cached DefaultNotFoundTTL
// for both.
func TestStoreFindsCompanyCreatedAfterLookup(t *testing.T) {
	t.Parallel()
	now := time.Unix(startUnix, 0)
	st, srv := newStore(t, amocrm.WithClock(func() time.Time { return now }))
	find := func(phone string) (match.Client, bool) {
		t.Helper()
		c, ok, err := st.FindClientByPhone(t.Context(), acct, phone)
		require.NoError(t, err)
		return c, ok
	}
	_, ok := find("79163333333")
	require.False(t, ok)
	_, ok = find("79161111111")
	require.False(t, ok)
	srv.AddCompany(amocrmtest.Company{Name: "ООО Ромашка", Phones: []string{"+79163333333"}})
	srv.AddContact(amocrmtest.Contact{Name: "Иван", Phones: []string{"+79161111111"}})

	now = now.Add(amocrm.DefaultNotFoundTTL - time.Second)
	_, ok = find("79163333333")
	require.False(t, ok, "the cached answer")
	_, ok = find("79161111111")
	require.False(t, ok, "the cached answer")

	now = now.Add(time.Second)
	co, ok := find("79163333333")
	require.True(t, ok, "the company, as soon as the contact")
	require.True(t, strings.HasPrefix(co.ID, amocrm.CompanyIDPrefix), co.ID)
	_, ok = find("79161111111")
	require.True(t, ok)
}

// A company client works wherever a contact does, on the company: its
// leads, a lead linked to it, a reopened lead, dialog notes, fields and
// the call note when amoCRM's /calls finds no card.
func TestStoreCompanyClient(t *testing.T) {
	t.Parallel()
	const co = "company:1002"

	t.Run("leads", func(t *testing.T) {
		t.Parallel()
		st, srv := newCompanyStore(t)
		lost := srv.AddLead(amocrmtest.Lead{Name: "Старая", StatusID: amocrm.StatusLost, CompanyIDs: []int64{1002}, CreatedAt: 100})
		srv.AddLead(amocrmtest.Lead{Name: "Иван's", ContactIDs: []int64{1002}, CreatedAt: 200}) // the contact with the same id

		leads, err := st.ClientLeads(t.Context(), acct, co)
		require.NoError(t, err)
		require.Len(t, leads, 1)
		require.Equal(t, match.Lead{ID: itoa(lost), Account: acct, ClientID: co, Name: "Старая", Pipeline: "7249526", Status: "143",
			State: match.LeadLost, CreatedAt: time.Unix(100, 0).UTC()}, leads[0])
		require.Equal(t, 1, srv.Count("GET", "/api/v4/companies/1002"), "the company read with its leads")

		l, err := st.CreateLead(t.Context(), match.Lead{Account: acct, ClientID: co, Name: "Новая", Responsible: "8375358"})
		require.NoError(t, err)
		got := srv.Leads()[2]
		require.Equal(t, []int64{1002}, got.CompanyIDs)
		require.Empty(t, got.ContactIDs)
		require.Equal(t, `POST /api/v4/leads [{"_embedded":{"companies":[{"id":1002}]},"name":"Новая","request_id":"0","responsible_user_id":8375358}]`,
			requests(srv)[len(requests(srv))-1])

		before := len(srv.APIRequests())
		leads, err = st.ClientLeads(t.Context(), acct, co)
		require.NoError(t, err)
		require.Equal(t, []string{l.ID, itoa(lost)}, []string{leads[0].ID, leads[1].ID}, "the new lead, known without asking")
		require.Len(t, srv.APIRequests(), before)

		r, err := st.ReopenLead(t.Context(), acct, itoa(lost), itoa(amocrmtest.StatusFirst))
		require.NoError(t, err)
		require.Equal(t, co, r.ClientID, "the reopened lead's client is the company")

		_, err = st.ClientLeads(t.Context(), acct, "company:999999")
		require.ErrorIs(t, err, amocrm.ErrNotFound)
		_, err = st.ClientLeads(t.Context(), acct, "company:x")
		require.ErrorContains(t, err, "not an amoCRM contact or company id")
	})
	t.Run("a call amoCRM cannot place is a note on the company", func(t *testing.T) {
		t.Parallel()
		st, srv := newStore(t)
		srv.AddCompany(amocrmtest.Company{ID: 1002, Name: "A", Phones: []string{"+380441234567"}}) // amoCRM cannot match the phone
		rec := match.CallRecord{Provider: "telphin", Account: acct, CallID: "c1", Direction: callevent.Inbound, Status: callevent.Success,
			ClientID: co, ClientPhone: "79161111111", Employee: "8375357", Duration: 61 * time.Second, StartedAt: time.Unix(startUnix, 0)}
		require.NoError(t, st.LogCall(t.Context(), rec))
		calls := srv.Calls()
		require.Len(t, calls, 1)
		require.Equal(t, "companies 1002 call_in", calls[0].Entity+" "+itoa(calls[0].EntityID)+" "+calls[0].NoteType)
	})
	t.Run("dialog notes", func(t *testing.T) {
		t.Parallel()
		st, srv := newCompanyStore(t)
		notes := []match.DialogNote{{Provider: "telphin", CallID: "c1", Text: "telphin_call_event ACCEPTED", At: time.Unix(startUnix, 0)}}
		require.NoError(t, st.AddDialogNotes(t.Context(), acct, co, notes))
		require.NoError(t, st.AddDialogNotes(t.Context(), acct, co, notes))
		require.Equal(t, []amocrmtest.TextNote{{Entity: "companies", EntityID: 1002, Text: "telphin_call_event ACCEPTED"}}, srv.TextNotes())
		require.ErrorContains(t, st.AddDialogNotes(t.Context(), acct, "company:", notes), "not a contact or company id")
	})
	t.Run("fields", func(t *testing.T) {
		t.Parallel()
		// A contact field of the same name, and a contact mapping, do not
		// count for a company.
		st, srv := newCompanyStore(t, amocrm.WithContactFields(map[string]int64{"megafon_call_ext": 2001}))
		srv.AddContactField(amocrmtest.Field{ID: 2001, Name: "megafon_call_id"})
		srv.AddCompanyField(amocrmtest.Field{ID: 3001, Name: "megafon_call_id"})
		c, _, err := st.FindClientByPhone(t.Context(), acct, "79163333333")
		require.NoError(t, err)

		err = st.SetClientFields(t.Context(), acct, co, map[string]string{"megafon_call_id": "mf1", "megafon_call_ext": "101"})
		require.ErrorIs(t, err, amocrm.ErrUnknownField)
		require.ErrorContains(t, err, `company 1002: "megafon_call_ext" (no company custom field has this code or name): make company custom fields`)
		require.Equal(t, `PATCH /api/v4/companies [{"custom_fields_values":[{"field_id":3001,"values":[{"value":"mf1"}]}],"id":1002,"request_id":"0"}]`,
			requests(srv)[len(requests(srv))-1])
		require.Equal(t, 2, srv.Count("GET", "/api/v4/companies/custom_fields"), "listed, and again once for the missing key")
		require.Zero(t, srv.Count("GET", "/api/v4/contacts/custom_fields"))
		require.Equal(t, "mf1", srv.Companies()[0].Fields["megafon_call_id"])
		require.Empty(t, srv.Contacts()[0].Fields, "nothing on the contact with the same id")

		c, _, err = st.FindClientByPhone(t.Context(), acct, "79163333333")
		require.NoError(t, err)
		require.Equal(t, "mf1", c.Fields["megafon_call_id"], "the cached company carries the written value")
	})
}
