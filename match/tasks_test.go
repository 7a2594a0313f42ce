package match_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

// withTasks is rule with call-back tasks on.
func withTasks(rule match.Rule, tr match.TaskRule) match.Rule {
	tr.Enabled = true
	rule.Task = tr
	return rule
}

// missedAt is when a missed callSpec call ended (its Completed EndedAt).
var missedAt = t0.Add(20 * time.Second)

// groupMissed is an inbound call from phone that a ring group or queue
// rang on three agents' legs, none of whom answered: each leg reports its
// own final record.
func groupMissed(callID, phone string) []callevent.Event {
	leg := func(id, legID, ext string, k callevent.Kind) callevent.Event {
		return callevent.Event{ID: id, Provider: "telphin", Account: acct, Kind: k, Direction: callevent.Inbound, CallID: callID,
			LegID: legID, ClientPhone: phone, LinePhone: line, Extension: ext, At: t0}
	}
	var evs []callevent.Event
	for _, a := range []struct{ leg, ext string }{{"a", "101"}, {"b", "201"}, {"c", "401"}} {
		done := leg(callID+"-"+a.leg+"2", a.leg, a.ext, callevent.Completed)
		done.Status, done.EndedAt, done.Wait = callevent.NotAvailable, missedAt, 20*time.Second
		evs = append(evs, leg(callID+"-"+a.leg+"1", a.leg, a.ext, callevent.Ringing), done)
	}
	return evs
}

// TestMissedCallTask: a missed inbound call becomes exactly one call-back
// task for the employee the missed-call notification goes to, due the
// rule's deadline after the call; a ring group that rang several agents
// is one call, one task; answered calls, outbound calls, anonymous calls
// and rules without Task make none.
func TestMissedCallTask(t *testing.T) {
	t.Parallel()
	in, out := callevent.Inbound, callevent.Outbound
	withManager := match.DefaultRule()
	withManager.Missed.Manager = "u3"
	noCreate := match.DefaultRule()
	noCreate.Create = match.CreateRule{}
	missedKnown := callSpec{id: "m1", dir: in, phone: known, ring: "101", status: callevent.Missed}
	missedUnknown := callSpec{id: "m2", dir: in, phone: unknownA, ring: "101", status: callevent.Missed}

	task := func(callID, phone, clientID, resp string) match.Task {
		return match.Task{ID: "t1", Account: acct, ClientID: clientID, Phone: phone, Provider: "telphin", CallID: callID,
			Responsible: resp, Text: "Перезвонить клиенту +" + phone, Due: missedAt.Add(match.DefaultTaskDeadline), CreatedAt: t0}
	}
	group := task("g1", known, "k1", "u2")
	group.CreatedAt = t0.Add(match.DefaultSettle) // decided once the legs settled
	custom := task("m1", known, "k1", "u2")
	custom.Text, custom.Due = "Call +"+known+" back (line "+line+")", missedAt.Add(15*time.Minute)

	tests := []struct {
		name   string
		rule   match.Rule
		events []callevent.Event
		want   []match.Task
	}{
		{
			name: "known client: the client's responsible", rule: withTasks(match.DefaultRule(), match.TaskRule{}),
			events: missedKnown.events(), want: []match.Task{task("m1", known, "k1", "u2")},
		},
		{
			name: "unknown number: the missed-calls manager, the client created for it", rule: withTasks(withManager, match.TaskRule{}),
			events: missedUnknown.events(), want: []match.Task{task("m2", unknownA, "c1", "u3")},
		},
		{
			name: "unknown number, creating clients off: a task without a client", rule: withTasks(noCreate, match.TaskRule{}),
			events: missedUnknown.events(), want: []match.Task{task("m2", unknownA, "", "")},
		},
		{
			name: "deadline and text of the rule", rule: withTasks(match.DefaultRule(),
				match.TaskRule{Deadline: match.Duration(15 * time.Minute), Text: "Call +{phone} back (line {line})"}),
			events: missedKnown.events(), want: []match.Task{custom},
		},
		{
			name: "a ring group rang three agents: one task", rule: withTasks(match.DefaultRule(), match.TaskRule{}),
			events: groupMissed("g1", known), want: []match.Task{group},
		},
		{
			name: "rule without Task: no task", rule: match.DefaultRule(), events: missedKnown.events(),
		},
		{
			name: "answered inbound: no task", rule: withTasks(match.DefaultRule(), match.TaskRule{}),
			events: callSpec{id: "a1", dir: in, phone: known, ext: "101", status: callevent.Success}.events(),
		},
		{
			name: "outbound not answered: no task", rule: withTasks(match.DefaultRule(), match.TaskRule{}),
			events: callSpec{id: "o1", dir: out, phone: known, ext: "101", status: callevent.Busy}.events(),
		},
		{
			name: "anonymous caller: no number to call back", rule: withTasks(match.DefaultRule(), match.TaskRule{}),
			events: callSpec{id: "x1", dir: in, phone: "", ring: "101", status: callevent.Missed}.events(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var decided []match.Decision
			h := newHarness(t, tt.rule, match.WithOnDecision(func(_ context.Context, d match.Decision) { decided = append(decided, d) }))
			for _, ev := range tt.events {
				h.send(ev, ev) // each delivered twice
			}
			h.clock.Advance(match.DefaultSettle) // the group's legs settle
			require.Len(t, decided, 1, "the call is decided once")
			if diff := cmp.Diff(tt.want, h.s.Tasks()); diff != "" {
				t.Errorf("tasks (-want +got):\n%s", diff)
			}
			created := 0
			for _, a := range decided[0].Actions {
				if a.Kind == match.ActCreateTask && strings.Contains(a.Reason, "due") {
					created++
				}
			}
			require.Equal(t, len(tt.want), created, "the decision explains the task:\n%s", decided[0])
		})
	}
}

// TestMissedCallTaskDecidedAgain: a missed call decided again (by an
// engine started after a restart, over the same store) or retried after
// the task store failed half-way still has one task, and its other side
// effects happen once.
func TestMissedCallTaskDecidedAgain(t *testing.T) {
	t.Parallel()
	rule := withTasks(match.DefaultRule(), match.TaskRule{})
	missed := callSpec{id: "m1", dir: callevent.Inbound, phone: known, ring: "101", status: callevent.Missed}

	t.Run("restart", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, rule)
		h.send(missed.events()...)
		again, err := match.NewEngine(h.s, match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}), match.WithClock(h.clock))
		require.NoError(t, err)
		defer again.Close(context.Background())
		for _, ev := range missed.events() {
			require.NoError(t, again.HandleEvent(context.Background(), ev))
		}
		tasks := h.s.Tasks()
		require.Len(t, tasks, 1, "one task for the call decided by two engines: %+v", tasks)
		require.Equal(t, "m1", tasks[0].CallID)
	})

	t.Run("task store fails, the redelivery retries", func(t *testing.T) {
		t.Parallel()
		ts, err := memstore.New()
		require.NoError(t, err)
		flaky := &flakyTasks{TaskStore: ts, createFails: 1}
		h := newHarness(t, rule, match.WithTaskStore(flaky))
		evs := missed.events()
		h.send(evs[:len(evs)-1]...)
		err = h.e.HandleEvent(context.Background(), evs[len(evs)-1])
		require.ErrorIs(t, err, errFlaky, "the decision fails with the task store")
		require.Empty(t, mustOpen(t, flaky, acct))
		h.send(evs[len(evs)-1]) // the provider redelivers
		tasks := mustOpen(t, flaky, acct)
		require.Len(t, tasks, 1, "the retry creates the task")
		require.Equal(t, "u2", tasks[0].Responsible)
		require.Len(t, h.s.Calls(), 1, "the call is logged once")
		require.Len(t, h.s.Notifications(), 1, "the responsible is told once")
	})
}

// TestCallBackClosesTasks: an answered outbound call to the number closes
// its open tasks (by the call, at its answer); so does an answered inbound
// call from it (the client reached us). An unanswered call back, or a call
// with another number, closes nothing. Closing does not depend on the
// line rule of the call back.
func TestCallBackClosesTasks(t *testing.T) {
	t.Parallel()
	in, out := callevent.Inbound, callevent.Outbound
	answeredAt := t0.Add(20 * time.Second) // of an answered callSpec call
	tests := []struct {
		name     string
		callBack callSpec
		closedBy string // "" = still open
	}{
		{"answered outbound", callSpec{id: "cb", dir: out, phone: known, ext: "201", status: callevent.Success}, "telphin/cb"},
		{"answered outbound on a line whose rule has no tasks",
			callSpec{id: "cb", dir: out, phone: known, line: "74950000009", ext: "201", status: callevent.Success}, "telphin/cb"},
		{"answered inbound: the client reached us", callSpec{id: "cb", dir: in, phone: known, ext: "101", status: callevent.Success}, "telphin/cb"},
		{"outbound not answered", callSpec{id: "cb", dir: out, phone: known, ext: "201", status: callevent.Busy}, ""},
		{"answered outbound to another number", callSpec{id: "cb", dir: out, phone: unknownA, ext: "201", status: callevent.Success}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs, err := match.ParseRules([]byte(`{"default": {"create": {"inbound_missed": true, "outbound": true}, "task": {"enabled": true},
			  "lines": [{"name": "quiet", "numbers": ["74950000009"], "task": {"enabled": false}}]}}`), "")
			require.NoError(t, err)
			var decided []match.Decision
			h := newHarness(t, match.Rule{}, match.WithRules(rs),
				match.WithOnDecision(func(_ context.Context, d match.Decision) { decided = append(decided, d) }))
			h.send(callSpec{id: "m1", dir: in, phone: known, ring: "101", status: callevent.Missed}.events()...)
			h.send(callSpec{id: "m2", dir: in, phone: known, ring: "101", status: callevent.Missed, at: t0.Add(time.Minute)}.events()...)
			require.Len(t, h.s.Tasks(), 2, "two missed calls, two tasks")
			h.clock.Advance(5 * time.Minute)
			cb := tt.callBack
			cb.at = h.clock.Now()
			h.send(cb.events()...)

			tasks := h.s.Tasks()
			require.Len(t, tasks, 2)
			open, err := h.s.OpenTasks(context.Background(), acct)
			require.NoError(t, err)
			if tt.closedBy == "" {
				require.Len(t, open, 2, "nothing is closed")
				for _, a := range decided[len(decided)-1].Actions {
					require.NotEqual(t, match.ActCloseTasks, a.Kind)
				}
				return
			}
			require.Empty(t, open, "every open task of the number is closed")
			for _, tk := range tasks {
				require.True(t, tk.Done)
				require.Equal(t, tt.closedBy, tk.DoneBy)
				require.Equal(t, answeredAt.Add(5*time.Minute), tk.DoneAt, "closed at the call back's answer")
			}
			last := decided[len(decided)-1]
			require.Contains(t, last.String(), "close tasks client=k1: answered "+cb.dir.String()+" call: call-back tasks t1, t2 of this number closed")
		})
	}
}

// TestEscalateOverdue: a task overdue and not done tells every admin once,
// with a NotifyTaskOverdue notification, and is marked escalated, however
// often and by however many engines EscalateOverdue runs; a notification
// that fails is retried by the next run; a task done or not yet due tells
// nobody.
func TestEscalateOverdue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rule := withTasks(match.DefaultRule(), match.TaskRule{Deadline: match.Duration(30 * time.Minute)})
	notifier := &recordingNotifier{failFor: map[string]int{"u5": 1}}
	h := newHarness(t, rule, match.WithNotifier(notifier))
	h.s.SetEmployees(acct, append(employees(), match.Employee{ID: "u5", Name: "Dana", Extensions: []string{"501"}, Admin: true})...)
	other, err := match.NewEngine(h.s, match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}), match.WithClock(h.clock),
		match.WithNotifier(notifier))
	require.NoError(t, err)
	defer other.Close(ctx)

	h.send(callSpec{id: "m1", dir: callevent.Inbound, phone: known, ring: "101", status: callevent.Missed}.events()...)
	h.send(callSpec{id: "m2", dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed}.events()...)
	// m2's number is called back in time.
	h.send(callSpec{id: "cb", dir: callevent.Outbound, phone: unknownA, ext: "101", status: callevent.Success, at: t0.Add(10 * time.Minute)}.events()...)
	// overdue lists every overdue notification sent (not deduplicated by
	// key, as a store would).
	overdue := func() []string {
		var out []string
		for _, n := range notifier.sent() {
			if n.Kind == match.NotifyTaskOverdue {
				out = append(out, n.Employee+" "+n.CallID+" "+n.ClientPhone+" "+n.Reason)
			}
		}
		return out
	}

	n, err := h.e.EscalateOverdue(ctx, acct)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is due yet")
	h.clock.Advance(30*time.Minute + 20*time.Second)
	n, err = h.e.EscalateOverdue(ctx, acct)
	require.NoError(t, err)
	require.Zero(t, n, "a task due now is not overdue yet")
	require.Empty(t, overdue())
	h.clock.Advance(time.Second)

	n, err = h.e.EscalateOverdue(ctx, acct)
	require.ErrorContains(t, err, "push service down", "u5's notification fails")
	require.Zero(t, n, "the task is not escalated while an admin is not told")
	reason := "admin: call-back task t1 of u2 overdue since " + missedAt.Add(30*time.Minute).Format(time.RFC3339)
	u3, u5 := "u3 m1 "+known+" "+reason, "u5 m1 "+known+" "+reason
	require.Equal(t, []string{u3}, overdue())

	for i, e := range []*match.Engine{h.e, other, h.e, other} {
		n, err := e.EscalateOverdue(ctx, acct)
		require.NoError(t, err)
		want := 0
		if i == 0 {
			want = 1 // the first run that reaches every admin escalates
		}
		require.Equal(t, want, n, "run %d", i)
	}
	require.Equal(t, []string{u3, u3, u5}, overdue(),
		"u3 is told again by the retry (a store keeps one per key), u5 once, and no run after the escalation tells anyone")
	tasks := h.s.Tasks()
	require.True(t, tasks[0].Escalated)
	require.False(t, tasks[0].Done)
	require.False(t, tasks[1].Escalated, "a done task is not escalated")
	require.Equal(t, "task_overdue", match.NotifyTaskOverdue.String())
	require.Equal(t, "integration", match.NotifyIntegration.String())

	// Without a task store there is nothing to escalate.
	plain, err := memstore.New()
	require.NoError(t, err)
	none, err := match.NewEngine(onlyClients{plain})
	require.NoError(t, err)
	defer none.Close(ctx)
	n, err = none.EscalateOverdue(ctx, acct)
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestTaskRuleJSON: the task setting reads and validates with the rules;
// a rule without it writes none.
func TestTaskRuleJSON(t *testing.T) {
	t.Parallel()
	rs, err := match.ParseRules([]byte(`{"default": {"task": {"enabled": true, "deadline": "45m", "text": "Перезвонить +{phone}"}}}`), "")
	require.NoError(t, err)
	require.Equal(t, match.TaskRule{Enabled: true, Deadline: match.Duration(45 * time.Minute), Text: "Перезвонить +{phone}"}, rs.Default.Task)

	tests := []struct{ name, src, want string }{
		{"negative deadline", `{"default":{"task":{"enabled":true,"deadline":"-1m"}}}`, "negative task deadline -1m0s"},
		{"deadline over a year", `{"default":{"task":{"deadline":"9000h"}}}`, "task deadline 9000h0m0s is longer than"},
		{"negative deadline in a line", `{"default":{"lines":[{"name":"a","numbers":["74951234567"],"task":{"deadline":-60}}]}}`,
			`line "a": negative task deadline`},
		{"text too long", `{"default":{"task":{"text":"` + strings.Repeat("{phone}", 100) + `"}}}`, "task text: 1500 bytes once expanded"},
		{"unknown field", `{"default":{"task":{"due":"1h"}}}`, "unknown field"},
	}
	for _, tt := range tests {
		_, err := match.ParseRules([]byte(tt.src), "")
		require.ErrorContains(t, err, tt.want, tt.name)
	}
	require.ErrorContains(t, match.RuleSet{Default: match.Rules{Rule: match.Rule{Task: match.TaskRule{Deadline: -1}}}}.Validate(""),
		"negative task deadline")
	_, err = match.NewEngine(onlyClients{}, match.WithRules(match.RuleSet{Default: match.Rules{Rule: match.Rule{Task: match.TaskRule{Deadline: -1}}}}))
	require.ErrorContains(t, err, "negative task deadline", "an engine refuses the rule")

	b, err := json.Marshal(match.DefaultRule())
	require.NoError(t, err)
	require.NotContains(t, string(b), "task", "a rule without tasks writes no task setting")
}

// onlyClients is a ClientStore and nothing else.
type onlyClients struct{ match.ClientStore }

var errFlaky = errors.New("task store unavailable")

// flakyTasks is a TaskStore whose first createFails CreateTask fail.
type flakyTasks struct {
	match.TaskStore
	mu          sync.Mutex
	createFails int
}

func (f *flakyTasks) CreateTask(ctx context.Context, t match.Task) (match.Task, error) {
	f.mu.Lock()
	fail := f.createFails > 0
	f.createFails--
	f.mu.Unlock()
	if fail {
		return match.Task{}, errFlaky
	}
	return f.TaskStore.CreateTask(ctx, t)
}

func mustOpen(t *testing.T, s match.TaskStore, account string) []match.Task {
	t.Helper()
	ts, err := s.OpenTasks(context.Background(), account)
	require.NoError(t, err)
	return ts
}

// recordingNotifier keeps every notification it is given and fails the first
// failFor[employee] notifications of an employee.
type recordingNotifier struct {
	mu      sync.Mutex
	failFor map[string]int
	notes   []match.Notification
}

func (f *recordingNotifier) Notify(_ context.Context, n match.Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failFor[n.Employee] > 0 {
		f.failFor[n.Employee]--
		return errors.New("push service down")
	}
	f.notes = append(f.notes, n)
	return nil
}

func (f *recordingNotifier) sent() []match.Notification {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]match.Notification(nil), f.notes...)
}
