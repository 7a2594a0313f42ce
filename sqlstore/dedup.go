package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbridge/callbridge/webhook"
)

// releaseTimeout bounds a Release, which runs even when the delivery's
// context is already canceled.
const releaseTimeout = 10 * time.Second

// Dedup returns a webhook.Dedup kept in the database, so every instance
// sharing the database deduplicates together. An event id released as done
// is remembered for ttl (ttl <= 0 means 24 hours). A claim is honoured for
// the claim timeout (WithClaimTimeout); an older one belongs to an
// instance that died mid-delivery and the next delivery takes it over.
// Expired rows are deleted by the Dedup itself, in the background at most
// once per DedupPurgeInterval (PurgeDedup does the same on demand), so the
// table holds about a ttl of events. Failures of Release and of the purge
// are logged (WithLogger).
func (d *DB) Dedup(ttl time.Duration) webhook.Dedup {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return &dedup{db: d, ttl: ttl}
}

type dedup struct {
	db  *DB
	ttl time.Duration

	mu     sync.Mutex
	owners map[string]string // event id → token of the claim this Dedup holds

	lastPurge atomic.Int64 // unix nanoseconds of the last purge started
}

// DedupPurgeInterval is how often a Dedup deletes its expired rows.
const DedupPurgeInterval = time.Minute

// Claim implements webhook.Dedup.
func (x *dedup) Claim(ctx context.Context, id string) (bool, error) {
	token := newToken()
	for range 3 {
		now := x.db.cfg.now()
		unlock, err := x.db.lockWrite(ctx)
		if err != nil {
			return false, wrap(err, "dedup claim")
		}
		var got string
		err = x.db.execRow(ctx, "INSERT INTO cb_dedup (id, done, owner, expires_at) VALUES ($1, FALSE, $2, $3)"+
			" ON CONFLICT (id) DO UPDATE SET done = FALSE, owner = excluded.owner, expires_at = excluded.expires_at"+
			" WHERE cb_dedup.expires_at <= $4 RETURNING id",
			id, token, now.Add(x.db.cfg.claimTimeout).UnixNano(), now.UnixNano()).Scan(&got)
		unlock()
		if err == nil {
			x.mu.Lock()
			if x.owners == nil {
				x.owners = make(map[string]string)
			}
			x.owners[id] = token
			x.mu.Unlock()
			return true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, wrap(err, "dedup claim")
		}
		var done bool
		err = x.db.queryRow(ctx, "SELECT done FROM cb_dedup WHERE id = $1", id).Scan(&done)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // released meanwhile: try again
		case err != nil:
			return false, wrap(err, "dedup claim")
		case done:
			return false, nil
		default:
			return false, webhook.ErrInProgress
		}
	}
	return false, fmt.Errorf("sqlstore: dedup claim: %w (the key kept changing)", webhook.ErrInProgress)
}

// Release implements webhook.Dedup. done keeps id as processed for the
// ttl; !done deletes the claim held by this Dedup, or a done row, so a
// redelivery is processed again (a live claim of another delivery is
// left alone).
func (x *dedup) Release(ctx context.Context, id string, done bool) {
	x.mu.Lock()
	token := x.owners[id]
	delete(x.owners, id)
	x.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	var err error
	if done {
		_, err = x.db.exec(ctx, "INSERT INTO cb_dedup (id, done, owner, expires_at) VALUES ($1, TRUE, $2, $3)"+
			" ON CONFLICT (id) DO UPDATE SET done = TRUE, owner = excluded.owner, expires_at = excluded.expires_at",
			id, token, x.db.cfg.now().Add(x.ttl).UnixNano())
	} else {
		_, err = x.db.exec(ctx, "DELETE FROM cb_dedup WHERE id = $1 AND (done OR owner = $2)", id, token)
	}
	if err != nil {
		x.db.cfg.logger.ErrorContext(ctx, "sqlstore: dedup release failed", "id", id, "done", done, "err", err)
	}
	x.maybePurge()
}

// maybePurge starts PurgeDedup in the background if the last one started
// DedupPurgeInterval ago or more (or in this Dedup's future: a clock set
// back).
func (x *dedup) maybePurge() {
	now := x.db.cfg.now().UnixNano()
	last := x.lastPurge.Load()
	if d := now - last; d >= 0 && d < int64(DedupPurgeInterval) || !x.lastPurge.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
		defer cancel()
		if _, err := x.db.PurgeDedup(ctx); err != nil {
			x.db.cfg.logger.Error("sqlstore: dedup purge failed; retrying later", "err", err)
		}
	}()
}

// PurgeDedup deletes expired Dedup rows (done rows past their ttl and
// claims past the claim timeout), in batches, and returns how many. A
// Dedup runs it on its own (DedupPurgeInterval); it is exported for tools
// and tests.
func (d *DB) PurgeDedup(ctx context.Context) (int, error) {
	n, err := d.deleteInBatches(ctx, "DELETE FROM cb_dedup WHERE id IN"+
		" (SELECT id FROM cb_dedup WHERE expires_at <= $1"+limitClause(purgeBatch)+")", d.cfg.now().UnixNano())
	return n, wrap(err, "purge dedup")
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
