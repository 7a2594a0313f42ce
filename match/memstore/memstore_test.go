package memstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/match/memstore"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

func TestFieldIndex(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	require.NoError(t, err)
	require.NoError(t, s.AddClients(
		match.Client{ID: "a", Fields: map[string]string{"x": "+79161234567", "y": "8 916 123-45-67", "note": "hello"}},
		match.Client{ID: "b", Fields: map[string]string{"x": "79161234567"}},
		match.Client{ID: "c", Phone: "79161234567"},
	))
	got, err := s.FindClientsByField(t.Context(), "", "79161234567", 8)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, ids(got), "each client once, in creation order")
	got, err = s.FindClientsByField(t.Context(), "", "79161234567", 1)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, ids(got))

	require.ErrorContains(t, s.AddClients(match.Client{ID: "a"}), "already exists")
	many := map[string]string{}
	for i := range match.MaxClientFields + 1 {
		many[string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	require.ErrorIs(t, s.AddClients(match.Client{Fields: many}), match.ErrTooLarge)
	require.ErrorIs(t, s.AddClients(match.Client{Name: string(make([]byte, match.MaxValueLen+1))}), match.ErrTooLarge)
	require.Error(t, s.AddClients(match.Client{Phone: "not a phone"}))
	if diff := cmp.Diff([]string{"a", "b", "c"}, ids(s.Clients())); diff != "" {
		t.Error(diff)
	}
}

func ids(cs []match.Client) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestListing(t *testing.T) {
	t.Parallel()
	s, err := memstore.New(memstore.WithMaxCalls(3), memstore.WithMaxNotifications(2), memstore.SingleTenant())
	require.NoError(t, err)
	n, err := s.LoadClients("ignored", strings.NewReader(`[
	  {"id":"1","name":"Anna","phone":"8 916 123-45-67","responsible":"u1"},
	  {"id":"2","name":"Boris","phone":"+380 67 123 4567","responsible":"u2"}]`))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	c, ok, err := s.FindClientByPhone(t.Context(), "any account", "79161234567")
	require.NoError(t, err)
	require.True(t, ok, "single tenant: found from any account")
	require.Equal(t, "1", c.ID)
	_, err = s.LoadClients("", strings.NewReader(`[{"id":"3","phone":"not a phone"}]`))
	require.ErrorContains(t, err, `client 0 ("3")`)
	_, err = s.LoadClients("", strings.NewReader(`[{"id":"3","nmae":"typo"}]`))
	require.ErrorContains(t, err, "unknown field")

	for i, at := range []int{3, 1, 4, 2} {
		require.NoError(t, s.LogCall(t.Context(), match.CallRecord{Provider: "p", Account: "a", CallID: string(rune('a' + i)),
			StartedAt: t0.Add(time.Duration(at) * time.Minute)}))
	}
	// The oldest logged ("a") was evicted; an update replaces in place.
	require.NoError(t, s.LogCall(t.Context(), match.CallRecord{Provider: "p", Account: "a", CallID: "c", StartedAt: t0, ClientID: "1"}))
	var got []string
	for _, r := range s.Calls() {
		got = append(got, r.CallID)
	}
	require.Equal(t, []string{"d", "b", "c"}, got, "newest first")

	for _, e := range []string{"x", "y", "z"} {
		require.NoError(t, s.Notify(t.Context(), match.Notification{Employee: e}))
	}
	notes := s.Notifications()
	require.Len(t, notes, 2)
	require.Equal(t, "y", notes[0].Employee)
	require.Equal(t, "z", notes[1].Employee)
}

// TestOptions: the country and the clock are the store's; a bad one is an
// error of New.
func TestOptions(t *testing.T) {
	t.Parallel()
	clock := matchtest.NewClock(t0)
	s, err := memstore.New(memstore.WithDefaultCountry("UA"), memstore.WithClock(clock))
	require.NoError(t, err)
	require.NoError(t, s.AddClients(match.Client{ID: "k", Phone: "044 123 45 67"}))
	c, ok := s.Client("", "k")
	require.True(t, ok)
	require.Equal(t, "380441234567", c.Phone, "a national number is read in the store's country")
	require.Equal(t, t0, c.CreatedAt, "stamped by the store's clock")

	_, err = memstore.New(memstore.WithDefaultCountry("XX"))
	require.Error(t, err)
	_, err = memstore.New(memstore.WithClock(nil))
	require.ErrorContains(t, err, "nil clock")
	_, err = memstore.New(nil)
	require.ErrorContains(t, err, "option 1 is nil")
}

// TestLeadsWithoutClient: leads without a client are listed by Leads with
// their normalised phone, read in the store's country, found by
// PhoneLeads from any account of a single-tenant store, and AddLeads
// takes them as CreateLead does.
func TestLeadsWithoutClient(t *testing.T) {
	t.Parallel()
	s, err := memstore.New(memstore.WithDefaultCountry("UA"), memstore.SingleTenant())
	require.NoError(t, err)
	require.NoError(t, s.AddClients(match.Client{ID: "c", Phone: "+7 916 123-45-67"}))
	require.NoError(t, s.AddLeads(
		match.Lead{ID: "a", Account: "phonet", Phone: "067 123 45 67", Name: "missed"},
		match.Lead{ID: "b", Account: "phonet", ClientID: "c", Phone: "067 123 45 67", Name: "the client's"},
		match.Lead{ID: "d", Account: "telphin", Phone: "+380 (67) 123-45-67", Name: "answered"},
	))
	var got []string
	for _, l := range s.Leads() {
		got = append(got, l.ID+" "+l.ClientID+" "+l.Phone)
	}
	require.Equal(t, []string{"a  380671234567", "b c ", "d  380671234567"}, got, "Leads: every lead in creation order")

	leads, err := s.PhoneLeads(t.Context(), "any account", "380671234567")
	require.NoError(t, err)
	require.Len(t, leads, 2)
	require.Equal(t, "d", leads[0].ID, "single tenant: newest first from any account")
	require.Equal(t, "a", leads[1].ID)

	err = s.AddLeads(match.Lead{ID: "e", Phone: "не номер"})
	require.ErrorContains(t, err, "memstore: lead phone")
	require.ErrorIs(t, s.AddLeads(match.Lead{ID: "f"}), memstore.ErrNotFound, "neither a client nor a phone")
	require.Len(t, s.Leads(), 3, "the refused leads are not stored")
}
