package telemetry_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/callbridge/callbridge/internal/telemetry"
)

// Start makes a child span only where someone records it: beneath a
// recording or sampled span, or as a root; beneath a span that records
// nothing it keeps the context (and its trace id) as it is.
func TestStart(t *testing.T) {
	t.Parallel()
	sampled := sdktrace.NewTracerProvider().Tracer("t")
	dropped := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())).Tracer("t")
	bg := context.Background()

	ctx, span := telemetry.Start(bg, sampled, "root")
	if !span.IsRecording() || !span.SpanContext().IsValid() {
		t.Fatal("no span in the context: a root span")
	}
	_, child := telemetry.Start(ctx, sampled, "child")
	if !child.IsRecording() || child.SpanContext().TraceID() != span.SpanContext().TraceID() {
		t.Fatal("beneath a recording span: a child in its trace")
	}
	remote := trace.ContextWithSpanContext(bg, span.SpanContext()) // as a queue carries it
	if _, s := telemetry.Start(remote, sampled, "later"); !s.IsRecording() || s.SpanContext().TraceID() != span.SpanContext().TraceID() {
		t.Fatal("beneath a sampled span context: a child in its trace")
	}

	ctx, unsampled := telemetry.Start(bg, dropped, "root")
	if unsampled.IsRecording() || !unsampled.SpanContext().IsValid() {
		t.Fatal("an unsampled root still has ids")
	}
	got, s := telemetry.Start(ctx, sampled, "child")
	if got != ctx || s.IsRecording() || !trace.SpanContextFromContext(got).Equal(unsampled.SpanContext()) {
		t.Fatal("beneath an unsampled span: the context as it was")
	}
	ctx, _ = noop.NewTracerProvider().Tracer("t").Start(bg, "root")
	if got, _ := telemetry.Start(ctx, sampled, "child"); got != ctx {
		t.Fatal("beneath a no-op span: the context as it was")
	}
}
