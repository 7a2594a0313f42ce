package match

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/callbridge/callbridge/phone"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

// TestSalebotMatchingOrder checks the resolver against Salebot's order
// (seed 001).
func TestSalebotMatchingOrder(t *testing.T) {
	t.Parallel()
	const p = "79161234567"
	byVar := Client{ID: "v1", Account: acct, Name: "by variable", Phone: "79990000001", Fields: map[string]string{"mobile": "8 (916) 123-45-67"}}
	byVar2 := Client{ID: "v2", Account: acct, Name: "by variable too", Fields: map[string]string{"a": "x", "z": "+7 916 1234567"}}
	tel := Client{ID: "t1", Account: acct, Name: "telephony", Phone: "+79161234567"}
	tests := []struct {
		name       string
		clients    []Client
		phone      string
		create     *NewClient
		wantID     string
		wantMatch  MatchKind
		wantOthers []string
		wantChan   Channel
	}{
		{"telephony client wins over a variable match", []Client{byVar, tel}, p, nil, "t1", MatchPhone, nil, ChannelTelephony},
		{"variable match, first in order wins, others reported", []Client{byVar, byVar2}, "+7 (916) 123-45-67", nil, "v1", MatchField, []string{"v2"}, ChannelTelephony},
		{"no match, no create", []Client{byVar}, "79160000000", nil, "", MatchNone, nil, ""},
		{"no match: messenger client when the account has a messenger", nil, "8 916 123 45 67",
			&NewClient{Name: "new", Messenger: ChannelWhatsApp}, "c1", MatchCreated, nil, ChannelWhatsApp},
		{"no match: telephony client otherwise", nil, p, &NewClient{Name: "new"}, "c1", MatchCreated, nil, ChannelTelephony},
		{"a match is never created again", []Client{tel}, p, &NewClient{Name: "new"}, "t1", MatchPhone, nil, ChannelTelephony},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewMemoryStore("RU")
			require.NoError(t, err)
			require.NoError(t, s.AddClients(tt.clients...))
			r, err := NewResolver(s, "RU")
			require.NoError(t, err)
			res, err := r.Resolve(t.Context(), acct, tt.phone, tt.create)
			require.NoError(t, err)
			require.Equal(t, tt.wantMatch, res.Match)
			require.Equal(t, tt.wantID, res.Client.ID)
			require.Equal(t, tt.wantOthers, res.Others)
			require.Equal(t, tt.wantChan, res.Client.Channel)
			if tt.wantMatch == MatchCreated {
				require.Equal(t, p, res.Client.Phone)
				require.True(t, res.Client.CreatedFromCall)
			}
		})
	}
}

func TestResolveEquivalentForms(t *testing.T) {
	t.Parallel()
	s, err := NewMemoryStore("RU")
	require.NoError(t, err)
	r, err := NewResolver(s, "RU")
	require.NoError(t, err)
	first, err := r.Resolve(t.Context(), acct, "8 916 123-45-67", &NewClient{Name: "x"})
	require.NoError(t, err)
	require.Equal(t, MatchCreated, first.Match)
	for _, form := range []string{"+79161234567", "79161234567", "8 (916) 123 45 67", "tel:+7-916-123-45-67"} {
		res, err := r.Resolve(t.Context(), acct, form, &NewClient{Name: "x"})
		require.NoError(t, err)
		require.Equal(t, MatchPhone, res.Match, form)
		require.Equal(t, first.Client.ID, res.Client.ID, form)
	}
	// Accounts are separate tenants.
	other, err := r.Resolve(t.Context(), "other", "79161234567", nil)
	require.NoError(t, err)
	require.False(t, other.Found())

	for _, bad := range []struct {
		in   string
		want error
	}{{"", phone.ErrAnonymous}, {"101", phone.ErrInternal}, {"12ab", phone.ErrInvalid}} {
		_, err := r.Resolve(t.Context(), acct, bad.in, &NewClient{})
		require.ErrorIs(t, err, bad.want, bad.in)
	}
	require.Len(t, s.Clients(), 1)
}

// slowStore holds every CreateClient until gate is closed, so concurrent
// resolutions overlap; entered receives a value per CreateClient call.
type slowStore struct {
	*MemoryStore
	gate    chan struct{}
	entered chan struct{}
}

func (s *slowStore) CreateClient(ctx context.Context, c Client) (Client, error) {
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	<-s.gate
	return s.MemoryStore.CreateClient(ctx, c)
}

// failingStore fails chosen operations while fail is set.
type failingStore struct {
	*MemoryStore
	mu   sync.Mutex
	fail map[string]bool
}

var errStoreDown = errors.New("store down")

func (s *failingStore) check(op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail[op] {
		return errStoreDown
	}
	return nil
}

func (s *failingStore) set(op string, fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[op] = fail
}

func (s *failingStore) LogCall(ctx context.Context, r CallRecord) error {
	if err := s.check("LogCall"); err != nil {
		return err
	}
	return s.MemoryStore.LogCall(ctx, r)
}

func (s *failingStore) FindClientByPhone(ctx context.Context, a, p string) (Client, bool, error) {
	if err := s.check("Find"); err != nil {
		return Client{}, false, err
	}
	return s.MemoryStore.FindClientByPhone(ctx, a, p)
}

func TestMemoryStoreFieldIndex(t *testing.T) {
	t.Parallel()
	s, err := NewMemoryStore("RU")
	require.NoError(t, err)
	require.NoError(t, s.AddClients(
		Client{ID: "a", Fields: map[string]string{"x": "+79161234567", "y": "8 916 123-45-67", "note": "hello"}},
		Client{ID: "b", Fields: map[string]string{"x": "79161234567"}},
		Client{ID: "c", Phone: "79161234567"},
	))
	got, err := s.FindClientsByField(t.Context(), "", "79161234567", 8)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, ids(got), "each client once, in creation order")
	got, err = s.FindClientsByField(t.Context(), "", "79161234567", 1)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, ids(got))

	require.ErrorContains(t, s.AddClients(Client{ID: "a"}), "already exists")
	many := map[string]string{}
	for i := range MaxClientFields + 1 {
		many[string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	require.ErrorIs(t, s.AddClients(Client{Fields: many}), ErrTooLarge)
	require.ErrorIs(t, s.AddClients(Client{Name: string(make([]byte, MaxValueLen+1))}), ErrTooLarge)
	require.Error(t, s.AddClients(Client{Phone: "not a phone"}))
	if diff := cmp.Diff([]string{"a", "b", "c"}, ids(s.Clients())); diff != "" {
		t.Error(diff)
	}
}

func ids(cs []Client) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// heldFind holds the first FindClientByPhone's (empty) answer until
// release is closed, so another resolution can create the client in
// between; held is closed once that first lookup is being held.
type heldFind struct {
	*MemoryStore
	calls   atomic.Int32
	held    chan struct{}
	release chan struct{}
}

func (s *heldFind) FindClientByPhone(ctx context.Context, account, phone string) (Client, bool, error) {
	c, ok, err := s.MemoryStore.FindClientByPhone(ctx, account, phone)
	if s.calls.Add(1) == 1 {
		close(s.held)
		<-s.release
	}
	return c, ok, err
}

// TestResolveAsksAgainInsideTheFlight: a resolution whose first lookup
// found nothing, but which enters its flight after another one created the
// client, asks the store again and does not create a second client.
func TestResolveAsksAgainInsideTheFlight(t *testing.T) {
	t.Parallel()
	s, err := NewMemoryStore("RU")
	require.NoError(t, err)
	store := &heldFind{MemoryStore: s, held: make(chan struct{}), release: make(chan struct{})}
	r, err := NewResolver(store, "RU")
	require.NoError(t, err)

	type result struct {
		res Resolution
		err error
	}
	late := make(chan result, 1)
	go func() {
		res, err := r.Resolve(context.Background(), acct, "+79165550000", &NewClient{Name: "late"})
		late <- result{res, err}
	}()
	<-store.held // the late resolution has looked and found nothing
	first, err := r.Resolve(context.Background(), acct, "+79165550000", &NewClient{Name: "first"})
	require.NoError(t, err)
	require.Equal(t, MatchCreated, first.Match)
	close(store.release)
	got := <-late
	require.NoError(t, got.err)
	require.Equal(t, first.Client.ID, got.res.Client.ID, "the late resolution found the client instead of creating one")
	require.NotEqual(t, MatchCreated, got.res.Match)
	require.Len(t, s.Clients(), 1)
}
