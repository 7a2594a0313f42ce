package riverbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// envDSN names the variable holding the PostgreSQL URL; its role needs
// CREATEDB.
const envDSN = "CALLBRIDGE_POSTGRES_DSN"

const (
	// numEvents is N, the events of one measured run.
	numEvents = 20_000
	// numEventsDefault is N for river with its default fetch settings,
	// whose delivery is bounded near MaxWorkers/FetchCooldown = 1,000/s:
	// 20,000 would take 20s a run.
	numEventsDefault = 5_000
	// riverWorkers is MaxWorkers of river's default queue: the most jobs
	// one fetch takes (river has no default; its docs use 100).
	riverWorkers = 100
	// producers is how many goroutines commit events concurrently.
	producers = 16
	// runs is how many times each variant runs, interleaved.
	runs = 3
	// setupTimeout bounds creating and migrating a run's database.
	setupTimeout = 30 * time.Second
	// runTimeout bounds one run, from the first call to the last ack.
	runTimeout = 60 * time.Second
	// riverPoolConns is the size of river's pgx pool: one connection per
	// producer, and four for river's listener, fetches, completer and
	// maintenance (sqlstore uses 16, sqlstore.MaxPostgresConns).
	riverPoolConns = producers + 4
	// batchSize is the InsertMany batch of the batching aside.
	batchSize = 50
)

// riverVariant is one configuration of river.
type riverVariant struct {
	name          string
	n             int
	maxWorkers    int
	fetchCooldown time.Duration // 0: river's default (100ms)
	fetchPoll     time.Duration // 0: river's default (1s)
	batch         int           // >0: producers call InsertMany with this many jobs
}

// result is what one run measured.
type result struct {
	n        int
	unit     string          // what one latency sample is: "event" or "batch of k"
	lat      []time.Duration // per producer call, sorted
	commit   time.Duration   // first call until the last call returned
	worked   time.Duration   // first call until the sink saw all n events
	acked    time.Duration   // first call until the database shows all n done
	calls    int             // sink or worker calls
	distinct int             // distinct event IDs among them
	xacts    int64           // transactions committed in the run's database, the harness's polls excluded
	wal      walStats        // written by the whole server from the first call until the run's connections closed
}

// rate is events per second until all were delivered.
func (r result) rate() float64 { return float64(r.n) / r.worked.Seconds() }

// commitRate is events per second until all producer calls returned.
func (r result) commitRate() float64 { return float64(r.n) / r.commit.Seconds() }

// ackRate is events per second until the database showed all done.
func (r result) ackRate() float64 { return float64(r.n) / r.acked.Seconds() }

// pct is the p-quantile of the call latency.
func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

// TestRiverVersusInbox commits N events from 16 producers through
// sqlstore.Inbox and through river on fresh PostgreSQL databases, each
// call returning after its commit, and logs the medians of three
// interleaved runs: events/s until all were delivered, the latency of a
// producer's call, and the transactions and WAL each event cost.
func TestRiverVersusInbox(t *testing.T) {
	admin := os.Getenv(envDSN)
	if admin == "" {
		t.Skipf("set %s to a PostgreSQL URL whose role may CREATE DATABASE, e.g. "+
			"cd bench/river && %s='postgres://callbridge:callbridge@127.0.0.1:5432/callbridge?sslmode=disable' go test -run RiverVersusInbox -v -count=1 .",
			envDSN, envDSN)
	}
	ctx := t.Context()
	logServer(t, ctx, admin)

	const inboxName = "sqlstore.Inbox, InboxConfig{}"
	// Tuned: a fetch at most every 5ms (1ms delivered less here, see
	// README.md), a poll every 50ms.
	variants := []riverVariant{
		{name: "river tuned: 100 workers, cooldown 5ms, poll 50ms", n: numEvents, maxWorkers: riverWorkers,
			fetchCooldown: 5 * time.Millisecond, fetchPoll: 50 * time.Millisecond},
		{name: "river default fetch: 100 workers, cooldown 100ms, poll 1s", n: numEventsDefault, maxWorkers: riverWorkers},
		{name: "aside: river tuned, InsertMany of 50", n: numEvents, maxWorkers: riverWorkers,
			fetchCooldown: 5 * time.Millisecond, fetchPoll: 50 * time.Millisecond, batch: batchSize},
	}
	names := []string{inboxName}
	for _, v := range variants {
		names = append(names, v.name)
	}
	all := map[string][]result{}
	for i := range runs {
		r, err := runInbox(ctx, admin, numEvents)
		if err != nil {
			t.Fatalf("run %d, %s: %v", i+1, inboxName, err)
		}
		logRun(t, i, inboxName, r)
		all[inboxName] = append(all[inboxName], r)
		for _, v := range variants {
			r, err := runRiver(ctx, admin, v)
			if err != nil {
				t.Fatalf("run %d, %s: %v", i+1, v.name, err)
			}
			logRun(t, i, v.name, r)
			all[v.name] = append(all[v.name], r)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "medians of %d runs, %d producers, each call returns after its commit:\n", runs, producers)
	fmt.Fprintf(&b, "%-58s %6s %8s %11s %8s %8s %8s %8s %9s %8s %5s\n",
		"variant", "N", "events/s", "committed/s", "acked/s", "p50", "p99", "xact/ev", "fsyncs/ev", "WAL/ev", "dups")
	for _, name := range names {
		rs := all[name]
		dups := 0
		for _, r := range rs {
			dups += r.calls - r.distinct
		}
		unit := ""
		if rs[0].unit != "event" {
			unit = " (latency per " + rs[0].unit + ")"
		}
		fmt.Fprintf(&b, "%-58s %6d %8.0f %11.0f %8.0f %8s %8s %8.3f %9.3f %7.0fB %5d%s\n", name, rs[0].n,
			median(rs, result.rate),
			median(rs, result.commitRate),
			median(rs, result.ackRate),
			ms(median(rs, func(r result) float64 { return float64(r.pct(0.50)) })),
			ms(median(rs, func(r result) float64 { return float64(r.pct(0.99)) })),
			median(rs, func(r result) float64 { return float64(r.xacts) / float64(r.n) }),
			median(rs, func(r result) float64 { return float64(r.wal.syncs) / float64(r.n) }),
			median(rs, func(r result) float64 { return float64(r.wal.bytes) / float64(r.n) }),
			dups, unit)
	}
	t.Log("\n" + b.String())
}

// runInbox measures sqlstore.Inbox with its default config on a fresh
// database.
func runInbox(ctx context.Context, admin string, n int) (_ result, err error) {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	bdb, err := newBenchDB(sctx, admin)
	if err != nil {
		return result{}, err
	}
	defer func() { err = errors.Join(err, bdb.drop()) }()
	db, err := sqlstore.Open(sctx, bdb.dsn)
	if err != nil {
		return result{}, fmt.Errorf("open sqlstore: %w", err)
	}
	dbOpen := true
	defer func() {
		if dbOpen {
			err = errors.Join(err, db.Close())
		}
	}()
	c := newCounter(n)
	inbox, err := sqlstore.NewInbox(db, callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		c.add(e.ID)
		return nil
	}), sqlstore.InboxConfig{})
	if err != nil {
		return result{}, fmt.Errorf("new inbox: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = errors.Join(err, inbox.Close(cctx))
		}
	}()

	events := makeEvents(n)
	rctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	wal0, err := readWAL(rctx, admin)
	if err != nil {
		return result{}, err
	}
	r := result{n: n, unit: "event"}
	start := time.Now()
	r.lat, err = produce(rctx, n, func(ctx context.Context, i int) error {
		return inbox.HandleEvent(ctx, events[i])
	})
	if err != nil {
		return result{}, fmt.Errorf("inbox.HandleEvent: %w", err)
	}
	r.commit = time.Since(start)
	if r.worked, err = c.wait(rctx, start); err != nil {
		return result{}, err
	}
	polls := 0
	r.acked, err = waitAcked(rctx, start, func(ctx context.Context) (int, error) {
		polls++
		return inbox.Pending(ctx)
	})
	if err != nil {
		return result{}, err
	}
	closed = true
	if err := inbox.Close(rctx); err != nil {
		return result{}, fmt.Errorf("close inbox: %w", err)
	}
	r.calls, r.distinct = c.counts()
	if r.distinct != n {
		return result{}, fmt.Errorf("inbox delivered %d distinct events, want %d", r.distinct, n)
	}
	dbOpen = false
	if err := db.Close(); err != nil {
		return result{}, fmt.Errorf("close sqlstore: %w", err)
	}
	xacts, err := bdb.commits(rctx)
	if err != nil {
		return result{}, err
	}
	r.xacts = xacts - int64(polls)
	wal1, err := readWAL(rctx, admin)
	if err != nil {
		return result{}, err
	}
	r.wal = wal1.sub(wal0)
	return r, nil
}

// eventArgs is river's job: one call event.
type eventArgs struct {
	Event callevent.Event `json:"event"`
}

// Kind implements river.JobArgs.
func (eventArgs) Kind() string { return "call_event" }

// eventWorker counts the events it works.
type eventWorker struct {
	river.WorkerDefaults[eventArgs]
	c *counter
}

// Work implements river.Worker.
func (w *eventWorker) Work(_ context.Context, job *river.Job[eventArgs]) error {
	w.c.add(job.Args.Event.ID)
	return nil
}

// runRiver measures one river configuration on a fresh database.
func runRiver(ctx context.Context, admin string, v riverVariant) (_ result, err error) {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	bdb, err := newBenchDB(sctx, admin)
	if err != nil {
		return result{}, err
	}
	defer func() { err = errors.Join(err, bdb.drop()) }()
	pcfg, err := pgxpool.ParseConfig(bdb.dsn)
	if err != nil {
		return result{}, fmt.Errorf("parse DSN: %w", err)
	}
	pcfg.MaxConns = riverPoolConns
	pool, err := pgxpool.NewWithConfig(sctx, pcfg)
	if err != nil {
		return result{}, fmt.Errorf("open pool: %w", err)
	}
	poolOpen := true
	defer func() {
		if poolOpen {
			pool.Close()
		}
	}()
	driver := riverpgxv5.New(pool)
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return result{}, fmt.Errorf("new migrator: %w", err)
	}
	if _, err := m.Migrate(sctx, rivermigrate.DirectionUp, nil); err != nil {
		return result{}, fmt.Errorf("migrate river: %w", err)
	}

	c := newCounter(v.n)
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &eventWorker{c: c}); err != nil {
		return result{}, fmt.Errorf("add worker: %w", err)
	}
	client, err := river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: v.maxWorkers}},
		Workers:           workers,
		FetchCooldown:     v.fetchCooldown,
		FetchPollInterval: v.fetchPoll,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return result{}, fmt.Errorf("new river client: %w", err)
	}
	// Start's context is the client's for its whole life.
	if err := client.Start(ctx); err != nil {
		return result{}, fmt.Errorf("start river client: %w", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = errors.Join(err, client.Stop(sctx))
		}
	}()

	events := makeEvents(v.n)
	rctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	wal0, err := readWAL(rctx, admin)
	if err != nil {
		return result{}, err
	}
	r := result{n: v.n, unit: "event"}
	start := time.Now()
	if v.batch == 0 {
		r.lat, err = produce(rctx, v.n, func(ctx context.Context, i int) error {
			_, err := client.Insert(ctx, eventArgs{Event: events[i]}, nil)
			return err
		})
	} else {
		r.unit = fmt.Sprintf("batch of %d", v.batch)
		r.lat, err = produce(rctx, (v.n+v.batch-1)/v.batch, func(ctx context.Context, i int) error {
			part := events[i*v.batch : min(v.n, (i+1)*v.batch)]
			params := make([]river.InsertManyParams, len(part))
			for k, e := range part {
				params[k] = river.InsertManyParams{Args: eventArgs{Event: e}}
			}
			_, err := client.InsertMany(ctx, params)
			return err
		})
	}
	if err != nil {
		return result{}, fmt.Errorf("river insert: %w", err)
	}
	r.commit = time.Since(start)
	if r.worked, err = c.wait(rctx, start); err != nil {
		return result{}, err
	}
	polls := 0
	r.acked, err = waitAcked(rctx, start, func(ctx context.Context) (int, error) {
		polls++
		var left int
		err := pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state <> 'completed'").Scan(&left)
		return left, err
	})
	if err != nil {
		return result{}, err
	}
	stopped = true
	if err := client.Stop(rctx); err != nil {
		return result{}, fmt.Errorf("stop river client: %w", err)
	}
	r.calls, r.distinct = c.counts()
	if r.distinct != v.n {
		return result{}, fmt.Errorf("river worked %d distinct events, want %d", r.distinct, v.n)
	}
	var rows int
	polls++
	if err := pool.QueryRow(rctx, "SELECT count(*) FROM river_job WHERE state = 'completed'").Scan(&rows); err != nil {
		return result{}, fmt.Errorf("count river jobs: %w", err)
	}
	if rows != v.n {
		return result{}, fmt.Errorf("river_job has %d completed jobs, want %d", rows, v.n)
	}
	poolOpen = false
	pool.Close()
	xacts, err := bdb.commits(rctx)
	if err != nil {
		return result{}, err
	}
	r.xacts = xacts - int64(polls)
	wal1, err := readWAL(rctx, admin)
	if err != nil {
		return result{}, err
	}
	r.wal = wal1.sub(wal0)
	return r, nil
}

// produce calls call(ctx, i) for every i in [0, units) from producers
// goroutines and returns when all returned, with each call's latency,
// sorted.
func produce(ctx context.Context, units int, call func(ctx context.Context, i int) error) ([]time.Duration, error) {
	lat := make([]time.Duration, units)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range producers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= units || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := call(ctx, i); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("call %d: %w", i, err))
					mu.Unlock()
					cancel()
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("producers: %w", err)
	}
	slices.Sort(lat)
	return lat, nil
}

// counter counts deliveries per event ID and closes done when n distinct
// events arrived.
type counter struct {
	n        int
	done     chan struct{}
	mu       sync.Mutex
	seen     map[string]int
	calls    int
	distinct int
	doneAt   time.Time
}

func newCounter(n int) *counter {
	return &counter{n: n, done: make(chan struct{}), seen: make(map[string]int, n)}
}

func (c *counter) add(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.seen[id]++
	if c.seen[id] == 1 {
		c.distinct++
		if c.distinct == c.n {
			c.doneAt = time.Now()
			close(c.done)
		}
	}
}

func (c *counter) counts() (calls, distinct int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.distinct
}

// wait returns the time from start until the n-th distinct event arrived.
func (c *counter) wait(ctx context.Context, start time.Time) (time.Duration, error) {
	select {
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.doneAt.Sub(start), nil
	case <-ctx.Done():
		_, distinct := c.counts()
		return 0, fmt.Errorf("%d of %d events delivered after %s: %w", distinct, c.n, time.Since(start).Round(time.Millisecond), ctx.Err())
	}
}

// waitAcked polls left until it is 0 and returns the time since start.
func waitAcked(ctx context.Context, start time.Time, left func(context.Context) (int, error)) (time.Duration, error) {
	for {
		n, err := left(ctx)
		if err != nil {
			return 0, fmt.Errorf("count rows not yet done: %w", err)
		}
		if n == 0 {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%d rows still not done after %s: %w", n, time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// makeEvents returns n valid, distinct Ended events of about 600 bytes of
// JSON each, like a real webhook's.
func makeEvents(n int) []callevent.Event {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	pad := strings.Repeat("x", 300)
	events := make([]callevent.Event, n)
	for i := range events {
		raw, _ := json.Marshal(map[string]string{"pad": pad, "n": fmt.Sprint(i)})
		events[i] = callevent.Event{
			ID:          fmt.Sprintf("ev-%d", i),
			Provider:    "telphin",
			Account:     "acc",
			Kind:        callevent.Ended,
			Direction:   callevent.Inbound,
			Status:      callevent.Success,
			CallID:      fmt.Sprintf("call-%d", i),
			ClientPhone: "79161234567",
			Extension:   "101",
			At:          at,
			AnsweredAt:  at.Add(5 * time.Second),
			EndedAt:     at.Add(65 * time.Second),
			Duration:    60 * time.Second,
			Wait:        5 * time.Second,
			Raw:         raw,
		}
	}
	return events
}

// benchDB is a database of one run, created on the server of admin.
type benchDB struct {
	admin, name, dsn string
}

// newBenchDB creates a database with a random name.
func newBenchDB(ctx context.Context, admin string) (*benchDB, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", envDSN, err)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random database name: %w", err)
	}
	d := &benchDB{admin: admin, name: "cb_riverbench_" + hex.EncodeToString(b)}
	if err := d.exec(ctx, "CREATE DATABASE "+d.name); err != nil {
		return nil, err
	}
	u.Path = "/" + d.name
	d.dsn = u.String()
	return d, nil
}

// drop drops the database, closing any connection left to it.
func (d *benchDB) drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return d.exec(ctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)")
}

// walStats are counters of the whole server's WAL.
type walStats struct {
	bytes int64 // insert position
	syncs int64 // pg_stat_wal.wal_sync: WAL flushes to disk
}

func (w walStats) sub(v walStats) walStats {
	return walStats{bytes: w.bytes - v.bytes, syncs: w.syncs - v.syncs}
}

// readWAL reads the server's WAL counters. Backends report wal_sync when
// they go idle, at most once a second, and when they exit.
func readWAL(ctx context.Context, admin string) (walStats, error) {
	var w walStats
	err := (&benchDB{admin: admin}).query(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint, wal_sync FROM pg_stat_wal").
			Scan(&w.bytes, &w.syncs)
	})
	if err != nil {
		return walStats{}, fmt.Errorf("read WAL statistics: %w", err)
	}
	return w, nil
}

// commits waits until no connection to the database is left (exiting
// backends flush their statistics) and returns the transactions committed
// in it since it was created.
func (d *benchDB) commits(ctx context.Context) (int64, error) {
	var n int64
	err := d.query(ctx, func(conn *pgx.Conn) error {
		for {
			var conns int
			err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", d.name).Scan(&conns)
			if err != nil {
				return err
			}
			if conns == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%d connections still open: %w", conns, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
		// Read in a fresh snapshot: the statistics are cached per transaction.
		if _, err := conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
			return err
		}
		return conn.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", d.name).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count commits in %s: %w", d.name, err)
	}
	return n, nil
}

// exec runs one statement on a connection of its own to admin.
func (d *benchDB) exec(ctx context.Context, sql string) error {
	err := d.query(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, sql)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// query runs f on a connection of its own to admin.
func (d *benchDB) query(ctx context.Context, f func(*pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, d.admin)
	if err != nil {
		return fmt.Errorf("connect to %s database: %w", envDSN, err)
	}
	defer conn.Close(context.Background())
	return f(conn)
}

// logServer logs the settings that decide what a commit costs.
func logServer(t *testing.T, ctx context.Context, admin string) {
	t.Helper()
	var version, fsync, syncCommit, commitDelay string
	err := (&benchDB{admin: admin}).query(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('fsync'),"+
			" current_setting('synchronous_commit'), current_setting('commit_delay')").Scan(&version, &fsync, &syncCommit, &commitDelay)
	})
	if err != nil {
		t.Fatalf("read server settings: %v", err)
	}
	t.Logf("PostgreSQL %s, fsync=%s, synchronous_commit=%s, commit_delay=%s", version, fsync, syncCommit, commitDelay)
}

// logRun logs one run's numbers.
func logRun(t *testing.T, i int, name string, r result) {
	t.Helper()
	t.Logf("run %d %-58s %5.0f ev/s, committed %5.0f/s, acked %5.0f/s, p50 %s, p99 %s, %.3f xact/ev, %.3f fsyncs/ev, %.0f WAL B/ev, calls %d, distinct %d",
		i+1, name, r.rate(), r.commitRate(), r.ackRate(), ms(float64(r.pct(0.50))), ms(float64(r.pct(0.99))),
		float64(r.xacts)/float64(r.n), float64(r.wal.syncs)/float64(r.n), float64(r.wal.bytes)/float64(r.n), r.calls, r.distinct)
}

// median returns the median of f over rs.
func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// ms formats nanoseconds as milliseconds.
func ms(ns float64) string { return fmt.Sprintf("%.2fms", ns/1e6) }
