package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
)

// limitListener accepts at most n connections at once; Accept waits for a
// slot, so further clients wait in the kernel's backlog. (The pattern of
// golang.org/x/net/netutil.LimitListener, in a few lines of the standard
// library.)
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// inFlight bounds the webhook requests being read and handled at once.
type inFlight chan struct{}

// limit answers 503 with Retry-After, before reading the body, when n
// requests are already in flight.
func (f inFlight) limit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case f <- struct{}{}:
			defer func() { <-f }()
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "busy: too many requests in flight, retry later")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// queryToken refuses, before the body is read, a request whose ?token=
// is not tok: the providers' handlers would refuse it too, but only after
// taking the body in.
func (g *Gateway) queryToken(tok string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(tok))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.URL.Query().Get("token")
		sum := sha256.Sum256([]byte(got))
		if got == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			g.log.WarnContext(r.Context(), "webhook refused: missing or invalid token", "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("Connection", "close") // do not wait for the body
			writeError(w, http.StatusUnauthorized, "webhook: unauthorized: missing or invalid token")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// guardAPI puts the checks of every /api/ route in front of h: a known
// Host (DNS rebinding), no cross-origin browser request, and the bearer
// token, all before the body is read.
func (g *Gateway) guardAPI(h http.HandlerFunc) http.Handler {
	want := sha256.Sum256([]byte(g.apiToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.knownHost(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, "unknown Host: use the gateway's address, localhost, or the host of -public-url")
			return
		}
		if !sameOrigin(r) {
			writeError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		tok, ok := bearer(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="callbridge"`)
			writeError(w, http.StatusUnauthorized, "missing or invalid API token (Authorization: Bearer <token>)")
			return
		}
		h(w, r)
	})
}

func bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// knownHost accepts an IP literal (a browser page on an attacker's name
// that resolves to this machine — DNS rebinding — sends that name, not an
// IP), localhost, and the hosts of the public URL and the listen address.
func (g *Gateway) knownHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" {
		return true
	}
	_, ok := g.hosts[host]
	return ok
}

// sameOrigin refuses what a browser sends for a cross-site request: an
// Origin other than this Host (a no-cors fetch or form post from any page
// carries one; "null" from a sandboxed page too) or Sec-Fetch-Site
// cross-site / same-site. Non-browser clients send neither.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}

// hostsOf is the set of host names (lower case) the API answers to,
// besides IP literals and localhost.
func hostsOf(publicURL, addr string) map[string]struct{} {
	hosts := map[string]struct{}{}
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
		hosts[strings.ToLower(u.Hostname())] = struct{}{}
	}
	if h, _, err := net.SplitHostPort(addr); err == nil && h != "" {
		hosts[strings.ToLower(h)] = struct{}{}
	}
	return hosts
}
