package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry"
	"github.com/callbridge/callbridge/webhook"
)

// Defaults of InboxConfig.
const (
	DefaultInboxWorkers      = 4
	DefaultInboxMaxBatch     = 256
	DefaultInboxMaxAttempts  = 5
	DefaultInboxLease        = 5 * time.Minute
	DefaultInboxPollInterval = time.Second
	DefaultInboxRetention    = 24 * time.Hour
	DefaultInboxHoldLimit    = 24 * time.Hour
	DefaultInboxLeaderLease  = 10 * time.Second
)

// MaxLastErrorLen bounds the error text kept with an inbox row, in bytes.
const MaxLastErrorLen = 1024

// States of an inbox row.
const (
	inboxPending   = 0
	inboxDelivered = 1
	inboxDead      = 2

	inboxPendingSQL   = "0"
	inboxDeliveredSQL = "1"
)

// heldAt is the due time of a pending row that an Inbox holds for a
// Resumer: delivered, its call not settled. It is never due; the row is
// the holder's until Settle marks it delivered, and another Inbox takes it
// over (with every row the holder claimed) when it takes the lease.
const heldAt = math.MaxInt64

// heldAtSQL is heldAt in SQL. notHeldSQL is the predicate of the partial
// index cb_inbox_due (migration 0012), which leaves the held rows out: a
// query states it to use the index.
const (
	heldAtSQL  = "9223372036854775807"
	notHeldSQL = "at < " + heldAtSQL
)

// leaseInbox is the name of the lease of delivery to a Resumer.
const leaseInbox = "inbox"

// purgeBatch is how many rows one DELETE of a purge removes.
const purgeBatch = 1000

// inboxWriteTimeout bounds one group commit of the inbox's writer.
const inboxWriteTimeout = 30 * time.Second

// InboxConfig configures an Inbox. Zero values get the documented defaults.
type InboxConfig struct {
	// Workers deliver events to the sink concurrently (default 4). The
	// events of one call go to one worker, in the order they were
	// committed, so within one process a call's events arrive in order.
	Workers int
	// MaxBatch bounds the writes one transaction of the group commit
	// carries (default 256); 1 commits every event on its own.
	MaxBatch int
	// MaxAttempts bounds deliveries of one event (default 5); after the
	// last failure the row is dead: kept, listed by DeadLetters, until
	// Replay or PurgeDead.
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after n failed attempts
	// (default: 100ms doubling to at most 30s, with jitter).
	Backoff func(n int) time.Duration
	// Lease is how long a claimed row belongs to this Inbox (default 5
	// min). A process that dies holding rows leaves them to another
	// process, or the next one, when the lease ends. Choose it longer than
	// any delivery can take: a delivery still running at the end of its
	// lease may be delivered a second time by another process.
	Lease time.Duration
	// PollInterval is how often workers look for due retries and rows
	// committed by other processes (default 1s); rows this Inbox commits
	// wake them at once.
	PollInterval time.Duration
	// Retention is how long delivered rows are kept (default 24h); the
	// workers delete older ones in batches, every PollInterval at most.
	Retention time.Duration
	// HoldLimit is how long a row held for a Resumer is kept when its call
	// is never settled (default 24h), after which it is deleted.
	HoldLimit time.Duration
	// LeaderLease is, for a Resumer sink, how long the lease of delivery
	// lasts (default 10s): one Inbox among the processes sharing the
	// database holds it and renews it every third of it; when its process
	// dies, another takes over at the latest when the lease ends.
	LeaderLease time.Duration
	// Now is the clock (default: the DB's, see WithClock). Instances
	// sharing a database should have clocks in step: leases and due times
	// compare the times they write.
	Now func() time.Time
	// Logger receives failures that have no caller to return to: failed
	// deliveries, claims and acknowledgements (default: discard).
	Logger *slog.Logger
	// MeterProvider receives the delivery latency from the commit to the
	// sink's done (callbridge.delivery.duration), the dead letters
	// (callbridge.delivery.dead_letters) and the rows pending and dead in
	// the database (callbridge.delivery.backlog, counted when the reader
	// collects), each with callbridge.delivery "inbox". TracerProvider
	// receives a span per delivery: beneath the request's span for an
	// event delivered by the process that committed it (the span context
	// is kept with the row in memory, not in the database), a new trace
	// for rows claimed from the database (retries, another process's, a
	// restart's). nil: the global providers, no-ops until set.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// DeadLetter is an inbox event that failed MaxAttempts times.
type DeadLetter struct {
	// ID identifies the row for Replay; it is never reused.
	ID int64 `json:"id"`
	// Event is the event as committed.
	Event callevent.Event `json:"event"`
	// Attempts is how many deliveries failed.
	Attempts int `json:"attempts"`
	// LastError is the sink's error text of the last attempt, clipped to
	// MaxLastErrorLen bytes.
	LastError string `json:"last_error"`
	// At is when the event was dead-lettered.
	At time.Time `json:"at"`
}

// Inbox is a durable, write-ahead callevent.Sink: what webhook.Queue is,
// with the queue in the database. HandleEvent commits the event to the
// cb_inbox table and returns only after the commit, so a webhook.Handler
// in front of it answers the provider 2xx only for committed events; worker
// goroutines then deliver the rows to the sink, retrying failures with
// backoff, and move an event that failed InboxConfig.MaxAttempts times to a
// dead state that an operator lists (DeadLetters) and replays (Replay).
//
// Group commit: a writer goroutine commits, in one transaction, every
// event that arrived while the previous transaction ran (waiting at most
// 200µs for the callers of the last one), up to MaxBatch; each caller gets
// its own result. A second writer commits the delivery results of the
// workers and the settled calls the same way, so that no webhook waits
// for them. The same event ID committed twice is one row, whatever its
// state. Rows this Inbox commits are its own from the start (leased to
// it) and go to the workers from memory; the database is asked for due rows (retries, rows
// of other processes or of a dead one) every PollInterval.
//
// Several processes share one inbox on PostgreSQL: a claim takes due rows
// with FOR UPDATE SKIP LOCKED and leases them to the claiming Inbox for
// InboxConfig.Lease, so each row is delivered by one process, and the rows
// of a process that died are delivered by another when their lease ends.
// SQLite has one writer, so the same claim runs without SKIP LOCKED. In
// front of a Resumer, one process at a time delivers instead (see
// Resumer).
// Delivery is at least once: a delivery that outlives its lease, or whose
// result could not be committed (the database was lost), is delivered
// again.
//
// Delivered rows are deleted InboxConfig.Retention after delivery; dead
// rows stay until replayed or deleted by PurgeDead. Close stops the Inbox;
// rows it did not deliver stay pending in the database and the next Inbox
// on it delivers them.
type Inbox struct {
	db     *DB
	sink   callevent.Sink
	admit  webhook.Admitter
	holder Resumer // the sink, if it is a Resumer
	cfg    InboxConfig
	owner  string // this Inbox's claim and lease token

	// Of the claim loop: the lease of delivery to a Resumer.
	leader     bool
	leaseUntil time.Time
	renewAt    time.Time
	isLeader   atomic.Bool // leader, for HandleEvent

	// Rows this Inbox committed and delivers itself, without claiming
	// them back from the database; the claim loop hands them out.
	localMu     sync.Mutex
	local       []claimed
	localClosed bool // Close took the last of them
	// claimNow asks the claim loop for a claim before its next tick (a
	// replayed dead letter, a failure due for a retry).
	claimNow atomic.Bool
	// recheck: a commit with events failed, but it may have reached the
	// database (the connection was lost at COMMIT). Its rows would be held
	// with nobody delivering them, and a redelivery is absorbed by their
	// IDs: the lease holder makes its held rows due again once it can.
	recheck atomic.Bool

	mu       sync.RWMutex // closed, and senders of ops and book
	closed   bool
	ops      chan *inboxOp // events to insert and claims, for writeLoop
	book     chan *inboxOp // the rest (bookkeeping), for bookLoop
	entering atomic.Int64  // HandleEvent calls about to send to ops

	wake       chan struct{} // a commit that makes rows due
	stopClaim  context.CancelFunc
	claimCtx   context.Context
	deliverCtx context.Context // canceled when Close gives up waiting
	cancelDel  context.CancelFunc
	work       []chan []claimed
	claimDone  chan struct{}
	workers    sync.WaitGroup
	writerDone chan struct{}
	bookDone   chan struct{}
	lastPurge  time.Time
	// lastHeldPurge: when maybePurge last looked for held rows past the
	// hold limit.
	lastHeldPurge time.Time
	closeOnce     sync.Once

	tel     *telemetry.Delivery
	backlog metric.Registration // nil if the callback could not be registered
}

var _ callevent.Sink = (*Inbox)(nil)

// A Resumer is a sink that keeps the events of a call in memory until it
// decides the call, as match.Engine does. An Inbox in front of one holds
// each delivered event whose call is still Undecided until Settle says the
// call is done, and resumes the held events (Resume, with the time each
// arrived) when it starts, so a restart or another process continues the
// calls in progress; and only one Inbox among the processes sharing the
// database delivers at a time (InboxConfig.LeaderLease), so that every
// event of a call reaches one sink.
type Resumer interface {
	callevent.Sink
	// Resume delivers an event the sink had been given before, which
	// arrived at arrived.
	Resume(ctx context.Context, e callevent.Event, arrived time.Time) error
	// Undecided reports whether e's call still needs its events after e
	// was delivered.
	Undecided(e callevent.Event) bool
}

// callKeyOf is the call_key of e: provider, account and call id.
func callKeyOf(e callevent.Event) string {
	return e.Provider + "\x1f" + e.Account + "\x1f" + e.CallID
}

// inboxOp is one write for the group commit: an event to insert, or the
// result of a delivery.
type inboxOp struct {
	kind int
	// insert
	ctx     context.Context
	eventID string
	callKey string // also of opSettle
	ev      callevent.Event
	event   []byte
	done    chan error
	// results
	seq       int64
	attempts  int       // after this failure
	state     int       // after this failure
	at        time.Time // next due time (failure), or when delivered or settled
	lastError string
	// claim
	claimed chan claimResult
}

type claimResult struct {
	rows []claimed
	err  error
}

const (
	opInsert = iota
	opDelivered
	opFailed
	opRelease // give a claimed row back untouched (Close)
	opClaim   // claim due rows for the workers
	opSettle  // a Resumer's call is settled: its held rows are done
)

// claimed is a row to deliver: one a claim returned, or one this Inbox
// has just committed.
type claimed struct {
	seq      int64
	attempts int
	event    callevent.Event
	arrived  time.Time // when it was committed
	bad      error     // the stored event does not decode
	// parent is the span of the request that committed the row, for rows
	// this Inbox delivers from memory; invalid for rows claimed back.
	parent trace.SpanContext
}

// NewInbox starts an Inbox that commits events to db and delivers them to
// sink. Rows committed by an earlier process are delivered too.
func NewInbox(db *DB, sink callevent.Sink, cfg InboxConfig) (*Inbox, error) {
	if db == nil {
		return nil, errors.New("sqlstore: NewInbox: nil DB")
	}
	if sink == nil {
		return nil, errors.New("sqlstore: NewInbox: nil sink")
	}
	if cfg.Workers < 0 || cfg.MaxBatch < 0 || cfg.MaxAttempts < 0 || cfg.Lease < 0 || cfg.PollInterval < 0 || cfg.Retention < 0 ||
		cfg.HoldLimit < 0 || cfg.LeaderLease < 0 {
		return nil, errors.New("sqlstore: NewInbox: negative setting")
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultInboxWorkers
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultInboxMaxBatch
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultInboxMaxAttempts
	}
	if cfg.Backoff == nil {
		cfg.Backoff = defaultInboxBackoff
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultInboxLease
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultInboxPollInterval
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultInboxRetention
	}
	if cfg.HoldLimit == 0 {
		cfg.HoldLimit = DefaultInboxHoldLimit
	}
	if cfg.LeaderLease == 0 {
		cfg.LeaderLease = DefaultInboxLeaderLease
	}
	if cfg.Now == nil {
		cfg.Now = db.cfg.now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	in := &Inbox{
		db:         db,
		sink:       sink,
		cfg:        cfg,
		owner:      newToken(),
		ops:        make(chan *inboxOp, cfg.MaxBatch),
		book:       make(chan *inboxOp, cfg.MaxBatch),
		wake:       make(chan struct{}, 1),
		claimDone:  make(chan struct{}),
		writerDone: make(chan struct{}),
		bookDone:   make(chan struct{}),
	}
	in.admit, _ = sink.(webhook.Admitter)
	in.holder, _ = sink.(Resumer)
	in.tel = telemetry.NewDelivery(cfg.MeterProvider, cfg.TracerProvider)
	pending := telemetry.Attrs(telemetry.DeliveryKey.String(telemetry.DeliveryInbox), telemetry.StateKey.String("pending"))
	dead := telemetry.Attrs(telemetry.DeliveryKey.String(telemetry.DeliveryInbox), telemetry.StateKey.String("dead"))
	reg, err := in.tel.Meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		n, err := in.Pending(ctx)
		if err != nil {
			return err
		}
		d, err := in.Dead(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(in.tel.Backlog, int64(n), pending)
		o.ObserveInt64(in.tel.Backlog, int64(d), dead)
		return nil
	}, in.tel.Backlog)
	if err == nil {
		in.backlog = reg
	}
	in.claimCtx, in.stopClaim = context.WithCancel(context.Background())
	in.deliverCtx, in.cancelDel = context.WithCancel(context.Background())
	in.work = make([]chan []claimed, cfg.Workers)
	for i := range in.work {
		in.work[i] = make(chan []claimed, 1) // few rows in hand: the rest stay claimable by others
	}
	go in.writeLoop()
	go in.bookLoop()
	go in.claimLoop()
	in.workers.Add(cfg.Workers)
	for i := range cfg.Workers {
		go in.workLoop(in.work[i])
	}
	return in, nil
}

func defaultInboxBackoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(max(n-1, 0), 9)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

// claimLimit is how many rows one claim takes.
func (in *Inbox) claimLimit() int { return in.cfg.Workers * 16 }

// HandleEvent implements callevent.Sink: it commits e to the inbox and
// returns nil once the commit is durable (as the database's synchronous
// setting makes it). If the sink is a webhook.Admitter, Admit is asked
// first and its error returned. A failed commit is an error wrapping
// webhook.ErrUnavailable and after Close one wrapping webhook.ErrClosed
// (a webhook.Handler answers both with 503, so the provider redelivers).
// An event whose ID is already in the inbox is not committed again.
func (in *Inbox) HandleEvent(ctx context.Context, e callevent.Event) error {
	// Its MarshalJSON, not json.Marshal: that would check and compact the
	// method's output, already compact, once more (half the cost).
	b, err := e.MarshalJSON()
	if err != nil {
		return fmt.Errorf("sqlstore: inbox: encode event %s: %w", e.ID, err)
	}
	in.mu.RLock()
	if in.closed {
		in.mu.RUnlock()
		return fmt.Errorf("sqlstore: inbox: %w", webhook.ErrClosed)
	}
	// A Resumer's room is asked where it runs: in the lease holder.
	if in.admit != nil && (in.holder == nil || in.isLeader.Load()) {
		if err := in.admit.Admit(ctx, e); err != nil {
			in.mu.RUnlock()
			return fmt.Errorf("sqlstore: inbox: sink refused event %s: %w", e.ID, err)
		}
	}
	op := &inboxOp{kind: opInsert, ctx: ctx, eventID: e.ID, callKey: callKeyOf(e), ev: e, event: b, done: make(chan error, 1)}
	in.entering.Add(1)
	select {
	case in.ops <- op:
		in.entering.Add(-1)
	case <-ctx.Done():
		in.entering.Add(-1)
		in.mu.RUnlock()
		return ctx.Err()
	}
	in.mu.RUnlock()
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		// The event may still be committed; a redelivery is absorbed by
		// its ID.
		return ctx.Err()
	}
}

// writeLoop is the group commit of the events: it commits those that
// arrived while the previous transaction ran, up to MaxBatch at once, and
// runs the claims after them, so that a claim sees every event committed
// before it. Delivery
// results and settled calls are bookLoop's: a webhook waits for its
// event's commit only, never for bookkeeping, and on PostgreSQL the events
// of a group without a claim are one statement that commits itself (one
// round trip; the writer was busy 97% of the time under load with the
// bookkeeping, a savepoint and BEGIN and COMMIT in its transactions).
func (in *Inbox) writeLoop() {
	defer close(in.writerDone)
	batch := make([]*inboxOp, 0, in.cfg.MaxBatch)
	last := 0
	for {
		op, ok := <-in.ops
		if !ok {
			return
		}
		batch = append(batch[:0], op)
		more := true
		for spin := 0; more && len(batch) < in.cfg.MaxBatch; spin++ {
			batch, more = drain(in.ops, batch, in.cfg.MaxBatch)
			// Callers on their way in join this transaction: let them
			// run (a few yields, no timer).
			if spin >= 8 || in.entering.Load() == 0 {
				break
			}
			runtime.Gosched()
		}
		// The callers of the last transaction come back with their next
		// events: when it carried several, wait a little for as many
		// (PostgreSQL's commit_delay, bounded by groupLinger).
		if more && last > 1 {
			batch = gather(in.ops, batch, min(last, in.cfg.MaxBatch), groupLinger)
		}
		last = len(batch)
		in.commitEvents(batch)
	}
}

// groupLinger bounds how long the writer waits for the callers of its
// last transaction to bring their next events.
const groupLinger = 200 * time.Microsecond

// bookLoop commits the bookkeeping (delivery results, settled calls) that
// arrives within bookLinger of its first write, up to MaxBatch writes at
// once.
func (in *Inbox) bookLoop() {
	defer close(in.bookDone)
	batch := make([]*inboxOp, 0, in.cfg.MaxBatch)
	for op := range in.book {
		in.commitBook(gather(in.book, append(batch[:0], op), in.cfg.MaxBatch, bookLinger))
	}
}

// bookLinger is how long bookLoop gathers bookkeeping for one transaction.
// Nobody waits for it (a result not yet recorded is at worst delivered
// again, a call not yet settled resumed again, and both are idempotent),
// so it rides in few commits: for the reference gateway's 60,000 events
// under load, 900 transactions in place of 11,000, each of which was
// mostly a commit of its own on SQLite.
const bookLinger = 20 * time.Millisecond

// gather appends to batch what ch brings within d, up to limit, and
// returns early when ch is closed.
func gather(ch chan *inboxOp, batch []*inboxOp, limit int, d time.Duration) []*inboxOp {
	if len(batch) >= limit {
		return batch
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for len(batch) < limit {
		select {
		case op, ok := <-ch:
			if !ok {
				return batch
			}
			batch = append(batch, op)
		case <-t.C:
			return batch
		}
	}
	return batch
}

// drain appends the ops waiting in ch to batch, up to limit; open is
// false when ch is closed.
func drain(ch chan *inboxOp, batch []*inboxOp, limit int) (_ []*inboxOp, open bool) {
	for len(batch) < limit {
		select {
		case op, ok := <-ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, op)
		default:
			return batch, true
		}
	}
	return batch, true
}

// commitEvents commits the events of batch and runs its claim, if any,
// in one transaction, and answers their callers. The claim comes after
// the events: a claim that follows an event's commit sees it, so the
// rows committed before this Inbox held the lease are claimed, in order,
// before it delivers those it committed since.
func (in *Inbox) commitEvents(batch []*inboxOp) {
	inserts := make([]*inboxOp, 0, len(batch))
	var claim *inboxOp
	var extraClaims []*inboxOp // claimers beyond the first get no rows: one claim per transaction
	for _, op := range batch {
		switch {
		case op.kind == opClaim && claim == nil:
			claim = op
		case op.kind == opClaim:
			extraClaims = append(extraClaims, op)
		case op.ctx.Err() != nil:
			op.done <- op.ctx.Err() // the caller has gone
		default:
			inserts = append(inserts, op)
		}
	}
	if len(inserts) == 0 && claim == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), inboxWriteTimeout)
	defer cancel()
	now := in.cfg.Now().UnixNano()
	// This Inbox delivers what it commits unless another holds the lease.
	deliverHere := in.holder == nil || in.isLeader.Load()
	var local, got []claimed
	// The events come first: on PostgreSQL an insert may wait for a
	// transaction that updates a row with its ID (another instance marking
	// its copy delivered); the claim after them skips locked rows and
	// waits for nobody.
	write := func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if len(inserts) > 0 {
			if local, err = in.insertInbox(ctx, tx, inserts, now, deliverHere); err != nil {
				return err
			}
		}
		if claim != nil {
			got, err = in.claimRows(ctx, tx)
		}
		return err
	}
	var err error
	if in.db.writes == nil && claim == nil && len(inserts) <= insertChunk {
		err = write(ctx, nil) // one statement, which commits itself
	} else {
		err = in.db.inTx(ctx, write)
	}
	if err != nil {
		err = fmt.Errorf("%w: sqlstore: inbox commit: %w", webhook.ErrUnavailable, err)
		if len(inserts) > 0 && in.holder != nil {
			in.recheck.Store(true)
		}
	}
	// Handed out before the callers learn of the commit, so a Close that
	// follows finds them (and gives them back).
	if err == nil && len(local) > 0 {
		in.localMu.Lock()
		closed := in.localClosed
		if !closed {
			in.local = append(in.local, local...)
		}
		in.localMu.Unlock()
		if closed {
			in.giveBack(local) // committed while Close ran: for the next Inbox
		} else {
			in.signal()
		}
	}
	for _, op := range inserts {
		op.done <- err
	}
	if claim != nil {
		if err != nil {
			got = nil
		}
		claim.claimed <- claimResult{got, err}
	}
	for _, op := range extraClaims {
		op.claimed <- claimResult{nil, err}
	}
}

// commitBook writes the bookkeeping of batch in one transaction.
func (in *Inbox) commitBook(batch []*inboxOp) {
	now := in.cfg.Now()
	// The rows delivered or settled are stamped with the first such
	// moment of the batch, not the commit's: their retention counts from
	// then.
	done := now
	var delivered []int64
	var settle []string
	var others []*inboxOp
	for _, op := range batch {
		switch op.kind {
		case opDelivered:
			delivered = append(delivered, op.seq)
		case opSettle:
			settle = append(settle, op.callKey)
		default:
			others = append(others, op)
			continue
		}
		if !op.at.IsZero() && op.at.Before(done) {
			done = op.at
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), inboxWriteTimeout)
	defer cancel()
	err := in.db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for chunk := range slices.Chunk(delivered, 512) {
			args, list := listArgs([]any{done.UnixNano(), in.owner}, chunk)
			q := "UPDATE cb_inbox SET state = " + inboxDeliveredSQL + ", at = $1, owner = '' WHERE owner = $2 AND seq IN (" + list + ")"
			if _, err := in.db.txExec(ctx, tx, q, args...); err != nil {
				return fmt.Errorf("mark delivered: %w", err)
			}
		}
		if err := in.settleRows(ctx, tx, settle, done.UnixNano()); err != nil {
			return err
		}
		for _, op := range others {
			var err error
			if op.kind == opRelease {
				_, err = in.db.txExec(ctx, tx, "UPDATE cb_inbox SET at = $1, owner = '' WHERE seq = $2 AND owner = $3",
					now.UnixNano(), op.seq, in.owner)
			} else {
				_, err = in.db.txExec(ctx, tx, "UPDATE cb_inbox SET state = $1, attempts = $2, at = $3, owner = '', last_error = $4"+
					" WHERE seq = $5 AND owner = $6", op.state, op.attempts, op.at.UnixNano(), op.lastError, op.seq, in.owner)
			}
			if err != nil {
				return fmt.Errorf("record delivery result: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("sqlstore: inbox commit: %w", err)
		if len(delivered)+len(others) > 0 {
			in.cfg.Logger.Error("sqlstore: inbox: delivery results not recorded; the rows are delivered again when their lease ends",
				"rows", len(delivered)+len(others), "error", err)
		}
		if len(settle) > 0 {
			in.cfg.Logger.Warn("sqlstore: inbox: settled calls not recorded; their events are resumed by the next start",
				"calls", len(settle), "error", err)
		}
	}
	if err == nil && len(others) > 0 {
		in.wakeUp() // a retry may be due soon
	}
}

// insertInbox inserts ops (distinct event IDs) as pending rows due at
// now. With deliverHere they are this Inbox's at once (held for a
// Resumer, leased otherwise) and returned, to be delivered from memory
// after the commit; an ID the inbox has already is neither inserted nor
// returned.
func (in *Inbox) insertInbox(ctx context.Context, tx *sql.Tx, ops []*inboxOp, now int64, deliverHere bool) ([]claimed, error) {
	seen := make(map[string]bool, len(ops))
	rows := make([]*inboxOp, 0, len(ops))
	for _, op := range ops {
		if !seen[op.eventID] {
			seen[op.eventID] = true
			rows = append(rows, op)
		}
	}
	// In event ID order, so that two processes inserting the same IDs
	// take their index locks in the same order (no deadlock on PostgreSQL).
	// Events committed together arrived concurrently: they have no order.
	slices.SortFunc(rows, func(a, b *inboxOp) int { return strings.Compare(a.eventID, b.eventID) })
	owner, at := "", now
	if deliverHere {
		owner, at = in.owner, in.leaseEnd(time.Unix(0, now))
	}
	var local []claimed
	for chunk := range slices.Chunk(rows, insertChunk) {
		// Padded with the last row again (ON CONFLICT skips it): see pad.
		padded := pad(chunk)
		n := len(padded)
		args := make([]any, 0, 3+3*n)
		args = append(args, now, owner, at)
		for _, op := range padded {
			args = append(args, op.eventID, string(op.event), op.callKey)
		}
		if !deliverHere {
			if _, err := in.db.txExec(ctx, tx, insertInboxSQL(n, false), args...); err != nil {
				return nil, fmt.Errorf("insert events: %w", err)
			}
			continue
		}
		rs, err := in.db.txQuery(ctx, tx, insertInboxSQL(n, true), args...)
		if err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
		byID := make(map[string]*inboxOp, len(chunk))
		for _, op := range chunk {
			byID[op.eventID] = op
		}
		for rs.Next() {
			var seq int64
			var id string
			if err := rs.Scan(&seq, &id); err != nil {
				rs.Close()
				return nil, fmt.Errorf("insert events: %w", err)
			}
			if op := byID[id]; op != nil {
				local = append(local, claimed{seq: seq, event: op.ev, arrived: time.Unix(0, now).UTC(),
					parent: trace.SpanContextFromContext(op.ctx)})
			}
		}
		err = rs.Err()
		rs.Close()
		if err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
	}
	// In commit order for the workers.
	slices.SortFunc(local, func(a, b claimed) int { return cmp.Compare(a.seq, b.seq) })
	return local, nil
}

// insertChunk is how many events one INSERT carries at most.
const insertChunk = 256

// leaseEnd is the due time of a row this Inbox claims at now: held for a
// Resumer, the end of the lease otherwise.
func (in *Inbox) leaseEnd(now time.Time) int64 {
	if in.holder != nil {
		return heldAt
	}
	return now.Add(in.cfg.Lease).UnixNano()
}

// insertInboxSQL is the INSERT of n rows: $1 the time, $2 the owner, $3
// the due time, then each row's event ID, event and call key.
func insertInboxSQL(n int, returning bool) string {
	var q strings.Builder
	q.WriteString("INSERT INTO cb_inbox (event_id, event, state, attempts, at, owner, last_error, created_at, call_key) VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		k := 4 + 3*i
		fmt.Fprintf(&q, "($%d, $%d, 0, 0, $3, $2, '', $1, $%d)", k, k+1, k+2)
	}
	q.WriteString(" ON CONFLICT (event_id) DO NOTHING")
	if returning {
		q.WriteString(" RETURNING seq, event_id")
	}
	return q.String()
}

// settleRows marks the rows this Inbox holds of the calls delivered. The
// partial index cb_inbox_call (pending rows by call) serves the WHERE,
// whose state is a literal for the planners to see that; cb_inbox_due,
// whose predicate the held rows' at contradicts, cannot.
func (in *Inbox) settleRows(ctx context.Context, tx *sql.Tx, keys []string, now int64) error {
	const set = "UPDATE cb_inbox SET state = " + inboxDeliveredSQL + ", at = $1, owner = ''" +
		" WHERE state = " + inboxPendingSQL + " AND at = " + heldAtSQL + " AND owner = $2 AND call_key IN ("
	for keys := range slices.Chunk(keys, 512) {
		args, list := listArgs([]any{now, in.owner}, keys)
		if _, err := in.db.txExec(ctx, tx, set+list+")", args...); err != nil {
			return fmt.Errorf("settle calls: %w", err)
		}
	}
	return nil
}

// listArgs is first followed by xs padded (see pad), and the placeholders
// of xs's values for an IN list.
func listArgs[T any](first []any, xs []T) (args []any, list string) {
	xs = pad(xs)
	args = slices.Grow(first, len(xs))
	for _, x := range xs {
		args = append(args, x)
	}
	return args, placeholders(len(first)+1, len(xs))
}

// Settle tells the Inbox that a Resumer sink is done with a call (it
// decided it): the call's held events are not resumed any more, and are
// purged after InboxConfig.Retention. match.WithOnDecision is where an
// engine calls it. It does not wait for the write, which is committed
// with the bookkeeping gathered over the next bookLinger; after Close it
// writes at once.
func (in *Inbox) Settle(ctx context.Context, provider, account, callID string) error {
	key := provider + "\x1f" + account + "\x1f" + callID
	in.mu.RLock()
	if !in.closed {
		defer in.mu.RUnlock()
		select {
		case in.book <- &inboxOp{kind: opSettle, callKey: key, at: in.cfg.Now()}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	in.mu.RUnlock()
	return wrap(in.db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return in.settleRows(ctx, tx, []string{key}, in.cfg.Now().UnixNano())
	}), "inbox settle")
}

// placeholders returns "$from, $from+1, …" (n of them).
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(from + i))
	}
	return b.String()
}

func (in *Inbox) wakeUp() {
	in.claimNow.Store(true)
	in.signal()
}

// signal wakes the claim loop for the rows committed here (in.local).
func (in *Inbox) signal() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// claimLoop claims due rows and hands each call's rows to one worker; it
// also purges delivered rows past the retention.
func (in *Inbox) claimLoop() {
	defer close(in.claimDone)
	defer func() {
		for _, w := range in.work {
			close(w)
		}
	}()
	tick := time.NewTicker(min(in.cfg.PollInterval, in.cfg.LeaderLease/3))
	defer tick.Stop()
	var lastClaim time.Time
	full := false
	for {
		if in.holder != nil && !in.lead() {
			in.takeLocal() // dropped: they stay in the database for the next lease holder
			select {
			case <-in.claimCtx.Done():
				return
			case <-tick.C:
			}
			continue
		}
		if in.holder != nil && in.recheck.Load() {
			if err := in.takeOver(in.claimCtx); err == nil {
				in.recheck.Store(false)
				in.claimNow.Store(true)
			}
		}
		in.dispatch(in.takeLocal())
		// The database is asked for due rows (retries, other processes'
		// rows, rows left by a dead process) every PollInterval, or at
		// once when asked; what this Inbox commits it delivers from memory.
		if full || in.claimNow.Swap(false) || time.Since(lastClaim) >= in.cfg.PollInterval {
			lastClaim = time.Now()
			n, err := in.claim()
			if err != nil && in.claimCtx.Err() == nil {
				in.cfg.Logger.Error("sqlstore: inbox: claim failed", "error", err)
			}
			full = err == nil && n == in.claimLimit()
			in.maybePurge()
		}
		if in.claimCtx.Err() != nil {
			return
		}
		if full || in.hasLocal() {
			continue
		}
		select {
		case <-in.claimCtx.Done():
			return
		case <-in.wake:
		case <-tick.C:
		}
	}
}

// takeLocal returns the rows committed here that wait for delivery.
func (in *Inbox) takeLocal() []claimed {
	in.localMu.Lock()
	defer in.localMu.Unlock()
	l := in.local
	in.local = nil
	return l
}

func (in *Inbox) hasLocal() bool {
	in.localMu.Lock()
	defer in.localMu.Unlock()
	return len(in.local) > 0
}

// giveBack makes rows this Inbox committed for itself due for any Inbox
// (the writer's own path, for rows committed while Close ran).
func (in *Inbox) giveBack(rows []claimed) {
	ctx, cancel := context.WithTimeout(context.Background(), inboxWriteTimeout)
	defer cancel()
	for _, c := range rows {
		if _, err := in.db.exec(ctx, "UPDATE cb_inbox SET at = $1, owner = '' WHERE seq = $2 AND owner = $3",
			in.cfg.Now().UnixNano(), c.seq, in.owner); err != nil {
			in.cfg.Logger.Warn("sqlstore: inbox: row not given back; it is delivered when its lease ends", "seq", c.seq, "error", err)
		}
	}
}

// lead takes or renews the lease of delivery to the Resumer and reports
// whether this Inbox holds it. Taking it, the Inbox first takes over the
// rows other processes had claimed or held: claimed again, they are
// delivered with Resume and the time each arrived, so the sink resumes
// the calls in progress.
func (in *Inbox) lead() bool {
	ctx := in.claimCtx
	now := in.cfg.Now()
	if in.leader && now.Before(in.renewAt) {
		return true
	}
	ok, err := in.takeLease(ctx, now)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			in.cfg.Logger.Error("sqlstore: inbox: delivery lease not renewed", "error", err)
		}
		if in.leader && now.Before(in.leaseUntil) {
			return true
		}
		in.setLeader(false)
		return false
	case !ok:
		if in.leader {
			in.cfg.Logger.Error("sqlstore: inbox: delivery lease lost to another process")
		}
		in.setLeader(false)
		return false
	}
	in.leaseUntil, in.renewAt = now.Add(in.cfg.LeaderLease), now.Add(in.cfg.LeaderLease/3)
	if !in.leader {
		if err := in.takeOver(ctx); err != nil {
			if ctx.Err() == nil {
				in.cfg.Logger.Error("sqlstore: inbox: taking over the rows of the last lease holder failed; retrying", "error", err)
			}
			in.renewAt = now // retry at the next tick
			return false
		}
		in.setLeader(true)
		in.claimNow.Store(true)
	}
	return true
}

func (in *Inbox) setLeader(v bool) {
	in.leader = v
	in.isLeader.Store(v)
}

// takeLease takes the lease of delivery, or renews it, unless another
// Inbox holds it.
func (in *Inbox) takeLease(ctx context.Context, now time.Time) (bool, error) {
	res, err := in.db.exec(ctx, "INSERT INTO cb_leases (name, owner, expires_at) VALUES ($1, $2, $3)"+
		" ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at"+
		" WHERE cb_leases.owner = excluded.owner OR cb_leases.expires_at < $4",
		leaseInbox, in.owner, now.Add(in.cfg.LeaderLease).UnixNano(), now.UnixNano())
	if err != nil {
		return false, wrap(err, "inbox lease")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(err, "inbox lease")
	}
	return n == 1, nil
}

// takeOver makes every claimed or held row due now: those of the last
// lease holder, and this Inbox's own when it takes the lease back after
// losing it (rows it committed then were left undelivered; the sink drops
// the events it has already).
func (in *Inbox) takeOver(ctx context.Context) error {
	res, err := in.db.exec(ctx, "UPDATE cb_inbox SET at = $1, owner = '' WHERE state = "+inboxPendingSQL+" AND owner <> ''",
		in.cfg.Now().UnixNano())
	if err != nil {
		return wrap(err, "inbox take over")
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		in.cfg.Logger.Info("sqlstore: inbox: took over the events of the last lease holder", "events", n)
	}
	return nil
}

// claim leases up to claimLimit due rows to this Inbox and dispatches
// them; it returns how many it claimed.
func (in *Inbox) claim() (int, error) {
	// The events' writer claims in its next transaction, after its
	// events: rows committed before are claimed, those of that
	// transaction too (see commitEvents).
	op := &inboxOp{kind: opClaim, claimed: make(chan claimResult, 1)}
	in.ops <- op
	res := <-op.claimed
	if res.err != nil {
		return 0, res.err
	}
	in.dispatch(res.rows)
	return len(res.rows), nil
}

// dispatch hands rows to the workers: oldest first, the events of one
// call to one worker, in order. It waits while a worker is behind; when
// closing, it gives the rows back.
func (in *Inbox) dispatch(got []claimed) {
	if len(got) == 0 {
		return
	}
	slices.SortFunc(got, func(a, b claimed) int { return cmp.Compare(a.seq, b.seq) })
	groups := make(map[int][]claimed)
	for _, c := range got {
		w := in.workerOf(c.event)
		groups[w] = append(groups[w], c)
	}
	for w, g := range groups {
		select {
		case in.work[w] <- g:
		case <-in.claimCtx.Done():
			for _, c := range g {
				in.send(&inboxOp{kind: opRelease, seq: c.seq})
			}
		}
	}
}

// claimRows leases up to claimLimit due rows to this Inbox in tx.
func (in *Inbox) claimRows(ctx context.Context, tx *sql.Tx) ([]claimed, error) {
	now := in.cfg.Now()
	lock := ""
	if in.db.dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := in.db.txQuery(ctx, tx, "UPDATE cb_inbox SET at = $1, owner = $2 WHERE seq IN"+
		" (SELECT seq FROM cb_inbox WHERE state = $3 AND at <= $4 AND "+notHeldSQL+" ORDER BY at, seq"+limitClause(in.claimLimit())+lock+")"+
		" RETURNING seq, attempts, event, created_at",
		in.leaseEnd(now), in.owner, inboxPending, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	defer rows.Close()
	var got []claimed
	for rows.Next() {
		var c claimed
		var ev string
		var created int64
		if err := rows.Scan(&c.seq, &c.attempts, &ev, &created); err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
		c.arrived = fromNanos(created)
		if err := json.Unmarshal([]byte(ev), &c.event); err != nil {
			c.bad = fmt.Errorf("sqlstore: inbox: stored event does not decode: %w", err)
		}
		got = append(got, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return got, nil
}

// workerOf picks the worker of e's call.
func (in *Inbox) workerOf(e callevent.Event) int {
	h := fnv.New32a()
	h.Write([]byte(e.Provider))
	h.Write([]byte{0})
	h.Write([]byte(e.Account))
	h.Write([]byte{0})
	h.Write([]byte(e.CallID))
	return int(h.Sum32() % uint32(len(in.work)))
}

// maybePurge deletes delivered rows past the retention, at most once per
// PollInterval, and held rows past the hold limit, at most once per
// heldPurgeInterval (finding them reads every held row).
func (in *Inbox) maybePurge() {
	now := in.cfg.Now()
	if now.Sub(in.lastPurge) < in.cfg.PollInterval && !in.lastPurge.After(now) {
		return
	}
	in.lastPurge = now
	_, err := in.purge(in.claimCtx, inboxDelivered, now.Add(-in.cfg.Retention))
	if err == nil && (now.Sub(in.lastHeldPurge) >= heldPurgeInterval || in.lastHeldPurge.After(now)) {
		in.lastHeldPurge = now
		_, err = in.purgeHeld(in.claimCtx, now.Add(-in.cfg.HoldLimit))
	}
	if err != nil && in.claimCtx.Err() == nil {
		in.cfg.Logger.Error("sqlstore: inbox: purge failed", "error", err)
	}
}

// heldPurgeInterval is how often the workers look for held rows past the
// hold limit.
const heldPurgeInterval = time.Minute

// workLoop delivers the groups it is handed, in order.
func (in *Inbox) workLoop(ch chan []claimed) {
	defer in.workers.Done()
	for g := range ch {
		for _, c := range g {
			if in.claimCtx.Err() != nil {
				// Closing: give the rows not started back at once.
				in.send(&inboxOp{kind: opRelease, seq: c.seq})
				continue
			}
			in.deliver(c)
		}
	}
}

// deliver gives c to the sink and queues the result for the writer.
func (in *Inbox) deliver(c claimed) {
	ctx := in.deliverCtx
	if c.parent.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, c.parent)
	}
	ctx, span := in.tel.Tracer.Start(ctx, "sqlstore.Inbox deliver", trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	err := c.bad
	if err == nil {
		err = in.handle(ctx, c)
	}
	if err == nil {
		in.tel.Delivered(ctx, span, c.event, telemetry.DeliveryInbox, c.arrived, c.attempts+1, nil)
		// A Resumer's row stays held (claimed at heldAt) while its call
		// is undecided: Settle marks it delivered.
		if in.holder == nil || !in.holder.Undecided(c.event) {
			in.send(&inboxOp{kind: opDelivered, seq: c.seq, at: in.cfg.Now()})
		}
		return
	}
	if in.deliverCtx.Err() != nil && c.bad == nil {
		// Close gave up waiting: not the event's fault.
		in.send(&inboxOp{kind: opRelease, seq: c.seq})
		return
	}
	n := c.attempts + 1
	op := &inboxOp{kind: opFailed, seq: c.seq, attempts: n, state: inboxPending, lastError: clipError(err.Error())}
	now := in.cfg.Now()
	span.SetStatus(codes.Error, "delivery failed")
	if n >= in.cfg.MaxAttempts || c.bad != nil {
		op.state, op.at = inboxDead, now
		in.tel.Delivered(ctx, span, c.event, telemetry.DeliveryInbox, c.arrived, n, err)
		in.cfg.Logger.ErrorContext(ctx, "sqlstore: inbox: event dead-lettered", "seq", c.seq, "event_id", c.event.ID,
			"provider", c.event.Provider, "account", c.event.Account, "call_id", c.event.CallID, "attempts", n, "error", err)
	} else {
		op.at = now.Add(in.cfg.Backoff(n))
		in.cfg.Logger.WarnContext(ctx, "sqlstore: inbox: delivery failed, retrying", "seq", c.seq, "event_id", c.event.ID,
			"provider", c.event.Provider, "account", c.event.Account, "call_id", c.event.CallID, "attempt", n, "error", err)
	}
	in.send(op)
}

// handle calls the sink (a Resumer's Resume, with the time the event
// arrived), turning a panic into an error.
func (in *Inbox) handle(ctx context.Context, c claimed) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlstore: inbox: sink panic: %v", p)
		}
	}()
	if in.holder != nil {
		return in.holder.Resume(ctx, c.event, c.arrived)
	}
	return in.sink.HandleEvent(ctx, c.event)
}

// send queues a delivery result for the bookkeeping writer, which runs
// until every worker has stopped.
func (in *Inbox) send(op *inboxOp) { in.book <- op }

// clipError keeps at most MaxLastErrorLen bytes of valid UTF-8.
func clipError(s string) string {
	if len(s) > MaxLastErrorLen {
		s = s[:MaxLastErrorLen]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.ToValidUTF8(s, "?")
}

// Close stops the Inbox: HandleEvent returns an error wrapping
// webhook.ErrClosed from now on, workers finish the deliveries in
// progress, give the rows they hold but have not started back to the
// database, and stop. If ctx ends first, deliveries in progress are
// canceled (their rows are given back, not counted as failed attempts) and
// Close returns ctx's error once they returned: the sink must honour its
// context. Pending rows stay in the database for the next Inbox, and the
// lease of delivery to a Resumer stays held until it ends (see
// ReleaseLease). The DB stays open.
func (in *Inbox) Close(ctx context.Context) error {
	var err error
	in.closeOnce.Do(func() {
		in.mu.Lock()
		in.closed = true
		in.mu.Unlock()
		if in.backlog != nil {
			_ = in.backlog.Unregister()
		}
		in.stopClaim()
		<-in.claimDone
		in.localMu.Lock()
		rest := in.local
		in.local, in.localClosed = nil, true
		in.localMu.Unlock()
		for _, c := range rest { // committed, not handed out: back to the database
			in.send(&inboxOp{kind: opRelease, seq: c.seq})
		}
		// The lease is kept until it ends or ReleaseLease gives it up: the
		// sink may still decide the calls it holds (match.Engine.Close
		// does), and another process resuming them now would decide them
		// twice.
		in.setLeader(false)
		done := make(chan struct{})
		go func() { in.workers.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			in.cancelDel()
			<-done
			err = ctx.Err()
		}
		// No sender is left: HandleEvent and Settle see closed, workers
		// and the claim loop stopped.
		close(in.ops)
		close(in.book)
		<-in.writerDone
		<-in.bookDone
		in.cancelDel()
	})
	return err
}

// ReleaseLease gives up the lease of delivery to a Resumer that this
// closed Inbox holds, so that another process takes over at once instead
// of when the lease ends (InboxConfig.LeaderLease): a graceful restart or
// handover then delays no delivery. Call it after Close, once the sink has
// acted on what it holds (match.Engine.Close): the process that takes
// over resumes the calls still held, and would decide twice a call the
// sink decided after it. Without a lease it does nothing; before Close it
// is an error.
func (in *Inbox) ReleaseLease(ctx context.Context) error {
	select {
	case <-in.claimDone:
	default:
		return errors.New("sqlstore: inbox: ReleaseLease before Close")
	}
	_, err := in.db.exec(ctx, "DELETE FROM cb_leases WHERE name = $1 AND owner = $2", leaseInbox, in.owner)
	return wrap(err, "inbox release lease")
}

// Pending reports how many events wait for delivery (retries included),
// in this Inbox and every other on the database: a readiness probe can
// compare it with a limit.
func (in *Inbox) Pending(ctx context.Context) (int, error) {
	var n int
	if err := in.db.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM cb_inbox WHERE state = $1 AND "+notHeldSQL, inboxPending).Scan(&n); err != nil {
		return 0, wrap(err, "inbox pending")
	}
	return n, nil
}

// Dead reports how many events are dead letters (delivery given up), in
// this Inbox and every other on the database.
func (in *Inbox) Dead(ctx context.Context) (int, error) {
	var n int
	if err := in.db.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM cb_inbox WHERE state = $1 AND "+notHeldSQL, inboxDead).Scan(&n); err != nil {
		return 0, wrap(err, "inbox dead letters")
	}
	return n, nil
}

// DeadLetters lists the dead events oldest first (by ID): those after the
// one with ID after (0: from the oldest), at most limit of them
// (DefaultPageLimit when 0, at most MaxPageLimit). Unlike an offset, that
// place holds while dead letters are replayed and purged, so an operator
// who replays each page as it comes meets every dead letter once.
func (in *Inbox) DeadLetters(ctx context.Context, after int64, limit int) ([]DeadLetter, error) {
	limit, _ = Page{Limit: limit}.bounds()
	rows, err := in.db.db.QueryContext(ctx, "SELECT seq, event, attempts, last_error, at FROM cb_inbox WHERE state = $1 AND "+notHeldSQL+
		" AND seq > $2 ORDER BY seq LIMIT $3", inboxDead, after, limit)
	if err != nil {
		return nil, wrap(err, "inbox dead letters")
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var d DeadLetter
		var ev string
		var at int64
		if err := rows.Scan(&d.ID, &ev, &d.Attempts, &d.LastError, &at); err != nil {
			return nil, wrap(err, "inbox dead letters")
		}
		if err := json.Unmarshal([]byte(ev), &d.Event); err != nil {
			return nil, fmt.Errorf("sqlstore: inbox dead letter %d: stored event does not decode: %w", d.ID, err)
		}
		d.At = fromNanos(at)
		out = append(out, d)
	}
	return out, wrap(rows.Err(), "inbox dead letters")
}

// Replay puts the dead event id back to pending with no attempts, due now,
// so a worker delivers it again. An id that is not a dead letter (unknown,
// replayed already, purged) is an error wrapping ErrNotFound.
func (in *Inbox) Replay(ctx context.Context, id int64) error {
	res, err := in.db.exec(ctx, "UPDATE cb_inbox SET state = $1, attempts = 0, at = $2, owner = '', last_error = ''"+
		" WHERE seq = $3 AND state = $4", inboxPending, in.cfg.Now().UnixNano(), id, inboxDead)
	if err != nil {
		return wrap(err, "inbox replay %d", id)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(err, "inbox replay %d", id)
	} else if n == 0 {
		return fmt.Errorf("sqlstore: inbox replay: no dead letter %d: %w", id, ErrNotFound)
	}
	in.wakeUp()
	return nil
}

// Purge deletes delivered rows older than InboxConfig.Retention, in
// batches, and returns how many it deleted. The workers call it on their
// own; it is exported for tools and tests.
func (in *Inbox) Purge(ctx context.Context) (int, error) {
	now := in.cfg.Now()
	n, err := in.purge(ctx, inboxDelivered, now.Add(-in.cfg.Retention))
	if err != nil {
		return n, err
	}
	h, err := in.purgeHeld(ctx, now.Add(-in.cfg.HoldLimit))
	return n + h, err
}

// PurgeDead deletes dead rows dead-lettered before before and returns how
// many it deleted.
func (in *Inbox) PurgeDead(ctx context.Context, before time.Time) (int, error) {
	return in.purge(ctx, inboxDead, before)
}

// purgeHeld deletes the held rows that arrived before before: their call
// was never settled.
func (in *Inbox) purgeHeld(ctx context.Context, before time.Time) (int, error) {
	res, err := in.db.exec(ctx, "DELETE FROM cb_inbox WHERE seq IN (SELECT seq FROM cb_inbox WHERE state = "+inboxPendingSQL+
		" AND at = "+heldAtSQL+" AND created_at < $1)", before.UnixNano())
	if err != nil {
		return 0, wrap(err, "inbox purge")
	}
	n, err := res.RowsAffected()
	return int(n), wrap(err, "inbox purge")
}

func (in *Inbox) purge(ctx context.Context, state int, before time.Time) (int, error) {
	n, err := in.db.deleteInBatches(ctx, "DELETE FROM cb_inbox WHERE seq IN"+
		" (SELECT seq FROM cb_inbox WHERE state = $1 AND at < $2 AND "+notHeldSQL+limitClause(purgeBatch)+")", state, before.UnixNano())
	return n, wrap(err, "inbox purge")
}
