package sqlstore

import (
	"fmt"
	"testing"

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
			" WHERE f.account = $1 AND f.digits = $2 ORDER BY f.client_seq LIMIT $3", "sqlite_autoindex_cb_client_phones_1"},
	}
	for _, tt := range tests {
		rows, err := db.db.Query("EXPLAIN QUERY PLAN "+tt.query, "a", "79161234567", 10)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := fmt.Sprint(plan)
		if !contains(text, tt.index) || contains(text, "SCAN c ") || contains(text, "SCAN cb_clients") {
			t.Errorf("plan of %q:\n%s\nwant a search using %s", tt.query, text, tt.index)
		}
	}
}
