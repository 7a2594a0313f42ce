package gateway

import (
	"context"
	"log/slog"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// Automatic hold (seed 002: «При совершении нового вызова, текущие
// автоматически ставятся на удержание»): when a leg of an employee begins
// talking (answered, or taken off hold), and when they place a call from
// the workspace, their other talking calls are held through the
// provider's client (callevent.Holder: Telphin) and the engine is told
// (Engine.Hold), so the screens show them on hold. A provider that cannot
// hold is left alone: the workspace shows such a call as waiting,
// without a hold button. screenWork runs it.

// holdJob asks to hold the calls of an employee other than one call:
// the employee is given, or the employee of leg.
type holdJob struct {
	employee                  string
	provider, account, callID string
	leg                       match.Leg
}

// holdOthers holds, where the provider can, every talking leg of the
// job's employee in a call other than the job's.
func (g *Gateway) holdOthers(ctx context.Context, j holdJob) {
	emp := j.employee
	if emp == "" {
		if emp = g.legEmployee(ctx, j.account, j.leg); emp == "" {
			return
		}
	}
	for _, c := range g.engine.LiveCalls() {
		if c.Provider == j.provider && c.CallID == j.callID && (j.account == "" || c.Account == j.account) {
			continue
		}
		holder, ok := g.callers[c.Provider].(callevent.Holder)
		if !ok {
			continue // the screen shows it waiting
		}
		for _, l := range c.Legs {
			key := cmpOr(l.Extension, l.Login)
			if l.State != match.LegTalking || key == "" || g.legEmployee(ctx, c.Account, l) != emp {
				continue
			}
			hctx, cancel := context.WithTimeout(ctx, callTimeout)
			err := holder.Hold(hctx, callevent.CallControlRequest{CallID: c.CallID, From: key})
			cancel()
			if err != nil {
				status, _ := callFailure(c.Provider, err)
				g.providerFailed(c.Provider, status, err)
				g.log.WarnContext(ctx, "auto-hold: holding a call failed; it stays as it is", "provider", c.Provider,
					"call_id", c.CallID, "employee", emp, "error", err)
				continue
			}
			g.engine.Hold(ctx, c.Provider, c.Account, c.CallID, key, true)
			g.log.LogAttrs(ctx, slog.LevelInfo, "auto-hold: call put on hold, the employee took another",
				slog.String("provider", c.Provider), slog.String("call_id", c.CallID), slog.String("employee", emp),
				slog.String("for_call_id", j.callID))
		}
	}
}
