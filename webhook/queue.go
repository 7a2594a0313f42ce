package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// QueueConfig configures a Queue. Zero values get the documented defaults.
type QueueConfig struct {
	// Workers deliver events concurrently (default 4).
	Workers int
	// Size bounds the events waiting for a worker (default 1024). When the
	// queue is full, HandleEvent returns ErrQueueFull and a Handler answers
	// 503, so the provider redelivers later.
	Size int
	// MaxAttempts bounds deliveries of one event to the sink (default 5).
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after n failed attempts
	// (default: 100ms doubling to at most 30s, with jitter).
	Backoff func(n int) time.Duration
	// DeadLetter receives each event that still failed after MaxAttempts or
	// could not be delivered before Close gave up, with the last error.
	// Default: log it at error level. Nothing is dropped silently.
	DeadLetter func(ctx context.Context, e callevent.Event, err error)
	// Logger (default: discard).
	Logger *slog.Logger
}

// Queue is a Sink that accepts events at once and delivers them to another
// Sink from a bounded pool of workers, retrying failures with backoff. Put
// it between a Handler and a slow sink so providers get a fast reply (202)
// while delivery goes on. One Queue may serve several handlers. Close
// drains it on shutdown.
type Queue struct {
	sink callevent.Sink
	cfg  QueueConfig

	mu     sync.RWMutex
	closed bool
	ch     chan callevent.Event

	ctx    context.Context // canceled when Close gives up waiting
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
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
			log.ErrorContext(ctx, "webhook event dead-lettered", "event_id", e.ID, "provider", e.Provider, "call_id", e.CallID, "error", err)
		}
	}
	q := &Queue{sink: sink, cfg: cfg, ch: make(chan callevent.Event, cfg.Size)}
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

// HandleEvent enqueues e. It returns ErrQueueFull when the queue is full
// and ErrClosed after Close; it never blocks.
func (q *Queue) HandleEvent(_ context.Context, e callevent.Event) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	select {
	case q.ch <- e:
		return nil
	default:
		return ErrQueueFull
	}
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
	for e := range q.ch {
		q.deliver(e)
	}
}

// deliver tries e up to MaxAttempts times, then dead-letters it.
func (q *Queue) deliver(e callevent.Event) {
	var err error
	for n := 1; ; n++ {
		if q.ctx.Err() != nil {
			err = errors.Join(err, context.Cause(q.ctx))
			break
		}
		if err = q.handle(e); err == nil {
			return
		}
		if n >= q.cfg.MaxAttempts {
			break
		}
		q.cfg.Logger.WarnContext(q.ctx, "webhook delivery failed, retrying", "event_id", e.ID, "attempt", n, "error", err)
		t := time.NewTimer(q.cfg.Backoff(n))
		select {
		case <-t.C:
		case <-q.ctx.Done():
			t.Stop()
		}
	}
	q.cfg.DeadLetter(context.WithoutCancel(q.ctx), e, err)
}

// handle calls the sink, turning a panic into an error so one bad event
// cannot kill a worker.
func (q *Queue) handle(e callevent.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("webhook: sink panic: %v", p)
		}
	}()
	return q.sink.HandleEvent(q.ctx, e)
}
