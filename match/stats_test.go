package match_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// TestStatsCounterLines: StatsCounter counts each call once by employee
// and once by line, with the same counts, talk time and average wait;
// internal calls count for neither.
func TestStatsCounterLines(t *testing.T) {
	t.Parallel()
	const l1, l2 = "74950000001", "74950000002"
	in, out := callevent.Inbound, callevent.Outbound
	var c match.StatsCounter
	for _, r := range []match.CallRecord{
		{LinePhone: l1, Employee: "anna", Direction: in, Status: callevent.Success, Duration: time.Minute, Wait: 10 * time.Second},
		{LinePhone: l2, Employee: "anna", Direction: in, Status: callevent.Success, Duration: 20 * time.Second, Wait: 4 * time.Second},
		{LinePhone: l1, Employee: "boris", Direction: in, Status: callevent.Success, Duration: 30 * time.Second, Wait: 20 * time.Second},
		{LinePhone: l1, Employee: "", Direction: in, Status: callevent.Missed, Wait: time.Minute},
		{LinePhone: l2, Employee: "boris", Direction: out, Status: callevent.Success, Duration: 100 * time.Second, Wait: 3 * time.Second},
		{LinePhone: l2, Employee: "boris", Direction: out, Status: callevent.Busy},
		{LinePhone: "", Employee: "anna", Direction: in, Status: callevent.Canceled},
		{LinePhone: l1, Employee: "anna", Direction: callevent.Internal, Status: callevent.Success, Duration: time.Hour},
	} {
		c.Add(r)
	}
	require.Empty(t, cmp.Diff([]match.LineStats{
		{Line: "", CallCounts: match.CallCounts{Missed: 1}},
		{Line: l1, CallCounts: match.CallCounts{Answered: 2, Missed: 1, TalkTime: 90 * time.Second, AverageWait: 15 * time.Second}},
		{Line: l2, CallCounts: match.CallCounts{Answered: 1, Outbound: 2, TalkTime: 120 * time.Second, AverageWait: 4 * time.Second}},
	}, c.Lines()))
	require.Empty(t, cmp.Diff([]match.EmployeeStats{
		{Employee: "", CallCounts: match.CallCounts{Missed: 1}},
		{Employee: "anna", CallCounts: match.CallCounts{Answered: 2, Missed: 1, TalkTime: 80 * time.Second, AverageWait: 7 * time.Second}},
		{Employee: "boris", CallCounts: match.CallCounts{Answered: 1, Outbound: 2, TalkTime: 130 * time.Second, AverageWait: 20 * time.Second}},
	}, c.Stats()))

	var zero match.StatsCounter
	require.Empty(t, zero.Lines(), "nothing added")
	require.NotNil(t, zero.Lines(), "an empty list, not nil")
}

// TestLineStatsJSON: a line's times are whole seconds in JSON, as an
// employee's, and decode back.
func TestLineStatsJSON(t *testing.T) {
	t.Parallel()
	s := match.LineStats{Line: "74950000001", CallCounts: match.CallCounts{Answered: 2, Missed: 1, Outbound: 3, TalkTime: 95 * time.Second, AverageWait: 7 * time.Second}}
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.JSONEq(t, `{"line":"74950000001","answered":2,"missed":1,"outbound":3,"talk_time_sec":95,"average_wait_sec":7}`, string(b))
	var back match.LineStats
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, s, back)
}
