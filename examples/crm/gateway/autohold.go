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
// job's employee in a call other than the job's. It looks only at the
// legs of the employee's extensions and login talking at their calls'
// last views (screenWork.talkingOf): no call is assembled, nobody else
// is looked up.
func (g *Gateway) holdOthers(ctx context.Context, j holdJob) {
	emp := j.employee
	if emp == "" {
		if emp = g.legEmployee(ctx, j.account, j.leg); emp == "" {
			return
		}
	}
	for k, legs := range g.screens.talkingOf(g.employeeKeys(ctx, j.account, emp)) {
		if k.provider == j.provider && k.callID == j.callID && (j.account == "" || k.account == j.account) {
			continue
		}
		holder, ok := g.callers[k.provider].(callevent.Holder)
		if !ok {
			continue // the screen shows it waiting
		}
		for _, l := range legs {
			key := cmpOr(l.Extension, l.Login)
			hctx, cancel := context.WithTimeout(ctx, callTimeout)
			err := holder.Hold(hctx, callevent.CallControlRequest{CallID: k.callID, From: key})
			cancel()
			if err != nil {
				status, _ := callFailure(k.provider, err)
				g.providerFailed(k.provider, status, err)
				g.log.WarnContext(ctx, "auto-hold: holding a call failed; it stays as it is", "provider", k.provider,
					"call_id", k.callID, "employee", emp, "error", err)
				continue
			}
			g.engine.Hold(ctx, k.provider, k.account, k.callID, key, true)
			g.log.LogAttrs(ctx, slog.LevelInfo, "auto-hold: call put on hold, the employee took another",
				slog.String("provider", k.provider), slog.String("call_id", k.callID), slog.String("employee", emp),
				slog.String("for_call_id", j.callID))
		}
	}
}

// employeeKeys are the extensions and login of the employee id.
func (g *Gateway) employeeKeys(ctx context.Context, account, id string) map[string]bool {
	keys := map[string]bool{}
	emps, err := g.directory().Employees(ctx, account)
	if err != nil {
		g.log.WarnContext(ctx, "auto-hold: the directory is unavailable", "error", err)
		return keys
	}
	for _, e := range emps {
		if e.ID != id {
			continue
		}
		for _, x := range append(e.Extensions, e.Login) {
			if x != "" {
				keys[x] = true
			}
		}
	}
	return keys
}
