package telphin_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// Placing a call: extension 101 rings, then the client is dialled. The fake
// server stands in for https://apiproxy.telphin.ru.
func ExampleClient_Call() {
	srv := telphintest.Start()
	defer srv.Close()

	client, err := telphin.NewClient(
		telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret}, // App ID, App Secret
		telphin.WithBaseURL(srv.URL), // omit in production
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
	h, err := telphin.NewHandler(sink, telphin.WithToken("s3cret"))
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
func ExampleWithContactLookup() {
	lookup := callevent.ContactLookupFunc(func(_ context.Context, account, phone string) (callevent.Contact, bool, error) {
		if phone == "78123351127" {
			return callevent.Contact{Name: "ООО Ромашка", ResponsibleExtension: "101"}, true, nil
		}
		return callevent.Contact{}, false, nil
	})
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	h, err := telphin.NewHandler(sink, telphin.WithToken("s3cret"), telphin.WithContactLookup(lookup))
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
	srv := telphintest.Start()
	defer srv.Close()
	client, err := telphin.NewClient(telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret},
		telphin.WithBaseURL(srv.URL))
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
