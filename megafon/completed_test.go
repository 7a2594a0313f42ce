package megafon_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// TestCompletedCalls: a call recovered from the history is the call its
// cmd=history push makes: same ID, call, account, outcome and times; calls
// outside the window are left to the next one.
func TestCompletedCalls(t *testing.T) {
	t.Parallel()
	srv := megafontest.NewServer()
	defer srv.Close()
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	srv.SetHistory(
		megafontest.Record{UID: "in-1", Type: "in", Status: "Success", Client: "79161234567", Diversion: "74951234567",
			User: "anna", Start: start.Add(10 * time.Minute), Wait: 12, Duration: 72, Record: "https://rec.example/in-1.mp3"},
		megafontest.Record{UID: "in-2", Type: "in", Status: "missed", Client: "79167654321", Diversion: "74951234567",
			User: "anna", Start: start.Add(20 * time.Minute), Wait: 30, Duration: 30},
		megafontest.Record{UID: "late", Type: "out", Status: "Success", Client: "79160000000", User: "anna",
			Start: start.Add(2 * time.Hour), Duration: 10},
	)
	c := newClient(t, srv, false)
	var got []callevent.Event
	for e, err := range c.CompletedCalls(t.Context(), start, start.Add(time.Hour)) {
		require.NoError(t, err)
		got = append(got, e)
	}
	require.Len(t, got, 2, "the call at 11:00 is outside the window")

	push, err := megafon.Parse(megafontest.History(
		megafontest.Call{ID: "in-1", Direction: "in", Phone: "79161234567", Diversion: "74951234567", User: "anna"},
		megafontest.Outcome{Status: "Success", Start: start.Add(10 * time.Minute), Duration: 72, Wait: 12, SendWait: true,
			Link: "https://rec.example/in-1.mp3"}), megafon.ParseOptions{Account: megafontest.Domain})
	require.NoError(t, err)
	want := push[0]
	want.Raw = got[0].Raw
	assert.Equal(t, want, got[0], "the history record and its push make one event")
	assert.Equal(t, callevent.Missed, got[1].Status)
	assert.Equal(t, 30*time.Second, got[1].Wait)
}
