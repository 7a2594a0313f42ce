package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
)

// The workspace's API (/ui/api/…, /ui/events) is the JSON API's handlers
// behind the employee's session instead of the API token, each acting as
// the signed-in employee only: a request that names another employee (a
// forged id, someone else's phone or call) is refused 403. The handlers
// are the API's own: a twin checks the request, fixes the employee in it
// and hands it on.

// guardUI puts the checks of the workspace's routes in front of h: a
// known Host (DNS rebinding, as the API), no cross-origin browser request
// (Origin, Sec-Fetch-Site), a session (401 without one) and, on a request
// that changes something, the session's CSRF token (CSRFHeader; 403).
func (g *Gateway) guardUI(h func(http.ResponseWriter, *http.Request, session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.knownHost(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, "unknown Host: use the gateway's address, localhost, or the host of -public-url")
			return
		}
		if !sameOrigin(r) {
			writeError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		s, ok := g.sessionOf(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "not signed in (or the session expired): sign in at /")
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		default:
			if !csrfOK(r, s) {
				g.log.WarnContext(r.Context(), "workspace: request without the session's CSRF token refused", "path", r.URL.Path, "employee", s.employee)
				writeError(w, http.StatusForbidden, "missing or wrong "+CSRFHeader+": reload the page")
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), workspaceKey{}, s.employee)), s)
	})
}

// forbidden answers 403 for a request naming what is not the employee's.
func (g *Gateway) forbidden(w http.ResponseWriter, r *http.Request, s session, msg string) {
	g.log.WarnContext(r.Context(), "workspace: request for another employee refused", "path", r.URL.Path, "employee", s.employee, "reason", msg)
	writeError(w, http.StatusForbidden, msg)
}

// employeeByID is the directory's employee with id.
func (g *Gateway) employeeByID(ctx context.Context, id string) (match.Employee, bool, error) {
	emps, err := g.directory().Employees(ctx, "")
	if err != nil {
		return match.Employee{}, false, err
	}
	i := slices.IndexFunc(emps, func(e match.Employee) bool { return e.ID == id })
	if i < 0 {
		return match.Employee{}, false, nil
	}
	return emps[i], true, nil
}

// me is the session's employee; a missing one (gone from the directory
// since the sign-in) or a failing directory is answered.
func (g *Gateway) me(w http.ResponseWriter, r *http.Request, s session) (match.Employee, bool) {
	e, ok, err := g.employeeByID(r.Context(), s.employee)
	if err != nil {
		g.dbError(w, r, err)
		return e, false
	}
	if !ok {
		writeError(w, http.StatusUnauthorized, fmt.Sprintf("employee %q is no longer in the directory: sign in again", text.Clip(s.employee, 40)))
		return e, false
	}
	return e, true
}

// phoneOf is the extension or login employee e calls from at provider:
// what the provider's user list gave them, else their first extension,
// else their login; "" for none.
func (g *Gateway) phoneOf(e match.Employee, provider string) string {
	if keys := g.providerKeys(e.ID)[provider]; len(keys) > 0 {
		return keys[0]
	}
	if len(e.Extensions) > 0 {
		return e.Extensions[0]
	}
	return e.Login
}

// ownsPhone reports whether key is one of e's extensions or logins.
func (g *Gateway) ownsPhone(e match.Employee, key string) bool {
	if key == "" {
		return false
	}
	if key == e.Login || slices.Contains(e.Extensions, key) {
		return true
	}
	for _, keys := range g.providerKeys(e.ID) {
		if slices.Contains(keys, key) {
			return true
		}
	}
	return false
}

// withJSON is r with v as its JSON body.
func withJSON(r *http.Request, v any) *http.Request {
	b, _ := json.Marshal(v) // the API's own request types
	r2 := r.Clone(r.Context())
	r2.Body, r2.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	r2.Header.Set("Content-Type", "application/json")
	return r2
}

// replyRecorder keeps the status and the start of the answer a handler
// writes (statusWriter keeps refusals' only).
type replyRecorder struct {
	http.ResponseWriter
	status int
	body   []byte // up to maxReply bytes
}

// maxReply bounds the answer a replyRecorder keeps.
const maxReply = 4096

func (s *replyRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *replyRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if len(s.body) < maxReply {
		s.body = append(s.body, b[:min(len(b), maxReply-len(s.body))]...)
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer.
func (s *replyRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// uiEvents is whose stream GET /ui/events opens: the session's
// employee's (package live, the stream of GET /api/events?employee=);
// naming another employee is 403.
func (g *Gateway) uiEvents(r *http.Request) (string, bool, error) {
	s, ok := g.sessionOf(r)
	if !ok {
		return "", false, apiError{http.StatusUnauthorized, "not signed in (or the session expired): sign in at /"}
	}
	if v, named := r.URL.Query()["employee"]; named && (len(v) != 1 || v[0] != s.employee) {
		return "", false, apiError{http.StatusForbidden, "employee: you see your own screen only"}
	}
	return s.employee, false, nil
}

// uiStatus is PUT /ui/api/employees/{id}/status: the employee's own
// status (PUT /api/employees/{id}/status); another id is 403.
func (g *Gateway) uiStatus(w http.ResponseWriter, r *http.Request, s session) {
	if id := r.PathValue("id"); id != s.employee {
		g.forbidden(w, r, s, fmt.Sprintf("id: %q is not you: you set your own status only", text.Clip(id, 40)))
		return
	}
	g.setStatus(w, r)
}

// uiCalls is GET /ui/api/calls: the employee's call history (GET
// /api/calls with employee=<the employee>, and its filters); another
// employee is 403.
func (g *Gateway) uiCalls(w http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	if v, ok := q["employee"]; ok && (len(v) != 1 || v[0] != s.employee) {
		g.forbidden(w, r, s, "employee: you see your own calls only")
		return
	}
	q.Set("employee", s.employee)
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	g.listCalls(w, r2)
}

// uiPlaceCall is POST /ui/api/calls: click-to-call from the employee's
// own phone (POST /api/calls with from = their extension or login at
// the provider): {"provider","to"}. A from that is not theirs is 403, a
// group 400. Once the provider took the call, the employee's calls in
// progress are put on hold where the provider can (seed 002: a new call
// holds the current ones).
func (g *Gateway) uiPlaceCall(w http.ResponseWriter, r *http.Request, s session) {
	var req CallRequest
	if status, err := decodeJSON(w, r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	emp, ok := g.me(w, r, s)
	if !ok {
		return
	}
	if req.Group != "" {
		writeError(w, http.StatusBadRequest, "group: the workspace calls from your own phone")
		return
	}
	req.Provider = strings.ToLower(strings.TrimSpace(req.Provider))
	if req.Provider == "" {
		req.Provider = g.defaultProvider(emp)
	}
	switch from := strings.TrimSpace(req.From); {
	case from == "":
		req.From = g.phoneOf(emp, req.Provider)
	case !g.ownsPhone(emp, from):
		g.forbidden(w, r, s, fmt.Sprintf("from: %q is not your phone", text.Clip(from, 40)))
		return
	}
	if req.From == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("you have no extension or login to call from at %s", text.Clip(req.Provider, 40)))
		return
	}
	rr := &replyRecorder{ResponseWriter: w}
	g.placeCall(rr, withJSON(r, req))
	if rr.status == http.StatusOK {
		var rep CallReply
		_ = json.Unmarshal(rr.body, &rep)
		g.screens.placed(emp.ID, req.Provider, rep.CallID)
	}
}

// defaultProvider is the provider the workspace calls through when the
// request names none: the first configured one the employee has a phone
// at, else the first configured one.
func (g *Gateway) defaultProvider(e match.Employee) string {
	first := ""
	for _, p := range providers {
		if _, ok := g.callers[p]; !ok {
			continue
		}
		if len(g.providerKeys(e.ID)[p]) > 0 {
			return p
		}
		first = cmpOr(first, p)
	}
	return first
}

// uiControl is POST /ui/api/calls/{provider}/{call_id}/{action}: call
// control (POST /api/calls/…/{action}) of a call in progress the
// employee is on, from their leg: a call that is not theirs, or a from
// that is not their phone, is 403; a call not in progress 404.
func (g *Gateway) uiControl(w http.ResponseWriter, r *http.Request, s session) {
	provider, ok := pathProvider(w, r)
	if !ok {
		return
	}
	var req ControlRequest
	if status, err := decodeJSON(w, r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	emp, ok := g.me(w, r, s)
	if !ok {
		return
	}
	callID := r.PathValue("call_id")
	key, found, mine := g.legOf(r.Context(), provider, callID, emp)
	switch {
	case !found:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no %s call %q in progress", provider, text.Clip(callID, 80)))
		return
	case !mine:
		g.forbidden(w, r, s, fmt.Sprintf("call %q is not yours", text.Clip(callID, 80)))
		return
	case req.From != "" && req.From != key && !g.ownsPhone(emp, req.From):
		g.forbidden(w, r, s, fmt.Sprintf("from: %q is not your phone", text.Clip(req.From, 40)))
		return
	}
	req.From = cmpOr(req.From, key)
	g.controlCall(w, withJSON(r, req))
}

// legOf finds the call in progress of the provider with the id (found)
// and whether emp is on it (mine): a leg of theirs, whose extension or
// login is key (their newest leg that has not ended), or the call's card
// shown to them (key: their phone at the provider).
func (g *Gateway) legOf(ctx context.Context, provider, callID string, emp match.Employee) (key string, found, mine bool) {
	var c match.LiveCall
	for _, lc := range g.engine.LiveCalls() {
		if lc.Provider == provider && lc.CallID == callID {
			c, found = lc, true
			break
		}
	}
	if !found {
		return "", false, false
	}
	// Their newest leg that has not ended, else their newest.
	for _, live := range []bool{true, false} {
		for _, l := range slices.Backward(c.Legs) {
			k := cmpOr(l.Extension, l.Login)
			if k == "" || (live && l.State == match.LegEnded) {
				continue
			}
			if g.ownsPhone(emp, k) || g.legEmployee(ctx, c.Account, l) == emp.ID {
				return k, true, true
			}
		}
	}
	if g.popups.shown(provider, c.Account, callID, emp.ID) {
		return g.phoneOf(emp, provider), true, true
	}
	return "", true, false
}

// legEmployee is the id of the employee of a leg's extension, else of
// its login, as the screens route it; "" for none.
func (g *Gateway) legEmployee(ctx context.Context, account string, l match.Leg) string {
	for _, k := range []string{l.Extension, l.Login} {
		if k == "" {
			continue
		}
		if e, ok, err := g.directory().FindEmployee(ctx, account, k); err == nil && ok {
			return e.ID
		}
	}
	return ""
}

// uiRecording is GET /ui/api/calls/{provider}/{call_id}/recording: the
// recording of one of the employee's calls (GET /api/calls/…/recording);
// another's is 403.
func (g *Gateway) uiRecording(w http.ResponseWriter, r *http.Request, s session) {
	provider, ok := pathProvider(w, r)
	if !ok {
		return
	}
	callID, account := r.PathValue("call_id"), r.URL.Query().Get("account")
	rec, logged, err := g.loggedCall(r.Context(), provider, account, callID)
	switch {
	case err != nil:
		g.dbError(w, r, err)
		return
	case !logged:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no %s call %q in account %q", provider, text.Clip(callID, 80), text.Clip(account, 80)))
		return
	case rec.Employee != s.employee:
		g.forbidden(w, r, s, fmt.Sprintf("call %q is not yours", text.Clip(callID, 80)))
		return
	}
	g.apiRecording(w, r)
}

// uiCreateClient is POST /ui/api/clients: the card's offer for an
// unknown number creates a contact or a company (POST /api/clients) with
// the employee responsible; another responsible is 403.
func (g *Gateway) uiCreateClient(w http.ResponseWriter, r *http.Request, s session) {
	var req ClientRequest
	if status, err := decodeJSON(w, r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	if req.Responsible != "" && req.Responsible != s.employee {
		g.forbidden(w, r, s, "responsible: a client you create is yours")
		return
	}
	req.Responsible = s.employee
	g.createClient(w, withJSON(r, req))
}

// LangRequest is the body of PUT /ui/api/lang.
type LangRequest struct {
	Lang string `json:"lang"`
}

// uiLang is PUT /ui/api/lang: the session's language ({"lang":"en"}).
func (g *Gateway) uiLang(w http.ResponseWriter, r *http.Request, s session) {
	var req LangRequest
	if status, err := decodeJSON(w, r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	if !slices.Contains(languages, req.Lang) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("lang: %q is none of %s", text.Clip(req.Lang, 20), strings.Join(languages, ", ")))
		return
	}
	g.sessions.setLang(s.id, req.Lang)
	writeJSON(w, http.StatusOK, req)
}

// ProviderControls says what the workspace can do with a provider's
// calls: place them (Call), and the controls its client has; a control
// a provider lacks has no button.
type ProviderControls struct {
	Provider string `json:"provider"`
	// From is the employee's phone there (extension or login), "" for
	// none.
	From     string `json:"from"`
	Call     bool   `json:"call"`
	Hold     bool   `json:"hold"`
	Transfer bool   `json:"transfer"`
	Hangup   bool   `json:"hangup"`
}

// controls is what the workspace can do with each configured provider's
// calls, as e.
func (g *Gateway) controls(e match.Employee) []ProviderControls {
	out := []ProviderControls{}
	for _, p := range providers {
		c, ok := g.callers[p]
		if !ok {
			continue
		}
		pc := ProviderControls{Provider: p, From: g.phoneOf(e, p), Call: true}
		_, pc.Hold = c.(callevent.Holder)
		_, pc.Hangup = c.(callevent.Hanger)
		_, pc.Transfer = c.(callevent.Transferer)
		if f, ok := c.(*finaz.Client); ok {
			pc.Transfer = f.Configured(finaz.OpTransfer) // a template the configuration may lack
		}
		out = append(out, pc)
	}
	return out
}
