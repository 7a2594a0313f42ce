package gateway

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
)

// DefaultAddr is where the gateway listens without configuration.
const DefaultAddr = "127.0.0.1:8080"

// Intake limits without configuration (Config.MaxConnections and
// Config.MaxInFlight).
const (
	DefaultMaxConnections = 1024
	DefaultMaxInFlight    = 64
)

// Config is the gateway's configuration: what the flags and environment
// variables of the crm command set (see ParseConfig), plus fields that only
// a program embedding the gateway (or a test) sets.
type Config struct {
	// Addr is the listen address (-addr, CRM_ADDR; default 127.0.0.1:8080).
	Addr string
	// PublicURL is the address providers reach the gateway at, used to
	// print the webhook URLs (-public-url, CRM_PUBLIC_URL; default
	// http://Addr); when set, the calls' recording links are the
	// gateway's own signed links under it (see RecordingSecret).
	PublicURL string
	// Country is the country of national-format numbers in the clients
	// file and the rules (-country, CRM_COUNTRY; default RU). Webhook
	// numbers are read with each provider's home country (Telphin and
	// MegaFon RU, Phonet UA, Finaz BR). It does not apply to POST
	// /api/calls: "to" goes to the provider's client unchanged, which reads
	// it its own way (Telphin and Finaz with their home country, MegaFon
	// and Phonet as dialled digits), so give it in international format.
	Country string
	// ClientsFile is a JSON array of {"id","name","phone","responsible"}
	// (-clients, CRM_CLIENTS). Empty: DefaultClients.
	ClientsFile string
	// DefaultClients seeds the CRM when ClientsFile is empty (the crm
	// command embeds examples/crm/testdata/clients.json).
	DefaultClients []byte
	// HookToken authenticates the Telphin, Phonet and Finaz webhooks
	// (?token=…) (-hook-token, CRM_HOOK_TOKEN; generated when empty).
	HookToken string
	// MegafonToken is the crm_token MegaFon sends ("Ключ для авторизации
	// в вашей CRM") (-megafon-token, MEGAFON_CRM_TOKEN; generated when
	// empty).
	MegafonToken string
	// APIToken is the bearer token every /api/ request must carry
	// (Authorization: Bearer <token>) (-api-token, CRM_API_TOKEN; generated
	// and printed once at start when empty).
	APIToken string
	// RulesFile is a match rules JSON file (-rules, CRM_RULES). Empty:
	// DefaultRules.
	RulesFile string
	// Demo starts the provider fakes in-process and points the clients at
	// them (-demo, CRM_DEMO=1). The fakes send no webhooks, so a demo
	// call adds no row to GET /api/calls.
	Demo bool
	// DB is where the CRM keeps its clients, leads, calls, notifications
	// and its inbox of acknowledged events (-db, CRM_DB): a SQLite file
	// path (or "file:" URI) or a postgres:// (postgresql://) URL, opened
	// with sqlstore.Open. Empty (or MemoryDB, ":memory:", on the command
	// line): everything in memory, lost at exit, with webhook.Queue between
	// the handlers and the CRM. The crm command defaults it to DefaultDB.
	DB string
	// CallRetention is how long the database keeps a call (by its start):
	// older calls are deleted at start and then every hour
	// (-call-retention, CRM_CALL_RETENTION: a Go duration or a number of
	// days such as "90d"). 0, the default, keeps every call. Clients,
	// leads and notifications are kept.
	CallRetention time.Duration
	// FullSync makes a SQLite database sync its log at every commit
	// (sqlstore.WithFullSync), so a commit also survives a power loss, at
	// the cost of an fsync per commit (-db-sync full, CRM_DB_SYNC=full;
	// default normal: survives a crash of the process). PostgreSQL
	// follows its server's settings.
	FullSync bool
	// StatsDays is the period GET /api/stats reports when not asked for
	// one: today and this many days before it, in the gateway's time
	// zone (-stats-days, CRM_STATS_DAYS; 0, the default, is today only;
	// Perfectum's "default days for history and statistics").
	StatsDays int
	// EmployeeSync is how often the employees are merged with the user
	// lists of the providers whose clients can read them (Telphin
	// extensions, MegaFon and Phonet users; amoCRM's users in amoCRM
	// mode), the first time at start (-employee-sync, CRM_EMPLOYEE_SYNC:
	// a Go duration of at least a minute, or "off"). 0:
	// DefaultEmployeeSync; negative: never, the configured employees only.
	EmployeeSync time.Duration

	// RecordingCache is the directory where recordings fetched from the
	// providers are kept for GET /api/calls/{provider}/{call_id}/recording
	// and the signed links (-recording-cache, CRM_RECORDING_CACHE, the
	// file's recordings.cache). Empty: "recordings" beside a SQLite
	// database file, else callbridge-recordings in os.TempDir.
	RecordingCache string
	// RecordingCacheMB bounds the cache, in MiB: the least recently
	// fetched recordings are deleted beyond it (-recording-cache-mb,
	// CRM_RECORDING_CACHE_MB, recordings.cache_mb; 0: DefaultRecordingCacheMB).
	RecordingCacheMB int
	// RecordingSecret signs the recording links the gateway gives out
	// with a public URL, /recordings/{provider}/{call_id}?sig=…
	// (CRM_RECORDING_SECRET, recordings.link_secret). Empty: derived from
	// the API token, so changing the token also invalidates the links.
	RecordingSecret string

	// Provider credentials, from the environment only (secrets do not
	// belong on a command line).
	TelphinClientID, TelphinClientSecret string // TELPHIN_CLIENT_ID, TELPHIN_CLIENT_SECRET
	MegafonDomain, MegafonAPIKey         string // MEGAFON_DOMAIN, MEGAFON_API_KEY
	PhonetDomain, PhonetAPIKey           string // PHONET_DOMAIN, PHONET_API_KEY
	FinazConfig                          string // FINAZ_CONFIG: path of a finaz JSON configuration
	// TelphinBaseURL, when set, is the Telphin API host instead of
	// telphin.DefaultBaseURL: another of Telphin's hosts, or a test fake
	// (TELPHIN_BASE_URL, the file's providers.telphin.base_url).
	TelphinBaseURL string

	// CRM is where the engine keeps clients and leads: CRMBuiltin (the
	// default: memory or DB) or CRMAmoCRM (-crm, CRM_BACKEND, the file's
	// crm), with AmoCRM's account.
	CRM string
	// AmoCRM is the account of the amoCRM mode (AMOCRM_DOMAIN,
	// AMOCRM_TOKEN, AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET,
	// AMOCRM_REDIRECT_URL, AMOCRM_BASE_URL, or the file's amocrm). With
	// Demo and no Domain, an in-process amoCRM fake.
	AmoCRM AmoCRM

	// NotifyURL, when set, receives every notification (missed calls,
	// pushes, overdue tasks) as a JSON POST signed with NotifySecret
	// (SignatureHeader), retried with backoff until it is accepted
	// (CRM_NOTIFY_URL, CRM_NOTIFY_SECRET, or the file's notify).
	NotifyURL, NotifySecret string
	// SMTP, when its Addr is set, e-mails every notification to the
	// employee told (match.Employee.Email), retried with backoff like the
	// webhook's (-smtp-addr, -smtp-from, -smtp-username, CRM_SMTP_ADDR,
	// CRM_SMTP_FROM, CRM_SMTP_USERNAME, CRM_SMTP_PASSWORD, or the file's
	// smtp).
	SMTP SMTP

	// TLSCert and TLSKey are PEM files of a certificate and its key
	// (-tls-cert, -tls-key, CRM_TLS_CERT, CRM_TLS_KEY, or the file's tls):
	// the gateway then serves HTTPS itself (TLS 1.2 and later). Without
	// them it serves HTTP, for a reverse proxy that terminates TLS.
	TLSCert, TLSKey string

	// ConfigFile is the YAML configuration file the settings were read
	// from (-config, CRM_CONFIG), "" for none.
	ConfigFile string
	// CheckConfig: check the configuration, print it and exit
	// (-check-config).
	CheckConfig bool
	// Employees, when not empty, are the directory of the CRM (the
	// configuration file's employees): extensions and logins map to them,
	// admins are told of overdue call-back tasks. Empty: an employee per
	// responsible of the seeded clients.
	Employees []match.Employee
	// Rules, when set, are the engine's rules (the configuration file's
	// rules); RulesFile, when set, wins.
	Rules *match.RuleSet
	// Statuses are the employee statuses PUT /api/employees/{id}/status
	// accepts (the configuration file's statuses). Empty:
	// DefaultStatuses.
	Statuses []Status
	// Passwords are the employees' workspace passwords by employee id, as
	// PBKDF2 hashes (HashPassword; crm -hash-password makes one): the
	// configuration file's employees[].password_hash. An employee without
	// one signs in by a login link only (Gateway.LoginLink, POST
	// /api/employees/{id}/login-link, printed for each employee by -demo).
	Passwords map[string]string
	// Languages are the employees' workspace languages by employee id
	// (the file's employees[].lang: ru or en). Without one the browser's
	// Accept-Language decides, else Russian.
	Languages map[string]string
	// Campaigns is the dialer behind the workspace's dialing-list panel
	// (see Campaigns); nil: the gateway's own campaigns (POST
	// /api/campaigns) drive it.
	Campaigns Campaigns
	// HashPassword: read a password from standard input, print its hash
	// for the configuration file and exit (-hash-password).
	HashPassword bool
	// SecretsFrom says where each secret of the configuration file comes
	// from, by its key ("tokens.api": "env CRM_API_TOKEN", "file PATH" or
	// "inline"), for -check-config.
	SecretsFrom map[string]string

	// QueueWorkers and QueueSize size the delivery queue between the
	// webhook handlers and the CRM (defaults 4 and 65,536).
	QueueWorkers, QueueSize int
	// MaxOpenCalls caps the calls the engine tracks undecided (default
	// match.DefaultMaxCalls). At the cap a new call's webhook is answered
	// 503 with Retry-After, never acknowledged and then dropped.
	MaxOpenCalls int
	// MaxConnections caps the open connections Serve accepts (default
	// DefaultMaxConnections); further clients wait in the listen backlog.
	MaxConnections int
	// MaxInFlight caps the webhook requests whose bodies are being read
	// and handled at once (default DefaultMaxInFlight); a request beyond it
	// is answered 503 with Retry-After before its body is read, so the
	// provider redelivers. With the 1 MiB body limit this bounds the memory
	// that stalled or slow uploads can hold.
	MaxInFlight int
	// DiagOut receives the log lines other than the per-event ones (slog
	// JSON): start and shutdown, refused webhooks, dead letters,
	// click-to-call, the engine's and the clients' warnings. nil: the
	// writer given to New, with the event lines. Run sets it to stderr.
	DiagOut io.Writer
	// Clock drives the CRM engine's timers and stamps events that carry no
	// time (MegaFon pushes). nil: the system clock.
	Clock match.Clock

	// MetricsAddr is a second listen address serving only GET /metrics,
	// without the API token, for a Prometheus that cannot send one
	// (-metrics-addr, CRM_METRICS_ADDR, the file's metrics_addr). The main
	// address serves GET /metrics behind the API token either way.
	MetricsAddr string
	// LogLevel is the lowest level of the log lines other than the
	// per-event ones: debug, info (the default), warn or error
	// (-log-level, CRM_LOG_LEVEL, the file's log_level).
	LogLevel slog.Level
	// MeterProvider and TracerProvider replace the gateway's own
	// OpenTelemetry SDK (see Observability in the package doc): every
	// client, handler, queue and the engine record to them. nil: the
	// gateway's.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// ParseConfig reads the crm command's configuration: its flags from args,
// each defaulting to its environment variable read with getenv, which
// defaults to the configuration file's setting (-config, CRM_CONFIG: see
// examples/crm/callbridge.example.yaml), and the provider credentials
// from the environment or the file. Every problem of the file is
// reported at once, with its line. -h prints the usage to output and
// returns flag.ErrHelp.
func ParseConfig(args []string, getenv func(string) string, output io.Writer) (Config, error) {
	return parseConfig(args, getenv, output, "")
}

// parseConfig is ParseConfig with the database used when none is
// configured.
func parseConfig(args []string, getenv func(string) string, output io.Writer, defaultDB string) (Config, error) {
	env := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	var c Config
	var file fileConfig
	c.ConfigFile = cmpOr(configArg(args), env("CRM_CONFIG", ""))
	if c.ConfigFile != "" {
		var err error
		if file, c.Rules, c.Employees, err = loadConfigFile(c.ConfigFile, getenv, env("CRM_COUNTRY", "RU")); err != nil {
			return Config{}, err
		}
		c.SecretsFrom = file.secretSources()
		c.Statuses = file.Statuses
		c.Passwords, c.Languages = file.logins()
	}
	fs := flag.NewFlagSet("crm", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "YAML configuration file: providers, tokens, employees, rules; flags and environment variables override it (CRM_CONFIG; see examples/crm/callbridge.example.yaml)")
	fs.BoolVar(&c.CheckConfig, "check-config", false, "check the configuration, print the effective settings (secrets redacted) and exit")
	fs.BoolVar(&c.HashPassword, "hash-password", false, "read a workspace password from standard input, print its hash for employees[].password_hash of the configuration file and exit")
	fs.StringVar(&c.Addr, "addr", env("CRM_ADDR", cmpOr(file.Listen, DefaultAddr)), "listen address (CRM_ADDR)")
	fs.StringVar(&c.PublicURL, "public-url", env("CRM_PUBLIC_URL", file.PublicURL), "URL providers reach this gateway at, for the printed webhook URLs and the signed recording links (CRM_PUBLIC_URL; default http://<addr>)")
	fs.StringVar(&c.Country, "country", env("CRM_COUNTRY", cmpOr(strings.ToUpper(file.Country), "RU")), "country of national-format numbers in the clients and rules files: RU, KZ, UA, BY, BR (CRM_COUNTRY); click-to-call passes \"to\" to the provider as given")
	fs.StringVar(&c.ClientsFile, "clients", env("CRM_CLIENTS", file.Clients), "JSON file of clients to seed: [{\"id\",\"name\",\"phone\",\"responsible\"}] (CRM_CLIENTS; default: the embedded testdata/clients.json)")
	// Secrets never become flag defaults: -h prints defaults. They are
	// read from the environment after parsing, unless a flag set them.
	fs.StringVar(&c.HookToken, "hook-token", "", "token of the Telphin, Phonet and Finaz webhook URLs (CRM_HOOK_TOKEN; default: generated)")
	fs.StringVar(&c.MegafonToken, "megafon-token", "", "crm_token MegaFon sends (MEGAFON_CRM_TOKEN; default: generated)")
	fs.StringVar(&c.APIToken, "api-token", "", "bearer token of the /api/ routes (CRM_API_TOKEN; default: generated and printed once at start)")
	fs.StringVar(&c.RulesFile, "rules", env("CRM_RULES", ""), "JSON rules file for the match engine (CRM_RULES; default: create clients for unknown numbers, a lead for a missed inbound call)")
	demo, err := envBool(getenv("CRM_DEMO"))
	if err != nil {
		return Config{}, fmt.Errorf("CRM_DEMO: %w", err)
	}
	fs.BoolVar(&c.Demo, "demo", demo, "start the provider fakes in-process so click-to-call works without accounts (CRM_DEMO)")
	fs.StringVar(&c.TLSCert, "tls-cert", env("CRM_TLS_CERT", file.TLS.Cert), "PEM certificate (with its chain) to serve HTTPS (CRM_TLS_CERT); with -tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", env("CRM_TLS_KEY", file.TLS.Key), "PEM private key of -tls-cert (CRM_TLS_KEY)")
	fs.StringVar(&c.CRM, "crm", env("CRM_BACKEND", file.CRM), "where clients and leads live: builtin (the default) or amocrm (CRM_BACKEND; amocrm needs AMOCRM_DOMAIN and AMOCRM_TOKEN, or the OAuth settings, or -demo)")
	fs.StringVar(&c.DB, "db", env("CRM_DB", cmpOr(file.DB.value, defaultDB)), "database of the CRM: a SQLite file, or postgres://user:password@host/db (CRM_DB); \""+MemoryDB+"\" keeps everything in memory, lost at exit")
	dbSync := fs.String("db-sync", env("CRM_DB_SYNC", cmpOr(file.DBSync, "normal")), "SQLite durability: normal (a commit survives a crash of the process) or full (also a power loss; an fsync per commit) (CRM_DB_SYNC)")
	retention := fs.String("call-retention", env("CRM_CALL_RETENTION", file.CallRetention), "database mode: delete calls that started longer ago than this, e.g. 2160h or 90d (CRM_CALL_RETENTION; default: keep every call)")
	fileDays := "0"
	if file.StatsDays != nil {
		fileDays = strconv.Itoa(*file.StatsDays)
	}
	fileCacheMB := ""
	if file.Recordings.CacheMB != nil {
		fileCacheMB = strconv.Itoa(*file.Recordings.CacheMB)
	}
	fs.StringVar(&c.RecordingCache, "recording-cache", env("CRM_RECORDING_CACHE", file.Recordings.Cache), "directory of the recordings fetched from the providers (CRM_RECORDING_CACHE; default: recordings beside a SQLite database, else in the temporary directory)")
	cacheMB := fs.String("recording-cache-mb", env("CRM_RECORDING_CACHE_MB", fileCacheMB), fmt.Sprintf("size bound of -recording-cache in MiB; the least recently fetched go first (CRM_RECORDING_CACHE_MB; default %d)", DefaultRecordingCacheMB))
	statsDays := fs.String("stats-days", env("CRM_STATS_DAYS", fileDays), "days before today that GET /api/stats reports by default, 0 = today only (CRM_STATS_DAYS)")
	fs.StringVar(&c.SMTP.Addr, "smtp-addr", env("CRM_SMTP_ADDR", file.SMTP.Addr), "SMTP server (host:port) to e-mail the notifications to the employees through, with STARTTLS when it offers it (CRM_SMTP_ADDR; with -smtp-from)")
	fs.StringVar(&c.SMTP.From, "smtp-from", env("CRM_SMTP_FROM", file.SMTP.From), "sender of the notification e-mails: an address or \"Name <address>\" (CRM_SMTP_FROM)")
	fs.StringVar(&c.SMTP.Username, "smtp-username", env("CRM_SMTP_USERNAME", file.SMTP.Username), "SMTP login; its password comes from CRM_SMTP_PASSWORD or the configuration file (CRM_SMTP_USERNAME)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", env("CRM_METRICS_ADDR", file.MetricsAddr), "a second listen address serving only GET /metrics, without the API token (CRM_METRICS_ADDR; the main address serves it with the token)")
	logLevel := fs.String("log-level", env("CRM_LOG_LEVEL", file.LogLevel), "lowest level of the log lines on stderr: debug, info, warn or error (CRM_LOG_LEVEL; default info)")
	employeeSync := fs.String("employee-sync", env("CRM_EMPLOYEE_SYNC", file.EmployeeSync), "how often the employees are merged with the providers' user lists (Telphin extensions, MegaFon and Phonet users, amoCRM users), the first time at start: a duration such as 10m, or off (CRM_EMPLOYEE_SYNC; default 10m)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if c.LogLevel, err = parseLogLevel(*logLevel); err != nil {
		return Config{}, fmt.Errorf("-log-level (CRM_LOG_LEVEL): %w", err)
	}
	if c.EmployeeSync, err = parseEmployeeSync(*employeeSync); err != nil {
		return Config{}, fmt.Errorf("-employee-sync (CRM_EMPLOYEE_SYNC): %w", err)
	}
	if c.StatsDays, err = parseDays(*statsDays); err != nil {
		return Config{}, fmt.Errorf("-stats-days (CRM_STATS_DAYS): %w", err)
	}
	if c.RecordingCacheMB, err = parseCacheMB(*cacheMB); err != nil {
		return Config{}, fmt.Errorf("-recording-cache-mb (CRM_RECORDING_CACHE_MB): %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(*dbSync)) {
	case "normal":
	case "full":
		c.FullSync = true
	default:
		return Config{}, fmt.Errorf("-db-sync (CRM_DB_SYNC): %q is neither normal nor full", *dbSync)
	}
	if c.CallRetention, err = parseRetention(*retention); err != nil {
		return Config{}, fmt.Errorf("-call-retention (CRM_CALL_RETENTION): %w", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if strings.TrimSpace(c.DB) == MemoryDB {
		c.DB = ""
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range []struct {
		flag, env string
		v         *string
		file      string
	}{
		{"hook-token", "CRM_HOOK_TOKEN", &c.HookToken, file.Tokens.Hooks.value},
		{"megafon-token", "MEGAFON_CRM_TOKEN", &c.MegafonToken, file.Tokens.MegaFon.value},
		{"api-token", "CRM_API_TOKEN", &c.APIToken, file.Tokens.API.value},
	} {
		if !set[s.flag] {
			*s.v = env(s.env, s.file)
		}
	}
	p := file.Providers
	c.TelphinClientID = env("TELPHIN_CLIENT_ID", p.Telphin.ClientID)
	c.TelphinClientSecret = env("TELPHIN_CLIENT_SECRET", p.Telphin.ClientSecret.value)
	c.TelphinBaseURL = env("TELPHIN_BASE_URL", p.Telphin.BaseURL)
	c.MegafonDomain, c.MegafonAPIKey = env("MEGAFON_DOMAIN", p.MegaFon.Domain), env("MEGAFON_API_KEY", p.MegaFon.APIKey.value)
	c.PhonetDomain, c.PhonetAPIKey = env("PHONET_DOMAIN", p.Phonet.Domain), env("PHONET_API_KEY", p.Phonet.APIKey.value)
	c.FinazConfig = env("FINAZ_CONFIG", p.Finaz.Templates)
	c.NotifyURL, c.NotifySecret = env("CRM_NOTIFY_URL", file.Notify.URL), env("CRM_NOTIFY_SECRET", file.Notify.Secret.value)
	c.SMTP.Password = env("CRM_SMTP_PASSWORD", file.SMTP.Password.value)
	c.RecordingSecret = env("CRM_RECORDING_SECRET", file.Recordings.LinkSecret.value)
	a := file.AmoCRM
	c.AmoCRM = AmoCRM{Domain: env("AMOCRM_DOMAIN", a.Domain), Token: env("AMOCRM_TOKEN", a.Token.value),
		ClientID: env("AMOCRM_CLIENT_ID", a.ClientID), ClientSecret: env("AMOCRM_CLIENT_SECRET", a.ClientSecret.value),
		RedirectURL: env("AMOCRM_REDIRECT_URL", a.RedirectURL), Extensions: a.Extensions, UnsortedPipeline: a.UnsortedPipeline,
		BaseURL: env("AMOCRM_BASE_URL", a.BaseURL)}
	return c, c.validate()
}

// MaxStatsDays bounds the days of GET /api/stats.
const MaxStatsDays = 3660

// parseDays reads a number of days from 0 to MaxStatsDays.
func parseDays(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > MaxStatsDays {
		return 0, fmt.Errorf("%q is not a number of days from 0 to %d", text.Clip(s, 40), MaxStatsDays)
	}
	return n, nil
}

// DefaultRecordingCacheMB is the bound of the recording cache without
// Config.RecordingCacheMB, in MiB; MaxRecordingCacheMB the largest
// accepted (1 TiB).
const (
	DefaultRecordingCacheMB = 512
	MaxRecordingCacheMB     = 1 << 20
)

// parseCacheMB reads a cache bound in MiB; "" is 0 (the default).
func parseCacheMB(s string) (int, error) {
	if s = strings.TrimSpace(s); s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > MaxRecordingCacheMB {
		return 0, fmt.Errorf("%q is not a number of MiB from 0 to %d", text.Clip(s, 40), MaxRecordingCacheMB)
	}
	return n, nil
}

// parseRetention reads a Go duration or a number of days ("90d"); ""
// is 0.
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 36500 {
			return 0, fmt.Errorf("%q is not a number of days (0 to 36500)", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 2160h or a number of days such as 90d", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// Bounds of Config.EmployeeSync.
const (
	MinEmployeeSync = time.Minute
	MaxEmployeeSync = 24 * time.Hour
)

// parseEmployeeSync reads a Go duration from MinEmployeeSync to
// MaxEmployeeSync, or "off" (-1); "" is 0, the default.
func parseEmployeeSync(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, nil
	case strings.EqualFold(s, "off"):
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinEmployeeSync || d > MaxEmployeeSync {
		return 0, fmt.Errorf("%q is not a duration from %s to %s (such as 10m), nor off", text.Clip(s, 40), MinEmployeeSync, MaxEmployeeSync)
	}
	return d, nil
}

func envBool(s string) (bool, error) {
	if s = strings.TrimSpace(s); s == "" {
		return false, nil
	}
	return strconv.ParseBool(s)
}

// validate reports half-configured providers: one of a pair of settings
// without the other.
func (c Config) validate() error {
	var errs []error
	pair := func(k1, v1, k2, v2 string) {
		switch {
		case v1 != "" && v2 == "":
			errs = append(errs, fmt.Errorf("%s is set but %s is not", k1, k2))
		case v1 == "" && v2 != "":
			errs = append(errs, fmt.Errorf("%s is set but %s is not", k2, k1))
		}
	}
	pair("TELPHIN_CLIENT_ID", c.TelphinClientID, "TELPHIN_CLIENT_SECRET", c.TelphinClientSecret)
	pair("MEGAFON_DOMAIN", c.MegafonDomain, "MEGAFON_API_KEY", c.MegafonAPIKey)
	pair("PHONET_DOMAIN", c.PhonetDomain, "PHONET_API_KEY", c.PhonetAPIKey)
	if c.RecordingCacheMB < 0 || c.RecordingCacheMB > MaxRecordingCacheMB {
		errs = append(errs, fmt.Errorf("recording cache: %d MiB is not from 0 to %d", c.RecordingCacheMB, MaxRecordingCacheMB))
	}
	if c.QueueWorkers < 0 || c.QueueSize < 0 || c.MaxConnections < 0 || c.MaxInFlight < 0 || c.MaxOpenCalls < 0 {
		errs = append(errs, errors.New("negative queue or intake setting"))
	}
	if c.NotifyURL != "" {
		if u, err := url.Parse(c.NotifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("notify URL %q: want http(s)://host/path", c.NotifyURL))
		}
		if c.NotifySecret == "" {
			errs = append(errs, errors.New("CRM_NOTIFY_URL is set but CRM_NOTIFY_SECRET, which signs the notifications, is not"))
		}
	}
	errs = append(errs, c.SMTP.problems()...)
	if c.EmployeeSync > 0 && (c.EmployeeSync < MinEmployeeSync || c.EmployeeSync > MaxEmployeeSync) {
		errs = append(errs, fmt.Errorf("employee sync: %s is not from %s to %s", c.EmployeeSync, MinEmployeeSync, MaxEmployeeSync))
	}
	for _, id := range slices.Sorted(maps.Keys(c.Passwords)) {
		if _, err := parsePasswordHash(c.Passwords[id]); err != nil {
			errs = append(errs, fmt.Errorf("password of employee %q: %w", text.Clip(id, 40), err))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.Languages)) {
		if l := c.Languages[id]; !slices.Contains(languages, l) {
			errs = append(errs, fmt.Errorf("language of employee %q: %q is none of %s", text.Clip(id, 40), text.Clip(l, 20), strings.Join(languages, ", ")))
		}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("metrics address %q: want host:port", c.MetricsAddr))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("-tls-cert and -tls-key go together"))
	}
	switch c.CRM {
	case "", CRMBuiltin:
	case CRMAmoCRM:
		a := c.AmoCRM
		switch {
		case a.Domain == "" && c.Demo: // the in-process fake
		case a.Domain == "":
			errs = append(errs, errors.New("crm amocrm: AMOCRM_DOMAIN (amocrm.domain) is not set; or run with -demo"))
		case a.Token == "" && (a.ClientID == "" || a.ClientSecret == "" || a.RedirectURL == ""):
			errs = append(errs, errors.New("crm amocrm: set AMOCRM_TOKEN (a private integration's long-lived token), or AMOCRM_CLIENT_ID, AMOCRM_CLIENT_SECRET and AMOCRM_REDIRECT_URL"))
		}
	default:
		errs = append(errs, fmt.Errorf("crm: %q is neither builtin nor amocrm", c.CRM))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public URL %q: want http(s)://host[:port][/path]", c.PublicURL))
		}
	}
	for _, b := range []struct{ key, v string }{{"TELPHIN_BASE_URL", c.TelphinBaseURL}, {"AMOCRM_BASE_URL", c.AmoCRM.BaseURL}} {
		if err := checkBaseURL(b.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.key, err))
		}
	}
	return errors.Join(errs...)
}

// checkBaseURL checks an API base URL setting: "" or
// http(s)://host[:port][/path], without credentials (the clients
// authenticate with their tokens, and the URL is logged).
func checkBaseURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("%q: want http(s)://host[:port][/path]", text.Clip(s, 80))
	case u.User != nil:
		return errors.New("a user or password in the URL: the API is authenticated by its token")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q: want http(s)://host[:port][/path], without a query", text.Clip(s, 80))
	}
	return nil
}

// redacted is Config with its secrets replaced, for String, GoString,
// LogValue and MarshalJSON.
func (c Config) redacted() map[string]any {
	secret := func(v string) string {
		if v == "" {
			return ""
		}
		return "REDACTED"
	}
	return map[string]any{
		"Addr": c.Addr, "PublicURL": c.PublicURL, "Country": c.Country, "ClientsFile": c.ClientsFile,
		"HookToken": secret(c.HookToken), "MegafonToken": secret(c.MegafonToken), "APIToken": secret(c.APIToken),
		"RulesFile": c.RulesFile, "Demo": c.Demo, "DB": redactDSN(c.DB),
		"TelphinClientID": c.TelphinClientID, "TelphinClientSecret": secret(c.TelphinClientSecret),
		"MegafonDomain": c.MegafonDomain, "MegafonAPIKey": secret(c.MegafonAPIKey),
		"TelphinBaseURL": c.TelphinBaseURL, "PhonetDomain": c.PhonetDomain, "PhonetAPIKey": secret(c.PhonetAPIKey), "FinazConfig": c.FinazConfig,
		"NotifyURL": c.NotifyURL, "NotifySecret": secret(c.NotifySecret),
		"SMTPAddr": c.SMTP.Addr, "SMTPFrom": c.SMTP.From, "SMTPUsername": c.SMTP.Username, "SMTPPassword": secret(c.SMTP.Password),
		"TLSCert": c.TLSCert, "TLSKey": c.TLSKey, "CRM": c.CRM, "AmoCRMDomain": c.AmoCRM.Domain, "AmoCRMToken": secret(c.AmoCRM.Token), "AmoCRMClientID": c.AmoCRM.ClientID,
		"AmoCRMClientSecret": secret(c.AmoCRM.ClientSecret), "AmoCRMRedirectURL": c.AmoCRM.RedirectURL, "AmoCRMBaseURL": c.AmoCRM.BaseURL,
		"RecordingCache": c.RecordingCache, "RecordingCacheMB": c.RecordingCacheMB, "RecordingSecret": secret(c.RecordingSecret),
		"QueueWorkers": c.QueueWorkers, "QueueSize": c.QueueSize, "MaxOpenCalls": c.MaxOpenCalls,
		"MaxConnections": c.MaxConnections, "MaxInFlight": c.MaxInFlight,
		"MetricsAddr": c.MetricsAddr, "LogLevel": strings.ToLower(c.LogLevel.String()),
	}
}

var configKeys = []string{"Addr", "PublicURL", "Country", "ClientsFile", "HookToken", "MegafonToken", "APIToken",
	"RulesFile", "Demo", "DB", "TelphinClientID", "TelphinClientSecret", "TelphinBaseURL", "MegafonDomain", "MegafonAPIKey",
	"PhonetDomain", "PhonetAPIKey", "FinazConfig", "NotifyURL", "NotifySecret",
	"SMTPAddr", "SMTPFrom", "SMTPUsername", "SMTPPassword", "TLSCert", "TLSKey", "CRM", "AmoCRMDomain", "AmoCRMToken", "AmoCRMClientID", "AmoCRMClientSecret",
	"AmoCRMRedirectURL", "AmoCRMBaseURL", "RecordingCache", "RecordingCacheMB", "RecordingSecret", "QueueWorkers", "QueueSize", "MaxOpenCalls", "MaxConnections", "MaxInFlight",
	"MetricsAddr", "LogLevel"}

// String shows the configuration with its secrets (tokens, keys) redacted.
func (c Config) String() string {
	m := c.redacted()
	var b strings.Builder
	b.WriteString("{")
	for i, k := range configKeys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%v", k, m[k])
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String: %#v never shows a secret either.
func (c Config) GoString() string { return "gateway.Config" + c.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the configuration with its secrets redacted.
func (c Config) LogValue() slog.Value {
	m := c.redacted()
	attrs := make([]slog.Attr, 0, len(configKeys))
	for _, k := range configKeys {
		attrs = append(attrs, slog.Any(k, m[k]))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON encodes the configuration with its secrets redacted.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.redacted()) }
