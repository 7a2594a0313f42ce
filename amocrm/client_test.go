package amocrm_test

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
)

// memTokens is a TokenStore recording every saved token.
type memTokens struct {
	mu    sync.Mutex
	tok   *oauth2.Token
	saved []string // refresh tokens in save order
}

func (m *memTokens) Load(context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tok, nil
}

func (m *memTokens) Save(_ context.Context, t *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = t
	m.saved = append(m.saved, t.RefreshToken)
	return nil
}

func (m *memTokens) isSaved(rt string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.saved {
		if s == rt {
			return true
		}
	}
	return false
}

var oauthCreds = amocrm.Credentials{Domain: amocrmtest.Domain, ClientID: amocrmtest.ClientID,
	ClientSecret: amocrmtest.ClientSecret, RedirectURL: amocrmtest.RedirectURI}

func newOAuthClient(t *testing.T, srv *amocrmtest.Server, store callbridge.TokenStore) *amocrm.Client {
	t.Helper()
	c, err := amocrm.NewClient(oauthCreds, callbridge.WithBaseURL(srv.URL), callbridge.WithHTTPClient(srv.Client()),
		callbridge.WithTokenStore(store), noBackoff(), noRateLimit())
	require.NoError(t, err)
	return c
}

func newTokenClient(t *testing.T, srv *amocrmtest.Server, opts ...callbridge.ClientOption) *amocrm.Client {
	t.Helper()
	srv.SetRateLimit(math.Inf(1), 1)
	opts = append([]callbridge.ClientOption{callbridge.WithBaseURL(srv.URL), callbridge.WithHTTPClient(srv.Client()),
		noBackoff(), noRateLimit()}, opts...)
	c, err := amocrm.NewClient(amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: srv.LongLivedToken()}, opts...)
	require.NoError(t, err)
	return c
}

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	store := &memTokens{}
	token := amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: "x"}
	tests := map[string]struct {
		creds amocrm.Credentials
		opts  []callbridge.ClientOption
		want  string
	}{
		"no domain":            {amocrm.Credentials{LongLivedToken: "x"}, nil, "Credentials.Domain is required"},
		"www domain":           {amocrm.Credentials{Domain: "www.kommo.com", LongLivedToken: "x"}, nil, "not an amoCRM or Kommo account host"},
		"domain with path":     {amocrm.Credentials{Domain: "example.amocrm.ru/api", LongLivedToken: "x"}, nil, "not an amoCRM or Kommo account host"},
		"no credentials":       {amocrm.Credentials{Domain: amocrmtest.Domain}, nil, "set LongLivedToken"},
		"oauth without store":  {oauthCreds, nil, "require WithTokenStore"},
		"oauth without secret": {amocrm.Credentials{Domain: amocrmtest.Domain, ClientID: "a", RedirectURL: "https://x"}, []callbridge.ClientOption{callbridge.WithTokenStore(store)}, "set LongLivedToken"},
		"nil token store":      {oauthCreds, []callbridge.ClientOption{callbridge.WithTokenStore(nil)}, "WithTokenStore"},
		"bad base url":         {token, []callbridge.ClientOption{callbridge.WithBaseURL("ftp://x")}, "WithBaseURL"},
		"bad rate":             {token, []callbridge.ClientOption{callbridge.WithRateLimit(0, 1)}, "WithRateLimit"},
		"bad retry":            {token, []callbridge.ClientOption{callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 1, MinWait: time.Second})}, "WithRetry"},
		"default country":      {token, []callbridge.ClientOption{callbridge.WithDefaultCountry("RU")}, "WithDefaultCountry is not supported"},
		"nil option":           {token, []callbridge.ClientOption{nil}, "option 1 is nil"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := amocrm.NewClient(tt.creds, tt.opts...)
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, c)
			require.True(t, strings.HasPrefix(err.Error(), "amocrm: "), err.Error())
			require.NotContains(t, err.Error(), "amocrm: amocrm:")
		})
	}
	c, err := amocrm.NewClient(amocrm.Credentials{Domain: "https://Example.Kommo.com/", LongLivedToken: "x"})
	require.NoError(t, err)
	require.Equal(t, "example.kommo.com", c.Domain())
}

// A base URL with or without a trailing "/" reaches the same endpoints,
// token requests included.
func TestBaseURLTrailingSlash(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRateLimit(math.Inf(1), 1)
	for _, base := range []string{srv.URL, srv.URL + "/", srv.URL + "//"} {
		c, err := amocrm.NewClient(oauthCreds, callbridge.WithBaseURL(base), callbridge.WithHTTPClient(srv.Client()),
			callbridge.WithTokenStore(&memTokens{}), noBackoff(), noRateLimit())
		require.NoError(t, err)
		require.NoError(t, exchangeErr(c.Exchange(t.Context(), srv.AuthorizationCode())), base)
		_, err = c.SearchContacts(t.Context(), "916", 10)
		require.NoError(t, err, base)
	}
}

func TestAuthCodeURL(t *testing.T) {
	t.Parallel()
	for domain, want := range map[string]string{
		"example.amocrm.ru": "https://www.amocrm.ru/oauth?client_id=" + amocrmtest.ClientID + "&state=st%2B1",
		"example.kommo.com": "https://www.kommo.com/oauth?client_id=" + amocrmtest.ClientID + "&state=st%2B1",
	} {
		cr := oauthCreds
		cr.Domain = domain
		c, err := amocrm.NewClient(cr, callbridge.WithTokenStore(&memTokens{}))
		require.NoError(t, err)
		got, err := c.AuthCodeURL("st+1")
		require.NoError(t, err)
		require.Equal(t, want, got)
		// An empty state is never dropped silently.
		got, err = c.AuthCodeURL("")
		require.ErrorIs(t, err, amocrm.ErrEmptyState)
		require.Empty(t, got)
	}
}

// The OAuth flow: a code exchange, then rotation on every refresh, each new
// refresh token saved before it is used; a 401 refreshes once and replays
// the request with its body; a spent refresh token is ErrInvalidGrant.
func TestOAuthRotation(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRateLimit(math.Inf(1), 1)
	store := &memTokens{}
	c := newOAuthClient(t, srv, store)

	_, err := c.SearchContacts(t.Context(), "916", 0)
	require.ErrorIs(t, err, amocrm.ErrAuthorizationRequired)
	require.NoError(t, exchangeErr(c.Exchange(t.Context(), srv.AuthorizationCode())))
	require.Len(t, store.saved, 1)

	for i := range 3 {
		srv.ExpireTokens()
		before := len(srv.Requests())
		out, err := c.CreateContacts(t.Context(), []amocrm.Contact{{Name: "Replay", CustomFields: []amocrm.CustomField{amocrm.PhoneField("79160000000")}}})
		require.NoError(t, err, "round %d", i)
		require.NotZero(t, out[0].ID)
		reqs := srv.Requests()[before:]
		require.Len(t, reqs, 3, "401, refresh, replay")
		require.Equal(t, "/oauth2/access_token", reqs[1].Path)
		require.Equal(t, amocrmtest.RedirectURI, reqs[1].Query.Get("redirect_uri")+formValue(reqs[1].Body, "redirect_uri"))
		require.JSONEq(t, string(reqs[0].Body), string(reqs[2].Body), "the replay carries the same body")
	}
	require.Len(t, store.saved, 4)
	require.Equal(t, 4, srv.TokenRequests())

	// Another process still holding the first pair spends a dead refresh token.
	stale := &memTokens{tok: &oauth2.Token{AccessToken: "dead", RefreshToken: store.saved[0], Expiry: time.Now().Add(-time.Hour)}}
	_, err = newOAuthClient(t, srv, stale).SearchContacts(t.Context(), "916", 0)
	require.ErrorIs(t, err, amocrm.ErrInvalidGrant)
	require.NotContains(t, err.Error(), store.saved[0])
	require.NotContains(t, err.Error(), amocrmtest.ClientSecret)
}

func formValue(body []byte, key string) string {
	v, _ := url.ParseQuery(string(body))
	return v.Get(key)
}

// Concurrent requests after the token expired cause exactly one refresh,
// and the new refresh token is saved before the new access token is used.
func TestOAuthSingleFlightRefresh(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRateLimit(math.Inf(1), 1)
	store := &memTokens{}
	c := newOAuthClient(t, srv, store)
	require.NoError(t, exchangeErr(c.Exchange(t.Context(), srv.AuthorizationCode())))
	srv.ExpireTokens()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.SearchContacts(t.Context(), "916", 0)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 2, srv.TokenRequests(), "the exchange and one refresh")
	require.Equal(t, 1, srv.Count("POST", "/oauth2/access_token")-1)
	tok, _ := store.Load(t.Context())
	require.True(t, store.isSaved(tok.RefreshToken))
}

func TestLongLivedToken(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	c := newTokenClient(t, srv)
	_, err := c.SearchContacts(t.Context(), "916", 0)
	require.NoError(t, err)
	srv.ExpireTokens()
	_, err = c.SearchContacts(t.Context(), "916", 0)
	var ae *callbridge.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusUnauthorized, ae.StatusCode)
	require.Zero(t, srv.Count("", "/oauth2/"), "a long-lived token is never refreshed")
	require.Equal(t, 2, srv.Count("GET", "/api/v4/contacts"), "no replay without a refresh")
	require.Error(t, exchangeErr(c.Exchange(t.Context(), "code")))
}

func TestErrors(t *testing.T) {
	t.Parallel()
	t.Run("403 HTML is ErrBlocked, not retried, then fails fast", func(t *testing.T) {
		t.Parallel()
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c := newTokenClient(t, srv)
		srv.Block(true)
		_, err := c.SearchContacts(t.Context(), "916", 0)
		require.ErrorIs(t, err, amocrm.ErrBlocked)
		var ae *callbridge.APIError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, http.StatusForbidden, ae.StatusCode)
		require.Equal(t, 1, len(srv.Requests()))
		_, err = c.SearchContacts(t.Context(), "916", 0)
		require.ErrorIs(t, err, amocrm.ErrBlocked)
		require.Equal(t, 1, len(srv.Requests()), "cooling down: nothing sent")
	})
	t.Run("403 JSON is a plain APIError", func(t *testing.T) {
		t.Parallel()
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c := newTokenClient(t, srv)
		srv.Fail(amocrmtest.Failure{Path: "/api/v4/users", Status: http.StatusForbidden})
		_, err := collectUsers(c)
		require.Error(t, err)
		require.NotErrorIs(t, err, amocrm.ErrBlocked)
	})
	t.Run("429 is retried", func(t *testing.T) {
		t.Parallel()
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c := newTokenClient(t, srv)
		srv.Fail(amocrmtest.Failure{Path: "/api/v4/calls", Status: http.StatusTooManyRequests, Times: 2})
		_, err := c.AddCalls(t.Context(), []amocrm.Call{{Direction: amocrm.Inbound, Phone: "+79161111111", Source: "x"}})
		require.ErrorIs(t, err, amocrm.ErrEntityNotFound, "retried until amoCRM answered")
		require.Equal(t, 3, srv.Count("POST", "/api/v4/calls"))
	})
	t.Run("a POST without idempotency is not retried on 502", func(t *testing.T) {
		t.Parallel()
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c := newTokenClient(t, srv)
		srv.Fail(amocrmtest.Failure{Path: "/api/v4/contacts", Method: "POST", Status: http.StatusBadGateway})
		_, err := c.CreateContacts(t.Context(), []amocrm.Contact{{Name: "x"}})
		require.Error(t, err)
		require.Equal(t, 1, srv.Count("POST", "/api/v4/contacts"))
	})
	t.Run("calls without uniq are not retried on 502", func(t *testing.T) {
		t.Parallel()
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c := newTokenClient(t, srv)
		srv.Fail(amocrmtest.Failure{Path: "/api/v4/calls", Method: "POST", Status: http.StatusBadGateway})
		_, err := c.AddCalls(t.Context(), []amocrm.Call{{Direction: amocrm.Inbound, Phone: "+79161111111", Source: "x"}})
		var ae *callbridge.APIError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, http.StatusBadGateway, ae.StatusCode)
		require.Equal(t, 1, srv.Count("POST", "/api/v4/calls"), "a plain POST is sent once")
	})
	t.Run("calls with uniq are retried on 502", func(t *testing.T) {
		t.Parallel()
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c := newTokenClient(t, srv)
		srv.Fail(amocrmtest.Failure{Path: "/api/v4/calls", Method: "POST", Status: http.StatusBadGateway})
		_, err := c.AddCalls(t.Context(), []amocrm.Call{{Direction: amocrm.Inbound, Phone: "+79161111111", Source: "x",
			Uniq: amocrm.CallUniq("telphin", acct, "c1")}})
		require.ErrorIs(t, err, amocrm.ErrEntityNotFound, "retried until amoCRM answered")
		require.Equal(t, 2, srv.Count("POST", "/api/v4/calls"))
	})
	t.Run("204 is an empty result", func(t *testing.T) {
		t.Parallel()
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c := newTokenClient(t, srv)
		got, err := c.SearchContacts(t.Context(), "0000000", 0)
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("validation errors are decoded", func(t *testing.T) {
		t.Parallel()
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c := newTokenClient(t, srv)
		_, err := c.CreateLeads(t.Context(), []amocrm.Lead{{Name: "x", PipelineID: 1}})
		var ae *callbridge.APIError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "Bad Request", ae.Code)
		require.Contains(t, ae.Message, "pipeline_id: NotSupportedChoice")
		require.Equal(t, []amocrm.ValidationError{{RequestID: "0", Code: "NotSupportedChoice", Path: "pipeline_id",
			Detail: "The value you selected is not a valid choice."}}, amocrm.ValidationErrors(err))
	})
}

func collectUsers(c *amocrm.Client) ([]amocrm.User, error) {
	var out []amocrm.User
	for u, err := range c.Users(context.Background()) {
		if err != nil {
			return out, err
		}
		out = append(out, u)
	}
	return out, nil
}

func TestUsersPages(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3, 250, 500, 503} {
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c := newTokenClient(t, srv)
		for i := len(amocrmtest.DefaultUsers); i < n; i++ {
			srv.AddUser(amocrmtest.User{ID: int64(9000000 + i), Name: "u", Active: true})
		}
		got, err := collectUsers(c)
		require.NoError(t, err)
		require.Len(t, got, n)
		require.Equal(t, n/250+1, srv.Count("GET", "/api/v4/users"), "stops on a short page or a 204")
	}
}

// FindContactsByPhone sends the last 10 digits, URL-escaped, and keeps
// only contacts whose PHONE matches them: a loose full-text hit never
// counts.
func TestFindContactsByPhone(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	c := newTokenClient(t, srv)
	a := srv.AddContact(amocrmtest.Contact{Name: "A", Phones: []string{"+7 (916) 123-45-67"}})
	srv.AddContact(amocrmtest.Contact{Name: "Loose", Phones: []string{"+7916123456789"}})
	srv.AddContact(amocrmtest.Contact{Name: "Field", Fields: map[string]string{"Доп. телефон": "89161234567"}})
	b := srv.AddContact(amocrmtest.Contact{Name: "B", Phones: []string{"89161234567"}})
	got, err := c.FindContactsByPhone(t.Context(), "8 916 123 45 67", "")
	require.NoError(t, err)
	var ids []int64
	for _, ct := range got {
		ids = append(ids, ct.ID)
	}
	require.Equal(t, []int64{a, b}, ids)
	require.Equal(t, "9161234567", srv.Requests()[0].Query.Get("query"))

	_, err = c.SearchContacts(t.Context(), "+7 916&x=1", 0)
	require.NoError(t, err)
	require.Equal(t, "+7 916&x=1", srv.Requests()[1].Query.Get("query"), "the query is URL-escaped")

	_, err = c.FindContactsByPhone(t.Context(), "101", "")
	require.Error(t, err, "an extension is not a phone")
	require.Len(t, srv.Requests(), 2)
}

// The remaining endpoints against the fake: complex leads, active leads,
// contact update and get, unsorted SIP, call notes' shape.
func TestEndpoints(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	c := newTokenClient(t, srv)
	ctx := t.Context()

	res, err := c.CreateLeadsComplex(ctx, []amocrm.Lead{{Name: "Входящий звонок", PipelineID: amocrmtest.PipelineID,
		Embedded: &amocrm.Embedded{Contacts: []amocrm.Contact{{FirstName: "Автоконтакт", CustomFields: []amocrm.CustomField{amocrm.PhoneField("79161234567")}}}}}})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Nil(t, res[0].CompanyID)
	_, err = c.CreateLeadsComplex(ctx, []amocrm.Lead{{Embedded: &amocrm.Embedded{Contacts: make([]amocrm.Contact, 2)}}})
	require.Error(t, err, "at most one contact per complex lead")

	srv.AddLead(amocrmtest.Lead{Name: "Закрыта", StatusID: amocrm.StatusLost, ContactIDs: []int64{res[0].ContactID}})
	active, err := c.ActiveLeads(ctx, res[0].ContactID)
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.Equal(t, res[0].ID, active[0].ID)

	_, err = c.UpdateContacts(ctx, []amocrm.Contact{{ID: res[0].ContactID, Name: "Иван", TagsToAdd: amocrm.Tags("VIP")}})
	require.NoError(t, err)
	ct, err := c.Contact(ctx, res[0].ContactID)
	require.NoError(t, err)
	require.Equal(t, "Иван", ct.Name)
	require.Equal(t, []string{"VIP"}, ct.TagNames())
	require.Equal(t, []string{"+79161234567"}, ct.Phones())
	_, err = c.Contact(ctx, 1)
	require.ErrorIs(t, err, amocrm.ErrNotFound)
	_, err = c.UpdateContacts(ctx, []amocrm.Contact{{Name: "no id"}})
	require.Error(t, err)

	ps, err := c.Pipelines(ctx)
	require.NoError(t, err)
	require.Len(t, ps[0].Embedded.Statuses, 5)

	u, err := c.AddUnsortedSIP(ctx, []amocrm.UnsortedSIP{{SourceUID: "pbx", SourceName: "PBX", PipelineID: amocrmtest.PipelineID,
		Metadata: amocrm.SIPMetadata{Uniq: "u1", From: "+79160000000", Phone: "101", CalledAt: startUnix, ServiceCode: "pbx", IsCallEventNeeded: true}}})
	require.NoError(t, err)
	require.NotEmpty(t, u[0].UID)
	_, err = c.AddUnsortedSIP(ctx, []amocrm.UnsortedSIP{{}})
	require.Error(t, err)

	_, err = c.AddCallNotes(ctx, "tasks", []amocrm.CallNote{{EntityID: 1}})
	require.Error(t, err)
	_, err = c.AddCalls(ctx, []amocrm.Call{{Direction: "in", Phone: "1", Source: "x"}})
	require.Error(t, err, "direction is checked before sending")
	_, err = c.CreateContacts(ctx, make([]amocrm.Contact, amocrm.MaxBatch+1))
	require.Error(t, err)
	require.Len(t, srv.Unsorted(), 1)
}
