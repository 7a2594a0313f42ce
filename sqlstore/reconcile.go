package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// HasCall reports whether the call log has the call (reconcile.Calls).
func (d *DB) HasCall(ctx context.Context, provider, account, callID string) (bool, error) {
	var one int
	err := d.queryRow(ctx, "SELECT 1 FROM cb_calls WHERE provider = $1 AND account = $2 AND call_id = $3",
		provider, account, callID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrap(err, "has call")
	}
	return true, nil
}

// Cursor returns the time saved for the reconciler name
// (reconcile.Cursors); ok is false when none is.
func (d *DB) Cursor(ctx context.Context, name string) (time.Time, bool, error) {
	var at int64
	err := d.queryRow(ctx, "SELECT at FROM cb_cursors WHERE name = $1", name).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, wrap(err, "cursor")
	}
	return time.Unix(0, at).UTC(), true, nil
}

// SetCursor saves t for the reconciler name (reconcile.Cursors).
func (d *DB) SetCursor(ctx context.Context, name string, t time.Time) error {
	var tc times
	at := tc.v("cursor", t)
	if tc.err != nil {
		return tc.err
	}
	_, err := d.exec(ctx, "INSERT INTO cb_cursors (name, at, updated_at) VALUES ($1, $2, $3)"+
		" ON CONFLICT (name) DO UPDATE SET at = excluded.at, updated_at = excluded.updated_at",
		name, at, d.cfg.now().UnixNano())
	return wrap(err, "set cursor")
}
