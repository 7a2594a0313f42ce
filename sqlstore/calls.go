package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// Page limits of the listing methods.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// Page selects a page of a listing (Clients, Leads, Calls, Notifications):
// Limit items after skipping Offset. A Limit of 0 or less means
// DefaultPageLimit; more than MaxPageLimit means MaxPageLimit; a negative
// Offset means 0. The order of each listing is stable, so consecutive
// pages do not overlap while nothing is added; rows added meanwhile may
// shift a page (an offset, not a cursor).
type Page struct {
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

func (p Page) bounds() (limit, offset int) {
	limit, offset = p.Limit, max(p.Offset, 0)
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	return min(limit, MaxPageLimit), offset
}

func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = prefix + p
	}
	return strings.Join(parts, ", ")
}

const callCols = "provider, account, call_id, direction, status, client_id, client_phone, employee, extension, line_phone," +
	" started_at, answered_at, ended_at, duration, wait, recording_url, lead_id, rating"

// LogCall implements match.CallLog: the record replaces an earlier one of
// the same Provider, Account and CallID (an upsert), so a replayed
// decision leaves one row.
func (d *DB) LogCall(ctx context.Context, rec match.CallRecord) error {
	var tc times
	started, answered, ended := tc.v("started_at", rec.StartedAt), tc.v("answered_at", rec.AnsweredAt), tc.v("ended_at", rec.EndedAt)
	if tc.err != nil {
		return wrap(tc.err, "log call %q", rec.CallID)
	}
	_, err := d.exec(ctx, "INSERT INTO cb_calls ("+callCols+")"+
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"+
		" ON CONFLICT (provider, account, call_id) DO UPDATE SET direction = excluded.direction, status = excluded.status,"+
		" client_id = excluded.client_id, client_phone = excluded.client_phone, employee = excluded.employee,"+
		" extension = excluded.extension, line_phone = excluded.line_phone, started_at = excluded.started_at,"+
		" answered_at = excluded.answered_at, ended_at = excluded.ended_at, duration = excluded.duration,"+
		" wait = excluded.wait, recording_url = excluded.recording_url, lead_id = excluded.lead_id, rating = excluded.rating",
		rec.Provider, rec.Account, rec.CallID, int(rec.Direction), int(rec.Status), rec.ClientID, rec.ClientPhone,
		rec.Employee, rec.Extension, rec.LinePhone, started, answered, ended, int64(rec.Duration), int64(rec.Wait),
		rec.RecordingURL, rec.LeadID, rec.Rating)
	return wrap(err, "log call %q", rec.CallID)
}

// CallStats implements match.CallStats, summing in the database over the
// index of calls by account and start.
func (d *DB) CallStats(ctx context.Context, account string, from, to time.Time) ([]match.EmployeeStats, error) {
	sums, err := d.callStats(ctx, "employee", []any{account}, from, to)
	return employeeStats(sums), err
}

// AllCallStats is CallStats over the calls of every account, for a CRM
// that is one tenant over several telephony accounts (see AllCalls).
func (d *DB) AllCallStats(ctx context.Context, from, to time.Time) ([]match.EmployeeStats, error) {
	sums, err := d.callStats(ctx, "employee", nil, from, to)
	return employeeStats(sums), err
}

// LineStats counts the calls of account that started in [from, to) by
// company number (match.CallRecord.LinePhone) as CallStats counts them
// by employee, one entry per line with calls, ordered by the number.
func (d *DB) LineStats(ctx context.Context, account string, from, to time.Time) ([]match.LineStats, error) {
	sums, err := d.callStats(ctx, "line_phone", []any{account}, from, to)
	return lineStats(sums), err
}

// AllLineStats is LineStats over the calls of every account.
func (d *DB) AllLineStats(ctx context.Context, from, to time.Time) ([]match.LineStats, error) {
	sums, err := d.callStats(ctx, "line_phone", nil, from, to)
	return lineStats(sums), err
}

// callSums are the summed calls of one employee or line: counts, talk
// time and the wait of the answered inbound calls.
type callSums struct {
	key                        string
	answered, missed, outbound int
	talk, wait                 int64
}

func (s callSums) counts() match.CallCounts {
	return match.CallCounts{Answered: s.answered, Missed: s.missed, Outbound: s.outbound,
		TalkTime: time.Duration(s.talk)}.WithWait(time.Duration(s.wait))
}

func employeeStats(sums []callSums) []match.EmployeeStats {
	var out []match.EmployeeStats
	for _, s := range sums {
		out = append(out, match.EmployeeStats{Employee: s.key, CallCounts: s.counts()})
	}
	return out
}

func lineStats(sums []callSums) []match.LineStats {
	var out []match.LineStats
	for _, s := range sums {
		out = append(out, match.LineStats{Line: s.key, CallCounts: s.counts()})
	}
	return out
}

// statsQuery is the query of callStats: over the index of calls by
// account and start with an account ($1, then the range), else over the
// index by start.
func statsQuery(by string, withAccount bool) string {
	where := "started_at >= $1 AND started_at < $2"
	if withAccount {
		where = "account = $1 AND started_at >= $2 AND started_at < $3"
	}
	in, out, success := int(callevent.Inbound), int(callevent.Outbound), int(callevent.Success)
	answered := fmt.Sprintf("direction = %d AND status = %d", in, success)
	return "SELECT " + by + "," +
		" CAST(SUM(CASE WHEN " + answered + " THEN 1 ELSE 0 END) AS BIGINT)," +
		fmt.Sprintf(" CAST(SUM(CASE WHEN direction = %d AND status <> %d THEN 1 ELSE 0 END) AS BIGINT),", in, success) +
		fmt.Sprintf(" CAST(SUM(CASE WHEN direction = %d THEN 1 ELSE 0 END) AS BIGINT),", out) +
		fmt.Sprintf(" CAST(SUM(CASE WHEN status = %d THEN duration ELSE 0 END) AS BIGINT),", success) +
		" CAST(SUM(CASE WHEN " + answered + " THEN wait ELSE 0 END) AS BIGINT)" +
		" FROM cb_calls WHERE " + where +
		fmt.Sprintf(" AND direction IN (%d, %d) GROUP BY %s", in, out, by)
}

// callStats sums the calls that started in [from, to), of the account in
// account if it holds one, grouped by the column by ("employee" or
// "line_phone"), ordered by it.
func (d *DB) callStats(ctx context.Context, by string, account []any, from, to time.Time) ([]callSums, error) {
	var tc times
	lo, hi := tc.v("from", from), tc.v("to", to)
	if tc.err != nil {
		return nil, wrap(tc.err, "call stats")
	}
	rows, err := d.query(ctx, statsQuery(by, len(account) > 0), append(account, lo, hi)...)
	if err != nil {
		return nil, wrap(err, "call stats")
	}
	defer rows.Close()
	var sums []callSums
	for rows.Next() {
		var s callSums
		if err := rows.Scan(&s.key, &s.answered, &s.missed, &s.outbound, &s.talk, &s.wait); err != nil {
			return nil, wrap(err, "call stats")
		}
		sums = append(sums, s)
	}
	// Ordered here: the databases' collations order text differently.
	slices.SortFunc(sums, func(a, b callSums) int { return strings.Compare(a.key, b.key) })
	return sums, wrap(rows.Err(), "call stats")
}

// Calls lists the calls of account, newest first (by StartedAt, then
// provider and call id), one page at a time.
func (d *DB) Calls(ctx context.Context, account string, page Page) ([]match.CallRecord, error) {
	limit, offset := page.bounds()
	return d.listCalls(ctx, "SELECT "+callCols+" FROM cb_calls WHERE account = $1"+
		" ORDER BY started_at DESC, provider, call_id LIMIT $2 OFFSET $3", account, limit, offset)
}

// AllCalls lists the calls of every account as Calls does, for a CRM
// that is one tenant over several telephony accounts.
func (d *DB) AllCalls(ctx context.Context, page Page) ([]match.CallRecord, error) {
	limit, offset := page.bounds()
	return d.listCalls(ctx, "SELECT "+callCols+" FROM cb_calls"+
		" ORDER BY started_at DESC, provider, account, call_id LIMIT $1 OFFSET $2", limit, offset)
}

// AllCallsAfter lists the calls of every account in AllCalls's order,
// from the one after after (nil: from the newest), at most limit of them
// (DefaultPageLimit when 0, at most MaxPageLimit). after's StartedAt,
// Provider, Account and CallID place it, whether or not the log still has
// it. Unlike an offset, that place holds while calls are logged and
// purged, so a reader paging with the last call it got meets each call
// once; and a page is read from the index in order however deep it is,
// past only the calls of after's own start time that sort before it.
func (d *DB) AllCallsAfter(ctx context.Context, after *match.CallRecord, limit int) ([]match.CallRecord, error) {
	limit, _ = Page{Limit: limit}.bounds()
	if after == nil {
		return d.AllCalls(ctx, Page{Limit: limit})
	}
	// A time outside the storable range (a reader's cursor) places after
	// before or after every stored one, as it sorts.
	var at int64
	switch t := after.StartedAt; {
	case t.IsZero():
		at = zeroTime
	case t.Before(minTime):
		at = zeroTime + 1
	case t.After(maxTime):
		at = math.MaxInt64
	default:
		at = t.UnixNano()
	}
	return d.listCalls(ctx, callsAfterQuery, at, after.Provider, after.Account, after.CallID, limit)
}

// callsAfterQuery is AllCallsAfter's: the calls after ($1 started_at, $2
// provider, $3 account, $4 call id) in the listing's order, $5 of them.
// started_at <= $1 alone is what the index cb_calls_started serves.
const callsAfterQuery = "SELECT " + callCols + " FROM cb_calls" +
	" WHERE started_at <= $1 AND (started_at < $1 OR (provider, account, call_id) > ($2, $3, $4))" +
	" ORDER BY started_at DESC, provider, account, call_id LIMIT $5"

// Call returns the call of provider, account and callID (its unique
// key), if the log has it.
func (d *DB) Call(ctx context.Context, provider, account, callID string) (match.CallRecord, bool, error) {
	calls, err := d.listCalls(ctx, "SELECT "+callCols+" FROM cb_calls WHERE provider = $1 AND account = $2 AND call_id = $3",
		provider, account, callID)
	if err != nil || len(calls) == 0 {
		return match.CallRecord{}, false, err
	}
	return calls[0], true, nil
}

func (d *DB) listCalls(ctx context.Context, q string, args ...any) ([]match.CallRecord, error) {
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list calls")
	}
	defer rows.Close()
	var out []match.CallRecord
	for rows.Next() {
		var (
			r                        match.CallRecord
			dir, status              int
			started, answered, ended int64
			duration, wait           int64
		)
		if err := rows.Scan(&r.Provider, &r.Account, &r.CallID, &dir, &status, &r.ClientID, &r.ClientPhone, &r.Employee,
			&r.Extension, &r.LinePhone, &started, &answered, &ended, &duration, &wait, &r.RecordingURL, &r.LeadID, &r.Rating); err != nil {
			return nil, wrap(err, "list calls")
		}
		r.Direction, r.Status = callevent.Direction(dir), callevent.Status(status)
		r.StartedAt, r.AnsweredAt, r.EndedAt = fromNanos(started), fromNanos(answered), fromNanos(ended)
		r.Duration, r.Wait = time.Duration(duration), time.Duration(wait)
		out = append(out, r)
	}
	return out, wrap(rows.Err(), "list calls")
}

// PurgeCalls deletes the calls that started before before (the retention
// of the call log) and returns how many it deleted.
func (d *DB) PurgeCalls(ctx context.Context, before time.Time) (int, error) {
	var tc times
	b := tc.v("before", before)
	if tc.err != nil {
		return 0, wrap(tc.err, "purge calls")
	}
	res, err := d.exec(ctx, "DELETE FROM cb_calls WHERE started_at < $1", b)
	if err != nil {
		return 0, wrap(err, "purge calls")
	}
	n, err := res.RowsAffected()
	return int(n), wrap(err, "purge calls")
}

const noteCols = "account, provider, call_id, employee, kind, client_id, client_phone, lead_id, reason, at"

// Notify implements match.Notifier by adding n to the notifications table
// (an outbox that a UI or a sender reads with Notifications). It is
// idempotent: a notification with the Account, Provider, CallID, Employee
// and Kind of a stored one is not stored again, so a replayed decision
// never notifies twice.
func (d *DB) Notify(ctx context.Context, n match.Notification) error {
	var tc times
	at := tc.v("at", n.At)
	if tc.err != nil {
		return wrap(tc.err, "notify")
	}
	_, err := d.exec(ctx, "INSERT INTO cb_notifications ("+noteCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"+
		" ON CONFLICT (account, provider, call_id, employee, kind) DO NOTHING",
		n.Account, n.Provider, n.CallID, n.Employee, int(n.Kind), n.ClientID, n.ClientPhone, n.LeadID, n.Reason, at)
	return wrap(err, "notify %q", n.Employee)
}

// Notifications lists the notifications of account, oldest first, one
// page at a time.
func (d *DB) Notifications(ctx context.Context, account string, page Page) ([]match.Notification, error) {
	limit, offset := page.bounds()
	rows, err := d.query(ctx, "SELECT "+noteCols+" FROM cb_notifications WHERE account = $1 ORDER BY seq LIMIT $2 OFFSET $3",
		account, limit, offset)
	if err != nil {
		return nil, wrap(err, "list notifications")
	}
	defer rows.Close()
	var out []match.Notification
	for rows.Next() {
		var (
			n    match.Notification
			kind int
			at   int64
		)
		if err := rows.Scan(&n.Account, &n.Provider, &n.CallID, &n.Employee, &kind, &n.ClientID, &n.ClientPhone, &n.LeadID,
			&n.Reason, &at); err != nil {
			return nil, wrap(err, "list notifications")
		}
		n.Kind, n.At = match.NotificationKind(kind), fromNanos(at)
		out = append(out, n)
	}
	return out, wrap(rows.Err(), "list notifications")
}

// SetEmployees replaces the employees of account (the Directory), kept in
// the order given.
func (d *DB) SetEmployees(ctx context.Context, account string, es ...match.Employee) error {
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := d.txExec(ctx, tx, "DELETE FROM cb_employees WHERE account = $1", account); err != nil {
			return err
		}
		if _, err := d.txExec(ctx, tx, "DELETE FROM cb_employee_extensions WHERE account = $1", account); err != nil {
			return err
		}
		for pos, e := range es {
			exts, err := json.Marshal(e.Extensions)
			if err != nil {
				return err
			}
			if _, err := d.txExec(ctx, tx, "INSERT INTO cb_employees (account, pos, id, name, login, email, extensions, admin)"+
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
				account, pos, e.ID, e.Name, e.Login, e.Email, string(exts), e.Admin); err != nil {
				return err
			}
			for _, x := range e.Extensions {
				if _, err := d.txExec(ctx, tx, "INSERT INTO cb_employee_extensions (account, extension, pos) VALUES ($1, $2, $3)"+
					" ON CONFLICT DO NOTHING", account, x, pos); err != nil {
					return err
				}
			}
		}
		return nil
	})
	d.dir.changed()
	return wrap(err, "set employees")
}

// SetOnline replaces the ids of the employees of account online now.
func (d *DB) SetOnline(ctx context.Context, account string, ids ...string) error {
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := d.txExec(ctx, tx, "DELETE FROM cb_online WHERE account = $1", account); err != nil {
			return err
		}
		for pos, id := range ids {
			if _, err := d.txExec(ctx, tx, "INSERT INTO cb_online (account, pos, employee) VALUES ($1, $2, $3)",
				account, pos, id); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap(err, "set online")
}

const employeeCols = "id, name, login, email, extensions, admin"

func scanEmployee(r scanner) (match.Employee, error) {
	var (
		e    match.Employee
		exts string
	)
	if err := r.Scan(&e.ID, &e.Name, &e.Login, &e.Email, &exts, &e.Admin); err != nil {
		return match.Employee{}, err
	}
	if err := json.Unmarshal([]byte(exts), &e.Extensions); err != nil {
		return match.Employee{}, fmt.Errorf("employee %q extensions: %w", e.ID, err)
	}
	return e, nil
}

// FindEmployee implements match.Directory: the first employee (in the
// order of SetEmployees) with key as one of its extensions or as its
// login. It reads a copy of the directory (see dirTTL).
func (d *DB) FindEmployee(ctx context.Context, account, key string) (match.Employee, bool, error) {
	if key == "" {
		return match.Employee{}, false, nil
	}
	emps, err := d.dir.employees(ctx, account, d.cfg.now, d.readEmployees)
	if err != nil {
		return match.Employee{}, false, wrap(err, "find employee")
	}
	for _, e := range emps {
		if e.Login == key || slices.Contains(e.Extensions, key) {
			return cloneEmployee(e), true, nil
		}
	}
	return match.Employee{}, false, nil
}

// Employees implements match.Directory, in the order given to
// SetEmployees. It reads a copy of the directory (see dirTTL).
func (d *DB) Employees(ctx context.Context, account string) ([]match.Employee, error) {
	emps, err := d.dir.employees(ctx, account, d.cfg.now, d.readEmployees)
	if err != nil {
		return nil, wrap(err, "employees")
	}
	var out []match.Employee
	for _, e := range emps {
		out = append(out, cloneEmployee(e))
	}
	return out, nil
}

// readEmployees reads the employees of account from the database.
func (d *DB) readEmployees(ctx context.Context, account string) ([]match.Employee, error) {
	rows, err := d.query(ctx, "SELECT "+employeeCols+" FROM cb_employees WHERE account = $1 ORDER BY pos", account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []match.Employee
	for rows.Next() {
		e, err := scanEmployee(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Online implements match.Directory, in the order given to SetOnline.
func (d *DB) Online(ctx context.Context, account string) ([]string, error) {
	rows, err := d.query(ctx, "SELECT employee FROM cb_online WHERE account = $1 ORDER BY pos", account)
	if err != nil {
		return nil, wrap(err, "online")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap(err, "online")
		}
		out = append(out, id)
	}
	return out, wrap(rows.Err(), "online")
}
