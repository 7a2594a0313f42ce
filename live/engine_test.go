package live_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/match/memstore"
)

// TestEngineToScreens drives a match.Engine wired to a hub as package
// live's documentation says, with the events of two calls: each
// employee's screen shows the cards, the call and leg states (on hold
// through Engine.Hold), the decision and the notification of a missed
// call, and nothing of calls they are not on.
func TestEngineToScreens(t *testing.T) {
	t.Parallel()
	clock := matchtest.NewClock(time.Now().UTC().Truncate(time.Second))
	store, err := memstore.New(memstore.WithClock(clock))
	require.NoError(t, err)
	store.SetEmployees("acc", match.Employee{ID: "anna", Extensions: []string{"101"}}, match.Employee{ID: "boris", Extensions: []string{"201"}})
	require.NoError(t, store.AddClients(match.Client{ID: "k1", Account: "acc", Name: "Иван Петров", Phone: "79161111111", Responsible: "anna"}))
	hub := newHub(t, live.WithDirectory(store))
	rule := match.DefaultRule()
	engine, err := match.NewEngine(store, match.WithClock(clock), match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}),
		match.WithOnLiveCall(hub.CallChanged), match.WithPopUps(hub), match.WithOnDecision(hub.Decided),
		match.WithNotifier(hub.Notifier(store)))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, engine.Close(context.Background())) })
	srv := serveHub(t, hub)
	anna, boris := open(t, srv.URL, "anna", ""), open(t, srv.URL, "boris", "")
	anna.next()
	boris.next()

	ctx := context.Background()
	at := clock.Now()
	n := 0
	send := func(callID, phone string, k callevent.Kind, ext string, st callevent.Status) {
		t.Helper()
		n++
		require.NoError(t, engine.HandleEvent(ctx, callevent.Event{ID: fmt.Sprint("ev", n), Provider: "megafon", Account: "acc",
			Kind: k, Direction: callevent.Inbound, Status: st, CallID: callID, Extension: ext, ClientPhone: phone,
			At: at.Add(time.Duration(n) * time.Second)}))
	}
	// Ivan calls; both phones ring, Anna answers, Boris's stops; Anna
	// holds the call, takes it back and hangs up.
	send("c1", "79161111111", callevent.Ringing, "101", 0)
	send("c1", "79161111111", callevent.Ringing, "201", 0)
	send("c1", "79161111111", callevent.Answered, "101", 0)
	send("c1", "79161111111", callevent.Ended, "201", callevent.Canceled)
	require.True(t, engine.Hold(ctx, "megafon", "acc", "c1", "101", true))
	require.True(t, engine.Hold(ctx, "megafon", "acc", "c1", "101", false))
	send("c1", "79161111111", callevent.Ended, "101", callevent.Success)
	clock.Advance(match.DefaultGracePeriod)
	// Then Ivan calls again and rings Boris only, who misses it: Anna,
	// Ivan's responsible, is told.
	send("c2", "79161111111", callevent.Ringing, "201", 0)
	send("c2", "79161111111", callevent.Ended, "201", callevent.Missed)
	clock.Advance(match.DefaultGracePeriod)

	describe := func(u live.Update) string {
		switch u.Type {
		case live.TypeCard:
			return fmt.Sprintf("card %s %s client=%s", u.Card.CallID, u.Card.Phase, u.Card.Client.ID)
		case live.TypeCall:
			s := fmt.Sprintf("call %s %s", u.Call.CallID, u.Call.State)
			for _, l := range u.Call.Legs {
				s += fmt.Sprintf(" %s=%s", l.Employee, l.State)
			}
			if u.Call.Decided {
				s += fmt.Sprintf(" decided %s employee=%s", u.Call.Status, u.Call.Employee)
			}
			return s
		case live.TypeNotification:
			return fmt.Sprintf("notification %s %s", u.Notification.CallID, u.Notification.Kind)
		}
		return u.Type
	}
	read := func(s *stream, n int) []string {
		var out []string
		for range n {
			out = append(out, describe(s.next().update(t)))
		}
		return out
	}
	annaSees := []string{
		"card c1 ringing client=k1",
		"call c1 ringing anna=ringing",
		"call c1 ringing anna=ringing boris=ringing",
		"call c1 talking anna=talking boris=ringing",
		"call c1 talking anna=talking boris=ended",
		"call c1 on_hold anna=on_hold boris=ended",
		"call c1 talking anna=talking boris=ended",
		"call c1 ended anna=ended boris=ended",
		"call c1 ended anna=ended boris=ended decided success employee=anna",
		"notification c2 missed",
		"call c2 ended boris=ended decided missed employee=anna",
	}
	require.Equal(t, annaSees, read(anna, len(annaSees)))
	borisSees := []string{
		"card c1 ringing client=k1",
		"call c1 ringing anna=ringing boris=ringing",
		"call c1 talking anna=talking boris=ringing",
		"call c1 talking anna=talking boris=ended",
		"call c1 on_hold anna=on_hold boris=ended",
		"call c1 talking anna=talking boris=ended",
		"call c1 ended anna=ended boris=ended",
		"call c1 ended anna=ended boris=ended decided success employee=anna",
		"card c2 ringing client=k1",
		"call c2 ringing boris=ringing",
		"call c2 ended boris=ended",
		"call c2 ended boris=ended decided missed employee=anna",
	}
	require.Equal(t, borisSees, read(boris, len(borisSees)))
	// Anna saw nothing else of c2, nor Boris Anna's notification: the
	// next update each reads is their own.
	hub.StatusChanged(live.Status{Employee: "anna", Status: "away"})
	hub.StatusChanged(live.Status{Employee: "boris", Status: "away"})
	require.Equal(t, live.TypeStatus, anna.next().update(t).Type)
	require.Equal(t, live.TypeStatus, boris.next().update(t).Type)
}
