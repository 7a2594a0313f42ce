package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/sqlstore"
)

// Delivery of notifications through the senders (Config.NotifyURL,
// Config.SMTP).
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// "<t>.<body>" with Config.NotifySecret>": the receiver recomputes it
	// and rejects a body that is not the gateway's or is old.
	SignatureHeader = "X-Callbridge-Signature"
	// notifyLease is how long a claimed notification is a sender's.
	notifyLease = time.Minute
	// notifyAttempts bounds the attempts of one notification.
	notifyAttempts = 10
	// notifyTimeout bounds one POST or one e-mail.
	notifyTimeout = 10 * time.Second
	// deliveryRetention is how long a sent or failed notification stays
	// in the database's outbox (hourly purge).
	deliveryRetention = 7 * 24 * time.Hour
)

// Sender names: the prefixes of their outbox keys and the keys of
// Notification.Deliveries.
const (
	senderWebhook = "webhook"
	senderEmail   = "email"
	// senderAmoCRM is amoCRM in amoCRM mode: the engine tells the employee
	// there (amocrm.Store.Notify) while it decides the call, and the
	// outbox only records how that went (outbox.Record).
	senderAmoCRM = "amocrm"
)

// senderNames are the names a key of the outbox may begin with.
var senderNames = []string{senderWebhook, senderEmail, senderAmoCRM}

// sender delivers the notifications of one channel from the outbox.
type sender interface {
	// name is senderWebhook or senderEmail.
	name() string
	// send delivers one message of the outbox; retry says whether a
	// failure may pass (it is tried again with backoff) or not (the
	// message is failed for good).
	send(ctx context.Context, d sqlstore.Delivery) (retry bool, err error)
}

// outbox keeps the messages to send until they are sent:
// sqlstore.DB in database mode, memOutbox in memory.
type outbox interface {
	Enqueue(ctx context.Context, key string, payload []byte) error
	Record(ctx context.Context, key string, payload []byte, reason string) error
	ClaimDeliveries(ctx context.Context, lease time.Duration, limit int) ([]sqlstore.Delivery, error)
	DeliveryDone(ctx context.Context, id int64) error
	DeliveryFailed(ctx context.Context, id int64, reason string, retryAt time.Time) error
	Deliveries(ctx context.Context, keys []string) (map[string]sqlstore.Delivery, error)
	DeliveryCounts(ctx context.Context) (map[sqlstore.DeliveryState]int, error)
}

// noteKey is a notification's key: one per call, employee and kind, as
// the store keeps it.
func noteKey(n match.Notification) string {
	return n.Account + "/" + n.Provider + "/" + n.CallID + "/" + n.Employee + "/" + n.Kind.String()
}

// deliveryKey is the outbox key of notification n for the sender named
// name, so that each sender delivers each notification once, also after
// a replay or a restart. The webhook's is noteKey, as it was before there
// were other senders (outboxes and receivers' Idempotency-Keys stay
// valid), unless noteKey looks like another sender's key; the others'
// are "<name>:" and noteKey.
func deliveryKey(name string, n match.Notification) string {
	k := noteKey(n)
	if name != senderWebhook || senderPrefixed(k) {
		return name + ":" + k
	}
	return k
}

// outboxKey is deliveryKey of n as the CRM keeps it (in database mode
// without its account: asStored), the key GET /api/notifications looks
// for.
func (g *Gateway) outboxKey(name string, n match.Notification) string {
	if g.db != nil {
		n = asStored(n)
	}
	return deliveryKey(name, n)
}

// senderPrefixed reports whether key begins with "<sender name>:".
func senderPrefixed(key string) bool {
	return slices.ContainsFunc(senderNames, func(s string) bool { return strings.HasPrefix(key, s+":") })
}

// senderOf is the name of the sender of an outbox key (deliveryKey).
func senderOf(key string) string {
	for _, s := range senderNames {
		if strings.HasPrefix(key, s+":") {
			return s
		}
	}
	return senderWebhook
}

// sendingNotifier keeps a notification where next keeps it, then puts it
// in the outbox once for each sender.
type sendingNotifier struct {
	next match.Notifier
	g    *Gateway
}

func (s sendingNotifier) Notify(ctx context.Context, n match.Notification) error {
	if err := s.next.Notify(ctx, n); err != nil {
		return err
	}
	b, err := json.Marshal(notificationOf(n))
	if err != nil {
		return err
	}
	for _, sd := range s.g.senders {
		if err := s.g.outbox.Enqueue(ctx, s.g.outboxKey(sd.name(), n), b); err != nil {
			return fmt.Errorf("notification outbox (%s): %w", sd.name(), err)
		}
	}
	s.g.wakeSender()
	return nil
}

func (g *Gateway) wakeSender() {
	select {
	case g.sendWake <- struct{}{}:
	default:
	}
}

// startSender runs the senders over the outbox until the gateway closes
// (after the engine, whose last decisions may notify, and before the
// database): at once when a notification comes, and every second for the
// retries.
func (g *Gateway) startSender() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	g.stopSender = func() { cancel(); <-done }
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		purge := time.NewTicker(time.Hour)
		defer purge.Stop()
		for {
			g.sendDue(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-g.sendWake:
			case <-purge.C:
				if g.db != nil {
					if _, err := g.db.PurgeDeliveries(ctx, g.clock().Now().Add(-deliveryRetention)); err != nil {
						g.log.Warn("notifications: purging the outbox failed; retrying in an hour", "error", err)
					}
				}
			}
		}
	}()
}

// sendDue sends the notifications that are due, each through its sender.
func (g *Gateway) sendDue(ctx context.Context) {
	for ctx.Err() == nil {
		ds, err := g.outbox.ClaimDeliveries(ctx, notifyLease, 32)
		if err != nil {
			g.log.Warn("notifications: outbox unavailable; retrying", "error", err)
			return
		}
		if len(ds) == 0 {
			return
		}
		for _, d := range ds {
			name := senderOf(d.Key)
			retry, err := false, fmt.Errorf("no %s sender is configured", name)
			if i := slices.IndexFunc(g.senders, func(s sender) bool { return s.name() == name }); i >= 0 {
				retry, err = g.senders[i].send(ctx, d)
			}
			switch {
			case err == nil:
				err = g.outbox.DeliveryDone(ctx, d.ID)
			case retry && d.Attempts < notifyAttempts:
				wait := min(time.Hour, time.Second<<min(d.Attempts-1, 12))
				g.log.Warn("notification not delivered; will retry", "sender", name, "key", d.Key, "attempt", d.Attempts,
					"retry_in", wait.String(), "error", err)
				err = g.outbox.DeliveryFailed(ctx, d.ID, err.Error(), g.clock().Now().Add(wait))
			default:
				g.log.Error("notification not delivered; given up", "sender", name, "key", d.Key, "attempts", d.Attempts, "error", err)
				err = g.outbox.DeliveryFailed(ctx, d.ID, err.Error(), time.Time{})
			}
			if err != nil {
				g.log.Warn("notifications: outbox unavailable; retrying", "error", err)
				return
			}
		}
	}
}

// webhookSender POSTs notifications to Config.NotifyURL, signed with
// Config.NotifySecret (SignatureHeader).
type webhookSender struct {
	url, secret string
	client      *http.Client
}

func (webhookSender) name() string { return senderWebhook }

// send POSTs one notification.
func (w webhookSender) send(ctx context.Context, d sqlstore.Delivery) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(d.Payload))
	if err != nil {
		return false, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(w.secret))
	mac.Write([]byte(ts + "."))
	mac.Write(d.Payload)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Idempotency-Key", d.Key)
	resp, err := w.client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("the webhook answered %d: %s", resp.StatusCode, text.Clip(string(bytes.TrimSpace(body)), 200))
	permanent := resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout &&
		resp.StatusCode != http.StatusTooManyRequests
	return !permanent, err
}

// memOutbox is the outbox in memory mode: lost at exit, like the rest.
// Its times are the gateway's clock's, as the database's are.
type memOutbox struct {
	now  func() time.Time
	mu   sync.Mutex
	seq  int64
	list []*memDelivery // in order of creation
	keys map[string]*memDelivery
}

type memDelivery struct {
	sqlstore.Delivery
	next time.Time
}

// maxMemDeliveries bounds the memory outbox: the oldest done messages go
// first.
const maxMemDeliveries = 10000

func (o *memOutbox) Enqueue(_ context.Context, key string, payload []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.add(key, payload)
	return nil
}

func (o *memOutbox) Record(_ context.Context, key string, payload []byte, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d := o.add(key, payload); d != nil {
		d.Attempts = 1
		if reason == "" {
			d.State, d.SentAt = sqlstore.DeliverySent, o.now().UTC()
		} else {
			d.State, d.LastError = sqlstore.DeliveryFailed, reason
		}
	}
	return nil
}

// add adds a pending message, unless key has one (nil then); o.mu is
// held.
func (o *memOutbox) add(key string, payload []byte) *memDelivery {
	if o.keys == nil {
		o.keys = map[string]*memDelivery{}
	}
	if o.keys[key] != nil {
		return nil
	}
	if len(o.list) >= maxMemDeliveries {
		if i := slices.IndexFunc(o.list, func(d *memDelivery) bool { return d.State != sqlstore.DeliveryPending }); i >= 0 {
			delete(o.keys, o.list[i].Key)
			o.list = slices.Delete(o.list, i, i+1)
		}
	}
	o.seq++
	d := &memDelivery{Delivery: sqlstore.Delivery{ID: o.seq, Key: key, Payload: payload, CreatedAt: o.now().UTC()}}
	o.list = append(o.list, d)
	o.keys[key] = d
	return d
}

func (o *memOutbox) ClaimDeliveries(_ context.Context, lease time.Duration, limit int) ([]sqlstore.Delivery, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	var out []sqlstore.Delivery
	for _, d := range o.list {
		if len(out) == limit {
			break
		}
		if d.State == sqlstore.DeliveryPending && !d.next.After(now) {
			d.next = now.Add(lease)
			d.Attempts++
			out = append(out, d.Delivery)
		}
	}
	return out, nil
}

func (o *memOutbox) find(id int64) *memDelivery {
	i := slices.IndexFunc(o.list, func(d *memDelivery) bool { return d.ID == id })
	if i < 0 {
		return nil
	}
	return o.list[i]
}

func (o *memOutbox) DeliveryDone(_ context.Context, id int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d := o.find(id); d != nil {
		d.State, d.SentAt, d.LastError = sqlstore.DeliverySent, o.now().UTC(), ""
	}
	return nil
}

func (o *memOutbox) DeliveryFailed(_ context.Context, id int64, reason string, retryAt time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d := o.find(id); d != nil {
		d.LastError, d.next = reason, retryAt
		if retryAt.IsZero() {
			d.State = sqlstore.DeliveryFailed
		}
	}
	return nil
}

func (o *memOutbox) Deliveries(_ context.Context, keys []string) (map[string]sqlstore.Delivery, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]sqlstore.Delivery, len(keys))
	for _, k := range keys {
		if d := o.keys[k]; d != nil {
			out[k] = d.Delivery
		}
	}
	return out, nil
}

func (o *memOutbox) DeliveryCounts(context.Context) (map[sqlstore.DeliveryState]int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[sqlstore.DeliveryState]int{}
	for _, d := range o.list {
		out[d.State]++
	}
	return out, nil
}
