package sqlstore

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
)

// TestTaskQueriesUseIndexes: SQLite's plans of the statements over open
// tasks search the partial indexes of migration 0007 rather than scan the
// table.
func TestTaskQueriesUseIndexes(t *testing.T) {
	db := newDB(t, drivers[0])
	tests := []struct {
		query, index string
		args         []any
	}{
		{closeTasksQuery, "cb_tasks_open_phone", []any{true, int64(1), "telphin/c1", "a", "79161234567"}},
		{overdueTasksQuery, "cb_tasks_open_due", []any{"a", int64(1)}},
		{openTasksQuery, "cb_tasks_open_due", []any{"a"}},
	}
	for _, tt := range tests {
		text := queryPlan(t, db, tt.query, tt.args...)
		if !contains(text, "USING INDEX "+tt.index) || contains(text, "SCAN cb_tasks") || contains(text, "TEMP B-TREE") {
			t.Errorf("plan of %q:\n%s\nwant a search using %s, in its order", tt.query, text, tt.index)
		}
	}
}

// TestTasksListing: Tasks lists every task of an account, open or done,
// newest first, by page; EscalateTask refuses an id the store never gives.
func TestTasksListing(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		var made []match.Task
		for i := range 5 {
			tk, err := db.CreateTask(ctx, match.Task{Account: "a", Phone: fmt.Sprintf("7916000000%d", i%2), Provider: "telphin",
				CallID: fmt.Sprint("c", i), Due: time.Date(2025, 3, 1, 13, i, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, tk)
		}
		if _, err := db.CreateTask(ctx, match.Task{Account: "b", Phone: "79160000000", Provider: "telphin", CallID: "c0"}); err != nil {
			t.Fatal(err)
		}
		closed, err := db.CloseTasks(ctx, "a", "79160000001", time.Date(2025, 3, 1, 14, 0, 0, 0, time.UTC), "telphin/cb")
		if err != nil || len(closed) != 2 {
			t.Fatalf("CloseTasks = %v, %v; want 2 tasks", closed, err)
		}
		first, err := db.Tasks(ctx, "a", Page{Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		rest, err := db.Tasks(ctx, "a", Page{Offset: 3, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tk := range append(first, rest...) {
			got = append(got, fmt.Sprintf("%s %s done=%v", tk.ID, tk.CallID, tk.Done))
		}
		var want []string
		for i := len(made) - 1; i >= 0; i-- {
			want = append(want, fmt.Sprintf("%s %s done=%v", made[i].ID, made[i].CallID, i%2 == 1))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Tasks pages:\n got %v\nwant %v", got, want)
		}
		for _, id := range []string{"", "t", "t0", "t01", "t+1", "x1", "t1x", made[0].ID + "0"} {
			if err := db.EscalateTask(ctx, "a", id); !errors.Is(err, ErrNotFound) {
				t.Errorf("EscalateTask(%q) = %v, want ErrNotFound", id, err)
			}
		}
	})
}

// TestTasksAcrossInstances: two engines over one database (two instances
// of a deployment) both decide a missed call (one after a restart, the
// other from a redelivery): one task. Both escalate it when it is
// overdue, at once: each admin is told once and the task is escalated.
// An answered outbound call to the number, decided by either, closes it.
func TestTasksAcrossInstances(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clock := matchtest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
		db := newDB(t, dv, WithClock(clock))
		if err := db.SetEmployees(ctx, "a", match.Employee{ID: "u1", Extensions: []string{"101"}},
			match.Employee{ID: "boss", Extensions: []string{"100"}, Admin: true},
			match.Employee{ID: "chief", Extensions: []string{"109"}, Admin: true}); err != nil {
			t.Fatal(err)
		}
		rule := match.DefaultRule()
		rule.Missed.Manager = "u1"
		rule.Task = match.TaskRule{Enabled: true, Deadline: match.Duration(30 * time.Minute)}
		engine := func() *match.Engine {
			e, err := match.NewEngine(db, match.WithClock(clock), match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.Close(ctx) })
			return e
		}
		e1, e2 := engine(), engine()
		at := clock.Now()
		missed := callevent.Event{ID: "m-done", Provider: "telphin", Account: "a", Kind: callevent.Completed, Direction: callevent.Inbound,
			Status: callevent.Missed, CallID: "m", ClientPhone: "79161234567", Extension: "101", At: at, EndedAt: at.Add(20 * time.Second)}
		for _, e := range []*match.Engine{e1, e2} {
			if err := e.HandleEvent(ctx, missed); err != nil {
				t.Fatal(err)
			}
		}
		open, err := db.OpenTasks(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != 1 || open[0].CallID != "m" || open[0].Responsible != "u1" || !open[0].Due.Equal(at.Add(20*time.Second+30*time.Minute)) {
			t.Fatalf("open tasks after two decisions of one missed call: %+v", open)
		}

		clock.Advance(time.Hour)
		type result struct {
			n   int
			err error
		}
		res := make(chan result, 2)
		for _, e := range []*match.Engine{e1, e2} {
			go func() {
				n, err := e.EscalateOverdue(ctx, "a")
				res <- result{n, err}
			}()
		}
		escalated := 0
		for range 2 {
			r := <-res
			if r.err != nil {
				t.Fatal(r.err)
			}
			escalated += r.n
		}
		if escalated < 1 || escalated > 2 {
			t.Errorf("escalated %d tasks in all, want the one task once or by both", escalated)
		}
		notes, err := db.Notifications(ctx, "a", Page{})
		if err != nil {
			t.Fatal(err)
		}
		var told []string
		for _, n := range notes {
			if n.Kind == match.NotifyTaskOverdue {
				told = append(told, n.Employee+" "+n.CallID)
			}
		}
		if fmt.Sprint(told) != "[boss m chief m]" {
			t.Errorf("overdue notifications %v, want each admin told once of call m", told)
		}
		if overdue, err := db.OverdueTasks(ctx, "a", clock.Now()); err != nil || len(overdue) != 0 {
			t.Errorf("OverdueTasks after escalation = %v, %v; want none", overdue, err)
		}

		answered := callevent.Event{ID: "o-done", Provider: "telphin", Account: "a", Kind: callevent.Completed, Direction: callevent.Outbound,
			Status: callevent.Success, CallID: "o", ClientPhone: "79161234567", Extension: "101", At: clock.Now(),
			AnsweredAt: clock.Now().Add(5 * time.Second), EndedAt: clock.Now().Add(time.Minute), Duration: 55 * time.Second}
		if err := e2.HandleEvent(ctx, answered); err != nil {
			t.Fatal(err)
		}
		if open, err := db.OpenTasks(ctx, "a"); err != nil || len(open) != 0 {
			t.Fatalf("open tasks after the call back = %v, %v; want none", open, err)
		}
		all, err := db.Tasks(ctx, "a", Page{})
		if err != nil || len(all) != 1 {
			t.Fatalf("Tasks = %v, %v", all, err)
		}
		if tk := all[0]; !tk.Done || tk.DoneBy != "telphin/o" || !tk.DoneAt.Equal(answered.AnsweredAt) || !tk.Escalated {
			t.Errorf("task after the call back: %+v; want done by telphin/o at its answer, escalated", tk)
		}
	})
}
