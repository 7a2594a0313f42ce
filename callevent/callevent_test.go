package callevent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
)

func TestEnumText(t *testing.T) {
	t.Parallel()
	kinds := map[callevent.Kind]string{
		callevent.Ringing: "ringing", callevent.Answered: "answered", callevent.Transferred: "transferred",
		callevent.Ended: "ended", callevent.Completed: "completed", callevent.Rated: "rated",
	}
	for k, s := range kinds {
		require.Equal(t, s, k.String())
		b, err := k.MarshalText()
		require.NoError(t, err)
		var got callevent.Kind
		require.NoError(t, got.UnmarshalText(b))
		require.Equal(t, k, got)
	}
	dirs := map[callevent.Direction]string{callevent.Inbound: "inbound", callevent.Outbound: "outbound", callevent.Internal: "internal"}
	for d, s := range dirs {
		require.Equal(t, s, d.String())
		var got callevent.Direction
		require.NoError(t, got.UnmarshalText([]byte(s)))
		require.Equal(t, d, got)
	}
	statuses := map[callevent.Status]string{
		callevent.Success: "success", callevent.Missed: "missed", callevent.Canceled: "canceled",
		callevent.Busy: "busy", callevent.NotAvailable: "not_available", callevent.NotAllowed: "not_allowed",
		callevent.NotFound: "not_found", callevent.Failed: "failed",
	}
	for st, s := range statuses {
		require.Equal(t, s, st.String())
		var got callevent.Status
		require.NoError(t, got.UnmarshalText([]byte(s)))
		require.Equal(t, st, got)
	}
}

func TestEnumUnknownText(t *testing.T) {
	t.Parallel()
	k := callevent.Answered
	require.ErrorContains(t, k.UnmarshalText([]byte("Ringing")), `unknown kind "Ringing"`)
	require.Equal(t, callevent.Answered, k, "a failed unmarshal leaves the value alone")
	var d callevent.Direction
	require.Error(t, d.UnmarshalText([]byte("in")))
	var s callevent.Status
	require.Error(t, s.UnmarshalText([]byte("NotAvailable")))
	_, err := callevent.Status(42).MarshalText()
	require.Error(t, err)
	require.Equal(t, "Status(42)", callevent.Status(42).String())
}

func sampleEvent() callevent.Event {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	return callevent.Event{
		ID: "id1", Provider: "telphin", Account: "app", Kind: callevent.Completed,
		Direction: callevent.Inbound, Status: callevent.NotAvailable, CallID: "c1", LegID: "l1",
		ClientPhone: "79161234567", LinePhone: "74951234567", Extension: "101", Employee: "Иван",
		Group: "sales", At: at, AnsweredAt: at.Add(5 * time.Second), EndedAt: at.Add(65 * time.Second),
		Duration: time.Minute, Wait: 5 * time.Second, RecordingURL: "https://r/1.mp3", Rating: 5,
		ContactRef: "pid-9", Raw: json.RawMessage(`{"a":"b"}`),
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	t.Parallel()
	e := sampleEvent()
	b, err := json.Marshal(e)
	require.NoError(t, err)
	for _, key := range []string{`"id"`, `"provider"`, `"account"`, `"kind":"completed"`, `"direction":"inbound"`,
		`"status":"not_available"`, `"call_id"`, `"leg_id"`, `"client_phone"`, `"line_phone"`, `"extension"`,
		`"employee"`, `"group"`, `"at"`, `"answered_at"`, `"ended_at"`, `"duration_sec":60`, `"wait_sec":5`,
		`"recording_url"`, `"rating"`, `"contact_ref"`, `"raw":{"a":"b"}`} {
		require.Contains(t, string(b), key)
	}
	var got callevent.Event
	require.NoError(t, json.Unmarshal(b, &got))
	require.Empty(t, cmp.Diff(e, got))

	min := callevent.Event{ID: "x", Provider: "p", Kind: callevent.Ringing, CallID: "c", At: e.At}
	b, err = json.Marshal(min)
	require.NoError(t, err)
	require.NotContains(t, string(b), "answered_at", "zero times are omitted")
	require.NotContains(t, string(b), "status")
}

func TestEventValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, sampleEvent().Validate())
	arr := sampleEvent()
	arr.Raw = json.RawMessage(" [1, 2] ")
	require.NoError(t, arr.Validate())
	tests := []struct {
		name  string
		edit  func(*callevent.Event)
		wants string
	}{
		{"no id", func(e *callevent.Event) { e.ID = "" }, "id: empty"},
		{"no provider", func(e *callevent.Event) { e.Provider = "" }, "provider: empty"},
		{"no call id", func(e *callevent.Event) { e.CallID = "" }, "call_id: empty"},
		{"no kind", func(e *callevent.Event) { e.Kind = 0 }, "kind: invalid"},
		{"bad direction", func(e *callevent.Event) { e.Direction = 9 }, "direction: invalid"},
		{"bad status", func(e *callevent.Event) { e.Status = 99 }, "status: invalid"},
		{"no time", func(e *callevent.Event) { e.At = time.Time{} }, "at: zero"},
		{"formatted phone", func(e *callevent.Event) { e.ClientPhone = "+79161234567" }, "client_phone"},
		{"formatted line", func(e *callevent.Event) { e.LinePhone = "8 495" }, "line_phone"},
		{"100-digit phone", func(e *callevent.Event) { e.ClientPhone = strings.Repeat("7", 100) }, "client_phone: 100 digits"},
		{"negative duration", func(e *callevent.Event) { e.Duration = -1 }, "duration: -1ns is outside"},
		{"huge duration", func(e *callevent.Event) { e.Duration = 9e15 * time.Microsecond }, "duration:"},
		{"negative wait", func(e *callevent.Event) { e.Wait = -1 }, "wait: -1ns is outside"},
		{"negative rating", func(e *callevent.Event) { e.Rating = -1 }, "rating: -1 is outside"},
		{"huge rating", func(e *callevent.Event) { e.Rating = 1 << 40 }, "rating:"},
		{"bad raw", func(e *callevent.Event) { e.Raw = json.RawMessage("{") }, "raw"},
		{"raw not an object", func(e *callevent.Event) { e.Raw = json.RawMessage(`"text"`) }, "raw"},
		{"NUL in call id", func(e *callevent.Event) { e.CallID = "a\x00b" }, "call_id: not printable"},
		{"invalid UTF-8 id", func(e *callevent.Event) { e.ID = "a\xffb" }, "id: not printable"},
		{"10 KB leg id", func(e *callevent.Event) { e.LegID = strings.Repeat("x", 10<<10) }, "leg_id: 10240 bytes"},
		{"257-byte employee", func(e *callevent.Event) { e.Employee = strings.Repeat("я", 129) }, "employee: 258 bytes"},
		{"control in extension", func(e *callevent.Event) { e.Extension = "101\n" }, "extension: not printable"},
		{"year 1970", func(e *callevent.Event) { e.At = time.Unix(0, 0) }, "at: 1970-01-01T00:00:00Z is outside"},
		{"year 9999", func(e *callevent.Event) { e.EndedAt = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) }, "ended_at: 9999"},
		{"ended before answered", func(e *callevent.Event) { e.AnsweredAt = e.At.Add(time.Minute); e.EndedAt = e.At.Add(time.Second) }, "ended_at: before answered_at"},
		{"answered before start", func(e *callevent.Event) { e.AnsweredAt = e.At.Add(-time.Second) }, "answered_at: before at"},
		{"javascript link", func(e *callevent.Event) { e.RecordingURL = "javascript:alert(1)" }, "recording_url: not an absolute http"},
		{"relative link", func(e *callevent.Event) { e.RecordingURL = "/rec/1.mp3" }, "recording_url: not an absolute http"},
		{"link with a space", func(e *callevent.Event) { e.RecordingURL = "https://x/a b" }, "recording_url: not a URL"},
	}
	for _, tt := range tests {
		e := sampleEvent()
		tt.edit(&e)
		require.ErrorContains(t, e.Validate(), tt.wants, tt.name)
	}
	var e callevent.Event
	err := e.Validate()
	require.Error(t, err)
	require.True(t, strings.Count(err.Error(), "\n") >= 3, "every problem is reported: %v", err)

	ok := sampleEvent()
	ok.Kind = callevent.Ended
	ok.AnsweredAt = ok.At.Add(-time.Minute) // an Ended event happens after the answer
	ok.EndedAt = ok.At
	ok.RecordingURL = "https://records.example.com/a.mp3?x=1"
	ok.Employee = strings.Repeat("я", 128)
	require.NoError(t, ok.Validate())
}

func TestEventValidateAt(t *testing.T) {
	t.Parallel()
	e := sampleEvent()
	now := e.At.Add(time.Hour)
	w := callevent.Window{Past: 2 * time.Hour, Future: time.Minute}
	require.NoError(t, e.ValidateAt(now, w))
	require.ErrorContains(t, e.ValidateAt(e.At.Add(3*time.Hour), w), "at: ", "older than Past")
	require.ErrorContains(t, e.ValidateAt(e.At.Add(-2*time.Minute), w), "at: ", "further ahead than Future")
	e.EndedAt = now.Add(2 * time.Minute)
	require.ErrorContains(t, e.ValidateAt(now, w), "ended_at: ")
	e.ID = ""
	require.ErrorContains(t, e.ValidateAt(now, w), "id: empty", "structural checks come first")
}

func TestFanout(t *testing.T) {
	t.Parallel()
	var got []string
	rec := func(name string, err error) callevent.Sink {
		return callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
			got = append(got, name+":"+e.ID)
			return err
		})
	}
	errA, errC := errors.New("a failed"), errors.New("c failed")
	s := callevent.Fanout(rec("a", errA), nil, rec("b", nil), rec("c", errC))
	err := s.HandleEvent(t.Context(), callevent.Event{ID: "1"})
	require.Equal(t, []string{"a:1", "b:1", "c:1"}, got, "all sinks get the event even after a failure")
	require.ErrorIs(t, err, errA)
	require.ErrorIs(t, err, errC)
	require.NoError(t, callevent.Fanout().HandleEvent(t.Context(), callevent.Event{}))
}

func TestContactLookupFunc(t *testing.T) {
	t.Parallel()
	var l callevent.ContactLookup = callevent.ContactLookupFunc(func(_ context.Context, account, phone string) (callevent.Contact, bool, error) {
		return callevent.Contact{ID: account + "/" + phone}, true, nil
	})
	c, ok, err := l.LookupContact(t.Context(), "acc", "7916")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "acc/7916", c.ID)
}

func TestErrUnsupportedIsTheStandardOne(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("finaz: transfer: attended transfer: %w", callevent.ErrUnsupported)
	require.ErrorIs(t, err, callevent.ErrUnsupported)
	require.ErrorIs(t, err, errors.ErrUnsupported, "callers that know only the standard library's sentinel")
	require.NotErrorIs(t, errors.ErrUnsupported, callevent.ErrUnsupported, "the standard one is not ours")
}
