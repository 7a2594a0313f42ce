package match

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// EmployeeStats counts one employee's calls over a period, the call
// statistics of Perfectum's "history and statistics" (seed 003, setting
// 6). Internal calls are not counted.
type EmployeeStats struct {
	// Employee is the id of the employee the calls belong to
	// (CallRecord.Employee); "" collects the calls of nobody.
	Employee string `json:"employee"`
	// Answered counts the inbound calls the employee answered.
	Answered int `json:"answered"`
	// Missed counts the inbound calls not answered that belong to the
	// employee.
	Missed int `json:"missed"`
	// Outbound counts the calls the employee made, answered or not.
	Outbound int `json:"outbound"`
	// TalkTime is the talk time of the employee's answered calls, inbound
	// and outbound.
	TalkTime time.Duration `json:"-"`
	// AverageWait is the mean wait before the employee answered an
	// inbound call; 0 without one.
	AverageWait time.Duration `json:"-"`
}

// MarshalJSON encodes TalkTime and AverageWait as talk_time_sec and
// average_wait_sec, in seconds as CallRecord does.
func (s EmployeeStats) MarshalJSON() ([]byte, error) {
	type plain EmployeeStats
	return json.Marshal(struct {
		plain
		TalkTime    callevent.Seconds `json:"talk_time_sec"`
		AverageWait callevent.Seconds `json:"average_wait_sec"`
	}{plain(s), callevent.Seconds(s.TalkTime), callevent.Seconds(s.AverageWait)})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (s *EmployeeStats) UnmarshalJSON(b []byte) error {
	type plain EmployeeStats
	var v struct {
		plain
		TalkTime    callevent.Seconds `json:"talk_time_sec"`
		AverageWait callevent.Seconds `json:"average_wait_sec"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = EmployeeStats(v.plain)
	s.TalkTime, s.AverageWait = time.Duration(v.TalkTime), time.Duration(v.AverageWait)
	return nil
}

// LineStats counts the calls of one company number over a period
// (CallRecord.LinePhone: the number an inbound call came in on, an
// outbound call went out from) as EmployeeStats counts an employee's.
// Internal calls are not counted.
type LineStats struct {
	// Line is the company number; "" collects the calls without one.
	Line string `json:"line"`
	// Answered counts the inbound calls answered on the line.
	Answered int `json:"answered"`
	// Missed counts the inbound calls on the line not answered.
	Missed int `json:"missed"`
	// Outbound counts the calls made from the line, answered or not.
	Outbound int `json:"outbound"`
	// TalkTime is the talk time of the line's answered calls, inbound
	// and outbound.
	TalkTime time.Duration `json:"-"`
	// AverageWait is the mean wait before an inbound call on the line was
	// answered; 0 without one.
	AverageWait time.Duration `json:"-"`
}

// MarshalJSON encodes TalkTime and AverageWait as talk_time_sec and
// average_wait_sec, as EmployeeStats does.
func (s LineStats) MarshalJSON() ([]byte, error) {
	type plain LineStats
	return json.Marshal(struct {
		plain
		TalkTime    callevent.Seconds `json:"talk_time_sec"`
		AverageWait callevent.Seconds `json:"average_wait_sec"`
	}{plain(s), callevent.Seconds(s.TalkTime), callevent.Seconds(s.AverageWait)})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (s *LineStats) UnmarshalJSON(b []byte) error {
	type plain LineStats
	var v struct {
		plain
		TalkTime    callevent.Seconds `json:"talk_time_sec"`
		AverageWait callevent.Seconds `json:"average_wait_sec"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = LineStats(v.plain)
	s.TalkTime, s.AverageWait = time.Duration(v.TalkTime), time.Duration(v.AverageWait)
	return nil
}

// CallStats is implemented by a call log that counts calls by employee.
type CallStats interface {
	// CallStats returns the statistics of the calls of account that
	// started in [from, to), one entry per employee with calls, ordered by
	// employee id.
	CallStats(ctx context.Context, account string, from, to time.Time) ([]EmployeeStats, error)
}

// StatsCounter adds up EmployeeStats, and LineStats, one call at a time,
// for call logs that keep their records in memory. The zero value is
// ready to use.
type StatsCounter struct {
	by    map[string]*statsSum // by employee
	lines map[string]*statsSum // by CallRecord.LinePhone
}

// statsSum is the counts of one employee or line (EmployeeStats.Employee
// holds the line's number) and the summed wait of its answered inbound
// calls.
type statsSum struct {
	EmployeeStats
	wait time.Duration
}

// Add counts rec (internal calls are skipped), for its employee and its
// line.
func (c *StatsCounter) Add(rec CallRecord) {
	if rec.Direction != callevent.Inbound && rec.Direction != callevent.Outbound {
		return
	}
	if c.by == nil {
		c.by, c.lines = make(map[string]*statsSum), make(map[string]*statsSum)
	}
	sumOf(c.by, rec.Employee).add(rec)
	sumOf(c.lines, rec.LinePhone).add(rec)
}

// sumOf is the sum of key in m, added if new.
func sumOf(m map[string]*statsSum, key string) *statsSum {
	s := m[key]
	if s == nil {
		s = &statsSum{EmployeeStats: EmployeeStats{Employee: key}}
		m[key] = s
	}
	return s
}

// add counts rec, an inbound or outbound call.
func (s *statsSum) add(rec CallRecord) {
	answered := rec.Status == callevent.Success
	switch {
	case rec.Direction == callevent.Outbound:
		s.Outbound++
	case answered:
		s.Answered++
		s.wait += rec.Wait
	default:
		s.Missed++
	}
	if answered {
		s.TalkTime += rec.Duration
	}
}

// Stats returns what was added by employee, ordered by employee id.
func (c *StatsCounter) Stats() []EmployeeStats {
	out := make([]EmployeeStats, 0, len(c.by))
	for _, s := range c.by {
		out = append(out, Totals(s.EmployeeStats, s.wait))
	}
	slices.SortFunc(out, func(a, b EmployeeStats) int { return cmp.Compare(a.Employee, b.Employee) })
	return out
}

// Lines returns what was added by line, ordered by the line's number.
func (c *StatsCounter) Lines() []LineStats {
	out := make([]LineStats, 0, len(c.lines))
	for line, s := range c.lines {
		out = append(out, LineTotals(LineStats{Line: line, Answered: s.Answered, Missed: s.Missed,
			Outbound: s.Outbound, TalkTime: s.TalkTime}, s.wait))
	}
	slices.SortFunc(out, func(a, b LineStats) int { return cmp.Compare(a.Line, b.Line) })
	return out
}

// Totals completes s, whose counts and TalkTime are summed, with the
// average of wait, the summed wait of its answered inbound calls (for a
// store that sums in its database, so that it averages as StatsCounter).
func Totals(s EmployeeStats, wait time.Duration) EmployeeStats {
	if s.Answered > 0 {
		s.AverageWait = wait / time.Duration(s.Answered)
	}
	return s
}

// LineTotals is Totals for a line.
func LineTotals(s LineStats, wait time.Duration) LineStats {
	if s.Answered > 0 {
		s.AverageWait = wait / time.Duration(s.Answered)
	}
	return s
}
