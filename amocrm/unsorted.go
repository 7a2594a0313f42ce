package amocrm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// UnsortedEntry is an entry of "Неразобранное" as GET
// /api/v4/leads/unsorted lists it.
type UnsortedEntry struct {
	UID        string `json:"uid"`
	SourceUID  string `json:"source_uid"`
	SourceName string `json:"source_name"`
	// Category is "sip", "forms", "mail" or "chats".
	Category   string `json:"category"`
	PipelineID int64  `json:"pipeline_id"`
	// CreatedAt is Unix seconds.
	CreatedAt int64 `json:"created_at"`
	// Metadata depends on Category; SIP decodes a call's.
	Metadata json.RawMessage `json:"metadata"`
	Embedded struct {
		Leads    []Ref `json:"leads"`
		Contacts []Ref `json:"contacts"`
	} `json:"_embedded"`
}

// SIP returns the call metadata of an entry of category "sip".
func (e UnsortedEntry) SIP() (SIPMetadata, error) {
	var m SIPMetadata
	if e.Category != "" && e.Category != UnsortedSIPCategory {
		return m, fmt.Errorf("amocrm: unsorted entry %s is of category %q, not %q", e.UID, e.Category, UnsortedSIPCategory)
	}
	if err := json.Unmarshal(e.Metadata, &m); err != nil {
		return m, fmt.Errorf("amocrm: unsorted entry %s: metadata: %w", e.UID, err)
	}
	return m, nil
}

// UnsortedSIPCategory is the category of unsorted entries made from calls.
const UnsortedSIPCategory = "sip"

// UnsortedQuery selects entries of "Неразобранное" (one page of
// Client.Unsorted).
type UnsortedQuery struct {
	// Category keeps one category ("sip", …); "" keeps all.
	Category string
	// PipelineID keeps one pipeline; 0 keeps all.
	PipelineID int64
	// UIDs keeps these entries; none keeps all.
	UIDs []string
	// Page is 1-based (0 is 1); Limit is 1–250 (0 is 250).
	Page, Limit int
}

// Unsorted returns one page of the entries of "Неразобранное", newest
// first (GET /api/v4/leads/unsorted?filter[…]&order[created_at]=desc).
// Entries accepted or declined by a manager are no longer listed. A page
// past the last (amoCRM answers 204) is empty.
//
// https://www.amocrm.ru/developers/content/crm_platform/unsorted-api
func (c *Client) Unsorted(ctx context.Context, q UnsortedQuery) ([]UnsortedEntry, error) {
	limit := q.Limit
	if limit <= 0 || limit > 250 {
		limit = 250
	}
	v := url.Values{"page": {strconv.Itoa(max(q.Page, 1))}, "limit": {strconv.Itoa(limit)}, "order[created_at]": {"desc"}}
	if q.Category != "" {
		v.Set("filter[category][]", q.Category)
	}
	if q.PipelineID != 0 {
		v.Set("filter[pipeline_id]", strconv.FormatInt(q.PipelineID, 10))
	}
	for _, uid := range q.UIDs {
		v.Add("filter[uid][]", uid)
	}
	var p page[struct {
		Unsorted []UnsortedEntry `json:"unsorted"`
	}]
	if _, err := c.call(ctx, http.MethodGet, "api/v4/leads/unsorted", v, nil, &p, true); err != nil {
		return nil, fmt.Errorf("amocrm: list unsorted: %w", err)
	}
	return p.Embedded.Unsorted, nil
}

// WithUnsorted makes the Store put an inbound call from a number no
// contact has into amoCRM's "Неразобранное" of pipelineID (0: the main
// pipeline) instead of leaving it for late binding: a manager accepts it
// (amoCRM then makes the lead and the contact with the caller's phone and
// logs the call on them) or declines it. See Store.AddUnsortedCall for the
// entry.
//
// The engine reaches the Store with such a call only when it does not
// create a contact for it: turn creation off for inbound calls in the
// rules (match.Rule.Create.InboundAnswered and InboundMissed false, the
// guide's "create a contact for an unknown number" off). A Store with
// WithUnsorted that is asked to create a contact for a call still does
// (CreateClient cannot tell an inbound call from an outbound one), and
// logs a warning when that contact then gets an inbound call logged.
// Outbound calls to unknown numbers are not affected.
func WithUnsorted(pipelineID int64) StoreOption {
	return func(s *Store) error {
		if pipelineID < 0 {
			return fmt.Errorf("amocrm: WithUnsorted: pipeline id %d", pipelineID)
		}
		s.unsorted = &unsortedConfig{pipeline: pipelineID}
		return nil
	}
}

// unsortedConfig is the WithUnsorted setting.
type unsortedConfig struct {
	pipeline int64
}

// UnsortedFor is the entry AddUnsortedCall adds for rec: source_uid,
// source_name and service_code the Store's source (WithSource), the
// pipeline of WithUnsorted, created_at and called_at the call's start,
// and metadata uniq CallUniq(provider, account, call id), from the
// caller, phone the number dialled (else the extension, else the
// caller), duration and link as the Store logs them (CallFor), and
// is_call_event_needed, so accepting the entry logs the call. The entry
// carries a lead "Входящий <caller>" and a contact "Автоконтакт:
// Входящий" (or "Автоконтакт: Входящий-пропущенный" for a call nobody
// answered) with the caller as a work phone, both for the call's
// employee.
func (s *Store) UnsortedFor(rec match.CallRecord) UnsortedSIP {
	call := s.CallFor(rec)
	caller := FormatPhone(rec.ClientPhone)
	at := rec.StartedAt
	if at.IsZero() {
		at = s.now()
	}
	u := UnsortedSIP{SourceUID: s.source, SourceName: s.source, CreatedAt: at.Unix(),
		Metadata: SIPMetadata{Uniq: call.Uniq, From: caller, Phone: firstOf(FormatPhone(rec.LinePhone), rec.Extension, caller),
			CalledAt: at.Unix(), Duration: call.Duration, Link: call.Link, ServiceCode: s.source, IsCallEventNeeded: true}}
	if s.unsorted != nil {
		u.PipelineID = s.unsorted.pipeline
	}
	name := "Автоконтакт: Входящий"
	if rec.Status != callevent.Success {
		name = "Автоконтакт: Входящий-пропущенный"
	}
	emp := parseID(rec.Employee)
	u.Embedded.Leads = []Lead{{Name: "Входящий " + caller, ResponsibleUserID: emp}}
	u.Embedded.Contacts = []Contact{{Name: name, ResponsibleUserID: emp, CustomFields: []CustomField{PhoneField(rec.ClientPhone)}}}
	return u
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// AddUnsortedCall puts an inbound call into "Неразобранное" (POST
// /api/v4/leads/unsorted/sip with UnsortedFor(rec)) and returns the
// entry's uid. It is what LogCall does under WithUnsorted for an inbound
// call without a contact; a gateway may call it itself.
//
// It is idempotent per call: a call this Store added is not added again
// (no request), and before adding, the newest 250 "sip" entries of the
// pipeline still waiting in "Неразобранное" are searched for the call's
// uniq, so a call decided again after a restart, or after an answer that
// was lost, finds its entry instead of making a second one. A call added
// this way counts as logged: LogCall will not also log it when its
// contact appears later (accepting the entry logs it).
func (s *Store) AddUnsortedCall(ctx context.Context, rec match.CallRecord) (string, error) {
	if rec.Direction != callevent.Inbound || rec.ClientPhone == "" {
		return "", fmt.Errorf("amocrm: unsorted call %s: only an inbound call with a caller's number goes to Неразобранное", rec.CallID)
	}
	u := s.UnsortedFor(rec)
	uniq := u.Metadata.Uniq
	s.mu.Lock()
	uid, done := s.unsortedUIDs[uniq]
	s.mu.Unlock()
	if done {
		return uid, nil
	}
	v, err, _ := s.flights.Do("unsorted:"+uniq, func() (any, error) {
		entries, err := s.c.Unsorted(ctx, UnsortedQuery{Category: UnsortedSIPCategory, PipelineID: u.PipelineID})
		if err != nil {
			return "", err
		}
		for _, e := range entries {
			if m, err := e.SIP(); err == nil && m.Uniq == uniq {
				return e.UID, nil
			}
		}
		out, err := s.c.AddUnsortedSIP(ctx, []UnsortedSIP{u})
		if err != nil {
			return "", err
		}
		if len(out) != 1 || out[0].UID == "" {
			return "", errors.New("amocrm: the unsorted entry's answer carries no uid")
		}
		return out[0].UID, nil
	})
	if err != nil {
		return "", fmt.Errorf("amocrm: unsorted call %s: %w", rec.CallID, err)
	}
	uid = v.(string)
	s.mu.Lock()
	now := s.now()
	day := func(t time.Time) bool { return now.Sub(t) > 24*time.Hour }
	prune(s.unsortedUIDs, func(string) bool { return false })
	s.unsortedUIDs[uniq] = uid
	prune(s.logged, day)
	s.logged[uniq] = now
	s.mu.Unlock()
	return uid, nil
}
