package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry"
)

// DefaultMaxBodyBytes is the default body limit of a Handler (1 MiB).
const DefaultMaxBodyBytes = 1 << 20

// Decoder turns one provider request into events and the reply the provider
// expects. body is the whole request body, already size-limited; r's body
// must not be read again. Decode runs after authentication. It returns an
// error wrapping ErrBadRequest for malformed input (the message is shown to
// the sender, so it must describe the input and never echo a secret).
// A Decoder that answers a synchronous question (a contact lookup) does so
// within r.Context() and puts the answer in the Reply.
type Decoder interface {
	Decode(r *http.Request, body []byte) (Result, error)
}

// DecoderFunc adapts a function to a Decoder.
type DecoderFunc func(r *http.Request, body []byte) (Result, error)

// Decode calls f(r, body).
func (f DecoderFunc) Decode(r *http.Request, body []byte) (Result, error) { return f(r, body) }

// Result is what a Decoder made of a request.
type Result struct {
	// Events go to the sink, in order, each at most once (see Dedup).
	Events []callevent.Event
	// Reply is written after every event was delivered.
	Reply Reply
}

// Reply is an HTTP answer to a provider. The zero Reply is an empty 200
// (202 when the events went to a Queue).
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSONReply returns a 200 reply with v encoded as JSON.
func JSONReply(v any) (Reply, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Reply{}, fmt.Errorf("webhook: encode reply: %w", err)
	}
	return Reply{Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, Body: b}, nil
}

// Option configures a Handler.
type Option func(*Handler) error

// WithMaxBodyBytes sets the body limit; larger bodies get 413.
func WithMaxBodyBytes(n int64) Option {
	return func(h *Handler) error {
		if n <= 0 {
			return errors.New("webhook: body limit must be positive")
		}
		h.maxBody = n
		return nil
	}
}

// WithMethods sets the accepted HTTP methods (default POST); others get 405.
func WithMethods(methods ...string) Option {
	return func(h *Handler) error {
		if len(methods) == 0 {
			return errors.New("webhook: no methods given")
		}
		h.methods = append([]string(nil), methods...)
		return nil
	}
}

// WithAuthenticator sets how requests are authenticated. Several calls
// combine with AllOf.
func WithAuthenticator(a Authenticator) Option {
	return func(h *Handler) error {
		if a == nil {
			return errors.New("webhook: nil authenticator")
		}
		if h.auth != nil {
			a = AllOf(h.auth, a)
		}
		h.auth = a
		return nil
	}
}

// WithoutAuth explicitly runs the handler with no authentication, e.g.
// behind a gateway that already authenticates. Without an authenticator and
// without this option, New fails.
func WithoutAuth() Option {
	return func(h *Handler) error { h.noAuth = true; return nil }
}

// WithDedup sets the store that makes redeliveries no-ops (default: a
// MemoryDedup with the default TTL and size). nil turns deduplication off.
func WithDedup(d Dedup) Option {
	return func(h *Handler) error { h.dedup = d; return nil }
}

// WithLogger sets the logger (default: discard). Secrets are never logged:
// a request is named by its ServeMux route pattern, not its path, which
// may carry a token.
func WithLogger(l *slog.Logger) Option {
	return func(h *Handler) error {
		if l == nil {
			return errors.New("webhook: nil logger")
		}
		h.log = l
		return nil
	}
}

// WithTimeWindow sets how far event times may lie from the moment a
// request arrives (default callevent.DefaultWindow); events outside it are
// a 400 naming the field.
func WithTimeWindow(w callevent.Window) Option {
	return func(h *Handler) error {
		if w.Past < 0 || w.Future < 0 {
			return errors.New("webhook: negative time window")
		}
		h.window = w
		return nil
	}
}

// WithClock sets the clock that stamps a request's arrival (default
// time.Now), for tests that replay recorded payloads.
func WithClock(now func() time.Time) Option {
	return func(h *Handler) error {
		if now == nil {
			return errors.New("webhook: nil clock")
		}
		h.now = now
		return nil
	}
}

// WithErrorWriter replaces how error replies are written. The default is
// WriteJSONError.
func WithErrorWriter(f func(w http.ResponseWriter, r *http.Request, status int, err error)) Option {
	return func(h *Handler) error {
		if f == nil {
			return errors.New("webhook: nil error writer")
		}
		h.writeErr = f
		return nil
	}
}

// Handler is an http.Handler that receives one provider's webhooks: it
// checks the method, limits the body, authenticates, decodes with a
// Decoder, validates every event (Event.ValidateAt with the time window),
// deduplicates and delivers events to a Sink, and replies. An invalid
// event is a 400 naming the field, and no event of that request is
// delivered.
// A sink error gives 500 so the provider redelivers; a sink that cannot
// take the event now (ErrUnavailable, an error with a RetryAfter method, a
// full or closed Queue) gives 503 with a Retry-After header; a panic
// anywhere in decoding or delivery is recovered, logged and answered with
// 500.
type Handler struct {
	sink     callevent.Sink
	dec      Decoder
	maxBody  int64
	methods  []string
	auth     Authenticator
	noAuth   bool
	dedup    Dedup
	log      *slog.Logger
	writeErr func(w http.ResponseWriter, r *http.Request, status int, err error)
	queue    *Queue // sink, if it is a Queue
	window   callevent.Window
	now      func() time.Time

	// Authentication of WithToken, WithTokenAccounts and WithAllowedIPs.
	tokens           []string
	accounts         []string // accounts[i] is bound to tokens[i]; "" for none
	bound            bool     // some token is bound
	tokenFrom        func(r *http.Request, body []byte) string
	secrets          Secrets
	allowed, trusted []netip.Prefix

	cfg Config

	// Telemetry (WithMeterProvider, WithTracerProvider, WithEndpoint,
	// WithUnmaskedPhones).
	mp                    metric.MeterProvider
	tp                    trace.TracerProvider
	tel                   *telemetry.Webhook
	endpoint              string
	fullPhones            bool
	serverSpan, innerSpan []trace.SpanStartOption
}

// New returns a Handler that decodes requests with dec and delivers events
// to sink. An authenticator (WithAuthenticator) is required unless
// WithoutAuth is given.
func New(sink callevent.Sink, dec Decoder, opts ...Option) (*Handler, error) {
	if sink == nil {
		return nil, errors.New("webhook: nil sink")
	}
	if dec == nil {
		return nil, errors.New("webhook: nil decoder")
	}
	h := &Handler{
		sink:     sink,
		dec:      dec,
		maxBody:  DefaultMaxBodyBytes,
		methods:  []string{http.MethodPost},
		dedup:    NewMemoryDedup(0, 0),
		log:      slog.New(slog.DiscardHandler),
		writeErr: WriteJSONError,
		window:   callevent.DefaultWindow,
		now:      time.Now,
		cfg:      Config{LookupTimeout: DefaultLookupTimeout},
	}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("webhook: option %d is nil", i+1)
		}
		if err := o(h); err != nil {
			return nil, err
		}
	}
	if err := h.buildAuth(); err != nil {
		return nil, err
	}
	if h.auth == nil && !h.noAuth {
		return nil, errors.New("webhook: no authentication configured: give a token (WithToken) or an IP allow-list (WithAllowedIPs), or WithoutAuth")
	}
	h.queue, _ = sink.(*Queue)
	h.initTelemetry()
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, span := h.startSpan(r)
	var info requestInfo
	reply, err := h.serve(ctx, r, &info)
	if err != nil {
		status := StatusOf(err)
		h.finish(span, r, status, err, &info)
		if status >= 500 {
			h.log.ErrorContext(ctx, "webhook failed", "route", r.Pattern, "status", status, "error", err)
		} else {
			h.log.InfoContext(ctx, "webhook rejected", "route", r.Pattern, "status", status, "error", err)
		}
		switch status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", strings.Join(h.methods, ", "))
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter(err)))
		}
		h.writeErr(w, r, status, err)
		return
	}
	h.finish(span, r, reply.Status, nil, &info)
	for k, v := range reply.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(reply.Status)
	_, _ = w.Write(reply.Body)
}

// serve does everything but writing, so that a panic becomes an error.
// ctx is r's context with the request's span; info learns the events.
func (h *Handler) serve(ctx context.Context, r *http.Request, info *requestInfo) (reply Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("webhook: panic: %v", p)
		}
	}()
	if !h.methodAllowed(r.Method) {
		return Reply{}, fmt.Errorf("%w: %s", ErrMethodNotAllowed, r.Method)
	}
	arrived := h.now()
	body, err := readBody(r, h.maxBody)
	if err != nil {
		return Reply{}, err
	}
	if h.auth != nil {
		if err := h.auth.Authenticate(r, body); err != nil {
			return Reply{}, err
		}
	}
	if !utf8.Valid(body) {
		// encoding/json would turn the bad bytes into U+FFFD and
		// accept a different id than the one sent.
		return Reply{}, fmt.Errorf("%w: body is not valid UTF-8", ErrBadRequest)
	}
	ctx = context.WithValue(ctx, loggerKey{}, h.log)
	ctx = context.WithValue(ctx, arrivalKey{}, arrived)
	if h.bound {
		if i := h.secrets.Index(h.tokenFrom(r, body)); i >= 0 && h.accounts[i] != "" {
			ctx = context.WithValue(ctx, tokenAccountKey{}, h.accounts[i])
		}
	}
	r = r.WithContext(ctx)
	res, err := h.dec.Decode(r, body)
	if err != nil {
		return Reply{}, err
	}
	if info.events = len(res.Events); info.events > 0 {
		info.first = &res.Events[0]
	}
	for i := range res.Events {
		if err := res.Events[i].ValidateAt(arrived, h.window); err != nil {
			return Reply{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	}
	delivered := 0
	for _, e := range res.Events {
		ok, err := h.deliver(r, e)
		if err != nil {
			return Reply{}, err
		}
		if ok {
			delivered++
		}
	}
	info.delivered = delivered
	reply = res.Reply
	if reply.Status == 0 {
		reply.Status = http.StatusOK
		if h.queue != nil && delivered > 0 {
			reply.Status = http.StatusAccepted
		}
	}
	return reply, nil
}

// deliver hands one event to the sink at most once and reports whether it
// did (false for a duplicate). The claim is released as done only when the
// sink took the event, so a failed delivery is processed again when the
// provider redelivers. An event whose delivery is still in progress is an
// ErrInProgress error (503), not a duplicate: the first delivery may yet
// fail, so the provider must retry.
func (h *Handler) deliver(r *http.Request, e callevent.Event) (bool, error) {
	ctx := r.Context()
	if h.dedup == nil {
		return true, h.handle(ctx, e)
	}
	ok, err := h.dedup.Claim(ctx, e.ID)
	if errors.Is(err, ErrInProgress) {
		return false, fmt.Errorf("%w: event %s", ErrInProgress, e.ID)
	}
	if err != nil {
		return false, fmt.Errorf("webhook: dedup: %w", err)
	}
	if !ok {
		h.log.DebugContext(ctx, "webhook duplicate skipped", "event_id", e.ID)
		return false, nil
	}
	if h.queue != nil {
		// The Queue releases the claim as done when it accepts the event,
		// and makes the Dedup forget it if it dead-letters it.
		if err := h.queue.enqueue(ctx, e, h.dedup); err != nil {
			h.dedup.Release(context.WithoutCancel(ctx), e.ID, false)
			return false, fmt.Errorf("webhook: deliver event %s: %w", e.ID, err)
		}
		return true, nil
	}
	done := false // stays false if the sink fails or panics
	defer func() { h.dedup.Release(context.WithoutCancel(ctx), e.ID, done) }()
	if err := h.handle(ctx, e); err != nil {
		return false, err
	}
	done = true
	return true, nil
}

func (h *Handler) handle(ctx context.Context, e callevent.Event) error {
	if err := h.sink.HandleEvent(ctx, e); err != nil {
		return fmt.Errorf("webhook: deliver event %s: %w", e.ID, err)
	}
	return nil
}

func (h *Handler) methodAllowed(m string) bool {
	for _, a := range h.methods {
		if a == m {
			return true
		}
	}
	return false
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, r.ContentLength, limit)
	}
	if n := r.ContentLength; n > 0 {
		// The common case: the size is known, so read it in one buffer.
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, fmt.Errorf("%w: read body: %v", ErrBadRequest, err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %v", ErrBadRequest, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: limit %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// WriteJSONError writes {"error": message} as JSON with status. For client
// errors the message is err's text (which describes the input); for server
// errors it is the generic status text, so internals never leak. Custom
// error writers delegate to it for the statuses they do not change.
func WriteJSONError(w http.ResponseWriter, _ *http.Request, status int, err error) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{publicMessage(status, err)})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Values returns the request's parameters: the URL query, overlaid with the
// body's fields when the body is form-encoded (application/x-www-form-urlencoded,
// or no content type and a body that parses as a form). Body fields win.
// Malformed form encoding is ErrBadRequest.
func Values(r *http.Request, body []byte) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %v", ErrBadRequest, err)
	}
	if len(body) == 0 {
		return q, nil
	}
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return q, nil
		}
	}
	f, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: form body: %v", ErrBadRequest, err)
	}
	for k, v := range f {
		q[k] = v
	}
	return q, nil
}
