package amocrm_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
)

// collectTasks runs Tasks to the end.
func collectTasks(c *amocrm.Client, t *testing.T, f amocrm.TaskFilter) ([]amocrm.Task, error) {
	var out []amocrm.Task
	for x, err := range c.Tasks(t.Context(), f) {
		if err != nil {
			return out, err
		}
		out = append(out, x)
	}
	return out, nil
}

// taskIDs returns the ids of tasks.
func taskIDs(tasks []amocrm.Task) []int64 {
	out := []int64{}
	for _, x := range tasks {
		out = append(out, x.ID)
	}
	return out
}

// TestTasksAPI: CreateTasks, Task, UpdateTasks and Tasks against the
// fake: the bodies sent, the tasks amoCRM keeps, and the answers read.
func TestTasksAPI(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	c := newTokenClient(t, srv)
	contact := srv.AddContact(amocrmtest.Contact{Name: "A"})

	made, err := c.CreateTasks(ctx, []amocrm.Task{
		{TaskTypeID: amocrm.TaskTypeCall, Text: "Перезвонить", CompleteTill: startUnix + 1800, ResponsibleUserID: op2,
			EntityType: amocrm.EntityContacts, EntityID: contact},
		{Text: "Без карточки", CompleteTill: startUnix + 3600, RequestID: "mine"},
	})
	require.NoError(t, err)
	require.Len(t, made, 2)
	require.Equal(t, []string{"0", "mine"}, []string{made[0].RequestID, made[1].RequestID})
	require.Equal(t, "POST /api/v4/tasks "+mustJSON([]any{
		map[string]any{"task_type_id": 1, "text": "Перезвонить", "complete_till": startUnix + 1800, "responsible_user_id": op2,
			"entity_type": "contacts", "entity_id": contact, "request_id": "0"},
		map[string]any{"text": "Без карточки", "complete_till": startUnix + 3600, "request_id": "mine"},
	}), requests(srv)[0], "zero fields are omitted")

	got, err := c.Task(ctx, made[0].ID)
	require.NoError(t, err)
	require.Equal(t, &amocrm.Task{ID: made[0].ID, ResponsibleUserID: op2, CreatedAt: got.CreatedAt, UpdatedAt: got.UpdatedAt,
		EntityID: contact, EntityType: amocrm.EntityContacts, TaskTypeID: 1, Text: "Перезвонить", Result: &amocrm.TaskResult{},
		CompleteTill: startUnix + 1800, AccountID: amocrmtest.AccountID}, got, `"result": [] reads as an empty result`)
	noCard, err := c.Task(ctx, made[1].ID)
	require.NoError(t, err)
	require.Equal(t, []any{amocrm.EntityType(""), int64(0), amocrmtest.DefaultUsers[0].ID, int64(1)},
		[]any{noCard.EntityType, noCard.EntityID, noCard.ResponsibleUserID, noCard.TaskTypeID},
		"on no card (null entity), the token's user's, a call by default")
	_, err = c.Task(ctx, 424242)
	require.ErrorIs(t, err, amocrm.ErrNotFound, "amoCRM answers 204")

	updated, err := c.UpdateTasks(ctx, []amocrm.Task{{ID: made[0].ID, IsCompleted: true, Result: &amocrm.TaskResult{Text: "Дозвонились"}}})
	require.NoError(t, err)
	require.Equal(t, made[0].ID, updated[0].ID)
	require.Equal(t, "PATCH /api/v4/tasks "+mustJSON([]any{map[string]any{"id": made[0].ID, "is_completed": true,
		"result": map[string]any{"text": "Дозвонились"}, "request_id": "0"}}), requests(srv)[len(requests(srv))-1])
	got, err = c.Task(ctx, made[0].ID)
	require.NoError(t, err)
	require.True(t, got.IsCompleted)
	require.Equal(t, &amocrm.TaskResult{Text: "Дозвонились"}, got.Result)

	_, err = c.UpdateTasks(ctx, []amocrm.Task{{Text: "x"}})
	require.ErrorContains(t, err, "every task needs an ID")
	_, err = c.CreateTasks(ctx, make([]amocrm.Task, amocrm.MaxBatch+1))
	require.ErrorContains(t, err, "at most 50")
	none, err := c.CreateTasks(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, none)
}

// TestTasksFilters: every filter of TaskFilter reaches amoCRM as its GET
// parameter and selects what amoCRM would.
func TestTasksFilters(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	c := newTokenClient(t, srv)
	contact := srv.AddContact(amocrmtest.Contact{Name: "A"})
	company := srv.AddCompany(amocrmtest.Company{Name: "B"})
	base := startUnix
	open1 := srv.AddTask(amocrmtest.Task{EntityType: "contacts", EntityID: contact, ResponsibleUserID: op1, CompleteTill: base + 300, CreatedAt: base + 2})
	open2 := srv.AddTask(amocrmtest.Task{EntityType: "companies", EntityID: company, ResponsibleUserID: op2, CompleteTill: base + 100, CreatedAt: base + 3})
	meeting := srv.AddTask(amocrmtest.Task{TaskTypeID: amocrm.TaskTypeMeeting, ResponsibleUserID: op2, CompleteTill: base + 200, CreatedAt: base + 1})
	done := srv.AddTask(amocrmtest.Task{EntityType: "contacts", EntityID: contact, IsCompleted: true, Result: "ok", CompleteTill: base + 50, CreatedAt: base})
	at := func(sec int64) time.Time { return time.Unix(base+sec, 0) }

	tests := []struct {
		name  string
		f     amocrm.TaskFilter
		query url.Values
		want  []int64
	}{
		{"none", amocrm.TaskFilter{}, url.Values{}, []int64{open1, open2, meeting, done}},
		{"open", amocrm.TaskFilter{State: amocrm.TasksOpen}, url.Values{"filter[is_completed]": {"0"}}, []int64{open1, open2, meeting}},
		{"completed", amocrm.TaskFilter{State: amocrm.TasksCompleted}, url.Values{"filter[is_completed]": {"1"}}, []int64{done}},
		{"ids", amocrm.TaskFilter{IDs: []int64{open2, done}}, url.Values{"filter[id][]": {itoa(open2), itoa(done)}}, []int64{open2, done}},
		{"responsible", amocrm.TaskFilter{ResponsibleUserIDs: []int64{op2}}, url.Values{"filter[responsible_user_id][]": {itoa(op2)}},
			[]int64{open2, meeting}},
		{"type", amocrm.TaskFilter{TaskTypes: []int64{amocrm.TaskTypeMeeting}}, url.Values{"filter[task_type][]": {"2"}}, []int64{meeting}},
		{"entity type", amocrm.TaskFilter{EntityType: amocrm.EntityCompanies}, url.Values{"filter[entity_type]": {"companies"}}, []int64{open2}},
		{"entity", amocrm.TaskFilter{EntityType: amocrm.EntityContacts, EntityIDs: []int64{contact}},
			url.Values{"filter[entity_type]": {"contacts"}, "filter[entity_id][]": {itoa(contact)}}, []int64{open1, done}},
		{"due range", amocrm.TaskFilter{CompleteTillFrom: at(100), CompleteTillTo: at(200)},
			url.Values{"filter[complete_till][from]": {itoa(base + 100)}, "filter[complete_till][to]": {itoa(base + 200)}}, []int64{open2, meeting}},
		{"order by due", amocrm.TaskFilter{OrderBy: amocrm.OrderByCompleteTill}, url.Values{"order[complete_till]": {"asc"}},
			[]int64{done, open2, meeting, open1}},
		{"order by creation, newest first", amocrm.TaskFilter{OrderBy: amocrm.OrderByCreatedAt, Desc: true},
			url.Values{"order[created_at]": {"desc"}}, []int64{open2, open1, meeting, done}},
		{"nothing matches: 204", amocrm.TaskFilter{ResponsibleUserIDs: []int64{missed}},
			url.Values{"filter[responsible_user_id][]": {itoa(missed)}}, []int64{}},
	}
	for _, tt := range tests {
		before := len(srv.APIRequests())
		got, err := collectTasks(c, t, tt.f)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, taskIDs(got), tt.name)
		reqs := srv.APIRequests()[before:]
		require.Len(t, reqs, 1, tt.name)
		q := tt.query
		q.Set("limit", "250")
		q.Set("page", "1")
		require.Equal(t, q.Encode(), reqs[0].Query.Encode(), tt.name)
	}
	updated := srv.Tasks()[0].UpdatedAt
	got, err := collectTasks(c, t, amocrm.TaskFilter{UpdatedFrom: time.Unix(updated, 0), UpdatedTo: time.Unix(updated+1, 0), IDs: []int64{open1}})
	require.NoError(t, err)
	require.Equal(t, []int64{open1}, taskIDs(got), "updated range")
	got, err = collectTasks(c, t, amocrm.TaskFilter{UpdatedFrom: time.Unix(updated+10, 0)})
	require.NoError(t, err)
	require.Empty(t, got, "updated range")

	_, err = collectTasks(c, t, amocrm.TaskFilter{EntityIDs: []int64{contact}})
	require.ErrorContains(t, err, "EntityIDs needs an EntityType")
}

// TestTasksPages: Tasks reads page after page until a short page, or the
// 204 past a full last page; breaking out of the loop stops reading; a
// failing page ends the iteration with an error naming it.
func TestTasksPages(t *testing.T) {
	t.Parallel()
	for _, n := range []int{5, 6} {
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c := newTokenClient(t, srv)
		var want []int64
		for i := range n {
			want = append(want, srv.AddTask(amocrmtest.Task{Text: "t", CompleteTill: startUnix + int64(i)}))
		}
		got, err := collectTasks(c, t, amocrm.TaskFilter{Limit: 2})
		require.NoError(t, err)
		require.Equal(t, want, taskIDs(got))
		require.Equal(t, 3+(n+1)%2, srv.Count(http.MethodGet, "/api/v4/tasks"), "%d tasks, 2 a page", n)

		before := srv.Count(http.MethodGet, "/api/v4/tasks")
		for range c.Tasks(t.Context(), amocrm.TaskFilter{Limit: 2}) {
			break
		}
		require.Equal(t, before+1, srv.Count(http.MethodGet, "/api/v4/tasks"), "no page read after a break")

		var err2 error
		read := 0
		for _, err := range c.Tasks(t.Context(), amocrm.TaskFilter{Limit: 2}) {
			if err != nil {
				err2 = err
				break
			}
			if read++; read == 1 {
				srv.Fail(amocrmtest.Failure{Method: http.MethodGet, Path: "/api/v4/tasks", Status: http.StatusInternalServerError})
			}
		}
		require.Equal(t, 2, read)
		require.ErrorContains(t, err2, "amocrm: GET /api/v4/tasks, page 2: ")
		var ae *callbridge.APIError
		require.ErrorAs(t, err2, &ae)
		require.Equal(t, http.StatusInternalServerError, ae.StatusCode)
	}
}

// TestTasksErrors: amoCRM's validation errors come back as
// *callbridge.APIError with ValidationErrors; 429 and an expired OAuth
// token are handled by the transport; a create is not retried on 502.
func TestTasksErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	c := newTokenClient(t, srv)
	lead := srv.AddLead(amocrmtest.Lead{Name: "L"})
	ok := amocrm.Task{Text: "t", CompleteTill: startUnix, EntityType: amocrm.EntityLeads, EntityID: lead}
	for name, tc := range map[string]struct {
		task amocrm.Task
		want amocrm.ValidationError
	}{
		"no complete_till":     {amocrm.Task{Text: "t"}, amocrm.ValidationError{RequestID: "0", Code: "NotBlank", Path: "complete_till"}},
		"no text":              {amocrm.Task{CompleteTill: startUnix}, amocrm.ValidationError{RequestID: "0", Code: "NotBlank", Path: "text"}},
		"unknown user":         {amocrm.Task{Text: "t", CompleteTill: startUnix, ResponsibleUserID: 1}, amocrm.ValidationError{RequestID: "0", Code: "InvalidUser", Path: "responsible_user_id"}},
		"unknown entity":       {amocrm.Task{Text: "t", CompleteTill: startUnix, EntityType: amocrm.EntityContacts, EntityID: 99}, amocrm.ValidationError{RequestID: "0", Code: "NotFound", Path: "entity_id"}},
		"entity without type":  {amocrm.Task{Text: "t", CompleteTill: startUnix, EntityID: lead}, amocrm.ValidationError{RequestID: "0", Code: "NotBlank", Path: "entity_type"}},
		"unknown task type":    {amocrm.Task{Text: "t", CompleteTill: startUnix, TaskTypeID: 9}, amocrm.ValidationError{RequestID: "0", Code: "NotSupportedChoice", Path: "task_type_id"}},
		"unknown entity type":  {amocrm.Task{Text: "t", CompleteTill: startUnix, EntityType: "deals", EntityID: lead}, amocrm.ValidationError{RequestID: "0", Code: "NotSupportedChoice", Path: "entity_type"}},
		"second item of batch": {amocrm.Task{Text: "t", RequestID: "b"}, amocrm.ValidationError{RequestID: "b", Code: "NotBlank", Path: "complete_till"}},
	} {
		_, err := c.CreateTasks(ctx, []amocrm.Task{ok, tc.task})
		var ae *callbridge.APIError
		require.ErrorAs(t, err, &ae, name)
		require.Equal(t, http.StatusBadRequest, ae.StatusCode, name)
		v := amocrm.ValidationErrors(err)
		require.Len(t, v, 1, name)
		if tc.want.RequestID == "0" {
			tc.want.RequestID = "1"
		}
		v[0].Detail = ""
		require.Equal(t, tc.want, v[0], name)
	}
	require.Empty(t, srv.Tasks(), "a batch with an invalid task creates nothing")

	// complete_till must be whole Unix seconds.
	resp, err := srv.Client().Do(mustRequest(t, srv, http.MethodPost, "/api/v4/tasks", `[{"text":"t","complete_till":"tomorrow"}]`))
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	var p struct {
		V []struct {
			Errors []amocrm.ValidationError `json:"errors"`
		} `json:"validation-errors"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	resp.Body.Close()
	require.Equal(t, "InvalidType", p.V[0].Errors[0].Code)

	_, err = c.UpdateTasks(ctx, []amocrm.Task{{ID: 424242, IsCompleted: true}})
	require.Equal(t, []amocrm.ValidationError{{RequestID: "0", Code: "NotFound", Path: "id", Detail: "Task not found"}}, amocrm.ValidationErrors(err))

	srv.Fail(amocrmtest.Failure{Method: http.MethodGet, Path: "/api/v4/tasks", Status: http.StatusTooManyRequests, Times: 2})
	got, err := collectTasks(c, t, amocrm.TaskFilter{})
	require.NoError(t, err, "429 is retried")
	require.Empty(t, got)
	require.Equal(t, 3, srv.Count(http.MethodGet, "/api/v4/tasks"))

	posts := srv.Count(http.MethodPost, "/api/v4/tasks")
	srv.Fail(amocrmtest.Failure{Method: http.MethodPost, Path: "/api/v4/tasks", Status: http.StatusBadGateway})
	_, err = c.CreateTasks(ctx, []amocrm.Task{ok})
	require.Error(t, err)
	require.Equal(t, posts+1, srv.Count(http.MethodPost, "/api/v4/tasks"), "a create is sent once")
	require.Empty(t, srv.Tasks())

	// An expired OAuth token: refreshed, and the write replayed once.
	store := &memTokens{}
	oc := newOAuthClient(t, srv, store)
	require.NoError(t, exchangeErr(oc.Exchange(ctx, srv.AuthorizationCode())))
	srv.ExpireTokens()
	made, err := oc.CreateTasks(ctx, []amocrm.Task{ok})
	require.NoError(t, err)
	require.Len(t, srv.Tasks(), 1)
	require.Equal(t, made[0].ID, srv.Tasks()[0].ID)
	require.Len(t, store.saved, 2, "the exchange and one refresh")
}

// mustRequest builds an authorised request to the fake.
func mustRequest(t *testing.T, srv *amocrmtest.Server, method, path, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.LongLivedToken())
	req.Header.Set("Content-Type", "application/json")
	return req
}

// TestTaskJSON: a task as amoCRM sends it decodes, whatever its result
// (an object, [] or null) and entity (null for none); a result array with
// items is an error.
func TestTaskJSON(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in   string
		want amocrm.Task
	}{
		"result object": {`{"id":1,"result":{"text":"ok"},"entity_id":5,"entity_type":"leads","is_completed":true}`,
			amocrm.Task{ID: 1, Result: &amocrm.TaskResult{Text: "ok"}, EntityID: 5, EntityType: amocrm.EntityLeads, IsCompleted: true}},
		"result []":   {`{"id":1,"result":[]}`, amocrm.Task{ID: 1, Result: &amocrm.TaskResult{}}},
		"result null": {`{"id":1,"result":null,"entity_id":null,"entity_type":null}`, amocrm.Task{ID: 1}},
		"no result":   {`{"id":1,"complete_till":1741942800}`, amocrm.Task{ID: 1, CompleteTill: 1741942800}},
		"result [ ]":  {`{"id":1,"result": [ ] }`, amocrm.Task{ID: 1, Result: &amocrm.TaskResult{}}},
	} {
		var got amocrm.Task
		require.NoError(t, json.Unmarshal([]byte(tc.in), &got), name)
		require.Empty(t, cmp.Diff(tc.want, got), name)
	}
	var got amocrm.Task
	require.ErrorContains(t, json.Unmarshal([]byte(`{"result":[{"text":"x"}]}`), &got), "an array of 1 items")
	require.Error(t, json.Unmarshal([]byte(`{"result":[}`), &got))
	b, err := json.Marshal(amocrm.Task{Text: "t", CompleteTill: 1})
	require.NoError(t, err)
	require.JSONEq(t, `{"text":"t","complete_till":1}`, string(b), "zero fields are omitted")
}
