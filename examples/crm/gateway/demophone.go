package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/phone"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// demoPhone plays Telphin's side of the calls of -demo. The fakes take
// calls but send no webhooks, so the demo phone sends the Telphin
// webhooks of what a demo employee does in the workspace — a client
// rings them (a seeded client or an unknown number), their phone
// answers, the client hangs up before it does — and of what the
// workspace asks of Telphin (a call placed, transferred, hung up),
// through the gateway's own webhook route, as Telphin would. The calls
// the API places and controls are left as they were (the fakes report
// nothing). An employee who rings themselves gets a phone on the Telphin
// fake if it has none.
type demoPhone struct {
	g       *Gateway
	srv     *telphintest.Server
	numbers []demoNumber // the seeded clients' numbers

	mu     sync.Mutex
	n      int
	exts   map[string]telphintest.Extension // short number → the fake's extension
	calls  map[string]*demoCall             // by Telphin CallID
	timers []match.Timer
	closed bool
}

// demoNumber is a seeded client's number, +<digits>, and its
// responsible.
type demoNumber struct{ phone, responsible string }

// demoCall is a call of the demo phone.
type demoCall struct {
	id, apiID string
	client    string // +<digits>
	outbound  bool
	legs      map[string]*demoLeg // by short extension
}

// demoLeg is an extension's leg of a demo call.
type demoLeg struct {
	ext             telphintest.Extension
	sub             string // SubCallID
	from            string // the extension's full name it was transferred from
	start, answered time.Time
	ended           bool
}

// demoAnswerAfter is how long a client called from the demo workspace
// takes to answer.
const demoAnswerAfter = 2 * time.Second

// demoExtensionID is the first id of the extensions the demo adds to the
// Telphin fake.
const demoExtensionID = 470000

// maxDemoCalls bounds the demo calls remembered.
const maxDemoCalls = 1000

// newDemoPhone is the demo phone over the Telphin fake srv.
func newDemoPhone(g *Gateway, srv *telphintest.Server) *demoPhone {
	d := &demoPhone{g: g, srv: srv, exts: map[string]telphintest.Extension{}, calls: map[string]*demoCall{}}
	for _, e := range telphintest.DefaultExtensions {
		if e.Type == "phone" {
			d.exts[shortExt(e.Name)] = e
		}
	}
	var seeded []struct {
		Phone       string `json:"phone"`
		Responsible string `json:"responsible"`
	}
	_ = json.Unmarshal(g.cfg.DefaultClients, &seeded) // the demo rings unknown numbers without
	for _, c := range seeded {
		if p, err := phone.Normalize(c.Phone, g.cfg.Country); err == nil && p != "" {
			d.numbers = append(d.numbers, demoNumber{"+" + p, c.Responsible})
		}
	}
	return d
}

// shortExt is the short number of a Telphin extension name ("15400*101" → "101").
func shortExt(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '*' {
			return name[i+1:]
		}
	}
	return name
}

// extension is the fake's extension of short number ext, added when it
// has none.
func (d *demoPhone) extension(ext, label string) telphintest.Extension {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.exts[ext]; ok {
		return e
	}
	e := telphintest.Extension{ID: int64(demoExtensionID + len(d.exts)), Name: "15400*" + ext, Type: "phone", Label: label}
	d.srv.AddExtension(e)
	d.exts[ext] = e
	return e
}

// close stops the demo's timers.
func (d *demoPhone) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for _, t := range d.timers {
		t.Stop()
	}
}

// hex32 is a random Telphin-style id: 32 lowercase hex digits.
func hex32() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// event is the Telphin call of leg l of c at now, for telphintest's
// builders: its times make the builder's event happen now.
func (c *demoCall) event(l *demoLeg, now time.Time) telphintest.Call {
	tc := telphintest.Call{CallID: c.id, SubCallID: l.sub, CallAPIID: c.apiID, Client: c.client, DID: "74950000000",
		Extension: l.ext.Name, ExtensionID: strconv.FormatInt(l.ext.ID, 10), Start: l.start,
		Ring: max(now.Sub(l.start), time.Millisecond), EmployeeName: l.ext.Label}
	if !l.answered.IsZero() {
		tc.Ring = max(l.answered.Sub(l.start), time.Millisecond)
		tc.Talk = max(now.Sub(l.answered), time.Millisecond)
	}
	return tc
}

// send delivers a Telphin webhook to the gateway's own route.
func (d *demoPhone) send(ctx context.Context, fields url.Values) {
	req := telphintest.NewRequest("/hooks/telphin/"+d.g.telphinApp, d.g.hookToken, fields).WithContext(ctx)
	rep := &demoReply{h: http.Header{}}
	d.g.mux.ServeHTTP(rep, req)
	if rep.status >= 300 {
		d.g.log.WarnContext(ctx, "demo phone: the gateway refused a webhook", "status", rep.status, "event", fields.Get("EventType"))
	}
}

// demoReply takes the gateway's answer to a demo webhook.
type demoReply struct {
	h      http.Header
	status int
}

func (r *demoReply) Header() http.Header { return r.h }
func (r *demoReply) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *demoReply) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// newCallLocked makes a demo call, dropping the oldest past maxDemoCalls.
func (d *demoPhone) newCallLocked(id, client string, outbound bool) *demoCall {
	if len(d.calls) >= maxDemoCalls {
		clear(d.calls)
	}
	d.n++
	c := &demoCall{id: id, apiID: fmt.Sprintf("demo-%010d-%s", d.n, id[:8]), client: client, outbound: outbound,
		legs: map[string]*demoLeg{}}
	d.calls[id] = c
	return c
}

// newLeg is a leg of c ringing ext now.
func newLeg(c *demoCall, ext telphintest.Extension, now time.Time) *demoLeg {
	l := &demoLeg{ext: ext, sub: strconv.FormatInt(ext.ID, 10) + "-" + hex32(), start: now}
	c.legs[shortExt(ext.Name)] = l
	return l
}

// RingRequest is the body of POST /ui/api/demo/ring.
type RingRequest struct {
	// Known rings from a seeded client's number, else an unknown one.
	Known bool `json:"known"`
}

// ring is POST /ui/api/demo/ring: a client calls the employee's first
// extension (Telphin dial-in). 400 for an employee without one.
func (d *demoPhone) ring(w http.ResponseWriter, r *http.Request, s session) {
	var req RingRequest
	if status, err := decodeJSON(w, r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	emp, ok := d.g.me(w, r, s)
	if !ok {
		return
	}
	if len(emp.Extensions) == 0 {
		writeError(w, http.StatusBadRequest, "you have no extension for the demo phone to ring")
		return
	}
	ext := d.extension(emp.Extensions[0], emp.Name)
	now := d.g.clock().Now()
	d.mu.Lock()
	client := ""
	if req.Known && len(d.numbers) > 0 {
		// A client of the employee's first (so a missed call is told to
		// them), in turn.
		var mine []string
		for _, n := range d.numbers {
			if n.responsible == emp.ID || slices.Contains(emp.Extensions, n.responsible) {
				mine = append(mine, n.phone)
			}
		}
		if len(mine) == 0 {
			for _, n := range d.numbers {
				mine = append(mine, n.phone)
			}
		}
		client = mine[d.n%len(mine)]
	} else {
		n, _ := rand.Int(rand.Reader, big.NewInt(9_000_000))
		client = "+7495" + strconv.FormatInt(1_000_000+n.Int64(), 10)
	}
	c := d.newCallLocked(hex32(), client, false)
	l := newLeg(c, ext, now)
	tc := c.event(l, now)
	d.mu.Unlock()
	d.srv.AddCurrentCall(ext.ID, map[string]any{"call_api_id": c.apiID, "call_id": c.id, "call_flow": "IN",
		"extension_id": ext.ID, "caller_id_num": client})
	d.send(r.Context(), tc.DialIn())
	writeJSON(w, http.StatusOK, map[string]string{"call_id": c.id, "client_phone": client})
}

// act is POST /ui/api/demo/calls/{call_id}/{answer,abandon}: the
// employee's demo phone answers a call ringing it, or the client hangs
// up before it does (a missed call). 404 for a call that does not ring
// them.
func (d *demoPhone) act(w http.ResponseWriter, r *http.Request, s session) {
	action, id := r.PathValue("action"), r.PathValue("call_id")
	if action != "answer" && action != "abandon" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q (answer or abandon)", text.Clip(action, 40)))
		return
	}
	emp, ok := d.g.me(w, r, s)
	if !ok {
		return
	}
	now := d.g.clock().Now()
	d.mu.Lock()
	c := d.calls[id]
	var l *demoLeg
	if c != nil {
		for _, x := range emp.Extensions {
			if lg := c.legs[x]; lg != nil && !lg.ended && lg.answered.IsZero() {
				l = lg
			}
		}
	}
	if l == nil {
		d.mu.Unlock()
		writeError(w, http.StatusNotFound, fmt.Sprintf("no demo call %q ringing you", text.Clip(id, 80)))
		return
	}
	var hooks []url.Values
	if action == "answer" {
		l.answered = now
		tc := c.event(l, now)
		tc.Ring = max(now.Sub(l.start), time.Millisecond)
		hooks = append(hooks, tc.Answer())
	} else {
		l.ended = true
		hooks = append(hooks, c.missed(l, now)...)
	}
	d.mu.Unlock()
	for _, h := range hooks {
		d.send(r.Context(), h)
	}
	writeJSON(w, http.StatusOK, map[string]string{"call_id": id, "action": action})
}

// placed: the workspace placed a call from extension from to number to
// (Telphin's callback answered callID): its dial-out, and the client
// answering a moment later.
func (d *demoPhone) placed(ctx context.Context, from, to, callID string) {
	if len(callID) < 8 {
		return
	}
	ext := d.extension(from, "")
	now := d.g.clock().Now()
	client := to
	if p, err := phone.Normalize(to, "RU"); err == nil && p != "" {
		client = "+" + p
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	c := d.newCallLocked(callID, client, true)
	l := newLeg(c, ext, now)
	dial := c.event(l, now)
	d.timers = append(d.timers, d.g.clock().AfterFunc(demoAnswerAfter, func() {
		at := d.g.clock().Now()
		d.mu.Lock()
		if d.closed || l.ended {
			d.mu.Unlock()
			return
		}
		l.answered = at
		tc := c.event(l, at)
		tc.Ring = max(at.Sub(l.start), time.Millisecond)
		d.mu.Unlock()
		d.send(context.Background(), tc.AnswerOut())
	}))
	d.mu.Unlock()
	d.send(ctx, dial.DialOut())
}

// hungUp: the workspace hung up callID on extension from.
func (d *demoPhone) hungUp(ctx context.Context, callID, from string) {
	now := d.g.clock().Now()
	d.mu.Lock()
	c := d.calls[callID]
	var l *demoLeg
	if c != nil {
		if l = c.legs[from]; l == nil {
			for _, x := range c.legs {
				if !x.ended {
					l = x
				}
			}
		}
	}
	if l == nil || l.ended {
		d.mu.Unlock()
		return
	}
	l.ended = true
	tc := c.event(l, now)
	var hook url.Values
	switch {
	case c.outbound && !l.answered.IsZero():
		hook = tc.HangupOut("ANSWER")
	case c.outbound:
		hook = tc.HangupOut("NOANSWER")
	case !l.answered.IsZero():
		hook = tc.Hangup()
	default:
		hooks := c.missed(l, now)
		d.mu.Unlock()
		for _, h := range hooks {
			d.send(ctx, h)
		}
		return
	}
	d.mu.Unlock()
	d.send(ctx, hook)
}

// missed are the webhooks of an inbound call whose leg l rang and was
// not answered, the client hanging up: the queue's missed-call signal
// and the leg's hangup.
func (c *demoCall) missed(l *demoLeg, now time.Time) []url.Values {
	tc := c.event(l, now)
	leg := tc.Hangup()
	leg.Set("CallStatus", "CANCEL")
	leg.Set("Duration", "0")
	return []url.Values{tc.QueueMissed(), leg}
}

// transferred: the workspace transferred callID from extension from to
// to: the leg of to rings (an extension of the demo), the leg of from
// ends.
func (d *demoPhone) transferred(ctx context.Context, callID, from, to string) {
	now := d.g.clock().Now()
	d.mu.Lock()
	c := d.calls[callID]
	old := (*demoLeg)(nil)
	if c != nil {
		old = c.legs[from]
	}
	target, isExt := d.exts[to]
	if c == nil || old == nil || old.ended {
		d.mu.Unlock()
		return
	}
	var hooks []url.Values
	if isExt {
		nl := newLeg(c, target, now)
		nl.from = old.ext.Name
		hooks = append(hooks, c.event(nl, now).TransferredDialIn(old.ext.Name))
		d.srv.AddCurrentCall(target.ID, map[string]any{"call_api_id": c.apiID, "call_id": c.id, "call_flow": "IN",
			"extension_id": target.ID, "caller_id_num": c.client})
	}
	old.ended = true
	if tc := c.event(old, now); old.answered.IsZero() {
		leg := tc.Hangup()
		leg.Set("CallStatus", "CANCEL")
		leg.Set("Duration", "0")
		hooks = append(hooks, leg)
	} else {
		hooks = append(hooks, tc.Hangup())
	}
	d.mu.Unlock()
	for _, h := range hooks {
		d.send(ctx, h)
	}
}

// workspaceKey marks the context of a request of the workspace's API.
type workspaceKey struct{}

// fromWorkspace reports whether ctx is of a request of the workspace's
// API.
func fromWorkspace(ctx context.Context) bool { return ctx.Value(workspaceKey{}) != nil }

// demoTelphin is the Telphin client of -demo: the client against the
// fake, whose calls placed, transferred and hung up from the workspace
// the demo phone then reports as Telphin would.
type demoTelphin struct {
	*telphin.Client
	d *demoPhone
}

var (
	_ callevent.Caller     = demoTelphin{}
	_ callevent.Transferer = demoTelphin{}
	_ callevent.Holder     = demoTelphin{}
	_ callevent.Hanger     = demoTelphin{}
)

// Call places the call and has the demo phone report it.
func (t demoTelphin) Call(ctx context.Context, req callevent.CallRequest) (callevent.CallRef, error) {
	ref, err := t.Client.Call(ctx, req)
	if err == nil && fromWorkspace(ctx) {
		t.d.placed(ctx, req.From, req.To, ref.CallID)
	}
	return ref, err
}

// Transfer transfers the call and has the demo phone report it.
func (t demoTelphin) Transfer(ctx context.Context, req callevent.TransferRequest) error {
	err := t.Client.Transfer(ctx, req)
	if err == nil && fromWorkspace(ctx) {
		t.d.transferred(ctx, req.CallID, req.From, req.To)
	}
	return err
}

// Hangup hangs the call up and has the demo phone report it.
func (t demoTelphin) Hangup(ctx context.Context, req callevent.CallControlRequest) error {
	err := t.Client.Hangup(ctx, req)
	if err == nil && fromWorkspace(ctx) {
		t.d.hungUp(ctx, req.CallID, req.From)
	}
	return err
}
