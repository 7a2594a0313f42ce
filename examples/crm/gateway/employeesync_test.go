package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// syncFakes are the providers' fakes whose user lists the employee sync
// reads.
type syncFakes struct {
	telphin *telphintest.Server
	megafon *megafontest.Server
	phonet  *phonettest.Server
}

// newSyncFakes starts the three fakes with their users and makes them
// srv's providers: Telphin's phones 101 and 102 (and its queue 555 and a
// blocked phone 103, which are nobody), MegaFon's andy (Борис's login),
// anna.k (Анна's e-mail) and lena, Phonet's 001 (Вера's extension) and
// 002.
func newSyncFakes(t *testing.T, srv *server) syncFakes {
	t.Helper()
	tsrv, tcl := telphinFake(t)
	tsrv.AddExtension(telphintest.Extension{ID: 469103, Name: "15400*103", Type: "phone", Status: "blocked", Label: "Уволен"})
	msrv := megafontest.NewServer()
	t.Cleanup(msrv.Close)
	msrv.SetHistory() // the reconciliation finds no calls
	msrv.SetUsers(megafontest.User{Login: "andy", Name: "Андрей", Ext: "701", Email: "andy@example.ru"},
		megafontest.User{Login: "anna.k", Name: "Анна К.", Ext: "705", Email: "ANNA@example.com"},
		megafontest.User{Login: "lena", Name: "Лена", Ext: "703", Email: "lena@example.ru", Role: "admin"})
	mcl, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
		callbridge.WithBaseURL(msrv.URL))
	require.NoError(t, err)
	psrv := phonettest.NewServer()
	t.Cleanup(psrv.Close)
	psrv.SetUsers(phonettest.User{ID: 7, DisplayName: "Вера В.", Ext: "001"}, phonettest.User{ID: 8, DisplayName: "Олег", Ext: "002", Email: "oleg@example.ua"})
	pcl, err := psrv.NewClient()
	require.NoError(t, err)
	srv.SetCaller(telphin.Provider, tcl)
	srv.SetCaller(megafon.Provider, mcl)
	srv.SetCaller(phonet.Provider, pcl)
	return syncFakes{tsrv, msrv, psrv}
}

// employees is GET /api/employees.
func employees(t *testing.T, srv *server) []gateway.Employee {
	t.Helper()
	code, body := srv.do(t, http.MethodGet, "/api/employees", "", "")
	require.Equal(t, http.StatusOK, code, body)
	var out struct{ Employees []gateway.Employee }
	require.NoError(t, json.Unmarshal([]byte(body), &out), body)
	return out.Employees
}

// employeeIDs are the ids of es, in order.
func employeeIDs(es []gateway.Employee) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// employeeByID is the employee of es with id.
func employeeByID(t *testing.T, es []gateway.Employee, id string) gateway.Employee {
	t.Helper()
	i := slices.IndexFunc(es, func(e gateway.Employee) bool { return e.ID == id })
	require.GreaterOrEqual(t, i, 0, "no employee %q in %v", id, employeeIDs(es))
	return es[i]
}

// providerStatus is the provider's part of GET /api/status.
func providerStatus(t *testing.T, srv *server, provider string) gateway.ProviderStatus {
	t.Helper()
	code, body := srv.do(t, http.MethodGet, "/api/status", "", "")
	require.Equal(t, http.StatusOK, code, body)
	var st gateway.GatewayStatus
	require.NoError(t, json.Unmarshal([]byte(body), &st), body)
	return st.Providers[provider]
}

// callEmployees waits until the call log has the calls of ids and returns
// their employees.
func callEmployees(t *testing.T, srv *server, ids ...string) map[string]string {
	t.Helper()
	got := map[string]string{}
	require.Eventually(t, func() bool {
		for _, c := range srv.Calls() {
			if slices.Contains(ids, c.CallID) {
				got[c.CallID] = c.Employee
			}
		}
		return len(got) == len(ids)
	}, 10*time.Second, 5*time.Millisecond, "calls %v logged", ids)
	return got
}

// TestEmployeeSync: at start and then every 10 minutes the gateway
// merges the configured employees with Telphin's extensions, MegaFon's
// users and Phonet's users: a user matching a configured employee (by
// extension, login or e-mail) adds its extensions and logins to it, one
// matching nobody becomes an employee "<provider>:<id>"; a second sync
// changes nothing; a user gone is removed; a provider whose list fails
// keeps its employees, says so in GET /api/status, and (database mode)
// keeps them across a restart. The engine maps calls by the synced
// extensions and logins, and the "active" distribution follows the
// statuses, which survive the syncs.
func TestEmployeeSync(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		rules := match.RuleSet{Default: match.Rules{Rule: match.Rule{
			Create: match.CreateRule{InboundMissed: true},
			Missed: match.MissedRule{Distribution: match.DistributeActive},
		}}}
		clock := newFakeClock()
		cfg := gateway.Config{Clock: clock, DB: db, Rules: &rules, Employees: []match.Employee{
			{ID: "anna", Name: "Анна", Login: "anna", Email: "anna@example.com", Extensions: []string{"101"}, Admin: true},
			{ID: "boris", Name: "Борис", Login: "andy", Extensions: []string{"701"}},
			{ID: "vera", Name: "Вера", Extensions: []string{"001"}},
		}}
		srv := start(t, cfg)
		fakes := newSyncFakes(t, srv)
		require.Equal(t, []string{"anna", "boris", "vera"}, employeeIDs(employees(t, srv)), "the configured ones until the first sync")

		clock.Advance(0) // the sync at start
		first := employees(t, srv)
		require.Equal(t, []string{"anna", "boris", "vera", "telphin:469102", "megafon:lena", "phonet:8"}, employeeIDs(first))
		anna := employeeByID(t, first, "anna")
		require.Equal(t, match.Employee{ID: "anna", Name: "Анна", Login: "anna", Email: "anna@example.com",
			Extensions: []string{"101", "705", "anna.k"}, Admin: true}, anna.Employee, "her MegaFon user by e-mail; her id, name, e-mail, admin flag stay")
		require.Equal(t, map[string][]string{"telphin": {"101"}, "megafon": {"705", "anna.k"}}, anna.Providers)
		boris := employeeByID(t, first, "boris")
		require.Equal(t, []string{"701"}, boris.Extensions, "MegaFon's andy is Борис by login and extension")
		require.Equal(t, map[string][]string{"megafon": {"701", "andy"}}, boris.Providers)
		require.Equal(t, "Вера", employeeByID(t, first, "vera").Name, "the configured name stays")
		require.Equal(t, match.Employee{ID: "telphin:469102", Name: "Петров", Extensions: []string{"102"}},
			employeeByID(t, first, "telphin:469102").Employee)
		require.Equal(t, match.Employee{ID: "megafon:lena", Name: "Лена", Login: "lena", Email: "lena@example.ru",
			Extensions: []string{"703"}, Admin: true}, employeeByID(t, first, "megafon:lena").Employee)
		require.Equal(t, match.Employee{ID: "phonet:8", Name: "Олег", Email: "oleg@example.ua", Extensions: []string{"002"}},
			employeeByID(t, first, "phonet:8").Employee)
		for _, e := range first {
			require.Equal(t, "offline", e.Status, e.ID)
		}
		st := providerStatus(t, srv, "megafon").EmployeeSync
		require.NotNil(t, st)
		require.Equal(t, 3, st.Users)
		require.Empty(t, st.Error)

		// Only Петров (a Telphin extension) is online. MegaFon's lena
		// answers a call: it is hers; a missed call from an unknown number
		// goes to the one online.
		code, body := srv.do(t, http.MethodPut, "/api/employees/telphin:469102/status", "application/json", `{"status":"available"}`)
		require.Equal(t, http.StatusOK, code, body)
		answered := megafontest.Call{ID: "mf-sync-1", Direction: "in", Phone: "74950007701", User: "lena", Ext: "703"}
		sendMegafon(t, srv, megafontest.Event("INCOMING", answered), megafontest.Event("ACCEPTED", answered),
			megafontest.History(answered, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 40}))
		waitEvents(t, srv, 3)
		clock.Advance(match.DefaultGracePeriod)
		require.Equal(t, "megafon:lena", callEmployees(t, srv, answered.ID)[answered.ID], "the synced login maps the call")

		// The next sync: the same directory, the same statuses.
		before := employees(t, srv)
		require.Equal(t, "available", employeeByID(t, before, "telphin:469102").Status)
		clock.Advance(gateway.DefaultEmployeeSync - match.DefaultGracePeriod)
		require.Equal(t, before, employees(t, srv), "a second sync changes nothing")
		missed := megafontest.Call{ID: "mf-sync-2", Direction: "in", Phone: "74950007702", User: "anna", Ext: "101"}
		sendMegafon(t, srv, megafontest.Event("INCOMING", missed),
			megafontest.History(missed, megafontest.Outcome{Status: "Missed", Start: clock.Now().Add(-time.Minute)}))
		waitEvents(t, srv, 5)
		clock.Advance(match.DefaultGracePeriod)
		require.Equal(t, "telphin:469102", callEmployees(t, srv, missed.ID)[missed.ID], "the active distribution, after a sync")

		// lena leaves MegaFon, mike joins.
		fakes.megafon.SetUsers(megafontest.User{Login: "andy", Name: "Андрей", Ext: "701"},
			megafontest.User{Login: "anna.k", Ext: "705", Email: "anna@example.com"}, megafontest.User{Login: "mike", Name: "Миша", Ext: "704"})
		clock.Advance(gateway.DefaultEmployeeSync - match.DefaultGracePeriod)
		third := employees(t, srv)
		require.Equal(t, []string{"anna", "boris", "vera", "telphin:469102", "megafon:mike", "phonet:8"}, employeeIDs(third))
		require.Equal(t, "available", employeeByID(t, third, "telphin:469102").Status)

		// Telphin and Phonet fail: their employees stay as they were.
		fakes.telphin.Fail(telphintest.Failure{Path: "/api/ver1.0/client/@me/extension", Status: http.StatusInternalServerError})
		fakes.phonet.Fail(phonettest.Failure{Path: "/rest/users", Status: http.StatusInternalServerError})
		clock.Advance(gateway.DefaultEmployeeSync)
		fourth := employees(t, srv)
		require.Equal(t, third, fourth, "a failing provider keeps its employees")
		tst := providerStatus(t, srv, "telphin").EmployeeSync
		require.NotNil(t, tst)
		require.Contains(t, tst.Error, "500")
		require.NotNil(t, tst.FailedAt)
		require.Equal(t, 2, tst.Users, "the last list read")
		require.NotEmpty(t, providerStatus(t, srv, "phonet").EmployeeSync.Error)
		require.Empty(t, providerStatus(t, srv, "megafon").EmployeeSync.Error)
		require.Contains(t, srv.logs.String(), "employee sync: reading the user list failed")

		// Петров's extension is deleted: he goes, and with him his status.
		fakes.telphin.RemoveExtension(469102)
		clock.Advance(gateway.DefaultEmployeeSync)
		fifth := employees(t, srv)
		require.Equal(t, []string{"anna", "boris", "vera", "megafon:mike", "phonet:8"}, employeeIDs(fifth))
		require.Empty(t, providerStatus(t, srv, "telphin").EmployeeSync.Error, "read again")
		for _, e := range fifth {
			require.False(t, e.Online, e.ID)
		}
		if db == "" {
			return
		}

		// A restart, Phonet failing at the first sync: its employee stays.
		require.NoError(t, srv.stop())
		srv = start(t, cfg)
		fakes = newSyncFakes(t, srv)
		fakes.phonet.Fail(phonettest.Failure{Path: "/rest/users", Status: http.StatusInternalServerError})
		clock.Advance(0)
		require.Equal(t, []string{"anna", "boris", "vera", "telphin:469102", "megafon:lena", "phonet:8"}, employeeIDs(employees(t, srv)),
			"Telphin and MegaFon read anew, Phonet's user of the last run kept")
	})
}

// TestEmployeeSyncAmoCRM: in amoCRM mode amoCRM's users are merged
// first, with their amoCRM ids; a telephony user matching one (here a
// MegaFon user by e-mail) gives it its login and extension, so a call
// the PBX reports by that login is the amoCRM user's; a telephony user
// matching no amoCRM user is listed but never given a call in amoCRM.
// A user removed from amoCRM goes; amoCRM failing keeps them.
func TestEmployeeSyncAmoCRM(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := start(t, gateway.Config{Demo: true, CRM: gateway.CRMAmoCRM, Clock: clock})
	amo := srv.AmoCRMFake()
	amo.AddUser(amocrmtest.User{ID: 8375360, Name: "Лена", Email: "lena@example.ru", Active: true})
	fakes := newSyncFakes(t, srv)
	fakes.phonet.SetUsers()
	clock.Advance(0)
	emps := employees(t, srv)
	require.Equal(t, []string{"8375357", "8375358", "8375359", "8375360", "telphin:469102", "megafon:anna.k"}, employeeIDs(emps))
	lena := employeeByID(t, emps, "8375360")
	require.Equal(t, []string{"703", "lena"}, lena.Extensions, "MegaFon's lena by e-mail")
	require.Equal(t, map[string][]string{"amocrm": {"lena@example.ru"}, "megafon": {"703", "lena"}}, lena.Providers)
	require.Equal(t, []string{"101"}, employeeByID(t, emps, "8375357").Extensions, "the extension map, and Telphin's 101")
	require.Equal(t, []string{"701", "andy"}, employeeByID(t, emps, "8375358").Extensions, "MegaFon's andy on extension 701")

	// lena answers a MegaFon call (amoCRM knows neither "lena" nor 703);
	// Петров (Telphin 102, no amoCRM user) answers another.
	c1 := megafontest.Call{ID: "mf-amo-1", Direction: "in", Phone: "74950008801", User: "lena", Ext: "703"}
	sendMegafon(t, srv, megafontest.Event("INCOMING", c1), megafontest.Event("ACCEPTED", c1),
		megafontest.History(c1, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 20}))
	tc := telphintest.Call{CallID: "ae000000000000000000000000000001", SubCallID: "124575-ae000000000000000000000000000001",
		Client: "+74950008802", Extension: "15400*102", Start: clock.Now().Add(-time.Minute)}
	for _, f := range []url.Values{tc.DialIn(), tc.Answer(), tc.Hangup()} {
		code, body := srv.send(t, hookOf(t, "", telphintest.NewRequest("/hooks/telphin/app", "hook-token", f)))
		require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, body)
	}
	waitEvents(t, srv, 6) // the calls' timers are armed before the clock moves
	clock.Advance(match.DefaultGracePeriod)
	got := callEmployees(t, srv, c1.ID, tc.CallID)
	require.Equal(t, "8375360", got[c1.ID], "the amoCRM user the sync gave the login")
	require.Empty(t, got[tc.CallID], "a telephony user of no amoCRM user is nobody to amoCRM")
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(amo.Calls(), func(c amocrmtest.Call) bool { return c.Item["responsible_user_id"] == float64(8375360) })
	}, 10*time.Second, 5*time.Millisecond, "amoCRM has a call of lena's")

	// amoCRM fails: its users stay. Then one is removed.
	amo.Fail(amocrmtest.Failure{Path: "/api/v4/users", Status: http.StatusInternalServerError})
	clock.Advance(gateway.DefaultEmployeeSync)
	require.Equal(t, employeeIDs(emps), employeeIDs(employees(t, srv)))
	code, body := srv.do(t, http.MethodGet, "/api/status", "", "")
	require.Equal(t, http.StatusOK, code, body)
	var st gateway.GatewayStatus
	require.NoError(t, json.Unmarshal([]byte(body), &st), body)
	require.NotNil(t, st.CRMEmployeeSync)
	require.NotEmpty(t, st.CRMEmployeeSync.Error)
	amo.RemoveUser(8375360)
	clock.Advance(gateway.DefaultEmployeeSync)
	emps = employees(t, srv)
	require.Equal(t, []string{"8375357", "8375358", "8375359", "telphin:469102", "megafon:anna.k", "megafon:lena"}, employeeIDs(emps),
		"lena is MegaFon's alone now")
}

// TestEmployeeSyncOff: -employee-sync off keeps the configured employees
// only; the setting is checked.
func TestEmployeeSyncOff(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := start(t, gateway.Config{Clock: clock, EmployeeSync: -1, Employees: []match.Employee{{ID: "anna", Extensions: []string{"101"}}}})
	newSyncFakes(t, srv)
	clock.Advance(gateway.DefaultEmployeeSync)
	require.Equal(t, []string{"anna"}, employeeIDs(employees(t, srv)))
	require.Nil(t, providerStatus(t, srv, "telphin").EmployeeSync)

	for _, tc := range []struct {
		arg  string
		want time.Duration
		err  bool
	}{
		{"", 0, false}, {"off", -1, false}, {"OFF", -1, false}, {"30m", 30 * time.Minute, false},
		{"30s", 0, true}, {"48h", 0, true}, {"often", 0, true},
	} {
		c, err := parseSetting("employee-sync", tc.arg, "CRM_EMPLOYEE_SYNC", "")
		if tc.err {
			require.ErrorContains(t, err, "-employee-sync", tc.arg)
			continue
		}
		require.NoError(t, err, tc.arg)
		require.Equal(t, tc.want, c.EmployeeSync, tc.arg)
	}
	path := filepath.Join(t.TempDir(), "crm.yaml")
	require.NoError(t, os.WriteFile(path, []byte("employee_sync: off\n"), 0o600))
	c, err := gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, time.Duration(-1), c.EmployeeSync)
	require.NoError(t, os.WriteFile(path, []byte("country: RU\nemployee_sync: 5s\n"), 0o600))
	_, err = gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.ErrorContains(t, err, `:2:16: employee_sync: "5s" is not a duration from 1m0s to 24h0m0s`)
}
