package phonet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/webhook"
)

const (
	token   = "s3cret-token"
	account = "acme.phonet.com.ua"
	inUUID  = "5c3d2e1f0a9b4c8d7e6f5a4b3c2d1e0f"
)

// recorder is a Sink that keeps the events it got.
type recorder struct {
	mu     sync.Mutex
	events []callevent.Event
	err    error
}

func (r *recorder) HandleEvent(_ context.Context, e callevent.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) got() []callevent.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]callevent.Event(nil), r.events...)
}

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return bytes.TrimSpace(b)
}

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

// sampleDay is when the recorded sample calls (testdata, and the
// phonettest calls moved with At) started ringing; sampleClock is a
// handler clock shortly after, so their times are inside the time window.
var sampleDay = ms(1754641204000)

func sampleClock() time.Time { return sampleDay.Add(time.Hour) }

// The phonettest sample calls at sampleDay, for tests comparing exact times.
func inboundCall() phonettest.Call  { return phonettest.InboundCall().At(sampleDay) }
func outboundCall() phonettest.Call { return phonettest.OutboundCall().At(sampleDay) }

// newHandler is a handler with the test token and sampleClock.
func newHandler(t testing.TB, sink callevent.Sink, opts ...webhook.Option) http.Handler {
	t.Helper()
	h, err := phonet.NewHandler(sink, append([]webhook.Option{webhook.WithToken(token), webhook.WithClock(sampleClock)}, opts...)...)
	require.NoError(t, err)
	return h
}

func post(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func rawRequest(body []byte, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/phonet?token="+token, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// The incoming call of the facts file §7.6, as every event shares it.
func inbound(kind callevent.Kind, event string, at time.Time) callevent.Event {
	return callevent.Event{
		ID: webhook.EventID("phonet", account, inUUID, event), Provider: "phonet", Account: account,
		Kind: kind, Direction: callevent.Inbound, CallID: inUUID,
		ClientPhone: "380501112233", LinePhone: "380442000000", Extension: "001", Employee: "Олена Коваль",
		At: at,
	}
}

func TestHandlerGoldenPayloads(t *testing.T) {
	t.Parallel()
	dial := inbound(callevent.Ringing, "call.dial", ms(1754641204000))
	bridge := inbound(callevent.Answered, "call.bridge", ms(1754641217000))
	bridge.AnsweredAt = bridge.At
	hangup := inbound(callevent.Ended, "call.hangup", ms(1754641335000))
	hangup.AnsweredAt, hangup.EndedAt = ms(1754641217000), hangup.At
	completed := inbound(callevent.Completed, "after_call_end", ms(1754641204000))
	completed.Status = callevent.Success
	completed.AnsweredAt, completed.EndedAt = ms(1754641217000), ms(1754641335000)
	completed.Duration, completed.Wait = 118*time.Second, 13*time.Second
	completed.RecordingURL = "https://acme.phonet.com.ua/rest/public/calls/" + inUUID + "/audio"

	tests := []struct {
		file string
		want []callevent.Event
	}{
		{"dial_incoming.json", []callevent.Event{dial}},
		{"bridge_incoming.json", []callevent.Event{bridge}},
		{"hangup_incoming.json", []callevent.Event{hangup}},
		{"dial_internal.json", []callevent.Event{{
			ID: webhook.EventID("phonet", account, "68333cd7aa94421e89dbc8acfe5027bb", "call.dial"), Provider: "phonet",
			Account: account, Kind: callevent.Ringing, Direction: callevent.Internal, CallID: "68333cd7aa94421e89dbc8acfe5027bb",
			Extension: "001", Employee: "Олена Коваль", At: ms(1754641001000),
		}}},
		{"after_call_end.json", []callevent.Event{completed}},
		{"ws_error.json", nil}, // §7.9: an error frame is acknowledged, nothing emitted
		{"lookup.json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			body := golden(t, tt.file)
			for i := range tt.want {
				tt.want[i].Raw = json.RawMessage(body)
			}
			sink := &recorder{}
			w := post(newHandler(t, sink), rawRequest(body, "application/json"))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			require.Empty(t, cmp.Diff(tt.want, sink.got(), cmpopts.EquateEmpty()))

			// The pure layer gives the same events.
			got, err := phonet.ParseEvents("application/json", body, "")
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(tt.want, got, cmpopts.EquateEmpty()))
		})
	}
}

// TestHistoryRecordEvents maps the history rows of §7.4 to Completed events.
func TestHistoryRecordEvents(t *testing.T) {
	t.Parallel()
	var recs []phonet.CallRecord
	require.NoError(t, json.Unmarshal(golden(t, "history_company.json"), &recs))
	require.Len(t, recs, 2)
	want := []callevent.Event{{
		ID: webhook.EventID("phonet", "", "9b2f6c1e4d8a4f0b8c3e7a5d1f2b6c90", "after_call_end"), Provider: "phonet",
		Kind: callevent.Completed, Direction: callevent.Outbound, Status: callevent.Success,
		CallID: "9b2f6c1e4d8a4f0b8c3e7a5d1f2b6c90", ClientPhone: "380671234567", LinePhone: "380442000000",
		Extension: "001", Employee: "Олена Коваль",
		At: ms(1754641204000), AnsweredAt: ms(1754641217000), EndedAt: ms(1754641335000),
		Duration: 118 * time.Second, Wait: 13 * time.Second,
		RecordingURL: "https://acme.phonet.com.ua/rest/public/calls/9b2f6c1e4d8a4f0b8c3e7a5d1f2b6c90/audio",
	}, {
		ID: webhook.EventID("phonet", "", "1d0e9a8b7c6f4e5d9a0b1c2d3e4f5a6b", "after_call_end"), Provider: "phonet",
		Kind: callevent.Completed, Direction: callevent.Inbound, Status: callevent.Missed,
		CallID: "1d0e9a8b7c6f4e5d9a0b1c2d3e4f5a6b", ClientPhone: "380501112233",
		Extension: "500", Group: "Відділ продажу",
		At: ms(1754641985000), EndedAt: ms(1754642010000), Wait: 25 * time.Second,
	}}
	for i, rec := range recs {
		got, err := rec.ToEvent("")
		require.NoError(t, err)
		require.NoError(t, got.Validate())
		require.True(t, json.Valid(got.Raw))
		got.Raw = nil
		require.Empty(t, cmp.Diff(want[i], got), "record %d", i)
	}
	require.Equal(t, phonet.DispositionNoAnswer, recs[1].Disposition)
	require.Equal(t, "500 > 002", recs[1].TransferHistory)
	require.Equal(t, phonet.LegGroup, recs[1].Leg.Type)
}

// TestHandlerQuirks covers what real deliveries do differently from the
// documentation, built with phonettest.
func TestHandlerQuirks(t *testing.T) {
	t.Parallel()
	in := inboundCall()
	dial := inbound(callevent.Ringing, "call.dial", ms(1754641204000))
	answered := outboundCall()
	unanswered := inboundCall()
	unanswered.BridgeAt = time.Time{}
	missed := inbound(callevent.Completed, "after_call_end", ms(1754641204000))
	missed.Status, missed.EndedAt, missed.Wait = callevent.Missed, ms(1754641335000), 131*time.Second

	tests := []struct {
		name string
		req  *http.Request
		want []callevent.Event
	}{
		{"timestamps in seconds", in.Dial().InSeconds().Request("/phonet", phonettest.WithToken(token)),
			[]callevent.Event{dial}},
		{"form-encoded body", in.Dial().Request("/phonet", phonettest.WithToken(token), phonettest.AsForm()),
			[]callevent.Event{dial}},
		{"numbers as strings", in.Dial().With("lgDirection", "4").With("dialAt", "1754641204000").
			Request("/phonet", phonettest.WithToken(token)), []callevent.Event{dial}},
		{"test call with nulls in leg", in.Dial().NullLeg().Request("/phonet", phonettest.WithToken(token)),
			[]callevent.Event{func() callevent.Event { e := dial; e.Extension, e.Employee = "", ""; return e }()}},
		{"anonymous caller", in.Dial().With("otherLegs", []any{map[string]any{"num": "anonymous"}}).
			Request("/phonet", phonettest.WithToken(token)),
			[]callevent.Event{func() callevent.Event { e := dial; e.ClientPhone = ""; return e }()}},
		{"national number", in.Dial().With("otherLegs", []any{map[string]any{"num": "0501112233"}}).
			Request("/phonet", phonettest.WithToken(token)), []callevent.Event{dial}},
		{"hangup without hangupAt uses serverTime", in.Hangup().Without("hangupAt").Request("/phonet", phonettest.WithToken(token)),
			[]callevent.Event{func() callevent.Event {
				e := inbound(callevent.Ended, "call.hangup", ms(1754641335350))
				e.AnsweredAt, e.EndedAt = ms(1754641217000), e.At
				return e
			}()}},
		{"outbound answered", answered.Bridge().Request("/phonet", phonettest.WithToken(token)),
			[]callevent.Event{{
				ID: webhook.EventID("phonet", account, answered.UUID, "call.bridge"), Provider: "phonet", Account: account,
				Kind: callevent.Answered, Direction: callevent.Outbound, CallID: answered.UUID,
				ClientPhone: "380671234567", LinePhone: "380442000000", Extension: "002", Employee: "Петро Шевченко",
				At: ms(1754641212000), AnsweredAt: ms(1754641212000),
			}}},
		{"full info of an unanswered call", unanswered.Record().Request("/phonet", phonettest.WithToken(token)),
			[]callevent.Event{missed}},
		{"full info with padded recording URL, form-encoded", in.Record().Request("/phonet", phonettest.WithToken(token), phonettest.AsForm()),
			[]callevent.Event{func() callevent.Event {
				e := inbound(callevent.Completed, "after_call_end", ms(1754641204000))
				e.Status, e.AnsweredAt, e.EndedAt = callevent.Success, ms(1754641217000), ms(1754641335000)
				e.Duration, e.Wait = 118*time.Second, 13*time.Second
				e.RecordingURL = "https://acme.phonet.com.ua/rest/public/calls/" + inUUID + "/audio"
				return e
			}()}},
		{"unknown event acknowledged", in.Dial().With("event", "call.transfer").Request("/phonet", phonettest.WithToken(token)), nil},
		{"pause on is not a call", phonettest.Pause(true, account, "001", "Олена Коваль", ms(1754641204000)).
			Request("/phonet", phonettest.WithToken(token)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			w := post(newHandler(t, sink), tt.req)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			require.JSONEq(t, `{}`, w.Body.String())
			got := sink.got()
			for i := range got {
				require.True(t, json.Valid(got[i].Raw), "raw is JSON")
				require.Contains(t, string(got[i].Raw), `"uuid"`)
				got[i].Raw = nil
			}
			require.Empty(t, cmp.Diff(tt.want, got, cmpopts.EquateEmpty()))
		})
	}
}

func TestHandlerDuplicates(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h := newHandler(t, sink)
	c := inboundCall()
	for _, b := range []phonettest.Body{c.Dial(), c.Dial(), c.Bridge(), c.Dial().InSeconds(), c.Bridge()} {
		require.Equal(t, http.StatusOK, post(h, b.Request("/phonet", phonettest.WithToken(token))).Code)
	}
	got := sink.got()
	require.Len(t, got, 2, "redeliveries are no-ops")
	require.Equal(t, callevent.Ringing, got[0].Kind)
	require.Equal(t, callevent.Answered, got[1].Kind)
}

func TestHandlerPauseFunc(t *testing.T) {
	t.Parallel()
	var pauses []phonet.Pause
	sink := &recorder{}
	h := newHandler(t, sink, phonet.WithPauseFunc(func(_ context.Context, p phonet.Pause) error {
		pauses = append(pauses, p)
		return nil
	}))
	at := ms(1754641204000)
	require.Equal(t, http.StatusOK, post(h, phonettest.Pause(true, account, "001", "Олена Коваль", at).Request("/p", phonettest.WithToken(token))).Code)
	require.Equal(t, http.StatusOK, post(h, phonettest.Pause(false, account, "001", "Олена Коваль", at.Add(time.Minute)).Request("/p", phonettest.WithToken(token))).Code)
	require.Empty(t, sink.got())
	require.Len(t, pauses, 2)
	for i, p := range pauses {
		require.NotNil(t, p.Event)
		pauses[i].Event = nil
	}
	want := []phonet.Pause{
		{Account: account, Extension: "001", Employee: "Олена Коваль", On: true, At: at},
		{Account: account, Extension: "001", Employee: "Олена Коваль", On: false, At: at.Add(time.Minute)},
	}
	require.Empty(t, cmp.Diff(want, pauses))

	failing := newHandler(t, sink, phonet.WithPauseFunc(func(context.Context, phonet.Pause) error { return errors.New("db down") }))
	require.Equal(t, http.StatusInternalServerError,
		post(failing, phonettest.Pause(true, account, "001", "", at).Request("/p", phonettest.WithToken(token))).Code)
}

func TestHandlerBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, ct string
		want           int
	}{
		{"empty", "", "application/json", http.StatusBadRequest},
		{"broken JSON", `{"event":`, "application/json", http.StatusBadRequest},
		{"JSON array", `[{"event":"call.dial"}]`, "application/json", http.StatusBadRequest},
		{"event without uuid", `{"event":"call.dial","dialAt":1754641204000}`, "application/json", http.StatusBadRequest},
		{"event without any time", `{"event":"call.dial","uuid":"u1"}`, "", http.StatusBadRequest},
		{"record without endAt", `{"uuid":"u1","billSecs":5}`, "", http.StatusBadRequest},
		{"lgDirection not a number", `{"event":"call.dial","uuid":"u1","dialAt":1,"lgDirection":"in"}`, "", http.StatusBadRequest},
		{"leg is a string", `{"event":"call.dial","uuid":"u1","dialAt":1,"leg":"001"}`, "", http.StatusBadRequest},
		{"conflicting form keys", "leg=1&leg[ext]=2", "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"broken form", "a=%zz", "application/x-www-form-urlencoded", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			w := post(newHandler(t, sink), rawRequest([]byte(tt.body), tt.ct))
			require.Equal(t, tt.want, w.Code, w.Body.String())
			require.Empty(t, sink.got())
		})
	}
}

func TestHandlerSinkFailure(t *testing.T) {
	t.Parallel()
	sink := &recorder{err: errors.New("crm down")}
	h := newHandler(t, sink)
	req := func() *http.Request {
		return inboundCall().Dial().Request("/p", phonettest.WithToken(token))
	}
	require.Equal(t, http.StatusInternalServerError, post(h, req()).Code)
	sink.mu.Lock()
	sink.err = nil
	sink.mu.Unlock()
	require.Equal(t, http.StatusOK, post(h, req()).Code, "the redelivery after a failure is processed")
	require.Len(t, sink.got(), 1)
}

func TestHandlerAuth(t *testing.T) {
	t.Parallel()
	phonetIP := phonettest.DefaultRemoteAddr
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	body := phonettest.InboundCall().Dial()
	viaProxy := func(xff string) *http.Request {
		r := body.Request("/p", phonettest.FromAddr("10.1.2.3:5000"))
		r.Header.Set("X-Forwarded-For", xff)
		return r
	}
	tests := []struct {
		name string
		opts []webhook.Option
		req  *http.Request
		want int
	}{
		{"token ok", []webhook.Option{webhook.WithToken(token)}, body.Request("/p", phonettest.WithToken(token)), 200},
		{"token missing", []webhook.Option{webhook.WithToken(token)}, body.Request("/p"), 401},
		{"token wrong", []webhook.Option{webhook.WithToken(token)}, body.Request("/p", phonettest.WithToken("nope")), 401},
		{"rotated token", []webhook.Option{webhook.WithToken("old", token)}, body.Request("/p", phonettest.WithToken("old")), 200},
		{"token in path", []webhook.Option{webhook.WithToken(token),
			webhook.WithTokenFunc(func(r *http.Request, _ []byte) string { return r.URL.Path[len("/phonet/"):] })},
			body.Request("/phonet/" + token), 200},
		{"token in path wrong", []webhook.Option{webhook.WithToken(token),
			webhook.WithTokenFunc(func(r *http.Request, _ []byte) string { return r.URL.Path[len("/phonet/"):] })},
			body.Request("/phonet/other", phonettest.WithToken(token)), 401},
		{"Phonet IP", []webhook.Option{webhook.WithAllowedIPs(phonet.PhonetIPs(), nil)}, body.Request("/p"), 200},
		{"other IP", []webhook.Option{webhook.WithAllowedIPs(phonet.PhonetIPs(), nil)},
			body.Request("/p", phonettest.FromAddr("203.0.113.9:1234")), 403},
		{"spoofed X-Forwarded-For", []webhook.Option{webhook.WithAllowedIPs(phonet.PhonetIPs(), nil)},
			func() *http.Request {
				r := body.Request("/p", phonettest.FromAddr("203.0.113.9:1234"))
				r.Header.Set("X-Forwarded-For", "89.184.65.208")
				return r
			}(), 403},
		{"Phonet behind trusted proxy", []webhook.Option{webhook.WithAllowedIPs(phonet.PhonetIPs(), proxies)},
			viaProxy("89.184.82.130"), 200},
		{"stranger behind trusted proxy", []webhook.Option{webhook.WithAllowedIPs(phonet.PhonetIPs(), proxies)},
			viaProxy("203.0.113.9"), 403},
		{"IP and token: both pass", []webhook.Option{webhook.WithToken(token), webhook.WithAllowedIPs(phonet.PhonetIPs(), nil)},
			body.Request("/p", phonettest.WithToken(token), phonettest.FromAddr(phonetIP)), 200},
		{"IP and token: token missing", []webhook.Option{webhook.WithToken(token), webhook.WithAllowedIPs(phonet.PhonetIPs(), nil)},
			body.Request("/p"), 401},
		{"without auth", []webhook.Option{webhook.WithoutAuth()}, body.Request("/p", phonettest.FromAddr("203.0.113.9:1")), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			lookups := 0
			opts := append(tt.opts, webhook.WithContactLookup(callevent.ContactLookupFunc(
				func(context.Context, string, string) (callevent.Contact, bool, error) {
					lookups++
					return callevent.Contact{}, false, nil
				})))
			h, err := phonet.NewHandler(sink, opts...)
			require.NoError(t, err)
			w := post(h, tt.req)
			require.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.want != http.StatusOK {
				require.Empty(t, sink.got(), "a rejected request has no side effects")
				// A rejected lookup does not reach the ContactLookup either.
				lr := phonettest.InboundCall().Lookup().Request(tt.req.URL.String())
				lr.RemoteAddr, lr.Header = tt.req.RemoteAddr, tt.req.Header.Clone()
				require.Equal(t, tt.want, post(h, lr).Code)
				require.Zero(t, lookups)
			} else {
				require.Len(t, sink.got(), 1)
			}
		})
	}
}

func TestNewHandlerErrors(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	tests := []struct {
		name string
		opts []webhook.Option
	}{
		{"no auth configured", nil},
		{"empty token", []webhook.Option{webhook.WithToken("")}},
		{"no tokens", []webhook.Option{webhook.WithToken()}},
		{"empty allow-list", []webhook.Option{webhook.WithAllowedIPs(nil, nil)}},
		{"unknown country", []webhook.Option{webhook.WithoutAuth(), webhook.WithDefaultCountry("XX")}},
		{"bad card URL", []webhook.Option{webhook.WithoutAuth(), webhook.WithCardURL("crm/{id}", "")}},
		{"zero lookup timeout", []webhook.Option{webhook.WithoutAuth(), webhook.WithLookupTimeout(0)}},
		{"nil lookup", []webhook.Option{webhook.WithoutAuth(), webhook.WithContactLookup(nil)}},
		{"nil pause func", []webhook.Option{webhook.WithoutAuth(), phonet.WithPauseFunc(nil)}},
		{"empty new contact text", []webhook.Option{webhook.WithoutAuth(), webhook.WithNewContactText(" ")}},
		{"nil logger", []webhook.Option{webhook.WithoutAuth(), webhook.WithLogger(nil)}},
		{"bad webhook option", []webhook.Option{webhook.WithoutAuth(), webhook.WithMaxBodyBytes(0)}},
		{"another provider's option", []webhook.Option{webhook.WithoutAuth(), webhook.ProviderOption("megafon", "X", 1)}},
	}
	for _, tt := range tests {
		h, err := phonet.NewHandler(sink, tt.opts...)
		require.Error(t, err, tt.name)
		require.Nil(t, h, tt.name)
		require.True(t, strings.HasPrefix(err.Error(), "phonet: "), "%s: %v", tt.name, err)
		require.NotContains(t, err.Error(), "phonet: phonet:", tt.name)
	}
	_, err := phonet.NewHandler(nil, webhook.WithoutAuth())
	require.Error(t, err, "nil sink")
}

// The errors of options say which option is wrong, once prefixed: an
// option of another provider's handler is refused, naming it.
func TestNewHandlerOptionErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		opt  webhook.Option
		want string
	}{
		"another provider's option": {webhook.ProviderOption("megafon", "X", 1),
			"phonet: webhook: megafon.X is an option of megafon handlers, not of phonet"},
		"nil pause func":       {phonet.WithPauseFunc(nil), "phonet: WithPauseFunc: nil function"},
		"not a pause func":     {webhook.ProviderOption("phonet", "WithPauseFunc", 1), "phonet: WithPauseFunc: a int is not a pause function"},
		"blank contact text":   {webhook.WithNewContactText(" \t"), "phonet: WithNewContactText: empty text"},
		"unknown country":      {webhook.WithDefaultCountry("XX"), "phonet: webhook: WithDefaultCountry"},
		"nil token func":       {webhook.WithTokenFunc(nil), "phonet: webhook: WithTokenFunc: nil function"},
		"relative card":        {webhook.WithCardURL("", "/new?p={phone}"), "phonet: webhook: WithCardURL"},
		"nil account function": {webhook.WithAccount(nil), "phonet: webhook: WithAccount: nil function"},
	} {
		_, err := phonet.NewHandler(&recorder{}, webhook.WithoutAuth(), tc.opt)
		require.ErrorContains(t, err, tc.want, name)
		require.True(t, strings.HasPrefix(err.Error(), tc.want), "%s: %v", name, err)
	}
	// This package's own option is taken wherever it stands among the
	// options (it only needs ForProvider, which NewHandler gives first).
	h, err := phonet.NewHandler(&recorder{}, phonet.WithPauseFunc(func(context.Context, phonet.Pause) error { return nil }),
		webhook.WithoutAuth())
	require.NoError(t, err)
	require.NotNil(t, h)
}

func TestPhonetIPs(t *testing.T) {
	t.Parallel()
	ips := phonet.PhonetIPs()
	want := []string{"89.184.65.208/32", "89.184.82.130/32", "89.184.67.228/32", "89.184.82.191/32", "89.184.65.137/32", "95.213.132.131/32"}
	got := make([]string, len(ips))
	for i, p := range ips {
		got[i] = p.String()
	}
	require.Equal(t, want, got)
	ips[0] = netip.Prefix{}
	require.Equal(t, want[0], phonet.PhonetIPs()[0].String(), "callers cannot change the list")
}

// Every disposition of the full call info, by direction: no answer is
// Missed only for an incoming call (callevent: Missed is an inbound call
// nobody answered); an outgoing or internal one is NotAvailable.
func TestRecordDispositionStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		disposition any // nil: absent
		direction   int
		want        callevent.Status
	}{
		{0, 4, callevent.Success},
		{1, 4, callevent.Missed},
		{2, 4, callevent.NotAvailable},
		{3, 4, callevent.Failed},
		{4, 4, callevent.Busy},
		{7, 4, 0},   // unknown
		{nil, 4, 0}, // none sent
		{"1", 4, callevent.Missed},
		{0, 2, callevent.Success},
		{1, 2, callevent.NotAvailable},
		{1, 1, callevent.NotAvailable},
		{2, 2, callevent.NotAvailable},
		{3, 1, callevent.Failed},
		{4, 2, callevent.Busy},
		{1, 0, callevent.Missed}, // direction unknown: as inbound
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v_dir%d", tt.disposition, tt.direction), func(t *testing.T) {
			t.Parallel()
			body := phonettest.InboundCall().Record().With("lgDirection", tt.direction).Without("disposition")
			if tt.disposition != nil {
				body = body.With("disposition", tt.disposition)
			}
			events, err := phonet.ParseEvents("application/json", body.JSON(), "")
			require.NoError(t, err)
			require.Len(t, events, 1)
			require.Equal(t, callevent.Completed, events[0].Kind)
			require.Equal(t, tt.want, events[0].Status)
			require.NoError(t, events[0].Validate())
		})
	}
}

// A pause toggle (lgDirection 32/64) in a full call info is acknowledged
// and not emitted as a call.
func TestRecordPauseNotEmitted(t *testing.T) {
	t.Parallel()
	for _, dir := range []int{32, 64} {
		body := phonettest.InboundCall().Record().With("lgDirection", dir)
		n, err := phonet.ParseNotification("application/json", body.JSON())
		require.NoError(t, err)
		require.Equal(t, phonet.KindCallRecord, n.Kind)
		events, err := n.Events("")
		require.NoError(t, err)
		require.Empty(t, events, "lgDirection %d", dir)

		sink := &recorder{}
		w := post(newHandler(t, sink), body.Request("/phonet/after_call_end", phonettest.WithToken(token)))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.JSONEq(t, `{}`, w.Body.String())
		require.Empty(t, sink.got())
	}
}

// A body without event is a call record only with endAt (or record fields
// and no otherLegNum); a lookup carrying call fields stays a lookup.
func TestNotificationKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want phonet.NotificationKind
	}{
		{`{"otherLegNum":"+380501112233","trunkNum":"+380442000000"}`, phonet.KindLookup},
		{`{"otherLegNum":"+380501112233","uuid":"u","lgDirection":4,"duration":3}`, phonet.KindLookup},
		{`{"otherLegNum":"+380501112233","billSecs":5,"disposition":0}`, phonet.KindLookup},
		{`{"otherLegNum":"+380501112233","endAt":1754641335000,"duration":3}`, phonet.KindCallRecord},
		{`{"uuid":"u1","billSecs":5}`, phonet.KindCallRecord}, // a record without endAt: an error later
		{`{"uuid":"u1","disposition":1}`, phonet.KindCallRecord},
		{`{"event":"call.dial","otherLegNum":"+380501112233","endAt":1}`, phonet.KindCallEvent},
	}
	for _, tt := range tests {
		n, err := phonet.ParseNotification("application/json", []byte(tt.body))
		require.NoError(t, err, tt.body)
		require.Equal(t, tt.want, n.Kind, tt.body)
	}

	// Through the handler: the lookup is answered, not rejected with 400.
	var phones []string
	h := newHandler(t, &recorder{}, webhook.WithContactLookup(callevent.ContactLookupFunc(
		func(_ context.Context, _, phone string) (callevent.Contact, bool, error) {
			phones = append(phones, phone)
			return callevent.Contact{Name: "Іван"}, true, nil
		})))
	w := post(h, rawRequest([]byte(`{"otherLegNum":"+380501112233","uuid":"u","lgDirection":4,"duration":3}`), "application/json"))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `"name":"Іван"`)
	require.Equal(t, []string{"380501112233"}, phones)
}

// leg, leg2 and otherLegs sent as "", {} or [] are null, not a 400 that
// Phonet would redeliver forever; a real wrong type is still rejected.
func TestBlankLegsAreNull(t *testing.T) {
	t.Parallel()
	dial := inbound(callevent.Ringing, "call.dial", ms(1754641204000))
	noLeg := dial
	noLeg.Extension, noLeg.Employee = "", ""
	noClient := dial
	noClient.ClientPhone = ""
	in := inboundCall()
	tests := []struct {
		name string
		body phonettest.Body
		want callevent.Event
	}{
		{`leg ""`, in.Dial().With("leg", ""), noLeg},
		{`leg {}`, in.Dial().With("leg", map[string]any{}), noLeg},
		{`leg []`, in.Dial().With("leg", []any{}), noLeg},
		{`leg " "`, in.Dial().With("leg", " "), noLeg},
		{`leg2 ""`, in.Dial().With("leg2", ""), dial},
		{`leg2 []`, in.Dial().With("leg2", []any{}), dial},
		{`otherLegs {}`, in.Dial().With("otherLegs", map[string]any{}), noClient},
		{`otherLegs ""`, in.Dial().With("otherLegs", ""), noClient},
		{`otherLegs []`, in.Dial().With("otherLegs", []any{}), noClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			w := post(newHandler(t, sink), tt.body.Request("/phonet/call", phonettest.WithToken(token)))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			got := sink.got()
			require.Len(t, got, 1)
			got[0].Raw = nil
			require.Empty(t, cmp.Diff(tt.want, got[0]))
		})
	}

	// The same in a full call info.
	rec := inboundCall().Record().With("leg", "").With("leg2", map[string]any{})
	n, err := phonet.ParseNotification("application/json", rec.JSON())
	require.NoError(t, err)
	require.Nil(t, n.Record.Leg)
	require.Nil(t, n.Record.Leg2)
	events, err := n.Events("")
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Empty(t, events[0].Extension)

	// Not blank: still the wrong type.
	for _, body := range []string{
		`{"event":"call.dial","uuid":"u1","dialAt":1,"leg":"001"}`,
		`{"event":"call.dial","uuid":"u1","dialAt":1,"leg":[1]}`,
		`{"event":"call.dial","uuid":"u1","dialAt":1,"otherLegs":{"num":"+380501112233"}}`,
		`{"event":"call.dial","uuid":"u1","dialAt":1,"otherLegs":"x"}`,
	} {
		_, err := phonet.ParseNotification("application/json", []byte(body))
		require.ErrorIs(t, err, webhook.ErrBadRequest, body)
	}
}

// webhook.WithToken adds tokens: one given in a second option does not replace
// the first (a rotation token is never silently dropped).
func TestWithTokenAppends(t *testing.T) {
	t.Parallel()
	h, err := phonet.NewHandler(&recorder{}, webhook.WithToken("old"), webhook.WithToken("new", "newer"))
	require.NoError(t, err)
	body := phonettest.InboundCall().Dial()
	for tok, want := range map[string]int{"old": 200, "new": 200, "newer": 200, "other": 401} {
		require.Equal(t, want, post(h, body.Request("/p", phonettest.WithToken(tok))).Code, tok)
	}
	_, err = phonet.NewHandler(&recorder{}, webhook.WithToken("old"), webhook.WithToken(""))
	require.Error(t, err, "an empty token is still refused")
}

// webhook.WithAccount supplies the tenant of call events and records from the
// route (Event.Account and Event.ID); a body naming the same tenant is
// accepted, one naming another is refused with 403 and nothing delivered.
func TestWithAccountEvents(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h := newHandler(t, sink, webhook.WithAccount(func(r *http.Request) string { return path.Base(r.URL.Path) }))
	in := inboundCall()
	for _, b := range []phonettest.Body{in.Dial().Without("accountDomain"), in.Record().With("accountDomain", nil),
		in.Bridge().With("accountDomain", "TENANT7")} {
		w := post(h, b.Request("/phonet/call/tenant7", phonettest.WithToken(token)))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	got := sink.got()
	require.Len(t, got, 3)
	require.Equal(t, "tenant7", got[0].Account)
	require.Equal(t, webhook.EventID("phonet", "tenant7", inUUID, "call.dial"), got[0].ID)
	require.Equal(t, "tenant7", got[1].Account)
	require.Equal(t, webhook.EventID("phonet", "tenant7", inUUID, "after_call_end"), got[1].ID)
	require.Equal(t, "tenant7", got[2].Account, "the route's spelling is the account")

	w := post(h, in.Hangup().Request("/phonet/call/tenant7", phonettest.WithToken(token)))
	require.Equal(t, http.StatusForbidden, w.Code, "the body names another tenant than the route: %s", w.Body.String())
	require.Len(t, sink.got(), 3, "nothing delivered")

	var pauses []phonet.Pause
	h = newHandler(t, sink, webhook.WithAccount(func(*http.Request) string { return "tenant7" }),
		phonet.WithPauseFunc(func(_ context.Context, p phonet.Pause) error { pauses = append(pauses, p); return nil }))
	require.Equal(t, http.StatusOK, post(h, phonettest.Pause(true, "", "001", "", ms(1754641204000)).
		Request("/p", phonettest.WithToken(token))).Code)
	require.Equal(t, http.StatusForbidden, post(h, phonettest.Pause(true, "other", "001", "", ms(1754641204000)).
		Request("/p", phonettest.WithToken(token))).Code)
	require.Len(t, pauses, 1)
	require.Equal(t, "tenant7", pauses[0].Account)

	_, err := phonet.NewHandler(sink, webhook.WithoutAuth(), webhook.WithAccount(nil))
	require.Error(t, err)
}
