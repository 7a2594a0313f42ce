package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge/internal/httpx"
)

const (
	testID     = "app-id"
	testSecret = "s3cr3t-client-secret"
	testCode   = "one-time-code-123"
)

// fakeAuthServer is a token endpoint with rotating, single-use refresh
// tokens and a protected /api resource.
type fakeAuthServer struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	n         int
	access    map[string]bool // valid access tokens
	refresh   map[string]bool // unspent refresh tokens
	codes     map[string]bool
	grants    map[string]int // token requests per grant_type
	expiresIn int
	fail      []int            // statuses to answer token requests with, consumed in order
	seen      func(tok string) // called with every access token /api accepts
	keepRT    bool             // refresh answers omit refresh_token; the old one stays valid
	rtSent    []string         // refresh tokens received, in order
}

func newFakeAuthServer(t *testing.T) *fakeAuthServer {
	f := &fakeAuthServer{t: t, access: map[string]bool{}, refresh: map[string]bool{},
		codes: map[string]bool{testCode: true}, grants: map[string]int{}, expiresIn: 3600}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", f.token)
	mux.HandleFunc("GET /api", f.api)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAuthServer) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	grant := r.PostFormValue("grant_type")
	f.grants[grant]++
	if len(f.fail) > 0 {
		st := f.fail[0]
		f.fail = f.fail[1:]
		w.WriteHeader(st)
		// Echo the request like a careless server: nothing secret may leak from it.
		fmt.Fprintf(w, `{"error":"server_error","error_description":"bad request %s"}`, r.Form.Encode())
		return
	}
	if r.PostFormValue("client_id") != testID || r.PostFormValue("client_secret") != testSecret {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	issueRefresh := false
	switch grant {
	case "client_credentials":
	case "authorization_code":
		if !f.codes[r.PostFormValue("code")] {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		delete(f.codes, r.PostFormValue("code"))
		issueRefresh = true
	case "refresh_token":
		rt := r.PostFormValue("refresh_token")
		f.rtSent = append(f.rtSent, rt)
		if !f.refresh[rt] {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		if !f.keepRT {
			delete(f.refresh, rt) // single use: rotation
			issueRefresh = true
		}
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	f.n++
	at := fmt.Sprintf("at-%d", f.n)
	f.access[at] = true
	body := fmt.Sprintf(`{"access_token":%q,"token_type":"Bearer","expires_in":%d,"scope":"all"`, at, f.expiresIn)
	if issueRefresh {
		rt := fmt.Sprintf("rt-%d", f.n)
		f.refresh[rt] = true
		body += fmt.Sprintf(`,"refresh_token":%q`, rt)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, body+"}")
}

func (f *fakeAuthServer) api(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	ok := f.access[tok]
	seen := f.seen
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"message":"Unauthorized"}`)
		return
	}
	if seen != nil {
		seen(tok)
	}
	fmt.Fprint(w, `{"ok":true}`)
}

func (f *fakeAuthServer) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.access)
}

func (f *fakeAuthServer) grantCount(g string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grants[g]
}

func (f *fakeAuthServer) spend(rt string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.refresh, rt)
}

// memStore is a TokenStore recording saves; failSaves makes the next saves fail.
type memStore struct {
	mu        sync.Mutex
	tok       *oauth2.Token
	saved     []string // access tokens in save order
	failSaves int
	loads     int
}

func (m *memStore) Load(context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	return m.tok, nil
}

func (m *memStore) Save(_ context.Context, tok *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failSaves > 0 {
		m.failSaves--
		return errors.New("disk full")
	}
	m.tok = tok
	m.saved = append(m.saved, tok.AccessToken)
	return nil
}

func (m *memStore) isSaved(at string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.saved {
		if s == at {
			return true
		}
	}
	return false
}

func noWait(_, _ time.Duration, _ int, _ *http.Response) time.Duration { return 0 }

func newSource(t *testing.T, f *fakeAuthServer, grant Grant, store TokenStore) *Source {
	t.Helper()
	s, err := New(Config{
		TokenURL: f.srv.URL + "/oauth/token", ClientID: testID, ClientSecret: testSecret,
		RedirectURL: "https://crm.example/cb", Grant: grant, Store: store,
		HTTP: httpx.Config{HTTPClient: f.srv.Client(), Backoff: noWait},
	})
	require.NoError(t, err)
	return s
}

// apiClient is an httpx client authenticating with s, as a provider builds it.
func apiClient(t *testing.T, f *fakeAuthServer, s *Source) *httpx.Client {
	t.Helper()
	c, err := httpx.New(httpx.Config{BaseURL: f.srv.URL, HTTPClient: f.srv.Client(), Auth: s, Secrets: s.Secrets, Backoff: noWait})
	require.NoError(t, err)
	return c
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	ok := Config{TokenURL: "https://x.example/oauth/token", ClientID: "a", ClientSecret: "b", Grant: GrantClientCredentials}
	tests := map[string]func(c *Config){
		"no client id":            func(c *Config) { c.ClientID = "" },
		"no secret":               func(c *Config) { c.ClientSecret = "" },
		"no grant":                func(c *Config) { c.Grant = 0 },
		"relative token url":      func(c *Config) { c.TokenURL = "/oauth/token" },
		"auth code without store": func(c *Config) { c.Grant = GrantAuthorizationCode },
	}
	for name, mut := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := ok
			mut(&c)
			_, err := New(c)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "b\"")
		})
	}
	_, err := New(ok)
	require.NoError(t, err)
}

func TestConcurrentTokenOneRequest(t *testing.T) {
	t.Parallel()
	f := newFakeAuthServer(t)
	s := newSource(t, f, GrantClientCredentials, nil)
	var wg sync.WaitGroup
	toks := make([]string, 100)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := s.Token(t.Context())
			if err == nil {
				toks[i] = tok.AccessToken
			}
		}()
	}
	wg.Wait()
	for _, tok := range toks {
		require.Equal(t, "at-1", tok)
	}
	require.Equal(t, 1, f.grantCount("client_credentials"))
	tok, err := s.Token(t.Context())
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)
	require.Equal(t, "all", tok.Extra("scope"))
}

// Many requests fail with the same stale token: exactly one refresh, and
// every request is replayed with the new token.
func TestStaleTokenOneRefresh(t *testing.T) {
	t.Parallel()
	for _, grant := range []Grant{GrantClientCredentials, GrantAuthorizationCode} {
		t.Run(fmt.Sprint(grant), func(t *testing.T) {
			t.Parallel()
			f := newFakeAuthServer(t)
			store := &memStore{}
			s := newSource(t, f, grant, store)
			if grant == GrantAuthorizationCode {
				_, err := s.Exchange(t.Context(), testCode)
				require.NoError(t, err)
			}
			c := apiClient(t, f, s)
			_, err := c.JSON(t.Context(), &httpx.Request{Path: "/api"}, nil)
			require.NoError(t, err)
			f.revokeAll() // the token expires server-side before its expiry

			var wg sync.WaitGroup
			var failed atomic.Int32
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := c.JSON(context.Background(), &httpx.Request{Path: "/api"}, nil); err != nil {
						failed.Add(1)
					}
				}()
			}
			wg.Wait()
			require.Zero(t, failed.Load())
			total := f.grantCount("client_credentials") + f.grantCount("authorization_code") + f.grantCount("refresh_token")
			require.Equal(t, 2, total, "initial token + exactly one refresh")
			if grant == GrantAuthorizationCode {
				require.Equal(t, 1, f.grantCount("refresh_token"))
			}
		})
	}
}

func TestInvalidateKeepsNewerToken(t *testing.T) {
	t.Parallel()
	f := newFakeAuthServer(t)
	s := newSource(t, f, GrantClientCredentials, nil)
	t1, err := s.Token(t.Context())
	require.NoError(t, err)
	s.Invalidate(t1)
	t2, err := s.Token(t.Context())
	require.NoError(t, err)
	require.NotEqual(t, t1.AccessToken, t2.AccessToken)
	s.Invalidate(t1) // stale: t2 stays
	t3, err := s.Token(t.Context())
	require.NoError(t, err)
	require.Equal(t, t2.AccessToken, t3.AccessToken)
	require.Equal(t, 2, f.grantCount("client_credentials"))
}

// Refresh tokens rotate and are single-use: each new token reaches the
// store before it is used, and the next refresh spends the new one.
func TestRotatingRefreshTokens(t *testing.T) {
	t.Parallel()
	f := newFakeAuthServer(t)
	store := &memStore{}
	var unsavedUse atomic.Int32
	f.seen = func(tok string) {
		if !store.isSaved(tok) {
			unsavedUse.Add(1)
		}
	}
	s := newSource(t, f, GrantAuthorizationCode, store)
	c := apiClient(t, f, s)

	_, err := c.JSON(t.Context(), &httpx.Request{Path: "/api"}, nil)
	require.ErrorIs(t, err, ErrNoToken, "no token yet: authorization required")

	tok, err := s.Exchange(t.Context(), testCode)
	require.NoError(t, err)
	require.Equal(t, "rt-1", tok.RefreshToken)
	_, err = s.Exchange(t.Context(), testCode)
	require.ErrorIs(t, err, ErrInvalidGrant, "a code is single-use")
	require.NotContains(t, err.Error(), testCode)

	for i := 2; i <= 4; i++ {
		f.revokeAll()
		_, err := c.JSON(t.Context(), &httpx.Request{Path: "/api"}, nil)
		require.NoError(t, err)
		cur, err := s.Token(t.Context())
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("rt-%d", i), cur.RefreshToken)
	}
	require.Equal(t, 3, f.grantCount("refresh_token"))
	require.Equal(t, []string{"at-1", "at-2", "at-3", "at-4"}, store.saved)
	require.Zero(t, unsavedUse.Load(), "a token was used before it was saved")
}

// A refresh answer without refresh_token keeps the old refresh token: it
// is saved with the new access token and sent by the next refresh.
func TestRefreshAnswerWithoutRefreshToken(t *testing.T) {
	t.Parallel()
	f := newFakeAuthServer(t)
	store := &memStore{}
	s := newSource(t, f, GrantAuthorizationCode, store)
	c := apiClient(t, f, s)
	tok, err := s.Exchange(t.Context(), testCode)
	require.NoError(t, err)
	require.Equal(t, "rt-1", tok.RefreshToken)

	f.mu.Lock()
	f.keepRT = true
	f.mu.Unlock()
	for i := 2; i <= 3; i++ {
		f.revokeAll()
		_, err := c.JSON(t.Context(), &httpx.Request{Path: "/api"}, nil)
		require.NoError(t, err, "refresh %d", i)
		cur, err := s.Token(t.Context())
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("at-%d", i), cur.AccessToken)
		require.Equal(t, "rt-1", cur.RefreshToken, "the old refresh token is kept")
		stored, err := store.Load(t.Context())
		require.NoError(t, err)
		require.Equal(t, "rt-1", stored.RefreshToken, "and saved")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Equal(t, []string{"rt-1", "rt-1"}, f.rtSent, "the next refresh uses the old refresh token")
}

func TestRefreshRejected(t *testing.T) {
	t.Parallel()
	f := newFakeAuthServer(t)
	store := &memStore{}
	s := newSource(t, f, GrantAuthorizationCode, store)
	tok, err := s.Exchange(t.Context(), testCode)
	require.NoError(t, err)
	f.spend(tok.RefreshToken) // e.g. spent elsewhere
	s.Invalidate(tok)
	_, err = s.Token(t.Context())
	require.ErrorIs(t, err, ErrInvalidGrant)
	var ae *httpx.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusUnauthorized, ae.StatusCode)
	require.Equal(t, "invalid_grant", ae.Code)
	for _, secret := range []string{testSecret, tok.RefreshToken, tok.AccessToken} {
		require.NotContains(t, err.Error(), secret)
	}
}

// A failed Save keeps the token: the next use saves it first and uses it
// without spending another refresh token.
func TestSaveFailureKeepsToken(t *testing.T) {
	t.Parallel()
	f := newFakeAuthServer(t)
	store := &memStore{}
	s := newSource(t, f, GrantAuthorizationCode, store)
	t1, err := s.Exchange(t.Context(), testCode)
	require.NoError(t, err)
	s.Invalidate(t1)
	store.mu.Lock()
	store.failSaves = 1
	store.mu.Unlock()
	_, err = s.Token(t.Context())
	require.ErrorContains(t, err, "disk full")
	require.Equal(t, 1, f.grantCount("refresh_token"))

	t2, err := s.Token(t.Context())
	require.NoError(t, err)
	require.Equal(t, "rt-2", t2.RefreshToken)
	require.Equal(t, 1, f.grantCount("refresh_token"), "the saved-late token is used, not refreshed again")
	require.Equal(t, []string{"at-1", "at-2"}, store.saved)
}

// A token rotated by another process sharing the store is picked up.
func TestStoreSharedWithAnotherProcess(t *testing.T) {
	t.Parallel()
	f := newFakeAuthServer(t)
	store := &memStore{}
	a := newSource(t, f, GrantAuthorizationCode, store)
	b := newSource(t, f, GrantAuthorizationCode, store)
	ta, err := a.Exchange(t.Context(), testCode)
	require.NoError(t, err)
	tb, err := b.Token(t.Context()) // loaded, not fetched
	require.NoError(t, err)
	require.Equal(t, ta.AccessToken, tb.AccessToken)

	a.Invalidate(ta)
	ta2, err := a.Token(t.Context()) // spends rt-1, saves rt-2
	require.NoError(t, err)
	b.Invalidate(tb)
	tb2, err := b.Token(t.Context()) // must not spend rt-1 again
	require.NoError(t, err)
	require.Equal(t, ta2.AccessToken, tb2.AccessToken)
	require.Equal(t, 1, f.grantCount("refresh_token"))
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	t.Run("client credentials retried on 503", func(t *testing.T) {
		t.Parallel()
		f := newFakeAuthServer(t)
		f.fail = []int{http.StatusServiceUnavailable}
		s := newSource(t, f, GrantClientCredentials, nil)
		_, err := s.Token(t.Context())
		require.NoError(t, err)
		require.Equal(t, 2, f.grantCount("client_credentials"))
	})
	t.Run("refresh not retried on 503", func(t *testing.T) {
		t.Parallel()
		f := newFakeAuthServer(t)
		s := newSource(t, f, GrantAuthorizationCode, &memStore{})
		tok, err := s.Exchange(t.Context(), testCode)
		require.NoError(t, err)
		f.fail = []int{http.StatusServiceUnavailable}
		s.Invalidate(tok)
		_, err = s.Token(t.Context())
		var ae *httpx.APIError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, http.StatusServiceUnavailable, ae.StatusCode)
		require.Equal(t, 1, f.grantCount("refresh_token"))
		for _, secret := range []string{testSecret, tok.RefreshToken} {
			require.NotContains(t, err.Error(), secret)
			require.NotContains(t, string(ae.Body), secret)
		}
	})
}

func TestTokenResponseShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		wantErr    bool
		wantExp    bool
	}{
		{"string expires_in", `{"access_token":"a","expires_in":"3600"}`, false, true},
		{"no expires_in", `{"access_token":"a","token_type":"Bearer"}`, false, false},
		{"no access token", `{"token_type":"Bearer"}`, true, false},
		{"bad expires_in", `{"access_token":"a","expires_in":"soon"}`, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			s, err := New(Config{TokenURL: srv.URL + "/oauth/token", ClientID: testID, ClientSecret: testSecret,
				Grant: GrantClientCredentials, HTTP: httpx.Config{HTTPClient: srv.Client()}})
			require.NoError(t, err)
			tok, err := s.Token(t.Context())
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantExp, !tok.Expiry.IsZero())
		})
	}
}

// RedirectOnRefresh adds redirect_uri to refresh_token requests (amoCRM);
// without it the refresh form is unchanged (Telphin).
func TestRedirectOnRefresh(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var got []string // redirect_uri per grant, "grant=redirect"
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				n++
				got = append(got, r.PostFormValue("grant_type")+"="+r.PostFormValue("redirect_uri"))
				fmt.Fprintf(w, `{"access_token":"at-%d","refresh_token":"rt-%d","expires_in":3600}`, n, n)
			}))
			t.Cleanup(srv.Close)
			s, err := New(Config{TokenURL: srv.URL + "/oauth2/access_token", ClientID: testID, ClientSecret: testSecret,
				RedirectURL: "https://crm.example/cb", RedirectOnRefresh: on, Grant: GrantAuthorizationCode,
				Store: &memStore{}, HTTP: httpx.Config{HTTPClient: srv.Client(), Backoff: noWait}})
			require.NoError(t, err)
			tok, err := s.Exchange(t.Context(), testCode)
			require.NoError(t, err)
			s.Invalidate(tok)
			_, err = s.Token(t.Context())
			require.NoError(t, err)
			want := []string{"authorization_code=https://crm.example/cb", "refresh_token="}
			if on {
				want[1] = "refresh_token=https://crm.example/cb"
			}
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, want, got)
		})
	}
}

func TestTokenSourceGivesCopies(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"at","token_type":"bearer","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	s, err := New(Config{TokenURL: srv.URL + "/oauth/token", ClientID: "id", ClientSecret: "cs",
		Grant: GrantClientCredentials, HTTP: httpx.Config{HTTPClient: srv.Client()}})
	require.NoError(t, err)
	ts := s.TokenSource()
	tok, err := ts.Token()
	require.NoError(t, err)
	require.Equal(t, "at", tok.AccessToken)
	tok.AccessToken = "changed"
	again, err := ts.Token()
	require.NoError(t, err)
	require.Equal(t, "at", again.AccessToken, "a caller's change never reaches the cached token")
}

// Refresh renews a valid token once per call, also on a Source that has
// only loaded it from the store; a token it had to renew anyway (expired)
// is not renewed twice; a refused refresh token is ErrInvalidGrant.
func TestRefreshForced(t *testing.T) {
	t.Parallel()
	f := newFakeAuthServer(t)
	store := &memStore{}
	s := newSource(t, f, GrantAuthorizationCode, store)
	_, err := s.Refresh(t.Context())
	require.ErrorIs(t, err, ErrNoToken)
	_, err = s.Exchange(t.Context(), testCode)
	require.NoError(t, err)

	tok, err := s.Refresh(t.Context())
	require.NoError(t, err)
	require.Equal(t, "at-2", tok.AccessToken)
	require.Equal(t, 1, f.grantCount("refresh_token"))
	cur, err := s.Token(t.Context())
	require.NoError(t, err)
	require.Equal(t, "at-2", cur.AccessToken, "the renewed token is the one used")

	other := newSource(t, f, GrantAuthorizationCode, store) // a restart: the store's token
	tok, err = other.Refresh(t.Context())
	require.NoError(t, err)
	require.Equal(t, "at-3", tok.AccessToken)
	require.Equal(t, 2, f.grantCount("refresh_token"), "loaded, then renewed once")
	require.Equal(t, []string{"at-1", "at-2", "at-3"}, store.saved)

	f.mu.Lock()
	f.expiresIn = 0 // every token is born expired
	f.mu.Unlock()
	other.Invalidate(tok)
	_, err = other.Token(t.Context()) // at-4, expired at once
	require.NoError(t, err)
	require.Equal(t, 3, f.grantCount("refresh_token"))
	tok, err = other.Refresh(t.Context())
	require.NoError(t, err)
	require.Equal(t, "at-5", tok.AccessToken)
	require.Equal(t, 4, f.grantCount("refresh_token"), "an expired token is renewed once, not twice")

	f.spend(tok.RefreshToken)
	f.mu.Lock()
	f.expiresIn = 3600
	f.mu.Unlock()
	_, err = other.Refresh(t.Context())
	require.ErrorIs(t, err, ErrInvalidGrant)
}
