package megafon_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/webhook"
)

// BenchmarkMegafonHandler measures the whole request path of the §7 G
// INCOMING push and the §7 H history push: body read, token check, parse,
// phone normalisation, validation and delivery (dedup off, so every
// request delivers).
func BenchmarkMegafonHandler(b *testing.B) {
	for _, bm := range []struct{ name, body string }{{"event", sampleIncoming}, {"history", sampleHistory}} {
		b.Run(bm.name, func(b *testing.B) {
			delivered := 0
			sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { delivered++; return nil })
			h, err := megafon.NewHandler(sink, webhook.WithToken(token), webhook.WithClock(clock), webhook.WithDedup(nil))
			if err != nil {
				b.Fatal(err)
			}
			body := strings.NewReader(bm.body)
			r := httptest.NewRequest(http.MethodPost, "/megafon", body)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(bm.body)
				w.Body.Reset()
				h.ServeHTTP(w, r)
			}
			if w.Code != http.StatusOK || delivered == 0 {
				b.Fatalf("status %d, %d delivered", w.Code, delivered)
			}
			b.ReportMetric(float64(delivered)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
