package match

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Defaults of TaskRule.
const (
	// DefaultTaskDeadline is how long after a missed call its call-back
	// task is due when TaskRule.Deadline is 0.
	DefaultTaskDeadline = time.Hour
	// defaultTaskText is the text of a call-back task when TaskRule.Text
	// is empty.
	defaultTaskText = "Перезвонить клиенту +{phone}"
)

// MaxTaskTextLen bounds the text of a task in every store (bytes);
// CreateTask refuses a longer one with an error wrapping ErrTooLarge.
const MaxTaskTextLen = 1024

// maxTaskDeadline bounds TaskRule.Deadline: a year.
const maxTaskDeadline = 365 * 24 * time.Hour

// maxPhoneDigits is the longest E.164 number: a template is checked
// against its expansion with numbers this long.
const maxPhoneDigits = 15

// Task is a call-back task: someone has to call a number back because a
// call from it was missed. The engine creates one per missed inbound call
// (TaskRule) and closes the open tasks of a number when a call with it is
// answered.
type Task struct {
	// ID is the store's id of the task, unique within the account.
	ID string `json:"id"`
	// Account is the tenant the task belongs to (see callevent.Event.Account).
	Account string `json:"account,omitempty"`
	// ClientID is the client of the missed call, "" when the number had
	// no client when the call was decided.
	ClientID string `json:"client_id,omitempty"`
	// Phone is the number to call back, normalised ("79161234567").
	Phone string `json:"phone"`
	// Provider and CallID are the missed call. A store keeps one task per
	// Provider and CallID in an account (see TaskStore.CreateTask).
	Provider string `json:"provider"`
	CallID   string `json:"call_id"`
	// Responsible is the id of the employee who should call back: the
	// engine gives the missed call's responsible (the employee its
	// missed-call notification goes to), else its lead's.
	Responsible string `json:"responsible"`
	Text        string `json:"text"`
	// Due is when the call back is due: TaskRule.Deadline after the
	// missed call.
	Due       time.Time `json:"due"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// Done says the number was reached: a call with it was answered at
	// DoneAt; DoneBy is that call, "<provider>/<call id>".
	Done   bool      `json:"done"`
	DoneAt time.Time `json:"done_at,omitzero"`
	DoneBy string    `json:"done_by,omitempty"`
	// Escalated says the account's admins were told that the task is
	// overdue (Engine.EscalateOverdue).
	Escalated bool `json:"escalated,omitempty"`
}

// Validate reports whether t can be created: it has a Phone and a CallID
// and is within the limits every store keeps (MaxValueLen, and
// MaxTaskTextLen for Text; an error wrapping ErrTooLarge).
func (t Task) Validate() error {
	if t.Phone == "" || t.CallID == "" {
		return errors.New("match: a task needs a phone and the call id of the missed call")
	}
	long := func(s string) bool { return len(s) > MaxValueLen }
	if long(t.ID) || long(t.Account) || long(t.ClientID) || long(t.Phone) || long(t.Provider) || long(t.CallID) ||
		long(t.Responsible) || long(t.DoneBy) {
		return fmt.Errorf("%w: a value is longer than %d bytes", ErrTooLarge, MaxValueLen)
	}
	if len(t.Text) > MaxTaskTextLen {
		return fmt.Errorf("%w: task text is longer than %d bytes", ErrTooLarge, MaxTaskTextLen)
	}
	return nil
}

// A TaskStore keeps call-back tasks (Rule.Task). It is optional: the
// engine creates and closes tasks only when its ClientStore is one (as
// memstore.Store and sqlstore.DB are) or WithTaskStore sets one. Phones
// passed in are normalised.
type TaskStore interface {
	// CreateTask stores t as an open task that is not escalated (t's ID,
	// Done, DoneAt, DoneBy and Escalated are ignored: the store assigns
	// the ID) and returns it as stored; a zero CreatedAt is stamped. A t
	// that fails Task.Validate is an error.
	//
	// CreateTask is idempotent by call: when the account already has a
	// task with t's Provider and CallID, CreateTask returns that task (as
	// stored, open or not) and creates nothing, whatever t's other values,
	// also when several CreateTask for one call run at once: the engine
	// may decide a call again after a restart.
	CreateTask(ctx context.Context, t Task) (Task, error)
	// CloseTasks marks every open task of account for phone done at at by
	// the call by ("<provider>/<call id>") and returns them as stored,
	// oldest due first; none is not an error.
	CloseTasks(ctx context.Context, account, phone string, at time.Time, by string) ([]Task, error)
	// OverdueTasks returns the open tasks of account due before now that
	// are not escalated, oldest due first (ties in creation order).
	OverdueTasks(ctx context.Context, account string, now time.Time) ([]Task, error)
	// EscalateTask marks the task of account with id escalated; again is
	// not an error. An unknown task is.
	EscalateTask(ctx context.Context, account, id string) error
	// OpenTasks returns the open tasks of account, oldest due first (ties
	// in creation order): the "to call back" list of a UI.
	OpenTasks(ctx context.Context, account string) ([]Task, error)
}

// TaskRule makes a missed inbound call a call-back task for the employee
// the missed call belongs to, through a store that is a TaskStore. In Text
// "{phone}" is replaced by the caller's number, "{line}" by the company
// number, as in CreateRule's names. As JSON:
//
//	"task": {"enabled": true, "deadline": "30m", "text": "Перезвонить +{phone} (линия {line})"}
type TaskRule struct {
	Enabled bool `json:"enabled,omitempty"`
	// Deadline is how long after the missed call the task is due
	// (0 = DefaultTaskDeadline; at most a year).
	Deadline Duration `json:"deadline,omitempty"`
	// Text is the task's text; empty = "Перезвонить клиенту +{phone}".
	Text string `json:"text,omitempty"`
}

func (r TaskRule) deadline() time.Duration {
	return cmpDur(time.Duration(r.Deadline), DefaultTaskDeadline)
}

func (r TaskRule) text() string { return cmp.Or(r.Text, defaultTaskText) }

func (r TaskRule) validate() error {
	if r.Deadline < 0 {
		return fmt.Errorf("negative task deadline %v", time.Duration(r.Deadline))
	}
	if time.Duration(r.Deadline) > maxTaskDeadline {
		return fmt.Errorf("task deadline %v is longer than %v", time.Duration(r.Deadline), maxTaskDeadline)
	}
	longest := strings.Repeat("9", maxPhoneDigits)
	if n := len(expand(r.text(), longest, longest)); n > MaxTaskTextLen {
		return fmt.Errorf("task text: %d bytes once expanded, more than %d", n, MaxTaskTextLen)
	}
	return nil
}

// tasksOn reports whether some rule of account makes call-back tasks: only
// then does an answered call ask the store to close tasks (a round trip
// saved on every call elsewhere).
func (rs *RuleSet) tasksOn(account string) bool {
	r, ok := rs.Accounts[account]
	if !ok {
		r = rs.Default
	}
	return r.Task.Enabled || slices.ContainsFunc(r.Lines, func(l LineRule) bool { return l.Task.Enabled })
}

// WithTaskStore sets the task store (default: the ClientStore, if it is
// also a TaskStore; else no call-back tasks are made).
func WithTaskStore(s TaskStore) Option { return func(e *Engine) error { e.tasks = s; return nil } }

// task makes a missed inbound call a call-back task (Rule.Task), and
// closes the open tasks of the number of an answered call, inbound or
// outbound: an answered inbound call closes them too, because the client
// reached us and nobody needs to call back. Closing looks at the account's
// rules, not the call's line rule, since a call back rarely goes through
// the line that was called.
func (e *Engine) task(ctx context.Context, rec CallRecord, c Case, rule Rule, p *progress, dry bool) error {
	d := &p.d
	switch c {
	case InboundMissed:
		if !rule.Task.Enabled {
			return nil
		}
		if rec.ClientPhone == "" {
			d.add(ActCreateTask, "", "", "", "anonymous caller: no number to call back, no task")
			return nil
		}
		from := rec.EndedAt
		if from.IsZero() {
			from = rec.StartedAt
		}
		t := Task{Account: rec.Account, ClientID: rec.ClientID, Phone: rec.ClientPhone, Provider: rec.Provider,
			CallID: rec.CallID, Responsible: cmp.Or(p.resp, p.leadResp), Text: expand(rule.Task.text(), rec.ClientPhone, rec.LinePhone),
			Due: from.Add(rule.Task.deadline()).UTC()}
		if !dry {
			var err error
			if t, err = e.tasks.CreateTask(ctx, t); err != nil {
				return fmt.Errorf("match: create task: %w", err)
			}
		}
		what := "task"
		if t.ID != "" {
			what += " " + t.ID
		}
		d.add(ActCreateTask, rec.ClientID, rec.LeadID, t.Responsible, "missed call and call-back tasks are on: %s %q due %s",
			what, t.Text, t.Due.Format(time.RFC3339))
	case InboundAnswered, OutboundAnswered:
		if rec.ClientPhone == "" || !e.rules.tasksOn(rec.Account) {
			return nil
		}
		if dry {
			d.add(ActCloseTasks, rec.ClientID, "", "", "answered %s call: the open call-back tasks of this number are closed", rec.Direction)
			return nil
		}
		at := rec.AnsweredAt
		if at.IsZero() {
			at = e.clock.Now()
		}
		closed, err := e.tasks.CloseTasks(ctx, rec.Account, rec.ClientPhone, at.UTC(), rec.Provider+"/"+rec.CallID)
		if err != nil {
			return fmt.Errorf("match: close tasks: %w", err)
		}
		if len(closed) > 0 {
			ids := make([]string, len(closed))
			for i, t := range closed {
				ids[i] = t.ID
			}
			d.add(ActCloseTasks, rec.ClientID, "", "", "answered %s call: call-back tasks %s of this number closed",
				rec.Direction, strings.Join(ids, ", "))
		}
	}
	return nil
}

// EscalateOverdue tells every admin of account (Employee.Admin) about each
// open call-back task due before now that is not escalated yet, with a
// NotifyTaskOverdue notification whose Provider and CallID are the missed
// call's (they identify the task), and then marks the task escalated. It
// returns how many tasks it escalated. A task of an account without
// admins is marked escalated with nobody told (and a warning logged).
//
// Run it periodically (every minute, say) for each account with call-back
// tasks. It is idempotent and safe to run from several instances at once:
// a task is listed until it is marked, and the notifications are keyed
// by account, provider, call, employee and kind, so an admin is told once
// per task even when two runs overlap or one fails half-way. A task whose
// notification or marking fails is left for the next run and the others
// go on; the errors are returned joined.
//
// Without a TaskStore there is nothing to escalate (0, nil); without a
// Notifier or a Directory EscalateOverdue fails.
func (e *Engine) EscalateOverdue(ctx context.Context, account string) (int, error) {
	if e.tasks == nil {
		return 0, nil
	}
	if e.notifier == nil || e.dir == nil {
		return 0, errors.New("match: EscalateOverdue: telling admins needs a Notifier and a Directory")
	}
	now := e.clock.Now().UTC()
	tasks, err := e.tasks.OverdueTasks(ctx, account, now)
	if err != nil || len(tasks) == 0 {
		return 0, wrapErr(err, "match: overdue tasks")
	}
	emps, err := e.dir.Employees(ctx, account)
	if err != nil {
		return 0, fmt.Errorf("match: employees: %w", err)
	}
	var admins []string
	for _, x := range emps {
		if x.Admin && !slices.Contains(admins, x.ID) {
			admins = append(admins, x.ID)
		}
	}
	n := 0
	var errs []error
tasks:
	for _, t := range tasks {
		if len(admins) == 0 {
			e.log.Warn("match: overdue call-back task, but the account has no admin to tell", "account", account, "task", t.ID)
		}
		reason := "admin: call-back task " + t.ID
		if t.Responsible != "" {
			reason += " of " + t.Responsible
		}
		reason += " overdue since " + t.Due.UTC().Format(time.RFC3339)
		for _, id := range admins {
			err := e.notifier.Notify(ctx, Notification{Kind: NotifyTaskOverdue, Account: account, Employee: id,
				Provider: t.Provider, CallID: t.CallID, ClientID: t.ClientID, ClientPhone: t.Phone, Reason: reason, At: now})
			if err != nil {
				errs = append(errs, fmt.Errorf("match: notify %s of overdue task %s: %w", id, t.ID, err))
				continue tasks
			}
		}
		if err := e.tasks.EscalateTask(ctx, account, t.ID); err != nil {
			errs = append(errs, fmt.Errorf("match: escalate task %s: %w", t.ID, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// wrapErr is fmt.Errorf(what+": %w", err), nil for a nil err.
func wrapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
