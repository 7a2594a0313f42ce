package phonettest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/callbridge/callbridge/internal/fakehttp"
)

// DefaultRemoteAddr is the peer address of built webhook requests: the
// first of Phonet's documented webhook addresses (phonet.PhonetIPs).
const DefaultRemoteAddr = "89.184.65.208:41234"

// Call describes one call for building the webhook bodies Phonet sends
// about it. Start from InboundCall, OutboundCall or InternalCall and change
// fields as needed.
type Call struct {
	Account   string
	UUID      string
	Direction int // lgDirection: 1 internal, 2 outgoing, 4 incoming
	// Leg is the employee; Leg2 the second employee of an internal call.
	LegID, Leg2ID       int64
	Ext, Ext2           string
	Employee, Employee2 string
	// Client is the external number ("" for internal calls), ClientName
	// its name as Phonet knows it.
	Client, ClientName string
	ClientID           int64
	ClientURL          string
	// Line is the company number (trunkNum), LineName its label.
	Line, LineName string
	// DialAt, BridgeAt (zero: never answered) and HangupAt.
	DialAt, BridgeAt, HangupAt time.Time
}

// sampleStart is when the sample calls start ringing: the current time to
// the second, less three minutes, so every sample call has ended by now and
// its times lie inside a handler's time window (callevent.DefaultWindow).
func sampleStart() time.Time {
	return time.Now().UTC().Truncate(time.Second).Add(-3 * time.Minute)
}

// At returns c moved in time so that it starts ringing at dial; the
// intervals between its times are kept and a zero BridgeAt (never
// answered) stays zero. The sample calls start a few minutes before now;
// a test comparing exact times moves them to a fixed moment and gives
// the handler a clock near it.
func (c Call) At(dial time.Time) Call {
	d := dial.Sub(c.DialAt)
	c.DialAt = dial
	if !c.BridgeAt.IsZero() {
		c.BridgeAt = c.BridgeAt.Add(d)
	}
	if !c.HangupAt.IsZero() {
		c.HangupAt = c.HangupAt.Add(d)
	}
	return c
}

// InboundCall is the incoming call of Phonet's documentation samples: a
// customer calls the company line and Олена (ext 001) answers after 13 s
// and talks for 118 s. It started ringing three minutes ago (see At).
func InboundCall() Call {
	sampleDay := sampleStart()
	return Call{
		Account: "acme.phonet.com.ua", UUID: "5c3d2e1f0a9b4c8d7e6f5a4b3c2d1e0f", Direction: 4,
		LegID: 30, Ext: "001", Employee: "Олена Коваль",
		Client: "+380501112233", ClientName: "ТОВ Ромашка", ClientID: 6137,
		ClientURL: "https://crm.example.com/contacts/6137",
		Line:      "+380442000000", LineName: "Основна лінія",
		DialAt: sampleDay, BridgeAt: sampleDay.Add(13 * time.Second), HangupAt: sampleDay.Add(131 * time.Second),
	}
}

// OutboundCall is an outgoing call from Петро (ext 002) to a mobile number
// that was answered. It started three minutes ago (see At).
func OutboundCall() Call {
	sampleDay := sampleStart()
	return Call{
		Account: "acme.phonet.com.ua", UUID: "9b2f6c1e4d8a4f0b8c3e7a5d1f2b6c90", Direction: 2,
		LegID: 14, Ext: "002", Employee: "Петро Шевченко",
		Client: "+380671234567", ClientName: "+380671234567",
		Line: "+380442000000", LineName: "Основна лінія",
		DialAt: sampleDay, BridgeAt: sampleDay.Add(8 * time.Second), HangupAt: sampleDay.Add(68 * time.Second),
	}
}

// InternalCall is a call from Олена (001) to Петро (002). It started
// three minutes ago (see At).
func InternalCall() Call {
	sampleDay := sampleStart()
	return Call{
		Account: "acme.phonet.com.ua", UUID: "68333cd7aa94421e89dbc8acfe5027bb", Direction: 1,
		LegID: 30, Ext: "001", Employee: "Олена Коваль",
		Leg2ID: 14, Ext2: "002", Employee2: "Петро Шевченко",
		DialAt: sampleDay, BridgeAt: sampleDay.Add(5 * time.Second), HangupAt: sampleDay.Add(35 * time.Second),
	}
}

// Body is a webhook body as a JSON object. Build it with Call's methods,
// adjust it with With/Without/InSeconds/NullLeg, send it with Request.
type Body map[string]any

func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func leg(id int64, ext, name string) map[string]any {
	return map[string]any{"id": id, "ext": ext, "displayName": name}
}

func (c Call) event(name string, serverTime time.Time) Body {
	b := Body{
		"event": name, "accountDomain": c.Account, "uuid": c.UUID, "parentUuid": nil,
		"dialAt": ms(c.DialAt), "bridgeAt": nil, "lgDirection": c.Direction,
		"leg": leg(c.LegID, c.Ext, c.Employee), "leg2": nil, "otherLegs": nil,
		"trunkNum": nullable(c.Line), "trunkName": nullable(c.LineName),
		"serverTime": serverTime.UnixMilli() + 350,
	}
	if c.Ext2 != "" {
		b["leg2"] = leg(c.Leg2ID, c.Ext2, c.Employee2)
	}
	if c.Client != "" {
		b["otherLegs"] = []any{map[string]any{
			"id": c.ClientID, "name": c.ClientName, "num": c.Client,
			"companyName": nullable(c.ClientName), "url": nullable(c.ClientURL),
		}}
	}
	return b
}

// Dial is the call.dial event («Початок виклику»).
func (c Call) Dial() Body { return c.event("call.dial", c.DialAt) }

// Bridge is the call.bridge event («Відповіли на дзвінок»).
func (c Call) Bridge() Body {
	b := c.event("call.bridge", c.BridgeAt)
	b["bridgeAt"] = ms(c.BridgeAt)
	return b
}

// Hangup is the call.hangup event («Завершили дзвінок»), with hangupAt.
// bridgeAt is null when the call was not answered.
func (c Call) Hangup() Body {
	b := c.event("call.hangup", c.HangupAt)
	b["bridgeAt"] = ms(c.BridgeAt)
	b["hangupAt"] = ms(c.HangupAt)
	return b
}

// Lookup is the customer lookup («Отримати інформацію за номером»): a body
// without "event".
func (c Call) Lookup() Body {
	return Body{
		"otherLegNum": c.Client, "trunkNum": nullable(c.Line), "uuid": c.UUID,
		"lgDirection": c.Direction, "accountDomain": c.Account,
	}
}

// Record is the full call info («Передача повної інформації про дзвінок»,
// after_call_end): one history record plus accountDomain. disposition is 0
// (answered, with a recording whose URL ends in a space, as Phonet's
// samples do) or 1 (no answer).
func (c Call) Record() Body {
	r := c.HistoryRecord()
	b := Body{}
	raw, _ := json.Marshal(r)
	_ = json.Unmarshal(raw, &b)
	b["accountDomain"] = c.Account
	if r.AudioRecURL != nil {
		b["audioRecUrl"] = *r.AudioRecURL + " "
	}
	return b
}

// HistoryRecord is the call as a history row, for Server.AddCalls.
func (c Call) HistoryRecord() Record {
	r := Record{
		UUID: c.UUID, EndAt: c.HangupAt.UnixMilli(), LgDirection: c.Direction,
		OtherLegNum: c.Client, OtherLegName: c.ClientName,
		Leg:      NewLeg(c.LegID, c.Ext, c.Employee),
		Duration: int(c.HangupAt.Sub(c.DialAt) / time.Second), Disposition: 1,
	}
	if c.Ext2 != "" {
		r.Leg2 = NewLeg(c.Leg2ID, c.Ext2, c.Employee2)
		r.OtherLegNum, r.OtherLegName = c.Ext2, c.Employee2
	}
	if !c.BridgeAt.IsZero() {
		r.BillSecs = int(c.HangupAt.Sub(c.BridgeAt) / time.Second)
		r.Disposition = 0
		u := "https://" + c.Account + "/rest/public/calls/" + c.UUID + "/audio"
		r.AudioRecURL = &u
	}
	if c.Line != "" {
		t := c.Line
		r.Trunk = &t
	}
	return r
}

// Pause is a pause toggle of an employee: lgDirection 32 (on) or 64 (off).
func Pause(on bool, account, ext, name string, at time.Time) Body {
	dir := 64
	if on {
		dir = 32
	}
	return Body{
		"event": "call.dial", "accountDomain": account, "uuid": fmt.Sprintf("pause-%s-%d", ext, at.UnixMilli()),
		"parentUuid": nil, "dialAt": ms(at), "bridgeAt": nil, "lgDirection": dir,
		"leg": leg(0, ext, name), "leg2": nil, "otherLegs": nil, "trunkNum": nil, "trunkName": nil,
		"serverTime": ms(at),
	}
}

// With returns a copy of b with key set to v (nil writes null).
func (b Body) With(key string, v any) Body {
	c := maps.Clone(b)
	c[key] = v
	return c
}

// Without returns a copy of b without key.
func (b Body) Without(key string) Body {
	c := maps.Clone(b)
	delete(c, key)
	return c
}

// timestampKeys are the fields holding epoch milliseconds.
var timestampKeys = [...]string{"dialAt", "bridgeAt", "hangupAt", "serverTime", "endAt"}

// InSeconds returns a copy of b with its timestamps in epoch seconds, as
// Phonet's documentation samples show them.
func (b Body) InSeconds() Body {
	c := maps.Clone(b)
	for _, k := range timestampKeys {
		switch v := c[k].(type) {
		case int64:
			c[k] = v / 1000
		case float64:
			c[k] = int64(v) / 1000
		}
	}
	return c
}

// NullLeg returns a copy of b whose leg has null id, ext and displayName,
// as in Phonet's test calls.
func (b Body) NullLeg() Body {
	return b.With("leg", map[string]any{"id": nil, "ext": nil, "displayName": nil})
}

// JSON encodes b.
func (b Body) JSON() []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic("phonettest: " + err.Error())
	}
	return out
}

// Form encodes b as a PHP-style form ("leg[ext]=001&otherLegs[0][num]=…");
// null becomes an empty value.
func (b Body) Form() url.Values {
	v := url.Values{}
	var add func(prefix string, x any)
	add = func(prefix string, x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				add(prefix+"["+k+"]", e)
			}
		case []any:
			for i, e := range x {
				add(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		case nil:
			v.Set(prefix, "")
		default:
			v.Set(prefix, fmt.Sprint(x))
		}
	}
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, b[k])
	}
	return v
}

// RequestOption adjusts a built webhook request.
type RequestOption func(*requestConfig)

type requestConfig struct {
	token      string
	form       bool
	remoteAddr string
}

// WithToken adds the query parameter token=tok, where phonet.NewHandler reads
// the token of webhook.WithToken and webhook.WithTokenAccounts by default.
func WithToken(tok string) RequestOption { return func(c *requestConfig) { c.token = tok } }

// AsForm sends the body form-encoded instead of JSON.
func AsForm() RequestOption { return func(c *requestConfig) { c.form = true } }

// FromAddr sets the peer address ("ip:port"); the default is
// DefaultRemoteAddr, one of Phonet's addresses.
func FromAddr(addr string) RequestOption { return func(c *requestConfig) { c.remoteAddr = addr } }

// Request builds the POST Phonet would send to target (a URL or path) with
// b. Build it twice to simulate Phonet's duplicate deliveries.
func (b Body) Request(target string, opts ...RequestOption) *http.Request {
	cfg := requestConfig{remoteAddr: DefaultRemoteAddr}
	for _, o := range opts {
		if o != nil { // a nil option is ignored: Request has no error to return
			o(&cfg)
		}
	}
	if cfg.token != "" {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + "token=" + url.QueryEscape(cfg.token)
	}
	var r *http.Request
	if cfg.form {
		r = fakehttp.NewRequest(http.MethodPost, target, strings.NewReader(b.Form().Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = fakehttp.NewRequest(http.MethodPost, target, bytes.NewReader(b.JSON()))
		r.Header.Set("Content-Type", "application/json")
	}
	r.RemoteAddr = cfg.remoteAddr
	return r
}
