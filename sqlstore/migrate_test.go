package sqlstore

import (
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/callbridge/callbridge/match"
)

// openVersion returns the database dsn of dv migrated up to version only,
// on a connection of its own (no group commit), for the caller to fill
// with rows of that version and close.
func openVersion(t *testing.T, dv backend, dsn string, version int) *sql.DB {
	t.Helper()
	driverName, driverDSN, dialect := "sqlite", sqliteDSN(dsn, "NORMAL"), DialectSQLite
	if dv.name == "postgres" {
		driverName, driverDSN, dialect = "pgx", dsn, DialectPostgres
	}
	raw, err := sql.Open(driverName, driverDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	d := &DB{db: raw, dialect: dialect, cfg: config{now: time.Now}}
	if err := d.migrateTo(ctx, version); err != nil {
		t.Fatalf("migrate to version %d: %v", version, err)
	}
	return raw
}

// TestSchemaColumnsOfLeads: the columns checkSchema names for cb_leads
// are the rebuilt table's on SQLite (migration 0009 creates it again) and
// the added ones on PostgreSQL, each once, phone among them.
func TestSchemaColumnsOfLeads(t *testing.T) {
	want := []string{"seq", "account", "id", "client_id", "name", "pipeline", "status", "state", "source", "responsible",
		"created_at", "provider", "call_id", "phone"}
	for _, dialect := range []string{DialectSQLite, DialectPostgres} {
		ms, err := migrations(dialect)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, schemaColumns(ms)["cb_leads"]); diff != "" {
			t.Errorf("%s: columns of cb_leads (-want +got):\n%s", dialect, diff)
		}
	}
}

// TestMigrateLeadPhone: a database of schema version 8 with leads (the
// newest deleted, so the counter of lead numbers is ahead of the rows)
// migrates to version 9, leads without a client: the leads read back as
// they were, a new lead gets a number never given before, the unique call
// key and the foreign key to cb_clients still hold, and a lead has a
// client or a phone, not both and not neither.
func TestMigrateLeadPhone(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		raw := openVersion(t, dv, dsn, 8)
		exec := func(db *sql.DB, q string, args ...any) error {
			t.Helper()
			_, err := db.ExecContext(ctx, q, args...)
			return err
		}
		if err := exec(raw, "INSERT INTO cb_clients (account, id, name, phone, channel, responsible, created_from_call, tags, fields, created_at)"+
			" VALUES ('a', 'c1', 'Anna', '79161234567', 'telephony', 'u1', false, '[]', '{}', 1)"); err != nil {
			t.Fatal(err)
		}
		const insertOld = "INSERT INTO cb_leads (account, id, client_id, name, pipeline, status, state, source, responsible, created_at, provider, call_id)" +
			" VALUES ('a', $1, 'c1', $2, 'sales', 'new', 0, 'call', 'u1', $3, $4, $5)"
		at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		for i, l := range [][]any{
			{"l1", "first", at.UnixNano(), "telphin", "k1"},
			{"l2", "second", at.Add(time.Hour).UnixNano(), "", ""},
			{"l3", "deleted", at.Add(2 * time.Hour).UnixNano(), "", ""},
		} {
			if err := exec(raw, insertOld, l...); err != nil {
				t.Fatalf("lead %d: %v", i+1, err)
			}
		}
		if err := exec(raw, "DELETE FROM cb_leads WHERE id = 'l3'"); err != nil {
			t.Fatal(err)
		}
		raw.Close()

		db := open(t, dsn)
		if got, want := schemaRows(t, db), SchemaVersion(); got != want {
			t.Fatalf("%d schema rows after the upgrade, want %d", got, want)
		}
		l1 := match.Lead{ID: "l1", Account: "a", ClientID: "c1", Name: "first", Pipeline: "sales", Status: "new", Source: "call",
			Provider: "telphin", CallID: "k1", Responsible: "u1", CreatedAt: at}
		l2 := match.Lead{ID: "l2", Account: "a", ClientID: "c1", Name: "second", Pipeline: "sales", Status: "new", Source: "call",
			Responsible: "u1", CreatedAt: at.Add(time.Hour)}
		got, err := db.ClientLeads(ctx, "a", "c1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]match.Lead{l2, l1}, got); diff != "" {
			t.Errorf("ClientLeads after the upgrade (-want +got):\n%s", diff)
		}

		nl, err := db.CreateLead(ctx, match.Lead{Account: "a", Phone: "8 916 765-43-21", Name: "missed", Provider: "phonet", CallID: "m1"})
		if err != nil {
			t.Fatal(err)
		}
		if nl.ID != "l4" || nl.Phone != "79167654321" || nl.ClientID != "" {
			t.Errorf("new lead without a client %+v: want ID l4 (after the deleted l3), phone 79167654321", nl)
		}
		if again, err := db.CreateLead(ctx, match.Lead{Account: "a", Phone: "79167654321", Provider: "telphin", CallID: "k1"}); err != nil || again.ID != "l1" {
			t.Errorf("CreateLead of the old lead's call = %+v, %v; want l1", again, err)
		}
		all, err := db.Leads(ctx, "a", Page{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]match.Lead{l1, l2, nl}, all); diff != "" {
			t.Errorf("Leads after the upgrade (-want +got):\n%s", diff)
		}

		const insertNew = "INSERT INTO cb_leads (account, id, client_id, phone, name, pipeline, status, state, source, responsible, created_at, provider, call_id)" +
			" VALUES ('a', $1, $2, $3, '', '', '', 0, '', '', 0, $4, $5)"
		for _, tt := range []struct {
			name string
			args []any
		}{
			{"neither a client nor a phone", []any{"x1", nil, "", "", ""}},
			{"a client and a phone", []any{"x2", "c1", "79161234567", "", ""}},
			{"an unknown client", []any{"x3", "nobody", "", "", ""}},
			{"a call that has a lead", []any{"x4", "c1", "", "telphin", "k1"}},
		} {
			if err := exec(db.db, insertNew, tt.args...); err == nil {
				t.Errorf("a lead with %s was stored", tt.name)
			}
		}
		if err := exec(db.db, insertNew, "x5", nil, "79161234567", "", ""); err != nil {
			t.Errorf("a lead with a phone and no client: %v", err)
		}

		if dv.name == "sqlite" {
			var tables []string
			rows, err := db.db.QueryContext(ctx, "SELECT name FROM sqlite_sequence ORDER BY name")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var name string
				if err := rows.Scan(&name); err != nil {
					t.Fatal(err)
				}
				tables = append(tables, name)
			}
			rows.Close()
			if n := len(slices.DeleteFunc(slices.Clone(tables), func(s string) bool { return s != "cb_leads" })); n != 1 || slices.Contains(tables, "cb_leads_old") {
				t.Errorf("sqlite_sequence names %v: want cb_leads once and no cb_leads_old", tables)
			}
		}
	})
}
