package webhook_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/eventtest"
	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
	"github.com/callbridge/callbridge/webhook"
)

// FuzzHandler feeds arbitrary queries and bodies through the shared
// mechanics: the handler never panics, answers only with the statuses it
// documents, and every event it delivers satisfies the Event invariants
// (eventtest.Check). The handler is built once, outside the fuzz function.
func FuzzHandler(f *testing.F) {
	f.Add("token="+secret, "id=e1&call=c1")
	f.Add("token="+secret, "id=%zz")
	f.Add("token=x", "")
	f.Add("token="+secret, "id=a,b,c&call=1&phone=7916&reply=ok&panic=")
	f.Add("token="+secret, "id=e2&call=c%00&phone=79161234567")
	f.Add("token="+secret, "id=e3&call=c&phone=1234567890123456789")
	var mu sync.Mutex
	var got []callevent.Event
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
		return nil
	})
	secrets, _ := webhook.NewSecrets(secret)
	h, err := webhook.New(sink, toyDecoder,
		webhook.WithAuthenticator(webhook.TokenAuth(secrets, webhook.QueryToken("token"))),
		webhook.WithMaxBodyBytes(4096), webhook.WithDedup(nil))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query, body string) {
		if strings.Contains(body, "panic=") || strings.Contains(query, "panic=") {
			return // the toy decoder panics on purpose; covered by unit tests
		}
		mu.Lock()
		got = got[:0]
		mu.Unlock()
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
		mu.Lock()
		delivered := slices.Clone(got)
		mu.Unlock()
		if w.Code != 200 && len(delivered) > 0 {
			t.Fatalf("status %d but %d events delivered", w.Code, len(delivered))
		}
		for _, e := range delivered {
			eventtest.Check(t, e)
		}
	})
}

// BenchmarkHandler measures the shared mechanics per request (one event,
// dedup on, no-op sink).
func BenchmarkHandler(b *testing.B) { benchHandler(b) }

// benchHandler is BenchmarkHandler with more options.
func benchHandler(b *testing.B, opts ...webhook.Option) {
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	secrets, _ := webhook.NewSecrets(secret)
	h, _ := webhook.New(sink, toyDecoder, append([]webhook.Option{webhook.WithAuthenticator(webhook.TokenAuth(secrets, webhook.QueryToken("token")))}, opts...)...)
	body := []byte("id=e1&call=c1&phone=79161234567")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	cpu := telemetrytest.CPUTime()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/hook?token="+secret, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.ServeHTTP(w, r)
	}
	telemetrytest.ReportCPU(b, cpu)
}
