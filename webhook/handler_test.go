package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

// toyDecoder reads form fields: id (event id; several comma-separated
// events), call, and reply (a body to answer with). "panic" panics.
var toyDecoder = webhook.DecoderFunc(func(r *http.Request, body []byte) (webhook.Result, error) {
	v, err := webhook.Values(r, body)
	if err != nil {
		return webhook.Result{}, err
	}
	if v.Get("panic") != "" {
		panic("toy decoder panic")
	}
	ids := v.Get("id")
	if ids == "" {
		return webhook.Result{}, fmt.Errorf("%w: field id is required", webhook.ErrBadRequest)
	}
	var res webhook.Result
	for _, id := range strings.Split(ids, ",") {
		res.Events = append(res.Events, callevent.Event{
			ID: id, Provider: "toy", Kind: callevent.Ringing, CallID: v.Get("call"),
			At: time.Now().UTC(), ClientPhone: v.Get("phone"),
		})
	}
	if b := v.Get("reply"); b != "" {
		res.Reply = webhook.Reply{Body: []byte(b)}
	}
	return res, nil
})

// countingDecoder is toyDecoder counting its calls: a request that fails
// authentication must never reach the decoder (real decoders run contact
// lookups).
type countingDecoder struct{ calls atomic.Int32 }

func (d *countingDecoder) Decode(r *http.Request, body []byte) (webhook.Result, error) {
	d.calls.Add(1)
	return toyDecoder(r, body)
}

// recorder is a Sink that records events and can be made to fail or panic.
type recorder struct {
	mu     sync.Mutex
	events []callevent.Event
	fail   atomic.Int32 // fail this many more calls
	panics atomic.Bool
}

func (s *recorder) HandleEvent(_ context.Context, e callevent.Event) error {
	if s.panics.Load() {
		panic("sink panic")
	}
	if s.fail.Add(-1) >= 0 {
		return errors.New("sink down")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

func (s *recorder) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.events))
	for i, e := range s.events {
		out[i] = e.ID
	}
	return out
}

const secret = "s3cr3t-token"

func newHandler(t *testing.T, sink callevent.Sink, opts ...webhook.Option) *webhook.Handler {
	t.Helper()
	return newHandlerWith(t, sink, toyDecoder, opts...)
}

func newHandlerWith(t *testing.T, sink callevent.Sink, dec webhook.Decoder, opts ...webhook.Option) *webhook.Handler {
	t.Helper()
	secrets, err := webhook.NewSecrets("old-token", secret)
	require.NoError(t, err)
	opts = append([]webhook.Option{webhook.WithAuthenticator(webhook.TokenAuth(secrets, webhook.QueryToken("token")))}, opts...)
	h, err := webhook.New(sink, dec, opts...)
	require.NoError(t, err)
	return h
}

func post(h http.Handler, query string, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/hook?"+query, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerStatuses(t *testing.T) {
	t.Parallel()
	ok := url.Values{"id": {"e1"}, "call": {"c1"}}
	tests := []struct {
		name     string
		method   string
		query    string
		body     string
		want     int
		wantBody string
		events   int
	}{
		{"delivered", http.MethodPost, "token=" + secret, ok.Encode(), 200, "", 1},
		{"rotated old token", http.MethodPost, "token=old-token", ok.Encode(), 200, "", 1},
		{"reply body", http.MethodPost, "token=" + secret, "id=e1&call=c1&reply=OK", 200, "OK", 1},
		{"wrong token", http.MethodPost, "token=nope", ok.Encode(), 401, `{"error":"webhook: unauthorized: invalid token"}`, 0},
		{"missing token", http.MethodPost, "", ok.Encode(), 401, `{"error":"webhook: unauthorized: missing token"}`, 0},
		{"wrong method", http.MethodGet, "token=" + secret, "", 405, "", 0},
		{"malformed form", http.MethodPost, "token=" + secret, "id=%zz", 400, "", 0},
		{"missing field", http.MethodPost, "token=" + secret, "call=c1", 400, `{"error":"webhook: bad request: field id is required"}`, 0},
		{"invalid event", http.MethodPost, "token=" + secret, "id=e1", 400, "", 0},
		{"phone not normalised", http.MethodPost, "token=" + secret, "id=e1&call=c1&phone=%2B7916", 400, "", 0},
		{"decoder panic", http.MethodPost, "token=" + secret, "id=e1&call=c1&panic=1", 500, `{"error":"Internal Server Error"}`, 0},
		{"too large", http.MethodPost, "token=" + secret, "id=e1&call=c1&pad=" + strings.Repeat("x", 2000), 413, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &recorder{}
			dec := &countingDecoder{}
			h := newHandlerWith(t, sink, dec, webhook.WithMaxBodyBytes(1024))
			r := httptest.NewRequest(tt.method, "/hook?"+tt.query, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.wantBody != "" {
				require.Equal(t, tt.wantBody, w.Body.String())
			}
			require.Len(t, sink.ids(), tt.events)
			switch tt.want {
			case 401, 403, 405, 413:
				require.Zero(t, dec.calls.Load(), "decoder ran for a rejected request")
			default:
				require.Equal(t, int32(1), dec.calls.Load())
			}
			require.NotContains(t, w.Body.String(), secret)
			if tt.want == 405 {
				require.Equal(t, "POST", w.Header().Get("Allow"))
			}
		})
	}
}

func TestHandlerTooLargeWithoutContentLength(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h := newHandler(t, sink, webhook.WithMaxBodyBytes(100))
	r := httptest.NewRequest(http.MethodPost, "/hook?token="+secret, io.MultiReader(strings.NewReader("id=e1&call=c1&x="), strings.NewReader(strings.Repeat("y", 200))))
	r.ContentLength = -1
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	require.Empty(t, sink.ids())
}

func TestNewRequiresAuth(t *testing.T) {
	t.Parallel()
	_, err := webhook.New(&recorder{}, toyDecoder)
	require.ErrorContains(t, err, "no authentication")
	_, err = webhook.New(&recorder{}, toyDecoder, webhook.WithoutAuth())
	require.NoError(t, err)
	_, err = webhook.New(nil, toyDecoder, webhook.WithoutAuth())
	require.Error(t, err)
	_, err = webhook.NewSecrets()
	require.Error(t, err)
	_, err = webhook.NewSecrets("a", "")
	require.Error(t, err)
}

func TestRedeliveryReachesSinkOnce(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h := newHandler(t, sink)
	form := url.Values{"id": {"e1,e2"}, "call": {"c1"}}
	for range 3 {
		require.Equal(t, 200, post(h, "token="+secret, form).Code)
	}
	require.Equal(t, []string{"e1", "e2"}, sink.ids())
}

func TestSinkFailureIsRedelivered(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h := newHandler(t, sink)
	form := url.Values{"id": {"e1"}, "call": {"c1"}}
	sink.fail.Store(1)
	w := post(h, "token="+secret, form)
	require.Equal(t, 500, w.Code)
	require.NotContains(t, w.Body.String(), "sink down", "internals must not leak")
	require.Empty(t, sink.ids())
	// The provider redelivers: the failed event was not marked processed.
	require.Equal(t, 200, post(h, "token="+secret, form).Code)
	require.Equal(t, []string{"e1"}, sink.ids())
}

func TestSinkPanicIsRecoveredAndReleased(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h := newHandler(t, sink)
	form := url.Values{"id": {"e1"}, "call": {"c1"}}
	sink.panics.Store(true)
	require.Equal(t, 500, post(h, "token="+secret, form).Code)
	sink.panics.Store(false)
	require.Equal(t, 200, post(h, "token="+secret, form).Code)
	require.Equal(t, []string{"e1"}, sink.ids())
}

// A redelivery that arrives while the first delivery is still in the sink
// (the provider timed out) gets 503, not 200: the first delivery may yet
// fail, and then only a later retry can process the event.
func TestInProgressRedeliveryGets503(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	var mu sync.Mutex
	calls, succeeded := map[string]int{}, map[string]int{}
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		mu.Lock()
		calls[e.ID]++
		n := calls[e.ID]
		mu.Unlock()
		if e.ID == "e1" && n == 1 { // the first delivery is slow, then fails
			close(entered)
			<-release
			return errors.New("sink timed out")
		}
		mu.Lock()
		succeeded[e.ID]++
		mu.Unlock()
		return nil
	})
	h := newHandler(t, sink)
	snapshot := func(m map[string]int) map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(m)
	}

	first := make(chan int, 1)
	go func() { first <- post(h, "token="+secret, url.Values{"id": {"e1"}, "call": {"c1"}}).Code }()
	<-entered
	// The provider timed out and redelivers, here batched with a new event.
	redelivery := url.Values{"id": {"e2,e1"}, "call": {"c1"}}
	w := post(h, "token="+secret, redelivery)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Equal(t, map[string]int{"e1": 1, "e2": 1}, snapshot(calls), "e1 not handed to the sink twice")

	releaseOnce.Do(func() { close(release) })
	require.Equal(t, http.StatusInternalServerError, <-first)
	require.Equal(t, http.StatusOK, post(h, "token="+secret, redelivery).Code)
	require.Equal(t, http.StatusOK, post(h, "token="+secret, redelivery).Code, "now a processed duplicate")
	require.Equal(t, map[string]int{"e1": 1, "e2": 1}, snapshot(succeeded), "each event succeeded exactly once")
	require.Equal(t, map[string]int{"e1": 2, "e2": 1}, snapshot(calls), "e2, delivered before the 503, stayed done")
}

// 1000 concurrent deliveries, 900 distinct events: requests 2k and 2k+1
// (k < 100) carry the same event and race each other into Dedup.Claim, so a
// check-then-set race in Claim delivers some event twice. Like a provider,
// the sender retries a 503 (duplicate still in progress), here once the
// event was delivered.
func TestConcurrentDeliveriesWithDuplicates(t *testing.T) {
	t.Parallel()
	const n, pairs = 1000, 100
	var mu sync.Mutex
	seen := map[string]int{}
	type answered struct {
		once sync.Once
		c    chan struct{} // closed when a request of the event was answered (not 503)
	}
	done := map[string]*answered{}
	for i := range pairs {
		done[fmt.Sprintf("dup-%d", i)] = &answered{c: make(chan struct{})}
	}
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		mu.Lock()
		defer mu.Unlock()
		seen[e.ID]++
		return nil
	})
	// The first decodes of the 200 duplicated deliveries wait at a gate
	// and are released together, so both deliveries of each pair contend
	// for Dedup.Claim at the same moment. Retries pass straight through.
	var arrived atomic.Int32
	gate := make(chan struct{})
	dec := webhook.DecoderFunc(func(r *http.Request, body []byte) (webhook.Result, error) {
		res, err := toyDecoder(r, body)
		if err == nil && len(res.Events) == 1 && strings.HasPrefix(res.Events[0].ID, "dup-") {
			switch k := arrived.Add(1); {
			case k == 2*pairs:
				close(gate)
			case k < 2*pairs:
				<-gate // every duplicated request arrives: the 200th opens it
			}
		}
		return res, err
	})
	h := newHandlerWith(t, sink, dec)

	start := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		id := fmt.Sprintf("ev-%d", i-2*pairs)
		if i < 2*pairs {
			id = fmt.Sprintf("dup-%d", i/2)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code := post(h, "token="+secret, url.Values{"id": {id}, "call": {"c"}}).Code
			if a := done[id]; a != nil {
				if code == http.StatusServiceUnavailable {
					// The twin request holds the claim; retry once it was answered.
					<-a.c
					code = post(h, "token="+secret, url.Values{"id": {id}, "call": {"c"}}).Code
				}
				a.once.Do(func() { close(a.c) })
			}
			if code/100 != 2 {
				failed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Zero(t, failed.Load(), "requests that never got a 2xx")
	require.Len(t, seen, n-pairs)
	for id, c := range seen {
		require.Equal(t, 1, c, id)
	}
}

func TestWithoutDedupDeliversEveryTime(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	h := newHandler(t, sink, webhook.WithDedup(nil))
	form := url.Values{"id": {"e1"}, "call": {"c1"}}
	post(h, "token="+secret, form)
	post(h, "token="+secret, form)
	require.Equal(t, []string{"e1", "e1"}, sink.ids())
}

func TestCustomMethodsAndErrorWriter(t *testing.T) {
	t.Parallel()
	sink := &recorder{}
	dec := &countingDecoder{}
	h := newHandlerWith(t, sink, dec,
		webhook.WithMethods(http.MethodGet, http.MethodPost),
		webhook.WithErrorWriter(func(w http.ResponseWriter, _ *http.Request, status int, _ error) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, "custom")
		}))
	r := httptest.NewRequest(http.MethodGet, "/hook?token="+secret+"&id=g1&call=c1", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, 200, w.Code)
	require.Equal(t, []string{"g1"}, sink.ids())

	r = httptest.NewRequest(http.MethodGet, "/hook?token=bad&id=g2&call=c1", nil)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, 401, w.Code)
	require.Equal(t, "custom", w.Body.String())
	require.Equal(t, int32(1), dec.calls.Load(), "the 401 was not decoded")
	require.Equal(t, []string{"g1"}, sink.ids())
}

func TestStatusOf(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]int{
		nil: 200,
		fmt.Errorf("x: %w", webhook.ErrUnauthorized):      401,
		webhook.ErrForbidden:                              403,
		webhook.ErrBadRequest:                             400,
		webhook.ErrTooLarge:                               413,
		webhook.ErrMethodNotAllowed:                       405,
		webhook.ErrQueueFull:                              503,
		webhook.ErrClosed:                                 503,
		fmt.Errorf("x: %w", webhook.ErrUnavailable):       503,
		fmt.Errorf("deliver: %w", retryLater{}):           503,
		fmt.Errorf("%w: event e1", webhook.ErrInProgress): 503,
		errors.New("boom"):                                500,
	} {
		require.Equal(t, want, webhook.StatusOf(err), fmt.Sprint(err))
	}
}

func TestValues(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/x?a=1&b=q", strings.NewReader("b=body&c=%2B7"))
	v, err := webhook.Values(r, []byte("b=body&c=%2B7"))
	require.NoError(t, err)
	require.Equal(t, url.Values{"a": {"1"}, "b": {"body"}, "c": {"+7"}}, v)

	r = httptest.NewRequest(http.MethodPost, "/x?a=1", nil)
	r.Header.Set("Content-Type", "application/json")
	v, err = webhook.Values(r, []byte(`{"b":2}`))
	require.NoError(t, err)
	require.Equal(t, url.Values{"a": {"1"}}, v, "a JSON body is not a form")
}

func TestEventID(t *testing.T) {
	t.Parallel()
	a := webhook.EventID("acc", "call-1", "hangup")
	require.Equal(t, a, webhook.EventID("acc", "call-1", "hangup"))
	require.Len(t, a, 32)
	require.NotEqual(t, a, webhook.EventID("acc", "call-1", "answer"))
	require.NotEqual(t, webhook.EventID("ab", "c"), webhook.EventID("a", "bc"))
	require.NotEqual(t, webhook.EventID("a", ""), webhook.EventID("a"))
}

type retryLater struct{}

func (retryLater) Error() string             { return "retry later" }
func (retryLater) RetryAfter() time.Duration { return 90 * time.Second }

// Every 503 carries Retry-After: the sink's suggestion, else
// DefaultRetryAfter.
func TestRetryAfterOn503(t *testing.T) {
	t.Parallel()
	var next atomic.Pointer[error]
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return *next.Load() })
	h := newHandler(t, sink)
	for i, tt := range []struct {
		err        error
		status     int
		retryAfter string
	}{
		{fmt.Errorf("crm: %w", webhook.ErrUnavailable), 503, "10"},
		{retryLater{}, 503, "90"},
		{errors.New("boom"), 500, ""},
	} {
		next.Store(&tt.err)
		w := post(h, "token="+secret, url.Values{"id": {fmt.Sprint("ra", i)}, "call": {"c"}})
		require.Equal(t, tt.status, w.Code, tt.err)
		require.Equal(t, tt.retryAfter, w.Header().Get("Retry-After"), tt.err)
	}
}
