package match_test

import (
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"
)

// TestPerfectumLeadRules checks Perfectum's Phonet lead rules (seed 003):
// leads from missed and answered calls unless an active lead exists, "even
// if the client exists", outbound missed leads, reopening a lost lead.
func TestPerfectumLeadRules(t *testing.T) {
	t.Parallel()
	in, out := callevent.Inbound, callevent.Outbound
	missedLead := match.LeadCase{Create: true, EvenIfClientExists: true, Status: "new", Source: "missed call"}
	answeredLead := match.LeadCase{Create: true, Status: "new", Source: "call"}

	open := match.Lead{ID: "L", Account: acct, ClientID: "k1", Name: "old", Status: "talks", State: match.LeadOpen, Responsible: "u2", CreatedAt: t0}
	lost := match.Lead{ID: "L", Account: acct, ClientID: "k1", Name: "old", Status: "lost", State: match.LeadLost, Responsible: "u2", CreatedAt: t0}
	won := match.Lead{ID: "W", Account: acct, ClientID: "k1", Name: "older", Status: "won", State: match.LeadWon, Responsible: "u2", CreatedAt: t0}

	tests := []struct {
		name      string
		leads     match.LeadRules
		reopen    string
		existing  []match.Lead
		call      callSpec
		wantLeads []match.Lead
		wantLead  string // the call's lead
	}{
		{
			name:  "missed inbound, active lead: attached, no new lead",
			leads: match.LeadRules{InboundMissed: missedLead}, existing: []match.Lead{open},
			call:      callSpec{id: "p1", dir: in, phone: known, ring: "101", status: callevent.Missed},
			wantLeads: []match.Lead{open}, wantLead: "L",
		},
		{
			name:  "missed inbound, active lead, but leads are not created on missed calls: not attached",
			leads: match.LeadRules{InboundAnswered: answeredLead}, existing: []match.Lead{open},
			call:      callSpec{id: "p0", dir: in, phone: known, ring: "101", status: callevent.Missed},
			wantLeads: []match.Lead{open}, wantLead: "",
		},
		{
			name:  "missed inbound, only a lost lead: new lead for the client's responsible",
			leads: match.LeadRules{InboundMissed: missedLead}, existing: []match.Lead{lost},
			call: callSpec{id: "p2", dir: in, phone: known, ring: "101", status: callevent.Missed},
			wantLeads: []match.Lead{lost, {ID: "l1", Account: acct, ClientID: "k1", Name: "Входящий +" + known, Status: "new",
				Source: "missed call", Responsible: "u2", CreatedAt: t0, Provider: "telphin", CallID: "p2"}},
			wantLead: "l1",
		},
		{
			name:  "answered inbound, client exists, even-if-exists off: no lead",
			leads: match.LeadRules{InboundAnswered: answeredLead},
			call:  callSpec{id: "p3", dir: in, phone: known, ext: "101", status: callevent.Success},
		},
		{
			name:  "answered inbound, client exists, even-if-exists on: lead for the answerer",
			leads: match.LeadRules{InboundAnswered: match.LeadCase{Create: true, EvenIfClientExists: true, Status: "new", Source: "call"}},
			call:  callSpec{id: "p4", dir: in, phone: known, ext: "101", status: callevent.Success},
			wantLeads: []match.Lead{{ID: "l1", Account: acct, ClientID: "k1", Name: "Входящий +" + known, Status: "new",
				Source: "call", Responsible: "u1", CreatedAt: t0, Provider: "telphin", CallID: "p4"}},
			wantLead: "l1",
		},
		{
			name:  "outbound missed: lead named Исходящий for the caller",
			leads: match.LeadRules{OutboundMissed: match.LeadCase{Create: true, EvenIfClientExists: true, Pipeline: "cold", Status: "new"}},
			call:  callSpec{id: "p5", dir: out, phone: known, ext: "201", status: callevent.NotAvailable},
			wantLeads: []match.Lead{{ID: "l1", Account: acct, ClientID: "k1", Name: "Исходящий +" + known, Pipeline: "cold",
				Status: "new", Responsible: "u2", CreatedAt: t0, Provider: "telphin", CallID: "p5"}},
			wantLead: "l1",
		},
		{
			name:   "outbound to a client whose newest lead is lost: reopened, no new lead",
			leads:  match.LeadRules{OutboundAnswered: match.LeadCase{Create: true, EvenIfClientExists: true}},
			reopen: "reopened", existing: []match.Lead{won, lost},
			call: callSpec{id: "p6", dir: out, phone: known, ext: "101", status: callevent.Success},
			wantLeads: []match.Lead{won, {ID: "L", Account: acct, ClientID: "k1", Name: "old", Status: "reopened",
				State: match.LeadOpen, Responsible: "u2", CreatedAt: t0}},
			wantLead: "L",
		},
		{
			name:   "inbound call to a lost lead's client: not reopened",
			reopen: "reopened", existing: []match.Lead{lost},
			call:      callSpec{id: "p7", dir: in, phone: known, ext: "101", status: callevent.Success},
			wantLeads: []match.Lead{lost},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rule := match.Rule{Leads: tt.leads, ReopenStatus: tt.reopen}
			h := newHarness(t, rule)
			require.NoError(t, h.s.AddLeads(tt.existing...))
			h.send(tt.call.events()...)
			if diff := cmp.Diff(tt.wantLeads, h.s.Leads(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("leads (-want +got):\n%s", diff)
			}
			calls := h.s.Calls()
			require.Len(t, calls, 1)
			require.Equal(t, tt.wantLead, calls[0].LeadID)
			require.Len(t, h.s.Clients(), 1, "no client may be created for a known number")
		})
	}
}

// TestDistribution checks who becomes responsible for missed calls from
// unknown numbers: round robin and "active" over a restricted list.
func TestDistribution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		missed match.MissedRule
		online []string
		want   []string
	}{
		{"round robin over a list", match.MissedRule{Distribution: match.DistributeRoundRobin, Employees: []string{"u2", "u4"}},
			nil, []string{"u2", "u4", "u2"}},
		{"round robin over everybody", match.MissedRule{Distribution: match.DistributeRoundRobin},
			nil, []string{"u1", "u2", "u3", "u4", "u1"}},
		{"active: the online employees of the list", match.MissedRule{Distribution: match.DistributeActive, Employees: []string{"u1", "u2", "u4"}},
			[]string{"u3", "u4"}, []string{"u4", "u4"}},
		{"active: nobody of the list online, round robin", match.MissedRule{Distribution: match.DistributeActive, Employees: []string{"u1", "u2"}},
			[]string{"u3"}, []string{"u1", "u2", "u1"}},
		{"manager wins over distribution", match.MissedRule{Manager: "u3", Distribution: match.DistributeRoundRobin},
			nil, []string{"u3", "u3"}},
		{"nothing set: nobody", match.MissedRule{}, nil, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rule := match.DefaultRule()
			rule.Missed = tt.missed
			h := newHarness(t, rule)
			h.s.SetOnline(acct, tt.online...)
			var got []string
			for i := range tt.want {
				phone := "7916444000" + string(rune('0'+i))
				c := callSpec{id: "d" + phone, dir: callevent.Inbound, phone: phone, ring: "101", status: callevent.Missed}
				h.send(c.events()...)
				cl, ok, err := h.s.FindClientByPhone(t.Context(), acct, phone)
				require.NoError(t, err)
				require.True(t, ok)
				got = append(got, cl.Responsible)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// TestMissedNotifications checks whom a missed call is told to: the
// responsible, admins, chosen employees for unknown numbers and the extra
// employees, each once.
func TestMissedNotifications(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.Missed.Manager = "u4"
	rule.Notify = match.NotifyRule{Admins: true, Unknown: []string{"u1", "u4"}, Extra: []string{"u2", "u3"}}
	h := newHarness(t, rule)

	unknown := callSpec{id: "n1", dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed}
	knownCall := callSpec{id: "n2", dir: callevent.Inbound, phone: known, ring: "101", status: callevent.Missed}
	h.send(unknown.events()...)
	h.send(knownCall.events()...)
	want := []match.Notification{
		missedNote(unknown, "u4", "c1", "responsible for the missed call"),
		missedNote(unknown, "u3", "c1", "admin"),
		missedNote(unknown, "u1", "c1", "chosen for missed calls from unknown numbers"),
		missedNote(unknown, "u2", "c1", "chosen for every call"),
		// u2 is the known client's responsible, u3 an admin: told once.
		missedNote(knownCall, "u2", "k1", "responsible for the missed call"),
		missedNote(knownCall, "u3", "k1", "admin"),
	}
	require.Empty(t, cmp.Diff(want, h.s.Notifications()))
}

// TestPerfectumPhonetSettings14To18 plays seed 003's notification
// settings: pushes on every call to the chosen employees besides the
// responsible (14), after the pause (15) that holds back every list of
// recipients; missed calls told to the lead's responsible (16), the
// client's administrators (17) and, for unknown numbers, the chosen
// employees (18).
func TestPerfectumPhonetSettings14To18(t *testing.T) {
	t.Parallel()
	rule := match.DefaultRule()
	rule.Leads.InboundMissed = match.LeadCase{Create: true, EvenIfClientExists: true}
	rule.Notify = match.NotifyRule{MuteResponsible: true, LeadResponsible: true, Admins: true, Unknown: []string{"u1"},
		Extra: []string{"u4"}, Delay: match.Duration(2 * time.Minute)}
	h := newHarness(t, rule)
	// The known client (responsible u2) has an open lead that u1 handles.
	require.NoError(t, h.s.AddLeads(match.Lead{ID: "l1", Account: acct, ClientID: "k1", Name: "Deal", Responsible: "u1", State: match.LeadOpen}))

	missed := callSpec{id: "p1", dir: callevent.Inbound, phone: known, ring: "101", status: callevent.Missed}
	answered := callSpec{id: "p2", dir: callevent.Inbound, phone: unknownB, ext: "201", status: callevent.Success}
	h.send(missed.events()...)
	h.send(answered.events()...)
	h.clock.Advance(match.DefaultGracePeriod) // every call decided
	require.Empty(t, h.s.Notifications(), "held back by the pause (15)")

	h.clock.Advance(2 * time.Minute)
	after := ", after 2m0s"
	note := func(c callSpec, kind match.NotificationKind, employee, clientID, leadID, reason string, at time.Time) match.Notification {
		return match.Notification{Kind: kind, Account: acct, Employee: employee, Provider: "telphin", CallID: c.id,
			ClientID: clientID, ClientPhone: c.phone, LeadID: leadID, Reason: reason + after, At: at}
	}
	at := t0.Add(2 * time.Minute) // both decided at their end, the pause after that
	want := []match.Notification{
		note(missed, match.NotifyMissed, "u1", "k1", "l1", "responsible for the lead", at), // 16; k1's responsible u2 is muted
		note(missed, match.NotifyMissed, "u3", "k1", "l1", "admin", at),                    // 17
		note(missed, match.NotifyMissed, "u4", "k1", "l1", "chosen for every call", at),    // 14
		note(answered, match.NotifyCall, "u4", "c1", "", "chosen for every call", at),      // 14, an answered call
	}
	require.Empty(t, cmp.Diff(want, h.s.Notifications()))
}

// TestSeed003LeadsByPhoneWithoutClient: Perfectum creates leads, not
// clients, for unknown numbers (settings 7 and 8) and finds them by the
// number: a second missed call from the number goes to the same lead, and
// an outbound call once the lead is lost reopens it in the configured
// status (setting 13). No client is created at any point.
func TestSeed003LeadsByPhoneWithoutClient(t *testing.T) {
	t.Parallel()
	rule := match.Rule{
		Leads: match.LeadRules{
			InboundMissed:  match.LeadCase{Create: true, Status: "new", Source: "missed call"},
			OutboundMissed: match.LeadCase{},
		},
		ReopenStatus: "reopened",
		Missed:       match.MissedRule{Manager: "u4"},
	}
	h := newHarness(t, rule)
	h.send(callSpec{id: "m1", dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed}.events()...)
	h.clock.Advance(match.DefaultGracePeriod)
	leads := h.s.Leads()
	require.Len(t, leads, 1, "a lead for the unknown number")
	l := leads[0]
	require.Empty(t, l.ClientID, "without a client")
	require.Equal(t, unknownA, l.Phone)
	require.Equal(t, "u4", l.Responsible, "the missed-calls manager")
	require.Equal(t, "missed call", l.Source)
	require.Len(t, h.s.Clients(), 1, "no client created")

	h.send(callSpec{id: "m2", dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed, at: t0.Add(time.Hour)}.events()...)
	h.clock.Advance(match.DefaultGracePeriod)
	require.Len(t, h.s.Leads(), 1, "the number's open lead takes the second call")
	byID := map[string]match.CallRecord{}
	for _, c := range h.s.Calls() {
		byID[c.CallID] = c
	}
	require.Equal(t, l.ID, byID["m1"].LeadID)
	require.Equal(t, l.ID, byID["m2"].LeadID)

	// A lost lead of another number, and an outbound call to it.
	require.NoError(t, h.s.AddLeads(match.Lead{ID: "LB", Account: acct, Phone: unknownB, Name: "old", Status: "lost", State: match.LeadLost}))
	h.send(callSpec{id: "o1", dir: callevent.Outbound, phone: unknownB, ext: "201", status: callevent.Busy, at: t0.Add(2 * time.Hour)}.events()...)
	h.clock.Advance(match.DefaultGracePeriod)
	leads = h.s.Leads()
	require.Len(t, leads, 2)
	require.Equal(t, "LB", leads[1].ID)
	require.Equal(t, "reopened", leads[1].Status, "the lost lead of the number is reopened")
	require.Equal(t, match.LeadOpen, leads[1].State)
	require.Len(t, h.s.Clients(), 1, "still no client")
}
