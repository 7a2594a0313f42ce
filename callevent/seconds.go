package callevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Seconds is a duration that JSON encodes as a decimal number of seconds:
// 42, 12.5, 0.000001. It is the unit of every duration callbridge writes as
// JSON (Event's duration_sec and wait_sec, match.CallRecord's). Encoding is
// exact to the nanosecond, so a value read back is the value written.
type Seconds time.Duration

// MarshalJSON writes s as decimal seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	d := time.Duration(s)
	var b []byte
	if d < 0 {
		b = append(b, '-')
		d = -d // MinInt64 stays negative: formatted from its uint64 below
	}
	ns := uint64(d)
	if int64(s) == -1<<63 {
		ns = 1 << 63
	}
	b = strconv.AppendUint(b, ns/1e9, 10)
	if frac := ns % 1e9; frac != 0 {
		f := strconv.AppendUint(nil, frac+1e9, 10)[1:] // 9 digits, leading zeros kept
		b = append(b, '.')
		b = append(b, strings.TrimRight(string(f), "0")...)
	}
	return b, nil
}

// UnmarshalJSON reads decimal seconds; more than nine decimals, an
// exponent or a value beyond ±292 years is an error.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var n json.Number
	if len(b) > 0 && b[0] == '"' {
		return fmt.Errorf("seconds: %s is a string, not a number", b)
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("seconds: %w", err)
	}
	str := string(n)
	neg := strings.HasPrefix(str, "-")
	str = strings.TrimPrefix(str, "-")
	whole, frac, _ := strings.Cut(str, ".")
	if strings.ContainsAny(str, "eE+") || whole == "" || len(frac) > 9 {
		return fmt.Errorf("seconds: %s is not a decimal number of seconds with at most 9 decimals", n)
	}
	sec, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || sec > 9223372036 {
		return fmt.Errorf("seconds: %s is out of range", n)
	}
	var ns uint64
	if frac != "" {
		ns, err = strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return fmt.Errorf("seconds: %s is not a decimal number", n)
		}
	}
	total := sec*1e9 + ns
	if total > 1<<63-1 && !(neg && total == 1<<63) {
		return errors.New("seconds: out of range")
	}
	d := int64(total)
	if neg {
		d = -d
	}
	*s = Seconds(d)
	return nil
}

// MarshalJSON encodes e with Duration and Wait as duration_sec and
// wait_sec in Seconds (omitted when zero).
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return json.Marshal(struct {
		plain
		Duration Seconds `json:"duration_sec,omitempty"`
		Wait     Seconds `json:"wait_sec,omitempty"`
	}{plain(e), Seconds(e.Duration), Seconds(e.Wait)})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var v struct {
		plain
		Duration Seconds `json:"duration_sec"`
		Wait     Seconds `json:"wait_sec"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = Event(v.plain)
	e.Duration, e.Wait = time.Duration(v.Duration), time.Duration(v.Wait)
	return nil
}
