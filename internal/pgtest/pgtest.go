// Package pgtest gives tests a database of their own on the PostgreSQL
// server named by CALLBRIDGE_POSTGRES_DSN (.ci/run starts one and sets
// it). Without the variable a test is skipped, saying how to run it; under
// CI=true it fails instead, so CI never passes by skipping.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Env names the environment variable with the server's DSN.
const Env = "CALLBRIDGE_POSTGRES_DSN"

// DSN returns the server's DSN, skipping t when it is not set (failing it
// under CI=true).
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(Env + " is not set: .ci/run starts PostgreSQL and sets it")
		}
		t.Skip("set " + Env + "=postgres://… to run against PostgreSQL (see .ci/run)")
	}
	return dsn
}

var counter atomic.Int64

// NewDatabase creates an empty database on the server for t, drops it
// when t ends and returns its DSN.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := DSN(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := fmt.Sprintf("cb_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000_000, counter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v (the role needs pg_signal_backend to end an autovacuum worker: see .ci/run)", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
