package dialer

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// TimeOfDay is a time of day in minutes after midnight; as text "HH:MM"
// ("09:00", "21:30"; "24:00" is the end of the day).
type TimeOfDay int

// String returns "HH:MM".
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", int(t)/60, int(t)%60) }

// MarshalText implements encoding.TextMarshaler.
func (t TimeOfDay) MarshalText() ([]byte, error) {
	if t < 0 || t > 24*60 {
		return nil, fmt.Errorf("dialer: time of day %d is outside 00:00 to 24:00", int(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText reads "HH:MM" (or "H:MM"), from "00:00" to "24:00".
func (t *TimeOfDay) UnmarshalText(b []byte) error {
	v, err := ParseTimeOfDay(string(b))
	*t = v
	return err
}

// ParseTimeOfDay reads "HH:MM" (or "H:MM"), from "00:00" to "24:00".
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	h, m, ok := cutColon(s)
	if !ok {
		return 0, fmt.Errorf("time of day %q is not HH:MM", clip(s))
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || len(m) != 2 || len(h) == 0 || len(h) > 2 || hh < 0 || mm < 0 || mm > 59 || hh*60+mm > 24*60 {
		return 0, fmt.Errorf("time of day %q is not HH:MM between 00:00 and 24:00", clip(s))
	}
	return TimeOfDay(hh*60 + mm), nil
}

func cutColon(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// CallingHours is the window in which targets are called, on the clock of
// each target's own time zone: from From to To (To before From is a
// window across midnight, "20:00"–"02:00"), on the Days given (none: every
// day; a window across midnight belongs to the day it opens). The zero
// value allows any time.
type CallingHours struct {
	From TimeOfDay      `json:"from"`
	To   TimeOfDay      `json:"to"`
	Days []time.Weekday `json:"days,omitempty"`
}

// always reports whether h restricts nothing.
func (h *CallingHours) always() bool {
	return (h.From == h.To || h.From == 0 && h.To == 24*60) && (len(h.Days) == 0 || len(h.Days) == 7)
}

func (h *CallingHours) validate() error {
	if h.From < 0 || h.From > 24*60 || h.To < 0 || h.To > 24*60 {
		return errors.New("from and to must be between 00:00 and 24:00")
	}
	if h.From == h.To && h.From != 0 {
		return errors.New("from and to are equal: the window is empty (leave both out for no limit)")
	}
	for _, d := range h.Days {
		if d < time.Sunday || d > time.Saturday {
			return fmt.Errorf("day %d is not a weekday (0 = Sunday … 6 = Saturday)", d)
		}
	}
	return nil
}

// openDay reports whether a window may open on weekday d.
func (h *CallingHours) openDay(d time.Weekday) bool {
	if len(h.Days) == 0 {
		return true
	}
	for _, x := range h.Days {
		if x == d {
			return true
		}
	}
	return false
}

// next returns t if the window is open at t in loc, else when it next
// opens (t itself in a different zone, same instant). It looks at most
// eight days ahead; a window that never opens (no day given that exists)
// cannot be configured.
func (h *CallingHours) next(t time.Time, loc *time.Location) time.Time {
	if h.always() {
		return t
	}
	local := t.In(loc)
	y, m, d := local.Date()
	to := h.To
	if to <= h.From { // across midnight (or "00:00"–"00:00" with days)
		to += 24 * 60
	}
	// The window of the day before may still be open after midnight.
	for day := -1; day <= 8; day++ {
		date := time.Date(y, m, d+day, 0, 0, 0, 0, loc)
		if !h.openDay(date.Weekday()) {
			continue
		}
		start := clockAt(y, m, d+day, h.From, loc)
		end := clockAt(y, m, d+day, to, loc)
		if !end.After(t) {
			continue
		}
		if start.After(t) {
			return start
		}
		return t
	}
	return t // unreachable with a valid window: some day opens within a week
}

// clockAt is minute-of-day mins of the day y-m-d in loc (mins may exceed
// a day: the days after). A time that a daylight-saving change skips
// (02:30 on the night clocks jump from 02:00 to 03:00) is the same time
// after the change (03:30), never one before it.
func clockAt(y int, m time.Month, d int, mins TimeOfDay, loc *time.Location) time.Time {
	t := time.Date(y, m, d, int(mins)/60, int(mins)%60, 0, 0, loc)
	want := time.Date(y, m, d, int(mins)/60, int(mins)%60, 0, 0, time.UTC) // the wall clock asked for
	ty, tm, td := t.Date()
	got := time.Date(ty, tm, td, t.Hour(), t.Minute(), 0, 0, time.UTC) // the wall clock given
	if got.Before(want) {
		t = t.Add(want.Sub(got))
	}
	return t
}
