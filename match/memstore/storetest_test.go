package memstore_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/callbridge/callbridge/match/storetest"
)

// TestConformance runs the store conformance suite against Store.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, harness)
}

// harness adapts a Store to storetest. A Store ignores contexts.
var harness = storetest.Harness{
	New: func(t *testing.T) storetest.Store {
		s, err := memstore.New()
		require.NoError(t, err)
		return s
	},
	SetEmployees: func(t *testing.T, s storetest.Store, account string, es ...match.Employee) {
		s.(*memstore.Store).SetEmployees(account, es...)
	},
	SetOnline: func(t *testing.T, s storetest.Store, account string, ids ...string) {
		s.(*memstore.Store).SetOnline(account, ids...)
	},
	Clients: func(t *testing.T, s storetest.Store, account string) []match.Client {
		return inAccount(s.(*memstore.Store).Clients(), account, func(c match.Client) string { return c.Account })
	},
	Calls: func(t *testing.T, s storetest.Store, account string) []match.CallRecord {
		return inAccount(s.(*memstore.Store).Calls(), account, func(r match.CallRecord) string { return r.Account })
	},
	Notifications: func(t *testing.T, s storetest.Store, account string) []match.Notification {
		return inAccount(s.(*memstore.Store).Notifications(), account, func(n match.Notification) string { return n.Account })
	},
	DialogNotes: func(t *testing.T, s storetest.Store, account, id string) []match.DialogNote {
		return s.(*memstore.Store).DialogNotes(account, id)
	},
	IgnoresContext: true,
}

// inAccount returns the values of xs that belong to account.
func inAccount[T any](xs []T, account string, accountOf func(T) string) []T {
	return slices.DeleteFunc(xs, func(x T) bool { return accountOf(x) != account })
}
