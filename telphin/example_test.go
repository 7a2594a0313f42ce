package telphin_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"

	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
	"github.com/callbridge/callbridge/webhook"
)

// Placing a call: extension 101 rings, then the client is dialled. The fake
// server stands in for https://apiproxy.telphin.ru.
func ExampleClient_Call() {
	srv := telphintest.NewServer()
	defer srv.Close()

	creds := telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret} // App ID, App Secret
	client, err := telphin.NewClient(creds,
		callbridge.WithBaseURL(srv.URL), // omit in production
	)
	if err != nil {
		log.Fatal(err)
	}
	ref, err := client.Call(context.Background(), callevent.CallRequest{From: "101", To: "+7 953 000-00-00"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("call id:", ref.CallID)
	r := srv.Requests()
	last := r[len(r)-1]
	fmt.Println(last.Method, last.Path, string(last.Body))
	// Output:
	// call id: 00000000000000000000000000000002
	// POST /api/ver1.0/extension/469100/callback/ {"src_num":["15400*101"],"dst_num":"+79530000000"}
}

// Mounting the webhook handler on a ServeMux. The hook URL registered at
// Telphin is https://crm.example/telphin/{APP_ID}?token=<secret>; the last
// path segment becomes Event.Account.
func ExampleNewHandler() {
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		fmt.Println(e.Account, e.Kind, e.Direction, e.ClientPhone, "→", e.Extension)
		return nil
	})
	h, err := telphin.NewHandler(sink, webhook.WithToken("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/telphin/", h)

	// What Telphin sends when a client's call reaches extension 101:
	req := telphintest.NewRequest("https://crm.example/telphin/74c86d00", "s3cret", telphintest.Call{}.DialIn())
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	fmt.Println(w.Code)
	// Output:
	// 74c86d00 ringing inbound 78123351127 → 101
	// 200
}

// Routing callers in the IVR to their manager with Call Interactive.
func ExampleNewHandler_contactLookup() {
	lookup := callevent.ContactLookupFunc(func(_ context.Context, account, phone string) (callevent.Contact, bool, error) {
		if phone == "78123351127" {
			return callevent.Contact{Name: "ООО Ромашка", ResponsibleExtension: "101"}, true, nil
		}
		return callevent.Contact{}, false, nil
	})
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	h, err := telphin.NewHandler(sink, webhook.WithToken("s3cret"), webhook.WithContactLookup(lookup))
	if err != nil {
		log.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, telphintest.NewRequest("https://crm.example/telphin/app", "s3cret", telphintest.Call{}.CallInteractive()))
	fmt.Println(w.Body.String())
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?><Response><SetVar name="number">101</SetVar></Response>
}

// Subscribing every phone extension to the four call events, idempotently
// (run it at every deploy).
func ExampleClient_SubscribeAll() {
	srv := telphintest.NewServer()
	defer srv.Close()
	client, err := telphin.NewClient(telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret},
		callbridge.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	const hook = "https://crm.example/telphin/74c86d00?token=s3cret"
	for range 2 { // the second run changes nothing
		if err := client.SubscribeAll(context.Background(), hook); err != nil {
			log.Fatal(err)
		}
	}
	for _, h := range srv.Hooks(469100) {
		fmt.Println(h.Method, h.EventType)
	}
	// Output:
	// POST dial-in
	// POST dial-out
	// POST answer
	// POST hangup
}

// exampleStore is a callbridge.TokenStore in memory; use a database row in production.
type exampleStore struct {
	mu  sync.Mutex
	tok *oauth2.Token
}

func (s *exampleStore) Load(context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok, nil
}

func (s *exampleStore) Save(_ context.Context, tok *oauth2.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = tok
	return nil
}

// Connecting a public app: a fresh state per attempt, kept in a cookie and
// sent with the user to Telphin; on the way back the state must match
// before the code is traded for a token, so a forged redirect (someone
// else's code, a guessed or missing state) connects nothing.
func ExampleClient_AuthCodeURL() {
	srv := telphintest.NewServer() // stands in for https://apiproxy.telphin.ru
	defer srv.Close()
	client, err := telphin.NewClient(telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret,
		RedirectURL: "https://crm.example/telphin/oauth"}, // a public app
		callbridge.WithBaseURL(srv.URL), // omit in production
		callbridge.WithTokenStore(&exampleStore{}))
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /telphin/connect", func(w http.ResponseWriter, r *http.Request) {
		state, err := telphin.NewState()
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		authURL, err := client.AuthCodeURL(state)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "telphin_state", Value: state, Path: "/telphin/oauth",
			MaxAge: 600, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, authURL, http.StatusFound)
	})
	mux.HandleFunc("GET /telphin/oauth", func(w http.ResponseWriter, r *http.Request) {
		kept := ""
		if c, err := r.Cookie("telphin_state"); err == nil {
			kept = c.Value
		}
		if err := telphin.CheckState(kept, r.URL.Query().Get("state")); err != nil {
			http.Error(w, "invalid state", http.StatusForbidden)
			return
		}
		if _, err := client.Exchange(r.Context(), r.URL.Query().Get("code")); err != nil {
			http.Error(w, "authorization failed", http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "connected")
	})

	// The user's browser: /telphin/connect, Telphin's page (the fake
	// approves at once), back to /telphin/oauth with the cookie.
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://crm.example/telphin/connect", nil))
	cookie := w.Result().Cookies()[0]
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(w.Header().Get("Location"))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	back := httptest.NewRequest(http.MethodGet, resp.Header.Get("Location"), nil)
	back.AddCookie(cookie)
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, back)
	fmt.Print(w.Body.String())

	// A forged redirect with the user's cookie but a guessed state.
	forged := httptest.NewRequest(http.MethodGet, "https://crm.example/telphin/oauth?code=stolen&state=guess", nil)
	forged.AddCookie(cookie)
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, forged)
	fmt.Println(w.Code)
	// Output:
	// connected
	// 403
}
