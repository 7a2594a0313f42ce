// Package sqlstore keeps callbridge's data in SQL: the stores of package
// match (clients, leads, the call log, the employee directory and
// notifications), a webhook.Dedup shared by every instance, and the OAuth
// token stores of the telphin and amocrm clients. One package, one code
// path, two databases:
//
//   - SQLite, the embedded default, through modernc.org/sqlite (pure Go, no
//     cgo): Open(ctx, "callbridge.db") or a "file:" URI. The file is opened
//     in WAL mode with a busy timeout (DefaultBusyTimeout), foreign keys on
//     and write transactions that take the write lock at BEGIN.
//   - PostgreSQL, for several instances on one database, through
//     github.com/jackc/pgx/v5 (database/sql driver "pgx"): any DSN starting
//     with "postgres://" or "postgresql://".
//
// The statements are the same on both (numbered $1, $2, … placeholders in
// increasing order, INSERT … ON CONFLICT, RETURNING); only the schema's
// DDL differs (identity columns). Only this package imports the drivers: a
// program that imports a provider package, webhook or match links no
// database code.
//
//	db, err := sqlstore.Open(ctx, "callbridge.db", sqlstore.WithDefaultCountry("RU"))
//	if err != nil {
//		log.Fatal(err) // "sqlstore: open postgres database postgres://u:REDACTED@host/db: …"
//	}
//	defer db.Close()
//	engine, err := match.NewEngine(db, match.WithDefaultCountry("RU"))
//	handler, err := telphin.NewHandler(engine, webhook.WithDedup(db.Dedup(24*time.Hour)), …)
//	client, err := amocrm.NewClient(creds, callbridge.WithTokenStore(db.TokenStore("amocrm:example")))
//
// # Durability
//
// On SQLite the default is synchronous=NORMAL: a committed write survives
// a crash of the process (kill -9), but the last commits before a power
// loss or an operating system crash may be lost; the database stays
// consistent either way. WithFullSync selects synchronous=FULL, which
// syncs the write-ahead log at every commit and survives both, at the cost
// of an fsync per commit. TokenStore's Save always commits with FULL. On
// PostgreSQL durability is the server's setting (fsync,
// synchronous_commit).
//
// # Schema and migrations
//
// The schema is versioned SQL embedded in the binary
// (migrations/<dialect>/NNNN_name.sql); Open applies the missing versions
// in one transaction and records them in the table callbridge_schema.
// Processes opening one database at once apply each migration exactly
// once: on PostgreSQL the transaction holds an advisory lock
// (pg_advisory_xact_lock), on SQLite it is an immediate transaction,
// which holds the database's write lock. A database whose schema is newer
// than this build knows is refused with ErrSchemaTooNew. Tables are
// prefixed "cb_".
//
// Times are stored as BIGINT nanoseconds since the Unix epoch (UTC), exact
// to the nanosecond for the years 1678 to 2262 (others are refused), and
// read back in UTC; the zero time.Time is stored as the smallest BIGINT,
// so it sorts before every other time. Tags, fields and extensions are
// JSON text.
//
// # What the stores guarantee
//
// The semantics are those of match/memstore, plus what a shared database
// needs:
//
//   - Clients: phones are normalised with phone.Normalize
//     (WithDefaultCountry). A unique index on (account, phone) makes
//     CreateClient for a phone that already has a client return that client,
//     also under concurrent calls from several processes. Field values that
//     are phones are indexed in a side table, so FindClientsByField is an
//     index lookup. Clients keep creation order. Limits as in memstore
//     (match.MaxValueLen, match.MaxClientFields, match.MaxClientTags; match.ErrTooLarge).
//   - Leads: ClientLeads is newest first; a lead of an unknown client is
//     ErrNotFound.
//   - Calls: LogCall is an upsert by (provider, account, call id).
//     PurgeCalls deletes calls older than a time (the retention).
//   - Notifications are rows, an outbox that a UI or a sender reads
//     (Notifications); Notify is idempotent by (account, provider, call id,
//     employee, kind), so a replayed decision never notifies twice.
//   - Directory: SetEmployees and SetOnline replace an account's lists.
//   - Listings (Clients, Leads, Calls, Notifications) are paginated by
//     offset (Page) in a stable order.
//
// # Shared across instances
//
// Everything above lives in the database, so instances sharing a
// PostgreSQL database share clients (one per phone), leads, the call log,
// notifications, the directory, Dedup and OAuth tokens. Dedup claims are
// rows: a redelivery that reaches another instance while the first
// delivery runs gets webhook.ErrInProgress; a claim older than the claim
// timeout (WithClaimTimeout, DefaultClaimTimeout) belongs to an instance
// that died and is taken over. PurgeDedup deletes expired rows.
//
// # Durable inbox
//
// An Inbox (NewInbox) is a callevent.Sink that commits each event before
// it returns, so a webhook.Handler in front of it answers the provider 2xx
// only for committed events, and delivers them to the real sink from the
// database: worker goroutines claim due rows under a lease (PostgreSQL:
// FOR UPDATE SKIP LOCKED, so several processes share one inbox and a dead
// process's rows are taken over when its lease ends), retry failures with
// backoff and mark an event dead after InboxConfig.MaxAttempts
// (DeadLetters lists them, Replay puts one back). Concurrent events are
// committed in groups, one transaction for all that arrived while the
// previous commit ran. Delivered rows are purged after
// InboxConfig.Retention. A restart delivers what was committed and not
// yet delivered. A dead event stays dead under a provider's redelivery
// (its ID is taken): only Replay revives it.
//
// Not part of this package yet: resuming the engine's undecided calls
// after a restart, and per-call decision locking across instances. Until
// then, match.Engine keeps its calls in progress in memory, so run one
// engine per database for exactly-once decisions; the unique phone index
// and the idempotent call log and notifications keep a replayed decision
// from duplicating clients, calls or notifications, but a lead created
// twice by two engines is not prevented.
//
// # Errors
//
// Errors start with "sqlstore: " and say what failed; they wrap the
// driver's error (errors.Is(err, context.Canceled) works). They never hold
// a DSN password (Open names a PostgreSQL database with its password
// replaced by REDACTED) nor a token.
//
// # Testing
//
// The tests run against SQLite in a temporary directory and against the
// PostgreSQL server named by CALLBRIDGE_POSTGRES_DSN, each test in a
// database of its own that it drops afterwards; without the variable the
// PostgreSQL tests are skipped, and under CI=true they fail. .ci/run
// starts a server and sets it.
package sqlstore
