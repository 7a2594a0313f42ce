package amocrm_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
)

// Only amoCRM and Kommo account hosts are accepted as Credentials.Domain.
func TestDomainAccountHostsOnly(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"example.amocrm.ru":             "example.amocrm.ru",
		"https://Example.Kommo.com/":    "example.kommo.com",
		"HTTPS://ACME-1.AMOCRM.COM":     "acme-1.amocrm.com",
		" 12345.amocrm.ru ":             "12345.amocrm.ru",
		"http://shop-2024.amocrm.ru/":   "shop-2024.amocrm.ru",
		"a.kommo.com":                   "a.kommo.com",
		"x-y.amocrm.ru":                 "x-y.amocrm.ru",
		"subdomain0123456789.kommo.com": "subdomain0123456789.kommo.com",
	}
	for in, want := range good {
		c, err := amocrm.NewClient(amocrm.Credentials{Domain: in, LongLivedToken: "x"})
		require.NoError(t, err, in)
		require.Equal(t, want, c.Domain(), in)
	}
	for _, bad := range []string{
		"", "evil.example", "attacker.com:8443", "x.amocrm.ru.evil.com", "user@x.amocrm.ru",
		"evilamocrm.ru", "x.evilamocrm.ru", "amocrm.ru", ".amocrm.ru", "a.b.amocrm.ru", "www.amocrm.ru", "www.kommo.com",
		"x.amocrm.ru:443", "x.amocrm.ru/api", "x.amocrm.ru?x=1", "x.amocrm.ru#f", "x.amocrm.ru.", "x_y.amocrm.ru",
		"-x.amocrm.ru", "x-.kommo.com", "x.kommo.com.", "ex ample.amocrm.ru", "x.amocrm.ru%2f.evil.com", "xn--80a.amocrm.ru.evil",
		"ftp://x.amocrm.ru", "//x.amocrm.ru", "https://user:pw@x.amocrm.ru", "127.0.0.1", "[::1]", "x.amocrm.org",
		"x.kommo.co", "x.amocrm.ru\x00", "x.аmocrm.ru", // Cyrillic "а"
		strings.Repeat("a", 64) + ".amocrm.ru",
	} {
		_, err := amocrm.NewClient(amocrm.Credentials{Domain: bad, LongLivedToken: "x"})
		require.Error(t, err, "%q accepted", bad)
	}
}

// evilHost is a TLS server standing in for an attacker's host with a valid
// certificate; its client dials it whatever host a URL names, as DNS
// pointing the referer's host at the attacker would.
type evilHost struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func newEvilHost(t *testing.T) *evilHost {
	e := &evilHost{}
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		e.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"token_type":"Bearer","expires_in":86400,"access_token":"evil-at","refresh_token":"evil-rt"}`)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *evilHost) client() *http.Client {
	addr := e.srv.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the attacker's certificate is "valid"
	}}
}

// B1: the OAuth redirect's referer is attacker-controlled. The documented
// callback (ParseRedirect, then a Client for the referer, then Exchange)
// must never send the client secret and the code to a host other than an
// amoCRM/Kommo account.
func TestOAuthRefererAttack(t *testing.T) {
	t.Parallel()
	evil := newEvilHost(t)
	evilHostPort := evil.srv.Listener.Addr().String()
	const state = "kept-state"
	for _, referer := range []string{"evil.example", "attacker.com:8443", "x.amocrm.ru.evil.com", "user@x.amocrm.ru",
		evilHostPort, "https://evil.example/", "evilamocrm.ru", "x.amocrm.ru:8443"} {
		t.Run(referer, func(t *testing.T) {
			q := url.Values{"code": {"a-code"}, "state": {state}, "referer": {referer}}
			r := httptest.NewRequest(http.MethodGet, "https://pbx.example.com/amocrm/oauth?"+q.Encode(), nil)
			_, err := amocrm.ParseRedirect(r, state)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "a-code")

			// A callback that skips ParseRedirect and trusts the referer.
			creds := oauthCreds
			creds.Domain = referer
			c, err := amocrm.NewClient(creds, callbridge.WithTokenStore(&memTokens{}), callbridge.WithHTTPClient(evil.client()),
				noRetries())
			if err == nil {
				_, err = c.Exchange(t.Context(), "a-code")
			}
			require.Error(t, err)
		})
	}
	require.Zero(t, evil.hits.Load(), "the client secret reached the attacker's host")
}

func TestParseRedirect(t *testing.T) {
	t.Parallel()
	state, err := amocrm.NewState()
	require.NoError(t, err)
	req := func(q url.Values) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/amocrm/oauth?"+q.Encode(), nil)
	}
	got, err := amocrm.ParseRedirect(req(url.Values{"code": {"c1"}, "state": {state}, "referer": {"Example.Kommo.com"}}), state)
	require.NoError(t, err)
	require.Equal(t, amocrm.Redirect{Code: "c1", Domain: "example.kommo.com"}, got)

	for name, tc := range map[string]struct {
		q    url.Values
		kept string
		is   error
	}{
		"forged state":  {url.Values{"code": {"c1"}, "state": {"forged"}, "referer": {amocrmtest.Domain}}, state, amocrm.ErrStateMismatch},
		"no state":      {url.Values{"code": {"c1"}, "referer": {amocrmtest.Domain}}, state, amocrm.ErrStateMismatch},
		"nothing kept":  {url.Values{"code": {"c1"}, "state": {state}, "referer": {amocrmtest.Domain}}, "", amocrm.ErrStateMismatch},
		"both empty":    {url.Values{"code": {"c1"}, "state": {""}, "referer": {amocrmtest.Domain}}, "", amocrm.ErrStateMismatch},
		"denied":        {url.Values{"error": {"access_denied"}, "state": {state}, "referer": {amocrmtest.Domain}}, state, nil},
		"no code":       {url.Values{"state": {state}, "referer": {amocrmtest.Domain}}, state, nil},
		"no referer":    {url.Values{"code": {"c1"}, "state": {state}}, state, nil},
		"evil referer":  {url.Values{"code": {"c1"}, "state": {state}, "referer": {"evil.example"}}, state, nil},
		"forged + evil": {url.Values{"code": {"c1"}, "state": {"x"}, "referer": {"evil.example"}}, state, amocrm.ErrStateMismatch},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := amocrm.ParseRedirect(req(tc.q), tc.kept)
			require.Error(t, err)
			require.Zero(t, got)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			require.NotContains(t, err.Error(), state)
		})
	}
}

// A6: amoCRM's error answers, as they come, classified.
func TestErrorBodies(t *testing.T) {
	t.Parallel()
	const nginx403 = amocrmtest.BlockedPage
	tests := []struct {
		name        string
		status      int
		contentType string // "" sends none
		body        string
		blocked     bool
		notFound    bool
		code, msg   string // of the *APIError, when set
	}{
		{name: "403 nginx page", status: 403, contentType: "text/html", body: nginx403, blocked: true},
		{name: "403 page after whitespace", status: 403, contentType: "text/html; charset=utf-8", body: "\r\n  \n" + nginx403, blocked: true},
		{name: "403 page after a BOM, no content type", status: 403, body: "\ufeff" + nginx403, blocked: true},
		{name: "403 page after a BOM and whitespace, text/plain", status: 403, contentType: "text/plain", body: "\ufeff\r\n\t<!DOCTYPE html><html><body>Forbidden</body></html>", blocked: true},
		{name: "403 text/html not starting with <", status: 403, contentType: "text/html; charset=UTF-8", body: "403 Forbidden\n", blocked: true},
		{name: "403 XHTML", status: 403, contentType: "application/xhtml+xml", body: "<?xml version=\"1.0\"?><html/>", blocked: true},
		{name: "403 problem+json is not the block page", status: 403, contentType: "application/problem+json",
			body: `{"title":"Forbidden","type":"https://httpstatus.es/403","status":403,"detail":"Недостаточно прав"}`, msg: "Недостаточно прав"},
		{name: "400 calls: Entity not found", status: 400, contentType: "application/problem+json",
			body: `{"_total_items":0,"errors":[{"title":"Entity not found","detail":"Entity not found","request_id":"0"}]}`, notFound: true},
		{name: "400 with an entity-not-found code", status: 400, contentType: "application/problem+json",
			body: `{"_total_items":0,"errors":[{"code":"EntityNotFound","detail":"No entity with phone +79161111111","request_id":"0"}]}`, notFound: true},
		{name: "400 problem+json detail", status: 400, contentType: "application/problem+json",
			body: `{"title":"Bad Request","type":"https://httpstatus.es/400","status":400,"detail":"Entity not found"}`, notFound: true},
		{name: "404 problem+json title", status: 404, contentType: "application/problem+json",
			body: `{"title":"Entity not found","type":"https://httpstatus.es/404","status":404}`, notFound: true},
		{name: "200 errors object", status: 200, contentType: "application/hal+json",
			body: `{"_total_items":0,"errors":[{"title":"Entity not found","request_id":"0"}],"_embedded":{"calls":[]}}`, notFound: true},
		{name: "200 errors object, other case", status: 200, contentType: "application/hal+json",
			body: `{"_total_items":0,"errors":[{"title":"entity not found ","request_id":"0"}]}`, notFound: true},
		{name: "201 errors object with a code", status: 201, contentType: "application/hal+json",
			body: `{"errors":[{"code":"entity_not_found","request_id":"0"}]}`, notFound: true},
		{name: "204 to POST /calls: nothing placed", status: 204, notFound: true},
		{name: "legacy v2 error", status: 400, contentType: "application/json",
			body: `{"response":{"error":"Неверный логин или пароль","error_code":"110","ip":"203.0.113.7","domain":"example.amocrm.ru","server_time":1700000000}}`,
			code: "110", msg: "Неверный логин или пароль"},
		{name: "legacy v2 error, numeric code", status: 400, contentType: "application/json",
			body: `{"response":{"error":"Добавление/Обновление/Удаление: нет прав","error_code":244}}`,
			code: "244", msg: "Добавление/Обновление/Удаление: нет прав"},
		{name: "legacy v2 Entity not found", status: 400, contentType: "application/json",
			body: `{"response":{"error":"Entity not found","error_code":"282"}}`, notFound: true},
		{name: "error 244 is not not-found", status: 400, contentType: "application/problem+json",
			body: `{"title":"Bad Request","type":"https://httpstatus.es/400","status":400,"detail":"Код ошибки 244."}`, code: "Bad Request", msg: "Код ошибки 244."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				hits.Add(1)
				if tc.contentType == "" {
					w.Header()["Content-Type"] = nil // no sniffing
				} else {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c, err := amocrm.NewClient(amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: "llt"},
				callbridge.WithBaseURL(srv.URL), noRetries(), noRateLimit())
			require.NoError(t, err)
			send := func() error {
				_, err := c.AddCalls(t.Context(), []amocrm.Call{{Direction: amocrm.Inbound, Phone: "+79161111111", Source: "x"}})
				return err
			}
			err = send()
			require.Error(t, err)
			require.Equal(t, tc.blocked, errors.Is(err, amocrm.ErrBlocked), "ErrBlocked: %v", err)
			require.Equal(t, tc.notFound, errors.Is(err, amocrm.ErrEntityNotFound), "ErrEntityNotFound: %v", err)
			var ae *callbridge.APIError
			if tc.status >= 300 {
				require.ErrorAs(t, err, &ae)
				require.Equal(t, tc.status, ae.StatusCode)
				if tc.code != "" {
					require.Equal(t, tc.code, ae.Code)
				}
				if tc.msg != "" {
					require.Equal(t, tc.msg, ae.Message)
				}
			}
			if tc.blocked {
				require.ErrorIs(t, send(), amocrm.ErrBlocked)
				require.EqualValues(t, 1, hits.Load(), "cooling down after the block page: nothing sent")
			}
		})
	}
}

// B5: no secret in any rendering of a type that holds one.
func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRateLimit(math.Inf(1), 1)
	store := &memTokens{}
	oc := newOAuthClient(t, srv, store)
	require.NoError(t, exchangeErr(oc.Exchange(t.Context(), srv.AuthorizationCode())))
	_, err := oc.SearchContacts(t.Context(), "916", 0)
	require.NoError(t, err)
	tok, _ := store.Load(t.Context())
	llt := srv.LongLivedToken()
	lc := newTokenClient(t, srv)
	st, err := amocrm.NewStore(oc)
	require.NoError(t, err)
	secrets := []string{amocrmtest.ClientSecret, llt, tok.AccessToken, tok.RefreshToken, "the-auth-code"}

	creds := amocrm.Credentials{Domain: amocrmtest.Domain, ClientID: amocrmtest.ClientID, ClientSecret: amocrmtest.ClientSecret,
		RedirectURL: amocrmtest.RedirectURI, LongLivedToken: llt}
	values := map[string]any{
		"Credentials":  creds,
		"*Credentials": &creds,
		"oauth Client": oc,
		"token Client": lc,
		"Store":        st,
		"Redirect":     amocrm.Redirect{Code: "the-auth-code", Domain: amocrmtest.Domain},
		"*Redirect":    &amocrm.Redirect{Code: "the-auth-code", Domain: amocrmtest.Domain},
		"in a struct":  struct{ C amocrm.Credentials }{creds},
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			var out []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
				out = append(out, fmt.Sprintf(verb, v))
			}
			for _, h := range []func(*bytes.Buffer) slog.Handler{
				func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
				func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			} {
				var b bytes.Buffer
				slog.New(h(&b)).Info("x", "v", v)
				out = append(out, b.String())
			}
			if j, err := json.Marshal(v); err == nil {
				out = append(out, string(j))
			}
			all := strings.Join(out, "\n")
			for _, s := range secrets {
				require.NotContains(t, all, s)
			}
			require.Contains(t, all, amocrmtest.Domain, "the non-secret fields are shown")
		})
	}
	// The redacted JSON says which secrets are set.
	j, err := json.Marshal(creds)
	require.NoError(t, err)
	require.JSONEq(t, `{"domain":"example.amocrm.ru","client_id":"`+amocrmtest.ClientID+`","client_secret":"REDACTED",
		"redirect_url":"`+amocrmtest.RedirectURI+`","long_lived_token":"REDACTED"}`, string(j))
}

// orderLog records, in order, tokens saved and bearer tokens sent.
type orderLog struct {
	mu     sync.Mutex
	events []string
}

func (l *orderLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *orderLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// observingStore logs every Save and fails it while fail is set.
type observingStore struct {
	memTokens
	log  *orderLog
	fail atomic.Bool
}

func (s *observingStore) Save(ctx context.Context, t *oauth2.Token) error {
	if s.fail.Load() {
		s.log.add("save-failed " + t.AccessToken)
		return errors.New("disk full")
	}
	s.log.add("save " + t.AccessToken)
	return s.memTokens.Save(ctx, t)
}

// logTransport logs the bearer token of every API request it sends.
type logTransport struct {
	log  *orderLog
	next http.RoundTripper
}

func (l logTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		l.log.add("use " + tok)
	}
	return l.next.RoundTrip(r)
}

// D: amoCRM's refresh tokens are single-use, so a rotated pair must reach
// the TokenStore BEFORE its access token is used: with a failing Save the
// new token is never sent, and with a working one every token's save is
// logged before its first use.
func TestRotatedTokenSavedBeforeUse(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRateLimit(math.Inf(1), 1)
	log := &orderLog{}
	store := &observingStore{log: log}
	hc := srv.Client()
	hc.Transport = logTransport{log: log, next: hc.Transport}
	c, err := amocrm.NewClient(oauthCreds, callbridge.WithBaseURL(srv.URL), callbridge.WithHTTPClient(hc),
		callbridge.WithTokenStore(store), noBackoff(), noRateLimit())
	require.NoError(t, err)
	require.NoError(t, exchangeErr(c.Exchange(t.Context(), srv.AuthorizationCode())))
	first, _ := store.Load(t.Context())

	// Save fails: the refreshed token must not be used.
	store.fail.Store(true)
	srv.ExpireTokens()
	_, err = c.SearchContacts(t.Context(), "916", 0)
	require.ErrorContains(t, err, "disk full")
	var unsaved string
	for _, e := range log.list() {
		if at, ok := strings.CutPrefix(e, "save-failed "); ok {
			unsaved = at
		}
	}
	require.NotEmpty(t, unsaved, "a refresh was attempted")
	for _, e := range log.list() {
		require.NotEqual(t, "use "+unsaved, e, "a token was used although saving it failed")
	}

	// Save works again: every token is saved before it is first used.
	store.fail.Store(false)
	for range 3 {
		_, err = c.SearchContacts(t.Context(), "916", 0)
		require.NoError(t, err)
		srv.ExpireTokens()
	}
	saved := map[string]bool{}
	used := 0
	for _, e := range log.list() {
		if at, ok := strings.CutPrefix(e, "save "); ok {
			saved[at] = true
		}
		if at, ok := strings.CutPrefix(e, "use "); ok {
			used++
			require.True(t, saved[at], "token used before it was saved: %v", log.list())
		}
	}
	require.GreaterOrEqual(t, used, 4)
	require.Len(t, saved, 4, "the exchange and three refreshes: %v", log.list())
	require.True(t, saved[first.AccessToken])
}
