package amocrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Task types every amoCRM account has (accounts may add their own).
const (
	TaskTypeCall    int64 = 1 // «Звонок»
	TaskTypeMeeting int64 = 2 // «Встреча»
)

// Task is an amoCRM task (задача): something a user has to do by
// CompleteTill, of a type (TaskTypeCall, …), on a lead, contact, company
// or customer (EntityType and EntityID), or on nothing. Zero fields are
// omitted when writing: a new task is open (IsCompleted false), and
// without ResponsibleUserID amoCRM makes it the token's user's.
//
// https://www.amocrm.ru/developers/content/crm_platform/tasks-api
type Task struct {
	ID                int64 `json:"id,omitempty"`
	ResponsibleUserID int64 `json:"responsible_user_id,omitempty"`
	GroupID           int64 `json:"group_id,omitempty"`
	CreatedBy         int64 `json:"created_by,omitempty"`
	UpdatedBy         int64 `json:"updated_by,omitempty"`
	// CreatedAt, UpdatedAt and CompleteTill are Unix seconds.
	CreatedAt int64 `json:"created_at,omitempty"`
	UpdatedAt int64 `json:"updated_at,omitempty"`
	// EntityType and EntityID are the card the task is on; both are
	// empty for a task on no card.
	EntityID   int64      `json:"entity_id,omitempty"`
	EntityType EntityType `json:"entity_type,omitempty"`
	// Duration is the task's length in seconds (meetings).
	Duration    int64  `json:"duration,omitempty"`
	IsCompleted bool   `json:"is_completed,omitempty"`
	TaskTypeID  int64  `json:"task_type_id,omitempty"`
	Text        string `json:"text,omitempty"`
	// Result is what the user wrote on completing the task; nil or empty
	// when there is none.
	Result *TaskResult `json:"result,omitempty"`
	// CompleteTill is when the task is due (required to create one).
	CompleteTill int64  `json:"complete_till,omitempty"`
	AccountID    int64  `json:"account_id,omitempty"`
	RequestID    string `json:"request_id,omitempty"`
}

// TaskResult is the result of a completed task.
type TaskResult struct {
	Text string `json:"text,omitempty"`
}

// UnmarshalJSON reads a result object, and the empty array amoCRM sends
// for a task without a result.
func (r *TaskResult) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(t, &items); err != nil {
			return fmt.Errorf("amocrm: task result: %w", err)
		}
		if len(items) > 0 {
			return fmt.Errorf("amocrm: task result: an array of %d items, want an object", len(items))
		}
		*r = TaskResult{}
		return nil
	}
	type plain TaskResult
	return json.Unmarshal(b, (*plain)(r))
}

type tasksEmbedded struct {
	Tasks []Task `json:"tasks"`
}

// CreateTasks creates up to MaxBatch tasks (POST /api/v4/tasks) and
// returns them with their ids, in order. Text and CompleteTill are
// required. Set RequestID to match answers yourself; it defaults to the
// index.
func (c *Client) CreateTasks(ctx context.Context, tasks []Task) ([]Task, error) {
	return batchWrite(ctx, c, http.MethodPost, "api/v4/tasks", tasks, func(e *tasksEmbedded) []Task { return e.Tasks },
		func(x *Task) *string { return &x.RequestID })
}

// UpdateTasks changes up to MaxBatch tasks by ID (PATCH /api/v4/tasks):
// set only the fields to change. Complete a task with IsCompleted true
// and a Result. A task cannot be reopened this way (false is omitted).
func (c *Client) UpdateTasks(ctx context.Context, tasks []Task) ([]Task, error) {
	return batchUpdate(ctx, c, "task", "api/v4/tasks", tasks, func(x *Task) int64 { return x.ID },
		func(e *tasksEmbedded) []Task { return e.Tasks }, func(x *Task) *string { return &x.RequestID })
}

// Task returns one task (GET /api/v4/tasks/{id}); an unknown id is
// ErrNotFound.
func (c *Client) Task(ctx context.Context, id int64) (*Task, error) {
	if id <= 0 {
		return nil, fmt.Errorf("amocrm: task %d: %w", id, ErrNotFound)
	}
	var t Task
	resp, err := c.call(ctx, http.MethodGet, "api/v4/tasks/"+strconv.FormatInt(id, 10), nil, nil, &t, true)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNoContent || t.ID == 0 {
		return nil, fmt.Errorf("amocrm: task %d: %w", id, ErrNotFound)
	}
	return &t, nil
}

// TaskState selects tasks by completion in a TaskFilter.
type TaskState int

// Task states of a TaskFilter.
const (
	TasksAll       TaskState = iota // open and completed
	TasksOpen                       // filter[is_completed]=0
	TasksCompleted                  // filter[is_completed]=1
)

// TaskOrder is a sort field of GET /api/v4/tasks.
type TaskOrder string

// Sort fields of a TaskFilter.
const (
	OrderByID           TaskOrder = "id"
	OrderByCreatedAt    TaskOrder = "created_at"
	OrderByCompleteTill TaskOrder = "complete_till"
)

// TaskFilter selects the tasks Tasks lists. Zero fields do not filter.
// Times are sent as Unix seconds; a range is inclusive.
type TaskFilter struct {
	IDs                []int64
	ResponsibleUserIDs []int64
	State              TaskState
	// TaskTypes are task type ids (TaskTypeCall, …).
	TaskTypes []int64
	// EntityType alone selects the tasks on that kind of card; with
	// EntityIDs, the tasks on those cards (amoCRM ignores EntityIDs
	// without EntityType, so Tasks refuses that).
	EntityType EntityType
	EntityIDs  []int64
	// UpdatedFrom and UpdatedTo bound the time of the last change.
	UpdatedFrom, UpdatedTo time.Time
	// CompleteTillFrom and CompleteTillTo bound the due time. amoCRM
	// honours filter[complete_till] although its reference lists only
	// filter[updated_at]: check the due times of the answer if it matters.
	CompleteTillFrom, CompleteTillTo time.Time
	// OrderBy sorts the list (empty: amoCRM's order), descending with
	// Desc.
	OrderBy TaskOrder
	Desc    bool
	// Limit is the page size, 1–250 (0: 250).
	Limit int
}

// query is the filter as GET parameters, without page.
func (f TaskFilter) query() (url.Values, error) {
	if len(f.EntityIDs) > 0 && f.EntityType == "" {
		return nil, errors.New("amocrm: TaskFilter.EntityIDs needs an EntityType")
	}
	limit := f.Limit
	if limit <= 0 || limit > listPageSize {
		limit = listPageSize
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	ids := func(key string, xs []int64) {
		for _, x := range xs {
			q.Add(key+"[]", strconv.FormatInt(x, 10))
		}
	}
	ids("filter[id]", f.IDs)
	ids("filter[responsible_user_id]", f.ResponsibleUserIDs)
	ids("filter[task_type]", f.TaskTypes)
	switch f.State {
	case TasksOpen:
		q.Set("filter[is_completed]", "0")
	case TasksCompleted:
		q.Set("filter[is_completed]", "1")
	}
	if f.EntityType != "" {
		q.Set("filter[entity_type]", string(f.EntityType))
		ids("filter[entity_id]", f.EntityIDs)
	}
	unix := func(key string, t time.Time) {
		if !t.IsZero() {
			q.Set(key, strconv.FormatInt(t.Unix(), 10))
		}
	}
	unix("filter[updated_at][from]", f.UpdatedFrom)
	unix("filter[updated_at][to]", f.UpdatedTo)
	unix("filter[complete_till][from]", f.CompleteTillFrom)
	unix("filter[complete_till][to]", f.CompleteTillTo)
	if f.OrderBy != "" {
		dir := "asc"
		if f.Desc {
			dir = "desc"
		}
		q.Set("order["+string(f.OrderBy)+"]", dir)
	}
	return q, nil
}

// Tasks iterates over the tasks f selects (GET /api/v4/tasks, page after
// page). No task is an empty iteration (amoCRM answers 204). Iteration
// stops at the first error; break out of the loop to stop early.
//
//	for t, err := range client.Tasks(ctx, amocrm.TaskFilter{State: amocrm.TasksOpen, TaskTypes: []int64{amocrm.TaskTypeCall}}) {
//		if err != nil { return err }
//		…
//	}
func (c *Client) Tasks(ctx context.Context, f TaskFilter) iter.Seq2[Task, error] {
	q, err := f.query()
	if err != nil {
		return func(yield func(Task, error) bool) { yield(Task{}, err) }
	}
	return pages(ctx, c, "api/v4/tasks", q, func(e *tasksEmbedded) []Task { return e.Tasks })
}

// listPageSize is the largest page amoCRM serves.
const listPageSize = 250

// pages iterates over a paged list: GET path with q (which carries the
// limit) and page=1, 2, … until a page is short, has no next link, or
// amoCRM answers 204 (past the last page). It stops at the first error,
// which names the page.
func pages[T, E any](ctx context.Context, c *Client, path string, q url.Values, get func(*E) []T) iter.Seq2[T, error] {
	limit, _ := strconv.Atoi(q.Get("limit"))
	return func(yield func(T, error) bool) {
		var zero T
		for n := 1; ; n++ {
			q := maps.Clone(q) // shallow: only "page" is replaced
			q.Set("page", strconv.Itoa(n))
			var p page[E]
			resp, err := c.call(ctx, http.MethodGet, path, q, nil, &p, true)
			if err != nil {
				yield(zero, fmt.Errorf("amocrm: GET /%s, page %d: %w", path, n, err))
				return
			}
			if resp.StatusCode == http.StatusNoContent {
				return
			}
			items := get(&p.Embedded)
			for _, x := range items {
				if !yield(x, nil) {
					return
				}
			}
			if len(items) < limit || p.Links.Next == nil {
				return
			}
		}
	}
}
