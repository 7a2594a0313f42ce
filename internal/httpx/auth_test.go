package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tokenAuth is a test Authenticator + Reauthenticator with a numbered token.
type tokenAuth struct {
	mu        sync.Mutex
	token     int
	reauths   int
	failedHdr []string
	reauthErr error
}

func (a *tokenAuth) Authenticate(_ context.Context, req *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	req.Header.Set("Authorization", "Bearer t"+strconv.Itoa(a.token))
	return nil
}

func (a *tokenAuth) Reauthenticate(_ context.Context, failed *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reauths++
	a.failedHdr = append(a.failedHdr, failed.Header.Get("Authorization"))
	a.token++
	return a.reauthErr
}

func (a *tokenAuth) IsAuthFailure(resp *http.Response) bool {
	return resp.StatusCode == http.StatusUnauthorized
}

type recorded struct {
	auth, body string
}

func authServer(t *testing.T, cfg Config, accept func(auth string) bool) (*Client, *[]recorded, *sync.Mutex) {
	var mu sync.Mutex
	var reqs []recorded
	c, _ := setup(t, cfg, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, recorded{r.Header.Get("Authorization"), string(b)})
		mu.Unlock()
		if !accept(r.Header.Get("Authorization")) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_token"}`)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	return c, &reqs, &mu
}

func TestReauthenticateOnceAndReplay(t *testing.T) {
	t.Parallel()
	a := &tokenAuth{}
	c, reqs, _ := authServer(t, Config{Auth: a}, func(h string) bool { return h == "Bearer t1" })
	body := []byte(`{"from":"101","to":"79161234567"}`)
	var out struct{ OK bool }
	_, err := c.JSON(t.Context(), &Request{Method: http.MethodPost, Path: "calls", Body: body, ContentType: "application/json"}, &out)
	require.NoError(t, err)
	require.True(t, out.OK)
	require.Equal(t, 1, a.reauths)
	require.Equal(t, []string{"Bearer t0"}, a.failedHdr, "Reauthenticate gets the failed request")
	require.Equal(t, []recorded{{"Bearer t0", string(body)}, {"Bearer t1", string(body)}}, *reqs, "one replay with the same body")
}

func TestReauthenticateNoLoop(t *testing.T) {
	t.Parallel()
	a := &tokenAuth{}
	c, reqs, _ := authServer(t, Config{Auth: a}, func(string) bool { return false })
	_, err := c.Do(t.Context(), &Request{Method: http.MethodPost, Path: "calls", Body: []byte("x")})
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusUnauthorized, ae.StatusCode)
	require.Equal(t, "invalid_token", ae.Message)
	require.Equal(t, 1, a.reauths)
	require.Len(t, *reqs, 2)
}

func TestReauthenticateError(t *testing.T) {
	t.Parallel()
	a := &tokenAuth{reauthErr: errors.New("refresh failed: refresh_token=SECRET")}
	c, reqs, _ := authServer(t, Config{Auth: a}, func(string) bool { return false })
	_, err := c.Do(t.Context(), &Request{Path: "x"})
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "reauthenticate", re.Op)
	require.ErrorIs(t, err, a.reauthErr)
	require.NotContains(t, err.Error(), "SECRET")
	require.Len(t, *reqs, 1)
}

func TestAuthOnlyForBaseOrigin(t *testing.T) {
	t.Parallel()
	a := &tokenAuth{}
	var foreignAuth atomic.Value
	foreign, _ := setup(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		foreignAuth.Store(r.Header.Get("Authorization"))
	})
	c, _, _ := authServer(t, Config{Auth: a}, func(string) bool { return true })
	_, err := c.JSON(t.Context(), &Request{Path: foreign.base.String() + "rec.mp3"}, nil)
	require.NoError(t, err)
	require.Equal(t, "", foreignAuth.Load(), "credentials not sent to another origin")
}

// IsAuthFailure may classify a 2xx (e.g. a login page after a redirect).
type loginPageAuth struct{ tokenAuth }

func (a *loginPageAuth) IsAuthFailure(resp *http.Response) bool {
	return resp.StatusCode == http.StatusForbidden || strings.HasSuffix(resp.Request.URL.Path, "/login")
}

func TestAuthFailureOnRedirectToLogin(t *testing.T) {
	t.Parallel()
	a := &loginPageAuth{}
	var hits atomic.Int32
	c, _ := setup(t, Config{Auth: a}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/login" {
			_, _ = io.WriteString(w, "<html>login</html>")
			return
		}
		hits.Add(1)
		http.Redirect(w, r, "/api/login", http.StatusFound)
	})
	_, err := c.Do(t.Context(), &Request{Path: "users"})
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusOK, ae.StatusCode)
	require.Equal(t, "authentication failed", ae.Message)
	require.Equal(t, int32(2), hits.Load())
	require.Equal(t, 1, a.reauths)
}

type failingAuth struct{}

func (failingAuth) Authenticate(context.Context, *http.Request) error {
	return errors.New("no credentials for api_key=SECRET")
}

func TestAuthenticateError(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	c, _ := setup(t, Config{Auth: failingAuth{}}, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	_, err := c.Do(t.Context(), &Request{Path: "x"})
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "authenticate", re.Op)
	require.NotContains(t, err.Error(), "SECRET")
	require.Zero(t, hits.Load())
}

// TestCacheAuthConcurrent401 is the single-flight property end to end: many
// concurrent requests fail with the same stale token and cause one refresh.
func TestCacheAuthConcurrent401(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	var current atomic.Value
	current.Store("") // the server rejects everything until the first refresh
	cache := NewCredentialCache(func(ctx context.Context, prev string) (string, time.Time, error) {
		n := fetches.Add(1)
		time.Sleep(20 * time.Millisecond) // let every request observe the stale token
		tok := "fresh" + strconv.Itoa(int(n))
		current.Store("Bearer " + tok)
		return tok, time.Now().Add(time.Hour), nil
	})
	cache.Set("stale", time.Now().Add(time.Hour)) // e.g. loaded from storage, revoked server-side
	auth := &CacheAuth[string]{
		Cache: cache,
		Apply: func(req *http.Request, tok string) { req.Header.Set("Authorization", "Bearer "+tok) },
	}
	c, reqs, mu := authServer(t, Config{Auth: auth}, func(h string) bool { return h == current.Load() })

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.JSON(t.Context(), &Request{Path: "x"}, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int32(1), fetches.Load(), "exactly one refresh")
	mu.Lock()
	defer mu.Unlock()
	require.LessOrEqual(t, len(*reqs), 2*n)
}

// A failure reported late — by a request that carried the stale token,
// after the refresh already replaced it — must not throw the fresh token
// away: only the credential the failed request carried is invalidated.
// This is what keeps concurrent 401s to one refresh whatever the timing.
func TestCacheAuthLateFailureKeepsFreshToken(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	cache := NewCredentialCache(func(context.Context, string) (string, time.Time, error) {
		return "fresh" + strconv.Itoa(int(fetches.Add(1))), time.Now().Add(time.Hour), nil
	})
	auth := &CacheAuth[string]{
		Cache: cache,
		Apply: func(req *http.Request, tok string) { req.Header.Set("Authorization", "Bearer "+tok) },
	}
	stale := httptest.NewRequest(http.MethodGet, "/x", nil)
	auth.Apply(stale, "stale")
	cache.Set("fresh0", time.Now().Add(time.Hour)) // the refresh already happened

	require.NoError(t, auth.Reauthenticate(t.Context(), stale))
	tok, err := cache.Get(t.Context())
	require.NoError(t, err)
	require.Equal(t, "fresh0", tok, "the late failure left the fresh token alone")
	require.Zero(t, fetches.Load())

	current := httptest.NewRequest(http.MethodGet, "/x", nil)
	auth.Apply(current, "fresh0")
	require.NoError(t, auth.Reauthenticate(t.Context(), current))
	tok, err = cache.Get(t.Context())
	require.NoError(t, err)
	require.Equal(t, "fresh1", tok, "a failure with the current token refreshes it")
}

func TestAppliedTo(t *testing.T) {
	t.Parallel()
	bearer := func(r *http.Request, tok string) { r.Header.Set("Authorization", "Bearer "+tok) }
	cookie := func(r *http.Request, s string) { r.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: s}) }
	query := func(r *http.Request, k string) {
		q := r.URL.Query()
		q.Set("api_key", k)
		r.URL.RawQuery = q.Encode()
	}
	nothing := func(*http.Request, string) {}
	mk := func(raw string, h http.Header) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, raw, nil)
		for k, v := range h {
			r.Header[k] = v
		}
		return r
	}
	require.True(t, appliedTo(mk("https://x/", http.Header{"Authorization": {"Bearer t1"}}), "t1", bearer))
	require.False(t, appliedTo(mk("https://x/", http.Header{"Authorization": {"Bearer t10"}}), "t1", bearer))
	require.True(t, appliedTo(mk("https://x/", http.Header{"Cookie": {"lang=ru; JSESSIONID=s1"}}), "s1", cookie))
	require.False(t, appliedTo(mk("https://x/", http.Header{"Cookie": {"JSESSIONID=s2"}}), "s1", cookie))
	require.True(t, appliedTo(mk("https://x/?a=1&api_key=k1", nil), "k1", query))
	require.False(t, appliedTo(mk("https://x/?api_key=k2", nil), "k1", query))
	require.True(t, appliedTo(mk("https://x/", nil), "k1", nothing), "nothing to compare: invalidate")
}
