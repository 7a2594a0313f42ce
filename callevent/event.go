package callevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event is one fact about a call, in the same shape for every provider.
//
// Phones are normalised: digits only, country code first ("79161234567"),
// "" when the caller is anonymous. Times are in UTC. Duration is talk time
// and Wait is ring time; both marshal to JSON as integer nanoseconds, like
// any time.Duration.
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
	Duration time.Duration `json:"duration,omitempty"`
	// Wait is ring time before an answer (or before giving up).
	Wait time.Duration `json:"wait,omitempty"`

	RecordingURL string `json:"recording_url,omitempty"`
	// Rating is the client's score for Rated events.
	Rating int `json:"rating,omitempty"`
	// ContactRef is a CRM id the provider passed back (e.g. Finaz pid).
	ContactRef string `json:"contact_ref,omitempty"`

	// Raw holds the original fields of the notification as JSON.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Validate reports whether e is well formed: the identifying fields are set,
// the enums are in range, phones are digits only, durations are not
// negative and Raw is a JSON object or array (by its brackets; it is not
// parsed again). Handlers validate every event before delivery.
func (e Event) Validate() error {
	var errs []error
	if e.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if e.Provider == "" {
		errs = append(errs, errors.New("provider is empty"))
	}
	if e.CallID == "" {
		errs = append(errs, errors.New("call_id is empty"))
	}
	if e.Kind == 0 || int(e.Kind) >= len(kindNames) {
		errs = append(errs, fmt.Errorf("invalid kind %d", e.Kind))
	}
	if int(e.Direction) >= len(directionNames) {
		errs = append(errs, fmt.Errorf("invalid direction %d", e.Direction))
	}
	if int(e.Status) >= len(statusNames) {
		errs = append(errs, fmt.Errorf("invalid status %d", e.Status))
	}
	if e.At.IsZero() {
		errs = append(errs, errors.New("at is zero"))
	}
	if !digitsOnly(e.ClientPhone) {
		errs = append(errs, fmt.Errorf("client_phone %q is not digits only", e.ClientPhone))
	}
	if !digitsOnly(e.LinePhone) {
		errs = append(errs, fmt.Errorf("line_phone %q is not digits only", e.LinePhone))
	}
	if e.Duration < 0 {
		errs = append(errs, fmt.Errorf("negative duration %v", e.Duration))
	}
	if e.Wait < 0 {
		errs = append(errs, fmt.Errorf("negative wait %v", e.Wait))
	}
	if e.Rating < 0 {
		errs = append(errs, fmt.Errorf("negative rating %d", e.Rating))
	}
	if len(e.Raw) > 0 && !jsonContainer(e.Raw) {
		errs = append(errs, errors.New("raw is not a JSON object or array"))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("callevent: invalid event %q: %w", e.ID, errors.Join(errs...))
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
