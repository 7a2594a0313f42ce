package match

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// Defaults of the engine's timing.
const (
	// DefaultGracePeriod is how long the engine waits after a call ended
	// for a Completed event before it acts on what it has.
	DefaultGracePeriod = 30 * time.Second
	// DefaultLateBindingWindow is how long a call without a client waits
	// for one to appear (the Telphin guide's 10 minutes).
	DefaultLateBindingWindow = 10 * time.Minute
	// DefaultRetention is how long a finished call is remembered, to drop
	// redelivered events and merge late ones.
	DefaultRetention = 15 * time.Minute
	// DefaultSettle is how long the engine waits after the final record of
	// a call with legs before it acts: deliveries arrive out of order, and
	// a leg it has not heard of yet (a parallel ring, the agent behind a
	// queue) may still change the outcome.
	DefaultSettle = 3 * time.Second
	// DefaultIdleTimeout is how long a call that never ends is kept after
	// its last event; then the engine acts on what it has.
	DefaultIdleTimeout = 4 * time.Hour
	// DefaultMaxCalls bounds the calls the engine tracks at once that are
	// not decided yet (see WithLimits). Decided calls do not count: the
	// engine keeps the full record of at most as many decided calls again
	// (to merge late events into them), and of older decided calls only a
	// small mark (at most DecidedMarksPerCall times the cap) until their
	// retention ends, so that a late or redelivered event never decides a
	// call twice. When the undecided calls are at the cap, or the marks are
	// full, an event of a new call gets ErrOverloaded, which a webhook
	// answers with 503 and Retry-After: nothing is acknowledged and then
	// dropped.
	DefaultMaxCalls = 100_000
	// DecidedMarksPerCall sizes the memory of decided calls whose full
	// record was dropped: at most this many marks per call of the cap
	// (about 40 bytes each).
	DecidedMarksPerCall = 4
)

// Errors of the engine.
var (
	// ErrClosed is returned by an Engine after Close.
	ErrClosed = errors.New("match: engine closed")
	// ErrOverloaded is returned for an event of a new call when the engine
	// already tracks its maximum number of calls (see DefaultMaxCalls); the
	// provider should redeliver later. It has a method
	// RetryAfter() time.Duration, by which package webhook answers it with
	// 503 and a Retry-After header.
	ErrOverloaded error = overloadedError{}
)

// overloadRetryAfter is the Retry-After of ErrOverloaded.
const overloadRetryAfter = 30 * time.Second

type overloadedError struct{}

func (overloadedError) Error() string { return "match: too many calls in progress" }

// RetryAfter suggests when to deliver again.
func (overloadedError) RetryAfter() time.Duration { return overloadRetryAfter }

// timerRetries bounds how often a timer-driven finalization is retried
// after a store error.
const timerRetries = 5

// Option configures an Engine.
type Option func(*Engine) error

// WithLeadStore sets the lead store (default: the ClientStore, if it is
// also a LeadStore; else leads are not handled).
func WithLeadStore(s LeadStore) Option { return func(e *Engine) error { e.leads = s; return nil } }

// WithCallLog sets the call log (default: the ClientStore, if it is also a
// CallLog; else calls are not logged).
func WithCallLog(s CallLog) Option { return func(e *Engine) error { e.calls = s; return nil } }

// WithDirectory sets the employee directory (default: the ClientStore, if
// it is also a Directory).
func WithDirectory(d Directory) Option { return func(e *Engine) error { e.dir = d; return nil } }

// WithNotifier sets the notifier (default: the ClientStore, if it is also
// a Notifier; else nobody is notified).
func WithNotifier(n Notifier) Option { return func(e *Engine) error { e.notifier = n; return nil } }

// WithRules sets the rules of every account; they are validated. The
// default is RuleSet{Default: Rules{Rule: DefaultRule()}}.
func WithRules(rs RuleSet) Option {
	return func(e *Engine) error {
		e.rules = RuleSet{Default: rs.Default.clone(), Accounts: make(map[string]Rules, len(rs.Accounts))}
		for k, v := range rs.Accounts {
			e.rules.Accounts[k] = v.clone()
		}
		e.rulesSet = true
		return nil
	}
}

// WithDefaultCountry sets the country for national numbers ("" = RU).
func WithDefaultCountry(country string) Option {
	return func(e *Engine) error { e.country = country; return nil }
}

// WithCardURL sets the template of a client's card URL for LookupContact:
// "{id}" is replaced by the escaped client id, "{account}" by the account,
// "{phone}" by the phone. Example: "https://crm.example.com/clients/{id}".
func WithCardURL(tmpl string) Option { return func(e *Engine) error { e.cardURL = tmpl; return nil } }

// WithLogger sets the logger; decisions are logged at debug level, store
// errors of background work at error level. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(e *Engine) error {
		if l == nil {
			return errors.New("nil logger")
		}
		e.log = l
		return nil
	}
}

// WithClock sets the clock (default: the system clock).
func WithClock(c Clock) Option {
	return func(e *Engine) error {
		if c == nil {
			return errors.New("nil clock")
		}
		e.clock = c
		return nil
	}
}

// WithTiming sets the grace period after Ended, the late-binding window
// and the retention of finished calls; a zero value keeps the default.
// Retention is raised to the window if shorter.
func WithTiming(grace, window, retention time.Duration) Option {
	return func(e *Engine) error {
		if grace < 0 || window < 0 || retention < 0 {
			return errors.New("negative duration")
		}
		e.grace = cmpDur(grace, e.grace)
		e.window = cmpDur(window, e.window)
		e.retain = cmpDur(retention, e.retain)
		return nil
	}
}

// WithLimits sets the idle timeout of calls that never end and the
// maximum number of undecided calls tracked at once (default
// DefaultMaxCalls, which explains what is kept of decided calls); zero
// keeps the default.
func WithLimits(idle time.Duration, maxCalls int) Option {
	return func(e *Engine) error {
		if idle < 0 || maxCalls < 0 {
			return errors.New("negative limit")
		}
		e.idle = cmpDur(idle, e.idle)
		if maxCalls > 0 {
			e.maxCalls = maxCalls
		}
		return nil
	}
}

// WithSettle sets how long the engine waits after the final record of a
// call with legs (events with a LegID) before it acts, so that legs
// delivered late still count (default DefaultSettle); 0 acts at once.
// Calls without legs are decided as soon as they complete.
func WithSettle(d time.Duration) Option {
	return func(e *Engine) error {
		if d < 0 {
			return errors.New("negative settle time")
		}
		e.settle = d
		return nil
	}
}

// WithProviderIdle sets the idle timeout of one provider's calls: how long
// after a call's last event the engine acts on it when no end is reported.
// Some providers never report the end: the Finaz contract sends only the
// answered-call notification, so a Finaz call is decided after
// WithProviderIdle("finaz", d) rather than after the general idle timeout.
func WithProviderIdle(provider string, d time.Duration) Option {
	return func(e *Engine) error {
		if provider == "" || d <= 0 {
			return errors.New("provider idle timeout needs a provider and a positive duration")
		}
		if e.providerIdle == nil {
			e.providerIdle = make(map[string]time.Duration)
		}
		e.providerIdle[provider] = d
		return nil
	}
}

// idleFor is the idle timeout of a call of provider.
func (e *Engine) idleFor(provider string) time.Duration {
	if d, ok := e.providerIdle[provider]; ok {
		return d
	}
	return e.idle
}

func cmpDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// Engine turns the call events of any provider into CRM facts: it
// assembles the events of each call, applies the account's Rules when the
// call is over, and answers providers' contact lookups. It implements
// callevent.Sink and callevent.ContactLookup and is safe for concurrent
// use. Close it to stop its timers.
type Engine struct {
	clients  ClientStore
	leads    LeadStore
	calls    CallLog
	dir      Directory
	notifier Notifier
	resolver *Resolver
	rules    RuleSet
	rulesSet bool
	country  string
	cardURL  string
	log      *slog.Logger
	clock    Clock

	grace, window, retain, idle time.Duration
	settle                      time.Duration
	providerIdle                map[string]time.Duration
	maxCalls                    int

	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // running timer callbacks

	mu      sync.Mutex
	closed  bool
	active  map[callKey]*callState // undecided and decided calls
	decided list.List              // *callState of active calls that are decided, oldest first
	marks   map[uint64]time.Time   // decided calls dropped from active → end of retention
	markQ   []mark                 // marks in the order made (and of expiry)
	pending map[bindKey][]*callState
	rr      map[string]uint64
	delayed map[*delayedNote]struct{}

	seed maphash.Seed
	// stripe serialises the decisions of calls of one account and phone,
	// so that concurrent calls from one number make one client and one
	// lead. Each is a lock (a channel of capacity 1), so that waiting for
	// it ends with ctx.
	stripe [256]chan struct{}
}

var (
	_ callevent.Sink          = (*Engine)(nil)
	_ callevent.ContactLookup = (*Engine)(nil)
)

type bindKey struct{ account, phone string }

type delayedNote struct{ t Timer }

type mark struct {
	h   uint64
	exp time.Time
}

// callState is the engine's memory of one call.
type callState struct {
	mu     sync.Mutex
	key    callKey
	events []callevent.Event // sorted by eventOrder

	finalized bool
	retry     bool // finalization failed: a redelivery retries it
	gone      bool // forgotten; a new state must be made
	rec       CallRecord
	prog      progress

	timer     Timer
	timerGen  uint64
	timerKind timerKind
	tries     int

	waiting  bool // registered for late binding
	deadline time.Time

	// Under Engine.mu:
	decidedEl *list.Element // in Engine.decided
	decidedAt time.Time
}

type timerKind uint8

const (
	timerNone timerKind = iota
	timerIdle
	timerGrace
	timerSettle
	timerForget
)

// progress remembers how far a finalization got, so a retry after a store
// error continues instead of deciding again from a changed store.
type progress struct {
	d         Decision
	resolved  bool
	res       Resolution
	known     bool // the client existed before the call
	respDone  bool
	resp      string
	handler   string
	leadDone  bool
	leadID    string
	logged    bool
	notified  []string
	scheduled bool
	wait      bool
}

// NewEngine returns an engine over clients. If clients also implements
// LeadStore, CallLog, Directory or Notifier (as MemoryStore does), it is
// used for those too unless an option sets another.
func NewEngine(clients ClientStore, opts ...Option) (*Engine, error) {
	if clients == nil {
		return nil, errors.New("match: NewEngine: nil ClientStore")
	}
	e := &Engine{
		clients:  clients,
		log:      slog.New(slog.DiscardHandler),
		clock:    systemClock{},
		grace:    DefaultGracePeriod,
		window:   DefaultLateBindingWindow,
		retain:   DefaultRetention,
		idle:     DefaultIdleTimeout,
		settle:   DefaultSettle,
		maxCalls: DefaultMaxCalls,
		active:   make(map[callKey]*callState),
		marks:    make(map[uint64]time.Time),
		pending:  make(map[bindKey][]*callState),
		rr:       make(map[string]uint64),
		delayed:  make(map[*delayedNote]struct{}),
		seed:     maphash.MakeSeed(),
	}
	for i := range e.stripe {
		e.stripe[i] = make(chan struct{}, 1)
	}
	e.leads, _ = clients.(LeadStore)
	e.calls, _ = clients.(CallLog)
	e.dir, _ = clients.(Directory)
	e.notifier, _ = clients.(Notifier)
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("match: NewEngine: option %d is nil", i+1)
		}
		if err := o(e); err != nil {
			return nil, fmt.Errorf("match: NewEngine: %w", err)
		}
	}
	if !e.rulesSet {
		e.rules = RuleSet{Default: Rules{Rule: DefaultRule()}}
	}
	if err := e.rules.normalize(e.country); err != nil {
		return nil, err
	}
	// A waiting call is checked once more when its window closes, so it
	// must be remembered past the window.
	e.retain = max(e.retain, e.window+time.Minute)
	r, err := NewResolver(clients, e.country)
	if err != nil {
		return nil, err
	}
	e.resolver = r
	e.base, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

// HandleEvent implements callevent.Sink. Events of one call may come in
// any order and more than once (deduplicated by Event.ID). The engine acts
// when the call is over: on Completed when no leg is still ringing or
// talking, or a grace period after the last leg Ended. Rated events and
// internal calls are ignored. An error means the event was not fully
// processed; redelivering it retries.
func (e *Engine) HandleEvent(ctx context.Context, ev callevent.Event) error {
	if ev.Kind == callevent.Rated {
		return nil
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("match: %w", err)
	}
	k := callKey{ev.Provider, ev.Account, ev.CallID}
	for {
		st, err := e.state(k)
		if errors.Is(err, errDecided) {
			e.log.Debug("match: event of a call decided earlier, dropped", "call_id", ev.CallID, "event_id", ev.ID)
			return nil
		}
		if err != nil {
			return err
		}
		st.mu.Lock()
		if st.gone {
			st.mu.Unlock()
			continue
		}
		err = e.add(ctx, st, ev)
		st.mu.Unlock()
		return err
	}
}

// Admit reserves room for ev's call before ev is delivered, so that a
// queue in front of the engine acknowledges only what HandleEvent will
// take: webhook.Queue calls it (for a sink with this method) before it
// enqueues. It returns ErrOverloaded when the call is new and the engine
// is full, ErrClosed after Close, and nil otherwise (also for events
// HandleEvent ignores or rejects). A reserved call that never gets an
// event is forgotten after the idle timeout.
func (e *Engine) Admit(_ context.Context, ev callevent.Event) error {
	if ev.Kind == callevent.Rated || ev.Validate() != nil {
		return nil
	}
	st, err := e.state(callKey{ev.Provider, ev.Account, ev.CallID})
	if errors.Is(err, errDecided) {
		return nil
	}
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.gone && len(st.events) == 0 && st.timer == nil {
		e.arm(st, timerIdle, e.idleFor(st.key.provider))
	}
	return nil
}

// errDecided: the call was decided and its full record dropped.
var errDecided = errors.New("match: call already decided")

// state returns the memory of call k, making it if needed.
func (e *Engine) state(k callKey) (*callState, error) {
	st, victims, err := e.stateLocked(k)
	// Drop the full records pushed out by this call (outside e.mu: a
	// call's lock is taken before the engine's).
	for _, v := range victims {
		v.mu.Lock()
		v.gone = true
		if v.timer != nil {
			v.timer.Stop()
		}
		if v.waiting {
			e.mu.Lock()
			e.unwaitLocked(v)
			e.mu.Unlock()
		}
		v.mu.Unlock()
	}
	return st, err
}

func (e *Engine) stateLocked(k callKey) (*callState, []*callState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, nil, ErrClosed
	}
	if st := e.active[k]; st != nil {
		return st, nil, nil
	}
	now := e.clock.Now()
	for len(e.markQ) > 0 && !now.Before(e.markQ[0].exp) {
		m := e.markQ[0]
		if exp, ok := e.marks[m.h]; ok && !exp.After(m.exp) {
			delete(e.marks, m.h)
		}
		e.markQ = e.markQ[1:]
	}
	if len(e.markQ) == 0 {
		e.markQ = nil // let the backing array go
	}
	h := e.keyHash(k)
	if _, ok := e.marks[h]; ok {
		return nil, nil, errDecided
	}
	if len(e.active)-e.decided.Len() >= e.maxCalls {
		return nil, nil, ErrOverloaded
	}
	// Keep the full records of at most maxCalls decided calls; older ones
	// are reduced to a mark until their retention ends.
	var victims []*callState
	for e.decided.Len() >= e.maxCalls && len(e.marks) < e.maxCalls*DecidedMarksPerCall {
		v := e.decided.Remove(e.decided.Front()).(*callState)
		v.decidedEl = nil
		delete(e.active, v.key)
		vh := e.keyHash(v.key)
		exp := v.decidedAt.Add(e.retain)
		e.marks[vh] = exp
		e.markQ = append(e.markQ, mark{vh, exp})
		victims = append(victims, v)
	}
	if e.decided.Len() >= e.maxCalls {
		return nil, victims, ErrOverloaded
	}
	st := &callState{key: k}
	e.active[k] = st
	return st, victims, nil
}

func (e *Engine) keyHash(k callKey) uint64 {
	var h maphash.Hash
	h.SetSeed(e.seed)
	h.WriteString(k.provider)
	h.WriteByte(0)
	h.WriteString(k.account)
	h.WriteByte(0)
	h.WriteString(k.callID)
	return h.Sum64()
}

// add merges ev into the call and acts if the call is over; st.mu is held.
func (e *Engine) add(ctx context.Context, st *callState, ev callevent.Event) error {
	evs, added := insertEvent(st.events, ev)
	if !added {
		if len(evs) >= maxCallEvents && !slices.ContainsFunc(evs, func(x callevent.Event) bool { return x.ID == ev.ID }) {
			e.log.Warn("match: too many events for one call, event dropped", "call_id", ev.CallID, "event_id", ev.ID)
		}
		if st.retry {
			return e.advance(ctx, st)
		}
		return nil
	}
	st.events = evs
	return e.advance(ctx, st)
}

// advance decides what the call's events mean now; st.mu is held.
func (e *Engine) advance(ctx context.Context, st *callState) error {
	a := assemble(st.events)
	if st.finalized {
		return e.amend(ctx, st, a)
	}
	switch {
	case a.completed && !a.openLegs && a.legged && e.settle > 0:
		// Every event of the call restarts the wait.
		e.arm(st, timerSettle, e.settle)
	case a.completed && !a.openLegs:
		return e.finalize(ctx, st, a)
	case a.ended && !a.openLegs:
		if st.timerKind != timerGrace {
			e.arm(st, timerGrace, e.grace)
		}
	default:
		e.arm(st, timerIdle, e.idleFor(st.key.provider))
	}
	return nil
}

// amend re-logs a finished call when late events changed its record.
func (e *Engine) amend(ctx context.Context, st *callState, a assembled) error {
	if a.internal {
		return nil
	}
	rec := a.rec
	// What the rules decided stays.
	rec.ClientID, rec.LeadID, rec.Employee, rec.Extension = st.rec.ClientID, st.rec.LeadID, st.rec.Employee, st.rec.Extension
	if rec.Status != st.rec.Status {
		// The rules ran for the earlier outcome; keep it (and say so).
		e.log.Debug("match: late event changed a finished call's outcome; rules are not re-run",
			"call_id", rec.CallID, "was", st.rec.Status, "now", rec.Status)
		rec.Status = st.rec.Status
	}
	if rec == st.rec || e.calls == nil || !st.prog.logged {
		return nil
	}
	if err := e.calls.LogCall(ctx, rec); err != nil {
		return fmt.Errorf("match: log call: %w", err)
	}
	st.rec = rec
	return nil
}

// arm replaces the call's timer; st.mu is held.
func (e *Engine) arm(st *callState, kind timerKind, d time.Duration) {
	if st.timer != nil {
		st.timer.Stop()
	}
	st.timerGen++
	gen := st.timerGen
	st.timerKind = kind
	st.timer = e.after(d, func(ctx context.Context) { e.fire(ctx, st, gen) })
}

// after runs f after d unless the engine is closed first.
func (e *Engine) after(d time.Duration, f func(ctx context.Context)) Timer {
	return e.clock.AfterFunc(d, func() {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return
		}
		e.wg.Add(1)
		e.mu.Unlock()
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(e.base, time.Minute)
		defer cancel()
		f(ctx)
	})
}

func (e *Engine) fire(ctx context.Context, st *callState, gen uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || gen != st.timerGen {
		return
	}
	kind := st.timerKind
	st.timer, st.timerKind = nil, timerNone
	if kind == timerForget || len(st.events) == 0 { // an Admit that got no event
		e.forget(st)
		return
	}
	if st.finalized {
		return
	}
	if err := e.finalize(ctx, st, assemble(st.events)); err != nil {
		st.tries++
		if st.tries >= timerRetries {
			e.log.Error("match: giving up on a call", "call_id", st.key.callID, "err", err)
			e.forget(st)
			return
		}
		e.log.Error("match: acting on a call failed; will retry", "call_id", st.key.callID, "err", err)
		e.arm(st, kind, e.grace)
	}
}

// forget drops a call; st.mu is held.
func (e *Engine) forget(st *callState) {
	st.gone = true
	if st.timer != nil {
		st.timer.Stop()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active[st.key] == st {
		delete(e.active, st.key)
	}
	if st.decidedEl != nil {
		e.decided.Remove(st.decidedEl)
		st.decidedEl = nil
	}
	if st.waiting {
		e.unwaitLocked(st)
	}
}

func (e *Engine) unwaitLocked(st *callState) {
	k := bindKey{st.key.account, st.rec.ClientPhone}
	l := slices.DeleteFunc(e.pending[k], func(x *callState) bool { return x == st })
	if len(l) == 0 {
		delete(e.pending, k)
	} else {
		e.pending[k] = l
	}
	st.waiting = false
}

// finalize applies the rules to a finished call; st.mu is held.
func (e *Engine) finalize(ctx context.Context, st *callState, a assembled) error {
	var unlock func()
	if !a.internal && a.rec.ClientPhone != "" {
		m := e.stripe[maphash.String(e.seed, a.rec.Account+"\x00"+a.rec.ClientPhone)%uint64(len(e.stripe))]
		select {
		case m <- struct{}{}:
		case <-ctx.Done():
			st.retry = true
			return fmt.Errorf("match: waiting for another call of %s: %w", a.rec.ClientPhone, ctx.Err())
		}
		unlock = func() { <-m }
	}
	err := e.decide(ctx, a, &st.prog, false)
	if unlock != nil {
		unlock()
	}
	if err != nil {
		st.retry = true
		e.log.Debug("match: call decision incomplete", "decision", st.prog.d, "err", err)
		return err
	}
	st.finalized, st.retry = true, false
	st.rec = st.prog.d.Call
	e.mu.Lock()
	if !st.gone && st.decidedEl == nil {
		st.decidedEl, st.decidedAt = e.decided.PushBack(st), e.clock.Now()
	}
	e.mu.Unlock()
	e.log.Debug("match: call decided", "decision", st.prog.d)
	forgetIn := e.retain
	if st.prog.wait {
		st.deadline = e.clock.Now().Add(e.window)
		st.waiting = true
		k := bindKey{st.key.account, st.rec.ClientPhone}
		e.mu.Lock()
		e.pending[k] = append(e.pending[k], st)
		e.mu.Unlock()
		// A client may be created where the engine does not hear of it
		// (by hand in the CRM, from its pop-up): look once more when the
		// window closes (a second after, so a client made at its last
		// moment counts), so the call is bound without ClientCreated.
		e.after(e.window+time.Second, func(ctx context.Context) {
			if err := e.bindOne(ctx, st, true); err != nil {
				e.log.Error("match: late binding at the end of the window failed", "call_id", st.key.callID, "err", err)
			}
		})
	}
	e.arm(st, timerForget, forgetIn)
	if st.prog.res.Match == MatchCreated {
		// Calls that waited for this phone can now be attached.
		if err := e.bindLate(ctx, st.key.account, st.rec.ClientPhone, st); err != nil {
			e.log.Error("match: late binding failed", "err", err)
		}
	}
	return nil
}

// decide applies the rules to an assembled call, recording the actions in
// p.d. With dry set it writes nothing. p carries the progress of an
// earlier attempt that failed half-way.
func (e *Engine) decide(ctx context.Context, a assembled, p *progress, dry bool) error {
	rec := a.rec
	d := &p.d
	d.Call = rec
	account, phone := rec.Account, rec.ClientPhone
	if a.internal {
		d.add(ActIgnore, "", "", "", "internal call: local calls between extensions are not passed to the CRM")
		return nil
	}
	c := callCase(a)
	d.Case = c
	rule, line := e.rules.rule(account, rec.LinePhone)
	d.Line = line

	// Who handled the call.
	if !p.respDone && p.handler == "" && a.handler != "" && e.dir != nil {
		emp, ok, err := e.dir.FindEmployee(ctx, account, a.handler)
		if err != nil {
			return fmt.Errorf("match: find employee: %w", err)
		}
		if ok {
			p.handler = emp.ID
		} else {
			d.add(ActResponsible, "", "", "", "%s %q is not mapped to an employee", a.handlerBy, a.handler)
		}
	}

	if phone == "" {
		d.add(ActIgnore, "", "", "", "anonymous caller: no client to match")
		p.respDone, p.resp = true, p.handler
	} else if !p.resolved {
		res, err := e.resolver.find(ctx, account, phone)
		if err != nil {
			return err
		}
		p.res, p.known = res, res.Found()
		if p.known {
			reason := "the phone is the client's number"
			if res.Match == MatchField {
				reason = "a field of the client holds the phone"
				if len(res.Others) > 0 {
					reason += fmt.Sprintf(" (also held by %s; the first in store order wins)", strings.Join(res.Others, ", "))
				}
			}
			d.add(ActFindClient, res.Client.ID, "", "", "%s", reason)
		}
		p.resolved = true
	}

	// The responsible employee.
	if !p.respDone {
		var why string
		switch {
		case c == InboundAnswered || c == OutboundAnswered:
			p.resp, why = p.handler, "the employee who answered"
			if c == OutboundAnswered {
				why = "the employee who called"
			}
		case c == OutboundMissed:
			p.resp, why = p.handler, "the employee who called"
		case p.known:
			p.resp, why = p.res.Client.Responsible, "missed call of a known client: the client's responsible"
		default:
			resp, reason, err := e.missedResponsible(ctx, account, line, rule, dry)
			if err != nil {
				return err
			}
			p.resp, why = resp, "missed call from an unknown number: "+reason
		}
		p.respDone = true
		d.add(ActResponsible, "", "", p.resp, "%s", why)
	}
	rec.Employee = p.resp

	// Create the client.
	if phone != "" && !p.res.Found() && !p.wait {
		if !rule.Create.enabled(c) {
			d.add(ActNoClient, "", "", "", "unknown number and creating clients on %s is off: the call waits %v for a client with this phone", c, e.window)
			p.wait = true
		} else {
			nc := NewClient{
				Name:        expand(rule.Create.name(c), phone, rec.LinePhone),
				Responsible: p.resp,
				Messenger:   rule.Messenger,
			}
			if rec.Direction == callevent.Inbound && rec.LinePhone != "" {
				nc.Tags = []string{rec.LinePhone}
			}
			channel := cmpChannel(nc.Messenger)
			if dry {
				p.res = Resolution{Client: Client{Account: account, Name: nc.Name, Phone: phone, Channel: channel,
					Responsible: nc.Responsible, Tags: nc.Tags, CreatedFromCall: true}, Match: MatchCreated}
			} else {
				res, err := e.resolver.Resolve(ctx, account, phone, &nc)
				if err != nil {
					return err
				}
				p.res = res
			}
			if p.res.Match == MatchCreated {
				d.add(ActCreateClient, p.res.Client.ID, "", p.res.Client.Responsible,
					"unknown number and creating clients on %s is on: %s client %q", c, channel, nc.Name)
			} else {
				d.add(ActFindClient, p.res.Client.ID, "", "", "created meanwhile by another call")
			}
		}
	}
	cl := p.res.Client
	rec.ClientID = cl.ID

	// Leads.
	if p.res.Found() && e.leads != nil && !p.leadDone {
		lead, err := e.lead(ctx, a, c, rule, p, dry)
		if err != nil {
			return err
		}
		p.leadDone, p.leadID = true, lead
	}
	rec.LeadID = p.leadID
	d.Call = rec

	// Log the call.
	if e.calls != nil && !p.logged {
		if !dry {
			if err := e.calls.LogCall(ctx, rec); err != nil {
				return fmt.Errorf("match: log call: %w", err)
			}
		}
		p.logged = true
		d.add(ActLogCall, rec.ClientID, rec.LeadID, rec.Employee, "%s %s call", rec.Direction, rec.Status)
	}

	// Tell people about a missed inbound call.
	if c == InboundMissed && e.notifier != nil {
		if err := e.notifyMissed(ctx, rec, rule, p, dry); err != nil {
			return err
		}
	}
	return nil
}

func cmpChannel(ch Channel) Channel {
	if ch == "" {
		return ChannelTelephony
	}
	return ch
}

// lead attaches the call to the client's active lead, reopens a lost one
// or creates one, and returns the lead id ("" for none).
func (e *Engine) lead(ctx context.Context, a assembled, c Case, rule Rule, p *progress, dry bool) (string, error) {
	d := &p.d
	cl := p.res.Client
	lc := rule.Leads.get(c)
	outbound := a.rec.Direction == callevent.Outbound
	if !lc.Create && (!outbound || rule.ReopenStatus == "") {
		// As in Perfectum's rules, a call is attached to an active lead only
		// where leads are created; not asking saves a store round trip
		// (an amoCRM request) on every call.
		d.add(ActNoLead, cl.ID, "", "", "creating leads on %s is off", c)
		return "", nil
	}
	var leads []Lead
	if cl.ID != "" {
		var err error
		if leads, err = e.leads.ClientLeads(ctx, cl.Account, cl.ID); err != nil {
			return "", fmt.Errorf("match: client leads: %w", err)
		}
	}
	for _, l := range leads {
		if l.Active() {
			d.add(ActAttachLead, cl.ID, l.ID, "", "the client has an active lead (status %q): the call goes there, no new lead", l.Status)
			return l.ID, nil
		}
	}
	if outbound && rule.ReopenStatus != "" && len(leads) > 0 && (leads[0].State == LeadLost || leads[0].State == LeadUnqualified) {
		l := leads[0]
		if !dry {
			var err error
			if l, err = e.leads.ReopenLead(ctx, cl.Account, l.ID, rule.ReopenStatus); err != nil {
				return "", fmt.Errorf("match: reopen lead: %w", err)
			}
		}
		d.add(ActReopenLead, cl.ID, l.ID, "", "outbound call to a client whose newest lead is %s and none is active: moved to %q", leads[0].State, rule.ReopenStatus)
		return l.ID, nil
	}
	created := p.res.Match == MatchCreated
	switch {
	case !lc.Create:
		d.add(ActNoLead, cl.ID, "", "", "creating leads on %s is off", c)
		return "", nil
	case !created && !lc.EvenIfClientExists:
		d.add(ActNoLead, cl.ID, "", "", "the client existed before the call and \"even if the client exists\" is off for %s", c)
		return "", nil
	}
	name := lc.Name
	if name == "" {
		name = DefaultLeadNameInbound
		if outbound {
			name = DefaultLeadNameOutbound
		}
	}
	l := Lead{Account: cl.Account, ClientID: cl.ID, Name: expand(name, a.rec.ClientPhone, a.rec.LinePhone),
		Pipeline: lc.Pipeline, Status: lc.Status, Source: lc.Source, Responsible: p.resp, State: LeadOpen}
	if !dry {
		var err error
		if l, err = e.leads.CreateLead(ctx, l); err != nil {
			return "", fmt.Errorf("match: create lead: %w", err)
		}
	}
	why := "a new client"
	if !created {
		why = "\"even if the client exists\" is on"
	}
	d.add(ActCreateLead, cl.ID, l.ID, l.Responsible, "no active lead, creating leads on %s is on, %s: %q", c, why, l.Name)
	return l.ID, nil
}

// missedResponsible picks the responsible for a missed call from an
// unknown number.
func (e *Engine) missedResponsible(ctx context.Context, account, line string, r Rule, dry bool) (id, why string, err error) {
	m := r.Missed
	if m.Manager != "" {
		return m.Manager, "the missed-calls manager", nil
	}
	if m.Distribution == DistributeNone {
		return "", "no missed-calls manager or distribution is set", nil
	}
	if e.dir == nil {
		return "", "distribution needs a Directory", nil
	}
	cands := m.Employees
	if len(cands) == 0 {
		emps, err := e.dir.Employees(ctx, account)
		if err != nil {
			return "", "", fmt.Errorf("match: employees: %w", err)
		}
		for _, x := range emps {
			cands = append(cands, x.ID)
		}
	}
	if len(cands) == 0 {
		return "", "no employees to distribute to", nil
	}
	pool, how := cands, "round robin"
	if m.Distribution == DistributeActive {
		online, err := e.dir.Online(ctx, account)
		if err != nil {
			return "", "", fmt.Errorf("match: online employees: %w", err)
		}
		var on []string
		for _, id := range cands {
			if slices.Contains(online, id) {
				on = append(on, id)
			}
		}
		if len(on) > 0 {
			pool, how = on, "active distribution over the online employees"
		} else {
			how = "active distribution, nobody online: round robin"
		}
	}
	key := account + "\x00" + line
	e.mu.Lock()
	n := e.rr[key]
	if !dry {
		e.rr[key] = n + 1
	}
	e.mu.Unlock()
	if len(m.Employees) > 0 {
		how += " over " + strings.Join(m.Employees, ", ")
	}
	return pool[n%uint64(len(pool))], how, nil
}

// notifyMissed tells the responsible, admins, chosen employees and (after
// a delay) extra employees about a missed inbound call, each once.
func (e *Engine) notifyMissed(ctx context.Context, rec CallRecord, r Rule, p *progress, dry bool) error {
	type target struct{ id, reason string }
	var now []target
	add := func(id, reason string) {
		if id != "" && !slices.ContainsFunc(now, func(t target) bool { return t.id == id }) {
			now = append(now, target{id, reason})
		}
	}
	if !r.Notify.MuteResponsible {
		add(p.resp, "responsible for the missed call")
	}
	if r.Notify.Admins && e.dir != nil {
		emps, err := e.dir.Employees(ctx, rec.Account)
		if err != nil {
			return fmt.Errorf("match: employees: %w", err)
		}
		for _, x := range emps {
			if x.Admin {
				add(x.ID, "admin")
			}
		}
	}
	if !p.known {
		for _, id := range r.Notify.Unknown {
			add(id, "chosen for missed calls from unknown numbers")
		}
	}
	delay := time.Duration(r.Notify.ExtraDelay)
	var later []string
	for _, id := range r.Notify.Extra {
		if delay == 0 {
			add(id, "extra employee")
		} else if !slices.ContainsFunc(now, func(t target) bool { return t.id == id }) && !slices.Contains(later, id) {
			later = append(later, id)
		}
	}
	note := func(id, reason string) Notification {
		return Notification{Kind: NotifyMissed, Account: rec.Account, Employee: id, Provider: rec.Provider,
			CallID: rec.CallID, ClientID: rec.ClientID, ClientPhone: rec.ClientPhone, LeadID: rec.LeadID,
			Reason: reason, At: e.clock.Now().UTC()}
	}
	for _, t := range now {
		if slices.Contains(p.notified, t.id) {
			continue
		}
		if !dry {
			if err := e.notifier.Notify(ctx, note(t.id, t.reason)); err != nil {
				return fmt.Errorf("match: notify %s: %w", t.id, err)
			}
		}
		p.notified = append(p.notified, t.id)
		p.d.add(ActNotify, rec.ClientID, rec.LeadID, t.id, "%s", t.reason)
	}
	if len(later) > 0 && !p.scheduled {
		p.scheduled = true
		for _, id := range later {
			p.d.add(ActNotify, rec.ClientID, rec.LeadID, id, "extra employee, after %v", delay)
		}
		if !dry {
			e.schedule(delay, later, note)
		}
	}
	return nil
}

// schedule sends delayed notifications.
func (e *Engine) schedule(delay time.Duration, ids []string, note func(id, reason string) Notification) {
	dn := &delayedNote{}
	e.mu.Lock()
	e.delayed[dn] = struct{}{}
	e.mu.Unlock()
	dn.t = e.after(delay, func(ctx context.Context) {
		e.mu.Lock()
		delete(e.delayed, dn)
		e.mu.Unlock()
		for _, id := range ids {
			if err := e.notifier.Notify(ctx, note(id, "extra employee, after "+delay.String())); err != nil {
				e.log.Error("match: delayed notification failed", "employee", id, "err", err)
			}
		}
	})
}

// ClientCreated tells the engine that a client with phone now exists in
// account, created outside the engine (by hand, by an import): calls from
// that phone that are still waiting inside the late-binding window are
// attached to it at once. Without it they are attached when the window
// closes, when the engine looks into the store once more.
func (e *Engine) ClientCreated(ctx context.Context, account, phone string) error {
	p, err := normalize(phone, e.country)
	if err != nil {
		return fmt.Errorf("match: ClientCreated: %w", err)
	}
	return e.bindLate(ctx, account, p, nil)
}

// bindLate attaches the calls waiting for phone; skip is a call whose lock
// the caller holds.
func (e *Engine) bindLate(ctx context.Context, account, phone string, skip *callState) error {
	e.mu.Lock()
	waiting := slices.Clone(e.pending[bindKey{account, phone}])
	e.mu.Unlock()
	var errs []error
	for _, st := range waiting {
		if st == skip {
			continue
		}
		if err := e.bindOne(ctx, st, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// bindOne attaches a waiting call to the client now found for its phone.
// final is the check when the window closes: it looks whatever the clock
// says (a timer fires a little late) and ends the wait either way.
func (e *Engine) bindOne(ctx context.Context, st *callState, final bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone || !st.waiting {
		return nil
	}
	unwait := func() {
		e.mu.Lock()
		e.unwaitLocked(st)
		e.mu.Unlock()
	}
	if !final && e.clock.Now().After(st.deadline) {
		unwait()
		return nil
	}
	res, err := e.resolver.find(ctx, st.key.account, st.rec.ClientPhone)
	if err != nil || !res.Found() {
		if final {
			unwait()
		}
		return err
	}
	rec := st.rec
	rec.ClientID = res.Client.ID
	d := Decision{Call: rec, Case: st.prog.d.Case, Line: st.prog.d.Line}
	d.add(ActBindLate, rec.ClientID, "", "", "a client with this phone appeared within %v of the call", e.window)
	// As in decide, the call joins an active lead only where this case
	// creates leads.
	if rule, _ := e.rules.rule(st.key.account, rec.LinePhone); e.leads != nil && rule.Leads.get(d.Case).Create {
		leads, err := e.leads.ClientLeads(ctx, st.key.account, rec.ClientID)
		if err != nil {
			return fmt.Errorf("match: client leads: %w", err)
		}
		for _, l := range leads {
			if l.Active() {
				rec.LeadID = l.ID
				d.add(ActAttachLead, rec.ClientID, l.ID, "", "the client has an active lead (status %q)", l.Status)
				break
			}
		}
	}
	if e.calls != nil {
		if err := e.calls.LogCall(ctx, rec); err != nil {
			return fmt.Errorf("match: log call: %w", err)
		}
		d.add(ActLogCall, rec.ClientID, rec.LeadID, rec.Employee, "%s %s call", rec.Direction, rec.Status)
	}
	d.Call = rec
	st.rec = rec
	st.prog.d.Call = rec
	unwait()
	e.log.Debug("match: call bound late", "decision", d)
	return nil
}

// DryRun reports what the engine would do with a call made of events,
// without writing to any store and without remembering the call. The
// events must belong to one call (same Provider, Account and CallID).
// The store is read as it is now, so the decision may differ from the
// real one if the store changes meanwhile.
func (e *Engine) DryRun(ctx context.Context, events ...callevent.Event) (Decision, error) {
	var evs []callevent.Event
	for _, ev := range events {
		if err := ev.Validate(); err != nil {
			return Decision{}, fmt.Errorf("match: DryRun: %w", err)
		}
		if len(evs) > 0 && (ev.Provider != evs[0].Provider || ev.Account != evs[0].Account || ev.CallID != evs[0].CallID) {
			return Decision{}, fmt.Errorf("match: DryRun: events of different calls (%q and %q)", evs[0].CallID, ev.CallID)
		}
		evs, _ = insertEvent(evs, ev)
	}
	if len(evs) == 0 {
		return Decision{}, errors.New("match: DryRun: no events")
	}
	var p progress
	err := e.decide(ctx, assemble(evs), &p, true)
	return p.d, err
}

// LookupContact implements callevent.ContactLookup: the client of phone
// (matched as Resolve does, never created), with its card URL and its
// responsible employee's extension, login and e-mail. An anonymous,
// internal or invalid phone is simply not found.
func (e *Engine) LookupContact(ctx context.Context, account, phone string) (callevent.Contact, bool, error) {
	p, err := normalize(phone, e.country)
	if err != nil {
		return callevent.Contact{}, false, nil
	}
	res, err := e.resolver.find(ctx, account, p)
	if err != nil || !res.Found() {
		return callevent.Contact{}, false, err
	}
	c := res.Client
	out := callevent.Contact{ID: c.ID, Name: c.Name}
	if e.cardURL != "" {
		out.URL = strings.NewReplacer("{id}", url.PathEscape(c.ID), "{account}", url.PathEscape(account),
			"{phone}", p).Replace(e.cardURL)
	}
	if c.Responsible != "" && e.dir != nil {
		emps, err := e.dir.Employees(ctx, account)
		if err != nil {
			return callevent.Contact{}, false, fmt.Errorf("match: employees: %w", err)
		}
		for _, x := range emps {
			if x.ID == c.Responsible {
				if len(x.Extensions) > 0 {
					out.ResponsibleExtension = x.Extensions[0]
				}
				out.ResponsibleLogin, out.ResponsibleEmail = x.Login, x.Email
				break
			}
		}
	}
	return out, true, nil
}

// Close stops the engine. Every call whose decision only waits for time
// to pass is decided now with what the engine has: calls in their settle
// wait or grace period, calls that ended or completed (also those whose
// decision failed and awaits a retry), and calls of providers that never
// report the end, waiting their WithProviderIdle timeout (Finaz). Calls
// still in progress (no end heard, general idle timeout) are not decided:
// their later events go to whatever runs next. Then delayed notifications
// and late binding are dropped, timers are stopped, and Close waits (until
// ctx is done) for timer work already running. Events after Close get
// ErrClosed. Close returns the errors of the decisions that failed.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	states := make([]*callState, 0, len(e.active))
	for _, st := range e.active {
		states = append(states, st)
	}
	for dn := range e.delayed {
		dn.t.Stop()
	}
	clear(e.delayed)
	e.mu.Unlock()

	var errs []error
	for _, st := range states {
		st.mu.Lock()
		if st.timer != nil {
			st.timer.Stop()
		}
		if !st.finalized && !st.gone && len(st.events) > 0 {
			if a := assemble(st.events); e.dueAtClose(st, a) {
				if err := e.finalize(ctx, st, a); err != nil {
					errs = append(errs, err)
				}
				if st.timer != nil {
					st.timer.Stop()
				}
			}
		}
		st.mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	e.cancel()
	return errors.Join(errs...)
}

// dueAtClose reports whether Close decides an undecided call: its
// decision waits only for time to pass. st.mu is held.
func (e *Engine) dueAtClose(st *callState, a assembled) bool {
	if (a.ended || a.completed) && !a.openLegs {
		return true // in its settle wait or grace period, or awaiting a retry
	}
	_, ok := e.providerIdle[st.key.provider]
	return ok && st.timerKind == timerIdle
}
