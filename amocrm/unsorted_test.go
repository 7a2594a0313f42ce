package amocrm_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// unsortedRule is the setup WithUnsorted goes with: no contact for an
// inbound call from an unknown number (the guide's "create a contact"
// off), contacts for outbound calls as before; missed calls from unknown
// numbers go to the missed-calls manager.
func unsortedRule() match.Rule {
	r := match.DefaultRule()
	r.Create.InboundAnswered, r.Create.InboundMissed = false, false
	r.Missed.Manager = itoa(missed)
	return r
}

// unsortedBody is the POST /api/v4/leads/unsorted/sip body the Store sends
// for a Telphin call of the tests from unknown.
func unsortedBody(id, caller string, duration int, link, contactName string, emp int64) string {
	return "POST /api/v4/leads/unsorted/sip " + mustJSON([]any{map[string]any{
		"source_uid": "callbridge", "source_name": "callbridge", "pipeline_id": amocrmtest.PipelineID, "created_at": startUnix, "request_id": "0",
		"metadata": map[string]any{"uniq": amocrm.CallUniq("telphin", acct, id), "from": caller, "phone": "+" + line, "called_at": startUnix,
			"duration": duration, "link": link, "service_code": "callbridge", "is_call_event_needed": true},
		"_embedded": map[string]any{
			"leads": []any{map[string]any{"name": "Входящий " + caller, "responsible_user_id": emp}},
			"contacts": []any{map[string]any{"name": contactName, "responsible_user_id": emp,
				"custom_fields_values": []any{map[string]any{"field_code": "PHONE", "values": []any{map[string]any{"value": caller, "enum_code": "WORK"}}}}}},
		},
	}})
}

// lookupUnsorted is the Store's look for a call's entry before adding it.
const lookupUnsorted = "GET /api/v4/leads/unsorted?filter%5Bcategory%5D%5B%5D=sip&filter%5Bpipeline_id%5D=7249526&limit=250&order%5Bcreated_at%5D=desc&page=1"

// TestUnsortedForUnknownCallers: with WithUnsorted an inbound call from a
// number no contact has becomes one entry of "Неразобранное" (caller,
// number dialled, uniq, duration, recording, a lead and a contact to
// accept) and no contact is created; a known caller's call and an
// outbound call to an unknown number are handled as before.
func TestUnsortedForUnknownCallers(t *testing.T) {
	t.Parallel()
	const (
		known   = "+79161111111"
		unknown = "+79162222222"
	)
	id := func(n int) string { return "5c00000000000000000000000000u0" + itoa(int64(n)) }
	tests := []struct {
		name  string
		calls []urlValuesList
		want  []string
		// wantEntries: the unsorted entries' uniq; wantCalls: where the
		// logged calls went; wantContacts: the sorted contacts.
		wantEntries  []string
		wantCalls    []string
		wantContacts []string
	}{
		{
			name:  "unknown caller, answered: one entry with the recording, no contact",
			calls: list(call{id(1), unknown, "101"}.inboundAnswered()),
			want: []string{search("9162222222"), searchCompanies("9162222222"), popup(unknown, op1), popup(unknown, op1), lookupUnsorted,
				unsortedBody(id(1), unknown, 83, "https://pbx.example.com/rec/"+id(1)+".mp3", "Автоконтакт: Входящий", op1)},
			wantEntries: []string{amocrm.CallUniq("telphin", acct, id(1))}, wantContacts: []string{"Иван Петров"},
		},
		{
			name:  "unknown caller, missed: one entry for the missed-calls manager, the wait as duration",
			calls: list(call{id(2), unknown, "101"}.inboundMissed()),
			want: []string{search("9162222222"), searchCompanies("9162222222"), popup(unknown, op1), lookupUnsorted,
				unsortedBody(id(2), unknown, 10, "", "Автоконтакт: Входящий-пропущенный", missed), popup(unknown, missed)},
			wantEntries: []string{amocrm.CallUniq("telphin", acct, id(2))}, wantContacts: []string{"Иван Петров"},
		},
		{
			name:  "known caller: no entry, the call is attached to the contact as before",
			calls: list(call{id(3), known, "102"}.inboundAnswered()),
			want: []string{search("9161111111"), popup(known, op1),
				"POST /api/v4/calls " + callsBody(callJSON("inbound", id(3), known, 83, "https://pbx.example.com/rec/"+id(3)+".mp3", "Разговор состоялся", 4, op1))},
			wantCalls: []string{"contacts 1002"}, wantContacts: []string{"Иван Петров"},
		},
		{
			name:  "outbound call to an unknown number: the auto-contact as before",
			calls: list(call{id(4), unknown, "201"}.outbound("NOANSWER")),
			want: []string{search("9162222222"), searchCompanies("9162222222"),
				"POST /api/v4/contacts " + mustJSON([]any{map[string]any{"name": "Автоконтакт: Исходящий", "responsible_user_id": op2, "request_id": "0",
					"custom_fields_values": []any{map[string]any{"field_code": "PHONE", "values": []any{map[string]any{"value": unknown, "enum_code": "WORK"}}}}}}),
				popup(unknown, op2),
				"POST /api/v4/calls " + callsBody(callJSON("outbound", id(4), unknown, 10, "", "Не дозвонился", 6, op2))},
			wantCalls: []string{"contacts 1003"}, wantContacts: []string{"Иван Петров", "Автоконтакт: Исходящий"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{rule: unsortedRule(), storeOpt: []amocrm.StoreOption{amocrm.WithUnsorted(amocrmtest.PipelineID)}})
			require.EqualValues(t, 1002, e.srv.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+7 (916) 111-11-11"}, ResponsibleUserID: op2}))
			for _, c := range tt.calls {
				e.send(c...)
			}
			if diff := cmp.Diff(tt.want, requests(e.srv)); diff != "" {
				t.Errorf("amoCRM requests (-want +got):\n%s", diff)
			}
			var entries, calls, contacts []string
			for _, u := range e.srv.UnsortedEntries() {
				entries = append(entries, u.Item["metadata"].(map[string]any)["uniq"].(string))
			}
			for _, c := range e.srv.Calls() {
				calls = append(calls, c.Entity+" "+itoa(c.EntityID))
			}
			for _, c := range e.srv.Contacts() {
				if !c.Unsorted {
					contacts = append(contacts, c.Name)
				}
			}
			require.Equal(t, tt.wantEntries, entries, "unsorted entries")
			require.Equal(t, tt.wantCalls, calls, "where the calls went")
			require.Equal(t, tt.wantContacts, contacts, "contacts (not counting the entries' own, waiting to be accepted)")
		})
	}
}

// TestUnsortedOncePerCall: a call decided again adds no second entry —
// by the same Store (no request at all) and by a restarted gateway, which
// finds the call's uniq among the waiting entries.
func TestUnsortedOncePerCall(t *testing.T) {
	t.Parallel()
	const unknown = "+79162222222"
	cfg := envConfig{rule: unsortedRule(), storeOpt: []amocrm.StoreOption{amocrm.WithUnsorted(amocrmtest.PipelineID)}}
	e := newEnv(t, cfg)
	c := call{"5c000000000000000000000000000u10", unknown, "101"}
	e.send(c.inboundAnswered()...)
	require.Len(t, e.srv.UnsortedEntries(), 1)
	uid := e.srv.UnsortedEntries()[0].UID

	// The same Store asked again for the call, as after a decision retried.
	before := len(e.srv.APIRequests())
	rec := match.CallRecord{Provider: "telphin", Account: acct, CallID: c.id, Direction: callevent.Inbound, ClientPhone: "79162222222",
		LinePhone: line, StartedAt: callStart, Status: callevent.Success}
	require.NoError(t, e.store.LogCall(t.Context(), rec))
	got, err := e.store.AddUnsortedCall(t.Context(), rec)
	require.NoError(t, err)
	require.Equal(t, uid, got)
	require.Len(t, e.srv.APIRequests(), before, "no request")

	// A restarted gateway (new Store and engine) gets the call again.
	cfg.srv = e.srv
	again := newEnv(t, cfg)
	before = len(e.srv.APIRequests())
	again.send(c.inboundAnswered()...)
	require.Equal(t, []string{search("9162222222"), searchCompanies("9162222222"), popup(unknown, op1), popup(unknown, op1), lookupUnsorted},
		requests(e.srv)[before:], "found, not added")
	require.Len(t, e.srv.UnsortedEntries(), 1)
	got, err = again.store.AddUnsortedCall(t.Context(), rec)
	require.NoError(t, err)
	require.Equal(t, uid, got)

	_, err = again.store.AddUnsortedCall(t.Context(), match.CallRecord{Provider: "telphin", CallID: "x", Direction: callevent.Outbound, ClientPhone: "79162222222"})
	require.Error(t, err, "only inbound calls go to Неразобранное")
}

// TestUnsortedAcceptedIsNotLoggedTwice: once a manager accepts the entry
// (amoCRM logs the call on the new contact, is_call_event_needed), the
// engine's late binding finds the contact and the Store does not log the
// call a second time.
func TestUnsortedAcceptedIsNotLoggedTwice(t *testing.T) {
	t.Parallel()
	const unknown = "+79162222222"
	e := newEnv(t, envConfig{rule: unsortedRule(), storeOpt: []amocrm.StoreOption{amocrm.WithUnsorted(amocrmtest.PipelineID)}})
	e.send(call{"5c000000000000000000000000000u20", unknown, "101"}.inboundAnswered()...)
	entries := e.srv.UnsortedEntries()
	require.Len(t, entries, 1)
	require.True(t, e.srv.AcceptUnsorted(entries[0].UID))
	e.clock.Advance(time.Minute) // past the "not found" cache
	require.NoError(t, e.engine.ClientCreated(t.Context(), acct, unknown))
	require.Equal(t, search("9162222222"), requests(e.srv)[len(requests(e.srv))-1], "the engine found the accepted contact")
	require.Empty(t, e.srv.Calls(), "the call is not logged again")
	left, err := e.client.Unsorted(t.Context(), amocrm.UnsortedQuery{Category: amocrm.UnsortedSIPCategory})
	require.NoError(t, err)
	require.Empty(t, left, "an accepted entry is no longer listed")
}

// TestUnsortedWithCreationOnWarns: WithUnsorted with rules that still
// create contacts for inbound calls creates the contact as asked, and says
// in the log what to change.
func TestUnsortedWithCreationOnWarns(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	e := newEnv(t, envConfig{rule: match.DefaultRule(), storeOpt: []amocrm.StoreOption{amocrm.WithUnsorted(0),
		amocrm.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}})
	e.send(call{"5c000000000000000000000000000u30", "+79162222222", "101"}.inboundAnswered()...)
	require.Empty(t, e.srv.UnsortedEntries())
	require.Len(t, e.srv.Contacts(), 1)
	require.Contains(t, logs.String(), "turn Rule.Create.InboundAnswered and InboundMissed off")
}

// The fake's unsorted SIP endpoint refuses items without the required
// fields as amoCRM does (400, validation-errors naming the path) and lists
// the waiting entries back, filtered and newest first.
func TestUnsortedAPI(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	c := newTokenClient(t, srv)
	ctx := t.Context()
	ok := amocrm.UnsortedSIP{SourceUID: "pbx", SourceName: "PBX", Metadata: amocrm.SIPMetadata{Uniq: "u1", From: "+79160000000",
		Phone: "+74951234567", CalledAt: startUnix, ServiceCode: "pbx"}}
	for path, change := range map[string]func(*amocrm.UnsortedSIP){
		"metadata.uniq":         func(u *amocrm.UnsortedSIP) { u.Metadata.Uniq = "" },
		"metadata.from":         func(u *amocrm.UnsortedSIP) { u.Metadata.From = "" },
		"metadata.phone":        func(u *amocrm.UnsortedSIP) { u.Metadata.Phone = "" },
		"metadata.service_code": func(u *amocrm.UnsortedSIP) { u.Metadata.ServiceCode = "" },
		"metadata.called_at":    func(u *amocrm.UnsortedSIP) { u.Metadata.CalledAt = 0 },
		"metadata.duration":     func(u *amocrm.UnsortedSIP) { u.Metadata.Duration = -1 },
		"pipeline_id":           func(u *amocrm.UnsortedSIP) { u.PipelineID = 1 },
	} {
		u := ok
		change(&u)
		_, err := c.AddUnsortedSIP(ctx, []amocrm.UnsortedSIP{u})
		require.Error(t, err, path)
		v := amocrm.ValidationErrors(err)
		require.Len(t, v, 1, path)
		require.Equal(t, path, v[0].Path)
	}
	require.Empty(t, srv.UnsortedEntries())

	for _, uniq := range []string{"u1", "u2", "u3"} {
		u := ok
		u.Metadata.Uniq = uniq
		u.CreatedAt = startUnix
		_, err := c.AddUnsortedSIP(ctx, []amocrm.UnsortedSIP{u})
		require.NoError(t, err)
	}
	got, err := c.Unsorted(ctx, amocrm.UnsortedQuery{Category: amocrm.UnsortedSIPCategory, PipelineID: amocrmtest.PipelineID, Limit: 2})
	require.NoError(t, err)
	var uniqs []string
	for _, e := range got {
		m, err := e.SIP()
		require.NoError(t, err)
		uniqs = append(uniqs, m.Uniq)
		require.Equal(t, int64(amocrmtest.PipelineID), e.PipelineID)
	}
	require.Equal(t, []string{"u3", "u2"}, uniqs, "newest first, one page")
	got, err = c.Unsorted(ctx, amocrm.UnsortedQuery{UIDs: []string{srv.UnsortedEntries()[0].UID}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	got, err = c.Unsorted(ctx, amocrm.UnsortedQuery{Page: 9})
	require.NoError(t, err)
	require.Empty(t, got, "past the last page: 204")
	require.Equal(t, 0, srv.Count(http.MethodGet, "/api/v4/contacts"))
	_, err = (amocrm.UnsortedEntry{Category: "forms"}).SIP()
	require.Error(t, err)
}
