package amocrm_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// Connect Telphin to amoCRM: Telphin's webhooks go through the rules
// engine into amoCRM. Here the amoCRM account is the amocrmtest fake; in
// production drop WithBaseURL/WithHTTPClient and use your account host.
func Example() {
	fake := amocrmtest.Start() // stands in for https://example.amocrm.ru
	defer fake.Close()

	client, err := amocrm.NewClient(amocrm.Credentials{Domain: "example.amocrm.ru", LongLivedToken: fake.LongLivedToken()},
		amocrm.WithBaseURL(fake.URL), amocrm.WithHTTPClient(fake.Client()))
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
	handler, err := telphin.NewHandler(callevent.Fanout(engine, store.Popups()), telphin.WithToken("secret"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/telphin/{app}", handler)

	// An inbound call from an unknown number, answered by extension 101.
	call := telphintest.Call{Client: "+79162222222", DID: "74951234567", Extension: "3515*101"}
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
	fmt.Println("pop-ups:", len(fake.Events()))
	// Output:
	// contact: Автоконтакт: Входящий [+79162222222] responsible 8375357 tags [74951234567]
	// call on contacts inbound 4 83
	// pop-ups: 1
}

// Classify errors with errors.Is and errors.As.
func ExampleValidationErrors() {
	fake := amocrmtest.Start()
	defer fake.Close()
	client, _ := amocrm.NewClient(amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: fake.LongLivedToken()},
		amocrm.WithBaseURL(fake.URL), amocrm.WithHTTPClient(fake.Client()))

	_, err := client.CreateLeads(context.Background(), []amocrm.Lead{{Name: "Сделка", PipelineID: 1}})
	for _, v := range amocrm.ValidationErrors(err) {
		fmt.Println(v.RequestID, v.Path, v.Code)
	}
	// Output:
	// 0 pipeline_id NotSupportedChoice
}
