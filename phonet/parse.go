package phonet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/webhook"
)

// Provider is the callevent.Event.Provider of this package's events.
const Provider = "phonet"

// DefaultCountry is the default country for phone normalisation, the
// handler's unless webhook.WithDefaultCountry gives another.
const DefaultCountry = "UA"

// ErrMalformed is wrapped by the parsing functions for input that is not a
// Phonet notification. It wraps webhook.ErrBadRequest, so a handler answers
// such input with 400.
var ErrMalformed = fmt.Errorf("phonet: malformed notification: %w", webhook.ErrBadRequest)

// NotificationKind tells the three kinds of Phonet webhook apart.
type NotificationKind int

// Notification kinds.
const (
	// KindLookup is a customer lookup: a body without "event" that has
	// otherLegNum (null or "" for a hidden number).
	KindLookup NotificationKind = iota + 1
	// KindCallEvent is call.dial, call.bridge or call.hangup: a body with "event".
	KindCallEvent
	// KindCallRecord is the full call info (after_call_end): a body without
	// "event" that has endAt, or that has no otherLegNum but one of the
	// history-record fields billSecs, duration or disposition (its missing
	// endAt is then an error). A body with otherLegNum and without endAt is
	// a lookup, whatever other call fields it carries. A body that is none
	// of the three is malformed.
	KindCallRecord
)

// String returns "lookup", "call_event" or "call_record".
func (k NotificationKind) String() string {
	switch k {
	case KindLookup:
		return "lookup"
	case KindCallEvent:
		return "call_event"
	case KindCallRecord:
		return "call_record"
	}
	return "NotificationKind(" + strconv.Itoa(int(k)) + ")"
}

// Notification is one decoded Phonet webhook body. Exactly one of Lookup,
// Event and Record is set, as Kind says.
type Notification struct {
	Kind   NotificationKind
	Lookup *LookupRequest
	Event  *CallEvent
	Record *CallRecord
}

// ParseNotification decodes a webhook body. JSON is tried first (a body
// starting with "{"); otherwise a form-encoded body is accepted, with
// PHP-style nested keys ("leg[ext]", "otherLegs[0][num]") and fields
// holding JSON objects. contentType may be empty. The kind is told by the
// body alone, so one URL can receive everything. Errors wrap ErrMalformed.
func ParseNotification(contentType string, body []byte) (*Notification, error) {
	raw, err := normalizeBody(contentType, body)
	if err != nil {
		return nil, err
	}
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if strings.HasSuffix(te.Value, outOfRange) {
				return nil, fmt.Errorf("%w: %s: %s", ErrMalformed, te.Field, te.Value)
			}
			return nil, fmt.Errorf("%w: field %q has the wrong type", ErrMalformed, te.Field)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: invalid JSON: %v", ErrMalformed, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	switch {
	case w.Event != "":
		return &Notification{Kind: KindCallEvent, Event: w.callEvent(raw)}, nil
	case w.EndAt != 0 || w.OtherLegNum.s == "" && (w.BillSecs != 0 || w.Duration != 0 || w.Disposition != nil):
		return &Notification{Kind: KindCallRecord, Record: w.callRecord(raw)}, nil
	case w.OtherLegNum.present:
		return &Notification{Kind: KindLookup, Lookup: w.lookup(raw)}, nil
	default:
		return nil, fmt.Errorf("%w: no event (call event), endAt (call record) or otherLegNum (customer lookup)", ErrMalformed)
	}
}

// ParseEvents decodes a webhook body into call events: one for a call
// event or a call record, none for a customer lookup, a pause toggle
// (lgDirection 32/64) or an unknown event type. defaultCountry ("" means
// DefaultCountry) drives phone normalisation. It is the HTTP-free layer of
// NewHandler, for bodies taken from a queue.
func ParseEvents(contentType string, body []byte, defaultCountry string) ([]callevent.Event, error) {
	n, err := ParseNotification(contentType, body)
	if err != nil {
		return nil, err
	}
	return n.Events(defaultCountry)
}

// Events maps the notification to call events (see ParseEvents). A
// call.hangup without any end time is stamped with the time Events is
// called (see CallEvent.ToEvent).
func (n *Notification) Events(defaultCountry string) ([]callevent.Event, error) {
	return n.events(defaultCountry, time.Now())
}

// events is Events with the time the notification arrived.
func (n *Notification) events(defaultCountry string, arrived time.Time) ([]callevent.Event, error) {
	var (
		e   callevent.Event
		err error
	)
	switch n.Kind {
	case KindCallEvent:
		if n.Event.Direction.IsPause() || kindOf(n.Event.Type) == 0 {
			return nil, nil
		}
		e, err = n.Event.toEvent(defaultCountry, arrived)
	case KindCallRecord:
		if n.Record.Direction.IsPause() {
			return nil, nil
		}
		e, err = n.Record.ToEvent(defaultCountry)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []callevent.Event{e}, nil
}

func kindOf(t EventType) callevent.Kind {
	switch t {
	case EventDial:
		return callevent.Ringing
	case EventBridge:
		return callevent.Answered
	case EventHangup:
		return callevent.Ended
	}
	return 0
}

func directionOf(d Direction) callevent.Direction {
	switch d {
	case DirectionInternal:
		return callevent.Internal
	case DirectionOutgoing:
		return callevent.Outbound
	case DirectionIncoming:
		return callevent.Inbound
	}
	return 0
}

// statusOf maps a disposition. No answer is Missed only for an incoming
// call (or one of unknown direction): an unanswered outgoing or internal
// call is NotAvailable, as callevent defines Missed as nobody answering an
// inbound call.
func statusOf(d Disposition, dir Direction) callevent.Status {
	switch d {
	case DispositionAnswered:
		return callevent.Success
	case DispositionNoAnswer:
		if dir == DirectionOutgoing || dir == DirectionInternal {
			return callevent.NotAvailable
		}
		return callevent.Missed
	case DispositionCongested:
		return callevent.NotAvailable
	case DispositionFailed:
		return callevent.Failed
	case DispositionBusy:
		return callevent.Busy
	}
	return 0
}

// ToEvent maps a call event: call.dial → Ringing (At = dialAt),
// call.bridge → Answered (At = bridgeAt), call.hangup → Ended (At = EndedAt
// = hangupAt, else serverTime, else bridgeAt, else the time ToEvent is
// called: a hang-up never ends before the call was answered). Another
// missing time falls back to serverTime, then dialAt. lgDirection 1/2/4 →
// Internal/Outbound/Inbound (anything else, e.g. a pause, leaves Direction
// unset). leg.ext → Extension, leg.displayName → Employee,
// otherLegs[0].num → ClientPhone, trunkNum → LinePhone (both normalised;
// "" for anonymous numbers and internal extensions; anything else that is
// not a phone number is an error naming the field), accountDomain →
// Account, uuid → CallID.
// ID = webhook.EventID("phonet", accountDomain, uuid, event).
func (c *CallEvent) ToEvent(defaultCountry string) (callevent.Event, error) {
	return c.toEvent(defaultCountry, time.Now())
}

// toEvent is ToEvent with the time the notification arrived.
func (c *CallEvent) toEvent(defaultCountry string, arrived time.Time) (callevent.Event, error) {
	kind := kindOf(c.Type)
	if kind == 0 {
		return callevent.Event{}, fmt.Errorf("%w: unknown event %q", ErrMalformed, text.Clip(string(c.Type), 32))
	}
	if c.UUID == "" {
		return callevent.Event{}, fmt.Errorf("%w: %s without uuid", ErrMalformed, c.Type)
	}
	line, err := phoneOf("trunkNum", c.TrunkNum, defaultCountry)
	if err != nil {
		return callevent.Event{}, err
	}
	e := callevent.Event{
		ID:        webhook.EventID(Provider, c.AccountDomain, c.UUID, string(c.Type)),
		Provider:  Provider,
		Account:   c.AccountDomain,
		Kind:      kind,
		Direction: directionOf(c.Direction),
		CallID:    c.UUID,
		LinePhone: line,
		Raw:       c.Raw,
	}
	if len(c.OtherLegs) > 0 {
		if e.ClientPhone, err = phoneOf("otherLegs[0].num", c.OtherLegs[0].Num, defaultCountry); err != nil {
			return callevent.Event{}, err
		}
	}
	if c.Leg != nil {
		e.Extension, e.Employee = c.Leg.Ext, c.Leg.DisplayName
	}
	switch kind {
	case callevent.Ringing:
		e.At = c.DialAt
	case callevent.Answered:
		e.At = c.BridgeAt
		e.AnsweredAt = c.BridgeAt
	case callevent.Ended:
		// Never dialAt: an answered call would end before its answer.
		e.At = firstTime(c.HangupAt, c.ServerTime, c.BridgeAt, arrived)
		e.AnsweredAt = c.BridgeAt
		e.EndedAt = e.At
	}
	e.At = firstTime(e.At, c.ServerTime, c.DialAt)
	if e.At.IsZero() {
		return callevent.Event{}, fmt.Errorf("%w: %s %s has no timestamp", ErrMalformed, c.Type, text.Clip(c.UUID, 64))
	}
	return e, nil
}

// ToEvent maps a finished call to a Completed event: billSecs → Duration,
// duration − billSecs → Wait, disposition → Status (0 Success, 1 Missed
// for an incoming call and NotAvailable for an outgoing or internal one,
// 2 NotAvailable, 3 Failed, 4 Busy, others none), endAt → EndedAt, endAt − duration →
// At, At + Wait → AnsweredAt when there was talk time, audioRecUrl →
// RecordingURL, otherLegNum → ClientPhone, trunk → LinePhone (a value
// that is neither a number, an extension nor anonymous is an error naming
// the field; so is a negative billSecs or duration, or billSecs above
// duration). A group leg
// (leg.type 2) gives Group and Extension instead of Employee.
// ID = webhook.EventID("phonet", accountDomain, uuid, "after_call_end").
// Account is empty for history rows fetched with Client.Calls.
func (r *CallRecord) ToEvent(defaultCountry string) (callevent.Event, error) {
	if r.UUID == "" {
		return callevent.Event{}, fmt.Errorf("%w: call record without uuid", ErrMalformed)
	}
	if r.EndAt.IsZero() {
		return callevent.Event{}, fmt.Errorf("%w: call record %s has no endAt", ErrMalformed, text.Clip(r.UUID, 64))
	}
	client, err := phoneOf("otherLegNum", r.OtherLegNum, defaultCountry)
	if err != nil {
		return callevent.Event{}, err
	}
	line, err := phoneOf("trunk", trunkNumber(r.Trunk), defaultCountry)
	if err != nil {
		return callevent.Event{}, err
	}
	switch {
	case r.BillSecs < 0:
		return callevent.Event{}, fmt.Errorf("%w: billSecs %d is negative", ErrMalformed, r.BillSecs)
	case r.Duration < 0:
		return callevent.Event{}, fmt.Errorf("%w: duration %d is negative", ErrMalformed, r.Duration)
	case r.Duration > 0 && r.BillSecs > r.Duration:
		// duration includes the talk time: more talk than call is garbage.
		return callevent.Event{}, fmt.Errorf("%w: billSecs %d exceeds duration %d", ErrMalformed, r.BillSecs, r.Duration)
	}
	duration := r.Duration
	if duration == 0 { // not reported: the call lasted at least its talk
		duration = r.BillSecs
	}
	talk := time.Duration(r.BillSecs) * time.Second
	wait := time.Duration(duration-r.BillSecs) * time.Second
	e := callevent.Event{
		ID:           webhook.EventID(Provider, r.AccountDomain, r.UUID, "after_call_end"),
		Provider:     Provider,
		Account:      r.AccountDomain,
		Kind:         callevent.Completed,
		Direction:    directionOf(r.Direction),
		Status:       statusOf(r.Disposition, r.Direction),
		CallID:       r.UUID,
		ClientPhone:  client,
		LinePhone:    line,
		EndedAt:      r.EndAt,
		At:           r.EndAt.Add(-time.Duration(duration) * time.Second),
		Duration:     talk,
		Wait:         wait,
		RecordingURL: r.AudioRecURL,
		Raw:          r.Raw,
	}
	if talk > 0 {
		e.AnsweredAt = e.At.Add(wait)
	}
	if r.Leg != nil {
		e.Extension = r.Leg.Ext
		if r.Leg.Type == LegGroup {
			e.Group = r.Leg.DisplayName
		} else {
			e.Employee = r.Leg.DisplayName
		}
	}
	return e, nil
}

// trunkNumber extracts the number from a history trunk value such as
// "o=380442000000;".
func trunkNumber(s string) string {
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return s
}

// phoneOf normalises a phone of field (webhook.Phone): the digits, "" for
// an anonymous number or an internal extension, or an error wrapping
// ErrMalformed that names field for anything else.
func phoneOf(field, raw, country string) (string, error) {
	if country == "" {
		country = DefaultCountry
	}
	d, _, err := webhook.Phone(field, raw, country)
	if err != nil {
		return "", fmt.Errorf("phonet: %w", err)
	}
	return d, nil
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// normalizeBody returns the body as a JSON object: JSON as is, a form
// converted.
func normalizeBody(contentType string, body []byte) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if trimmed[0] == '{' {
		return json.RawMessage(trimmed), nil // ParseNotification's Unmarshal validates it
	}
	if contentType != "" {
		if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == "application/json" {
			return nil, fmt.Errorf("%w: JSON body is not an object", ErrMalformed)
		}
	}
	form, err := url.ParseQuery(string(trimmed))
	if err != nil {
		return nil, fmt.Errorf("%w: neither JSON nor a form: %v", ErrMalformed, err)
	}
	return formJSON(form)
}

// maxFormDepth bounds the nesting of PHP-style form keys.
const maxFormDepth = 4

// formJSON converts a form with PHP-style keys into a JSON object. Maps
// whose keys are all indexes become arrays; a value that is a JSON object or
// array is embedded as JSON; an empty value is null.
func formJSON(form url.Values) (json.RawMessage, error) {
	root := map[string]any{}
	for key, vals := range form {
		path := splitFormKey(key)
		if len(path) == 0 || len(path) > maxFormDepth {
			return nil, fmt.Errorf("%w: form key %q", ErrMalformed, text.Clip(key, 32))
		}
		v := vals[len(vals)-1]
		var val any = v
		switch t := strings.TrimSpace(v); {
		case t == "":
			val = nil // an empty form field is a null
		case (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)):
			val = json.RawMessage(t)
		}
		m := root
		for i, p := range path {
			if i == len(path)-1 {
				if _, isMap := m[p].(map[string]any); isMap {
					return nil, fmt.Errorf("%w: form key %q conflicts", ErrMalformed, text.Clip(key, 32))
				}
				m[p] = val
				break
			}
			next, ok := m[p].(map[string]any)
			if !ok {
				if _, exists := m[p]; exists {
					return nil, fmt.Errorf("%w: form key %q conflicts", ErrMalformed, text.Clip(key, 32))
				}
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
	}
	b, err := json.Marshal(arrays(root))
	if err != nil {
		return nil, fmt.Errorf("%w: form: %v", ErrMalformed, err)
	}
	return b, nil
}

// splitFormKey splits "a[b][0]" into ["a","b","0"]; "a[]" appends index 0.
func splitFormKey(key string) []string {
	i := strings.IndexByte(key, '[')
	if i < 0 {
		return []string{key}
	}
	parts := []string{key[:i]}
	rest := key[i:]
	for len(rest) > 0 {
		if rest[0] != '[' {
			return nil
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return nil
		}
		p := rest[1:j]
		if p == "" {
			p = "0"
		}
		parts = append(parts, p)
		rest = rest[j+1:]
	}
	if parts[0] == "" {
		return nil
	}
	return parts
}

// arrays turns maps keyed only by small indexes into slices, recursively.
func arrays(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k, x := range m {
		m[k] = arrays(x)
	}
	idx := make([]int, 0, len(m))
	for k := range m {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 || n > 1000 || strconv.Itoa(n) != k {
			return m
		}
		idx = append(idx, n)
	}
	if len(idx) == 0 {
		return m
	}
	sort.Ints(idx)
	out := make([]any, 0, len(idx))
	for _, n := range idx {
		out = append(out, m[strconv.Itoa(n)])
	}
	return out
}
