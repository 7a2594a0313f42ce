package callevent_test

import (
	"context"
	"fmt"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// Every provider delivers the same Event; a Sink decides what to do with it.
func ExampleSinkFunc() {
	missed := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		if e.Kind == callevent.Completed && e.Direction == callevent.Inbound && e.Status == callevent.Missed {
			fmt.Printf("missed call from +%s on line +%s\n", e.ClientPhone, e.LinePhone)
		}
		return nil
	})
	_ = missed.HandleEvent(context.Background(), callevent.Event{
		ID: "1", Provider: "telphin", Kind: callevent.Completed, Direction: callevent.Inbound,
		Status: callevent.Missed, CallID: "c1", ClientPhone: "79161234567", LinePhone: "74951234567",
		At: time.Now(),
	})
	// Output: missed call from +79161234567 on line +74951234567
}

// Fanout sends each event to several sinks, e.g. the CRM and an audit log.
func ExampleFanout() {
	crm := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		fmt.Println("crm:", e.Kind)
		return nil
	})
	audit := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		fmt.Println("audit:", e.Kind)
		return nil
	})
	_ = callevent.Fanout(crm, audit).HandleEvent(context.Background(), callevent.Event{Kind: callevent.Answered})
	// Output:
	// crm: answered
	// audit: answered
}
