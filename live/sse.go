package live

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Streams' timing.
const (
	// retryMillis is the reconnection delay a stream asks browsers for.
	retryMillis = "2000"
	// writeTimeout bounds one write to a stream: a client that takes
	// longer is gone or too slow, and its stream ends.
	writeTimeout = 10 * time.Second
	// maxBatch bounds the bytes of updates written at once.
	maxBatch = 64 << 10
)

// Auth tells who a stream is for: an employee's id, or all for every
// employee's updates (an admin's screen, a CRM's backend). The embedding
// CRM authenticates the request its own way (session, token). An error
// refuses the stream with 401, or with the status of an error that has a
// method HTTPStatusCode() int (403 for a screen the user may not see, 404
// for an unknown employee); its text is the answer, so it must not
// contain a secret.
type Auth func(r *http.Request) (employee string, all bool, err error)

// Handler serves the streams of updates as Server-Sent Events (GET; the
// browser's EventSource). Each update is an event whose name is its
// type and whose data is the Update as JSON, with an id; a reconnection
// that sends the last id back (Last-Event-ID, as EventSource does) gets
// every update after it, or a reset when some are gone. A stream that
// does not resume begins with a sync of the calls in progress. Idle
// streams get a comment line every heartbeat (WithHeartbeat). A stream
// ends when the client leaves, falls too far behind (WithBuffer; it
// reconnects and resumes) or the hub closes.
//
// The request's read deadline is lifted and each write gets its own
// (10 s), so a server's ReadTimeout and WriteTimeout do not cut streams.
// A middleware between the server and the handler must let the
// ResponseWriter flush (http.Flusher, or Unwrap).
func (h *Hub) Handler(auth Auth) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		employee, all, err := auth(r)
		if err != nil {
			status := http.StatusUnauthorized
			var sc interface{ HTTPStatusCode() int }
			if errors.As(err, &sc) && sc.HTTPStatusCode() >= 400 && sc.HTTPStatusCode() < 600 {
				status = sc.HTTPStatusCode()
			}
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="callbridge"`)
			}
			writeError(w, status, err.Error())
			return
		}
		if employee == "" && !all {
			writeError(w, http.StatusForbidden, "no employee to stream")
			return
		}
		h.stream(w, r, employee, all)
	})
}

// stream serves one subscriber's stream until it ends.
func (h *Hub) stream(w http.ResponseWriter, r *http.Request, employee string, all bool) {
	s, first, replay, err := h.subscribe(employee, all, r.Header.Get("Last-Event-ID"))
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrClosed) {
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "2")
		}
		writeError(w, status, err.Error())
		return
	}
	defer h.leave(s)
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // a stream outlives the server's ReadTimeout
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)

	buf := append(make([]byte, 0, 4096), "retry: "+retryMillis+"\n\n"...)
	buf = append(buf, first...)
	for _, e := range replay {
		if len(buf) >= maxBatch {
			if !write(w, rc, buf) {
				return
			}
			buf = buf[:0]
		}
		buf = append(buf, e.frame...)
	}
	if !write(w, rc, buf) {
		return
	}
	beat := time.NewTicker(h.heartbeat)
	defer beat.Stop()
	for {
		select {
		case e := <-s.ch:
			buf = append(buf[:0], e.frame...)
		more: // what else is waiting, at once
			for len(buf) < maxBatch {
				select {
				case e := <-s.ch:
					buf = append(buf, e.frame...)
				default:
					break more
				}
			}
			if !write(w, rc, buf) {
				return
			}
			beat.Reset(h.heartbeat)
		case <-beat.C:
			if !write(w, rc, []byte(":\n\n")) {
				return
			}
		case <-s.cut:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// write writes b to the stream and flushes it; false when the client is
// gone or too slow.
func write(w http.ResponseWriter, rc *http.ResponseController, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// writeError answers {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
