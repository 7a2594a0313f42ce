package memstore_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
)

// A store seeded from JSON behind the rules engine: one CRM for every
// telephony account (SingleTenant), and the call log read back after a
// call.
func Example() {
	ctx := context.Background()
	store, err := memstore.New(memstore.WithDefaultCountry("RU"), memstore.SingleTenant())
	if err != nil {
		panic(err)
	}
	if _, err := store.LoadClients("", strings.NewReader(
		`[{"id": "42", "name": "Ivan Petrov", "phone": "8 (916) 123-45-67", "responsible": "anna"}]`)); err != nil {
		panic(err)
	}
	store.SetEmployees("", match.Employee{ID: "anna", Extensions: []string{"101"}})

	engine, err := match.NewEngine(store, match.WithDefaultCountry("RU"))
	if err != nil {
		panic(err)
	}
	defer engine.Close(ctx)

	// The final record of an answered inbound call, from any account.
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	err = engine.HandleEvent(ctx, callevent.Event{ID: "e1", Provider: "telphin", Account: "acme",
		Kind: callevent.Completed, Direction: callevent.Inbound, Status: callevent.Success, CallID: "c-1",
		ClientPhone: "79161234567", Extension: "101", At: at, AnsweredAt: at.Add(5 * time.Second),
		EndedAt: at.Add(65 * time.Second)})
	if err != nil {
		panic(err)
	}
	for _, r := range store.Calls() {
		fmt.Printf("call %s %s client=%s employee=%s talk=%v\n", r.CallID, r.Status, r.ClientID, r.Employee, r.Duration)
	}
	// Output:
	// call c-1 success client=42 employee=anna talk=1m0s
}
