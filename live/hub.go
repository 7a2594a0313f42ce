package live

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge/match"
)

// Defaults of a Hub's settings (the options of NewHub).
const (
	// DefaultBuffer is how many updates a subscriber may fall behind
	// before its stream is cut (WithBuffer).
	DefaultBuffer = 256
	// DefaultHistory is how many of the newest updates the hub keeps for
	// streams of every employee to resume (WithHistory).
	DefaultHistory = 4096
	// DefaultEmployeeHistory is how many of each employee's newest
	// updates the hub keeps for that employee's streams to resume
	// (WithHistory).
	DefaultEmployeeHistory = 128
	// DefaultHeartbeat is how often an idle stream gets a comment line,
	// so proxies keep it open and a dead connection is noticed
	// (WithHeartbeat).
	DefaultHeartbeat = 15 * time.Second
)

// maxViews bounds the calls whose last view the hub keeps (a call's view
// goes when it is decided): past it an arbitrary one is dropped, which
// costs a repeated update and a directory lookup, nothing more.
const maxViews = match.DefaultMaxCalls

// ErrClosed is returned for a subscription to a closed Hub.
var ErrClosed = errors.New("live: hub closed")

// A Directory finds the employee of an extension or a login, as
// match.Directory does. The hub routes by the employee's id alone, so ids
// must not repeat across the accounts it serves.
type Directory interface {
	FindEmployee(ctx context.Context, account, key string) (e match.Employee, found bool, err error)
}

// CardFunc adds what the CRM knows to a card before it is shown: links,
// the company, the last calls. An error is logged and the card shown as
// it is.
type CardFunc func(ctx context.Context, c *Card) error

// Hub turns the engine's view of live calls, its cards, its decisions and
// notifications, and employees' statuses into each employee's stream of
// Updates, and serves the streams as Server-Sent Events (Handler). It is
// safe for concurrent use; publishing never waits for a subscriber.
//
// Every update gets the next id of the hub's run; the hub keeps the
// newest (WithHistory), so a stream that reconnects with the last id it
// saw (Last-Event-ID) gets exactly what it missed, or a reset when some
// of it is gone. Close it to end the streams.
type Hub struct {
	dir       Directory
	cards     CardFunc
	log       *slog.Logger
	buffer    int
	heartbeat time.Duration
	histAll   int
	histEmp   int
	epoch     string // names the run in the ids: an id of another run resets
	onLeave   func() // tests: a stream ended

	mu      sync.Mutex
	closed  bool
	seq     uint64
	all     *history                            // every update
	emps    map[string]*history                 // each employee's updates
	subs    map[string]map[*subscriber]struct{} // the streams of each employee
	allSubs map[*subscriber]struct{}            // the streams of every employee
	n       int                                 // subscribers
	views   map[callKey]*callView               // calls in progress
	streams sync.WaitGroup                      // Handler streams running
}

// callKey names a call.
type callKey struct{ provider, account, callID string }

// callView is what the hub last showed of a call in progress.
type callView struct {
	call Call   // last published (Provider empty: only cards so far)
	data []byte // its update's JSON, to skip an unchanged view
	// emps maps a leg's extension and login to the employee's id, ""
	// for none.
	emps map[string]string
	// to are the employees concerned: of the legs and of the cards.
	to []string
}

// subscriber is one stream: an employee's, or every employee's (all).
type subscriber struct {
	employee string
	all      bool
	ch       chan *entry
	cut      chan struct{} // closed when the hub drops it: slow, or the hub closed
	gone     bool          // dropped from the index (under Hub.mu)
}

// Option configures a Hub.
type Option func(*Hub) error

// WithDirectory sets where the hub finds the employee of a leg's
// extension or login (match.Directory does); without one, call updates
// go to the streams of every employee only.
func WithDirectory(d Directory) Option { return func(h *Hub) error { h.dir = d; return nil } }

// WithCards sets the function that completes each card before it is
// shown (links, company, last calls).
func WithCards(f CardFunc) Option { return func(h *Hub) error { h.cards = f; return nil } }

// WithLogger sets the logger (failed directory lookups and cards, cut
// streams at debug level). The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(h *Hub) error {
		if l == nil {
			return errors.New("nil logger")
		}
		h.log = l
		return nil
	}
}

// WithBuffer sets how many updates a subscriber may fall behind before
// its stream is cut (default DefaultBuffer). A cut browser reconnects
// and resumes from the history.
func WithBuffer(n int) Option {
	return func(h *Hub) error {
		if n < 1 {
			return fmt.Errorf("buffer %d: want at least 1", n)
		}
		h.buffer = n
		return nil
	}
}

// WithHistory sets how many of the newest updates the hub keeps for
// resuming streams: all of every employee (default DefaultHistory) and
// perEmployee of each employee (default DefaultEmployeeHistory). Memory
// is at most all + employees × perEmployee updates; 0 keeps none, so
// every reconnection is a reset.
func WithHistory(all, perEmployee int) Option {
	return func(h *Hub) error {
		if all < 0 || perEmployee < 0 {
			return fmt.Errorf("history %d, %d: want 0 or more", all, perEmployee)
		}
		h.histAll, h.histEmp = all, perEmployee
		return nil
	}
}

// WithHeartbeat sets how often an idle stream gets a comment line
// (default DefaultHeartbeat).
func WithHeartbeat(d time.Duration) Option {
	return func(h *Hub) error {
		if d <= 0 {
			return fmt.Errorf("heartbeat %v: want more than 0", d)
		}
		h.heartbeat = d
		return nil
	}
}

// NewHub returns a hub with the options.
func NewHub(opts ...Option) (*Hub, error) {
	h := &Hub{
		log:       slog.New(slog.DiscardHandler),
		buffer:    DefaultBuffer,
		heartbeat: DefaultHeartbeat,
		histAll:   DefaultHistory,
		histEmp:   DefaultEmployeeHistory,
		epoch:     strings.ToLower(rand.Text()[:8]),
		emps:      make(map[string]*history),
		subs:      make(map[string]map[*subscriber]struct{}),
		allSubs:   make(map[*subscriber]struct{}),
		views:     make(map[callKey]*callView),
	}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("live: NewHub: option %d is nil", i+1)
		}
		if err := o(h); err != nil {
			return nil, fmt.Errorf("live: NewHub: %w", err)
		}
	}
	h.all = newHistory(h.histAll)
	return h, nil
}

// Subscribers reports how many streams are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Close ends every stream and waits (until ctx is done) for the Handler
// streams to return. Later updates are dropped and new streams refused
// (503). Only the first call does anything.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	for _, set := range h.subs {
		for s := range set {
			h.dropLocked(s)
		}
	}
	for s := range h.allSubs {
		h.dropLocked(s)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		h.streams.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("live: close: streams still running: %w", ctx.Err())
	}
}

// publishLocked gives the update data (JSON) the next id, keeps it and
// sends it to the streams of the employees to and of every employee; a
// stream whose buffer is full is cut. h.mu is held.
func (h *Hub) publishLocked(typ string, data []byte, to []string) {
	if h.closed {
		return
	}
	h.seq++
	e := &entry{seq: h.seq, frame: h.frame(nil, h.seq, typ, data)}
	h.all.add(e)
	for _, emp := range to {
		if emp == "" {
			continue
		}
		hist := h.emps[emp]
		if hist == nil {
			hist = newHistory(h.histEmp)
			h.emps[emp] = hist
		}
		hist.add(e)
		for s := range h.subs[emp] {
			h.sendLocked(s, e)
		}
	}
	for s := range h.allSubs {
		h.sendLocked(s, e)
	}
}

// sendLocked hands e to s without waiting; a full buffer cuts s.
func (h *Hub) sendLocked(s *subscriber, e *entry) {
	select {
	case s.ch <- e:
	default:
		h.log.Debug("live: a stream fell behind and is cut; it resumes when the client reconnects",
			"employee", s.employee, "all", s.all, "buffer", cap(s.ch))
		h.dropLocked(s)
	}
}

// dropLocked takes s out of the index and ends its stream. h.mu is held.
func (h *Hub) dropLocked(s *subscriber) {
	if s.gone {
		return
	}
	s.gone = true
	close(s.cut)
	h.n--
	if s.all {
		delete(h.allSubs, s)
		return
	}
	set := h.subs[s.employee]
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, s.employee)
	}
}

// frame appends the SSE frame of an update to b: its id (run and
// sequence number), its type as the event name, its JSON as the data
// (JSON has no raw line breaks, so one data line).
func (h *Hub) frame(b []byte, seq uint64, typ string, data []byte) []byte {
	if b == nil {
		b = make([]byte, 0, len(data)+len(typ)+40)
	}
	b = append(b, "id: "...)
	b = h.appendID(b, seq)
	b = append(b, "\nevent: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// appendID appends the id of update seq: "<run>-<seq>".
func (h *Hub) appendID(b []byte, seq uint64) []byte {
	b = append(b, h.epoch...)
	b = append(b, '-')
	return strconv.AppendUint(b, seq, 10)
}

// parseID reads an id of this run; ok is false for any other.
func (h *Hub) parseID(id string) (seq uint64, ok bool) {
	run, n, found := strings.Cut(id, "-")
	if !found || run != h.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, err == nil
}

// subscribe opens a stream for employee (or every employee, all) that
// resumes after lastID: what it missed (replay), or when it cannot
// resume — lastID empty, of another run, or older than what the hub
// keeps — a first frame, sync or reset, with the calls in progress it is
// on. Registered under the lock that publishes, the stream misses
// nothing between the two and gets nothing twice.
func (h *Hub) subscribe(employee string, all bool, lastID string) (s *subscriber, first []byte, replay []*entry, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, nil, ErrClosed
	}
	reason := ""
	if lastID != "" {
		seq, ok := h.parseID(lastID)
		switch {
		case !ok:
			reason = "the last event id is not of this server's run (restarted, or another server)"
		case seq > h.seq:
			reason = "the last event id is in the future"
		default:
			hist := h.all
			if !all {
				hist = h.emps[employee]
			}
			if hist != nil {
				replay, ok = hist.since(seq)
			}
			if !ok {
				reason = "updates after the last event id are no longer kept"
			}
		}
	}
	if lastID == "" || reason != "" {
		u := Update{Type: TypeSync, Calls: h.callsOfLocked(employee, all)}
		if reason != "" {
			u.Type, u.Reason = TypeReset, reason
		}
		data, err := marshal(u)
		if err != nil {
			return nil, nil, nil, err
		}
		first = h.frame(nil, h.seq, u.Type, data)
	}
	s = &subscriber{employee: employee, all: all, ch: make(chan *entry, h.buffer), cut: make(chan struct{})}
	if all {
		h.allSubs[s] = struct{}{}
	} else {
		set := h.subs[employee]
		if set == nil {
			set = make(map[*subscriber]struct{})
			h.subs[employee] = set
		}
		set[s] = struct{}{}
	}
	h.n++
	h.streams.Add(1)
	return s, first, replay, nil
}

// leave ends s's stream.
func (h *Hub) leave(s *subscriber) {
	h.mu.Lock()
	h.dropLocked(s)
	h.mu.Unlock()
	h.streams.Done()
	if h.onLeave != nil {
		h.onLeave()
	}
}

// callsOfLocked is the calls in progress employee is on (all: every
// one), oldest first. h.mu is held.
func (h *Hub) callsOfLocked(employee string, all bool) []Call {
	out := []Call{}
	for _, v := range h.views {
		if v.call.Provider != "" && (all || slices.Contains(v.to, employee)) {
			out = append(out, v.call)
		}
	}
	slices.SortFunc(out, func(a, b Call) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.CallID, b.CallID)
	})
	return out
}

// viewLocked is the view of call k, made if needed. h.mu is held.
func (h *Hub) viewLocked(k callKey) *callView {
	v := h.views[k]
	if v != nil {
		return v
	}
	if len(h.views) >= maxViews {
		for old := range h.views {
			delete(h.views, old)
			break
		}
	}
	v = &callView{emps: map[string]string{}}
	h.views[k] = v
	return v
}

// addTo adds the employees ids to the list to, each once, and returns it.
func addTo(to []string, ids ...string) []string {
	for _, id := range ids {
		if id != "" && !slices.Contains(to, id) {
			to = append(to, id)
		}
	}
	return to
}
