package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// exampleEnv sets the secrets the example configuration reads.
var exampleEnv = map[string]string{
	"CRM_API_TOKEN": "api-SECRET-1", "CRM_HOOK_TOKEN": "hook-SECRET-2", "MEGAFON_CRM_TOKEN": "mf-SECRET-3",
	"TELPHIN_CLIENT_SECRET": "tp-SECRET-4", "MEGAFON_API_KEY": "mfkey-SECRET-5", "PHONET_API_KEY": "ph-SECRET-6",
}

const exampleFile = "../callbridge.example.yaml"

// TestConfigFileExample: the example configuration in the repository is
// valid and sets what it says: seed 002's and seed 003's settings, the
// employees, the secrets from the environment.
func TestConfigFileExample(t *testing.T) {
	t.Parallel()
	c, err := gateway.ParseConfig([]string{"-config", exampleFile}, func(k string) string { return exampleEnv[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", c.Addr)
	require.Equal(t, "https://crm.example.com", c.PublicURL)
	require.Equal(t, "callbridge.db", c.DB)
	require.Equal(t, 90*24*time.Hour, c.CallRetention)
	require.Equal(t, 7, c.StatsDays)
	require.Equal(t, "api-SECRET-1", c.APIToken)
	require.Equal(t, "mf-SECRET-3", c.MegafonToken)
	require.Equal(t, "8a7c9f0e2b5d4c1a", c.TelphinClientID)
	require.Equal(t, "tp-SECRET-4", c.TelphinClientSecret)
	require.Equal(t, "example.phonet.com.ua", c.PhonetDomain)
	require.Len(t, c.Employees, 4)
	require.Equal(t, match.Employee{ID: "anna", Name: "Анна", Login: "anna", Email: "anna@example.com", Extensions: []string{"101", "102"}, Admin: true}, c.Employees[0])
	require.NotNil(t, c.Rules)
	r := c.Rules.Default
	require.True(t, r.Create.InboundAnswered && r.Create.InboundMissed && r.Create.Outbound)
	require.Equal(t, "Продажи", r.Leads.InboundAnswered.Pipeline)
	require.Equal(t, "missed", r.Missed.Manager)
	require.Equal(t, []string{"boris"}, r.Notify.Extra)
	require.Equal(t, match.Duration(30*time.Second), r.Notify.Delay)
	require.True(t, r.Task.Enabled)
	require.Len(t, r.Lines, 1)
	require.Equal(t, []string{"74951234567"}, r.Lines[0].Numbers, "company numbers normalised")
	require.Equal(t, match.DistributeRoundRobin, r.Lines[0].Missed.Distribution)
}

// TestConfigFileProblems: every problem of a file is reported at once,
// each at its line, and nothing starts.
func TestConfigFileProblems(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`listen: 127.0.0.1:8080
contry: RU
db_sync: sometimes
stats_days: many
tokens:
  api: {env: NO_SUCH_VAR}
  hooks: {enviroment: X}
providers:
  megafon:
    domain: example.megapbx.ru
employees:
  - {id: anna, extensions: ["101"]}
  - {id: anna, extensions: ["101", "x1"]}
rules:
  default:
    creat: {}
`), 0o600))
	_, err := gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.Error(t, err)
	for _, want := range []string{
		":2:1: contry: unknown key \"contry\"",
		":3:10: db_sync: \"sometimes\" is neither normal nor full",
		":4:1: cannot unmarshal !!str `many` into int",
		":6:8: tokens.api: the environment variable NO_SUCH_VAR is not set",
		":7:11: tokens.hooks: unknown key \"enviroment\"",
		":13:10: employees.1.id: \"anna\" is the id of an employee above",
		":13:29: employees.1.extensions.0: extension 101 is also anna's",
		":13:36: employees.1.extensions.1: \"x1\" is not an extension",
		":16:5: rules: json: unknown field \"creat\"",
	} {
		require.Contains(t, err.Error(), want)
	}
	require.Contains(t, err.Error(), "9 problem(s)")

	// A provider's pair half in the file, half in the environment is
	// whole; half in neither is not.
	require.NoError(t, os.WriteFile(path, []byte("providers:\n  megafon: {domain: example.megapbx.ru}\n"), 0o600))
	c, err := gateway.ParseConfig([]string{"-config", path}, func(k string) string {
		return map[string]string{"MEGAFON_API_KEY": "mf-key"}[k]
	}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "example.megapbx.ru", c.MegafonDomain)
	_, err = gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.ErrorContains(t, err, "MEGAFON_DOMAIN is set but MEGAFON_API_KEY is not")

	// Rules naming an employee the file does not list.
	require.NoError(t, os.WriteFile(path, []byte("employees:\n  - {id: anna}\nrules:\n  default:\n    notify: {extra: [anna, bob]}\n"), 0o600))
	_, err = gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.ErrorContains(t, err, `:5:28: rules: default notify.extra names employee "bob", who is not in employees`)

	// A country without national rules.
	require.NoError(t, os.WriteFile(path, []byte("country: XX\n"), 0o600))
	_, err = gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.ErrorContains(t, err, `:1:10: country: phone: unsupported default country "XX"`)

	// Statuses: a name twice, and none online.
	require.NoError(t, os.WriteFile(path, []byte("statuses:\n  - {name: away}\n  - {name: away}\n"), 0o600))
	_, err = gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.ErrorContains(t, err, `:3:12: statuses.1.name: "away" is a status above`)
	require.ErrorContains(t, err, ":2:3: statuses: none is online")

	// A syntax error, and a file that is not there.
	require.NoError(t, os.WriteFile(path, []byte("a: [1\n"), 0o600))
	_, err = gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.ErrorContains(t, err, "bad.yaml:1:1:")
	_, err = gateway.ParseConfig(nil, func(k string) string {
		return map[string]string{"CRM_CONFIG": filepath.Join(t.TempDir(), "none.yaml")}[k]
	}, io.Discard)
	require.ErrorContains(t, err, "none.yaml")
}

// TestConfigFilePrecedence: a flag wins over its environment variable,
// which wins over the file; a secret can come from a file; -config wins
// over CRM_CONFIG.
func TestConfigFilePrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "api-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("file-SECRET-9\n"), 0o600))
	path := filepath.Join(dir, "a.yaml")
	require.NoError(t, os.WriteFile(path, []byte("listen: 127.0.0.1:9001\nstats_days: 3\ntokens: {api: {file: "+tokenFile+"}}\n"), 0o600))
	other := filepath.Join(dir, "b.yaml")
	require.NoError(t, os.WriteFile(other, []byte("listen: 127.0.0.1:9002\n"), 0o600))

	c, err := gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9001", c.Addr)
	require.Equal(t, 3, c.StatsDays)
	require.Equal(t, "file-SECRET-9", c.APIToken, "from the file the secret names, trimmed")

	env := map[string]string{"CRM_ADDR": "127.0.0.1:9003", "CRM_API_TOKEN": "env-SECRET", "CRM_CONFIG": other}
	c, err = gateway.ParseConfig([]string{"-config=" + path}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, path, c.ConfigFile, "-config wins over CRM_CONFIG")
	require.Equal(t, "127.0.0.1:9003", c.Addr, "the environment wins over the file")
	require.Equal(t, "env-SECRET", c.APIToken)
	c, err = gateway.ParseConfig([]string{"-addr", "127.0.0.1:9004"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, other, c.ConfigFile)
	require.Equal(t, "127.0.0.1:9004", c.Addr, "a flag wins over everything")
}

// TestConfigBaseURLs: amocrm.base_url (AMOCRM_BASE_URL) and
// providers.telphin.base_url (TELPHIN_BASE_URL) point the clients at
// another host, the environment winning over the file; a value that is
// not an http(s) URL, or carries a password, is refused naming the
// setting (at its line in the file) and never echoes the password.
func TestConfigBaseURLs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`crm: amocrm
amocrm: {domain: example.amocrm.ru, token: {env: AMOCRM_TOKEN}, base_url: "http://127.0.0.1:9100"}
providers:
  telphin: {base_url: "https://altapi.telphin.ru"}
`), 0o600))
	env := map[string]string{"AMOCRM_TOKEN": "long-SECRET"}
	c, err := gateway.ParseConfig([]string{"-config", path}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9100", c.AmoCRM.BaseURL)
	require.Equal(t, "https://altapi.telphin.ru", c.TelphinBaseURL)
	require.Contains(t, c.String(), "AmoCRMBaseURL:http://127.0.0.1:9100")
	env["AMOCRM_BASE_URL"], env["TELPHIN_BASE_URL"] = "https://sandbox.example.com/amo", "http://127.0.0.1:9200"
	c, err = gateway.ParseConfig([]string{"-config", path}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "https://sandbox.example.com/amo", c.AmoCRM.BaseURL, "the environment wins")
	require.Equal(t, "http://127.0.0.1:9200", c.TelphinBaseURL)

	env["AMOCRM_BASE_URL"], env["TELPHIN_BASE_URL"] = "sandbox.example.com", "https://user:pass-SECRET@telphin.example.com"
	_, err = gateway.ParseConfig([]string{"-config", path}, func(k string) string { return env[k] }, io.Discard)
	require.ErrorContains(t, err, `AMOCRM_BASE_URL: "sandbox.example.com": want http(s)://host[:port][/path]`)
	require.ErrorContains(t, err, "TELPHIN_BASE_URL: a user or password in the URL")
	require.NotContains(t, err.Error(), "pass-SECRET")

	require.NoError(t, os.WriteFile(path, []byte(`amocrm: {base_url: "ftp://amo.example.com"}
providers:
  telphin: {base_url: "https://altapi.telphin.ru/?x=1"}
`), 0o600))
	_, err = gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.ErrorContains(t, err, `:1:20: amocrm.base_url: "ftp://amo.example.com": want http(s)://host[:port][/path]`)
	require.ErrorContains(t, err, `:3:23: providers.telphin.base_url: "https://altapi.telphin.ru/?x=1": want http(s)://host[:port][/path], without a query`)
}

// TestCheckConfig: -check-config prints the effective settings as JSON,
// every secret redacted and where it comes from, and starts nothing.
func TestCheckConfig(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := gateway.Run(t.Context(), []string{"-config", exampleFile, "-check-config", "-addr", "127.0.0.1:1"},
		func(k string) string { return exampleEnv[k] }, &out, io.Discard, gateway.Defaults{DB: gateway.DefaultDB})
	require.NoError(t, err)
	for _, v := range exampleEnv {
		require.NotContains(t, out.String(), v, "a secret in the output")
	}
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	require.Equal(t, "REDACTED", got["APIToken"])
	require.Equal(t, "127.0.0.1:1", got["Addr"])
	require.Equal(t, "env CRM_API_TOKEN", got["SecretsFrom"].(map[string]any)["tokens.api"])
	require.Len(t, got["Employees"], 4)
	require.Contains(t, got, "Rules")
}

// TestConfiguredEmployees: the gateway maps calls to the employees of
// the configuration file and follows its rules (here: the missed-calls
// manager of seed 002 is responsible for a missed call from an unknown
// number, and is told).
func TestConfiguredEmployees(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		path := filepath.Join(t.TempDir(), "crm.yaml")
		require.NoError(t, os.WriteFile(path, []byte(`employees:
  - {id: anna, name: Анна, login: andy, extensions: ["701"]}
  - {id: missed, name: Менеджер пропущенных, extensions: ["301"]}
rules:
  default:
    create: {inbound_missed: true}
    missed: {manager: missed}
`), 0o600))
		c, err := gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
		require.NoError(t, err)
		clock := newFakeClock()
		c.Clock, c.DB = clock, db
		srv := start(t, c)
		answered := megafontest.Call{ID: "mf-cfg-1", Direction: "in", Phone: "74950001212", User: "andy", Ext: "701"}
		missed := megafontest.Call{ID: "mf-cfg-2", Direction: "in", Phone: "74950001313", User: "andy", Ext: "701"}
		sendMegafon(t, srv, megafontest.Event("INCOMING", answered), megafontest.Event("ACCEPTED", answered),
			megafontest.History(answered, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 30}),
			megafontest.Event("INCOMING", missed),
			megafontest.History(missed, megafontest.Outcome{Status: "Missed", Start: clock.Now().Add(-time.Minute)}))
		waitEvents(t, srv, 5)
		clock.Advance(match.DefaultGracePeriod)
		employee := map[string]string{}
		require.Eventually(t, func() bool {
			code, body := srv.do(t, http.MethodGet, "/api/calls", "", "")
			if code != http.StatusOK {
				return false
			}
			var out struct {
				Items []struct {
					CallID   string `json:"call_id"`
					Employee string `json:"employee"`
				}
			}
			require.NoError(t, json.Unmarshal([]byte(body), &out), body)
			for _, c := range out.Items {
				employee[c.CallID] = c.Employee
			}
			return len(employee) == 2
		}, 10*time.Second, 5*time.Millisecond)
		require.Equal(t, "anna", employee[answered.ID], "extension 701 is Анна's")
		require.Equal(t, "missed", employee[missed.ID], "the missed-calls manager")
		code, body := srv.do(t, http.MethodGet, "/api/notifications", "", "")
		require.Equal(t, http.StatusOK, code, body)
		require.True(t, strings.Contains(body, `"employee":"missed"`), body)
	})
}
