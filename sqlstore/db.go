package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"modernc.org/sqlite"               // database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/phone"
)

// Dialects, as returned by (*DB).Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Defaults of Open.
const (
	// DefaultClaimTimeout is how old a Dedup claim must be before another
	// delivery may take it over (see WithClaimTimeout).
	DefaultClaimTimeout = 5 * time.Minute
	// DefaultBusyTimeout is how long a SQLite connection waits for another
	// writer (PRAGMA busy_timeout).
	DefaultBusyTimeout = 10 * time.Second
	// MaxPostgresConns bounds the connections one DB holds to a
	// PostgreSQL server.
	MaxPostgresConns = 16
	// DefaultPingTimeout bounds the first contact with the database in
	// Open when ctx has no earlier deadline.
	DefaultPingTimeout = 30 * time.Second
)

var (
	// ErrNotFound reports an unknown client or lead id.
	ErrNotFound = errors.New("sqlstore: not found")
	// ErrSchemaTooNew reports a database migrated by a newer callbridge
	// than this build: Open refuses it rather than write to a schema it
	// does not know.
	ErrSchemaTooNew = errors.New("sqlstore: database schema is newer than this build")
	// ErrSchemaDamaged means the database says it is at this build's
	// schema version but a table or column of it is missing: Open refuses
	// it rather than fail later, one statement at a time.
	ErrSchemaDamaged = errors.New("sqlstore: database schema is damaged")
)

// Option configures Open.
type Option func(*config) error

type config struct {
	country      string
	fullSync     bool
	logger       *slog.Logger
	now          func() time.Time
	claimTimeout time.Duration
	walRestart   int64 // frames; walRestartFrames unless a test sets it
}

// WithDefaultCountry sets the country of national numbers in client
// phones and fields ("" = RU); give the engine's (match.WithDefaultCountry).
func WithDefaultCountry(country string) Option {
	return func(c *config) error { c.country = country; return nil }
}

// WithFullSync makes SQLite commits durable against power loss
// (PRAGMA synchronous=FULL: the write-ahead log is synced to disk at every
// commit). The default, synchronous=NORMAL, syncs only at checkpoints: a
// commit survives a crash of the process, but the last commits before a
// power loss or an operating system crash may be lost (the database stays
// consistent). TokenStore.Save is FULL in either case. PostgreSQL is not
// affected: its durability is the server's (fsync, synchronous_commit).
func WithFullSync() Option {
	return func(c *config) error { c.fullSync = true; return nil }
}

// WithLogger sets the logger for failures that have no caller to return
// to (a failed Dedup Release). The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithClock sets the clock that stamps CreatedAt of clients and leads,
// the expiry of Dedup keys and the age of the directory's copies (see
// FindEmployee) (default: the system clock); give the engine's
// (match.WithClock). Instances sharing a database should have clocks in
// step: Dedup expiry compares the times they write.
func WithClock(c match.Clock) Option {
	return func(cfg *config) error {
		if c == nil {
			return errors.New("nil clock")
		}
		cfg.now = c.Now
		return nil
	}
}

// WithClaimTimeout sets how long a Dedup claim is honoured: a delivery
// still claimed after d is taken to belong to an instance that died, and
// the next delivery of the event takes the claim over (default
// DefaultClaimTimeout). Choose it longer than any delivery can take.
func WithClaimTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("claim timeout %v is not positive", d)
		}
		c.claimTimeout = d
		return nil
	}
}

// DB is a callbridge database on SQLite or PostgreSQL. It implements
// match.ClientStore, match.LeadStore, match.CallLog, match.Directory,
// match.Notifier and match.TaskStore, lists what it stores for an API
// (Clients, Leads, Calls, Notifications, Tasks), and provides a shared webhook.Dedup (Dedup) and OAuth
// token stores (TokenStore). It is safe for concurrent use by many
// goroutines and, sharing one database, by many processes.
type DB struct {
	db       *sql.DB
	dialect  string
	name     string // the database, for errors: a path or a redacted URL
	syncMode string // SQLite: "NORMAL" or "FULL"
	cfg      config

	stmts sync.Map // query text → *sql.Stmt, for the hot paths
	dir   dirCache // the directories lately read (FindEmployee, Employees)

	// writer serialises this process's SQLite writes: SQLite has one
	// writer at a time, and waiting here is cheaper than its busy handler's
	// sleeps. Other processes still wait through busy_timeout. nil on
	// PostgreSQL.
	writer chan struct{}
	// writes feed the group commit of SQLite transactions (see inTx);
	// quit stops it at Close. nil on PostgreSQL.
	writes     chan *writeOp
	quit       chan struct{}
	writerDone chan struct{} // closed when writeLoop has answered its last op
	// ownWriter: the group commit keeps a connection of its own (SQLite
	// files; see beginGroup), which the lookups share (see read); wconn
	// is that connection, used by whoever holds connTurn.
	ownWriter bool
	wconn     *sql.Conn
	connTurn  chan struct{}
	connStmts map[string]*sql.Stmt // the lookups prepared on wconn
	// walLong: the background checkpoint found the write-ahead log past
	// its limit; the writer restarts it between two groups (see
	// checkpoint).
	walLong   atomic.Bool
	closeOnce sync.Once
	// txStmts: transactions use statements prepared once per connection
	// (SQLite files, whose pool is not bounded: preparing one takes a
	// connection besides the transaction's). pgx caches its statements
	// per connection by itself.
	txStmts bool
}

// writeOp is one transaction for SQLite's group commit.
type writeOp struct {
	ctx  context.Context
	f    func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

// maxGroup bounds the transactions one SQLite commit carries.
const maxGroup = 128

// groupTimeout bounds one group commit.
const groupTimeout = 30 * time.Second

var (
	_ match.ClientStore   = (*DB)(nil)
	_ match.ClientGetter  = (*DB)(nil)
	_ match.UniquePhones  = (*DB)(nil)
	_ match.ClientUpdater = (*DB)(nil)
	_ match.Dialog        = (*DB)(nil)
	_ match.LeadStore     = (*DB)(nil)
	_ match.PhoneLeads    = (*DB)(nil)
	_ match.Reassigner    = (*DB)(nil)
	_ match.CallLog       = (*DB)(nil)
	_ match.Directory     = (*DB)(nil)
	_ match.Notifier      = (*DB)(nil)
)

// Open opens the database named by dsn, checks that it answers and
// migrates its schema to this build's version.
//
// A dsn starting with "postgres://" or "postgresql://" is a PostgreSQL
// URL (pgx syntax, e.g. "postgres://user:password@host:5432/db?sslmode=disable").
// Anything else is a SQLite database file: a path ("callbridge.db") or a
// "file:" URI; it is created if missing and opened in WAL mode with a busy
// timeout, foreign keys on, write transactions that take the write lock
// at BEGIN (no deadlock between two upgrading readers) and
// synchronous=NORMAL unless WithFullSync.
//
// Errors name the database with any password replaced by "REDACTED".
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	cfg := config{now: time.Now, logger: slog.New(slog.NewTextHandler(io.Discard, nil)), claimTimeout: DefaultClaimTimeout, walRestart: walRestartFrames}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("sqlstore: Open: option %d is nil", i+1)
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("sqlstore: Open: %w", err)
		}
	}
	if _, err := phone.Normalize("79161234567", cfg.country); err != nil {
		return nil, fmt.Errorf("sqlstore: Open: %w", err)
	}
	d := &DB{cfg: cfg}
	var driverName, driverDSN string
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		d.dialect, d.name = DialectPostgres, redactURL(dsn)
		driverName, driverDSN = "pgx", dsn
	case strings.TrimSpace(dsn) == "":
		return nil, errors.New("sqlstore: Open: empty database name")
	default:
		d.dialect, d.name = DialectSQLite, sqliteName(dsn)
		d.syncMode = "NORMAL"
		d.writer = make(chan struct{}, 1)
		d.writes, d.quit, d.writerDone = make(chan *writeOp, maxGroup), make(chan struct{}), make(chan struct{})
		if cfg.fullSync {
			d.syncMode = "FULL"
		}
		driverName, driverDSN = "sqlite", sqliteDSN(dsn, d.syncMode)
	}
	db, err := sql.Open(driverName, driverDSN)
	if err != nil {
		return nil, d.openError(dsn, err)
	}
	d.db = db
	if d.writes != nil {
		go d.writeLoop()
	}
	if d.dialect == DialectSQLite {
		if isMemory(dsn) {
			db.SetMaxOpenConns(1) // each connection would be its own database
		} else {
			d.txStmts, d.ownWriter = true, true
			d.connTurn, d.connStmts = make(chan struct{}, 1), make(map[string]*sql.Stmt)
			go d.checkpointLoop() // a file in WAL mode
		}
		// Connections are kept, not closed when more than a few are idle:
		// a new one opens the file, reads the schema and prepares every
		// statement again, and starts with an empty page cache.
		db.SetMaxIdleConns(maxSQLiteIdle)
		db.SetConnMaxIdleTime(time.Minute)
	} else {
		// A bounded pool: a burst of webhooks queues for a connection
		// instead of taking the server's every slot (PostgreSQL's
		// max_connections is 100 by default, shared by every instance).
		db.SetMaxOpenConns(MaxPostgresConns)
		db.SetMaxIdleConns(MaxPostgresConns)
	}
	pctx, cancel := context.WithTimeout(ctx, DefaultPingTimeout)
	defer cancel()
	if err := d.ping(pctx); err != nil {
		_ = d.Close()
		return nil, d.openError(dsn, err)
	}
	if err := d.migrate(ctx); err != nil {
		_ = d.Close()
		return nil, d.openError(dsn, readOnly(err))
	}
	if err := d.checkSchema(ctx); err != nil {
		_ = d.Close()
		return nil, d.openError(dsn, err)
	}
	if err := d.checkWritable(ctx); err != nil {
		_ = d.Close()
		return nil, d.openError(dsn, err)
	}
	return d, nil
}

// ErrReadOnly is returned by Open for a database that cannot be written:
// a SQLite file opened read-only or on a read-only file system, a
// PostgreSQL server in read-only mode (a standby).
var ErrReadOnly = errors.New("the database is read-only")

// checkWritable writes nothing, in a statement that needs the right to
// write: a store that cannot write would accept no webhook, so it is
// refused at start rather than at the first one.
func (d *DB) checkWritable(ctx context.Context) error {
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE callbridge_schema SET name = name WHERE version < 0")
		return err
	})
	return readOnly(err)
}

// ping checks that the database answers. A new SQLite file that several
// processes open at once is switched to WAL by one of them, and the
// others' first connections fail with SQLITE_BUSY at once: SQLite does
// not wait in its busy handler for that switch. They try again, for up to
// DefaultBusyTimeout.
func (d *DB) ping(ctx context.Context) error {
	deadline := time.Now().Add(DefaultBusyTimeout)
	for {
		err := d.db.PingContext(ctx)
		var le *sqlite.Error
		if err == nil || !errors.As(err, &le) || le.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

// readOnly marks err with ErrReadOnly when the database refused a write
// for being read-only: SQLITE_READONLY (any of its extended codes), or
// SQLSTATE 25006 (read_only_sql_transaction) on PostgreSQL.
func readOnly(err error) error {
	var le *sqlite.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &le) && le.Code()&0xff == sqlite3.SQLITE_READONLY,
		errors.As(err, &pe) && pe.Code == "25006":
		return fmt.Errorf("%w: %w", ErrReadOnly, err)
	}
	return err
}

// Close closes the database. Calls after Close fail.
func (d *DB) Close() error {
	if d.quit != nil {
		d.closeOnce.Do(func() { close(d.quit) })
		<-d.writerDone // the group being committed ends first
	}
	if d.ownWriter {
		d.connTurn <- struct{}{} // a read in progress ends first
		d.dropWriterConn()       // and the reads after find quit closed
		<-d.connTurn
	}
	d.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("sqlstore: close %s: %w", d.name, err)
	}
	return nil
}

// Dialect returns DialectSQLite or DialectPostgres.
func (d *DB) Dialect() string { return d.dialect }

// String names the database: the SQLite path, or the PostgreSQL URL with
// its password redacted.
func (d *DB) String() string { return d.name }

// openError wraps err naming the database, with the password (if any)
// removed from the driver's text as well.
func (d *DB) openError(dsn string, err error) error {
	msg := err.Error()
	if pw := urlPassword(dsn); pw != "" {
		msg = strings.ReplaceAll(msg, pw, "REDACTED")
	}
	if strings.Contains(msg, "sqlstore: ") {
		msg = strings.ReplaceAll(msg, "sqlstore: ", "")
	}
	return &openError{msg: fmt.Sprintf("sqlstore: open %s database %s: %s", d.dialect, d.name, msg), err: err}
}

// openError keeps the driver's error for errors.Is and errors.As while its
// text has no password.
type openError struct {
	msg string
	err error
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.err }

// redactURL returns the PostgreSQL URL with its password (in the user
// info or a password parameter) replaced by REDACTED.
func redactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(a PostgreSQL URL that does not parse)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func urlPassword(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
	}
	return u.Query().Get("password")
}

// sqliteName returns the path part of a SQLite dsn.
func sqliteName(dsn string) string {
	if i := strings.IndexByte(dsn, '?'); i > 0 {
		return dsn[:i]
	}
	return dsn
}

func isMemory(dsn string) bool {
	return dsn == ":memory:" || strings.Contains(dsn, "mode=memory") || strings.HasPrefix(dsn, "file::memory:")
}

// sqliteDSN adds the connection settings to a path or file: URI for
// modernc.org/sqlite. Each is applied to every new connection. Besides
// WAL and the sync level: a page cache of up to 8 MiB per connection
// (the pages read come from the memory map below; the cache keeps those
// written and those of the log, and every commit walks its hash table:
// with 64 MiB that walk was 3.6% of the reference gateway's time under
// load, 1.1% with 8 MiB), and
// temporary data in memory (the statement journal that SQLite keeps for
// a statement writing several rows inside a transaction, as the inbox's
// inserts and marks do, would otherwise go to a temporary file), and
// reads of the database file through a memory map of up to 1 GiB instead
// of a read call per page (writes still go through write calls). The map
// halves the tail of a lookup among a million clients; under the load
// generator the gateway runs as fast without it since the lookups share
// the writer's connection (three interleaved pairs on 2026-12-06).
func sqliteDSN(dsn, syncMode string) string {
	params := url.Values{}
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", DefaultBusyTimeout.Milliseconds()))
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "synchronous("+syncMode+")")
	params.Add("_pragma", "wal_autocheckpoint(0)")
	params.Add("_pragma", "cache_size(-8192)")
	params.Add("_pragma", "temp_store(MEMORY)")
	params.Add("_pragma", "mmap_size(1073741824)")
	params.Set("_txlock", "immediate")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + params.Encode()
}

// Times are stored as BIGINT unix nanoseconds (UTC), exact to the
// nanosecond for 1678–2262; zeroTime stands for time.Time{}.
const zeroTime = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// times converts times to stored values, keeping the first error.
type times struct{ err error }

func (tc *times) v(what string, t time.Time) int64 {
	if t.IsZero() {
		return zeroTime
	}
	if t.Before(minTime) || t.After(maxTime) {
		if tc.err == nil {
			tc.err = fmt.Errorf("%s %s is outside the storable range (years 1678–2262)", what, t.UTC().Format(time.RFC3339))
		}
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// stmt returns q prepared (once per DB; database/sql prepares it again on
// each connection that runs it). On SQLite that saves parsing the
// statement at every call; pgx caches prepared statements by itself.
func (d *DB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := d.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := d.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// maxSQLiteIdle is how many idle SQLite connections are kept open.
const maxSQLiteIdle = 64

// limitClause is " LIMIT n" for a statement that runs often with the same
// n: as a literal, not a parameter, because SQLite re-prepares a statement
// whenever a parameter its plan looked at (a LIMIT's) is bound again, which
// costs more than the query. Listings with a caller's page keep parameters,
// so that every page shares one statement.
func limitClause(n int) string { return " LIMIT " + strconv.Itoa(n) }

// queryRow is a prepared q that reads a row, run by Scan (see read).
func (d *DB) queryRow(ctx context.Context, q string, args ...any) scanner {
	return lookup{d: d, ctx: ctx, q: q, args: args}
}

// execRow runs a prepared q that writes and returns a row, a transaction
// of its own on a connection of the pool; its error, if any, surfaces at
// Scan.
func (d *DB) execRow(ctx context.Context, q string, args ...any) scanner {
	st, err := d.stmt(ctx, q)
	if err != nil {
		return d.db.QueryRowContext(ctx, q, args...) // reports the same error at Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// lookup is queryRow's row.
type lookup struct {
	d    *DB
	ctx  context.Context
	q    string
	args []any
}

// Scan runs the lookup and scans its row into dest.
func (l lookup) Scan(dest ...any) error {
	return l.d.read(l.ctx, l.q, func(st *sql.Stmt) error {
		return st.QueryRowContext(l.ctx, l.args...).Scan(dest...)
	})
}

// read runs f with q prepared. On a SQLite file it runs on the writer's
// connection, between two groups: a connection drops its page cache and
// its memory map of the file whenever it begins after another
// connection's commit, which under load is at every read of the pool's
// connections (half of the reference gateway's time in reads went to
// that), while the writer's own commits keep its cache. f scans rows and runs
// no other statement. Inside a group (an inTx function) f runs on the
// pool: the writer's connection is in the group's transaction.
func (d *DB) read(ctx context.Context, q string, f func(st *sql.Stmt) error) error {
	if !d.ownWriter || ctx.Value(inGroup{}) != nil {
		st, err := d.stmt(ctx, q)
		if err != nil {
			return err
		}
		return f(st)
	}
	select {
	case d.connTurn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.connTurn }()
	select {
	case <-d.quit: // closed: the connection is gone, or going
		return sql.ErrConnDone
	default:
	}
	c, err := d.writerConn(ctx)
	if err != nil {
		return err
	}
	// A statement of the connection's own, run alone: no BEGIN and
	// ROLLBACK around it, nor a transaction's copy of the statement.
	cst := d.connStmts[q]
	if cst == nil {
		if cst, err = c.PrepareContext(ctx, q); err != nil {
			return err
		}
		d.connStmts[q] = cst
	}
	return f(cst)
}

// inGroup marks the ctx of a function that the group commit runs.
type inGroup struct{}

// query runs a prepared q that returns rows, on the pool: the listings
// (the lookups take read).
func (d *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := d.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// exec runs a prepared q that writes, in a transaction of its own (on
// SQLite, committed with others: see inTx).
func (d *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if d.writes == nil {
		st, err := d.stmt(ctx, q)
		if err != nil {
			return nil, err
		}
		return st.ExecContext(ctx, args...)
	}
	var res sql.Result
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		res, err = d.txExec(ctx, tx, q, args...)
		return err
	})
	return res, err
}

// deleteInBatches runs q, a DELETE of at most purgeBatch rows, in
// transactions of its own until it deletes fewer, so a big purge never
// holds the writer for long; it returns how many rows it deleted.
func (d *DB) deleteInBatches(ctx context.Context, q string, args ...any) (int, error) {
	total := 0
	for {
		res, err := d.exec(ctx, q, args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < purgeBatch {
			return total, nil
		}
	}
}

// lockWrite waits for this process's turn to write (SQLite only).
func (d *DB) lockWrite(ctx context.Context) (unlock func(), err error) {
	if d.writer == nil {
		return func() {}, nil
	}
	select {
	case d.writer <- struct{}{}:
		return func() { <-d.writer }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// inTx runs f in a write transaction and commits it; f's statements use
// the ctx it is given.
//
// On SQLite, which has one writer and pays for each commit, the
// transactions that callers start while a commit runs are committed
// together (group commit): one goroutine runs them one after the other in
// one immediate transaction and commits once. When one of them fails, the
// transaction is rolled back and each runs again in a transaction of its
// own, so that the one that fails is rolled back alone: f may run twice,
// and must set, not accumulate, what it hands back through its closure.
// (A savepoint around each would isolate them too, at two more statements
// for every one, to save work only in the rare group with a failure.)
// Each f gets its caller's
// ctx without its cancellation (bounded by groupTimeout): a caller that
// gives up must not interrupt the others' statements. A caller whose ctx
// ends before its f started gets ctx's error and f does not run.
func (d *DB) inTx(ctx context.Context, f func(ctx context.Context, tx *sql.Tx) error) error {
	if d.writes == nil {
		tx, err := d.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := f(ctx, tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	op := &writeOp{ctx: ctx, f: f, done: make(chan error, 1)}
	select {
	case d.writes <- op:
	case <-d.quit:
		return sql.ErrConnDone
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, f may run at any moment until the writer answers:
	// the caller waits for the answer, or for the writer to be gone (then
	// f never runs).
	select {
	case err := <-op.done:
		return err
	case <-d.writerDone:
		select {
		case err := <-op.done:
			return err
		default:
			return sql.ErrConnDone
		}
	}
}

// writeLoop is SQLite's group commit (see inTx).
func (d *DB) writeLoop() {
	defer close(d.writerDone)
	batch := make([]*writeOp, 0, maxGroup)
	for {
		select {
		case <-d.quit:
			for { // ops handed over meanwhile are refused, not run
				select {
				case op := <-d.writes:
					op.done <- sql.ErrConnDone
				default:
					return
				}
			}
		case op := <-d.writes:
			batch = append(batch[:0], op)
		}
		// Let the goroutines that are ready run first: on a busy process
		// some are on their way here with their writes, and join this
		// commit in place of a commit each (20,000 commits in place of
		// 32,000 for the reference gateway's 60,000 events under load).
		runtime.Gosched()
	more:
		for len(batch) < maxGroup {
			select {
			case op := <-d.writes:
				batch = append(batch, op)
			default:
				break more
			}
		}
		d.commitGroup(batch)
		if d.walLong.Load() {
			d.restartWAL()
		}
	}
}

// checkpointInterval is how often SQLite's write-ahead log is copied back
// into the database file. A checkpoint writes each page once however
// often it changed since the last, so the longer the interval the fewer
// pages are copied (1 s in place of 200 ms: 9% fewer bytes written, the
// checkpoint 4.0% → 2.5% of the reference gateway's CPU under load); the
// log stays below walRestartFrames in between at thousands of events a
// second.
const checkpointInterval = time.Second

// checkpointLoop checkpoints the write-ahead log in the background (the
// connections' automatic checkpoint is off): a checkpoint copies pages
// and syncs the file, which the writer, and every webhook waiting for its
// commit, would otherwise wait for now and then. A passive checkpoint runs
// beside the writer; the log is reused from its start once a checkpoint
// has copied all of it.
func (d *DB) checkpointLoop() {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-d.quit:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
			if err := d.checkpoint(ctx); err != nil && d.cfg.logger != nil {
				d.cfg.logger.Warn("sqlstore: checkpoint failed; retrying", "error", err)
			}
			cancel()
		}
	}
}

// walRestartFrames is the size of the write-ahead log, in pages (64 MiB),
// past which the log is written from its start again.
const walRestartFrames = 16384

// checkpoint copies the write-ahead log into the database file beside
// the writer. Under a steady stream of commits a passive checkpoint
// never catches up with the log's end, and the log, which restarts from
// its start only when a commit begins with all of it copied, would grow
// without bound (to 850 MB for a 48 MB database in 15 s of load, each
// commit then allocating new blocks of the file: 30% fewer events per
// second over 60,000 events). So once the log is past its limit,
// checkpoint copies what was committed meanwhile once more and leaves
// the restart to the writer (see restartWAL).
func (d *DB) checkpoint(ctx context.Context) error {
	var busy, frames, copied int64
	for range 2 { // the second pass copies what was committed during the first
		if err := d.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
			return err
		}
		if frames < d.cfg.walRestart {
			return nil
		}
	}
	d.walLong.Store(true)
	return nil
}

// restartWAL, run by the writer between two groups, copies the last
// pages of the write-ahead log: when it copied all of them, the next
// group, which no commit can precede, writes the log from its start. A
// reader of older pages can keep a page from being copied (it does not
// wait for one): then the writer tries again after its next group.
func (d *DB) restartWAL() {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	unlock, _ := d.lockWrite(ctx)
	defer unlock()
	var busy, frames, copied int64
	err := d.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	if err != nil && d.cfg.logger != nil {
		d.cfg.logger.Warn("sqlstore: checkpoint failed; retrying", "error", err)
	}
	if err == nil && busy == 0 && frames == copied {
		d.walLong.Store(false)
	}
}

// commitGroup runs batch in one transaction and answers each op.
func (d *DB) commitGroup(batch []*writeOp) {
	errs := make([]error, len(batch))
	run := batch[:0:0]
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		run = append(run, op)
	}
	// answer gives every op its result; those that ran get commitErr.
	answer := func(commitErr error) {
		for i, op := range batch {
			if errs[i] == nil {
				errs[i] = commitErr
			}
			op.done <- errs[i]
		}
	}
	if len(run) == 0 {
		answer(nil)
		return
	}
	unlock, _ := d.lockWrite(context.Background())
	defer unlock()
	if len(run) > 1 {
		if err := d.runGroup(run); err == nil || !errors.Is(err, errOpFailed) {
			answer(err)
			return
		}
		// One failed: each alone, so that the others are kept.
	}
	for i, op := range batch {
		if errs[i] == nil {
			errs[i] = d.runGroup([]*writeOp{op})
		}
	}
	answer(nil)
}

// errOpFailed marks a group that runGroup rolled back because one of its
// transactions failed.
var errOpFailed = errors.New("sqlstore: a transaction of the group failed")

// runGroup runs ops in one transaction and commits it: the error of the
// only op, or of the commit; with several ops, errOpFailed (wrapping the
// op's error) when one of them failed and all were rolled back.
func (d *DB) runGroup(ops []*writeOp) error {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	if d.ownWriter {
		d.connTurn <- struct{}{}
		defer func() { <-d.connTurn }()
	}
	tx, err := d.beginGroup(ctx)
	if err != nil {
		return err
	}
	for _, op := range ops {
		fctx, fcancel := context.WithTimeout(context.WithValue(context.WithoutCancel(op.ctx), inGroup{}, true), groupTimeout)
		err := op.f(fctx, tx)
		fcancel()
		if err != nil {
			_ = tx.Rollback()
			if len(ops) > 1 {
				return fmt.Errorf("%w: %w", errOpFailed, err)
			}
			return err
		}
	}
	return tx.Commit()
}

// beginGroup begins the transaction of a group commit. On a SQLite file
// it runs on the writer's own connection: a connection drops its page
// cache whenever it begins after another connection's commit, so a
// writer taking any connection of the pool read again, a read call each,
// the index pages of every table it writes; its own connection keeps
// them (the reference gateway under load made 31% fewer read calls). A
// connection that fails to begin is closed; the next group opens
// another.
func (d *DB) beginGroup(ctx context.Context) (*sql.Tx, error) {
	if !d.ownWriter {
		return d.db.BeginTx(ctx, nil)
	}
	c, err := d.writerConn(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		d.dropWriterConn()
	}
	return tx, err
}

// writerConn returns the writer's own connection, opening it if need be;
// the caller holds connTurn.
func (d *DB) writerConn(ctx context.Context) (*sql.Conn, error) {
	if d.wconn == nil {
		c, err := d.db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		d.wconn = c
	}
	return d.wconn, nil
}

// dropWriterConn closes the writer's own connection and its statements,
// if any; the caller holds connTurn.
func (d *DB) dropWriterConn() {
	for q, st := range d.connStmts {
		_ = st.Close()
		delete(d.connStmts, q)
	}
	if d.wconn != nil {
		_ = d.wconn.Close()
		d.wconn = nil
	}
}

// txStmt is q as a statement of tx prepared once per connection (see
// stmt), so the hot writes are not parsed again at every call; nil when
// the database does not cache statements (run q on tx itself).
func (d *DB) txStmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if !d.txStmts {
		return nil, nil
	}
	st, err := d.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

// txExec runs q in tx (see txStmt); a nil tx runs q in a transaction of
// its own (see exec).
func (d *DB) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if tx == nil {
		return d.exec(ctx, q, args...)
	}
	st, err := d.txStmt(ctx, tx, q)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return tx.ExecContext(ctx, q, args...)
	}
	return st.ExecContext(ctx, args...)
}

// txQueryRow is txExec for a statement that returns a row.
func (d *DB) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st, err := d.txStmt(ctx, tx, q); err == nil && st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...) // a preparation error shows at Scan
}

// txQuery is txExec for a statement that returns rows. A nil tx runs q
// on the pool, committed by itself: a write so only on PostgreSQL, where
// writes need no writer (see inTx).
func (d *DB) txQuery(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if tx == nil {
		return d.query(ctx, q, args...)
	}
	st, err := d.txStmt(ctx, tx, q)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return tx.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

// pad returns xs lengthened to a power of two with repeats of its last
// element, which change nothing in an IN list or an INSERT … ON CONFLICT
// DO NOTHING: a statement over a list then has a few texts to prepare
// rather than one per length.
func pad[T any](xs []T) []T {
	n := 1
	for n < len(xs) {
		n <<= 1
	}
	out := slices.Grow(slices.Clip(xs), n-len(xs))
	for len(out) < n {
		out = append(out, xs[len(xs)-1])
	}
	return out
}

// wrap prefixes err with "sqlstore: " and what failed, unless it is nil.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sqlstore: "+format+": %w", append(args, err)...)
}
