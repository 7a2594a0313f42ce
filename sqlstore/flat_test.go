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

func countTable(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDedupStaysFlat: a Dedup deletes its expired rows on its own; over a
// long run the table keeps about a ttl of events.
func TestDedupStaysFlat(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clock := newFakeClock()
		db := newDB(t, dv, WithClock(clock))
		d := db.Dedup(time.Hour)
		// A ttl of rounds, the one being added and the one a purge may
		// not have reached yet.
		bound := (int(time.Hour/flatStep) + 2) * flatPerRound
		var sizes []int64
		for r := range flatRounds {
			for i := range flatPerRound {
				id := fmt.Sprintf("ev-%d-%d", r, i)
				claimIs(t, d, id, "claim")
				d.Release(ctx, id, true)
			}
			eventually(t, "dedup rows within the ttl", func() bool { return countTable(t, db, "cb_dedup") <= bound })
			if r%12 == 11 {
				sizes = append(sizes, tableSize(t, db, "cb_dedup"))
			}
			clock.Advance(flatStep)
		}
		t.Logf("cb_dedup bytes after hours 3, 6, 9, 12: %d", sizes)
		// On PostgreSQL the bytes depend on when VACUUM may reclaim
		// (other transactions, index page recycling): only the rows are
		// checked there.
		if dv.name == "sqlite" && sizes[3] > 2*sizes[0] {
			t.Errorf("cb_dedup grew from %d to %d bytes between hours 3 and 12", sizes[0], sizes[3])
		}
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
		bound := (int(time.Hour/flatStep) + 2) * flatPerRound
		var sizes []int64
		for r := range flatRounds {
			for i := range flatPerRound {
				if err := in.HandleEvent(ctx, testEvent(r, i)); err != nil {
					t.Fatal(err)
				}
			}
			rec.waitDelivered(t, flatPerRound)
			eventually(t, "inbox rows within the retention", func() bool { return countTable(t, db, "cb_inbox") <= bound })
			if r%12 == 11 {
				sizes = append(sizes, tableSize(t, db, "cb_inbox"))
			}
			clock.Advance(flatStep)
		}
		t.Logf("cb_inbox bytes after hours 3, 6, 9, 12: %d", sizes)
		// On PostgreSQL the bytes depend on when VACUUM may reclaim
		// (other transactions, index page recycling): only the rows are
		// checked there.
		if dv.name == "sqlite" && sizes[3] > 2*sizes[0] {
			t.Errorf("cb_inbox grew from %d to %d bytes between hours 3 and 12", sizes[0], sizes[3])
		}
	})
}
