package gateway

import (
	"errors"
	"strconv"
	"time"

	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
)

// appendCall appends the JSON of rec as a Call (the bytes json.Marshal of
// callOf(rec) gives, TestAppendCallMatchesJSON checks) without allocating:
// 20 readers paging through the call log then make next to no garbage. A
// time encoding/json cannot encode (a year outside 0–9999) is an error.
func appendCall(b []byte, r *match.CallRecord) ([]byte, error) {
	field := func(name string) { b = append(b, ',', '"'); b = append(b, name...); b = append(b, '"', ':') }
	str := func(name, v string) { field(name); b = appendString(b, v) }
	b = append(b, `{"provider":`...)
	b = appendString(b, r.Provider)
	str("account", r.Account)
	str("call_id", r.CallID)
	str("direction", r.Direction.String())
	str("status", r.Status.String())
	str("client_id", r.ClientID)
	str("client_phone", r.ClientPhone)
	str("employee", r.Employee)
	str("extension", r.Extension)
	str("line_phone", r.LinePhone)
	var err error
	field("started_at")
	if b, err = appendTime(b, r.StartedAt); err != nil {
		return b, err
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"answered_at", r.AnsweredAt}, {"ended_at", r.EndedAt}} {
		field(t.name)
		if t.t.IsZero() {
			b = append(b, "null"...)
		} else if b, err = appendTime(b, t.t); err != nil {
			return b, err
		}
	}
	field("duration_sec")
	b = strconv.AppendInt(b, int64(r.Duration/time.Second), 10)
	field("wait_sec")
	b = strconv.AppendInt(b, int64(r.Wait/time.Second), 10)
	str("recording_url", r.RecordingURL)
	str("lead_id", r.LeadID)
	field("rating")
	b = strconv.AppendInt(b, int64(r.Rating), 10)
	return append(b, '}'), nil
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, errors.New("time " + strconv.Itoa(y) + "-… outside the years 0 to 9999")
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendString appends s as encoding/json writes a string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = text.AppendJSON(b, s)
	return append(b, '"')
}
