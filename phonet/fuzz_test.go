package phonet_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
)

// FuzzPhonetWebhook feeds arbitrary bodies to the handler: it must never
// panic and only answer 2xx or 4xx; every event it emits is valid.
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
	c := phonettest.InboundCall()
	for _, b := range []phonettest.Body{c.Dial(), c.Hangup().InSeconds(), c.Record(), c.Lookup(), c.Dial().NullLeg()} {
		f.Add(b.JSON(), false)
		f.Add([]byte(b.Form().Encode()), true)
	}
	f.Add([]byte("leg[ext]=1&otherLegs[0][num]=%2B380&event=call.dial&uuid=1&dialAt=1"), true)

	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		if err := e.Validate(); err != nil {
			panic(err)
		}
		return nil
	})
	lookup := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		return callevent.Contact{Name: "x"}, true, nil
	})
	h, err := phonet.NewHandler(sink, phonet.WithoutAuth(), phonet.WithContactLookup(lookup),
		phonet.WithCardURL("https://crm.example.com/c/{id}", "https://crm.example.com/new?p={phone}"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, form bool) {
		r := httptest.NewRequest(http.MethodPost, "/phonet", bytes.NewReader(body))
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
	})
}
