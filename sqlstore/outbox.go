package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DeliveryState says where a message of the outbox is.
type DeliveryState uint8

// Delivery states.
const (
	DeliveryPending DeliveryState = iota // not sent yet: due, or waiting for a retry
	DeliverySent
	DeliveryFailed // given up
)

var deliveryStateNames = [...]string{"pending", "sent", "failed"}

// String returns "pending", "sent" or "failed".
func (s DeliveryState) String() string {
	if int(s) < len(deliveryStateNames) {
		return deliveryStateNames[s]
	}
	return fmt.Sprintf("DeliveryState(%d)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s DeliveryState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Delivery is a message of the outbox: something to send through a
// sender (a webhook, e-mail) until it is sent, kept in the database so
// that a crash or a restart loses none, and shared by the instances of one
// database (a claimed message is leased to one of them).
type Delivery struct {
	ID int64 `json:"id"`
	// Key is what the message delivers, unique in the outbox.
	Key       string        `json:"key"`
	Payload   []byte        `json:"-"`
	State     DeliveryState `json:"state"`
	Attempts  int           `json:"attempts"`
	LastError string        `json:"last_error,omitempty"`
	SentAt    time.Time     `json:"sent_at,omitzero"`
	CreatedAt time.Time     `json:"created_at"`
}

const deliveryCols = "id, key, payload, state, attempts, last_error, sent_at, created_at"

func scanDelivery(r scanner) (Delivery, error) {
	var (
		d             Delivery
		payload       string
		state         int
		sent, created int64
	)
	if err := r.Scan(&d.ID, &d.Key, &payload, &state, &d.Attempts, &d.LastError, &sent, &created); err != nil {
		return Delivery{}, err
	}
	d.Payload, d.State, d.SentAt, d.CreatedAt = []byte(payload), DeliveryState(state), fromNanos(sent), fromNanos(created)
	return d, nil
}

// Enqueue adds a message to the outbox, due now; a key the outbox has
// already is not added again (a replayed decision sends nothing twice).
func (d *DB) Enqueue(ctx context.Context, key string, payload []byte) error {
	now := d.cfg.now().UnixNano()
	_, err := d.exec(ctx, "INSERT INTO cb_outbox (key, payload, state, attempts, next_at, last_error, sent_at, created_at)"+
		" VALUES ($1, $2, 0, 0, $3, '', $4, $3) ON CONFLICT (key) DO NOTHING", key, string(payload), now, int64(zeroTime))
	return wrap(err, "enqueue %q", key)
}

// Record adds a message that was delivered by other means, as sent, or as
// failed with reason when reason is not empty; a key the outbox has
// already is left as it is. It is never claimed.
func (d *DB) Record(ctx context.Context, key string, payload []byte, reason string) error {
	now := d.cfg.now().UnixNano()
	state, sent := int(DeliverySent), now
	if reason != "" {
		state, sent = int(DeliveryFailed), int64(zeroTime)
	}
	_, err := d.exec(ctx, "INSERT INTO cb_outbox (key, payload, state, attempts, next_at, last_error, sent_at, created_at)"+
		" VALUES ($1, $2, $3, 1, $4, $5, $6, $4) ON CONFLICT (key) DO NOTHING", key, string(payload), state, now, clipError(reason), sent)
	return wrap(err, "record %q", key)
}

// ClaimDeliveries leases up to limit pending messages that are due to the
// caller for lease, oldest due first: another caller (another instance)
// gets them only once the lease ends without DeliverySent or
// DeliveryFailed (a sender that died). Each claim counts as an attempt.
func (d *DB) ClaimDeliveries(ctx context.Context, lease time.Duration, limit int) ([]Delivery, error) {
	now := d.cfg.now()
	lock := ""
	if d.dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var out []Delivery
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := d.txQuery(ctx, tx, "UPDATE cb_outbox SET next_at = $1, attempts = attempts + 1 WHERE id IN"+
			" (SELECT id FROM cb_outbox WHERE state = 0 AND next_at <= $2 ORDER BY next_at, id"+limitClause(limit)+lock+")"+
			" RETURNING "+deliveryCols, now.Add(lease).UnixNano(), now.UnixNano())
		if err != nil {
			return err
		}
		defer rows.Close()
		out = out[:0]
		for rows.Next() {
			dl, err := scanDelivery(rows)
			if err != nil {
				return err
			}
			out = append(out, dl)
		}
		return rows.Err()
	})
	return out, wrap(err, "claim deliveries")
}

// DeliveryDone marks the message with id sent.
func (d *DB) DeliveryDone(ctx context.Context, id int64) error {
	_, err := d.exec(ctx, "UPDATE cb_outbox SET state = 1, sent_at = $1, last_error = '' WHERE id = $2", d.cfg.now().UnixNano(), id)
	return wrap(err, "delivery %d sent", id)
}

// DeliveryFailed records why the message with id was not sent: it is due
// again at retryAt, or failed for good when retryAt is zero.
func (d *DB) DeliveryFailed(ctx context.Context, id int64, reason string, retryAt time.Time) error {
	state, next := 0, retryAt.UnixNano()
	if retryAt.IsZero() {
		state, next = 2, int64(zeroTime)
	}
	_, err := d.exec(ctx, "UPDATE cb_outbox SET state = $1, next_at = $2, last_error = $3 WHERE id = $4",
		state, next, clipError(reason), id)
	return wrap(err, "delivery %d failed", id)
}

// Deliveries returns the messages of the outbox with keys, by key.
func (d *DB) Deliveries(ctx context.Context, keys []string) (map[string]Delivery, error) {
	out := make(map[string]Delivery, len(keys))
	for i := 0; i < len(keys); i += 256 {
		chunk := keys[i:min(i+256, len(keys))]
		args, list := listArgs(nil, chunk)
		rows, err := d.query(ctx, "SELECT "+deliveryCols+" FROM cb_outbox WHERE key IN ("+list+")", args...)
		if err != nil {
			return nil, wrap(err, "deliveries")
		}
		for rows.Next() {
			dl, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return nil, wrap(err, "deliveries")
			}
			out[dl.Key] = dl
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrap(err, "deliveries")
		}
	}
	return out, nil
}

// DeliveryCounts counts the messages of the outbox by state (a state
// without messages is absent).
func (d *DB) DeliveryCounts(ctx context.Context) (map[DeliveryState]int, error) {
	rows, err := d.query(ctx, "SELECT state, COUNT(*) FROM cb_outbox GROUP BY state")
	if err != nil {
		return nil, wrap(err, "delivery counts")
	}
	defer rows.Close()
	out := map[DeliveryState]int{}
	for rows.Next() {
		var state, n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, wrap(err, "delivery counts")
		}
		out[DeliveryState(state)] = n
	}
	return out, wrap(rows.Err(), "delivery counts")
}

// PurgeDeliveries deletes the messages sent or failed before before.
func (d *DB) PurgeDeliveries(ctx context.Context, before time.Time) (int, error) {
	n, err := d.deleteInBatches(ctx, "DELETE FROM cb_outbox WHERE id IN (SELECT id FROM cb_outbox WHERE state <> 0 AND created_at < $1"+
		limitClause(purgeBatch)+")", before.UnixNano())
	return n, wrap(err, "purge deliveries")
}
