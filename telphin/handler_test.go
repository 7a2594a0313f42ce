package telphin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/eventtest"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
	"github.com/callbridge/callbridge/webhook"
)

const (
	hookToken = "hook-secret-1"
	hookURL   = "https://crm.example/telphin/74c86d009b914aacb0f04cb0795eee86"
	appID     = "74c86d009b914aacb0f04cb0795eee86"
)

// recorder is a Sink keeping what it receives.
type recorder struct {
	mu     sync.Mutex
	events []callevent.Event
}

func (r *recorder) HandleEvent(_ context.Context, e callevent.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) got() []callevent.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]callevent.Event(nil), r.events...)
}

func newHandler(t *testing.T, sink callevent.Sink, opts ...webhook.Option) http.Handler {
	t.Helper()
	h, err := telphin.NewHandler(sink, append([]webhook.Option{webhook.WithToken("old-secret", hookToken)}, opts...)...)
	require.NoError(t, err)
	return h
}

func readPayload(t *testing.T, name string) string {
	t.Helper()
	b, err := readFile(name)
	require.NoError(t, err)
	return b
}

func readFile(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "webhooks", name+".form"))
	return string(b), err
}

// rawOf is the Event.Raw the handler must produce for a form body.
func rawOf(t *testing.T, body string) json.RawMessage {
	t.Helper()
	v, err := url.ParseQuery(body)
	require.NoError(t, err)
	m := map[string]string{}
	for k := range v {
		m[k] = v.Get(k)
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

func us(n int64) time.Time { return time.UnixMicro(n).UTC() }

// clockOf gives a handler replaying a recorded payload a clock a minute
// after the payload's EventTime, so its times lie inside the handler's
// time window (they are years old).
func clockOf(t *testing.T, body string) webhook.Option {
	t.Helper()
	n, err := strconv.ParseInt(mustQuery(t, body).Get("EventTime"), 10, 64)
	require.NoError(t, err)
	now := time.UnixMicro(n).Add(time.Minute)
	return webhook.WithClock(func() time.Time { return now })
}

// The sample payloads of the facts file (§8.10), hand-checked.
func TestHandlerSamplePayloads(t *testing.T) {
	t.Parallel()
	id := func(leg, typ string) string { return webhook.EventID("telphin", appID, leg, typ) }
	const (
		inCall  = "76c8491e9d3711e7bd2379424bc8e8c8"
		inLeg   = "124575-79a2b6069d3711e7845f79424bc8e8c8"
		outCall = "ed7007fbd6404b9691150d649e0c253d"
		outLeg  = "124575-f7cbc78aa41111e79a952b3394a79396"
	)
	tests := []struct {
		name string
		want callevent.Event
	}{
		{"inbound_dial_in", callevent.Event{
			ID: id(inLeg, "dial-in"), Kind: callevent.Ringing, Direction: callevent.Inbound,
			CallID: inCall, LegID: inLeg, ClientPhone: "78123351127", LinePhone: "78123092854",
			Extension: "101", Group: "099", At: us(1505824724746286),
		}},
		{"inbound_answer", callevent.Event{ // CallerIDNum=101 (sic): the client is in CallerIDName
			ID: id(inLeg, "answer"), Kind: callevent.Answered, Direction: callevent.Inbound,
			CallID: inCall, LegID: inLeg, ClientPhone: "78123351127", LinePhone: "78123092854",
			Extension: "101", Group: "099", At: us(1505824734866310), AnsweredAt: us(1505824734866310),
		}},
		{"inbound_hangup_plus_unescaped", callevent.Event{ // "+" not percent-encoded arrives as " "
			ID: id(inLeg, "hangup"), Kind: callevent.Completed, Direction: callevent.Inbound, Status: callevent.Success,
			CallID: inCall, LegID: inLeg, ClientPhone: "78123351127", LinePhone: "78123092854",
			Extension: "101", Group: "099",
			At: us(1505824734866310), AnsweredAt: us(1505824734866310), EndedAt: us(1505824818346287),
			Duration: 83479977 * time.Microsecond,
		}},
		{"outbound_callback_dial_out", callevent.Event{
			ID: id(outLeg, "dial-out"), Kind: callevent.Ringing, Direction: callevent.Outbound,
			CallID: outCall, LegID: outLeg, ClientPhone: "79523326838", Extension: "101",
			Employee: "Иванов Иван Иванович", At: us(1506578297127004),
		}},
		{"outbound_callback_hangup", callevent.Event{
			ID: id(outLeg, "hangup"), Kind: callevent.Completed, Direction: callevent.Outbound, Status: callevent.Success,
			CallID: outCall, LegID: outLeg, ClientPhone: "79523326838", Extension: "101",
			Employee: "Иванов Иван Иванович",
			At:       us(1506578298940984), AnsweredAt: us(1506578298940984), EndedAt: us(1506578305340989),
			Duration: 6400005 * time.Microsecond,
		}},
		{"queue_missed", callevent.Event{
			ID: id("124583-0a1b2c3d4e5f60718293a4b5c6d7e8f9", "hangup"), Kind: callevent.Completed,
			Direction: callevent.Inbound, Status: callevent.Missed,
			CallID: "1f0e2d3c4b5a69788796a5b4c3d2e1f0", LegID: "124583-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
			ClientPhone: "79161112233", LinePhone: "78123092854", Group: "099",
			At: us(1505900000000000), EndedAt: us(1505900021000000), Wait: 21 * time.Second,
		}},
		{"internal_transfer_dial_in", callevent.Event{ // RemoteNumber, not the transferring extension
			ID: id("124575-e6bd7bb2622b424392a012e28473f91a", "dial-in"), Kind: callevent.Ringing, Direction: callevent.Inbound,
			CallID: "45c0c95e2b8d4ee4b3c5c62e29552a8c", LegID: "124575-e6bd7bb2622b424392a012e28473f91a",
			ClientPhone: "79161112233", Extension: "101", At: us(1503503876600000),
		}},
		{"forwarded_dial_out", callevent.Event{
			ID: id("124575-5f1e2d3c4b5a69788796a5b4c3d2e1f0", "dial-out"), Kind: callevent.Ringing, Direction: callevent.Outbound,
			CallID: "45c0c95e2b8d4ee4b3c5c62e29552a8c", LegID: "124575-5f1e2d3c4b5a69788796a5b4c3d2e1f0",
			ClientPhone: "79031234567", Extension: "101", Employee: "Иванов", At: us(1503503880100000),
		}},
		{"internal_dial_out", callevent.Event{ // an extension calling another: no client phone
			ID: id("124575-9a8b7c6d5e4f30211203f4e5d6c7b8a9", "dial-out"), Kind: callevent.Ringing, Direction: callevent.Internal,
			CallID: "9a8b7c6d5e4f30211203f4e5d6c7b8a9", LegID: "124575-9a8b7c6d5e4f30211203f4e5d6c7b8a9",
			Extension: "101", Employee: "Иванов", At: us(1503503890000000),
		}},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				t.Parallel()
				body := readPayload(t, tt.name)
				var req *http.Request
				if method == http.MethodPost {
					req = httptest.NewRequest(method, hookURL+"?token="+hookToken, strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				} else {
					req = httptest.NewRequest(method, hookURL+"?token="+hookToken+"&"+body, nil)
				}
				rec := &recorder{}
				w := httptest.NewRecorder()
				newHandler(t, rec, clockOf(t, body)).ServeHTTP(w, req)
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())

				want := tt.want
				want.Provider, want.Account, want.Raw = "telphin", appID, rawOf(t, body)
				got := rec.got()
				require.Len(t, got, 1)
				if diff := cmp.Diff([]callevent.Event{want}, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				require.NotContains(t, string(got[0].Raw), hookToken, "the token must not reach Raw")
			})
		}
	}
}

func TestHandlerRecIDHelper(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	body := readPayload(t, "outbound_callback_hangup")
	req := telphintest.NewRequest(hookURL, hookToken, mustQuery(t, body))
	w := httptest.NewRecorder()
	newHandler(t, rec, clockOf(t, body)).ServeHTTP(w, req)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "124575-f7cbc78aa41111e79a952b3394a79396", telphin.RecID(rec.got()[0]))
	require.Empty(t, telphin.RecID(callevent.Event{}))
}

func mustQuery(t *testing.T, s string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(s)
	require.NoError(t, err)
	return v
}

// The telphintest builders go through the handler as a whole inbound call
// via the queue, a missed queue call and an outbound call.
func TestHandlerBuilders(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := newHandler(t, rec)
	call := telphintest.Call{}
	out := telphintest.Call{CallID: "0123456789abcdef0123456789abcdef", SubCallID: "124575-0123456789abcdef0123456789abcdef"}
	for _, f := range []url.Values{call.DialIn(), call.Answer(), call.Hangup(), call.QueueMissed(), out.DialOut(), out.HangupOut("BUSY")} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, telphintest.NewRequest(hookURL, hookToken, f))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	got := rec.got()
	require.Len(t, got, 6)
	type summary struct {
		Kind      callevent.Kind
		Direction callevent.Direction
		Status    callevent.Status
		Client    string
		Ext, Grp  string
	}
	var sums []summary
	for _, e := range got {
		sums = append(sums, summary{e.Kind, e.Direction, e.Status, e.ClientPhone, e.Extension, e.Group})
	}
	want := []summary{
		{callevent.Ringing, callevent.Inbound, 0, "78123351127", "101", "099"},
		{callevent.Answered, callevent.Inbound, 0, "78123351127", "101", "099"},
		{callevent.Completed, callevent.Inbound, callevent.Success, "78123351127", "101", "099"},
		{callevent.Completed, callevent.Inbound, callevent.Missed, "78123351127", "", "099"},
		{callevent.Ringing, callevent.Outbound, 0, "78123351127", "101", ""},
		{callevent.Completed, callevent.Outbound, callevent.Busy, "78123351127", "101", ""},
	}
	if diff := cmp.Diff(want, sums); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The same SubCallID but another event type is a different event; a
	// redelivery is not delivered twice.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, telphintest.NewGETRequest(hookURL, hookToken, call.Hangup()))
	require.Equal(t, http.StatusOK, w.Code)
	require.Len(t, rec.got(), 6, "redelivered hangup must dedup")
	// A second routing round to the same extension has a new SubCallID.
	again := telphintest.Call{SubCallID: "124575-00000000000000000000000000000002"}
	h.ServeHTTP(httptest.NewRecorder(), telphintest.NewRequest(hookURL, hookToken, again.DialIn()))
	require.Len(t, rec.got(), 7, "a new routing round is a new event")
}

func TestHandlerStatusMapping(t *testing.T) {
	t.Parallel()
	// leg: "" no extension fields; "direct" an extension the call reached
	// without a queue; "agent" an agent's leg of a call queue 099 routed;
	// "transfer" an extension reached by an internal transfer; "queue" the
	// queue's own leg.
	tests := []struct {
		flow, status, bridged string
		want                  callevent.Status
		leg                   string
	}{
		{"in", "ANSWER", "", callevent.Success, ""},
		{"in", "NOANSWER", "", callevent.Missed, ""},
		{"in", "CANCEL", "", callevent.Missed, ""},
		{"in", "BUSY", "", callevent.Missed, ""},
		{"in", "CONGESTION", "", callevent.Missed, ""},
		{"in", "CHANUNAVAIL", "", callevent.Missed, ""},
		{"in", "ANSWER", "no", callevent.Missed, ""}, // the IVR answered, no person did
		{"IN", "ANSWER", "yes", callevent.Success, ""},
		{"out", "ANSWER", "", callevent.Success, ""},
		{"out", "NOANSWER", "", callevent.NotAvailable, ""},
		{"OUT", "CHANUNAVAIL", "", callevent.NotAvailable, ""},
		{"out", "BUSY", "", callevent.Busy, ""},
		{"out", "CANCEL", "", callevent.Canceled, ""},
		{"out", "CONGESTION", "", callevent.Failed, ""},
		{"out", "SOMETHING", "", callevent.Failed, ""},
		{"out", "", "", 0, ""},

		// Nobody answered a call straight to an extension: missed.
		{"in", "NOANSWER", "", callevent.Missed, "direct"},
		{"in", "CANCEL", "", callevent.Missed, "direct"},
		{"in", "BUSY", "", callevent.Missed, "direct"},
		{"in", "NOANSWER", "", callevent.Missed, "transfer"},
		// An agent's leg of a queue call is not a missed call (another
		// agent may have answered; the queue leg tells).
		{"in", "ANSWER", "", callevent.Success, "agent"},
		{"in", "NOANSWER", "", callevent.NotAvailable, "agent"},
		{"in", "CHANUNAVAIL", "", callevent.NotAvailable, "agent"},
		{"in", "CANCEL", "", callevent.Canceled, "agent"},
		{"IN", "BUSY", "", callevent.Busy, "agent"},
		{"in", "CONGESTION", "", callevent.Failed, "agent"},
		// The queue leg carries the call's outcome.
		{"in", "NOANSWER", "no", callevent.Missed, "queue"},
		{"in", "CANCEL", "no", callevent.Missed, "queue"},
		{"in", "ANSWER", "yes", callevent.Success, "queue"},
	}
	for _, tt := range tests {
		t.Run(tt.flow+"_"+tt.status+"_"+tt.bridged+"_"+tt.leg, func(t *testing.T) {
			t.Parallel()
			f := url.Values{"EventType": {"hangup"}, "CallID": {"abc"}, "CallFlow": {tt.flow}, "CallStatus": {tt.status},
				"EventTime": {"1505824818346287"}, "CallerIDNum": {"+79161112233"}, "CalledNumber": {"+79161112233"}}
			if tt.bridged != "" {
				f.Set("Bridged", tt.bridged)
			}
			switch tt.leg {
			case "direct":
				f.Set("CalledExtension", "3515*102@sipproxy.telphin.ru")
			case "agent":
				f.Set("CalledExtension", "3515*102@sipproxy.telphin.ru")
				f.Set("CallerExtension", "3515*099@sipproxy.telphin.ru")
			case "transfer":
				f.Set("CalledExtension", "3515*102@sipproxy.telphin.ru")
				f.Set("CallerExtension", "3515*101@sipproxy.telphin.ru")
				f.Set("RemoteNumber", "+79161112233")
			case "queue":
				f.Set("CalledExtension", "3515*099@sipproxy.telphin.ru")
			}
			events, err := telphin.ParseFields("acc", f, "RU")
			require.NoError(t, err)
			require.Len(t, events, 1)
			require.Equal(t, tt.want, events[0].Status)
			require.NoError(t, events[0].Validate())
		})
	}
}

// Ids are compared case-insensitively: an upper-case CallID or SubCallID
// (as in call_history) gives the same Event.ID, CallID and LegID as the
// lower-case one, so a redelivery in another case dedups.
func TestHandlerIDsCaseInsensitive(t *testing.T) {
	t.Parallel()
	const (
		call = "76c8491e9d3711e7bd2379424bc8e8c8"
		leg  = "124575-79a2b6069d3711e7845f79424bc8e8c8"
	)
	tests := []struct {
		name, callID, subCallID string
	}{
		{"upper CallID and SubCallID", strings.ToUpper(call), strings.ToUpper(leg)},
		{"upper CallID only", strings.ToUpper(call), leg},
		{"upper SubCallID only", call, strings.ToUpper(leg)},
		{"mixed case", "76C8491E9d3711e7bd2379424bc8e8c8", "124575-79A2B6069d3711e7845f79424bc8e8c8"},
		{"upper CallID, no SubCallID", strings.ToUpper(call), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parse := func(callID, subCallID string) callevent.Event {
				f := telphintest.Call{}.Hangup()
				f.Set("CallID", callID)
				f.Set("SubCallID", subCallID)
				events, err := telphin.ParseFields("acc", f, "RU")
				require.NoError(t, err)
				require.Len(t, events, 1)
				return events[0]
			}
			got := parse(tt.callID, tt.subCallID)
			want := parse(strings.ToLower(tt.callID), strings.ToLower(tt.subCallID))
			require.Equal(t, want.ID, got.ID)
			require.Equal(t, call, got.CallID)
			require.Equal(t, strings.ToLower(tt.subCallID), got.LegID)
		})
	}
}

func TestHandlerRejects(t *testing.T) {
	t.Parallel()
	good := readPayload(t, "inbound_dial_in")
	type rejectCase struct {
		name   string
		req    func() *http.Request
		status int
		msg    string
	}
	tests := []rejectCase{
		{"no token", func() *http.Request {
			return telphintest.NewRequest(hookURL, "", mustQuery(t, good))
		}, http.StatusUnauthorized, "missing token"},
		{"wrong token", func() *http.Request {
			return telphintest.NewRequest(hookURL, "nope", mustQuery(t, good))
		}, http.StatusUnauthorized, "invalid token"},
		{"missing EventType", func() *http.Request {
			f := mustQuery(t, good)
			f.Del("EventType")
			return telphintest.NewRequest(hookURL, hookToken, f)
		}, http.StatusBadRequest, "missing EventType"},
		{"missing CallID", func() *http.Request {
			f := mustQuery(t, good)
			f.Del("CallID")
			return telphintest.NewRequest(hookURL, hookToken, f)
		}, http.StatusBadRequest, "missing CallID"},
		{"bad EventTime", func() *http.Request {
			f := mustQuery(t, good)
			f.Set("EventTime", "yesterday")
			return telphintest.NewRequest(hookURL, hookToken, f)
		}, http.StatusBadRequest, "EventTime"},
		{"negative Duration", func() *http.Request {
			f := mustQuery(t, good)
			f.Set("Duration", "-5")
			return telphintest.NewRequest(hookURL, hookToken, f)
		}, http.StatusBadRequest, "Duration"},
		{"malformed form", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, hookURL+"?token="+hookToken, strings.NewReader("EventType=%zz"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusBadRequest, "form body"},
		{"PUT", func() *http.Request {
			return httptest.NewRequest(http.MethodPut, hookURL+"?token="+hookToken, strings.NewReader(good))
		}, http.StatusMethodNotAllowed, "method"},
	}
	// Garbage the edge refuses, each a 400 naming Telphin's field (or the
	// event field the shared validator checks).
	hangup := readPayload(t, "inbound_hangup_plus_unescaped")
	big := strings.Repeat("a", 1<<20-4096) // about 1 MB, under the body limit
	for _, bad := range []struct {
		name, payload, field, value, msg string
	}{
		{"Duration of 9e15 µs", hangup, "Duration", "9000000000000000", "Duration"},
		{"Duration of 8 days", hangup, "Duration", "691200000000", "Duration"},
		{"negative Duration", hangup, "Duration", "-83479977", "Duration"},
		{"negative EventTime", good, "EventTime", "-1", "EventTime"},
		{"EventTime in 1970", good, "EventTime", "1000000", "EventTime"},
		{"EventTime in 2200", good, "EventTime", "7258118400000000", "EventTime"},
		{"EventTime in 9999", good, "EventTime", "253402300799000000", "EventTime"},
		{"EventTime years away", good, "EventTime", "1600000000000000", "at: "},
		{"CallID of 1 MB", good, "CallID", big, "CallID: "},
		{"CalledExtension of 1 MB", good, "CalledExtension", big, "CalledExtension: "},
		{"CallerIDName of 1 MB", good, "CallerIDName", big, "CallerIDName: "},
		{"unknown field of 1 MB", good, "Note", big, "Note: "},
		{"field with a control name", good, "No\nte", strings.Repeat("x", 300), `\"No\\nte\": 300 bytes`},
		{"CallID of 10 KB", good, "CallID", strings.Repeat("f", 10<<10), "CallID: "},
		{"CallID of 257 bytes", good, "CallID", strings.Repeat("f", 257), "CallID: 257 bytes"},
		{"field name of 1 KB", good, strings.Repeat("X", 1<<10), "1", "field name"},
		{"CallID with NUL", good, "CallID", "76c8491e\x00", "CallID"},
		{"CallID of invalid UTF-8", good, "CallID", "76c8\xff\xfe", "CallID"},
		{"SubCallID with a newline", good, "SubCallID", "124575-79a2\nX", "SubCallID"},
		{"CalledExtension with an escape", good, "CalledExtension", "3515*101\x1b[2J", "CalledExtension"},
		{"CallerIDName of invalid UTF-8", readPayload(t, "outbound_callback_dial_out"), "CallerIDName", "\xd0\xd0", "CallerIDName"},
		{"100-digit CallerIDNum", good, "CallerIDNum", strings.Repeat("7", 100), "CallerIDNum"},
		{"letters in CallerIDNum", good, "CallerIDNum", "hello", "CallerIDNum"},
		{"garbage CalledDID", good, "CalledDID", "+++", "CalledDID"},
		{"garbage RemoteNumber", good, "RemoteNumber", "12345678901234567890", "RemoteNumber"},
		{"garbage outbound CalledNumber", readPayload(t, "outbound_callback_dial_out"), "CalledNumber", "x1y2", "CalledNumber"},
	} {
		tests = append(tests, rejectCase{bad.name, func() *http.Request {
			f := mustQuery(t, bad.payload)
			if bad.field != "EventTime" {
				f.Set("EventTime", mustQuery(t, good).Get("EventTime")) // inside the clock's window
			}
			f.Set(bad.field, bad.value)
			return telphintest.NewRequest(hookURL, hookToken, f)
		}, http.StatusBadRequest, bad.msg})
	}
	tooMany := mustQuery(t, good)
	for i := range 100 {
		tooMany.Set("X"+strconv.Itoa(i), "1")
	}
	tests = append(tests, rejectCase{"too many fields", func() *http.Request {
		return telphintest.NewRequest(hookURL, hookToken, tooMany)
	}, http.StatusBadRequest, "fields, more than"})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			w := httptest.NewRecorder()
			newHandler(t, rec, clockOf(t, good)).ServeHTTP(w, tt.req())
			require.Equal(t, tt.status, w.Code, w.Body.String())
			require.Contains(t, w.Body.String(), tt.msg)
			require.Empty(t, rec.got(), "nothing reaches the sink")
		})
	}
}

// A recorded payload replayed now is years old: the handler's time window
// refuses it, naming the field, unless the handler's clock says otherwise.
func TestHandlerTimeWindow(t *testing.T) {
	t.Parallel()
	body := readPayload(t, "inbound_dial_in")
	for name, opts := range map[string][]webhook.Option{
		"now":                  nil,
		"a day before":         {webhook.WithClock(func() time.Time { return us(1505824724746286).Add(-24 * time.Hour) })},
		"31 days after":        {webhook.WithClock(func() time.Time { return us(1505824724746286).Add(31 * 24 * time.Hour) })},
		"narrower than needed": {clockOf(t, body), webhook.WithTimeWindow(callevent.Window{Past: time.Second})},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			w := httptest.NewRecorder()
			newHandler(t, rec, opts...).ServeHTTP(w, telphintest.NewRequest(hookURL, hookToken, mustQuery(t, body)))
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			require.Contains(t, w.Body.String(), "at: 2017-09-19T12:38:44Z is outside")
			require.Empty(t, rec.got())
		})
	}
}

// The telphintest builders stamp current times: a handler with the
// default clock and window accepts every request they build.
func TestBuildersStampCurrentTimes(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := newHandler(t, rec, webhook.WithDedup(nil))
	before := time.Now()
	call := telphintest.Call{}
	for _, f := range []url.Values{call.DialIn(), call.Answer(), call.Hangup(), call.QueueMissed(),
		call.TransferredDialIn("3515*102"), call.DialOut(), call.HangupOut("ANSWER"), call.HangupOut("NOANSWER")} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, telphintest.NewRequest(hookURL, hookToken, f))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	got := rec.got()
	require.Len(t, got, 8)
	for _, e := range got {
		eventtest.Check(t, e)
		for _, at := range []time.Time{e.At, e.AnsweredAt, e.EndedAt} {
			if !at.IsZero() {
				require.WithinDuration(t, before, at, 5*time.Minute)
				require.False(t, at.After(time.Now()), "no event of the call lies in the future")
			}
		}
	}
	// A fixed Start still replays a call at that time.
	fixed := telphintest.Call{Start: us(1505824724746286)}.DialIn()
	require.Equal(t, "1505824724746286", fixed.Get("EventTime"))
}

func TestHandlerUnknownEventAcknowledged(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	w := httptest.NewRecorder()
	f := url.Values{"EventType": {"voicemail"}, "CallID": {"x"}}
	newHandler(t, rec).ServeHTTP(w, telphintest.NewRequest(hookURL, hookToken, f))
	require.Equal(t, http.StatusOK, w.Code)
	require.Empty(t, rec.got())
}

func TestHandlerOptions(t *testing.T) {
	t.Parallel()
	_, err := telphin.NewHandler(&recorder{})
	require.ErrorContains(t, err, "telphin: webhook: no authentication configured")
	_, err = telphin.NewHandler(&recorder{}, webhook.WithAllowedIPs([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, nil))
	require.ErrorContains(t, err, "telphin: no token configured", "an allow-list alone is not enough")
	_, err = telphin.NewHandler(&recorder{}, webhook.WithToken(""))
	require.Error(t, err)
	_, err = telphin.NewHandler(&recorder{}, webhook.WithoutAuth(), webhook.WithDefaultCountry("XX"))
	require.Error(t, err)
	// Options Telphin has no use for are refused, not ignored.
	for name, o := range map[string]webhook.Option{
		"WithCardURL":        webhook.WithCardURL("https://crm.example/c/{id}", ""),
		"WithCardURL (new)":  webhook.WithCardURL("", "https://crm.example/new?phone={digits}"),
		"WithNewContactText": webhook.WithNewContactText("Create"),
	} {
		_, err = telphin.NewHandler(&recorder{}, webhook.WithToken(hookToken), o)
		require.ErrorContains(t, err, "telphin: "+strings.Fields(name)[0]+" is not supported", name)
	}
	_, err = telphin.NewHandler(&recorder{}, webhook.WithToken(hookToken), webhook.ProviderOption("phonet", "pause", 1))
	require.ErrorContains(t, err, "phonet.pause is an option of phonet handlers, not of telphin")
	require.Equal(t, 1, strings.Count(err.Error(), "telphin:"), err.Error())

	t.Run("account function and token function", func(t *testing.T) {
		t.Parallel()
		rec := &recorder{}
		h, err := telphin.NewHandler(rec,
			webhook.WithToken(hookToken),
			webhook.WithTokenFunc(func(r *http.Request, _ []byte) string { return r.Header.Get("X-Hook-Token") }),
			webhook.WithAccount(func(*http.Request) string { return "tenant-7" }))
		require.NoError(t, err)
		req := telphintest.NewRequest("https://crm.example/hook", "", telphintest.Call{}.DialIn())
		req.Header.Set("X-Hook-Token", hookToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Equal(t, "tenant-7", rec.got()[0].Account)
	})
	t.Run("IP allow-list", func(t *testing.T) {
		t.Parallel()
		allowed, err := webhook.ParsePrefixes("213.170.84.96/27")
		require.NoError(t, err)
		rec := &recorder{}
		h := newHandler(t, rec, webhook.WithAllowedIPs(allowed, nil))
		for addr, want := range map[string]int{"213.170.84.100:5000": http.StatusOK, "10.0.0.1:5000": http.StatusForbidden} {
			req := telphintest.NewRequest(hookURL, hookToken, telphintest.Call{}.DialIn())
			req.RemoteAddr = addr
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			require.Equal(t, want, w.Code, addr)
		}
		require.Len(t, rec.got(), 1)
	})
	t.Run("default country", func(t *testing.T) {
		t.Parallel()
		for country, want := range map[string]string{"": "79161234567", "UA": "380501112233"} {
			f := telphintest.Call{}.DialIn()
			f.Set("CallerIDNum", "8 916 123-45-67")
			opts := []webhook.Option{}
			if country != "" {
				f.Set("CallerIDNum", "050 111 22 33")
				opts = append(opts, webhook.WithDefaultCountry(country))
			}
			rec := &recorder{}
			w := httptest.NewRecorder()
			newHandler(t, rec, opts...).ServeHTTP(w, telphintest.NewRequest(hookURL, hookToken, f))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			require.Equal(t, want, rec.got()[0].ClientPhone, country)
		}
	})
	t.Run("trailing slash account", func(t *testing.T) {
		t.Parallel()
		rec := &recorder{}
		w := httptest.NewRecorder()
		newHandler(t, rec).ServeHTTP(w, telphintest.NewRequest(hookURL+"/", hookToken, telphintest.Call{}.DialIn()))
		require.Equal(t, appID, rec.got()[0].Account)
	})
}

// Tokens bound to accounts (webhook.WithTokenAccounts) name the tenant:
// the bound account is Event.Account and the account of the contact
// lookup, whatever the hook URL's path says; an unbound token keeps the
// path's account.
func TestHandlerTokenAccounts(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		looked []string
	)
	lookup := callevent.ContactLookupFunc(func(_ context.Context, account, _ string) (callevent.Contact, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		looked = append(looked, account)
		return callevent.Contact{ResponsibleExtension: "101"}, true, nil
	})
	rec := &recorder{}
	h, err := telphin.NewHandler(rec,
		webhook.WithTokenAccounts(map[string]string{"tok-acme": "acme", "tok-globex": "globex"}),
		webhook.WithToken(hookToken), // unbound
		webhook.WithContactLookup(lookup))
	require.NoError(t, err)
	for _, tt := range []struct{ token, path, want string }{
		{"tok-acme", "https://crm.example/telphin/globex", "acme"},
		{"tok-globex", "https://crm.example/telphin/acme", "globex"},
		{"tok-globex", "https://crm.example/telphin/", "globex"},
		{hookToken, "https://crm.example/telphin/initech", "initech"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, telphintest.NewRequest(tt.path, tt.token, telphintest.Call{}.DialIn()))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		got := rec.got()
		require.Equal(t, tt.want, got[len(got)-1].Account, tt.path)
		require.NotContains(t, string(got[len(got)-1].Raw), tt.token, "the token is not kept")

		w = httptest.NewRecorder()
		h.ServeHTTP(w, telphintest.NewRequest(tt.path, tt.token, telphintest.Call{}.CallInteractive()))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Contains(t, w.Body.String(), `<SetVar name="number">101</SetVar>`)
		mu.Lock()
		require.Equal(t, tt.want, looked[len(looked)-1], tt.path)
		mu.Unlock()
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, telphintest.NewRequest("https://crm.example/telphin/acme", "tok-other", telphintest.Call{}.DialIn()))
	require.Equal(t, http.StatusUnauthorized, w.Code)
}

func TestHandlerSinkFailureIs500(t *testing.T) {
	t.Parallel()
	h := newHandler(t, callevent.SinkFunc(func(context.Context, callevent.Event) error { return errors.New("db down") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, telphintest.NewRequest(hookURL, hookToken, telphintest.Call{}.DialIn()))
	require.Equal(t, http.StatusInternalServerError, w.Code)
}

func TestCallInteractive(t *testing.T) {
	t.Parallel()
	const (
		found = `<?xml version="1.0" encoding="UTF-8"?><Response><SetVar name="number">101</SetVar></Response>`
		empty = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`
	)
	release := make(chan struct{}) // a "too slow" lookup waits for the test's end
	t.Cleanup(func() { close(release) })
	lookup := func(ext string, found bool, err error, slow bool) callevent.ContactLookup {
		return callevent.ContactLookupFunc(func(ctx context.Context, account, phone string) (callevent.Contact, bool, error) {
			if account != appID || phone != "74953730763" {
				return callevent.Contact{}, false, errors.New("unexpected lookup " + account + " " + phone)
			}
			if slow {
				<-release // ignores ctx on purpose
			}
			return callevent.Contact{ResponsibleExtension: ext}, found, err
		})
	}
	tests := []struct {
		name   string
		lookup callevent.ContactLookup
		want   string
	}{
		{"known client", lookup("101", true, nil, false), found},
		{"unknown client", lookup("", false, nil, false), empty},
		{"lookup error", lookup("101", true, errors.New("crm down"), false), empty},
		{"too slow", lookup("101", true, nil, true), empty},
		{"escaped", lookup("<1&2>", true, nil, false), `<?xml version="1.0" encoding="UTF-8"?><Response><SetVar name="number">&lt;1&amp;2&gt;</SetVar></Response>`},
		{"no lookup configured", nil, empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := []webhook.Option{webhook.WithLookupTimeout(50 * time.Millisecond)}
			if tt.lookup != nil {
				opts = append(opts, webhook.WithContactLookup(tt.lookup))
			}
			rec := &recorder{}
			h := newHandler(t, rec, opts...)
			w := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(w, telphintest.NewRequest(hookURL, hookToken, mustQuery(t, readPayload(t, "call_interactive"))))
			require.Less(t, time.Since(start), 10*time.Second, "the caller must not wait for a slow lookup (released only at the end of the test)")
			require.Equal(t, http.StatusOK, w.Code)
			require.Equal(t, "text/xml; charset=utf-8", w.Header().Get("Content-Type"))
			body, _ := io.ReadAll(w.Body)
			require.Equal(t, tt.want, string(body))
			require.Empty(t, rec.got(), "call_interactive is a question, not an event")
		})
	}
}

// call_interactive produces no event for the shared validator to check:
// its fields are bounded and its phone checked at decode time, before any
// lookup runs.
func TestCallInteractiveBounded(t *testing.T) {
	t.Parallel()
	var lookups atomic.Int32
	lookup := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		lookups.Add(1)
		return callevent.Contact{ResponsibleExtension: "101"}, true, nil
	})
	h := newHandler(t, &recorder{}, webhook.WithContactLookup(lookup))
	big := strings.Repeat("7", 1<<20-4096)
	for _, tt := range []struct{ field, value, msg string }{
		{"CallerIDNum", big, "CallerIDNum: "},
		{"CallerIDName", big, "CallerIDName: "},
		{"CallID", big, "CallID: "},
		{"CalledExtension", strings.Repeat("x", 300), "CalledExtension: 300 bytes"},
		{"CallerIDNum", strings.Repeat("7", 100), "CallerIDNum"},
		{"CallerIDNum", "drop table", "CallerIDNum"},
	} {
		f := mustQuery(t, readPayload(t, "call_interactive"))
		f.Set(tt.field, tt.value)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, telphintest.NewRequest(hookURL, hookToken, f))
		require.Equal(t, http.StatusBadRequest, w.Code, tt.field)
		require.Contains(t, w.Body.String(), tt.msg)
		require.Less(t, w.Body.Len(), 1024, "the value is not echoed")
	}
	require.Zero(t, lookups.Load(), "no lookup for a refused request")

	// The well-formed request is answered (the lookup counter works).
	w := httptest.NewRecorder()
	h.ServeHTTP(w, telphintest.NewRequest(hookURL, hookToken, mustQuery(t, readPayload(t, "call_interactive"))))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, int32(1), lookups.Load())
}
