package gateway

import (
	"context"
	"net/http"
	"slices"
	"sync"

	"github.com/callbridge/callbridge/match"
)

// maxPopUps is how many cards of live calls the gateway keeps for
// GET /api/popups.
const maxPopUps = 500

// popUps keeps the newest cards the engine showed (match.PopUpper). A card
// belongs to a live call: they are kept in memory only, also in database
// mode, and a restart starts with none.
type popUps struct {
	g    *Gateway
	mu   sync.Mutex
	list []match.PopUp // oldest first, at most maxPopUps
}

var _ match.PopUpper = (*popUps)(nil)

// PopUp implements match.PopUpper: the card is kept, shown on the
// employee's screen (GET /api/events) and logged at debug level.
func (p *popUps) PopUp(ctx context.Context, c match.PopUp) error {
	_ = p.g.live.PopUp(ctx, c) // never fails
	p.mu.Lock()
	if len(p.list) == maxPopUps {
		p.list = slices.Delete(p.list, 0, 1)
	}
	p.list = append(p.list, c)
	p.mu.Unlock()
	p.g.log.DebugContext(ctx, "card shown", "phase", c.Phase.String(), "employee", c.Employee, "provider", c.Provider,
		"call_id", c.CallID, "client_id", c.Client.ID, "created", c.Created, "offer", c.Offer)
	return nil
}

// listPopUps is GET /api/popups: the cards of live calls shown to
// employees, newest first (at most the last 500); employee=<id> keeps
// one employee's.
func (g *Gateway) listPopUps(w http.ResponseWriter, r *http.Request) {
	emp := r.URL.Query().Get("employee")
	g.popups.mu.Lock()
	out := make([]match.PopUp, 0, len(g.popups.list))
	for _, c := range slices.Backward(g.popups.list) {
		if emp == "" || c.Employee == emp {
			out = append(out, c)
		}
	}
	g.popups.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"popups": out})
}
