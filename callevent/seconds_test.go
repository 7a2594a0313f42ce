package callevent_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
)

func TestSecondsJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		json string
	}{
		{0, "0"},
		{42 * time.Second, "42"},
		{12500 * time.Millisecond, "12.5"},
		{time.Nanosecond, "0.000000001"},
		{-1500 * time.Millisecond, "-1.5"},
		{math.MaxInt64, "9223372036.854775807"},
		{math.MinInt64, "-9223372036.854775808"},
	} {
		b, err := json.Marshal(callevent.Seconds(tc.d))
		require.NoError(t, err)
		require.Equal(t, tc.json, string(b))
		var back callevent.Seconds
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, tc.d, time.Duration(back), tc.json)
	}
	for _, bad := range []string{`"12"`, `1e3`, `1.0000000001`, `9223372037`, `-9223372036.854775809`, `.5`, `1.`, `--1`, `null1`} {
		var s callevent.Seconds
		require.Error(t, json.Unmarshal([]byte(bad), &s), bad)
	}
}

func TestEventJSONUsesSeconds(t *testing.T) {
	t.Parallel()
	e := callevent.Event{ID: "e1", Provider: "telphin", Kind: callevent.Completed, CallID: "c1",
		At: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), Duration: 95 * time.Second, Wait: 7500 * time.Millisecond}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	require.Contains(t, string(b), `"duration_sec":95`)
	require.Contains(t, string(b), `"wait_sec":7.5`)
	require.NotContains(t, string(b), `"duration":`)
	var back callevent.Event
	require.NoError(t, json.Unmarshal(b, &back))
	require.Empty(t, cmp.Diff(e, back))

	b, err = json.Marshal(callevent.Event{ID: "e2"})
	require.NoError(t, err)
	require.NotContains(t, string(b), "_sec", "zero durations are omitted")
}

func FuzzSecondsJSON(f *testing.F) {
	for _, s := range []string{"0", "42", "12.5", "-1.5", "0.000000001", "9223372036.854775807", "1e3", `"1"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s callevent.Seconds
		if json.Unmarshal(b, &s) != nil {
			return
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back callevent.Seconds
		if err := json.Unmarshal(out, &back); err != nil || back != s {
			t.Fatalf("%s → %d → %s → %d, %v", b, s, out, back, err)
		}
	})
}
