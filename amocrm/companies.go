package amocrm

import (
	"context"
	"net/http"
)

// Company is an amoCRM company (компания): a client card like a contact,
// with its own PHONE field, custom fields and leads. Zero fields are
// omitted when writing.
//
// https://www.amocrm.ru/developers/content/crm_platform/companies-api
type Company struct {
	ID                int64  `json:"id,omitempty"`
	Name              string `json:"name,omitempty"`
	ResponsibleUserID int64  `json:"responsible_user_id,omitempty"`
	CreatedBy         int64  `json:"created_by,omitempty"`
	UpdatedBy         int64  `json:"updated_by,omitempty"`
	// CreatedAt and UpdatedAt are Unix seconds.
	CreatedAt    int64         `json:"created_at,omitempty"`
	UpdatedAt    int64         `json:"updated_at,omitempty"`
	IsDeleted    bool          `json:"is_deleted,omitempty"`
	CustomFields []CustomField `json:"custom_fields_values,omitempty"`
	// TagsToAdd and TagsToDelete change tags in UpdateCompanies.
	TagsToAdd    []Tag     `json:"tags_to_add,omitempty"`
	TagsToDelete []Tag     `json:"tags_to_delete,omitempty"`
	Embedded     *Embedded `json:"_embedded,omitempty"`
	RequestID    string    `json:"request_id,omitempty"`
}

// Phones returns the values of the company's PHONE field.
func (c Company) Phones() []string { return phonesIn(c.CustomFields) }

// HasPhone reports whether the company's PHONE field holds number, by
// the last 10 digits as Contact.HasPhone.
func (c Company) HasPhone(number string) bool { return holdsPhone(c.CustomFields, number) }

// LeadIDs returns the ids of the company's leads (read with=leads).
func (c Company) LeadIDs() []int64 { return c.Embedded.leadIDs() }

// TagNames returns the names of the company's tags.
func (c Company) TagNames() []string { return c.Embedded.tagNames() }

type companiesEmbedded struct {
	Companies []Company `json:"companies"`
}

// SearchCompanies runs GET /api/v4/companies?query=…&with=leads, amoCRM's
// loose full-text search as SearchContacts. No match is an empty result
// (amoCRM answers 204).
func (c *Client) SearchCompanies(ctx context.Context, query string, limit int) ([]Company, error) {
	return searchEntities(ctx, c, EntityCompanies, query, limit, func(e *companiesEmbedded) []Company { return e.Companies })
}

// searchCompanyPhone is searchPhone for companies.
func (c *Client) searchCompanyPhone(ctx context.Context, n, country string) (byPhone, byField []Company, err error) {
	found, err := c.SearchCompanies(ctx, last10(n), 50)
	if err != nil {
		return nil, nil, err
	}
	byPhone, byField = splitByPhone(found, n, country, func(co *Company) (int64, bool, []CustomField) {
		return co.ID, co.IsDeleted, co.CustomFields
	})
	return byPhone, byField, nil
}

// Company returns one company with its lead ids (GET
// /api/v4/companies/{id}?with=leads); an unknown id is ErrNotFound.
func (c *Client) Company(ctx context.Context, id int64) (*Company, error) {
	return getByID(ctx, c, EntityCompanies, id, func(co *Company) int64 { return co.ID })
}

// CreateCompanies creates up to MaxBatch companies (POST
// /api/v4/companies) and returns them with their ids, in order, as
// CreateContacts.
func (c *Client) CreateCompanies(ctx context.Context, companies []Company) ([]Company, error) {
	return batchWrite(ctx, c, http.MethodPost, "api/v4/companies", companies, func(e *companiesEmbedded) []Company { return e.Companies },
		func(x *Company) *string { return &x.RequestID })
}

// UpdateCompanies changes up to MaxBatch companies by ID (PATCH
// /api/v4/companies), as UpdateContacts.
func (c *Client) UpdateCompanies(ctx context.Context, companies []Company) ([]Company, error) {
	return batchUpdate(ctx, c, "company", "api/v4/companies", companies, func(x *Company) int64 { return x.ID },
		func(e *companiesEmbedded) []Company { return e.Companies }, func(x *Company) *string { return &x.RequestID })
}
