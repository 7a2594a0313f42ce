package megafon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
)

// §7 B, verbatim: the legacy CSV with +03:00 offsets and an empty record.
func TestParseHistoryCSVSample(t *testing.T) {
	t.Parallel()
	const body = "a252179d-fa9b-4b2a-9f4a-05c61af0639f,out,+79002445949,admin@vats123456.megapbx.ru,+74996861574,2023-01-01T16:14:08+03:00,0,11,\n" +
		"df3a53ac-c58d-4971-91f6-7c0bf37170cb,in,+79161234567,andy,+74951234567,2023-01-01T15:43:55+03:00,5,64,https://vats123456.megapbx.ru/rec.mp3,4\n\n"
	got, err := parseHistoryCSV([]byte(body))
	require.NoError(t, err)
	want := []HistoryRecord{
		{UID: "a252179d-fa9b-4b2a-9f4a-05c61af0639f", Type: "out", Client: "+79002445949", User: "admin@vats123456.megapbx.ru",
			Diversion: "+74996861574", Start: time.Date(2023, 1, 1, 13, 14, 8, 0, time.UTC), Duration: 11 * time.Second},
		{UID: "df3a53ac-c58d-4971-91f6-7c0bf37170cb", Type: "in", Client: "+79161234567", User: "andy",
			Diversion: "+74951234567", Start: time.Date(2023, 1, 1, 12, 43, 55, 0, time.UTC), Wait: 5 * time.Second,
			Duration: 64 * time.Second, Record: "https://vats123456.megapbx.ru/rec.mp3", Rating: 4},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	_, err = parseHistoryCSV([]byte("x,in,+7916\n"))
	require.ErrorContains(t, err, "want at least 9")
	_, err = parseHistoryCSV([]byte("u,in,+7,a,+7,2023-13-01T00:00:00+03:00,0,0,\n"))
	require.ErrorContains(t, err, "unrecognised time")
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	tests := map[string]time.Time{
		"20170905T150852Z":          time.Date(2017, 9, 5, 15, 8, 52, 0, time.UTC), // 24-hour: 15h, not 3h
		"2026-04-05T12:00:00Z":      time.Date(2026, 4, 5, 12, 0, 0, 0, time.UTC),
		"2023-01-01T16:14:08+03:00": time.Date(2023, 1, 1, 13, 14, 8, 0, time.UTC),
		"":                          {},
	}
	for in, want := range tests {
		got, err := parseTime(in)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), "%s: got %v", in, got)
		require.Equal(t, time.UTC, got.Location())
	}
	_, err := parseTime("20170905T030852PM")
	require.Error(t, err)
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Success": "success", "success": "success", "Missed": "missed", "missed": "missed", "MISSED": "missed",
		"Cancel": "canceled", "Busy": "busy", "NotAvailable": "not_available", "NotAllowed": "not_allowed",
		"NotFound": "not_found", "Weird": "failed", "": "",
	} {
		require.Equal(t, want, parseStatus(in).String(), in)
	}
}

// The memory of call directions is bounded in size (the call touched least
// recently goes first) and in time.
func TestDirectionMemoryBounds(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2023, 1, 1, 12, 0, 0, 0, time.UTC)
	m := newDirectionMemory(3, time.Hour)
	for i, id := range []string{"c1", "c2", "c3"} {
		m.remember(t0.Add(time.Duration(i)*time.Second), "a", id, callevent.Inbound)
	}
	require.Equal(t, callevent.Inbound, m.recall(t0.Add(5*time.Second), "a", "c1"), "c1 touched: c2 is now the oldest")
	m.remember(t0.Add(6*time.Second), "a", "c4", callevent.Outbound)
	require.Equal(t, 3, m.len())
	require.Equal(t, callevent.Direction(0), m.recall(t0.Add(7*time.Second), "a", "c2"), "evicted")
	require.Equal(t, callevent.Inbound, m.recall(t0.Add(7*time.Second), "a", "c1"))
	require.Equal(t, callevent.Outbound, m.recall(t0.Add(7*time.Second), "a", "c4"))
	require.Equal(t, callevent.Direction(0), m.recall(t0.Add(7*time.Second), "b", "c4"), "per account")

	m.remember(t0.Add(8*time.Second), "a", "c4", callevent.Inbound)
	require.Equal(t, callevent.Inbound, m.recall(t0.Add(9*time.Second), "a", "c4"), "a later statement wins")

	later := t0.Add(9*time.Second + time.Hour)
	require.Equal(t, callevent.Direction(0), m.recall(later, "a", "c4"), "expired")
	require.Equal(t, 0, m.len(), "expired entries are dropped")

	for i := range 1000 {
		m.remember(later, "a", fmt.Sprint(i), callevent.Inbound)
	}
	require.Equal(t, 3, m.len())

	var nilMemory *directionMemory
	nilMemory.remember(t0, "a", "c1", callevent.Inbound)
	require.Equal(t, callevent.Direction(0), nilMemory.recall(t0, "a", "c1"))
}

// A handler's memory is bounded: at most directionMemorySize calls (a
// few MB), each for directionMemoryTTL after its last push.
func TestHandlerDirectionMemoryIsBounded(t *testing.T) {
	t.Parallel()
	m := newDecoder().memory
	require.NotNil(t, m)
	require.Equal(t, directionMemorySize, m.max)
	require.Equal(t, directionMemoryTTL, m.ttl)
	require.Positive(t, m.max)
	require.LessOrEqual(t, m.max, 100_000)
	require.Positive(t, m.ttl)
	require.LessOrEqual(t, m.ttl, 24*time.Hour)
}

func TestJSONToken(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxTokenLen+1)
	for body, want := range map[string]string{
		`{"crm_token":"abc"}`:                   "abc",
		`{ "crm_token" :	"a\"b\u0063" , "x":1}`: `a"bc`,
		`{"crm_token":12345}`:                   "12345",
		`{"crm_token":12345`:                    "12345",
		`{"crm_token":true,"x":1}`:              "true",
		`{"crm_token":null}`:                    "",
		`{"crm_token":{"a":1}}`:                 "",
		`{"crm_token":["abc"]}`:                 "",
		`{"crm_token":"abc`:                     "",
		`{"crm_token":"` + long + `"}`:          "",
		`{"x":"crm_token","crm_token":"abc"}`:   "abc",
		`{"x":"\"crm_token\":\"abc\""}`:         "",
		`{"crm_token" "abc"}`:                   "",
		`{"crm_token":`:                         "",
		``:                                      "",
	} {
		require.Equal(t, want, jsonToken([]byte(body)), body)
	}
}
