package amocrm_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// TestSeed002ResponsibleAfterTransfer: an inbound call from an unknown
// number is answered by operator 1, who creates the contact and lead on
// answer (seed 002, scenario 2), then transfers it to operator 2, who
// talks with the client: at the end the contact and the lead are
// operator 2's, in amoCRM too.
func TestSeed002ResponsibleAfterTransfer(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.Leads.InboundAnswered = match.LeadCase{Create: true}
	e := newEnv(t, envConfig{rule: rule})
	at := func(d time.Duration) time.Time { return callStart.Add(d) }
	ev := func(id string, k callevent.Kind, leg, ext string, d time.Duration) callevent.Event {
		return callevent.Event{ID: id, Provider: "telphin", Account: acct, Kind: k, Direction: callevent.Inbound, CallID: "tr1",
			LegID: leg, Extension: ext, ClientPhone: "79165550011", LinePhone: line, At: at(d)}
	}
	send := func(evs ...callevent.Event) {
		t.Helper()
		for _, x := range evs {
			require.NoError(t, e.engine.HandleEvent(context.Background(), x))
		}
	}
	send(ev("r1", callevent.Ringing, "a", "101", 0), ev("an1", callevent.Answered, "a", "101", 5*time.Second))
	contacts := e.srv.Contacts()
	require.Len(t, contacts, 1, "the contact is created on answer")
	require.EqualValues(t, op1, contacts[0].ResponsibleUserID, "operator 1 picked up")
	leads := e.srv.Leads()
	require.Len(t, leads, 1)
	require.EqualValues(t, op1, leads[0].ResponsibleUserID)

	end := ev("e3", callevent.Ended, "c", "201", 3*time.Minute)
	end.Status = callevent.Success
	send(ev("tr", callevent.Transferred, "c", "201", 40*time.Second), ev("an2", callevent.Answered, "c", "201", 45*time.Second),
		ev("e1", callevent.Ended, "a", "101", 45*time.Second), end)
	e.clock.Advance(match.DefaultGracePeriod)
	contacts = e.srv.Contacts()
	require.Len(t, contacts, 1)
	require.EqualValues(t, op2, contacts[0].ResponsibleUserID, "handed to who talked last")
	leads = e.srv.Leads()
	require.Len(t, leads, 1)
	require.EqualValues(t, op2, leads[0].ResponsibleUserID)
}

// TestStoreReassignRefusesBadIDs: ids that are not amoCRM's are refused
// before any request.
func TestStoreReassignRefusesBadIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{rule: match.DefaultRule()})
	ctx := context.Background()
	require.Error(t, e.store.SetClientResponsible(ctx, acct, "12", "boss"))
	require.Error(t, e.store.SetClientResponsible(ctx, acct, "x", itoa(op1)))
	require.Error(t, e.store.SetLeadResponsible(ctx, acct, "lead", itoa(op1)))
	require.Empty(t, requests(e.srv))
	require.Error(t, e.store.SetLeadResponsible(ctx, acct, "999", itoa(op1)), "amoCRM has no lead 999")
}
