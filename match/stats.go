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

// CallStats is implemented by a call log that counts calls by employee.
type CallStats interface {
	// CallStats returns the statistics of the calls of account that
	// started in [from, to), one entry per employee with calls, ordered by
	// employee id.
	CallStats(ctx context.Context, account string, from, to time.Time) ([]EmployeeStats, error)
}

// StatsCounter adds up EmployeeStats one call at a time, for call logs
// that keep their records in memory. The zero value is ready to use.
type StatsCounter struct {
	by map[string]*statsSum
}

type statsSum struct {
	EmployeeStats
	wait time.Duration
}

// Add counts rec (internal calls are skipped).
func (c *StatsCounter) Add(rec CallRecord) {
	if rec.Direction != callevent.Inbound && rec.Direction != callevent.Outbound {
		return
	}
	if c.by == nil {
		c.by = make(map[string]*statsSum)
	}
	s := c.by[rec.Employee]
	if s == nil {
		s = &statsSum{EmployeeStats: EmployeeStats{Employee: rec.Employee}}
		c.by[rec.Employee] = s
	}
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

// Stats returns what was added, ordered by employee id.
func (c *StatsCounter) Stats() []EmployeeStats {
	out := make([]EmployeeStats, 0, len(c.by))
	for _, s := range c.by {
		out = append(out, Totals(s.EmployeeStats, s.wait))
	}
	slices.SortFunc(out, func(a, b EmployeeStats) int { return cmp.Compare(a.Employee, b.Employee) })
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
