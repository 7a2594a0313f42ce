package amocrm_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/match"
)

// TestTelphinGuideScenarios plays the ten scenarios of the Telphin↔amoCRM
// guide (seed 002) end to end: Telphin webhooks → telphin handler →
// match.Engine(amocrm.Store, which shows the cards) → the fake amoCRM,
// and checks the exact amoCRM requests and the resulting contacts and
// calls. An unknown number is searched among contacts, then companies.
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
				search("9161111111"),
				popup(known, op1), // ringing
				"POST /api/v4/calls " + callsBody(callJSON("inbound", id(1), known, 83, rec(1), "Разговор состоялся", 4, op1)),
			},
			wantCalls: []string{"contacts 1002 "}, wantContacts: []string{"Иван Петров"},
		},
		{
			name: "2 inbound, unknown, answered: auto-contact with WORK phone, responsible who answered, tag with the dialled number; lead in the pipeline",
			rule: withLeads, calls: list(call{id(2), unknown, "101"}.inboundAnswered()),
			want: []string{
				search("9162222222"),
				searchCompanies("9162222222"),
				popup(unknown, op1), // ringing
				contact("Автоконтакт: Входящий", unknown, op1, line),
				lead("Входящий +79162222222", newID, op1),
				popup(unknown, op1), // answered: the card of the new contact
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
				search("9162222222"),
				searchCompanies("9162222222"),
				popup(unknown, op1), // ringing
				popup(unknown, op1), // answered: the offer to create
				search("9162222222"),
				"POST /api/v4/calls " + callsBody(callJSON("inbound", id(3), unknown, 83, rec(3), "Разговор состоялся", 4, op1)),
			},
			wantCalls: []string{"contacts 1003 "}, wantContacts: []string{"Иван Петров", "Создан вручную"},
		},
		{
			name: "4 inbound, known client, missed: saved to the client's card for the client's responsible, who is notified",
			rule: match.DefaultRule(), calls: list(call{id(4), known, "101"}.inboundMissed()),
			want: []string{
				search("9161111111"),
				popup(known, op1), // ringing
				"POST /api/v4/calls " + callsBody(callJSON("inbound", id(4), known, 10, "", "Пропущенный звонок", 6, op2)),
				popup(known, op2),
			},
			wantCalls: []string{"contacts 1002 "}, wantContacts: []string{"Иван Петров"},
		},
		{
			name: "5 inbound, unknown, missed: auto-contact for the missed-calls manager, the call saved to it",
			rule: withManager, calls: list(call{id(5), unknown, "101"}.inboundMissed()),
			want: []string{
				search("9162222222"),
				searchCompanies("9162222222"),
				popup(unknown, op1), // ringing
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
				search("9161111111"),
				popup(known, op1), // dialing
				"POST /api/v4/calls " + callsBody(callJSON("outbound", id(6), known, 83, rec(6), "Разговор состоялся", 4, op1)),
			},
			wantCalls: []string{"contacts 1002 "}, wantContacts: []string{"Иван Петров"},
		},
		{
			name: "7 outbound, unknown, answered: auto-contact for the caller, lead in the pipeline",
			rule: withLeads, calls: list(call{id(7), unknown, "201"}.outbound("ANSWER")),
			want: []string{
				search("9162222222"),
				searchCompanies("9162222222"),
				contact("Автоконтакт: Исходящий", unknown, op2), // on dialing
				popup(unknown, op2), // dialing: the card of the new contact
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
			// The second search (contacts, then companies) is the
			// engine's look when the window closes; the contact made
			// later is not found by it.
			want: []string{search("9162222222"), searchCompanies("9162222222"), popup(unknown, op2),
				search("9162222222"), searchCompanies("9162222222")},
			wantContacts: []string{"Иван Петров", "Создан вручную"},
		},
		{
			name: "9 outbound, known client, not answered (busy)",
			rule: match.DefaultRule(), calls: list(call{id(9), known, "101"}.outbound("BUSY")),
			want: []string{
				search("9161111111"),
				popup(known, op1), // dialing
				"POST /api/v4/calls " + callsBody(callJSON("outbound", id(9), known, 10, "", "Номер занят", 7, op1)),
			},
			wantCalls: []string{"contacts 1002 "}, wantContacts: []string{"Иван Петров"},
		},
		{
			name: "10 outbound, unknown, not answered: auto-contact for the caller, the call saved to it",
			rule: match.DefaultRule(), calls: list(call{id(10), unknown, "201"}.outbound("NOANSWER")),
			want: []string{
				search("9162222222"),
				searchCompanies("9162222222"),
				contact("Автоконтакт: Исходящий", unknown, op2), // on dialing
				popup(unknown, op2), // dialing: the card of the new contact
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

// TestSeed002CompanyNumber plays the guide's scenarios for a number that
// belongs to an amoCRM company, not a contact ("the widget shows the
// contact, the company and the open leads"; calls are saved "to the
// contact or company"): the company is the client. No contact is created
// for its number even with "create a contact" on, the call is saved to
// the company, a lead the rule creates is linked to the company, and the
// company's responsible gets a missed call. The company has the id of an
// existing contact (amoCRM numbers them separately): nothing goes to that
// contact.
func TestSeed002CompanyNumber(t *testing.T) {
	t.Parallel()
	const (
		company   = "+79163333333"
		companyID = 1002 // also the id of the contact Иван Петров
	)
	withLeads := match.DefaultRule()
	withLeads.Leads.InboundAnswered = match.LeadCase{Create: true, EvenIfClientExists: true, Pipeline: "7249526", Status: "60456942"}
	id := func(n int) string {
		return "5c0000000000000000000000000c00" + string(rune('0'+n/10)) + string(rune('0'+n%10))
	}
	rec := func(n int) string { return "https://pbx.example.com/rec/" + id(n) + ".mp3" }

	tests := []struct {
		name  string
		rule  match.Rule
		calls []urlValuesList
		want  []string
		// wantCalls: where the fake placed each logged call.
		wantCalls []string
		// wantLead: the companies and contacts of the lead created.
		wantLead *amocrmtest.Lead
	}{
		{
			name: "inbound, answered, contact and lead creation on: no contact, the lead is the company's, the call on it",
			rule: withLeads, calls: list(call{id(1), company, "101"}.inboundAnswered()),
			want: []string{
				search("9163333333"),
				searchCompanies("9163333333"),
				popup(company, op1), // ringing: amoCRM shows the company
				"POST /api/v4/leads " + mustJSON([]any{map[string]any{"name": "Входящий +79163333333", "pipeline_id": amocrmtest.PipelineID,
					"status_id": amocrmtest.StatusFirst, "responsible_user_id": op1, "request_id": "0",
					"_embedded": map[string]any{"companies": []any{map[string]any{"id": companyID}}}}}),
				"POST /api/v4/leads/notes " + noteBody(1003, callJSON("inbound", id(1), company, 83, rec(1), "Разговор состоялся", 4, op1)),
			},
			wantCalls: []string{"leads 1003 call_in"},
			wantLead:  &amocrmtest.Lead{CompanyIDs: []int64{companyID}},
		},
		{
			name: "inbound, missed: saved to the company's card for its responsible, who is notified",
			rule: match.DefaultRule(), calls: list(call{id(2), company, "101"}.inboundMissed()),
			want: []string{
				search("9163333333"),
				searchCompanies("9163333333"),
				popup(company, op1), // ringing
				"POST /api/v4/calls " + callsBody(callJSON("inbound", id(2), company, 10, "", "Пропущенный звонок", 6, op2)),
				popup(company, op2), // the missed call, to the company's responsible
			},
			wantCalls: []string{"companies 1002 "},
		},
		{
			name: "outbound, creating a contact on dialing: no contact, the call on the company",
			rule: match.DefaultRule(), calls: list(call{id(3), company, "201"}.outbound("ANSWER")),
			want: []string{
				search("9163333333"),
				searchCompanies("9163333333"),
				popup(company, op2), // dialing
				"POST /api/v4/calls " + callsBody(callJSON("outbound", id(3), company, 83, rec(3), "Разговор состоялся", 4, op2)),
			},
			wantCalls: []string{"companies 1002 "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{rule: tt.rule})
			require.EqualValues(t, companyID, e.srv.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+7 (916) 111-11-11"}, ResponsibleUserID: op1}))
			e.srv.AddCompany(amocrmtest.Company{ID: companyID, Name: "ООО Ромашка", Phones: []string{"+7 (916) 333-33-33"}, ResponsibleUserID: op2})
			for _, c := range tt.calls {
				e.send(c...)
			}
			if diff := cmp.Diff(tt.want, requests(e.srv)); diff != "" {
				t.Errorf("amoCRM requests (-want +got):\n%s", diff)
			}
			var calls []string
			for _, c := range e.srv.Calls() {
				calls = append(calls, c.Entity+" "+itoa(c.EntityID)+" "+c.NoteType)
			}
			require.Equal(t, tt.wantCalls, calls, "where the calls went")
			require.Len(t, e.srv.Contacts(), 1, "no contact is created for the company's number")
			require.Empty(t, e.srv.Contacts()[0].LeadIDs, "nothing goes to the contact with the company's id")
			leads := e.srv.Leads()
			if tt.wantLead == nil {
				require.Empty(t, leads)
				return
			}
			require.Len(t, leads, 1)
			require.Equal(t, tt.wantLead.CompanyIDs, leads[0].CompanyIDs)
			require.Empty(t, leads[0].ContactIDs)
			require.Equal(t, []int64{leads[0].ID}, e.srv.Companies()[0].LeadIDs, "the company has the lead")
		})
	}
}

// TestSeed002CompanyCreatedAfterMissedCall: the guide's scenarios 3 and 5
// with creation off, where the manager makes a company (not a contact)
// for the unknown number: "the call is attached to the contact or company
// created … no later than 10 minutes after the call". The engine looks
// the number up again when the window closes, and the Store's search
// finds the company then (its "not found" answer is cached for seconds,
// as for contacts); a company made after the window gets nothing.
func TestSeed002CompanyCreatedAfterMissedCall(t *testing.T) {
	t.Parallel()
	const unknown = "+79164444444"
	noCreate := match.DefaultRule()
	noCreate.Create = match.CreateRule{}
	noCreate.Missed.Manager = itoa(missed)
	tests := []struct {
		name      string
		after     time.Duration // when the company is made, after the call settled
		wantCalls []string
	}{
		{"made within the window: the call is attached to it", 9 * time.Minute, []string{"companies 1002 "}},
		{"made after the window: nothing is attached", 10*time.Minute + time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{rule: noCreate})
			e.send(call{"5c0000000000000000000000000c0101", unknown, "101"}.inboundMissed()...)
			require.Empty(t, e.srv.Calls(), "nothing to attach the call to yet")
			require.Equal(t, 1, e.srv.Count("GET", "/api/v4/companies"), "the number was looked up among companies")

			e.clock.Advance(tt.after)
			// The manager makes the company from the card, through the API.
			made, err := e.client.CreateCompanies(t.Context(), []amocrm.Company{{Name: "ООО Новая", ResponsibleUserID: op2,
				CustomFields: []amocrm.CustomField{amocrm.PhoneField("79164444444")}}})
			require.NoError(t, err)
			require.EqualValues(t, 1002, made[0].ID)
			e.clock.Advance(2 * time.Minute) // the window closes

			var calls []string
			for _, c := range e.srv.Calls() {
				calls = append(calls, c.Entity+" "+itoa(c.EntityID)+" "+c.NoteType)
			}
			require.Equal(t, tt.wantCalls, calls)
			require.Empty(t, e.srv.Contacts(), "no contact")
			if tt.wantCalls != nil {
				item := e.srv.Calls()[0].Item
				require.Equal(t, amocrm.CallUniq("telphin", acct, "5c0000000000000000000000000c0101"), item["uniq"])
				require.EqualValues(t, 6, item["call_status"], "a missed call")
			}
		})
	}
}
