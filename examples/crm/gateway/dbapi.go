package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/sqlstore"
)

// dbError answers a listing whose database failed: 503, the provider's
// and the operator's cue to try again; the error is logged, not shown.
func (g *Gateway) dbError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client is gone
	}
	g.log.ErrorContext(r.Context(), "api: database failed", "path", r.URL.Path, "error", err)
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "the database is not available")
}

// listCallsDB is GET /api/calls in database mode: the calls after the
// call after (nil: from the newest), found by its key as in memory, so a
// page holds its place while calls arrive.
func (g *Gateway) listCallsDB(w http.ResponseWriter, r *http.Request, after *match.CallRecord, limit int, f callFilter) {
	if !f.to.IsZero() && (after == nil || after.StartedAt.After(f.to)) {
		after = &match.CallRecord{StartedAt: f.to} // the calls before to come after it
	}
	calls, more, err := g.scanCallsDB(r.Context(), after, limit, func(c match.CallRecord) (bool, bool) { return f.judge(&c) })
	if err != nil {
		g.dbError(w, r, err)
		return
	}
	next := ""
	if more {
		next = callCursor(&calls[len(calls)-1])
	}
	writePage(g, w, r, calls, func(b []byte, c match.CallRecord) ([]byte, error) { return g.appendCall(b, &c) }, next)
}

// listNotifications is GET /api/notifications: the notifications to
// employees (Notification), oldest first; limit and cursor.
func (g *Gateway) listNotifications(w http.ResponseWriter, r *http.Request) {
	q, err := g.parseListQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	pos, ok := g.position(w, q.cursor, "notifications")
	if !ok {
		return
	}
	var list func(context.Context, sqlstore.Page) ([]match.Notification, error)
	if g.db != nil {
		list = func(ctx context.Context, p sqlstore.Page) ([]match.Notification, error) {
			return g.db.Notifications(ctx, "", p)
		}
	} else {
		all := g.store.Notifications()
		list = func(_ context.Context, p sqlstore.Page) ([]match.Notification, error) {
			return all[min(p.Offset, len(all)):min(p.Offset+p.Limit, len(all))], nil
		}
	}
	ns, next, more, err := scanDB(r.Context(), pos, q.limit, list, func(match.Notification) (bool, bool) { return true, false })
	if err != nil {
		g.dbError(w, r, err)
		return
	}
	var sent map[string]sqlstore.Delivery
	if g.outbox != nil {
		// Every sender's, also one no longer configured.
		keys := make([]string, 0, len(ns)*len(senderNames))
		for _, n := range ns {
			for _, s := range senderNames {
				keys = append(keys, deliveryKey(s, n))
			}
		}
		if sent, err = g.outbox.Deliveries(r.Context(), keys); err != nil {
			g.dbError(w, r, err)
			return
		}
	}
	writePage(g, w, r, ns, func(b []byte, n match.Notification) ([]byte, error) {
		v := notificationOf(n)
		for _, s := range senderNames {
			d, ok := sent[deliveryKey(s, n)]
			if !ok {
				continue
			}
			dv := &Delivery{State: d.State.String(), Attempts: d.Attempts, LastError: d.LastError}
			if !d.SentAt.IsZero() {
				dv.SentAt = &d.SentAt
			}
			if v.Deliveries == nil {
				v.Deliveries = map[string]*Delivery{}
			}
			v.Deliveries[s] = dv
		}
		v.Delivery = v.Deliveries[senderWebhook]
		return appendJSON(b, v)
	}, cursorIf(more, "notifications", next))
}

// memoryDeadLetters is the note of GET /api/deadletters in memory mode.
const memoryDeadLetters = "in-memory mode keeps no dead letters: they are logged and counted " +
	"(dead_letters in /readyz); run with -db to keep them in the database and replay them"

// listDeadLetters is GET /api/deadletters: the events acknowledged to a
// provider that the CRM failed to take after every retry
// (sqlstore.DeadLetter), oldest first; limit and cursor. The cursor is the
// last dead letter of the page before, so an operator who replays each
// page as it comes meets every dead letter once. In memory mode the list
// is empty, with a note.
func (g *Gateway) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	q, err := g.parseListQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	c, ok := g.cursor(w, q.cursor, "deadletters")
	if !ok {
		return
	}
	after := c.ID
	encode := func(b []byte, d sqlstore.DeadLetter) ([]byte, error) { return appendJSON(b, d) }
	if g.inbox == nil {
		writePageNote(g, w, r, []sqlstore.DeadLetter{}, encode, "",
			fmt.Sprintf("%s (%d so far)", memoryDeadLetters, g.deadLetters.Load()))
		return
	}
	ds, _, more, err := scan(r.Context(), q.limit, func(ctx context.Context) ([]sqlstore.DeadLetter, error) {
		rows, err := g.inbox.DeadLetters(ctx, after, dbScan)
		if len(rows) > 0 {
			after = rows[len(rows)-1].ID
		}
		return rows, err
	}, func(sqlstore.DeadLetter) (bool, bool) { return true, false })
	if err != nil {
		g.dbError(w, r, err)
		return
	}
	next := ""
	if more {
		next = encodeCursor(cursorData{List: "deadletters", ID: ds[len(ds)-1].ID})
	}
	writePage(g, w, r, ds, encode, next)
}

// ReplayReply is the answer of POST /api/deadletters/{id}/replay.
type ReplayReply struct {
	ID     int64  `json:"id"`
	Status string `json:"status"` // "pending": a worker delivers it again
}

// replayDeadLetter is POST /api/deadletters/{id}/replay: the dead event
// goes back to the inbox, due now. A non-numeric id is 400, an id that is
// not a dead letter (unknown, replayed already; every id in memory mode)
// 404.
func (g *Gateway) replayDeadLetter(w http.ResponseWriter, r *http.Request) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("id: %q is not a dead letter id (a positive number)", text.Clip(v, 40)))
		return
	}
	if g.inbox == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("id: %d is not a dead letter: %s", id, memoryDeadLetters))
		return
	}
	if err := g.inbox.Replay(r.Context(), id); err != nil {
		if errors.Is(err, sqlstore.ErrNotFound) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("id: %d is not a dead letter (unknown, replayed or purged)", id))
			return
		}
		g.dbError(w, r, err)
		return
	}
	g.log.InfoContext(r.Context(), "dead letter replayed", "id", id)
	writeJSON(w, http.StatusOK, ReplayReply{ID: id, Status: "pending"})
}
