package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/dialer"
)

// The dialer's store (dialer.Store, schema version 11): campaigns with
// their settings as JSON, one row per target with its progress, one row
// per attempt recorded before its call is placed (the primary key makes
// an attempt unique, so a second process cannot place it again), the
// do-not-call list and the numbers worked. A campaign's targets are
// written in transactions of targetBatch rows, under a campaign row that
// is not "ready" until the last one is in; Campaign and Campaigns show
// ready campaigns only.
var _ dialer.Store = (*DB)(nil)

const (
	// targetBatch is the targets of one transaction.
	targetBatch = 5000
	// pgRows is the targets of one INSERT statement on PostgreSQL.
	pgRows = 250
	// progressPage is the targets Progress reads per query.
	progressPage = 5000
)

const targetProgressCols = "number, phone, time_zone, state, attempts, next_at, outcome, disposition"

// campaignSpec is the JSON of a campaign's settings: dialer.Campaign
// without what has columns of its own.
func campaignSpec(c dialer.Campaign) (string, error) {
	c.State, c.CreatedAt, c.UpdatedAt = 0, time.Time{}, time.Time{}
	b, err := json.Marshal(c)
	return string(b), err
}

func scanCampaign(r scanner) (dialer.Campaign, error) {
	var (
		spec             string
		state            int
		created, updated int64
	)
	if err := r.Scan(&spec, &state, &created, &updated); err != nil {
		return dialer.Campaign{}, err
	}
	var c dialer.Campaign
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		return dialer.Campaign{}, fmt.Errorf("campaign settings: %w", err)
	}
	c.State, c.CreatedAt, c.UpdatedAt = dialer.State(state), fromNanos(created), fromNanos(updated)
	return c, nil
}

func notFound(format string, args ...any) error {
	return fmt.Errorf("sqlstore: "+format+": %w", append(args, dialer.ErrNotFound)...)
}

// CreateCampaign implements dialer.Store. A campaign of many targets is
// written in several transactions; until the last commits it is not
// shown, and a create of the same id (after a crash) writes it anew.
func (d *DB) CreateCampaign(ctx context.Context, c dialer.Campaign, targets []dialer.Target) error {
	if len(targets) > dialer.MaxTargets {
		return fmt.Errorf("sqlstore: create campaign %q: %w: %d targets, more than %d", c.ID, dialer.ErrInvalid, len(targets), dialer.MaxTargets)
	}
	spec, err := campaignSpec(c)
	if err != nil {
		return wrap(err, "create campaign %q", c.ID)
	}
	var tc times
	created, updated := tc.v("created_at", c.CreatedAt), tc.v("updated_at", c.UpdatedAt)
	if tc.err != nil {
		return wrap(tc.err, "create campaign %q", c.ID)
	}
	err = d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var ready bool
		err := tx.QueryRowContext(ctx, "SELECT ready FROM cb_campaigns WHERE id = $1", c.ID).Scan(&ready)
		switch {
		case err == nil && ready:
			return fmt.Errorf("campaign %q: %w", c.ID, dialer.ErrExists)
		case err == nil: // left half-written: written anew
			for _, q := range []string{"DELETE FROM cb_campaign_attempts WHERE campaign = $1",
				"DELETE FROM cb_campaign_targets WHERE campaign = $1", "DELETE FROM cb_campaigns WHERE id = $1"} {
				if _, err := tx.ExecContext(ctx, q, c.ID); err != nil {
					return err
				}
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO cb_campaigns (id, spec, state, ready, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
			c.ID, spec, int(c.State), false, created, updated)
		return err
	})
	if err != nil {
		return wrap(err, "create campaign %q", c.ID)
	}
	for from := 0; from < len(targets); from += targetBatch {
		batch := targets[from:min(from+targetBatch, len(targets))]
		err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return d.insertTargets(ctx, tx, c.ID, from, batch) })
		if err != nil {
			return wrap(err, "create campaign %q: targets %d to %d", c.ID, from+1, from+len(batch))
		}
	}
	_, err = d.exec(ctx, "UPDATE cb_campaigns SET ready = $1 WHERE id = $2", true, c.ID)
	return wrap(err, "create campaign %q", c.ID)
}

// insertTargetsQuery writes rows targets (13 values each).
func insertTargetsQuery(rows int) string {
	var q strings.Builder
	q.WriteString("INSERT INTO cb_campaign_targets (campaign, number, phone, time_zone, entity, entity_id, name, fields," +
		" state, attempts, next_at, outcome, disposition) VALUES ")
	for i := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for k := range targetCols {
			if k > 0 {
				q.WriteString(", ")
			}
			q.WriteString("$" + strconv.Itoa(i*targetCols+k+1))
		}
		q.WriteByte(')')
	}
	return q.String()
}

// targetCols is the values of a target row.
const targetCols = 13

// insertTargets writes targets numbered from first+1: on PostgreSQL
// pgRows to a statement; on SQLite one per statement prepared once per
// connection (see txStmt), as its driver binds the parameters of a
// statement in quadratic time.
func (d *DB) insertTargets(ctx context.Context, tx *sql.Tx, id string, first int, targets []dialer.Target) error {
	per := 1
	if d.dialect == DialectPostgres {
		per = pgRows
	}
	args := make([]any, 0, per*targetCols)
	for from := 0; from < len(targets); from += per {
		rows := targets[from:min(from+per, len(targets))]
		args = args[:0]
		for i, t := range rows {
			fields := "{}"
			if len(t.Fields) > 0 {
				b, err := json.Marshal(t.Fields)
				if err != nil {
					return err
				}
				fields = string(b)
			}
			args = append(args, id, first+from+i+1, t.Phone, t.TimeZone, t.Entity, t.EntityID, t.Name, fields,
				int(dialer.Pending), 0, int64(zeroTime), 0, "")
		}
		if _, err := d.txExec(ctx, tx, insertTargetsQuery(len(rows)), args...); err != nil {
			return err
		}
	}
	return nil
}

// Campaign implements dialer.Store.
func (d *DB) Campaign(ctx context.Context, id string) (dialer.Campaign, error) {
	c, err := scanCampaign(d.queryRow(ctx, "SELECT spec, state, created_at, updated_at FROM cb_campaigns WHERE id = $1 AND ready", id))
	if errors.Is(err, sql.ErrNoRows) {
		return dialer.Campaign{}, notFound("campaign %q", id)
	}
	return c, wrap(err, "campaign %q", id)
}

// Campaigns implements dialer.Store.
func (d *DB) Campaigns(ctx context.Context) ([]dialer.Campaign, error) {
	rows, err := d.query(ctx, "SELECT spec, state, created_at, updated_at FROM cb_campaigns WHERE ready ORDER BY seq")
	if err != nil {
		return nil, wrap(err, "campaigns")
	}
	defer rows.Close()
	var out []dialer.Campaign
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, wrap(err, "campaigns")
		}
		out = append(out, c)
	}
	return out, wrap(rows.Err(), "campaigns")
}

// SetState implements dialer.Store.
func (d *DB) SetState(ctx context.Context, id string, s dialer.State, at time.Time) error {
	var tc times
	n := tc.v("at", at)
	if tc.err != nil {
		return wrap(tc.err, "campaign %q state", id)
	}
	res, err := d.exec(ctx, "UPDATE cb_campaigns SET state = $1, updated_at = $2 WHERE id = $3 AND ready", int(s), n, id)
	return d.one(res, err, "campaign %q", id)
}

// one checks that a statement changed a row: ErrNotFound when none.
func (d *DB) one(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return wrap(err, format, args...)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, format, args...)
	}
	if n == 0 {
		return notFound(format, args...)
	}
	return nil
}

// Target implements dialer.Store.
func (d *DB) Target(ctx context.Context, id string, n int) (dialer.Target, error) {
	t := dialer.Target{Number: n}
	var fields string
	err := d.queryRow(ctx, "SELECT phone, time_zone, entity, entity_id, name, fields FROM cb_campaign_targets WHERE campaign = $1 AND number = $2",
		id, n).Scan(&t.Phone, &t.TimeZone, &t.Entity, &t.EntityID, &t.Name, &fields)
	if errors.Is(err, sql.ErrNoRows) {
		return dialer.Target{}, notFound("campaign %q target %d", id, n)
	}
	if err != nil {
		return dialer.Target{}, wrap(err, "campaign %q target %d", id, n)
	}
	if fields != "{}" {
		if err := json.Unmarshal([]byte(fields), &t.Fields); err != nil {
			return dialer.Target{}, wrap(err, "campaign %q target %d fields", id, n)
		}
	}
	return t, nil
}

func scanProgress(r scanner) (dialer.Progress, error) {
	var (
		p                  dialer.Progress
		state, outcome     int
		next               int64
		disposition, phone string
	)
	if err := r.Scan(&p.Target, &phone, &p.TimeZone, &state, &p.Attempts, &next, &outcome, &disposition); err != nil {
		return p, err
	}
	p.Phone, p.State, p.NextAt, p.Outcome, p.Disposition = phone, dialer.TargetState(state), fromNanos(next),
		dialer.Outcome(outcome), dialer.Disposition(disposition)
	return p, nil
}

// Progress implements dialer.Store, reading progressPage targets per
// query (no statement stays open while yield runs).
func (d *DB) Progress(ctx context.Context, id string, yield func(dialer.Progress) error) error {
	if _, err := d.Campaign(ctx, id); err != nil {
		return err
	}
	q := "SELECT " + targetProgressCols + " FROM cb_campaign_targets WHERE campaign = $1 AND number > $2 ORDER BY number" + limitClause(progressPage)
	buf := make([]dialer.Progress, 0, progressPage)
	for after := 0; ; {
		rows, err := d.query(ctx, q, id, after)
		if err != nil {
			return wrap(err, "campaign %q progress", id)
		}
		buf = buf[:0]
		for rows.Next() {
			p, err := scanProgress(rows)
			if err != nil {
				rows.Close()
				return wrap(err, "campaign %q progress", id)
			}
			buf = append(buf, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrap(err, "campaign %q progress", id)
		}
		for _, p := range buf {
			if err := yield(p); err != nil {
				return err
			}
		}
		if len(buf) < progressPage {
			return nil
		}
		after = buf[len(buf)-1].Target
	}
}

// setProgress updates a target's progress in tx.
func (d *DB) setProgress(ctx context.Context, tx *sql.Tx, id string, p dialer.Progress) error {
	var tc times
	next := tc.v("next_at", p.NextAt)
	if tc.err != nil {
		return tc.err
	}
	res, err := d.txExec(ctx, tx, "UPDATE cb_campaign_targets SET state = $1, attempts = $2, next_at = $3, outcome = $4"+
		" WHERE campaign = $5 AND number = $6", int(p.State), p.Attempts, next, int(p.Outcome), id, p.Target)
	return d.one(res, err, "campaign %q target %d", id, p.Target)
}

// SetProgress implements dialer.Store.
func (d *DB) SetProgress(ctx context.Context, id string, p dialer.Progress) error {
	return d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return d.setProgress(ctx, tx, id, p) })
}

// BeginAttempt implements dialer.Store: the attempt's primary key makes a
// second recording of it ErrAttemptExists, also from another process.
func (d *DB) BeginAttempt(ctx context.Context, a dialer.Attempt) error {
	var tc times
	started, ended := tc.v("started_at", a.StartedAt), tc.v("ended_at", a.EndedAt)
	if tc.err != nil {
		return wrap(tc.err, "begin attempt")
	}
	return d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := d.txExec(ctx, tx, "UPDATE cb_campaign_targets SET state = $1, attempts = $2 WHERE campaign = $3 AND number = $4",
			int(dialer.Dialing), a.Number, a.Campaign, a.Target)
		if err := d.one(res, err, "campaign %q target %d", a.Campaign, a.Target); err != nil {
			return err
		}
		res, err = d.txExec(ctx, tx, "INSERT INTO cb_campaign_attempts (campaign, target, number, employee, phone, call_id, outcome,"+
			" disposition, started_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
			a.Campaign, a.Target, a.Number, a.Employee, a.Phone, a.CallID, int(a.Outcome), string(a.Disposition), started, ended)
		if err != nil {
			return wrap(err, "begin attempt")
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			// The rollback undoes the target's update.
			return errors.Join(err, fmt.Errorf("sqlstore: campaign %q target %d attempt %d: %w", a.Campaign, a.Target, a.Number, dialer.ErrAttemptExists))
		}
		return nil
	})
}

// PlacedAttempt implements dialer.Store.
func (d *DB) PlacedAttempt(ctx context.Context, id string, target, number int, callID string) error {
	res, err := d.exec(ctx, "UPDATE cb_campaign_attempts SET call_id = $1 WHERE campaign = $2 AND target = $3 AND number = $4",
		callID, id, target, number)
	return d.one(res, err, "campaign %q target %d attempt %d", id, target, number)
}

// FinishAttempt implements dialer.Store.
func (d *DB) FinishAttempt(ctx context.Context, a dialer.Attempt, p dialer.Progress) error {
	if p.Target != a.Target {
		return fmt.Errorf("sqlstore: %w: progress of target %d for an attempt of target %d", dialer.ErrInvalid, p.Target, a.Target)
	}
	var tc times
	ended := tc.v("ended_at", a.EndedAt)
	if tc.err != nil {
		return wrap(tc.err, "finish attempt")
	}
	return d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := d.txExec(ctx, tx, "UPDATE cb_campaign_attempts SET outcome = $1, ended_at = $2,"+
			" call_id = CASE WHEN $3 = '' THEN call_id ELSE $4 END WHERE campaign = $5 AND target = $6 AND number = $7",
			int(a.Outcome), ended, a.CallID, a.CallID, a.Campaign, a.Target, a.Number)
		if err := d.one(res, err, "campaign %q target %d attempt %d", a.Campaign, a.Target, a.Number); err != nil {
			return err
		}
		if err := d.setProgress(ctx, tx, a.Campaign, p); err != nil {
			return err
		}
		if !a.Outcome.WorksNumber() {
			return nil
		}
		_, err = d.txExec(ctx, tx, "INSERT INTO cb_worked_numbers (phone, campaign, worked_at)"+
			" SELECT phone, $1, $2 FROM cb_campaign_targets WHERE campaign = $3 AND number = $4 ON CONFLICT DO NOTHING",
			a.Campaign, ended, a.Campaign, a.Target)
		return wrap(err, "campaign %q: worked number", a.Campaign)
	})
}

// SetDisposition implements dialer.Store.
func (d *DB) SetDisposition(ctx context.Context, id string, target, number int, disp dialer.Disposition) error {
	return d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := d.txExec(ctx, tx, "UPDATE cb_campaign_attempts SET disposition = $1 WHERE campaign = $2 AND target = $3 AND number = $4",
			string(disp), id, target, number)
		if err := d.one(res, err, "campaign %q target %d attempt %d", id, target, number); err != nil {
			return err
		}
		_, err = d.txExec(ctx, tx, "UPDATE cb_campaign_targets SET disposition = $1 WHERE campaign = $2 AND number = $3", string(disp), id, target)
		return wrap(err, "campaign %q target %d disposition", id, target)
	})
}

// Attempts implements dialer.Store.
func (d *DB) Attempts(ctx context.Context, id string, target int) ([]dialer.Attempt, error) {
	if _, err := d.Target(ctx, id, target); err != nil {
		return nil, err
	}
	rows, err := d.query(ctx, "SELECT number, employee, phone, call_id, outcome, disposition, started_at, ended_at"+
		" FROM cb_campaign_attempts WHERE campaign = $1 AND target = $2 ORDER BY number", id, target)
	if err != nil {
		return nil, wrap(err, "campaign %q target %d attempts", id, target)
	}
	defer rows.Close()
	var out []dialer.Attempt
	for rows.Next() {
		a := dialer.Attempt{Campaign: id, Target: target}
		var (
			outcome        int
			disp           string
			started, ended int64
		)
		if err := rows.Scan(&a.Number, &a.Employee, &a.Phone, &a.CallID, &outcome, &disp, &started, &ended); err != nil {
			return nil, wrap(err, "campaign %q target %d attempts", id, target)
		}
		a.Outcome, a.Disposition, a.StartedAt, a.EndedAt = dialer.Outcome(outcome), dialer.Disposition(disp), fromNanos(started), fromNanos(ended)
		out = append(out, a)
	}
	return out, wrap(rows.Err(), "campaign %q target %d attempts", id, target)
}

// checkPhones accepts normalised numbers only.
func checkPhones(phones []string) error {
	for _, p := range phones {
		if p == "" || len(p) > 15 || strings.Trim(p, "0123456789") != "" {
			return fmt.Errorf("sqlstore: do-not-call: %w: %q is not a normalised number", dialer.ErrInvalid, p)
		}
	}
	return nil
}

// AddDoNotCall implements dialer.Store.
func (d *DB) AddDoNotCall(ctx context.Context, phones ...string) error {
	if err := checkPhones(phones); err != nil || len(phones) == 0 {
		return err
	}
	now := d.cfg.now().UnixNano()
	return wrap(d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, p := range phones {
			if _, err := d.txExec(ctx, tx, "INSERT INTO cb_do_not_call (phone, added_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", p, now); err != nil {
				return err
			}
		}
		return nil
	}), "do-not-call")
}

// RemoveDoNotCall implements dialer.Store.
func (d *DB) RemoveDoNotCall(ctx context.Context, phones ...string) error {
	if len(phones) == 0 {
		return nil
	}
	return wrap(d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, p := range phones {
			if _, err := d.txExec(ctx, tx, "DELETE FROM cb_do_not_call WHERE phone = $1", p); err != nil {
				return err
			}
		}
		return nil
	}), "do-not-call")
}

// Screen implements dialer.Store.
func (d *DB) Screen(ctx context.Context, phone string) (dialer.Screening, error) {
	var sc dialer.Screening
	var n int
	if err := d.queryRow(ctx, "SELECT COUNT(*) FROM cb_do_not_call WHERE phone = $1", phone).Scan(&n); err != nil {
		return sc, wrap(err, "screen %s", phone)
	}
	sc.DoNotCall = n > 0
	var at int64
	err := d.queryRow(ctx, "SELECT campaign, worked_at FROM cb_worked_numbers WHERE phone = $1", phone).Scan(&sc.WorkedBy, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return sc, nil
	case err != nil:
		return sc, wrap(err, "screen %s", phone)
	}
	sc.WorkedAt = fromNanos(at)
	return sc, nil
}
