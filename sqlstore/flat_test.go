package sqlstore

import (
	"fmt"
	"testing"
	"time"
)

// The tests below run a long load (12 hours of a fake clock, 4,800
// events) through the tables that would otherwise grow without bound, and
// check that their rows stay within what the retention keeps.
const (
	flatRounds   = 48
	flatPerRound = 100
	flatStep     = 15 * time.Minute
)

// tableSize is the bytes of table and its indexes. On PostgreSQL the
// table is vacuumed first, as autovacuum does in a long run, so the space
// of deleted rows is counted as reusable (as far as VACUUM can reclaim it
// at that moment).
func tableSize(t *testing.T, db *DB, table string) int64 {
	t.Helper()
	if db.Dialect() == DialectPostgres {
		if _, err := db.db.Exec("VACUUM " + table); err != nil {
			t.Fatalf("vacuum %s: %v", table, err)
		}
	}
	q := "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = '" + table + "' OR name IN (SELECT name FROM sqlite_master WHERE tbl_name = '" + table + "')"
	if db.Dialect() == DialectPostgres {
		q = "SELECT pg_total_relation_size('" + table + "')"
	}
	var n int64
	if err := db.db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("size of %s: %v", table, err)
	}
	return n
}

// runFlat runs the long load: round(r) adds round r's events; after each
// the table's rows must come down to a window (a ttl or retention of an
// hour: its rounds, the one being added and one a purge may not have
// reached yet) and on SQLite its bytes must not grow.
func runFlat(t *testing.T, dv backend, db *DB, clock *fakeClock, table string, round func(r int)) {
	t.Helper()
	bound := (int(time.Hour/flatStep) + 2) * flatPerRound
	var sizes []int64
	for r := range flatRounds {
		round(r)
		eventually(t, table+" rows within the window", func() bool { return countIn(t, db, table, "1=1") <= bound })
		if r%12 == 11 {
			sizes = append(sizes, tableSize(t, db, table))
		}
		clock.Advance(flatStep)
	}
	t.Logf("%s bytes after hours 3, 6, 9, 12: %d", table, sizes)
	// On PostgreSQL the bytes depend on when VACUUM may reclaim (other
	// transactions, index page recycling): only the rows are checked there.
	if dv.name == "sqlite" && sizes[3] > 2*sizes[0] {
		t.Errorf("%s grew from %d to %d bytes between hours 3 and 12", table, sizes[0], sizes[3])
	}
}

// TestDedupStaysFlat: a Dedup deletes its expired rows on its own; over a
// long run the table keeps about a ttl of events.
func TestDedupStaysFlat(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clock := newFakeClock()
		db := newDB(t, dv, WithClock(clock))
		d := db.Dedup(time.Hour)
		runFlat(t, dv, db, clock, "cb_dedup", func(r int) {
			for i := range flatPerRound {
				id := fmt.Sprintf("ev-%d-%d", r, i)
				claimIs(t, d, id, "claim")
				d.Release(ctx, id, true)
			}
		})
	})
}

// TestInboxStaysFlat: delivered inbox rows are deleted after the
// retention by the inbox itself; over a long run the table keeps about a
// retention of events.
func TestInboxStaysFlat(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clock := newFakeClock()
		db := newDB(t, dv, WithClock(clock))
		rec := newRecorder()
		in := newInbox(t, db, rec, InboxConfig{Retention: time.Hour, PollInterval: 5 * time.Millisecond})
		runFlat(t, dv, db, clock, "cb_inbox", func(r int) {
			for i := range flatPerRound {
				if err := in.HandleEvent(ctx, testEvent(r, i)); err != nil {
					t.Fatal(err)
				}
			}
			rec.waitDelivered(t, flatPerRound)
		})
	})
}
