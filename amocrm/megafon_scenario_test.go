package amocrm_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/webhook"
)

// TestSalebotMegafonNotificationKinds plays seed 001's "Виды уведомлений"
// ("после звонка у клиента создаются переменные с информацией о звонке")
// with amoCRM as the CRM: MegaFon webhooks → megafon handler →
// match.Engine (Rule.Dialog) over amocrm.Store → the fake amoCRM. After a
// call the amoCRM contact carries the five variables in its custom fields
// — megafon_call_direction (in/out), megafon_call_ext, megafon_call_id,
// megafon_call_user, megafon_record_link — and the dialog lines as notes;
// the next call overwrites them, and a call without a recording clears the
// link.
func TestSalebotMegafonNotificationKinds(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	client := newTokenClient(t, srv)
	vars := []string{"megafon_call_direction", "megafon_call_ext", "megafon_call_id", "megafon_call_user", "megafon_record_link"}
	for _, v := range vars {
		typ := "text"
		if v == "megafon_record_link" {
			typ = "url"
		}
		srv.AddContactField(amocrmtest.Field{Name: v, Type: typ})
	}
	contactID := srv.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+7 (916) 111-11-11"}, ResponsibleUserID: op2})

	clock := matchtest.NewClock(callStart.Truncate(time.Second))
	store, err := amocrm.NewStore(client, amocrm.WithExtensions(extensions), amocrm.WithClock(clock.Now))
	require.NoError(t, err)
	rule := match.DefaultRule()
	rule.Dialog = true
	engine, err := match.NewEngine(store, match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}), match.WithClock(clock))
	require.NoError(t, err)
	t.Cleanup(func() { _ = engine.Close(context.Background()) })
	h, err := megafon.NewHandler(engine, webhook.WithToken(token), webhook.WithClock(clock.Now))
	require.NoError(t, err)
	send := func(reqs ...url.Values) {
		t.Helper()
		for _, f := range reqs {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, megafontest.NewRequest("/megafon", token, f))
			require.Equal(t, http.StatusOK, w.Code, "%s: %s", f.Get("cmd"), w.Body.String())
		}
		clock.Advance(match.DefaultSettle + match.DefaultGracePeriod)
	}
	fields := func() map[string]string {
		for _, c := range srv.Contacts() {
			if c.ID == contactID {
				return c.Fields
			}
		}
		return nil
	}

	// An inbound call, answered by extension 101 (user op1), recorded.
	in := megafontest.Call{ID: "mf-in-1", Direction: "in", Phone: "79161111111", Diversion: line, User: "op1", Ext: "101"}
	send(megafontest.Event("INCOMING", in), megafontest.Event("ACCEPTED", in), megafontest.Event("COMPLETED", in),
		megafontest.History(in, megafontest.Outcome{Status: "Success", Start: callStart, Duration: 95, Link: "https://vats.example/rec/mf-in-1.mp3"}))
	require.Equal(t, map[string]string{
		"megafon_call_direction": "in",
		"megafon_call_ext":       "101",
		"megafon_call_id":        "mf-in-1",
		"megafon_call_user":      itoa(op1),
		"megafon_record_link":    "https://vats.example/rec/mf-in-1.mp3",
	}, fields())
	var notes []string
	for _, n := range srv.TextNotes() {
		require.Equal(t, contactID, n.EntityID)
		notes = append(notes, n.Text)
	}
	require.Equal(t, []string{"megafon_call_event ACCEPTED", "megafon_call_event COMPLETED", "megafon_call_status Success"}, notes)

	// An outbound call by extension 201 (op2) the client did not take: no
	// recording, so the link is cleared.
	out := megafontest.Call{ID: "mf-out-2", Direction: "out", Phone: "79161111111", User: "op2", Ext: "201"}
	send(megafontest.Event("OUTGOING", out), megafontest.History(out, megafontest.Outcome{Status: "Busy", Start: callStart.Add(5 * time.Minute), Duration: 9}))
	require.Equal(t, map[string]string{
		"megafon_call_direction": "out",
		"megafon_call_ext":       "201",
		"megafon_call_id":        "mf-out-2",
		"megafon_call_user":      itoa(op2),
	}, fields())
	require.Equal(t, 2, srv.Count(http.MethodPatch, "/api/v4/contacts"), "one PATCH per call")
	require.Equal(t, 1, srv.Count(http.MethodGet, "/api/v4/contacts/custom_fields"), "the fields are listed once")
}
