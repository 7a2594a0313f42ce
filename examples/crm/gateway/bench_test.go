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

	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
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
func benchGatewayHandler(b *testing.B, db string) { benchGateway(b, gateway.Config{DB: db}) }

// benchGateway is benchGatewayHandler with cfg.
func benchGateway(b *testing.B, cfg gateway.Config) {
	cfg.HookToken, cfg.MegafonToken, cfg.DefaultClients = "t", "m", defaultClients(b)
	g, err := gateway.New(cfg, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	h := g.Handler()
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), telemetrytest.CPUTime()
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
	telemetrytest.ReportCPU(b, cpu)
}

// BenchmarkGatewayTelemetry is BenchmarkGatewayHandler (memory) with each
// telemetry setting: the global providers left unset (no SDK: the
// library's instruments do nothing), explicit no-op providers, the metrics
// SDK with a manual reader (no traces), and the gateway's own (the
// Prometheus exporter, and spans with ids for the logs but not sampled).
func BenchmarkGatewayTelemetry(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  func(b *testing.B) gateway.Config
	}{
		{"global", func(*testing.B) gateway.Config {
			return gateway.Config{MeterProvider: otel.GetMeterProvider(), TracerProvider: otel.GetTracerProvider()}
		}},
		{"noop", func(*testing.B) gateway.Config {
			return gateway.Config{MeterProvider: metricnoop.NewMeterProvider(), TracerProvider: tracenoop.NewTracerProvider()}
		}},
		{"sdk-metrics", func(b *testing.B) gateway.Config {
			return gateway.Config{MeterProvider: telemetrytest.NewMetrics(b).Provider, TracerProvider: tracenoop.NewTracerProvider()}
		}},
		{"default", func(*testing.B) gateway.Config { return gateway.Config{} }},
	} {
		b.Run(tc.name, func(b *testing.B) { benchGateway(b, tc.cfg(b)) })
	}
}
