package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/sqlstore"
	"github.com/callbridge/callbridge/telphin"
)

// Webhook outcomes counted per provider (GET /api/status), by the status
// the gateway answered.
const (
	OutcomeAccepted     = "accepted"     // 2xx
	OutcomeUnauthorized = "unauthorized" // 401, 403
	OutcomeBadRequest   = "bad_request"  // other 4xx but 413
	OutcomeTooLarge     = "too_large"    // 413
	OutcomeUnavailable  = "unavailable"  // 5xx: the provider redelivers
)

func outcomeOf(status int) string {
	switch {
	case status < 300:
		return OutcomeAccepted
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return OutcomeUnauthorized
	case status == http.StatusRequestEntityTooLarge:
		return OutcomeTooLarge
	case status < 500:
		return OutcomeBadRequest
	}
	return OutcomeUnavailable
}

// ProviderStatus is a provider as GET /api/status shows it.
type ProviderStatus struct {
	// Configured says the provider's API credentials are set (click-to-
	// call, history, recordings); webhooks work without them.
	Configured bool `json:"configured"`
	// Webhooks counts the provider's webhook requests since start by
	// outcome.
	Webhooks map[string]int64 `json:"webhooks"`
	// LastEvent is when the last webhook was accepted.
	LastEvent *time.Time `json:"last_event,omitempty"`
	// LastRefusal is the last webhook answered otherwise.
	LastRefusal *Refusal `json:"last_refusal,omitempty"`
	// LastError is the last time the CRM failed to take one of the
	// provider's events (retried, or a dead letter).
	LastError *StatusError `json:"last_error,omitempty"`
	// HooksRegistered says the gateway registered its webhooks with the
	// provider at start (Telphin with -public-url).
	HooksRegistered bool `json:"hooks_registered,omitempty"`
	// Hooks are the webhook URLs to paste into the provider's cabinet,
	// under -public-url (else the address the request came to), with the
	// webhook token in them.
	Hooks []HookURL `json:"hooks"`
	// Token is what to paste beside the URL: MegaFon's crm_token ("Ключ
	// для авторизации в вашей CRM"); the other providers carry theirs in
	// the URL.
	Token string `json:"token,omitempty"`
	// EmployeeSync is how the last reading of the provider's user list
	// by the employee sync went; absent before one.
	EmployeeSync *EmployeeSync `json:"employee_sync,omitempty"`
}

// HookURL is a webhook URL of a provider.
type HookURL struct {
	// Method is how the provider calls it: "POST", "GET" or "POST or GET".
	Method string `json:"method"`
	// Name is the cabinet's name of the hook where the provider has
	// several (Phonet's customer_data, call, after_call_end; Finaz's
	// endpoints).
	Name string `json:"name,omitempty"`
	URL  string `json:"url"`
}

// Refusal is a webhook the gateway did not accept.
type Refusal struct {
	At     time.Time `json:"at"`
	Status int       `json:"status"`
	// Error is what the gateway answered.
	Error string `json:"error,omitempty"`
}

// StatusError is a failure and when it happened.
type StatusError struct {
	Error string    `json:"error"`
	At    time.Time `json:"at"`
}

// Backlog is the events acknowledged to the providers and not delivered
// to the CRM.
type Backlog struct {
	// Queued is the events waiting: the queue's in memory mode, the
	// inbox's pending events in database mode.
	Queued int `json:"queued"`
	// DeadLetters is the events given up: since start in memory mode
	// (logged), in the inbox until replayed in database mode (GET
	// /api/deadletters).
	DeadLetters int64 `json:"dead_letters"`
}

// OutboxBacklog counts the notifications of the notification webhook
// (Config.NotifyURL) by state.
type OutboxBacklog struct {
	Pending int `json:"pending"`
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
}

// GatewayStatus is the answer of GET /api/status.
type GatewayStatus struct {
	Providers map[string]ProviderStatus `json:"providers"`
	// CRM is where clients and leads live: "builtin" or "amocrm", with
	// the account's domain.
	CRM       string `json:"crm"`
	CRMDomain string `json:"crm_domain,omitempty"`
	// CRMHealth is the state of the CRM integration: amoCRM's OAuth
	// tokens.
	CRMHealth CRMHealth `json:"crm_health"`
	// Delivery is the backlog of events for the CRM.
	Delivery Backlog `json:"delivery"`
	// Notifications is the notification webhook's outbox; absent without
	// one.
	Notifications *OutboxBacklog `json:"notifications,omitempty"`
	// CRMEmployeeSync is how the last reading of amoCRM's users by the
	// employee sync went (amoCRM mode).
	CRMEmployeeSync *EmployeeSync `json:"crm_employee_sync,omitempty"`
	Readiness
}

// hookStats counts the webhook outcomes of each provider.
type hookStats struct {
	mu   sync.Mutex
	byP  map[string]*ProviderStatus
	regs map[string]bool
}

// of is the provider's entry; s.mu must be held.
func (s *hookStats) of(provider string) *ProviderStatus {
	if s.byP == nil {
		s.byP = map[string]*ProviderStatus{}
	}
	p := s.byP[provider]
	if p == nil {
		p = &ProviderStatus{Webhooks: map[string]int64{}}
		s.byP[provider] = p
	}
	return p
}

func (s *hookStats) record(provider string, status int, answer string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.of(provider)
	o := outcomeOf(status)
	p.Webhooks[o]++
	if o == OutcomeAccepted {
		p.LastEvent = &at
	} else {
		p.LastRefusal = &Refusal{At: at, Status: status, Error: answer}
	}
}

// failed records that the CRM did not take an event of provider.
func (s *hookStats) failed(provider string, err error, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.of(provider).LastError = &StatusError{Error: text.Clip(err.Error(), 500), At: at}
}

func (s *hookStats) registered(provider string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.regs == nil {
		s.regs = map[string]bool{}
	}
	s.regs[provider] = true
}

// counted wraps a provider's webhook handler to count its outcomes.
func (g *Gateway) counted(provider string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		if !sw.reached {
			g.obs.refused(r, provider, sw.status)
		}
		g.hookStats.record(provider, sw.status, sw.answer(), time.Now().UTC())
	})
}

// maxAnswer bounds the part of a refusal's body a statusWriter keeps.
const maxAnswer = 512

// statusWriter remembers the status written and the start of the body
// of a refusal.
type statusWriter struct {
	http.ResponseWriter
	status  int
	wrote   bool
	reached bool   // the provider's handler got the request (see reached)
	body    []byte // of a status >= 300, up to maxAnswer bytes
}

// answer is the refusal's message: the "error" of a JSON body, else the
// body's text, clipped.
func (w *statusWriter) answer() string {
	if w.status < 300 {
		return ""
	}
	var m struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(w.body, &m) == nil && m.Error != "" {
		return text.Clip(m.Error, 200)
	}
	return text.Clip(strings.TrimSpace(string(w.body)), 200)
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	if w.status >= 300 && len(w.body) < maxAnswer {
		w.body = append(w.body, b[:min(len(b), maxAnswer-len(w.body))]...)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// status is GET /api/status: see gatewayStatus.
func (g *Gateway) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, g.gatewayStatus(r))
}

// gatewayStatus is each provider with its webhook counts by outcome, its
// last event, refusal and delivery error, whether its API is configured
// and the webhook URLs (and MegaFon's token) to paste; the CRM and the
// state of its integration; the backlogs of events and notifications;
// and the readiness of /readyz (queue depth, dead letters, problems).
// The URLs are under -public-url, else the scheme and Host of r.
func (g *Gateway) gatewayStatus(r *http.Request) GatewayStatus {
	ctx := r.Context()
	st := GatewayStatus{Providers: map[string]ProviderStatus{}, CRM: cmpOr(g.cfg.CRM, CRMBuiltin),
		CRMHealth: g.health(), Readiness: g.Ready(ctx)}
	if g.amoClient != nil {
		st.CRMDomain = g.amoClient.Domain()
		st.CRMEmployeeSync = g.syncState(CRMAmoCRM)
	}
	hooks := g.hookURLs(g.baseURL(r))
	g.hookStats.mu.Lock()
	for _, p := range providers {
		ps := ProviderStatus{Webhooks: map[string]int64{}}
		if s := g.hookStats.byP[p]; s != nil {
			ps = *s
			ps.Webhooks = maps.Clone(s.Webhooks)
		}
		_, ps.Configured = g.callers[p]
		ps.HooksRegistered = g.hookStats.regs[p]
		ps.Hooks = hooks[p]
		if p == megafon.Provider {
			ps.Token = g.megafonToken
		}
		ps.EmployeeSync = g.syncState(p)
		st.Providers[p] = ps
	}
	g.hookStats.mu.Unlock()
	st.Delivery = Backlog{Queued: st.Queued, DeadLetters: g.deadLetters.Load()}
	if g.inbox != nil {
		n, err := g.inbox.Dead(ctx)
		if err != nil {
			g.log.WarnContext(ctx, "status: dead letters not counted", "error", err)
		}
		st.Delivery.DeadLetters = int64(n)
	}
	if g.outbox != nil {
		counts, err := g.outbox.DeliveryCounts(ctx)
		if err != nil {
			g.log.WarnContext(ctx, "status: notification outbox not counted", "error", err)
		}
		st.Notifications = &OutboxBacklog{Pending: counts[sqlstore.DeliveryPending], Sent: counts[sqlstore.DeliverySent],
			Failed: counts[sqlstore.DeliveryFailed]}
	}
	return st
}

// baseURL is where the providers reach the gateway: -public-url, else the
// scheme and Host of r (a Host the caller checked with knownHost).
func (g *Gateway) baseURL(r *http.Request) string {
	if g.cfg.PublicURL != "" {
		return strings.TrimRight(g.cfg.PublicURL, "/")
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return scheme + r.Host
}

// hookURLs are each provider's webhook URLs under base, as its cabinet
// takes them (PrintURLs prints them at start).
func (g *Gateway) hookURLs(base string) map[string][]HookURL {
	tok := "?token=" + g.hookToken
	m := map[string][]HookURL{
		telphin.Provider: {{Method: "POST or GET", URL: base + "/hooks/telphin/" + cmpOr(g.telphinApp, "{APP_ID}") + tok}},
		megafon.Provider: {{Method: "POST", URL: base + "/hooks/megafon"}},
	}
	for _, ep := range phonetEndpoints {
		m[phonet.Provider] = append(m[phonet.Provider], HookURL{Method: "POST", Name: ep, URL: base + "/hooks/phonet/" + ep + tok})
	}
	for _, ep := range finazEndpoints {
		m[finaz.Provider] = append(m[finaz.Provider], HookURL{Method: "GET", Name: string(ep), URL: base + "/hooks/finaz/" + string(ep) + tok})
	}
	return m
}

// providerFailed records a failure of the provider's API (click-to-call,
// call control): its 5xx, a network error, a 429; not the caller's
// mistakes.
func (g *Gateway) providerFailed(provider string, status int, err error) {
	if status >= http.StatusInternalServerError || status == http.StatusTooManyRequests {
		g.hookStats.failed(provider, err, time.Now().UTC())
	}
}

// lastError keeps the last of a kind of failure.
type lastError struct {
	mu sync.Mutex
	v  *StatusError
}

func (l *lastError) set(e StatusError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.v = &e
}

func (l *lastError) get() *StatusError {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.v == nil {
		return nil
	}
	v := *l.v
	return &v
}

// errorTap is the engine's slog.Handler: it passes every record on to
// next and keeps the message and error of each warning or error in last
// (the CRM failing to take a call: the engine logs and retries it).
type errorTap struct {
	next slog.Handler
	last *lastError
}

func (t errorTap) Enabled(ctx context.Context, l slog.Level) bool { return t.next.Enabled(ctx, l) }

func (t errorTap) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" || a.Key == "error" {
				msg += ": " + a.Value.String()
				return false
			}
			return true
		})
		t.last.set(StatusError{Error: text.Clip(msg, 500), At: r.Time.UTC()})
	}
	return t.next.Handle(ctx, r)
}

func (t errorTap) WithAttrs(as []slog.Attr) slog.Handler {
	return errorTap{t.next.WithAttrs(as), t.last}
}

func (t errorTap) WithGroup(name string) slog.Handler {
	return errorTap{t.next.WithGroup(name), t.last}
}
