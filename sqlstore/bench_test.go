package sqlstore

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callbridge/callbridge/match"
)

// BenchmarkFindClientByPhone looks phones up among 10,000 clients of one
// account (and 10,000 of another), hitting and missing.
func BenchmarkFindClientByPhone(b *testing.B) {
	const n = 10_000
	for _, dv := range drivers {
		b.Run(dv.name, func(b *testing.B) {
			db := newDB(b, dv)
			for _, account := range []string{"a", "b"} {
				cs := make([]match.Client, n)
				for i := range cs {
					cs[i] = match.Client{Account: account, Name: fmt.Sprint("client ", i), Phone: fmt.Sprintf("7916%07d", i),
						Fields: map[string]string{"work": fmt.Sprintf("7495%07d", i)}}
				}
				if err := db.AddClients(ctx, cs...); err != nil {
					b.Fatal(err)
				}
			}
			phones := make([]string, 1024)
			for i := range phones {
				phones[i] = fmt.Sprintf("7916%07d", (i*7919)%(n+n/10)) // about 1 in 11 misses
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, _, err := db.FindClientByPhone(ctx, "a", phones[i%len(phones)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLookupsUseIndexes: SQLite's plans of the phone lookups search an
// index rather than scan a table (the partial unique index on phone needs
// the query to say phone <> ”).
func TestLookupsUseIndexes(t *testing.T) {
	db := newDB(t, drivers[0])
	tests := []struct{ query, index string }{
		{"SELECT " + clientCols + " FROM cb_clients WHERE account = $1 AND phone = $2 AND phone <> ''", "cb_clients_phone"},
		{"SELECT " + prefixCols("c.", clientCols) + " FROM cb_client_phones f JOIN cb_clients c ON c.seq = f.client_seq" +
			" WHERE f.account = $1 AND f.digits = $2 ORDER BY f.client_seq LIMIT 10", "sqlite_autoindex_cb_client_phones_1"},
	}
	for _, tt := range tests {
		text := queryPlan(t, db, tt.query, "a", "79161234567")
		if !contains(text, tt.index) || contains(text, "SCAN c ") || contains(text, "SCAN cb_clients") {
			t.Errorf("plan of %q:\n%s\nwant a search using %s", tt.query, text, tt.index)
		}
	}
}

// TestPhoneLeadsUsesIndex: the plan of PhoneLeads searches the partial
// index cb_leads_phone of migration 0009 in its order (no sort, no scan)
// on SQLite, and on PostgreSQL, whose planner would scan a table this
// small, the index serves the query once sequential scans are off (its
// predicate, client_id IS NULL, is implied by the query).
func TestPhoneLeadsUsesIndex(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		if dv.name == "sqlite" {
			text := queryPlan(t, db, phoneLeadsQuery, "a", "79161234567")
			if !contains(text, "USING INDEX cb_leads_phone") || contains(text, "SCAN cb_leads") || contains(text, "TEMP B-TREE") {
				t.Errorf("plan of %q:\n%s\nwant a search using cb_leads_phone, in its order", phoneLeadsQuery, text)
			}
			return
		}
		tx, err := db.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec("SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query("EXPLAIN "+phoneLeadsQuery, "a", "79161234567")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprint(plan)
		if !contains(text, "cb_leads_phone") || contains(text, "Sort") {
			t.Errorf("plan of %q:\n%s\nwant a scan of cb_leads_phone, in its order", phoneLeadsQuery, text)
		}
	})
}

// BenchmarkLookupMillionClients resolves phones as a call does
// (match.Engine.LookupContact: the phone, then the fields) among 1,000,000
// clients on SQLite, and reports the 99th percentile of one lookup: the
// lookups are index searches, so it stays flat as clients grow. Filling
// the database takes a minute or two; run it on its own:
//
//	go test ./sqlstore -run '^$' -bench LookupMillionClients -benchtime 20000x
func BenchmarkLookupMillionClients(b *testing.B) {
	const n = 1_000_000
	db := newDB(b, drivers[0], WithDefaultCountry("RU"))
	for start := 0; start < n; start += 10_000 {
		cs := make([]match.Client, 10_000)
		for i := range cs {
			k := start + i
			cs[i] = match.Client{Name: fmt.Sprint("client ", k), Phone: fmt.Sprintf("7916%07d", k),
				Fields: map[string]string{"work": fmt.Sprintf("7495%07d", k)}}
		}
		if err := db.AddClients(ctx, cs...); err != nil {
			b.Fatal(err)
		}
	}
	// The lookups are measured, not the fill: its log is copied into the
	// database file first, as the background checkpoint does soon after.
	if _, err := db.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	e, err := match.NewEngine(db, match.WithDefaultCountry("RU"))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	took := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := (i * 7919) % (n + n/10) // about 1 in 11 misses, which also search the fields
		t0 := time.Now()
		if _, _, err := e.LookupContact(ctx, "", fmt.Sprintf("+7 916 %07d", k)); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
}
