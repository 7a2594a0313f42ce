package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbridge/callbridge/internal/pgtest"
)

// backend is one database flavour under test.
type backend struct {
	name string
	// dsn returns the DSN of a new empty database for t.
	dsn func(t testing.TB) string
}

var drivers = []backend{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "callbridge.db") }},
	{"postgres", pgtest.NewDatabase},
}

// forEachDriver runs f as a parallel subtest per backend.
func forEachDriver(t *testing.T, f func(t *testing.T, dv backend)) {
	for _, dv := range drivers {
		t.Run(dv.name, func(t *testing.T) {
			t.Parallel()
			f(t, dv)
		})
	}
}

// open opens dsn for t and closes it when t ends.
func open(t testing.TB, dsn string, opts ...Option) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newDB opens a new empty database of dv for t.
func newDB(t testing.TB, dv backend, opts ...Option) *DB {
	t.Helper()
	return open(t, dv.dsn(t), opts...)
}

// fakeClock is a settable clock.
type fakeClock struct{ now atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.now.Store(time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.now.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.now.Add(int64(d)) }
func (c *fakeClock) AfterFunc(time.Duration, func()) interface{ Stop() bool } {
	panic("not used")
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// queryPlan is SQLite's plan of query, its steps' details in order.
func queryPlan(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(plan)
}
