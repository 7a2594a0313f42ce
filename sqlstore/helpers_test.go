package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// postgresDSNEnv names the environment variable with the DSN of a
// PostgreSQL server for the tests (.ci/run sets it).
const postgresDSNEnv = "CALLBRIDGE_POSTGRES_DSN"

// postgresDSN returns the server's DSN, skipping the test when it is not
// set (failing it under CI=true).
func postgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CALLBRIDGE_POSTGRES_DSN is not set: .ci/run starts PostgreSQL and sets it")
		}
		t.Skip("set CALLBRIDGE_POSTGRES_DSN=postgres://… to run against PostgreSQL (see .ci/run)")
	}
	return dsn
}

var dbCounter atomic.Int64

// newPostgresDatabase creates an empty database on the test server for t
// and drops it when t ends; it returns the DSN of the new database.
func newPostgresDatabase(t testing.TB) string {
	t.Helper()
	base := postgresDSN(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := fmt.Sprintf("cb_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000_000, dbCounter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// backend is one database flavour under test.
type backend struct {
	name string
	// dsn returns the DSN of a new empty database for t.
	dsn func(t testing.TB) string
}

var drivers = []backend{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "callbridge.db") }},
	{"postgres", newPostgresDatabase},
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
