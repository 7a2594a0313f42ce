package amocrmtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Task is a task of the fake account (GET, POST and PATCH /api/v4/tasks).
type Task struct {
	ID                int64
	ResponsibleUserID int64
	// EntityType ("leads", "contacts", "companies" or "customers") and
	// EntityID are the card the task is on; "" and 0 for a task on no
	// card.
	EntityType string
	EntityID   int64
	// TaskTypeID is 1 («Звонок») or 2 («Встреча»).
	TaskTypeID  int64
	Text        string
	IsCompleted bool
	// Result is the result text of a completed task.
	Result   string
	Duration int64
	// CompleteTill, CreatedAt and UpdatedAt are Unix seconds.
	CompleteTill         int64
	CreatedAt, UpdatedAt int64
	CreatedBy            int64
}

// taskTypes are the task types of the fake account.
var taskTypes = []int64{1, 2}

// taskEntities are the entity types a task may be on.
var taskEntities = []string{"leads", contacts, companies, "customers"}

// AddTask adds a task, as a user would in amoCRM (ID 0: one is assigned;
// TaskTypeID 0: 1; ResponsibleUserID 0: the first of DefaultUsers;
// CreatedAt 0: now; UpdatedAt 0: CreatedAt), and returns its id.
func (s *Server) AddTask(t Task) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ID == 0 {
		t.ID = s.nextID()
	}
	t.TaskTypeID = cmp.Or(t.TaskTypeID, 1)
	t.ResponsibleUserID = cmp.Or(t.ResponsibleUserID, DefaultUsers[0].ID)
	t.CreatedAt = cmp.Or(t.CreatedAt, time.Now().Unix())
	t.UpdatedAt = cmp.Or(t.UpdatedAt, t.CreatedAt)
	s.tasks = append(s.tasks, &t)
	return t.ID
}

// Tasks returns copies of the tasks, in creation order.
func (s *Server) Tasks() []Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Task, len(s.tasks))
	for i, t := range s.tasks {
		out[i] = *t
	}
	return out
}

// CompleteTask completes the task id with result, as a user would in
// amoCRM, and reports whether the task exists.
func (s *Server) CompleteTask(id int64, result string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.task(id)
	if t == nil {
		return false
	}
	t.IsCompleted, t.Result, t.UpdatedAt = true, result, time.Now().Unix()
	return true
}

// task returns the task with id, or nil. s.mu is held.
func (s *Server) task(id int64) *Task {
	for _, t := range s.tasks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// routeTasks registers the tasks endpoints.
func (s *Server) routeTasks(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v4/tasks", s.listTasks)
	mux.HandleFunc("GET /api/v4/tasks/{id}", s.getTask)
	mux.HandleFunc("POST /api/v4/tasks", s.createTasks)
	mux.HandleFunc("PATCH /api/v4/tasks", s.updateTasks)
	mux.HandleFunc("PATCH /api/v4/tasks/{id}", s.updateTask)
}

// taskJSON is a task as amoCRM returns it: a task on no card has null
// entity_id and entity_type, and one without a result "result": [].
func (s *Server) taskJSON(t *Task) map[string]any {
	var entityID, entityType any
	if t.EntityType != "" {
		entityID, entityType = t.EntityID, t.EntityType
	}
	var result any = []any{}
	if t.Result != "" {
		result = map[string]any{"text": t.Result}
	}
	return map[string]any{"id": t.ID, "created_by": t.CreatedBy, "updated_by": t.CreatedBy, "created_at": t.CreatedAt,
		"updated_at": t.UpdatedAt, "responsible_user_id": t.ResponsibleUserID, "group_id": 0, "entity_id": entityID,
		"entity_type": entityType, "duration": t.Duration, "is_completed": t.IsCompleted, "task_type_id": t.TaskTypeID,
		"text": t.Text, "result": result, "complete_till": t.CompleteTill, "account_id": AccountID,
		"_links": s.href(fmt.Sprintf("/api/v4/tasks/%d", t.ID))}
}

// unixField reads an item's Unix-seconds field: ok is false when it is
// present but not a positive whole number.
func unixField(it map[string]any, k string) (v int64, present, ok bool) {
	raw, present := it[k]
	if !present {
		return 0, false, true
	}
	f, isNum := raw.(float64)
	if !isNum || f <= 0 || f != math.Trunc(f) || f > math.MaxInt64/2 {
		return 0, true, false
	}
	return int64(f), true, true
}

// checkTask answers amoCRM's 400 for a task item it would refuse, and
// returns false: on create a blank text or a missing complete_till; a
// complete_till that is not Unix seconds; an unknown responsible user,
// task type or entity type; an entity_id without entity_type or of no
// card. s.mu is held.
func (s *Server) checkTask(w http.ResponseWriter, reqID string, it map[string]any, creating bool) bool {
	if _, present := it["text"]; (creating || present) && str(it, "text") == "" {
		validation(w, reqID, "text", "NotBlank", "This value should not be blank.")
		return false
	}
	_, present, ok := unixField(it, "complete_till")
	switch {
	case creating && !present:
		validation(w, reqID, "complete_till", "NotBlank", "This value should not be blank.")
		return false
	case !ok:
		validation(w, reqID, "complete_till", "InvalidType", "This value should be of type int.")
		return false
	}
	if !s.checkUser(w, reqID, it, "responsible_user_id") {
		return false
	}
	if typ := num(it, "task_type_id"); typ != 0 && !slices.Contains(taskTypes, typ) {
		validation(w, reqID, "task_type_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
		return false
	}
	entity, id := str(it, "entity_type"), num(it, "entity_id")
	switch {
	case entity != "" && !slices.Contains(taskEntities, entity):
		validation(w, reqID, "entity_type", "NotSupportedChoice", "The value you selected is not a valid choice.")
		return false
	case entity == "" && id != 0:
		validation(w, reqID, "entity_type", "NotBlank", "This value should not be blank.")
		return false
	case entity != "" && !s.cardExists(entity, id):
		validation(w, reqID, "entity_id", "NotFound", "Entity not found")
		return false
	}
	return true
}

// cardExists reports whether entity has id. s.mu is held.
func (s *Server) cardExists(entity string, id int64) bool {
	switch entity {
	case "leads":
		return s.lead(id) != nil
	case contacts, companies:
		return s.card(entity, id) != nil
	}
	return false
}

// applyTask sets the fields an item carries on t.
func applyTask(t *Task, it map[string]any) {
	if v, ok := it["text"].(string); ok {
		t.Text = v
	}
	if v, present, _ := unixField(it, "complete_till"); present {
		t.CompleteTill = v
	}
	if uid := num(it, "responsible_user_id"); uid != 0 {
		t.ResponsibleUserID = uid
	}
	if typ := num(it, "task_type_id"); typ != 0 {
		t.TaskTypeID = typ
	}
	if e := str(it, "entity_type"); e != "" {
		t.EntityType, t.EntityID = e, num(it, "entity_id")
	}
	if v, ok := it["is_completed"].(bool); ok {
		t.IsCompleted = v
	}
	if r := obj(it, "result"); r != nil {
		t.Result = str(r, "text")
	}
	if d := num(it, "duration"); d > 0 {
		t.Duration = d
	}
}

// createTasks serves POST /api/v4/tasks: a batch of tasks, all refused
// with a 400 if one is invalid.
func (s *Server) createTasks(w http.ResponseWriter, r *http.Request) {
	items, ok := readArray(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, it := range items {
		if !s.checkTask(w, requestID(it, i), it, true) {
			return
		}
	}
	now := time.Now().Unix()
	var out []any
	for i, it := range items {
		t := &Task{ID: s.nextID(), TaskTypeID: 1, ResponsibleUserID: DefaultUsers[0].ID, CreatedBy: num(it, "created_by")}
		applyTask(t, it)
		t.CreatedAt = cmp.Or(num(it, "created_at"), now)
		t.UpdatedAt = max(t.CreatedAt, now)
		s.tasks = append(s.tasks, t)
		out = append(out, map[string]any{"id": t.ID, "request_id": requestID(it, i), "_links": s.href(fmt.Sprintf("/api/v4/tasks/%d", t.ID))})
	}
	s.writeBatch(w, "/api/v4/tasks", "tasks", out)
}

// updateTasks serves PATCH /api/v4/tasks: a batch of changes by id.
func (s *Server) updateTasks(w http.ResponseWriter, r *http.Request) {
	items, ok := readArray(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updateTasksLocked(w, items)
}

// updateTask serves PATCH /api/v4/tasks/{id}: one task's changes.
func (s *Server) updateTask(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var item map[string]any
	if err := json.NewDecoder(r.Body).Decode(&item); err != nil || item == nil {
		validation(w, "0", "", "InvalidType", "The body must be a JSON object")
		return
	}
	item["id"] = float64(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updateTasksLocked(w, []map[string]any{item})
}

func (s *Server) updateTasksLocked(w http.ResponseWriter, items []map[string]any) {
	for i, it := range items {
		if s.task(num(it, "id")) == nil {
			validation(w, requestID(it, i), "id", "NotFound", "Task not found")
			return
		}
		if !s.checkTask(w, requestID(it, i), it, false) {
			return
		}
	}
	now := time.Now().Unix()
	var out []any
	for i, it := range items {
		t := s.task(num(it, "id"))
		applyTask(t, it)
		t.UpdatedAt = max(now, t.CreatedAt)
		out = append(out, map[string]any{"id": t.ID, "updated_at": t.UpdatedAt, "request_id": requestID(it, i),
			"_links": s.href(fmt.Sprintf("/api/v4/tasks/%d", t.ID))})
	}
	s.writeBatch(w, "/api/v4/tasks", "tasks", out)
}

// getTask serves GET /api/v4/tasks/{id}; an unknown id answers 204.
func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.task(id)
	if t == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, s.taskJSON(t))
}

// int64s reads a filter given as one value (key) or a list (key[]).
func int64s(q url.Values, key string) []int64 {
	var out []int64
	for _, v := range append(q[key], q[key+"[]"]...) {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// inRange reports whether v lies in the range filter key of q: key=<v>
// exactly, or key[from] and key[to], inclusive; no filter matches all.
func inRange(q url.Values, key string, v int64) bool {
	if x := q.Get(key); x != "" {
		n, _ := strconv.ParseInt(x, 10, 64)
		return v == n
	}
	if x := q.Get(key + "[from]"); x != "" {
		if n, _ := strconv.ParseInt(x, 10, 64); v < n {
			return false
		}
	}
	if x := q.Get(key + "[to]"); x != "" {
		if n, _ := strconv.ParseInt(x, 10, 64); v > n {
			return false
		}
	}
	return true
}

// listTasks serves GET /api/v4/tasks: the tasks filter[id],
// filter[responsible_user_id], filter[is_completed], filter[task_type],
// filter[entity_type] (with filter[entity_id]), filter[updated_at] and
// filter[complete_till] (a value or [from]/[to]) select, ordered by
// order[id], order[created_at] or order[complete_till] (asc or desc; by
// id by default), paginated like amoCRM (204 for an empty list or past
// the last page; a next link on every full page).
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, pg := pageOf(q)
	ids, users, types := int64s(q, "filter[id]"), int64s(q, "filter[responsible_user_id]"), int64s(q, "filter[task_type]")
	entity, entityIDs := q.Get("filter[entity_type]"), int64s(q, "filter[entity_id]")
	completed := q.Get("filter[is_completed]")
	s.mu.Lock()
	var all []*Task
	for _, t := range s.tasks {
		switch {
		case len(ids) > 0 && !slices.Contains(ids, t.ID),
			len(users) > 0 && !slices.Contains(users, t.ResponsibleUserID),
			len(types) > 0 && !slices.Contains(types, t.TaskTypeID),
			(completed == "1" || completed == "true") && !t.IsCompleted,
			(completed == "0" || completed == "false") && t.IsCompleted,
			entity != "" && t.EntityType != entity,
			entity != "" && len(entityIDs) > 0 && !slices.Contains(entityIDs, t.EntityID),
			!inRange(q, "filter[updated_at]", t.UpdatedAt),
			!inRange(q, "filter[complete_till]", t.CompleteTill):
			continue
		}
		x := *t
		all = append(all, &x)
	}
	s.mu.Unlock()
	by, desc := func(t *Task) int64 { return t.ID }, q.Get("order[id]") == "desc"
	for _, k := range []string{"created_at", "complete_till"} {
		if dir := q.Get("order[" + k + "]"); dir != "" {
			by, desc = func(t *Task) int64 { return t.CreatedAt }, dir == "desc"
			if k == "complete_till" {
				by = func(t *Task) int64 { return t.CompleteTill }
			}
		}
	}
	slices.SortStableFunc(all, func(a, b *Task) int {
		if desc {
			a, b = b, a
		}
		return cmp.Or(cmp.Compare(by(a), by(b)), cmp.Compare(a.ID, b.ID))
	})
	from := (pg - 1) * limit
	if from >= len(all) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var out []any
	for _, t := range all[from:min(from+limit, len(all))] {
		out = append(out, s.taskJSON(t))
	}
	self := maps.Clone(q)
	self.Set("page", strconv.Itoa(pg))
	self.Set("limit", strconv.Itoa(limit))
	links := s.href("/api/v4/tasks?" + self.Encode())
	if len(out) == limit { // like amoCRM, even on the last page (the next one answers 204)
		self.Set("page", strconv.Itoa(pg+1))
		links["next"] = map[string]any{"href": "https://" + Domain + "/api/v4/tasks?" + self.Encode()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"_page": pg, "_links": links, "_embedded": map[string]any{"tasks": out}})
}
