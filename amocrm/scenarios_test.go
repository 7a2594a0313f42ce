package amocrm_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/match"
)

// TestTelphinGuideScenarios plays the ten scenarios of the Telphin↔amoCRM
// guide (seed 002) end to end: Telphin webhooks → telphin handler →
// match.Engine(amocrm.Store) and the pop-up sink → the fake amoCRM, and
// checks the exact amoCRM requests and the resulting contacts and calls.
func TestTelphinGuideScenarios(t *testing.T) {
	t.Parallel()
	const (
		known    = "+79161111111"
		unknown  = "+79162222222"
		knownID  = 1002 // the seeded contact (1001 is the token)
		newID    = 1003 // the first entity the scenario creates
		pipeline = amocrmtest.PipelineID
		status   = amocrmtest.StatusFirst
	)
	withLeads := match.DefaultRule()
	withLeads.Leads.InboundAnswered = match.LeadCase{Create: true, Pipeline: "7249526", Status: "60456942"}
	withLeads.Leads.OutboundAnswered = withLeads.Leads.InboundAnswered
	withManager := match.DefaultRule()
	withManager.Missed.Manager = "8375359"
	noCreate := match.DefaultRule()
	noCreate.Create = match.CreateRule{}

	id := func(n int) string {
		return "5c0000000000000000000000000000" + string(rune('0'+n/10)) + string(rune('0'+n%10))
	}
	rec := func(n int) string { return "https://pbx.example.com/rec/" + id(n) + ".mp3" }
	contact := func(name, phone string, resp int64, tags ...string) string {
		m := map[string]any{"name": name, "responsible_user_id": resp, "request_id": "0",
			"custom_fields_values": []any{map[string]any{"field_code": "PHONE", "values": []any{map[string]any{"value": phone, "enum_code": "WORK"}}}}}
		if len(tags) > 0 {
			m["_embedded"] = map[string]any{"tags": []any{map[string]any{"name": tags[0]}}}
		}
		return "POST /api/v4/contacts " + mustJSON([]any{m})
	}
	lead := func(name string, contactID, resp int64) string {
		return "POST /api/v4/leads " + mustJSON([]any{map[string]any{"name": name, "pipeline_id": pipeline, "status_id": status,
			"responsible_user_id": resp, "request_id": "0", "_embedded": map[string]any{"contacts": []any{map[string]any{"id": contactID, "is_main": true}}}}})
	}
	manual := amocrmtest.Contact{Name: "Создан вручную", Phones: []string{"8 (916) 222-22-22"}, ResponsibleUserID: op2}

	tests := []struct {
		name  string
		rule  match.Rule
		calls []urlValuesList
		after func(t *testing.T, e *env)
		want  []string
		// wantCalls: where the fake placed each logged call ("contacts 1002").
		wantCalls []string
		// wantContacts: names of the contacts after the scenario.
		wantContacts []string
	}{
		{
			name: "1 inbound, known client, answered: the call is saved to the client's card",
			rule: match.DefaultRule(), calls: list(call{id(1), known, "102"}.inboundAnswered()),
			want: []string{
				popup(known, op1),
				search("9161111111"),
				"POST /api/v4/calls " + callsBody(callJSON("inbound", id(1), known, 83, rec(1), "Разговор состоялся", 4, op1)),
			},
			wantCalls: []string{"contacts 1002 "}, wantContacts: []string{"Иван Петров"},
		},
		{
			name: "2 inbound, unknown, answered: auto-contact with WORK phone, responsible who answered, tag with the dialled number; lead in the pipeline",
			rule: withLeads, calls: list(call{id(2), unknown, "101"}.inboundAnswered()),
			want: []string{
				popup(unknown, op1),
				search("9162222222"),
				contact("Автоконтакт: Входящий", unknown, op1, line),
				lead("Входящий +79162222222", newID, op1),
				"POST /api/v4/leads/notes " + noteBody(newID+1, callJSON("inbound", id(2), unknown, 83, rec(2), "Разговор состоялся", 4, op1)),
			},
			wantCalls: []string{"leads 1004 call_in"}, wantContacts: []string{"Иван Петров", "Автоконтакт: Входящий"},
		},
		{
			name: "3 inbound, unknown, answered, creation off: attached to a contact made by hand within 10 minutes",
			rule: noCreate, calls: list(call{id(3), unknown, "101"}.inboundAnswered()),
			after: func(t *testing.T, e *env) {
				e.clock.Advance(9 * time.Minute)
				e.srv.AddContact(manual)
				require.NoError(t, e.engine.ClientCreated(t.Context(), acct, unknown))
			},
			want: []string{
				popup(unknown, op1),
				search("9162222222"),
				search("9162222222"),
				"POST /api/v4/calls " + callsBody(callJSON("inbound", id(3), unknown, 83, rec(3), "Разговор состоялся", 4, op1)),
			},
			wantCalls: []string{"contacts 1003 "}, wantContacts: []string{"Иван Петров", "Создан вручную"},
		},
		{
			name: "4 inbound, known client, missed: saved to the client's card for the client's responsible, who is notified",
			rule: match.DefaultRule(), calls: list(call{id(4), known, "101"}.inboundMissed()),
			want: []string{
				popup(known, op1),
				search("9161111111"),
				"POST /api/v4/calls " + callsBody(callJSON("inbound", id(4), known, 10, "", "Пропущенный звонок", 6, op2)),
				popup(known, op2),
			},
			wantCalls: []string{"contacts 1002 "}, wantContacts: []string{"Иван Петров"},
		},
		{
			name: "5 inbound, unknown, missed: auto-contact for the missed-calls manager, the call saved to it",
			rule: withManager, calls: list(call{id(5), unknown, "101"}.inboundMissed()),
			want: []string{
				popup(unknown, op1),
				search("9162222222"),
				contact("Автоконтакт: Входящий-пропущенный", unknown, missed, line),
				"POST /api/v4/calls " + callsBody(callJSON("inbound", id(5), unknown, 10, "", "Пропущенный звонок", 6, missed)),
				popup(unknown, missed),
			},
			wantCalls: []string{"contacts 1003 "}, wantContacts: []string{"Иван Петров", "Автоконтакт: Входящий-пропущенный"},
		},
		{
			name: "6 outbound, known client, answered",
			rule: match.DefaultRule(), calls: list(call{id(6), known, "101"}.outbound("ANSWER")),
			want: []string{
				popup(known, op1),
				search("9161111111"),
				"POST /api/v4/calls " + callsBody(callJSON("outbound", id(6), known, 83, rec(6), "Разговор состоялся", 4, op1)),
			},
			wantCalls: []string{"contacts 1002 "}, wantContacts: []string{"Иван Петров"},
		},
		{
			name: "7 outbound, unknown, answered: auto-contact for the caller, lead in the pipeline",
			rule: withLeads, calls: list(call{id(7), unknown, "201"}.outbound("ANSWER")),
			want: []string{
				popup(unknown, op2),
				search("9162222222"),
				contact("Автоконтакт: Исходящий", unknown, op2),
				lead("Исходящий +79162222222", newID, op2),
				"POST /api/v4/leads/notes " + noteBody(newID+1, callJSON("outbound", id(7), unknown, 83, rec(7), "Разговор состоялся", 4, op2)),
			},
			wantCalls: []string{"leads 1004 call_out"}, wantContacts: []string{"Иван Петров", "Автоконтакт: Исходящий"},
		},
		{
			name: "8 outbound, unknown, answered, creation off: a contact made after 10 minutes gets nothing",
			rule: noCreate, calls: list(call{id(8), unknown, "201"}.outbound("ANSWER")),
			after: func(t *testing.T, e *env) {
				e.clock.Advance(10*time.Minute + time.Second)
				e.srv.AddContact(manual)
				require.NoError(t, e.engine.ClientCreated(t.Context(), acct, unknown))
			},
			// The second search is the engine's look when the window
			// closes; the contact made later is not found by it.
			want:         []string{popup(unknown, op2), search("9162222222"), search("9162222222")},
			wantContacts: []string{"Иван Петров", "Создан вручную"},
		},
		{
			name: "9 outbound, known client, not answered (busy)",
			rule: match.DefaultRule(), calls: list(call{id(9), known, "101"}.outbound("BUSY")),
			want: []string{
				popup(known, op1),
				search("9161111111"),
				"POST /api/v4/calls " + callsBody(callJSON("outbound", id(9), known, 10, "", "Номер занят", 7, op1)),
			},
			wantCalls: []string{"contacts 1002 "}, wantContacts: []string{"Иван Петров"},
		},
		{
			name: "10 outbound, unknown, not answered: auto-contact for the caller, the call saved to it",
			rule: match.DefaultRule(), calls: list(call{id(10), unknown, "201"}.outbound("NOANSWER")),
			want: []string{
				popup(unknown, op2),
				search("9162222222"),
				contact("Автоконтакт: Исходящий", unknown, op2),
				"POST /api/v4/calls " + callsBody(callJSON("outbound", id(10), unknown, 10, "", "Не дозвонился", 6, op2)),
			},
			wantCalls: []string{"contacts 1003 "}, wantContacts: []string{"Иван Петров", "Автоконтакт: Исходящий"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{rule: tt.rule})
			require.EqualValues(t, knownID, e.srv.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+7 (916) 111-11-11"}, ResponsibleUserID: op2}))
			for _, c := range tt.calls {
				e.send(c...)
			}
			if tt.after != nil {
				tt.after(t, e)
			}
			if diff := cmp.Diff(tt.want, requests(e.srv)); diff != "" {
				t.Errorf("amoCRM requests (-want +got):\n%s", diff)
			}
			var calls, contacts []string
			for _, c := range e.srv.Calls() {
				calls = append(calls, c.Entity+" "+itoa(c.EntityID)+" "+c.NoteType)
			}
			for _, c := range e.srv.Contacts() {
				contacts = append(contacts, c.Name)
			}
			require.Equal(t, tt.wantCalls, calls, "where the calls went")
			require.Equal(t, tt.wantContacts, contacts)
		})
	}
}
