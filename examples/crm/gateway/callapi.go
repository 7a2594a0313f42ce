package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
)

// CallDetail is the answer of GET /api/calls/{provider}/{call_id}: the
// call as the log has it, the events the engine still holds of it, and
// its client and lead.
type CallDetail struct {
	Call match.CallRecord `json:"call"`
	// Events are the call's events in time order while the engine holds
	// the call (in progress, or decided in the last 15 minutes); empty
	// after that.
	Events []callevent.Event `json:"events"`
	Client *Client           `json:"client,omitempty"`
	Lead   *Lead             `json:"lead,omitempty"`
}

// getCall is GET /api/calls/{provider}/{call_id}?account=…: one call with
// its events, recording link, client and lead. account is the call's
// account as /api/calls lists it ("" by default). A call not in the log
// yet (in progress) is shown from the engine's events. 404 for a call
// neither has.
func (g *Gateway) getCall(w http.ResponseWriter, r *http.Request) {
	provider, ok := pathProvider(w, r)
	if !ok {
		return
	}
	callID, account := r.PathValue("call_id"), r.URL.Query().Get("account")
	ctx := r.Context()
	rec, logged, err := g.loggedCall(ctx, provider, account, callID)
	if err != nil {
		g.dbError(w, r, err)
		return
	}
	events, held := g.engine.CallEvents(provider, account, callID)
	if !logged && !held {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no %s call %q in account %q", provider, text.Clip(callID, 80), text.Clip(account, 80)))
		return
	}
	events = append([]callevent.Event{}, events...)
	for i, e := range events {
		events[i].Raw = nil // the provider's own fields: not the API's to show
		events[i].RecordingURL = g.recordingLink(e.Provider, e.Account, e.CallID, e.RecordingURL)
	}
	out := CallDetail{Call: g.presented(rec), Events: events}
	if !logged {
		live, _ := g.engine.LiveCall(provider, account, callID)
		out.Call = match.CallRecord{Provider: provider, Account: account, CallID: callID, Direction: live.Direction,
			ClientPhone: live.ClientPhone, LinePhone: live.LinePhone, StartedAt: live.StartedAt, AnsweredAt: live.AnsweredAt,
			ClientID: live.ClientID}
	}
	if out.Client, out.Lead, err = g.cardOf(ctx, out.Call); err != nil {
		g.dbError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// loggedCall is the call of the log with the key, in memory or in the
// database.
func (g *Gateway) loggedCall(ctx context.Context, provider, account, callID string) (match.CallRecord, bool, error) {
	if g.db != nil {
		return g.db.Call(ctx, provider, account, callID)
	}
	rec, ok := g.store.calls.get(callKey{provider, account, callID})
	return rec, ok, nil
}

// cardOf is the client and lead of a call, when it has them and the CRM
// still does.
func (g *Gateway) cardOf(ctx context.Context, rec match.CallRecord) (*Client, *Lead, error) {
	crm := g.local()
	var cl *Client
	var ld *Lead
	if rec.ClientID != "" {
		c, ok, err := crm.FindClient(ctx, "", rec.ClientID)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			v := clientOf(c)
			cl = &v
		}
	}
	if rec.LeadID == "" {
		return cl, nil, nil
	}
	var leads []match.Lead
	var err error
	if rec.ClientID != "" {
		leads, err = crm.ClientLeads(ctx, "", rec.ClientID)
	} else if rec.ClientPhone != "" {
		leads, err = crm.PhoneLeads(ctx, "", rec.ClientPhone)
	}
	if err != nil {
		return nil, nil, err
	}
	if i := slices.IndexFunc(leads, func(l match.Lead) bool { return l.ID == rec.LeadID }); i >= 0 {
		v := leadOf(leads[i])
		ld = &v
	}
	return cl, ld, nil
}

// localCRM is the gateway's own CRM, in memory or in the database: the
// engine's store in builtin mode, the call log, notifications and online
// set in amoCRM mode.
type localCRM interface {
	match.ClientGetter
	match.LeadStore
	match.PhoneLeads
	match.CallLog
	match.Notifier
	match.Directory
	match.TaskStore
}

var (
	_ localCRM = tenantDB{}
	_ localCRM = (*crmStore)(nil)
)

// local is the gateway's own CRM.
func (g *Gateway) local() localCRM {
	if g.db != nil {
		return tenantDB{g.db}
	}
	return g.store
}
