package gateway

import (
	"context"
	"net/http"
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
	g  *Gateway
	mu sync.Mutex
	// ring holds the cards, at most maxPopUps; once full, ring[next] is
	// the oldest, which the next card replaces.
	ring []Card
	next int
	// kept counts the cards in ring per call and employee (shown); the
	// gateway makes it with the popUps.
	kept map[popKey]int
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
// call opens its target's card there as the engine's cards do. The card
// is kept first, so a screen that saw it finds it in GET /api/popups.
func (p *popUps) add(ctx context.Context, card Card) {
	c := card.PopUp
	p.mu.Lock()
	if len(p.ring) < maxPopUps {
		p.ring = append(p.ring, card)
	} else {
		old := cardKey(p.ring[p.next].PopUp)
		if p.kept[old]--; p.kept[old] <= 0 {
			delete(p.kept, old)
		}
		p.ring[p.next] = card
		p.next = (p.next + 1) % maxPopUps
	}
	p.kept[cardKey(c)]++
	p.mu.Unlock()
	_ = p.g.live.PopUp(ctx, c) // never fails
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
	return p.kept[popKey{provider, account, callID, employee}] > 0
}

// cardKey is the key of card c.
func cardKey(c match.PopUp) popKey { return popKey{c.Provider, c.Account, c.CallID, c.Employee} }

// newest calls yield with the cards kept, newest first, until it
// returns false; p.mu is held.
func (p *popUps) newest(yield func(Card) bool) {
	for i := range len(p.ring) {
		if !yield(p.ring[(p.next+len(p.ring)-1-i)%len(p.ring)]) {
			return
		}
	}
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
	out := make([]Card, 0, len(g.popups.ring))
	for c := range g.popups.newest {
		if emp == "" || c.Employee == emp {
			out = append(out, c)
		}
	}
	g.popups.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"popups": out})
}
