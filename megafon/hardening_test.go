package megafon_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/webhook"
)

// Every field MegaFon sends is checked at the edge: garbage is a 400 that
// names the PBX's own field, and nothing is delivered (issue 13 A1, B4).
func TestHandlerRejectsBadFields(t *testing.T) {
	t.Parallel()
	hist := "cmd=history&type=in&status=Success&phone=79161234567&callid=H1&crm_token=" + token
	ev := "cmd=event&type=INCOMING&direction=in&phone=79161234567&callid=E1&crm_token=" + token
	tests := []struct {
		name, body, field string
	}{
		{"start in year 9999 (end would be in 10000)", hist + "&start=99991231T235959Z&duration=127", "start"},
		{"start in 1970", hist + "&start=19700101T000000Z&duration=5", "start"},
		{"start in 2200", hist + "&start=22000101T000000Z&duration=5", "start"},
		{"start not a time", hist + "&start=yesterday&duration=5", "start"},
		{"negative duration", hist + "&start=20230101T120000Z&duration=-5", "duration"},
		{"huge duration", hist + "&start=20230101T120000Z&duration=9000000000000000", "duration"},
		{"duration over a week", hist + "&start=20230101T120000Z&duration=604801", "duration"},
		{"duration not a number", hist + "&start=20230101T120000Z&duration=1e99", "duration"},
		{"negative wait", hist + "&start=20230101T120000Z&duration=5&wait=-1", "wait"},
		{"rating in history not a number", hist + "&start=20230101T120000Z&duration=5&rating=five", "rating"},
		{"rating over 100", "cmd=rating&callid=R1&rating=101&crm_token=" + token, "rating"},
		{"100-digit phone", strings.Replace(ev, "79161234567", strings.Repeat("7", 100), 1), "phone"},
		{"letters as phone", strings.Replace(ev, "79161234567", "call-me-maybe", 1), "phone"},
		{"garbage diversion", ev + "&diversion=" + strings.Repeat("9", 40), "diversion"},
		{"garbage telnum", ev + "&telnum=abc", "telnum"},
		{"callid with NUL", strings.Replace(ev, "callid=E1", "callid=E%001", 1), "callid"},
		{"callid not UTF-8", strings.Replace(ev, "callid=E1", "callid=E%FF1", 1), "callid"},
		{"callid of 10 KB", strings.Replace(ev, "callid=E1", "callid="+strings.Repeat("x", 10<<10), 1), "callid"},
		{"user with a control character", ev + "&user=andy%07", "user"},
		{"ext of 300 bytes", ev + "&ext=" + strings.Repeat("7", 300), "ext"},
		{"group name not UTF-8", ev + "&groupRealName=%C3", "groupRealName"},
		{"second_callid with NUL", strings.Replace(ev, "INCOMING", "TRANSFERRED", 1) + "&second_callid=a%00b", "second_callid"},
		{"javascript link", hist + "&start=20230101T120000Z&duration=5&link=javascript:alert(document.cookie)", "link"},
		{"ftp link", hist + "&start=20230101T120000Z&duration=5&link=ftp://vats1.megapbx.ru/rec.mp3", "link"},
		{"relative link", hist + "&start=20230101T120000Z&duration=5&link=/rec/rec.mp3", "link"},
		{"link without host", hist + "&start=20230101T120000Z&duration=5&link=https:///rec.mp3", "link"},
		{"contact with a garbage phone", "cmd=contact&callid=c1&phone=" + strings.Repeat("8", 30) + "&crm_token=" + token, "phone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			w := post(newHandler(t, sink), tt.body)
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			require.Contains(t, w.Body.String(), tt.field)
			require.NotContains(t, w.Body.String(), token)
			require.Empty(t, sink.got())
		})
	}
}

// A start inside the years an Event holds, whose end is not, is a 400,
// never a panic or a stored event; and the handler's window (checked
// against WithClock) keeps out a start long before now.
func TestHandlerRejectsTimesOutsideWindow(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		"cmd=history&type=in&status=Success&callid=H1&start=20991231T235959Z&duration=604800&crm_token=" + token,
		"cmd=history&type=in&status=Success&callid=H2&start=20200101T000000Z&duration=5&crm_token=" + token,
		"cmd=history&type=in&status=Success&callid=H3&start=20230101T140000Z&duration=5&crm_token=" + token, // 2 h ahead
	} {
		sink := &recorder{}
		w := post(newHandler(t, sink), body)
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		require.Empty(t, sink.got())
	}
}

// Parse alone, without the handler's window, never yields a time an
// Event cannot encode.
func TestParseStartOutOfRange(t *testing.T) {
	t.Parallel()
	f := url.Values{"cmd": {"history"}, "callid": {"c1"}, "start": {"99991231T235959Z"}, "duration": {"127"}}
	_, err := megafon.Parse(f, megafon.ParseOptions{})
	require.ErrorIs(t, err, webhook.ErrBadRequest)
	require.ErrorContains(t, err, "start")
}

// A malformed body carrying the right token is a 400, not a 401; a wrong
// token is exactly the PBX's 401 (issue 13 A3).
func TestHandlerMalformedBodyWithToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"missing value", `{"cmd":"event","crm_token":"` + token + `","callid":}`, http.StatusBadRequest},
		{"truncated", `{"crm_token":"` + token + `","cmd":"event"`, http.StatusBadRequest},
		{"nested value", `{"crm_token" : "` + token + `","callid":[1,2]}`, http.StatusBadRequest},
		{"trailing garbage", `{"cmd":"rating","callid":"c1","rating":3,"crm_token":"` + token + `"} x`, http.StatusBadRequest},
		{"token as a value first", `{"note":"crm_token","crm_token":"` + token + `","callid":}`, http.StatusBadRequest},
		{"escaped token", `{"crm_token":"` + strings.Replace(token, "t", `\u0074`, 1) + `","cmd":}`, http.StatusBadRequest},
		{"wrong token, malformed", `{"cmd":"event","crm_token":"wrong","callid":}`, http.StatusUnauthorized},
		{"no token, malformed", `{"cmd":"event","callid":`, http.StatusUnauthorized},
		{"token only inside a string", `{"note":"\"crm_token\":\"` + token + `\"","cmd":}`, http.StatusUnauthorized},
		{"null token", `{"crm_token":null,"cmd":}`, http.StatusUnauthorized},
		{"invalid UTF-8 in an id", `{"cmd":"event","type":"INCOMING","phone":"79161234567","callid":"H` + "\xff" + `1","crm_token":"` + token + `"}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			w := post(newHandler(t, sink), tt.body)
			require.Equal(t, tt.status, w.Code, w.Body.String())
			if tt.status == http.StatusUnauthorized {
				require.Equal(t, `{"error":"Invalid token"}`, w.Body.String())
			}
			require.NotContains(t, w.Body.String(), token)
			require.Empty(t, sink.got())
		})
	}
	t.Run("numeric token", func(t *testing.T) {
		t.Parallel()
		sink := &recorder{}
		h, err := megafon.NewHandler(sink, webhook.WithToken("123456"), webhook.WithClock(clock))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, post(h, `{"cmd":"rating","callid":"c1","rating":3,"crm_token":123456}`).Code)
		require.Len(t, sink.got(), 1)
	})
}

// Authentication looks at the token alone: a large JSON body with a wrong
// token costs a constant few allocations, not one per field.
func TestHandlerWrongTokenIsNotDecoded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"cmd":"event","crm_token":"wrong"`)
	for i := range 5000 {
		fmt.Fprintf(&b, `,"f%d":"%d"`, i, i)
	}
	b.WriteString("}")
	body := b.String()
	h := newHandler(t, &recorder{})
	allocs := testing.AllocsPerRun(20, func() {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			panic(w.Code) // AllocsPerRun's function cannot fail t
		}
	})
	require.Less(t, allocs, 200.0, "a full decode allocates per field")
}

// Authentication and tenant selection read the same token: a duplicate
// crm_token key cannot authenticate as one tenant and file events under
// another.
func TestHandlerDuplicateTokenKey(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h, err := megafon.NewHandler(sink, webhook.WithClock(clock), accountIs("default"),
		webhook.WithTokenAccounts(map[string]string{"tokA": "a.megapbx.ru", "tokB": "b.megapbx.ru"}))
	require.NoError(t, err)
	w := post(h, `{"cmd":"rating","callid":"c1","rating":3,"crm_token":"tokA","crm_token":"garbage"}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Len(t, sink.got(), 1)
	require.Equal(t, "a.megapbx.ru", sink.got()[0].Account)
}

// Pushes without a direction get the one an earlier push of the same call
// stated, or the one their numbers or status imply (issue 13 A5).
func TestHandlerDerivesDirection(t *testing.T) {
	t.Parallel()
	type push struct {
		body string
		want callevent.Direction
	}
	const tok = "&crm_token=" + token
	tests := []struct {
		name   string
		pushes []push
	}{
		{"ACCEPTED after INCOMING", []push{
			{"cmd=event&type=INCOMING&direction=in&phone=79161234567&user=andy&callid=A1" + tok, callevent.Inbound},
			{"cmd=event&type=ACCEPTED&phone=79161234567&user=andy&callid=A1" + tok, callevent.Inbound},
		}},
		{"rating after OUTGOING", []push{
			{"cmd=event&type=OUTGOING&phone=79161234567&user=andy&callid=A2" + tok, callevent.Outbound},
			{"cmd=rating&callid=A2&rating=5&phone=79161234567" + tok, callevent.Outbound},
		}},
		{"history without type after OUTGOING", []push{
			{"cmd=event&type=OUTGOING&direction=out&phone=79161234567&user=andy&callid=A3" + tok, callevent.Outbound},
			{"cmd=history&status=Success&phone=79161234567&user=andy&start=20230101T120000Z&duration=9&callid=A3" + tok, callevent.Outbound},
		}},
		{"memory beats the numbers", []push{
			{"cmd=event&type=OUTGOING&direction=out&phone=79161234567&callid=A4" + tok, callevent.Outbound},
			{"cmd=event&type=ACCEPTED&phone=79161234567&diversion=74952302706&callid=A4" + tok, callevent.Outbound},
		}},
		{"ACCEPTED with diversion, nothing remembered", []push{
			{"cmd=event&type=ACCEPTED&phone=79161234567&diversion=74952302706&user=andy&callid=B1" + tok, callevent.Inbound},
		}},
		{"history without type, outbound-only status", []push{
			{"cmd=history&status=NotAvailable&phone=79161234567&user=andy&start=20230101T120000Z&duration=0&callid=B2" + tok, callevent.Outbound},
		}},
		{"history without type by the switch", []push{
			{"cmd=history&status=missed&user=pbx&group=g_1&phone=79161234567&duration=0&callid=B3" + tok, callevent.Inbound},
		}},
		{"rating with nothing known stays unknown", []push{
			{"cmd=rating&callid=B4&rating=5&phone=79161234567&user=andy" + tok, 0},
		}},
		{"ACCEPTED without diversion, nothing remembered, stays unknown", []push{
			{"cmd=event&type=ACCEPTED&phone=79161234567&user=andy&callid=B5" + tok, 0},
		}},
		{"an extension as phone is internal whatever is remembered", []push{
			{"cmd=event&type=INCOMING&direction=in&phone=79161234567&callid=B6" + tok, callevent.Inbound},
			{"cmd=event&type=ACCEPTED&phone=702&callid=B6" + tok, callevent.Internal},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			h := newHandler(t, sink)
			for i, p := range tt.pushes {
				w := post(h, p.body)
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				got := sink.got()
				require.Len(t, got, i+1)
				require.Equal(t, p.want, got[i].Direction, "push %d: %s", i, p.body)
			}
		})
	}
}

// The memory is per tenant and forgets a call after its TTL.
func TestHandlerDirectionMemoryScope(t *testing.T) {
	t.Parallel()
	var at atomic.Int64
	at.Store(now.UnixNano())
	clk := func() time.Time { return time.Unix(0, at.Load()).UTC() }
	sink := &recorder{}
	h, err := megafon.NewHandler(sink, webhook.WithClock(clk),
		webhook.WithTokenAccounts(map[string]string{"tokA": "a.megapbx.ru", "tokB": "b.megapbx.ru"}))
	require.NoError(t, err)
	send := func(body string) callevent.Event {
		t.Helper()
		n := len(sink.got())
		w := post(h, body)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Len(t, sink.got(), n+1)
		return sink.got()[n]
	}
	require.Equal(t, callevent.Inbound, send("cmd=event&type=INCOMING&direction=in&callid=M1&crm_token=tokA").Direction)
	require.Equal(t, callevent.Direction(0), send("cmd=rating&callid=M1&rating=1&crm_token=tokB").Direction,
		"another tenant's call with the same id")
	require.Equal(t, callevent.Inbound, send("cmd=rating&callid=M1&rating=2&crm_token=tokA").Direction)
	at.Add(int64(3 * time.Hour))
	require.Equal(t, callevent.Direction(0), send("cmd=rating&callid=M1&rating=3&ext=703&crm_token=tokA").Direction,
		"forgotten after the TTL")
}

// The builders of megafontest stamp current times, so their pushes pass a
// handler with the default clock and time window.
func TestBuildersPassDefaultWindow(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h, err := megafon.NewHandler(sink, webhook.WithToken(token))
	require.NoError(t, err)
	c := megafontest.Call{ID: "c1", Direction: "in", Phone: "79161234567", User: "andy", Ext: "701"}
	for _, f := range []url.Values{
		megafontest.Event("INCOMING", c),
		megafontest.History(c, megafontest.Outcome{Status: "Success", Duration: 60, Wait: 5, SendWait: true}),
		megafontest.History(megafontest.Call{ID: "c2", Direction: "in", Phone: "79161234567", User: "pbx"},
			megafontest.Outcome{Status: "missed", NoStart: true}),
		megafontest.Rating(c, 5),
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, megafontest.NewRequest("/", token, f))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	require.Len(t, sink.got(), 4)
}

// Ids from webhooks or users never walk up the API path: "..", "." and
// "/" are refused before a request is sent, and everything else reaches
// the fake as one segment under /crmapi/v1/users/ (issue 13 B3).
func TestPathIDsStayInTheirSegment(t *testing.T) {
	t.Parallel()
	srv := megafontest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv, false, noRetries)
	ctx := t.Context()
	calls := map[string]func(id string) error{
		"User":   func(id string) error { _, err := c.User(ctx, id); return err },
		"DND":    func(id string) error { _, err := c.DND(ctx, id); return err },
		"SetDND": func(id string) error { return c.SetDND(ctx, id, true) },
		"Subscription": func(id string) error {
			_, err := c.Subscription(ctx, id, "sales")
			return err
		},
		"SetSubscription":          func(id string) error { return c.SetSubscription(ctx, id, "sales", true) },
		"SetSubscriptionAllGroups": func(id string) error { return c.SetSubscriptionAllGroups(ctx, id, false) },
	}
	refused := []string{"..", ".", "../groups", "a/../../makecall", "/etc", `..\groups`, "andy\x00"}
	encoded := []string{"..%2F..%2Fgroups", "%2e%2e", "a%2Fb", "x?y#z", "...", "andy.."}
	for name, call := range calls {
		for _, id := range refused {
			n := len(srv.Requests())
			require.Error(t, call(id), "%s(%q)", name, id)
			require.Len(t, srv.Requests(), n, "%s(%q) sent a request", name, id)
		}
		for _, id := range encoded {
			n := len(srv.Requests())
			_ = call(id) // the fake knows no such user
			reqs := srv.Requests()[n:]
			require.Len(t, reqs, 1, "%s(%q)", name, id)
			r := reqs[0]
			require.Contains(t, []string{megafontest.OpUser, megafontest.OpDND, megafontest.OpSubscription}, r.Op,
				"%s(%q) reached %s", name, id, r.RawPath)
			seg := strings.Split(strings.TrimPrefix(r.RawPath, "/crmapi/v1/users/"), "/")[0]
			got, err := url.PathUnescape(seg)
			require.NoError(t, err)
			require.Equal(t, id, got, "%s: the id is one segment of %s", name, r.RawPath)
		}
	}
	require.NoError(t, c.SetDND(ctx, "andy", true), "an ordinary login still works")
	require.True(t, srv.DND("andy"))
}

// Credentials, a Client and a handler never show the API key or crm_token,
// however they are printed, logged or marshalled (issue 13 B5).
func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	const key, crmToken = "sEcReT-aPi-KeY-0042", "sEcReT-cRm-ToKeN-0042"
	creds := megafon.Credentials{Domain: "vats1.megapbx.ru", APIKey: key}
	c, err := megafon.NewClient(creds)
	require.NoError(t, err)
	h, err := megafon.NewHandler(&recorder{}, webhook.WithToken(crmToken),
		webhook.WithTokenAccounts(map[string]string{crmToken + "2": "a"}))
	require.NoError(t, err)
	holder := struct {
		Creds  megafon.Credentials
		Client *megafon.Client
		Ptr    *megafon.Credentials
	}{creds, c, &creds}
	values := map[string]any{"credentials": creds, "*credentials": &creds, "client": c, "holder": holder, "handler": h}
	for name, v := range values {
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var buf bytes.Buffer
			slog.New(newHandler(&buf)).Info("x", "v", v)
			out = append(out, buf.String())
		}
		if name != "handler" {
			b, err := json.Marshal(v)
			require.NoError(t, err, name)
			out = append(out, string(b))
		}
		for _, s := range out {
			require.NotContains(t, s, key, name)
			require.NotContains(t, s, crmToken, name)
		}
	}
	for _, v := range []any{creds, c} { // slog gets structured values
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
		require.Contains(t, buf.String(), "v.domain=vats1.megapbx.ru v.")
		require.Contains(t, buf.String(), "api_key=REDACTED")
	}
	require.Contains(t, fmt.Sprint(creds), "vats1.megapbx.ru", "the domain is shown")
	require.Contains(t, fmt.Sprint(creds), "REDACTED")
	require.NotContains(t, fmt.Sprint(megafon.Credentials{Domain: "d"}), "REDACTED", "an empty key is not REDACTED")

	// LegacyAPI is shown by every form, next to the redacted key.
	legacy := megafon.Credentials{Domain: "vats1.megapbx.ru", APIKey: key, LegacyAPI: true}
	for _, s := range []string{fmt.Sprint(legacy), fmt.Sprintf("%#v", legacy), fmt.Sprintf("%+v", &legacy)} {
		require.Equal(t, `megafon.Credentials{Domain:"vats1.megapbx.ru" APIKey:REDACTED LegacyAPI:true}`, s)
	}
	b, err := json.Marshal(legacy)
	require.NoError(t, err)
	require.JSONEq(t, `{"Domain":"vats1.megapbx.ru","APIKey":"REDACTED","LegacyAPI":true}`, string(b))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", legacy)
	require.Contains(t, buf.String(), "v.domain=vats1.megapbx.ru v.api_key=REDACTED v.legacy_api=true")
}

// Clients share one transport: 10,000 tenants' clients that each made a
// request keep a bounded number of goroutines (idle connections) and heap,
// instead of one connection pool per client (issue 13 A10). Not parallel:
// it counts the process's goroutines.
func TestClientsShareTransport(t *testing.T) {
	srv := megafontest.NewServer()
	t.Cleanup(srv.Close)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	clients := make([]*megafon.Client, 10_000)
	for i := range clients {
		c, err := megafon.NewClient(megafon.Credentials{Domain: fmt.Sprintf("vats%d.megapbx.ru", i), APIKey: megafontest.APIKey},
			callbridge.WithBaseURL(srv.URL))
		require.NoError(t, err)
		clients[i] = c
	}
	for _, c := range clients[:300] { // a pool per client would keep 300 connections
		_, err := c.Groups(t.Context())
		require.NoError(t, err)
	}
	require.Less(t, runtime.NumGoroutine()-goroutines, 100, "goroutines grew with the clients")
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	require.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(64<<20), "heap grew with the clients")
	runtime.KeepAlive(clients)
}

// The default client limits itself to 5 requests per second with bursts of
// 10: 15 requests take at least a second (5 beyond the burst at 5/s). A
// limiter can only make this slower, never faster, so the bound cannot
// flake (issue 13 D).
func TestDefaultRateLimit(t *testing.T) {
	t.Parallel()
	srv := megafontest.NewServer()
	t.Cleanup(srv.Close)
	c, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
		callbridge.WithBaseURL(srv.URL))
	require.NoError(t, err)
	start := time.Now()
	for range 15 {
		_, err := c.Groups(t.Context())
		require.NoError(t, err)
	}
	elapsed := time.Since(start)
	require.Len(t, srv.Requests(), 15)
	require.GreaterOrEqual(t, elapsed, 900*time.Millisecond, "15 requests in %v: no 5/s limit", elapsed)
}

// callbridge.WithRateLimit(math.Inf(1), …) turns the default limit off:
// 30 requests, which the default 5/s with bursts of 10 spreads over 4 s,
// take well under that.
func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	srv := megafontest.NewServer()
	t.Cleanup(srv.Close)
	c, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
		callbridge.WithBaseURL(srv.URL), callbridge.WithRateLimit(math.Inf(1), 1))
	require.NoError(t, err)
	start := time.Now()
	for range 30 {
		_, err := c.Groups(t.Context())
		require.NoError(t, err)
	}
	require.Less(t, time.Since(start), 3*time.Second)
}

// A push that carries no time (ACCEPTED, rating) is stamped with the
// arrival time by the webhook handler's clock (webhook.WithClock), the
// same clock the time window is checked against.
func TestPushWithoutTimeIsStampedByTheWebhookClock(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	sink := &recorder{}
	h, err := megafon.NewHandler(sink, webhook.WithToken(token), webhook.WithClock(func() time.Time { return at }))
	require.NoError(t, err)
	c := megafontest.Call{ID: "c-clock", Direction: "in", Phone: "79161234567", User: "andy"}
	w := post(h, megafontest.NewRequestBody(megafontest.Event("ACCEPTED", c), token))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Len(t, sink.got(), 1)
	require.Equal(t, at, sink.got()[0].At)
}
