package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
)

// States of the CRM integration (GET /api/status crm_health.state).
const (
	// CRMConnected: the CRM takes requests (the built-in CRM always; an
	// amoCRM OAuth integration whose tokens were renewed or are valid).
	CRMConnected = "connected"
	// CRMNotInstalled: an amoCRM OAuth integration without tokens yet:
	// install it at /oauth/amocrm/start.
	CRMNotInstalled = "not_installed"
	// CRMRefreshFailing: renewing the tokens failed (amoCRM unreachable,
	// a 5xx); retried by the next daily check.
	CRMRefreshFailing = "refresh_failing"
	// CRMRevoked: amoCRM refused the refresh token (invalid_grant: the
	// integration was removed, or its refresh token lapsed): install it
	// again at /oauth/amocrm/start. /readyz answers 503 meanwhile.
	CRMRevoked = "revoked"
)

// OAuthIdleRefresh is how long after the amoCRM OAuth tokens were last
// saved (installed or renewed) the daily check renews them even though
// nothing needed them: amoCRM drops a refresh token unused for 3 months,
// so an integration that logs no call for that long (a quiet season, a
// gateway that only looks contacts up from a cache) would have to be
// installed again. Any use renews the 24-hour access token long before
// this; 30 days leaves two months of daily retries, each failure told to
// the admins, before the lapse.
const OAuthIdleRefresh = 30 * 24 * time.Hour

// oauthCheckEvery is how often the amoCRM OAuth integration is checked
// after the check at start.
const oauthCheckEvery = 24 * time.Hour

// oauthCheckTimeout bounds one check.
const oauthCheckTimeout = time.Minute

// amoTokenLapse is how long amoCRM keeps an unused refresh token.
const amoTokenLapse = 90 * 24 * time.Hour

// CRMHealth is the state of the CRM integration, as GET /api/status and
// the status page show it.
type CRMHealth struct {
	// State is CRMConnected, CRMNotInstalled, CRMRefreshFailing or
	// CRMRevoked.
	State string `json:"state"`
	// Auth is how the gateway reaches amoCRM: "oauth" (tokens in the
	// database, renewed by the gateway) or "long_lived_token" (never
	// renewed, not checked); empty for the built-in CRM.
	Auth string `json:"auth,omitempty"`
	// TokenExpiry is when the OAuth access token expires (it is renewed
	// before).
	TokenExpiry *time.Time `json:"token_expiry,omitempty"`
	// LastRefresh is when the OAuth tokens were last saved: installed or
	// renewed.
	LastRefresh *time.Time `json:"last_refresh,omitempty"`
	// LastRefreshError is the last failed check or renewal; it stays after
	// the integration recovers (State says how it is now).
	LastRefreshError *StatusError `json:"last_refresh_error,omitempty"`
	// CheckedAt is when the OAuth integration was last checked: at start,
	// then every day.
	CheckedAt *time.Time `json:"checked_at,omitempty"`
	// LastError is the last time acting on a call in the CRM failed (the
	// engine's last warning or error: retried, or done at the call's end).
	LastError *StatusError `json:"last_error,omitempty"`
}

// crmHealth keeps the OAuth integration's state and runs its checks.
type crmHealth struct {
	check sync.Mutex // one check at a time

	mu       sync.Mutex
	h        CRMHealth
	notified string // the failure the admins were told of (its notification CallID)
	job      periodic
}

func (c *crmHealth) get() CRMHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.h
}

// health is the CRM integration's state now.
func (g *Gateway) health() CRMHealth {
	h := CRMHealth{State: CRMConnected}
	switch {
	case g.amoTokens != "":
		h = g.crmHealth.get()
	case g.amoClient != nil:
		h.Auth = "long_lived_token"
	}
	h.LastError = g.crmErr.get()
	return h
}

// startOAuthHealth checks the amoCRM OAuth integration now (in the
// background, so the start does not wait for amoCRM) and then every
// oauthCheckEvery, on the gateway's clock, until the gateway closes.
func (g *Gateway) startOAuthHealth() {
	c := &g.crmHealth
	c.mu.Lock()
	c.h = CRMHealth{State: CRMNotInstalled, Auth: "oauth"}
	c.mu.Unlock()
	c.job.start(g.clock(), true, oauthCheckEvery, oauthCheckEvery, g.checkOAuth)
}

// stopOAuthHealth stops the daily check and waits for one running.
func (g *Gateway) stopOAuthHealth() { g.crmHealth.job.stop() }

// checkOAuth checks the amoCRM OAuth integration once: tokens saved
// longer than OAuthIdleRefresh ago are renewed; otherwise one API request
// (the pipelines) proves that amoCRM still takes them, renewing an
// expired access token on the way. A renewal amoCRM refuses is
// CRMRevoked, any other failure CRMRefreshFailing; either is logged and
// told once to the admins (match.NotifyIntegration), and again only when
// the integration fails anew (another state, or tokens saved since).
func (g *Gateway) checkOAuth(ctx context.Context) {
	c := &g.crmHealth
	c.check.Lock()
	defer c.check.Unlock()
	ctx, cancel := context.WithTimeout(ctx, oauthCheckTimeout)
	defer cancel()
	now := g.clock().Now().UTC()
	saved, found, err := g.db.TokenSaved(ctx, g.amoTokens)
	if err != nil {
		if ctx.Err() == nil {
			g.log.Warn("amocrm: the OAuth check could not read the tokens; retrying tomorrow", "error", err)
		}
		return
	}
	if !found {
		c.update(func(h *CRMHealth) { h.State, h.CheckedAt = CRMNotInstalled, &now })
		return
	}
	idle := now.Sub(saved) >= OAuthIdleRefresh
	if idle {
		_, err = g.amoClient.Refresh(ctx)
	} else if _, perr := g.amoClient.Pipelines(ctx); isTokenError(perr) {
		err = perr
	} else if perr != nil && ctx.Err() == nil {
		g.log.Warn("amocrm: the daily request of the OAuth check failed (the tokens are not in question)", "error", perr)
	}
	if ctx.Err() != nil {
		return // shutting down: nothing was learnt
	}
	tok, terr := g.amoClient.Token(ctx) // cached by now: the expiry to show
	if err == nil {
		err = terr
	}
	if s, ok, serr := g.db.TokenSaved(ctx, g.amoTokens); serr == nil && ok {
		saved = s
	}
	state := CRMConnected
	switch {
	case err == nil:
	case errors.Is(err, amocrm.ErrAuthorizationRequired):
		state = CRMNotInstalled
	case errors.Is(err, amocrm.ErrInvalidGrant):
		state = CRMRevoked
	default:
		state = CRMRefreshFailing
	}
	c.update(func(h *CRMHealth) {
		h.State, h.CheckedAt, h.LastRefresh = state, &now, &saved
		h.TokenExpiry = nil
		if tok != nil && !tok.Expiry.IsZero() {
			exp := tok.Expiry.UTC()
			h.TokenExpiry = &exp
		}
		if err != nil {
			h.LastRefreshError = &StatusError{Error: text.Clip(err.Error(), 500), At: now}
		}
	})
	switch state {
	case CRMConnected:
		if idle {
			g.log.Info("amocrm: idle OAuth integration renewed", "domain", g.amoClient.Domain(), "last_saved", saved)
		}
		return
	case CRMNotInstalled:
		return
	}
	g.log.Error("amocrm: OAuth integration failing", "domain", g.amoClient.Domain(), "state", state, "error", err)
	key := "amocrm-" + state + "-" + strconv.FormatInt(saved.UnixNano(), 10)
	c.mu.Lock()
	told := c.notified == key
	c.mu.Unlock()
	if told {
		return
	}
	if err := g.tellAdmins(ctx, key, g.failureReason(state, err, saved), now); err != nil {
		g.log.Warn("amocrm: the admins were not told of the failing integration; retrying tomorrow", "error", err)
		return
	}
	c.mu.Lock()
	c.notified = key
	c.mu.Unlock()
}

func (c *crmHealth) update(f func(*CRMHealth)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.h)
}

// isTokenError reports whether err is about the OAuth tokens.
func isTokenError(err error) bool {
	return errors.Is(err, amocrm.ErrInvalidGrant) || errors.Is(err, amocrm.ErrAuthorizationRequired)
}

// failureReason is what the admins are told of a failing integration.
func (g *Gateway) failureReason(state string, err error, saved time.Time) string {
	domain := g.amoClient.Domain()
	msg := text.Clip(err.Error(), 300)
	if state == CRMRevoked {
		return fmt.Sprintf("amoCRM integration %s revoked: amoCRM refused to renew its tokens (%s). "+
			"Calls are not logged in amoCRM until an administrator installs it again at /oauth/amocrm/start?token=<API token>.", domain, msg)
	}
	return fmt.Sprintf("amoCRM integration %s: renewing its tokens failed (%s). The gateway retries daily; "+
		"amoCRM drops tokens unused for 3 months, these were last renewed %s (lapse about %s).",
		domain, msg, saved.Format(time.DateOnly), saved.Add(amoTokenLapse).Format(time.DateOnly))
}

// tellAdmins notifies every admin of the CRM's directory and of the
// gateway's own (the configured employees: amoCRM's user list may be out
// of reach when its integration fails) through the gateway's notifier,
// so the notification webhook sends it too. key names the failure: the
// store and the outbox keep one notification per key and admin.
func (g *Gateway) tellAdmins(ctx context.Context, key, reason string, now time.Time) error {
	var admins []string
	add := func(d match.Directory) {
		emps, err := d.Employees(ctx, "")
		if err != nil {
			g.log.Warn("amocrm: the directory's admins are out of reach; telling the configured ones", "error", err)
			return
		}
		for _, e := range emps {
			if e.Admin && !slices.Contains(admins, e.ID) {
				admins = append(admins, e.ID)
			}
		}
	}
	add(g.directory())
	add(g.local())
	if len(admins) == 0 {
		g.log.Warn("amocrm: no admin to tell of the failing integration (mark employees admin: true)", "failure", key)
		return nil
	}
	var errs []error
	for _, id := range admins {
		n := match.Notification{Kind: match.NotifyIntegration, Employee: id, Provider: CRMAmoCRM, CallID: key, Reason: reason, At: now}
		if err := g.notes.Notify(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("notify %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// oauthProblem is the readiness problem of a revoked integration, "" if
// none.
func (g *Gateway) oauthProblem() string {
	if g.amoTokens == "" || g.crmHealth.get().State != CRMRevoked {
		return ""
	}
	return "amocrm: integration revoked (amoCRM refused to renew its tokens): install it again at /oauth/amocrm/start"
}
