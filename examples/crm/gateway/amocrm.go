package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/match"
)

// CRMs the gateway runs the engine against (Config.CRM).
const (
	// CRMBuiltin is the gateway's own CRM (memory or the database).
	CRMBuiltin = "builtin"
	// CRMAmoCRM is an amoCRM account (package amocrm): contacts, leads,
	// calls, pop-ups and tasks go there.
	CRMAmoCRM = "amocrm"
)

// AmoCRM is the amoCRM account of the amoCRM mode (Config.CRM = "amocrm").
type AmoCRM struct {
	// Domain is the account host ("example.amocrm.ru").
	Domain string
	// Token is a private integration's long-lived token; or, for a public
	// integration, ClientID, ClientSecret and RedirectURL (the gateway's
	// /oauth/amocrm/callback): install it at /oauth/amocrm/start.
	Token                               string
	ClientID, ClientSecret, RedirectURL string
	// Extensions maps the PBX's extensions to amoCRM user ids.
	Extensions map[string]int64
	// UnsortedPipeline, when set, sends calls from unknown numbers that
	// the rules do not create a contact for to amoCRM's "Unsorted" of this
	// pipeline.
	UnsortedPipeline int64

	// BaseURL, when set, is where the requests go (OAuth token requests
	// too) instead of https://Domain: an amoCRM-compatible sandbox, or a
	// test's amocrmtest fake (AMOCRM_BASE_URL, the file's
	// amocrm.base_url).
	BaseURL string
	// HTTPClient, when set, makes the requests: a program embedding the
	// gateway behind a proxy, or a test on an amocrmtest fake (its
	// Client). No flag or file sets it.
	HTTPClient *http.Client
}

// openAmoCRM makes the amoCRM client and store of the amoCRM mode; with
// -demo and no domain, against an in-process amoCRM fake.
func (g *Gateway) openAmoCRM() (*amocrm.Store, error) {
	cfg := g.cfg.AmoCRM
	creds := amocrm.Credentials{Domain: cfg.Domain, LongLivedToken: cfg.Token, ClientID: cfg.ClientID,
		ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL}
	opts := g.clientOpts()
	ext := cfg.Extensions
	if g.cfg.Demo && cfg.Domain == "" {
		srv := amocrmtest.NewServer()
		g.closers = append(g.closers, srv.Close)
		g.amoFake = srv
		creds = amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: srv.LongLivedToken()}
		opts = append(opts, callbridge.WithBaseURL(srv.URL), callbridge.WithHTTPClient(srv.Client()))
		if len(ext) == 0 { // the seed's responsibles, on the fake's users
			ext = map[string]int64{"101": amocrmtest.DefaultUsers[0].ID, "701": amocrmtest.DefaultUsers[1].ID,
				"001": amocrmtest.DefaultUsers[2].ID, "2001": amocrmtest.DefaultUsers[2].ID}
		}
	}
	if cfg.BaseURL != "" {
		opts = append(opts, callbridge.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, callbridge.WithHTTPClient(cfg.HTTPClient))
	}
	if creds.LongLivedToken == "" {
		if g.db == nil {
			return nil, errors.New("amocrm: an OAuth integration keeps its tokens in the database: run with -db, or use a long-lived token (AMOCRM_TOKEN)")
		}
		g.amoTokens = "amocrm:" + creds.Domain
		opts = append(opts, callbridge.WithTokenStore(g.db.TokenStore(g.amoTokens)))
	}
	c, err := amocrm.NewClient(creds, opts...)
	if err != nil {
		return nil, fmt.Errorf("amocrm: %w", err)
	}
	g.amoClient = c
	sopts := []amocrm.StoreOption{amocrm.WithExtensions(ext), amocrm.WithDefaultCountry(g.cfg.Country), amocrm.WithLogger(g.log)}
	if g.cfg.Clock != nil {
		sopts = append(sopts, amocrm.WithClock(g.cfg.Clock.Now))
	}
	if cfg.UnsortedPipeline != 0 {
		sopts = append(sopts, amocrm.WithUnsorted(cfg.UnsortedPipeline))
	}
	return amocrm.NewStore(c, sopts...)
}

// amoEngineOptions are the engine's stores in amoCRM mode: amoCRM for
// clients, leads, tasks, pop-ups and the employees (dir); calls and
// notifications go to amoCRM and to the gateway's own log (notes), so
// /api/calls and /api/notifications list them; who is online is the
// gateway's (PUT /api/employees/{id}/status). The call amoCRM gets has
// the gateway's own recording link (presented), and how telling the
// employee in amoCRM went is kept in the outbox (senderAmoCRM).
func (g *Gateway) amoEngineOptions(amo *amocrm.Store, local match.CallLog, dir amoDirectory, notes match.Notifier) []match.Option {
	return []match.Option{
		match.WithCallLog(teeLog{amo, local, g.presented}),
		match.WithNotifier(teeNotifier{amo, notes, g}),
		match.WithDirectory(dir),
	}
}

// teeLog logs a call in amoCRM as present makes it (the gateway's
// recording link, which amoCRM's users can open), then in the gateway's
// log as it is (the provider's link, which the gateway fetches from).
type teeLog struct {
	amo, local match.CallLog
	present    func(match.CallRecord) match.CallRecord
}

func (t teeLog) LogCall(ctx context.Context, rec match.CallRecord) error {
	if err := t.amo.LogCall(ctx, t.present(rec)); err != nil {
		return err
	}
	return t.local.LogCall(ctx, rec)
}

// teeNotifier tells amoCRM (a pop-up, or a task for an overdue one), then
// keeps the notification in the gateway's list.
type teeNotifier struct {
	amo   *amocrm.Store
	local match.Notifier
	g     *Gateway // its outbox records amoCRM's delivery (senderAmoCRM)
}

func (t teeNotifier) Notify(ctx context.Context, n match.Notification) error {
	if err := t.amo.Notify(ctx, n); err != nil {
		return err
	}
	if err := t.local.Notify(ctx, n); err != nil {
		return err
	}
	reason := ""
	if !t.amo.Shows(n) {
		reason = "not shown in amoCRM: it needs the caller's number and an amoCRM user as the employee"
	}
	b, err := json.Marshal(notificationOf(n))
	if err == nil {
		err = t.g.outbox.Record(ctx, t.g.outboxKey(senderAmoCRM, n), b, reason)
	}
	if err != nil {
		return fmt.Errorf("notification outbox (%s): %w", senderAmoCRM, err)
	}
	return nil
}

// amoDirectory is amoCRM's users (by the extension map) with the
// gateway's online set. A key amoCRM does not know is looked up in the
// gateway's directory (local), which the employee sync merges: an
// extension or login a provider's user list gave an amoCRM user finds
// that user. Nobody else is found there: amoCRM takes only its users as
// responsibles.
type amoDirectory struct {
	amo   match.Directory
	local match.Directory
	// amoUser says whether id is an amoCRM user's, as the last sync
	// listed them.
	amoUser func(id string) bool
}

func (d amoDirectory) FindEmployee(ctx context.Context, account, key string) (match.Employee, bool, error) {
	e, ok, err := d.amo.FindEmployee(ctx, account, key)
	if ok || err != nil {
		return e, ok, err
	}
	e, ok, err = d.local.FindEmployee(ctx, "", key)
	if err != nil || !ok || !d.amoUser(e.ID) {
		return match.Employee{}, false, err
	}
	return e, true, nil
}

func (d amoDirectory) Employees(ctx context.Context, account string) ([]match.Employee, error) {
	return d.amo.Employees(ctx, account)
}

func (d amoDirectory) Online(ctx context.Context, account string) ([]string, error) {
	return d.local.Online(ctx, "")
}

// oauthStateTTL is how long an installation started at
// /oauth/amocrm/start may take.
const oauthStateTTL = 20 * time.Minute

// oauthStates are the states of the installations in progress.
type oauthStates struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (s *oauthStates) add(state string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]time.Time{}
	}
	for k, t := range s.m {
		if now.Sub(t) > oauthStateTTL {
			delete(s.m, k)
		}
	}
	s.m[state] = now
}

// take removes and returns the state the redirect carries, if it is one
// of ours and recent.
func (s *oauthStates) take(r *http.Request, now time.Time) (string, bool) {
	got := r.URL.Query().Get("state")
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[got]
	delete(s.m, got)
	return got, ok && now.Sub(t) <= oauthStateTTL
}

// oauthStart is GET /oauth/amocrm/start?token=<API token>: it sends the
// administrator's browser to amoCRM to allow the integration.
func (g *Gateway) oauthStart(w http.ResponseWriter, r *http.Request) {
	if g.amoClient == nil || g.cfg.AmoCRM.ClientID == "" {
		writeError(w, http.StatusNotFound, "no amoCRM OAuth integration is configured (amocrm.client_id)")
		return
	}
	state, err := amocrm.NewState()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "no random state")
		return
	}
	u, err := g.amoClient.AuthCodeURL(state)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	g.oauth.add(state, g.clock().Now())
	http.Redirect(w, r, u, http.StatusFound)
}

// oauthCallback is GET /oauth/amocrm/callback: amoCRM's redirect with the
// authorization code, exchanged for tokens that the database keeps (and
// the client refreshes).
func (g *Gateway) oauthCallback(w http.ResponseWriter, r *http.Request) {
	if g.amoClient == nil || g.cfg.AmoCRM.ClientID == "" {
		writeError(w, http.StatusNotFound, "no amoCRM OAuth integration is configured (amocrm.client_id)")
		return
	}
	state, ok := g.oauth.take(r, g.clock().Now())
	if !ok {
		writeError(w, http.StatusBadRequest, "state: unknown or expired; start again at /oauth/amocrm/start")
		return
	}
	red, err := amocrm.ParseRedirect(r, state)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if red.Domain != g.amoClient.Domain() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the redirect is for %s, the gateway is configured for %s", red.Domain, g.amoClient.Domain()))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if _, err := g.amoClient.Exchange(ctx, red.Code); err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, amocrm.ErrInvalidGrant) {
			status = http.StatusBadRequest
		}
		g.log.ErrorContext(r.Context(), "amocrm: code exchange failed", "error", err)
		writeError(w, status, "amoCRM refused the authorization code: "+err.Error())
		return
	}
	g.log.InfoContext(r.Context(), "amocrm: integration installed", "domain", red.Domain)
	g.checkOAuth(ctx) // the status page shows it connected
	writeJSON(w, http.StatusOK, map[string]string{"status": "installed", "domain": red.Domain})
}

// teePopUps shows a card in amoCRM and keeps it for GET /api/popups.
type teePopUps struct{ amo, local match.PopUpper }

func (t teePopUps) PopUp(ctx context.Context, p match.PopUp) error {
	err := t.amo.PopUp(ctx, p)
	return errors.Join(err, t.local.PopUp(ctx, p))
}
