package gateway

import (
	"context"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// legCard shows the call's card to the employee of leg l when the
// engine has not: the engine shows cards on ringing, dialing and answer
// as seed 002 says, but not to an employee the call was transferred to
// once answered, nor for a provider that reports no ringing. The card
// is the call's client (the engine's, else the number's) with its open
// leads; a talking leg's card of an unknown number offers to create one.
// screenWork runs it.
func (g *Gateway) legCard(ctx context.Context, c match.LiveCall, l match.Leg) {
	if c.ClientPhone == "" || c.Direction == callevent.Internal {
		return
	}
	emp := g.legEmployee(ctx, c.Account, l)
	if emp == "" || !g.popups.claim(c.Provider, c.Account, c.CallID, emp) {
		return
	}
	phase := match.PhaseRinging
	if l.State == match.LegTalking {
		phase = match.PhaseAnswered
	}
	g.showCard(ctx, match.PopUp{Phase: phase, Account: c.Account, Provider: c.Provider, CallID: c.CallID,
		Direction: c.Direction, Employee: emp, ClientPhone: c.ClientPhone, LinePhone: c.LinePhone, At: g.clock().Now()}, c.ClientID)
}

// showCard completes card with the client named by ref (a CRM id: the
// engine's, a provider's), else the client with the number, and its
// open leads, and shows it where the engine shows cards; a card of an
// answered call from an unknown number offers to create a client.
func (g *Gateway) showCard(ctx context.Context, card match.PopUp, ref string) {
	client, found, err := g.clientOfRef(ctx, card.Account, ref, card.ClientPhone)
	if err != nil {
		g.log.WarnContext(ctx, "screens: finding the call's client failed; the card shows the number", "call_id", card.CallID, "error", err)
	}
	if found {
		card.Client = client
		if ls, ok := g.crm.(match.LeadStore); ok {
			leads, err := ls.ClientLeads(ctx, card.Account, client.ID)
			if err != nil {
				g.log.WarnContext(ctx, "screens: the client's leads not read; the card shows none", "call_id", card.CallID, "error", err)
			}
			for _, l := range leads {
				if l.Active() {
					card.Leads = append(card.Leads, l)
				}
			}
		}
	} else {
		card.Offer = card.Phase == match.PhaseAnswered && card.ClientPhone != "" && err == nil
	}
	if err := g.cards.PopUp(ctx, card); err != nil {
		g.log.WarnContext(ctx, "screens: showing the card failed", "call_id", card.CallID, "employee", card.Employee, "error", err)
	}
}

// clientOfRef is the client a CRM id names (ref: the engine's client, a
// provider's reference such as Finaz's pid), else the client with the
// number.
func (g *Gateway) clientOfRef(ctx context.Context, account, ref, number string) (match.Client, bool, error) {
	if getter, ok := g.crm.(match.ClientGetter); ok && ref != "" {
		c, found, err := getter.FindClient(ctx, account, ref)
		if err != nil || found {
			return c, found, err
		}
	}
	if number == "" {
		return match.Client{}, false, nil
	}
	return g.crm.FindClientByPhone(ctx, account, number)
}
