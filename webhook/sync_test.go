package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

func TestQueueCloseDrains(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
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
		synctest.Wait() // Close has started and waits for the workers
		require.ErrorIs(t, q.HandleEvent(t.Context(), ev("late")), webhook.ErrClosed)
		close(release)
		require.NoError(t, <-closed)
		require.Len(t, sink.ids(), 50, "every queued event delivered before Close returned")
	})
}

func TestQueueCloseDeadlineDeadLettersTheRest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
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
		err = q.Close(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		ids, errs := dl.get()
		require.Len(t, ids, 5, "nothing lost: every undelivered event is dead-lettered")
		require.ErrorIs(t, errors.Join(errs...), context.DeadlineExceeded, "with the cause")
		require.Zero(t, delivered.Load())
	})
}
