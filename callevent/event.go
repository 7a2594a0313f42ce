package callevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Event is one fact about a call, in the same shape for every provider.
//
// Phones are normalised: digits only, country code first ("79161234567"),
// "" when the caller is anonymous. Times are in UTC. Duration is talk time
// and Wait is ring time; in JSON they are duration_sec and wait_sec, in
// Seconds, the unit of every duration callbridge writes.
type Event struct {
	// ID is stable for one notification: a redelivery carries the same ID.
	ID string `json:"id"`
	// Provider names the source, e.g. "telphin", "megafon", "phonet", "finaz".
	Provider string `json:"provider"`
	// Account is the tenant at the provider: Telphin app id, MegaFon domain,
	// Phonet accountDomain, Finaz empresaId.
	Account string `json:"account,omitempty"`

	Kind      Kind      `json:"kind"`
	Direction Direction `json:"direction,omitempty"`
	// Status is the outcome; zero until the provider reports one.
	Status Status `json:"status,omitempty"`

	// CallID identifies the whole call at the provider.
	CallID string `json:"call_id"`
	// LegID identifies one leg of the call, when the provider has legs.
	LegID string `json:"leg_id,omitempty"`

	// ClientPhone is the external party's normalised number, "" if anonymous.
	ClientPhone string `json:"client_phone,omitempty"`
	// LinePhone is the company number (DID) the call came in on or went out from.
	LinePhone string `json:"line_phone,omitempty"`
	// Extension is the employee's short internal number.
	Extension string `json:"extension,omitempty"`
	// Employee is the employee's login or display name, as the provider gives it.
	Employee string `json:"employee,omitempty"`
	// Group is the queue, hunt group or department that handled the call.
	Group string `json:"group,omitempty"`

	// At is when the event happened (for Completed: when the call started).
	At         time.Time `json:"at"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	// Duration is talk time.
	Duration time.Duration `json:"-"`
	// Wait is ring time before an answer (or before giving up).
	Wait time.Duration `json:"-"`

	RecordingURL string `json:"recording_url,omitempty"`
	// Rating is the client's score for Rated events.
	Rating int `json:"rating,omitempty"`
	// ContactRef is a CRM id the provider passed back (e.g. Finaz pid).
	ContactRef string `json:"contact_ref,omitempty"`

	// Raw holds the original fields of the notification as JSON.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Bounds of a well-formed Event, enforced by Validate. They keep garbage
// and oversized input out of stores and screens: a provider never sends an
// id of kilobytes or a call of a week.
const (
	// MaxFieldLen bounds every string field but RecordingURL and Raw, in bytes.
	MaxFieldLen = 256
	// MaxURLLen bounds RecordingURL, in bytes.
	MaxURLLen = 2048
	// MaxPhoneLen is the longest phone number (E.164: 15 digits).
	MaxPhoneLen = 15
	// MaxDuration bounds Duration and Wait.
	MaxDuration = 7 * 24 * time.Hour
	// MaxRating bounds Rating.
	MaxRating = 100
)

// Window is how far an event's times may lie from the moment it arrives:
// from Past before it to Future after it. It keeps times of 1970 or 9999
// out while allowing provider clock skew and delayed redeliveries.
type Window struct {
	Past, Future time.Duration
}

// DefaultWindow accepts times from 30 days before arrival to one hour after
// it: providers redeliver for hours, not weeks, and their clocks are
// seconds off, not hours.
var DefaultWindow = Window{Past: 30 * 24 * time.Hour, Future: time.Hour}

// Validate reports whether e is well formed, naming each offending field
// by its JSON name:
//
//   - ID, Provider and CallID are set; ID, Provider, Account, CallID,
//     LegID, Extension, Employee, Group and ContactRef are valid UTF-8
//     without control characters and at most MaxFieldLen bytes;
//   - the enums are in range;
//   - phones are digits only, at most MaxPhoneLen of them;
//   - At is set, every time is between the years 2000 and 2100, and the
//     times are in call order: AnsweredAt ≤ EndedAt, and for Ringing,
//     Answered and Completed (whose At is when the call started or was
//     answered) At ≤ AnsweredAt and At ≤ EndedAt where set; Ended,
//     Transferred and Rated happen after the answer;
//   - Duration and Wait are between 0 and MaxDuration, Rating between 0
//     and MaxRating;
//   - RecordingURL is empty or an absolute http or https URL of at most
//     MaxURLLen bytes;
//   - Raw is a JSON object or array (by its brackets; it is not parsed
//     again).
//
// Validate does not compare times with the clock; ValidateAt does.
// Handlers validate every event before delivery.
func (e Event) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	for _, f := range [...]struct {
		name, v  string
		required bool
	}{
		{"id", e.ID, true},
		{"provider", e.Provider, true},
		{"account", e.Account, false},
		{"call_id", e.CallID, true},
		{"leg_id", e.LegID, false},
		{"extension", e.Extension, false},
		{"employee", e.Employee, false},
		{"group", e.Group, false},
		{"contact_ref", e.ContactRef, false},
	} {
		switch {
		case f.v == "" && f.required:
			bad(f.name, "empty")
		case len(f.v) > MaxFieldLen:
			bad(f.name, "%d bytes, more than %d", len(f.v), MaxFieldLen)
		case !Printable(f.v):
			bad(f.name, "not printable UTF-8")
		}
	}
	if e.Kind == 0 || int(e.Kind) >= len(kindNames) {
		bad("kind", "invalid %d", e.Kind)
	}
	if int(e.Direction) >= len(directionNames) {
		bad("direction", "invalid %d", e.Direction)
	}
	if int(e.Status) >= len(statusNames) {
		bad("status", "invalid %d", e.Status)
	}
	for _, f := range [...]struct{ name, v string }{{"client_phone", e.ClientPhone}, {"line_phone", e.LinePhone}} {
		switch {
		case len(f.v) > MaxPhoneLen:
			bad(f.name, "%d digits, more than %d", len(f.v), MaxPhoneLen)
		case !digitsOnly(f.v):
			bad(f.name, "%q is not digits only", f.v)
		}
	}
	if e.At.IsZero() {
		bad("at", "zero")
	}
	for _, f := range [...]struct {
		name string
		t    time.Time
	}{{"at", e.At}, {"answered_at", e.AnsweredAt}, {"ended_at", e.EndedAt}} {
		if !f.t.IsZero() && (f.t.Before(minTime) || !f.t.Before(maxTime)) {
			bad(f.name, "%s is outside the years 2000 to 2099", f.t.UTC().Format(time.RFC3339))
		}
	}
	if !e.AnsweredAt.IsZero() && !e.EndedAt.IsZero() && e.EndedAt.Before(e.AnsweredAt) {
		bad("ended_at", "before answered_at")
	}
	if e.Kind == Ringing || e.Kind == Answered || e.Kind == Completed {
		if !e.AnsweredAt.IsZero() && e.AnsweredAt.Before(e.At) {
			bad("answered_at", "before at")
		}
		if !e.EndedAt.IsZero() && e.EndedAt.Before(e.At) {
			bad("ended_at", "before at")
		}
	}
	for _, f := range [...]struct {
		name string
		d    time.Duration
	}{{"duration", e.Duration}, {"wait", e.Wait}} {
		if f.d < 0 || f.d > MaxDuration {
			bad(f.name, "%v is outside 0 to %v", f.d, MaxDuration)
		}
	}
	if e.Rating < 0 || e.Rating > MaxRating {
		bad("rating", "%d is outside 0 to %d", e.Rating, MaxRating)
	}
	if err := checkURL(e.RecordingURL); err != nil {
		bad("recording_url", "%v", err)
	}
	if len(e.Raw) > 0 && !jsonContainer(e.Raw) {
		bad("raw", "not a JSON object or array")
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("callevent: invalid event %q: %w", clip(e.ID), errors.Join(errs...))
}

// ValidateAt is Validate plus the clock: every time of e must lie inside w
// around now. Handlers call it with the time a request arrived.
func (e Event) ValidateAt(now time.Time, w Window) error {
	if err := e.Validate(); err != nil {
		return err
	}
	lo, hi := now.Add(-w.Past), now.Add(w.Future)
	var errs []error
	for _, f := range [...]struct {
		name string
		t    time.Time
	}{{"at", e.At}, {"answered_at", e.AnsweredAt}, {"ended_at", e.EndedAt}} {
		if !f.t.IsZero() && (f.t.Before(lo) || f.t.After(hi)) {
			errs = append(errs, fmt.Errorf("%s: %s is outside %s to %s", f.name,
				f.t.UTC().Format(time.RFC3339), lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339)))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("callevent: invalid event %q: %w", clip(e.ID), errors.Join(errs...))
}

var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// checkURL accepts "" or an absolute http(s) URL with a host.
func checkURL(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxURLLen {
		return fmt.Errorf("%d bytes, more than %d", len(s), MaxURLLen)
	}
	if !Printable(s) || strings.Contains(s, " ") {
		return errors.New("not a URL")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("not an absolute http or https URL")
	}
	return nil
}

// Printable reports whether s is valid UTF-8 without control characters:
// what Validate requires of every string field. Decoders use it to refuse
// a field, naming it, before building an event.
func Printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		} else if c >= 0x80 {
			return printableSlow(s[i:])
		}
	}
	return true
}

func printableSlow(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return strings.ToValidUTF8(s[:64], "") + "…"
}

// jsonContainer reports whether b looks like one JSON object or array: its
// first and last non-space bytes are matching brackets. Raw is not parsed
// again here (that cost a tenth of a gateway's CPU): decoders build it with
// json.Marshal or from a body they have just decoded.
func jsonContainer(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) < 2 {
		return false
	}
	first, last := b[0], b[len(b)-1]
	return first == '{' && last == '}' || first == '[' && last == ']'
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
