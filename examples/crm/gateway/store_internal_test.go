package gateway

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
)

// A create for a phone that already has a client returns that client: it
// is listed once.
func TestCreateClientListsOnce(t *testing.T) {
	t.Parallel()
	ms, err := memstore.New(memstore.SingleTenant())
	require.NoError(t, err)
	s := newCRMStore(ms)
	a, err := s.CreateClient(t.Context(), match.Client{Account: "a", Phone: "79161234567"})
	require.NoError(t, err)
	b, err := s.CreateClient(t.Context(), match.Client{Account: "b", Phone: "79161234567"})
	require.NoError(t, err)
	require.Equal(t, a.ID, b.ID)
	require.Equal(t, []string{a.ID}, s.clients)
}

// recent gives the newest calls of a number as the whole log would, after
// any mix of new calls, updates that move a call in time or to another
// number, and the drops of a full log.
func TestCallLogRecent(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	l := callLog{max: 64, byKey: map[callKey]*match.CallRecord{}}
	phones := []string{"79160000001", "79160000002", "79160000003", ""}
	base := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for step := range 3000 {
		l.put(match.CallRecord{Provider: "telphin", Account: "a", CallID: fmt.Sprintf("c%d", rnd.IntN(150)),
			ClientPhone: phones[rnd.IntN(len(phones))], StartedAt: base.Add(time.Duration(rnd.IntN(500)) * time.Second)})
		for _, ph := range phones[:3] {
			var want []string
			for _, r := range l.all() {
				if r.ClientPhone == ph && len(want) < lastCalls {
					want = append(want, r.CallID)
				}
			}
			var got []string
			for _, r := range l.recent(ph, lastCalls) {
				got = append(got, r.CallID)
			}
			require.Equal(t, want, got, "step %d, number %s", step, ph)
		}
	}
	require.LessOrEqual(t, l.len(), 64)
}
