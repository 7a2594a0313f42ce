package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry"
)

// QueueConfig configures a Queue. Zero values get the documented defaults.
type QueueConfig struct {
	// Workers deliver events concurrently (default 4).
	Workers int
	// Size bounds the events waiting for a worker (default 1024). When the
	// queue is full, HandleEvent returns ErrQueueFull and a Handler answers
	// 503 with Retry-After, so the provider redelivers later.
	Size int
	// MaxAttempts bounds deliveries of one event to the sink (default 5).
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after n failed attempts
	// (default: 100ms doubling to at most 30s, with jitter).
	Backoff func(n int) time.Duration
	// DeadLetter receives each event that still failed after MaxAttempts or
	// could not be delivered before Close gave up, with the last error.
	// Default: log it at error level. Nothing is dropped silently. An
	// event that came through a Handler is also forgotten by the Handler's
	// Dedup, so the provider's redelivery of it is delivered again.
	DeadLetter func(ctx context.Context, e callevent.Event, err error)
	// Logger (default: discard).
	Logger *slog.Logger
	// MeterProvider receives the delivery latency from the request's
	// arrival to the sink's done (callbridge.delivery.duration), the dead
	// letters (callbridge.delivery.dead_letters) and the events waiting
	// (callbridge.delivery.backlog), each with callbridge.delivery
	// "queue"; TracerProvider a span per delivered event beneath the
	// request's span. nil: the global providers, no-ops until set.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// Queue is a Sink that accepts events at once and delivers them to another
// Sink from a bounded pool of workers, retrying failures with backoff. Put
// it between a Handler and a slow sink so providers get a fast reply (202)
// while delivery goes on. One Queue may serve several handlers. Close
// drains it on shutdown.
//
// Delivery runs on the context of the request that brought the event,
// without its cancellation or deadline (context.WithoutCancel): values such
// as trace spans and loggers carry over. If the sink is an Admitter, the
// Queue asks it before accepting an event, so that an event is acknowledged
// only when the sink will take it.
type Queue struct {
	sink  callevent.Sink
	admit Admitter // sink, if it is one
	cfg   QueueConfig

	mu     sync.RWMutex
	closed bool
	ch     chan queued
	n      atomic.Int64 // events in ch or being put there

	ctx    context.Context // canceled when Close gives up waiting
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	tel     *telemetry.Delivery
	backlog metric.Registration // nil if the callback could not be registered
}

// Admitter is a Sink that can tell before an event is queued for it
// whether it will take it, and reserve room for it (match.Engine is one).
// A Queue calls Admit before it accepts an event; an error is returned to
// the Handler, which answers it (503 with Retry-After for ErrUnavailable or
// an error with a RetryAfter method), so nothing the sink would refuse is
// acknowledged.
type Admitter interface {
	Admit(ctx context.Context, e callevent.Event) error
}

// queued is an event waiting for a worker, with the request's context
// (without its cancellation), the Dedup that claimed it, if any, and when
// the request arrived.
type queued struct {
	ctx     context.Context
	e       callevent.Event
	dedup   Dedup
	arrived time.Time
}

// NewQueue starts a Queue delivering to sink.
func NewQueue(sink callevent.Sink, cfg QueueConfig) (*Queue, error) {
	if sink == nil {
		return nil, errors.New("webhook: nil sink")
	}
	if cfg.Workers < 0 || cfg.Size < 0 || cfg.MaxAttempts < 0 {
		return nil, errors.New("webhook: negative queue setting")
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.Size == 0 {
		cfg.Size = 1024
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Backoff == nil {
		cfg.Backoff = defaultBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DeadLetter == nil {
		log := cfg.Logger
		cfg.DeadLetter = func(ctx context.Context, e callevent.Event, err error) {
			log.ErrorContext(ctx, "webhook event dead-lettered", "event_id", e.ID, "provider", e.Provider, "account", e.Account,
				"call_id", e.CallID, "error", err)
		}
	}
	q := &Queue{sink: sink, cfg: cfg, ch: make(chan queued, cfg.Size)}
	q.admit, _ = sink.(Admitter)
	q.tel = telemetry.NewDelivery(cfg.MeterProvider, cfg.TracerProvider)
	pending := telemetry.Attrs(telemetry.DeliveryKey.String(telemetry.DeliveryQueue), telemetry.StateKey.String("pending"))
	reg, err := q.tel.Meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(q.tel.Backlog, int64(q.Len()), pending)
		return nil
	}, q.tel.Backlog)
	if err == nil {
		q.backlog = reg
	}
	q.ctx, q.cancel = context.WithCancelCause(context.Background())
	q.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go q.work()
	}
	return q, nil
}

func defaultBackoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n-1, 9)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

// HandleEvent enqueues e. It returns ErrQueueFull when the queue is full,
// ErrClosed after Close, and the sink's Admit error if the sink is an
// Admitter that refuses e; it never blocks. The event is delivered with
// ctx's values but not its cancellation.
func (q *Queue) HandleEvent(ctx context.Context, e callevent.Event) error {
	return q.enqueue(ctx, e, nil)
}

// enqueue is HandleEvent for a Handler: when e is accepted, d's claim of
// it is released as done before a worker can see e, and if e is later
// dead-lettered, d forgets it so that a redelivery is processed again.
func (q *Queue) enqueue(ctx context.Context, e callevent.Event, d Dedup) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	if q.n.Add(1) > int64(q.cfg.Size) {
		q.n.Add(-1)
		return ErrQueueFull
	}
	if q.admit != nil {
		if err := q.admit.Admit(ctx, e); err != nil {
			q.n.Add(-1)
			return fmt.Errorf("webhook: queue: sink refused event %s: %w", e.ID, err)
		}
	}
	if d != nil {
		d.Release(context.WithoutCancel(ctx), e.ID, true)
	}
	q.ch <- queued{ctx: context.WithoutCancel(ctx), e: e, dedup: d, arrived: Arrival(ctx)} // room was reserved in q.n
	return nil
}

// Len reports how many events wait for a worker.
func (q *Queue) Len() int { return len(q.ch) }

// Close stops accepting events and waits until every queued event was
// delivered or dead-lettered. If ctx ends first, retries stop, the events
// still queued go to the dead letter with the cause, and Close returns
// ctx's error once the workers have finished.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
		if q.backlog != nil {
			_ = q.backlog.Unregister()
		}
	}
	q.mu.Unlock()

	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		q.cancel(fmt.Errorf("webhook: queue closed before delivery: %w", context.Cause(ctx)))
		<-done
		return ctx.Err()
	}
}

func (q *Queue) work() {
	defer q.wg.Done()
	for it := range q.ch {
		q.n.Add(-1)
		q.deliver(it)
	}
}

// deliver tries it up to MaxAttempts times, then dead-letters it.
func (q *Queue) deliver(it queued) {
	// The request's values, and the queue's cancellation when Close gives up.
	ctx, cancel := context.WithCancelCause(it.ctx)
	defer cancel(nil)
	stop := context.AfterFunc(q.ctx, func() { cancel(context.Cause(q.ctx)) })
	defer stop()
	e := it.e
	ctx, span := q.tel.Tracer.Start(ctx, "webhook.Queue deliver", trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	var err error
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			err = errors.Join(err, context.Cause(ctx))
			break
		}
		if err = q.handle(ctx, e); err == nil {
			q.tel.Delivered(ctx, span, e, telemetry.DeliveryQueue, it.arrived, n, nil)
			return
		}
		if n >= q.cfg.MaxAttempts {
			break
		}
		q.cfg.Logger.WarnContext(ctx, "webhook delivery failed, retrying", "event_id", e.ID, "provider", e.Provider,
			"account", e.Account, "call_id", e.CallID, "attempt", n, "error", err)
		t := time.NewTimer(q.cfg.Backoff(n))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if it.dedup != nil {
		it.dedup.Release(it.ctx, e.ID, false)
	}
	q.tel.Delivered(ctx, span, e, telemetry.DeliveryQueue, it.arrived, q.cfg.MaxAttempts, err)
	span.SetStatus(codes.Error, "dead letter")
	q.cfg.DeadLetter(trace.ContextWithSpan(it.ctx, span), e, err)
}

// handle calls the sink, turning a panic into an error so one bad event
// cannot kill a worker.
func (q *Queue) handle(ctx context.Context, e callevent.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("webhook: sink panic: %v", p)
		}
	}()
	return q.sink.HandleEvent(ctx, e)
}
