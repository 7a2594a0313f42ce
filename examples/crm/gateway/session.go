package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SessionCookie is the cookie of an employee signed in to the workspace:
// a random session id (HttpOnly, SameSite=Lax, Secure over HTTPS or with
// an https public URL). The sessions themselves are kept in memory, so a
// restart signs everyone out.
const SessionCookie = "callbridge_session"

// CSRFHeader carries a session's CSRF token on the workspace's requests
// that change something (POST, PUT, DELETE under /ui/api/).
const CSRFHeader = "X-CSRF-Token"

// Session lifetimes: a session ends SessionIdle after its last request,
// and SessionMax after the sign-in at the latest.
const (
	SessionIdle = 12 * time.Hour
	SessionMax  = 7 * 24 * time.Hour
)

// Login links (GET /login?token=…): DefaultLoginLinkTTL is how long a
// link is valid unless asked otherwise, MaxLoginLinkTTL the longest.
const (
	DefaultLoginLinkTTL = 24 * time.Hour
	MaxLoginLinkTTL     = 30 * 24 * time.Hour
)

// maxSessions bounds the sessions kept; past it the least recently used
// is dropped.
const maxSessions = 10_000

// loginLinkPurpose separates the login links' key from the API token's
// other uses.
const loginLinkPurpose = "callbridge workspace login links"

// session is a signed-in employee's workspace session.
type session struct {
	id       string // the cookie's value
	employee string
	csrf     string // the synchronizer token of the requests that change something
	lang     string
	created  time.Time
	seen     time.Time
}

// sessions keeps the workspace sessions in memory.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

// newID is a random id of 32 bytes, base64url.
func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session of employee.
func (ss *sessions) create(employee, lang string, now time.Time) session {
	s := &session{id: newID(), employee: employee, csrf: newID(), lang: lang, created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = map[string]*session{}
	}
	if len(ss.m) >= maxSessions {
		ss.evictLocked(now)
	}
	ss.m[s.id] = s
	return *s
}

// evictLocked drops the expired sessions, and the least recently used
// one when none is.
func (ss *sessions) evictLocked(now time.Time) {
	var oldest *session
	for id, s := range ss.m {
		if s.expired(now) {
			delete(ss.m, id)
			continue
		}
		if oldest == nil || s.seen.Before(oldest.seen) {
			oldest = s
		}
	}
	if len(ss.m) >= maxSessions && oldest != nil {
		delete(ss.m, oldest.id)
	}
}

func (s *session) expired(now time.Time) bool {
	return now.Sub(s.seen) > SessionIdle || now.Sub(s.created) > SessionMax
}

// get is the session with id, refreshed; ok is false for none or an
// expired one (which goes).
func (ss *sessions) get(id string, now time.Time) (session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return session{}, false
	}
	if s.expired(now) {
		delete(ss.m, id)
		return session{}, false
	}
	s.seen = now
	return *s, true
}

// setLang changes a session's language.
func (ss *sessions) setLang(id, lang string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s := ss.m[id]; s != nil {
		s.lang = lang
	}
}

// end ends the session id.
func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

// sessionOf is the workspace session of the request's cookie.
func (g *Gateway) sessionOf(r *http.Request) (session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return session{}, false
	}
	return g.sessions.get(c.Value, g.clock().Now())
}

// secureCookies reports whether cookies get Secure: the request came over
// TLS, or the public URL is https (a proxy terminates TLS).
func (g *Gateway) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(g.cfg.PublicURL, "https://")
}

// setSessionCookie gives the browser the session's cookie.
func (g *Gateway) setSessionCookie(w http.ResponseWriter, r *http.Request, s session) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: s.id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: g.secureCookies(r), MaxAge: int(SessionMax / time.Second)})
}

// clearSessionCookie removes the session's cookie from the browser.
func (g *Gateway) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: g.secureCookies(r), MaxAge: -1})
}

// csrfOK reports whether the request carries the session's CSRF token,
// in the header (fetch) or the form field csrf (the sign-out form).
func csrfOK(r *http.Request, s session) bool {
	got := r.Header.Get(CSRFHeader)
	if got == "" && r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// newLoginKey derives the login links' key from secret (the API token),
// so a new API token also invalidates the links.
func newLoginKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(loginLinkPurpose))
	return m.Sum(nil)
}

// loginToken is the token of a login link of employee, valid until
// expires: base64url(employee) "." unix seconds "." base64url(HMAC).
func (g *Gateway) loginToken(employee string, expires time.Time) string {
	body := base64.RawURLEncoding.EncodeToString([]byte(employee)) + "." + strconv.FormatInt(expires.Unix(), 10)
	return body + "." + base64.RawURLEncoding.EncodeToString(g.loginMAC(body))
}

func (g *Gateway) loginMAC(body string) []byte {
	m := hmac.New(sha256.New, g.loginKey)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Errors of a login link's token.
var (
	errLoginToken   = errors.New("this login link is not valid")
	errLoginExpired = errors.New("this login link has expired: ask for a new one")
)

// checkLoginToken returns the employee of a login link's token that is
// valid at now.
func (g *Gateway) checkLoginToken(tok string, now time.Time) (string, error) {
	if len(tok) > 512 {
		return "", errLoginToken
	}
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return "", errLoginToken
	}
	body, sig := tok[:i], tok[i+1:]
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, g.loginMAC(body)) {
		return "", errLoginToken
	}
	emp, exp, ok := strings.Cut(body, ".")
	id, err1 := base64.RawURLEncoding.DecodeString(emp)
	unix, err2 := strconv.ParseInt(exp, 10, 64)
	if !ok || err1 != nil || err2 != nil || len(id) == 0 {
		return "", errLoginToken
	}
	if now.After(time.Unix(unix, 0)) {
		return "", errLoginExpired
	}
	return string(id), nil
}

// LoginLink returns a link under base (the gateway's address) that
// signs employee in to the workspace until ttl has passed (0:
// DefaultLoginLinkTTL), and when it expires. The link is signed with a
// key derived from the API token; anyone holding it signs in as the
// employee, so hand it over as a password.
func (g *Gateway) LoginLink(base, employee string, ttl time.Duration) (string, time.Time) {
	if ttl <= 0 {
		ttl = DefaultLoginLinkTTL
	}
	exp := g.clock().Now().Add(min(ttl, MaxLoginLinkTTL)).Truncate(time.Second)
	return strings.TrimRight(base, "/") + "/login?token=" + g.loginToken(employee, exp), exp
}

// loginFailures counts the failed sign-ins of each employee id, so that
// guessing a password is slow: past maxLoginFailures in loginWindow the
// id is refused (429) until the window passes.
type loginFailures struct {
	mu sync.Mutex
	m  map[string][]time.Time
}

// Sign-in throttling.
const (
	maxLoginFailures = 10
	loginWindow      = 15 * time.Minute
	maxThrottled     = 10_000 // ids tracked at most
)

// blocked reports whether id may not try now, and until when.
func (l *loginFailures) blocked(id string, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fails := l.recentLocked(id, now)
	if len(fails) < maxLoginFailures {
		return time.Time{}, false
	}
	return fails[0].Add(loginWindow), true
}

// failed records a failed sign-in of id.
func (l *loginFailures) failed(id string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string][]time.Time{}
	}
	if len(l.m) >= maxThrottled {
		for k := range l.m {
			if len(l.recentLocked(k, now)) == 0 {
				delete(l.m, k)
			}
		}
		if len(l.m) >= maxThrottled {
			return
		}
	}
	l.m[id] = append(l.recentLocked(id, now), now)
}

// succeeded forgets id's failures.
func (l *loginFailures) succeeded(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, id)
}

// recentLocked is id's failures within the window.
func (l *loginFailures) recentLocked(id string, now time.Time) []time.Time {
	fails := l.m[id]
	i := 0
	for i < len(fails) && now.Sub(fails[i]) > loginWindow {
		i++
	}
	return fails[i:]
}
