package storetest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/callbridge/callbridge/match/storetest"
)

// ctxStore is a memstore.Store that honours its context: every method
// fails with ctx.Err() on a done context. It runs the suite's
// canceled-context checks, which memstore itself skips.
type ctxStore struct{ *memstore.Store }

func (s ctxStore) FindClientByPhone(ctx context.Context, account, phone string) (match.Client, bool, error) {
	if err := ctx.Err(); err != nil {
		return match.Client{}, false, err
	}
	return s.Store.FindClientByPhone(ctx, account, phone)
}

func (s ctxStore) FindClientsByField(ctx context.Context, account, phone string, limit int) ([]match.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.FindClientsByField(ctx, account, phone, limit)
}

func (s ctxStore) CreateClient(ctx context.Context, c match.Client) (match.Client, error) {
	if err := ctx.Err(); err != nil {
		return match.Client{}, err
	}
	return s.Store.CreateClient(ctx, c)
}

func (s ctxStore) ClientLeads(ctx context.Context, account, clientID string) ([]match.Lead, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.ClientLeads(ctx, account, clientID)
}

func (s ctxStore) CreateLead(ctx context.Context, l match.Lead) (match.Lead, error) {
	if err := ctx.Err(); err != nil {
		return match.Lead{}, err
	}
	return s.Store.CreateLead(ctx, l)
}

func (s ctxStore) ReopenLead(ctx context.Context, account, leadID, status string) (match.Lead, error) {
	if err := ctx.Err(); err != nil {
		return match.Lead{}, err
	}
	return s.Store.ReopenLead(ctx, account, leadID, status)
}

func (s ctxStore) PhoneLeads(ctx context.Context, account, phone string) ([]match.Lead, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.PhoneLeads(ctx, account, phone)
}

func (s ctxStore) LogCall(ctx context.Context, rec match.CallRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Store.LogCall(ctx, rec)
}

func (s ctxStore) FindEmployee(ctx context.Context, account, key string) (match.Employee, bool, error) {
	if err := ctx.Err(); err != nil {
		return match.Employee{}, false, err
	}
	return s.Store.FindEmployee(ctx, account, key)
}

func (s ctxStore) Employees(ctx context.Context, account string) ([]match.Employee, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.Employees(ctx, account)
}

func (s ctxStore) Online(ctx context.Context, account string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.Online(ctx, account)
}

func (s ctxStore) Notify(ctx context.Context, n match.Notification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Store.Notify(ctx, n)
}

func (s ctxStore) CreateTask(ctx context.Context, t match.Task) (match.Task, error) {
	if err := ctx.Err(); err != nil {
		return match.Task{}, err
	}
	return s.Store.CreateTask(ctx, t)
}

func (s ctxStore) CloseTasks(ctx context.Context, account, phone string, at time.Time, by string) ([]match.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.CloseTasks(ctx, account, phone, at, by)
}

func (s ctxStore) OverdueTasks(ctx context.Context, account string, now time.Time) ([]match.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.OverdueTasks(ctx, account, now)
}

func (s ctxStore) EscalateTask(ctx context.Context, account, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Store.EscalateTask(ctx, account, id)
}

func (s ctxStore) OpenTasks(ctx context.Context, account string) ([]match.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.OpenTasks(ctx, account)
}

// TestRunContextAware runs the whole suite, canceled-context checks
// included, sequentially, against a store that honours its context.
func TestRunContextAware(t *testing.T) {
	t.Parallel()
	ms := func(s storetest.Store) *memstore.Store { return s.(ctxStore).Store }
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) storetest.Store {
			s, err := memstore.New()
			require.NoError(t, err)
			return ctxStore{s}
		},
		SetEmployees: func(t *testing.T, s storetest.Store, account string, es ...match.Employee) {
			ms(s).SetEmployees(account, es...)
		},
		SetOnline: func(t *testing.T, s storetest.Store, account string, ids ...string) {
			ms(s).SetOnline(account, ids...)
		},
		Clients: func(t *testing.T, s storetest.Store, account string) []match.Client {
			return slices.DeleteFunc(ms(s).Clients(), func(c match.Client) bool { return c.Account != account })
		},
		Calls: func(t *testing.T, s storetest.Store, account string) []match.CallRecord {
			return slices.DeleteFunc(ms(s).Calls(), func(r match.CallRecord) bool { return r.Account != account })
		},
		Notifications: func(t *testing.T, s storetest.Store, account string) []match.Notification {
			return slices.DeleteFunc(ms(s).Notifications(), func(n match.Notification) bool { return n.Account != account })
		},
		Sequential: true,
	})
}
