package megafon_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/webhook"
)

// Click-to-call: ring the employee, then the client. Here against the fake
// PBX; in production leave out callbridge.WithBaseURL.
func ExampleClient_Call() {
	pbx := megafontest.NewServer()
	defer pbx.Close()

	c, err := megafon.NewClient(
		megafon.Credentials{Domain: "vats123456.megapbx.ru", APIKey: megafontest.APIKey},
		callbridge.WithBaseURL(pbx.URL),
	)
	if err != nil {
		log.Fatal(err)
	}
	ref, err := c.Call(context.Background(), callevent.CallRequest{From: "andy", To: "+7 916 123-45-67"})
	var apiErr *callbridge.APIError
	if errors.As(err, &apiErr) {
		log.Fatalf("PBX said %d: %s", apiErr.StatusCode, apiErr.Message)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("call", ref.CallID)
	// Output: call CALL000001
}

// PBXes that only have the old API (Credentials.LegacyAPI): the same
// methods, another wire format.
func ExampleCredentials_legacyAPI() {
	pbx := megafontest.NewServer()
	defer pbx.Close()

	c, err := megafon.NewClient(
		megafon.Credentials{Domain: "vats123456.megapbx.ru", APIKey: megafontest.APIKey, LegacyAPI: true},
		callbridge.WithBaseURL(pbx.URL),
	)
	if err != nil {
		log.Fatal(err)
	}
	for u, err := range c.Users(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(u.Login, u.Ext)
	}
	// Output: andy 701
}

// Mount the webhook handler on a ServeMux. The URL is the "Адрес вашей CRM"
// of the PBX's CRM integration settings; the token its "Ключ для
// авторизации в вашей CRM".
func ExampleNewHandler() {
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		fmt.Println(e.Kind, e.Direction, e.ClientPhone, e.Employee)
		return nil
	})
	lookup := callevent.ContactLookupFunc(func(_ context.Context, _, phone string) (callevent.Contact, bool, error) {
		if phone == "79161234567" {
			return callevent.Contact{Name: "Иван Петров", ResponsibleLogin: "andy"}, true, nil
		}
		return callevent.Contact{}, false, nil
	})
	h, err := megafon.NewHandler(sink,
		webhook.WithToken("crm-secret"),
		webhook.WithAccount(func(*http.Request) string { return "vats123456.megapbx.ru" }),
		webhook.WithContactLookup(lookup),
		webhook.WithLookupTimeout(800*time.Millisecond),
	)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /megafon/callback", h)

	call := megafontest.Call{ID: "c1", Direction: "in", Phone: "79161234567", User: "andy@vats123456.megapbx.ru", Ext: "701"}
	for _, fields := range []map[string][]string{
		megafontest.Contact("79161234567", "c1"),
		megafontest.Event("INCOMING", call),
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, megafontest.NewRequest("/megafon/callback", "crm-secret", fields))
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 200 {"contact_name":"Иван Петров","responsible":"andy"}
	// ringing inbound 79161234567 andy
	// 200 {}
}

// Parse decodes pushes without HTTP, e.g. from a queue.
func ExampleParse() {
	fields, err := megafon.Fields("application/x-www-form-urlencoded",
		[]byte("cmd=history&type=in&status=missed&user=pbx&phone=79161234567&duration=20&start=20230101T120000Z&callid=J5H44UHD0G000036"))
	if err != nil {
		log.Fatal(err)
	}
	events, err := megafon.Parse(fields, megafon.ParseOptions{Account: "vats123456.megapbx.ru"})
	if err != nil {
		log.Fatal(err)
	}
	e := events[0]
	fmt.Println(e.Kind, e.Status, e.ClientPhone, e.At.Format(time.RFC3339), e.Wait)
	// Output: completed missed 79161234567 2023-01-01T12:00:00Z 20s
}
