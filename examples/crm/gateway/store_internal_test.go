package gateway

import (
	"testing"

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
