package httpx

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/internal/telemetry"
)

// startCall starts the span of one API call (all its attempts), named
// "<provider> <operation>", and returns the function that ends it and
// records the call's duration by status.
func (c *Client) startCall(ctx context.Context, st *callState) (context.Context, func(*http.Response, error)) {
	start := time.Now()
	ctx, span := c.tel.Tracer.Start(ctx, c.provider+" "+st.operation, trace.WithSpanKind(trace.SpanKindInternal))
	if span.IsRecording() {
		span.SetAttributes(append(c.callAttrs(st), telemetry.HTTPMethodKey.String(st.method),
			telemetry.URLFullKey.String(telemetry.MaskDigits(st.url())))...)
	}
	return ctx, func(resp *http.Response, err error) {
		status, errType := outcome(resp, err)
		if span.IsRecording() {
			if status > 0 {
				span.SetAttributes(telemetry.HTTPStatusKey.Int(status))
			}
			if errType != "" {
				span.SetAttributes(telemetry.ErrorTypeKey.String(errType))
				span.SetStatus(codes.Error, telemetry.MaskDigits(Redact(err.Error(), c.secretList()...)))
			}
			span.SetAttributes(telemetry.AttemptsKey.Int(st.attempts))
		}
		span.End()
		if c.tel.Duration.Enabled(ctx) {
			attrs := c.callAttrs(st)
			if status > 0 {
				attrs = append(attrs, telemetry.HTTPStatusKey.Int(status))
			}
			if errType != "" {
				attrs = append(attrs, telemetry.ErrorTypeKey.String(errType))
			}
			c.tel.Duration.Record(ctx, time.Since(start).Seconds(), telemetry.Attrs(attrs...))
		}
	}
}

// callAttrs are the attributes every measurement of st carries.
func (c *Client) callAttrs(st *callState) []attribute.KeyValue {
	attrs := []attribute.KeyValue{telemetry.ProviderKey.String(c.provider), telemetry.OperationKey.String(st.operation),
		telemetry.ServerAddressKey.String(st.u.Hostname())}
	if p, err := strconv.Atoi(portOf(st.u)); err == nil {
		attrs = append(attrs, telemetry.ServerPortKey.Int(p))
	}
	return attrs
}

// outcome is the HTTP status of a call's answer (0 without one) and its
// error.type ("" on success): the status code for an error status, else
// "timeout", "canceled" or the Go type of the cause.
func outcome(resp *http.Response, err error) (status int, errType string) {
	if resp != nil {
		status = resp.StatusCode
	}
	if err == nil {
		return status, ""
	}
	var ae *APIError
	var rle *RateLimitError
	var ne net.Error
	switch {
	case errors.As(err, &rle):
		return rle.StatusCode, strconv.Itoa(rle.StatusCode)
	case errors.As(err, &ae):
		return ae.StatusCode, strconv.Itoa(ae.StatusCode)
	case errors.Is(err, context.Canceled):
		return status, telemetry.ErrorTypeCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return status, telemetry.ErrorTypeTimeout
	case errors.Is(err, ErrResponseTooLarge):
		return status, "response_too_large"
	}
	return status, telemetry.ErrorTypeOther
}

// recordRetry counts a retry of st after resp or err.
func (c *Client) recordRetry(ctx context.Context, st *callState, resp *http.Response, err error) {
	if !c.tel.Retries.Enabled(ctx) {
		return
	}
	_, errType := outcome(nil, err)
	if resp != nil {
		errType = strconv.Itoa(resp.StatusCode)
	}
	c.tel.Retries.Add(ctx, 1, telemetry.Attrs(append(c.callAttrs(st), telemetry.ErrorTypeKey.String(errType))...))
}

// minRecordedWait is the shortest limiter wait recorded: shorter ones are
// a free token, not throttling.
const minRecordedWait = time.Millisecond

// recordWait records a rate-limit wait of st (why: telemetry.WaitClient
// or WaitServer).
func (c *Client) recordWait(ctx context.Context, st *callState, why string, d time.Duration) {
	if st == nil || (why == telemetry.WaitClient && d < minRecordedWait) || !c.tel.Wait.Enabled(ctx) {
		return
	}
	c.tel.Wait.Record(ctx, d.Seconds(), telemetry.Attrs(append(c.callAttrs(st), telemetry.WaitKey.String(why))...))
}

// attemptTransport makes a client span of every HTTP attempt, beneath the
// call's span, as the OpenTelemetry HTTP client instrumentation does
// (otelhttp), and injects the trace context with the global propagator.
// It is written here rather than taken from otelhttp because otelhttp
// records url.full with the query, which carries phone numbers (amoCRM's
// ?query=) and signed links; here the URL is redacted and its phone
// numbers masked.
type attemptTransport struct {
	base http.RoundTripper // nil: http.DefaultTransport
	c    *Client
}

// RoundTrip implements http.RoundTripper.
func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	ctx := req.Context()
	st, _ := ctx.Value(callStateKey{}).(*callState)
	ctx, span := t.c.tel.Tracer.Start(ctx, req.Method, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	if span.IsRecording() {
		attrs := []attribute.KeyValue{telemetry.HTTPMethodKey.String(req.Method), telemetry.ServerAddressKey.String(req.URL.Hostname())}
		if p, err := strconv.Atoi(portOf(req.URL)); err == nil {
			attrs = append(attrs, telemetry.ServerPortKey.Int(p))
		}
		if st != nil {
			attrs = append(attrs, telemetry.URLFullKey.String(telemetry.MaskDigits(st.url())),
				telemetry.HTTPResendKey.Int(st.attempts), telemetry.ProviderKey.String(t.c.provider),
				telemetry.OperationKey.String(st.operation))
		}
		span.SetAttributes(attrs...)
	}
	if prop := otel.GetTextMapPropagator(); len(prop.Fields()) > 0 {
		req = req.Clone(ctx) // a RoundTripper must not change the request it is given
		prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	resp, err := base.RoundTrip(req)
	if span.IsRecording() {
		switch {
		case err != nil:
			_, errType := outcome(nil, err)
			span.SetAttributes(telemetry.ErrorTypeKey.String(errType))
			span.SetStatus(codes.Error, telemetry.MaskDigits(Redact(err.Error(), t.c.secretList()...)))
		default:
			span.SetAttributes(telemetry.HTTPStatusKey.Int(resp.StatusCode))
			if resp.StatusCode >= 400 {
				span.SetAttributes(telemetry.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
				span.SetStatus(codes.Error, "")
			}
		}
	}
	return resp, err
}
