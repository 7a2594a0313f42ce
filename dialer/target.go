package dialer

import (
	"errors"
	"fmt"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/phone"
)

// Target is one entry of a campaign's list: a number to call and the CRM
// record it belongs to, which the call-started hook carries so the CRM
// opens its card.
type Target struct {
	// Number is the target's place in its campaign, from 1; set by the
	// store.
	Number int `json:"number"`
	// Phone is the number to call; Dialer.Create normalises it (the
	// campaign's Country reads national numbers) to the digits of its
	// E.164 form.
	Phone string `json:"phone"`
	// Entity is the kind of CRM record ("lead", "contact", "company",
	// "client"), EntityID its id in the CRM.
	Entity   string `json:"entity,omitempty"`
	EntityID string `json:"entity_id,omitempty"`
	// Name is the name shown to the agent.
	Name string `json:"name,omitempty"`
	// Fields are custom fields shown to the agent (at most MaxFields).
	Fields map[string]string `json:"fields,omitempty"`
	// TimeZone is the IANA zone whose hours apply to the target; "" lets
	// Dialer.Create derive it from the number (ZoneOf) or take the
	// campaign's.
	TimeZone string `json:"time_zone,omitempty"`
}

// Bounds of a Target.
const (
	// MaxFields bounds Target.Fields.
	MaxFields = 32
	// MaxFieldLen bounds every text of a Target, in bytes.
	MaxFieldLen = 256
)

// validate reports the first problem of t, naming the field.
func (t *Target) validate() error {
	for _, f := range [...]struct{ name, v string }{{"entity", t.Entity}, {"entity_id", t.EntityID}, {"name", t.Name}, {"time_zone", t.TimeZone}} {
		if len(f.v) > MaxFieldLen || !callevent.Printable(f.v) {
			return fmt.Errorf("%s: not printable text of at most %d bytes", f.name, MaxFieldLen)
		}
	}
	if len(t.Fields) > MaxFields {
		return fmt.Errorf("fields: %d fields, more than %d", len(t.Fields), MaxFields)
	}
	for k, v := range t.Fields {
		if k == "" || len(k) > MaxFieldLen || !callevent.Printable(k) {
			return fmt.Errorf("fields: key %q is not printable text of 1 to %d bytes", clip(k), MaxFieldLen)
		}
		if len(v) > MaxFieldLen || !callevent.Printable(v) {
			return fmt.Errorf("fields.%s: not printable text of at most %d bytes", clip(k), MaxFieldLen)
		}
	}
	return nil
}

// normalize is phone.Normalize with an error that says what is wrong in
// a few words.
func normalize(raw, country string) (string, error) {
	n, err := phone.Normalize(raw, country)
	if err != nil {
		switch {
		case errors.Is(err, phone.ErrUnknownCountry):
			return "", err
		case err == phone.ErrInternal:
			return "", fmt.Errorf("%q is an internal extension, not a client's number", clip(raw))
		case err == phone.ErrAnonymous:
			return "", fmt.Errorf("%q is not a number", clip(raw))
		}
		return "", fmt.Errorf("%q is not a valid phone number", clip(raw))
	}
	return n, nil
}

// Outcome is how an attempt (and, for a target, its last attempt) ended.
type Outcome uint8

// Outcomes. The first five come from the call's events; the others say
// why a target was not called.
const (
	// Answered: the client picked up (the number is worked).
	Answered Outcome = iota + 1
	// Busy: the line was busy.
	Busy
	// NoAnswer: nobody picked up (missed, cancelled, unreachable, or no
	// event within the ring timeout).
	NoAnswer
	// Failed: the call could not be placed or failed at the provider.
	Failed
	// Invalid: the number does not exist (the number is worked).
	Invalid
	// DoNotCall: the number is on the do-not-call list; never dialled.
	DoNotCall
	// Worked: another campaign worked the number (Campaign.SkipWorked);
	// never dialled.
	Worked
	// Skipped: an agent or the campaign skipped the target.
	Skipped
	// Unknown: the attempt was recorded but the process stopped before
	// the provider answered the call request (see RetryPolicy.Unknown).
	Unknown
	numOutcomes
)

var outcomeNames = [...]string{"", "answered", "busy", "no_answer", "failed", "invalid", "do_not_call", "worked", "skipped", "unknown"}

// String returns the lower snake_case name, e.g. "no_answer".
func (o Outcome) String() string { return enumString(outcomeNames[:], "Outcome", uint8(o)) }

// MarshalText implements encoding.TextMarshaler.
func (o Outcome) MarshalText() ([]byte, error) {
	return enumMarshal(outcomeNames[:], "outcome", uint8(o))
}

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an error.
func (o *Outcome) UnmarshalText(b []byte) error {
	v, err := enumParse(outcomeNames[:], "outcome", b)
	*o = Outcome(v)
	return err
}

// WorksNumber reports whether the outcome settles its number for good:
// answered or invalid. Such numbers are never called again by the
// campaign and, with Campaign.SkipWorked, by any other.
func (o Outcome) WorksNumber() bool { return o == Answered || o == Invalid }

// outcomeOf maps a call's final status to an outcome.
func outcomeOf(s callevent.Status) Outcome {
	switch s {
	case callevent.Success:
		return Answered
	case callevent.Busy:
		return Busy
	case callevent.Missed, callevent.Canceled, callevent.NotAvailable:
		return NoAnswer
	case callevent.NotFound:
		return Invalid
	}
	return Failed
}

// Disposition is the agent's verdict on a call, a code of the CRM's own
// ("sale", "call_back", "not_interested"): recorded on the attempt and
// the target. DispositionDoNotCall also puts the number on the
// do-not-call list.
type Disposition string

// DispositionDoNotCall asks never to call the number again.
const DispositionDoNotCall Disposition = "do_not_call"

// validate accepts 1 to 64 printable bytes.
func (d Disposition) validate() error {
	if d == "" || len(d) > 64 || !callevent.Printable(string(d)) {
		return fmt.Errorf("%w: disposition: %q is not 1 to 64 bytes of printable text", ErrInvalid, clip(string(d)))
	}
	return nil
}

// TargetState is where a target is in the campaign, as stored.
type TargetState uint8

// Target states.
const (
	// Pending: to be called, at NextAt or later.
	Pending TargetState = iota + 1
	// Dialing: an attempt is recorded and not finished.
	Dialing
	// Finished: worked, skipped, or without attempts left.
	Finished
)

var targetStateNames = [...]string{"", "pending", "dialing", "finished"}

// String returns "pending", "dialing" or "finished".
func (s TargetState) String() string { return enumString(targetStateNames[:], "TargetState", uint8(s)) }

// MarshalText implements encoding.TextMarshaler.
func (s TargetState) MarshalText() ([]byte, error) {
	return enumMarshal(targetStateNames[:], "target state", uint8(s))
}

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an error.
func (s *TargetState) UnmarshalText(b []byte) error {
	v, err := enumParse(targetStateNames[:], "target state", b)
	*s = TargetState(v)
	return err
}

// Progress is a target's place in its campaign, as stored: what a
// restart resumes from.
type Progress struct {
	Target int `json:"target"`
	// Phone and TimeZone are the target's (normalised, resolved).
	Phone    string      `json:"phone"`
	TimeZone string      `json:"time_zone,omitempty"`
	State    TargetState `json:"state"`
	// Attempts counts the attempts recorded (begun), the one in progress
	// included.
	Attempts int `json:"attempts"`
	// NextAt is when a pending target may be called again (zero: now);
	// the calling hours may push it later.
	NextAt      time.Time   `json:"next_at,omitzero"`
	Outcome     Outcome     `json:"outcome,omitempty"`
	Disposition Disposition `json:"disposition,omitempty"`
}

// Attempt is one call of a target.
type Attempt struct {
	Campaign string `json:"campaign"`
	Target   int    `json:"target"`
	// Number counts the target's attempts from 1.
	Number   int    `json:"number"`
	Employee string `json:"employee,omitempty"`
	Phone    string `json:"phone"`
	// CallID is the provider's call id, once the provider gave it.
	CallID      string      `json:"call_id,omitempty"`
	Outcome     Outcome     `json:"outcome,omitempty"`
	Disposition Disposition `json:"disposition,omitempty"`
	StartedAt   time.Time   `json:"started_at"`
	EndedAt     time.Time   `json:"ended_at,omitzero"`
}
