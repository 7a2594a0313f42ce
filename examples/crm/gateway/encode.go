package gateway

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

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

const hexDigits = "0123456789abcdef"

// appendString appends s as encoding/json writes a string: HTML-safe,
// invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
