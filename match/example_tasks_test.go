package match_test

import (
	"context"
	"fmt"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/match/memstore"
)

// A missed call becomes a call-back task for the client's responsible,
// due 30 minutes later; when it is overdue the admins are told; the call
// back closes it.
func ExampleTaskRule() {
	ctx := context.Background()
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	clock := matchtest.NewClock(at) // time moves only when the example says
	store, _ := memstore.New(memstore.WithClock(clock))
	store.SetEmployees("acme",
		match.Employee{ID: "anna", Extensions: []string{"101"}},
		match.Employee{ID: "boss", Extensions: []string{"100"}, Admin: true})
	_ = store.AddClients(match.Client{ID: "42", Account: "acme", Name: "Ivan Petrov", Phone: "79161234567", Responsible: "anna"})

	rules, err := match.ParseRules([]byte(`{"default": {
	  "task": {"enabled": true, "deadline": "30m", "text": "Перезвонить +{phone}"}}}`), "RU")
	if err != nil {
		fmt.Println(err)
		return
	}
	engine, _ := match.NewEngine(store, match.WithRules(rules), match.WithClock(clock))
	defer engine.Close(ctx)

	call := func(id string, dir callevent.Direction, status callevent.Status) {
		ev := callevent.Event{ID: id + "-done", Provider: "telphin", Account: "acme", CallID: id, Kind: callevent.Completed,
			Direction: dir, Status: status, ClientPhone: "79161234567", Extension: "101", At: clock.Now()}
		if status == callevent.Success {
			ev.AnsweredAt, ev.Duration = clock.Now().Add(10*time.Second), time.Minute
		}
		if err := engine.HandleEvent(ctx, ev); err != nil {
			fmt.Println(err)
		}
	}

	call("in-1", callevent.Inbound, callevent.Missed)
	open, _ := store.OpenTasks(ctx, "acme")
	for _, t := range open {
		fmt.Printf("task %s for %s: %q due %s\n", t.ID, t.Responsible, t.Text, t.Due.Format("15:04"))
	}

	clock.Advance(45 * time.Minute) // nobody called back in time
	n, _ := engine.EscalateOverdue(ctx, "acme")
	fmt.Println("escalated:", n)
	for _, x := range store.Notifications() {
		fmt.Printf("notify %s (%s): %s\n", x.Employee, x.Kind, x.Reason)
	}

	call("out-1", callevent.Outbound, callevent.Success) // anna calls back
	for _, t := range store.Tasks() {
		fmt.Printf("task %s done=%v by %s at %s\n", t.ID, t.Done, t.DoneBy, t.DoneAt.Format("15:04:05"))
	}
	// Output:
	// task t1 for anna: "Перезвонить +79161234567" due 09:30
	// escalated: 1
	// notify anna (missed): responsible for the missed call
	// notify boss (task_overdue): admin: call-back task t1 of anna overdue since 2025-03-14T09:30:00Z
	// task t1 done=true by telphin/out-1 at 09:45:10
}
