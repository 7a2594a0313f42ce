package amocrm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/callbridge/callbridge/phone"
)

// Contact is an amoCRM contact (and the shape of a contact embedded in a
// lead). Zero fields are omitted when writing.
type Contact struct {
	ID                int64  `json:"id,omitempty"`
	Name              string `json:"name,omitempty"`
	FirstName         string `json:"first_name,omitempty"`
	LastName          string `json:"last_name,omitempty"`
	ResponsibleUserID int64  `json:"responsible_user_id,omitempty"`
	CreatedBy         int64  `json:"created_by,omitempty"`
	UpdatedBy         int64  `json:"updated_by,omitempty"`
	// CreatedAt and UpdatedAt are Unix seconds.
	CreatedAt int64 `json:"created_at,omitempty"`
	UpdatedAt int64 `json:"updated_at,omitempty"`
	IsDeleted bool  `json:"is_deleted,omitempty"`
	// IsMain marks the main contact of a lead (in Lead.Embedded.Contacts).
	IsMain       bool          `json:"is_main,omitempty"`
	CustomFields []CustomField `json:"custom_fields_values,omitempty"`
	// TagsToAdd and TagsToDelete change tags in UpdateContacts.
	TagsToAdd    []Tag     `json:"tags_to_add,omitempty"`
	TagsToDelete []Tag     `json:"tags_to_delete,omitempty"`
	Embedded     *Embedded `json:"_embedded,omitempty"`
	RequestID    string    `json:"request_id,omitempty"`
}

// Embedded is the "_embedded" object of contacts, companies and leads.
type Embedded struct {
	Tags []Tag `json:"tags,omitempty"`
	// Leads are the ids of a contact's or company's leads (read
	// with=leads).
	Leads []Ref `json:"leads,omitempty"`
	// Contacts of a lead: {id, is_main} to link existing ones, or whole
	// contacts in CreateLeadsComplex.
	Contacts []Contact `json:"contacts,omitempty"`
	// Companies of a lead ({id} links an existing one) or of a contact.
	Companies []Ref `json:"companies,omitempty"`
}

// Ref is a reference to another entity by id.
type Ref struct {
	ID int64 `json:"id"`
}

// Tag is a tag: by Name (created if new) or by ID.
type Tag struct {
	ID   int64  `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Tags returns tags with the given names.
func Tags(names ...string) []Tag {
	out := make([]Tag, 0, len(names))
	for _, n := range names {
		if n != "" {
			out = append(out, Tag{Name: n})
		}
	}
	return out
}

// CustomField is one entry of custom_fields_values. Write system fields
// by FieldCode ("PHONE", "EMAIL") without FieldID.
type CustomField struct {
	FieldID   int64        `json:"field_id,omitempty"`
	FieldName string       `json:"field_name,omitempty"`
	FieldCode string       `json:"field_code,omitempty"`
	FieldType string       `json:"field_type,omitempty"`
	Values    []FieldValue `json:"values"`
}

// FieldValue is one value of a custom field. Value is a string, number or
// bool as amoCRM sends it.
type FieldValue struct {
	Value    any    `json:"value"`
	EnumID   int64  `json:"enum_id,omitempty"`
	EnumCode string `json:"enum_code,omitempty"`
}

// Field codes and PHONE enum codes.
const (
	FieldPhone = "PHONE"
	FieldEmail = "EMAIL"
	// EnumWork is the PHONE type "Раб. тел." (work); EnumMobile "Мобильный".
	EnumWork   = "WORK"
	EnumMobile = "MOB"
)

// PhoneField returns the PHONE field with each number as a work phone
// (enum WORK). Digits-only numbers get a leading "+".
func PhoneField(numbers ...string) CustomField {
	f := CustomField{FieldCode: FieldPhone}
	for _, n := range numbers {
		f.Values = append(f.Values, FieldValue{Value: FormatPhone(n), EnumCode: EnumWork})
	}
	return f
}

// FormatPhone writes a normalised number ("79161234567") as amoCRM shows
// it ("+79161234567"); any other value is returned unchanged.
func FormatPhone(digits string) string {
	if digits == "" {
		return ""
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return digits
		}
	}
	return "+" + digits
}

// Phones returns the values of the contact's PHONE field.
func (c Contact) Phones() []string { return phonesIn(c.CustomFields) }

// LeadIDs returns the ids of the contact's leads (read with=leads).
func (c Contact) LeadIDs() []int64 { return c.Embedded.leadIDs() }

// TagNames returns the names of the contact's tags.
func (c Contact) TagNames() []string { return c.Embedded.tagNames() }

// HasPhone reports whether the contact's PHONE field holds number: the
// last 10 digits are compared (amoCRM's own rule), so "+7 916 123-45-67"
// and "8 (916) 1234567" match "79161234567".
func (c Contact) HasPhone(number string) bool { return holdsPhone(c.CustomFields, number) }

// phonesIn returns the values of the PHONE field among fields.
func phonesIn(fields []CustomField) []string {
	var out []string
	for _, f := range fields {
		if f.FieldCode != FieldPhone {
			continue
		}
		for _, v := range f.Values {
			if s, ok := v.Value.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// holdsPhone reports whether the PHONE field among fields holds number,
// by the last 10 digits.
func holdsPhone(fields []CustomField, number string) bool {
	want := last10(digitsOf(number))
	if want == "" {
		return false
	}
	for _, p := range phonesIn(fields) {
		if last10(digitsOf(p)) == want {
			return true
		}
	}
	return false
}

// leadIDs returns the ids of e's leads; e may be nil.
func (e *Embedded) leadIDs() []int64 {
	if e == nil {
		return nil
	}
	out := make([]int64, 0, len(e.Leads))
	for _, l := range e.Leads {
		out = append(out, l.ID)
	}
	return out
}

// tagNames returns the names of e's tags; e may be nil.
func (e *Embedded) tagNames() []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, t := range e.Tags {
		out = append(out, t.Name)
	}
	return out
}

func digitsOf(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

func last10(d string) string {
	if len(d) > 10 {
		return d[len(d)-10:]
	}
	return d
}

// page is the list envelope of API v4.
type page[T any] struct {
	Page     int `json:"_page"`
	Embedded T   `json:"_embedded"`
	Links    struct {
		Next *struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
}

type contactsEmbedded struct {
	Contacts []Contact `json:"contacts"`
}

// SearchContacts runs GET /api/v4/contacts?query=…&with=leads (amoCRM's
// loose full-text search over filled fields; at most limit results,
// 1–250, 0 = 50). No match is an empty result (amoCRM answers 204).
//
// https://www.amocrm.ru/developers/content/crm_platform/contacts-api
func (c *Client) SearchContacts(ctx context.Context, query string, limit int) ([]Contact, error) {
	return searchEntities(ctx, c, EntityContacts, query, limit, func(e *contactsEmbedded) []Contact { return e.Contacts })
}

// searchEntities runs GET /api/v4/{entity}?query=…&with=leads for SearchContacts
// and SearchCompanies.
func searchEntities[T, E any](ctx context.Context, c *Client, entity EntityType, query string, limit int, get func(*E) []T) ([]T, error) {
	if limit <= 0 {
		limit = 50
	}
	q := url.Values{"query": {query}, "with": {"leads"}, "limit": {strconv.Itoa(min(limit, 250))}}
	var p page[E]
	if _, err := c.call(ctx, http.MethodGet, "api/v4/"+string(entity), q, nil, &p, true); err != nil {
		return nil, err
	}
	return get(&p.Embedded), nil
}

// FindContactsByPhone returns the contacts whose PHONE field holds number
// (any format Normalize accepts; defaultCountry "" = RU). It searches by
// the last 10 digits and keeps only results verified on the PHONE field,
// so a loose full-text match never counts. A failed search is an error,
// never "no contact".
func (c *Client) FindContactsByPhone(ctx context.Context, number, defaultCountry string) ([]Contact, error) {
	n, err := phone.Normalize(number, defaultCountry)
	if err != nil {
		return nil, fmt.Errorf("amocrm: phone %q: %w", number, err)
	}
	byPhone, _, err := c.searchPhone(ctx, n, defaultCountry)
	return byPhone, err
}

// searchPhone searches a normalised phone and splits the verified results:
// contacts whose PHONE field holds it, and contacts with another field
// holding it. Both are sorted by id (oldest first), a stable order.
func (c *Client) searchPhone(ctx context.Context, n, country string) (byPhone, byField []Contact, err error) {
	found, err := c.SearchContacts(ctx, last10(n), 50)
	if err != nil {
		return nil, nil, err
	}
	byPhone, byField = splitByPhone(found, n, country, func(ct *Contact) (int64, bool, []CustomField) {
		return ct.ID, ct.IsDeleted, ct.CustomFields
	})
	return byPhone, byField, nil
}

// splitByPhone keeps the search results that hold the normalised phone n:
// those whose PHONE field holds it, and those with another field holding
// it, each sorted by id (oldest first). Deleted ones are left out. of
// gives an item's id, deleted flag and custom fields.
func splitByPhone[T any](found []T, n, country string, of func(*T) (id int64, deleted bool, fields []CustomField)) (byPhone, byField []T) {
	for i := range found {
		_, deleted, fields := of(&found[i])
		switch {
		case deleted:
		case holdsPhone(fields, n):
			byPhone = append(byPhone, found[i])
		case fieldHolds(fields, n, country):
			byField = append(byField, found[i])
		}
	}
	byID := func(a, b T) int {
		ia, _, _ := of(&a)
		ib, _, _ := of(&b)
		return cmp.Compare(ia, ib)
	}
	slices.SortFunc(byPhone, byID)
	slices.SortFunc(byField, byID)
	return byPhone, byField
}

// fieldHolds reports whether a field other than PHONE among fields holds
// the normalised phone n.
func fieldHolds(fields []CustomField, n, country string) bool {
	for _, f := range fields {
		if f.FieldCode == FieldPhone {
			continue
		}
		for _, v := range f.Values {
			if s, ok := v.Value.(string); ok && len(s) >= 5 && len(s) <= 64 {
				if p, err := phone.Normalize(s, country); err == nil && p == n {
					return true
				}
			}
		}
	}
	return false
}

// Contact returns one contact with its lead ids (GET /api/v4/contacts/{id}?with=leads).
func (c *Client) Contact(ctx context.Context, id int64) (*Contact, error) {
	return getByID(ctx, c, EntityContacts, id, func(ct *Contact) int64 { return ct.ID })
}

// getByID reads one entity with its lead ids (GET
// /api/v4/{entity}/{id}?with=leads); amoCRM answers 204 for an unknown
// id, which is ErrNotFound.
func getByID[T any](ctx context.Context, c *Client, entity EntityType, id int64, idOf func(*T) int64) (*T, error) {
	var v T
	resp, err := c.call(ctx, http.MethodGet, "api/v4/"+string(entity)+"/"+strconv.FormatInt(id, 10), url.Values{"with": {"leads"}}, nil, &v, true)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNoContent || idOf(&v) == 0 {
		return nil, fmt.Errorf("amocrm: %s %d: %w", entity.noun(), id, ErrNotFound)
	}
	return &v, nil
}

// ErrNotFound: the entity asked for by id does not exist.
var ErrNotFound = errors.New("amocrm: not found")

// CreateContacts creates up to MaxBatch contacts (POST /api/v4/contacts)
// and returns them with their ids, in order. Set RequestID to match
// answers yourself; it defaults to the index.
func (c *Client) CreateContacts(ctx context.Context, contacts []Contact) ([]Contact, error) {
	return batchWrite(ctx, c, http.MethodPost, "api/v4/contacts", contacts, func(e *contactsEmbedded) []Contact { return e.Contacts },
		func(x *Contact) *string { return &x.RequestID })
}

// UpdateContacts changes up to MaxBatch contacts by ID (PATCH
// /api/v4/contacts): set only the fields to change, e.g. CustomFields with
// PhoneField, TagsToAdd.
func (c *Client) UpdateContacts(ctx context.Context, contacts []Contact) ([]Contact, error) {
	return batchUpdate(ctx, c, "contact", "api/v4/contacts", contacts, func(x *Contact) int64 { return x.ID },
		func(e *contactsEmbedded) []Contact { return e.Contacts }, func(x *Contact) *string { return &x.RequestID })
}

// batchUpdate is batchWrite's PATCH of items that each name the entity
// (noun) they change by its ID.
func batchUpdate[T, E any](ctx context.Context, c *Client, noun, path string, items []T, id func(*T) int64,
	get func(*E) []T, reqID func(*T) *string) ([]T, error) {
	for i := range items {
		if id(&items[i]) == 0 {
			return nil, fmt.Errorf("amocrm: update: every %s needs an ID", noun)
		}
	}
	return batchWrite(ctx, c, http.MethodPatch, path, items, get, reqID)
}

// batchWrite sends items as a top-level JSON array with request_ids
// defaulting to the index, and returns the answer's items.
func batchWrite[T, E any](ctx context.Context, c *Client, method, path string, items []T, get func(*E) []T, reqID func(*T) *string) ([]T, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if len(items) > MaxBatch {
		return nil, fmt.Errorf("amocrm: %d items in one request; at most %d", len(items), MaxBatch)
	}
	body := make([]T, len(items))
	copy(body, items)
	for i := range body {
		if id := reqID(&body[i]); *id == "" {
			*id = strconv.Itoa(i)
		}
	}
	var p page[E]
	resp, err := c.call(ctx, method, path, nil, body, &p, false)
	if err != nil {
		return nil, err
	}
	if err := noContent(resp, len(items)); err != nil {
		return nil, err
	}
	out := get(&p.Embedded)
	if len(out) != len(items) {
		return out, fmt.Errorf("amocrm: %s %s: sent %d items, %d in the answer", method, path, len(items), len(out))
	}
	return out, nil
}
