package match_test

import (
	"context"
	"fmt"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
)

// A missed call from an unknown number under rules like Perfectum's: the
// engine creates a client and a lead for the missed-calls manager, logs the
// call and tells the manager and the admins.
func ExampleEngine() {
	ctx := context.Background()
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	store.SetEmployees("acme",
		match.Employee{ID: "anna", Extensions: []string{"101"}},
		match.Employee{ID: "boss", Extensions: []string{"100"}, Admin: true})

	rules, err := match.ParseRules([]byte(`{"default": {
	  "create": {"inbound_answered": true, "inbound_missed": true, "outbound": true},
	  "leads":  {"inbound_missed": {"create": true, "status": "new", "source": "missed call"}},
	  "missed": {"manager": "anna"},
	  "notify": {"admins": true}}}`), "RU")
	if err != nil {
		panic(err)
	}
	engine, err := match.NewEngine(store, match.WithRules(rules))
	if err != nil {
		panic(err)
	}
	defer engine.Close(ctx)

	// What a provider handler delivers for a call nobody answered.
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	call := callevent.Event{Provider: "telphin", Account: "acme", CallID: "c-1", Direction: callevent.Inbound,
		ClientPhone: "79161234567", LinePhone: "74951234567"}
	ringing, completed := call, call
	ringing.ID, ringing.Kind, ringing.At, ringing.Extension = "e1", callevent.Ringing, at, "101"
	completed.ID, completed.Kind, completed.At, completed.Status = "e2", callevent.Completed, at, callevent.Missed
	completed.Wait = 25 * time.Second

	// DryRun explains what the rules would do, without writing anything.
	d, err := engine.DryRun(ctx, ringing, completed)
	if err != nil {
		panic(err)
	}
	fmt.Println(d)

	for _, ev := range []callevent.Event{ringing, completed} {
		if err := engine.HandleEvent(ctx, ev); err != nil {
			panic(err)
		}
	}
	for _, c := range store.Clients() {
		fmt.Printf("client %s %q responsible=%s tags=%v\n", c.ID, c.Name, c.Responsible, c.Tags)
	}
	for _, l := range store.Leads() {
		fmt.Printf("lead %s %q client=%s status=%s\n", l.ID, l.Name, l.ClientID, l.Status)
	}
	for _, r := range store.Calls() {
		fmt.Printf("call %s %s client=%s lead=%s employee=%s wait=%v\n", r.CallID, r.Status, r.ClientID, r.LeadID, r.Employee, r.Wait)
	}
	for _, n := range store.Notifications() {
		fmt.Printf("notify %s: %s\n", n.Employee, n.Reason)
	}
	// Output:
	// call telphin/acme/c-1 (inbound missed)
	//   responsible employee=anna: missed call from an unknown number: the missed-calls manager
	//   create client employee=anna: unknown number and creating clients on inbound missed is on: telephony client "Автоконтакт: Входящий-пропущенный"
	//   create lead employee=anna: no active lead, creating leads on inbound missed is on, a new client: "Входящий +79161234567"
	//   log call employee=anna: inbound missed call
	//   notify employee=anna: responsible for the missed call
	//   notify employee=boss: admin
	// client c1 "Автоконтакт: Входящий-пропущенный" responsible=anna tags=[74951234567]
	// lead l1 "Входящий +79161234567" client=c1 status=new
	// call c-1 missed client=c1 lead=l1 employee=anna wait=25s
	// notify anna: responsible for the missed call
	// notify boss: admin
}

// LookupContact answers a provider's "who is calling?" with the client's
// name, card URL and responsible employee.
func ExampleEngine_LookupContact() {
	store, _ := memstore.New()
	store.SetEmployees("acme", match.Employee{ID: "anna", Login: "anna@acme", Email: "anna@acme.example", Extensions: []string{"101"}})
	_ = store.AddClients(match.Client{ID: "42", Account: "acme", Name: "Ivan Petrov", Phone: "+7 916 123-45-67", Responsible: "anna"})
	engine, _ := match.NewEngine(store, match.WithCardURL("https://crm.example.com/clients/{id}"))
	defer engine.Close(context.Background())

	c, found, err := engine.LookupContact(context.Background(), "acme", "89161234567")
	fmt.Println(found, err)
	fmt.Printf("%+v\n", c)
	// Output:
	// true <nil>
	// {ID:42 Name:Ivan Petrov URL:https://crm.example.com/clients/42 ResponsibleExtension:101 ResponsibleLogin:anna@acme ResponsibleEmail:anna@acme.example}
}
