package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

var ctx = context.Background()

func TestClients(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clock := newFakeClock()
		db := newDB(t, dv, WithClock(clock))
		created := time.Date(2024, 5, 6, 7, 8, 9, 987654321, time.FixedZone("MSK", 3*3600))
		c, err := db.CreateClient(ctx, match.Client{
			Account: "a", Name: "Иван", Phone: "8 (916) 123-45-67", Responsible: "u1", CreatedFromCall: true,
			Tags: []string{"74951234567"}, Fields: map[string]string{"work": "+7 916 000-00-01", "note": "hello"},
			CreatedAt: created,
		})
		if err != nil {
			t.Fatal(err)
		}
		want := match.Client{
			ID: "c1", Account: "a", Name: "Иван", Phone: "79161234567", Channel: match.ChannelTelephony,
			Responsible: "u1", CreatedFromCall: true, Tags: []string{"74951234567"},
			Fields: map[string]string{"work": "+7 916 000-00-01", "note": "hello"}, CreatedAt: created,
		}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("CreateClient (-want +got):\n%s", diff)
		}
		got, ok, err := db.FindClientByPhone(ctx, "a", "79161234567")
		if err != nil || !ok {
			t.Fatalf("FindClientByPhone: %v %v", ok, err)
		}
		// Stored exactly: same instant to the nanosecond, returned in UTC.
		want.CreatedAt = created.UTC()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("FindClientByPhone (-want +got):\n%s", diff)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt location %v, want UTC", got.CreatedAt.Location())
		}
		if byID, ok, err := db.Client(ctx, "a", "c1"); err != nil || !ok || byID.ID != "c1" {
			t.Errorf("Client(a, c1) = %v %v %v", byID.ID, ok, err)
		}

		// Accounts are isolated.
		if _, ok, err := db.FindClientByPhone(ctx, "b", "79161234567"); err != nil || ok {
			t.Errorf("FindClientByPhone in another account: %v %v", ok, err)
		}
		if _, ok, err := db.FindClientByPhone(ctx, "a", ""); err != nil || ok {
			t.Errorf("FindClientByPhone(\"\"): %v %v", ok, err)
		}
		other, err := db.CreateClient(ctx, match.Client{Account: "b", Phone: "79161234567"})
		if err != nil || other.Account != "b" || other.ID == "" {
			t.Fatalf("same phone in another account: %+v %v", other, err)
		}

		// The same phone again returns the existing client.
		again, err := db.CreateClient(ctx, match.Client{Account: "a", Name: "dup", Phone: "+79161234567"})
		if err != nil || again.ID != "c1" || again.Name != "Иван" {
			t.Errorf("CreateClient for a taken phone = %+v, %v; want client c1", again, err)
		}

		// A default CreatedAt comes from the clock; no phone is fine (and
		// two clients without a phone are two clients).
		np1, err := db.CreateClient(ctx, match.Client{Account: "a", Name: "no phone"})
		if err != nil || !np1.CreatedAt.Equal(clock.Now()) {
			t.Errorf("client without phone: %+v %v", np1, err)
		}
		np2, err := db.CreateClient(ctx, match.Client{Account: "a", Name: "no phone 2"})
		if err != nil || np2.ID == np1.ID {
			t.Errorf("second client without phone: %+v %v", np2, err)
		}

		// A chosen id is kept; a taken one is an error; generated ids skip
		// ids chosen by hand.
		if _, err := db.CreateClient(ctx, match.Client{Account: "a", ID: "c9", Phone: "79160000005"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateClient(ctx, match.Client{Account: "a", ID: "c9", Phone: "79160000006"}); err == nil ||
			!strings.Contains(err.Error(), `client id "c9" already exists`) {
			t.Errorf("duplicate id: %v", err)
		}
		for range 8 {
			if _, err := db.CreateClient(ctx, match.Client{Account: "a"}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := db.Clients(ctx, "a", Page{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		seen := map[string]bool{}
		for _, c := range list {
			ids = append(ids, c.ID)
			if seen[c.ID] {
				t.Errorf("id %s twice", c.ID)
			}
			seen[c.ID] = true
		}
		if len(ids) != 12 || ids[0] != "c1" || ids[3] != "c9" || list[3].Phone != "79160000005" {
			t.Errorf("Clients(a) ids = %v", ids)
		}
		// Pages.
		p1, err1 := db.Clients(ctx, "a", Page{Limit: 2})
		p2, err2 := db.Clients(ctx, "a", Page{Offset: 2, Limit: 2})
		if err1 != nil || err2 != nil || len(p1) != 2 || len(p2) != 2 || p1[0].ID != ids[0] || p2[0].ID != ids[2] {
			t.Errorf("pages: %v %v %v %v", p1, p2, err1, err2)
		}
	})
}

// TestGeneratedClientIDsSkipChosenOnes: a generated id ("c" and the row's
// number) that a caller chose for another client is not taken again, also
// when the client is created in one statement; the client keeps its
// number, and the phones of its fields are indexed.
func TestGeneratedClientIDsSkipChosenOnes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		chosen := map[string]bool{}
		for i := 3; i <= 8; i++ {
			id := fmt.Sprint("c", i)
			chosen[id] = true
			if _, err := db.CreateClient(ctx, match.Client{Account: "a", ID: id, Phone: fmt.Sprint("7916000000", i)}); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		for i := range 6 {
			c, err := db.CreateClient(ctx, match.Client{Account: "a", Name: fmt.Sprint("gen ", i), Phone: fmt.Sprint("7926000000", i),
				Fields: map[string]string{"work": fmt.Sprint("7495000000", i)}})
			if err != nil {
				t.Fatal(err)
			}
			if chosen[c.ID] || seen[c.ID] || c.ID == "" {
				t.Fatalf("generated client %d got id %q, taken", i, c.ID)
			}
			seen[c.ID] = true
			got, ok, err := db.Client(ctx, "a", c.ID)
			if err != nil || !ok || got.Name != c.Name || got.Phone != c.Phone {
				t.Errorf("Client(%s) = %+v %v %v; want %+v", c.ID, got, ok, err, c)
			}
			byField, err := db.FindClientsByField(ctx, "a", fmt.Sprint("7495000000", i), 10)
			if err != nil || len(byField) != 1 || byField[0].ID != c.ID {
				t.Errorf("FindClientsByField for client %s = %v %v", c.ID, byField, err)
			}
			again, err := db.CreateClient(ctx, match.Client{Account: "a", Name: "again", Phone: c.Phone})
			if err != nil || again.ID != c.ID || again.Name != c.Name {
				t.Errorf("CreateClient for the taken number %s = %+v %v; want client %s", c.Phone, again, err, c.ID)
			}
		}
		list, err := db.Clients(ctx, "a", Page{})
		if err != nil || len(list) != 12 {
			t.Fatalf("Clients(a) = %d clients, %v; want 12", len(list), err)
		}
	})
}

// TestInsertClient: the one-statement insert of a client with a generated
// id inserts a client with a free number and id, and nothing when either
// is taken (CreateClient then takes its transaction).
func TestInsertClient(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		insert := func(phone string) (newClient, bool) {
			t.Helper()
			nc, err := db.newClient(match.Client{Account: "a", Name: "n", Phone: phone})
			if err != nil {
				t.Fatal(err)
			}
			// In a transaction, as on SQLite (PostgreSQL's CreateClient
			// also runs it on its own).
			var ok bool
			if err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				ok, err = db.insertClient(ctx, db.txRow(tx), &nc)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return nc, ok
		}
		nc, ok := insert("79160000001")
		if !ok || nc.c.ID != fmt.Sprint("c", nc.seq) {
			t.Fatalf("insert of a new number: ok %v, id %q, seq %d", ok, nc.c.ID, nc.seq)
		}
		got, found, err := db.FindClientByPhone(ctx, "a", "79160000001")
		if err != nil || !found || got.ID != nc.c.ID {
			t.Fatalf("FindClientByPhone = %+v %v %v; want %s", got, found, err, nc.c.ID)
		}
		if _, ok := insert("79160000001"); ok {
			t.Error("a taken number was inserted again")
		}
		// The next generated ids, chosen by hand for other clients.
		for i := nc.seq + 1; i <= nc.seq+3; i++ {
			if _, err := db.CreateClient(ctx, match.Client{Account: "a", ID: fmt.Sprint("c", i+3)}); err != nil {
				t.Fatal(err)
			}
		}
		if nc, ok := insert("79160000002"); ok {
			t.Errorf("inserted with the taken id %q", nc.c.ID)
		}
	})
}

func TestClientLimitsAndBadInput(t *testing.T) {
	long := strings.Repeat("x", match.MaxValueLen+1)
	many := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprint("f", i)] = "v"
		}
		return m
	}
	tests := []struct {
		name    string
		c       match.Client
		tooBig  bool
		wantErr string
	}{
		{"long name", match.Client{Name: long}, true, ""},
		{"long id", match.Client{ID: long}, true, ""},
		{"long field value", match.Client{Fields: map[string]string{"k": long}}, true, ""},
		{"long field name", match.Client{Fields: map[string]string{long: "v"}}, true, ""},
		{"long tag", match.Client{Tags: []string{long}}, true, ""},
		{"too many tags", match.Client{Tags: make([]string, match.MaxClientTags+1)}, true, ""},
		{"too many fields", match.Client{Fields: many(match.MaxClientFields + 1)}, true, ""},
		{"phone not a number", match.Client{Phone: "hello"}, false, "client phone"},
		{"time out of range", match.Client{CreatedAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, false, "outside the storable range"},
	}
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.c.Account = "a"
				_, err := db.CreateClient(ctx, tt.c)
				if err == nil {
					t.Fatal("CreateClient succeeded")
				}
				if errors.Is(err, match.ErrTooLarge) != tt.tooBig {
					t.Errorf("errors.Is(%v, match.ErrTooLarge) = %v", err, !tt.tooBig)
				}
				if !strings.HasPrefix(err.Error(), "sqlstore: create client: ") || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q", err)
				}
			})
		}
		// Limits exactly are fine.
		ok := match.Client{Account: "a", Name: strings.Repeat("x", match.MaxValueLen), Tags: make([]string, match.MaxClientTags), Fields: many(match.MaxClientFields)}
		if _, err := db.CreateClient(ctx, ok); err != nil {
			t.Errorf("client at the limits: %v", err)
		}
		if cs, _ := db.Clients(ctx, "a", Page{}); len(cs) != 1 {
			t.Errorf("%d clients stored, want only the one at the limits", len(cs))
		}
	})
}

func TestFindClientsByField(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		err := db.AddClients(ctx,
			match.Client{Account: "a", ID: "x1", Fields: map[string]string{"work": "8 916 111-22-33"}},
			match.Client{Account: "a", ID: "x2", Phone: "79160000002"},
			match.Client{Account: "a", ID: "x3", Fields: map[string]string{"wa": "+79161112233", "work": "7 916 111 22 33", "note": "call me"}},
			match.Client{Account: "b", ID: "y1", Fields: map[string]string{"work": "79161112233"}},
			match.Client{Account: "a", ID: "x4", Fields: map[string]string{"home": "79161112233"}},
		)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			account, phone string
			limit          int
			want           []string
		}{
			{"a", "79161112233", 10, []string{"x1", "x3", "x4"}},
			{"a", "79161112233", 2, []string{"x1", "x3"}},
			{"a", "79161112233", 0, nil},
			{"b", "79161112233", 10, []string{"y1"}},
			{"a", "79160000002", 10, nil}, // a Phone is not a field
			{"a", "79990000000", 10, nil},
			{"a", "", 10, nil},
		}
		for _, tt := range tests {
			cs, err := db.FindClientsByField(ctx, tt.account, tt.phone, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, c := range cs {
				ids = append(ids, c.ID)
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("FindClientsByField(%s, %s, %d) (-want +got):\n%s", tt.account, tt.phone, tt.limit, diff)
			}
		}
		// AddClients is all or nothing.
		if err := db.AddClients(ctx, match.Client{Account: "c", ID: "z1"}, match.Client{Account: "c", Phone: "bad"}); err == nil {
			t.Fatal("AddClients with a bad phone succeeded")
		}
		if cs, _ := db.Clients(ctx, "c", Page{}); len(cs) != 0 {
			t.Errorf("AddClients kept %d clients of a failed batch", len(cs))
		}
	})
}

// TestCreateClientConcurrently: 50 concurrent CreateClient calls for one
// phone from two handles on one database (as two processes would) create
// exactly one client.
func TestCreateClientConcurrently(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		dbs := []*DB{open(t, dsn), open(t, dsn)}
		const n = 50
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				c, err := dbs[i%2].CreateClient(ctx, match.Client{Account: "a", Name: fmt.Sprint("caller ", i), Phone: "+7 916 555-44-33",
					Fields: map[string]string{"work": "79165554433"}})
				ids[i], errs[i] = c.ID, err
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("CreateClient %d: %v", i, err)
			}
			if ids[i] != ids[0] {
				t.Fatalf("CreateClient %d returned %s, 0 returned %s", i, ids[i], ids[0])
			}
		}
		cs, err := dbs[0].Clients(ctx, "a", Page{})
		if err != nil || len(cs) != 1 {
			t.Fatalf("%d clients after %d concurrent creates (%v), want 1", len(cs), n, err)
		}
		byField, err := dbs[1].FindClientsByField(ctx, "a", "79165554433", 10)
		if err != nil || len(byField) != 1 {
			t.Fatalf("field index has %d clients (%v), want 1", len(byField), err)
		}
	})
}

func TestLeads(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clock := newFakeClock()
		db := newDB(t, dv, WithClock(clock))
		c, err := db.CreateClient(ctx, match.Client{Account: "a", Phone: "79161234567"})
		if err != nil {
			t.Fatal(err)
		}
		l1, err := db.CreateLead(ctx, match.Lead{Account: "a", ClientID: c.ID, Name: "first", Status: "lost", State: match.LeadLost})
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		l2, err := db.CreateLead(ctx, match.Lead{Account: "a", ClientID: c.ID, ID: "deal-7", Name: "second", Pipeline: "p",
			Status: "new", Source: "missed call", Responsible: "u1"})
		if err != nil {
			t.Fatal(err)
		}
		if l1.ID != "l1" || l2.ID != "deal-7" || !l1.CreatedAt.Equal(clock.Now().Add(-time.Second)) {
			t.Errorf("leads %+v %+v", l1, l2)
		}
		got, err := db.ClientLeads(ctx, "a", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]match.Lead{l2, l1}, got); diff != "" {
			t.Errorf("ClientLeads, newest first (-want +got):\n%s", diff)
		}
		if got, err := db.ClientLeads(ctx, "b", c.ID); err != nil || len(got) != 0 {
			t.Errorf("ClientLeads of another account: %v %v", got, err)
		}

		// Unknown client, unknown lead, taken id.
		if _, err := db.CreateLead(ctx, match.Lead{Account: "a", ClientID: "nobody"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("CreateLead for an unknown client: %v, want ErrNotFound", err)
		}
		if _, err := db.CreateLead(ctx, match.Lead{Account: "b", ClientID: c.ID}); !errors.Is(err, ErrNotFound) {
			t.Errorf("CreateLead for a client of another account: %v, want ErrNotFound", err)
		}
		if _, err := db.CreateLead(ctx, match.Lead{Account: "a", ClientID: c.ID, ID: "deal-7"}); err == nil {
			t.Error("CreateLead with a taken id succeeded")
		}
		if _, err := db.ReopenLead(ctx, "a", "nope", "new"); !errors.Is(err, ErrNotFound) {
			t.Errorf("ReopenLead of an unknown lead: %v, want ErrNotFound", err)
		}

		re, err := db.ReopenLead(ctx, "a", l1.ID, "in work")
		if err != nil {
			t.Fatal(err)
		}
		want := l1
		want.Status, want.State = "in work", match.LeadOpen
		if diff := cmp.Diff(want, re); diff != "" {
			t.Errorf("ReopenLead (-want +got):\n%s", diff)
		}
		all, err := db.Leads(ctx, "a", Page{})
		if err != nil || len(all) != 2 || all[0].ID != "l1" || !all[0].Active() {
			t.Errorf("Leads = %+v %v", all, err)
		}
	})
}

// TestLeadsWithoutClient: a lead without a client gets its phone read in
// the store's country, is listed by Leads and found by PhoneLeads; one
// with neither a client nor a phone is ErrNotFound, and one with a phone
// that is not a number an error naming the field.
func TestLeadsWithoutClient(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv, WithDefaultCountry("UA"))
		c, err := db.CreateClient(ctx, match.Client{Account: "a", Phone: "067 765 43 21"})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := db.CreateLead(ctx, match.Lead{Account: "a", ClientID: c.ID, Name: "the client's"})
		if err != nil {
			t.Fatal(err)
		}
		l, err := db.CreateLead(ctx, match.Lead{Account: "a", Phone: "067 123 45 67", Name: "missed", Responsible: "u1"})
		if err != nil {
			t.Fatal(err)
		}
		if l.Phone != "380671234567" || l.ClientID != "" {
			t.Errorf("lead without a client %+v: want phone 380671234567", l)
		}
		all, err := db.Leads(ctx, "a", Page{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]match.Lead{cl, l}, all); diff != "" {
			t.Errorf("Leads (-want +got):\n%s", diff)
		}
		got, err := db.PhoneLeads(ctx, "a", "380671234567")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]match.Lead{l}, got); diff != "" {
			t.Errorf("PhoneLeads (-want +got):\n%s", diff)
		}
		if got, err := db.PhoneLeads(ctx, "b", "380671234567"); err != nil || len(got) != 0 {
			t.Errorf("PhoneLeads of another account: %v %v", got, err)
		}

		if _, err := db.CreateLead(ctx, match.Lead{Account: "a", Name: "nobody's"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("CreateLead with neither a client nor a phone: %v, want ErrNotFound", err)
		}
		_, err = db.CreateLead(ctx, match.Lead{Account: "a", Phone: "не номер"})
		if err == nil || !strings.HasPrefix(err.Error(), "sqlstore: create lead: lead phone: ") {
			t.Errorf("CreateLead with a phone that is not a number: %v", err)
		}
	})
}

func TestCalls(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		t0 := time.Date(2025, 1, 2, 3, 4, 5, 600700800, time.UTC)
		rec := func(id string, start time.Time) match.CallRecord {
			return match.CallRecord{Provider: "telphin", Account: "a", CallID: id, Direction: callevent.Inbound,
				Status: callevent.Missed, ClientPhone: "79161234567", LinePhone: "74951234567", StartedAt: start, Wait: 12 * time.Second}
		}
		first := rec("c-1", t0)
		if err := db.LogCall(ctx, first); err != nil {
			t.Fatal(err)
		}
		// Logged again with more: one row, the newer values.
		updated := first
		updated.Status, updated.ClientID, updated.LeadID, updated.Employee = callevent.Success, "c1", "l1", "u1"
		updated.AnsweredAt, updated.EndedAt = t0.Add(10*time.Second), t0.Add(70*time.Second)
		updated.Duration, updated.RecordingURL = time.Minute+time.Millisecond, "https://rec/1.mp3"
		if err := db.LogCall(ctx, updated); err != nil {
			t.Fatal(err)
		}
		if err := db.LogCall(ctx, rec("c-2", t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		if err := db.LogCall(ctx, rec("c-0", t0.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		other := rec("c-1", t0)
		other.Account = "b"
		if err := db.LogCall(ctx, other); err != nil {
			t.Fatal(err)
		}
		got, err := db.Calls(ctx, "a", Page{})
		if err != nil {
			t.Fatal(err)
		}
		want := []match.CallRecord{rec("c-2", t0.Add(time.Hour)), updated, rec("c-0", t0.Add(-time.Hour))}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Calls, newest first (-want +got):\n%s", diff)
		}
		page, err := db.Calls(ctx, "a", Page{Offset: 1, Limit: 1})
		if err != nil || len(page) != 1 || page[0].CallID != "c-1" {
			t.Errorf("Calls page 2 = %+v %v", page, err)
		}
		all, err := db.AllCalls(ctx, Page{})
		if err != nil {
			t.Fatal(err)
		}
		wantAll := []match.CallRecord{rec("c-2", t0.Add(time.Hour)), updated, other, rec("c-0", t0.Add(-time.Hour))}
		if diff := cmp.Diff(wantAll, all); diff != "" {
			t.Errorf("AllCalls, newest first across accounts (-want +got):\n%s", diff)
		}
		n, err := db.PurgeCalls(ctx, t0)
		if err != nil || n != 1 {
			t.Errorf("PurgeCalls = %d, %v; want 1", n, err)
		}
		if got, _ := db.Calls(ctx, "a", Page{}); len(got) != 2 {
			t.Errorf("%d calls after purge, want 2", len(got))
		}
	})
}

func TestNotify(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
		n := match.Notification{Kind: match.NotifyMissed, Account: "a", Employee: "u1", Provider: "megafon", CallID: "k1",
			ClientPhone: "79161234567", Reason: "responsible", At: at}
		for range 3 { // a replayed decision
			if err := db.Notify(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		n2 := n
		n2.Employee, n2.Reason = "u2", "admin"
		if err := db.Notify(ctx, n2); err != nil {
			t.Fatal(err)
		}
		got, err := db.Notifications(ctx, "a", Page{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]match.Notification{n, n2}, got); diff != "" {
			t.Errorf("Notifications (-want +got):\n%s", diff)
		}
		if got, _ := db.Notifications(ctx, "b", Page{}); len(got) != 0 {
			t.Errorf("notifications of another account: %v", got)
		}
	})
}

func TestDirectory(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		es := []match.Employee{
			{ID: "u1", Name: "Anna", Login: "anna", Email: "anna@example.com", Extensions: []string{"101", "102"}, Admin: true},
			{ID: "u2", Name: "Boris", Login: "101x", Extensions: []string{"201"}},
			{ID: "u3", Login: "cyril", Extensions: []string{"102"}},
		}
		if err := db.SetEmployees(ctx, "a", es...); err != nil {
			t.Fatal(err)
		}
		got, err := db.Employees(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(es, got); diff != "" {
			t.Errorf("Employees (-want +got):\n%s", diff)
		}
		tests := []struct {
			key, want string
		}{
			{"101", "u1"}, {"102", "u1"}, {"anna", "u1"}, {"201", "u2"}, {"101x", "u2"}, {"cyril", "u3"}, {"999", ""}, {"", ""},
		}
		for _, tt := range tests {
			e, ok, err := db.FindEmployee(ctx, "a", tt.key)
			if err != nil || ok != (tt.want != "") || e.ID != tt.want {
				t.Errorf("FindEmployee(%q) = %s %v %v, want %q", tt.key, e.ID, ok, err, tt.want)
			}
		}
		if _, ok, _ := db.FindEmployee(ctx, "b", "101"); ok {
			t.Error("FindEmployee found an employee of another account")
		}
		// SetEmployees replaces.
		if err := db.SetEmployees(ctx, "a", match.Employee{ID: "u9", Extensions: []string{"101"}}); err != nil {
			t.Fatal(err)
		}
		if e, ok, _ := db.FindEmployee(ctx, "a", "101"); !ok || e.ID != "u9" {
			t.Errorf("after SetEmployees: FindEmployee(101) = %v %v", e.ID, ok)
		}
		if _, ok, _ := db.FindEmployee(ctx, "a", "anna"); ok {
			t.Error("a replaced employee is still found")
		}

		if err := db.SetOnline(ctx, "a", "u3", "u1"); err != nil {
			t.Fatal(err)
		}
		if err := db.SetOnline(ctx, "a", "u2", "u1"); err != nil {
			t.Fatal(err)
		}
		on, err := db.Online(ctx, "a")
		if diff := cmp.Diff([]string{"u2", "u1"}, on); diff != "" || err != nil {
			t.Errorf("Online (-want +got) %v:\n%s", err, diff)
		}
		if on, _ := db.Online(ctx, "b"); len(on) != 0 {
			t.Errorf("Online(b) = %v", on)
		}
	})
}

func TestCanceledContext(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		calls := map[string]func() error{
			"CreateClient": func() error {
				_, err := db.CreateClient(cctx, match.Client{Account: "a", Phone: "79161234567"})
				return err
			},
			"FindClientByPhone": func() error {
				_, _, err := db.FindClientByPhone(cctx, "a", "79161234567")
				return err
			},
			"LogCall": func() error { return db.LogCall(cctx, match.CallRecord{CallID: "x"}) },
			"Notify":  func() error { return db.Notify(cctx, match.Notification{CallID: "x"}) },
		}
		for name, f := range calls {
			if err := f(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a canceled context: %v, want context.Canceled", name, err)
			}
		}
	})
}

// TestZeroTimes: zero times round-trip as zero, the epoch as the epoch.
func TestZeroTimes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		epoch := time.Unix(0, 0).UTC()
		recs := []match.CallRecord{{Provider: "p", Account: "a", CallID: "zero"}, {Provider: "p", Account: "a", CallID: "epoch", StartedAt: epoch}}
		for _, r := range recs {
			if err := db.LogCall(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.Calls(ctx, "a", Page{})
		if err != nil {
			t.Fatal(err)
		}
		want := []match.CallRecord{recs[1], recs[0]} // a zero StartedAt is the oldest
		if diff := cmp.Diff(want, got, cmpopts.EquateComparable()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestAllCallsAfter pages through the calls with the last call of each
// page, as GET /api/calls does: the pages hold every call once in
// AllCalls's order (ties in time broken by provider, account and call id),
// also when calls are logged and purged between two pages.
func TestAllCallsAfter(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		db := newDB(t, dv)
		t0 := time.Date(2025, 1, 2, 3, 4, 5, 600700800, time.UTC)
		rec := func(provider, account, id string, start time.Time) match.CallRecord {
			return match.CallRecord{Provider: provider, Account: account, CallID: id, Direction: callevent.Inbound,
				Status: callevent.Missed, ClientPhone: "79161234567", StartedAt: start}
		}
		logged := 0
		log := func(r match.CallRecord) {
			t.Helper()
			if err := db.LogCall(ctx, r); err != nil {
				t.Fatal(err)
			}
			logged++
		}
		// Ties at t0 in each part of the key, a call with no start time
		// (it sorts last) and calls around them.
		for _, p := range []string{"telphin", "megafon"} {
			for _, a := range []string{"a", "b"} {
				for _, id := range []string{"c-1", "c-2"} {
					log(rec(p, a, id, t0))
				}
			}
		}
		log(rec("phonet", "a", "z", time.Time{}))
		for i := range 5 {
			log(rec("telphin", "a", fmt.Sprintf("old-%d", i), t0.Add(-time.Duration(i+1)*time.Minute)))
			log(rec("telphin", "a", fmt.Sprintf("new-%d", i), t0.Add(time.Duration(i+1)*time.Minute)))
		}
		want, err := db.AllCalls(ctx, Page{Limit: 100})
		if err != nil || len(want) != logged {
			t.Fatalf("AllCalls = %d calls, %v; want %d", len(want), err, logged)
		}

		var got []match.CallRecord
		var after *match.CallRecord
		for range len(want) + 1 {
			page, err := db.AllCallsAfter(ctx, after, 3)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if len(page) < 3 {
				break
			}
			after = &page[len(page)-1]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages of AllCallsAfter (-AllCalls +pages):\n%s", diff)
		}

		// A call newer than the first page and the purge of the oldest
		// move no call from one page to another.
		first, err := db.AllCallsAfter(ctx, nil, 4)
		if err != nil {
			t.Fatal(err)
		}
		log(rec("telphin", "a", "newest", t0.Add(time.Hour)))
		if _, err := db.PurgeCalls(ctx, t0.Add(-3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		rest, err := db.AllCallsAfter(ctx, &first[3], 100)
		if err != nil {
			t.Fatal(err)
		}
		var keep []match.CallRecord
		for _, c := range want[4:] {
			if !c.StartedAt.Before(t0.Add(-3 * time.Minute)) {
				keep = append(keep, c)
			}
		}
		if diff := cmp.Diff(keep, rest); diff != "" {
			t.Errorf("the page after the first, once a call was logged and the oldest purged (-want +got):\n%s", diff)
		}

		// A reader's cursor may hold any time: before every stored one
		// only the call without a start follows; after all, every call.
		log(rec("phonet", "a", "z", time.Time{})) // purged above
		now, err := db.AllCalls(ctx, Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			at   time.Time
			want int
		}{{time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), 1}, {time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), len(now)}} {
			got, err := db.AllCallsAfter(ctx, &match.CallRecord{StartedAt: tc.at}, 100)
			if err != nil || len(got) != tc.want {
				t.Errorf("AllCallsAfter(%s) = %d calls, %v; want %d", tc.at.Format(time.DateOnly), len(got), err, tc.want)
			}
		}
	})
}

// TestAllCallsAfterUsesIndex: SQLite's plan of a page after a call
// searches the calls by start and reads them in the listing's order from
// the index, so a page stops at its limit: no scan, no sort.
func TestAllCallsAfterUsesIndex(t *testing.T) {
	db := newDB(t, drivers[0])
	text := queryPlan(t, db, callsAfterQuery, time.Now().UnixNano(), "telphin", "a", "c-1", 100)
	if !contains(text, "USING INDEX cb_calls_started") || contains(text, "SCAN cb_calls") || contains(text, "TEMP B-TREE") {
		t.Errorf("plan of %q:\n%s\nwant a search using cb_calls_started, in its order", callsAfterQuery, text)
	}
}
