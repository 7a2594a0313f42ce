package callbridge_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/telphin"
)

// A multi-tenant CRM builds one client per tenant. Every client of every
// provider shares one transport by default, so 10,000 clients that each
// made a request hold one small pool of connections: goroutines stay
// bounded and the heap grows by the clients themselves, not by 10,000
// connection pools. (With a transport per client, 3,000 amoCRM clients kept
// ~9,000 goroutines and 73 MB.)
func TestManyClientsShareOneTransport(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 1_000
	}
	// One fake for every provider: any path answers a small JSON object, a
	// token for the OAuth clients and a session cookie for Phonet.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: phonet.SessionCookie, Value: "s"})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"a","token_type":"bearer","expires_in":3600}`))
	}))
	t.Cleanup(srv.Close)

	providers := []struct {
		name string
		make func() (func(context.Context), error)
	}{
		{"telphin", func() (func(context.Context), error) {
			c, err := telphin.NewClient(telphin.Credentials{ClientID: "id", ClientSecret: "secret"}, callbridge.WithBaseURL(srv.URL))
			return func(ctx context.Context) { _, _ = c.User(ctx) }, err
		}},
		{"megafon", func() (func(context.Context), error) {
			c, err := megafon.NewClient(megafon.Credentials{Domain: "vats1.megapbx.ru", APIKey: "key"}, callbridge.WithBaseURL(srv.URL))
			return func(ctx context.Context) { _, _ = c.Groups(ctx) }, err
		}},
		{"phonet", func() (func(context.Context), error) {
			c, err := phonet.NewClient(phonet.Credentials{Domain: "acme.phonet.com.ua", APIKey: "key"}, callbridge.WithBaseURL(srv.URL))
			return func(ctx context.Context) { _, _ = c.Users(ctx) }, err
		}},
		{"amocrm", func() (func(context.Context), error) {
			c, err := amocrm.NewClient(amocrm.Credentials{Domain: "acme.amocrm.ru", LongLivedToken: "t"}, callbridge.WithBaseURL(srv.URL))
			return func(ctx context.Context) { _, _ = c.Pipelines(ctx) }, err
		}},
		{"finaz", func() (func(context.Context), error) {
			cfg, err := finaz.LoadTemplate("generic-rest")
			if err != nil {
				return nil, err
			}
			cfg.SetParam("api_token", "t")
			c, err := finaz.NewClient(cfg, callbridge.WithBaseURL(srv.URL))
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context) { _ = c.ClearDialer(ctx, "q") }, nil
		}},
	}
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			g0, h0 := settle()
			calls := make([]func(context.Context), n)
			for i := range calls {
				call, err := p.make()
				if err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				calls[i] = call
			}
			g1, h1 := settle()
			// Every client makes one request, a few at a time, as tenants do.
			var wg sync.WaitGroup
			next := make(chan func(context.Context))
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for call := range next {
						call(t.Context())
					}
				}()
			}
			for _, call := range calls {
				next <- call
			}
			close(next)
			wg.Wait()
			g2, h2 := settle()
			built := (float64(h1) - float64(h0)) / float64(n)
			used := (float64(h2) - float64(h1)) / float64(n)
			t.Logf("%d clients: built %.0f B/client, %+d goroutines; after a request each %+.0f B/client, %+d goroutines",
				n, built, g1-g0, used, g2-g1)
			if g2-g0 > 100 {
				t.Errorf("%d clients left %d more goroutines: connection pools are not shared", n, g2-g0)
			}
			// A transport of its own costs a client ~17 KB once it has
			// made a request (an idle connection, its buffers and two
			// goroutines); sharing one costs nothing per client.
			if used > 2<<10 {
				t.Errorf("a request costs %.0f bytes of heap per client: a client must not own a transport", used)
			}
			if built > 64<<10 {
				t.Errorf("building a client costs %.0f bytes of heap", built)
			}
			runtime.KeepAlive(calls)
		})
	}
}

// settle returns the goroutine count and live heap once idle connection
// goroutines and garbage have had a moment to go.
func settle() (goroutines int, heap uint64) {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}
