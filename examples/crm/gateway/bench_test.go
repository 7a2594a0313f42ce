package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbridge/callbridge/examples/crm/gateway"
)

// BenchmarkGatewayHandler: Phonet call.dial notifications of distinct
// calls through the whole webhook path (routing, token, decoding, dedup,
// queue or inbox) into the CRM engine, without the network, in memory
// and on SQLite; events/s counts events delivered to the CRM.
func BenchmarkGatewayHandler(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchGatewayHandler(b, "") })
	b.Run("sqlite", func(b *testing.B) { benchGatewayHandler(b, filepath.Join(b.TempDir(), "crm.db")) })
}

// benchGatewayHandler is BenchmarkGatewayHandler on db (see Config.DB);
// with a database, every event is committed to the inbox before its 2xx
// and delivered from there.
func benchGatewayHandler(b *testing.B, db string) {
	g, err := gateway.New(gateway.Config{HookToken: "t", MegafonToken: "m", DefaultClients: defaultClients(b), DB: db}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	h := g.Handler()
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := phonetNow()
			c.UUID = "bench" + strconv.FormatInt(seq.Add(1), 10)
			r := httptest.NewRequest(http.MethodPost, "/hooks/phonet/call?token=t", bytes.NewReader(c.Dial().JSON()))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusAccepted && w.Code != http.StatusOK {
				b.Errorf("status %d: %s", w.Code, w.Body)
			}
		}
	})
	if err := g.Close(context.Background()); err != nil { // waits for the queue
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
