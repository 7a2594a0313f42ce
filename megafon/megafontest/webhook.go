package megafontest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/internal/fakehttp"
)

// Call describes the call a webhook is about, with the fields the PBX puts
// in its pushes. Empty fields are left out of the request.
type Call struct {
	// ID is the callid, shared by every leg of the call.
	ID string
	// Direction is "in" or "out".
	Direction string
	// Phone is the client's number (for an outbound call, the number dialled).
	Phone string
	// Diversion is the company number the client dialled (inbound only).
	Diversion string
	// User is the employee as the PBX sends it: "andy",
	// "andy@vats123456.megapbx.ru", a group "g_<uuid>@domain" or "pbx".
	User string
	// Ext is the employee's extension; Telnum their direct number.
	Ext, Telnum string
	// GroupRealName is the call group's display name.
	GroupRealName string
}

func (c Call) fields(cmd string) url.Values {
	f := url.Values{"cmd": {cmd}}
	set := func(k, v string) {
		if v != "" {
			f.Set(k, v)
		}
	}
	set("callid", c.ID)
	set("phone", c.Phone)
	set("diversion", c.Diversion)
	set("user", c.User)
	set("ext", c.Ext)
	set("telnum", c.Telnum)
	set("groupRealName", c.GroupRealName)
	return f
}

// Event returns the fields of a cmd=event push of type typ (INCOMING,
// OUTGOING, ACCEPTED, COMPLETED, CANCELLED, TRANSFERRED), with the z-flag
// the PBX adds. For TRANSFERRED use Transferred.
func Event(typ string, c Call) url.Values {
	f := c.fields("event")
	f.Set("type", typ)
	if c.Direction != "" {
		f.Set("direction", c.Direction)
	}
	f.Set("z-flag", "0")
	return f
}

// Transferred returns a TRANSFERRED push carrying second_callid, the id of
// the call leg the client was transferred to.
func Transferred(c Call, secondCallID string) url.Values {
	f := Event("TRANSFERRED", c)
	f.Set("second_callid", secondCallID)
	return f
}

// Outcome is the result part of a cmd=history push.
type Outcome struct {
	// Status as the PBX sends it: Success, Missed (live PBXes also send
	// "missed"), Cancel, Busy, NotAvailable, NotAllowed, NotFound.
	Status string
	// Start is sent as YYYYmmddTHHMMSSZ in UTC. The zero time stamps the
	// current time minus Duration (the call just ended), so a handler's
	// time window accepts the push; NoStart leaves start out, as the PBX
	// does for some missed calls.
	Start   time.Time
	NoStart bool
	// Duration is the total seconds including Wait; Wait is sent only when
	// SendWait is set (most PBXes do not send it).
	Duration, Wait int
	SendWait       bool
	// Link is the recording URL.
	Link string
	// Group is a group id "g_<uuid>" (switch-reported missed calls).
	Group string
	// MissedStatus is 1–4 (who called back), sent when not "".
	MissedStatus string
}

// History returns the fields of a cmd=history push (one per call leg,
// after hang-up).
func History(c Call, o Outcome) url.Values {
	f := c.fields("history")
	if c.Direction != "" {
		f.Set("type", c.Direction)
	}
	f.Set("status", o.Status)
	if !o.NoStart {
		start := o.Start
		if start.IsZero() {
			start = time.Now().Add(-time.Duration(o.Duration) * time.Second)
		}
		f.Set("start", start.UTC().Format("20060102T150405Z"))
	}
	f.Set("duration", strconv.Itoa(o.Duration))
	if o.SendWait {
		f.Set("wait", strconv.Itoa(o.Wait))
	}
	if o.Link != "" {
		f.Set("link", o.Link)
	}
	if o.Group != "" {
		f.Set("group", o.Group)
	}
	if o.MissedStatus != "" {
		f.Set("missedStatus", o.MissedStatus)
	}
	f.Set("z-flag", "0")
	return f
}

// Contact returns the fields of a cmd=contact request: the PBX asks who is
// calling from phone while call callID rings.
func Contact(phone, callID string) url.Values {
	return url.Values{"cmd": {"contact"}, "phone": {phone}, "callid": {callID}}
}

// Rating returns the fields of a cmd=rating push.
func Rating(c Call, rating int) url.Values {
	f := c.fields("rating")
	f.Set("rating", strconv.Itoa(rating))
	return f
}

// NewRequest returns the POST the PBX sends to target (a path, or an
// absolute URL) with fields form-encoded and crm_token set to token (left
// out when token is ""), as a handler's ServeHTTP receives it (RemoteAddr
// 192.0.2.1:1234, Host example.com unless target names one). The fields
// are not modified.
func NewRequest(target, token string, fields url.Values) *http.Request {
	r := fakehttp.NewRequest(http.MethodPost, target, strings.NewReader(NewRequestBody(fields, token)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// NewRequestBody returns the form-encoded body of NewRequest: fields plus
// crm_token (left out when token is "").
func NewRequestBody(fields url.Values, token string) string {
	return withToken(fields, token).Encode()
}

// NewJSONRequest is NewRequest with a JSON object body, as some PBX
// versions send.
func NewJSONRequest(target, token string, fields url.Values) *http.Request {
	f := withToken(fields, token)
	m := make(map[string]string, len(f))
	for k := range f {
		m[k] = f.Get(k)
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	r := fakehttp.NewRequest(http.MethodPost, target, strings.NewReader(string(b)))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func withToken(fields url.Values, token string) url.Values {
	f := make(url.Values, len(fields)+1)
	for k, v := range fields {
		f[k] = append([]string(nil), v...)
	}
	if token != "" {
		f.Set("crm_token", token)
	}
	return f
}
