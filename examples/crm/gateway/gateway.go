package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/sqlstore"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/webhook"
)

// FinazSettle is how long after a Finaz notification the CRM acts on the
// call. Finaz reports only the answer, never the end, so the engine would
// otherwise wait for its general idle timeout; the short wait absorbs the
// server- and browser-side notifications of one call.
const FinazSettle = 5 * time.Second

// ShutdownTimeout bounds a graceful shutdown: finishing requests in flight,
// draining the queue and closing the engine.
const ShutdownTimeout = 30 * time.Second

// ShutdownGrace is how long a shutdown waits for requests in flight before
// it closes their connections: a client that holds a response open
// without reading it cannot hold the shutdown up. Webhook requests cut
// this way got no 2xx, so their providers redeliver; what they had
// already queued is drained.
const ShutdownGrace = 3 * time.Second

// providers are the provider names of the routes and of POST /api/calls.
var providers = []string{telphin.Provider, megafon.Provider, phonet.Provider, finaz.Provider}

// Gateway is the reference CRM telephony gateway: every provider's webhook
// handler in front of one delivery queue, a CRM (a memstore.Store, or the
// database of Config.DB with a durable inbox, under a match.Engine), click-to-call through the provider
// clients and a small JSON API. Create it with New, serve it with Serve or mount
// Handler yourself, and Close it.
type Gateway struct {
	cfg    Config
	log    *slog.Logger // everything but the event lines (Config.DiagOut)
	events *slog.Logger // one line per delivered event (New's logOut)
	store  *crmStore
	crm    match.ClientStore // the engine's store: the built-in CRM or amoCRM
	popups *popUps           // the cards of live calls
	cards  match.PopUpper    // where the engine shows cards: popups (and amoCRM's pop-ups)
	// amoCRM mode (Config.CRM): the client, its fake with -demo, the
	// installations in progress and the engine's directory.
	amoClient *amocrm.Client
	amoFake   *amocrmtest.Server
	amoDir    match.Directory
	oauth     oauthStates
	amoTokens string    // the OAuth tokens' name in the database; "" with a long-lived token
	crmHealth crmHealth // the OAuth integration's state, checked daily
	crmErr    lastError // the engine's last warning: the CRM failing to take a call
	// notes keeps the gateway's notifications (its list, and the
	// notification webhook's outbox): the admins' alerts go here.
	notes     match.Notifier
	hookStats hookStats   // webhook outcomes per provider (GET /api/status)
	tls       *tls.Config // Config.TLSCert: Serve serves HTTPS
	// Config.NotifyURL and Config.SMTP: the notifications to send, the
	// senders and their loop's wake-up.
	outbox     outbox
	senders    []sender
	sendWake   chan struct{}
	stopSender func()
	presence   *presence // the employees' statuses
	live       *live.Hub // the employees' screens (GET /api/events)
	engine     *match.Engine
	dialer     *dialer.Dialer // the campaigns (campaigns.go)
	dialStore  dialer.Store   // the dialer's store
	queue      *webhook.Queue // memory mode (Config.DB empty)
	db         *sqlstore.DB   // database mode: the CRM's data
	inbox      *sqlstore.Inbox
	sink       callevent.Sink // what the webhook handlers hand events to: queue or inbox
	mux        *http.ServeMux
	tap        func(callevent.Event) // tests: sees every event a handler accepts

	// The workspace (GET /): the holds and cards the screens need
	// besides the engine's, the sessions, the sign-in throttle, the login
	// links' key and, with -demo, the demo phone.
	screens  *screenWork
	sessions sessions
	logins   loginFailures
	loginKey []byte
	demo     *demoPhone

	hookToken, megafonToken, apiToken string
	apiTokenGenerated                 bool
	hosts                             map[string]struct{} // API Host names besides IPs and localhost
	telphinApp                        string

	closing     atomic.Bool  // shutdown began: /readyz answers 503
	deadLetters atomic.Int64 // events acknowledged but never delivered

	callers map[string]callevent.Caller // configured providers
	missing map[string]string           // provider → what to set to configure it

	closers   []func()
	closeOnce sync.Once
	closeErr  error

	retainMu      sync.Mutex // the call retention's and the task escalation's timers
	retainTimer   match.Timer
	escalateTimer match.Timer
	reconcile     reconcilers  // lost webhooks recovered from the providers' history
	empSync       employeeSync // the directory merged with the providers' user lists
	retainStopped bool

	recordings recordings // Telphin recording links

	recCache *recordCache // the recordings served (Config.RecordingCache)
	linkKey  []byte       // signs the recording links (Config.RecordingSecret)

	obs *observability // metrics (GET /metrics, OTLP) and traces
}

// New builds a gateway from cfg. Event log lines (slog JSON, one per event
// delivered to the CRM) go to logOut; the other log lines go to
// cfg.DiagOut, or also to logOut when that is nil. Close the gateway when
// done.
func New(cfg Config, logOut io.Writer) (*Gateway, error) { return newGateway(cfg, logOut, nil) }

// newGateway is New with tap, which sees every event a webhook handler
// accepts, before the queue (the fuzz target checks them).
func newGateway(cfg Config, logOut io.Writer, tap func(callevent.Event)) (g *Gateway, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Country == "" {
		cfg.Country = "RU"
	}
	events, diag := newLoggers(cfg, logOut)
	obs, err := newObservability(cfg, osEnv)
	if err != nil {
		return nil, err
	}
	g = &Gateway{
		cfg:               cfg,
		log:               diag,
		events:            events,
		tap:               tap,
		hookToken:         cmpOr(cfg.HookToken, rand.Text()),
		megafonToken:      cmpOr(cfg.MegafonToken, rand.Text()),
		apiToken:          cmpOr(cfg.APIToken, rand.Text()),
		apiTokenGenerated: cfg.APIToken == "",
		hosts:             hostsOf(cfg.PublicURL, cfg.Addr),
		callers:           map[string]callevent.Caller{},
		missing:           map[string]string{},
		empSync: employeeSync{sources: map[string]userSource{}, last: map[string][]providerUser{},
			state: map[string]*EmployeeSync{}},
		obs:     obs,
		closers: []func(){obs.close}, // the last: what the others record is exported
	}
	g.recordings.g = g
	g.linkKey = newLinkKey(cmpOr(cfg.RecordingSecret, g.apiToken))
	g.loginKey = newLoginKey(g.apiToken)
	g.screens = newScreenWork(g)
	g.recCache = newRecordCache(recordingDir(cfg), int64(cmpOr(cfg.RecordingCacheMB, DefaultRecordingCacheMB))<<20, g.log)
	defer func() {
		if err != nil {
			_ = g.Close(context.Background())
			g = nil
		}
	}()
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return g, fmt.Errorf("tls: %w", err)
		}
		g.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if err := g.openCRM(); err != nil {
		return g, err
	}
	if err := g.openDialer(); err != nil {
		return g, err
	}
	if g.db != nil {
		g.inbox, err = sqlstore.NewInbox(g.db, engineSink{g}, sqlstore.InboxConfig{
			Workers: cmpOr(cfg.QueueWorkers, 4),
			Logger:  g.log, MeterProvider: g.obs.mp, TracerProvider: g.obs.tp,
		})
		if err != nil {
			return g, err
		}
		g.sink = g.inbox
		if err := g.awaitUnbound(context.Background()); err != nil {
			return g, fmt.Errorf("database: %w", err)
		}
		if cfg.CallRetention > 0 {
			g.retainCalls()
		}
	} else if err = g.newQueue(); err != nil {
		return g, err
	}
	if cfg.Demo {
		err = g.startDemo()
	} else {
		err = g.openClients()
	}
	if err != nil {
		return g, err
	}
	if err := g.routes(); err != nil {
		return g, err
	}
	g.startReconcile()
	if g.amoTokens != "" {
		g.startOAuthHealth()
	}
	g.startEmployeeSync()
	return g, nil
}

// newQueue creates the in-memory delivery queue.
func (g *Gateway) newQueue() (err error) {
	cfg := g.cfg
	g.queue, err = webhook.NewQueue(engineSink{g}, webhook.QueueConfig{
		Workers: cmpOr(cfg.QueueWorkers, 4),
		Size:    cmpOr(cfg.QueueSize, 1<<16),
		Logger:  g.log, MeterProvider: g.obs.mp, TracerProvider: g.obs.tp,
		DeadLetter: func(ctx context.Context, e callevent.Event, err error) {
			g.deadLetters.Add(1)
			g.log.ErrorContext(ctx, "dead letter: event not delivered", "event_id", e.ID, "provider", e.Provider,
				"account", e.Account, "call_id", e.CallID, "kind", e.Kind.String(), "error", err)
		},
	})
	g.sink = g.queue
	return err
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// openCRM creates the store, seeds it and starts the engine.
func (g *Gateway) openCRM() error {
	cfg := g.cfg
	sopts := []memstore.Option{memstore.WithDefaultCountry(cfg.Country), memstore.SingleTenant()}
	eopts := []match.Option{match.WithDefaultCountry(cfg.Country), match.WithLogger(slog.New(errorTap{g.log.Handler(), &g.crmErr})),
		match.WithProviderIdle(finaz.Provider, FinazSettle)}
	eopts = append(eopts, g.engineOpts()...)
	if cfg.Clock != nil {
		sopts = append(sopts, memstore.WithClock(cfg.Clock))
		eopts = append(eopts, match.WithClock(cfg.Clock))
	}
	clients := cfg.DefaultClients
	if cfg.ClientsFile != "" {
		var err error
		if clients, err = os.ReadFile(cfg.ClientsFile); err != nil {
			return fmt.Errorf("clients: %w", err)
		}
	}
	var crm match.ClientStore
	if cfg.DB != "" {
		s, err := g.openDB(clients)
		if err != nil {
			return err
		}
		crm = s
	} else {
		store, err := memstore.New(sopts...)
		if err != nil {
			return err
		}
		if len(clients) > 0 {
			if _, err := store.LoadClients("", bytes.NewReader(clients)); err != nil {
				return fmt.Errorf("clients: %w", err)
			}
		}
		store.SetEmployees("", g.baseEmployees(store.Clients())...)
		g.store = newCRMStore(store)
		crm = g.store
	}

	rules := DefaultRules()
	if cfg.CRM == CRMAmoCRM {
		// The guide's setup; amoCRM's statuses are the account's own.
		rules = match.RuleSet{Default: match.Rules{Rule: match.DefaultRule()}}
	}
	if cfg.Rules != nil {
		rules = *cfg.Rules
	}
	if cfg.RulesFile != "" {
		b, err := os.ReadFile(cfg.RulesFile)
		if err != nil {
			return fmt.Errorf("rules: %w", err)
		}
		if rules, err = match.ParseRules(b, cfg.Country); err != nil {
			return fmt.Errorf("rules %s: %w", cfg.RulesFile, err)
		}
	}
	if err := g.newLive(); err != nil {
		return err
	}
	g.popups = &popUps{g: g, kept: map[popKey]int{}}
	eopts = append(eopts, match.WithRules(rules), match.WithLimits(match.Limits{MaxCalls: cfg.MaxOpenCalls}),
		match.WithOnDecision(g.decided), match.WithPopUps(g.popups), match.WithOnLiveCall(g.liveChanged))
	g.cards = g.popups
	local := g.local()
	var notes match.Notifier = local
	if cfg.NotifyURL != "" {
		g.senders = append(g.senders, webhookSender{url: cfg.NotifyURL, secret: cfg.NotifySecret,
			client: &http.Client{Timeout: notifyTimeout}})
	}
	if cfg.SMTP.Addr != "" {
		g.senders = append(g.senders, newMailSender(g))
	}
	if len(g.senders) > 0 || cfg.CRM == CRMAmoCRM {
		// amoCRM's deliveries are recorded there too (senderAmoCRM).
		g.outbox = &memOutbox{now: g.clock().Now}
		if g.db != nil {
			g.outbox = g.db
		}
	}
	if len(g.senders) > 0 {
		g.sendWake = make(chan struct{}, 1)
		notes = sendingNotifier{next: local, g: g}
	}
	notes = g.live.Notifier(notes) // and to the employee's screen
	eopts = append(eopts, match.WithNotifier(notes))
	g.notes = notes
	if cfg.CRM == CRMAmoCRM {
		amo, err := g.openAmoCRM()
		if err != nil {
			return err
		}
		dir := amoDirectory{amo: amo, local: local, amoUser: g.empSync.amoUser}
		opts := g.amoEngineOptions(amo, local, dir, notes)
		g.amoDir = dir
		g.empSync.sources[CRMAmoCRM] = amoUsers(amo)
		// The cards go to amoCRM's pop-ups and to GET /api/popups.
		g.cards = teePopUps{amo, g.popups}
		eopts = append(append(eopts, opts...), match.WithPopUps(g.cards))
		crm = amo
	}
	g.crm = crm
	engine, err := match.NewEngine(crm, eopts...)
	if err != nil {
		return err
	}
	g.engine = engine
	if len(g.senders) > 0 {
		g.startSender()
	}
	if g.presence, err = newPresence(context.Background(), g, cfg.Statuses); err != nil {
		return err
	}
	g.escalateTasks()
	return nil
}

// baseEmployees are the employees the directory starts with and the
// employee sync merges the providers' users into: Config.Employees, else,
// with the built-in CRM, one per responsible of the seeded clients. In
// amoCRM mode only Config.Employees: amoCRM's users are its employees.
func (g *Gateway) baseEmployees(clients []match.Client) []match.Employee {
	g.empSync.base = g.cfg.Employees
	if g.cfg.CRM != CRMAmoCRM {
		g.empSync.base = g.cfg.directory(clients)
	}
	return g.empSync.base
}

// directory is the CRM's employees: the configured ones, else one per
// responsible of the clients (employeesOf).
func (c Config) directory(clients []match.Client) []match.Employee {
	if len(c.Employees) > 0 {
		return c.Employees
	}
	return employeesOf(clients)
}

// employeesOf makes an employee of every distinct responsible of the
// clients: the clients file names them by their extension ("101") or
// their login at the provider ("andy"), so the CRM can route a client's
// call to its responsible (MegaFon cmd=contact, Telphin call_interactive,
// Phonet customer_data) and attach the calls an extension answers to that
// employee.
func employeesOf(clients []match.Client) []match.Employee {
	var out []match.Employee
	for _, c := range clients {
		r := c.Responsible
		if r == "" || slices.ContainsFunc(out, func(e match.Employee) bool { return e.ID == r }) {
			continue
		}
		e := match.Employee{ID: r, Name: r}
		if strings.Trim(r, "0123456789") == "" {
			e.Extensions = []string{r}
		} else {
			e.Login = r
		}
		out = append(out, e)
	}
	return out
}

// DefaultRules are the gateway's rules without -rules: create a client for
// every unknown number (inbound answered, inbound missed, outbound), as
// the amoCRM integration guide does, and a lead for a missed inbound call
// when the client has no active lead.
func DefaultRules() match.RuleSet {
	r := match.DefaultRule()
	r.Leads.InboundMissed = match.LeadCase{Create: true, EvenIfClientExists: true, Status: "new", Source: "missed call"}
	return match.RuleSet{Default: match.Rules{Rule: r}}
}

// deliver hands one event from the queue to the CRM and logs it.
// engineSink is what the delivery queue delivers to: the engine, which the
// queue asks (Admit) before it acknowledges an event, so a full engine is a
// 503 with Retry-After for the provider to redeliver, never a 202 followed
// by a dead letter.
type engineSink struct{ g *Gateway }

func (s engineSink) HandleEvent(ctx context.Context, e callevent.Event) error {
	err := s.g.deliver(ctx, e)
	if err != nil {
		s.g.hookStats.failed(e.Provider, err, time.Now().UTC())
	}
	return err
}
func (s engineSink) Admit(ctx context.Context, e callevent.Event) error {
	return s.g.engine.Admit(ctx, e)
}

// Resume and Undecided make the engine a sqlstore.Resumer behind the
// inbox: the events of calls in progress are held in the database until
// the engine decides the call, and resumed by the next start.
func (s engineSink) Resume(ctx context.Context, e callevent.Event, arrived time.Time) error {
	e = s.g.recordings.withRecording(ctx, e)
	err := s.g.engine.Resume(ctx, e, arrived)
	if err == nil {
		err = s.g.dialer.HandleEvent(ctx, e) // a campaign's call: its outcome
	}
	if err != nil {
		s.g.hookStats.failed(e.Provider, err, time.Now().UTC())
		return err
	}
	if s.g.clock().Now().Sub(arrived) <= finazCardLag {
		s.g.finazCard(ctx, e)
	}
	s.g.logEvent(ctx, e)
	return nil
}
func (s engineSink) Undecided(e callevent.Event) bool { return s.g.engine.Undecided(e) }

// decided shows the end of a call on the employees' screens and tells
// the inbox (database mode) that the engine no longer needs the events
// of the call.
func (g *Gateway) decided(ctx context.Context, d match.Decision) {
	g.live.Decided(ctx, d)
	g.screens.forget(d.Call.Provider, d.Call.Account, d.Call.CallID)
	if g.inbox == nil {
		return
	}
	if err := g.inbox.Settle(ctx, d.Call.Provider, d.Call.Account, d.Call.CallID); err != nil {
		g.log.WarnContext(ctx, "call decided but not settled in the inbox; a restart decides it again",
			"provider", d.Call.Provider, "account", d.Call.Account, "call_id", d.Call.CallID, "error", err)
	}
}

func (g *Gateway) deliver(ctx context.Context, e callevent.Event) error {
	e = g.recordings.withRecording(ctx, e)
	if err := g.engine.HandleEvent(ctx, e); err != nil {
		return err
	}
	if err := g.dialer.HandleEvent(ctx, e); err != nil { // a campaign's call: its outcome
		return err
	}
	g.finazCard(ctx, e)
	g.logEvent(ctx, e)
	return nil
}

// logEvent writes the event line of a delivered event (after a restart,
// an event of a call in progress is delivered, and logged, again).
func (g *Gateway) logEvent(ctx context.Context, e callevent.Event) {
	g.events.LogAttrs(ctx, slog.LevelInfo, "event",
		slog.String("event_id", e.ID), slog.String("provider", e.Provider), slog.String("account", e.Account),
		slog.String("call_id", e.CallID), slog.String("kind", e.Kind.String()),
		slog.String("direction", e.Direction.String()), slog.String("status", e.Status.String()),
		slog.String("client_phone", e.ClientPhone), slog.String("extension", e.Extension))
}

// openClients creates the click-to-call client of every provider whose
// credentials are set and notes what the others miss.
func (g *Gateway) openClients() error {
	cfg := g.cfg
	g.telphinApp = cfg.TelphinClientID
	if cfg.TelphinClientID != "" {
		opts := g.clientOpts()
		if cfg.TelphinBaseURL != "" {
			opts = append(opts, callbridge.WithBaseURL(cfg.TelphinBaseURL))
		}
		c, err := telphin.NewClient(telphin.Credentials{ClientID: cfg.TelphinClientID, ClientSecret: cfg.TelphinClientSecret}, opts...)
		if err != nil {
			return fmt.Errorf("telphin: %w", err)
		}
		g.callers[telphin.Provider] = c
	} else {
		g.missing[telphin.Provider] = "TELPHIN_CLIENT_ID and TELPHIN_CLIENT_SECRET"
	}
	if cfg.MegafonDomain != "" {
		c, err := megafon.NewClient(megafon.Credentials{Domain: cfg.MegafonDomain, APIKey: cfg.MegafonAPIKey}, g.clientOpts()...)
		if err != nil {
			return fmt.Errorf("megafon: %w", err)
		}
		g.callers[megafon.Provider] = c
	} else {
		g.missing[megafon.Provider] = "MEGAFON_DOMAIN and MEGAFON_API_KEY"
	}
	if cfg.PhonetDomain != "" {
		c, err := phonet.NewClient(phonet.Credentials{Domain: cfg.PhonetDomain, APIKey: cfg.PhonetAPIKey}, g.clientOpts()...)
		if err != nil {
			return fmt.Errorf("phonet: %w", err)
		}
		g.callers[phonet.Provider] = c
	} else {
		g.missing[phonet.Provider] = "PHONET_DOMAIN and PHONET_API_KEY"
	}
	if cfg.FinazConfig != "" {
		c, err := finazClient(cfg.FinazConfig, g.clientOpts()...)
		if err != nil {
			return err
		}
		g.callers[finaz.Provider] = c
	} else {
		g.missing[finaz.Provider] = "FINAZ_CONFIG (a finaz JSON configuration with click2call)"
	}
	return nil
}

func finazClient(path string, opts ...callbridge.ClientOption) (*finaz.Client, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("finaz: %w", err)
	}
	defer f.Close()
	cfg, err := finaz.LoadConfig(f, finaz.OpClick2Call)
	if err != nil {
		return nil, fmt.Errorf("finaz: %s: %w", path, err)
	}
	c, err := finaz.NewClient(cfg, opts...)
	if err != nil {
		return nil, fmt.Errorf("finaz: %w", err)
	}
	return c, nil
}

// routes mounts every handler on the mux.
func (g *Gateway) routes() error {
	wopts := append([]webhook.Option{webhook.WithLogger(g.log)}, g.hookOpts()...)
	if g.cfg.Clock != nil { // the time window around "now" follows the clock
		wopts = append(wopts, webhook.WithClock(g.cfg.Clock.Now))
	}
	sink := g.sink
	if g.tap != nil {
		sink = callevent.SinkFunc(func(ctx context.Context, e callevent.Event) error {
			g.tap(e)
			return g.sink.HandleEvent(ctx, e)
		})
	}
	th, err := telphin.NewHandler(sink, append([]webhook.Option{
		webhook.WithToken(g.hookToken),
		webhook.WithAccount(func(r *http.Request) string { return r.PathValue("account") }),
		webhook.WithContactLookup(g.engine)}, wopts...)...)
	if err != nil {
		return fmt.Errorf("telphin handler: %w", err)
	}
	megafonAccount := g.megafonAccount()
	mh, err := megafon.NewHandler(sink, append([]webhook.Option{
		webhook.WithToken(g.megafonToken),
		webhook.WithAccount(func(*http.Request) string { return megafonAccount }),
		webhook.WithContactLookup(g.engine)}, wopts...)...)
	if err != nil {
		return fmt.Errorf("megafon handler: %w", err)
	}
	ph, err := phonet.NewHandler(sink, append([]webhook.Option{
		webhook.WithToken(g.hookToken),
		webhook.WithContactLookup(g.engine)}, wopts...)...)
	if err != nil {
		return fmt.Errorf("phonet handler: %w", err)
	}
	fh, err := finaz.NewHandler(sink, append([]webhook.Option{
		webhook.WithToken(g.hookToken),
		webhook.WithContactLookup(g.engine)}, wopts...)...)
	if err != nil {
		return fmt.Errorf("finaz handler: %w", err)
	}

	// Webhooks with the token in the URL are refused before their body is
	// read; MegaFon's token is in the body. Bodies in flight are bounded
	// for all; MegaFon, whose senders cannot be refused early, has its own
	// share, so unauthenticated senders cannot starve the others.
	n := cmpOr(g.cfg.MaxInFlight, DefaultMaxInFlight)
	urlHooks, bodyHooks := make(inFlight, max(1, n-n/4)), make(inFlight, max(1, n/4))
	hook := func(h http.Handler) http.Handler { return g.queryToken(g.hookToken, urlHooks.limit(reached(h))) }

	mux := http.NewServeMux()
	mux.Handle("POST /hooks/telphin/{account}", g.counted(telphin.Provider, hook(th)))
	mux.Handle("GET /hooks/telphin/{account}", g.counted(telphin.Provider, hook(th)))
	mux.Handle("POST /hooks/megafon", g.counted(megafon.Provider, bodyHooks.limit(reached(mh))))
	for _, ep := range phonetEndpoints {
		mux.Handle("POST /hooks/phonet/"+ep, g.counted(phonet.Provider, hook(ph)))
	}
	for _, ep := range finazEndpoints {
		mux.Handle("GET /hooks/finaz/"+string(ep), g.counted(finaz.Provider, hook(fh)))
	}
	mux.Handle("GET /api/status", g.guardAPI(g.status))
	mux.HandleFunc("GET /status", g.statusPage)
	g.uiRoutes(mux)
	mux.Handle("GET /api/calls", g.guardAPI(g.listCalls))
	mux.Handle("GET /api/clients", g.guardAPI(g.listClients))
	mux.Handle("GET /api/leads", g.guardAPI(g.listLeads))
	mux.Handle("GET /api/notifications", g.guardAPI(g.listNotifications))
	mux.Handle("GET /api/stats", g.guardAPI(g.callStats))
	mux.Handle("GET /api/tasks", g.guardAPI(g.listTasks))
	mux.Handle("GET /api/popups", g.guardAPI(g.listPopUps))
	mux.Handle("GET /api/events", g.guardAPI(g.live.Handler(g.eventsFor).ServeHTTP))
	mux.Handle("GET /oauth/amocrm/start", g.queryToken(g.apiToken, http.HandlerFunc(g.oauthStart)))
	mux.HandleFunc("GET /oauth/amocrm/callback", g.oauthCallback)
	mux.Handle("GET /api/employees", g.guardAPI(g.listEmployees))
	mux.Handle("PUT /api/employees/{id}/status", g.guardAPI(g.setStatus))
	mux.Handle("GET /api/deadletters", g.guardAPI(g.listDeadLetters))
	mux.Handle("POST /api/deadletters/{id}/replay", g.guardAPI(g.replayDeadLetter))
	mux.Handle("POST /api/calls", g.guardAPI(g.placeCall))
	mux.Handle("GET /api/calls/live", g.guardAPI(g.liveCalls))
	mux.Handle("GET /api/calls/{provider}/{call_id}", g.guardAPI(g.getCall))
	mux.Handle("POST /api/calls/{provider}/{call_id}/{action}", g.guardAPI(g.controlCall))
	mux.Handle("GET /api/calls/{provider}/{call_id}/recording", g.guardAPI(g.apiRecording))
	mux.HandleFunc("GET /recordings/{provider}/{call_id}", g.linkedRecording)
	mux.Handle("POST /api/finaz/results", g.guardAPI(g.dialerResults))
	mux.Handle("POST /api/campaigns", g.guardAPI(g.createCampaign))
	mux.Handle("GET /api/campaigns", g.guardAPI(g.listCampaigns))
	mux.Handle("GET /api/campaigns/{id}", g.guardAPI(g.getCampaign))
	mux.Handle("POST /api/campaigns/{id}/{action}", g.guardAPI(g.campaignAction))
	mux.Handle("POST /api/campaigns/{id}/agents/{employee}/{action}", g.guardAPI(g.agentAction))
	mux.Handle("POST /api/campaigns/{id}/targets/{number}/skip", g.guardAPI(g.skipTarget))
	mux.Handle("POST /api/donotcall", g.guardAPI(g.doNotCall))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", g.readyz)
	mux.Handle("GET /metrics", g.guardAPI(g.serveMetrics))
	g.mux = mux
	return nil
}

// Readiness is the answer of GET /readyz.
type Readiness struct {
	Ready bool `json:"ready"`
	// Problems says what is not ready.
	Problems []string `json:"problems,omitempty"`
	// Queued is the events waiting in the delivery queue, QueueSize its
	// capacity. In database mode Queued is the inbox's pending events
	// (sqlstore.Inbox.Pending) and QueueSize the backlog above which the
	// gateway reports not ready.
	Queued    int `json:"queued"`
	QueueSize int `json:"queue_size"`
	// Calls is the calls in the call log (memory mode only; 0 in
	// database mode).
	Calls int `json:"calls"`
	// DeadLetters counts events acknowledged but never delivered (memory
	// mode; in database mode GET /api/deadletters lists them).
	DeadLetters int64 `json:"dead_letters"`
}

// Ready reports whether the gateway can take events: not shutting down,
// the queue accepting (not full), and the CRM (engine and store)
// answering.
func (g *Gateway) Ready(ctx context.Context) Readiness {
	size := cmpOr(g.cfg.QueueSize, 1<<16)
	r := Readiness{QueueSize: size, DeadLetters: g.deadLetters.Load()}
	if g.inbox != nil {
		n, err := g.inbox.Pending(ctx)
		if err != nil {
			r.Problems = append(r.Problems, "database: "+err.Error())
		}
		r.Queued = n
	} else {
		r.Queued, r.Calls = g.queue.Len(), g.store.calls.len()
	}
	if g.closing.Load() {
		r.Problems = append(r.Problems, "shutting down")
	}
	if r.Queued >= size {
		r.Problems = append(r.Problems, "queue full")
	}
	// The sink: a lookup through the engine reaches the store.
	if _, _, err := g.engine.LookupContact(ctx, "", "70000000000"); err != nil {
		r.Problems = append(r.Problems, "crm: "+err.Error())
	}
	if p := g.oauthProblem(); p != "" {
		r.Problems = append(r.Problems, p)
	}
	r.Ready = len(r.Problems) == 0
	return r
}

func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	rd := g.Ready(r.Context())
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, rd)
}

// phonetEndpoints are Perfectum's paths of Phonet's webhooks; the handler
// tells the kinds apart by the body, so one handler serves all three.
var phonetEndpoints = []string{"customer_data", "call", "after_call_end"}

var finazEndpoints = []finaz.Endpoint{finaz.EndpointDiscador, finaz.EndpointReceptivo}

// megafonAccount is the Account of MegaFon events: the PBX domain when
// known.
func (g *Gateway) megafonAccount() string {
	if g.cfg.Demo {
		return demoMegafonDomain
	}
	return g.cfg.MegafonDomain
}

// Handler is the gateway's http.Handler: the webhook routes, the API and
// /healthz.
func (g *Gateway) Handler() http.Handler { return g.mux }

// HookToken is the token of the Telphin, Phonet and Finaz webhook URLs.
func (g *Gateway) HookToken() string { return g.hookToken }

// MegafonToken is the crm_token MegaFon must send.
func (g *Gateway) MegafonToken() string { return g.megafonToken }

// Serve serves HTTP on ln until ctx is done, then shuts down gracefully:
// it stops accepting connections, waits up to ShutdownGrace for the
// requests in flight and then closes their connections (a client holding a
// response open does not hold the shutdown up), drains the queued events
// into the CRM and closes the gateway, which decides every call still
// waiting to settle (in memory mode; see Close). It returns nil after a
// clean shutdown: nothing acknowledged to a provider was lost. At most
// Config.MaxConnections connections are open at once.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	ln = newLimitListener(ln, cmpOr(g.cfg.MaxConnections, DefaultMaxConnections))
	if g.tls != nil {
		ln = tls.NewListener(ln, g.tls)
	}
	srv := &http.Server{
		Handler:           g.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return errors.Join(err, g.Close(context.Background()))
	case <-ctx.Done():
	}
	g.closing.Store(true)
	g.log.Info("shutting down", "queued", g.queued())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	// The screens' streams never end by themselves: end them first, and
	// their browsers reconnect to whatever serves next.
	g.closeLive(sctx)
	gctx, gcancel := context.WithTimeout(sctx, ShutdownGrace)
	err := srv.Shutdown(gctx)
	gcancel()
	if errors.Is(err, context.DeadlineExceeded) {
		// Requests still running after the grace: readers that do not
		// read, or uploads that do not end. Their connections close; no
		// acknowledged event is among them.
		g.log.Warn("shutdown: closing connections still busy after the grace", "grace", ShutdownGrace.String())
		err = srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	err = errors.Join(err, g.Close(sctx))
	if err == nil {
		g.log.Info("stopped")
	}
	return err
}

// queued is the events acknowledged and not yet delivered.
func (g *Gateway) queued() int {
	if g.inbox != nil {
		n, _ := g.inbox.Pending(context.Background())
		return n
	}
	return g.queue.Len()
}

// dbName says where the CRM's data is: the database (its password
// redacted) or memory.
func (g *Gateway) dbName() string {
	if g.db != nil {
		return g.db.String()
	}
	return "in memory (lost at exit; -db keeps it in a database)"
}

// Close drains the queue into the CRM (until ctx is done; what is left is
// logged as dead letters) or, in database mode, waits until ctx is done
// for the inbox to deliver what it holds (the rest stays in the database
// for the next start) and closes it, closes the engine, which decides the
// calls still waiting to settle (in database mode it leaves them, held in
// the inbox, for the next start: see match.Engine.Close), gives up the
// inbox's lease of delivery (when ctx is not done yet: the next process
// then delivers and resumes at once), closes the database and stops the
// demo fakes. It reports an error when an acknowledged event was not
// delivered (a dead letter). Only the first call does anything.
func (g *Gateway) Close(ctx context.Context) error {
	g.closeOnce.Do(func() {
		g.closing.Store(true)
		g.stopReconcile()
		g.stopOAuthHealth()
		g.stopEmployeeSync()
		g.closeLive(ctx)
		if g.dialer != nil {
			g.dialer.Close()
		}
		if g.screens != nil {
			g.screens.close()
		}
		var errs []error
		if g.queue != nil {
			errs = append(errs, g.queue.Close(ctx))
		}
		g.stopRetention()
		g.recordings.close()
		g.recCache.close()
		if g.inbox != nil {
			g.drainInbox(ctx)
			errs = append(errs, g.inbox.Close(ctx))
		}
		if g.engine != nil {
			errs = append(errs, g.engine.Close(ctx))
		}
		if g.inbox != nil && ctx.Err() == nil {
			// The engine has decided what it will and its timers are done:
			// the next process may deliver at once, not when the lease ends.
			if err := g.inbox.ReleaseLease(ctx); err != nil {
				g.log.Warn("shutdown: the inbox's lease of delivery was not given up; the next process waits for it to end", "error", err)
			}
		}
		if g.stopSender != nil {
			g.stopSender()
		}
		if g.db != nil {
			errs = append(errs, g.db.Close())
		}
		for _, f := range slices.Backward(g.closers) {
			f()
		}
		if n := g.deadLetters.Load(); n > 0 {
			errs = append(errs, fmt.Errorf("%d acknowledged events were not delivered (dead letters, logged)", n))
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

// closeLive ends the screens' streams, waiting for them until ctx is
// done (a stream writing to a browser that does not read ends within
// its write timeout).
func (g *Gateway) closeLive(ctx context.Context) {
	if g.live == nil {
		return
	}
	if err := g.live.Close(ctx); err != nil {
		g.log.Warn("shutdown: screens' streams still running", "error", err)
	}
}

// Defaults are the crm command's own defaults, beneath its flags, its
// environment variables and its configuration file.
type Defaults struct {
	// Clients seed the CRM unless -clients (or the file's clients) names
	// a file.
	Clients []byte
	// DB is the database when none is configured ("": memory).
	DB string
	// Stdin is where -hash-password reads the password (the command's
	// standard input).
	Stdin io.Reader
}

// Run is the crm command: it reads the configuration from args, getenv
// and the configuration file (see ParseConfig), seeds the CRM with
// def.Clients unless -clients is given, listens, prints the webhook URLs
// to stderr, logs one JSON line per delivered event to stdout and
// everything else (start, shutdown, refused requests, failures) as JSON
// to stderr, and serves until ctx is done (SIGINT or SIGTERM in the
// command), then shuts down gracefully and returns nil. With
// -check-config it prints the effective configuration, secrets redacted,
// to stdout and returns.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, def Defaults) error {
	cfg, err := parseConfig(args, getenv, stderr, def.DB)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.HashPassword {
		return printPasswordHash(def.Stdin, stdout)
	}
	if cfg.CheckConfig {
		b, err := cfg.effective()
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	cfg.DefaultClients = def.Clients
	cfg.DiagOut = stderr
	g, err := New(cfg, stdout)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(err, g.Close(context.Background()))
	}
	base := strings.TrimRight(cfg.PublicURL, "/")
	if base == "" {
		scheme := "http://"
		if cfg.TLSCert != "" {
			scheme = "https://"
		}
		base = scheme + displayAddr(ln.Addr(), interfaceIP)
	}
	g.PrintURLs(stderr, base)
	if err := g.listenMetrics(ctx); err != nil {
		return errors.Join(err, ln.Close(), g.Close(context.Background()))
	}
	g.setUpHooks(ctx)
	g.log.Info("listening", "addr", ln.Addr().String(), "demo", cfg.Demo, "db", g.dbName())
	return g.Serve(ctx, ln)
}

// printPasswordHash is -hash-password: the first line of in (without
// its line break) hashed for employees[].password_hash, printed to out.
func printPasswordHash(in io.Reader, out io.Writer) error {
	if in == nil {
		return errors.New("-hash-password: no standard input to read the password from")
	}
	line, err := bufio.NewReader(io.LimitReader(in, maxPasswordLen+2)).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("-hash-password: reading the password: %w", err)
	}
	h, err := HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return fmt.Errorf("-hash-password: %w", err)
	}
	_, err = fmt.Fprintln(out, h)
	return err
}

// displayAddr is addr for a URL: a wildcard listen address ([::]:8080,
// 0.0.0.0:8080) becomes this machine's address (ip, or localhost when it
// has none).
func displayAddr(addr net.Addr, ip func() string) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsUnspecified() {
		host = cmpOr(ip(), "localhost")
	}
	return net.JoinHostPort(host, port)
}

// interfaceIP is the first global unicast address of this machine, IPv4
// first; "" if none.
func interfaceIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	var v6 string
	for _, a := range addrs {
		p, ok := a.(*net.IPNet)
		if !ok || !p.IP.IsGlobalUnicast() {
			continue
		}
		if p.IP.To4() != nil {
			return p.IP.String()
		}
		if v6 == "" {
			v6 = p.IP.String()
		}
	}
	return v6
}

// PrintURLs writes the webhook URLs under base, ready to paste into the
// providers' cabinets, the API (with the API token when it was generated:
// printed this once only) and which providers can place calls.
func (g *Gateway) PrintURLs(w io.Writer, base string) {
	hooks := g.hookURLs(base)
	var b strings.Builder
	fmt.Fprintf(&b, "callbridge CRM gateway on %s\nData: %s\n\nWebhook URLs for the providers' cabinets:\n", base, g.dbName())
	row := func(provider, how, url string) {
		b.WriteString(strings.TrimRight(fmt.Sprintf("  %-8s %-21s %s", provider, how, url), " "))
		b.WriteByte('\n')
	}
	for _, h := range hooks[telphin.Provider] {
		row("Telphin", "("+h.Method+")", h.URL)
	}
	if g.telphinApp != "" && g.cfg.PublicURL != "" {
		row("", "", "(registered by the gateway for every active extension)")
	}
	for _, h := range hooks[megafon.Provider] {
		row("MegaFon", "("+h.Method+")", h.URL)
	}
	row("", "CRM token (crm_token)", g.megafonToken)
	for _, h := range hooks[phonet.Provider] {
		row("Phonet", "("+h.Method+") "+h.Name, h.URL)
	}
	for _, h := range hooks[finaz.Provider] {
		row("Finaz", "("+h.Method+")", h.URL)
	}
	b.WriteString("\nAPI (Authorization: Bearer <API token>):\n")
	row("", "GET", base+"/api/calls, /api/clients, /api/leads, /api/notifications, /api/deadletters   ?limit=&cursor=")
	row("", "POST", base+"/api/deadletters/{id}/replay")
	row("", "POST", base+"/api/calls")
	row("", "GET", base+"/api/calls/{provider}/{call_id}/recording   ?account=   (Range)")
	row("", "GET", base+"/api/events   ?employee=   (the screens: Server-Sent Events)")
	if g.apiTokenGenerated {
		row("", "API token", g.apiToken+"   (generated; printed only now: set -api-token or CRM_API_TOKEN to choose one)")
	}
	row("", "Status page", base+"/status?token=<API token>   (once: a cookie keeps you in)")
	b.WriteString("\nWorkspace (the employees' screen): " + base + "/\n")
	if g.cfg.Demo {
		b.WriteString("  Sign in as a demo employee (each link valid 24 h):\n")
		emps, err := g.directory().Employees(context.Background(), "")
		if err != nil {
			row("", "", "(the employees are not available: "+err.Error()+")")
		}
		for _, e := range emps {
			link, _ := g.LoginLink(base, e.ID, DefaultLoginLinkTTL)
			row("", e.ID, link)
		}
	} else {
		row("", "", "employees sign in with a password (employees[].password_hash: crm -hash-password) or a login link:")
		row("", "POST", base+"/api/employees/{id}/login-link   (API token)")
	}
	b.WriteString("\nProbes (no token):\n")
	row("", "GET", base+"/healthz, "+base+"/readyz")
	b.WriteString("\nClick-to-call:\n")
	for _, p := range providers {
		if _, ok := g.callers[p]; ok {
			row(p, "ready", "")
		} else {
			row(p, "not configured", "set "+g.missing[p]+", or run with -demo")
		}
	}
	b.WriteString("\n")
	_, _ = io.WriteString(w, b.String())
}

// writeJSON writes v as a JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// String names the gateway by its listen address; its tokens and the
// providers' credentials are never shown.
func (g *Gateway) String() string {
	if g == nil {
		return "gateway.Gateway(nil)"
	}
	return fmt.Sprintf("gateway.Gateway{Addr:%q, Providers:%d}", g.cfg.Addr, len(g.callers))
}

// Format writes String for every verb, so no verb shows a secret.
func (g *Gateway) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, g.String()) }

// LogValue logs what String shows.
func (g *Gateway) LogValue() slog.Value { return slog.StringValue(g.String()) }
