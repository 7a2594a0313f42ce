package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// StatusCookie is the cookie of the status page: a value derived from the
// API token (never the token), set by GET /status?token=<API token>.
const StatusCookie = "callbridge_status"

// statusRefresh is how often the status page reloads itself, in seconds.
const statusRefresh = 30

//go:embed templates/*.html
var templateFS embed.FS

// pages are the HTML pages: status.html and login.html (the status
// page), workspace.html and signin.html (the workspace).
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when":         when,
	"outcomes":     func() []string { return outcomeOrder },
	"languages":    func() []string { return languages },
	"callStatuses": callStatuses,
}).ParseFS(templateFS, "templates/*.html"))

// outcomeOrder is the order of the webhook outcomes on the page.
var outcomeOrder = []string{OutcomeAccepted, OutcomeUnauthorized, OutcomeBadRequest, OutcomeTooLarge, OutcomeUnavailable}

// when formats a time of the page, "—" for none.
func when(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// statusView is what status.html shows.
type statusView struct {
	GatewayStatus
	// Providers in the order of the routes, with their names.
	List    []namedProvider
	Now     time.Time
	Refresh int
}

// namedProvider is a provider's status with its name.
type namedProvider struct {
	Name string
	ProviderStatus
}

// statusPage is GET /status: GatewayStatus as an HTML page for a browser
// (a phone's too), reloading itself every statusRefresh seconds. It needs
// the API token: given once as ?token=, which sets StatusCookie (HttpOnly,
// SameSite=Strict, Secure over HTTPS) and redirects to the same path
// without the query, so the token stays in neither the address bar nor
// the history; or as Authorization: Bearer. Otherwise a 401 page says how
// to log in. The Host is checked as the API's is (DNS rebinding).
func (g *Gateway) statusPage(w http.ResponseWriter, r *http.Request) {
	if !g.knownHost(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, "unknown Host: use the gateway's address, localhost, or the host of -public-url")
		return
	}
	pageHeaders(w)
	if q := r.URL.Query(); q.Has("token") {
		if !g.isAPIToken(q.Get("token")) {
			g.log.WarnContext(r.Context(), "status page: wrong token", "remote", r.RemoteAddr)
			g.renderPage(w, http.StatusUnauthorized, "login.html", map[string]any{"Wrong": true, "Path": r.URL.Path})
			return
		}
		http.SetCookie(w, &http.Cookie{Name: StatusCookie, Value: g.pageSession(), Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || strings.HasPrefix(g.cfg.PublicURL, "https://")})
		http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
		return
	}
	if !g.pageAuthorized(r) {
		g.renderPage(w, http.StatusUnauthorized, "login.html", map[string]any{"Path": r.URL.Path})
		return
	}
	st := g.gatewayStatus(r)
	v := statusView{GatewayStatus: st, Now: g.clock().Now(), Refresh: statusRefresh}
	for _, p := range providers {
		v.List = append(v.List, namedProvider{Name: p, ProviderStatus: st.Providers[p]})
	}
	g.renderPage(w, http.StatusOK, "status.html", v)
}

// pageHeaders are the headers of every HTML page: not cached, not framed,
// no script, no referrer.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
}

// renderPage executes the template name with data into a buffer, so a
// failure is a clean 500, then writes it with status.
func (g *Gateway) renderPage(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		g.log.Error("status page: template failed", "template", name, "error", err)
		http.Error(w, "the page could not be made", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// isAPIToken compares tok with the API token in constant time.
func (g *Gateway) isAPIToken(tok string) bool {
	got, want := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(g.apiToken))
	return tok != "" && subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// pageSession is the value of StatusCookie: an HMAC of a fixed label
// keyed with the API token, so the cookie does not carry the token and a
// new token logs every browser out.
func (g *Gateway) pageSession() string {
	mac := hmac.New(sha256.New, []byte(g.apiToken))
	mac.Write([]byte("callbridge status page session"))
	return hex.EncodeToString(mac.Sum(nil))
}

// pageAuthorized reports whether r carries StatusCookie, the API token
// as a bearer token, or the workspace session of an admin (the
// workspace links admins here).
func (g *Gateway) pageAuthorized(r *http.Request) bool {
	if tok, ok := bearer(r.Header.Get("Authorization")); ok {
		return g.isAPIToken(tok)
	}
	if c, err := r.Cookie(StatusCookie); err == nil && hmac.Equal([]byte(c.Value), []byte(g.pageSession())) {
		return true
	}
	s, ok := g.sessionOf(r)
	if !ok {
		return false
	}
	e, found, err := g.employeeByID(r.Context(), s.employee)
	return err == nil && found && e.Admin
}
