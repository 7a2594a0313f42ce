package sqlstore

import (
	"testing"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/storetest"
)

// all reads every page of a listing.
func all[T any](t *testing.T, list func(Page) ([]T, error)) []T {
	t.Helper()
	var out []T
	for off := 0; ; off += MaxPageLimit {
		page, err := list(Page{Offset: off, Limit: MaxPageLimit})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < MaxPageLimit {
			return out
		}
	}
}

// TestConformance runs the shared suite of the match stores against both
// databases.
func TestConformance(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		storetest.Run(t, storetest.Harness{
			New: func(t *testing.T) storetest.Store { return newDB(t, dv) },
			SetEmployees: func(t *testing.T, s storetest.Store, account string, es ...match.Employee) {
				if err := s.(*DB).SetEmployees(ctx, account, es...); err != nil {
					t.Fatal(err)
				}
			},
			SetOnline: func(t *testing.T, s storetest.Store, account string, ids ...string) {
				if err := s.(*DB).SetOnline(ctx, account, ids...); err != nil {
					t.Fatal(err)
				}
			},
			Clients: func(t *testing.T, s storetest.Store, account string) []match.Client {
				return all(t, func(p Page) ([]match.Client, error) { return s.(*DB).Clients(ctx, account, p) })
			},
			Calls: func(t *testing.T, s storetest.Store, account string) []match.CallRecord {
				return all(t, func(p Page) ([]match.CallRecord, error) { return s.(*DB).Calls(ctx, account, p) })
			},
			Notifications: func(t *testing.T, s storetest.Store, account string) []match.Notification {
				return all(t, func(p Page) ([]match.Notification, error) { return s.(*DB).Notifications(ctx, account, p) })
			},
			DialogNotes: func(t *testing.T, s storetest.Store, account, id string) []match.DialogNote {
				return all(t, func(p Page) ([]match.DialogNote, error) { return s.(*DB).DialogNotes(ctx, account, id, p) })
			},
		})
	})
}
