package gateway

import (
	"context"
	"net/http"
	"slices"
	"sync"

	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/match"
)

// maxPopUps is how many cards of live calls the gateway keeps for
// GET /api/popups.
const maxPopUps = 500

// popUps keeps the newest cards the engine showed (match.PopUpper) and
// those of the calls the dialer placed (dialerCard). A card belongs to a
// live call: they are kept in memory only, also in database mode, and a
// restart starts with none.
type popUps struct {
	g    *Gateway
	mu   sync.Mutex
	list []Card // oldest first, at most maxPopUps
	// claimed are the cards the gateway itself is about to show (claim).
	claimed map[popKey]bool
}

// Card is a card of GET /api/popups: the engine's, or for a call a
// campaign placed the target's (the campaign, its target and the CRM
// record in Dialer).
type Card struct {
	match.PopUp
	Dialer *dialer.CallStart `json:"dialer,omitempty"`
}

// popKey names the card of a call for an employee.
type popKey struct{ provider, account, callID, employee string }

var _ match.PopUpper = (*popUps)(nil)

// PopUp implements match.PopUpper: the card is kept, shown on the
// employee's screen (GET /api/events) and logged at debug level.
func (p *popUps) PopUp(ctx context.Context, c match.PopUp) error {
	p.add(ctx, Card{PopUp: c})
	return nil
}

// add keeps a card and shows it on the employee's screen: a campaign's
// call opens its target's card there as the engine's cards do.
func (p *popUps) add(ctx context.Context, card Card) {
	c := card.PopUp
	_ = p.g.live.PopUp(ctx, c) // never fails
	p.mu.Lock()
	if len(p.list) == maxPopUps {
		p.list = slices.Delete(p.list, 0, 1)
	}
	p.list = append(p.list, card)
	p.mu.Unlock()
	p.g.log.DebugContext(ctx, "card shown", "phase", c.Phase.String(), "employee", c.Employee, "provider", c.Provider,
		"call_id", c.CallID, "client_id", c.Client.ID, "created", c.Created, "offer", c.Offer, "campaign", card.Dialer != nil)
}

// shown reports whether a card of the call was shown to employee (of
// the cards kept).
func (p *popUps) shown(provider, account, callID, employee string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shownLocked(provider, account, callID, employee)
}

func (p *popUps) shownLocked(provider, account, callID, employee string) bool {
	return slices.ContainsFunc(p.list, func(c Card) bool {
		return c.Provider == provider && c.Account == account && c.CallID == callID && c.Employee == employee
	})
}

// claim reserves the showing of a card of the call to employee by the
// gateway itself (legCard, finazCard): false when one was shown or
// claimed already, so two of them never show one call twice. (The
// engine shows its cards before it reports the call's view, so they are
// among those shown by then.)
func (p *popUps) claim(provider, account, callID, employee string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := popKey{provider, account, callID, employee}
	if p.claimed[k] || p.shownLocked(provider, account, callID, employee) {
		return false
	}
	if p.claimed == nil || len(p.claimed) >= maxPopUps {
		p.claimed = map[popKey]bool{}
	}
	p.claimed[k] = true
	return true
}

// listPopUps is GET /api/popups: the cards of live calls shown to
// employees, newest first (at most the last 500); employee=<id> keeps
// one employee's.
func (g *Gateway) listPopUps(w http.ResponseWriter, r *http.Request) {
	emp := r.URL.Query().Get("employee")
	g.popups.mu.Lock()
	out := make([]Card, 0, len(g.popups.list))
	for _, c := range slices.Backward(g.popups.list) {
		if emp == "" || c.Employee == emp {
			out = append(out, c)
		}
	}
	g.popups.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"popups": out})
}
