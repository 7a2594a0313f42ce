package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The schema: migrations/<dialect>/NNNN_name.sql, applied in order of NNNN.
//
//go:embed migrations
var migrationFS embed.FS

// migrationLockKey is the PostgreSQL advisory lock that serialises
// migrations of one database ("callbrdg" in ASCII).
const migrationLockKey int64 = 0x63616c6c62726467

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the dialect's migrations in version order.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s is not named NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("two migrations have version %d", ms[i].version)
		}
	}
	return ms, nil
}

// SchemaVersion is the newest schema version this build knows.
func SchemaVersion() int {
	ms, err := migrations(DialectSQLite)
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrate brings the schema to the newest version in one transaction that
// holds the database's migration lock (PostgreSQL: an advisory transaction
// lock; SQLite: the write lock of an immediate transaction), so processes
// opening the database at once apply each migration exactly once.
func (d *DB) migrate(ctx context.Context) error { return d.migrateTo(ctx, math.MaxInt) }

// migrateTo is migrate up to version upTo (the tests build a database of
// an older version with it).
func (d *DB) migrateTo(ctx context.Context, upTo int) error {
	ms, err := migrations(d.dialect)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	latest := ms[len(ms)-1].version
	return d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if d.dialect == DialectPostgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
				return fmt.Errorf("migration lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS callbridge_schema (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at BIGINT  NOT NULL
)`); err != nil {
			return fmt.Errorf("schema table: %w", err)
		}
		var cur int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM callbridge_schema").Scan(&cur); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
		if cur > latest {
			return fmt.Errorf("%w: the database is at schema version %d, this build knows up to %d: run a newer callbridge",
				ErrSchemaTooNew, cur, latest)
		}
		for _, m := range ms {
			if m.version <= cur || m.version > upTo {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO callbridge_schema (version, name, applied_at) VALUES ($1, $2, $3)",
				m.version, m.name, d.cfg.now().UnixNano()); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}

var (
	createTableRe = regexp.MustCompile(`(?s)CREATE TABLE (\w+) \((.*?)\n\);`)
	columnRe      = regexp.MustCompile(`(?m)^\s+(\w+)\s+(?:TEXT|INTEGER|BIGINT|SMALLINT|BOOLEAN)\b`)
	addColumnRe   = regexp.MustCompile(`ALTER TABLE (\w+) ADD COLUMN (\w+)`)
)

// schemaColumns lists the columns of every table the migrations create,
// table by table. A table created again (SQLite rebuilds a table to change
// a column's constraints) has the columns of its last CREATE TABLE and
// those added after it.
func schemaColumns(ms []migration) map[string][]string {
	cols := map[string][]string{}
	for _, m := range ms {
		for _, t := range createTableRe.FindAllStringSubmatch(m.sql, -1) {
			cols[t[1]] = nil
			for _, c := range columnRe.FindAllStringSubmatch(t[2], -1) {
				cols[t[1]] = append(cols[t[1]], c[1])
			}
		}
		for _, a := range addColumnRe.FindAllStringSubmatch(m.sql, -1) {
			cols[a[1]] = append(cols[a[1]], a[2])
		}
	}
	return cols
}

// checkSchema reads no row but names every table and column of the
// schema, so a database whose schema was damaged by hand (a dropped table
// or column) is refused at Open with ErrSchemaDamaged.
func (d *DB) checkSchema(ctx context.Context) error {
	ms, err := migrations(d.dialect)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	cols := schemaColumns(ms)
	tables := slices.Sorted(maps.Keys(cols))
	for _, t := range tables {
		rows, err := d.db.QueryContext(ctx, "SELECT "+strings.Join(cols[t], ", ")+" FROM "+t+" WHERE 1 = 0")
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("%w: table %s: %w", ErrSchemaDamaged, t, err)
		}
		rows.Close()
	}
	return nil
}
