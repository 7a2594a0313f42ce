package amocrm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge/match"
)

// A Store keeps call-back tasks (match.TaskStore) as amoCRM tasks.
var _ match.TaskStore = (*Store)(nil)

// How a Store recognises its call-back tasks among an account's tasks.
//
// amoCRM tasks have no tags, custom fields or external ids, and
// request_id is only echoed. So the last line of the text of every task a
// Store creates is a marker, a URI naming the missed call and what amoCRM
// cannot keep otherwise:
//
//	Перезвонить клиенту +79161234567
//	callbridge:telphin/76c8491e9d3711e7?account=app1&phone=79161234567
//
// provider and call id are path-escaped, the rest is a query: account
// (the match account, omitted when empty), phone (normalised), and once
// they happen escalated (Unix seconds of EscalateTask), done_at (Unix
// seconds) and done_by (the call that reached the number). EscalateTask
// and CloseTasks rewrite the marker with PATCH /api/v4/tasks. A task
// whose last line is not a marker is not the Store's and is never listed,
// closed or escalated; a user who edits a task keeping the last line keeps
// it the Store's.
const markerPrefix = "callbridge:"

// taskMemory is how long a Store remembers a task it created or found
// (CreateTask for the same call then costs no request).
const taskMemory = 24 * time.Hour

// taskMarker is what the marker line of a task says.
type taskMarker struct {
	account, provider, callID, phone string
	escalated                        bool
	escalatedAt                      time.Time
	doneAt                           time.Time
	doneBy                           string
}

// String is the marker line.
func (m taskMarker) String() string {
	q := url.Values{"phone": {m.phone}}
	if m.account != "" {
		q.Set("account", m.account)
	}
	if m.escalated {
		q.Set("escalated", strconv.FormatInt(max(m.escalatedAt.Unix(), 1), 10))
	}
	if m.doneBy != "" {
		q.Set("done_by", m.doneBy)
	}
	if !m.doneAt.IsZero() {
		q.Set("done_at", strconv.FormatInt(m.doneAt.Unix(), 10))
	}
	return markerPrefix + url.PathEscape(m.provider) + "/" + url.PathEscape(m.callID) + "?" + q.Encode()
}

// appendTo returns text with the marker as its last line.
func (m taskMarker) appendTo(text string) string {
	if text == "" {
		return m.String()
	}
	return text + "\n" + m.String()
}

// splitMarker splits an amoCRM task text into the text before the marker
// line and the marker; ok is false when the last line (trailing blanks
// aside) is not a marker.
func splitMarker(s string) (text string, m taskMarker, ok bool) {
	s = strings.TrimRight(s, "\r\n\t ")
	i := strings.LastIndexByte(s, '\n')
	rest, ok := strings.CutPrefix(s[i+1:], markerPrefix)
	if !ok {
		return "", taskMarker{}, false
	}
	path, query, _ := strings.Cut(rest, "?")
	rawProvider, rawCall, ok := strings.Cut(path, "/")
	provider, err1 := url.PathUnescape(rawProvider)
	callID, err2 := url.PathUnescape(rawCall)
	q, err3 := url.ParseQuery(query)
	if !ok || err1 != nil || err2 != nil || err3 != nil || provider == "" || callID == "" || q.Get("phone") == "" {
		return "", taskMarker{}, false
	}
	m = taskMarker{account: q.Get("account"), provider: provider, callID: callID, phone: q.Get("phone"),
		escalated: q.Get("escalated") != "", escalatedAt: unixUTC(q.Get("escalated")),
		doneAt: unixUTC(q.Get("done_at")), doneBy: q.Get("done_by")}
	if i >= 0 {
		text = strings.TrimSuffix(s[:i], "\r")
	}
	return text, m, true
}

// unixUTC reads decimal Unix seconds; anything else is the zero time.
func unixUTC(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// callTask is an amoCRM task the Store made: as a match.Task, with its
// marker.
type callTask struct {
	match.Task
	marker taskMarker
}

// taskOf reads an amoCRM task as a call-back task; ok is false for a task
// without a marker (not the Store's). Times are whole seconds, in UTC.
// A task completed in amoCRM by hand is Done at its last change, by
// nobody.
func taskOf(x Task) (callTask, bool) {
	text, m, ok := splitMarker(x.Text)
	if !ok {
		return callTask{}, false
	}
	t := match.Task{ID: strconv.FormatInt(x.ID, 10), Account: m.account, Phone: m.phone, Provider: m.provider, CallID: m.callID,
		Responsible: userID(x.ResponsibleUserID), Text: text, Done: x.IsCompleted, Escalated: m.escalated}
	if x.EntityID != 0 && (x.EntityType == EntityContacts || x.EntityType == EntityCompanies) {
		t.ClientID = ClientID(x.EntityType, x.EntityID)
	}
	if x.CompleteTill > 0 {
		t.Due = time.Unix(x.CompleteTill, 0).UTC()
	}
	if x.CreatedAt > 0 {
		t.CreatedAt = time.Unix(x.CreatedAt, 0).UTC()
	}
	if t.Done {
		t.DoneAt, t.DoneBy = m.doneAt, m.doneBy
		if t.DoneAt.IsZero() && x.UpdatedAt > 0 {
			t.DoneAt = time.Unix(x.UpdatedAt, 0).UTC()
		}
	}
	return callTask{t, m}, true
}

// sortTasks orders tasks oldest due first, ties in creation order (then
// by id: amoCRM ids grow).
func sortTasks(ts []callTask) {
	slices.SortStableFunc(ts, func(a, b callTask) int {
		return cmp.Or(a.Due.Compare(b.Due), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(parseID(a.ID), parseID(b.ID)))
	})
}

// plain returns the match.Tasks of ts.
func plain(ts []callTask) []match.Task {
	if len(ts) == 0 {
		return nil
	}
	out := make([]match.Task, len(ts))
	for i, t := range ts {
		out[i] = t.Task
	}
	return out
}

// taskCache is a Store's memory of call-back tasks: the tasks it created
// or found, by call, and the locks that keep one task per call and one
// writer of existing tasks per account in this process. Its zero value is
// ready to use.
type taskCache struct {
	mu     sync.Mutex
	byCall map[string]timed[match.Task]
	locks  map[string]*keyLock
}

// keyLock is one key's lock: a token in ch, and how many goroutines hold
// or wait for it.
type keyLock struct {
	ch   chan struct{}
	refs int
}

// callKey identifies a missed call in an account.
func callKey(account, provider, callID string) string {
	return account + "\x00" + provider + "\x00" + callID
}

// lock takes the lock of key, waiting until it is free or ctx is done,
// and returns its release.
func (tc *taskCache) lock(ctx context.Context, key string) (func(), error) {
	tc.mu.Lock()
	if tc.locks == nil {
		tc.locks = map[string]*keyLock{}
	}
	l := tc.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		tc.locks[key] = l
	}
	l.refs++
	tc.mu.Unlock()
	done := func() {
		tc.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(tc.locks, key)
		}
		tc.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// get returns the remembered task of a call.
func (tc *taskCache) get(key string, now time.Time) (match.Task, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	t, ok := tc.byCall[key]
	if !ok || !now.Before(t.exp) {
		return match.Task{}, false
	}
	return t.v, true
}

// put remembers t by its call.
func (tc *taskCache) put(t match.Task, now time.Time) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.byCall == nil {
		tc.byCall = map[string]timed[match.Task]{}
	}
	prune(tc.byCall, func(x timed[match.Task]) bool { return !now.Before(x.exp) })
	tc.byCall[callKey(t.Account, t.Provider, t.CallID)] = timed[match.Task]{t, now.Add(taskMemory)}
}

// CreateTask implements match.TaskStore: an amoCRM task of type «Звонок»
// (TaskTypeCall, POST /api/v4/tasks) with t's Text and a last line
// marking it as the Store's task of the call
// ("callbridge:<provider>/<call id>?account=…&phone=…", see the package
// doc), due (complete_till) at t.Due, for the user t.Responsible
// (an amoCRM user id; empty: amoCRM gives it to the token's user, and the
// Store reads the task back to return it as stored), created_at
// t.CreatedAt or now. It is on the client's card: the contact, or the
// company of a "company:N" id (ParseClientID); a task without a client is
// on no card, which amoCRM allows. A client or responsible that is not an
// amoCRM id, or a zero Due, is refused before any request. Times are kept
// in whole seconds, as amoCRM does.
//
// One call, one task, also across restarts and instances: the Store
// remembers the tasks it made (a day), and before creating one it looks
// for the call's marker in amoCRM: among the client card's call tasks,
// open or completed (one request), or for a task without a client among
// the account's open call tasks (see OpenTasks). Concurrent CreateTask
// for one call in one Store wait for each other. Two replays are not
// recognised and get a second task: the call of a task on no card that
// was completed before the call is decided again (amoCRM cannot list the
// tasks on no card, and listing every completed task is too dear), and a
// call decided again with a client other than the first decision's.
func (s *Store) CreateTask(ctx context.Context, t match.Task) (match.Task, error) {
	if err := ctx.Err(); err != nil {
		return match.Task{}, fmt.Errorf("amocrm: task of call %s: %w", t.CallID, err)
	}
	if err := t.Validate(); err != nil {
		return match.Task{}, fmt.Errorf("amocrm: task of call %s: %w", t.CallID, err)
	}
	if t.Due.IsZero() {
		return match.Task{}, fmt.Errorf("amocrm: task of call %s: no due time (amoCRM requires complete_till)", t.CallID)
	}
	var entity EntityType
	var entityID int64
	if t.ClientID != "" {
		var ok bool
		if entity, entityID, ok = ParseClientID(t.ClientID); !ok {
			return match.Task{}, fmt.Errorf("amocrm: task of call %s: client id %q is not an amoCRM contact or company id", t.CallID, t.ClientID)
		}
	}
	uid := parseID(t.Responsible)
	if t.Responsible != "" && uid == 0 {
		return match.Task{}, fmt.Errorf("amocrm: task of call %s: responsible %q is not an amoCRM user id", t.CallID, t.Responsible)
	}
	key := callKey(t.Account, t.Provider, t.CallID)
	unlock, err := s.tasks.lock(ctx, "call\x00"+key)
	if err != nil {
		return match.Task{}, fmt.Errorf("amocrm: task of call %s: %w", t.CallID, err)
	}
	defer unlock()
	if got, ok := s.tasks.get(key, s.now()); ok {
		return got, nil
	}
	got, found, err := s.findTask(ctx, t, entity, entityID)
	if err != nil {
		return match.Task{}, fmt.Errorf("amocrm: task of call %s: looking for it: %w", t.CallID, err)
	}
	if !found {
		if got, err = s.createTask(ctx, t, entity, entityID, uid); err != nil {
			return match.Task{}, fmt.Errorf("amocrm: task of call %s: %w", t.CallID, err)
		}
	}
	s.tasks.put(got, s.now())
	return got, nil
}

// findTask looks for the task of t's call in amoCRM: among the call tasks
// of the client's card, open or not, or among the open call tasks when t
// has no client. The oldest one wins.
func (s *Store) findTask(ctx context.Context, t match.Task, entity EntityType, entityID int64) (match.Task, bool, error) {
	f := TaskFilter{State: TasksOpen, TaskTypes: []int64{TaskTypeCall}, OrderBy: OrderByID}
	if entityID != 0 {
		f = TaskFilter{EntityType: entity, EntityIDs: []int64{entityID}, TaskTypes: []int64{TaskTypeCall}, OrderBy: OrderByID}
	}
	var best *callTask
	for x, err := range s.c.Tasks(ctx, f) {
		if err != nil {
			return match.Task{}, false, err
		}
		got, ok := taskOf(x)
		if ok && got.Account == t.Account && got.Provider == t.Provider && got.CallID == t.CallID &&
			(best == nil || parseID(got.ID) < parseID(best.ID)) {
			best = &got
		}
	}
	if best == nil {
		return match.Task{}, false, nil
	}
	return best.Task, true, nil
}

// createTask makes t's amoCRM task and returns it as stored.
func (s *Store) createTask(ctx context.Context, t match.Task, entity EntityType, entityID, uid int64) (match.Task, error) {
	created := t.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	m := taskMarker{account: t.Account, provider: t.Provider, callID: t.CallID, phone: t.Phone}
	body := Task{ResponsibleUserID: uid, EntityType: entity, EntityID: entityID, TaskTypeID: TaskTypeCall,
		Text: m.appendTo(t.Text), CompleteTill: t.Due.Unix(), CreatedAt: created.Unix()}
	out, err := s.c.CreateTasks(ctx, []Task{body})
	if err != nil {
		return match.Task{}, err
	}
	body.ID = out[0].ID
	if body.ID == 0 {
		return match.Task{}, errors.New("amocrm: the created task's answer carries no id")
	}
	if uid == 0 {
		// amoCRM chose the responsible: read it back. A failure here
		// leaves the task made; the call's next CreateTask finds it.
		x, err := s.c.Task(ctx, body.ID)
		if err != nil {
			return match.Task{}, fmt.Errorf("reading back task %d: %w", body.ID, err)
		}
		body.ResponsibleUserID = x.ResponsibleUserID
	}
	got, _ := taskOf(body)
	return got.Task, nil
}

// openTasks lists the Store's open call-back tasks of account that keep
// accepts, oldest due first: every open call task of the amoCRM account
// (GET /api/v4/tasks, filter[is_completed]=0, filter[task_type]=1, 250 per
// page), read by their markers. A non-zero before asks amoCRM only for
// those due up to it (filter[complete_till][to]).
func (s *Store) openTasks(ctx context.Context, account string, before time.Time, keep func(match.Task) bool) ([]callTask, error) {
	f := TaskFilter{State: TasksOpen, TaskTypes: []int64{TaskTypeCall}, OrderBy: OrderByCompleteTill}
	if !before.IsZero() {
		// The bound is whole seconds and amoCRM does not say whether it
		// is inclusive: one second more leaves out no task due before
		// before; keep does the exact test.
		f.CompleteTillTo = before.Add(time.Second)
	}
	var out []callTask
	for x, err := range s.c.Tasks(ctx, f) {
		if err != nil {
			return nil, err
		}
		if t, ok := taskOf(x); ok && !t.Done && t.Account == account && keep(t.Task) {
			out = append(out, t)
		}
	}
	sortTasks(out)
	return out, nil
}

// OpenTasks implements match.TaskStore: the open call tasks of the
// amoCRM account that carry this account's marker (see CreateTask),
// oldest due first. It lists every open «Звонок» task of the amoCRM
// account, the users' own included (one request per 250), and keeps the
// Store's.
func (s *Store) OpenTasks(ctx context.Context, account string) ([]match.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("amocrm: open tasks: %w", err)
	}
	open, err := s.openTasks(ctx, account, time.Time{}, func(match.Task) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("amocrm: open tasks: %w", err)
	}
	return plain(open), nil
}

// OverdueTasks implements match.TaskStore: the open tasks of OpenTasks
// due before now and not escalated, asking amoCRM only for the tasks due
// by now.
func (s *Store) OverdueTasks(ctx context.Context, account string, now time.Time) ([]match.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("amocrm: overdue tasks: %w", err)
	}
	open, err := s.openTasks(ctx, account, now, func(t match.Task) bool { return t.Due.Before(now) && !t.Escalated })
	if err != nil {
		return nil, fmt.Errorf("amocrm: overdue tasks: %w", err)
	}
	return plain(open), nil
}

// CloseTasks implements match.TaskStore: the open tasks of OpenTasks for
// phone are completed (PATCH /api/v4/tasks, up to MaxBatch a request)
// with the result "Связались с клиентом: звонок <by>, <at>" and
// done_at and done_by in their markers, and returned done, oldest due
// first. The open tasks are found by their markers, which carry the
// phone: tasks on any client's card and tasks on no card alike, without
// a search.
//
// CloseTasks and EscalateTask of one account run one at a time in a
// Store, so concurrent CloseTasks report each task closed once. Two
// instances closing one number at the same moment may both report a
// task (amoCRM has no conditional update); it is completed either way.
func (s *Store) CloseTasks(ctx context.Context, account, phone string, at time.Time, by string) ([]match.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("amocrm: close tasks of %s: %w", phone, err)
	}
	unlock, err := s.tasks.lock(ctx, "account\x00"+account)
	if err != nil {
		return nil, fmt.Errorf("amocrm: close tasks of %s: %w", phone, err)
	}
	defer unlock()
	open, err := s.openTasks(ctx, account, time.Time{}, func(t match.Task) bool { return t.Phone == phone })
	if err != nil || len(open) == 0 {
		return nil, wrapf(err, "amocrm: close tasks of %s", phone)
	}
	at = at.UTC().Truncate(time.Second)
	result := &TaskResult{Text: "Связались с клиентом: звонок " + by + ", " + at.Format(time.RFC3339)}
	body := make([]Task, len(open))
	for i := range open {
		m := open[i].marker
		m.doneAt, m.doneBy = at, by
		body[i] = Task{ID: parseID(open[i].ID), IsCompleted: true, Result: result, Text: m.appendTo(open[i].Text)}
	}
	for chunk := range slices.Chunk(body, MaxBatch) {
		if _, err := s.c.UpdateTasks(ctx, chunk); err != nil {
			return nil, fmt.Errorf("amocrm: close tasks of %s: %w", phone, err)
		}
	}
	now := s.now()
	for i := range open {
		open[i].Done, open[i].DoneAt, open[i].DoneBy = true, at, by
		s.tasks.put(open[i].Task, now)
	}
	return plain(open), nil
}

// EscalateTask implements match.TaskStore: it reads the task (GET
// /api/v4/tasks/{id}) and adds escalated=<now> to its marker (PATCH
// /api/v4/tasks): amoCRM has no flag for it, and the marker keeps it in
// amoCRM for every instance, so OverdueTasks does not list the task
// again. A task escalated already is left as it is. An id that is not an
// amoCRM task of this account's marker is an error wrapping ErrNotFound.
func (s *Store) EscalateTask(ctx context.Context, account, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("amocrm: escalate task %s: %w", id, err)
	}
	n := parseID(id)
	if n == 0 {
		return fmt.Errorf("amocrm: escalate task %q: %w", id, ErrNotFound)
	}
	unlock, err := s.tasks.lock(ctx, "account\x00"+account)
	if err != nil {
		return fmt.Errorf("amocrm: escalate task %s: %w", id, err)
	}
	defer unlock()
	x, err := s.c.Task(ctx, n)
	if err != nil {
		return fmt.Errorf("amocrm: escalate task %s: %w", id, err)
	}
	t, ok := taskOf(*x)
	if !ok || t.Account != account {
		return fmt.Errorf("amocrm: escalate task %s: %w: not a call-back task of account %q", id, ErrNotFound, account)
	}
	if t.Escalated {
		return nil
	}
	m := t.marker
	m.escalated, m.escalatedAt = true, s.now()
	if _, err := s.c.UpdateTasks(ctx, []Task{{ID: n, Text: m.appendTo(t.Text)}}); err != nil {
		return fmt.Errorf("amocrm: escalate task %s: %w", id, err)
	}
	t.Escalated = true
	s.tasks.put(t.Task, s.now())
	return nil
}

// wrapf is fmt.Errorf(format+": %w", args..., err), nil for a nil err.
func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
