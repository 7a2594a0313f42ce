package sqlstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// TestLineStats: LineStats counts the calls of an account that started
// in [from, to) by company number, internal calls left out, as
// match.StatsCounter counts them (and as CallStats counts them by
// employee); AllLineStats counts every account's.
func TestLineStats(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
		to, mid := from.Add(24*time.Hour), from.Add(time.Hour)
		const l1, l2 = "74950000001", "74950000002"
		n := 0
		rec := func(account, line, employee string, dir callevent.Direction, status callevent.Status, at time.Time, talk, wait time.Duration) match.CallRecord {
			n++
			return match.CallRecord{Provider: "telphin", Account: account, CallID: fmt.Sprint("call-", n), LinePhone: line,
				Employee: employee, Direction: dir, Status: status, StartedAt: at, Duration: talk, Wait: wait}
		}
		in, out := callevent.Inbound, callevent.Outbound
		recs := []match.CallRecord{
			rec("a", l1, "u1", in, callevent.Success, from, time.Minute, 10*time.Second),
			rec("a", l1, "u2", in, callevent.Success, mid, 30*time.Second, 21*time.Second),
			rec("a", l1, "", in, callevent.Missed, mid, 0, 40*time.Second),
			rec("a", l1, "u1", out, callevent.Success, mid, 100*time.Second, 3*time.Second),
			rec("a", l2, "u1", out, callevent.Busy, mid, 0, 0),
			rec("a", l2, "u2", in, callevent.Success, mid, 5*time.Second, 4*time.Second),
			rec("a", l2, "u1", callevent.Internal, callevent.Success, mid, time.Hour, 0),
			rec("a", "", "u2", in, callevent.Canceled, mid, 0, 0),
			rec("a", l2, "u2", in, callevent.Missed, from.Add(-time.Nanosecond), 0, 0),
			rec("a", l2, "u2", in, callevent.Success, to, time.Minute, time.Second),
			rec("b", l1, "u1", in, callevent.Success, mid, time.Minute, time.Second),
		}
		var want, all match.StatsCounter
		for _, r := range recs {
			if err := db.LogCall(ctx, r); err != nil {
				t.Fatal(err)
			}
			if !r.StartedAt.Before(from) && r.StartedAt.Before(to) {
				all.Add(r)
				if r.Account == "a" {
					want.Add(r)
				}
			}
		}
		got, err := db.LineStats(ctx, "a", from, to)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]match.LineStats{
			{Line: "", CallCounts: match.CallCounts{Missed: 1}},
			{Line: l1, CallCounts: match.CallCounts{Answered: 2, Missed: 1, Outbound: 1, TalkTime: 190 * time.Second, AverageWait: 15*time.Second + 500*time.Millisecond}},
			{Line: l2, CallCounts: match.CallCounts{Answered: 1, Outbound: 1, TalkTime: 5 * time.Second, AverageWait: 4 * time.Second}},
		}, got); d != "" {
			t.Errorf("LineStats of the day (-want +got):\n%s", d)
		}
		if d := cmp.Diff(want.Lines(), got); d != "" {
			t.Errorf("LineStats is not what StatsCounter counts (-counter +db):\n%s", d)
		}
		emps, err := db.CallStats(ctx, "a", from, to)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want.Stats(), emps); d != "" {
			t.Errorf("CallStats is not what StatsCounter counts (-counter +db):\n%s", d)
		}
		got, err = db.AllLineStats(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(all.Lines(), got); d != "" {
			t.Errorf("AllLineStats (-counter +db):\n%s", d)
		}
		if got[1].Answered != 3 {
			t.Errorf("AllLineStats: line %s answered %d, want 3 (account b's call too)", got[1].Line, got[1].Answered)
		}
		got, err = db.LineStats(ctx, "a", to, to.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]match.LineStats{{Line: l2, CallCounts: match.CallCounts{Answered: 1, TalkTime: time.Minute, AverageWait: time.Second}}}, got); d != "" {
			t.Errorf("LineStats of the next hour (-want +got):\n%s", d)
		}
	})
}

// TestStatsQueriesUseIndexes: SQLite's plans of the statistics search the
// calls by start (the account's, or every account's) rather than scan
// the table, by employee and by line alike.
func TestStatsQueriesUseIndexes(t *testing.T) {
	db := newDB(t, drivers[0])
	from, to := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano(), time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC).UnixNano()
	for _, by := range []string{"employee", "line_phone"} {
		for _, tc := range []struct {
			account []any
			index   string
		}{{[]any{"a"}, "cb_calls_account_started"}, {nil, "cb_calls_started"}} {
			query := statsQuery(by, tc.account != nil)
			text := queryPlan(t, db, query, append(tc.account, from, to)...)
			if !contains(text, "USING INDEX "+tc.index) || contains(text, "SCAN cb_calls") {
				t.Errorf("plan of %q:\n%s\nwant a search using %s", query, text, tc.index)
			}
		}
	}
}
