package dialer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/internal/pgtest"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/sqlstore"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
	"github.com/callbridge/callbridge/webhook"
)

// lateSink forwards to a sink set after the handlers are built (the
// Dialer, which needs the provider's client first).
type lateSink struct {
	mu sync.Mutex
	s  callevent.Sink
}

func (l *lateSink) set(s callevent.Sink) { l.mu.Lock(); l.s = s; l.mu.Unlock() }

func (l *lateSink) HandleEvent(ctx context.Context, e callevent.Event) error {
	l.mu.Lock()
	s := l.s
	l.mu.Unlock()
	return s.HandleEvent(ctx, e)
}

// pbx is a provider's fake with its client and webhook handler, as a
// campaign sees them: calls go out through the client to the fake, the
// outcomes come back as the provider's own webhooks through its handler.
type pbx struct {
	name   string
	caller callevent.Caller
	// ext is what Config.Employees gives for agent "anna".
	ext string
	// placed lists the numbers the fake was asked to dial, digits only.
	placed func(t *testing.T) []string
	// report sends the provider's webhooks of a call ending with outcome
	// o (Answered, Busy or NoAnswer); false when the provider has no
	// webhook for that outcome (the dialer's ring timeout finds it).
	report func(t *testing.T, callID, phone string, o dialer.Outcome) bool
	// endsCalls: the provider reports the end of an answered call
	// (Finaz reports only the answer; the agent's disposition ends it).
	endsCalls bool
}

// serve runs one webhook request through h and requires a 2xx.
func serve(t *testing.T, h http.Handler, r *http.Request) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code/100 != 2 {
		t.Fatalf("%s %s: %d %s", r.Method, r.URL.Path, rec.Code, rec.Body)
	}
}

func digits(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "+") }

func newTelphin(t *testing.T, sink callevent.Sink, clock *matchtest.Clock) *pbx {
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c, err := telphin.NewClient(telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret}, callbridge.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	h, err := telphin.NewHandler(sink, webhook.WithoutAuth(), webhook.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return &pbx{name: telphin.Provider, caller: c, ext: "101", endsCalls: true,
		placed: func(t *testing.T) []string {
			var out []string
			for _, r := range srv.Requests() {
				if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/callback/") {
					var b struct {
						DstNum string `json:"dst_num"`
					}
					if err := json.Unmarshal(r.Body, &b); err != nil {
						t.Fatal(err)
					}
					out = append(out, digits(b.DstNum))
				}
			}
			return out
		},
		report: func(t *testing.T, callID, phone string, o dialer.Outcome) bool {
			ring, talk := 8*time.Second, 40*time.Second
			call := telphintest.Call{CallID: callID, SubCallID: "469100-" + callID, Client: "+" + phone, Extension: "15400*101", ExtensionID: "469100",
				Ring: ring, Talk: talk, Start: clock.Now().Add(-ring - talk)}
			send := func(v map[string][]string) { serve(t, h, telphintest.NewRequest("/hooks/telphin/app", "", v)) }
			send(call.DialOut())
			switch o {
			case dialer.Answered:
				send(call.AnswerOut())
				send(call.HangupOut("ANSWER"))
			case dialer.Busy:
				send(call.HangupOut("BUSY"))
			default:
				send(call.HangupOut("NOANSWER"))
			}
			return true
		}}
}

func newMegafon(t *testing.T, sink callevent.Sink, clock *matchtest.Clock) *pbx {
	srv := megafontest.NewServer()
	t.Cleanup(srv.Close)
	c, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey}, callbridge.WithBaseURL(srv.URL),
		callbridge.WithRateLimit(math.Inf(1), 1))
	if err != nil {
		t.Fatal(err)
	}
	const token = "crm-token"
	h, err := megafon.NewHandler(sink, webhook.WithToken(token), webhook.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return &pbx{name: megafon.Provider, caller: c, ext: "andy", endsCalls: true,
		placed: func(*testing.T) []string {
			var out []string
			for _, r := range srv.Requests() {
				if r.Op == megafontest.OpMakeCall {
					out = append(out, digits(r.Params.Get("phone")))
				}
			}
			return out
		},
		report: func(t *testing.T, callID, phone string, o dialer.Outcome) bool {
			call := megafontest.Call{ID: callID, Direction: "out", Phone: phone, User: "andy", Ext: "701"}
			send := func(v map[string][]string) { serve(t, h, megafontest.NewRequest("/hooks/megafon", token, v)) }
			send(megafontest.Event("OUTGOING", call))
			// The hang-up comes first without a status; the history push
			// after it says how the call ended.
			switch o {
			case dialer.Answered:
				send(megafontest.Event("ACCEPTED", call))
				send(megafontest.Event("COMPLETED", call))
				send(megafontest.History(call, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 50}))
			case dialer.Busy:
				send(megafontest.Event("CANCELLED", call))
				send(megafontest.History(call, megafontest.Outcome{Status: "Busy", Start: clock.Now().Add(-time.Minute), Duration: 5}))
			default:
				send(megafontest.Event("CANCELLED", call))
				send(megafontest.History(call, megafontest.Outcome{Status: "NotAvailable", Start: clock.Now().Add(-time.Minute), Duration: 30}))
			}
			return true
		}}
}

func newPhonet(t *testing.T, sink callevent.Sink, clock *matchtest.Clock) *pbx {
	srv := phonettest.NewServer()
	t.Cleanup(srv.Close)
	c, err := srv.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	h, err := phonet.NewHandler(sink, webhook.WithoutAuth(), webhook.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return &pbx{name: phonet.Provider, caller: c, ext: "001", endsCalls: true,
		placed: func(t *testing.T) []string {
			var out []string
			for _, r := range srv.Requests() {
				if r.Path == "/rest/user/makeCall" {
					var b struct {
						OtherLegNum string `json:"otherLegNum"`
					}
					if err := json.Unmarshal(r.Body, &b); err != nil {
						t.Fatal(err)
					}
					out = append(out, digits(b.OtherLegNum))
				}
			}
			return out
		},
		report: func(t *testing.T, callID, phone string, o dialer.Outcome) bool {
			call := phonettest.OutboundCall()
			call.UUID, call.Client, call.ClientName, call.Ext = callID, "+"+phone, "+"+phone, "001"
			if o != dialer.Answered {
				call.BridgeAt = time.Time{}
			}
			call = call.At(clock.Now().Add(-2 * time.Minute))
			send := func(b phonettest.Body) { serve(t, h, b.Request("/hooks/phonet/call")) }
			send(call.Dial())
			if o == dialer.Answered {
				send(call.Bridge())
			}
			send(call.Hangup())
			rec := call.Record()
			if o == dialer.Busy {
				rec = rec.With("disposition", 4)
			}
			send(rec)
			return true
		}}
}

func newFinaz(t *testing.T, sink callevent.Sink, clock *matchtest.Clock) *pbx {
	srv := finaztest.NewServer()
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	seq := 0
	srv.Handle("POST", "/calls", func(finaztest.Request) finaztest.Response {
		mu.Lock()
		defer mu.Unlock()
		seq++
		return finaztest.Response{Status: 201, Body: fmt.Sprintf(`{"call_id":"fz-%d"}`, seq)}
	})
	c, err := finaz.NewClient(finaz.Config{
		Click2Call: &finaz.RequestTemplate{
			Method:   "POST",
			URL:      "calls",
			Body:     &finaz.Body{Type: "form", Form: map[string]string{"ramal": "{{ramal_operador}}", "numero": "+{{telefone}}"}},
			Response: &finaz.ResponseSpec{SuccessStatus: []int{201}, CallIDField: "call_id"},
		},
	}, callbridge.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	h, err := finaz.NewHandler(sink, webhook.WithoutAuth(), webhook.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return &pbx{name: finaz.Provider, caller: c, ext: "201",
		placed: func(*testing.T) []string {
			var out []string
			for _, r := range srv.Requests() {
				if r.Path == "/calls" {
					out = append(out, digits(r.Form.Get("numero")))
				}
			}
			return out
		},
		report: func(t *testing.T, callID, phone string, o dialer.Outcome) bool {
			// Finaz notifies the answer only.
			if o != dialer.Answered {
				return false
			}
			serve(t, h, finaztest.NewDiscadorRequest("/telephony-proxy/", finaztest.Notification{
				PID: "L1", Num: "+" + phone, CID: callID, Ramal: "201", EmpresaID: "e1"}))
			return true
		}}
}

// providers are the fakes every campaign test runs against.
var providers = []struct {
	name string
	new  func(t *testing.T, sink callevent.Sink, clock *matchtest.Clock) *pbx
}{
	{"telphin", newTelphin},
	{"megafon", newMegafon},
	{"phonet", newPhonet},
	{"finaz", newFinaz},
}

// opener returns for a test a function that opens its store: the same
// data at every call (the first one empty), as a restarted process finds
// it.
type opener func(t *testing.T) func() dialer.Store

// backends are the stores a restart is tested with.
var backends = []struct {
	name string
	open opener
}{
	{"memory", memory},
	{"sqlite", func(t *testing.T) func() dialer.Store {
		path := filepath.Join(t.TempDir(), "callbridge.db")
		return func() dialer.Store { return openDB(t, path) }
	}},
	{"postgres", func(t *testing.T) func() dialer.Store {
		dsn := pgtest.NewDatabase(t)
		return func() dialer.Store { return openDB(t, dsn) }
	}},
}

// memory is a MemStore kept across restarts.
func memory(*testing.T) func() dialer.Store {
	s := dialer.NewMemStore()
	return func() dialer.Store { return s }
}

func openDB(t *testing.T, dsn string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// forEachProvider runs f against each provider's fake, with a rig whose
// provider is the fake's (employee "anna" is its agent).
func forEachProvider(t *testing.T, open opener, f func(t *testing.T, r *rig, p *pbx)) {
	for _, pv := range providers {
		t.Run(pv.name, func(t *testing.T) {
			t.Parallel()
			sink := &lateSink{}
			clock := matchtest.NewClock(t0)
			p := pv.new(t, sink, clock)
			r := &rig{t: t, clock: clock, reopen: open(t), hooks: &hooks{}}
			r.store = r.reopen()
			r.cfg = dialer.Config{
				Store:     r.store,
				Callers:   map[string]callevent.Caller{p.name: p.caller},
				Employees: dialer.StaticEmployees{"anna": p.ext},
				Clock:     clock,
				OnCall:    r.hooks.on,
			}
			r.open()
			sink.set(dialerSink{r})
			f(t, r, p)
		})
	}
}

// dialerSink delivers to the rig's current Dialer (a new one after a
// restart).
type dialerSink struct{ r *rig }

func (s dialerSink) HandleEvent(ctx context.Context, e callevent.Event) error {
	return s.r.d.HandleEvent(ctx, e)
}
