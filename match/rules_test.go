package match_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

func TestParseRules(t *testing.T) {
	t.Parallel()
	const src = `{
	  "default": {
	    "create": {"inbound_answered": true, "inbound_missed": true, "outbound": true},
	    "leads": {"inbound_missed": {"create": true, "source": "missed call"}},
	    "notify": {"admins": true, "extra": ["u4"], "delay": "5m"},
	    "lines": [
	      {"name": "Sales", "numbers": ["+7 (495) 123-45-67", "84950000001"],
	       "missed": {"distribution": "active", "employees": ["u1", "u2"]},
	       "notify": {"delay": 90}}
	    ]
	  },
	  "accounts": {"quiet": {"create": {}}}
	}`
	rs, err := match.ParseRules([]byte(src), "")
	require.NoError(t, err)
	base := match.Rule{
		Create: match.CreateRule{InboundAnswered: true, InboundMissed: true, Outbound: true},
		Leads:  match.LeadRules{InboundMissed: match.LeadCase{Create: true, Source: "missed call"}},
		Notify: match.NotifyRule{Admins: true, Extra: []string{"u4"}, Delay: match.Duration(5 * time.Minute)},
	}
	sales := base.Clone()
	sales.Missed = match.MissedRule{Distribution: match.DistributeActive, Employees: []string{"u1", "u2"}}
	sales.Notify.Delay = match.Duration(90 * time.Second)
	want := match.RuleSet{
		Default:  match.Rules{Rule: base, Lines: []match.LineRule{{Name: "Sales", Numbers: []string{"74951234567", "74950000001"}, Rule: sales}}},
		Accounts: map[string]match.Rules{"quiet": {}},
	}
	require.Empty(t, cmp.Diff(want, rs))

	r, name := rs.RuleFor("any", "74950000001")
	require.Equal(t, "Sales", name)
	require.Equal(t, sales, r)
	r, name = rs.RuleFor("any", "79990000000")
	require.Equal(t, "", name)
	require.Equal(t, base, r)
	r, _ = rs.RuleFor("quiet", "74950000001")
	require.Equal(t, match.Rule{}, r)

	// Round trip.
	b, err := json.Marshal(rs)
	require.NoError(t, err)
	again, err := match.ParseRules(b, "")
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(rs, again))
}

func TestParseRulesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src, want string }{
		{"number in two lines", `{"default":{"lines":[{"name":"a","numbers":["74951234567"]},{"name":"b","numbers":["8 495 123-45-67"]}]}}`,
			`already in line "a"`},
		{"number twice in one line", `{"default":{"lines":[{"name":"a","numbers":["74951234567","+74951234567"]}]}}`, "one rule only"},
		{"not a phone", `{"default":{"lines":[{"name":"a","numbers":["hello"]}]}}`, `number "hello"`},
		{"no numbers", `{"default":{"lines":[{"name":"a"}]}}`, "no numbers"},
		{"unknown field", `{"default":{"create":{"inbound":true}}}`, "unknown field"},
		{"unknown field in a line", `{"default":{"lines":[{"name":"a","numbers":["74951234567"],"oops":1}]}}`, "lines[0]"},
		{"bad distribution", `{"accounts":{"x":{"missed":{"distribution":"random"}}}}`, `unknown distribution "random"`},
		{"bad duration", `{"default":{"notify":{"delay":"soon"}}}`, "soon"},
		{"negative duration", `{"default":{"notify":{"delay":"-1s"}}}`, "negative"},
		{"not JSON", `{`, "rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := match.ParseRules([]byte(tt.src), "")
			require.ErrorContains(t, err, tt.want)
		})
	}
	// Validate checks Go-built rule sets without changing them.
	rs := match.RuleSet{Accounts: map[string]match.Rules{"a": {Lines: []match.LineRule{
		{Name: "x", Numbers: []string{"8 495 123 45 67"}}, {Name: "y", Numbers: []string{"74951234567"}}}}}}
	require.ErrorContains(t, rs.Validate("RU"), "one rule only")
	require.Equal(t, "8 495 123 45 67", rs.Accounts["a"].Lines[0].Numbers[0])
}

func TestLineRuleApplies(t *testing.T) {
	t.Parallel()
	rs, err := match.ParseRules([]byte(`{"default":{"create":{"inbound_answered":true},
	  "lines":[{"name":"support","numbers":["74950000009"],"create":{"inbound_answered":true,"name_inbound_answered":"Support {phone} via {line}"}}]}}`), "")
	require.NoError(t, err)
	h := newHarness(t, match.Rule{}, match.WithRules(rs))
	h.send(callSpec{id: "x", dir: callevent.Inbound, phone: unknownA, line: "74950000009", ext: "101", status: callevent.Success}.events()...)
	h.send(callSpec{id: "y", dir: callevent.Inbound, phone: unknownB, ext: "101", status: callevent.Success}.events()...)
	cs := h.s.Clients()
	require.Len(t, cs, 3)
	require.Equal(t, "Support 79162222222 via 74950000009", cs[1].Name)
	require.Equal(t, []string{"74950000009"}, cs[1].Tags)
	require.Equal(t, "Автоконтакт: Входящий", cs[2].Name, "the default name")
}

func TestCallRecordJSON(t *testing.T) {
	t.Parallel()
	r := match.CallRecord{Provider: "telphin", Account: "a", CallID: "1", Direction: callevent.Inbound, Status: callevent.Missed,
		ClientPhone: "79161234567", StartedAt: t0, Duration: 95 * time.Second, Wait: 20*time.Second + 400*time.Millisecond}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	require.JSONEq(t, `{"provider":"telphin","account":"a","call_id":"1","direction":"inbound","status":"missed",
	  "client_id":"","client_phone":"79161234567","employee":"","extension":"","line_phone":"",
	  "started_at":"2025-03-14T09:00:00Z","recording_url":"","lead_id":"","duration_sec":95,"wait_sec":20.4}`, string(b))
	var back match.CallRecord
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, r, back, "seconds keep their fraction: the record reads back unchanged")

	cb, err := json.Marshal(match.Client{ID: "1", Name: "n", Phone: "7", Channel: match.ChannelTelephony, CreatedFromCall: true})
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"1","name":"n","phone":"7","channel":"telephony","responsible":"","created_from_call":true}`, string(cb))
	lb, err := json.Marshal(match.Lead{ID: "l", ClientID: "1", Name: "n", Status: "new", State: match.LeadLost})
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"l","client_id":"1","name":"n","status":"new","state":"lost","responsible":""}`, string(lb))
}

// FuzzParseRules: any input is either rejected or gives rules that
// validate, that an engine accepts, and that survive a JSON round trip.
func FuzzParseRules(f *testing.F) {
	f.Add([]byte(`{"default":{"create":{"inbound_missed":true},"lines":[{"name":"a","numbers":["74951234567"],"missed":{"distribution":"active"}}]}}`))
	f.Add([]byte(`{"accounts":{"x":{"notify":{"delay":"5m","extra":["u1"]}}}}`))
	f.Add([]byte(`{"default":{"lines":[{"name":"a","numbers":["1"]},{"name":"b","numbers":["1"]}]}}`))
	// The store is built once; an engine per input is cheap (no I/O).
	store, err := memstore.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := match.ParseRules(data, "")
		if err != nil {
			return
		}
		if err := rs.Validate(""); err != nil {
			t.Fatalf("parsed rules do not validate: %v", err)
		}
		e, err := match.NewEngine(store, match.WithRules(rs))
		if err != nil {
			t.Fatalf("an engine refuses parsed rules: %v", err)
		}
		if err := e.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(rs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := match.ParseRules(b, ""); err != nil {
			t.Fatalf("round trip: %v\n%s", err, b)
		}
	})
}

func TestUnmappedExtension(t *testing.T) {
	t.Parallel()
	h := newHarness(t, match.DefaultRule())
	d, err := h.e.DryRun(t.Context(), callSpec{id: "u", dir: callevent.Inbound, phone: known, ext: "999", status: callevent.Success}.events()...)
	require.NoError(t, err)
	require.Equal(t, match.Action{Kind: match.ActResponsible, Reason: `extension "999" is not mapped to an employee`}, d.Actions[0])
	require.Equal(t, "", d.Call.Employee)
	require.Equal(t, "999", d.Call.Extension)
}

// TestParseRulesCountry: company numbers are read in the engine's country.
func TestParseRulesCountry(t *testing.T) {
	t.Parallel()
	src := []byte(`{"default":{"lines":[{"name":"Kyiv","numbers":["044 123 45 67"]}]}}`)
	rs, err := match.ParseRules(src, "UA")
	require.NoError(t, err)
	require.Equal(t, []string{"380441234567"}, rs.Default.Lines[0].Numbers)
	_, err = match.ParseRules(src, "RU")
	require.Error(t, err, "not a Russian number")
}
