package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

func ev(id string) callevent.Event {
	return callevent.Event{ID: id, Provider: "toy", Kind: callevent.Ended, CallID: "c", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

type deadLetters struct {
	mu   sync.Mutex
	ids  []string
	errs []error
}

func (d *deadLetters) add(_ context.Context, e callevent.Event, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = append(d.ids, e.ID)
	d.errs = append(d.errs, err)
}

func (d *deadLetters) get() ([]string, []error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ids...), append([]error(nil), d.errs...)
}

func TestQueueRetriesThenDeadLetters(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error {
		attempts.Add(1)
		return errors.New("crm down")
	})
	var dl deadLetters
	var backoffs []int
	var mu sync.Mutex
	q, err := webhook.NewQueue(sink, webhook.QueueConfig{
		Workers: 1, MaxAttempts: 3, DeadLetter: dl.add,
		Backoff: func(n int) time.Duration { mu.Lock(); backoffs = append(backoffs, n); mu.Unlock(); return 0 },
	})
	require.NoError(t, err)
	require.NoError(t, q.HandleEvent(t.Context(), ev("e1")))
	require.NoError(t, q.Close(t.Context()))
	require.EqualValues(t, 3, attempts.Load())
	require.Equal(t, []int{1, 2}, backoffs)
	ids, errs := dl.get()
	require.Equal(t, []string{"e1"}, ids)
	require.ErrorContains(t, errs[0], "crm down")
}

func TestQueueRecoversAfterTransientFailure(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	sink.fail.Store(2)
	var dl deadLetters
	q, err := webhook.NewQueue(sink, webhook.QueueConfig{Workers: 2, MaxAttempts: 5, DeadLetter: dl.add, Backoff: func(int) time.Duration { return 0 }})
	require.NoError(t, err)
	require.NoError(t, q.HandleEvent(t.Context(), ev("e1")))
	require.NoError(t, q.Close(t.Context()))
	require.Equal(t, []string{"e1"}, sink.ids())
	ids, _ := dl.get()
	require.Empty(t, ids)
}

func TestQueueFullGives503AndRedeliveryWorks(t *testing.T) {
	t.Parallel()
	entered, block := make(chan string, 3), make(chan struct{})
	sink := &recorder{}
	slow := callevent.SinkFunc(func(ctx context.Context, e callevent.Event) error {
		entered <- e.ID
		<-block
		return sink.HandleEvent(ctx, e)
	})
	q, err := webhook.NewQueue(slow, webhook.QueueConfig{Workers: 1, Size: 1})
	require.NoError(t, err)
	h := newHandler(t, q)

	// The worker takes e0 and blocks; e1 fills the queue; e2 finds it full.
	require.Equal(t, http.StatusAccepted, post(h, "token="+secret, url.Values{"id": {"e0"}, "call": {"c"}}).Code)
	require.Equal(t, "e0", <-entered)
	require.Equal(t, http.StatusAccepted, post(h, "token="+secret, url.Values{"id": {"e1"}, "call": {"c"}}).Code)
	w := post(h, "token="+secret, url.Values{"id": {"e2"}, "call": {"c"}})
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "10", w.Header().Get("Retry-After"), "webhook.DefaultRetryAfter")
	// A redelivery of a queued event is not queued twice.
	require.Equal(t, http.StatusOK, post(h, "token="+secret, url.Values{"id": {"e1"}, "call": {"c"}}).Code)
	close(block)
	require.Equal(t, "e1", <-entered, "the worker took e1: the queue has room")
	// The rejected event was not marked processed: its redelivery is accepted.
	require.Equal(t, http.StatusAccepted, post(h, "token="+secret, url.Values{"id": {"e2"}, "call": {"c"}}).Code)
	require.NoError(t, q.Close(t.Context()))
	require.ElementsMatch(t, []string{"e0", "e1", "e2"}, sink.ids())
}

func TestQueueSinkPanicIsContained(t *testing.T) {
	t.Parallel()
	var dl deadLetters
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { panic("bad") })
	q, err := webhook.NewQueue(sink, webhook.QueueConfig{Workers: 1, MaxAttempts: 2, DeadLetter: dl.add, Backoff: func(int) time.Duration { return 0 }})
	require.NoError(t, err)
	require.NoError(t, q.HandleEvent(t.Context(), ev("p")))
	require.NoError(t, q.Close(t.Context()))
	ids, errs := dl.get()
	require.Equal(t, []string{"p"}, ids)
	require.ErrorContains(t, errs[0], "panic")
}

// The sink runs with the values of the request's context (trace spans,
// loggers), and not with its cancellation: the request is long answered.
func TestQueueKeepsRequestValues(t *testing.T) {
	t.Parallel()
	type key struct{}
	release := make(chan struct{})
	type seen struct {
		val any
		err error
	}
	got := make(chan seen, 1)
	sink := callevent.SinkFunc(func(ctx context.Context, _ callevent.Event) error {
		<-release
		got <- seen{ctx.Value(key{}), ctx.Err()}
		return nil
	})
	dead := make(chan error, 1)
	q, err := webhook.NewQueue(sink, webhook.QueueConfig{Workers: 1, MaxAttempts: 1,
		DeadLetter: func(_ context.Context, _ callevent.Event, err error) { dead <- err }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "trace-1"))
	require.NoError(t, q.HandleEvent(ctx, ev("v1")))
	cancel() // the request is over
	close(release)
	var s seen
	select {
	case s = <-got:
	case err := <-dead:
		t.Fatalf("dead-lettered: %v", err)
	}
	require.Equal(t, "trace-1", s.val)
	require.NoError(t, s.err, "the request's cancellation does not reach the delivery")
	require.NoError(t, q.Close(t.Context()))
}

// An event the Queue dead-letters is forgotten by the Handler's Dedup: the
// provider's redelivery is delivered again instead of being answered as a
// duplicate (and the call lost).
func TestDeadLetteredEventIsDeliveredAgain(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	sink.fail.Store(1) // the first delivery fails
	dead := make(chan string, 1)
	q, err := webhook.NewQueue(sink, webhook.QueueConfig{Workers: 1, MaxAttempts: 1,
		DeadLetter: func(_ context.Context, e callevent.Event, _ error) { dead <- e.ID }})
	require.NoError(t, err)
	h := newHandler(t, q)
	form := url.Values{"id": {"e1"}, "call": {"c"}}
	require.Equal(t, http.StatusAccepted, post(h, "token="+secret, form).Code)
	require.Equal(t, "e1", <-dead)
	require.Equal(t, http.StatusAccepted, post(h, "token="+secret, form).Code, "the redelivery is queued again")
	require.NoError(t, q.Close(t.Context()))
	require.Equal(t, []string{"e1"}, sink.ids())
	require.Equal(t, http.StatusOK, post(h, "token="+secret, form).Code, "now delivered: a duplicate")
}

// admitter is a sink that can refuse events before they are queued.
type admitter struct {
	recorder
	refuse atomic.Bool
}

type busyError struct{}

func (busyError) Error() string             { return "sink at capacity" }
func (busyError) RetryAfter() time.Duration { return 42 * time.Second }

func (a *admitter) Admit(context.Context, callevent.Event) error {
	if a.refuse.Load() {
		return busyError{}
	}
	return nil
}

// A Queue asks an Admitter sink before it accepts an event: a refusal is a
// 503 with the sink's Retry-After, nothing is acknowledged, and the
// redelivery is accepted once the sink has room.
func TestQueueAsksAdmitter(t *testing.T) {
	t.Parallel()
	sink := &admitter{}
	sink.refuse.Store(true)
	q, err := webhook.NewQueue(sink, webhook.QueueConfig{Workers: 1})
	require.NoError(t, err)
	h := newHandler(t, q)
	form := url.Values{"id": {"e1"}, "call": {"c"}}
	w := post(h, "token="+secret, form)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "42", w.Header().Get("Retry-After"))
	require.Zero(t, q.Len())
	sink.refuse.Store(false)
	require.Equal(t, http.StatusAccepted, post(h, "token="+secret, form).Code)
	require.NoError(t, q.Close(t.Context()))
	require.Equal(t, []string{"e1"}, sink.ids())
}
