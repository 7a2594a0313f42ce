package megafon

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
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
