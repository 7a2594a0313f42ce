// Package telemetrytest reads what callbridge's packages record, for their
// tests: an SDK meter provider with a manual reader, and a tracer provider
// with an in-memory span exporter. Only tests import it; the library
// packages never link the SDK.
package telemetrytest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Metrics is a meter provider whose measurements a test reads on demand.
type Metrics struct {
	Provider *sdkmetric.MeterProvider
	reader   *sdkmetric.ManualReader
}

// NewMetrics returns a Metrics, shut down when the test ends.
func NewMetrics(t testing.TB) *Metrics {
	r := sdkmetric.NewManualReader()
	m := &Metrics{Provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)), reader: r}
	t.Cleanup(func() { _ = m.Provider.Shutdown(context.Background()) })
	return m
}

// Point is one data point of a metric: its attributes and its value (a
// sum's or gauge's value, a histogram's count and sum).
type Point struct {
	Attrs map[string]string
	Value float64
	Count uint64
}

// Points collects the data points of the metric name (none if it recorded
// nothing).
func (m *Metrics) Points(t testing.TB, name string) []Point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	var out []Point
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != name {
				continue
			}
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: attrMap(p.Attributes), Value: float64(p.Value)})
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: attrMap(p.Attributes), Value: p.Value})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: attrMap(p.Attributes), Value: float64(p.Value)})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: attrMap(p.Attributes), Value: p.Sum, Count: p.Count})
				}
			default:
				t.Fatalf("metric %s: unexpected data %T", name, md.Data)
			}
		}
	}
	return out
}

// Point returns the data point of name whose attributes are exactly
// attrs ("key=value"); ok is false when there is none.
func (m *Metrics) Point(t testing.TB, name string, attrs ...string) (Point, bool) {
	t.Helper()
	want := map[string]string{}
	for _, kv := range attrs {
		k, v, _ := strings.Cut(kv, "=")
		want[k] = v
	}
	for _, p := range m.Points(t, name) {
		if equal(p.Attrs, want) {
			return p, true
		}
	}
	return Point{}, false
}

// Value is the value of name's point with exactly attrs; 0 when there is
// none (nothing recorded).
func (m *Metrics) Value(t testing.TB, name string, attrs ...string) float64 {
	t.Helper()
	p, _ := m.Point(t, name, attrs...)
	return p.Value
}

// Count is the count of the histogram name's point with exactly attrs.
func (m *Metrics) Count(t testing.TB, name string, attrs ...string) uint64 {
	t.Helper()
	p, _ := m.Point(t, name, attrs...)
	return p.Count
}

// Dump renders every point of name, for failure messages.
func (m *Metrics) Dump(t testing.TB, name string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range m.Points(t, name) {
		fmt.Fprintf(&b, "%v value=%v count=%d\n", p.Attrs, p.Value, p.Count)
	}
	return b.String()
}

func attrMap(s attribute.Set) map[string]string {
	out := map[string]string{}
	for _, kv := range s.ToSlice() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Traces is a tracer provider that keeps every ended span in memory.
type Traces struct {
	Provider *sdktrace.TracerProvider
	exporter *tracetest.InMemoryExporter
}

// NewTraces returns a Traces, shut down when the test ends.
func NewTraces(t testing.TB) *Traces {
	e := tracetest.NewInMemoryExporter()
	tr := &Traces{Provider: sdktrace.NewTracerProvider(sdktrace.WithSyncer(e)), exporter: e}
	t.Cleanup(func() { _ = tr.Provider.Shutdown(context.Background()) })
	return tr
}

// Spans returns the spans ended so far.
func (tr *Traces) Spans() tracetest.SpanStubs { return tr.exporter.GetSpans() }

// Named returns the ended spans called name.
func (tr *Traces) Named(name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range tr.Spans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Attr returns span's attribute key as text ("" when unset).
func Attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// Names lists the names of spans, sorted, for failure messages.
func Names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// ReportCPU reports, at the end of benchmark b, the process's CPU time per
// operation since start (a CPUTime) as "cpu-ns/op".
func ReportCPU(b *testing.B, start time.Duration) {
	if d := CPUTime() - start; d > 0 && b.N > 0 {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
