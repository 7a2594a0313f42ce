package dialer

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/enum"
	"github.com/callbridge/callbridge/internal/text"
)

// Mode says who decides when a campaign's next call is placed.
type Mode uint8

// Campaign modes.
const (
	// Preview: the agent sees the next target and confirms each call
	// (Dialer.Ready) or skips it (Dialer.Skip).
	Preview Mode = iota + 1
	// Power: the next call is placed by itself once the agent's previous
	// call ended and the wrap-up time passed (seed 002's «Время
	// постобработки звонка при обзвоне»); the first call at once.
	Power
	// Remote: the telephony system dials the list by itself (the Finaz
	// contract's dialer: clear, upload, results); see Remote.
	Remote
)

// State is where a campaign is in its life.
type State uint8

// Campaign states.
const (
	// Draft: created, not started; nothing is dialled.
	Draft State = iota + 1
	// Running: agents who are ready get calls.
	Running
	// Paused: no new call is placed; calls in progress finish.
	Paused
	// Stopped: ended by hand; targets not called stay so.
	Stopped
	// Done: every target is worked or has no attempt left.
	Done
)

var (
	modeNames  = [...]string{"", "preview", "power", "remote"}
	stateNames = [...]string{"", "draft", "running", "paused", "stopped", "done"}
)

// String returns "preview", "power" or "remote".
func (m Mode) String() string { return enumString(modeNames[:], "Mode", uint8(m)) }

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) { return enumMarshal(modeNames[:], "mode", uint8(m)) }

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an error.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := enumParse(modeNames[:], "mode", b)
	*m = Mode(v)
	return err
}

// String returns "draft", "running", "paused", "stopped" or "done".
func (s State) String() string { return enumString(stateNames[:], "State", uint8(s)) }

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return enumMarshal(stateNames[:], "state", uint8(s)) }

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an error.
func (s *State) UnmarshalText(b []byte) error {
	v, err := enumParse(stateNames[:], "state", b)
	*s = State(v)
	return err
}

// Retry is what happens after an attempt with one outcome: another
// attempt Delay later, as long as the target has had fewer than
// MaxAttempts attempts in all. MaxAttempts 0 or 1 means no retry.
type Retry struct {
	Delay       callevent.Seconds `json:"delay_sec,omitempty"`
	MaxAttempts int               `json:"max_attempts,omitempty"`
}

// RetryPolicy is the Retry of each outcome worth another try. Answered
// and Invalid numbers are never called again (they are worked), nor
// targets skipped or on the do-not-call list.
type RetryPolicy struct {
	Busy     Retry `json:"busy,omitzero"`
	NoAnswer Retry `json:"no_answer,omitzero"`
	Failed   Retry `json:"failed,omitzero"`
	// Unknown is an attempt whose fate the dialer does not know: it was
	// recorded and then the process stopped before the provider answered
	// the call request. The call may have been placed, so by default it
	// is not retried (at most one call per attempt).
	Unknown Retry `json:"unknown,omitzero"`
}

// DefaultRetryPolicy is the policy of a campaign that sets none: busy
// numbers again after 10 minutes, unanswered after an hour, failed calls
// after 5 minutes, each up to 3 attempts in all.
var DefaultRetryPolicy = RetryPolicy{
	Busy:     Retry{Delay: callevent.Seconds(10 * time.Minute), MaxAttempts: 3},
	NoAnswer: Retry{Delay: callevent.Seconds(time.Hour), MaxAttempts: 3},
	Failed:   Retry{Delay: callevent.Seconds(5 * time.Minute), MaxAttempts: 3},
}

// of is the Retry of outcome o; the zero Retry for outcomes never retried.
func (p RetryPolicy) of(o Outcome) Retry {
	switch o {
	case Busy:
		return p.Busy
	case NoAnswer:
		return p.NoAnswer
	case Failed:
		return p.Failed
	case Unknown:
		return p.Unknown
	}
	return Retry{}
}

// Campaign is a list of targets called on behalf of its agents. The
// targets are stored beside it (Store.CreateCampaign) and numbered from 1
// in the order given.
type Campaign struct {
	// ID is the campaign's key: 1 to 64 letters, digits, "-", "_" or ".".
	// Dialer.Create makes one when it is empty.
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Account is the tenant at the provider: CallRequest.Account of the
	// calls, and the Account of the events that report them.
	Account string `json:"account,omitempty"`
	// Provider names the Caller (or the Remote) of Config that places the
	// calls: "telphin", "megafon", "phonet", "finaz", ….
	Provider string `json:"provider"`
	Mode     Mode   `json:"mode"`
	// Agents are the employees who work the campaign (their ids, as
	// Config.Employees knows them). A Remote campaign has none.
	Agents []string `json:"agents,omitempty"`
	// WrapUp is the time after a call before a power campaign places the
	// agent's next one (the agent's Ready cuts it short).
	WrapUp callevent.Seconds `json:"wrap_up_sec,omitempty"`
	// RingTimeout ends an attempt that was neither answered nor ended by
	// an event after this long (no answer). Default DefaultRingTimeout.
	RingTimeout callevent.Seconds `json:"ring_timeout_sec,omitempty"`
	// MaxCall ends an answered call no event has ended after this long
	// (a provider that reports only the answer, as Finaz's click-to-call,
	// ends with the agent's disposition instead). Default DefaultMaxCall.
	MaxCall callevent.Seconds `json:"max_call_sec,omitempty"`
	// Retry is the retry policy; the zero value means DefaultRetryPolicy,
	// and an outcome a policy leaves out is not retried.
	Retry RetryPolicy `json:"retry,omitzero"`
	// Hours is the calling window, in each target's own time zone.
	Hours CallingHours `json:"hours,omitzero"`
	// TimeZone is the IANA zone of targets whose number does not tell
	// theirs; "" means the zone of Country's capital (see ZoneOf), else
	// UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// Country reads national numbers of the targets ("RU", "KZ", "UA",
	// "BY", "BR"; "" = RU).
	Country string `json:"country,omitempty"`
	// CallerID is the company number shown to the clients, for providers
	// that let one choose it.
	CallerID string `json:"caller_id,omitempty"`
	// SkipWorked skips numbers another campaign has worked (answered,
	// found invalid): "never the same number twice" across campaigns.
	// Within one campaign a number is never called twice anyway.
	SkipWorked bool `json:"skip_worked,omitempty"`
	// Queue is the remote dialer's queue (Finaz identificador_fila) of a
	// Remote campaign; "" means the campaign's ID.
	Queue string `json:"queue,omitempty"`

	State     State     `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Defaults of a Campaign.
const (
	DefaultRingTimeout = 2 * time.Minute
	DefaultMaxCall     = 2 * time.Hour
	// MaxAgents bounds Campaign.Agents.
	MaxAgents = 1000
	// MaxAttempts bounds Retry.MaxAttempts.
	MaxAttempts = 50
)

// Validate reports every problem of c's settings at once, naming each
// field by its JSON name. It does not look at the targets, the agents'
// existence or the provider (Dialer.Start does).
func (c *Campaign) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if c.ID != "" && !validID(c.ID) {
		bad("id", "%q is not 1 to 64 letters, digits, '-', '_' or '.'", clip(c.ID))
	}
	if len(c.Name) > maxText || !callevent.Printable(c.Name) {
		bad("name", "not printable text of at most %d bytes", maxText)
	}
	if len(c.Account) > maxText || !callevent.Printable(c.Account) {
		bad("account", "not printable text of at most %d bytes", maxText)
	}
	if c.Provider == "" {
		bad("provider", "required")
	} else if !validID(c.Provider) {
		bad("provider", "%q is not a provider name", clip(c.Provider))
	}
	switch c.Mode {
	case Preview, Power:
		if len(c.Agents) == 0 {
			bad("agents", "a %s campaign needs at least one agent", c.Mode)
		}
	case Remote:
		if len(c.Agents) > 0 {
			bad("agents", "a remote campaign has no agents: the remote dialer has its own operators")
		}
	default:
		bad("mode", "must be preview, power or remote")
	}
	if len(c.Agents) > MaxAgents {
		bad("agents", "%d agents, more than %d", len(c.Agents), MaxAgents)
	}
	seen := map[string]bool{}
	for i, a := range c.Agents {
		switch {
		case strings.TrimSpace(a) == "" || len(a) > maxText || !callevent.Printable(a):
			bad(fmt.Sprintf("agents[%d]", i), "not an employee id")
		case seen[a]:
			bad(fmt.Sprintf("agents[%d]", i), "%q is listed twice", clip(a))
		}
		seen[a] = true
	}
	for _, d := range []struct {
		name string
		v    callevent.Seconds
		max  time.Duration
	}{{"wrap_up_sec", c.WrapUp, 24 * time.Hour}, {"ring_timeout_sec", c.RingTimeout, time.Hour}, {"max_call_sec", c.MaxCall, 24 * time.Hour}} {
		if d.v < 0 || time.Duration(d.v) > d.max {
			bad(d.name, "%v is outside 0 to %v", time.Duration(d.v), d.max)
		}
	}
	for _, r := range []struct {
		name string
		r    Retry
	}{{"busy", c.Retry.Busy}, {"no_answer", c.Retry.NoAnswer}, {"failed", c.Retry.Failed}, {"unknown", c.Retry.Unknown}} {
		if r.r.Delay < 0 || time.Duration(r.r.Delay) > 30*24*time.Hour {
			bad("retry."+r.name+".delay_sec", "%v is outside 0 to 30 days", time.Duration(r.r.Delay))
		}
		if r.r.MaxAttempts < 0 || r.r.MaxAttempts > MaxAttempts {
			bad("retry."+r.name+".max_attempts", "%d is outside 0 to %d", r.r.MaxAttempts, MaxAttempts)
		}
	}
	if err := c.Hours.validate(); err != nil {
		bad("hours", "%v", err)
	}
	if c.TimeZone != "" {
		if _, err := loadZone(c.TimeZone); err != nil {
			bad("time_zone", "unknown time zone %q", clip(c.TimeZone))
		}
	}
	if _, err := normalize("79161234567", c.Country); err != nil {
		bad("country", "%q has no national numbering rules (RU, KZ, UA, BY, BR)", clip(c.Country))
	}
	if len(c.CallerID) > maxText || !callevent.Printable(c.CallerID) {
		bad("caller_id", "not printable text of at most %d bytes", maxText)
	}
	if len(c.Queue) > maxText || !callevent.Printable(c.Queue) {
		bad("queue", "not printable text of at most %d bytes", maxText)
	}
	if c.Queue != "" && c.Mode != Remote {
		bad("queue", "only a remote campaign has a queue")
	}
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Errs: errs}
}

// ValidationError lists every problem of a campaign, target or import;
// each names its field (or CSV line).
type ValidationError struct{ Errs []error }

// Error joins the problems with "; ".
func (e *ValidationError) Error() string {
	s := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		s[i] = err.Error()
	}
	return "dialer: invalid campaign: " + strings.Join(s, "; ")
}

// Unwrap returns the problems, and ErrInvalid for errors.Is.
func (e *ValidationError) Unwrap() []error { return append([]error{ErrInvalid}, e.Errs...) }

// ErrInvalid is wrapped by every error about invalid input.
var ErrInvalid = errors.New("dialer: invalid input")

// effective returns c with its defaults filled in.
func (c Campaign) effective() Campaign {
	if c.RingTimeout == 0 {
		c.RingTimeout = callevent.Seconds(DefaultRingTimeout)
	}
	if c.MaxCall == 0 {
		c.MaxCall = callevent.Seconds(DefaultMaxCall)
	}
	if c.Retry == (RetryPolicy{}) {
		c.Retry = DefaultRetryPolicy
	}
	return c
}

// maxText bounds names, ids and other short texts, in bytes.
const maxText = 256

// validID reports whether s is 1 to 64 of [A-Za-z0-9._-].
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// clip shortens s for an error message.
func clip(s string) string { return text.Clip(s, 64) }

func enumString(names []string, typ string, v uint8) string { return enum.String(names, typ, v) }

func enumMarshal(names []string, typ string, v uint8) ([]byte, error) {
	return enum.Marshal("dialer", names, typ, v)
}

func enumParse(names []string, typ string, text []byte) (uint8, error) {
	return enum.Parse("dialer", names, typ, text)
}
