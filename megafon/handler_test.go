package megafon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/webhook"
)

const (
	token   = "t1xdeOwWSIqgDol70CkRdK3WD4N4cm"
	account = megafontest.Domain
)

// now is the fixed receipt time of the handler under test.
var now = time.Date(2023, 1, 1, 12, 5, 0, 0, time.UTC)

func clock() time.Time { return now }

// recorder is a Sink recording every event.
type recorder struct {
	mu     sync.Mutex
	events []callevent.Event
}

func (s *recorder) HandleEvent(_ context.Context, e callevent.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

func (s *recorder) got() []callevent.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]callevent.Event(nil), s.events...)
}

// accountIs is webhook.WithAccount with a fixed account.
func accountIs(a string) webhook.Option {
	return webhook.WithAccount(func(*http.Request) string { return a })
}

func newHandler(t *testing.T, sink callevent.Sink, opts ...webhook.Option) http.Handler {
	t.Helper()
	base := []webhook.Option{webhook.WithToken(token), accountIs(account), webhook.WithClock(clock)}
	h, err := megafon.NewHandler(sink, append(base, opts...)...)
	require.NoError(t, err)
	return h
}

// post sends body (form-encoded unless it starts with "{") to h.
func post(h http.Handler, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/megafon/callback", strings.NewReader(body))
	ct := "application/x-www-form-urlencoded"
	if strings.HasPrefix(body, "{") {
		ct = "application/json"
	}
	r.Header.Set("Content-Type", ct)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// rawOf is the expected Event.Raw: the form fields without crm_token.
func rawOf(t *testing.T, body string) json.RawMessage {
	t.Helper()
	f, err := url.ParseQuery(body)
	require.NoError(t, err)
	m := map[string]string{}
	for k := range f {
		if k != "crm_token" {
			m[k] = f.Get(k)
		}
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// eventID is the documented ID: (provider, account, callid, cmd, type, user, ext, second_callid).
func eventID(callID, cmd, typ, user, ext, second string) string {
	return webhook.EventID("megafon", account, callID, cmd, typ, user, ext, second)
}

const (
	// §7 G: event INCOMING, as captured.
	sampleIncoming = "cmd=event&type=INCOMING&direction=in&phone=79173996537&diversion=79223562839" +
		"&user=andy%40vats123456.megapbx.ru&groupRealName=%D0%9F%D1%80%D0%BE%D0%B4%D0%B0%D0%B6%D0%B8" +
		"&ext=701&telnum=74951234567&callid=1ce30f7a-0a0a-40c7-a621-0db97a8d70fb&crm_token=" + token + "&z-flag=0"
	incomingCallID = "1ce30f7a-0a0a-40c7-a621-0db97a8d70fb"
	// §7 H: history of an answered inbound call.
	sampleHistory = "cmd=history&type=in&status=Success&phone=79161234567&diversion=74952302706" +
		"&user=andy&ext=701&groupRealName=%D0%9F%D1%80%D0%BE%D0%B4%D0%B0%D0%B6%D0%B8&telnum=74951234567" +
		"&start=20230101T120000Z&duration=127&callid=HLH8HFM77S000035" +
		"&link=https%3A%2F%2Fvats123456.megapbx.ru%2Frec%2Frec.mp3&crm_token=" + token + "&z-flag=0"
	// §7 H: a missed call reported by the switch itself: user=pbx, group, lower-case status, no start.
	sampleSwitchMissed = "cmd=history&type=in&status=missed&user=pbx&group=g_e2079b5f-25f7-4743-9323-761429e73aeb" +
		"&groupRealName=%D0%9F%D1%80%D0%BE%D0%B4%D0%B0%D0%B6%D0%B8&phone=79161234567&diversion=74952302706" +
		"&duration=0&callid=J5H44UHD0G000036&missedStatus=3&crm_token=" + token
	// §7 H: a failed outbound call.
	sampleBusy = "cmd=history&type=out&status=Busy&user=admin&ext=701&phone=79161234567&start=20170905T150852Z" +
		"&duration=0&callid=28187487-edcf-4d23-9f95-c8591fbd9936&crm_token=" + token
	// §7 J: rating.
	sampleRating = "cmd=rating&callid=HLH8HFM77S000035&rating=4&phone=79161234567&user=andy&ext=701&crm_token=" + token
)

// incoming returns the §7 G sample with another type (ACCEPTED, COMPLETED
// and CANCELLED have the same shape).
func incoming(typ string) string {
	return strings.Replace(sampleIncoming, "type=INCOMING", "type="+typ, 1)
}

func TestHandlerPayloads(t *testing.T) {
	t.Parallel()
	// The event fields every §7 G variant shares.
	gEvent := func(body string, kind callevent.Kind, typ string) callevent.Event {
		return callevent.Event{
			ID: eventID(incomingCallID, "event", typ, "andy@vats123456.megapbx.ru", "701", ""), Provider: "megafon",
			Account: account, Kind: kind, Direction: callevent.Inbound, CallID: incomingCallID,
			ClientPhone: "79173996537", LinePhone: "79223562839", Extension: "701", Employee: "andy",
			Group: "Продажи", At: now, Raw: rawOf(t, body),
		}
	}
	transferred := incoming("TRANSFERRED") + "&second_callid=2de30f7a-0a0a-40c7-a621-0db97a8d70fc"
	outgoing := "cmd=event&type=OUTGOING&direction=out&phone=89161234567&user=andy&ext=701&telnum=74951234567" +
		"&callid=O3VUIAUSQ400004A&crm_token=" + token
	answeredWithWait := "cmd=history&type=in&status=success&phone=%2B7+916+123-45-67&diversion=74952302706&user=andy" +
		"&ext=701&start=20230101T235959Z&wait=5&duration=28&callid=HLH8HFM77S000035&rating=5&crm_token=" + token
	missedLogin := "cmd=history&type=in&status=MISSED&phone=79161234567&diversion=74952302706&user=andy%40vats123456.megapbx.ru" +
		"&ext=701&start=20230101T150000Z&duration=25&callid=J5H44UHD0G000037&crm_token=" + token
	internal := "cmd=event&type=INCOMING&direction=in&phone=702&user=andy&ext=701&callid=INT1&crm_token=" + token
	// §4: the mobile leg of a mobile-to-mobile bridge names a number, not a login.
	mobileBridge := "cmd=history&type=out&status=Success&phone=79161234567&user=79223374067%40crm.megapbx.ru" +
		"&start=20230101T120000Z&duration=30&callid=MOB1&crm_token=" + token

	tests := []struct {
		name string
		body string
		want []callevent.Event
	}{
		{"G INCOMING", sampleIncoming, []callevent.Event{gEvent(sampleIncoming, callevent.Ringing, "incoming")}},
		{"G ACCEPTED", incoming("ACCEPTED"), []callevent.Event{gEvent(incoming("ACCEPTED"), callevent.Answered, "accepted")}},
		{"G COMPLETED", incoming("COMPLETED"), []callevent.Event{gEvent(incoming("COMPLETED"), callevent.Ended, "completed")}},
		{"G CANCELLED", incoming("CANCELLED"), []callevent.Event{gEvent(incoming("CANCELLED"), callevent.Ended, "cancelled")}},
		{"G TRANSFERRED with second_callid", transferred, []callevent.Event{func() callevent.Event {
			e := gEvent(transferred, callevent.Transferred, "transferred")
			e.LegID = "2de30f7a-0a0a-40c7-a621-0db97a8d70fc"
			e.ID = eventID(incomingCallID, "event", "transferred", "andy@vats123456.megapbx.ru", "701", e.LegID)
			return e
		}()}},
		{"G OUTGOING national number, no diversion", outgoing, []callevent.Event{{
			ID: eventID("O3VUIAUSQ400004A", "event", "outgoing", "andy", "701", ""), Provider: "megafon", Account: account,
			Kind: callevent.Ringing, Direction: callevent.Outbound, CallID: "O3VUIAUSQ400004A",
			ClientPhone: "79161234567", LinePhone: "74951234567", Extension: "701", Employee: "andy", At: now,
			Raw: rawOf(t, outgoing),
		}}},
		{"G JSON body", `{"cmd":"event","type":"INCOMING","direction":"in","phone":79173996537,"diversion":"79223562839",` +
			`"user":"andy@vats123456.megapbx.ru","groupRealName":"Продажи","ext":701,"telnum":"74951234567",` +
			`"callid":"1ce30f7a-0a0a-40c7-a621-0db97a8d70fb","crm_token":"` + token + `","z-flag":0}`,
			[]callevent.Event{gEvent(sampleIncoming, callevent.Ringing, "incoming")}},
		{"H answered inbound", sampleHistory, []callevent.Event{{
			ID: eventID("HLH8HFM77S000035", "history", "in", "andy", "701", ""), Provider: "megafon", Account: account,
			Kind: callevent.Completed, Direction: callevent.Inbound, Status: callevent.Success, CallID: "HLH8HFM77S000035",
			ClientPhone: "79161234567", LinePhone: "74952302706", Extension: "701", Employee: "andy", Group: "Продажи",
			At: time.Date(2023, 1, 1, 12, 0, 0, 0, time.UTC), EndedAt: time.Date(2023, 1, 1, 12, 2, 7, 0, time.UTC),
			Duration: 127 * time.Second, RecordingURL: "https://vats123456.megapbx.ru/rec/rec.mp3", Raw: rawOf(t, sampleHistory),
		}}},
		{"H missed by the switch: user=pbx, lower-case status, no start", sampleSwitchMissed, []callevent.Event{{
			ID: eventID("J5H44UHD0G000036", "history", "in", "pbx", "", ""), Provider: "megafon", Account: account,
			Kind: callevent.Completed, Direction: callevent.Inbound, Status: callevent.Missed, CallID: "J5H44UHD0G000036",
			ClientPhone: "79161234567", LinePhone: "74952302706", Group: "Продажи", At: now, EndedAt: now,
			Raw: rawOf(t, sampleSwitchMissed),
		}}},
		{"H busy outbound", sampleBusy, []callevent.Event{{
			ID: eventID("28187487-edcf-4d23-9f95-c8591fbd9936", "history", "out", "admin", "701", ""), Provider: "megafon",
			Account: account, Kind: callevent.Completed, Direction: callevent.Outbound, Status: callevent.Busy,
			CallID: "28187487-edcf-4d23-9f95-c8591fbd9936", ClientPhone: "79161234567", Extension: "701", Employee: "admin",
			At: time.Date(2017, 9, 5, 15, 8, 52, 0, time.UTC), EndedAt: time.Date(2017, 9, 5, 15, 8, 52, 0, time.UTC),
			Raw: rawOf(t, sampleBusy),
		}}},
		{"history with wait: talk = duration - wait, 24-hour start", answeredWithWait, []callevent.Event{{
			ID: eventID("HLH8HFM77S000035", "history", "in", "andy", "701", ""), Provider: "megafon", Account: account,
			Kind: callevent.Completed, Direction: callevent.Inbound, Status: callevent.Success, CallID: "HLH8HFM77S000035",
			ClientPhone: "79161234567", LinePhone: "74952302706", Extension: "701", Employee: "andy",
			At:         time.Date(2023, 1, 1, 23, 59, 59, 0, time.UTC),
			AnsweredAt: time.Date(2023, 1, 2, 0, 0, 4, 0, time.UTC), EndedAt: time.Date(2023, 1, 2, 0, 0, 27, 0, time.UTC),
			Duration: 23 * time.Second, Wait: 5 * time.Second, Rating: 5, Raw: rawOf(t, answeredWithWait),
		}}},
		{"history missed with a real login: all of duration is ringing", missedLogin, []callevent.Event{{
			ID: eventID("J5H44UHD0G000037", "history", "in", "andy@vats123456.megapbx.ru", "701", ""), Provider: "megafon",
			Account: account, Kind: callevent.Completed, Direction: callevent.Inbound, Status: callevent.Missed,
			CallID: "J5H44UHD0G000037", ClientPhone: "79161234567", LinePhone: "74952302706", Extension: "701",
			Employee: "andy", At: time.Date(2023, 1, 1, 15, 0, 0, 0, time.UTC),
			EndedAt: time.Date(2023, 1, 1, 15, 0, 25, 0, time.UTC), Wait: 25 * time.Second, Raw: rawOf(t, missedLogin),
		}}},
		{"J rating", sampleRating, []callevent.Event{{
			ID: eventID("HLH8HFM77S000035", "rating", "", "andy", "701", ""), Provider: "megafon", Account: account,
			Kind: callevent.Rated, CallID: "HLH8HFM77S000035", ClientPhone: "79161234567", Extension: "701",
			Employee: "andy", At: now, Rating: 4, Raw: rawOf(t, sampleRating),
		}}},
		{"internal call: extension is not a client phone", internal, []callevent.Event{{
			ID: eventID("INT1", "event", "incoming", "andy", "701", ""), Provider: "megafon", Account: account,
			Kind: callevent.Ringing, Direction: callevent.Internal, CallID: "INT1", Extension: "701", Employee: "andy",
			At: now, Raw: rawOf(t, internal),
		}}},
		{"mobile bridge: a phone number as user is no employee", mobileBridge, []callevent.Event{{
			ID: eventID("MOB1", "history", "out", "79223374067@crm.megapbx.ru", "", ""), Provider: "megafon", Account: account,
			Kind: callevent.Completed, Direction: callevent.Outbound, Status: callevent.Success, CallID: "MOB1",
			ClientPhone: "79161234567", At: time.Date(2023, 1, 1, 12, 0, 0, 0, time.UTC),
			EndedAt: time.Date(2023, 1, 1, 12, 0, 30, 0, time.UTC), Duration: 30 * time.Second, Raw: rawOf(t, mobileBridge),
		}}},
		{"percent-encoded crm_token name", "cmd=rating&callid=c9&rating=3&crm%5Ftoken=" + token, []callevent.Event{{
			ID: eventID("c9", "rating", "", "", "", ""), Provider: "megafon", Account: account, Kind: callevent.Rated,
			CallID: "c9", At: now, Rating: 3, Raw: json.RawMessage(`{"callid":"c9","cmd":"rating","rating":"3"}`),
		}}},
		{"unknown event type acknowledged", incoming("PARKED"), nil},
		{"unknown cmd acknowledged", "cmd=ping&crm_token=" + token, nil},
	}
	// The receipt time of the pushes whose start is not near now (default):
	// the handler's time window is checked against it.
	receivedAt := map[string]time.Time{
		"H busy outbound": time.Date(2017, 9, 5, 15, 9, 0, 0, time.UTC),
		"history with wait: talk = duration - wait, 24-hour start":     time.Date(2023, 1, 2, 0, 1, 0, 0, time.UTC),
		"history missed with a real login: all of duration is ringing": time.Date(2023, 1, 1, 15, 1, 0, 0, time.UTC),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			var opts []webhook.Option
			if at, ok := receivedAt[tt.name]; ok {
				opts = append(opts, webhook.WithClock(func() time.Time { return at }))
			}
			w := post(newHandler(t, sink, opts...), tt.body)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			require.JSONEq(t, `{}`, w.Body.String())
			if diff := cmp.Diff(tt.want, sink.got()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// Every extension that did not win a group call gets its own CANCELLED:
// each is delivered, a redelivery of one is not.
func TestHandlerPerLegEventsAndDedup(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h := newHandler(t, sink)
	leg := func(user, ext string) string {
		return megafontest.NewRequestBody(megafontest.Event("CANCELLED", megafontest.Call{
			ID: "C1", Direction: "in", Phone: "79161234567", User: user, Ext: ext,
		}), token)
	}
	for _, body := range []string{leg("andy", "701"), leg("bob", "702"), leg("andy", "701")} {
		require.Equal(t, http.StatusOK, post(h, body).Code)
	}
	got := sink.got()
	require.Len(t, got, 2)
	require.Equal(t, []string{"andy", "bob"}, []string{got[0].Employee, got[1].Employee})
	require.NotEqual(t, got[0].ID, got[1].ID)
}

func TestHandlerAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  func() *http.Request
	}{
		{"wrong token", func() *http.Request {
			return megafontest.NewRequest("/", "wrong", megafontest.Contact("79161234567", "c1"))
		}},
		{"missing token", func() *http.Request {
			return megafontest.NewRequest("/", "", megafontest.Rating(megafontest.Call{ID: "c1"}, 5))
		}},
		{"token in the query, not the body", func() *http.Request {
			return megafontest.NewRequest("/?crm_token="+token, "", megafontest.Rating(megafontest.Call{ID: "c1"}, 5))
		}},
		{"wrong token in JSON", func() *http.Request {
			return megafontest.NewJSONRequest("/", "wrong", megafontest.Rating(megafontest.Call{ID: "c1"}, 5))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			looked := false
			h := newHandler(t, sink, webhook.WithContactLookup(callevent.ContactLookupFunc(
				func(context.Context, string, string) (callevent.Contact, bool, error) {
					looked = true
					return callevent.Contact{Name: "x"}, true, nil
				})))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req())
			require.Equal(t, http.StatusUnauthorized, w.Code)
			require.Equal(t, `{"error":"Invalid token"}`, w.Body.String())
			require.Empty(t, sink.got())
			require.False(t, looked)
		})
	}
}

func TestHandlerMultiTenant(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	var accounts []string
	var mu sync.Mutex
	h, err := megafon.NewHandler(sink,
		webhook.WithTokenAccounts(map[string]string{"tokA": "a.megapbx.ru", "tokB": "b.megapbx.ru"}),
		webhook.WithContactLookup(callevent.ContactLookupFunc(func(_ context.Context, acc, _ string) (callevent.Contact, bool, error) {
			mu.Lock()
			accounts = append(accounts, acc)
			mu.Unlock()
			return callevent.Contact{}, false, nil
		})))
	require.NoError(t, err)
	call := megafontest.Call{ID: "c1", Direction: "in", Phone: "79161234567", User: "andy"}
	for _, tok := range []string{"tokA", "tokB"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, megafontest.NewRequest("/", tok, megafontest.Event("INCOMING", call)))
		require.Equal(t, http.StatusOK, w.Code)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, megafontest.NewRequest("/", tok, megafontest.Contact("79161234567", "c1")))
		require.Equal(t, `{}`, w.Body.String())
	}
	got := sink.got()
	require.Len(t, got, 2, "the same call at two tenants is two events")
	require.Equal(t, []string{"a.megapbx.ru", "b.megapbx.ru"}, []string{got[0].Account, got[1].Account})
	require.Equal(t, []string{"a.megapbx.ru", "b.megapbx.ru"}, accounts)
}

func TestHandlerRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"missing cmd", "callid=c1&crm_token=" + token, http.StatusBadRequest, "missing cmd"},
		{"missing callid", "cmd=event&type=INCOMING&crm_token=" + token, http.StatusBadRequest, "without callid"},
		{"rating not a number", "cmd=rating&callid=c1&rating=five&crm_token=" + token, http.StatusBadRequest, "rating"},
		{"malformed form, valid token", "cmd=event&callid=%zz&crm_token=" + token, http.StatusBadRequest, "form body"},
		{"malformed form, no token", "cmd=event&callid=%zz", http.StatusUnauthorized, "Invalid token"},
		{"escaped token field name", "cmd=event&type=INCOMING&callid=c1&crm%5Ftoken=wrong", http.StatusUnauthorized, "Invalid token"},
		{"JSON array", `[{"cmd":"event"}]`, http.StatusUnauthorized, "Invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			w := post(newHandler(t, sink), tt.body)
			require.Equal(t, tt.status, w.Code)
			require.Contains(t, w.Body.String(), tt.msg)
			require.NotContains(t, w.Body.String(), token)
			require.Empty(t, sink.got())
		})
	}
	t.Run("GET", func(t *testing.T) {
		t.Parallel()
		w := httptest.NewRecorder()
		newHandler(t, &recorder{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	})
}

func TestNewHandlerOptions(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	for _, tt := range []struct {
		name string
		opts []webhook.Option
		want string
	}{
		{"no authentication", nil, "no authentication configured"},
		{"an allow-list alone", []webhook.Option{webhook.WithAllowedIPs([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, nil)},
			"megafon: no token configured"},
		{"empty token", []webhook.Option{webhook.WithToken("")}, "empty token"},
		{"bad country", []webhook.Option{webhook.WithToken(token), webhook.WithDefaultCountry("XX")}, "WithDefaultCountry"},
		{"zero lookup timeout", []webhook.Option{webhook.WithToken(token), webhook.WithLookupTimeout(0)}, "WithLookupTimeout"},
		{"card URL", []webhook.Option{webhook.WithToken(token), webhook.WithCardURL("https://crm.example.com/c/{id}", "")},
			"megafon: WithCardURL is not supported"},
		{"new contact URL", []webhook.Option{webhook.WithToken(token), webhook.WithCardURL("", "https://crm.example.com/new?p={digits}")},
			"megafon: WithCardURL is not supported"},
		{"new contact text", []webhook.Option{webhook.WithToken(token), webhook.WithNewContactText("Create")},
			"megafon: WithNewContactText is not supported"},
		{"another provider's option", []webhook.Option{webhook.WithToken(token), webhook.ProviderOption("phonet", "PauseFunc", 1)},
			"not of megafon"},
	} {
		_, err := megafon.NewHandler(sink, tt.opts...)
		require.ErrorContains(t, err, tt.want, tt.name)
		require.True(t, strings.HasPrefix(err.Error(), "megafon: "), "%s: %v", tt.name, err)
		require.NotContains(t, err.Error(), "megafon: megafon:", tt.name)
	}
	_, err := megafon.NewHandler(nil, webhook.WithToken(token))
	require.Error(t, err)

	h, err := megafon.NewHandler(sink, webhook.WithoutAuth(), accountIs(account), webhook.WithClock(clock))
	require.NoError(t, err)
	w := post(h, strings.Replace(sampleRating, token, "", 1))
	require.Equal(t, http.StatusOK, w.Code)
	require.Len(t, sink.got(), 1)
	require.Equal(t, account, sink.got()[0].Account)
}

// A token bound to an account (WithTokenAccounts) is that account
// whatever WithAccount says; WithAccount gives the account of the others.
func TestHandlerAccountOfUnboundTokens(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h, err := megafon.NewHandler(sink, webhook.WithClock(clock), webhook.WithToken(token),
		webhook.WithTokenAccounts(map[string]string{"tokA": "a.megapbx.ru"}),
		webhook.WithAccount(func(r *http.Request) string { return r.PathValue("pbx") }))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("POST /megafon/{pbx}", h)
	for _, tok := range []string{"tokA", token} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, megafontest.NewRequest("/megafon/vats9.megapbx.ru", tok, megafontest.Rating(megafontest.Call{ID: "c-" + tok}, 5)))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	got := sink.got()
	require.Len(t, got, 2)
	require.Equal(t, []string{"a.megapbx.ru", "vats9.megapbx.ru"}, []string{got[0].Account, got[1].Account})
}

// webhook.WithTokenFunc moves the token, here to the query.
func TestHandlerTokenFunc(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h := newHandler(t, sink, webhook.WithTokenFunc(webhook.QueryToken("crm_token")))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, megafontest.NewRequest("/?crm_token="+token, "", megafontest.Rating(megafontest.Call{ID: "c1"}, 5)))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	w = httptest.NewRecorder()
	h.ServeHTTP(w, megafontest.NewRequest("/", token, megafontest.Rating(megafontest.Call{ID: "c2"}, 5)))
	require.Equal(t, http.StatusUnauthorized, w.Code, "the body's crm_token is no longer looked at")
	require.Len(t, sink.got(), 1)
}

func TestHandlerAllowedIPs(t *testing.T) {
	t.Parallel()
	allowed, err := webhook.ParsePrefixes("10.0.0.0/8")
	require.NoError(t, err)
	sink := &recorder{}
	h := newHandler(t, sink, webhook.WithAllowedIPs(allowed, nil))
	r := megafontest.NewRequest("/", token, megafontest.Rating(megafontest.Call{ID: "c1"}, 5))
	r.RemoteAddr = "192.0.2.1:1234"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusForbidden, w.Code)
	r = megafontest.NewRequest("/", token, megafontest.Rating(megafontest.Call{ID: "c1"}, 5))
	r.RemoteAddr = "10.1.2.3:1234"
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code)
	require.Len(t, sink.got(), 1)
}

func TestHandlerContact(t *testing.T) {
	t.Parallel()
	const sample = "cmd=contact&phone=79161234567&callid=28187487-edcf-4d23-9f95-c8591fbd9936&crm_token=" + token // §7 I
	type lookupFn = func(ctx context.Context, acc, phone string) (callevent.Contact, bool, error)
	found := func(c callevent.Contact) lookupFn {
		return func(context.Context, string, string) (callevent.Contact, bool, error) { return c, true, nil }
	}
	tests := []struct {
		name   string
		body   string
		lookup lookupFn
		want   string
	}{
		{"found with login (§7 I)", sample, found(callevent.Contact{Name: "ООО Ромашка, Иван Петров", ResponsibleLogin: "andy", ResponsibleExtension: "701"}),
			`{"contact_name":"ООО Ромашка, Иван Петров","responsible":"andy"}`},
		{"only the extension known", sample, found(callevent.Contact{Name: "Иван", ResponsibleExtension: "701"}),
			`{"contact_name":"Иван","responsible":"701"}`},
		{"found without name or responsible", sample, found(callevent.Contact{ID: "42"}), `{}`},
		{"not found", sample, func(context.Context, string, string) (callevent.Contact, bool, error) {
			return callevent.Contact{}, false, nil
		}, `{}`},
		{"lookup error", sample, func(context.Context, string, string) (callevent.Contact, bool, error) {
			return callevent.Contact{}, false, errors.New("db down")
		}, `{}`},
		{"lookup panics", sample, func(context.Context, string, string) (callevent.Contact, bool, error) {
			panic("boom")
		}, `{}`},
		{"anonymous caller is not looked up", strings.Replace(sample, "phone=79161234567", "phone=anonymous", 1),
			func(context.Context, string, string) (callevent.Contact, bool, error) {
				panic("must not be called")
			}, `{}`},
		{"national number normalised, JSON body", `{"cmd":"contact","phone":"89161234567","callid":"c1","crm_token":"` + token + `"}`,
			func(_ context.Context, acc, p string) (callevent.Contact, bool, error) {
				if acc != account || p != "79161234567" {
					return callevent.Contact{}, false, errors.New("unexpected " + acc + " " + p)
				}
				return callevent.Contact{Name: "N"}, true, nil
			}, `{"contact_name":"N"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			h := newHandler(t, sink, webhook.WithContactLookup(callevent.ContactLookupFunc(tt.lookup)))
			w := post(h, tt.body)
			require.Equal(t, http.StatusOK, w.Code)
			require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			require.Equal(t, tt.want, w.Body.String())
			require.Empty(t, sink.got(), "a contact request is not an event")
		})
	}
	t.Run("no lookup configured", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, `{}`, post(newHandler(t, &recorder{}), sample).Body.String())
	})
}

// A slow lookup is cut off at the deadline: {} well before the lookup
// would have answered, whether or not it honours its context.
func TestHandlerContactSlowLookup(t *testing.T) {
	t.Parallel()
	const timeout = 50 * time.Millisecond
	for _, honoursCtx := range []bool{true, false} {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		lookup := callevent.ContactLookupFunc(func(ctx context.Context, _, _ string) (callevent.Contact, bool, error) {
			if honoursCtx {
				<-ctx.Done()
				return callevent.Contact{}, false, ctx.Err()
			}
			<-release
			return callevent.Contact{Name: "late"}, true, nil
		})
		h := newHandler(t, &recorder{}, webhook.WithContactLookup(lookup), webhook.WithLookupTimeout(timeout))
		start := time.Now()
		w := post(h, megafontest.NewRequestBody(megafontest.Contact("79161234567", "c1"), token))
		elapsed := time.Since(start)
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, `{}`, w.Body.String())
		require.GreaterOrEqual(t, elapsed, timeout)
		require.Less(t, elapsed, 10*time.Second, "answered at the deadline, not when the lookup is released (at the end of the test)")
	}
}

// Failed and late lookups are logged to the handler's logger, set with
// webhook.WithLogger.
func TestHandlerContactLogs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer // the handler is called synchronously below
	lookup := callevent.ContactLookupFunc(func(ctx context.Context, _, p string) (callevent.Contact, bool, error) {
		if p == "79161234567" {
			return callevent.Contact{}, false, errors.New("db down")
		}
		<-ctx.Done()
		return callevent.Contact{}, false, ctx.Err()
	})
	h := newHandler(t, &recorder{}, webhook.WithContactLookup(lookup), webhook.WithLookupTimeout(20*time.Millisecond),
		webhook.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	require.Equal(t, `{}`, post(h, megafontest.NewRequestBody(megafontest.Contact("79161234567", "c1"), token)).Body.String())
	require.Contains(t, buf.String(), "level=ERROR")
	require.Contains(t, buf.String(), "contact lookup failed")
	require.Contains(t, buf.String(), "db down")
	buf.Reset()
	require.Equal(t, `{}`, post(h, megafontest.NewRequestBody(megafontest.Contact("79161234568", "c2"), token)).Body.String())
	require.Contains(t, buf.String(), "level=WARN")
	require.Contains(t, buf.String(), "exceeded its deadline")
	require.NotContains(t, buf.String(), token)
}

// The default deadline is 1 s.
func TestHandlerContactDefaultTimeout(t *testing.T) {
	t.Parallel()
	lookup := callevent.ContactLookupFunc(func(ctx context.Context, _, _ string) (callevent.Contact, bool, error) {
		<-ctx.Done()
		return callevent.Contact{}, false, ctx.Err()
	})
	h := newHandler(t, &recorder{}, webhook.WithContactLookup(lookup))
	start := time.Now()
	w := post(h, megafontest.NewRequestBody(megafontest.Contact("79161234567", "c1"), token))
	elapsed := time.Since(start)
	require.Equal(t, `{}`, w.Body.String())
	require.GreaterOrEqual(t, elapsed, time.Second)
	require.Less(t, elapsed, 3*time.Second, "a deadline of about 1 s, not more")
}
