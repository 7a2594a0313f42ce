package telphintest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/internal/fakehttp"
)

// Call describes one call for building the webhook requests Telphin sends
// about it. Zero fields take the values of Telphin's recorded sample
// (an inbound call from +78123351127 on DID 78123092854 routed by queue
// 3515*099 to extension 3515*101), so Call{} is a realistic call, except
// its times: they are current by default, so a handler (which refuses
// times far from the moment a request arrives) accepts the requests.
type Call struct {
	CallID    string // 32 lowercase hex
	SubCallID string // "{extension id}-{32 hex}"
	CallAPIID string
	// Client is the client's number as Telphin writes it ("+78123351127").
	Client string
	// DID is the company number the call came in on ("78123092854").
	DID string
	// Extension and ExtensionID are the employee's extension ("3515*101", "124575").
	Extension, ExtensionID string
	// EmployeeName is the extension's caller id name on outbound calls.
	EmployeeName string
	// Queue and QueueID are the queue that routed an inbound call ("3515*099", "124583").
	Queue, QueueID string
	// Start is when the call began ringing. Default: Ring+Talk before the
	// builder is called, so every event of the call lies in the recent
	// past. Set it to replay a call at a fixed time.
	Start time.Time
	// Ring and Talk are the ring and conversation times (default 10 s and 83.479977 s).
	Ring, Talk time.Duration
}

const domain = "@sipproxy.telphin.ru"

func (c Call) withDefaults() Call {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.CallID, "76c8491e9d3711e7bd2379424bc8e8c8")
	def(&c.ExtensionID, "124575")
	def(&c.SubCallID, c.ExtensionID+"-79a2b6069d3711e7845f79424bc8e8c8")
	def(&c.CallAPIID, "3584709733-"+c.CallID[:min(8, len(c.CallID))]+"-9d37-11e7-bd23-79424bc8e8c8")
	def(&c.Client, "+78123351127")
	def(&c.DID, "78123092854")
	def(&c.Extension, "3515*101")
	def(&c.EmployeeName, "Иванов Иван Иванович")
	def(&c.Queue, "3515*099")
	def(&c.QueueID, "124583")
	if c.Ring == 0 {
		c.Ring = 10120024 * time.Microsecond
	}
	if c.Talk == 0 {
		c.Talk = 83479977 * time.Microsecond
	}
	if c.Start.IsZero() {
		c.Start = time.Now().Add(-c.Ring - c.Talk).Truncate(time.Microsecond).UTC()
	}
	return c
}

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

func (c Call) inbound(eventType, status string, at time.Time) url.Values {
	c = c.withDefaults()
	return url.Values{
		"EventType":         {eventType},
		"CallID":            {c.CallID},
		"SubCallID":         {c.SubCallID},
		"CallAPIID":         {c.CallAPIID},
		"CallFlow":          {"in"},
		"CallStatus":        {status},
		"CallerIDNum":       {c.Client},
		"CallerIDName":      {c.Client},
		"CalledDID":         {c.DID},
		"CalledNumber":      {c.Extension},
		"CalledExtension":   {c.Extension + domain},
		"CalledExtensionID": {c.ExtensionID},
		"CallerExtension":   {c.Queue + domain},
		"CallerExtensionID": {c.QueueID},
		"EventTime":         {micros(at)},
	}
}

// DialIn is the dial-in of an inbound call reaching the extension.
func (c Call) DialIn() url.Values {
	d := c.withDefaults()
	return c.inbound("dial-in", "CALLING", d.Start)
}

// Answer is the answer of an inbound call by the extension.
func (c Call) Answer() url.Values {
	d := c.withDefaults()
	return c.inbound("answer", "ANSWER", d.Start.Add(d.Ring))
}

// Hangup is the hangup of an answered inbound call on the extension.
func (c Call) Hangup() url.Values {
	d := c.withDefaults()
	v := c.inbound("hangup", "ANSWER", d.Start.Add(d.Ring+d.Talk))
	v.Set("Duration", strconv.FormatInt(d.Talk.Microseconds(), 10))
	return v
}

// TransferredDialIn is the dial-in of a call an employee transferred
// internally: RemoteNumber carries the client.
func (c Call) TransferredDialIn(from string) url.Values {
	v := c.DialIn()
	v.Set("CallerIDNum", from)
	v.Set("CallerIDName", from)
	v.Set("CallerExtension", from+domain)
	v.Set("RemoteNumber", c.withDefaults().Client)
	return v
}

// QueueMissed is the hangup on the queue extension of an inbound call
// nobody answered (Bridged=no): Telphin's missed-call signal.
func (c Call) QueueMissed() url.Values {
	d := c.withDefaults()
	queueLeg := d.QueueID + d.SubCallID[strings.IndexByte(d.SubCallID, '-'):]
	return url.Values{
		"EventType":         {"hangup"},
		"CallID":            {d.CallID},
		"SubCallID":         {queueLeg},
		"CallAPIID":         {d.CallAPIID},
		"CallFlow":          {"in"},
		"CallStatus":        {"NOANSWER"},
		"Bridged":           {"no"},
		"CallerIDNum":       {d.Client},
		"CallerIDName":      {d.Client},
		"CalledDID":         {d.DID},
		"CalledNumber":      {d.Queue},
		"CalledExtension":   {d.Queue + domain},
		"CalledExtensionID": {d.QueueID},
		"EventTime":         {micros(d.Start.Add(d.Ring))},
		"Duration":          {strconv.FormatInt(d.Ring.Microseconds(), 10)},
	}
}

func (c Call) outbound(eventType, status string, at time.Time) url.Values {
	d := c.withDefaults()
	return url.Values{
		"EventType":         {eventType},
		"CallID":            {d.CallID},
		"SubCallID":         {d.SubCallID},
		"CallAPIID":         {d.CallAPIID},
		"CallFlow":          {"out"},
		"CallStatus":        {status},
		"CallerIDNum":       {d.Extension},
		"CallerIDName":      {d.EmployeeName},
		"CallerExtension":   {d.Extension + domain},
		"CallerExtensionID": {d.ExtensionID},
		"CalledNumber":      {d.Client},
		"EventTime":         {micros(at)},
	}
}

// DialOut is the dial-out of an outbound call from the extension to the client.
func (c Call) DialOut() url.Values {
	d := c.withDefaults()
	return c.outbound("dial-out", "CALLING", d.Start)
}

// AnswerOut is the answer of an outbound call: the client picked up.
func (c Call) AnswerOut() url.Values {
	d := c.withDefaults()
	return c.outbound("answer", "ANSWER", d.Start.Add(d.Ring))
}

// HangupOut is the hangup of an outbound call with CallStatus status
// ("ANSWER", "NOANSWER", "BUSY", …); an answered call carries Duration.
func (c Call) HangupOut(status string) url.Values {
	d := c.withDefaults()
	v := c.outbound("hangup", status, d.Start.Add(d.Ring+d.Talk))
	if status == "ANSWER" {
		v.Set("Duration", strconv.FormatInt(d.Talk.Microseconds(), 10))
	} else {
		v.Set("Duration", "0")
		v.Set("EventTime", micros(d.Start.Add(d.Ring)))
	}
	return v
}

// CallInteractive is the Call Interactive request Telphin sends while the
// caller is in the IVR, asking where to route the call.
func (c Call) CallInteractive() url.Values {
	d := c.withDefaults()
	return url.Values{
		"EventType":         {"call_interactive"},
		"CallStatus":        {"ANSWER"},
		"CallFlow":          {"IN"},
		"CallID":            {d.CallID},
		"CallAPIID":         {d.CallAPIID},
		"CallerIDNum":       {d.Client},
		"CallerIDName":      {d.Client},
		"CalledDID":         {d.DID},
		"CalledNumber":      {d.DID[min(1, len(d.DID)):]},
		"CalledExtension":   {d.Queue + domain},
		"CalledExtensionID": {d.QueueID},
	}
}

// NewRequest builds the POST Telphin sends to a hook URL target
// ("https://crm.example/telphin/APPID"): fields as an
// application/x-www-form-urlencoded body, token (if not "") added as the
// "token" query parameter (telphin.TokenParam) the handler checks by
// default (webhook.WithToken). target may also be a path
// ("/hooks/telphin/app", host example.com). It is a server-side request
// (fakehttp.NewRequest: RemoteAddr 192.0.2.1:1234, RequestURI set), ready
// for handler.ServeHTTP.
func NewRequest(target, token string, fields url.Values) *http.Request {
	r := fakehttp.NewRequest(http.MethodPost, withToken(target, token), strings.NewReader(fields.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// NewGETRequest builds the GET variant: fields in the query string.
func NewGETRequest(target, token string, fields url.Values) *http.Request {
	u := withToken(target, token)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return fakehttp.NewRequest(http.MethodGet, u+sep+fields.Encode(), nil)
}

func withToken(target, token string) string {
	if token == "" {
		return target
	}
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	return target + sep + "token=" + url.QueryEscape(token)
}
