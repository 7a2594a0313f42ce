package phonet

import (
	"cmp"
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
)

var (
	_ callevent.Caller = (*Client)(nil)
	_ callevent.Hanger = (*Client)(nil)

	_ callevent.RecordingFetcher = (*Client)(nil)
)

// ErrCallNotFound is returned by FindCall when no history record has the uuid.
var ErrCallNotFound = errors.New("phonet: call not found")

// Call places a click-to-call: POST /rest/user/makeCall with legExt =
// req.From (the employee's internal number, rung first) and otherLegNum =
// req.To (the number to dial, sent as given). CallRef.CallID is the call's
// uuid. A CallerID is not supported by Phonet's API (ErrUnsupported). The
// request is never retried once it may have reached Phonet (no second call
// on a 5xx or a timeout); a rejected session is re-authorized and the
// request replayed once.
func (c *Client) Call(ctx context.Context, req callevent.CallRequest) (callevent.CallRef, error) {
	legExt, to := strings.TrimSpace(req.From), strings.TrimSpace(req.To)
	if legExt == "" || to == "" {
		return callevent.CallRef{}, errors.New("phonet: Call needs From (employee extension) and To (number)")
	}
	if req.CallerID != "" {
		return callevent.CallRef{}, fmt.Errorf("%w: phonet cannot choose the caller ID", callevent.ErrUnsupported)
	}
	if req.Queue != "" {
		return callevent.CallRef{}, fmt.Errorf("%w: phonet cannot place a call through a queue", callevent.ErrUnsupported)
	}
	r, err := httpx.NewJSONRequest(http.MethodPost, "rest/user/makeCall",
		struct {
			LegExt      string `json:"legExt"`
			OtherLegNum string `json:"otherLegNum"`
		}{legExt, to})
	if err != nil {
		return callevent.CallRef{}, err
	}
	var out struct {
		UUID flexString `json:"uuid"`
	}
	r.Operation = "makeCall"
	if _, err := c.api.JSON(ctx, r, &out); err != nil {
		return callevent.CallRef{}, fmt.Errorf("phonet: makeCall: %w", err)
	}
	if out.UUID == "" {
		return callevent.CallRef{}, errors.New("phonet: makeCall: response has no uuid")
	}
	return callevent.CallRef{CallID: string(out.UUID)}, nil
}

// ErrInvalidID is returned (wrapped) when a call uuid given to Hangup or
// DownloadRecording cannot be put into a URL path as one segment.
var ErrInvalidID = errors.New("phonet: invalid call uuid")

// checkID accepts a call uuid that can only ever be one path segment:
// 1 to 256 letters, digits and "-._~", and not "." or "..". Phonet's uuids
// are hex strings; anything else (a "/", a "%2F", a "..") would let a
// value taken from a webhook walk to another API path with the session
// cookie attached.
func checkID(id string) error {
	ok := id != "" && id != "." && id != ".." && len(id) <= maxField
	for i := 0; ok && i < len(id); i++ {
		b := id[i]
		ok = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
			b == '-' || b == '.' || b == '_' || b == '~'
	}
	if !ok {
		return fmt.Errorf("%w %q: want 1 to %d letters, digits and -._~", ErrInvalidID, text.Clip(id, 64), maxField)
	}
	return nil
}

// Hangup ends an active call (callevent.Hanger): GET
// /rest/calls/active/{uuid}/hangup with req.CallID as the uuid (req.From
// is not needed). A uuid that is not a single path segment (see
// ErrInvalidID) is refused without a request.
func (c *Client) Hangup(ctx context.Context, req callevent.CallControlRequest) error {
	uuid := req.CallID
	if err := checkID(uuid); err != nil {
		return err
	}
	_, err := c.api.JSON(ctx, &httpx.Request{Path: "rest/calls/active/" + uuid + "/hangup", Operation: "hangup"}, nil)
	if err != nil {
		return fmt.Errorf("phonet: hangup: %w", err)
	}
	return nil
}

// ActiveCalls lists the calls in progress: GET /rest/calls/active/v3.
func (c *Client) ActiveCalls(ctx context.Context) ([]ActiveCall, error) {
	var out []ActiveCall
	if _, err := c.api.JSON(ctx, &httpx.Request{Path: "rest/calls/active/v3", Operation: "activeCalls"}, &out); err != nil {
		return nil, fmt.Errorf("phonet: active calls: %w", err)
	}
	return out, nil
}

// Users lists the company's employees: GET /rest/users.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var out []User
	if _, err := c.api.JSON(ctx, &httpx.Request{Path: "rest/users", Operation: "users"}, &out); err != nil {
		return nil, fmt.Errorf("phonet: users: %w", err)
	}
	return out, nil
}

// HistorySource selects one of Phonet's three history endpoints.
type HistorySource int

// History sources.
const (
	HistoryCompany HistorySource = iota // /rest/calls/company.api: every call (default)
	HistoryMissed                       // /rest/calls/missed.api: calls to call back
	HistoryUsers                        // /rest/calls/users.api: calls per employee
)

func (s HistorySource) path() (string, bool) {
	switch s {
	case HistoryCompany:
		return "rest/calls/company.api", true
	case HistoryMissed:
		return "rest/calls/missed.api", true
	case HistoryUsers:
		return "rest/calls/users.api", true
	}
	return "", false
}

// DirectionsEncoding says how CallsQuery.Directions is sent; Phonet's
// expected form is not documented publicly and integrations disagree.
type DirectionsEncoding int

// Encodings of the directions filter.
const (
	// DirectionsMask sends one bit-sum: directions=6 for outgoing+incoming.
	DirectionsMask DirectionsEncoding = iota
	// DirectionsIndexed sends PHP-style directions[0]=2&directions[1]=4.
	DirectionsIndexed
)

// MaxPageSize is the largest page Phonet's history endpoints return.
const MaxPageSize = 50

// CallsQuery selects history records.
type CallsQuery struct {
	Source HistorySource
	// From and To bound the call end time; both required. Sent as epoch
	// milliseconds (timeFrom, timeTo).
	From, To time.Time
	// Directions filters by lgDirection; empty means no filter.
	Directions         []Direction
	DirectionsEncoding DirectionsEncoding
	// PageSize is the limit per request, 1..50; 0 means 50.
	PageSize int
}

// Calls iterates over history records, requesting pages with limit/offset
// until a page has fewer rows than the limit. On an error it yields the
// error once and stops. Stop early by breaking out of the loop.
//
//	for rec, err := range client.Calls(ctx, phonet.CallsQuery{From: from, To: to}) { … }
func (c *Client) Calls(ctx context.Context, q CallsQuery) iter.Seq2[CallRecord, error] {
	return func(yield func(CallRecord, error) bool) {
		path, query, err := q.request()
		if err != nil {
			yield(CallRecord{}, err)
			return
		}
		limit, _ := strconv.Atoi(query.Get("limit"))
		for offset := 0; ; offset += limit {
			query.Set("offset", strconv.Itoa(offset))
			var page []json.RawMessage
			if _, err := c.api.JSON(ctx, &httpx.Request{Path: path, Query: query, Operation: "calls"}, &page); err != nil {
				yield(CallRecord{}, fmt.Errorf("phonet: call history: %w", err))
				return
			}
			for _, raw := range page {
				var rec CallRecord
				if err := rec.UnmarshalJSON(raw); err != nil {
					yield(CallRecord{}, fmt.Errorf("phonet: call history record: %w", err))
					return
				}
				if !yield(rec, nil) {
					return
				}
			}
			if len(page) < limit {
				return
			}
		}
	}
}

// request validates q and builds the path and the query without offset.
func (q CallsQuery) request() (string, url.Values, error) {
	path, ok := q.Source.path()
	if !ok {
		return "", nil, fmt.Errorf("phonet: unknown history source %d", q.Source)
	}
	if q.From.IsZero() || q.To.IsZero() || q.To.Before(q.From) {
		return "", nil, errors.New("phonet: CallsQuery needs From <= To")
	}
	limit := q.PageSize
	if limit == 0 {
		limit = MaxPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return "", nil, fmt.Errorf("phonet: page size %d outside 1..%d", q.PageSize, MaxPageSize)
	}
	v := url.Values{
		"timeFrom": {strconv.FormatInt(q.From.UnixMilli(), 10)},
		"timeTo":   {strconv.FormatInt(q.To.UnixMilli(), 10)},
		"limit":    {strconv.Itoa(limit)},
	}
	switch q.DirectionsEncoding {
	case DirectionsMask:
		mask := 0
		for _, d := range q.Directions {
			mask |= int(d)
		}
		if mask != 0 {
			v.Set("directions", strconv.Itoa(mask))
		}
	case DirectionsIndexed:
		for i, d := range q.Directions {
			v.Set("directions["+strconv.Itoa(i)+"]", strconv.Itoa(int(d)))
		}
	default:
		return "", nil, fmt.Errorf("phonet: unknown directions encoding %d", q.DirectionsEncoding)
	}
	return path, v, nil
}

// FindCallWindow is how far around the given time FindCall searches.
const FindCallWindow = 10 * time.Minute

// FindCall finds a finished call by uuid. Phonet has no lookup by uuid, so
// it scans the company history from around−10 min to around+10 min (use the
// hang-up time of the call). It returns ErrCallNotFound when no record
// matches (the record may not be written yet: try again later).
func (c *Client) FindCall(ctx context.Context, uuid string, around time.Time) (CallRecord, error) {
	if uuid == "" || around.IsZero() {
		return CallRecord{}, errors.New("phonet: FindCall needs a uuid and a time")
	}
	q := CallsQuery{From: around.Add(-FindCallWindow), To: around.Add(FindCallWindow)}
	for rec, err := range c.Calls(ctx, q) {
		if err != nil {
			return CallRecord{}, err
		}
		if rec.UUID == uuid {
			return rec, nil
		}
	}
	return CallRecord{}, fmt.Errorf("%w: %s", ErrCallNotFound, uuid)
}

// RecordingURL returns the address of a call's recording:
// https://<domain>/rest/public/calls/{uuid}/audio, or "" when uuid is not
// a valid call uuid (see ErrInvalidID).
func (c *Client) RecordingURL(uuid string) string {
	if checkID(uuid) != nil {
		return ""
	}
	return c.api.BaseURL().String() + "rest/public/calls/" + uuid + "/audio"
}

// DownloadRecording streams a call's recording (wav or mp3) to w and
// returns the number of bytes written. The session cookie is sent along.
// A uuid that is not a single path segment (see ErrInvalidID) is refused
// without a request.
func (c *Client) DownloadRecording(ctx context.Context, uuid string, w io.Writer) (int64, error) {
	resp, err := c.recording(ctx, uuid)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("phonet: recording: %w", err)
	}
	return n, nil
}

// recording requests a call's recording; the caller closes the body.
func (c *Client) recording(ctx context.Context, uuid string) (*http.Response, error) {
	if err := checkID(uuid); err != nil {
		return nil, err
	}
	resp, err := c.api.Do(ctx, &httpx.Request{Path: c.RecordingURL(uuid), Operation: "recording"})
	if err != nil {
		return nil, fmt.Errorf("phonet: recording: %w", err)
	}
	return resp, nil
}

// FetchRecording downloads the recording of the call req names
// (callevent.RecordingFetcher): the audio of req.CallID, the call's uuid,
// at RecordingURL, with the session cookie. req.URL is not needed. A call
// Phonet has no recording of (its 404) is callevent.ErrNoRecording; a
// uuid that is not a single path segment is refused without a request
// (ErrInvalidID).
func (c *Client) FetchRecording(ctx context.Context, req callevent.RecordingRequest) (callevent.Recording, error) {
	return httpx.Recording(c.recording(ctx, req.CallID))
}

// CompletedCalls lists the calls of the company history that ended in
// [from, to) as Completed events (CallRecord.ToEvent, numbers without a
// country code read as DefaultCountry's), with the Client's domain as
// their Account, as the webhooks' accountDomain: a call recovered from
// the history (see package reconcile) is the call its webhooks would have
// made. A record ToEvent refuses ends the iteration with its error.
func (c *Client) CompletedCalls(ctx context.Context, from, to time.Time) iter.Seq2[callevent.Event, error] {
	return func(yield func(callevent.Event, error) bool) {
		for rec, err := range c.Calls(ctx, CallsQuery{From: from, To: to}) {
			if err != nil {
				yield(callevent.Event{}, err)
				return
			}
			if rec.EndAt.Before(from) || !rec.EndAt.Before(to) {
				continue // timeTo is inclusive: the next window has it
			}
			rec.AccountDomain = cmp.Or(rec.AccountDomain, c.domain)
			e, err := rec.ToEvent(DefaultCountry)
			if err != nil {
				yield(callevent.Event{}, fmt.Errorf("phonet: history: %w", err))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}
