package megafon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/phone"
	"github.com/callbridge/callbridge/internal/text"
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

// maxCallIDLen bounds callid and second_callid: the PBX's ids are at most
// 64 characters.
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
	// The media type alone, without mime.ParseMediaType's parameter map:
	// this runs for the token and again for the fields of every push.
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
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

	// memory is the Handler's memory of call directions (nil: none).
	memory *directionMemory
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
// Direction comes from direction or type (in/out, INCOMING/OUTGOING); an
// internal extension in phone makes the call Internal. When a push carries
// neither (ACCEPTED, rating, a history without type) it is derived where
// the fields allow: an event with diversion (the company number the client
// dialled) is Inbound, a history by the switch itself (user=pbx) is
// Inbound, and one with an outbound-only status (Busy, NotAvailable,
// NotAllowed, NotFound) is Outbound. The Handler also remembers the
// direction of each call from its earlier pushes; Parse alone cannot, so
// a rating parsed here has no direction.
//
// Event.ID is webhook.EventID of (provider, account, callid, cmd, type,
// user, ext, second_callid): a redelivery dedups, each leg is distinct.
//
// Bad input is an error wrapping webhook.ErrBadRequest that names the
// field: a missing cmd or callid; callid, second_callid, user, ext or a
// group that is not printable UTF-8 or too long; a phone, diversion or
// telnum that is neither a number, an extension nor anonymous; a start that
// is not a time between the years 2000 and 2099; a duration or wait that is
// not a whole number of seconds between 0 and callevent.MaxDuration; a
// rating that is not a number between 0 and callevent.MaxRating; a link that
// is not an absolute http or https URL.
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
	if err := checkText("callid", callID, maxCallIDLen); err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	typ := strings.TrimSpace(f.Get("type"))
	user := strings.TrimSpace(f.Get("user"))
	ext := strings.TrimSpace(f.Get("ext"))
	group := firstNonEmpty(f.Get("groupRealName"), f.Get("group"))
	for _, v := range [...]struct{ field, value string }{
		{"user", user}, {"ext", ext}, {"groupRealName", f.Get("groupRealName")}, {"group", f.Get("group")},
	} {
		if err := checkText(v.field, v.value, callevent.MaxFieldLen); err != nil {
			return nil, err
		}
	}
	employee, groupID := splitUser(user, opts.DefaultCountry)
	client, internal, err := webhook.Phone("phone", f.Get("phone"), opts.DefaultCountry)
	if err != nil {
		return nil, err
	}
	line, err := linePhone(f, opts.DefaultCountry)
	if err != nil {
		return nil, err
	}
	rating, err := parseRating(f.Get("rating"), cmd == CmdRating)
	if err != nil {
		return nil, err
	}
	e := callevent.Event{
		Provider:    Provider,
		Account:     opts.Account,
		CallID:      callID,
		ClientPhone: client,
		LinePhone:   line,
		Extension:   ext,
		Employee:    employee,
		Group:       firstNonEmpty(group, groupID),
		Rating:      rating,
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
			if err := checkText("second_callid", e.LegID, maxCallIDLen); err != nil {
				return nil, err
			}
		}
	case CmdHistory:
		e.Kind = callevent.Completed
		e.Status = parseStatus(f.Get("status"))
		if e.RecordingURL, err = checkLink(f.Get("link")); err != nil {
			return nil, err
		}
		if err := historyTimes(&e, f, now); err != nil {
			return nil, err
		}
	case CmdRating:
		e.Kind, e.At = callevent.Rated, now().UTC()
	}
	e.Direction = callDirection(cmd, f, typ, e, opts, now)
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

// callDirection is the direction of the call e belongs to: the push's own
// direction or type, else what the handler remembers of the call, else
// what the fields imply (see Parse). A stated direction is remembered.
func callDirection(cmd string, f url.Values, typ string, e callevent.Event, opts ParseOptions, now func() time.Time) callevent.Direction {
	if d := direction(firstNonEmpty(f.Get("direction"), typ)); d != 0 {
		opts.memory.remember(now(), e.Account, e.CallID, d)
		return d
	}
	if d := opts.memory.recall(now(), e.Account, e.CallID); d != 0 {
		return d
	}
	switch cmd {
	case CmdEvent:
		if strings.TrimSpace(f.Get("diversion")) != "" {
			return callevent.Inbound // the company number the client dialled
		}
	case CmdHistory:
		switch e.Status {
		case callevent.Busy, callevent.NotAvailable, callevent.NotAllowed, callevent.NotFound:
			return callevent.Outbound // documented for outbound calls only
		}
		if local, _, _ := strings.Cut(strings.TrimSpace(f.Get("user")), "@"); strings.EqualFold(local, "pbx") {
			return callevent.Inbound // a call the switch reports as missed by a group
		}
	}
	return 0
}

// checkText rejects a field that is not printable UTF-8 of at most max
// bytes, naming it.
func checkText(field, v string, max int) error {
	switch {
	case len(v) > max:
		return fmt.Errorf("%w: %s is %d bytes, more than %d", webhook.ErrBadRequest, field, len(v), max)
	case !callevent.Printable(v):
		return fmt.Errorf("%w: %s %q is not printable UTF-8", webhook.ErrBadRequest, field, text.Clip(v, 40))
	}
	return nil
}

// checkLink returns the recording link: "" or an absolute http(s) URL.
func checkLink(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", nil
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: link %q is %s", webhook.ErrBadRequest, text.Clip(s, 60), why)
	}
	if len(s) > callevent.MaxURLLen {
		return bad(fmt.Sprintf("longer than %d bytes", callevent.MaxURLLen))
	}
	if !callevent.Printable(s) || strings.ContainsAny(s, " \\") {
		return bad("not a URL")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return bad("not an absolute http or https URL")
	}
	return s, nil
}

// parseRating reads rating: a whole number from 0 to callevent.MaxRating.
// It may be missing unless required (cmd=rating).
func parseRating(raw string, required bool) (int, error) {
	s := strings.TrimSpace(raw)
	if s == "" && !required {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > callevent.MaxRating {
		return 0, fmt.Errorf("%w: rating %q must be a number from 0 to %d", webhook.ErrBadRequest, text.Clip(s, 20), callevent.MaxRating)
	}
	return n, nil
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
// answered spent all of it ringing. start must lie in the years 2000 to
// 2099 and the durations within callevent.MaxDuration, so that no derived
// time overflows what an Event can hold.
func historyTimes(e *callevent.Event, f url.Values, now func() time.Time) error {
	total, err := seconds("duration", f.Get("duration"))
	if err != nil {
		return err
	}
	wait, err := seconds("wait", f.Get("wait"))
	if err != nil {
		return err
	}
	hasWait := strings.TrimSpace(f.Get("wait")) != ""
	wait = min(wait, total)
	if e.Status == callevent.Success {
		e.Wait, e.Duration = wait, total-wait
	} else {
		e.Wait = total
	}
	start, err := parseTime(f.Get("start"))
	switch {
	case err != nil:
		return fmt.Errorf("%w: start %q is not a time (YYYYmmddTHHMMSSZ)", webhook.ErrBadRequest, text.Clip(f.Get("start"), 40))
	case start.IsZero():
		start = now().UTC().Add(-total).Truncate(time.Second)
	case start.Before(minStart) || !start.Before(maxStart):
		return fmt.Errorf("%w: start %s is outside the years %d to %d", webhook.ErrBadRequest,
			text.Clip(strings.TrimSpace(f.Get("start")), 40), minStart.Year(), maxStart.Year()-1)
	}
	e.At = start
	e.EndedAt = start.Add(total)
	if e.Status == callevent.Success && hasWait {
		e.AnsweredAt = start.Add(wait)
	}
	return nil
}

// seconds parses a number of seconds from 0 to callevent.MaxDuration; ""
// is 0. Anything else is an error wrapping webhook.ErrBadRequest naming
// field.
func seconds(field, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > int64(callevent.MaxDuration/time.Second) {
		return 0, fmt.Errorf("%w: %s %q is not a number of seconds from 0 to %d", webhook.ErrBadRequest,
			field, text.Clip(s, 20), int64(callevent.MaxDuration/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// The years a history start may lie in (those callevent.Event.Validate
// accepts).
var (
	minStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxStart = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

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

// linePhone is the company number: diversion (the number the client
// dialled) or else telnum (the employee's direct number). Each present is
// checked; an internal extension gives "".
func linePhone(f url.Values, country string) (string, error) {
	div, _, err := webhook.Phone("diversion", f.Get("diversion"), country)
	if err != nil {
		return "", err
	}
	tel, _, err := webhook.Phone("telnum", f.Get("telnum"), country)
	if err != nil {
		return "", err
	}
	return firstNonEmpty(div, tel), nil
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
