package webhook_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

// A request whose events break the invariants is a 400 naming the field,
// and none of its events is delivered — not even the valid ones before it.
func TestInvalidEventsAre400AndNothingIsDelivered(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	dec := webhook.DecoderFunc(func(r *http.Request, body []byte) (webhook.Result, error) {
		v, err := webhook.Values(r, body)
		if err != nil {
			return webhook.Result{}, err
		}
		good := callevent.Event{ID: "ok", Provider: "toy", Kind: callevent.Ringing, CallID: "c", At: at}
		bad := good
		bad.ID = "bad"
		switch v.Get("case") {
		case "future":
			bad.At = at.Add(2 * time.Hour)
		case "past":
			bad.At = at.AddDate(0, -2, 0)
		case "year9999":
			bad.EndedAt = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
		case "nul":
			bad.CallID = "c\x00"
		case "long":
			bad.LegID = strings.Repeat("x", 10<<10)
		case "link":
			bad.RecordingURL = "javascript:alert(1)"
		case "fine":
			bad.At = at.Add(-29 * 24 * time.Hour)
		}
		return webhook.Result{Events: []callevent.Event{good, bad}}, nil
	})
	for _, tt := range []struct{ name, field string }{
		{"future", "at: "}, {"past", "at: "}, {"year9999", "ended_at: "}, {"nul", "call_id: "},
		{"long", "leg_id: "}, {"link", "recording_url: "},
	} {
		sink := &recorder{}
		h := newHandlerWith(t, sink, dec, webhook.WithClock(func() time.Time { return at }))
		w := post(h, "token="+secret, url.Values{"case": {tt.name}})
		require.Equal(t, http.StatusBadRequest, w.Code, tt.name)
		require.Contains(t, w.Body.String(), tt.field, tt.name)
		require.Empty(t, sink.ids(), "%s: nothing of a rejected request is delivered", tt.name)
	}
	sink := &recorder{}
	h := newHandlerWith(t, sink, dec, webhook.WithClock(func() time.Time { return at }))
	w := post(h, "token="+secret, url.Values{"case": {"fine"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, []string{"ok", "bad"}, sink.ids())

	// The window is configurable.
	sink = &recorder{}
	h = newHandlerWith(t, sink, dec, webhook.WithClock(func() time.Time { return at }),
		webhook.WithTimeWindow(callevent.Window{Past: time.Hour, Future: 3 * time.Hour}))
	require.Equal(t, http.StatusOK, post(h, "token="+secret, url.Values{"case": {"future"}}).Code)
	require.Equal(t, http.StatusBadRequest, post(h, "token="+secret, url.Values{"case": {"fine"}}).Code)

	_, err := webhook.New(sink, dec, webhook.WithoutAuth(), webhook.WithTimeWindow(callevent.Window{Past: -1}))
	require.Error(t, err)
	_, err = webhook.New(sink, dec, webhook.WithoutAuth(), webhook.WithClock(nil))
	require.Error(t, err)
}

// A body that is not valid UTF-8 is refused whole: decoding it as JSON
// would quietly replace the bad bytes and deliver an id nobody sent.
func TestInvalidUTF8BodyIs400(t *testing.T) {
	t.Parallel()
	dec := &countingDecoder{}
	sink := &recorder{}
	h := newHandlerWith(t, sink, dec)
	r := httptest.NewRequest(http.MethodPost, "/hook?token="+secret, strings.NewReader("id=a\xffb&call=c"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), "UTF-8")
	require.Zero(t, dec.calls.Load(), "not decoded")
	require.Empty(t, sink.ids())

	r = httptest.NewRequest(http.MethodPost, "/hook?token=wrong", strings.NewReader("\xff"))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusUnauthorized, w.Code, "authentication comes first")
}

func TestPhone(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		raw, want string
		internal  bool
		bad       bool
	}{
		{"", "", false, false},
		{"+7 (916) 123-45-67", "79161234567", false, false},
		{"anonymous", "", false, false},
		{"101", "", true, false},
		{strings.Repeat("7", 100), "", false, true},
		{"call me", "", false, true},
	} {
		got, internal, err := webhook.Phone("from", tt.raw, "RU")
		if tt.bad {
			require.ErrorIs(t, err, webhook.ErrBadRequest, tt.raw)
			require.Contains(t, err.Error(), "from ", "the message names the field")
			require.LessOrEqual(t, len(err.Error()), 200, "the echoed value is clipped")
			continue
		}
		require.NoError(t, err, tt.raw)
		require.Equal(t, tt.want, got, tt.raw)
		require.Equal(t, tt.internal, internal, tt.raw)
	}
	_, _, err := webhook.Phone("from", "+79161234567", "XX")
	require.Error(t, err)
	require.NotErrorIs(t, err, webhook.ErrBadRequest, "a bad configuration is not the sender's fault")
}

func TestArrival(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var seen time.Time
	dec := webhook.DecoderFunc(func(r *http.Request, _ []byte) (webhook.Result, error) {
		seen = webhook.Arrival(r.Context())
		return webhook.Result{}, nil
	})
	h := newHandlerWith(t, &recorder{}, dec, webhook.WithClock(func() time.Time { return at }))
	require.Equal(t, http.StatusOK, post(h, "token="+secret, nil).Code)
	require.Equal(t, at, seen, "a decoder sees the handler's arrival time")
	require.WithinDuration(t, time.Now(), webhook.Arrival(t.Context()), time.Minute, "outside a handler: now")
}

// No constructor panics: a nil option is an error naming its position.
func TestNilOptionIsAnError(t *testing.T) {
	t.Parallel()
	_, err := webhook.New(&recorder{}, toyDecoder, webhook.WithoutAuth(), nil)
	require.ErrorContains(t, err, "option 2 is nil")
}
