package telemetry_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/callbridge/callbridge/internal/telemetry"
)

// Start makes a child span only where someone records it: beneath a
// recording or sampled span, or as a root; beneath a span that records
// nothing it keeps the context (and its trace id) as it is.
func TestStart(t *testing.T) {
	t.Parallel()
	sampled := telemetry.NewTracer(sdktrace.NewTracerProvider())
	dropped := telemetry.NewTracer(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())))
	bg := context.Background()

	ctx, span := sampled.Start(bg, "root")
	if !span.IsRecording() || !span.SpanContext().IsValid() {
		t.Fatal("no span in the context: a root span")
	}
	_, child := sampled.Start(ctx, "child")
	if !child.IsRecording() || child.SpanContext().TraceID() != span.SpanContext().TraceID() {
		t.Fatal("beneath a recording span: a child in its trace")
	}
	remote := trace.ContextWithSpanContext(bg, span.SpanContext()) // as a queue carries it
	if _, s := sampled.Start(remote, "later"); !s.IsRecording() || s.SpanContext().TraceID() != span.SpanContext().TraceID() {
		t.Fatal("beneath a sampled span context: a child in its trace")
	}

	ctx, unsampled := dropped.Start(bg, "root")
	if unsampled.IsRecording() || !unsampled.SpanContext().IsValid() {
		t.Fatal("an unsampled root still has ids")
	}
	got, s := sampled.Start(ctx, "child")
	if got != ctx || s.IsRecording() || !trace.SpanContextFromContext(got).Equal(unsampled.SpanContext()) {
		t.Fatal("beneath an unsampled span: the context as it was")
	}
	ctx, _ = noop.NewTracerProvider().Tracer("t").Start(bg, "root")
	if got, _ := sampled.Start(ctx, "child"); got != ctx {
		t.Fatal("beneath a no-op span: the context as it was")
	}
}

// With the no-op provider Start costs no allocation and keeps the context.
func TestStartNoop(t *testing.T) {
	tr := telemetry.NewTracer(noop.NewTracerProvider())
	bg := context.Background()
	if allocs := testing.AllocsPerRun(100, func() {
		if ctx, s := tr.Start(bg, "root"); ctx != bg || s.IsRecording() {
			t.Fatal("a no-op provider's span changed the context")
		}
	}); allocs != 0 {
		t.Fatalf("Start with the no-op provider: %v allocations, want 0", allocs)
	}
}

// A tracer of the global provider records nothing and costs no allocation
// until the program installs a provider; from then on the same tracer
// records. Not parallel: it installs the global provider, for good, so a
// second run (-count) has nothing to check.
func TestStartGlobal(t *testing.T) {
	if globalInstalled {
		t.Skip("an earlier run installed the global provider")
	}
	globalInstalled = true
	bg := context.Background()
	tracers := []telemetry.Tracer{telemetry.NewTracer(nil), telemetry.NewTracer(otel.GetTracerProvider())}
	for _, tr := range tracers {
		if allocs := testing.AllocsPerRun(100, func() {
			if ctx, s := tr.Start(bg, "root"); ctx != bg || s.IsRecording() {
				t.Fatal("no provider installed, yet Start changed the context")
			}
		}); allocs != 0 {
			t.Fatalf("Start with no provider installed: %v allocations, want 0", allocs)
		}
	}

	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	for _, tr := range tracers {
		_, s := tr.Start(bg, "root")
		s.End()
	}
	if ended := rec.Ended(); len(ended) != 2 || ended[0].Name() != "root" {
		t.Fatalf("after otel.SetTracerProvider: %d spans recorded, want the two started", len(ended))
	}
}

// globalInstalled is set once TestStartGlobal installed the global provider.
var globalInstalled bool
