package callevent

import "github.com/callbridge/callbridge/internal/enum"

// Kind says what happened to a call leg.
type Kind uint8

// Kinds of call events.
const (
	// Ringing: a call leg started ringing (inbound or outbound dial).
	Ringing Kind = iota + 1
	// Answered: a call leg was answered.
	Answered
	// Transferred: a call was transferred to another party.
	Transferred
	// Ended: a leg hung up; the final outcome may still follow as Completed.
	Ended
	// Completed: the final record of a call leg: status, durations, recording.
	Completed
	// Rated: the client rated the call.
	Rated
)

// Direction says who started a call.
type Direction uint8

// Call directions.
const (
	// Inbound: a client called the company.
	Inbound Direction = iota + 1
	// Outbound: the company called a client.
	Outbound
	// Internal: an employee called another employee.
	Internal
)

// Status is the outcome of a call leg.
type Status uint8

// Call outcomes.
const (
	// Success: the call was answered and connected.
	Success Status = iota + 1
	// Missed: nobody answered an inbound call.
	Missed
	// Canceled: the caller hung up before an answer.
	Canceled
	// Busy: the called party was busy.
	Busy
	// NotAvailable: the called party could not be reached.
	NotAvailable
	// NotAllowed: the call was not permitted (e.g. restrictions, balance).
	NotAllowed
	// NotFound: the dialled number does not exist.
	NotFound
	// Failed: the call failed for another reason.
	Failed
)

var (
	kindNames      = [...]string{"", "ringing", "answered", "transferred", "ended", "completed", "rated"}
	directionNames = [...]string{"", "inbound", "outbound", "internal"}
	statusNames    = [...]string{"", "success", "missed", "canceled", "busy", "not_available", "not_allowed", "not_found", "failed"}
)

// The text forms: the zero value is "" so an unset field round-trips.
func enumString(names []string, typ string, v uint8) string { return enum.String(names, typ, v) }

func enumMarshal(names []string, typ string, v uint8) ([]byte, error) {
	return enum.Marshal("callevent", names, typ, v)
}

func enumParse(names []string, typ string, text []byte) (uint8, error) {
	return enum.Parse("callevent", names, typ, text)
}

// String returns the lower snake_case name, e.g. "ringing".
func (k Kind) String() string { return enumString(kindNames[:], "Kind", uint8(k)) }

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return enumMarshal(kindNames[:], "kind", uint8(k)) }

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an error.
func (k *Kind) UnmarshalText(text []byte) error {
	v, err := enumParse(kindNames[:], "kind", text)
	if err != nil {
		return err
	}
	*k = Kind(v)
	return nil
}

// String returns the lower snake_case name, e.g. "inbound".
func (d Direction) String() string {
	return enumString(directionNames[:], "Direction", uint8(d))
}

// MarshalText implements encoding.TextMarshaler.
func (d Direction) MarshalText() ([]byte, error) {
	return enumMarshal(directionNames[:], "direction", uint8(d))
}

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an error.
func (d *Direction) UnmarshalText(text []byte) error {
	v, err := enumParse(directionNames[:], "direction", text)
	if err != nil {
		return err
	}
	*d = Direction(v)
	return nil
}

// String returns the lower snake_case name, e.g. "not_available".
func (s Status) String() string { return enumString(statusNames[:], "Status", uint8(s)) }

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) {
	return enumMarshal(statusNames[:], "status", uint8(s))
}

// UnmarshalText implements encoding.TextUnmarshaler; unknown text is an error.
func (s *Status) UnmarshalText(text []byte) error {
	v, err := enumParse(statusNames[:], "status", text)
	if err != nil {
		return err
	}
	*s = Status(v)
	return nil
}
