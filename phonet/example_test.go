package phonet_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/webhook"
)

// Mount one handler for all of Phonet's webhooks (put the same URL, with
// the token, into every field of «Інша система CRM»).
func ExampleNewHandler() {
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		fmt.Println(e.Kind, e.Direction, "+"+e.ClientPhone, "ext", e.Extension)
		return nil
	})
	lookup := callevent.ContactLookupFunc(func(_ context.Context, account, phone string) (callevent.Contact, bool, error) {
		if phone == "380501112233" {
			return callevent.Contact{ID: "6137", Name: "ТОВ Ромашка", ResponsibleExtension: "001"}, true, nil
		}
		return callevent.Contact{}, false, nil
	})
	h, err := phonet.NewHandler(sink,
		webhook.WithToken("s3cret-token"),
		webhook.WithAllowedIPs(phonet.PhonetIPs(), nil),
		webhook.WithContactLookup(lookup),
		webhook.WithCardURL("https://crm.example.com/contacts/{id}", "https://crm.example.com/contacts/new?phone={phone}"),
	)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /phonet", h)

	// What Phonet sends during an incoming call (that started three minutes ago).
	call := phonettest.InboundCall()
	for _, body := range []phonettest.Body{call.Lookup(), call.Dial(), call.Bridge(), call.Hangup(), call.Record()} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, body.Request("/phonet", phonettest.WithToken("s3cret-token")))
		if body["event"] == nil && body["endAt"] == nil {
			fmt.Println("lookup reply:", w.Body.String())
		}
	}
	// Output:
	// lookup reply: {"name":"ТОВ Ромашка","url":"https://crm.example.com/contacts/6137","urlText":"ТОВ Ромашка","newEntity":false,"responsibleEmployeeExt":"001","responsibleEmployeeEmail":null}
	// ringing inbound +380501112233 ext 001
	// answered inbound +380501112233 ext 001
	// ended inbound +380501112233 ext 001
	// completed inbound +380501112233 ext 001
}

// Parse a stored webhook body without HTTP, e.g. from a queue.
func ExampleParseEvents() {
	body := []byte(`{"event":"call.dial","accountDomain":"acme.phonet.com.ua","uuid":"68333cd7aa94421e89dbc8acfe5027bb",
 "dialAt":1754641001,"lgDirection":1,"leg":{"id":30,"ext":"001","displayName":"Олена Коваль"},
 "leg2":{"id":14,"ext":"002","displayName":"Петро Шевченко"},"otherLegs":null}`)
	events, err := phonet.ParseEvents("application/json", body, "UA")
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range events {
		fmt.Println(e.Kind, e.Direction, e.Extension, e.At.Format(time.RFC3339))
	}
	// Output:
	// ringing internal 001 2025-08-08T08:16:41Z
}

// Click-to-call, then find the finished call in the history.
func ExampleClient_Call() {
	srv := phonettest.NewServer() // a fake Phonet; use phonet.NewClient(creds) for the real one
	defer srv.Close()
	client, err := srv.NewClient()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	ref, err := client.Call(ctx, callevent.CallRequest{From: "001", To: "+380671234567"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("calling, uuid", ref.CallID)
	if err := client.Hangup(ctx, callevent.CallControlRequest{CallID: ref.CallID}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// calling, uuid fakecall000000000000000000000001
}

// Iterate over a day of missed calls, 50 per request.
func ExampleClient_Calls() {
	srv := phonettest.NewServer()
	defer srv.Close()
	day := time.Date(2025, 8, 8, 0, 0, 0, 0, time.UTC)
	missed := phonettest.InboundCall().At(day.Add(8 * time.Hour))
	missed.BridgeAt = time.Time{}
	srv.AddCalls(phonettest.Missed, missed.HistoryRecord())
	client, err := srv.NewClient()
	if err != nil {
		log.Fatal(err)
	}
	q := phonet.CallsQuery{Source: phonet.HistoryMissed, From: day, To: day.Add(24 * time.Hour)}
	for rec, err := range client.Calls(context.Background(), q) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rec.OtherLegNum, rec.Disposition, rec.Duration, "s")
	}
	// Output:
	// +380501112233 no_answer 131 s
}
