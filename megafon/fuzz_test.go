package megafon_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/megafon"
)

// FuzzMegafonWebhook feeds arbitrary bodies, form or JSON, through the
// handler: it never panics and answers only 2xx or 4xx, and every event it
// delivers is valid.
func FuzzMegafonWebhook(f *testing.F) {
	for _, s := range []string{sampleIncoming, incoming("TRANSFERRED") + "&second_callid=x", sampleHistory,
		sampleSwitchMissed, sampleBusy, sampleRating,
		"cmd=contact&phone=79161234567&callid=c1&crm_token=" + token,
		`{"cmd":"history","callid":"c1","duration":1e99,"start":"20230101T120000Z","crm_token":"` + token + `"}`,
		"cmd=history&callid=c1&duration=-5&wait=99999999999999&crm_token=" + token,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error { return e.Validate() })
	lookup := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		return callevent.Contact{Name: "n", ResponsibleLogin: "andy"}, true, nil
	})
	h, err := megafon.NewHandler(sink, megafon.WithToken(token), megafon.WithContactLookup(lookup))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string, asJSON bool) {
		r := httptest.NewRequest(http.MethodPost, "/megafon", strings.NewReader(body))
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
	})
}
