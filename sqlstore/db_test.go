package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/callbridge/callbridge/match"
	"golang.org/x/sync/errgroup"
)

func schemaRows(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.db.QueryRow("SELECT COUNT(*) FROM callbridge_schema").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenMigratesOnce(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		for i := range 2 {
			db := open(t, dsn)
			if got, want := schemaRows(t, db), SchemaVersion(); got != want {
				t.Fatalf("open %d: %d schema rows, want %d", i+1, got, want)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestOpenConcurrently(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		const n = 4
		dbs := make([]*DB, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { dbs[i], errs[i] = Open(context.Background(), dsn) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Open %d: %v", i, err)
			}
			t.Cleanup(func() { dbs[i].Close() })
		}
		if got, want := schemaRows(t, dbs[0]), SchemaVersion(); got != want {
			t.Fatalf("%d schema rows after %d concurrent Opens, want %d", got, n, want)
		}
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		db := open(t, dsn)
		if _, err := db.db.Exec("INSERT INTO callbridge_schema (version, name, applied_at) VALUES (999, 'future.sql', 0)"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err := Open(context.Background(), dsn)
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("Open of a version-999 database: %v, want ErrSchemaTooNew", err)
		}
		for _, want := range []string{"schema version 999", "newer"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
}

// TestOpenRefusesDamagedSchema: a file that is not a database, and a
// database missing a table or a column of its schema version, are refused
// at Open with a message saying so.
func TestOpenRefusesDamagedSchema(t *testing.T) {
	ctx := context.Background()
	t.Run("not a database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cb.db")
		if err := os.WriteFile(path, bytes.Repeat([]byte("not sqlite "), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(ctx, path)
		if err == nil {
			db.Close()
			t.Fatal("Open of a file that is not a database succeeded")
		}
		if !strings.Contains(err.Error(), "sqlstore: open sqlite database "+path) || !strings.Contains(err.Error(), "not a database") {
			t.Errorf("error %q", err)
		}
	})
	forEachDriver(t, func(t *testing.T, dv backend) {
		for _, damage := range []string{"DROP TABLE cb_leads", "ALTER TABLE cb_calls DROP COLUMN recording_url"} {
			dsn := dv.dsn(t)
			db := open(t, dsn)
			if _, err := db.db.ExecContext(ctx, damage); err != nil {
				t.Fatal(err)
			}
			db.Close()
			again, err := Open(ctx, dsn)
			if err == nil {
				again.Close()
				t.Fatalf("Open after %q succeeded", damage)
			}
			if !errors.Is(err, ErrSchemaDamaged) {
				t.Errorf("Open after %q: %v, want ErrSchemaDamaged", damage, err)
			}
		}
	})
}

func TestOpenErrors(t *testing.T) {
	missingDir := filepath.Join(t.TempDir(), "no", "such", "dir", "cb.db")
	tests := []struct {
		name     string
		dsn      string
		want     []string
		mustNot  []string
		wantOpts []Option
	}{
		{
			name:    "unreachable postgres, password redacted",
			dsn:     "postgres://callbridge:s3cret-pw@127.0.0.1:1/callbridge?sslmode=disable",
			want:    []string{"sqlstore: open postgres database postgres://callbridge:REDACTED@127.0.0.1:1/callbridge"},
			mustNot: []string{"s3cret-pw"},
		},
		{
			name:    "password as a parameter",
			dsn:     "postgresql://callbridge@127.0.0.1:1/callbridge?password=s3cret-pw&sslmode=disable",
			want:    []string{"password=REDACTED"},
			mustNot: []string{"s3cret-pw"},
		},
		{
			name: "sqlite in a missing directory",
			dsn:  missingDir,
			want: []string{"sqlstore: open sqlite database " + missingDir + ":"},
		},
		{
			name: "empty",
			dsn:  " ",
			want: []string{"empty database name"},
		},
		{
			name:     "unknown country",
			dsn:      "x.db",
			want:     []string{"sqlstore: Open:"},
			wantOpts: []Option{WithDefaultCountry("ZZZ")},
		},
		{
			name:     "nil option",
			dsn:      "x.db",
			want:     []string{"option 1 is nil"},
			wantOpts: []Option{nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, err := Open(context.Background(), tt.dsn, tt.wantOpts...)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, w := range tt.mustNot {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q contains %q", err, w)
				}
			}
			if strings.Count(err.Error(), "sqlstore:") != 1 {
				t.Errorf("error %q: want one sqlstore: prefix", err)
			}
		})
	}
}

func TestSQLiteSettings(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		sync int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{
		{"default NORMAL", nil, 1},
		{"WithFullSync", []Option{WithFullSync()}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, filepath.Join(t.TempDir(), "s.db"), tt.opts...)
			if db.Dialect() != DialectSQLite {
				t.Fatalf("Dialect() = %q", db.Dialect())
			}
			var mode string
			var sync, fk, busy int
			row := db.db.QueryRow("SELECT journal_mode, synchronous, foreign_keys, timeout FROM pragma_journal_mode, pragma_synchronous, pragma_foreign_keys, pragma_busy_timeout")
			if err := row.Scan(&mode, &sync, &fk, &busy); err != nil {
				t.Fatal(err)
			}
			if mode != "wal" || sync != tt.sync || fk != 1 || busy != int(DefaultBusyTimeout.Milliseconds()) {
				t.Errorf("journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d, want wal %d 1 %d",
					mode, sync, fk, busy, tt.sync, DefaultBusyTimeout.Milliseconds())
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://callbridge:callbridge@127.0.0.1:5432/callbridge", "postgres://callbridge:REDACTED@127.0.0.1:5432/callbridge"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?password=x&sslmode=disable", "postgres://h/db?password=REDACTED&sslmode=disable"},
		{"postgres://u:p%zz@h/db", "(a PostgreSQL URL that does not parse)"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestWALStaysBounded: under a steady stream of commits, with readers
// beside them, the background checkpoint restarts SQLite's write-ahead
// log once it is past its limit, so the log file does not grow with the
// data written. A passive checkpoint alone never catches up with the
// log's end while commits keep coming: each checkpoint here runs while a
// reader holds a snapshot taken before the last commit, so it cannot copy
// that commit, and the next commit finds the log not fully copied, which
// is when SQLite does not restart it. The steps run in a fixed order, one
// at a time, so the log grows by the same on a busy machine as on an idle
// one (the background checkpoint, every 200 ms, can only make it smaller).
func TestWALStaysBounded(t *testing.T) {
	const limit = 64 // frames
	path := filepath.Join(t.TempDir(), "wal.db")
	db := open(t, path, func(c *config) error { c.walRestart = limit; return nil })
	if _, err := db.db.Exec("CREATE TABLE scratch (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	write := func(k int) {
		t.Helper()
		err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO scratch (k, v) VALUES ($1, $2)", k, strings.Repeat("x", 2000))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	reader, err := db.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	const rounds = 2000
	for i := range rounds {
		write(2 * i)
		// The writer restarts the log between two groups, after it
		// answered the first: an empty group waits for that.
		if err := db.inTx(ctx, func(context.Context, *sql.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		// A reader's open statement holds its snapshot, as a lookup of
		// the engine does while the next commit runs.
		rows, err := reader.QueryContext(ctx, "SELECT k FROM scratch")
		if err != nil {
			t.Fatal(err)
		}
		if !rows.Next() {
			t.Fatal("no rows")
		}
		write(2*i + 1)
		if err := db.checkpoint(ctx); err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
		rows.Close()
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// 4,000 commits of a 2 kB row write over 8,000 pages: a log that
	// never restarts grows to 33 MB. Restarted once past 64 frames, it
	// holds 0.3 to 1 MB (when the background checkpoint keeps the writer's
	// from copying, the restart waits for the next group).
	if max := int64(4 << 20); fi.Size() > max {
		t.Errorf("write-ahead log is %d bytes after %d commits, want at most %d", fi.Size(), 2*rounds, max)
	}
}

// TestLookupsShareWriterConn: on a SQLite file the lookups run on the
// writer's connection (see DB.read), so concurrent lookups beside writes
// open no connection of the pool for themselves, and each sees what was
// committed before it began.
func TestLookupsShareWriterConn(t *testing.T) {
	db := newDB(t, drivers[0])
	const readers, rounds = 8, 50
	var g errgroup.Group
	g.Go(func() error {
		for i := range rounds {
			if err := db.AddClients(ctx, match.Client{Name: "w", Phone: fmt.Sprintf("7495%07d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	for r := range readers {
		g.Go(func() error {
			for i := range rounds {
				if _, err := db.FindClientsByField(ctx, "", fmt.Sprintf("7916%07d", r*rounds+i), 5); err != nil {
					return err
				}
				if _, _, err := db.FindClientByPhone(ctx, "", fmt.Sprintf("7916%07d", i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// The writer's connection, the one that prepared the statements once
	// and the background checkpoint's: the readers took none.
	if n := db.db.Stats().OpenConnections; n > 3 {
		t.Errorf("%d connections open after %d concurrent readers; want at most 3", n, readers)
	}
	for i := range rounds {
		c, ok, err := db.FindClientByPhone(ctx, "", fmt.Sprintf("7495%07d", i))
		if err != nil || !ok || c.Name != "w" {
			t.Fatalf("FindClientByPhone(%d) = %+v, %v, %v; want the client written", i, c, ok, err)
		}
	}
	// After Close a lookup fails: the writer's connection went with the DB.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.FindClientByPhone(ctx, "", "74950000000"); err == nil {
		t.Error("FindClientByPhone after Close succeeded")
	}
}
