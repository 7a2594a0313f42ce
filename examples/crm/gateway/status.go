package gateway

import (
	"net/http"
	"sync"
	"time"
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
	// HooksRegistered says the gateway registered its webhooks with the
	// provider at start (Telphin with -public-url).
	HooksRegistered bool `json:"hooks_registered,omitempty"`
}

// Refusal is a webhook the gateway did not accept.
type Refusal struct {
	At     time.Time `json:"at"`
	Status int       `json:"status"`
}

// GatewayStatus is the answer of GET /api/status.
type GatewayStatus struct {
	Providers map[string]ProviderStatus `json:"providers"`
	// CRM is where clients and leads live: "builtin" or "amocrm", with
	// the account's domain.
	CRM       string `json:"crm"`
	CRMDomain string `json:"crm_domain,omitempty"`
	Readiness
}

// hookStats counts the webhook outcomes of each provider.
type hookStats struct {
	mu   sync.Mutex
	byP  map[string]*ProviderStatus
	regs map[string]bool
}

func (s *hookStats) record(provider string, status int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byP == nil {
		s.byP = map[string]*ProviderStatus{}
	}
	p := s.byP[provider]
	if p == nil {
		p = &ProviderStatus{Webhooks: map[string]int64{}}
		s.byP[provider] = p
	}
	o := outcomeOf(status)
	p.Webhooks[o]++
	if o == OutcomeAccepted {
		p.LastEvent = &at
	} else {
		p.LastRefusal = &Refusal{At: at, Status: status}
	}
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
		g.hookStats.record(provider, sw.status, time.Now().UTC())
	})
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// status is GET /api/status: each provider with its webhook counts by
// outcome, its last event and last refusal, whether its API is
// configured; the CRM; and the readiness of /readyz (queue depth, dead
// letters, problems).
func (g *Gateway) status(w http.ResponseWriter, r *http.Request) {
	st := GatewayStatus{Providers: map[string]ProviderStatus{}, CRM: cmpOr(g.cfg.CRM, CRMBuiltin), Readiness: g.Ready(r.Context())}
	if g.amoClient != nil {
		st.CRMDomain = g.amoClient.Domain()
	}
	g.hookStats.mu.Lock()
	for _, p := range providers {
		ps := ProviderStatus{Webhooks: map[string]int64{}}
		if s := g.hookStats.byP[p]; s != nil {
			ps = *s
			ps.Webhooks = make(map[string]int64, len(s.Webhooks))
			for k, v := range s.Webhooks {
				ps.Webhooks[k] = v
			}
		}
		_, ps.Configured = g.callers[p]
		ps.HooksRegistered = g.hookStats.regs[p]
		st.Providers[p] = ps
	}
	g.hookStats.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}
