package phonet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/phonet/phonettest"
)

// TestCompletedCalls: the company history's calls that ended in the
// window become Completed events of the client's domain (the webhooks'
// accountDomain), the same events ToEvent makes of the records; a call
// that ended at the window's end is the next window's.
func TestCompletedCalls(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	recs := records(3, start)
	edge := phonettest.InboundCall()
	edge.UUID, edge.DialAt, edge.BridgeAt = "edge", start.Add(59*time.Minute), start.Add(59*time.Minute+3*time.Second)
	edge.HangupAt = start.Add(time.Hour)
	srv.AddCalls(phonettest.Company, append(recs, edge.HistoryRecord())...)
	var got []callevent.Event
	for e, err := range c.CompletedCalls(t.Context(), start, start.Add(time.Hour)) {
		require.NoError(t, err)
		got = append(got, e)
	}
	require.Len(t, got, 3, "the call ending at 10:00 belongs to the next window")
	for i, e := range got {
		require.Equal(t, recs[i].UUID, e.CallID)
		require.Equal(t, c.Domain(), e.Account)
		require.Equal(t, callevent.Completed, e.Kind)
		require.NoError(t, e.Validate())
	}
	require.Equal(t, callevent.Inbound, got[0].Direction)
	require.Equal(t, callevent.Outbound, got[1].Direction)
}
