package megafon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/phone"
	"github.com/callbridge/callbridge/webhook"
)

// Webhook commands (the cmd field).
const (
	CmdHistory = "history"
	CmdEvent   = "event"
	CmdContact = "contact"
	CmdRating  = "rating"
)

// tokenField is the webhook field carrying the shared secret. It is never
// copied into Event.Raw.
const tokenField = "crm_token"

// maxCallIDLen bounds callid: the PBX's ids are at most 64 characters.
const maxCallIDLen = 128

// Fields returns the fields of a webhook body: form-encoded (the PBX's
// format) or a JSON object (some PBX versions and test tools), chosen by
// contentType and, when that is neither, by whether the body starts with
// "{". JSON numbers and booleans become their text. Malformed input is an
// error wrapping webhook.ErrBadRequest.
func Fields(contentType string, body []byte) (url.Values, error) {
	if !isJSONBody(contentType, body) {
		f, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("%w: form body: %v", webhook.ErrBadRequest, err)
		}
		return f, nil
	}
	var m map[string]flexString
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: JSON body must be an object of scalar fields", webhook.ErrBadRequest)
	}
	f := make(url.Values, len(m))
	for k, v := range m {
		f.Set(k, string(v))
	}
	return f, nil
}

// isJSONBody reports whether a webhook body is JSON: by content type, or by
// a leading "{" when the content type is not form encoding.
func isJSONBody(contentType string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return true
	case mt == "application/x-www-form-urlencoded":
		return false
	}
	trimmed := bytes.TrimSpace(body)
	return len(trimmed) > 0 && trimmed[0] == '{'
}

// ParseOptions say how Parse maps fields to events.
type ParseOptions struct {
	// Account is the tenant put in Event.Account (typically the PBX domain).
	Account string
	// DefaultCountry is the country of national-format numbers ("RU" when "").
	DefaultCountry string
	// Now stamps events that carry no time (event, rating) and estimates
	// the start of a history record without one. nil → time.Now.
	Now func() time.Time
}

// Parse maps the fields of one webhook request (see Fields) to events:
//
//   - cmd=event: type INCOMING and OUTGOING → Ringing, ACCEPTED → Answered,
//     TRANSFERRED → Transferred (LegID = second_callid), COMPLETED and
//     CANCELLED → Ended (one per leg: every extension that did not win gets
//     its own CANCELLED). At is the receipt time (Now). An unknown type
//     gives no event.
//   - cmd=history → Completed, Status from status (case-insensitive), At
//     from start (YYYYmmddTHHMMSSZ, UTC) or, when start is missing, Now
//     minus duration; duration is the total time including wait.
//   - cmd=rating → Rated with Rating.
//   - cmd=contact and unknown commands give no event (a contact request is
//     answered by the Handler's ContactLookup).
//
// user gives Employee (the part before "@") or Group ("g_…"); "pbx" and a
// phone number (the mobile leg of a mobile-to-mobile bridge) give neither.
//
// Event.ID is webhook.EventID of (provider, account, callid, cmd, type,
// user, ext, second_callid): a redelivery dedups, each leg is distinct.
// A missing cmd or callid, or a rating that is not a number, is an error
// wrapping webhook.ErrBadRequest.
func Parse(f url.Values, opts ParseOptions) ([]callevent.Event, error) {
	cmd := strings.ToLower(strings.TrimSpace(f.Get("cmd")))
	switch cmd {
	case CmdEvent, CmdHistory, CmdRating:
	case "":
		return nil, fmt.Errorf("%w: missing cmd", webhook.ErrBadRequest)
	default:
		return nil, nil
	}
	callID := strings.TrimSpace(f.Get("callid"))
	if callID == "" {
		return nil, fmt.Errorf("%w: cmd=%s without callid", webhook.ErrBadRequest, cmd)
	}
	if len(callID) > maxCallIDLen {
		return nil, fmt.Errorf("%w: callid longer than %d characters", webhook.ErrBadRequest, maxCallIDLen)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	typ := strings.TrimSpace(f.Get("type"))
	user := strings.TrimSpace(f.Get("user"))
	ext := strings.TrimSpace(f.Get("ext"))
	employee, groupID := splitUser(user, opts.DefaultCountry)
	client, internal := clientPhone(f.Get("phone"), opts.DefaultCountry)
	e := callevent.Event{
		Provider:    Provider,
		Account:     opts.Account,
		CallID:      callID,
		ClientPhone: client,
		LinePhone:   linePhone(firstNonEmpty(f.Get("diversion"), f.Get("telnum")), opts.DefaultCountry),
		Extension:   ext,
		Employee:    employee,
		Group:       firstNonEmpty(f.Get("groupRealName"), f.Get("group"), groupID),
		Direction:   direction(firstNonEmpty(f.Get("direction"), typ)),
		Rating:      atoi(f.Get("rating")),
	}
	switch cmd {
	case CmdEvent:
		kind, ok := eventKinds[strings.ToUpper(typ)]
		if !ok {
			return nil, nil
		}
		e.Kind, e.At = kind, now().UTC()
		if kind == callevent.Transferred {
			e.LegID = strings.TrimSpace(f.Get("second_callid"))
		}
	case CmdHistory:
		e.Kind = callevent.Completed
		e.Status = parseStatus(f.Get("status"))
		e.RecordingURL = strings.TrimSpace(f.Get("link"))
		historyTimes(&e, f, now)
	case CmdRating:
		r, err := strconv.Atoi(strings.TrimSpace(f.Get("rating")))
		if err != nil || r < 0 {
			return nil, fmt.Errorf("%w: cmd=rating: rating must be a number", webhook.ErrBadRequest)
		}
		e.Kind, e.Rating, e.At = callevent.Rated, r, now().UTC()
	}
	if internal {
		e.Direction = callevent.Internal
	}
	e.ID = webhook.EventID(Provider, opts.Account, callID, cmd, strings.ToLower(typ), user, ext, e.LegID)
	raw, err := rawFields(f)
	if err != nil {
		return nil, err
	}
	e.Raw = raw
	return []callevent.Event{e}, nil
}

var eventKinds = map[string]callevent.Kind{
	"INCOMING":    callevent.Ringing,
	"OUTGOING":    callevent.Ringing,
	"ACCEPTED":    callevent.Answered,
	"TRANSFERRED": callevent.Transferred,
	"COMPLETED":   callevent.Ended,
	"CANCELLED":   callevent.Ended,
	"CANCELED":    callevent.Ended,
}

// historyTimes fills At, AnsweredAt, EndedAt, Duration (talk) and Wait of a
// history record. duration is the total including wait; a call that was not
// answered spent all of it ringing.
func historyTimes(e *callevent.Event, f url.Values, now func() time.Time) {
	total := seconds(f.Get("duration"))
	wait, hasWait := seconds(f.Get("wait")), f.Has("wait")
	wait = min(wait, total)
	if e.Status == callevent.Success {
		e.Wait, e.Duration = wait, total-wait
	} else {
		e.Wait = total
	}
	start, err := parseTime(f.Get("start"))
	if err != nil || start.IsZero() {
		start = now().UTC().Add(-total).Truncate(time.Second)
	}
	e.At = start
	e.EndedAt = start.Add(total)
	if e.Status == callevent.Success && hasWait {
		e.AnsweredAt = start.Add(wait)
	}
}

var statusSeparators = strings.NewReplacer("_", "", " ", "", "-", "")

// parseStatus maps the history status case-insensitively; an unknown
// non-empty status is Failed.
func parseStatus(s string) callevent.Status {
	s = strings.ToLower(statusSeparators.Replace(strings.TrimSpace(s)))
	switch s {
	case "":
		return 0
	case "success":
		return callevent.Success
	case "missed":
		return callevent.Missed
	case "cancel", "cancelled", "canceled":
		return callevent.Canceled
	case "busy":
		return callevent.Busy
	case "notavailable":
		return callevent.NotAvailable
	case "notallowed":
		return callevent.NotAllowed
	case "notfound":
		return callevent.NotFound
	}
	return callevent.Failed
}

// direction reads direction (in/out) or, failing that, the type
// (history in/out, event INCOMING/OUTGOING).
func direction(s string) callevent.Direction {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "in", "incoming":
		return callevent.Inbound
	case "out", "outgoing":
		return callevent.Outbound
	}
	return 0
}

// splitUser maps the user field: "andy" and "andy@vats1.megapbx.ru" are
// the employee "andy"; "g_<uuid>@domain" is a group; "pbx" (the switch
// itself) is nobody, and so is a phone number ("79223374067@crm.megapbx.ru",
// the employee's mobile in a mobile-to-mobile bridge: a number, not a
// login; it stays in Raw). Digits that are not a phone number ("701") are
// a login.
func splitUser(user, country string) (employee, group string) {
	local, _, _ := strings.Cut(user, "@")
	switch {
	case local == "", strings.EqualFold(local, "pbx"):
		return "", ""
	case strings.HasPrefix(local, "g_"):
		return "", local
	case isPhoneNumber(local, country):
		return "", ""
	}
	return local, ""
}

// isPhoneNumber reports whether s is all digits and a phone number (not an
// internal extension).
func isPhoneNumber(s, country string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	_, err := phone.Normalize(s, country)
	return err == nil
}

// clientPhone normalises the client's number; internal reports an
// internal extension (an employee-to-employee call). Anonymous or
// unparsable numbers give "" (the original stays in Raw).
func clientPhone(raw, country string) (p string, internal bool) {
	p, err := phone.Normalize(raw, country)
	if err != nil {
		return "", errors.Is(err, phone.ErrInternal)
	}
	return p, false
}

func linePhone(raw, country string) string {
	p, _ := clientPhone(raw, country)
	return p
}

// rawFields is the JSON object of the request's fields without the secret
// crm_token: a field sent once is a string, a repeated one an array.
func rawFields(f url.Values) (json.RawMessage, error) {
	m := make(map[string]any, len(f))
	for k, v := range f {
		switch {
		case strings.EqualFold(k, tokenField):
		case len(v) == 1:
			m[k] = v[0]
		default:
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: fields: %v", webhook.ErrBadRequest, err)
	}
	return b, nil
}
