package live_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
)

// A CRM mounts each employee's live screen: the engine tells the hub
// what happens to calls, and the CRM's router serves the streams behind
// its own sign-in (here a header stands for the session).
func Example() {
	store, _ := memstore.New()
	store.SetEmployees("", match.Employee{ID: "anna", Extensions: []string{"101"}})
	_ = store.AddClients(match.Client{ID: "k1", Name: "Ivan Petrov", Phone: "79161111111", Responsible: "anna"})

	hub, _ := live.NewHub(live.WithDirectory(store))
	defer hub.Close(context.Background())
	engine, _ := match.NewEngine(store,
		match.WithOnLiveCall(hub.CallChanged),
		match.WithPopUps(hub),
		match.WithOnDecision(hub.Decided),
		match.WithNotifier(hub.Notifier(store)))
	defer engine.Close(context.Background())

	mux := http.NewServeMux()
	mux.Handle("GET /events", hub.Handler(func(r *http.Request) (string, bool, error) {
		employee := r.Header.Get("X-Signed-In") // the CRM's session
		if employee == "" {
			return "", false, errors.New("sign in first")
		}
		return employee, false, nil
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// Anna's browser opens her stream (EventSource in a real page).
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events", nil)
	req.Header.Set("X-Signed-In", "anna")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	next := func() (u live.Update) { // the next event's data
		for events.Scan() {
			if data, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				_ = json.Unmarshal([]byte(data), &u)
				return u
			}
		}
		return u
	}
	u := next()
	fmt.Println(u.Type, len(u.Calls), "calls in progress")

	// Ivan calls and Anna's phone rings.
	_ = engine.HandleEvent(context.Background(), callevent.Event{ID: "e1", Provider: "megafon", Kind: callevent.Ringing,
		Direction: callevent.Inbound, CallID: "c1", Extension: "101", ClientPhone: "79161111111", At: time.Now()})
	u = next()
	fmt.Println(u.Type, u.Card.Phase, u.Card.ClientPhone, u.Card.Client.Name)
	u = next()
	fmt.Println(u.Type, u.Call.CallID, u.Call.State, "leg", u.Call.Legs[0].Extension, u.Call.Legs[0].Employee, u.Call.Legs[0].State)
	// Output:
	// sync 0 calls in progress
	// card ringing 79161111111 Ivan Petrov
	// call c1 ringing leg 101 anna ringing
}
