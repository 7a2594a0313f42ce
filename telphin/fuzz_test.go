package telphin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/telphin"
)

// FuzzTelphinWebhook feeds arbitrary bodies and query strings to the
// handler: it must never panic and answer only 2xx or 4xx.
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

	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	lookup := callevent.ContactLookupFunc(func(context.Context, string, string) (callevent.Contact, bool, error) {
		return callevent.Contact{ResponsibleExtension: "101"}, true, nil
	})
	h, err := telphin.NewHandler(sink, telphin.WithToken(hookToken), telphin.WithContactLookup(lookup))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload string, get bool) {
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
	})
}
