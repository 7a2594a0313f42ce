package match_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/callbridge/callbridge/phone"
	"github.com/stretchr/testify/require"
)

// TestSalebotMatchingOrder checks the resolver against Salebot's order
// (seed 001).
func TestSalebotMatchingOrder(t *testing.T) {
	t.Parallel()
	const p = "79161234567"
	byVar := match.Client{ID: "v1", Account: acct, Name: "by variable", Phone: "79990000001", Fields: map[string]string{"mobile": "8 (916) 123-45-67"}}
	byVar2 := match.Client{ID: "v2", Account: acct, Name: "by variable too", Fields: map[string]string{"a": "x", "z": "+7 916 1234567"}}
	tel := match.Client{ID: "t1", Account: acct, Name: "telephony", Phone: "+79161234567"}
	tests := []struct {
		name       string
		clients    []match.Client
		phone      string
		create     *match.NewClient
		wantID     string
		wantMatch  match.MatchKind
		wantOthers []string
		wantChan   match.Channel
	}{
		{"telephony client wins over a variable match", []match.Client{byVar, tel}, p, nil, "t1", match.MatchPhone, nil, match.ChannelTelephony},
		{"variable match, first in order wins, others reported", []match.Client{byVar, byVar2}, "+7 (916) 123-45-67", nil, "v1", match.MatchField, []string{"v2"}, match.ChannelTelephony},
		{"no match, no create", []match.Client{byVar}, "79160000000", nil, "", match.MatchNone, nil, ""},
		{"no match: messenger client when the account has a messenger", nil, "8 916 123 45 67",
			&match.NewClient{Name: "new", Messenger: match.ChannelWhatsApp}, "c1", match.MatchCreated, nil, match.ChannelWhatsApp},
		{"no match: telephony client otherwise", nil, p, &match.NewClient{Name: "new"}, "c1", match.MatchCreated, nil, match.ChannelTelephony},
		{"a match is never created again", []match.Client{tel}, p, &match.NewClient{Name: "new"}, "t1", match.MatchPhone, nil, match.ChannelTelephony},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := memstore.New()
			require.NoError(t, err)
			require.NoError(t, s.AddClients(tt.clients...))
			r, err := match.NewResolver(s, "RU")
			require.NoError(t, err)
			res, err := r.Resolve(t.Context(), acct, tt.phone, tt.create)
			require.NoError(t, err)
			require.Equal(t, tt.wantMatch, res.Match)
			require.Equal(t, tt.wantID, res.Client.ID)
			require.Equal(t, tt.wantOthers, res.Others)
			require.Equal(t, tt.wantChan, res.Client.Channel)
			if tt.wantMatch == match.MatchCreated {
				require.Equal(t, p, res.Client.Phone)
				require.True(t, res.Client.CreatedFromCall)
			}
		})
	}
}

func TestResolveEquivalentForms(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	require.NoError(t, err)
	r, err := match.NewResolver(s, "RU")
	require.NoError(t, err)
	first, err := r.Resolve(t.Context(), acct, "8 916 123-45-67", &match.NewClient{Name: "x"})
	require.NoError(t, err)
	require.Equal(t, match.MatchCreated, first.Match)
	for _, form := range []string{"+79161234567", "79161234567", "8 (916) 123 45 67", "tel:+7-916-123-45-67"} {
		res, err := r.Resolve(t.Context(), acct, form, &match.NewClient{Name: "x"})
		require.NoError(t, err)
		require.Equal(t, match.MatchPhone, res.Match, form)
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
		_, err := r.Resolve(t.Context(), acct, bad.in, &match.NewClient{})
		require.ErrorIs(t, err, bad.want, bad.in)
	}
	require.Len(t, s.Clients(), 1)
}

// slowStore holds every CreateClient until gate is closed, so concurrent
// resolutions overlap; entered receives a value per CreateClient call.
type slowStore struct {
	*memstore.Store
	gate    chan struct{}
	entered chan struct{}
}

func (s *slowStore) CreateClient(ctx context.Context, c match.Client) (match.Client, error) {
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	<-s.gate
	return s.Store.CreateClient(ctx, c)
}

// failingStore fails chosen operations while fail is set.
type failingStore struct {
	*memstore.Store
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

func (s *failingStore) LogCall(ctx context.Context, r match.CallRecord) error {
	if err := s.check("LogCall"); err != nil {
		return err
	}
	return s.Store.LogCall(ctx, r)
}

func (s *failingStore) FindClientByPhone(ctx context.Context, a, p string) (match.Client, bool, error) {
	if err := s.check("Find"); err != nil {
		return match.Client{}, false, err
	}
	return s.Store.FindClientByPhone(ctx, a, p)
}

// heldFind holds the first FindClientByPhone's (empty) answer until
// release is closed, so another resolution can create the client in
// between; held is closed once that first lookup is being held.
type heldFind struct {
	*memstore.Store
	calls   atomic.Int32
	held    chan struct{}
	release chan struct{}
}

func (s *heldFind) FindClientByPhone(ctx context.Context, account, phone string) (match.Client, bool, error) {
	c, ok, err := s.Store.FindClientByPhone(ctx, account, phone)
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
	s, err := memstore.New()
	require.NoError(t, err)
	store := &heldFind{Store: s, held: make(chan struct{}), release: make(chan struct{})}
	r, err := match.NewResolver(store, "RU")
	require.NoError(t, err)

	type result struct {
		res match.Resolution
		err error
	}
	late := make(chan result, 1)
	go func() {
		res, err := r.Resolve(context.Background(), acct, "+79165550000", &match.NewClient{Name: "late"})
		late <- result{res, err}
	}()
	<-store.held // the late resolution has looked and found nothing
	first, err := r.Resolve(context.Background(), acct, "+79165550000", &match.NewClient{Name: "first"})
	require.NoError(t, err)
	require.Equal(t, match.MatchCreated, first.Match)
	close(store.release)
	got := <-late
	require.NoError(t, got.err)
	require.Equal(t, first.Client.ID, got.res.Client.ID, "the late resolution found the client instead of creating one")
	require.NotEqual(t, match.MatchCreated, got.res.Match)
	require.Len(t, s.Clients(), 1)
}

// countingFind counts a store's lookups.
type countingFind struct {
	*memstore.Store
	byPhone, byField atomic.Int32
}

func (s *countingFind) FindClientByPhone(ctx context.Context, account, phone string) (match.Client, bool, error) {
	s.byPhone.Add(1)
	return s.Store.FindClientByPhone(ctx, account, phone)
}

func (s *countingFind) FindClientsByField(ctx context.Context, account, phone string, limit int) ([]match.Client, error) {
	s.byField.Add(1)
	return s.Store.FindClientsByField(ctx, account, phone, limit)
}

// TestResolveUnknownNumberLookups: creating the client of an unknown number
// looks it up by field once (the look before creating asks the number only,
// which is what a concurrent resolution would have created), and by number
// twice.
func TestResolveUnknownNumberLookups(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	require.NoError(t, err)
	store := &countingFind{Store: s}
	r, err := match.NewResolver(store, "RU")
	require.NoError(t, err)
	res, err := r.Resolve(context.Background(), acct, "+79165550001", &match.NewClient{Name: "new"})
	require.NoError(t, err)
	require.Equal(t, match.MatchCreated, res.Match)
	require.EqualValues(t, 2, store.byPhone.Load())
	require.EqualValues(t, 1, store.byField.Load())

	res, err = r.Resolve(context.Background(), acct, "+79165550001", &match.NewClient{Name: "new"})
	require.NoError(t, err)
	require.Equal(t, match.MatchPhone, res.Match)
	require.EqualValues(t, 3, store.byPhone.Load(), "a known number is one lookup")
	require.EqualValues(t, 1, store.byField.Load())
}

// uniqueCounting is countingFind as a match.UniquePhones, which counts its
// FindOrCreateClient calls. stale makes its lookups miss, as those of an
// engine that looked just before another process created the client.
type uniqueCounting struct {
	countingFind
	mu      sync.Mutex
	stale   bool
	creates atomic.Int32
}

func (s *uniqueCounting) FindClientByPhone(ctx context.Context, account, phone string) (match.Client, bool, error) {
	c, ok, err := s.countingFind.FindClientByPhone(ctx, account, phone)
	return c, ok && !s.stale, err
}

func (s *uniqueCounting) FindClientsByField(ctx context.Context, account, phone string, limit int) ([]match.Client, error) {
	cs, err := s.countingFind.FindClientsByField(ctx, account, phone, limit)
	if s.stale {
		cs = nil
	}
	return cs, err
}

func (s *uniqueCounting) FindOrCreateClient(ctx context.Context, c match.Client) (match.Client, bool, error) {
	s.creates.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if got, ok, err := s.Store.FindClientByPhone(ctx, c.Account, c.Phone); err != nil || ok {
		return got, false, err
	}
	c, err := s.Store.CreateClient(ctx, c)
	return c, err == nil, err
}

// TestResolveUniquePhones: over a store that keeps one client per phone,
// the client of an unknown number is created in one step, without asking
// the number again (one lookup by number, one by field, one
// FindOrCreateClient); and a client the store finds there, created
// meanwhile elsewhere, is a match by phone, not a created one.
func TestResolveUniquePhones(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	require.NoError(t, err)
	store := &uniqueCounting{countingFind: countingFind{Store: s}}
	r, err := match.NewResolver(store, "RU")
	require.NoError(t, err)
	res, err := r.Resolve(context.Background(), acct, "+79165550002", &match.NewClient{Name: "new"})
	require.NoError(t, err)
	require.Equal(t, match.MatchCreated, res.Match)
	require.EqualValues(t, 1, store.byPhone.Load())
	require.EqualValues(t, 1, store.byField.Load())
	require.EqualValues(t, 1, store.creates.Load())

	store.stale = true
	again, err := r.Resolve(context.Background(), acct, "+79165550002", &match.NewClient{Name: "again"})
	require.NoError(t, err)
	require.Equal(t, match.MatchPhone, again.Match, "found by FindOrCreateClient: not created by this resolution")
	require.Equal(t, res.Client.ID, again.Client.ID)
	require.Len(t, s.Clients(), 1)
}
