// Package fakehttp is what the <provider>test fakes share: a server on
// 127.0.0.1 and server-side requests for handlers, built on net/http alone,
// so a program that runs a fake (the gateway's demo) links neither testing
// nor net/http/httptest.
package fakehttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Server serves a handler on a free port of 127.0.0.1.
type Server struct {
	// URL is "http://127.0.0.1:<port>", without a trailing slash.
	URL string

	srv  *http.Server
	ln   net.Listener
	once sync.Once
	done chan struct{}
}

// Start serves h until Close. It panics when no port can be had, as
// httptest.NewServer does: a fake that cannot listen is a broken test
// machine, not an error to handle.
func Start(h http.Handler) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("fakehttp: cannot listen on 127.0.0.1: " + err.Error())
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String(),
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic("fakehttp: serve: " + err.Error())
		}
	}()
	return s
}

// Close stops the server: open connections are closed and handlers still
// running are waited for (up to 5 s). It may be called more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		_ = s.srv.Close()
		<-s.done
	})
}

// NewRequest returns a server-side request, as a handler's ServeHTTP
// receives it: RemoteAddr 192.0.2.1:1234, Host from target or
// "example.com", RequestURI set. target is a path with an optional query or
// an absolute URL. body may be nil.
func NewRequest(method, target string, body io.Reader) *http.Request {
	if !strings.Contains(target, "://") {
		target = "http://example.com" + target
	}
	r, err := http.NewRequest(method, target, body)
	if err != nil {
		panic("fakehttp: bad request target " + target + ": " + err.Error())
	}
	r.RemoteAddr = "192.0.2.1:1234"
	r.RequestURI = r.URL.RequestURI()
	r.Host = r.URL.Host
	if body == nil {
		r.Body = http.NoBody
	}
	return r
}
