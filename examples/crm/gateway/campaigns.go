package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	_ "time/tzdata" // the campaigns' calling hours need the time zones in any image

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/dialer/finazdialer"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
)

// Limits of POST /api/campaigns.
const (
	// maxCampaignJSON bounds a JSON body (settings and a list of client
	// ids or targets).
	maxCampaignJSON = 8 << 20
	// maxCampaignCSV bounds a CSV upload: about 300,000 rows.
	maxCampaignCSV = 32 << 20
)

// openDialer starts the power dialer over the gateway's providers (their
// click-to-call clients, g.callers, which openClients fills; Finaz's own
// dialer when its configuration has upload_contacts and dialer_results),
// its directory and its store: the database in database mode, so a
// restart resumes the campaigns, else memory. It opens before the
// delivery of events starts, which hands them to it too (deliver). The
// call-started hook shows the target's card (GET /api/popups); the agent
// hook, the agent's state on the workspace's dialing-list panel
// (agentChanged).
func (g *Gateway) openDialer() error {
	var store dialer.Store = dialer.NewMemStore()
	if g.db != nil {
		store = g.db
	}
	cfg := dialer.Config{Store: store, Callers: g.callers, Remotes: map[string]dialer.RemoteDialer{finaz.Provider: finazRemote{g}},
		Employees: dialer.EmployeesFunc(g.agentExtension), Logger: g.log, OnCall: g.dialerCard, MeterProvider: g.obs.mp}
	if g.cfg.Campaigns == nil {
		cfg.OnAgent = g.agentChanged
	}
	if g.cfg.Clock != nil {
		cfg.Clock = g.cfg.Clock
	}
	d, err := dialer.New(context.Background(), cfg)
	if err != nil {
		return fmt.Errorf("dialer: %w", err)
	}
	g.dialer, g.dialStore = d, store
	return nil
}

// finazRemote is Finaz's dialer (finazdialer) over the configured Finaz
// client, found when a remote campaign needs it.
type finazRemote struct{ g *Gateway }

func (f finazRemote) remote() (finazdialer.Remote, error) {
	c, ok := f.g.callers[finaz.Provider].(*finaz.Client)
	if !ok {
		return finazdialer.Remote{}, fmt.Errorf("finaz is not configured: set %s: %w", f.g.missing[finaz.Provider], callevent.ErrUnsupported)
	}
	return finazdialer.New(c)
}

// Check implements dialer.RemoteChecker: Finaz is configured with the
// dialer's requests.
func (f finazRemote) Check() error {
	_, err := f.remote()
	return err
}

func (f finazRemote) Load(ctx context.Context, queue string, cs []dialer.RemoteContact) (map[int]error, error) {
	r, err := f.remote()
	if err != nil {
		return nil, err
	}
	return r.Load(ctx, queue, cs)
}

func (f finazRemote) Clear(ctx context.Context, queue string) error {
	r, err := f.remote()
	if err != nil {
		return err
	}
	return r.Clear(ctx, queue)
}

func (f finazRemote) Results(ctx context.Context, queue string) ([]dialer.RemoteResult, error) {
	r, err := f.remote()
	if err != nil {
		return nil, err
	}
	return r.Results(ctx, queue)
}

// agentExtension is what the providers ring for an agent: the
// directory's employee with that id (or extension, or login), by its
// first extension, else its login.
func (g *Gateway) agentExtension(ctx context.Context, id string) (string, bool, error) {
	es, err := g.directory().Employees(ctx, "")
	if err != nil {
		return "", false, err
	}
	for _, e := range es {
		if e.ID == id {
			return employeeExtension(e), true, nil
		}
	}
	e, ok, err := g.directory().FindEmployee(ctx, "", id)
	if err != nil || !ok {
		return "", false, err
	}
	if e.Login == id || len(e.Extensions) == 0 {
		return cmpOr(e.Login, id), true, nil
	}
	return id, true, nil // id is one of its extensions
}

func employeeExtension(e match.Employee) string {
	if len(e.Extensions) > 0 {
		return e.Extensions[0]
	}
	return e.Login
}

// dialerCard shows the card of a call the dialer placed to its agent: the
// target, with the CRM's client when the target is one.
func (g *Gateway) dialerCard(ctx context.Context, s dialer.CallStart) {
	t := s.Target
	p := match.PopUp{Phase: match.PhaseDialing, Account: s.Account, Provider: s.Provider, CallID: s.CallID,
		Direction: callevent.Outbound, Employee: s.Employee, ClientPhone: t.Phone, At: s.At,
		Client: match.Client{Name: t.Name, Phone: t.Phone, Fields: t.Fields}}
	if t.Entity == "client" && t.EntityID != "" {
		if c, ok, err := g.local().FindClient(ctx, "", t.EntityID); err == nil && ok {
			p.Client = c
			p.Leads, _ = g.local().ClientLeads(ctx, "", c.ID)
		}
	}
	g.popups.add(ctx, Card{PopUp: p, Dialer: &s})
}

// CampaignRequest is the JSON body of POST /api/campaigns: the
// campaign's settings (dialer.Campaign: provider, mode, agents,
// wrap_up_sec, hours, retry, …) and its targets, as CRM client ids (the
// clients' phones and names) or in full. With a CSV upload the settings
// come as the "settings" part (this JSON without targets) or, for a
// text/csv body, as query parameters.
type CampaignRequest struct {
	dialer.Campaign
	ClientIDs []string        `json:"client_ids,omitempty"`
	Targets   []dialer.Target `json:"targets,omitempty"`
}

// CampaignReply is the answer of POST /api/campaigns.
type CampaignReply struct {
	Campaign dialer.Campaign `json:"campaign"`
	// Targets is how many targets the campaign has.
	Targets int `json:"targets"`
	// Rejected are the CSV rows left out, each with its line and why.
	Rejected []dialer.TargetError `json:"rejected,omitempty"`
}

// AgentAction is the body of POST /api/campaigns/{id}/agents/{employee}/disposition.
type AgentAction struct {
	Disposition dialer.Disposition `json:"disposition"`
}

// DoNotCallRequest is the body of POST /api/donotcall.
type DoNotCallRequest struct {
	Phones []string `json:"phones"`
}

// createCampaign is POST /api/campaigns: a campaign from JSON (client ids
// or targets), a CSV upload (multipart/form-data: a "file" part and an
// optional "settings" part) or a text/csv body (settings as query
// parameters). The campaign is a draft; POST …/start starts it. A CSV's
// good rows make the campaign and its bad rows are listed, each with its
// line; with no good row it is 400.
func (g *Gateway) createCampaign(w http.ResponseWriter, r *http.Request) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var (
		req      CampaignRequest
		rejected []dialer.TargetError
		status   int
		err      error
	)
	switch mt {
	case "application/json":
		status, err = decodeLimited(w, r, &req, maxCampaignJSON)
		if err == nil {
			status, err = g.clientTargets(r.Context(), &req)
		}
	case "text/csv":
		if err = settingsFromQuery(r.URL.Query(), &req); err != nil {
			status = http.StatusBadRequest
			break
		}
		status, rejected, err = readCSV(w, r.Body, &req)
	case "multipart/form-data":
		status, rejected, err = readMultipart(w, r, params["boundary"], &req)
	default:
		status, err = http.StatusUnsupportedMediaType, errors.New("Content-Type: want application/json, text/csv or multipart/form-data")
	}
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	if req.Mode == 0 {
		req.Mode = dialer.Power
	}
	req.ID, req.State = "", 0 // the dialer names and starts it
	c, err := g.dialer.Create(r.Context(), req.Campaign, req.Targets)
	if err != nil {
		g.campaignError(w, r, err)
		return
	}
	g.log.InfoContext(r.Context(), "campaign created", "campaign", c.ID, "provider", c.Provider, "targets", len(req.Targets),
		"rejected", len(rejected))
	writeJSON(w, http.StatusCreated, CampaignReply{Campaign: c, Targets: len(req.Targets), Rejected: rejected})
}

// clientTargets turns the request's client ids into targets: each a
// client of the CRM with a phone (400 naming the id otherwise).
func (g *Gateway) clientTargets(ctx context.Context, req *CampaignRequest) (int, error) {
	if len(req.ClientIDs) > 0 && len(req.Targets) > 0 {
		return http.StatusBadRequest, errors.New("client_ids and targets: give one of them")
	}
	if len(req.ClientIDs) > dialer.MaxTargets {
		return http.StatusBadRequest, fmt.Errorf("client_ids: more than %d", dialer.MaxTargets)
	}
	for i, id := range req.ClientIDs {
		c, ok, err := g.local().FindClient(ctx, "", id)
		switch {
		case err != nil:
			return http.StatusServiceUnavailable, errors.New("the CRM is not available")
		case !ok:
			return http.StatusBadRequest, fmt.Errorf("client_ids[%d]: no client %q", i, text.Clip(id, 80))
		case c.Phone == "":
			return http.StatusBadRequest, fmt.Errorf("client_ids[%d]: client %q has no phone", i, text.Clip(id, 80))
		}
		// The CRM's phone is normalised already: given with "+", it reads
		// the same under any campaign country.
		req.Targets = append(req.Targets, dialer.Target{Phone: "+" + c.Phone, Entity: "client", EntityID: c.ID, Name: c.Name})
	}
	return 0, nil
}

// readCSV imports targets from body, at most maxCampaignCSV bytes.
func readCSV(w http.ResponseWriter, body io.ReadCloser, req *CampaignRequest) (int, []dialer.TargetError, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, body, maxCampaignCSV))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return http.StatusRequestEntityTooLarge, nil, fmt.Errorf("CSV over %d bytes", maxCampaignCSV)
		}
		return http.StatusBadRequest, nil, fmt.Errorf("reading the CSV: %v", err)
	}
	ts, bad, err := dialer.ImportCSV(bytes.NewReader(b), req.Country)
	if err != nil {
		return http.StatusBadRequest, nil, errors.New(strings.TrimPrefix(err.Error(), "dialer: invalid input: "))
	}
	if len(ts) == 0 {
		msg := "csv: no target to call"
		if len(bad) > 0 {
			msg += fmt.Sprintf(": every row is bad, the first %s", bad[0].Error())
		}
		return http.StatusBadRequest, bad, errors.New(msg)
	}
	req.Targets = ts
	return 0, bad, nil
}

// readMultipart reads the "settings" (JSON) and "file" (CSV) parts.
func readMultipart(w http.ResponseWriter, r *http.Request, boundary string, req *CampaignRequest) (int, []dialer.TargetError, error) {
	if boundary == "" {
		return http.StatusBadRequest, nil, errors.New("Content-Type: multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, maxCampaignCSV+maxCampaignJSON), boundary)
	var csvData []byte
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return http.StatusBadRequest, nil, fmt.Errorf("multipart: %v", err)
		}
		switch part.FormName() {
		case "settings":
			dec := json.NewDecoder(io.LimitReader(part, maxCampaignJSON))
			dec.DisallowUnknownFields()
			if err := dec.Decode(req); err != nil {
				return http.StatusBadRequest, nil, fmt.Errorf("settings: malformed JSON: %v", err)
			}
			if len(req.ClientIDs) > 0 || len(req.Targets) > 0 {
				return http.StatusBadRequest, nil, errors.New("settings: client_ids and targets do not go with a CSV file")
			}
		case "file":
			if csvData, err = io.ReadAll(io.LimitReader(part, maxCampaignCSV+1)); err != nil {
				return http.StatusBadRequest, nil, fmt.Errorf("file: %v", err)
			}
			if len(csvData) > maxCampaignCSV {
				return http.StatusRequestEntityTooLarge, nil, fmt.Errorf("file: CSV over %d bytes", maxCampaignCSV)
			}
		default:
			return http.StatusBadRequest, nil, fmt.Errorf("multipart: unknown part %q (want settings and file)", text.Clip(part.FormName(), 40))
		}
	}
	if csvData == nil {
		return http.StatusBadRequest, nil, errors.New("file: required (the CSV of targets)")
	}
	return readCSV(w, io.NopCloser(bytes.NewReader(csvData)), req)
}

// settingsFromQuery reads a text/csv upload's settings: provider, mode,
// name, agents (comma-separated or repeated), wrap_up_sec,
// ring_timeout_sec, hours ("09:00-21:00"), time_zone, country,
// caller_id, queue, skip_worked.
func settingsFromQuery(q url.Values, req *CampaignRequest) error {
	for k := range q {
		switch k {
		case "provider", "mode", "name", "agents", "wrap_up_sec", "ring_timeout_sec", "hours", "time_zone", "country",
			"caller_id", "queue", "skip_worked", "account":
		default:
			return fmt.Errorf("%s: unknown parameter", text.Clip(k, 40))
		}
	}
	c := &req.Campaign
	c.Provider, c.Name, c.TimeZone, c.Country, c.CallerID, c.Queue, c.Account = q.Get("provider"), q.Get("name"),
		q.Get("time_zone"), q.Get("country"), q.Get("caller_id"), q.Get("queue"), q.Get("account")
	if m := q.Get("mode"); m != "" {
		if err := c.Mode.UnmarshalText([]byte(m)); err != nil {
			return errors.New("mode: want preview, power or remote")
		}
	}
	for _, a := range q["agents"] {
		for _, e := range strings.Split(a, ",") {
			if e = strings.TrimSpace(e); e != "" {
				c.Agents = append(c.Agents, e)
			}
		}
	}
	for _, d := range []struct {
		key string
		to  *callevent.Seconds
	}{{"wrap_up_sec", &c.WrapUp}, {"ring_timeout_sec", &c.RingTimeout}} {
		if v := q.Get(d.key); v != "" {
			if err := d.to.UnmarshalJSON([]byte(v)); err != nil {
				return fmt.Errorf("%s: %q is not a number of seconds", d.key, text.Clip(v, 40))
			}
		}
	}
	if h := q.Get("hours"); h != "" {
		from, to, ok := strings.Cut(h, "-")
		f, err1 := dialer.ParseTimeOfDay(strings.TrimSpace(from))
		t, err2 := dialer.ParseTimeOfDay(strings.TrimSpace(to))
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("hours: %q is not HH:MM-HH:MM", text.Clip(h, 40))
		}
		c.Hours = dialer.CallingHours{From: f, To: t}
	}
	if v := q.Get("skip_worked"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("skip_worked: %q is not true or false", text.Clip(v, 40))
		}
		c.SkipWorked = b
	}
	return nil
}

// listCampaigns is GET /api/campaigns: every campaign, oldest first.
func (g *Gateway) listCampaigns(w http.ResponseWriter, r *http.Request) {
	cs, err := g.dialer.Campaigns(r.Context())
	if err != nil {
		g.campaignError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": append([]dialer.Campaign{}, cs...)})
}

// getCampaign is GET /api/campaigns/{id}: its progress (dialer.Status):
// targets pending, being called and finished, outcomes, agents.
func (g *Gateway) getCampaign(w http.ResponseWriter, r *http.Request) {
	st, err := g.dialer.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		g.campaignError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// campaignAction is POST /api/campaigns/{id}/{start|pause|resume|stop|sync};
// it answers the campaign's progress.
func (g *Gateway) campaignAction(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	ops := map[string]func(context.Context, string) error{"start": g.dialer.Start, "pause": g.dialer.Pause,
		"resume": g.dialer.Resume, "stop": g.dialer.Stop, "sync": g.dialer.Sync}
	op, ok := ops[action]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no campaign action %q: start, pause, resume, stop or sync", text.Clip(action, 40)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	if err := op(ctx, id); err != nil {
		g.campaignError(w, r, err)
		return
	}
	g.log.InfoContext(r.Context(), "campaign "+action, "campaign", id)
	if action == "start" || action == "resume" {
		g.showAgents(ctx, id)
	}
	g.getCampaign(w, r)
}

// agentAction is POST /api/campaigns/{id}/agents/{employee}/{ready|skip|pause|disposition};
// it answers the agent's state (dialer.Agent). ready places the call
// before it answers; disposition takes {"disposition": "<code>"}.
func (g *Gateway) agentAction(w http.ResponseWriter, r *http.Request) {
	id, emp, action := r.PathValue("id"), r.PathValue("employee"), r.PathValue("action")
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	var (
		a   dialer.Agent
		err error
	)
	switch action {
	case "ready":
		a, err = g.dialer.Ready(ctx, id, emp)
	case "skip":
		a, err = g.dialer.Skip(ctx, id, emp)
	case "pause":
		a, err = g.dialer.PauseAgent(ctx, id, emp)
	case "disposition":
		var req AgentAction
		if status, derr := decodeJSON(w, r, &req); derr != nil {
			writeError(w, status, derr.Error())
			return
		}
		a, err = g.dialer.Dispose(ctx, id, emp, req.Disposition)
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no agent action %q: ready, skip, pause or disposition", text.Clip(action, 40)))
		return
	}
	if err != nil {
		g.campaignError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// skipTarget is POST /api/campaigns/{id}/targets/{number}/skip.
func (g *Gateway) skipTarget(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || n < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("number: %q is not a target number (1, 2, …)", text.Clip(r.PathValue("number"), 40)))
		return
	}
	if err := g.dialer.SkipTarget(r.Context(), r.PathValue("id"), n); err != nil {
		g.campaignError(w, r, err)
		return
	}
	g.getCampaign(w, r)
}

// doNotCall is POST /api/donotcall {"phones": [...]}: numbers (read with
// the gateway's country) no campaign ever dials.
func (g *Gateway) doNotCall(w http.ResponseWriter, r *http.Request) {
	var req DoNotCallRequest
	if status, err := decodeJSON(w, r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	if len(req.Phones) == 0 {
		writeError(w, http.StatusBadRequest, "phones: required")
		return
	}
	if err := g.dialer.DoNotCall(r.Context(), g.cfg.Country, req.Phones...); err != nil {
		g.campaignError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"added": len(req.Phones)})
}

// campaignError answers a dialer error: an unknown campaign, agent or
// target 404, invalid input (naming the field), an unknown employee or a
// provider that cannot call 400, a state that does not allow the action
// or a busy agent 409, a remote dialer's failure as click-to-call's
// (callFailure), a store that fails 503.
func (g *Gateway) campaignError(w http.ResponseWriter, r *http.Request, err error) {
	msg := strings.ReplaceAll(err.Error(), "dialer: ", "")
	var apiErr *callbridge.APIError
	var reqErr *httpx.RequestError
	switch {
	case errors.Is(err, dialer.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such campaign, target or call: %s", text.Clip(msg, 200)))
	case errors.Is(err, dialer.ErrNotAgent):
		writeError(w, http.StatusNotFound, msg)
	case errors.Is(err, dialer.ErrInvalid), errors.Is(err, dialer.ErrUnknownEmployee), errors.Is(err, dialer.ErrNoCaller):
		writeError(w, http.StatusBadRequest, msg)
	case errors.Is(err, dialer.ErrState), errors.Is(err, dialer.ErrAgentBusy), errors.Is(err, dialer.ErrExists):
		writeError(w, http.StatusConflict, msg)
	case errors.As(err, &apiErr), errors.As(err, &reqErr), errors.Is(err, callevent.ErrUnsupported):
		status, m := callFailure(finaz.Provider, err)
		writeError(w, status, m)
	default:
		if r.Context().Err() != nil {
			return
		}
		g.log.ErrorContext(r.Context(), "campaigns: store failed", "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the campaign store is not available")
	}
}
