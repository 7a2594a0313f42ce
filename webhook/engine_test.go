package webhook_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/callbridge/callbridge/webhook"
)

// A full match.Engine is answered with 503 and Retry-After, synchronously
// and through a Queue (which asks the engine before it acknowledges), so
// the provider redelivers instead of getting a 2xx for an event that would
// be dropped.
func TestFullEngineGets503(t *testing.T) {
	t.Parallel()
	newEngine := func(t *testing.T) *match.Engine {
		s, err := memstore.New()
		require.NoError(t, err)
		e, err := match.NewEngine(s, match.WithLimits(match.Limits{MaxCalls: 1}))
		require.NoError(t, err)
		t.Cleanup(func() { _ = e.Close(context.Background()) })
		return e
	}
	call := func(id string) url.Values { return url.Values{"id": {id}, "call": {id}} }

	t.Run("synchronous", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, newEngine(t))
		require.Equal(t, http.StatusOK, post(h, "token="+secret, call("c1")).Code)
		w := post(h, "token="+secret, call("c2"))
		require.Equal(t, http.StatusServiceUnavailable, w.Code)
		require.Equal(t, "30", w.Header().Get("Retry-After"))
	})
	t.Run("queued", func(t *testing.T) {
		t.Parallel()
		q, err := webhook.NewQueue(newEngine(t), webhook.QueueConfig{})
		require.NoError(t, err)
		h := newHandler(t, q)
		require.Equal(t, http.StatusAccepted, post(h, "token="+secret, call("c1")).Code)
		w := post(h, "token="+secret, call("c2"))
		require.Equal(t, http.StatusServiceUnavailable, w.Code, "not acknowledged")
		require.Equal(t, "30", w.Header().Get("Retry-After"))
		require.NoError(t, q.Close(t.Context()))
	})
}
