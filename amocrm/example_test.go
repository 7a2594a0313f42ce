package amocrm_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
	"github.com/callbridge/callbridge/webhook"
)

// Connect Telphin to amoCRM: Telphin's webhooks go through the rules
// engine into amoCRM. Here the amoCRM account is the amocrmtest fake; in
// production drop WithBaseURL/WithHTTPClient and use your account host.
func Example() {
	fake := amocrmtest.NewServer() // stands in for https://example.amocrm.ru
	defer fake.Close()

	client, err := amocrm.NewClient(amocrm.Credentials{Domain: "example.amocrm.ru", LongLivedToken: fake.LongLivedToken()},
		callbridge.WithBaseURL(fake.URL), callbridge.WithHTTPClient(fake.Client()))
	if err != nil {
		panic(err)
	}
	store, err := amocrm.NewStore(client, amocrm.WithExtensions(map[string]int64{"101": 8375357}))
	if err != nil {
		panic(err)
	}
	engine, err := match.NewEngine(store) // match.DefaultRule: a contact for every unknown number
	if err != nil {
		panic(err)
	}
	// The Store is also a match.PopUpper: the engine shows amoCRM's
	// pop-up to the employees the call rings and to who answers it.
	handler, err := telphin.NewHandler(engine, webhook.WithToken("secret"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/telphin/{app}", handler)

	// An inbound call from an unknown number, answered by extension 101.
	call := telphintest.Call{Client: "+79162222222", DID: "74951234567", Extension: "3515*101", Start: time.Now().Add(-2 * time.Minute)}
	for _, ev := range []map[string][]string{call.DialIn(), call.Answer(), call.Hangup()} {
		mux.ServeHTTP(httptest.NewRecorder(), telphintest.NewRequest("https://crm.example/telphin/app1", "secret", ev))
	}
	// The engine acts on a call a few seconds after its last leg hangs up
	// (match.DefaultSettle); Close acts on calls still settling, as a
	// server does on shutdown.
	if err := engine.Close(context.Background()); err != nil {
		panic(err)
	}

	for _, c := range fake.Contacts() {
		fmt.Println("contact:", c.Name, c.Phones, "responsible", c.ResponsibleUserID, "tags", c.Tags)
	}
	for _, c := range fake.Calls() {
		fmt.Println("call on", c.Entity, c.Item["direction"], c.Item["call_status"], c.Item["duration"])
	}
	// Two pop-ups for user 8375357: while the call rang, and on answer
	// with the contact just created.
	for _, ev := range fake.Events() {
		fmt.Println("pop-up:", ev.Phone, ev.Users)
	}
	// Output:
	// contact: Автоконтакт: Входящий [+79162222222] responsible 8375357 tags [74951234567]
	// call on contacts inbound 4 83
	// pop-up: +79162222222 [8375357]
	// pop-up: +79162222222 [8375357]
}

// Classify errors with errors.Is and errors.As.
func ExampleValidationErrors() {
	fake := amocrmtest.NewServer()
	defer fake.Close()
	client, _ := amocrm.NewClient(amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: fake.LongLivedToken()},
		callbridge.WithBaseURL(fake.URL), callbridge.WithHTTPClient(fake.Client()))

	_, err := client.CreateLeads(context.Background(), []amocrm.Lead{{Name: "Сделка", PipelineID: 1}})
	for _, v := range amocrm.ValidationErrors(err) {
		fmt.Println(v.RequestID, v.Path, v.Code)
	}
	// Output:
	// 0 pipeline_id NotSupportedChoice
}

// memoryTokens is a TokenStore in memory; use a database or a file in
// production (amoCRM refresh tokens are single-use).
type memoryTokens struct {
	mu  sync.Mutex
	tok *oauth2.Token
}

func (m *memoryTokens) Load(context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tok, nil
}

func (m *memoryTokens) Save(_ context.Context, tok *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = tok
	return nil
}

// Install a public integration with OAuth: send the administrator to
// AuthCodeURL with a fresh state kept in a cookie, and on the way back
// let ParseRedirect check the state and the referer (the account host
// that will receive the client secret) before exchanging the code.
func Example_oauth() {
	fake := amocrmtest.NewServer() // stands in for https://example.amocrm.ru
	defer fake.Close()
	creds := amocrm.Credentials{Domain: amocrmtest.Domain, ClientID: amocrmtest.ClientID,
		ClientSecret: amocrmtest.ClientSecret, RedirectURL: amocrmtest.RedirectURI}
	store := &memoryTokens{}
	// In production drop WithBaseURL and WithHTTPClient.
	newClient := func(domain string) (*amocrm.Client, error) {
		c := creds
		c.Domain = domain
		return amocrm.NewClient(c, callbridge.WithTokenStore(store), callbridge.WithBaseURL(fake.URL), callbridge.WithHTTPClient(fake.Client()))
	}
	const cookie = "amocrm_state"

	mux := http.NewServeMux()
	mux.HandleFunc("GET /amocrm/install", func(w http.ResponseWriter, r *http.Request) {
		state, err := amocrm.NewState()
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		client, err := newClient(amocrmtest.Domain) // the account the administrator named
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		authURL, err := client.AuthCodeURL(state)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: cookie, Value: state, Path: "/amocrm/", MaxAge: 20 * 60,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, authURL, http.StatusFound)
	})
	mux.HandleFunc("GET /amocrm/oauth", func(w http.ResponseWriter, r *http.Request) {
		var kept string
		if c, err := r.Cookie(cookie); err == nil {
			kept = c.Value
		}
		http.SetCookie(w, &http.Cookie{Name: cookie, Path: "/amocrm/", MaxAge: -1}) // a state is used once
		redirect, err := amocrm.ParseRedirect(r, kept)
		if err != nil {
			http.Error(w, "authorization failed", http.StatusForbidden)
			return
		}
		client, err := newClient(redirect.Domain)
		if err == nil {
			_, err = client.Exchange(r.Context(), redirect.Code)
		}
		if err != nil {
			http.Error(w, "authorization failed", http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "connected", client.Domain())
	})

	// The administrator's browser: install, consent on amoCRM's page
	// (here: the fake issues the code), come back with the cookie.
	install := httptest.NewRecorder()
	mux.ServeHTTP(install, httptest.NewRequest(http.MethodGet, "https://pbx.example.com/amocrm/install", nil))
	authURL, _ := url.Parse(install.Header().Get("Location"))
	fmt.Println("consent page:", authURL.Host+authURL.Path)
	back := url.Values{"code": {fake.AuthorizationCode()}, "state": {authURL.Query().Get("state")}, "referer": {amocrmtest.Domain}}
	callback := func(cookies []*http.Cookie, q url.Values) string {
		req := httptest.NewRequest(http.MethodGet, amocrmtest.RedirectURI+"?"+q.Encode(), nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return fmt.Sprint(w.Code, " ", strings.TrimSpace(w.Body.String()))
	}
	// A forged redirect (another browser, no cookie) is refused.
	fmt.Println("forged:", callback(nil, back))
	fmt.Println("genuine:", callback(install.Result().Cookies(), back))
	// Output:
	// consent page: www.amocrm.ru/oauth
	// forged: 403 authorization failed
	// genuine: 200 connected example.amocrm.ru
}
