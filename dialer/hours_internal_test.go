package dialer

import (
	"testing"
	"time"
)

// TestCallingHoursNext: when a window next opens, in the target's zone:
// inside, before, after, across midnight, on allowed days only, and over
// a daylight-saving change.
func TestCallingHoursNext(t *testing.T) {
	msk, _ := time.LoadLocation("Europe/Moscow")
	sp, _ := time.LoadLocation("America/Sao_Paulo")
	ny, _ := time.LoadLocation("America/New_York")
	day := func(loc *time.Location, d, h, m int) time.Time { return time.Date(2025, 3, d, h, m, 0, 0, loc) }
	nine21 := CallingHours{From: 9 * 60, To: 21 * 60}
	night := CallingHours{From: 22 * 60, To: 2 * 60}
	weekdays := CallingHours{From: 10 * 60, To: 18 * 60, Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}}
	for _, tc := range []struct {
		name string
		h    CallingHours
		at   time.Time
		loc  *time.Location
		want time.Time
	}{
		{"always", CallingHours{}, day(msk, 14, 3, 0), msk, day(msk, 14, 3, 0)},
		{"inside", nine21, day(msk, 14, 12, 0), msk, day(msk, 14, 12, 0)},
		{"at the start", nine21, day(msk, 14, 9, 0), msk, day(msk, 14, 9, 0)},
		{"before", nine21, day(msk, 14, 7, 30), msk, day(msk, 14, 9, 0)},
		{"at the end", nine21, day(msk, 14, 21, 0), msk, day(msk, 15, 9, 0)},
		{"after", nine21, day(msk, 14, 23, 59), msk, day(msk, 15, 9, 0)},
		{"other zone", nine21, day(time.UTC, 14, 5, 0), sp, day(sp, 14, 9, 0)}, // 02:00 in São Paulo
		{"night: evening", night, day(msk, 14, 23, 0), msk, day(msk, 14, 23, 0)},
		{"night: after midnight", night, day(msk, 15, 1, 30), msk, day(msk, 15, 1, 30)},
		{"night: morning", night, day(msk, 15, 2, 0), msk, day(msk, 15, 22, 0)},
		{"weekdays: Friday evening", weekdays, day(msk, 14, 19, 0), msk, day(msk, 17, 10, 0)},
		{"weekdays: Saturday", weekdays, day(msk, 15, 12, 0), msk, day(msk, 17, 10, 0)},
		{"weekdays: Monday", weekdays, day(msk, 17, 12, 0), msk, day(msk, 17, 12, 0)},
		// New York springs forward on 9 March 2025 at 02:00: a window
		// from 02:30 opens at 03:30 that day (the instant after the gap).
		{"daylight saving gap", CallingHours{From: 2*60 + 30, To: 5 * 60}, day(ny, 9, 1, 0), ny, time.Date(2025, 3, 9, 7, 30, 0, 0, time.UTC)},
		{"daylight saving: next day", nine21, day(ny, 8, 22, 0), ny, day(ny, 9, 9, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.h.validate(); err != nil {
				t.Fatal(err)
			}
			if got := tc.h.next(tc.at, tc.loc); !got.Equal(tc.want) {
				t.Fatalf("next(%s) = %s, want %s", tc.at, got.In(tc.loc), tc.want.In(tc.loc))
			}
		})
	}
}

// TestZones: every zone of the tables loads, and numbers find theirs.
func TestZones(t *testing.T) {
	for _, m := range []map[string]string{countryZones, ruZones, brZones, capitals} {
		for k, z := range m {
			if _, err := loadZone(z); err != nil {
				t.Errorf("%s: %v", k, err)
			}
		}
	}
	for phone, want := range map[string]string{
		"74951234567":   "Europe/Moscow",
		"78121234567":   "Europe/Moscow",
		"73432123456":   "Asia/Yekaterinburg",
		"73832123456":   "Asia/Novosibirsk",
		"74232123456":   "Asia/Vladivostok",
		"74012123456":   "Europe/Kaliningrad",
		"79161234567":   "", // mobile: not geographic
		"77272501234":   "Asia/Almaty",
		"380671234567":  "Europe/Kyiv",
		"375291234567":  "Europe/Minsk",
		"5511987654321": "America/Sao_Paulo",
		"5592987654321": "America/Manaus",
		"5568987654321": "America/Rio_Branco",
		"12125551234":   "",
		"4930123456":    "Europe/Berlin",
		"99":            "",
	} {
		if got := ZoneOf(phone); got != want {
			t.Errorf("ZoneOf(%s) = %q, want %q", phone, got, want)
		}
	}
}
