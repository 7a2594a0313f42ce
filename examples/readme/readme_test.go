// Package readme holds the code of the repository's README.md: every ```go
// block there is a verbatim copy of code in this file (TestREADMEBlocks
// checks it), so the README's code compiles, and the tests below run it
// against the <provider>test fakes.
package readme

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
	"github.com/callbridge/callbridge/webhook"
)

// Every ```go block of README.md appears verbatim in this file.
func TestREADMEBlocks(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	self, err := os.ReadFile("readme_test.go")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	require.GreaterOrEqual(t, len(blocks), 6, "README code blocks")
	for _, b := range blocks {
		require.True(t, strings.Contains(string(self), b[1]), "README block not in readme_test.go (keep them in sync):\n%s", b[1])
	}
}

// --- Quickstart: Telphin ---

func telphinCall(ctx context.Context, opts ...callbridge.ClientOption) (string, error) {
	client, err := telphin.NewClient(telphin.Credentials{
		ClientID:     os.Getenv("TELPHIN_CLIENT_ID"),     // App ID of a "Trusted" app
		ClientSecret: os.Getenv("TELPHIN_CLIENT_SECRET"), // its App Secret
	}, opts...)
	if err != nil {
		return "", err
	}
	// Extension 101 rings; when the employee answers, the client is dialled.
	ref, err := client.Call(ctx, callevent.CallRequest{From: "101", To: "+7 953 000-00-00"})
	return ref.CallID, err
}

func telphinWebhooks(mux *http.ServeMux, sink callevent.Sink) error {
	// Hook URL for the extensions: https://crm.example/hooks/telphin/{APP_ID}?token=<token>
	h, err := telphin.NewHandler(sink, webhook.WithToken(os.Getenv("HOOK_TOKEN")))
	if err != nil {
		return err
	}
	mux.Handle("/hooks/telphin/{account}", h)
	return nil
}

// --- Quickstart: MegaFon ---

func megafonCall(ctx context.Context, opts ...callbridge.ClientOption) (string, error) {
	client, err := megafon.NewClient(megafon.Credentials{
		Domain: "vats123456.megapbx.ru",      // the PBX cabinet's address
		APIKey: os.Getenv("MEGAFON_API_KEY"), // "Ключ для авторизации в АТС"
	}, opts...)
	if err != nil {
		return "", err
	}
	ref, err := client.Call(ctx, callevent.CallRequest{From: "andy", To: "+7 916 123-45-67"})
	return ref.CallID, err
}

func megafonWebhooks(mux *http.ServeMux, sink callevent.Sink, crm callevent.ContactLookup) error {
	// "Адрес вашей CRM": https://crm.example/hooks/megafon
	h, err := megafon.NewHandler(sink,
		webhook.WithToken(os.Getenv("MEGAFON_CRM_TOKEN")), // "Ключ для авторизации в вашей CRM"
		webhook.WithAccount(func(*http.Request) string { return "vats123456.megapbx.ru" }),
		webhook.WithContactLookup(crm), // answers cmd=contact: who calls, who is responsible
	)
	if err != nil {
		return err
	}
	mux.Handle("POST /hooks/megafon", h)
	return nil
}

// --- Quickstart: Phonet ---

func phonetCall(ctx context.Context, opts ...callbridge.ClientOption) (string, error) {
	client, err := phonet.NewClient(phonet.Credentials{
		Domain: "acme.phonet.com.ua",
		APIKey: os.Getenv("PHONET_API_KEY"),
	}, opts...)
	if err != nil {
		return "", err
	}
	ref, err := client.Call(ctx, callevent.CallRequest{From: "001", To: "+380 67 123 4567"})
	return ref.CallID, err
}

func phonetWebhooks(mux *http.ServeMux, sink callevent.Sink, crm callevent.ContactLookup) error {
	// The same URL, with ?token=<token>, in every field of «Інша система CRM».
	h, err := phonet.NewHandler(sink,
		webhook.WithToken(os.Getenv("HOOK_TOKEN")),
		webhook.WithContactLookup(crm), // answers customer_data
	)
	if err != nil {
		return err
	}
	mux.Handle("POST /hooks/phonet/", h)
	return nil
}

// --- Quickstart: Finaz (any HTTP-driven PBX or dialer) ---

func finazCall(ctx context.Context, opts ...callbridge.ClientOption) (string, error) {
	cfg := finaz.Config{
		BaseURL: "https://pbx.example.com/api/",
		Params:  map[string]finaz.Param{"key": {Value: os.Getenv("PBX_API_KEY"), Secret: true}},
		Click2Call: &finaz.RequestTemplate{
			Method:   "POST",
			URL:      "calls",
			Headers:  map[string]string{"X-Api-Key": "{{key}}"},
			Body:     &finaz.Body{Type: "form", Form: map[string]string{"ramal": "{{ramal_operador}}", "destino": "0{{ddd}}{{numero}}"}},
			Response: &finaz.ResponseSpec{CallIDField: "call_id"},
		},
	}
	client, err := finaz.NewClient(cfg, opts...)
	if err != nil {
		return "", err
	}
	ref, err := client.Call(ctx, callevent.CallRequest{From: "2001", To: "+55 (11) 98765-4321"})
	return ref.CallID, err
}

func finazWebhooks(mux *http.ServeMux, sink callevent.Sink, crm callevent.ContactLookup) error {
	// The PBX calls GET https://crm.example/hooks/finaz/atendimentodiscador?…&token=<token>
	h, err := finaz.NewHandler(sink, webhook.WithToken(os.Getenv("HOOK_TOKEN")), webhook.WithContactLookup(crm))
	if err != nil {
		return err
	}
	mux.Handle("GET /hooks/finaz/", h)
	return nil
}

// The quickstarts run against the fakes.
func TestQuickstarts(t *testing.T) {
	ctx := t.Context()
	t.Setenv("HOOK_TOKEN", "hook-secret")
	t.Setenv("MEGAFON_CRM_TOKEN", "crm-secret")

	tsrv := telphintest.NewServer()
	t.Cleanup(tsrv.Close)
	t.Setenv("TELPHIN_CLIENT_ID", tsrv.ClientID)
	t.Setenv("TELPHIN_CLIENT_SECRET", tsrv.ClientSecret)
	id, err := telphinCall(ctx, callbridge.WithBaseURL(tsrv.URL))
	require.NoError(t, err)
	require.NotEmpty(t, id)

	msrv := megafontest.NewServer()
	t.Cleanup(msrv.Close)
	t.Setenv("MEGAFON_API_KEY", megafontest.APIKey)
	id, err = megafonCall(ctx, callbridge.WithBaseURL(msrv.URL))
	require.NoError(t, err)
	require.Equal(t, "CALL000001", id)

	psrv := phonettest.NewServer()
	t.Cleanup(psrv.Close)
	t.Setenv("PHONET_API_KEY", psrv.APIKey)
	id, err = phonetCall(ctx, callbridge.WithBaseURL(psrv.URL))
	require.NoError(t, err)
	require.NotEmpty(t, id)

	fsrv := finaztest.NewServer()
	t.Cleanup(fsrv.Close)
	fsrv.Reply("POST", "/calls", finaztest.Response{Body: `{"call_id":"c-1"}`})
	t.Setenv("PBX_API_KEY", "pbx-key")
	id, err = finazCall(ctx, callbridge.WithBaseURL(fsrv.URL))
	require.NoError(t, err)
	require.Equal(t, "c-1", id)
	require.Equal(t, "pbx-key", fsrv.Requests()[0].Header.Get("X-Api-Key"))

	// Every handler on one mux, one event from each.
	var mu sync.Mutex
	var got []string
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e.Provider+" "+e.Kind.String()+" "+e.ClientPhone)
		return nil
	})
	crm := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		return callevent.Contact{}, false, nil
	})
	mux := http.NewServeMux()
	require.NoError(t, telphinWebhooks(mux, sink))
	require.NoError(t, megafonWebhooks(mux, sink, crm))
	require.NoError(t, phonetWebhooks(mux, sink, crm))
	require.NoError(t, finazWebhooks(mux, sink, crm))
	for _, r := range []*http.Request{
		telphintest.NewRequest("/hooks/telphin/app", "hook-secret", telphintest.Call{}.DialIn()),
		megafontest.NewRequest("/hooks/megafon", "crm-secret", megafontest.Event("INCOMING", megafontest.Call{ID: "c1", Direction: "in", Phone: "79161234567", User: "andy"})),
		phonettest.InboundCall().Dial().Request("/hooks/phonet/call", phonettest.WithToken("hook-secret")),
		finaztest.NewDiscadorRequest("/hooks/finaz/", finaztest.Notification{Num: "11987654321", CID: "x", EmpresaID: "1", Token: "hook-secret"}),
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	require.Equal(t, []string{
		"telphin ringing 78123351127", "megafon ringing 79161234567", "phonet ringing 380501112233", "finaz answered 5511987654321",
	}, got)
}

// --- Connecting a provider to amoCRM ---

func amoCRMGateway(mux *http.ServeMux, opts ...callbridge.ClientOption) (*match.Engine, error) {
	client, err := amocrm.NewClient(amocrm.Credentials{
		Domain:         "example.amocrm.ru",
		LongLivedToken: os.Getenv("AMOCRM_TOKEN"), // a private integration's long-lived token
	}, opts...)
	if err != nil {
		return nil, err
	}
	// Extensions 101 and 102 belong to amoCRM user 8375357.
	store, err := amocrm.NewStore(client, amocrm.WithExtensions(map[string]int64{"101": 8375357, "102": 8375357}))
	if err != nil {
		return nil, err
	}
	engine, err := match.NewEngine(store) // match.DefaultRule: a contact for every unknown number
	if err != nil {
		return nil, err
	}
	// Calls are logged to the card; the ringing employee gets amoCRM's pop-up.
	h, err := telphin.NewHandler(engine, webhook.WithToken(os.Getenv("HOOK_TOKEN")))
	if err != nil {
		return nil, err
	}
	mux.Handle("/hooks/telphin/{account}", h)
	return engine, nil
}

func TestAmoCRMGateway(t *testing.T) {
	fake := amocrmtest.NewServer()
	defer fake.Close()
	t.Setenv("AMOCRM_TOKEN", fake.LongLivedToken())
	t.Setenv("HOOK_TOKEN", "hook-secret")
	mux := http.NewServeMux()
	engine, err := amoCRMGateway(mux, callbridge.WithBaseURL(fake.URL), callbridge.WithHTTPClient(fake.Client()))
	require.NoError(t, err)
	defer engine.Close(context.Background())

	call := telphintest.Call{Client: "+79162222222", DID: "74951234567"}
	for _, f := range []url.Values{call.DialIn(), call.Answer(), call.Hangup()} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, telphintest.NewRequest("/hooks/telphin/app", "hook-secret", f))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	require.NoError(t, engine.Close(context.Background())) // acts on the settling call
	require.Len(t, fake.Contacts(), 1)
	require.Len(t, fake.Calls(), 1)
	require.NotEmpty(t, fake.Events(), "the pop-up")
}

// --- Live screens: package live ---

func liveScreens(mux *http.ServeMux, store *memstore.Store) (*live.Hub, *match.Engine, error) {
	hub, err := live.NewHub(live.WithDirectory(store)) // extension or login → employee
	if err != nil {
		return nil, nil, err
	}
	engine, err := match.NewEngine(store,
		match.WithOnLiveCall(hub.CallChanged), // call and leg states
		match.WithPopUps(hub),                 // client cards
		match.WithOnDecision(hub.Decided),     // the end of each call
		match.WithNotifier(hub.Notifier(store)))
	if err != nil {
		return nil, nil, err
	}
	mux.Handle("GET /events", hub.Handler(func(r *http.Request) (employee string, all bool, err error) {
		return sessionEmployee(r) // your sign-in; an error is 401
	}))
	return hub, engine, nil
}

// sessionEmployee is the employee signed in: the CRM's session cookie
// names them.
func sessionEmployee(r *http.Request) (string, bool, error) {
	c, err := r.Cookie("session")
	if err != nil {
		return "", false, errors.New("sign in first")
	}
	return c.Value, false, nil
}

func TestLiveScreens(t *testing.T) {
	store, err := memstore.New()
	require.NoError(t, err)
	store.SetEmployees("", match.Employee{ID: "anna", Extensions: []string{"101"}})
	mux := http.NewServeMux()
	hub, engine, err := liveScreens(mux, store)
	require.NoError(t, err)
	defer hub.Close(context.Background())
	defer engine.Close(context.Background())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/events")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no session")
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/events", nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: "session", Value: "anna"})
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
	require.NoError(t, engine.HandleEvent(context.Background(), callevent.Event{ID: "e1", Provider: "megafon",
		Kind: callevent.Ringing, Direction: callevent.Inbound, CallID: "c1", Extension: "101", ClientPhone: "79162222222", At: time.Now()}))
	var names []string
	lines := bufio.NewScanner(resp.Body)
	for len(names) < 3 && lines.Scan() {
		if name, ok := strings.CutPrefix(lines.Text(), "event: "); ok {
			names = append(names, name)
		}
	}
	require.Equal(t, []string{"sync", "card", "call"}, names, "Anna's phone rings: the card, then the call")
}

// --- The CRM: match over your own store ---

// SQLClients is match.ClientStore over a table
// clients(id, account, name, phone, responsible), phone normalised.
type SQLClients struct{ DB *sql.DB }

func (s SQLClients) FindClientByPhone(ctx context.Context, account, phone string) (match.Client, bool, error) {
	c := match.Client{Account: account, Phone: phone, Channel: match.ChannelTelephony}
	err := s.DB.QueryRowContext(ctx,
		`SELECT id, name, responsible FROM clients WHERE account = $1 AND phone = $2 ORDER BY id LIMIT 1`,
		account, phone).Scan(&c.ID, &c.Name, &c.Responsible)
	if errors.Is(err, sql.ErrNoRows) {
		return match.Client{}, false, nil // not found is not an error
	}
	return c, err == nil, err // a failed query must not look like "no client"
}

func (s SQLClients) FindClientsByField(ctx context.Context, account, phone string, limit int) ([]match.Client, error) {
	return nil, nil // no other fields hold phones in this CRM
}

func (s SQLClients) CreateClient(ctx context.Context, c match.Client) (match.Client, error) {
	err := s.DB.QueryRowContext(ctx,
		`INSERT INTO clients (account, name, phone, responsible) VALUES ($1, $2, $3, $4) RETURNING id`,
		c.Account, c.Name, c.Phone, c.Responsible).Scan(&c.ID)
	return c, err
}

func newCRM(db *sql.DB) (*match.Engine, error) {
	// Leads, the call log, employees and notifications can come from other
	// stores: match.WithLeadStore, WithCallLog, WithDirectory, WithNotifier.
	return match.NewEngine(SQLClients{DB: db}, match.WithDefaultCountry("RU"))
}

// SQLClients and newCRM are compiled, not run: they need a database
// driver, which this module does not depend on.
var (
	_ match.ClientStore = SQLClients{}
	_                   = newCRM
)

// --- Testing your code with the fakes ---

// What you test: your code placing a call when a manager clicks a phone.
func clickToCall(ctx context.Context, c callevent.Caller, manager, phone string) (string, error) {
	ref, err := c.Call(ctx, callevent.CallRequest{From: manager, To: phone})
	if err != nil {
		return "", err
	}
	return ref.CallID, nil
}

func TestClickToCall(t *testing.T) {
	pbx := megafontest.NewServer() // a fake MegaFon PBX on 127.0.0.1
	t.Cleanup(pbx.Close)
	client, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
		callbridge.WithBaseURL(pbx.URL))
	if err != nil {
		t.Fatal(err)
	}
	id, err := clickToCall(t.Context(), client, "andy", "+7 916 123-45-67")
	if err != nil || id == "" {
		t.Fatalf("clickToCall = %q, %v", id, err)
	}

	// The PBX refuses the next call: your code sees a typed error.
	pbx.Fail(megafontest.Failure{Op: megafontest.OpMakeCall, Status: http.StatusServiceUnavailable})
	_, err = clickToCall(t.Context(), client, "andy", "+7 916 123-45-67")
	var apiErr *callbridge.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err = %v, want a 503 *callbridge.APIError", err)
	}
}

func TestMissedCallBecomesALead(t *testing.T) {
	store, _ := memstore.New(memstore.WithDefaultCountry("RU"))
	rules := match.RuleSet{Default: match.Rules{Rule: match.DefaultRule()}}
	rules.Default.Leads.InboundMissed = match.LeadCase{Create: true, Status: "new"}
	crm, err := match.NewEngine(store, match.WithRules(rules))
	if err != nil {
		t.Fatal(err)
	}
	h, err := telphin.NewHandler(crm, webhook.WithToken("s3cret"))
	if err != nil {
		t.Fatal(err)
	}

	// What Telphin sends when a call waits in the queue and nobody answers.
	call := telphintest.Call{Client: "+7 495 765-43-21", Start: time.Now()}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, telphintest.NewRequest("https://crm.example/hooks/telphin/app", "s3cret", call.QueueMissed()))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	// The engine acts a few seconds after a call settles; Close acts on
	// calls still settling.
	if err := crm.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	leads := store.Leads()
	if len(leads) != 1 || leads[0].Name != "Входящий +74957654321" {
		t.Fatalf("leads = %+v", leads)
	}
}
