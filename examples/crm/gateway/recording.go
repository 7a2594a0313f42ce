package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/telphin"
)

// recordingRetries are the waits before a Telphin record that was not
// ready is looked up again: a recording is stored some time after the
// call ends.
var recordingRetries = []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}

// recordingTimeout bounds one record lookup.
const recordingTimeout = 3 * time.Second

// recordingPause is how long deliveries do not wait for Telphin after a
// lookup failed for another reason than a record not stored yet (Telphin
// down or slow): their records are looked up later instead, so an outage
// of Telphin's API never slows the delivery of events.
const recordingPause = time.Minute

// recordingURLer resolves the record id of a Telphin event to its link
// (telphin.Client.RecordingURL).
type recordingURLer interface {
	RecordingURL(ctx context.Context, e callevent.Event) (string, error)
}

// recordings puts the links of Telphin recordings on the calls: Telphin's
// hangup carries a record id, not a URL (seed 002). The lookups still
// waiting are not kept across a restart.
type recordings struct {
	g *Gateway

	mu        sync.Mutex
	timers    map[match.Timer]struct{}
	closed    bool
	pauseTill time.Time // see recordingPause
}

// withRecording returns e with its recording's link when e is a Telphin
// event with a record id (telphin.RecID) and no link, and the Telphin
// client is configured. A record that is not there yet is looked up again
// later (recordingRetries); when it appears the call is amended with it:
// an event of the call carrying the link is handed to the CRM like a
// webhook's.
func (r *recordings) withRecording(ctx context.Context, e callevent.Event) callevent.Event {
	if e.Provider != telphin.Provider || e.RecordingURL != "" || telphin.RecID(e) == "" {
		return e
	}
	c, ok := r.g.callers[telphin.Provider].(recordingURLer)
	if !ok {
		return e
	}
	r.mu.Lock()
	paused := r.g.clock().Now().Before(r.pauseTill)
	r.mu.Unlock()
	if !paused {
		if link, ok := r.lookup(ctx, c, e); ok {
			e.RecordingURL = link
			return e
		}
	}
	r.later(c, e, 0)
	return e
}

// lookup asks Telphin for e's record link.
func (r *recordings) lookup(ctx context.Context, c recordingURLer, e callevent.Event) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, recordingTimeout)
	defer cancel()
	link, err := c.RecordingURL(ctx, e)
	if err != nil || link == "" {
		var apiErr *callbridge.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
			r.mu.Lock()
			r.pauseTill = r.g.clock().Now().Add(recordingPause)
			r.mu.Unlock()
		}
		r.g.log.InfoContext(ctx, "telphin recording not available yet", "call_id", e.CallID, "record_id", telphin.RecID(e), "error", err)
		return "", false
	}
	return link, true
}

// later looks e's record up again after recordingRetries[try].
func (r *recordings) later(c recordingURLer, e callevent.Event, try int) {
	if try >= len(recordingRetries) {
		r.g.log.Warn("telphin recording never appeared; the call keeps no link", "call_id", e.CallID, "record_id", telphin.RecID(e))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if r.timers == nil {
		r.timers = map[match.Timer]struct{}{}
	}
	var t match.Timer
	t = r.g.clock().AfterFunc(recordingRetries[try], func() {
		r.mu.Lock()
		delete(r.timers, t)
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		link, ok := r.lookup(ctx, c, e)
		if !ok {
			r.later(c, e, try+1)
			return
		}
		amended := e
		amended.ID, amended.RecordingURL = e.ID+"-recording", link
		if err := r.g.sink.HandleEvent(ctx, amended); err != nil {
			r.g.log.Error("telphin recording found but not handed to the CRM", "call_id", e.CallID, "error", err)
		}
	})
	r.timers[t] = struct{}{}
}

// close stops the lookups still waiting.
func (r *recordings) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for t := range r.timers {
		t.Stop()
	}
	clear(r.timers)
}
