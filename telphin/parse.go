package telphin

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/phone"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/webhook"
)

// Provider is the Event.Provider of this package's events.
const Provider = "telphin"

// Telphin event types (the EventType field).
const (
	EventDialIn          = "dial-in"
	EventDialOut         = "dial-out"
	EventAnswer          = "answer"
	EventHangup          = "hangup"
	EventCallInteractive = "call_interactive"
)

// maxMicros bounds EventTime and Duration so they fit a time.Duration.
const maxMicros = math.MaxInt64 / int64(time.Microsecond)

// ParseFields maps the fields of one Telphin call-event request (form body
// or query string, already decoded) to events, without HTTP: use it to
// parse requests stored in a queue. account is the tenant (the App ID of
// the hook URL); defaultCountry as in phone.Normalize ("" = "RU").
//
// dial-in and dial-out give a Ringing event, answer Answered and hangup
// Completed. Other event types (message-in, voicemail, call_interactive,
// unknown ones) give no event and no error. Missing EventType, CallID or
// EventTime, malformed or out-of-range EventTime/Duration, an oversized
// field, an id that is not printable UTF-8 or a phone field that is
// neither a number, an extension nor anonymous is an error wrapping
// webhook.ErrBadRequest that names the field. The mapping and the bounds
// are described in the package doc.
func ParseFields(account string, fields url.Values, defaultCountry string) ([]callevent.Event, error) {
	if err := checkFields(fields); err != nil {
		return nil, err
	}
	return parseFields(account, fields, defaultCountry)
}

// Bounds of a Telphin request, checked before anything is decoded or kept
// (Event.Raw holds the fields): Telphin sends about twenty short fields.
const (
	maxFields     = 100
	maxFieldName  = 64
	maxFieldValue = callevent.MaxFieldLen
)

// checkFields bounds the number of fields, their names and every value,
// naming the offending field in an error wrapping webhook.ErrBadRequest.
func checkFields(fields url.Values) error {
	if len(fields) > maxFields {
		return fmt.Errorf("%w: telphin: %d fields, more than %d", webhook.ErrBadRequest, len(fields), maxFields)
	}
	for k, vs := range fields {
		if len(k) > maxFieldName {
			return fmt.Errorf("%w: telphin: field name %q: %d bytes, more than %d", webhook.ErrBadRequest, text.Clip(k, 32), len(k), maxFieldName)
		}
		for _, v := range vs {
			if len(v) > maxFieldValue {
				return fmt.Errorf("%w: telphin: %s: %d bytes, more than %d", webhook.ErrBadRequest, fieldName(k), len(v), maxFieldValue)
			}
		}
	}
	return nil
}

// fieldName shows a field name sent by the provider in an error message:
// as is when printable (at most maxFieldName bytes by then), else quoted.
func fieldName(k string) string {
	if callevent.Printable(k) {
		return k
	}
	return strconv.Quote(text.Clip(k, 32))
}

// parseFields is ParseFields on fields checkFields accepted.
func parseFields(account string, fields url.Values, defaultCountry string) ([]callevent.Event, error) {
	get := func(k string) string { return strings.TrimSpace(fields.Get(k)) }
	typ := strings.ToLower(get("EventType"))
	var kind callevent.Kind
	switch typ {
	case "":
		return nil, fmt.Errorf("%w: telphin: missing EventType", webhook.ErrBadRequest)
	case EventDialIn, EventDialOut:
		kind = callevent.Ringing
	case EventAnswer:
		kind = callevent.Answered
	case EventHangup:
		kind = callevent.Completed
	default:
		return nil, nil
	}
	// The fields that become the event's ids and names must be printable
	// UTF-8 as sent (lower-casing would turn bad bytes into U+FFFD).
	for _, k := range [...]string{"CallID", "SubCallID", "CalledExtension", "CallerExtension", "CallerIDName"} {
		if v := get(k); !callevent.Printable(v) {
			return nil, fmt.Errorf("%w: telphin: %s %q is not printable UTF-8", webhook.ErrBadRequest, k, text.Clip(v, 40))
		}
	}
	callID := strings.ToLower(get("CallID"))
	if callID == "" {
		return nil, fmt.Errorf("%w: telphin: missing CallID", webhook.ErrBadRequest)
	}
	at, err := eventTime(get("EventTime"))
	if err != nil {
		return nil, fmt.Errorf("%w: telphin: EventTime: %v", webhook.ErrBadRequest, err)
	}
	dur, err := micros(get("Duration"), false)
	if err == nil && dur > callevent.MaxDuration {
		err = fmt.Errorf("%v is longer than %v", dur, callevent.MaxDuration)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: telphin: Duration: %v", webhook.ErrBadRequest, err)
	}
	leg := strings.ToLower(get("SubCallID"))
	e := callevent.Event{
		ID:       webhook.EventID(Provider, account, cmp.Or(leg, callID), typ),
		Provider: Provider,
		Account:  account,
		Kind:     kind,
		CallID:   callID,
		LegID:    leg,
		At:       at,
	}

	switch strings.ToLower(get("CallFlow")) {
	case "in":
		e.Direction = callevent.Inbound
	case "out":
		e.Direction = callevent.Outbound
	default:
		switch typ {
		case EventDialIn:
			e.Direction = callevent.Inbound
		case EventDialOut:
			e.Direction = callevent.Outbound
		}
	}

	// The counterpart: the client, or another extension for internal calls.
	// A value that is neither a number, an extension nor anonymous is a
	// 400 naming the field, not a call with "no phone".
	var internal bool
	outbound := e.Direction == callevent.Outbound
	if outbound {
		e.ClientPhone, internal, err = webhook.Phone("CalledNumber", get("CalledNumber"), defaultCountry)
	} else if remote := get("RemoteNumber"); remote != "" {
		e.ClientPhone, internal, err = webhook.Phone("RemoteNumber", remote, defaultCountry)
	} else {
		e.ClientPhone, internal, err = webhook.Phone("CallerIDNum", get("CallerIDNum"), defaultCountry)
		if err == nil && e.ClientPhone == "" && e.Direction == callevent.Inbound {
			// The answer of a routed call may carry the extension in
			// CallerIDNum and the client only in CallerIDName (a name
			// field: anything but a number is simply not used).
			if p, _ := normalize(get("CallerIDName"), defaultCountry); p != "" {
				e.ClientPhone, internal = p, false
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("telphin: %w", err)
	}
	if internal && e.ClientPhone == "" && e.Direction != 0 {
		e.Direction = callevent.Internal
	}
	if e.LinePhone, _, err = webhook.Phone("CalledDID", get("CalledDID"), defaultCountry); err != nil {
		return nil, fmt.Errorf("telphin: %w", err)
	}

	bridged := strings.ToLower(get("Bridged"))
	switch {
	case bridged != "": // a queue or IVR leg
		e.Group = extensionOf(get("CalledExtension"), get("CalledNumber"))
	case outbound:
		e.Extension = extensionOf(get("CallerExtension"), get("CallerIDNum"))
		if name := get("CallerIDName"); name != "" && name != get("CallerIDNum") {
			if p, _ := normalize(name, defaultCountry); p == "" {
				e.Employee = name
			}
		}
	default:
		e.Extension = extensionOf(get("CalledExtension"), get("CalledNumber"))
		if get("RemoteNumber") == "" && e.Direction == callevent.Inbound {
			e.Group = shortExtension(get("CallerExtension"))
		}
	}

	switch kind {
	case callevent.Answered:
		e.AnsweredAt = e.At
	case callevent.Completed:
		// An agent's leg of a call a queue or IVR routed: the routing
		// leg's Bridged=no says whether the call was missed.
		agentLeg := bridged == "" && e.Extension != "" && e.Group != ""
		e.Status = hangupStatus(strings.ToUpper(get("CallStatus")), bridged, e.Direction, agentLeg)
		e.EndedAt = e.At
		if e.Status == callevent.Success && bridged == "" {
			e.Duration = dur
			e.AnsweredAt = e.EndedAt.Add(-dur)
		} else if e.Status == callevent.Success {
			e.Duration = dur
		} else {
			e.Wait = dur
		}
		e.At = e.EndedAt.Add(-dur)
	}

	raw := make(map[string]string, len(fields))
	for k, v := range fields {
		if len(v) > 0 {
			raw[k] = v[0]
		}
	}
	if e.Raw, err = json.Marshal(raw); err != nil {
		return nil, fmt.Errorf("telphin: raw fields: %w", err)
	}
	return []callevent.Event{e}, nil
}

// hangupStatus maps CallStatus (and Bridged of a queue/IVR hangup) to a
// Status: for inbound calls straight to an extension any unanswered
// outcome is Missed; for an agent's leg of a queue/IVR call (agentLeg),
// outbound and internal calls NOANSWER and CHANUNAVAIL are NotAvailable,
// BUSY is Busy, CANCEL Canceled, CONGESTION Failed.
func hangupStatus(callStatus, bridged string, dir callevent.Direction, agentLeg bool) callevent.Status {
	switch bridged {
	case "no":
		return callevent.Missed
	case "yes":
		return callevent.Success
	}
	switch callStatus {
	case "":
		return 0
	case "ANSWER":
		return callevent.Success
	case "NOANSWER", "CANCEL", "BUSY", "CONGESTION", "CHANUNAVAIL":
		if dir == callevent.Inbound && !agentLeg {
			return callevent.Missed
		}
	}
	switch callStatus {
	case "NOANSWER", "CHANUNAVAIL":
		return callevent.NotAvailable
	case "BUSY":
		return callevent.Busy
	case "CANCEL":
		return callevent.Canceled
	default:
		return callevent.Failed
	}
}

// Bounds of EventTime: the years Event.Validate accepts (the handler's
// time window then narrows them around the moment of arrival).
var (
	minEventTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxEventTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// eventTime parses EventTime, microseconds since the Unix epoch, and
// requires it to lie in the years 2000 to 2099.
func eventTime(s string) (time.Time, error) {
	d, err := micros(s, true)
	if err != nil {
		return time.Time{}, err
	}
	t := time.UnixMicro(d.Microseconds()).UTC()
	if t.Before(minEventTime) || !t.Before(maxEventTime) {
		return time.Time{}, fmt.Errorf("%s is outside the years 2000 to 2099", t.Format(time.RFC3339))
	}
	return t, nil
}

// micros parses a count of microseconds; "" is 0 unless required.
func micros(s string, required bool) (time.Duration, error) {
	if s == "" {
		if required {
			return 0, errors.New("missing")
		}
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxMicros || (required && n == 0) {
		return 0, fmt.Errorf("%q is not a count of microseconds", text.Clip(s, 32))
	}
	return time.Duration(n) * time.Microsecond, nil
}

// normalize returns the digits of a phone, or "" with internal=true for an
// internal extension, or "" for anonymous and invalid values.
func normalize(raw, country string) (digits string, internal bool) {
	if raw == "" {
		return "", false
	}
	n, err := phone.Normalize(raw, country)
	if err != nil {
		return "", errors.Is(err, phone.ErrInternal)
	}
	return n, false
}

// extensionOf returns the short number from "prefix*ext@domain", falling
// back to a number of the form "prefix*ext".
func extensionOf(ext, number string) string {
	if ext != "" {
		return shortExtension(ext)
	}
	if strings.Contains(number, "*") {
		return shortExtension(number)
	}
	return ""
}
