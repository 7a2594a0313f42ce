// Package sqlstore keeps callbridge's data in SQL: the stores of package
// match (clients, leads, the call log, the employee directory,
// notifications and call-back tasks), a webhook.Dedup shared by every instance, and the OAuth
// token stores of the telphin and amocrm clients. One package, one code
// path, two databases:
//
//   - SQLite, the embedded default, through modernc.org/sqlite (pure Go, no
//     cgo): Open(ctx, "callbridge.db") or a "file:" URI. The file is opened
//     in WAL mode with a busy timeout (DefaultBusyTimeout), foreign keys on
//     and write transactions that take the write lock at BEGIN. One
//     goroutine commits the writes, in groups, on a connection of its own;
//     the lookups by phone, field and id run on that connection between
//     two groups, where its page cache and its memory map of the file
//     survive the commits (see the README's figures).
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
//     ErrNotFound. Leads without a client (match.PhoneLeads: Perfectum's
//     leads of unknown numbers) are kept by their normalised phone and
//     found by a partial index, newest first (PhoneLeads).
//   - Calls: LogCall is an upsert by (provider, account, call id).
//     PurgeCalls deletes calls older than a time (the retention).
//   - Notifications are rows, an outbox that a UI or a sender reads
//     (Notifications); Notify is idempotent by (account, provider, call id,
//     employee, kind), so a replayed decision never notifies twice.
//   - Tasks (match.TaskStore): CreateTask is idempotent by a unique key on
//     (account, provider, call id), so a call decided by two instances, or
//     again after a restart, has one task. Open tasks are found by partial
//     indexes, by phone (CloseTasks) and by due time (OverdueTasks,
//     OpenTasks); CloseTasks closes each task once even when instances
//     close one number's tasks at once. A task's id is "t" and a number.
//   - Directory: SetEmployees and SetOnline replace an account's lists.
//   - Listings (Clients, Leads, Calls, Notifications, Tasks) are paginated by
//     offset (Page) in a stable order; the calls of every account also by
//     the last call of the page before (AllCallsAfter), which new calls do
//     not shift, read in order from an index however deep the page.
//
// # Shared across instances
//
// Everything above lives in the database, so instances sharing a
// PostgreSQL database share clients (one per phone), leads, the call log,
// notifications, the directory, Dedup and OAuth tokens. The directory is
// read from a copy (every call looks its employees up): a change made
// through one DB shows there at once and on the other instances within
// two seconds. Dedup claims are
// rows: a redelivery that reaches another instance while the first
// delivery runs gets webhook.ErrInProgress; a claim older than the claim
// timeout (WithClaimTimeout, DefaultClaimTimeout) belongs to an instance
// that died and is taken over. A Dedup deletes its expired rows itself
// (DedupPurgeInterval).
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
// previous commit ran; the delivery results and settled calls are
// committed apart, gathered for a few milliseconds, so that no webhook
// waits for them. Delivered rows are purged after
// InboxConfig.Retention. A restart delivers what was committed and not
// yet delivered. A dead event stays dead under a provider's redelivery
// (its ID is taken): only Replay revives it.
//
// # Calls in progress: resume and one decider
//
// match.Engine keeps the events of a call in memory until it decides the
// call. In front of such a sink (a Resumer: match.Engine, or anything with
// Resume and Undecided), the Inbox keeps every delivered event whose call
// is still undecided in the database ("held") until the sink settles the
// call (Settle, from match.WithOnDecision). When an Inbox starts, it hands
// the held events to the sink again with the time each arrived
// (Engine.Resume), so the engine rebuilds its calls in progress and runs
// their settle, grace and idle waits from when the events came, not from
// the restart; a call decided before the crash is settled and is not
// decided again. A graceful stop works the same way: match.Engine.Close
// leaves undecided the calls whose events it got through Resume, also
// those it would otherwise decide with what it has (waiting to settle, or
// for the Completed event), so an event of theirs that reaches the next
// engine still counts. A call decided but not yet settled when the
// process died is decided again, and every side effect of a decision is
// keyed by the call: one client per phone (a unique index), one lead per
// call (match.Lead.CallID, a unique index), one call row per call (an
// upsert), one notification per call, employee and kind.
//
// Several instances on one PostgreSQL database: every instance commits the
// webhooks it receives, but only one delivers to its engine at a time, the
// holder of a lease row in cb_leases (InboxConfig.LeaderLease, renewed
// every third of it). So every event of a call reaches one engine, which
// decides the call exactly once, whichever instance received which
// webhook. When the holder dies (kill -9, a lost network), its lease ends
// and another instance takes it: it takes over the rows the dead one had
// claimed and resumes the held events, so the dead instance's calls in
// progress are finished there. This is the leader design rather than
// per-call locks: an engine needs all of a call's events and its
// decisions need the round-robin and late-binding state of the others, so
// per-call ownership would move that state into the database for every
// event; one decider is simpler, and the engine's work is small next to
// the commits, which every instance shares. The lease is kept through a
// graceful Close, because the engine may still decide the calls it holds
// then; Inbox.ReleaseLease gives it up after the engine's Close, and the
// next holder takes it at once instead of when it ends.
//
// A call decided before a restart without a client (its number unknown,
// creating clients off) waits again for one when the program gives the
// engine the unbound calls of the last window (match.Engine.Await; the
// reference gateway does at start). A call whose notifications are
// delayed (match.NotifyRule.Delay) is settled only once they are
// stored, so a restart before then decides it again and sends them when
// they are due.
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
