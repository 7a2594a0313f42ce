package phonet_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/webhook"
)

// BenchmarkPhonetHandler measures a call.dial delivery through the whole
// handler (token check, decoding, phone normalisation, event ID, dedup
// claim, sink).
func BenchmarkPhonetHandler(b *testing.B) {
	// Distinct calls, more than the dedup store keeps, so every request
	// is delivered.
	bodies := make([][]byte, 2048)
	for i := range bodies {
		c := phonettest.InboundCall()
		c.UUID = fmt.Sprintf("%032x", i)
		bodies[i] = c.Dial().JSON()
	}
	delivered := 0
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { delivered++; return nil })
	h, err := phonet.NewHandler(sink, webhook.WithToken(token),
		webhook.WithDedup(webhook.NewMemoryDedup(0, 1024)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/phonet?token="+token, bytes.NewReader(bodies[n%len(bodies)]))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
		n++
	}
	if delivered != n {
		b.Fatalf("delivered %d of %d", delivered, n)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
