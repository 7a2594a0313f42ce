package amocrm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
	"github.com/callbridge/callbridge/webhook"
)

// Users of the fake account and the extension map of the tests.
const (
	op1    = 8375357 // extensions 101 and 102
	op2    = 8375358 // extension 201
	missed = 8375359 // the missed-calls manager, extension 301
	line   = "74951234567"
	acct   = "app1"
	hook   = "https://crm.example/telphin/" + acct
	token  = "hook-secret"
)

var extensions = map[string]int64{"101": op1, "102": op1, "201": op2, "301": missed}

// noBackoff keeps the default number of retries without waiting.
func noBackoff() callbridge.ClientOption {
	return callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: callbridge.DefaultMaxRetries,
		Backoff: func(int, *http.Response) time.Duration { return 0 }})
}

// noRetries turns retries off.
func noRetries() callbridge.ClientOption {
	return callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 0})
}

// noRateLimit turns the client-side rate limit off.
func noRateLimit() callbridge.ClientOption {
	return callbridge.WithRateLimit(float64(rate.Inf), 1)
}

// env is the whole chain: Telphin webhooks → telphin handler →
// match.Engine(amocrm.Store, which also shows the cards) → fake amoCRM.
type env struct {
	t       testing.TB
	srv     *amocrmtest.Server
	client  *amocrm.Client
	store   *amocrm.Store
	engine  *match.Engine
	handler http.Handler
	clock   *matchtest.Clock
}

type envConfig struct {
	rule match.Rule
	// noPopups: the engine shows no cards (match.WithPopUps(nil): the
	// Store's PopUp is not called, nor the leads read for the cards).
	noPopups  bool
	clientOpt []callbridge.ClientOption
	// storeOpt are added to the Store's options.
	storeOpt []amocrm.StoreOption
	// srv, if set, is the fake to use (a restarted gateway); newEnv
	// starts one otherwise.
	srv *amocrmtest.Server
	// engineOpt are added to the engine's options.
	engineOpt []match.Option
}

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	srv := cfg.srv
	if srv == nil {
		srv = amocrmtest.NewServer()
		t.Cleanup(srv.Close)
	}
	opts := append([]callbridge.ClientOption{callbridge.WithBaseURL(srv.URL), callbridge.WithHTTPClient(srv.Client()), noBackoff()}, cfg.clientOpt...)
	if cfg.clientOpt == nil {
		srv.SetRateLimit(math.Inf(1), 1)
		opts = append(opts, noRateLimit())
	}
	client, err := amocrm.NewClient(amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: srv.LongLivedToken()}, opts...)
	require.NoError(t, err)
	clock := matchtest.NewClock(callStart.Truncate(time.Second))
	store, err := amocrm.NewStore(client, append([]amocrm.StoreOption{amocrm.WithExtensions(extensions), amocrm.WithClock(clock.Now)}, cfg.storeOpt...)...)
	require.NoError(t, err)
	engineOpts := []match.Option{match.WithRules(match.RuleSet{Default: match.Rules{Rule: cfg.rule}}), match.WithClock(clock)}
	if cfg.noPopups {
		engineOpts = append(engineOpts, match.WithPopUps(nil))
	}
	engineOpts = append(engineOpts, cfg.engineOpt...)
	engine, err := match.NewEngine(store, engineOpts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = engine.Close(context.Background()) })
	// The application adds the recording link (Telphin's event carries
	// only a record id; telphin.Client.RecordingURL resolves it).
	withRecording := callevent.SinkFunc(func(ctx context.Context, ev callevent.Event) error {
		if ev.Kind == callevent.Completed && ev.Status == callevent.Success {
			ev.RecordingURL = "https://pbx.example.com/rec/" + ev.CallID + ".mp3"
		}
		return engine.HandleEvent(ctx, ev)
	})
	// The webhook's time window is checked against the engine's clock,
	// which starts when the tests' calls do.
	h, err := telphin.NewHandler(withRecording, webhook.WithToken(token), webhook.WithClock(clock.Now))
	require.NoError(t, err)
	return &env{t: t, srv: srv, client: client, store: store, engine: engine, handler: h, clock: clock}
}

// send posts Telphin webhooks to the handler and requires 200.
func (e *env) send(reqs ...url.Values) {
	e.t.Helper()
	require.NoError(e.t, e.deliver(reqs...))
	e.settle()
}

// deliver posts the requests without moving the clock (for concurrent
// senders, which settle once afterwards) and returns an error for the
// first answer other than 200. It may run on any goroutine: it never
// fails the test itself.
func (e *env) deliver(reqs ...url.Values) error {
	for _, fields := range reqs {
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, telphintest.NewRequest(hook, token, fields))
		if w.Code != http.StatusOK {
			return fmt.Errorf("%s: answered %d: %s", fields.Get("EventType"), w.Code, w.Body.String())
		}
	}
	return nil
}

// settle moves the clock past match.DefaultSettle: Telphin reports legs,
// so the engine acts once a call has settled.
func (e *env) settle() { e.clock.Advance(match.DefaultSettle) }

// requests renders the fake's /api/ requests as "METHOD path?query body",
// the body in canonical JSON, so tests compare them exactly.
func requests(srv *amocrmtest.Server) []string {
	var out []string
	for _, r := range srv.APIRequests() {
		s := r.Method + " " + r.Path
		if len(r.Query) > 0 {
			s += "?" + r.Query.Encode()
		}
		if len(r.Body) > 0 {
			s += " " + canon(string(r.Body))
		}
		out = append(out, s)
	}
	return out
}

// canon re-encodes JSON with sorted keys.
func canon(s string) string {
	var v any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "INVALID JSON " + s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}

// call describes a Telphin call of the tests.
type call struct {
	id     string // 32 hex
	client string // "+79161111111"
	ext    string // "101"
}

func (c call) tc() telphintest.Call {
	return telphintest.Call{CallID: c.id, SubCallID: "124575-" + c.id, Client: c.client, DID: line, Extension: "3515*" + c.ext, Start: callStart}
}

// inboundAnswered: dial-in, answer, hangup.
func (c call) inboundAnswered() []url.Values {
	t := c.tc()
	return []url.Values{t.DialIn(), t.Answer(), t.Hangup()}
}

// inboundMissed: dial-in to the extension, its NOANSWER hangup, and the
// queue's Bridged=no hangup.
func (c call) inboundMissed() []url.Values {
	t := c.tc()
	legEnd := t.Hangup()
	legEnd.Set("CallStatus", "NOANSWER")
	legEnd.Set("Duration", "0")
	legEnd.Set("EventTime", t.QueueMissed().Get("EventTime")) // the leg stops ringing when the caller hangs up
	return []url.Values{t.DialIn(), legEnd, t.QueueMissed()}
}

func (c call) outbound(status string) []url.Values {
	t := c.tc()
	return []url.Values{t.DialOut(), t.HangupOut(status)}
}

// callJSON is the body item the Store sends for a call (in /calls) or
// the params of a call note.
func callJSON(dir, id, phone string, duration int, link, result string, status int, emp int64) map[string]any {
	m := map[string]any{"direction": dir, "uniq": amocrm.CallUniq("telphin", acct, id), "duration": duration,
		"source": "callbridge", "phone": phone, "call_result": result, "call_status": status,
		"call_responsible": emp, "responsible_user_id": emp, "created_by": emp, "created_at": startUnix}
	if link != "" {
		m["link"] = link
	}
	return m
}

// callStart is when the tests' calls begin ringing; the engine's clock
// starts there too.
var callStart = time.Date(2025, 3, 14, 9, 0, 0, 746286000, time.UTC)

// startUnix is callStart in Unix seconds (the calls' created_at).
var startUnix = callStart.Unix()

func callsBody(c map[string]any) string {
	c["request_id"] = "0"
	return mustJSON([]any{c})
}

func noteBody(entityID int64, c map[string]any) string {
	typ := "call_in"
	if c["direction"] == "outbound" {
		typ = "call_out"
	}
	params := map[string]any{}
	for k, v := range c {
		switch k {
		case "direction", "responsible_user_id", "created_by", "created_at", "request_id":
		default:
			params[k] = v
		}
	}
	return mustJSON([]any{map[string]any{"entity_id": entityID, "note_type": typ, "responsible_user_id": c["responsible_user_id"],
		"created_by": c["created_by"], "created_at": c["created_at"], "request_id": "0", "params": params}})
}

func popup(phone string, users ...int64) string {
	return "POST /api/v2/events " + mustJSON(map[string]any{"add": []any{map[string]any{"type": "phone_call", "phone_number": phone, "users": users}}})
}

// search is the Store's search for contacts with a phone.
func search(last10 string) string {
	return "GET /api/v4/contacts?" + url.Values{"limit": {"50"}, "query": {last10}, "with": {"leads"}}.Encode()
}

// searchCompanies is the Store's search for companies with a phone, made
// when no contact has it.
func searchCompanies(last10 string) string {
	return "GET /api/v4/companies?" + url.Values{"limit": {"50"}, "query": {last10}, "with": {"leads"}}.Encode()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return canon(string(b))
}

type (
	urlValues     = url.Values
	urlValuesList = []url.Values
)

func list(vs ...[]url.Values) []urlValuesList { return vs }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
