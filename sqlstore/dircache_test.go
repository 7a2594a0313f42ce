package sqlstore

import (
	"context"
	"testing"

	"github.com/callbridge/callbridge/match"
)

// The directory is read from a copy: a change through the same DB shows at
// once, one made by another instance on the same database once the copy
// is dirTTL old, and a caller changing what it got changes no copy.
func TestDirectoryCopy(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		ctx := context.Background()
		dsn := dv.dsn(t)
		a := open(t, dsn)
		clock := newFakeClock()
		b := open(t, dsn, WithClock(clock))
		find := func(db *DB, key string) string {
			t.Helper()
			e, ok, err := db.FindEmployee(ctx, "acc", key)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return ""
			}
			return e.ID
		}
		if err := a.SetEmployees(ctx, "acc", match.Employee{ID: "e1", Login: "ann", Extensions: []string{"101"}}); err != nil {
			t.Fatal(err)
		}
		if got := find(b, "101"); got != "e1" {
			t.Fatalf("b finds 101 = %q, want e1", got)
		}
		if err := a.SetEmployees(ctx, "acc", match.Employee{ID: "e2", Login: "bob", Extensions: []string{"101", "102"}}); err != nil {
			t.Fatal(err)
		}
		if got := find(a, "101"); got != "e2" {
			t.Fatalf("a after its own change finds 101 = %q, want e2", got)
		}
		if got := find(b, "101"); got != "e1" {
			t.Fatalf("b within dirTTL finds 101 = %q, want its copy's e1", got)
		}
		clock.Advance(dirTTL)
		if got := find(b, "101"); got != "e2" {
			t.Fatalf("b after dirTTL finds 101 = %q, want e2", got)
		}
		if got := find(b, "bob"); got != "e2" {
			t.Fatalf("b finds the login bob = %q, want e2", got)
		}

		emps, err := b.Employees(ctx, "acc")
		if err != nil {
			t.Fatal(err)
		}
		emps[0].Extensions[0] = "999"
		if got := find(b, "101"); got != "e2" {
			t.Fatalf("after a caller changed its slice, 101 = %q, want e2", got)
		}
	})
}
