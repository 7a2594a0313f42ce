package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
)

// ControlRequest is the body of POST
// /api/calls/{provider}/{call_id}/{transfer,hold,unhold,hangup}.
type ControlRequest struct {
	// From is the employee on the call (extension or login), whose leg
	// is controlled; the providers that need it (Telphin) say so.
	From string `json:"from,omitempty"`
	// To is where a transfer goes: an extension or a phone number.
	To string `json:"to,omitempty"`
	// Attended asks for a consultative transfer instead of a blind one.
	Attended bool `json:"attended,omitempty"`
}

// controlActions are the call-control actions of the API.
var controlActions = []string{"transfer", "hold", "unhold", "hangup"}

// controlCall is POST /api/calls/{provider}/{call_id}/{action}: call
// control through the provider's client, provider-neutral
// (callevent.Transferer, Holder, Hanger). An action the provider's client
// cannot do is 501 naming the provider; an unknown provider or action 404;
// otherwise the answers of POST /api/calls.
func (g *Gateway) controlCall(w http.ResponseWriter, r *http.Request) {
	provider, ok := pathProvider(w, r)
	if !ok {
		return
	}
	callID, action := r.PathValue("call_id"), r.PathValue("action")
	switch {
	case !slices.Contains(controlActions, action):
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q (one of %s)", text.Clip(action, 40), strings.Join(controlActions, ", ")))
		return
	case callID == "" || len(callID) > 256 || strings.ContainsFunc(callID, func(r rune) bool { return r < ' ' || r == 0x7f }):
		writeError(w, http.StatusBadRequest, "call_id: want 1 to 256 printable characters")
		return
	}
	var req ControlRequest
	if status, err := decodeJSON(w, r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	if action == "transfer" && strings.TrimSpace(req.To) == "" {
		writeError(w, http.StatusBadRequest, "to: where the transfer goes is required")
		return
	}
	client, ok := g.callers[provider]
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s is not configured: set %s, or run the gateway with -demo", provider, g.missing[provider]))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	ref := callevent.CallControlRequest{CallID: callID, From: req.From}
	err := fmt.Errorf("%s calls: %w", action, callevent.ErrUnsupported)
	switch action {
	case "transfer":
		if t, ok := client.(callevent.Transferer); ok {
			err = t.Transfer(ctx, callevent.TransferRequest{CallID: callID, From: req.From, To: req.To, Attended: req.Attended})
		}
	case "hold", "unhold":
		if h, ok := client.(callevent.Holder); ok {
			if action == "hold" {
				err = h.Hold(ctx, ref)
			} else {
				err = h.Unhold(ctx, ref)
			}
		}
	case "hangup":
		if h, ok := client.(callevent.Hanger); ok {
			err = h.Hangup(ctx, ref)
		}
	}
	if errors.Is(err, callevent.ErrUnsupported) {
		writeError(w, http.StatusNotImplemented, fmt.Sprintf("%s cannot %s calls", provider, action))
		return
	}
	if err != nil {
		status, msg := callFailure(provider, err)
		if apiErr := (*callbridge.APIError)(nil); errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
			// The call (or its leg of from) is not in progress there.
			status, msg = http.StatusNotFound, fmt.Sprintf("call_id: %s has no call %q in progress with %q (%s)",
				provider, text.Clip(callID, 64), text.Clip(req.From, 40), msg)
		}
		if ra := retryAfterOf(err); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		g.log.WarnContext(r.Context(), "call control failed", "provider", provider, "action", action, "call_id", callID, "status", status, "error", err)
		g.providerFailed(provider, status, err)
		writeError(w, status, msg)
		return
	}
	// No provider reports a hold: the engine, whose view of the call
	// the API and the screens show, is told.
	if account, ok := g.liveAccount(provider, callID); ok {
		switch action {
		case "hold", "unhold":
			g.engine.Hold(r.Context(), provider, account, callID, req.From, action == "hold")
		case "hangup", "transfer":
			g.engine.Hold(r.Context(), provider, account, callID, "", false)
		}
	}
	g.log.InfoContext(r.Context(), "call control", "provider", provider, "action", action, "call_id", callID)
	writeJSON(w, http.StatusOK, map[string]string{"provider": provider, "call_id": callID, "action": action})
}

// pathProvider is the {provider} of an API path, lower case; an unknown
// one is answered 404.
func pathProvider(w http.ResponseWriter, r *http.Request) (string, bool) {
	p := strings.ToLower(r.PathValue("provider"))
	if !slices.Contains(providers, p) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown provider %q (one of %s)", text.Clip(p, 40), strings.Join(providers, ", ")))
		return "", false
	}
	return p, true
}

// liveAccount is the account of the call in progress of the provider
// with the id (the API names calls without their account).
func (g *Gateway) liveAccount(provider, callID string) (string, bool) {
	for _, c := range g.engine.LiveCalls() {
		if c.Provider == provider && c.CallID == callID {
			return c.Account, true
		}
	}
	return "", false
}

// LiveCall is a call in progress as GET /api/calls/live lists it: the
// engine's view (match.LiveCall) and whether a leg of it is on hold.
type LiveCall struct {
	match.LiveCall
	OnHold bool `json:"on_hold"`
}

// liveCalls is GET /api/calls/live: the calls in progress, oldest first,
// with their legs (ringing, talking, on_hold, transferred, ended) and
// whether they are on hold (held through POST /api/calls/…/hold, which
// tells the engine: match.Engine.Hold). employee=<extension or login>
// keeps the calls with a leg of that phone. In database mode with several
// gateways, the one that decides calls (the inbox's lease holder) has
// them.
func (g *Gateway) liveCalls(w http.ResponseWriter, r *http.Request) {
	who := r.URL.Query().Get("employee")
	out := []LiveCall{}
	for _, c := range g.engine.LiveCalls() {
		if who != "" && !slices.ContainsFunc(c.Legs, func(l match.Leg) bool { return l.Extension == who || l.Login == who }) {
			continue
		}
		held := slices.ContainsFunc(c.Legs, func(l match.Leg) bool { return l.State == match.LegOnHold })
		out = append(out, LiveCall{LiveCall: c, OnHold: held})
	}
	writeJSON(w, http.StatusOK, map[string]any{"calls": out})
}
