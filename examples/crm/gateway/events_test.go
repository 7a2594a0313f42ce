package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// TestEvents: GET /api/events streams the screens as Server-Sent Events:
// a MegaFon webhook of a call ringing extension 701 becomes the card and
// the call's state on employee 701's stream and on the stream of every
// employee, not on 101's; a stream that reconnects with Last-Event-ID
// gets exactly what it missed; the end of the call comes decided, and
// the next call's card shows it (memory mode); a shutdown ends the
// streams. No token is 401, an unknown employee 404.
func TestEvents(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		clock := newFakeClock()
		srv := start(t, gateway.Config{Clock: clock, DB: db})

		code, body := srv.send(t, hook{method: http.MethodGet, target: "/api/events", header: http.Header{}})
		require.Equal(t, http.StatusUnauthorized, code, body)
		code, body = srv.do(t, http.MethodGet, "/api/events?employee=nobody", "", "")
		require.Equal(t, http.StatusNotFound, code, body)
		require.JSONEq(t, `{"error":"no employee \"nobody\""}`, body)
		code, body = srv.do(t, http.MethodGet, "/api/events?employee="+strings.Repeat("x", 300), "", "")
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, "employee:")

		ivan, other, all := openEvents(t, srv, "701", ""), openEvents(t, srv, "101", ""), openEvents(t, srv, "", "")
		for _, s := range []*sseStream{ivan, other, all} {
			require.Equal(t, live.TypeSync, s.next(t).Type)
		}
		call := megafontest.Call{ID: "mf-ev-1", Direction: "in", Phone: "79161234567", User: "andy", Ext: "701"}
		sendMegafon(t, srv, megafontest.Event("INCOMING", call))

		card := ivan.next(t)
		require.Equal(t, live.TypeCard, card.Type)
		require.Equal(t, match.PhaseRinging, card.Card.Phase)
		require.Equal(t, "Иван Петров", card.Card.Client.Name, "the caller's client")
		ringing := ivan.next(t)
		require.Equal(t, live.TypeCall, ringing.Type)
		require.Equal(t, "mf-ev-1", ringing.Call.CallID)
		require.Equal(t, match.LegRinging, ringing.Call.State)
		require.Len(t, ringing.Call.Legs, 1)
		require.Equal(t, "701", ringing.Call.Legs[0].Employee)
		require.Equal(t, live.TypeCard, all.next(t).Type)
		require.Equal(t, live.TypeCall, all.next(t).Type)

		// Ivan's screen goes away after the card; the call is answered.
		afterCard := ivan.ids[0]
		ivan.close()
		sendMegafon(t, srv, megafontest.Event("ACCEPTED", call))
		require.Equal(t, match.LegTalking, all.next(t).Call.State)
		ivan = openEvents(t, srv, "701", afterCard)
		require.Equal(t, match.LegRinging, ivan.next(t).Call.State, "sent but not read")
		require.Equal(t, match.LegTalking, ivan.next(t).Call.State, "missed while away")

		sendMegafon(t, srv, megafontest.History(call, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 60}))
		u := ivan.next(t)
		require.Equal(t, match.LegEnded, u.Call.State, "%+v", u.Call)
		require.False(t, u.Call.Decided)
		waitEvents(t, srv, 3)
		clock.Advance(match.DefaultGracePeriod)
		u = ivan.next(t)
		require.True(t, u.Call.Decided, "%+v", u.Call)
		require.Equal(t, "2", u.Call.ClientID)
		require.Equal(t, "701", u.Call.Employee)

		// Employee 101 saw none of it: the next update on its stream is
		// its own status.
		code, body = srv.do(t, http.MethodPut, "/api/employees/101/status", "application/json", `{"status":"away"}`)
		require.Equal(t, http.StatusOK, code, body)
		st := other.next(t)
		require.Equal(t, live.TypeStatus, st.Type)
		require.Equal(t, live.Status{Employee: "101", Status: "away", At: clock.Now()}, *st.Status)

		// Ivan calls again: in memory mode the card shows his last call.
		again := megafontest.Call{ID: "mf-ev-2", Direction: "in", Phone: "79161234567", User: "andy", Ext: "701"}
		sendMegafon(t, srv, megafontest.Event("INCOMING", again))
		card = ivan.next(t)
		require.Equal(t, "mf-ev-2", card.Card.CallID)
		if db == "" {
			require.Len(t, card.Card.LastCalls, 1)
			require.Equal(t, "mf-ev-1", card.Card.LastCalls[0].CallID)
		} else {
			require.Empty(t, card.Card.LastCalls, "the database has no search of calls by phone yet")
		}

		// A shutdown ends the streams still open.
		require.NoError(t, srv.stop())
		for {
			if _, err := all.r.ReadString('\n'); err != nil {
				require.ErrorIs(t, err, io.EOF, "the stream ends cleanly")
				break
			}
		}
	})
}

// sseStream is an open GET /api/events.
type sseStream struct {
	resp *http.Response
	r    *bufio.Reader
	stop context.CancelFunc
	ids  []string // of the updates read
}

// openEvents opens employee's stream ("" for every employee's), resuming
// after lastID if set.
func openEvents(t *testing.T, srv *server, employee, lastID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	target := srv.URL + "/api/events"
	if employee != "" {
		target += "?employee=" + employee
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET /api/events: %d %s", resp.StatusCode, b)
	}
	require.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
	s := &sseStream{resp: resp, r: bufio.NewReader(resp.Body), stop: cancel}
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.stop()
	s.resp.Body.Close()
}

// next reads the next update; the end of the stream fails the test. A
// stream that stays silent is cut after 30 s, so a broken gateway fails
// rather than hangs the test.
func (s *sseStream) next(t *testing.T) live.Update {
	t.Helper()
	timer := time.AfterFunc(30*time.Second, s.stop)
	defer timer.Stop()
	var id, name string
	for {
		line, err := s.r.ReadString('\n')
		require.NoError(t, err, "the stream ended")
		line = strings.TrimSuffix(line, "\n")
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			name = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			var u live.Update
			require.NoError(t, json.Unmarshal([]byte(v), &u), v)
			require.Equal(t, name, u.Type)
			if u.Type != live.TypeSync && u.Type != live.TypeReset {
				s.ids = append(s.ids, id)
			}
			return u
		}
	}
}
