package match_test

import (
	"context"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

var k1 = match.Client{ID: "k1", Account: acct, Name: "Иван Петров", Phone: known, Channel: match.ChannelTelephony, Responsible: "u2", CreatedAt: t0}

// rec is the call record of a callSpec as the engine should log it.
func rec(c callSpec, clientID, employee, leadID string) match.CallRecord {
	r := match.CallRecord{Provider: "telphin", Account: acct, CallID: c.id, Direction: c.dir, Status: c.status,
		ClientID: clientID, ClientPhone: c.phone, Employee: employee, LinePhone: line,
		StartedAt: t0, Wait: 20 * time.Second, LeadID: leadID}
	if c.status == callevent.Success {
		r.Extension = c.ext
		r.AnsweredAt = t0.Add(20 * time.Second)
		r.EndedAt = r.AnsweredAt.Add(95 * time.Second)
		r.Duration = 95 * time.Second
		r.RecordingURL = "https://rec.example.com/" + c.id + ".mp3"
	} else {
		r.EndedAt = t0.Add(20 * time.Second)
		if c.dir == callevent.Outbound {
			r.Extension = c.ext
		}
	}
	return r
}

func missedNote(c callSpec, employee, clientID, reason string) match.Notification {
	return match.Notification{Kind: match.NotifyMissed, Account: acct, Employee: employee, Provider: "telphin", CallID: c.id,
		ClientID: clientID, ClientPhone: c.phone, Reason: reason, At: t0}
}

// TestTelphinScenarios plays the ten scenarios of the Telphin↔amoCRM guide
// (seed 002) and checks exactly which clients, leads, call records and
// notifications result.
func TestTelphinScenarios(t *testing.T) {
	t.Parallel()
	in, out := callevent.Inbound, callevent.Outbound
	withLeads := match.DefaultRule()
	withLeads.Leads.InboundAnswered = match.LeadCase{Create: true, Pipeline: "P1", Status: "new"}
	withLeads.Leads.OutboundAnswered = match.LeadCase{Create: true, Pipeline: "P1", Status: "new"}
	withManager := match.DefaultRule()
	withManager.Missed.Manager = "u3"
	noCreate := match.DefaultRule()
	noCreate.Create = match.CreateRule{}

	s1 := callSpec{id: "s1", dir: in, phone: known, ext: "102", status: callevent.Success}
	s2 := callSpec{id: "s2", dir: in, phone: unknownA, ext: "101", status: callevent.Success}
	s3 := callSpec{id: "s3", dir: in, phone: unknownA, ext: "201", status: callevent.Success}
	s4 := callSpec{id: "s4", dir: in, phone: known, ring: "101", status: callevent.Missed}
	s5 := callSpec{id: "s5", dir: in, phone: unknownA, ring: "101", status: callevent.Missed}
	s6 := callSpec{id: "s6", dir: out, phone: known, ext: "101", status: callevent.Success}
	s7 := callSpec{id: "s7", dir: out, phone: unknownA, ext: "201", status: callevent.Success}
	s8 := callSpec{id: "s8", dir: out, phone: unknownA, ext: "201", status: callevent.Success}
	s9 := callSpec{id: "s9", dir: out, phone: known, ext: "101", status: callevent.Busy}
	s10 := callSpec{id: "s10", dir: out, phone: unknownA, ext: "201", status: callevent.NotAvailable}

	newClient := func(name, resp string, tags ...string) match.Client {
		return match.Client{ID: "c1", Account: acct, Name: name, Phone: unknownA, Channel: match.ChannelTelephony,
			Responsible: resp, CreatedFromCall: true, Tags: tags, CreatedAt: t0}
	}
	manual := match.Client{ID: "m1", Account: acct, Name: "Created by hand", Phone: unknownA, Channel: match.ChannelTelephony, CreatedAt: t0}

	tests := []struct {
		name string
		rule match.Rule
		call callSpec
		// after, when set, runs after the call: it may create a client by
		// hand and move the clock.
		after func(h *harness)
		want  state
	}{
		{
			name: "1 inbound, known client, answered",
			rule: match.DefaultRule(), call: s1,
			want: state{Clients: []match.Client{k1}, Calls: []match.CallRecord{rec(s1, "k1", "u1", "")}},
		},
		{
			name: "2 inbound, unknown, answered, create contact and lead",
			rule: withLeads, call: s2,
			want: state{
				Clients: []match.Client{k1, newClient("Автоконтакт: Входящий", "u1", line)},
				Leads: []match.Lead{{ID: "l1", Account: acct, ClientID: "c1", Name: "Входящий +" + unknownA, Pipeline: "P1",
					Status: "new", Responsible: "u1", CreatedAt: t0, Provider: "telphin", CallID: s2.id}},
				Calls: []match.CallRecord{rec(s2, "c1", "u1", "l1")},
			},
		},
		{
			name: "3 inbound, unknown, answered, creation off: attached to a client made by hand within 10 min",
			rule: noCreate, call: s3,
			after: func(h *harness) {
				h.clock.Advance(9 * time.Minute)
				require.NoError(t, h.s.AddClients(manual))
				require.NoError(t, h.e.ClientCreated(context.Background(), acct, "8 (916) 222-22-22"))
			},
			want: state{Clients: []match.Client{k1, manual}, Calls: []match.CallRecord{rec(s3, "m1", "u2", "")}},
		},
		{
			name: "4 inbound, known client, missed: logged to the client's responsible",
			rule: match.DefaultRule(), call: s4,
			want: state{Clients: []match.Client{k1}, Calls: []match.CallRecord{rec(s4, "k1", "u2", "")},
				Notes: []match.Notification{missedNote(s4, "u2", "k1", "responsible for the missed call")}},
		},
		{
			name: "5 inbound, unknown, missed: contact for the missed-calls manager",
			rule: withManager, call: s5,
			want: state{
				Clients: []match.Client{k1, newClient("Автоконтакт: Входящий-пропущенный", "u3", line)},
				Calls:   []match.CallRecord{rec(s5, "c1", "u3", "")},
				Notes:   []match.Notification{missedNote(s5, "u3", "c1", "responsible for the missed call")},
			},
		},
		{
			name: "6 outbound, known client, answered",
			rule: match.DefaultRule(), call: s6,
			want: state{Clients: []match.Client{k1}, Calls: []match.CallRecord{rec(s6, "k1", "u1", "")}},
		},
		{
			name: "7 outbound, unknown, answered, create contact and lead",
			rule: withLeads, call: s7,
			want: state{
				Clients: []match.Client{k1, newClient("Автоконтакт: Исходящий", "u2")},
				Leads: []match.Lead{{ID: "l1", Account: acct, ClientID: "c1", Name: "Исходящий +" + unknownA, Pipeline: "P1",
					Status: "new", Responsible: "u2", CreatedAt: t0, Provider: "telphin", CallID: s7.id}},
				Calls: []match.CallRecord{rec(s7, "c1", "u2", "l1")},
			},
		},
		{
			name: "8 outbound, unknown, answered, creation off: a client made after 10 min is not attached",
			rule: noCreate, call: s8,
			after: func(h *harness) {
				h.clock.Advance(10*time.Minute + time.Second)
				require.NoError(t, h.s.AddClients(manual))
				require.NoError(t, h.e.ClientCreated(context.Background(), acct, unknownA))
			},
			want: state{Clients: []match.Client{k1, manual}, Calls: []match.CallRecord{rec(s8, "", "u2", "")}},
		},
		{
			name: "9 outbound, known client, not answered",
			rule: match.DefaultRule(), call: s9,
			want: state{Clients: []match.Client{k1}, Calls: []match.CallRecord{rec(s9, "k1", "u1", "")}},
		},
		{
			name: "10 outbound, unknown, not answered: contact for the caller",
			rule: match.DefaultRule(), call: s10,
			want: state{
				Clients: []match.Client{k1, newClient("Автоконтакт: Исходящий", "u2")},
				Calls:   []match.CallRecord{rec(s10, "c1", "u2", "")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.rule)
			h.send(tt.call.events()...)
			if tt.after != nil {
				tt.after(h)
			}
			// Manual clients are created at the advanced clock time.
			got := h.state()
			for i := range got.Clients {
				got.Clients[i].CreatedAt = t0
			}
			for i := range got.Notes {
				got.Notes[i].At = t0
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
		})
	}
}
