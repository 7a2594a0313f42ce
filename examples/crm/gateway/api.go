package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/phone"
	"github.com/callbridge/callbridge/sqlstore"
)

// Call is one element of GET /api/calls.
type Call struct {
	Provider     string     `json:"provider"`
	Account      string     `json:"account"`
	CallID       string     `json:"call_id"`
	Direction    string     `json:"direction"`
	Status       string     `json:"status"`
	ClientID     string     `json:"client_id"`
	ClientPhone  string     `json:"client_phone"`
	Employee     string     `json:"employee"`
	Extension    string     `json:"extension"`
	LinePhone    string     `json:"line_phone"`
	StartedAt    time.Time  `json:"started_at"`
	AnsweredAt   *time.Time `json:"answered_at"`
	EndedAt      *time.Time `json:"ended_at"`
	DurationSec  int64      `json:"duration_sec"`
	WaitSec      int64      `json:"wait_sec"`
	RecordingURL string     `json:"recording_url"`
	LeadID       string     `json:"lead_id"`
	// Rating is the client's score of the call, 0 if not rated.
	Rating int `json:"rating"`
}

// Client is one element of GET /api/clients.
type Client struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Phone           string `json:"phone"`
	Channel         string `json:"channel"`
	Responsible     string `json:"responsible"`
	CreatedFromCall bool   `json:"created_from_call"`
}

// Lead is one element of GET /api/leads.
type Lead struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	// Phone is the number of a lead without a client (rules that create
	// leads but no clients for unknown numbers, as Perfectum does).
	Phone       string `json:"phone,omitempty"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	Source      string `json:"source"`
	Responsible string `json:"responsible"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func callOf(r match.CallRecord) Call {
	return Call{
		Provider: r.Provider, Account: r.Account, CallID: r.CallID,
		Direction: r.Direction.String(), Status: r.Status.String(),
		ClientID: r.ClientID, ClientPhone: r.ClientPhone, Employee: r.Employee, Extension: r.Extension,
		LinePhone: r.LinePhone, StartedAt: r.StartedAt, AnsweredAt: optionalTime(r.AnsweredAt),
		EndedAt: optionalTime(r.EndedAt), DurationSec: int64(r.Duration / time.Second),
		WaitSec: int64(r.Wait / time.Second), RecordingURL: r.RecordingURL, LeadID: r.LeadID, Rating: r.Rating,
	}
}

// callOf is callOf of the record as presented (its recording link).
func (g *Gateway) callOf(r match.CallRecord) Call { return callOf(g.presented(r)) }

// Calls lists every logged call, newest first (the order of GET
// /api/calls).
func (g *Gateway) Calls() []Call {
	if g.db != nil {
		calls, _, _ := g.scanCallsDB(context.Background(), nil, math.MaxInt, func(match.CallRecord) (bool, bool) { return true, false })
		return mapSlice(calls, g.callOf)
	}
	return mapSlice(g.store.calls.all(), g.callOf)
}

// Clients lists the clients in creation order, as GET /api/clients does.
func (g *Gateway) Clients() []Client {
	if g.db != nil {
		return mapSlice(allDB(func(ctx context.Context, p sqlstore.Page) ([]match.Client, error) { return g.db.Clients(ctx, "", p) }), clientOf)
	}
	return mapSlice(g.store.Clients(), clientOf)
}

// Leads lists the leads in creation order, as GET /api/leads does.
func (g *Gateway) Leads() []Lead {
	if g.db != nil {
		return mapSlice(allDB(func(ctx context.Context, p sqlstore.Page) ([]match.Lead, error) { return g.db.Leads(ctx, "", p) }), leadOf)
	}
	return mapSlice(g.store.Leads(), leadOf)
}

// Notifications lists the notifications to employees, oldest first, as GET
// /api/notifications does.
func (g *Gateway) Notifications() []Notification {
	if g.db != nil {
		return mapSlice(allDB(func(ctx context.Context, p sqlstore.Page) ([]match.Notification, error) {
			return g.db.Notifications(ctx, "", p)
		}), notificationOf)
	}
	return mapSlice(g.store.Notifications(), notificationOf)
}

// Notification is one element of GET /api/notifications: an employee told
// about a call (match.Notification).
type Notification struct {
	Kind        string    `json:"kind"` // "missed"
	Account     string    `json:"account"`
	Employee    string    `json:"employee"`
	Provider    string    `json:"provider"`
	CallID      string    `json:"call_id"`
	ClientID    string    `json:"client_id"`
	ClientPhone string    `json:"client_phone"`
	LeadID      string    `json:"lead_id"`
	Reason      string    `json:"reason"`
	At          time.Time `json:"at"`
	// Delivery is how sending it to the notification webhook went
	// (Config.NotifyURL); absent without one. Deliveries["webhook"] is
	// the same.
	Delivery *Delivery `json:"delivery,omitempty"`
	// Deliveries is how sending it went, by sender: "webhook"
	// (Config.NotifyURL) and "email" (Config.SMTP); absent without any.
	Deliveries map[string]*Delivery `json:"deliveries,omitempty"`
}

// Delivery is the state of a notification's delivery through a sender.
type Delivery struct {
	State     string     `json:"state"` // "pending", "sent" or "failed"
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error,omitempty"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

func notificationOf(n match.Notification) Notification {
	return Notification{Kind: n.Kind.String(), Account: n.Account, Employee: n.Employee, Provider: n.Provider,
		CallID: n.CallID, ClientID: n.ClientID, ClientPhone: n.ClientPhone, LeadID: n.LeadID, Reason: n.Reason, At: n.At}
}

func clientOf(c match.Client) Client {
	return Client{ID: c.ID, Name: c.Name, Phone: c.Phone, Channel: string(c.Channel),
		Responsible: c.Responsible, CreatedFromCall: c.CreatedFromCall}
}

func leadOf(l match.Lead) Lead {
	return Lead{ID: l.ID, ClientID: l.ClientID, Phone: l.Phone, Name: l.Name, Status: l.Status, Source: l.Source, Responsible: l.Responsible}
}

// mapSlice maps in to a non-nil slice, so an empty list is [] in JSON.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}

// Pagination of the lists.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Page is the shape of every list answer: up to limit items and, when more
// may follow, the cursor of the next page (pass it as ?cursor= with the
// same filters).
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
	// Note explains an answer that is empty by design (GET
	// /api/deadletters in memory mode).
	Note string `json:"note,omitempty"`
}

// listQuery is the parsed query of a list: limit, cursor and filters.
type listQuery struct {
	limit      int
	cursor     string
	from, to   time.Time
	phone      string
	status     string
	provider   string
	employee   string
	statusSeen bool
}

// parseListQuery reads the query of a list; allowed names the filters the
// list has. A bad or unknown parameter is an error naming it.
func (g *Gateway) parseListQuery(r *http.Request, allowed ...string) (listQuery, error) {
	q := listQuery{limit: DefaultLimit}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return q, fmt.Errorf("query: %v", err)
	}
	for name, vs := range vals {
		if len(vs) != 1 {
			return q, fmt.Errorf("%s: given %d times", text.Clip(name, 40), len(vs))
		}
		v := vs[0]
		switch {
		case name == "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxLimit {
				return q, fmt.Errorf("limit: %q is not a number from 1 to %d", text.Clip(v, 40), MaxLimit)
			}
			q.limit = n
		case name == "cursor":
			q.cursor = v
		case !slices.Contains(allowed, name):
			return q, fmt.Errorf("%s: unknown parameter (this list takes limit, cursor, %s)", text.Clip(name, 40), strings.Join(allowed, ", "))
		case name == "from" || name == "to":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil || t.Year() < 1 || t.Year() > 9999 {
				return q, fmt.Errorf("%s: %q is not an RFC 3339 time (2006-01-02T15:04:05Z)", name, text.Clip(v, 40))
			}
			if name == "from" {
				q.from = t
			} else {
				q.to = t
			}
		case name == "phone":
			p, err := phone.Normalize(v, g.cfg.Country)
			if err != nil {
				return q, fmt.Errorf("phone: %q is not a phone number: %v", text.Clip(v, 40), err)
			}
			q.phone = p
		case name == "status":
			q.status, q.statusSeen = v, true
		case name == "employee":
			if v == "" || len(v) > 256 || !callevent.Printable(v) {
				return q, errors.New("employee: want an employee id (1 to 256 printable characters)")
			}
			q.employee = v
		case name == "provider":
			if !slices.Contains(providers, v) {
				return q, fmt.Errorf("provider: %q is not one of %s", text.Clip(v, 40), strings.Join(providers, ", "))
			}
			q.provider = v
		}
	}
	if !q.from.IsZero() && !q.to.IsZero() && !q.from.Before(q.to) {
		return q, errors.New("from: must be before to")
	}
	return q, nil
}

// Cursors are opaque to clients: base64url of a small JSON value with the
// list's name, so a cursor of one list is refused by another.
type cursorData struct {
	List string    `json:"l"`
	Pos  int       `json:"i,omitempty"` // clients, leads, notifications: the next position
	ID   int64     `json:"n,omitempty"` // dead letters: the last one's ID
	At   time.Time `json:"t,omitzero"`  // calls: the last call's key
	P    string    `json:"p,omitempty"`
	A    string    `json:"a,omitempty"`
	C    string    `json:"c,omitempty"`
}

func encodeCursor(c cursorData) string {
	b, _ := json.Marshal(c) // a struct of strings, an int and a time from a valid record
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, list string) (cursorData, error) {
	var c cursorData
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil && len(b) <= 2048 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(&c)
	} else if err == nil {
		err = errors.New("too long")
	}
	if err != nil || c.List != list || c.Pos < 0 || c.ID < 0 {
		return cursorData{}, fmt.Errorf("cursor: not a cursor of %s (pass next_cursor as it is)", list)
	}
	return c, nil
}

// writePage streams a page: each item encoded on its own, so one item that
// cannot be encoded is logged and left out instead of failing the list
// for everyone, and no second copy of the page is built.
func writePage[T any](g *Gateway, w http.ResponseWriter, r *http.Request, items []T, encode func([]byte, T) ([]byte, error), next string) {
	writePageNote(g, w, r, items, encode, next, "")
}

// writePageNote is writePage with Page.Note.
func writePageNote[T any](g *Gateway, w http.ResponseWriter, r *http.Request, items []T, encode func([]byte, T) ([]byte, error), next, note string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriterSize(w, 8<<10)
	buf := make([]byte, 0, 1024)
	_, _ = bw.WriteString(`{"items":[`)
	first := true
	for _, it := range items {
		var err error
		if buf, err = encode(buf[:0], it); err != nil {
			g.log.WarnContext(r.Context(), "list: item left out: cannot encode", "path", r.URL.Path, "error", err)
			continue
		}
		if !first {
			_ = bw.WriteByte(',')
		}
		first = false
		_, _ = bw.Write(bytes.TrimSuffix(buf, []byte("\n")))
		if r.Context().Err() != nil {
			return // the client is gone or the server is closing
		}
	}
	_, _ = bw.WriteString("]")
	if next != "" {
		_, _ = bw.WriteString(`,"next_cursor":`)
		b, _ := json.Marshal(next)
		_, _ = bw.Write(b)
	}
	if note != "" {
		_, _ = bw.WriteString(`,"note":`)
		b, _ := json.Marshal(note)
		_, _ = bw.Write(b)
	}
	_, _ = bw.WriteString("}\n")
	_ = bw.Flush()
}

// listCalls is GET /api/calls: newest first; filters from and to (on
// started_at, RFC 3339, from inclusive), phone, status, provider and
// employee (the employee the call belongs to: who answered or called,
// for a missed call the responsible).
func (g *Gateway) listCalls(w http.ResponseWriter, r *http.Request) {
	q, err := g.parseListQuery(r, "from", "to", "phone", "status", "provider", "employee")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f := callFilter{from: q.from, to: q.to, phone: q.phone, provider: q.provider, employee: q.employee}
	if q.statusSeen {
		if err := f.status.UnmarshalText([]byte(q.status)); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("status: %q is not a call status (%s)", text.Clip(q.status, 40), strings.Join(callStatuses(), ", ")))
			return
		}
		f.hasStatus = true
	}
	// The cursor is the last call of the page before, in both modes.
	var after *match.CallRecord
	if q.cursor != "" {
		c, err := decodeCursor(q.cursor, "calls")
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		after = &match.CallRecord{StartedAt: c.At, Provider: c.P, Account: c.A, CallID: c.C}
	}
	if g.db != nil {
		g.listCallsDB(w, r, after, q.limit, f)
		return
	}
	calls, more := g.store.calls.page(after, q.limit, f)
	next := ""
	if more {
		next = callCursor(calls[len(calls)-1])
	}
	writePage(g, w, r, calls, g.appendCall, next)
}

// callCursor is the cursor of the page after the call last.
func callCursor(last *match.CallRecord) string {
	return encodeCursor(cursorData{List: "calls", At: last.StartedAt, P: last.Provider, A: last.Account, C: last.CallID})
}

// callStatuses are the names the status filter of /api/calls takes.
func callStatuses() []string {
	var out []string
	for s := callevent.Status(0); s < 64; s++ {
		b, err := s.MarshalText()
		if err != nil {
			break
		}
		if len(b) > 0 {
			out = append(out, string(b))
		}
	}
	return out
}

// listClients is GET /api/clients: creation order; filters phone (the
// client's number) and from/to (created_at).
func (g *Gateway) listClients(w http.ResponseWriter, r *http.Request) {
	q, err := g.parseListQuery(r, "from", "to", "phone")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if g.inAmoCRM(w, "clients") {
		return
	}
	pos, ok := g.position(w, q.cursor, "clients")
	if !ok {
		return
	}
	keep := func(c match.Client) bool {
		return (q.phone == "" || c.Phone == q.phone) && inRange(c.CreatedAt, q.from, q.to)
	}
	var clients []match.Client
	var next int
	var more bool
	if g.db != nil {
		clients, next, more, err = scanDB(r.Context(), pos, q.limit,
			func(ctx context.Context, p sqlstore.Page) ([]match.Client, error) { return g.db.Clients(ctx, "", p) },
			func(c match.Client) (bool, bool) { return keep(c), false })
		if err != nil {
			g.dbError(w, r, err)
			return
		}
	} else {
		clients, next, more = g.store.clientPage(pos, q.limit, keep)
	}
	writePage(g, w, r, clients, func(b []byte, c match.Client) ([]byte, error) { return appendJSON(b, clientOf(c)) },
		cursorIf(more, "clients", next))
}

// listLeads is GET /api/leads: creation order; filters status (the CRM's
// status name, e.g. "new") and from/to (created_at).
func (g *Gateway) listLeads(w http.ResponseWriter, r *http.Request) {
	q, err := g.parseListQuery(r, "from", "to", "status")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if g.inAmoCRM(w, "leads") {
		return
	}
	if q.statusSeen && (q.status == "" || len(q.status) > match.MaxValueLen) {
		writeError(w, http.StatusBadRequest, "status: want a lead status name (1 to 256 bytes)")
		return
	}
	pos, ok := g.position(w, q.cursor, "leads")
	if !ok {
		return
	}
	keep := func(l match.Lead) bool {
		return (!q.statusSeen || l.Status == q.status) && inRange(l.CreatedAt, q.from, q.to)
	}
	var leads []match.Lead
	var next int
	var more bool
	if g.db != nil {
		leads, next, more, err = scanDB(r.Context(), pos, q.limit,
			func(ctx context.Context, p sqlstore.Page) ([]match.Lead, error) { return g.db.Leads(ctx, "", p) },
			func(l match.Lead) (bool, bool) { return keep(l), false })
		if err != nil {
			g.dbError(w, r, err)
			return
		}
	} else {
		leads, next, more = g.store.leadPage(r.Context(), pos, q.limit, keep)
	}
	writePage(g, w, r, leads, func(b []byte, l match.Lead) ([]byte, error) { return appendJSON(b, leadOf(l)) },
		cursorIf(more, "leads", next))
}

// appendJSON appends json.Marshal(v).
func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	return append(b, j...), err
}

// position is the position a cursor of list holds (0 when cursor is
// empty); a bad cursor is answered 400 and ok is false.
func (g *Gateway) position(w http.ResponseWriter, cursor, list string) (pos int, ok bool) {
	c, ok := g.cursor(w, cursor, list)
	return c.Pos, ok
}

// cursor decodes a cursor of list (the zero cursor when empty); a bad
// one is answered 400 and ok is false.
func (g *Gateway) cursor(w http.ResponseWriter, cursor, list string) (c cursorData, ok bool) {
	if cursor == "" {
		return cursorData{}, true
	}
	c, err := decodeCursor(cursor, list)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return cursorData{}, false
	}
	return c, true
}

func cursorIf(more bool, list string, pos int) string {
	if !more {
		return ""
	}
	return encodeCursor(cursorData{List: list, Pos: pos})
}

func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

// CallRequest is the body of POST /api/calls. With Group set the provider
// rings that group or queue instead of the employee From.
type CallRequest struct {
	Provider string `json:"provider"`
	From     string `json:"from"`
	To       string `json:"to"`
	Group    string `json:"group,omitempty"`
	// Queue is the queue the call goes through (Finaz; refused by the
	// providers that have none).
	Queue string `json:"queue,omitempty"`
}

// CallReply is the answer of POST /api/calls.
type CallReply struct {
	CallID string `json:"call_id"`
}

// maxAPIBody bounds the body of POST /api/calls.
const maxAPIBody = 64 << 10

// callTimeout bounds one click-to-call.
const callTimeout = 30 * time.Second

// placeCall is POST /api/calls: click-to-call through a provider's client.
// A body that is not application/json is 415; a bad request, a provider
// without credentials (or without group calls) or a call the provider
// refuses (4xx: unknown extension, bad number) 400 with the message; a
// provider's 429 is 429; a failing provider (5xx) or network 502.
func (g *Gateway) placeCall(w http.ResponseWriter, r *http.Request) {
	req, status, err := decodeCallRequest(w, r)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	caller, ok := g.callers[req.Provider]
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s is not configured: set %s, or run the gateway with -demo", req.Provider, g.missing[req.Provider]))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	var ref callevent.CallRef
	if req.Group != "" {
		gc, ok := caller.(callevent.GroupCaller)
		if !ok {
			err = fmt.Errorf("group call: %w", callevent.ErrUnsupported)
		} else {
			ref, err = gc.GroupCall(ctx, callevent.GroupCallRequest{Group: req.Group, To: req.To})
		}
	} else {
		ref, err = caller.Call(ctx, callevent.CallRequest{From: req.From, To: req.To, Queue: req.Queue})
	}
	if err != nil {
		status, msg := callFailure(req.Provider, err)
		if ra := retryAfterOf(err); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		g.log.WarnContext(r.Context(), "click-to-call failed", "provider", req.Provider, "status", status, "error", err)
		g.providerFailed(req.Provider, status, err)
		writeError(w, status, msg)
		return
	}
	g.log.InfoContext(r.Context(), "click-to-call", "provider", req.Provider, "call_id", ref.CallID)
	writeJSON(w, http.StatusOK, CallReply{CallID: ref.CallID})
}

// callFailure classifies a click-to-call error: the caller's mistake (a
// number or extension the provider's client or the provider refuses, an
// operation the provider lacks) is 4xx; only the provider failing (5xx,
// refusing the gateway's own credentials) or the network is 502. The
// message names the provider once.
func callFailure(provider string, err error) (int, string) {
	msg := oneProvider(provider, err.Error())
	var apiErr *callbridge.APIError
	var reqErr *httpx.RequestError
	switch {
	case errors.Is(err, callevent.ErrUnsupported):
		return http.StatusBadRequest, provider + " cannot do this: " + strings.TrimPrefix(msg, provider+": ")
	case errors.As(err, &apiErr):
		text := apiErr.Message
		if text == "" {
			text = apiErr.Code
		}
		if text == "" {
			text = http.StatusText(apiErr.StatusCode)
		}
		text = fmt.Sprintf("%s answered %d: %s", provider, apiErr.StatusCode, text)
		switch {
		case apiErr.StatusCode == http.StatusTooManyRequests:
			return http.StatusTooManyRequests, text
		case apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden ||
			apiErr.StatusCode == http.StatusProxyAuthRequired:
			return http.StatusBadGateway, text + " (check the gateway's credentials)"
		case apiErr.StatusCode >= 400 && apiErr.StatusCode < 500:
			return http.StatusBadRequest, text
		default:
			return http.StatusBadGateway, text
		}
	case errors.As(err, &reqErr), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusBadGateway, msg
	default:
		// Not an HTTP failure: the provider's client refused the request
		// before sending it (a bad number, an unknown extension).
		return http.StatusBadRequest, msg
	}
}

// oneProvider is msg starting with "<provider>: " and naming it there only:
// a provider's error wrapping another of the same provider
// ("telphin: call from x: telphin: unknown extension") loses the inner
// prefixes.
func oneProvider(provider, msg string) string {
	p := provider + ": "
	for strings.HasPrefix(msg, p) {
		msg = msg[len(p):]
	}
	return p + strings.ReplaceAll(msg, ": "+p, ": ")
}

// retryAfterOf is the Retry-After of a provider's 429, in seconds.
func retryAfterOf(err error) string {
	var rl *httpx.RateLimitError
	if errors.As(err, &rl) && rl.RetryAfter > 0 {
		return strconv.FormatInt(int64((rl.RetryAfter+time.Second-1)/time.Second), 10)
	}
	return ""
}

func decodeCallRequest(w http.ResponseWriter, r *http.Request) (CallRequest, int, error) {
	var req CallRequest
	if status, err := decodeJSON(w, r, &req); err != nil {
		return req, status, err
	}
	req.Provider = strings.ToLower(strings.TrimSpace(req.Provider))
	var missing []string
	if req.Provider == "" {
		missing = append(missing, "provider")
	}
	if req.To == "" {
		missing = append(missing, "to")
	}
	if req.From == "" && req.Group == "" {
		missing = append(missing, "from (or group)")
	}
	if len(missing) > 0 {
		return req, http.StatusBadRequest, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if !slices.Contains(providers, req.Provider) {
		return req, http.StatusBadRequest, fmt.Errorf("unknown provider %q (one of %s)", req.Provider, strings.Join(providers, ", "))
	}
	return req, 0, nil
}

// Stats is the answer of GET /api/stats.
type Stats struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Employees has one entry per employee with calls in [From, To),
	// ordered by employee id ("" collects the calls of nobody).
	Employees []match.EmployeeStats `json:"employees"`
	// Lines counts the same calls by the company number they came in on
	// or went out from, ordered by the number ("" collects the calls
	// without one).
	Lines []match.LineStats `json:"lines"`
}

// callStats is GET /api/stats: each employee's, and each line's,
// answered, missed and outbound calls, talk time and average wait over
// the calls that started in a period: from and to (RFC 3339; to defaults
// to now), or days (today and that many days before it, in the gateway's
// time zone), by default Config.StatsDays.
func (g *Gateway) callStats(w http.ResponseWriter, r *http.Request) {
	now := g.clock().Now()
	from, to, err := statsPeriod(r.URL.RawQuery, now, g.cfg.StatsDays)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var stats []match.EmployeeStats
	var lines []match.LineStats
	if g.db != nil {
		stats, err = g.db.AllCallStats(r.Context(), from, to)
		if err == nil {
			lines, err = g.db.AllLineStats(r.Context(), from, to)
		}
		if err != nil {
			g.log.ErrorContext(r.Context(), "call stats failed", "error", err)
			writeError(w, http.StatusServiceUnavailable, "the database is unavailable")
			return
		}
	} else {
		var c match.StatsCounter
		for _, rec := range g.store.calls.all() {
			if inRange(rec.StartedAt, from, to) {
				c.Add(rec)
			}
		}
		stats, lines = c.Stats(), c.Lines()
	}
	writeJSON(w, http.StatusOK, Stats{From: from.UTC(), To: to.UTC(), Employees: orEmpty(stats), Lines: orEmpty(lines)})
}

// orEmpty is s, or an empty slice for nil, so an empty list is [] in
// JSON.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// statsPeriod reads the period of GET /api/stats from query.
func statsPeriod(query string, now time.Time, defaultDays int) (from, to time.Time, err error) {
	vals, err := url.ParseQuery(query)
	if err != nil {
		return from, to, fmt.Errorf("query: %v", err)
	}
	days := -1
	for name, vs := range vals {
		if len(vs) != 1 {
			return from, to, fmt.Errorf("%s: given %d times", text.Clip(name, 40), len(vs))
		}
		switch v := vs[0]; name {
		case "from", "to":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil || t.Year() < 1 || t.Year() > 9999 {
				return from, to, fmt.Errorf("%s: %q is not an RFC 3339 time (2006-01-02T15:04:05Z)", name, text.Clip(v, 40))
			}
			if name == "from" {
				from = t
			} else {
				to = t
			}
		case "days":
			if days, err = parseDays(v); err != nil {
				return from, to, fmt.Errorf("days: %w", err)
			}
		default:
			return from, to, fmt.Errorf("%s: unknown parameter (stats take from, to or days)", text.Clip(name, 40))
		}
	}
	switch {
	case days >= 0 && (!from.IsZero() || !to.IsZero()):
		return from, to, errors.New("days: give either days or from and to")
	case from.IsZero() && !to.IsZero():
		return from, to, errors.New("from: required with to")
	case from.IsZero():
		if days < 0 {
			days = defaultDays
		}
		y, m, d := now.Date()
		from = time.Date(y, m, d-days, 0, 0, 0, 0, now.Location())
	}
	if to.IsZero() {
		to = now
	}
	if !from.Before(to) {
		return from, to, errors.New("from: must be before to")
	}
	return from, to, nil
}

// decodeJSON reads the body of an API request, one JSON object of at most
// maxAPIBody bytes without unknown fields, into v; it returns the status
// of a refusal.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, errors.New("Content-Type: want application/json")
	}
	return decodeLimited(w, r, v, maxAPIBody)
}

// decodeLimited reads a JSON object of at most limit bytes, without
// unknown fields, into v; it returns the status of a refusal. The whole
// body is read first: the decoder stops at the first syntax error, so an
// oversized body that is not JSON would be 400, not 413.
func decodeLimited(w http.ResponseWriter, r *http.Request, v any, limit int64) (int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", limit)
		}
		return http.StatusBadRequest, fmt.Errorf("reading the body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return http.StatusBadRequest, fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return http.StatusBadRequest, errors.New("malformed JSON: data after the object")
	}
	return 0, nil
}

// DialerResultsRequest is the body of POST /api/finaz/results.
type DialerResultsRequest struct {
	// Queue is the dialer queue (identificador_fila) whose mailing ended.
	Queue string `json:"queue"`
	// Account is the telephony account of the calls (Finaz's empresaId).
	Account string `json:"account,omitempty"`
}

// DialerResultsReply is the answer of POST /api/finaz/results.
type DialerResultsReply struct {
	// Attempts is how many attempts the dialer returned.
	Attempts int `json:"attempts"`
	// Logged is how many were handed to the CRM as calls.
	Logged int `json:"logged"`
	// Skipped is how many had no time or no valid number.
	Skipped int `json:"skipped"`
}

// finazResults is what POST /api/finaz/results needs of the Finaz client.
type finazResults interface {
	Configured(op finaz.Operation) bool
	DialerResults(ctx context.Context, queue string) ([]finaz.DialerResult, error)
}

// dialerResults is POST /api/finaz/results: the Finaz dialer's return of a
// queue ("Retorno do Discador", read when a mailing is deactivated). Each
// attempt becomes a call on its contact (finaz.DialerResult.Event); reading
// the same return again changes nothing.
func (g *Gateway) dialerResults(w http.ResponseWriter, r *http.Request) {
	var req DialerResultsRequest
	if status, err := decodeJSON(w, r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	if req.Queue = strings.TrimSpace(req.Queue); req.Queue == "" {
		writeError(w, http.StatusBadRequest, "queue: required")
		return
	}
	c, ok := g.callers[finaz.Provider].(finazResults)
	switch {
	case !ok:
		writeError(w, http.StatusBadRequest, "finaz is not configured: set "+g.missing[finaz.Provider])
		return
	case !c.Configured(finaz.OpDialerResults):
		writeError(w, http.StatusBadRequest, "finaz: the configuration (FINAZ_CONFIG) has no dialer_results request")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	results, err := c.DialerResults(ctx, req.Queue)
	if err != nil {
		status, msg := callFailure(finaz.Provider, err)
		g.log.WarnContext(r.Context(), "finaz dialer results failed", "queue", req.Queue, "status", status, "error", err)
		writeError(w, status, msg)
		return
	}
	rep := DialerResultsReply{Attempts: len(results)}
	for _, res := range results {
		e, err := res.Event(req.Account)
		if err != nil {
			rep.Skipped++
			g.log.InfoContext(r.Context(), "finaz dialer result skipped", "queue", req.Queue, "error", err)
			continue
		}
		if err := g.sink.HandleEvent(r.Context(), e); err != nil {
			g.log.WarnContext(r.Context(), "finaz dialer result not taken", "queue", req.Queue, "error", err)
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("the CRM took %d of %d attempts and refused the next (%v); send the request again", rep.Logged, len(results), err))
			return
		}
		rep.Logged++
	}
	writeJSON(w, http.StatusOK, rep)
}

// listTasks answers GET /api/tasks: the open call-back tasks (missed
// calls to return, match.TaskRule), oldest due first.
func (g *Gateway) listTasks(w http.ResponseWriter, r *http.Request) {
	ts, err := g.local().OpenTasks(r.Context(), "")
	if err != nil {
		g.log.ErrorContext(r.Context(), "open tasks failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, "the database is unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": append([]match.Task{}, ts...)})
}

// inAmoCRM answers a list of what lives in amoCRM in amoCRM mode: an
// empty page with a note saying where to look.
func (g *Gateway) inAmoCRM(w http.ResponseWriter, what string) bool {
	if g.amoClient == nil {
		return false
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": []any{},
		"note": fmt.Sprintf("in amoCRM mode the %s live in amoCRM: https://%s", what, g.amoClient.Domain())})
	return true
}
