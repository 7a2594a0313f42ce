package telphin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/eventtest"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/webhook"
)

// FuzzTelphinWebhook feeds arbitrary bodies and query strings to the
// handler: it must never panic, answer only 2xx or 4xx, and every event it
// accepts satisfies the Event invariants (eventtest.Check). The handler is
// built once; its clock sits in September 2017, when the recorded seed
// payloads were sent, so most seeds are accepted and mutated from there.
func FuzzTelphinWebhook(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "webhooks", "*.form"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed payloads: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), false)
		f.Add(string(b), true)
	}
	f.Add("EventType=hangup&CallID=x&EventTime=9223372036854775807&Duration=9223372036854775807", false)
	f.Add("EventType=dial-in&CallID=%00&EventTime=1&CallerIDNum=%2B%2B%2B&CallFlow=IN", true)
	f.Add("EventType=hangup&CallID=x&EventTime=1506578305340989&Duration=9000000000000000", false)
	f.Add("EventType=hangup&CallID=x&EventTime=1506578305340989&Duration=6400005&CallStatus=ANSWER&CallFlow=out&CalledNumber=%2B79523326838", false)
	f.Add("EventType=call_interactive&CallerIDNum=%2B74953730763", false)

	var (
		mu       sync.Mutex
		accepted []callevent.Event
	)
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		mu.Lock()
		defer mu.Unlock()
		accepted = append(accepted, e)
		return nil
	})
	lookup := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		return callevent.Contact{ResponsibleExtension: "101"}, true, nil
	})
	now := time.Date(2017, 9, 28, 6, 0, 0, 0, time.UTC)
	h, err := telphin.NewHandler(sink, webhook.WithToken(hookToken), webhook.WithContactLookup(lookup),
		webhook.WithDedup(nil), webhook.WithClock(func() time.Time { return now }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload string, get bool) {
		mu.Lock()
		accepted = accepted[:0]
		mu.Unlock()
		var req *http.Request
		if get {
			req = httptest.NewRequest(http.MethodGet, "/telphin/app?token="+hookToken, nil)
			req.URL.RawQuery += "&" + payload
		} else {
			req = httptest.NewRequest(http.MethodPost, "/telphin/app?token="+hookToken, strings.NewReader(payload))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code < 200 || w.Code >= 500 || (w.Code >= 300 && w.Code < 400) {
			t.Fatalf("status %d for %q: %s", w.Code, payload, w.Body)
		}
		mu.Lock()
		got := append([]callevent.Event(nil), accepted...)
		mu.Unlock()
		if len(got) > 0 && w.Code != http.StatusOK {
			t.Fatalf("events delivered with status %d", w.Code)
		}
		for _, e := range got {
			eventtest.Check(t, e)
			if len(e.Raw) > 32<<10 {
				t.Fatalf("Raw of %d bytes kept", len(e.Raw))
			}
		}
	})
}
