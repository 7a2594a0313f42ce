package match

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Defaults of the engine's timing and limits (Timing, Limits, WithSettle).
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
	// small mark (about 40 bytes; at most four per call of the cap) until
	// their retention ends, so that a late or redelivered event never
	// decides a call twice. When the undecided calls are at the cap, or the marks are
	// full, an event of a new call gets ErrOverloaded, which a webhook
	// answers with 503 and Retry-After: nothing is acknowledged and then
	// dropped.
	DefaultMaxCalls = 100_000
)

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

// WithPopUps sets where the cards of live calls go (default: the
// ClientStore, if it is also a PopUpper; else no cards are shown). nil
// shows no cards, also over a store that is a PopUpper.
func WithPopUps(p PopUpper) Option { return func(e *Engine) error { e.popups = p; return nil } }

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

// Timing is the engine's waiting times (see WithTiming). A zero field
// keeps its default; a negative one is an error.
type Timing struct {
	// Grace is how long the engine waits after the last leg of a call
	// Ended for a Completed event before it acts on what it has (default
	// DefaultGracePeriod).
	Grace time.Duration
	// Window is the late-binding window: how long a call without a client
	// waits for one to appear (default DefaultLateBindingWindow).
	Window time.Duration
	// Retention is how long a decided call is remembered, to drop
	// redelivered events and merge late ones (default DefaultRetention).
	// It is raised to a minute past Window if shorter, so a waiting call
	// is still known when its window closes.
	Retention time.Duration
}

// WithTiming sets the grace period after Ended, the late-binding window
// and the retention of decided calls. Zero fields keep the defaults:
//
//	match.WithTiming(match.Timing{Grace: time.Minute}) // window and retention stay
func WithTiming(t Timing) Option {
	return func(e *Engine) error {
		if t.Grace < 0 || t.Window < 0 || t.Retention < 0 {
			return errors.New("negative duration")
		}
		e.grace = cmpDur(t.Grace, e.grace)
		e.window = cmpDur(t.Window, e.window)
		e.retain = cmpDur(t.Retention, e.retain)
		return nil
	}
}

// Limits bound the calls the engine keeps (see WithLimits). A zero field
// keeps its default; a negative one is an error.
type Limits struct {
	// Idle is how long a call that never ends is kept after its last
	// event before the engine acts on what it has (default
	// DefaultIdleTimeout; per provider: WithProviderIdle).
	Idle time.Duration
	// MaxCalls is the most undecided calls tracked at once (default
	// DefaultMaxCalls, which explains what is kept of decided calls).
	MaxCalls int
}

// WithLimits sets the idle timeout of calls that never end and the most
// undecided calls tracked at once. Zero fields keep the defaults:
//
//	match.WithLimits(match.Limits{MaxCalls: 10_000}) // the idle timeout stays
func WithLimits(l Limits) Option {
	return func(e *Engine) error {
		if l.Idle < 0 || l.MaxCalls < 0 {
			return errors.New("negative limit")
		}
		e.idle = cmpDur(l.Idle, e.idle)
		if l.MaxCalls > 0 {
			e.maxCalls = l.MaxCalls
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

// WithOnDecision sets a function the engine calls once per call, right
// after the call was decided and the decision's side effects were stored
// (also for calls it ignores, such as internal ones; for a call with
// notifications delayed by NotifyRule.Delay, once those are stored
// too), on the goroutine that decided or notified, with the call's lock
// held: f must return quickly and
// must not hand the engine events. A durable inbox is told this way that
// it no longer needs the call's events:
//
//	match.WithOnDecision(func(ctx context.Context, d match.Decision) {
//		_ = inbox.Settle(ctx, d.Call.Provider, d.Call.Account, d.Call.CallID)
//	})
func WithOnDecision(f func(ctx context.Context, d Decision)) Option {
	return func(e *Engine) error { e.onDecision = f; return nil }
}

// WithOnLiveCall sets a function the engine calls with the view of a call
// in progress (as LiveCall returns it) after each of its events and each
// Hold, before the call is decided, on the goroutine that delivers the
// event, with the call's lock held (so one call's views come in order):
// f must return quickly and must not hand the engine events. The view
// may be unchanged (a redelivered event). Internal calls are left out,
// as LiveCalls leaves them; the decision that ends a call comes to
// WithOnDecision. Package live shows the views on employees' screens:
//
//	match.WithOnLiveCall(hub.CallChanged)
func WithOnLiveCall(f func(ctx context.Context, c LiveCall)) Option {
	return func(e *Engine) error { e.onLive = f; return nil }
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

func cmpDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}
