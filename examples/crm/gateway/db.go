package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/callbridge/callbridge/sqlstore"
)

// MemoryDB is the value of -db (CRM_DB) that keeps the CRM in memory, as
// an empty Config.DB does.
const MemoryDB = ":memory:"

// DefaultDB is the crm command's database when neither -db nor CRM_DB is
// set: a SQLite file in the working directory.
const DefaultDB = "callbridge.db"

// dbScan is how many rows a listing reads from the database at a time
// while it filters them.
const dbScan = 500

// tenantDB is the engine's store in database mode: a *sqlstore.DB used as
// one CRM for every telephony account, as memstore.SingleTenant does in
// memory mode. Clients, leads, the directory and notifications are kept
// under the account "", so a client seeded once is found for calls from
// any provider. Call records keep their telephony account (GET /api/calls
// shows it, as in memory mode), listed across accounts.
type tenantDB struct{ db *sqlstore.DB }

var (
	_ match.ClientStore  = tenantDB{}
	_ match.ClientGetter = tenantDB{}
	_ match.UniquePhones = tenantDB{}
	_ match.LeadStore    = tenantDB{}
	_ match.CallLog      = tenantDB{}
	_ match.Directory    = tenantDB{}
	_ match.Notifier     = tenantDB{}
	_ match.TaskStore    = tenantDB{}
	_ match.Reassigner   = tenantDB{}
	_ match.PhoneLeads   = tenantDB{}
)

func (s tenantDB) FindClientByPhone(ctx context.Context, _, phone string) (match.Client, bool, error) {
	return s.db.FindClientByPhone(ctx, "", phone)
}

func (s tenantDB) FindClient(ctx context.Context, _, id string) (match.Client, bool, error) {
	return s.db.FindClient(ctx, "", id)
}

func (s tenantDB) SetClientFields(ctx context.Context, _, id string, fields map[string]string) error {
	return s.db.SetClientFields(ctx, "", id, fields)
}

func (s tenantDB) SetClientResponsible(ctx context.Context, _, id, employee string) error {
	return s.db.SetClientResponsible(ctx, "", id, employee)
}

func (s tenantDB) SetLeadResponsible(ctx context.Context, _, id, employee string) error {
	return s.db.SetLeadResponsible(ctx, "", id, employee)
}

func (s tenantDB) AddDialogNotes(ctx context.Context, _, id string, notes []match.DialogNote) error {
	return s.db.AddDialogNotes(ctx, "", id, notes)
}

func (s tenantDB) FindClientsByField(ctx context.Context, _, phone string, limit int) ([]match.Client, error) {
	return s.db.FindClientsByField(ctx, "", phone, limit)
}

func (s tenantDB) CreateClient(ctx context.Context, c match.Client) (match.Client, error) {
	c.Account = ""
	return s.db.CreateClient(ctx, c)
}

func (s tenantDB) FindOrCreateClient(ctx context.Context, c match.Client) (match.Client, bool, error) {
	c.Account = ""
	return s.db.FindOrCreateClient(ctx, c)
}

func (s tenantDB) ClientLeads(ctx context.Context, _, clientID string) ([]match.Lead, error) {
	return s.db.ClientLeads(ctx, "", clientID)
}

func (s tenantDB) CreateLead(ctx context.Context, l match.Lead) (match.Lead, error) {
	l.Account = ""
	return s.db.CreateLead(ctx, l)
}

func (s tenantDB) PhoneLeads(ctx context.Context, _, phone string) ([]match.Lead, error) {
	return s.db.PhoneLeads(ctx, "", phone)
}

func (s tenantDB) ReopenLead(ctx context.Context, _, leadID, status string) (match.Lead, error) {
	return s.db.ReopenLead(ctx, "", leadID, status)
}

func (s tenantDB) LogCall(ctx context.Context, rec match.CallRecord) error {
	return s.db.LogCall(ctx, rec) // under its telephony account, listed with sqlstore.DB.AllCalls
}

func (s tenantDB) FindEmployee(ctx context.Context, _, key string) (match.Employee, bool, error) {
	return s.db.FindEmployee(ctx, "", key)
}

func (s tenantDB) Employees(ctx context.Context, _ string) ([]match.Employee, error) {
	return s.db.Employees(ctx, "")
}

func (s tenantDB) Online(ctx context.Context, _ string) ([]string, error) {
	return s.db.Online(ctx, "")
}

func (s tenantDB) Notify(ctx context.Context, n match.Notification) error {
	return s.db.Notify(ctx, asStored(n))
}

// asStored is n as tenantDB keeps it: without its account. The outbox
// keys of its deliveries are made from it, so that GET /api/notifications
// finds them from the notification it lists.
func asStored(n match.Notification) match.Notification {
	n.Account = ""
	return n
}

// openDB opens Config.DB, seeds it with the clients (those whose id it
// has already are left alone, so a restart changes nothing) and their
// employees, and returns the engine's store.
func (g *Gateway) openDB(clients []byte) (match.ClientStore, error) {
	cfg := g.cfg
	opts := []sqlstore.Option{sqlstore.WithDefaultCountry(cfg.Country), sqlstore.WithLogger(g.log)}
	if cfg.FullSync {
		opts = append(opts, sqlstore.WithFullSync())
	}
	if cfg.Clock != nil {
		opts = append(opts, sqlstore.WithClock(cfg.Clock))
	}
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, cfg.DB, opts...)
	if err != nil {
		// sqlstore names the database with its password redacted; keep
		// the message on one line.
		return nil, fmt.Errorf("database: %s", strings.Join(strings.Fields(err.Error()), " "))
	}
	g.db = db
	// The seed is read as memory mode reads it (memstore's parser and
	// normalisation), then added to the database.
	ms, err := memstore.New(memstore.WithDefaultCountry(cfg.Country), memstore.SingleTenant())
	if err != nil {
		return nil, err
	}
	if len(clients) > 0 {
		if _, err := ms.LoadClients("", bytes.NewReader(clients)); err != nil {
			return nil, fmt.Errorf("clients: %w", err)
		}
	}
	seed := ms.Clients()
	var add []match.Client
	for _, c := range seed {
		if _, ok, err := db.Client(ctx, "", c.ID); err != nil {
			return nil, fmt.Errorf("clients: %w", err)
		} else if !ok {
			c.Account = ""
			add = append(add, c)
		}
	}
	if len(add) > 0 {
		if err := db.AddClients(ctx, add...); err != nil {
			return nil, fmt.Errorf("clients: %w", err)
		}
	}
	// The users the previous run's sync added: a provider whose list
	// fails at the first sync keeps them.
	prev, err := db.Employees(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("employees: %w", err)
	}
	g.empSync.remember(prev)
	if err := db.SetEmployees(ctx, "", g.baseEmployees(seed)...); err != nil {
		return nil, fmt.Errorf("employees: %w", err)
	}
	return tenantDB{db}, nil
}

// redactDSN is dsn with the password of a URL replaced by REDACTED.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if strings.Contains(dsn, "@") { // not a URL we can read: show none of it
			return "REDACTED"
		}
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return u.String()
}

// scanDB reads a listing of the database from position from, dbScan rows
// at a time, and returns up to n rows that keep keeps, the position of the
// row after the last one returned and whether more may follow. keep may
// stop the scan (a list in time order past its range).
func scanDB[T any](ctx context.Context, from, n int, list func(context.Context, sqlstore.Page) ([]T, error),
	keep func(T) (ok, stop bool)) (out []T, next int, more bool, err error) {
	pos := from
	out, read, more, err := scan(ctx, n, func(ctx context.Context) ([]T, error) {
		rows, err := list(ctx, sqlstore.Page{Offset: pos, Limit: dbScan})
		pos += len(rows)
		return rows, err
	}, keep)
	return out, from + read, more, err
}

// scanCallsDB reads the calls newest first from the one after after
// (nil: the newest), dbScan at a time, by the last call's key
// (sqlstore.DB.AllCallsAfter), and returns up to n calls that keep keeps
// and whether more may follow. keep may stop the scan.
func (g *Gateway) scanCallsDB(ctx context.Context, after *match.CallRecord, n int,
	keep func(match.CallRecord) (ok, stop bool)) (out []match.CallRecord, more bool, err error) {
	out, _, more, err = scan(ctx, n, func(ctx context.Context) ([]match.CallRecord, error) {
		rows, err := g.db.AllCallsAfter(ctx, after, dbScan)
		if len(rows) > 0 {
			after = &rows[len(rows)-1]
		}
		return rows, err
	}, keep)
	return out, more, err
}

// scan is the loop of the database listings (scanDB, scanCallsDB, the dead
// letters): it reads pages with next (dbScan rows, fewer at the end) and
// returns up to n rows that keep keeps, how many rows it read before the
// first one it left (where the next page starts) and whether more may
// follow.
func scan[T any](ctx context.Context, n int, next func(context.Context) ([]T, error),
	keep func(T) (ok, stop bool)) (out []T, read int, more bool, err error) {
	for {
		rows, err := next(ctx)
		if err != nil {
			return nil, 0, false, err
		}
		for i, r := range rows {
			ok, stop := keep(r)
			if stop {
				return out, 0, false, nil
			}
			if !ok {
				continue
			}
			if len(out) == n {
				return out, read + i, true, nil
			}
			out = append(out, r)
		}
		if len(rows) < dbScan {
			return out, 0, false, nil
		}
		read += len(rows)
	}
}

// allDB reads a whole listing of the database.
func allDB[T any](list func(context.Context, sqlstore.Page) ([]T, error)) []T {
	out, _, _, _ := scanDB(context.Background(), 0, int(^uint(0)>>1), list, func(T) (bool, bool) { return true, false })
	return out
}

// awaitScan bounds how far back the start looks for calls still in their
// late-binding window: calls that started this much before the window.
const awaitScan = 4 * time.Hour

// awaitUnbound resumes, at start, the late-binding wait of the calls the
// previous run decided without a client whose window is still open
// (match.Engine.Await).
func (g *Gateway) awaitUnbound(ctx context.Context) error {
	since := g.clock().Now().Add(-match.DefaultLateBindingWindow - awaitScan)
	_, _, err := g.scanCallsDB(ctx, nil, 1, func(rec match.CallRecord) (bool, bool) {
		if rec.StartedAt.Before(since) {
			return false, true // newest first: the rest are older
		}
		if err := g.engine.Await(ctx, rec); err != nil {
			g.log.Warn("late binding of a call not resumed", "provider", rec.Provider, "call_id", rec.CallID, "error", err)
		}
		return false, false
	})
	return err
}

// clock is Config.Clock, or the system's.
func (g *Gateway) clock() match.Clock {
	if g.cfg.Clock != nil {
		return g.cfg.Clock
	}
	return systemClock{}
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	return time.AfterFunc(d, f)
}

// callRetentionCheck is how often calls past Config.CallRetention are
// deleted.
const callRetentionCheck = time.Hour

// retainCalls deletes the calls that started before Config.CallRetention
// ago, now and then every callRetentionCheck, until the gateway closes.
func (g *Gateway) retainCalls() {
	g.retainMu.Lock()
	defer g.retainMu.Unlock()
	if g.retainStopped {
		return
	}
	clock := g.clock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	n, err := g.db.PurgeCalls(ctx, clock.Now().Add(-g.cfg.CallRetention))
	cancel()
	if err != nil {
		g.log.Error("call retention: old calls not deleted; retrying in an hour", "error", err)
	} else if n > 0 {
		g.log.Info("call retention: old calls deleted", "calls", n, "retention", g.cfg.CallRetention.String())
	}
	g.retainTimer = clock.AfterFunc(callRetentionCheck, func() { g.retainCalls() })
}

// stopRetention stops retainCalls and escalateTasks.
func (g *Gateway) stopRetention() {
	g.retainMu.Lock()
	defer g.retainMu.Unlock()
	g.retainStopped = true
	for _, t := range []match.Timer{g.retainTimer, g.escalateTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

// drainInbox waits until the inbox has delivered what it holds, or ctx
// ends, so a graceful shutdown leaves no event for the next start.
func (g *Gateway) drainInbox(ctx context.Context) {
	for {
		n, err := g.inbox.Pending(ctx)
		if err != nil || n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s tenantDB) CreateTask(ctx context.Context, t match.Task) (match.Task, error) {
	t.Account = ""
	return s.db.CreateTask(ctx, t)
}

func (s tenantDB) CloseTasks(ctx context.Context, _, phone string, at time.Time, by string) ([]match.Task, error) {
	return s.db.CloseTasks(ctx, "", phone, at, by)
}

func (s tenantDB) OverdueTasks(ctx context.Context, _ string, now time.Time) ([]match.Task, error) {
	return s.db.OverdueTasks(ctx, "", now)
}

func (s tenantDB) EscalateTask(ctx context.Context, _, id string) error {
	return s.db.EscalateTask(ctx, "", id)
}

func (s tenantDB) OpenTasks(ctx context.Context, _ string) ([]match.Task, error) {
	return s.db.OpenTasks(ctx, "")
}

// taskEscalation is how often overdue call-back tasks are escalated.
const taskEscalation = time.Minute

// escalateTasks tells the admins of the call-back tasks (match.TaskRule)
// that are overdue, now and then every taskEscalation, until the gateway
// closes. The CRM is one account (""), in memory and in the database.
func (g *Gateway) escalateTasks() {
	g.retainMu.Lock()
	defer g.retainMu.Unlock()
	if g.retainStopped {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	n, err := g.engine.EscalateOverdue(ctx, "")
	cancel()
	if err != nil {
		g.log.Error("call-back tasks: overdue tasks not escalated; retrying", "error", err, "escalated", n)
	} else if n > 0 {
		g.log.Info("call-back tasks: overdue tasks escalated to the admins", "tasks", n)
	}
	g.escalateTimer = g.clock().AfterFunc(taskEscalation, func() { g.escalateTasks() })
}
