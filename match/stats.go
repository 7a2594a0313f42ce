package match

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// CallCounts are the counts of EmployeeStats and LineStats: the calls of
// one employee, or one company number, over a period. Internal calls are
// not counted.
type CallCounts struct {
	// Answered counts the inbound calls answered.
	Answered int
	// Missed counts the inbound calls not answered.
	Missed int
	// Outbound counts the calls made, answered or not.
	Outbound int
	// TalkTime is the talk time of the answered calls, inbound and
	// outbound.
	TalkTime time.Duration
	// AverageWait is the mean wait before an inbound call was answered; 0
	// without one.
	AverageWait time.Duration
}

// WithWait returns c with AverageWait the mean of wait, the summed wait of
// its answered inbound calls (for a store that sums in its database, so
// that it averages as StatsCounter does).
func (c CallCounts) WithWait(wait time.Duration) CallCounts {
	c.AverageWait = 0
	if c.Answered > 0 {
		c.AverageWait = wait / time.Duration(c.Answered)
	}
	return c
}

// countsJSON is CallCounts in JSON: durations in seconds as CallRecord's
// (talk_time_sec, average_wait_sec).
type countsJSON struct {
	Answered    int               `json:"answered"`
	Missed      int               `json:"missed"`
	Outbound    int               `json:"outbound"`
	TalkTime    callevent.Seconds `json:"talk_time_sec"`
	AverageWait callevent.Seconds `json:"average_wait_sec"`
}

func (c CallCounts) wire() countsJSON {
	return countsJSON{c.Answered, c.Missed, c.Outbound, callevent.Seconds(c.TalkTime), callevent.Seconds(c.AverageWait)}
}

func (w countsJSON) counts() CallCounts {
	return CallCounts{w.Answered, w.Missed, w.Outbound, time.Duration(w.TalkTime), time.Duration(w.AverageWait)}
}

// EmployeeStats counts one employee's calls over a period, the call
// statistics of Perfectum's "history and statistics" (seed 003, setting
// 6): the inbound calls the employee answered, those not answered that
// belong to the employee, and the calls the employee made.
type EmployeeStats struct {
	// Employee is the id of the employee the calls belong to
	// (CallRecord.Employee); "" collects the calls of nobody.
	Employee string
	CallCounts
}

// MarshalJSON encodes the counts beside "employee", durations in seconds
// (talk_time_sec, average_wait_sec).
func (s EmployeeStats) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Employee string `json:"employee"`
		countsJSON
	}{s.Employee, s.wire()})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (s *EmployeeStats) UnmarshalJSON(b []byte) error {
	var v struct {
		Employee string `json:"employee"`
		countsJSON
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = EmployeeStats{v.Employee, v.counts()}
	return nil
}

// LineStats counts the calls of one company number over a period
// (CallRecord.LinePhone: the number an inbound call came in on, an
// outbound call went out from) as EmployeeStats counts an employee's.
type LineStats struct {
	// Line is the company number; "" collects the calls without one.
	Line string
	CallCounts
}

// MarshalJSON encodes the counts beside "line", as EmployeeStats does.
func (s LineStats) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Line string `json:"line"`
		countsJSON
	}{s.Line, s.wire()})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (s *LineStats) UnmarshalJSON(b []byte) error {
	var v struct {
		Line string `json:"line"`
		countsJSON
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = LineStats{v.Line, v.counts()}
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

// statsSum is the counts of one employee or line and the summed wait of
// its answered inbound calls.
type statsSum struct {
	CallCounts
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
		s = &statsSum{}
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
	for id, s := range c.by {
		out = append(out, EmployeeStats{id, s.WithWait(s.wait)})
	}
	slices.SortFunc(out, func(a, b EmployeeStats) int { return cmp.Compare(a.Employee, b.Employee) })
	return out
}

// Lines returns what was added by line, ordered by the line's number.
func (c *StatsCounter) Lines() []LineStats {
	out := make([]LineStats, 0, len(c.lines))
	for line, s := range c.lines {
		out = append(out, LineStats{line, s.WithWait(s.wait)})
	}
	slices.SortFunc(out, func(a, b LineStats) int { return cmp.Compare(a.Line, b.Line) })
	return out
}
