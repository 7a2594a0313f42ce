package phonet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/webhook"
)

// A phone that is neither a number, an extension nor anonymous is a 400
// naming Phonet's field, never a call "without a phone"; so are times
// outside the window around the request's arrival.
func TestHandlerRefusesGarbage(t *testing.T) {
	t.Parallel()
	in := inboundCall()
	longPhone := strings.Repeat("7", 100)
	tests := []struct {
		name   string
		req    *http.Request
		inBody string
	}{
		{"100-digit client", in.Dial().With("otherLegs", []any{map[string]any{"num": longPhone}}).
			Request("/phonet", phonettest.WithToken(token)), "otherLegs[0].num"},
		{"letters as the client", in.Bridge().With("otherLegs", []any{map[string]any{"num": "call me"}}).
			Request("/phonet", phonettest.WithToken(token)), "otherLegs[0].num"},
		{"letters as the line", in.Dial().With("trunkNum", "line one").Request("/phonet", phonettest.WithToken(token)), "trunkNum"},
		{"record client", in.Record().With("otherLegNum", longPhone).Request("/phonet", phonettest.WithToken(token)), "otherLegNum"},
		{"record line", in.Record().With("trunk", "o=abc;").Request("/phonet", phonettest.WithToken(token)), "trunk"},
		{"lookup number", in.Lookup().With("otherLegNum", longPhone).Request("/phonet", phonettest.WithToken(token)), "otherLegNum"},
		{"dial in 1970", in.Dial().With("dialAt", 1000).With("serverTime", nil).Request("/phonet", phonettest.WithToken(token)), "at"},
		{"dial in 2200", in.Dial().With("dialAt", time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()).
			Request("/phonet", phonettest.WithToken(token)), "at"},
		{"call id with a NUL", in.Dial().With("uuid", "a\x00b").Request("/phonet", phonettest.WithToken(token)), "call_id"},
		{"negative duration", in.Record().With("billSecs", 10).With("duration", -5).
			Request("/phonet", phonettest.WithToken(token)), "duration -5 is negative"},
		{"negative talk time", in.Record().With("billSecs", -3).With("duration", 10).
			Request("/phonet", phonettest.WithToken(token)), "billSecs -3 is negative"},
		{"talk time beyond the call", in.Record().With("billSecs", 20).With("duration", 10).
			Request("/phonet", phonettest.WithToken(token)), "billSecs 20 exceeds duration 10"},
		{"huge talk time", in.Record().With("billSecs", 9e15).Request("/phonet", phonettest.WithToken(token)),
			"billSecs: number 9000000000000000 out of range"},
		{"huge duration", in.Record().With("duration", "9e15").Request("/phonet", phonettest.WithToken(token)),
			"duration: number"},
		{"dialAt after year 9999", in.Dial().With("dialAt", 9e18).Request("/phonet", phonettest.WithToken(token)),
			"dialAt: number"},
		{"negative bridgeAt", in.Bridge().With("bridgeAt", -1).Request("/phonet", phonettest.WithToken(token)),
			"bridgeAt: number -1"},
		{"hangupAt after year 9999", in.Hangup().With("hangupAt", "9e18").Request("/phonet", phonettest.WithToken(token)),
			"hangupAt: number"},
		{"negative serverTime", in.Dial().With("serverTime", -1754641335000).Request("/phonet", phonettest.WithToken(token)),
			"serverTime: number"},
		{"endAt after year 9999", in.Record().With("endAt", 9e18).Request("/phonet", phonettest.WithToken(token)),
			"endAt: number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			looked := 0
			h := newHandler(t, sink, webhook.WithContactLookup(callevent.ContactLookupFunc(
				func(context.Context, string, string) (callevent.Contact, bool, error) {
					looked++
					return callevent.Contact{}, false, nil
				})))
			w := post(h, tt.req)
			if tt.inBody == "" { // accepted: whatever is accepted is valid
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				for _, e := range sink.got() {
					require.NoError(t, e.ValidateAt(sampleClock(), callevent.DefaultWindow))
				}
				return
			}
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			require.Contains(t, w.Body.String(), tt.inBody)
			require.Empty(t, sink.got())
			require.Zero(t, looked)
		})
	}
}

// A call.hangup without hangupAt and serverTime (a real payload shape)
// ends at bridgeAt when it was answered, else when it arrived: never at
// dialAt, before its own answer.
func TestHangupWithoutTimes(t *testing.T) {
	t.Parallel()
	in := inboundCall()
	unanswered := inboundCall()
	unanswered.BridgeAt = time.Time{}
	for _, tt := range []struct {
		name     string
		body     phonettest.Body
		answered time.Time
		ended    time.Time
	}{
		{"answered: ends at bridgeAt", in.Hangup().Without("hangupAt").Without("serverTime"), in.BridgeAt, in.BridgeAt},
		{"answered, nulls", in.Hangup().With("hangupAt", nil).With("serverTime", 0), in.BridgeAt, in.BridgeAt},
		{"unanswered: ends on arrival", unanswered.Hangup().Without("hangupAt").Without("serverTime"), time.Time{}, sampleClock()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			w := post(newHandler(t, sink), tt.body.Request("/phonet", phonettest.WithToken(token)))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			got := sink.got()
			require.Len(t, got, 1)
			e := got[0]
			require.Equal(t, callevent.Ended, e.Kind)
			require.True(t, tt.answered.Equal(e.AnsweredAt), "answered %s", e.AnsweredAt)
			require.True(t, tt.ended.Equal(e.EndedAt), "ended %s, want %s", e.EndedAt, tt.ended)
			require.True(t, e.At.Equal(e.EndedAt))
			require.NoError(t, e.Validate())
		})
	}
}

// A body that is not what the endpoint takes is a 400 saying what is
// missing: any JSON at customer_data is no lookup, and an after_call_end
// of unknown shape is never acknowledged as delivered.
func TestEndpointShapes(t *testing.T) {
	t.Parallel()
	in := inboundCall()
	lookup := in.Lookup()
	tests := []struct {
		name   string
		target string
		body   []byte
		want   int
		inBody string
	}{
		{"empty object anywhere", "/phonet", []byte(`{}`), 400, "otherLegNum"},
		{"unknown JSON anywhere", "/phonet", []byte(`{"hello":"world","uuid":"u1"}`), 400, "otherLegNum"},
		{"unknown JSON at customer_data", "/phonet/customer_data", []byte(`{"foo":1}`), 400, "otherLegNum"},
		{"call event at customer_data", "/phonet/customer_data", in.Dial().JSON(), 400, "customer_data"},
		{"call record at customer_data", "/phonet/customer_data", in.Record().JSON(), 400, "customer_data"},
		{"lookup at after_call_end", "/phonet/after_call_end", lookup.JSON(), 400, "endAt"},
		{"record without endAt at after_call_end", "/phonet/after_call_end",
			in.Record().Without("endAt").JSON(), 400, "endAt"},
		{"unknown JSON at after_call_end", "/phonet/after_call_end", []byte(`{"uuid":"u1"}`), 400, "endAt"},
		{"call event at after_call_end", "/phonet/after_call_end", in.Hangup().JSON(), 400, "after_call_end"},
		{"lookup at customer_data/{tenant}", "/phonet/customer_data/acme.phonet.com.ua", lookup.JSON(), 200, `"newEntity"`},
		{"hidden number lookup", "/phonet/customer_data", lookup.With("otherLegNum", nil).JSON(), 200, `"newEntity":false`},
		{"record at after_call_end", "/phonet/after_call_end", in.Record().JSON(), 200, `{}`},
		{"call event at call", "/phonet/call", in.Dial().JSON(), 200, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			h := newHandler(t, sink, webhook.WithContactLookup(callevent.ContactLookupFunc(
				func(context.Context, string, string) (callevent.Contact, bool, error) {
					return callevent.Contact{}, false, nil
				})))
			r := rawRequest(tt.body, "application/json")
			r.URL.Path = tt.target
			w := post(h, r)
			require.Equal(t, tt.want, w.Code, w.Body.String())
			require.Contains(t, w.Body.String(), tt.inBody)
			if tt.want != http.StatusOK {
				require.Empty(t, sink.got())
			}
		})
	}
}

// Tenants are bound to tokens: tenant A's token with accountDomain B in the
// body never reaches B's lookup or the sink as B, whatever the kind of
// notification; a route and a token that disagree are refused too.
func TestTokenAccountsBindTenants(t *testing.T) {
	t.Parallel()
	const (
		tokA, tokB = "token-of-a", "token-of-b"
		accA, accB = "a.phonet.com.ua", "b.phonet.com.ua"
	)
	type seen struct{ lookups, events []string }
	newTenantHandler := func(t *testing.T, opts ...webhook.Option) (http.Handler, func() seen) {
		var mu sync.Mutex
		var s seen
		sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
			mu.Lock()
			defer mu.Unlock()
			s.events = append(s.events, e.Account)
			return nil
		})
		lookup := callevent.ContactLookupFunc(func(_ context.Context, acc, _ string) (callevent.Contact, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			s.lookups = append(s.lookups, acc)
			return callevent.Contact{Name: "client of " + acc}, true, nil
		})
		h, err := phonet.NewHandler(sink, append([]webhook.Option{
			webhook.WithTokenAccounts(map[string]string{tokA: accA, tokB: accB}),
			webhook.WithContactLookup(lookup),
		}, opts...)...)
		require.NoError(t, err)
		return h, func() seen {
			mu.Lock()
			defer mu.Unlock()
			return seen{append([]string(nil), s.lookups...), append([]string(nil), s.events...)}
		}
	}
	c := phonettest.InboundCall() // current times: the default clock
	c.Account = accB

	t.Run("attack: A's token, B in the body", func(t *testing.T) {
		t.Parallel()
		h, got := newTenantHandler(t)
		for _, b := range []phonettest.Body{c.Lookup(), c.Dial(), c.Hangup(), c.Record(),
			c.Lookup().With("accountDomain", "B.PHONET.COM.UA ")} {
			for _, form := range []bool{false, true} {
				opts := []phonettest.RequestOption{phonettest.WithToken(tokA)}
				if form {
					opts = append(opts, phonettest.AsForm())
				}
				w := post(h, b.Request("/phonet", opts...))
				require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
				require.NotContains(t, w.Body.String(), "client of")
			}
		}
		require.Equal(t, seen{}, got(), "neither B's lookup nor the sink was reached")
	})
	t.Run("each token acts as its own tenant", func(t *testing.T) {
		t.Parallel()
		h, got := newTenantHandler(t)
		a := c
		a.Account = accA
		for _, r := range []*http.Request{
			a.Lookup().Request("/phonet", phonettest.WithToken(tokA)),
			a.Lookup().Without("accountDomain").Request("/phonet", phonettest.WithToken(tokA)),
			a.Dial().With("accountDomain", "A.Phonet.com.ua").Request("/phonet", phonettest.WithToken(tokA)),
			c.Lookup().Request("/phonet", phonettest.WithToken(tokB)),
			c.Dial().Without("accountDomain").Request("/phonet", phonettest.WithToken(tokB)),
		} {
			w := post(h, r)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		}
		require.Equal(t, seen{lookups: []string{accA, accA, accB}, events: []string{accA, accB}}, got())
		require.Equal(t, http.StatusUnauthorized, post(h, c.Lookup().Request("/phonet", phonettest.WithToken("nope"))).Code)
	})
	t.Run("an unbound token never acts for a bound tenant", func(t *testing.T) {
		t.Parallel()
		h, got := newTenantHandler(t, webhook.WithToken("free"))
		for _, b := range []phonettest.Body{c.Lookup(), c.Dial(), c.Lookup().With("accountDomain", " B.Phonet.com.ua")} {
			w := post(h, b.Request("/phonet", phonettest.WithToken("free")))
			require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
			require.NotContains(t, w.Body.String(), "client of")
		}
		require.Equal(t, seen{}, got())
		other := c
		other.Account = "c.phonet.com.ua"
		require.Equal(t, http.StatusOK, post(h, other.Lookup().Request("/phonet", phonettest.WithToken("free"))).Code,
			"an unbound token still serves the tenants nobody is bound to")
		require.Equal(t, seen{lookups: []string{"c.phonet.com.ua"}}, got())
	})
	t.Run("route and token disagree", func(t *testing.T) {
		t.Parallel()
		h, got := newTenantHandler(t, webhook.WithAccount(func(r *http.Request) string { return path.Base(r.URL.Path) }))
		w := post(h, c.Lookup().Without("accountDomain").Request("/phonet/customer_data/"+accB, phonettest.WithToken(tokA)))
		require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
		w = post(h, c.Lookup().Request("/phonet/customer_data/"+accB, phonettest.WithToken(tokB)))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Equal(t, seen{lookups: []string{accB}}, got())
	})
	t.Run("token in the path", func(t *testing.T) {
		t.Parallel()
		h, got := newTenantHandler(t, webhook.WithTokenFunc(func(r *http.Request, _ []byte) string { return path.Base(r.URL.Path) }))
		w := post(h, c.Lookup().Request("/phonet/"+tokA))
		require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
		w = post(h, c.Lookup().Without("accountDomain").Request("/phonet/"+tokA))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Equal(t, seen{lookups: []string{accA}}, got())
	})
	t.Run("options", func(t *testing.T) {
		t.Parallel()
		for name, opts := range map[string][]webhook.Option{
			"empty map":     {webhook.WithTokenAccounts(nil)},
			"empty token":   {webhook.WithTokenAccounts(map[string]string{"": accA})},
			"empty account": {webhook.WithTokenAccounts(map[string]string{tokA: " "})},
			"token bound twice": {webhook.WithTokenAccounts(map[string]string{tokA: accA}),
				webhook.WithTokenAccounts(map[string]string{tokA: accB})},
			"token bound and unbound": {webhook.WithToken(tokA), webhook.WithTokenAccounts(map[string]string{tokA: accA})},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := phonet.NewHandler(&recorder{}, opts...)
				require.Error(t, err)
				require.NotContains(t, err.Error(), tokA, "the error never shows a token")
			})
		}
	})
}

// Every string field is bounded at decode time: a 1 MB uuid is a 400
// naming the field, for lookups (which make no event) as for events.
func TestFieldSizesBounded(t *testing.T) {
	t.Parallel()
	in := inboundCall()
	huge := strings.Repeat("u", 1_000_000)
	big := strings.Repeat("x", callevent.MaxFieldLen+1)
	tests := []struct {
		name  string
		body  phonettest.Body
		field string
	}{
		{"1 MB uuid in a lookup", in.Lookup().With("uuid", huge), "uuid"},
		{"1 MB uuid in a call event", in.Dial().With("uuid", huge), "uuid"},
		{"1 MB uuid in a record", in.Record().With("uuid", huge), "uuid"},
		{"long accountDomain in a lookup", in.Lookup().With("accountDomain", big), "accountDomain"},
		{"long trunkNum in a lookup", in.Lookup().With("trunkNum", big), "trunkNum"},
		{"long leg ext", in.Lookup().With("leg", map[string]any{"ext": big}), "leg.ext"},
		{"long company name", in.Dial().With("otherLegs", []any{map[string]any{"num": "+380501112233", "companyName": big}}),
			"otherLegs[0].companyName"},
		{"long transfer history", in.Record().With("transferHistory", big), "transferHistory"},
		{"long recording link", in.Record().With("audioRecUrl", "https://x.example/"+strings.Repeat("a", callevent.MaxURLLen)), "audioRecUrl"},
		{"unprintable accountDomain", in.Lookup().With("accountDomain", "a\x00b"), "accountDomain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			looked := 0
			h := newHandler(t, sink, webhook.WithContactLookup(callevent.ContactLookupFunc(
				func(context.Context, string, string) (callevent.Contact, bool, error) {
					looked++
					return callevent.Contact{}, false, nil
				})))
			w := post(h, tt.body.Request("/phonet", phonettest.WithToken(token)))
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String()[:min(200, w.Body.Len())])
			require.Contains(t, w.Body.String(), tt.field)
			require.Less(t, w.Body.Len(), 1024, "the value is not echoed")
			require.Empty(t, sink.got())
			require.Zero(t, looked)

			_, err := phonet.ParseNotification("application/json", tt.body.JSON())
			require.ErrorIs(t, err, phonet.ErrMalformed)
		})
	}
	// At the bound, a lookup is answered.
	w := post(newHandler(t, &recorder{}), in.Lookup().With("uuid", big[1:]).Request("/phonet", phonettest.WithToken(token)))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
}

// Ids put into an API path never change the path's shape: "..", "/",
// "%2F" and the like are refused before any request, so nothing reaches
// another path of the fake Phonet.
func TestClientPathIDs(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	srv.SetRecording("users", []byte("not a recording"))
	bad := []string{"", ".", "..", "../..", "../../rest/users", "a/../../rest/users", "../users",
		"%2F..", "%2e%2e", "..%2F..%2Frest%2Fusers", "a/b", "a b", "a?b", "a#b", "a\\..\\b", "a%00",
		strings.Repeat("a", callevent.MaxFieldLen+1)}
	for _, id := range bad {
		require.ErrorIs(t, c.Hangup(t.Context(), callevent.CallControlRequest{CallID: id}), phonet.ErrInvalidID, id)
		var buf bytes.Buffer
		_, err := c.DownloadRecording(t.Context(), id, &buf)
		require.ErrorIs(t, err, phonet.ErrInvalidID, id)
		require.Zero(t, buf.Len())
		require.Empty(t, c.RecordingURL(id), id)
	}
	require.Empty(t, srv.Requests(), "no request was sent for an invalid id")

	// A valid id reaches exactly its own path.
	srv.AddActiveCall(phonettest.ActiveCall{UUID: "5c3d2e1f-0a9b.4c8d_7e6f~5a4b"})
	require.NoError(t, c.Hangup(t.Context(), callevent.CallControlRequest{CallID: "5c3d2e1f-0a9b.4c8d_7e6f~5a4b"}))
	reqs := srv.Requests()
	require.Equal(t, "/rest/calls/active/5c3d2e1f-0a9b.4c8d_7e6f~5a4b/hangup", reqs[len(reqs)-1].Path)
	for _, r := range reqs {
		require.Contains(t, []string{"/rest/security/authorize", "/rest/calls/active/5c3d2e1f-0a9b.4c8d_7e6f~5a4b/hangup"}, r.Path)
	}
}

// Credentials and the Client never show the API key or the session id,
// however they are formatted, logged or encoded.
func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	srv := phonettest.NewServer()
	t.Cleanup(srv.Close)
	const key = "k3y-SECRET-0123456789"
	srv.APIKey = key
	creds := phonet.Credentials{Domain: srv.Domain, APIKey: key}
	c, err := phonet.NewClient(creds, callbridge.WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = c.Users(t.Context()) // opens a session
	require.NoError(t, err)
	reqs := srv.Requests()
	session := reqs[len(reqs)-1].Session
	require.NotEmpty(t, session)

	for name, v := range map[string]any{
		"credentials":  creds,
		"*credentials": &creds,
		"client":       c,
		"struct holding both": struct {
			Creds  phonet.Credentials
			Client *phonet.Client
		}{creds, c},
	} {
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var buf bytes.Buffer
			slog.New(h(&buf)).Info("x", "v", v)
			out = append(out, buf.String())
			if !strings.HasPrefix(name, "struct") {
				require.Contains(t, buf.String(), "domain", "%s: logged as a group (LogValue)", name)
			}
		}
		b, err := json.Marshal(v)
		require.NoError(t, err, name)
		out = append(out, string(b))
		for _, s := range out {
			require.NotContains(t, s, key, name)
			require.NotContains(t, s, session, name)
		}
		require.Contains(t, strings.Join(out, "\n"), srv.Domain, "%s: the domain stays visible", name)
	}
}

// Clients share one transport: many clients each making a request leave
// a bounded number of idle connections (and their goroutines) behind,
// where a transport per client would keep one per client.
func TestClientsShareTransport(t *testing.T) { // not parallel: it counts goroutines
	srv := phonettest.NewServer()
	t.Cleanup(srv.Close)
	before := runtime.NumGoroutine()
	const n = 200
	for i := range n {
		c, err := srv.NewClient()
		require.NoError(t, err)
		_, err = c.Users(t.Context())
		require.NoError(t, err, "client %d", i)
	}
	require.Less(t, runtime.NumGoroutine()-before, n/4, "idle connections are pooled across clients")

	// Building many clients costs little memory and no goroutines.
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	clients := make([]*phonet.Client, 10_000)
	for i := range clients {
		var err error
		clients[i], err = phonet.NewClient(srv.Credentials())
		require.NoError(t, err)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	require.LessOrEqual(t, runtime.NumGoroutine(), g0)
	require.Less(t, int64(m1.HeapAlloc)-int64(m0.HeapAlloc), int64(len(clients))*8<<10, "under 8 KiB a client")
	runtime.KeepAlive(clients)
}

// callbridge.WithRateLimit throttles every request, the authorization included: six
// requests at 20 per second with a burst of 1 take at least 250 ms (a
// lower bound the limiter guarantees, whatever the machine's speed).
func TestClientRateLimit(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, callbridge.WithRateLimit(20, 1))
	start := time.Now()
	for range 5 {
		_, err := c.Users(t.Context())
		require.NoError(t, err)
	}
	elapsed := time.Since(start)
	require.Equal(t, 6, len(srv.Requests()), "one authorization and five requests")
	require.GreaterOrEqual(t, elapsed, 250*time.Millisecond-time.Millisecond, "5 waits of 50 ms")
}

// A record without duration (or with 0) lasted at least its talk time: it
// is accepted with Duration = billSecs and no wait, not refused as
// "billSecs exceeds duration".
func TestRecordWithoutDuration(t *testing.T) {
	t.Parallel()
	for _, dur := range []string{``, `"duration":0,`} {
		body := `{"uuid":"u1","accountDomain":"acme.phonet.com.ua","endAt":1754641335000,"lgDirection":4,` +
			`"otherLegNum":"+380501112233",` + dur + `"billSecs":118,"disposition":0}`
		n, err := phonet.ParseNotification("application/json", []byte(body))
		require.NoError(t, err, dur)
		require.NotNil(t, n.Record, dur)
		e, err := n.Record.ToEvent("UA")
		require.NoError(t, err, dur)
		require.Equal(t, 118*time.Second, e.Duration, dur)
		require.Zero(t, e.Wait, dur)
		require.Equal(t, e.EndedAt.Add(-118*time.Second), e.At, dur)
	}
}
