package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/match"
)

var _ match.TaskStore = (*DB)(nil)

const taskCols = "seq, account, client_id, phone, provider, call_id, responsible, text, due, created_at, done, done_at, done_by, escalated"

// The statements over open tasks, each served by a partial index of
// migration 0007 (their conditions repeat its "NOT done", which SQLite
// needs to use it): by phone for CloseTasks, by due time for the others.
const (
	closeTasksQuery = "UPDATE cb_tasks SET done = $1, done_at = $2, done_by = $3" +
		" WHERE account = $4 AND phone = $5 AND NOT done RETURNING " + taskCols
	overdueTasksQuery = "SELECT " + taskCols + " FROM cb_tasks WHERE account = $1 AND NOT done AND due < $2" +
		" AND NOT escalated ORDER BY due, seq"
	openTasksQuery = "SELECT " + taskCols + " FROM cb_tasks WHERE account = $1 AND NOT done ORDER BY due, seq"
)

// taskID is the id of the task in row seq: "t" and the number.
func taskID(seq int64) string { return "t" + strconv.FormatInt(seq, 10) }

// taskSeq is the row of the task with id, false for an id this store
// does not give.
func taskSeq(id string) (int64, bool) {
	num, ok := strings.CutPrefix(id, "t")
	if !ok || num == "" || num[0] == '0' || num[0] == '+' {
		return 0, false
	}
	seq, err := strconv.ParseInt(num, 10, 64)
	return seq, err == nil && seq > 0
}

func scanTask(r scanner) (match.Task, error) {
	var (
		t                   match.Task
		seq                 int64
		due, created, doneA int64
	)
	if err := r.Scan(&seq, &t.Account, &t.ClientID, &t.Phone, &t.Provider, &t.CallID, &t.Responsible, &t.Text,
		&due, &created, &t.Done, &doneA, &t.DoneBy, &t.Escalated); err != nil {
		return match.Task{}, err
	}
	t.ID = taskID(seq)
	t.Due, t.CreatedAt, t.DoneAt = fromNanos(due), fromNanos(created), fromNanos(doneA)
	return t, nil
}

// scanTasks reads every task of rows and closes rows.
func scanTasks(rows *sql.Rows) ([]match.Task, error) {
	defer rows.Close()
	var out []match.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CreateTask implements match.TaskStore. The id is "t" and a number;
// times are stored in UTC (a zero CreatedAt is stamped by the store's
// clock).
//
// CreateTask is idempotent by call: a unique key on (account, provider,
// call id) makes CreateTask for a call that has a task return that task
// as stored, also when several processes create it at once.
func (d *DB) CreateTask(ctx context.Context, t match.Task) (match.Task, error) {
	if err := t.Validate(); err != nil {
		return match.Task{}, wrap(err, "create task")
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = d.cfg.now()
	}
	t.CreatedAt, t.Due = t.CreatedAt.UTC().Round(0), t.Due.UTC().Round(0) // as they will read back
	t.Done, t.DoneAt, t.DoneBy, t.Escalated = false, time.Time{}, "", false
	var tc times
	due, created := tc.v("due", t.Due), tc.v("created_at", t.CreatedAt)
	if tc.err != nil {
		return match.Task{}, wrap(tc.err, "create task")
	}
	out := t
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var seq int64
		err := d.txQueryRow(ctx, tx, "INSERT INTO cb_tasks (account, client_id, phone, provider, call_id, responsible, text,"+
			" due, created_at, done, done_at, done_by, escalated)"+
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"+
			" ON CONFLICT (account, provider, call_id) DO NOTHING RETURNING seq",
			t.Account, t.ClientID, t.Phone, t.Provider, t.CallID, t.Responsible, t.Text, due, created,
			false, int64(zeroTime), "", false).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			// The call has a task already (on PostgreSQL, one another
			// process was creating: the insert waited for it to commit).
			out, err = scanTask(d.txQueryRow(ctx, tx, "SELECT "+taskCols+" FROM cb_tasks"+
				" WHERE account = $1 AND provider = $2 AND call_id = $3", t.Account, t.Provider, t.CallID))
			return err
		}
		if err != nil {
			return err
		}
		out.ID = taskID(seq)
		return nil
	})
	if err != nil {
		return match.Task{}, wrap(err, "create task for call %q", t.CallID)
	}
	return out, nil
}

// CloseTasks implements match.TaskStore over the index of open tasks by
// phone.
func (d *DB) CloseTasks(ctx context.Context, account, phone string, at time.Time, by string) ([]match.Task, error) {
	var tc times
	doneAt := tc.v("at", at)
	if tc.err != nil {
		return nil, wrap(tc.err, "close tasks")
	}
	var out []match.Task
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := d.txQuery(ctx, tx, closeTasksQuery, true, doneAt, by, account, phone)
		if err != nil {
			return err
		}
		out, err = scanTasks(rows)
		return err
	})
	if err != nil {
		return nil, wrap(err, "close tasks of %s", phone)
	}
	// RETURNING has no order.
	slices.SortFunc(out, func(a, b match.Task) int {
		sa, _ := taskSeq(a.ID)
		sb, _ := taskSeq(b.ID)
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(sa, sb))
	})
	return out, nil
}

// OverdueTasks implements match.TaskStore over the index of open tasks by
// due time.
func (d *DB) OverdueTasks(ctx context.Context, account string, now time.Time) ([]match.Task, error) {
	var tc times
	n := tc.v("now", now)
	if tc.err != nil {
		return nil, wrap(tc.err, "overdue tasks")
	}
	rows, err := d.query(ctx, overdueTasksQuery, account, n)
	if err != nil {
		return nil, wrap(err, "overdue tasks")
	}
	out, err := scanTasks(rows)
	return out, wrap(err, "overdue tasks")
}

// OpenTasks implements match.TaskStore over the index of open tasks by
// due time.
func (d *DB) OpenTasks(ctx context.Context, account string) ([]match.Task, error) {
	rows, err := d.query(ctx, openTasksQuery, account)
	if err != nil {
		return nil, wrap(err, "open tasks")
	}
	out, err := scanTasks(rows)
	return out, wrap(err, "open tasks")
}

// EscalateTask implements match.TaskStore. An unknown task is an error
// wrapping ErrNotFound.
func (d *DB) EscalateTask(ctx context.Context, account, id string) error {
	seq, ok := taskSeq(id)
	if !ok {
		return fmt.Errorf("sqlstore: escalate task %q: %w", id, ErrNotFound)
	}
	res, err := d.exec(ctx, "UPDATE cb_tasks SET escalated = $1 WHERE account = $2 AND seq = $3", true, account, seq)
	if err != nil {
		return wrap(err, "escalate task %q", id)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, "escalate task %q", id)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: escalate task %q: %w", id, ErrNotFound)
	}
	return nil
}

// Tasks lists the tasks of account, open or done, newest first, one page
// at a time.
func (d *DB) Tasks(ctx context.Context, account string, page Page) ([]match.Task, error) {
	limit, offset := page.bounds()
	rows, err := d.query(ctx, "SELECT "+taskCols+" FROM cb_tasks WHERE account = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3",
		account, limit, offset)
	if err != nil {
		return nil, wrap(err, "list tasks")
	}
	out, err := scanTasks(rows)
	return out, wrap(err, "list tasks")
}
