package live_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/live"
)

// TestHeartbeatOutlivesServerTimeouts: an idle stream gets a comment line
// every heartbeat, and lives on past the server's ReadTimeout and
// WriteTimeout (which would otherwise cancel it) and still delivers.
func TestHeartbeatOutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	h := newHub(t, live.WithHeartbeat(5*time.Millisecond))
	srv := httptest.NewUnstartedServer(h.Handler(headerAuth))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 20*time.Millisecond, 20*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	s := open(t, srv.URL, "anna", "")
	s.next()
	// 20 heartbeats take at least 100 ms: five times the timeouts.
	for s.comments < 20 {
		line, err := s.r.ReadString('\n')
		require.NoError(t, err, "the stream ended after %d heartbeats", s.comments)
		if line == ":\n" {
			s.comments++
		}
	}
	h.StatusChanged(live.Status{Employee: "anna", Status: "away"})
	require.Equal(t, "away", s.next().update(t).Status.Status)
}
