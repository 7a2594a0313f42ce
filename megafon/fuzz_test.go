package megafon_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/eventtest"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/webhook"
)

// collected is the context key of the slice a fuzz input's events are
// collected in: the handler is built once, each input brings its own.
type collected struct{}

// FuzzMegafonWebhook feeds arbitrary bodies, form or JSON, through the
// handler: it never panics, answers only 2xx or 4xx, never echoes the
// token, and every event it delivers satisfies the Event invariants
// (eventtest.Check: valid, JSON round trip).
func FuzzMegafonWebhook(f *testing.F) {
	for _, s := range []string{sampleIncoming, incoming("TRANSFERRED") + "&second_callid=x", sampleHistory,
		sampleSwitchMissed, sampleBusy, sampleRating,
		"cmd=contact&phone=79161234567&callid=c1&crm_token=" + token,
		`{"cmd":"history","callid":"c1","duration":1e99,"start":"20230101T120000Z","crm_token":"` + token + `"}`,
		"cmd=history&callid=c1&duration=-5&wait=99999999999999&crm_token=" + token,
		"cmd=history&type=in&status=Success&callid=c1&start=99991231T235959Z&duration=127&crm_token=" + token,
		"cmd=history&status=Busy&callid=c1&start=20230101T120000Z&duration=60&wait=5&link=http://x/r.mp3&crm_token=" + token,
		"cmd=event&type=ACCEPTED&phone=79161234567&diversion=74952302706&callid=c1&crm_token=" + token,
		`{"cmd":"event","crm_token":"` + token + `","callid":}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	sink := callevent.SinkFunc(func(ctx context.Context, e callevent.Event) error {
		if got, ok := ctx.Value(collected{}).(*[]callevent.Event); ok {
			*got = append(*got, e)
		}
		return nil
	})
	lookup := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		return callevent.Contact{Name: "n", ResponsibleLogin: "andy"}, true, nil
	})
	// The clock is near the seeds' times, so their events are accepted.
	h, err := megafon.NewHandler(sink, webhook.WithToken(token), webhook.WithContactLookup(lookup), webhook.WithClock(clock))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string, asJSON bool) {
		var events []callevent.Event
		r := httptest.NewRequestWithContext(context.WithValue(t.Context(), collected{}, &events),
			http.MethodPost, "/megafon", strings.NewReader(body))
		if asJSON {
			r.Header.Set("Content-Type", "application/json")
		} else {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code < 200 || w.Code >= 500 || (w.Code >= 300 && w.Code < 400) {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		if strings.Contains(w.Body.String(), token) {
			t.Fatalf("reply leaks the token: %s", w.Body)
		}
		if len(events) > 0 && w.Code >= 300 {
			t.Fatalf("status %d but %d events delivered", w.Code, len(events))
		}
		for _, e := range events {
			eventtest.Check(t, e)
		}
	})
}
