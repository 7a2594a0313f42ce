package phonet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/text"
)

// Direction is Phonet's lgDirection: the kind of a call, or a pause toggle.
// Values Phonet adds later are kept as they are.
type Direction int

// Directions documented by Phonet.
const (
	DirectionInternal Direction = 1  // between two employees
	DirectionOutgoing Direction = 2  // employee → customer
	DirectionIncoming Direction = 4  // customer → company
	DirectionPauseOn  Direction = 32 // the employee went on pause ("нет на месте")
	DirectionPauseOff Direction = 64 // the employee is back ("есть на месте")
)

// String returns "internal", "outgoing", "incoming", "pause_on", "pause_off"
// or "Direction(n)".
func (d Direction) String() string {
	switch d {
	case DirectionInternal:
		return "internal"
	case DirectionOutgoing:
		return "outgoing"
	case DirectionIncoming:
		return "incoming"
	case DirectionPauseOn:
		return "pause_on"
	case DirectionPauseOff:
		return "pause_off"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// IsPause reports whether d is a pause toggle rather than a call.
func (d Direction) IsPause() bool { return d == DirectionPauseOn || d == DirectionPauseOff }

// LegType is the type of a call leg (leg.type).
type LegType int

// Leg types.
const (
	LegUser  LegType = 1
	LegGroup LegType = 2
	LegIVR   LegType = 4
)

// Disposition is the outcome of a finished call (history disposition).
type Disposition int

// Dispositions documented by Phonet, plus DispositionUnknown for a record
// that carries none.
const (
	DispositionUnknown   Disposition = -1
	DispositionAnswered  Disposition = 0
	DispositionNoAnswer  Disposition = 1
	DispositionCongested Disposition = 2 // direction overloaded
	DispositionFailed    Disposition = 3 // internal or dial error
	DispositionBusy      Disposition = 4
)

// String returns "answered", "no_answer", "congested", "failed", "busy",
// "unknown" or "Disposition(n)".
func (d Disposition) String() string {
	switch d {
	case DispositionUnknown:
		return "unknown"
	case DispositionAnswered:
		return "answered"
	case DispositionNoAnswer:
		return "no_answer"
	case DispositionCongested:
		return "congested"
	case DispositionFailed:
		return "failed"
	case DispositionBusy:
		return "busy"
	}
	return "Disposition(" + strconv.Itoa(int(d)) + ")"
}

// EventType is a call event name (event, or lastEvent of an active call).
type EventType string

// Call event types.
const (
	EventDial   EventType = "call.dial"   // the call started ringing
	EventBridge EventType = "call.bridge" // the call was answered
	EventHangup EventType = "call.hangup" // the call ended
)

// Leg is an employee side of a call. Phonet sends nulls in test calls, which
// decode as empty strings.
type Leg struct {
	ID          string  `json:"id"`
	Type        LegType `json:"type,omitempty"`
	Ext         string  `json:"ext"`
	DisplayName string  `json:"displayName"`
}

// OtherLeg is the external party of a call.
type OtherLeg struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Num         string `json:"num"`
	CompanyName string `json:"companyName"`
	URL         string `json:"url"`
}

// CallEvent is a call.dial / call.bridge / call.hangup notification.
// Timestamps are UTC; a missing, null or 0 timestamp is the zero time.
type CallEvent struct {
	Type          EventType
	AccountDomain string
	UUID          string
	ParentUUID    string
	Direction     Direction
	DialAt        time.Time
	BridgeAt      time.Time
	HangupAt      time.Time
	ServerTime    time.Time
	Leg           *Leg
	Leg2          *Leg
	OtherLegs     []OtherLeg
	TrunkNum      string
	TrunkName     string
	// Raw is the notification as received (form bodies converted to JSON).
	Raw json.RawMessage
}

// ActiveCall is one entry of ActiveCalls.
type ActiveCall struct {
	UUID       string
	ParentUUID string
	LastEvent  EventType
	Direction  Direction
	DialAt     time.Time
	BridgeAt   time.Time
	Leg        *Leg
	Leg2       *Leg
	OtherLegs  []OtherLeg
	TrunkNum   string
	TrunkName  string
}

// CallRecord is a finished call: one row of the call history, or the body
// of the "full call info" (after_call_end) webhook.
type CallRecord struct {
	UUID          string
	ParentUUID    string
	AccountDomain string // only in webhooks
	Direction     Direction
	EndAt         time.Time
	// BillSecs is the talk time and Duration the whole call including
	// ringing, both in seconds.
	BillSecs, Duration int
	Disposition        Disposition
	OtherLegNum        string
	OtherLegName       string
	Leg                *Leg
	Leg2               *Leg
	TransferHistory    string // e.g. "500 > 002"
	AudioRecURL        string // trimmed; "" when there is no recording
	// Trunk is the company line as Phonet writes it in history
	// ("o=380442000000;") or TrunkNum's value in webhooks.
	Trunk string
	// Raw is the record as received.
	Raw json.RawMessage
}

// LookupRequest is Phonet's customer lookup («Отримати інформацію за
// номером»): who owns OtherLegNum?
type LookupRequest struct {
	// OtherLegNum is the customer's number: the caller of an incoming call,
	// the callee of an outgoing one.
	OtherLegNum string
	// TrunkNum is the company number dialled (incoming calls only).
	TrunkNum      string
	UUID          string
	AccountDomain string
	Direction     Direction
	Raw           json.RawMessage
}

// User is a Phonet employee.
type User struct {
	ID          int64  `json:"id"`
	DisplayName string `json:"displayName"`
	Ext         string `json:"ext"`
	Email       string `json:"email"`
}

// wire is every field any Phonet payload (webhook body, history row,
// active call) carries, decoded tolerantly: numbers may come as strings and
// strings as numbers, nulls are empty.
type wire struct {
	Event           flexString `json:"event"`
	LastEvent       flexString `json:"lastEvent"`
	AccountDomain   flexString `json:"accountDomain"`
	UUID            flexString `json:"uuid"`
	ParentUUID      flexString `json:"parentUuid"`
	LgDirection     flexInt    `json:"lgDirection"`
	DialAt          epoch      `json:"dialAt"`
	BridgeAt        epoch      `json:"bridgeAt"`
	HangupAt        epoch      `json:"hangupAt"`
	ServerTime      epoch      `json:"serverTime"`
	EndAt           epoch      `json:"endAt"`
	Leg             optLeg     `json:"leg"`
	Leg2            optLeg     `json:"leg2"`
	OtherLegs       optOthers  `json:"otherLegs"`
	OtherLegNum     keyString  `json:"otherLegNum"`
	OtherLegName    flexString `json:"otherLegName"`
	TrunkNum        flexString `json:"trunkNum"`
	TrunkName       flexString `json:"trunkName"`
	Trunk           flexString `json:"trunk"`
	BillSecs        flexInt    `json:"billSecs"`
	Duration        flexInt    `json:"duration"`
	Disposition     *flexInt   `json:"disposition"`
	TransferHistory flexString `json:"transferHistory"`
	AudioRecURL     flexString `json:"audioRecUrl"`
}

type wireLeg struct {
	ID          flexString `json:"id"`
	Type        flexInt    `json:"type"`
	Ext         flexString `json:"ext"`
	DisplayName flexString `json:"displayName"`
}

type wireOther struct {
	ID          flexString `json:"id"`
	Name        flexString `json:"name"`
	Num         flexString `json:"num"`
	CompanyName flexString `json:"companyName"`
	URL         flexString `json:"url"`
}

// optLeg is leg or leg2: an object, or null. "", {} and [] are taken as
// null: Phonet sends empty values for absent legs, and rejecting them
// would drop the whole notification (and Phonet may redeliver it forever).
type optLeg struct{ l *wireLeg }

func (o *optLeg) UnmarshalJSON(b []byte) error {
	o.l = nil
	if blankJSON(b) {
		return nil
	}
	var l wireLeg
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	o.l = &l
	return nil
}

func (o optLeg) leg() *Leg {
	l := o.l
	if l == nil {
		return nil
	}
	return &Leg{ID: string(l.ID), Type: LegType(l.Type), Ext: string(l.Ext), DisplayName: string(l.DisplayName)}
}

// optOthers is otherLegs: an array, or null; "" and {} are taken as null
// (see optLeg).
type optOthers []wireOther

func (o *optOthers) UnmarshalJSON(b []byte) error {
	*o = nil
	if blankJSON(b) {
		return nil
	}
	var others []wireOther
	if err := json.Unmarshal(b, &others); err != nil {
		return err
	}
	*o = others
	return nil
}

// blankJSON reports whether b is null, a blank string, or an empty object
// or array.
func blankJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) < 2 {
		return len(b) == 0
	}
	switch b[0] {
	case 'n':
		return string(b) == "null"
	case '"':
		var s string
		return json.Unmarshal(b, &s) == nil && strings.TrimSpace(s) == ""
	case '{', '[':
		return len(bytes.TrimSpace(b[1:len(b)-1])) == 0
	}
	return false
}

func (w *wire) otherLegs() []OtherLeg {
	if len(w.OtherLegs) == 0 {
		return nil
	}
	out := make([]OtherLeg, len(w.OtherLegs))
	for i, o := range w.OtherLegs {
		out[i] = OtherLeg{ID: string(o.ID), Name: string(o.Name), Num: string(o.Num),
			CompanyName: string(o.CompanyName), URL: string(o.URL)}
	}
	return out
}

func (w *wire) callEvent(raw json.RawMessage) *CallEvent {
	return &CallEvent{
		Type: EventType(w.Event), AccountDomain: string(w.AccountDomain), UUID: string(w.UUID),
		ParentUUID: string(w.ParentUUID), Direction: Direction(w.LgDirection),
		DialAt: w.DialAt.t(), BridgeAt: w.BridgeAt.t(), HangupAt: w.HangupAt.t(), ServerTime: w.ServerTime.t(),
		Leg: w.Leg.leg(), Leg2: w.Leg2.leg(), OtherLegs: w.otherLegs(),
		TrunkNum: string(w.TrunkNum), TrunkName: string(w.TrunkName), Raw: raw,
	}
}

func (w *wire) activeCall() ActiveCall {
	return ActiveCall{
		UUID: string(w.UUID), ParentUUID: string(w.ParentUUID), LastEvent: EventType(w.LastEvent),
		Direction: Direction(w.LgDirection), DialAt: w.DialAt.t(), BridgeAt: w.BridgeAt.t(),
		Leg: w.Leg.leg(), Leg2: w.Leg2.leg(), OtherLegs: w.otherLegs(),
		TrunkNum: string(w.TrunkNum), TrunkName: string(w.TrunkName),
	}
}

func (w *wire) callRecord(raw json.RawMessage) *CallRecord {
	r := &CallRecord{
		UUID: string(w.UUID), ParentUUID: string(w.ParentUUID), AccountDomain: string(w.AccountDomain),
		Direction: Direction(w.LgDirection), EndAt: w.EndAt.t(),
		BillSecs: int(w.BillSecs), Duration: int(w.Duration), Disposition: DispositionUnknown,
		OtherLegNum: string(w.OtherLegNum.s), OtherLegName: string(w.OtherLegName),
		Leg: w.Leg.leg(), Leg2: w.Leg2.leg(), TransferHistory: string(w.TransferHistory),
		AudioRecURL: strings.TrimSpace(string(w.AudioRecURL)), Trunk: string(w.Trunk), Raw: raw,
	}
	if r.Trunk == "" {
		r.Trunk = string(w.TrunkNum)
	}
	if w.Disposition != nil {
		r.Disposition = Disposition(*w.Disposition)
	}
	return r
}

func (w *wire) lookup(raw json.RawMessage) *LookupRequest {
	return &LookupRequest{
		OtherLegNum: string(w.OtherLegNum.s), TrunkNum: string(w.TrunkNum), UUID: string(w.UUID),
		AccountDomain: string(w.AccountDomain), Direction: Direction(w.LgDirection), Raw: raw,
	}
}

// UnmarshalJSON decodes an active call tolerantly (see CallRecord).
func (a *ActiveCall) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*a = w.activeCall()
	return nil
}

// UnmarshalJSON decodes a history row tolerantly: numbers given as strings,
// strings given as numbers, nulls, and timestamps in milliseconds or seconds
// are all accepted. Raw keeps b.
func (r *CallRecord) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = *w.callRecord(append(json.RawMessage(nil), b...))
	return nil
}

// UnmarshalJSON decodes an employee, accepting a numeric id as a string and
// nulls.
func (u *User) UnmarshalJSON(b []byte) error {
	var w struct {
		ID          flexInt    `json:"id"`
		DisplayName flexString `json:"displayName"`
		Ext         flexString `json:"ext"`
		Email       flexString `json:"email"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*u = User{ID: int64(w.ID), DisplayName: string(w.DisplayName), Ext: string(w.Ext), Email: string(w.Email)}
	return nil
}

// secondsLimit separates epoch seconds from epoch milliseconds: Phonet's
// documentation shows seconds, the live service sends milliseconds.
const secondsLimit = 1e12

// epoch is a Phonet timestamp: epoch milliseconds, or seconds when below
// 1e12, as a number or numeric string; null, "" and 0 are the zero time, a
// negative value or one after year 9999 is an error.
type epoch int64 // milliseconds; 0 = none

func (e epoch) t() time.Time {
	if e <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(e)).UTC()
}

// maxEpochMillis is the last millisecond of year 9999.
const maxEpochMillis = 253402300799999

func (e *epoch) UnmarshalJSON(b []byte) error {
	*e = 0
	f, ok, err := parseNumber(b)
	if err != nil || !ok || f == 0 {
		return err
	}
	if f > 0 && f < secondsLimit {
		f *= 1000
	}
	// Before 1970 or after year 9999 the value is garbage: refuse it
	// (the decoder adds the field name).
	if f < 0 || f > maxEpochMillis {
		return rangeError(b, reflect.TypeFor[int64]())
	}
	*e = epoch(f)
	return nil
}

// outOfRange ends the Value of the json.UnmarshalTypeError that epoch and
// flexInt return for a number outside their range, so ParseNotification
// tells it from a wrong type.
const outOfRange = " out of range"

// rangeError reports the number b as out of range for t. encoding/json
// fills in the field's name, because it is a *json.UnmarshalTypeError.
func rangeError(b []byte, t reflect.Type) error {
	return &json.UnmarshalTypeError{Value: "number " + text.Clip(string(bytes.TrimSpace(b)), 32) + outOfRange, Type: t}
}

// flexInt is an integer sent as a number or a numeric string; null and ""
// are 0.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	f, ok, err := parseNumber(b)
	if err != nil || !ok {
		*n = 0
		return err
	}
	if f > math.MaxInt32 || f < math.MinInt32 {
		return rangeError(b, reflect.TypeFor[int32]())
	}
	*n = flexInt(f)
	return nil
}

// parseNumber reads a JSON number or numeric string. ok is false for null,
// "" and "null".
func parseNumber(b []byte) (f float64, ok bool, err error) {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, false, err
		}
		s = strings.TrimSpace(s)
	}
	if s == "" || s == "null" {
		return 0, false, nil
	}
	f, err = strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, fmt.Errorf("phonet: %q is not a number", text.Clip(s, 32))
	}
	return f, true, nil
}

// keyString is a flexString that remembers whether its key was in the
// body at all (null and "" included): a customer lookup is told apart from
// an unknown body by the presence of otherLegNum.
type keyString struct {
	s       flexString
	present bool
}

func (k *keyString) UnmarshalJSON(b []byte) error {
	k.present = true
	return k.s.UnmarshalJSON(b)
}

// flexString is a string that may be sent as a number or bool; null is "".
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == '{' || b[0] == '[':
		return fmt.Errorf("phonet: expected a string, got %s", text.Clip(string(b), 32))
	default:
		*s = flexString(b) // number or bool as written
	}
	return nil
}

// Bounds of the string fields of a webhook body, checked at decode time
// (ParseNotification) so an oversized value is refused before anything
// keeps it: a link field may hold MaxURLLen bytes, any other field
// callevent.MaxFieldLen.
const (
	maxField = callevent.MaxFieldLen
	maxURL   = callevent.MaxURLLen
)

// check refuses a body whose string fields exceed their bounds, naming the
// first such field as Phonet spells it, and an accountDomain that is not
// printable UTF-8 (it selects a tenant).
func (w *wire) check() error {
	type field struct {
		name string
		v    flexString
		max  int
	}
	fields := []field{
		{"event", w.Event, maxField}, {"lastEvent", w.LastEvent, maxField},
		{"accountDomain", w.AccountDomain, maxField}, {"uuid", w.UUID, maxField},
		{"parentUuid", w.ParentUUID, maxField}, {"otherLegNum", w.OtherLegNum.s, maxField},
		{"otherLegName", w.OtherLegName, maxField}, {"trunkNum", w.TrunkNum, maxField},
		{"trunkName", w.TrunkName, maxField}, {"trunk", w.Trunk, maxField},
		{"transferHistory", w.TransferHistory, maxField}, {"audioRecUrl", w.AudioRecURL, maxURL},
	}
	for _, l := range [...]struct {
		name string
		leg  *wireLeg
	}{{"leg", w.Leg.l}, {"leg2", w.Leg2.l}} {
		if l.leg != nil {
			fields = append(fields, field{l.name + ".id", l.leg.ID, maxField}, field{l.name + ".ext", l.leg.Ext, maxField},
				field{l.name + ".displayName", l.leg.DisplayName, maxField})
		}
	}
	for _, f := range fields {
		if len(f.v) > f.max {
			return fmt.Errorf("%w: %s is %d bytes, more than %d", ErrMalformed, f.name, len(f.v), f.max)
		}
	}
	for i, o := range w.OtherLegs {
		for _, f := range [...]field{{"id", o.ID, maxField}, {"name", o.Name, maxField}, {"num", o.Num, maxField},
			{"companyName", o.CompanyName, maxField}, {"url", o.URL, maxURL}} {
			if len(f.v) > f.max {
				return fmt.Errorf("%w: otherLegs[%d].%s is %d bytes, more than %d", ErrMalformed, i, f.name, len(f.v), f.max)
			}
		}
	}
	if !callevent.Printable(string(w.AccountDomain)) {
		return fmt.Errorf("%w: accountDomain %q is not printable UTF-8", ErrMalformed, text.Clip(string(w.AccountDomain), 40))
	}
	return nil
}
