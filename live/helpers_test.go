package live_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
)

// t0 is the tests' time of the calls.
var t0 = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

// safetyNet bounds a read of a stream that should have an event, so a
// broken hub fails the test instead of hanging it; nothing waits for it
// to pass.
const safetyNet = 30 * time.Second

// directory is a match.Directory's FindEmployee over fixed employees.
type directory map[string]string // extension or login → employee id

func (d directory) FindEmployee(_ context.Context, _, key string) (match.Employee, bool, error) {
	id, ok := d[key]
	return match.Employee{ID: id}, ok, nil
}

// employees: anna has extension 101, boris 201 and the login "boris".
var employees = directory{"101": "anna", "201": "boris", "boris": "boris"}

// newHub is a hub with the employees and opts, closed when the test ends.
func newHub(t testing.TB, opts ...live.Option) *live.Hub {
	t.Helper()
	h, err := live.NewHub(append([]live.Option{live.WithDirectory(employees)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close(context.Background())) })
	return h
}

// headerAuth takes the employee from the X-Employee header; "*" is every
// employee, none is 401.
func headerAuth(r *http.Request) (string, bool, error) {
	switch e := r.Header.Get("X-Employee"); e {
	case "":
		return "", false, errUnauthorized
	case "*":
		return "", true, nil
	default:
		return e, false, nil
	}
}

var errUnauthorized = errorString("sign in first")

type errorString string

func (e errorString) Error() string { return string(e) }

// serveHub serves h.Handler(headerAuth) on 127.0.0.1 until the test ends.
func serveHub(t testing.TB, h *live.Hub) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h.Handler(headerAuth))
	t.Cleanup(srv.Close)
	return srv
}

// event is one SSE event as a browser sees it.
type event struct {
	ID, Name, Data string
}

// update decodes the event's data.
func (e event) update(t testing.TB) live.Update {
	t.Helper()
	var u live.Update
	require.NoError(t, json.Unmarshal([]byte(e.Data), &u), e.Data)
	require.Equal(t, e.Name, u.Type, "the event's name is the update's type")
	return u
}

// stream is an open SSE stream.
type stream struct {
	t      testing.TB
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
	lastID string
	// comments counts the comment lines read (heartbeats).
	comments int
}

// open opens employee's stream ("*": every employee's), resuming after
// lastID when it is not empty.
func open(t testing.TB, url, employee, lastID string) *stream {
	t.Helper()
	s, code, body := tryOpen(t, url, employee, lastID)
	require.Equal(t, http.StatusOK, code, body)
	return s
}

// tryOpen is open that returns the status and body of a refusal.
func tryOpen(t testing.TB, url, employee, lastID string) (*stream, int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	if employee != "" {
		req.Header.Set("X-Employee", employee)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		b := new(strings.Builder)
		_, _ = bufio.NewReader(resp.Body).WriteTo(b)
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode, b.String()
	}
	require.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(t, "no", resp.Header.Get("X-Accel-Buffering"))
	s := &stream{t: t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	return s, resp.StatusCode, ""
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next reads the next event with data (skipping comments and the
// retry line), failing the test at the end of the stream.
func (s *stream) next() event {
	s.t.Helper()
	e, ok := s.read()
	require.True(s.t, ok, "the stream ended")
	return e
}

// read reads the next event with data; ok is false at the end of the
// stream.
func (s *stream) read() (e event, ok bool) {
	s.t.Helper()
	timer := time.AfterFunc(safetyNet, s.cancel)
	defer timer.Stop()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return event{}, false
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if e.Data != "" {
				if e.ID != "" {
					s.lastID = e.ID
				}
				return e, true
			}
		case strings.HasPrefix(line, ":"):
			s.comments++
		case strings.HasPrefix(line, "id: "):
			e.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			e.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			e.Data += strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, "retry: "):
		default:
			s.t.Errorf("unexpected line %q", line)
		}
	}
}

// ended reports whether the stream ends without another event.
func (s *stream) ended() bool {
	s.t.Helper()
	e, ok := s.read()
	if ok {
		s.t.Logf("unexpected event %+v", e)
	}
	return !ok
}

// leaves counts the streams that ended, for a test to wait for.
type leaves struct{ ch chan struct{} }

// watchLeaves makes h tell the counter of each stream that ends.
func watchLeaves(h *live.Hub) *leaves {
	l := &leaves{ch: make(chan struct{}, 1024)}
	live.SetOnLeave(h, func() { l.ch <- struct{}{} })
	return l
}

// wait waits for n more streams to end.
func (l *leaves) wait(t testing.TB, n int) {
	t.Helper()
	for range n {
		select {
		case <-l.ch:
		case <-time.After(safetyNet):
			t.Fatal("a stream did not end")
		}
	}
}

// ringing is the view of an inbound call from phone ringing extensions.
func ringing(callID, phone string, exts ...string) match.LiveCall {
	c := match.LiveCall{Provider: "megafon", Account: "acc", CallID: callID, Direction: 1, ClientPhone: phone, StartedAt: t0, Legs: []match.Leg{}}
	for _, x := range exts {
		c.Legs = append(c.Legs, match.Leg{Extension: x, State: match.LegRinging})
	}
	return c
}
