package amocrm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// Status ids every pipeline has.
const (
	StatusWon  int64 = 142 // "Успешно реализовано"
	StatusLost int64 = 143 // "Закрыто и не реализовано"
)

// Lead is an amoCRM lead (сделка). Zero fields are omitted when writing:
// without StatusID a new lead starts in the first stage of PipelineID (or
// of the main pipeline).
type Lead struct {
	ID                int64  `json:"id,omitempty"`
	Name              string `json:"name,omitempty"`
	Price             int64  `json:"price,omitempty"`
	PipelineID        int64  `json:"pipeline_id,omitempty"`
	StatusID          int64  `json:"status_id,omitempty"`
	ResponsibleUserID int64  `json:"responsible_user_id,omitempty"`
	CreatedBy         int64  `json:"created_by,omitempty"`
	// CreatedAt, UpdatedAt and ClosedAt are Unix seconds.
	CreatedAt    int64         `json:"created_at,omitempty"`
	UpdatedAt    int64         `json:"updated_at,omitempty"`
	ClosedAt     int64         `json:"closed_at,omitempty"`
	IsDeleted    bool          `json:"is_deleted,omitempty"`
	CustomFields []CustomField `json:"custom_fields_values,omitempty"`
	TagsToAdd    []Tag         `json:"tags_to_add,omitempty"`
	// Embedded carries tags and linked contacts ({ID, IsMain}).
	Embedded  *Embedded `json:"_embedded,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
}

// Active reports whether the lead is open: not in the won (142) or lost
// (143) status.
func (l Lead) Active() bool { return l.StatusID != StatusWon && l.StatusID != StatusLost }

type leadsEmbedded struct {
	Leads []Lead `json:"leads"`
}

// CreateLeads creates up to MaxBatch leads (POST /api/v4/leads) and returns
// them with their ids, in order. Link a contact with
// Embedded: &Embedded{Contacts: []Contact{{ID: id, IsMain: true}}}.
//
// https://www.amocrm.ru/developers/content/crm_platform/leads-api
func (c *Client) CreateLeads(ctx context.Context, leads []Lead) ([]Lead, error) {
	return batchWrite(ctx, c, http.MethodPost, "api/v4/leads", leads, func(e *leadsEmbedded) []Lead { return e.Leads },
		func(x *Lead) *string { return &x.RequestID })
}

// ComplexResult is one answer item of CreateLeadsComplex.
type ComplexResult struct {
	ID        int64    `json:"id"`
	ContactID int64    `json:"contact_id"`
	CompanyID *int64   `json:"company_id"`
	RequestID []string `json:"request_id"`
	// Merged is true when duplicate control merged the contact into an
	// existing one.
	Merged bool `json:"merged"`
}

// CreateLeadsComplex creates up to MaxBatch leads, each with at most one
// new embedded contact (whole Contact in Embedded.Contacts), in one request
// (POST /api/v4/leads/complex).
func (c *Client) CreateLeadsComplex(ctx context.Context, leads []Lead) ([]ComplexResult, error) {
	if len(leads) == 0 {
		return nil, nil
	}
	if len(leads) > MaxBatch {
		return nil, fmt.Errorf("amocrm: %d leads in one request; at most %d", len(leads), MaxBatch)
	}
	for i, l := range leads {
		if l.Embedded != nil && len(l.Embedded.Contacts) > 1 {
			return nil, fmt.Errorf("amocrm: complex lead %d has %d contacts; at most 1", i, len(l.Embedded.Contacts))
		}
	}
	var out []ComplexResult
	resp, err := c.call(ctx, http.MethodPost, "api/v4/leads/complex", nil, leads, &out, false)
	if err != nil {
		return nil, err
	}
	if err := noContent(resp, len(leads)); err != nil {
		return nil, err
	}
	return out, nil
}

// Leads returns the leads with the given ids (GET /api/v4/leads?filter[id][]=…),
// up to 250 per request; unknown ids are left out.
func (c *Client) Leads(ctx context.Context, ids ...int64) ([]Lead, error) {
	var out []Lead
	for chunk := range slices.Chunk(ids, 250) {
		q := url.Values{"limit": {"250"}}
		for _, id := range chunk {
			q.Add("filter[id][]", strconv.FormatInt(id, 10))
		}
		var p page[leadsEmbedded]
		if _, err := c.call(ctx, http.MethodGet, "api/v4/leads", q, nil, &p, true); err != nil {
			return nil, err
		}
		out = append(out, p.Embedded.Leads...)
	}
	return out, nil
}

// ActiveLeads returns the contact's leads that are not won or lost (two
// requests: the contact's lead ids, then the leads).
func (c *Client) ActiveLeads(ctx context.Context, contactID int64) ([]Lead, error) {
	ct, err := c.Contact(ctx, contactID)
	if err != nil {
		return nil, err
	}
	ids := ct.LeadIDs()
	if len(ids) == 0 {
		return nil, nil
	}
	leads, err := c.Leads(ctx, ids...)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(leads, func(l Lead) bool { return !l.Active() }), nil
}

// UpdateLeadStatus moves a lead to statusID of pipelineID (PATCH
// /api/v4/leads/{id}); pipelineID 0 keeps the lead's pipeline.
func (c *Client) UpdateLeadStatus(ctx context.Context, leadID, pipelineID, statusID int64) error {
	if leadID == 0 || statusID == 0 {
		return errors.New("amocrm: UpdateLeadStatus needs a lead id and a status id")
	}
	return c.UpdateLead(ctx, Lead{ID: leadID, StatusID: statusID, PipelineID: pipelineID})
}

// UpdateLead changes the lead with l.ID (PATCH /api/v4/leads/{id}): set
// only the fields to change, e.g. ResponsibleUserID.
func (c *Client) UpdateLead(ctx context.Context, l Lead) error {
	if l.ID == 0 {
		return errors.New("amocrm: UpdateLead needs a lead id")
	}
	id := l.ID
	l.ID = 0
	_, err := c.call(ctx, http.MethodPatch, "api/v4/leads/"+strconv.FormatInt(id, 10), nil, l, nil, true)
	return err
}

// Pipeline is a sales pipeline (воронка) with its statuses.
type Pipeline struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Sort      int    `json:"sort"`
	IsMain    bool   `json:"is_main"`
	IsArchive bool   `json:"is_archive"`
	Embedded  struct {
		Statuses []PipelineStatus `json:"statuses"`
	} `json:"_embedded"`
}

// PipelineStatus is a stage of a pipeline.
type PipelineStatus struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Sort       int    `json:"sort"`
	PipelineID int64  `json:"pipeline_id"`
	// Type is 0 for a normal stage, 1 for "Неразобранное" (unsorted).
	Type int `json:"type"`
}

// Pipelines returns the account's lead pipelines (GET /api/v4/leads/pipelines).
func (c *Client) Pipelines(ctx context.Context) ([]Pipeline, error) {
	var p page[struct {
		Pipelines []Pipeline `json:"pipelines"`
	}]
	if _, err := c.call(ctx, http.MethodGet, "api/v4/leads/pipelines", nil, nil, &p, true); err != nil {
		return nil, err
	}
	return p.Embedded.Pipelines, nil
}
