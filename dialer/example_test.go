package dialer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/match/matchtest"
)

// A power campaign over a provider's client: the agent joins, the first
// call goes out at once, the provider's events settle it, and the next
// call follows the wrap-up time.
func Example() {
	ctx := context.Background()
	clock := matchtest.NewClock(time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)) // nil in production: the system clock
	d, err := dialer.New(ctx, dialer.Config{
		Store:     dialer.NewMemStore(), // or a sqlstore.DB, to resume after a restart
		Callers:   map[string]callevent.Caller{"telphin": &fakeCaller{}},
		Employees: dialer.StaticEmployees{"anna": "101"},
		Clock:     clock,
		OnCall: func(_ context.Context, s dialer.CallStart) {
			fmt.Printf("%s calls %s (%s %s)\n", s.Employee, s.Target.Name, s.Target.Entity, s.Target.EntityID)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	c, err := d.Create(ctx, dialer.Campaign{Provider: "telphin", Mode: dialer.Power, Agents: []string{"anna"},
		WrapUp: callevent.Seconds(30 * time.Second)}, []dialer.Target{
		{Phone: "8 916 123-45-67", Name: "Anna", Entity: "lead", EntityID: "L1"},
		{Phone: "+7 916 765-43-21", Name: "Boris", Entity: "lead", EntityID: "L2"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := d.Start(ctx, c.ID); err != nil {
		fmt.Println(err)
		return
	}
	a, _ := d.Ready(ctx, c.ID, "anna")
	// The provider's webhook handler delivers the call's events to d.
	_ = d.HandleEvent(ctx, callevent.Event{ID: "e1", Provider: "telphin", Kind: callevent.Completed, Direction: callevent.Outbound,
		Status: callevent.Success, CallID: a.CallID, ClientPhone: "79161234567", At: clock.Now()})
	clock.Advance(30 * time.Second) // the wrap-up
	st, _ := d.Status(ctx, c.ID)
	fmt.Println(st.Outcomes[dialer.Answered], "answered,", st.Dialing, "dialing")
	// Output:
	// anna calls Anna (lead L1)
	// anna calls Boris (lead L2)
	// 1 answered, 1 dialing
}
