package gateway

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
)

// The workspace: the agent's screen at GET / (seed 002's widget, seed
// 004's operator screen), html/template and embedded files, with a small
// plain script (static/workspace.js) that reads the employee's stream
// (GET /ui/events) and calls the workspace's API (uiapi.go).

//go:embed static
var staticFS embed.FS

// workspaceCSP is the Content-Security-Policy of the workspace's pages:
// scripts, styles and everything else from the gateway only, no inline
// script, not framed.
const workspaceCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxLoginForm bounds the body of POST /login.
const maxLoginForm = 8 << 10

// uiRoutes mounts the workspace: its page and sign-in, its files, its
// stream and its API, and the API routes it adds (clients, login links).
func (g *Gateway) uiRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static") // a directory of the embed
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /ui/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /{$}", g.workspace)
	mux.HandleFunc("GET /login", g.loginLink)
	mux.HandleFunc("POST /login", g.login)
	mux.HandleFunc("POST /logout", g.logout)
	events := g.live.Handler(g.uiEvents)
	mux.Handle("GET /ui/events", g.guardUI(func(w http.ResponseWriter, r *http.Request, _ session) { events.ServeHTTP(w, r) }))
	mux.Handle("GET /ui/api/me", g.guardUI(g.uiMe))
	mux.Handle("GET /ui/api/employees", g.guardUI(func(w http.ResponseWriter, r *http.Request, _ session) { g.listEmployees(w, r) }))
	mux.Handle("PUT /ui/api/employees/{id}/status", g.guardUI(g.uiStatus))
	mux.Handle("GET /ui/api/calls", g.guardUI(g.uiCalls))
	mux.Handle("POST /ui/api/calls", g.guardUI(g.uiPlaceCall))
	mux.Handle("POST /ui/api/calls/{provider}/{call_id}/{action}", g.guardUI(g.uiControl))
	mux.Handle("GET /ui/api/calls/{provider}/{call_id}/recording", g.guardUI(g.uiRecording))
	mux.Handle("POST /ui/api/clients", g.guardUI(g.uiCreateClient))
	mux.Handle("PUT /ui/api/lang", g.guardUI(g.uiLang))
	mux.Handle("POST /ui/api/campaigns/{id}/{action}", g.guardUI(g.uiCampaign))
	mux.Handle("POST /api/clients", g.guardAPI(g.createClient))
	mux.Handle("POST /api/employees/{id}/login-link", g.guardAPI(g.loginLinkAPI))
	if g.demo != nil {
		mux.Handle("POST /ui/api/demo/ring", g.guardUI(g.demo.ring))
		mux.Handle("POST /ui/api/demo/calls/{call_id}/{action}", g.guardUI(g.demo.act))
	}
}

// workspaceHeaders are the headers of the workspace's pages. The
// referrer policy is same-origin, not no-referrer: with no-referrer a
// browser sends "Origin: null" on the page's own form posts, which the
// Origin check refuses; links out (to the CRM) still carry none.
func workspaceHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", workspaceCSP)
}

// Workspace is what the workspace's script starts with (GET /ui/api/me,
// and the page itself): who is signed in, what they can do, and the
// strings of their language.
type Workspace struct {
	Employee match.Employee `json:"employee"`
	// Status is the employee's status, one of Statuses.
	Status    string   `json:"status"`
	Statuses  []Status `json:"statuses"`
	Lang      string   `json:"lang"`
	Languages []string `json:"languages"`
	// Providers are the configured providers and what the workspace can
	// do with their calls.
	Providers []ProviderControls `json:"providers"`
	// CSRF is the session's token for CSRFHeader.
	CSRF string `json:"csrf"`
	// Demo: the gateway runs with -demo and the demo phone rings.
	Demo bool   `json:"demo"`
	CRM  string `json:"crm"`
	// Messages are the workspace's strings in Lang, by message id.
	Messages map[string]string `json:"messages"`
}

// workspaceOf is the workspace of session s's employee e.
func (g *Gateway) workspaceOf(e match.Employee, s session) Workspace {
	p := g.presence
	p.mu.Lock()
	st := p.of(e.ID)
	p.mu.Unlock()
	return Workspace{Employee: e, Status: st, Statuses: p.statuses, Lang: s.lang, Languages: languages,
		Providers: g.controls(e), CSRF: s.csrf, Demo: g.demo != nil, CRM: cmpOr(g.cfg.CRM, CRMBuiltin),
		Messages: messages[s.lang]}
}

// uiMe is GET /ui/api/me: the signed-in employee's Workspace.
func (g *Gateway) uiMe(w http.ResponseWriter, r *http.Request, s session) {
	e, ok := g.me(w, r, s)
	if ok {
		writeJSON(w, http.StatusOK, g.workspaceOf(e, s))
	}
}

// pageView is what the workspace's templates show: the page's data and
// its language's strings (T).
type pageView struct {
	Lang string
	msgs map[string]string
	// The sign-in page: the employee typed, the error shown, the
	// language switched to ("" for none: the employee's own applies).
	Employee, Error, Switch string
	// The workspace.
	Boot  Workspace
	Admin bool
}

// T is the string with id in the page's language.
func (v pageView) T(id string) string { return tr(v.msgs, id) }

// workspace is GET /: the signed-in employee's workspace, or the sign-in
// page.
func (g *Gateway) workspace(w http.ResponseWriter, r *http.Request) {
	if !g.knownHost(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, "unknown Host: use the gateway's address, localhost, or the host of -public-url")
		return
	}
	workspaceHeaders(w)
	s, ok := g.sessionOf(r)
	if !ok {
		g.signInPage(w, r, http.StatusOK, "", "")
		return
	}
	e, found, err := g.employeeByID(r.Context(), s.employee)
	if err != nil {
		g.log.ErrorContext(r.Context(), "workspace: the directory failed", "error", err)
		http.Error(w, "the employees are not available, try again", http.StatusServiceUnavailable)
		return
	}
	if !found {
		g.sessions.end(s.id)
		g.clearSessionCookie(w, r)
		g.signInPage(w, r, http.StatusOK, "", "")
		return
	}
	v := pageView{Lang: s.lang, msgs: messages[s.lang], Boot: g.workspaceOf(e, s), Admin: e.Admin}
	g.renderPage(w, http.StatusOK, "workspace.html", v)
}

// signInPage answers the sign-in page with status, the employee typed
// and the error (a message id) to show.
func (g *Gateway) signInPage(w http.ResponseWriter, r *http.Request, status int, employee, errID string) {
	lang := requestLang(r, "")
	v := pageView{Lang: lang, msgs: messages[lang], Employee: employee}
	if l := r.FormValue("lang"); slices.Contains(languages, l) {
		v.Switch = l
	}
	if errID != "" {
		v.Error = tr(v.msgs, errID)
	}
	g.renderPage(w, status, "signin.html", v)
}

// startSession signs employee in: a new session, its cookie, and back to
// the workspace.
func (g *Gateway) startSession(w http.ResponseWriter, r *http.Request, employee string) {
	s := g.sessions.create(employee, requestLang(r, g.cfg.Languages[employee]), g.clock().Now())
	g.setSessionCookie(w, r, s)
	g.log.InfoContext(r.Context(), "workspace: signed in", "employee", employee, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// loginLink is GET /login?token=…: a login link signs its employee in
// (a new session) and goes to the workspace; an invalid or expired link
// is 401 with the sign-in page.
func (g *Gateway) loginLink(w http.ResponseWriter, r *http.Request) {
	if !g.knownHost(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, "unknown Host: use the gateway's address, localhost, or the host of -public-url")
		return
	}
	workspaceHeaders(w)
	tok := r.URL.Query().Get("token")
	if tok == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	id, err := g.checkLoginToken(tok, g.clock().Now())
	if err == nil {
		var found bool
		if _, found, err = g.employeeByID(r.Context(), id); err == nil && !found {
			err = errLoginToken
		}
	}
	if err != nil {
		g.log.WarnContext(r.Context(), "workspace: login link refused", "reason", err.Error(), "remote", r.RemoteAddr)
		msg := "signin.bad_link"
		if err == errLoginExpired {
			msg = "signin.expired_link"
		}
		g.signInPage(w, r, http.StatusUnauthorized, "", msg)
		return
	}
	g.startSession(w, r, id)
}

// dummyHash is checked for an employee without a password, so a sign-in
// takes as long whether the employee exists or not.
var dummyHash, _ = parsePasswordHash("pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")

// login is POST /login (the sign-in form: employee, password): a
// matching password (Config.Passwords) signs the employee in; otherwise
// 401 with the sign-in page, one message for an unknown employee and a
// wrong password. After maxLoginFailures failures in loginWindow an
// employee id is refused 429 until the window passes. A cross-origin
// form is 403 (login CSRF).
func (g *Gateway) login(w http.ResponseWriter, r *http.Request) {
	if !g.knownHost(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, "unknown Host: use the gateway's address, localhost, or the host of -public-url")
		return
	}
	workspaceHeaders(w)
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		g.signInPage(w, r, http.StatusBadRequest, "", "signin.bad_form")
		return
	}
	id, password := strings.TrimSpace(r.PostForm.Get("employee")), r.PostForm.Get("password")
	now := g.clock().Now()
	if until, blocked := g.logins.blocked(id, now); blocked {
		w.Header().Set("Retry-After", fmt.Sprint(int(until.Sub(now)/time.Second)+1))
		g.signInPage(w, r, http.StatusTooManyRequests, id, "signin.throttled")
		return
	}
	h, hasPassword := dummyHash, false
	if s, ok := g.cfg.Passwords[id]; ok && id != "" {
		if ph, err := parsePasswordHash(s); err == nil {
			h, hasPassword = ph, true
		}
	}
	ok := h.matches(password) && hasPassword
	if ok {
		_, found, err := g.employeeByID(r.Context(), id)
		if err != nil {
			g.log.ErrorContext(r.Context(), "workspace: the directory failed", "error", err)
			http.Error(w, "the employees are not available, try again", http.StatusServiceUnavailable)
			return
		}
		ok = found
	}
	if !ok {
		g.logins.failed(id, now)
		g.log.WarnContext(r.Context(), "workspace: sign-in refused", "employee", text.Clip(id, 40), "remote", r.RemoteAddr)
		g.signInPage(w, r, http.StatusUnauthorized, id, "signin.wrong")
		return
	}
	g.logins.succeeded(id)
	g.startSession(w, r, id)
}

// logout is POST /logout (the sign-out form, with the session's CSRF
// token in the field csrf): the session ends and the cookie goes.
func (g *Gateway) logout(w http.ResponseWriter, r *http.Request) {
	if !g.knownHost(r.Host) || !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	s, ok := g.sessionOf(r)
	if ok && !csrfOK(r, s) {
		writeError(w, http.StatusForbidden, "missing or wrong CSRF token: reload the page")
		return
	}
	if ok {
		g.sessions.end(s.id)
		g.log.InfoContext(r.Context(), "workspace: signed out", "employee", s.employee)
	}
	g.clearSessionCookie(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// LoginLinkRequest is the body of POST /api/employees/{id}/login-link
// (optional).
type LoginLinkRequest struct {
	// TTL is how long the link is valid, a Go duration ("24h"; default
	// DefaultLoginLinkTTL, at most MaxLoginLinkTTL).
	TTL string `json:"ttl,omitempty"`
}

// LoginLinkReply is the answer of POST /api/employees/{id}/login-link.
type LoginLinkReply struct {
	Employee  string    `json:"employee"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// loginLinkAPI is POST /api/employees/{id}/login-link: a link that signs
// the employee in to the workspace (GET /login?token=…), under the
// public URL or the address asked. 404 for an unknown employee, 400 for
// a bad ttl.
func (g *Gateway) loginLinkAPI(w http.ResponseWriter, r *http.Request) {
	var req LoginLinkRequest
	if r.ContentLength != 0 {
		if status, err := decodeJSON(w, r, &req); err != nil {
			writeError(w, status, err.Error())
			return
		}
	}
	ttl := DefaultLoginLinkTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d < time.Minute || d > MaxLoginLinkTTL {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("ttl: %q is not a duration from 1m to %s", text.Clip(req.TTL, 40), MaxLoginLinkTTL))
			return
		}
		ttl = d
	}
	id := r.PathValue("id")
	if _, found, err := g.employeeByID(r.Context(), id); err != nil {
		g.dbError(w, r, err)
		return
	} else if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no employee %q", text.Clip(id, 40)))
		return
	}
	link, exp := g.LoginLink(g.baseURL(r), id, ttl)
	writeJSON(w, http.StatusOK, LoginLinkReply{Employee: id, URL: link, ExpiresAt: exp.UTC()})
}
