package phonet_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/eventtest"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/webhook"
)

// fuzzEventsKey carries, in a request's context, where the fuzz sink puts
// the events it accepted.
type fuzzEventsKey struct{}

type fuzzEvents struct {
	mu     sync.Mutex
	events []callevent.Event
}

// FuzzPhonetWebhook feeds arbitrary bodies to the handler (built once): it
// must never panic and only answer 2xx or 4xx, and every event it accepts
// satisfies the Event invariants (eventtest.Check).
func FuzzPhonetWebhook(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	c := inboundCall()
	for _, b := range []phonettest.Body{c.Dial(), c.Hangup().InSeconds(), c.Record(), c.Lookup(), c.Dial().NullLeg(),
		c.Hangup().Without("hangupAt").Without("serverTime")} {
		f.Add(b.JSON(), false)
		f.Add([]byte(b.Form().Encode()), true)
	}
	f.Add([]byte("leg[ext]=1&otherLegs[0][num]=%2B380&event=call.dial&uuid=1&dialAt=1754641204"), true)

	sink := callevent.SinkFunc(func(ctx context.Context, e callevent.Event) error {
		if got, ok := ctx.Value(fuzzEventsKey{}).(*fuzzEvents); ok {
			got.mu.Lock()
			got.events = append(got.events, e)
			got.mu.Unlock()
		}
		return nil
	})
	lookup := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		return callevent.Contact{Name: "x"}, true, nil
	})
	// The seeds are recorded on sampleDay: the clock makes them acceptable.
	h, err := phonet.NewHandler(sink, webhook.WithoutAuth(), webhook.WithContactLookup(lookup), webhook.WithClock(sampleClock),
		webhook.WithCardURL("https://crm.example.com/c/{id}", "https://crm.example.com/new?p={phone}"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, form bool) {
		got := &fuzzEvents{}
		r := httptest.NewRequestWithContext(context.WithValue(context.Background(), fuzzEventsKey{}, got),
			http.MethodPost, "/phonet", bytes.NewReader(body))
		if form {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 || w.Code < 200 || (w.Code >= 300 && w.Code < 400) {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		got.mu.Lock()
		defer got.mu.Unlock()
		if w.Code >= 400 && len(got.events) > 0 {
			t.Fatalf("status %d, yet %d events delivered", w.Code, len(got.events))
		}
		for _, e := range got.events {
			eventtest.Check(t, e)
		}
	})
}
