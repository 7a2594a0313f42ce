package sqlstore

import (
	"testing"
	"time"

	"github.com/callbridge/callbridge/match"
)

// TestReconcileStores: HasCall finds a logged call by provider, account
// and call ID; a cursor reads back what was saved, per name, and moves.
func TestReconcileStores(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
		if err := db.LogCall(ctx, match.CallRecord{Provider: "megafon", Account: "acme", CallID: "c1", StartedAt: at}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			provider, account, id string
			want                  bool
		}{{"megafon", "acme", "c1", true}, {"telphin", "acme", "c1", false}, {"megafon", "other", "c1", false}, {"megafon", "acme", "c2", false}} {
			got, err := db.HasCall(ctx, tc.provider, tc.account, tc.id)
			if err != nil || got != tc.want {
				t.Errorf("HasCall(%s, %s, %s) = %v, %v; want %v", tc.provider, tc.account, tc.id, got, err, tc.want)
			}
		}
		if _, ok, err := db.Cursor(ctx, "megafon/acme"); ok || err != nil {
			t.Fatalf("Cursor before any: ok=%v err=%v", ok, err)
		}
		for _, tm := range []time.Time{at, at.Add(time.Hour)} {
			if err := db.SetCursor(ctx, "megafon/acme", tm); err != nil {
				t.Fatal(err)
			}
			got, ok, err := db.Cursor(ctx, "megafon/acme")
			if err != nil || !ok || !got.Equal(tm) {
				t.Errorf("Cursor = %v, %v, %v; want %v", got, ok, err, tm)
			}
		}
		if _, ok, _ := db.Cursor(ctx, "telphin/acme"); ok {
			t.Error("a cursor of another name")
		}
	})
}
