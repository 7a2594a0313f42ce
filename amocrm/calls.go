package amocrm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/callbridge/callbridge/internal/text"
)

// Call directions.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// CallStatus is amoCRM's call_status code.
type CallStatus int

// Call status codes.
const (
	CallLeftMessage  CallStatus = 1 // оставил сообщение
	CallBackLater    CallStatus = 2 // перезвонить позже
	CallNotAvailable CallStatus = 3 // нет на месте
	CallSuccess      CallStatus = 4 // разговор состоялся
	CallWrongNumber  CallStatus = 5 // неверный номер
	CallNoAnswer     CallStatus = 6 // не дозвонился
	CallBusy         CallStatus = 7 // номер занят
)

// Call is a call for POST /api/v4/calls, and the parameters of a call note.
type Call struct {
	// Direction is Inbound or Outbound.
	Direction string `json:"direction"`
	// Uniq identifies the call on our side; use the same value when
	// retrying (amoCRM is not known to deduplicate on it).
	Uniq string `json:"uniq,omitempty"`
	// Duration is in seconds.
	Duration int `json:"duration"`
	// Source names the integration ("callbridge").
	Source string `json:"source"`
	// Link is the recording URL, shown as a player.
	Link string `json:"link,omitempty"`
	// Phone is the client's number; amoCRM places the call by its last 10
	// digits.
	Phone      string     `json:"phone"`
	CallResult string     `json:"call_result,omitempty"`
	CallStatus CallStatus `json:"call_status,omitempty"`
	// CallResponsible is the user shown on the call: who answered
	// (inbound) or called (outbound).
	CallResponsible int64 `json:"call_responsible,omitempty"`
	// ResponsibleUserID may manage the event; CreatedBy is its author
	// (omitted: "robot").
	ResponsibleUserID int64 `json:"responsible_user_id,omitempty"`
	CreatedBy         int64 `json:"created_by,omitempty"`
	// CreatedAt is Unix seconds.
	CreatedAt int64  `json:"created_at,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// CallResult is one logged call as amoCRM answers it: the entity it was
// placed on.
type CallResult struct {
	ID         int64  `json:"id"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"`
	RequestID  string `json:"request_id"`
}

// AddCalls logs up to MaxBatch calls (POST /api/v4/calls). amoCRM places
// each on the contact, company, lead or customer with the call's phone; a
// call whose phone matches no entity is dropped and the answer is an
// error matching ErrEntityNotFound, as is a 204 answer (nothing placed).
// A 429 is retried; a 502, 503 or 504
// or a network error once the request may have been sent is retried only
// when every call carries a Uniq (otherwise the request is sent once).
//
// https://www.amocrm.ru/developers/content/crm_platform/calls-api
func (c *Client) AddCalls(ctx context.Context, calls []Call) ([]CallResult, error) {
	if len(calls) == 0 {
		return nil, nil
	}
	if len(calls) > MaxBatch {
		return nil, fmt.Errorf("amocrm: %d calls in one request; at most %d", len(calls), MaxBatch)
	}
	body := make([]Call, len(calls))
	copy(body, calls)
	idempotent := true
	for i := range body {
		if err := body[i].check(); err != nil {
			return nil, err
		}
		if body[i].RequestID == "" {
			body[i].RequestID = fmt.Sprint(i)
		}
		idempotent = idempotent && body[i].Uniq != ""
	}
	var answer struct {
		Errors   []problemItem `json:"errors"`
		Embedded struct {
			Calls []CallResult `json:"calls"`
		} `json:"_embedded"`
	}
	resp, err := c.call(ctx, http.MethodPost, "api/v4/calls", nil, body, &answer, idempotent)
	if err != nil {
		return nil, err
	}
	if err := noContent(resp, len(calls)); err != nil {
		return nil, err
	}
	// A 2xx answer may still carry errors for some calls.
	var errs []error
	for _, e := range answer.Errors {
		if e.notFound() {
			errs = append(errs, fmt.Errorf("%w (call %s)", ErrEntityNotFound, text.Clip(e.RequestID, 64)))
			continue
		}
		errs = append(errs, fmt.Errorf("amocrm: call %s: %s %s", text.Clip(e.RequestID, 64),
			text.Clip(e.Title, 256), text.Clip(e.Detail, 256)))
	}
	return answer.Embedded.Calls, errors.Join(errs...)
}

func (c Call) check() error {
	if c.Direction != Inbound && c.Direction != Outbound {
		return fmt.Errorf("amocrm: call direction %q: want %q or %q", c.Direction, Inbound, Outbound)
	}
	if c.Phone == "" || c.Source == "" || c.Duration < 0 {
		return errors.New("amocrm: a call needs a phone, a source and a non-negative duration")
	}
	return nil
}

// EntityType names the entities notes are attached to.
type EntityType string

// Entity types for notes.
const (
	EntityLeads     EntityType = "leads"
	EntityContacts  EntityType = "contacts"
	EntityCompanies EntityType = "companies"
	EntityCustomers EntityType = "customers"
)

// noun is the singular name of the entity type in messages ("contact",
// "company", "lead", "customer").
func (e EntityType) noun() string {
	switch e {
	case EntityCompanies:
		return "company"
	case EntityCustomers:
		return "customer"
	}
	return strings.TrimSuffix(string(e), "s")
}

// CallNote is a call written as a note (call_in / call_out, from
// Call.Direction) on a chosen entity, instead of letting /calls place it.
type CallNote struct {
	EntityID int64
	Call     Call
}

// MarshalJSON writes the note shape: {entity_id, note_type,
// responsible_user_id, created_by, created_at, request_id, params:{uniq,
// duration, source, link, phone, call_status, call_result,
// call_responsible}}.
func (n CallNote) MarshalJSON() ([]byte, error) {
	typ := "call_in"
	if n.Call.Direction == Outbound {
		typ = "call_out"
	}
	x := n.Call
	return json.Marshal(struct {
		EntityID          int64      `json:"entity_id"`
		NoteType          string     `json:"note_type"`
		ResponsibleUserID int64      `json:"responsible_user_id,omitempty"`
		CreatedBy         int64      `json:"created_by,omitempty"`
		CreatedAt         int64      `json:"created_at,omitempty"`
		RequestID         string     `json:"request_id,omitempty"`
		Params            noteParams `json:"params"`
	}{n.EntityID, typ, x.ResponsibleUserID, x.CreatedBy, x.CreatedAt, x.RequestID,
		noteParams{x.Uniq, x.Duration, x.Source, x.Link, x.Phone, x.CallResult, x.CallStatus, x.CallResponsible}})
}

// noteParams are the params of a call_in/call_out note.
type noteParams struct {
	Uniq            string     `json:"uniq,omitempty"`
	Duration        int        `json:"duration"`
	Source          string     `json:"source"`
	Link            string     `json:"link,omitempty"`
	Phone           string     `json:"phone"`
	CallResult      string     `json:"call_result,omitempty"`
	CallStatus      CallStatus `json:"call_status,omitempty"`
	CallResponsible int64      `json:"call_responsible,omitempty"`
}

// Note is a created note as amoCRM answers it.
type Note struct {
	ID        int64  `json:"id"`
	EntityID  int64  `json:"entity_id"`
	RequestID string `json:"request_id"`
}

// AddCallNotes writes up to MaxBatch calls as call_in/call_out notes on
// entities of one type (POST /api/v4/{entity}/notes), e.g. on the lead a
// call belongs to.
func (c *Client) AddCallNotes(ctx context.Context, entity EntityType, notes []CallNote) ([]Note, error) {
	if len(notes) == 0 {
		return nil, nil
	}
	if err := checkNotes(entity, len(notes)); err != nil {
		return nil, err
	}
	body := make([]CallNote, len(notes))
	copy(body, notes)
	for i := range body {
		if body[i].EntityID == 0 {
			return nil, errors.New("amocrm: a call note needs an EntityID")
		}
		if err := body[i].Call.check(); err != nil {
			return nil, err
		}
		if body[i].Call.RequestID == "" {
			body[i].Call.RequestID = fmt.Sprint(i)
		}
	}
	return c.postNotes(ctx, entity, len(body), body)
}

// checkNotes refuses an unknown entity type and a batch over MaxBatch.
func checkNotes(entity EntityType, n int) error {
	if n > MaxBatch {
		return fmt.Errorf("amocrm: %d notes in one request; at most %d", n, MaxBatch)
	}
	switch entity {
	case EntityLeads, EntityContacts, EntityCompanies, EntityCustomers:
		return nil
	}
	return fmt.Errorf("amocrm: unknown entity type %q", entity)
}

// postNotes sends n notes (body) to POST /api/v4/{entity}/notes.
func (c *Client) postNotes(ctx context.Context, entity EntityType, n int, body any) ([]Note, error) {
	var p page[struct {
		Notes []Note `json:"notes"`
	}]
	resp, err := c.call(ctx, http.MethodPost, "api/v4/"+string(entity)+"/notes", nil, body, &p, false)
	if err != nil {
		return nil, err
	}
	if err := noContent(resp, n); err != nil {
		return nil, err
	}
	return p.Embedded.Notes, nil
}

// TextNote is a plain note ("common") on an entity: a line of its
// timeline.
type TextNote struct {
	EntityID  int64
	Text      string
	CreatedAt int64 // unix seconds; 0 = now
}

// MarshalJSON writes {entity_id, note_type: "common", created_at,
// params: {text}}.
func (n TextNote) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		EntityID  int64  `json:"entity_id"`
		NoteType  string `json:"note_type"`
		CreatedAt int64  `json:"created_at,omitempty"`
		Params    struct {
			Text string `json:"text"`
		} `json:"params"`
	}{n.EntityID, "common", n.CreatedAt, struct {
		Text string `json:"text"`
	}{n.Text}})
}

// AddTextNotes writes up to MaxBatch plain notes on entities of one type
// (POST /api/v4/{entity}/notes), e.g. a call's lines in a contact's
// timeline.
func (c *Client) AddTextNotes(ctx context.Context, entity EntityType, notes []TextNote) ([]Note, error) {
	if len(notes) == 0 {
		return nil, nil
	}
	if err := checkNotes(entity, len(notes)); err != nil {
		return nil, err
	}
	for _, n := range notes {
		if n.EntityID == 0 || strings.TrimSpace(n.Text) == "" {
			return nil, errors.New("amocrm: a text note needs an EntityID and a Text")
		}
	}
	return c.postNotes(ctx, entity, len(notes), notes)
}

// UnsortedSIP is an incoming call for "Неразобранное" (POST
// /api/v4/leads/unsorted/sip): a lead and contact a manager accepts or
// declines. SourceUID and SourceName are required.
type UnsortedSIP struct {
	SourceUID  string      `json:"source_uid"`
	SourceName string      `json:"source_name"`
	PipelineID int64       `json:"pipeline_id,omitempty"`
	CreatedAt  int64       `json:"created_at,omitempty"`
	RequestID  string      `json:"request_id,omitempty"`
	Metadata   SIPMetadata `json:"metadata"`
	Embedded   struct {
		Leads    []Lead    `json:"leads,omitempty"`
		Contacts []Contact `json:"contacts,omitempty"`
	} `json:"_embedded"`
}

// SIPMetadata describes the call of an UnsortedSIP.
type SIPMetadata struct {
	Uniq string `json:"uniq"`
	// From is the caller, Phone the line that was called.
	From     string `json:"from"`
	Phone    string `json:"phone"`
	CalledAt int64  `json:"called_at"`
	Duration int    `json:"duration"`
	Link     string `json:"link"`
	// ServiceCode names the integration.
	ServiceCode string `json:"service_code"`
	// IsCallEventNeeded also logs the call on the new entity.
	IsCallEventNeeded bool `json:"is_call_event_needed"`
}

// UnsortedResult is one created unsorted entry.
type UnsortedResult struct {
	UID       string `json:"uid"`
	RequestID string `json:"request_id"`
	Embedded  struct {
		Leads    []Ref `json:"leads"`
		Contacts []Ref `json:"contacts"`
	} `json:"_embedded"`
}

// AddUnsortedSIP adds up to MaxBatch incoming calls to "Неразобранное".
func (c *Client) AddUnsortedSIP(ctx context.Context, items []UnsortedSIP) ([]UnsortedResult, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if len(items) > MaxBatch {
		return nil, fmt.Errorf("amocrm: %d unsorted items in one request; at most %d", len(items), MaxBatch)
	}
	body := make([]UnsortedSIP, len(items))
	copy(body, items)
	for i := range body {
		if body[i].SourceUID == "" || body[i].SourceName == "" {
			return nil, errors.New("amocrm: unsorted SIP needs SourceUID and SourceName")
		}
		if body[i].RequestID == "" {
			body[i].RequestID = fmt.Sprint(i)
		}
	}
	var p page[struct {
		Unsorted []UnsortedResult `json:"unsorted"`
	}]
	resp, err := c.call(ctx, http.MethodPost, "api/v4/leads/unsorted/sip", nil, body, &p, false)
	if err != nil {
		return nil, err
	}
	if err := noContent(resp, len(items)); err != nil {
		return nil, err
	}
	return p.Embedded.Unsorted, nil
}

// ShowIncomingCall shows the "who is calling" pop-up (POST /api/v2/events)
// to users (none: every user): amoCRM looks the number up and shows the
// lead, customer or contact, or offers to create a contact. It logs
// nothing.
//
// https://www.amocrm.ru/developers/content/telephony/call_event
func (c *Client) ShowIncomingCall(ctx context.Context, phoneNumber string, users ...int64) error {
	if phoneNumber == "" {
		return errors.New("amocrm: ShowIncomingCall needs a phone number")
	}
	type event struct {
		Type        string  `json:"type"`
		PhoneNumber string  `json:"phone_number"`
		Users       []int64 `json:"users,omitempty"`
	}
	body := map[string][]event{"add": {{Type: "phone_call", PhoneNumber: FormatPhone(phoneNumber), Users: users}}}
	_, err := c.call(ctx, http.MethodPost, "api/v2/events", nil, body, nil, false)
	return err
}
