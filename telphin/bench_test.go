package telphin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/webhook"
)

// BenchmarkTelphinHandler measures a hangup POST through the whole handler
// (token check, form decoding, phone normalisation, event validation) to a
// no-op sink, without dedup.
func BenchmarkTelphinHandler(b *testing.B) {
	body, err := readFile("outbound_callback_hangup")
	if err != nil {
		b.Fatal(err)
	}
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	now := time.UnixMicro(1506578305340989).Add(time.Minute) // the recorded payload's time
	h, err := telphin.NewHandler(sink, webhook.WithToken(hookToken),
		webhook.WithDedup(nil), webhook.WithClock(func() time.Time { return now }))
	if err != nil {
		b.Fatal(err)
	}
	target := hookURL + "?token=" + hookToken
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
