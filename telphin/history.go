package telphin

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/webhook"
)

// apiTimeLayout is how the API writes and reads times (UTC).
const apiTimeLayout = "2006-01-02 15:04:05"

// Time is a UTC time of the API ("2021-01-01 16:29:38", with an optional
// fraction after "." or ","); JSON null or "" is the zero Time.
type Time struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("telphin: time %s: %w", b, err)
	}
	s = strings.Replace(strings.TrimSpace(s), ",", ".", 1)
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	v, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC)
	if err != nil {
		return fmt.Errorf("telphin: time %q: %w", s, err)
	}
	t.Time = v
	return nil
}

// MarshalJSON implements json.Marshaler (null for the zero Time).
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format("2006-01-02 15:04:05.999999999"))
}

// HistoryCall is one call of the call history (GET /client/@me/call_history/).
// Durations are in seconds, as the API gives them.
type HistoryCall struct {
	// CallUUID is the CallID of the events in upper case; compare with strings.EqualFold.
	CallUUID              string `json:"call_uuid"`
	Flow                  string `json:"flow"`
	Result                string `json:"result"`
	ClientOwnerID         int64  `json:"client_owner_id"`
	ExtensionID           int64  `json:"extension_id"`
	ExtensionName         string `json:"extension_name"`
	ExtensionType         string `json:"extension_type"`
	ExtensionGroupOwnerID *int64 `json:"extension_group_owner_id"`
	FromUsername          string `json:"from_username"`
	FromScreenName        string `json:"from_screen_name"`
	ToUsername            string `json:"to_username"`
	DIDNumber             string `json:"did_number"`
	InitTime              Time   `json:"init_time_gmt"`
	StartTime             Time   `json:"start_time_gmt"`
	BridgedTime           Time   `json:"bridged_time_gmt"`
	HangupTime            Time   `json:"hangup_time_gmt"`
	Duration              int64  `json:"duration"`
	BridgedDuration       int64  `json:"bridged_duration"`
	BridgedUsername       string `json:"bridged_username"`
	HangupCause           string `json:"hangup_cause"`
	HangupDisposition     string `json:"hangup_disposition"`
	CDR                   []CDR  `json:"cdr"`
}

// CDR is one leg of a HistoryCall.
type CDR struct {
	Flow              string `json:"flow"`
	Result            string `json:"result"`
	Application       string `json:"application"`
	ExtensionID       int64  `json:"extension_id"`
	ExtensionType     string `json:"extension_type"`
	FromUsername      string `json:"from_username"`
	ToUsername        string `json:"to_username"`
	DestNumber        string `json:"dest_number"`
	ANINumber         string `json:"ani_number"`
	SourceNumber      string `json:"source_number"`
	InitTime          Time   `json:"init_time_gmt"`
	StartTime         Time   `json:"start_time_gmt"`
	HangupTime        Time   `json:"hangup_time_gmt"`
	Duration          int64  `json:"duration"`
	HangupCause       string `json:"hangup_cause"`
	HangupDisposition string `json:"hangup_disposition"`
	// RecordUUID is the record id (events' RecID, in upper case), "" without a record.
	RecordUUID     string `json:"record_uuid"`
	RecordFileSize int64  `json:"record_file_size"`
}

// HistoryQuery selects calls for CallHistory. Start and End are required.
type HistoryQuery struct {
	Start, End time.Time
	// Flow is "in", "out" or "transfer"; "" for all.
	Flow string
	// ExtensionID limits to one extension; 0 for all.
	ExtensionID int64
	// Order is "asc" or "desc" (Telphin's default).
	Order string
	// PerPage is the page size (default 50).
	PerPage int
}

// CallHistory iterates over every call matching q, fetching pages as the
// loop advances (GET /api/ver1.0/client/@me/call_history/). Times are sent
// as UTC. Telphin refuses concurrent statistics requests with 429, so the
// Client sends its call_history requests one at a time, whatever the
// number of goroutines iterating. An error ends the iteration:
//
//	for call, err := range client.CallHistory(ctx, q) {
//		if err != nil { return err }
//		…
//	}
func (c *Client) CallHistory(ctx context.Context, q HistoryQuery) iter.Seq2[HistoryCall, error] {
	return func(yield func(HistoryCall, error) bool) {
		if q.Start.IsZero() || q.End.IsZero() || q.End.Before(q.Start) {
			yield(HistoryCall{}, errors.New("telphin: call history needs Start <= End"))
			return
		}
		per := q.PerPage
		if per <= 0 {
			per = 50
		}
		v := url.Values{
			"start_datetime": {q.Start.UTC().Format(apiTimeLayout)},
			"end_datetime":   {q.End.UTC().Format(apiTimeLayout)},
			"per_page":       {strconv.Itoa(per)},
		}
		if q.Flow != "" {
			v.Set("flow", q.Flow)
		}
		if q.ExtensionID != 0 {
			v.Set("extension_id", strconv.FormatInt(q.ExtensionID, 10))
		}
		if q.Order != "" {
			v.Set("order", q.Order)
		}
		for page := 1; ; page++ {
			v.Set("page", strconv.Itoa(page))
			var res struct {
				CallHistory []HistoryCall `json:"call_history"`
			}
			if err := c.statsRequest(ctx, "history.list", "client/@me/call_history/", v, &res); err != nil {
				yield(HistoryCall{}, err)
				return
			}
			for _, call := range res.CallHistory {
				if !yield(call, nil) {
					return
				}
			}
			if len(res.CallHistory) < per {
				return
			}
		}
	}
}

// HistoryCall returns one call of the history by its call_uuid (= the
// events' CallID, any case).
func (c *Client) HistoryCall(ctx context.Context, callID string) (*HistoryCall, error) {
	id, err := pathID("call id", callID)
	if err != nil {
		return nil, fmt.Errorf("telphin: history call: %w", err)
	}
	var call HistoryCall
	if err := c.statsRequest(ctx, "history.get", "client/@me/call_history/"+strings.ToUpper(id), nil, &call); err != nil {
		return nil, err
	}
	return &call, nil
}

// statsRequest sends a statistics GET while holding the Client's stats
// slot, so no two run at once.
func (c *Client) statsRequest(ctx context.Context, op, path string, q url.Values, out any) error {
	select {
	case c.stats <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.stats }()
	return c.do(ctx, op, http.MethodGet, path, q, nil, out)
}

// Record returns the storage URL of a call record
// (GET /api/ver1.0/client/@me/record/{uuid}/storage_url/). recordUUID is
// the hangup event's RecID or a CDR's RecordUUID. The URL is fetched without
// authentication and may expire: fetch it when needed.
func (c *Client) Record(ctx context.Context, recordUUID string) (string, error) {
	id, err := pathID("record id", recordUUID)
	if err != nil {
		return "", fmt.Errorf("telphin: record: %w", err)
	}
	var res struct {
		RecordURL string `json:"record_url"`
	}
	if err := c.do(ctx, "records.url", http.MethodGet, "client/@me/record/"+id+"/storage_url/", nil, nil, &res); err != nil {
		return "", err
	}
	if res.RecordURL == "" {
		return "", errors.New("telphin: storage_url answer has no record_url")
	}
	return res.RecordURL, nil
}

// DownloadRecord streams the audio (audio/mpeg) of a call record to w
// (GET /api/ver1.0/client/@me/record/{uuid}) and returns the bytes written.
// Nothing is buffered in memory.
func (c *Client) DownloadRecord(ctx context.Context, recordUUID string, w io.Writer) (int64, error) {
	resp, err := c.recordFile(ctx, recordUUID)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("telphin: download record: %w", err)
	}
	return n, nil
}

// recordFile requests the audio of a call record; the caller closes the
// body.
func (c *Client) recordFile(ctx context.Context, recordUUID string) (*http.Response, error) {
	id, err := pathID("record id", recordUUID)
	if err != nil {
		return nil, fmt.Errorf("telphin: download record: %w", err)
	}
	path := apiPrefix + "client/@me/record/" + id
	if err := c.quotaError(http.MethodGet, path); err != nil {
		return nil, err
	}
	resp, err := c.api.Do(ctx, &httpx.Request{Path: path, Operation: "records.download"})
	if err != nil {
		return nil, c.noteQuota(err)
	}
	return resp, nil
}

// FetchRecording downloads the recording of the call req names
// (callevent.RecordingFetcher): the call's history record (HistoryCall of
// req.CallID) gives the record id of its first leg with one, whose audio
// is streamed (GET /api/ver1.0/client/@me/record/{uuid}). req.URL is not
// used: Telphin's storage links expire. A call not in the history (yet),
// without a recorded leg, or whose record was deleted is
// callevent.ErrNoRecording.
func (c *Client) FetchRecording(ctx context.Context, req callevent.RecordingRequest) (callevent.Recording, error) {
	call, err := c.HistoryCall(ctx, req.CallID)
	if err != nil {
		return callevent.Recording{}, httpx.NoRecording(err)
	}
	rec := ""
	for _, leg := range call.CDR {
		if leg.RecordUUID != "" {
			rec = leg.RecordUUID
			break
		}
	}
	if rec == "" {
		return callevent.Recording{}, fmt.Errorf("telphin: call %s has no recorded leg: %w", text.Clip(req.CallID, 64), callevent.ErrNoRecording)
	}
	return httpx.Recording(c.recordFile(ctx, rec))
}

// RecordingURL returns the storage URL of the recording of a Completed
// event e from this package's handler, using the RecID the hangup carried.
// It returns "" and no error when the event has no RecID (recording off,
// or Telphin did not send it: then look for CDR.RecordUUID in HistoryCall).
func (c *Client) RecordingURL(ctx context.Context, e callevent.Event) (string, error) {
	rec := RecID(e)
	if rec == "" {
		return "", nil
	}
	return c.Record(ctx, rec)
}

// RecID returns the record id a hangup event carried in its raw fields,
// or "".
func RecID(e callevent.Event) string {
	if len(e.Raw) == 0 || !bytes.Contains(e.Raw, []byte(`"RecID"`)) {
		return ""
	}
	var raw struct {
		RecID string `json:"RecID"`
	}
	if json.Unmarshal(e.Raw, &raw) != nil {
		return ""
	}
	return raw.RecID
}

// CompletedCalls lists the calls that started in [from, to) as Completed
// events of the account the Client's ClientID names (the App ID of the
// hook URL, the webhooks' account), so that a call recovered from the
// history (see package reconcile) is the call its hangup webhook would
// have made: CallID in lower case, Direction from flow, the client's
// number, the line (DID), the employee's extension, Status from result
// (an unanswered inbound call is Missed), the start, answer and hang-up
// times, talk and ring time, and in Raw the RecID of the call's
// recording, for RecordingURL. Calls of flow "transfer" are legs of other
// calls and are left out. A call whose fields do not make a valid event
// ends the iteration with an error naming it.
func (c *Client) CompletedCalls(ctx context.Context, from, to time.Time) iter.Seq2[callevent.Event, error] {
	return func(yield func(callevent.Event, error) bool) {
		for h, err := range c.CallHistory(ctx, HistoryQuery{Start: from, End: to, Order: "asc"}) {
			if err != nil {
				yield(callevent.Event{}, err)
				return
			}
			if h.Flow == "transfer" || h.StartTime.Before(from) || !h.StartTime.Before(to) {
				continue
			}
			e, err := h.event(c.creds.ClientID, c.country)
			if err != nil {
				yield(callevent.Event{}, fmt.Errorf("telphin: history call %s: %w", text.Clip(h.CallUUID, 64), err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// event is h as a Completed event of account (see CompletedCalls).
func (h HistoryCall) event(account, country string) (callevent.Event, error) {
	e := callevent.Event{
		Provider: Provider,
		Account:  account,
		Kind:     callevent.Completed,
		CallID:   strings.ToLower(h.CallUUID),
		At:       h.StartTime.Time,
		EndedAt:  h.HangupTime.Time,
	}
	if e.At.IsZero() {
		e.At = h.InitTime.Time
	}
	e.ID = webhook.EventID(Provider, account, e.CallID, "history")
	var client, employee string
	switch h.Flow {
	case "in":
		e.Direction, client, employee = callevent.Inbound, h.FromUsername, h.BridgedUsername
	case "out":
		e.Direction, client, employee = callevent.Outbound, h.ToUsername, h.FromUsername
	default:
		return callevent.Event{}, fmt.Errorf("%w: flow %q", webhook.ErrBadRequest, text.Clip(h.Flow, 32))
	}
	var internal bool
	var err error
	if e.ClientPhone, internal, err = webhook.Phone("client number", client, country); err != nil {
		return callevent.Event{}, err
	}
	if internal && e.ClientPhone == "" {
		e.Direction = callevent.Internal
	}
	if e.LinePhone, _, err = webhook.Phone("did_number", h.DIDNumber, country); err != nil {
		return callevent.Event{}, err
	}
	if strings.Contains(employee, "*") { // an extension, not the client's number
		e.Extension = shortExtension(employee)
	}
	answered := h.Result == "answered" || h.Result == "bridged"
	switch {
	case answered:
		e.Status = callevent.Success
	case e.Direction == callevent.Inbound:
		e.Status = callevent.Missed
	case h.Result == "busy":
		e.Status = callevent.Busy
	case h.Result == "not answered":
		e.Status = callevent.NotAvailable
	case h.Result == "rejected":
		e.Status = callevent.Canceled
	default:
		e.Status = callevent.Failed
	}
	talk := time.Duration(h.BridgedDuration) * time.Second
	total := time.Duration(h.Duration) * time.Second
	if answered {
		e.Duration = talk
		e.Wait = max(total-talk, 0)
		e.AnsweredAt = h.BridgedTime.Time
		if e.AnsweredAt.IsZero() {
			e.AnsweredAt = e.At.Add(e.Wait)
		}
	} else {
		e.Wait = total
	}
	for _, d := range h.CDR {
		if d.RecordUUID != "" {
			e.Raw, _ = json.Marshal(map[string]string{"RecID": d.RecordUUID})
			break
		}
	}
	if err := e.Validate(); err != nil {
		return callevent.Event{}, err
	}
	return e, nil
}
