package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
)

// oauthEnv is a gateway in amoCRM mode with an OAuth integration on the
// amoCRM fake, its tokens in a SQLite database.
type oauthEnv struct {
	t     *testing.T
	amo   *amocrmtest.Server
	clock *matchtest.Clock // moved by Jump: the daily check runs once a day
	cfg   gateway.Config
	srv   *server
}

func newOAuthEnv(t *testing.T, cfg gateway.Config) *oauthEnv {
	amo := amocrmtest.NewServer()
	t.Cleanup(amo.Close)
	clock := matchtest.NewClock(t0)
	cfg.CRM, cfg.Clock, cfg.DB = gateway.CRMAmoCRM, clock, filepath.Join(t.TempDir(), "crm.db")
	cfg.AmoCRM = gateway.AmoCRM{Domain: amocrmtest.Domain, ClientID: amocrmtest.ClientID, ClientSecret: amocrmtest.ClientSecret,
		RedirectURL: amocrmtest.RedirectURI, BaseURL: amo.URL, HTTPClient: amo.Client()}
	e := &oauthEnv{t: t, amo: amo, clock: clock, cfg: cfg}
	e.srv = start(t, cfg)
	return e
}

// restart stops the gateway and starts another on the same database,
// its clock moved by d first.
func (e *oauthEnv) restart(d time.Duration) {
	e.t.Helper()
	require.NoError(e.t, e.srv.stop())
	e.clock.Jump(d)
	e.srv = start(e.t, e.cfg)
}

// checked waits for the check at start: until crm_health.checked_at is
// the clock's time.
func (e *oauthEnv) checked() gateway.CRMHealth {
	e.t.Helper()
	var h gateway.CRMHealth
	require.Eventually(e.t, func() bool {
		h = getStatus(e.t, e.srv).CRMHealth
		return h.CheckedAt != nil && h.CheckedAt.Equal(e.clock.Now())
	}, 10*time.Second, 5*time.Millisecond, "the check at start")
	return h
}

// install runs the OAuth installation: /oauth/amocrm/start, then amoCRM's
// redirect to /oauth/amocrm/callback with a code of the fake's.
func (e *oauthEnv) install() {
	e.t.Helper()
	resp, err := noRedirect.Get(e.srv.URL + "/oauth/amocrm/start?token=" + apiToken)
	require.NoError(e.t, err)
	resp.Body.Close()
	require.Equal(e.t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(e.t, err)
	q := url.Values{"code": {e.amo.AuthorizationCode()}, "state": {loc.Query().Get("state")}, "referer": {amocrmtest.Domain}}
	code, body := e.srv.send(e.t, hook{method: http.MethodGet, target: "/oauth/amocrm/callback?" + q.Encode(), header: http.Header{}})
	require.Equal(e.t, http.StatusOK, code, body)
}

// refreshes counts the refresh_token requests amoCRM received.
func (e *oauthEnv) refreshes() int {
	n := 0
	for _, r := range e.amo.Requests() {
		if r.Path == "/oauth2/access_token" && strings.Contains(string(r.Body), "grant_type=refresh_token") {
			n++
		}
	}
	return n
}

// TestOAuthIdleRefresh: an installed amoCRM OAuth integration that is not
// used is renewed by the daily check once its tokens are older than
// gateway.OAuthIdleRefresh, not before, and by the check at start of a
// gateway started that late; the status shows the last refresh and the
// token's expiry.
func TestOAuthIdleRefresh(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, gateway.Config{})
	h := e.checked()
	require.Equal(t, gateway.CRMNotInstalled, h.State)
	require.Equal(t, "oauth", h.Auth)

	e.install()
	installed := e.clock.Now()
	h = getStatus(t, e.srv).CRMHealth
	require.Equal(t, gateway.CRMConnected, h.State)
	require.True(t, h.LastRefresh.Equal(installed), "last refresh %v", h.LastRefresh)
	require.NotNil(t, h.TokenExpiry)
	require.Nil(t, h.LastRefreshError)
	require.Zero(t, e.refreshes())

	day := 24 * time.Hour
	e.clock.Jump(gateway.OAuthIdleRefresh - day) // the daily check, a day short of the threshold
	h = getStatus(t, e.srv).CRMHealth
	require.True(t, h.CheckedAt.Equal(e.clock.Now()), "the daily check ran")
	require.Zero(t, e.refreshes(), "not before the threshold")
	require.True(t, h.LastRefresh.Equal(installed))

	e.clock.Jump(2 * day) // the next daily check, past the threshold
	require.Equal(t, 1, e.refreshes(), "renewed once")
	h = getStatus(t, e.srv).CRMHealth
	require.Equal(t, gateway.CRMConnected, h.State)
	require.True(t, h.LastRefresh.Equal(e.clock.Now()), "last refresh %v, now %v", h.LastRefresh, e.clock.Now())
	e.clock.Jump(day)
	require.Equal(t, 1, e.refreshes(), "renewed tokens are not renewed again")

	e.restart(gateway.OAuthIdleRefresh - 2*day) // a start before the threshold
	require.Equal(t, gateway.CRMConnected, e.checked().State)
	require.Equal(t, 1, e.refreshes())
	e.restart(2 * day) // a start past it
	h = e.checked()
	require.Equal(t, 2, e.refreshes(), "renewed by the check at start")
	require.Equal(t, gateway.CRMConnected, h.State)
	require.True(t, h.LastRefresh.Equal(e.clock.Now()))
}

// TestOAuthRevoked: an integration amoCRM revoked is found by the daily
// check: /api/status shows it revoked with the error, /readyz answers 503
// naming it, and every admin (of the configured employees: amoCRM's user
// list is out of reach) is told once, through the notification webhook
// too; the next days tell nobody again. Installed again, it is connected
// and ready.
func TestOAuthRevoked(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var posted []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		posted = append(posted, string(b))
	}))
	t.Cleanup(receiver.Close)
	e := newOAuthEnv(t, gateway.Config{NotifyURL: receiver.URL, NotifySecret: "notify-SECRET", Employees: []match.Employee{
		{ID: "8375357", Name: "Оператор 1", Extensions: []string{"101"}, Admin: true},
		{ID: "boss", Name: "Boss", Admin: true},
		{ID: "8375358", Name: "Оператор 2", Extensions: []string{"102"}},
	}})
	e.checked()
	e.install()
	code, body := e.srv.do(t, http.MethodGet, "/readyz", "", "")
	require.Equal(t, http.StatusOK, code, body)

	e.amo.Revoke()
	e.clock.Jump(24 * time.Hour)
	h := getStatus(t, e.srv).CRMHealth
	require.Equal(t, gateway.CRMRevoked, h.State)
	require.NotNil(t, h.LastRefreshError)
	require.Contains(t, h.LastRefreshError.Error, "invalid grant")
	require.True(t, h.LastRefreshError.At.Equal(e.clock.Now()))
	code, body = e.srv.do(t, http.MethodGet, "/readyz", "", "")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, "integration revoked")
	require.Contains(t, body, "/oauth/amocrm/start")
	resp, html := page(t, e.srv, "/status", "Authorization", "Bearer "+apiToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, want := range []string{"CRM: amocrm (" + amocrmtest.Domain + ")", ">revoked<", "Install the integration", "invalid grant", "Last refresh"} {
		require.Contains(t, html, want, "the status page")
	}

	told := func() []string {
		var notes []gateway.Notification
		getJSON(t, e.srv, "/api/notifications", &notes)
		var out []string
		for _, n := range notes {
			require.Equal(t, "integration", n.Kind)
			require.Equal(t, "amocrm", n.Provider)
			require.Contains(t, n.Reason, "revoked")
			require.NotContains(t, n.Reason, amocrmtest.ClientSecret)
			out = append(out, n.Employee)
		}
		return out
	}
	require.ElementsMatch(t, []string{"8375357", "boss"}, told(), "each admin once")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(posted) == 2
	}, 10*time.Second, 5*time.Millisecond, "through the notification webhook")

	e.clock.Jump(24 * time.Hour)
	e.clock.Jump(24 * time.Hour)
	require.Equal(t, gateway.CRMRevoked, getStatus(t, e.srv).CRMHealth.State)
	require.ElementsMatch(t, []string{"8375357", "boss"}, told(), "not told again while nothing changed")
	require.Equal(t, &gateway.OutboxBacklog{Sent: 2}, getStatus(t, e.srv).Notifications)

	e.install()
	h = getStatus(t, e.srv).CRMHealth
	require.Equal(t, gateway.CRMConnected, h.State)
	require.NotNil(t, h.LastRefreshError, "the last failure stays in view")
	code, body = e.srv.do(t, http.MethodGet, "/readyz", "", "")
	require.Equal(t, http.StatusOK, code, body)
}
