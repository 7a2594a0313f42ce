package gateway_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/internal/pgtest"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/sqlstore"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// crmData is what the API lists.
type crmData struct {
	Calls         []gateway.Call
	Clients       []gateway.Client
	Leads         []gateway.Lead
	Notifications []gateway.Notification
}

func listAll(t *testing.T, srv *server) crmData {
	t.Helper()
	var d crmData
	getJSON(t, srv, "/api/calls", &d.Calls)
	getJSON(t, srv, "/api/clients", &d.Clients)
	getJSON(t, srv, "/api/leads", &d.Leads)
	getJSON(t, srv, "/api/notifications", &d.Notifications)
	return d
}

// runScenario sends the end-to-end scenario's events to srv, waits until
// the CRM has them all and lets the Finaz call settle.
func runScenario(t *testing.T, srv *server, clock interface{ Advance(time.Duration) }) {
	t.Helper()
	sc := buildScenario(t)
	// And a missed call of a known client, whose responsible is notified.
	missed := telphintest.Call{CallID: "ee000000000000000000000000000005", SubCallID: "124575-ee000000000000000000000000000055",
		Client: "+78123351127", Start: t0.Add(-3 * time.Minute)}
	for _, f := range missedQueueCall(missed) {
		sc.events = append(sc.events, hookOf(t, "telphin missed known", telphintest.NewRequest("/hooks/telphin/74c86d00", "hook-token", f)))
		sc.n++
	}
	for _, h := range append(sc.events, sc.events[:3]...) { // and a few redeliveries
		code, body := srv.send(t, h)
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, "%s: %s", h.name, body)
	}
	require.Eventually(t, func() bool {
		n, err := srv.logs.countEvents()
		return err == nil && n >= sc.n
	}, 20*time.Second, 5*time.Millisecond, srv.logs.String())
	clock.Advance(gateway.FinazSettle)
	require.Eventually(t, func() bool { return len(srv.Calls()) == 6 }, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, sc.n, srv.logs.events(t), "each event delivered once")
}

func TestDatabaseRestartSQLite(t *testing.T) {
	t.Parallel()
	testDatabaseRestart(t, filepath.Join(t.TempDir(), "crm.db"))
}

func TestDatabaseRestartPostgres(t *testing.T) {
	t.Parallel()
	testDatabaseRestart(t, pgtest.NewDatabase(t))
}

// A gateway with a database keeps what it learnt: a new gateway on the
// same database lists the same clients (the seed not added twice), calls,
// leads and notifications; the lists are those of memory mode.
func testDatabaseRestart(t *testing.T, dsn string) {
	clock := newFakeClock()
	srv := start(t, gateway.Config{Clock: clock, DB: dsn})
	runScenario(t, srv, clock)
	testReplayPages(t, srv, dsn)
	before := listAll(t, srv)

	// The same scenario in memory mode.
	memClock := newFakeClock()
	mem := start(t, gateway.Config{Clock: memClock})
	runScenario(t, mem, memClock)
	want := listAll(t, mem)
	// The database numbers the clients it creates after the seed ("c5"),
	// memory mode from 1 ("c1").
	dbID := map[string]string{}
	for _, c := range before.Clients {
		dbID[c.Phone] = c.ID
	}
	ids := map[string]string{}
	for i, c := range want.Clients {
		ids[c.ID] = dbID[c.Phone]
		want.Clients[i].ID = dbID[c.Phone]
	}
	for i := range want.Calls {
		want.Calls[i].ClientID = ids[want.Calls[i].ClientID]
	}
	for i := range want.Leads {
		want.Leads[i].ClientID = ids[want.Leads[i].ClientID]
	}
	for i := range want.Notifications {
		want.Notifications[i].ClientID = ids[want.Notifications[i].ClientID]
	}
	for i := range want.Notifications {
		want.Notifications[i].Account = ""
	}
	// Lead ids are numbered in the order the calls were decided, which
	// concurrent calls do not fix: compare leads by name (its phone).
	wantLeads, gotLeads := canonLeads(&want), canonLeads(&before)
	if diff := cmp.Diff(want, before); diff != "" {
		t.Errorf("database mode lists (-memory +database):\n%s", diff)
	}
	require.NotEmpty(t, before.Notifications)
	require.NotEmpty(t, before.Leads)

	// Filters answer as in memory mode.
	for _, q := range []string{"/api/calls?provider=telphin", "/api/calls?status=missed", "/api/calls?phone=%2B78123351127",
		"/api/calls?from=" + url.QueryEscape(t0.Add(-6*time.Minute).Format(time.RFC3339)) + "&to=" + url.QueryEscape(t0.Format(time.RFC3339)),
		"/api/clients?phone=78123351127", "/api/leads?status=won", "/api/leads?from=" + url.QueryEscape(t0.Format(time.RFC3339))} {
		var got, exp []gateway.Call
		if strings.HasPrefix(q, "/api/calls") {
			getJSON(t, srv, q, &got)
			getJSON(t, mem, q, &exp)
			for i := range exp {
				exp[i].ClientID, exp[i].LeadID = ids[exp[i].ClientID], wantLeads[exp[i].LeadID]
			}
			for i := range got {
				got[i].LeadID = gotLeads[got[i].LeadID]
			}
			require.Equal(t, exp, got, q)
			continue
		}
		var gotM, expM []map[string]any
		getJSON(t, srv, q, &gotM)
		getJSON(t, mem, q, &expM)
		for _, m := range expM {
			key := "client_id"
			if strings.HasPrefix(q, "/api/clients") {
				key = "id"
			}
			m[key] = ids[m[key].(string)]
		}
		if strings.HasPrefix(q, "/api/leads") { // by name: see canonLeads
			for _, m := range append(expM, gotM...) {
				m["id"] = m["name"]
			}
			byID := func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) }
			slices.SortFunc(expM, byID)
			slices.SortFunc(gotM, byID)
		}
		require.Equal(t, expM, gotM, q)
	}

	require.NoError(t, srv.stop())
	clock2 := newFakeClock()
	again := start(t, gateway.Config{Clock: clock2, DB: dsn})
	after := listAll(t, again)
	canonLeads(&after)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("after the restart (-before +after):\n%s", diff)
	}
	require.Len(t, after.Clients, 5, "the seed is not added twice")

	// Redelivered webhooks of the first run change nothing.
	runScenarioAgain := buildScenario(t)
	for _, h := range runScenarioAgain.events[:3] {
		code, body := again.send(t, h)
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, "%s: %s", h.name, body)
	}
	// The first gateway gave its lease of delivery up when it stopped: the
	// new one delivers a new call at once, without waiting for the lease
	// to end (on clock2, which starts before the first's lease ends, it
	// would not end in this test).
	calls := len(again.Calls())
	fresh := telphintest.Call{CallID: "ff000000000000000000000000000006", SubCallID: "124575-ff000000000000000000000000000066",
		Client: "+78123350006", Start: t0.Add(-time.Minute)}
	for _, f := range missedQueueCall(fresh) {
		code, body := again.send(t, hookOf(t, "telphin after the restart", telphintest.NewRequest("/hooks/telphin/74c86d00", "hook-token", f)))
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
	}
	require.Eventually(t, func() bool {
		n, err := again.logs.countEvents()
		return err == nil && n >= 3
	}, 20*time.Second, 5*time.Millisecond, "the new call's events delivered after the restart")
	clock2.Advance(match.DefaultSettle)
	require.Eventually(t, func() bool { return len(again.Calls()) == calls+1 }, 20*time.Second, 5*time.Millisecond)

	code, body := again.do(t, http.MethodGet, "/readyz", "", "")
	require.Equal(t, http.StatusOK, code, body)
	testDatabaseAPI(t, again)
}

// testDatabaseAPI checks the listings' pagination and the dead letters'
// endpoints of a gateway with a database and the scenario's data.
func testDatabaseAPI(t *testing.T, srv *server) {
	t.Helper()
	all := listAll(t, srv)
	var calls []gateway.Call
	getJSON(t, srv, "/api/calls?limit=2", &calls)
	require.Equal(t, all.Calls, calls, "pages of 2")
	var clients []gateway.Client
	getJSON(t, srv, "/api/clients?limit=1", &clients)
	require.Equal(t, all.Clients, clients, "pages of 1")
	var notes []gateway.Notification
	getJSON(t, srv, "/api/notifications?limit=1", &notes)
	require.Equal(t, all.Notifications, notes, "pages of 1")
	var dead []sqlstore.DeadLetter
	getJSON(t, srv, "/api/deadletters?limit=1", &dead)
	require.Empty(t, dead)

	for _, tc := range []struct {
		method, path string
		code         int
		want         string
	}{
		{http.MethodPost, "/api/deadletters/abc/replay", 400, `id: \"abc\" is not a dead letter id`},
		{http.MethodPost, "/api/deadletters/-1/replay", 400, `id: \"-1\"`},
		{http.MethodPost, "/api/deadletters/999999/replay", 404, "999999 is not a dead letter"},
		{http.MethodGet, "/api/notifications?cursor=bad", 400, "cursor"},
		{http.MethodGet, "/api/deadletters?cursor=bad", 400, "cursor"},
		{http.MethodGet, "/api/deadletters?cursor=eyJsIjoiZGVhZGxldHRlcnMiLCJuIjotMX0", 400, "not a cursor of deadletters"}, // {"l":"deadletters","n":-1}
		{http.MethodGet, "/api/deadletters?limit=0", 400, "limit"},
		{http.MethodGet, "/api/notifications?phone=1", 400, "phone: unknown parameter"},
	} {
		code, body := srv.do(t, tc.method, tc.path, "", "")
		require.Equal(t, tc.code, code, "%s %s: %s", tc.method, tc.path, body)
		require.Contains(t, body, tc.want, tc.path)
	}
	// Behind the API token like the rest of /api/.
	for _, p := range []string{"/api/notifications", "/api/deadletters", "/api/deadletters/1/replay"} {
		method := http.MethodGet
		if strings.HasSuffix(p, "replay") {
			method = http.MethodPost
		}
		code, body := srv.send(t, hook{method: method, target: p, header: http.Header{"Authorization": {"Bearer wrong"}}})
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", p, body)
		code, body = srv.send(t, hook{method: method, target: p, header: http.Header{}})
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", p, body)
	}
}

// testReplayPages checks that an operator who replays each page of dead
// letters as it comes meets every one: the cursor is the last letter
// read, not an offset that the replayed letters leave. srv delivers, as
// the lease holder of the inbox at dsn.
func testReplayPages(t *testing.T, srv *server, dsn string) {
	t.Helper()
	ids := makeDeadLetters(t, dsn, 3)
	var met []int64
	eachPage(t, srv, "/api/deadletters?limit=1", func(page []sqlstore.DeadLetter) {
		for _, d := range page {
			met = append(met, d.ID)
			code, body := srv.do(t, http.MethodPost, fmt.Sprintf("/api/deadletters/%d/replay", d.ID), "", "")
			require.Less(t, code, 300, body)
		}
	})
	require.Equal(t, ids, met, "dead letters met while replaying each page")
	var dead []sqlstore.DeadLetter
	getJSON(t, srv, "/api/deadletters", &dead)
	require.Empty(t, dead)
	require.Eventually(t, func() bool {
		code, body := srv.do(t, http.MethodGet, "/api/status", "", "")
		var st struct{ Delivery gateway.Backlog }
		return code == http.StatusOK && json.Unmarshal([]byte(body), &st) == nil && st.Delivery.Queued == 0
	}, 10*time.Second, 10*time.Millisecond, "replayed letters delivered")
}

// makeDeadLetters turns the n oldest delivered events of the inbox at dsn
// into dead letters, as if the CRM had refused them every time, and
// returns their IDs (the inbox's seq), oldest first.
func makeDeadLetters(t *testing.T, dsn string, n int) []int64 {
	t.Helper()
	driver, source := "sqlite", "file:"+dsn+"?_pragma=busy_timeout(10000)"
	if strings.HasPrefix(dsn, "postgres") {
		driver, source = "pgx", dsn
	}
	db, err := sql.Open(driver, source)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	// The inbox records deliveries a moment after them.
	var ids []int64
	for range 1000 {
		ids, err = delivered(ctx, db, n)
		require.NoError(t, err)
		if len(ids) == n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.Len(t, ids, n, "delivered events")
	for _, id := range ids {
		_, err := db.ExecContext(ctx, "UPDATE cb_inbox SET state = 2, attempts = 3, last_error = 'crm down' WHERE seq = $1", id) // 2: dead
		require.NoError(t, err)
	}
	return ids
}

// delivered returns the IDs of the n oldest delivered events of an inbox.
func delivered(ctx context.Context, db *sql.DB, n int) ([]int64, error) {
	rows, err := db.QueryContext(ctx, "SELECT seq FROM cb_inbox WHERE state = 1 ORDER BY seq LIMIT $1", n) // 1: delivered
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// In memory mode the new endpoints answer too: notifications as the
// store has them, no dead letters (with a note saying why), no replay.
func TestMemoryNotificationsAndDeadLetters(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := start(t, gateway.Config{Clock: clock})
	runScenario(t, srv, clock)
	var notes []gateway.Notification
	getJSON(t, srv, "/api/notifications?limit=1", &notes)
	require.NotEmpty(t, notes)
	var all []gateway.Notification
	getJSON(t, srv, "/api/notifications", &all)
	require.Equal(t, all, notes)

	code, body := srv.do(t, http.MethodGet, "/api/deadletters", "", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"items":[]`)
	require.Contains(t, body, `"note":"in-memory mode keeps no dead letters`)
	code, body = srv.do(t, http.MethodPost, "/api/deadletters/1/replay", "", "")
	require.Equal(t, http.StatusNotFound, code, body)
	code, body = srv.do(t, http.MethodPost, "/api/deadletters/x/replay", "", "")
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "id: ")
}

// -db and CRM_DB: a path, a URL (its password never shown), :memory:.
func TestParseConfigDB(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{nil, "", ""},
		{nil, "/var/lib/crm.db", "/var/lib/crm.db"},
		{[]string{"-db", "x.db"}, "/var/lib/crm.db", "x.db"},
		{[]string{"-db", gateway.MemoryDB}, "/var/lib/crm.db", ""},
		{nil, gateway.MemoryDB, ""},
		{[]string{"-db", "postgres://u:s3cret@db.example/crm"}, "", "postgres://u:s3cret@db.example/crm"},
	} {
		c, err := gateway.ParseConfig(tc.args, func(k string) string {
			if k == "CRM_DB" {
				return tc.env
			}
			return ""
		}, io.Discard)
		require.NoError(t, err)
		require.Equal(t, tc.want, c.DB, "%q %q", tc.args, tc.env)
		require.NotContains(t, c.String(), "s3cret")
		require.NotContains(t, fmt.Sprintf("%#v %v", c, c), "s3cret")
	}
	var usage strings.Builder
	_, err := gateway.ParseConfig([]string{"-h"}, noEnv, &usage)
	require.Error(t, err)
	require.Contains(t, usage.String(), "-db")
	require.Contains(t, usage.String(), gateway.MemoryDB)
}

// A database that cannot be reached stops the start with one line naming
// it, the password redacted.
func TestDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	err := gateway.Run(ctx, []string{"-addr", "127.0.0.1:0", "-db", "postgres://crm:s3cret@127.0.0.1:1/crm?sslmode=disable"},
		noEnv, io.Discard, io.Discard, gateway.Defaults{})
	require.Error(t, err)
	msg := err.Error()
	require.NotContains(t, msg, "s3cret")
	require.NotContains(t, msg, "\n")
	require.Contains(t, msg, "127.0.0.1:1")
	require.Contains(t, msg, "crm:REDACTED@")

	// A SQLite file in a directory that does not exist.
	err = gateway.Run(ctx, []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "no", "such", "crm.db")},
		noEnv, io.Discard, io.Discard, gateway.Defaults{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "crm.db")
	require.NotContains(t, err.Error(), "\n")
}

// parseSetting parses a command line with -flag arg (none when arg is
// empty) and an environment holding only env=envValue.
func parseSetting(flag, arg, env, envValue string) (gateway.Config, error) {
	var args []string
	if arg != "" {
		args = []string{"-" + flag, arg}
	}
	return gateway.ParseConfig(args, func(k string) string {
		if k == env {
			return envValue
		}
		return ""
	}, io.Discard)
}

func TestParseConfigCallRetention(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arg, env string
		want     time.Duration
		err      string
	}{
		{"", "", 0, ""},
		{"90d", "", 90 * 24 * time.Hour, ""},
		{"", "2160h", 2160 * time.Hour, ""},
		{"36h", "90d", 36 * time.Hour, ""},
		{"-1h", "", 0, "negative"},
		{"ninety days", "", 0, "not a duration"},
		{"1e9d", "", 0, "number of days"},
	} {
		c, err := parseSetting("call-retention", tc.arg, "CRM_CALL_RETENTION", tc.env)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.arg)
			require.ErrorContains(t, err, "-call-retention")
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, c.CallRetention, "%q %q", tc.arg, tc.env)
	}
}

// TestCallRetention: calls older than the retention are deleted, at start
// and every hour after; clients and leads stay.
func TestCallRetention(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	dsn := filepath.Join(t.TempDir(), "crm.db")
	srv := start(t, gateway.Config{Clock: clock, DB: dsn, CallRetention: 24 * time.Hour})
	runScenario(t, srv, clock)
	before := listAll(t, srv)
	require.Len(t, before.Calls, 6)
	clock.Advance(23 * time.Hour)
	require.Len(t, listAll(t, srv).Calls, 6, "calls within the retention are kept")
	clock.Advance(2 * time.Hour) // the hourly check after the calls turned 24 hours old
	require.Eventually(t, func() bool { return len(listAll(t, srv).Calls) == 0 }, 10*time.Second, 10*time.Millisecond)
	after := listAll(t, srv)
	require.Equal(t, before.Clients, after.Clients)
	require.Equal(t, before.Leads, after.Leads)
}

// TestLateBindingAfterRestart: with rules that create no client, a missed
// call from an unknown number waits for one; the gateway is restarted
// within the window, the client appears in the CRM, and the call is bound
// to it when its window closes.
func TestLateBindingAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.json")
	require.NoError(t, os.WriteFile(rules, []byte(`{"default": {}}`), 0o600))
	dsn := filepath.Join(dir, "crm.db")
	clock := newFakeClock()
	cfg := gateway.Config{Clock: clock, DB: dsn, RulesFile: rules}
	srv := start(t, cfg)
	missed := telphintest.Call{CallID: "cc000000000000000000000000000009", Client: "+74950001199", Start: t0.Add(-time.Minute)}
	for _, f := range missedQueueCall(missed) {
		code, body := srv.send(t, hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", f)))
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
	}
	require.Eventually(t, func() bool { // the engine has every event
		n, err := srv.logs.countEvents()
		return err == nil && n == 3
	}, 10*time.Second, 5*time.Millisecond)
	clock.Advance(time.Minute) // the call settles: decided without a client
	require.Eventually(t, func() bool { return len(srv.Calls()) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Empty(t, srv.Calls()[0].ClientID)
	require.NoError(t, srv.stop())

	// Between the runs, the client is created in the CRM.
	db, err := sqlstore.Open(context.Background(), dsn)
	require.NoError(t, err)
	require.NoError(t, db.AddClients(context.Background(), match.Client{ID: "new", Name: "Created by hand", Phone: "74950001199"}))
	require.NoError(t, db.Close())

	again := start(t, cfg)
	clock.Advance(match.DefaultLateBindingWindow)
	require.Eventually(t, func() bool {
		calls := again.Calls()
		return len(calls) == 1 && calls[0].ClientID == "new"
	}, 10*time.Second, 5*time.Millisecond, "the call is bound when its resumed window closes")
}

func TestParseConfigDBSync(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arg, env string
		full     bool
		err      bool
	}{{"", "", false, false}, {"full", "", true, false}, {"", "FULL", true, false}, {"normal", "full", false, false}, {"off", "", false, true}} {
		c, err := parseSetting("db-sync", tc.arg, "CRM_DB_SYNC", tc.env)
		if tc.err {
			require.ErrorContains(t, err, "-db-sync")
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.full, c.FullSync, "%q %q", tc.arg, tc.env)
	}
}

// TestStats: GET /api/stats counts each employee's calls of a period, the
// same in memory mode and on either database; the period defaults to
// today (Config.StatsDays days before it), and bad periods are refused
// naming the parameter.
func TestStats(t *testing.T) {
	t.Parallel()
	stats := func(t *testing.T, srv *server, query string) (int, gateway.Stats, string) {
		code, body := srv.do(t, http.MethodGet, "/api/stats"+query, "", "")
		var s gateway.Stats
		if code == http.StatusOK {
			require.NoError(t, json.Unmarshal([]byte(body), &s), body)
		}
		return code, s, body
	}
	period := "?from=" + url.QueryEscape(t0.Add(-time.Hour).Format(time.RFC3339)) + "&to=" + url.QueryEscape(t0.Add(time.Hour).Format(time.RFC3339))
	var want []match.EmployeeStats
	check := func(t *testing.T, dsn string) {
		clock := newFakeClock()
		srv := start(t, gateway.Config{Clock: clock, DB: dsn, StatsDays: 2})
		runScenario(t, srv, clock)
		code, got, body := stats(t, srv, period)
		require.Equal(t, http.StatusOK, code, body)
		if want == nil {
			want = got.Employees
			n, answered, missed := 0, 0, 0
			for _, s := range want {
				n += s.Answered + s.Missed + s.Outbound
				answered += s.Answered
				missed += s.Missed
			}
			require.Equal(t, len(srv.Calls()), n, "every call of the scenario counted once: %+v", want)
			require.NotZero(t, answered)
			require.NotZero(t, missed)
		}
		require.Equal(t, want, got.Employees, "db %q", dsn)

		code, got, body = stats(t, srv, "")
		require.Equal(t, http.StatusOK, code, body)
		now := clock.Now()
		y, m, d := now.Date()
		require.True(t, got.From.Equal(time.Date(y, m, d-2, 0, 0, 0, 0, now.Location())), "from %v", got.From)
		require.True(t, got.To.Equal(now), "to %v", got.To)

		for query, field := range map[string]string{
			"?days=-1": "days", "?days=x": "days", "?from=yesterday": "from", "?days=1&from=" + url.QueryEscape(t0.Format(time.RFC3339)): "days",
			"?to=" + url.QueryEscape(t0.Format(time.RFC3339)): "from", "?bogus=1": "bogus", "?days=1&days=2": "days",
		} {
			code, _, body := stats(t, srv, query)
			require.Equal(t, http.StatusBadRequest, code, "%s: %s", query, body)
			require.Contains(t, body, field, query)
		}
	}
	check(t, "") // memory mode first: what the databases must agree with
	check(t, filepath.Join(t.TempDir(), "crm.db"))
	t.Run("postgres", func(t *testing.T) { check(t, pgtest.NewDatabase(t)) })
}

func TestParseConfigStatsDays(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arg, env string
		want     int
		err      bool
	}{
		{"", "", 0, false},
		{"7", "", 7, false},
		{"", "30", 30, false},
		{"1", "30", 1, false},
		{"-1", "", 0, true},
		{"week", "", 0, true},
		{"", "99999", 0, true},
	} {
		c, err := parseSetting("stats-days", tc.arg, "CRM_STATS_DAYS", tc.env)
		if tc.err {
			require.ErrorContains(t, err, "-stats-days", "%q %q", tc.arg, tc.env)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, c.StatsDays, "%q %q", tc.arg, tc.env)
	}
}

// canonLeads replaces the lead ids in d by the leads' names (which hold
// the client's phone) and sorts the leads by name; it returns the map
// from the old ids.
func canonLeads(d *crmData) map[string]string {
	names := map[string]string{"": ""}
	for i, l := range d.Leads {
		names[l.ID] = l.Name
		d.Leads[i].ID = l.Name
	}
	slices.SortFunc(d.Leads, func(a, b gateway.Lead) int { return strings.Compare(a.ID, b.ID) })
	for i := range d.Calls {
		d.Calls[i].LeadID = names[d.Calls[i].LeadID]
	}
	for i := range d.Notifications {
		d.Notifications[i].LeadID = names[d.Notifications[i].LeadID]
	}
	return names
}
