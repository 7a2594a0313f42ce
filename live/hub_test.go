package live_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
)

// TestRouting: each employee's stream gets the updates of their calls,
// cards, notifications and statuses, in order, and none of another
// employee's; a stream of every employee gets them all.
func TestRouting(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	srv := serveHub(t, h)
	anna, boris, all := open(t, srv.URL, "anna", ""), open(t, srv.URL, "boris", ""), open(t, srv.URL, "*", "")
	for _, s := range []*stream{anna, boris, all} {
		u := s.next().update(t)
		require.Equal(t, live.TypeSync, u.Type, "a new stream begins with a sync")
		require.Empty(t, u.Calls)
	}
	ctx := context.Background()

	// Boris's call first: had it gone to Anna, she would see it before
	// her own.
	h.CallChanged(ctx, ringing("c-b", "79160000002", "201"))
	c := ringing("c-a", "79160000001", "101")
	h.CallChanged(ctx, c)
	require.NoError(t, h.PopUp(ctx, match.PopUp{Phase: match.PhaseRinging, Provider: "megafon", Account: "acc", CallID: "c-a",
		Employee: "anna", ClientPhone: "79160000001", Client: match.Client{ID: "k1", Name: "Иван"},
		Leads: []match.Lead{{ID: "l1", Name: "Сделка", State: match.LeadOpen}}}))
	c.Legs[0].State, c.AnsweredAt = match.LegTalking, t0.Add(5e9)
	h.CallChanged(ctx, c)
	h.CallChanged(ctx, c) // unchanged: not sent again
	c.Legs[0].State = match.LegOnHold
	h.CallChanged(ctx, c)
	require.NoError(t, h.Notifier(nil).Notify(ctx, match.Notification{Kind: match.NotifyMissed, Employee: "boris", CallID: "c-b"}))
	h.StatusChanged(live.Status{Employee: "anna", Status: "away"})
	h.Decided(ctx, match.Decision{Call: match.CallRecord{Provider: "megafon", Account: "acc", CallID: "c-a", Status: 1,
		ClientID: "k1", LeadID: "l1", Employee: "anna"}})

	got := func(s *stream, n int) []string {
		var out []string
		for range n {
			u := s.next().update(t)
			switch u.Type {
			case live.TypeCall:
				line := fmt.Sprintf("call %s %s", u.Call.CallID, u.Call.State)
				for _, l := range u.Call.Legs {
					line += fmt.Sprintf(" %s:%s=%s", l.Extension, l.Employee, l.State)
				}
				if u.Call.Decided {
					line += fmt.Sprintf(" decided client=%s lead=%s", u.Call.ClientID, u.Call.LeadID)
				}
				out = append(out, line)
			case live.TypeCard:
				out = append(out, fmt.Sprintf("card %s %s %s leads=%d", u.Card.CallID, u.Card.Phase, u.Card.Client.Name, len(u.Card.Leads)))
			case live.TypeNotification:
				out = append(out, "notification "+u.Notification.CallID)
			case live.TypeStatus:
				out = append(out, "status "+u.Status.Employee+" "+u.Status.Status)
			}
		}
		return out
	}
	annaSees := []string{
		"call c-a ringing 101:anna=ringing",
		"card c-a ringing Иван leads=1",
		"call c-a talking 101:anna=talking",
		"call c-a on_hold 101:anna=on_hold",
		"status anna away",
		"call c-a ended 101:anna=ended decided client=k1 lead=l1",
	}
	require.Equal(t, annaSees, got(anna, len(annaSees)))
	borisSees := []string{"call c-b ringing 201:boris=ringing", "notification c-b"}
	require.Equal(t, borisSees, got(boris, len(borisSees)))
	require.Equal(t, []string{
		"call c-b ringing 201:boris=ringing",
		"call c-a ringing 101:anna=ringing",
		"card c-a ringing Иван leads=1",
		"call c-a talking 101:anna=talking",
		"call c-a on_hold 101:anna=on_hold",
		"notification c-b",
		"status anna away",
		"call c-a ended 101:anna=ended decided client=k1 lead=l1",
	}, got(all, 8))

	// Nothing else came: a last update to each is the next it reads.
	h.StatusChanged(live.Status{Employee: "anna", Status: "available"})
	h.StatusChanged(live.Status{Employee: "boris", Status: "available"})
	require.Equal(t, []string{"status anna available"}, got(anna, 1))
	require.Equal(t, []string{"status boris available"}, got(boris, 1))

	// A new stream's sync holds the calls in progress it is on.
	u := open(t, srv.URL, "boris", "").next().update(t)
	require.Equal(t, live.TypeSync, u.Type)
	require.Len(t, u.Calls, 1)
	require.Equal(t, "c-b", u.Calls[0].CallID)
	require.Empty(t, open(t, srv.URL, "anna", "").next().update(t).Calls, "Anna's call was decided")
}

// TestResume: a stream that reconnects with the id of the last event it
// read gets exactly the updates it missed, then the new ones; an id
// older than the history, of another run or malformed gets a reset with
// the calls in progress, never a silent gap.
func TestResume(t *testing.T) {
	t.Parallel()
	h := newHub(t, live.WithHistory(6, 3))
	srv := serveHub(t, h)
	left := watchLeaves(h)
	status := func(emp, st string) { h.StatusChanged(live.Status{Employee: emp, Status: st}) }

	s := open(t, srv.URL, "anna", "")
	s.next() // sync
	status("anna", "s1")
	status("boris", "x1")
	status("anna", "s2")
	require.Equal(t, "s1", s.next().update(t).Status.Status)
	last := s.lastID
	s.close()
	left.wait(t, 1)
	require.Zero(t, h.Subscribers())

	status("anna", "s3")
	status("boris", "x2")
	s = open(t, srv.URL, "anna", last)
	require.Equal(t, "s2", s.next().update(t).Status.Status, "what was sent but not read")
	require.Equal(t, "s3", s.next().update(t).Status.Status, "what came while away")
	status("anna", "s4")
	require.Equal(t, "s4", s.next().update(t).Status.Status, "then the new ones")

	// Every employee's stream resumes from the history of all.
	a := open(t, srv.URL, "*", last)
	for _, want := range []string{"x1", "s2", "s3", "x2", "s4"} {
		require.Equal(t, want, a.next().update(t).Status.Status)
	}

	// Anna keeps 3 of her updates.
	last = s.lastID
	s.close()
	left.wait(t, 1)
	h.CallChanged(context.Background(), ringing("c1", "79160000001", "101"))
	for _, st := range []string{"s5", "s6"} {
		status("anna", st)
	}
	s = open(t, srv.URL, "anna", last)
	require.Equal(t, live.TypeCall, s.next().update(t).Type, "three are kept: the call, s5, s6")
	require.Equal(t, "s5", s.next().update(t).Status.Status)
	first := s.lastID
	require.Equal(t, "s6", s.next().update(t).Status.Status)
	s.close()
	for _, st := range []string{"s7", "s8", "s9"} { // s6 leaves Anna's history
		status("anna", st)
	}
	left.wait(t, 1)
	for _, lastID := range []string{first, "zzzzzzzz-1", "garbage", strings.Split(first, "-")[0] + "-999"} {
		s = open(t, srv.URL, "anna", lastID)
		e := s.next()
		u := e.update(t)
		// first: s6 is gone from Anna's history; then another run's id, a
		// malformed one and one of the future.
		require.Equal(t, live.TypeReset, u.Type, lastID)
		require.NotEmpty(t, u.Reason)
		require.Len(t, u.Calls, 1, "the calls in progress come with the reset")
		require.Equal(t, "c1", u.Calls[0].CallID)
		// The reset carries the newest id: resuming after it misses
		// nothing.
		status("anna", "after-"+lastID)
		require.Equal(t, "after-"+lastID, s.next().update(t).Status.Status)
		s.close()
		left.wait(t, 1)
		s = open(t, srv.URL, "anna", e.ID)
		require.Equal(t, "after-"+lastID, s.next().update(t).Status.Status)
		s.close()
		left.wait(t, 1)
	}
}

// TestSlowSubscriberIsCut: a stream whose browser does not read is cut
// once more updates wait for it than its buffer holds, while the streams
// that read get every update; publishing never waits for it.
func TestSlowSubscriberIsCut(t *testing.T) {
	t.Parallel()
	const buffer = 4
	h := newHub(t, live.WithBuffer(buffer))
	srv := serveHub(t, h)
	left := watchLeaves(h)
	fast := []*stream{open(t, srv.URL, "anna", ""), open(t, srv.URL, "anna", ""), open(t, srv.URL, "*", "")}
	for _, s := range fast {
		s.next()
	}
	// The slow screen's writes block until released: its browser does
	// not read.
	w := newStuckWriter()
	req, err := http.NewRequest(http.MethodGet, "/", nil)
	require.NoError(t, err)
	req.Header.Set("X-Employee", "anna")
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Handler(headerAuth).ServeHTTP(w, req)
	}()
	<-w.entered // it is stuck writing its first frame
	require.Equal(t, 4, h.Subscribers())

	// One update at a time, each read by the fast streams before the
	// next, so only the slow one falls behind: its buffer fills, and the
	// next update cuts it.
	for i := range buffer + 3 {
		h.StatusChanged(live.Status{Employee: "anna", Status: fmt.Sprint(i)})
		for _, s := range fast {
			require.Equal(t, fmt.Sprint(i), s.next().update(t).Status.Status)
		}
		if i < buffer {
			require.Equal(t, 4, h.Subscribers(), "update %d fits in the slow stream's buffer", i)
		} else {
			require.Equal(t, 3, h.Subscribers(), "update %d cut the slow stream", i)
		}
	}
	close(w.release)
	<-done // its handler returns once it may write again
	left.wait(t, 1)
	require.Equal(t, 3, h.Subscribers())
}

// stuckWriter is a ResponseWriter whose Write blocks until release is
// closed: a browser that does not read, its socket full.
type stuckWriter struct {
	header  http.Header
	entered chan struct{}
	release chan struct{}
	once    bool
}

func newStuckWriter() *stuckWriter {
	return &stuckWriter{header: http.Header{}, entered: make(chan struct{}), release: make(chan struct{})}
}

func (w *stuckWriter) Header() http.Header { return w.header }
func (w *stuckWriter) WriteHeader(int)     {}
func (w *stuckWriter) Flush()              {}
func (w *stuckWriter) Write(b []byte) (int, error) {
	if !w.once {
		w.once = true
		close(w.entered)
	}
	<-w.release
	return len(b), nil
}

// TestAuth: a request Auth refuses is 401 (or its error's status), a
// stream for nobody 403, another method 405; nothing is subscribed.
func TestAuth(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	srv := httptest.NewServer(h.Handler(func(r *http.Request) (string, bool, error) {
		switch r.Header.Get("X-Employee") {
		case "":
			return "", false, errUnauthorized
		case "ghost":
			return "", false, statusError{http.StatusNotFound, `no employee "ghost"`}
		case "nobody":
			return "", false, nil
		}
		return r.Header.Get("X-Employee"), false, nil
	}))
	t.Cleanup(srv.Close)
	_, code, body := tryOpen(t, srv.URL, "", "")
	require.Equal(t, http.StatusUnauthorized, code)
	require.JSONEq(t, `{"error":"sign in first"}`, body)
	_, code, body = tryOpen(t, srv.URL, "ghost", "")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body, `no employee \"ghost\"`)
	_, code, _ = tryOpen(t, srv.URL, "nobody", "")
	require.Equal(t, http.StatusForbidden, code)
	resp, err := http.Post(srv.URL, "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Zero(t, h.Subscribers())
	open(t, srv.URL, "anna", "").next()
	require.Equal(t, 1, h.Subscribers())
}

type statusError struct {
	code int
	msg  string
}

func (e statusError) Error() string       { return e.msg }
func (e statusError) HTTPStatusCode() int { return e.code }

// TestDisconnectAndClose: a browser that leaves frees its subscriber;
// Close ends every stream, waits for them, leaves no goroutine of the
// hub behind and refuses new streams with 503. It does not run in
// parallel: it counts the goroutines of every hub.
func TestDisconnectAndClose(t *testing.T) {
	h, err := live.NewHub(live.WithDirectory(employees))
	require.NoError(t, err)
	srv := serveHub(t, h)
	left := watchLeaves(h)
	var streams []*stream
	for i := range 20 {
		s := open(t, srv.URL, []string{"anna", "boris", "*"}[i%3], "")
		s.next()
		streams = append(streams, s)
	}
	require.Equal(t, 20, h.Subscribers())
	for _, s := range streams[:10] {
		s.close()
	}
	left.wait(t, 10)
	require.Equal(t, 10, h.Subscribers())

	require.NoError(t, h.Close(context.Background()))
	require.Zero(t, h.Subscribers())
	for _, s := range streams[10:] {
		require.True(t, s.ended(), "Close ends the stream")
	}
	require.Zero(t, hubGoroutines(), "Close waited for every stream")
	_, code, body := tryOpen(t, srv.URL, "anna", "")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	h.StatusChanged(live.Status{Employee: "anna", Status: "away"}) // dropped, no panic
	require.NoError(t, h.Close(context.Background()), "a second Close does nothing")
}

// hubGoroutines counts the goroutines running the hub's code.
func hubGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "callbridge/live.(*Hub)") {
			count++
		}
	}
	return count
}

// TestOptions: a bad option is an error naming it, never a panic.
func TestOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opt  live.Option
		want string
	}{
		{nil, "option 1 is nil"},
		{live.WithBuffer(0), "buffer 0: want at least 1"},
		{live.WithHistory(-1, 5), "history -1, 5: want 0 or more"},
		{live.WithHeartbeat(0), "heartbeat 0s: want more than 0"},
		{live.WithLogger(nil), "nil logger"},
	} {
		_, err := live.NewHub(tc.opt)
		require.ErrorContains(t, err, tc.want)
	}
}

// TestCards: WithCards completes each card before it is shown; a card it
// fails to complete is shown as the engine made it.
func TestCards(t *testing.T) {
	t.Parallel()
	h := newHub(t, live.WithCards(func(_ context.Context, c *live.Card) error {
		if c.Client.ID == "" {
			return errorString("the CRM is down")
		}
		c.ClientURL, c.Company = "https://crm.example/clients/"+c.Client.ID, "ООО Ромашка"
		for i := range c.Leads {
			c.Leads[i].URL = "https://crm.example/leads/" + c.Leads[i].ID
		}
		c.LastCalls = []match.CallRecord{{Provider: "megafon", CallID: "old-1"}}
		return nil
	}))
	s := open(t, serveHub(t, h).URL, "anna", "")
	s.next()
	ctx := context.Background()
	require.NoError(t, h.PopUp(ctx, match.PopUp{Phase: match.PhaseRinging, Provider: "megafon", CallID: "c1", Employee: "anna",
		Client: match.Client{ID: "k1"}, Leads: []match.Lead{{ID: "l1"}, {ID: "l2"}}}))
	require.NoError(t, h.PopUp(ctx, match.PopUp{Phase: match.PhaseAnswered, Provider: "megafon", CallID: "c2", Employee: "anna", Offer: true}))
	c := s.next().update(t).Card
	require.Equal(t, "https://crm.example/clients/k1", c.ClientURL)
	require.Equal(t, "ООО Ромашка", c.Company)
	require.Equal(t, []string{"https://crm.example/leads/l1", "https://crm.example/leads/l2"}, []string{c.Leads[0].URL, c.Leads[1].URL})
	require.Equal(t, "old-1", c.LastCalls[0].CallID)
	c = s.next().update(t).Card
	require.Equal(t, "c2", c.CallID, "shown although not completed")
	require.True(t, c.Offer)
	require.Empty(t, c.ClientURL)
}
