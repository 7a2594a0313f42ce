package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/phonet"
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

// providers are the provider names of the routes and of POST /api/call.
var providers = []string{telphin.Provider, megafon.Provider, phonet.Provider, finaz.Provider}

// Gateway is the reference CRM telephony gateway: every provider's webhook
// handler in front of one delivery queue, an in-memory CRM (match's
// MemoryStore and Engine), click-to-call through the provider clients and
// a small JSON API. Create it with New, serve it with Serve or mount
// Handler yourself, and Close it.
type Gateway struct {
	cfg    Config
	log    *slog.Logger // everything but the event lines (Config.DiagOut)
	events *slog.Logger // one line per delivered event (New's logOut)
	store  *match.MemoryStore
	engine *match.Engine
	queue  *webhook.Queue
	mux    *http.ServeMux

	hookToken, megafonToken string
	telphinApp              string

	callers map[string]callevent.Caller // configured providers
	missing map[string]string           // provider → what to set to configure it

	closers   []func()
	closeOnce sync.Once
	closeErr  error
}

// New builds a gateway from cfg. Event log lines (slog JSON, one per event
// delivered to the CRM) go to logOut; the other log lines go to
// cfg.DiagOut, or also to logOut when that is nil. Close the gateway when
// done.
func New(cfg Config, logOut io.Writer) (g *Gateway, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Country == "" {
		cfg.Country = "RU"
	}
	events := slog.New(slog.NewJSONHandler(logOut, nil))
	diag := events // one handler, so lines to one writer never interleave
	if cfg.DiagOut != nil {
		diag = slog.New(slog.NewJSONHandler(cfg.DiagOut, nil))
	}
	g = &Gateway{
		cfg:          cfg,
		log:          diag,
		events:       events,
		hookToken:    cmpOr(cfg.HookToken, rand.Text()),
		megafonToken: cmpOr(cfg.MegafonToken, rand.Text()),
		callers:      map[string]callevent.Caller{},
		missing:      map[string]string{},
	}
	defer func() {
		if err != nil {
			_ = g.Close(context.Background())
			g = nil
		}
	}()
	if err := g.openCRM(); err != nil {
		return g, err
	}
	g.queue, err = webhook.NewQueue(callevent.SinkFunc(g.deliver), webhook.QueueConfig{
		Workers: cmpOr(cfg.QueueWorkers, 4),
		Size:    cmpOr(cfg.QueueSize, 1<<16),
		Logger:  g.log,
	})
	if err != nil {
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
	return g, g.routes()
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
	sopts := []match.MemoryOption{match.SingleTenant()}
	eopts := []match.Option{match.WithDefaultCountry(cfg.Country), match.WithLogger(g.log),
		match.WithProviderIdle(finaz.Provider, FinazSettle)}
	if cfg.Clock != nil {
		sopts = append(sopts, match.WithMemoryClock(cfg.Clock.Now))
		eopts = append(eopts, match.WithClock(cfg.Clock))
	}
	store, err := match.NewMemoryStore(cfg.Country, sopts...)
	if err != nil {
		return err
	}
	clients := cfg.DefaultClients
	if cfg.ClientsFile != "" {
		if clients, err = os.ReadFile(cfg.ClientsFile); err != nil {
			return fmt.Errorf("clients: %w", err)
		}
	}
	if len(clients) > 0 {
		if _, err := store.LoadClients("", bytes.NewReader(clients)); err != nil {
			return fmt.Errorf("clients: %w", err)
		}
	}
	store.SetEmployees("", employeesOf(store.Clients())...)

	rules := DefaultRules()
	if cfg.RulesFile != "" {
		b, err := os.ReadFile(cfg.RulesFile)
		if err != nil {
			return fmt.Errorf("rules: %w", err)
		}
		if rules, err = match.ParseRules(b, cfg.Country); err != nil {
			return fmt.Errorf("rules %s: %w", cfg.RulesFile, err)
		}
	}
	eopts = append(eopts, match.WithRules(rules))
	engine, err := match.NewEngine(store, eopts...)
	if err != nil {
		return err
	}
	g.store, g.engine = store, engine
	return nil
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
func (g *Gateway) deliver(ctx context.Context, e callevent.Event) error {
	if err := g.engine.HandleEvent(ctx, e); err != nil {
		return err
	}
	g.events.LogAttrs(ctx, slog.LevelInfo, "event",
		slog.String("event_id", e.ID), slog.String("provider", e.Provider), slog.String("account", e.Account),
		slog.String("call_id", e.CallID), slog.String("kind", e.Kind.String()),
		slog.String("direction", e.Direction.String()), slog.String("status", e.Status.String()),
		slog.String("client_phone", e.ClientPhone), slog.String("extension", e.Extension))
	return nil
}

// openClients creates the click-to-call client of every provider whose
// credentials are set and notes what the others miss.
func (g *Gateway) openClients() error {
	cfg := g.cfg
	g.telphinApp = cfg.TelphinClientID
	if cfg.TelphinClientID != "" {
		c, err := telphin.NewClient(telphin.Credentials{ClientID: cfg.TelphinClientID, ClientSecret: cfg.TelphinClientSecret}, telphin.WithLogger(g.log))
		if err != nil {
			return fmt.Errorf("telphin: %w", err)
		}
		g.callers[telphin.Provider] = c
	} else {
		g.missing[telphin.Provider] = "TELPHIN_CLIENT_ID and TELPHIN_CLIENT_SECRET"
	}
	if cfg.MegafonDomain != "" {
		c, err := megafon.NewClient(megafon.Credentials{Domain: cfg.MegafonDomain, APIKey: cfg.MegafonAPIKey}, megafon.WithLogger(g.log))
		if err != nil {
			return fmt.Errorf("megafon: %w", err)
		}
		g.callers[megafon.Provider] = c
	} else {
		g.missing[megafon.Provider] = "MEGAFON_DOMAIN and MEGAFON_API_KEY"
	}
	if cfg.PhonetDomain != "" {
		c, err := phonet.NewClient(phonet.Credentials{Domain: cfg.PhonetDomain, APIKey: cfg.PhonetAPIKey}, phonet.WithLogger(g.log))
		if err != nil {
			return fmt.Errorf("phonet: %w", err)
		}
		g.callers[phonet.Provider] = c
	} else {
		g.missing[phonet.Provider] = "PHONET_DOMAIN and PHONET_API_KEY"
	}
	if cfg.FinazConfig != "" {
		c, err := finazClient(cfg.FinazConfig, g.log)
		if err != nil {
			return err
		}
		g.callers[finaz.Provider] = c
	} else {
		g.missing[finaz.Provider] = "FINAZ_CONFIG (a finaz JSON configuration with click2call)"
	}
	return nil
}

func finazClient(path string, log *slog.Logger) (*finaz.Client, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("finaz: %w", err)
	}
	defer f.Close()
	cfg, err := finaz.LoadConfig(f, finaz.OpClick2Call)
	if err != nil {
		return nil, fmt.Errorf("finaz: %s: %w", path, err)
	}
	c, err := finaz.NewClient(cfg, finaz.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("finaz: %w", err)
	}
	return c, nil
}

// routes mounts every handler on the mux.
func (g *Gateway) routes() error {
	wlog := webhook.WithLogger(g.log)
	th, err := telphin.NewHandler(g.queue,
		telphin.WithToken(g.hookToken),
		telphin.WithAccount(func(r *http.Request) string { return r.PathValue("account") }),
		telphin.WithContactLookup(g.engine),
		telphin.WithWebhookOptions(wlog))
	if err != nil {
		return fmt.Errorf("telphin handler: %w", err)
	}
	mopts := []megafon.HandlerOption{
		megafon.WithToken(g.megafonToken),
		megafon.WithAccount(g.megafonAccount()),
		megafon.WithContactLookup(g.engine),
		megafon.WithWebhookOptions(wlog),
	}
	if g.cfg.Clock != nil {
		mopts = append(mopts, megafon.WithClock(g.cfg.Clock.Now))
	}
	mh, err := megafon.NewHandler(g.queue, mopts...)
	if err != nil {
		return fmt.Errorf("megafon handler: %w", err)
	}
	ph, err := phonet.NewHandler(g.queue,
		phonet.WithToken(g.hookToken),
		phonet.WithContactLookup(g.engine),
		phonet.WithWebhookOptions(wlog))
	if err != nil {
		return fmt.Errorf("phonet handler: %w", err)
	}
	fh, err := finaz.NewHandler(g.queue,
		finaz.WithToken(g.hookToken),
		finaz.WithContactLookup(g.engine),
		finaz.WithWebhookOptions(wlog))
	if err != nil {
		return fmt.Errorf("finaz handler: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /hooks/telphin/{account}", th)
	mux.Handle("GET /hooks/telphin/{account}", th)
	mux.Handle("POST /hooks/megafon", mh)
	for _, ep := range phonetEndpoints {
		mux.Handle("POST /hooks/phonet/"+ep, ph)
	}
	for _, ep := range finazEndpoints {
		mux.Handle("GET /hooks/finaz/"+string(ep), fh)
	}
	mux.HandleFunc("GET /api/calls", g.listCalls)
	mux.HandleFunc("GET /api/clients", g.listClients)
	mux.HandleFunc("GET /api/leads", g.listLeads)
	mux.HandleFunc("POST /api/call", g.placeCall)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	g.mux = mux
	return nil
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
// it stops accepting connections, finishes the requests in flight, drains
// the queued events into the CRM and closes the gateway. It returns nil
// after a clean shutdown.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
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
	g.log.Info("shutting down", "queued", g.queue.Len())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	err = errors.Join(err, g.Close(sctx))
	if err == nil {
		g.log.Info("stopped")
	}
	return err
}

// Close drains the queue into the CRM (until ctx is done; what is left is
// logged as dead letters), closes the engine, which acts on calls still
// in their grace period, and stops the demo fakes. Only the first call
// does anything.
func (g *Gateway) Close(ctx context.Context) error {
	g.closeOnce.Do(func() {
		var errs []error
		if g.queue != nil {
			errs = append(errs, g.queue.Close(ctx))
		}
		if g.engine != nil {
			errs = append(errs, g.engine.Close(ctx))
		}
		for _, f := range slices.Backward(g.closers) {
			f()
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

// Run is the crm command: it reads the configuration from args and getenv
// (see ParseConfig), seeds the CRM with defaultClients unless -clients is
// given, listens, prints the webhook URLs to stderr, logs one JSON line per
// delivered event to stdout and everything else (start, shutdown, refused
// requests, failures) as JSON to stderr, and serves until ctx is done
// (SIGINT or SIGTERM in the command), then shuts down gracefully and
// returns nil.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, defaultClients []byte) error {
	cfg, err := ParseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg.DefaultClients = defaultClients
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
		base = "http://" + ln.Addr().String()
	}
	g.PrintURLs(stderr, base)
	g.log.Info("listening", "addr", ln.Addr().String(), "demo", cfg.Demo, "clients", len(g.store.Clients()))
	return g.Serve(ctx, ln)
}

// PrintURLs writes the webhook URLs under base, ready to paste into the
// providers' cabinets, and which providers can place calls.
func (g *Gateway) PrintURLs(w io.Writer, base string) {
	app := cmpOr(g.telphinApp, "{APP_ID}")
	tok := "?token=" + g.hookToken
	var b strings.Builder
	fmt.Fprintf(&b, "callbridge CRM gateway on %s\n\nWebhook URLs for the providers' cabinets:\n", base)
	fmt.Fprintf(&b, "  Telphin  (POST or GET)  %s/hooks/telphin/%s%s\n", base, app, tok)
	fmt.Fprintf(&b, "  MegaFon  (POST)         %s/hooks/megafon    CRM token (crm_token): %s\n", base, g.megafonToken)
	for _, ep := range phonetEndpoints {
		fmt.Fprintf(&b, "  Phonet   %-14s  %s/hooks/phonet/%s%s\n", ep, base, ep, tok)
	}
	for _, ep := range finazEndpoints {
		fmt.Fprintf(&b, "  Finaz    (GET)          %s/hooks/finaz/%s%s\n", base, ep, tok)
	}
	fmt.Fprintf(&b, "\nAPI: GET %[1]s/api/calls, %[1]s/api/clients, %[1]s/api/leads; POST %[1]s/api/call; GET %[1]s/healthz\n", base)
	b.WriteString("Click-to-call:")
	for _, p := range providers {
		if _, ok := g.callers[p]; ok {
			fmt.Fprintf(&b, " %s (ready)", p)
		} else {
			fmt.Fprintf(&b, " %s (set %s, or run with -demo)", p, g.missing[p])
		}
	}
	b.WriteString("\n\n")
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
