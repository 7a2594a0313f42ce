package megafon

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// compactTime is the PBX's YYYYmmddTHHMMSSZ form (UTC, 24-hour clock).
const compactTime = "20060102T150405Z"

// HistoryQuery selects call records. Set either Period or Start and End.
type HistoryQuery struct {
	// Period is today, yesterday, this_week, last_week, this_month or
	// last_month.
	Period string
	// Start and End bound the time window (sent as UTC).
	Start, End time.Time
	// Type is all (default), in, out or missed.
	Type string
	// Limit caps the number of records (0: the PBX default).
	Limit int
	// User limits the records to one employee login (crmapi v1 only).
	User string
}

// HistoryRecord is one call record.
type HistoryRecord struct {
	// UID is the call id (the webhooks' callid).
	UID string
	// Type is "in" or "out".
	Type string
	// Status is success, missed, … (crmapi v1 only; "" on the legacy API).
	Status string
	// Client is the client's number as the PBX gives it.
	Client string
	// Diversion is the company number the client dialled (crmapi v1);
	// Via is the legacy CSV's "via" column (the company line).
	Diversion string
	// User is the employee (login, or login@domain on the legacy API).
	User     string
	UserName string
	Group    string
	// Start is when the call started, in UTC.
	Start time.Time
	// Wait is the ring time; Duration the total time including Wait.
	Wait, Duration time.Duration
	// Record is the recording URL, if any.
	Record string
	Rating int
}

// Talk returns the talk time: Duration minus Wait.
func (r HistoryRecord) Talk() time.Duration { return max(r.Duration-r.Wait, 0) }

// History iterates over call records, like every provider's history
// (crmapi v1: GET /history/json, a JSON array with ISO 8601 UTC times;
// legacy: cmd=history, CSV lines whose times carry a local offset such as
// +03:00, returned here in UTC). The PBX answers in one response: the
// request is made when iteration starts, and an error ends it.
func (c *Client) History(ctx context.Context, q HistoryQuery) iter.Seq2[HistoryRecord, error] {
	return func(yield func(HistoryRecord, error) bool) {
		recs, err := c.history(ctx, q)
		if err != nil {
			yield(HistoryRecord{}, err)
			return
		}
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func (c *Client) history(ctx context.Context, q HistoryQuery) ([]HistoryRecord, error) {
	params := url.Values{}
	switch {
	case q.Period != "":
		params.Set("period", q.Period)
	case !q.Start.IsZero() && !q.End.IsZero():
		if q.End.Before(q.Start) {
			return nil, errors.New("megafon: History: End is before Start")
		}
		params.Set("start", q.Start.UTC().Format(compactTime))
		params.Set("end", q.End.UTC().Format(compactTime))
	default:
		return nil, errors.New("megafon: History: set Period or both Start and End")
	}
	params.Set("type", firstNonEmpty(q.Type, "all"))
	if q.Limit > 0 {
		params.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.User != "" {
		params.Set("user", q.User)
	}
	body, err := c.send(ctx, apiCall{
		name: "History", method: http.MethodGet, path: "history/json", query: params,
		cmd: "history", form: params, safe: true,
	})
	if err != nil {
		return nil, err
	}
	if c.legacy {
		return parseHistoryCSV(body)
	}
	return parseHistoryJSON(body)
}

func parseHistoryJSON(body []byte) ([]HistoryRecord, error) {
	var items []struct {
		UID       flexString `json:"uid"`
		Type      flexString `json:"type"`
		Status    flexString `json:"status"`
		Client    flexString `json:"client"`
		Diversion flexString `json:"diversion"`
		User      flexString `json:"user"`
		UserName  flexString `json:"user_name"`
		GroupName flexString `json:"group_name"`
		Start     flexString `json:"start"`
		Wait      flexString `json:"wait"`
		Duration  flexString `json:"duration"`
		Record    flexString `json:"record"`
		Rating    flexString `json:"rating"`
	}
	if err := decodeJSON(body, &items); err != nil {
		return nil, fmt.Errorf("megafon: History: decode: %w", err)
	}
	out := make([]HistoryRecord, len(items))
	for i, it := range items {
		start, err := parseTime(string(it.Start))
		if err != nil {
			return nil, fmt.Errorf("megafon: History: record %d: %w", i, err)
		}
		out[i] = HistoryRecord{
			UID: string(it.UID), Type: string(it.Type), Status: string(it.Status),
			Client: string(it.Client), Diversion: string(it.Diversion), User: string(it.User),
			UserName: string(it.UserName), Group: string(it.GroupName), Start: start,
			Wait: apiSeconds(string(it.Wait)), Duration: apiSeconds(string(it.Duration)),
			Record: string(it.Record), Rating: atoi(string(it.Rating)),
		}
	}
	return out, nil
}

// parseHistoryCSV reads the legacy CSV: no header, one call per line,
// UID,type,client,account,via,start,wait,duration,record[,rating].
func parseHistoryCSV(body []byte) ([]HistoryRecord, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var out []HistoryRecord
	for line := 1; ; line++ {
		f, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("megafon: History: CSV: %w", err)
		}
		if len(f) == 1 && strings.TrimSpace(f[0]) == "" {
			continue
		}
		if len(f) < 9 {
			return nil, fmt.Errorf("megafon: History: CSV line %d: %d fields, want at least 9", line, len(f))
		}
		start, err := parseTime(f[5])
		if err != nil {
			return nil, fmt.Errorf("megafon: History: CSV line %d: %w", line, err)
		}
		rec := HistoryRecord{
			UID: f[0], Type: f[1], Client: f[2], User: f[3], Diversion: f[4], Start: start,
			Wait: apiSeconds(f[6]), Duration: apiSeconds(f[7]), Record: f[8],
		}
		if len(f) > 9 {
			rec.Rating = atoi(f[9])
		}
		out = append(out, rec)
	}
}

// parseTime reads the PBX's time forms into UTC: the compact
// YYYYmmddTHHMMSSZ (24-hour), RFC 3339 with Z or an offset, and
// "YYYY-mm-dd HH:MM:SS" (taken as UTC). "" gives the zero time.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range [...]string{compactTime, time.RFC3339, "20060102T150405", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}

// apiSeconds reads a duration of the history API leniently: anything but a
// number of seconds from 0 to about 30 years is 0.
func apiSeconds(s string) time.Duration {
	n := atoi(s)
	if n > 1e9 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// atoi parses a non-negative integer; anything else is 0.
func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// CompletedCalls lists the calls that started in [from, to) as Completed
// events, one per history record, made exactly as a cmd=history push of
// the record would be (Parse): the same call ID, account (the Client's
// domain), status, times and checks, so that a call recovered from the
// history (see package reconcile) is the call its webhooks would have
// made. A record that Parse refuses ends the iteration with its error.
func (c *Client) CompletedCalls(ctx context.Context, from, to time.Time) iter.Seq2[callevent.Event, error] {
	return func(yield func(callevent.Event, error) bool) {
		for r, err := range c.History(ctx, HistoryQuery{Start: from, End: to}) {
			if err != nil {
				yield(callevent.Event{}, err)
				return
			}
			if r.Start.Before(from) || !r.Start.Before(to) {
				continue // the PBX's window may be wider than asked
			}
			evs, err := Parse(r.fields(), ParseOptions{Account: c.domain})
			if err != nil {
				yield(callevent.Event{}, fmt.Errorf("megafon: history record %s: %w", r.UID, err))
				return
			}
			for _, e := range evs {
				if !yield(e, nil) {
					return
				}
			}
		}
	}
}

// fields are the fields of the cmd=history push that reports r.
func (r HistoryRecord) fields() url.Values {
	f := url.Values{"cmd": {CmdHistory}}
	set := func(k, v string) {
		if v != "" {
			f.Set(k, v)
		}
	}
	set("callid", r.UID)
	set("type", r.Type)
	set("status", r.Status)
	set("phone", r.Client)
	set("diversion", r.Diversion)
	set("user", r.User)
	set("group", r.Group)
	set("link", r.Record)
	f.Set("start", r.Start.UTC().Format(compactTime))
	f.Set("duration", strconv.FormatInt(int64(r.Duration/time.Second), 10))
	f.Set("wait", strconv.FormatInt(int64(r.Wait/time.Second), 10))
	return f
}
