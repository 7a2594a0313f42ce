package webhook_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

// FuzzHandler feeds arbitrary queries and bodies through the shared
// mechanics: the handler never panics and answers only with the statuses it
// documents.
func FuzzHandler(f *testing.F) {
	f.Add("token="+secret, "id=e1&call=c1")
	f.Add("token="+secret, "id=%zz")
	f.Add("token=x", "")
	f.Add("token="+secret, "id=a,b,c&call=1&phone=7916&reply=ok&panic=")
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	secrets, _ := webhook.NewSecrets(secret)
	h, err := webhook.New(sink, toyDecoder,
		webhook.WithAuthenticator(webhook.TokenAuth(secrets, webhook.QueryToken("token"))),
		webhook.WithMaxBodyBytes(4096))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query, body string) {
		if strings.Contains(body, "panic=") {
			return // the toy decoder panics on purpose; covered by unit tests
		}
		r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader([]byte(body)))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 401, 413:
		default:
			t.Fatalf("status %d for query %q body %q: %s", w.Code, query, body, w.Body)
		}
	})
}

// BenchmarkHandler measures the shared mechanics per request (one event,
// dedup on, no-op sink).
func BenchmarkHandler(b *testing.B) {
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	secrets, _ := webhook.NewSecrets(secret)
	h, _ := webhook.New(sink, toyDecoder, webhook.WithAuthenticator(webhook.TokenAuth(secrets, webhook.QueryToken("token"))))
	body := []byte("id=e1&call=c1&phone=79161234567")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/hook?token="+secret, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.ServeHTTP(w, r)
	}
}
