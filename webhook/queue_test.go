package webhook_test

import (
	"context"
	"errors"
	"fmt"
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

func TestQueueCloseDrains(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	sink := &recorder{}
	slow := callevent.SinkFunc(func(ctx context.Context, e callevent.Event) error {
		<-release
		return sink.HandleEvent(ctx, e)
	})
	q, err := webhook.NewQueue(slow, webhook.QueueConfig{Workers: 2, Size: 100})
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, q.HandleEvent(t.Context(), ev(fmt.Sprint(i))))
	}
	closed := make(chan error)
	go func() { closed <- q.Close(context.Background()) }()
	// Probe until Close has started; probes accepted before that count.
	accepted := 0
	require.Eventually(t, func() bool {
		err := q.HandleEvent(t.Context(), ev(fmt.Sprint("late", accepted)))
		if err == nil {
			accepted++
		}
		return errors.Is(err, webhook.ErrClosed)
	}, 5*time.Second, time.Millisecond)
	close(release)
	require.NoError(t, <-closed)
	require.Len(t, sink.ids(), 50+accepted, "every queued event delivered before Close returned")
}

func TestQueueCloseDeadlineDeadLettersTheRest(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	var delivered atomic.Int32
	sink := callevent.SinkFunc(func(ctx context.Context, _ callevent.Event) error {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
		delivered.Add(1)
		return nil
	})
	var dl deadLetters
	q, err := webhook.NewQueue(sink, webhook.QueueConfig{Workers: 1, Size: 10, DeadLetter: dl.add, Backoff: func(int) time.Duration { return time.Hour }})
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, q.HandleEvent(t.Context(), ev(fmt.Sprint(i))))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, q.Close(ctx), context.DeadlineExceeded)
	ids, _ := dl.get()
	require.Len(t, ids, 5, "nothing lost: every undelivered event is dead-lettered")
	require.Zero(t, delivered.Load())
}

func TestQueueFullGives503AndRedeliveryWorks(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	sink := &recorder{}
	slow := callevent.SinkFunc(func(ctx context.Context, e callevent.Event) error {
		<-block
		return sink.HandleEvent(ctx, e)
	})
	q, err := webhook.NewQueue(slow, webhook.QueueConfig{Workers: 1, Size: 1})
	require.NoError(t, err)
	h := newHandler(t, q)

	// The worker takes e0 and blocks; e1 fills the queue; e2 finds it full.
	require.Equal(t, http.StatusAccepted, post(h, "token="+secret, url.Values{"id": {"e0"}, "call": {"c"}}).Code)
	require.Eventually(t, func() bool { return q.Len() == 0 }, time.Second, time.Millisecond)
	require.Equal(t, http.StatusAccepted, post(h, "token="+secret, url.Values{"id": {"e1"}, "call": {"c"}}).Code)
	require.Equal(t, http.StatusServiceUnavailable, post(h, "token="+secret, url.Values{"id": {"e2"}, "call": {"c"}}).Code)
	// A redelivery of a queued event is not queued twice.
	require.Equal(t, http.StatusOK, post(h, "token="+secret, url.Values{"id": {"e1"}, "call": {"c"}}).Code)
	close(block)
	require.Eventually(t, func() bool { return q.Len() == 0 }, time.Second, time.Millisecond)
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
