package gateway

import (
	"context"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/match"
)

// finazCardLag is how long after it arrived a Finaz notification still
// opens its client on the operator's screen (an event resumed after a
// restart is past its moment).
const finazCardLag = 5 * time.Second

// finazCard opens the client of a Finaz answered-call notification on
// the operator's screen (seed 004: «Finaz carrega os dados do Cliente da
// chamada em questão na tela do Operador»). The engine shows the card of
// a dialer call (atendimentodiscador, outbound) when it is placed, with
// the client the notification's pid names; but the client-side
// notification (atendimentoreceptivo) carries no direction, and the
// engine shows no card on the answer of a known client's call (its card
// came with the ringing, which Finaz never reports). So once the engine
// took the notification, the operator (the employee of its ramal) gets
// the card unless they already have one of the call: the client named by
// pid, else the one with the number, with its open leads; an unknown
// number's card offers to create one.
func (g *Gateway) finazCard(ctx context.Context, e callevent.Event) {
	if e.Provider != finaz.Provider || e.Kind != callevent.Answered || e.Extension == "" {
		return
	}
	emp, ok, err := g.directory().FindEmployee(ctx, e.Account, e.Extension)
	if err != nil {
		g.log.WarnContext(ctx, "finaz: the operator of the ramal not found; no card shown", "ramal", e.Extension, "call_id", e.CallID, "error", err)
		return
	}
	if !ok || !g.popups.claim(e.Provider, e.Account, e.CallID, emp.ID) {
		return
	}
	g.showCard(ctx, match.PopUp{Phase: match.PhaseAnswered, Account: e.Account, Provider: e.Provider, CallID: e.CallID,
		Direction: e.Direction, Employee: emp.ID, ClientPhone: e.ClientPhone, LinePhone: e.LinePhone, At: g.clock().Now()}, e.ContactRef)
}
