package match

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

func TestParseRules(t *testing.T) {
	t.Parallel()
	const src = `{
	  "default": {
	    "create": {"inbound_answered": true, "inbound_missed": true, "outbound": true},
	    "leads": {"inbound_missed": {"create": true, "source": "missed call"}},
	    "notify": {"admins": true, "extra": ["u4"], "extra_delay": "5m"},
	    "lines": [
	      {"name": "Sales", "numbers": ["+7 (495) 123-45-67", "84950000001"],
	       "missed": {"distribution": "active", "employees": ["u1", "u2"]},
	       "notify": {"extra_delay": 90}}
	    ]
	  },
	  "accounts": {"quiet": {"create": {}}}
	}`
	rs, err := ParseRules([]byte(src), "")
	require.NoError(t, err)
	base := Rule{
		Create: CreateRule{InboundAnswered: true, InboundMissed: true, Outbound: true},
		Leads:  LeadRules{InboundMissed: LeadCase{Create: true, Source: "missed call"}},
		Notify: NotifyRule{Admins: true, Extra: []string{"u4"}, ExtraDelay: Duration(5 * time.Minute)},
	}
	sales := base.clone()
	sales.Missed = MissedRule{Distribution: DistributeActive, Employees: []string{"u1", "u2"}}
	sales.Notify.ExtraDelay = Duration(90 * time.Second)
	want := RuleSet{
		Default:  Rules{Rule: base, Lines: []LineRule{{Name: "Sales", Numbers: []string{"74951234567", "74950000001"}, Rule: sales}}},
		Accounts: map[string]Rules{"quiet": {}},
	}
	require.Empty(t, cmp.Diff(want, rs))

	r, name := rs.rule("any", "74950000001")
	require.Equal(t, "Sales", name)
	require.Equal(t, sales, r)
	r, name = rs.rule("any", "79990000000")
	require.Equal(t, "", name)
	require.Equal(t, base, r)
	r, _ = rs.rule("quiet", "74950000001")
	require.Equal(t, Rule{}, r)

	// Round trip.
	b, err := json.Marshal(rs)
	require.NoError(t, err)
	again, err := ParseRules(b, "")
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
		{"bad duration", `{"default":{"notify":{"extra_delay":"soon"}}}`, "soon"},
		{"negative duration", `{"default":{"notify":{"extra_delay":"-1s"}}}`, "negative"},
		{"not JSON", `{`, "rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRules([]byte(tt.src), "")
			require.ErrorContains(t, err, tt.want)
		})
	}
	// Validate checks Go-built rule sets without changing them.
	rs := RuleSet{Accounts: map[string]Rules{"a": {Lines: []LineRule{
		{Name: "x", Numbers: []string{"8 495 123 45 67"}}, {Name: "y", Numbers: []string{"74951234567"}}}}}}
	require.ErrorContains(t, rs.Validate("RU"), "one rule only")
	require.Equal(t, "8 495 123 45 67", rs.Accounts["a"].Lines[0].Numbers[0])
}

func TestLineRuleApplies(t *testing.T) {
	t.Parallel()
	rs, err := ParseRules([]byte(`{"default":{"create":{"inbound_answered":true},
	  "lines":[{"name":"support","numbers":["74950000009"],"create":{"inbound_answered":true,"name_inbound_answered":"Support {phone} via {line}"}}]}}`), "")
	require.NoError(t, err)
	h := newHarness(t, Rule{}, WithRules(rs))
	h.send(callSpec{id: "x", dir: callevent.Inbound, phone: unknownA, line: "74950000009", ext: "101", status: callevent.Success}.events()...)
	h.send(callSpec{id: "y", dir: callevent.Inbound, phone: unknownB, ext: "101", status: callevent.Success}.events()...)
	cs := h.s.Clients()
	require.Len(t, cs, 3)
	require.Equal(t, "Support 79162222222 via 74950000009", cs[1].Name)
	require.Equal(t, []string{"74950000009"}, cs[1].Tags)
	require.Equal(t, DefaultNameInboundAnswered, cs[2].Name)
}

func TestMemoryStoreListing(t *testing.T) {
	t.Parallel()
	s, err := NewMemoryStore("RU", WithMaxCalls(3), WithMaxNotifications(2), SingleTenant())
	require.NoError(t, err)
	n, err := s.LoadClients("ignored", strings.NewReader(`[
	  {"id":"1","name":"Anna","phone":"8 916 123-45-67","responsible":"u1"},
	  {"id":"2","name":"Boris","phone":"+380 67 123 4567","responsible":"u2"}]`))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	c, ok, err := s.FindClientByPhone(t.Context(), "any account", "79161234567")
	require.NoError(t, err)
	require.True(t, ok, "single tenant: found from any account")
	require.Equal(t, "1", c.ID)
	_, err = s.LoadClients("", strings.NewReader(`[{"id":"3","phone":"not a phone"}]`))
	require.ErrorContains(t, err, `client 0 ("3")`)
	_, err = s.LoadClients("", strings.NewReader(`[{"id":"3","nmae":"typo"}]`))
	require.ErrorContains(t, err, "unknown field")

	for i, at := range []int{3, 1, 4, 2} {
		require.NoError(t, s.LogCall(t.Context(), CallRecord{Provider: "p", Account: "a", CallID: string(rune('a' + i)),
			StartedAt: t0.Add(time.Duration(at) * time.Minute)}))
	}
	// The oldest logged ("a") was evicted; an update replaces in place.
	require.NoError(t, s.LogCall(t.Context(), CallRecord{Provider: "p", Account: "a", CallID: "c", StartedAt: t0, ClientID: "1"}))
	var got []string
	for _, r := range s.Calls() {
		got = append(got, r.CallID)
	}
	require.Equal(t, []string{"d", "b", "c"}, got, "newest first")

	for _, e := range []string{"x", "y", "z"} {
		require.NoError(t, s.Notify(t.Context(), Notification{Employee: e}))
	}
	notes := s.Notifications()
	require.Len(t, notes, 2)
	require.Equal(t, "y", notes[0].Employee)
	require.Equal(t, "z", notes[1].Employee)
}

func TestCallRecordJSON(t *testing.T) {
	t.Parallel()
	r := CallRecord{Provider: "telphin", Account: "a", CallID: "1", Direction: callevent.Inbound, Status: callevent.Missed,
		ClientPhone: "79161234567", StartedAt: t0, Duration: 95 * time.Second, Wait: 20*time.Second + 400*time.Millisecond}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	require.JSONEq(t, `{"provider":"telphin","account":"a","call_id":"1","direction":"inbound","status":"missed",
	  "client_id":"","client_phone":"79161234567","employee":"","extension":"","line_phone":"",
	  "started_at":"2025-03-14T09:00:00Z","recording_url":"","lead_id":"","duration_sec":95,"wait_sec":20}`, string(b))
	var back CallRecord
	require.NoError(t, json.Unmarshal(b, &back))
	r.Wait = 20 * time.Second
	require.Equal(t, r, back)

	cb, err := json.Marshal(Client{ID: "1", Name: "n", Phone: "7", Channel: ChannelTelephony, CreatedFromCall: true})
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"1","name":"n","phone":"7","channel":"telephony","responsible":"","created_from_call":true}`, string(cb))
	lb, err := json.Marshal(Lead{ID: "l", ClientID: "1", Name: "n", Status: "new", State: LeadLost})
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"l","client_id":"1","name":"n","status":"new","state":"lost","responsible":""}`, string(lb))
}

// FuzzParseRules: any input is either rejected or gives rules that
// validate, that an engine accepts, and that survive a JSON round trip.
func FuzzParseRules(f *testing.F) {
	f.Add([]byte(`{"default":{"create":{"inbound_missed":true},"lines":[{"name":"a","numbers":["74951234567"],"missed":{"distribution":"active"}}]}}`))
	f.Add([]byte(`{"accounts":{"x":{"notify":{"extra_delay":"5m","extra":["u1"]}}}}`))
	f.Add([]byte(`{"default":{"lines":[{"name":"a","numbers":["1"]},{"name":"b","numbers":["1"]}]}}`))
	// The store is built once; an engine per input is cheap (no I/O).
	store, err := NewMemoryStore("RU")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseRules(data, "")
		if err != nil {
			return
		}
		if err := rs.Validate(""); err != nil {
			t.Fatalf("parsed rules do not validate: %v", err)
		}
		e, err := NewEngine(store, WithRules(rs))
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
		if _, err := ParseRules(b, ""); err != nil {
			t.Fatalf("round trip: %v\n%s", err, b)
		}
	})
}

func TestUnmappedExtension(t *testing.T) {
	t.Parallel()
	h := newHarness(t, DefaultRule())
	d, err := h.e.DryRun(t.Context(), callSpec{id: "u", dir: callevent.Inbound, phone: known, ext: "999", status: callevent.Success}.events()...)
	require.NoError(t, err)
	require.Equal(t, Action{Kind: ActResponsible, Reason: `extension "999" is not mapped to an employee`}, d.Actions[0])
	require.Equal(t, "", d.Call.Employee)
	require.Equal(t, "999", d.Call.Extension)
}

// TestParseRulesCountry: company numbers are read in the engine's country.
func TestParseRulesCountry(t *testing.T) {
	t.Parallel()
	src := []byte(`{"default":{"lines":[{"name":"Kyiv","numbers":["044 123 45 67"]}]}}`)
	rs, err := ParseRules(src, "UA")
	require.NoError(t, err)
	require.Equal(t, []string{"380441234567"}, rs.Default.Lines[0].Numbers)
	_, err = ParseRules(src, "RU")
	require.Error(t, err, "not a Russian number")
}
