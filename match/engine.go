package match

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry"
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

// Engine turns the call events of any provider into CRM facts: it
// assembles the events of each call, applies the account's Rules when the
// call is over, and answers providers' contact lookups. It implements
// callevent.Sink and callevent.ContactLookup and is safe for concurrent
// use. Close it to stop its timers.
type Engine struct {
	clients  ClientStore
	unmapped atomic.Int64  // calls ignored by Rule.MappedOnly
	getter   ClientGetter  // clients, if it finds clients by id
	unique   UniquePhones  // clients, if it keeps one client per phone
	dialog   Dialog        // clients, if it keeps dialogs (Rule.Dialog)
	updater  ClientUpdater // clients, if it sets fields (Rule.Dialog)
	reassign Reassigner    // clients, if it hands clients and leads over
	leads    LeadStore
	byPhone  PhoneLeads // leads, if it keeps leads without a client
	calls    CallLog
	tasks    TaskStore // clients, if it keeps call-back tasks (Rule.Task)
	dir      Directory
	notifier Notifier
	popups   PopUpper
	resolver *resolver
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
	onDecision                  func(context.Context, Decision)
	onLive                      func(context.Context, LiveCall)

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
	// stripe serialises the decisions of calls of one phone, so that
	// concurrent calls from one number make one client and one lead. Each is a lock (a channel of capacity 1), so that waiting for
	// it ends with ctx.
	stripe [256]chan struct{}

	// Telemetry (WithMeterProvider, WithTracerProvider,
	// WithUnmaskedPhones).
	mp         metric.MeterProvider
	tp         trace.TracerProvider
	tel        *telemetry.Engine
	fullPhones bool
	activeReg  metric.Registration // the calls-in-progress callback; nil if not registered
	eventSpan  []trace.SpanStartOption
}

var (
	_ callevent.Sink          = (*Engine)(nil)
	_ callevent.ContactLookup = (*Engine)(nil)
)

// NewEngine returns an engine over clients. If clients also implements
// ClientGetter, LeadStore, CallLog, TaskStore, Directory, Notifier or PopUpper (as
// memstore.Store does), it is used for those too unless an option sets
// another.
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
	e.getter, _ = clients.(ClientGetter)
	e.unique, _ = clients.(UniquePhones)
	e.dialog, _ = clients.(Dialog)
	e.updater, _ = clients.(ClientUpdater)
	e.reassign, _ = clients.(Reassigner)
	e.leads, _ = clients.(LeadStore)
	e.calls, _ = clients.(CallLog)
	e.tasks, _ = clients.(TaskStore)
	e.dir, _ = clients.(Directory)
	e.notifier, _ = clients.(Notifier)
	e.popups, _ = clients.(PopUpper)
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("match: NewEngine: option %d is nil", i+1)
		}
		if err := o(e); err != nil {
			return nil, fmt.Errorf("match: NewEngine: %w", err)
		}
	}
	e.byPhone, _ = e.leads.(PhoneLeads)
	e.initTelemetry()
	if !e.rulesSet {
		e.rules = RuleSet{Default: Rules{Rule: DefaultRule()}}
	}
	if err := e.rules.normalize(e.country); err != nil {
		return nil, err
	}
	// A waiting call is checked once more when its window closes, so it
	// must be remembered past the window.
	e.retain = max(e.retain, e.window+time.Minute)
	r, err := newResolver(e.clients, e.unique, e.country)
	if err != nil {
		return nil, fmt.Errorf("match: NewEngine: %w", err)
	}
	e.resolver = r
	e.base, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

// HandleEvent implements callevent.Sink. Events of one call may come in
// any order and more than once (deduplicated by Event.ID). The engine acts
// when the call is over: on Completed when no leg is still ringing or
// talking, or a grace period after the last leg Ended. Internal calls are
// ignored; a Rated event sets the Rating of a call the engine holds,
// decided or not, and is dropped otherwise. An error means the event was not fully
// processed; redelivering it retries.
func (e *Engine) HandleEvent(ctx context.Context, ev callevent.Event) error {
	ctx, span := e.startEvent(ctx, "match.Engine HandleEvent", ev)
	err := e.handle(ctx, ev, 0, false)
	endSpan(span, err)
	return err
}

// Resume gives the engine back an event it had accepted before a restart
// (or that another engine had, before it died), with the time it arrived
// then: a durable inbox (sqlstore.Inbox) resumes the calls in progress
// this way. It is HandleEvent, except that the call's waits (settle,
// grace, idle, the late-binding window) run from arrived rather than from
// now, so a call that was due while no engine ran is decided at once.
func (e *Engine) Resume(ctx context.Context, ev callevent.Event, arrived time.Time) error {
	ctx, span := e.startEvent(ctx, "match.Engine Resume", ev)
	err := e.handle(ctx, ev, max(0, e.clock.Now().Sub(arrived)), true)
	endSpan(span, err)
	return err
}

// Unmapped reports how many calls the engine ignored because their
// extension is no employee's (Rule.MappedOnly).
func (e *Engine) Unmapped() int64 { return e.unmapped.Load() }

// Undecided reports whether ev's call is in progress here: the engine has
// events of it and has not decided it yet, so it still needs them (a
// durable inbox keeps such events for Resume). It is false for a call the
// engine does not know, and once the call is decided and its delayed
// notifications are stored (see WithOnDecision).
func (e *Engine) Undecided(ev callevent.Event) bool {
	e.mu.Lock()
	st := e.active[callKey{ev.Provider, ev.Account, ev.CallID}]
	e.mu.Unlock()
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return (!st.finalized || len(st.prog.later) > 0) && !st.gone && len(st.events) > 0
}

// handle is HandleEvent of an event that arrived shift ago; resumed: it
// came through Resume.
func (e *Engine) handle(ctx context.Context, ev callevent.Event, shift time.Duration, resumed bool) error {
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("match: %w", err)
	}
	k := callKey{ev.Provider, ev.Account, ev.CallID}
	if ev.Kind == callevent.Rated {
		// A rating belongs to a call the engine has: it is not a call of
		// its own.
		e.mu.Lock()
		st, closed := e.active[k], e.closed
		e.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if st == nil {
			e.log.DebugContext(ctx, "match: rating of a call the engine does not hold, dropped", append(logCall(k), "event_id", ev.ID)...)
			return nil
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.gone || (len(st.events) == 0 && !st.finalized) {
			return nil
		}
		st.direct = st.direct || !resumed
		return e.add(ctx, st, ev, shift)
	}
	for {
		st, err := e.state(k)
		if errors.Is(err, errDecided) {
			e.log.DebugContext(ctx, "match: event of a call decided earlier, dropped", append(logCall(k), "event_id", ev.ID)...)
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
		st.direct = st.direct || !resumed
		err = e.add(ctx, st, ev, shift)
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

// LookupContact implements callevent.ContactLookup: the client of phone
// (matched as calls are, never created), with its card URL and its
// responsible employee's extension, login and e-mail. An anonymous,
// internal or invalid phone is simply not found.
func (e *Engine) LookupContact(ctx context.Context, account, phone string) (_ callevent.Contact, found bool, err error) {
	ctx, span := e.tel.Tracer.Start(ctx, "match.Engine LookupContact", e.eventSpan...)
	defer func() {
		if span.IsRecording() {
			span.SetAttributes(telemetry.AccountKey.String(account), telemetry.Phone(phone, e.fullPhones),
				attribute.Bool("callbridge.found", found))
		}
		endSpan(span, err)
	}()
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

// Close stops the engine. Every call whose decision only waits for time
// to pass is decided now with what the engine has: calls in their settle
// wait or grace period, calls that ended or completed (also those whose
// decision failed and awaits a retry), and calls of providers that never
// report the end, waiting their WithProviderIdle timeout (Finaz). Calls
// still in progress (no end heard, general idle timeout) are not decided:
// their later events go to whatever runs next. Nor are calls all of whose
// events came through Resume: a durable inbox holds those events until
// the decision and the next engine resumes them, waits counted from when
// they arrived, so an event that reaches it later still counts and the
// call is decided once. Then delayed notifications and late binding are
// dropped (a call with delayed notifications not yet sent is not reported
// to WithOnDecision, so a durable inbox resumes it), timers are stopped,
// and Close waits (until ctx is done) for timer work already running.
// Events after Close get ErrClosed. Close returns the errors of the
// decisions that failed.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	if e.activeReg != nil {
		_ = e.activeReg.Unregister()
	}
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
		if !st.finalized && !st.gone && len(st.events) > 0 && st.direct {
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
