package amocrm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/match"
)

// CustomFieldDef is a custom field of an entity type as amoCRM lists it
// (GET /api/v4/contacts/custom_fields, /api/v4/companies/custom_fields):
// the field a CustomField value refers to by FieldID, or by FieldCode when
// the field has a code.
type CustomFieldDef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Code is the field's code ("PHONE", or one given when the field was
	// created through the API); "" for most fields made in the interface.
	Code string `json:"code"`
	// Type is "text", "numeric", "url", "textarea", "multitext",
	// "select", "date", … .
	Type      string `json:"type"`
	Sort      int    `json:"sort"`
	IsAPIOnly bool   `json:"is_api_only"`
}

// fieldsPageSize is the page size of ContactCustomFields and
// CompanyCustomFields (amoCRM's maximum).
const fieldsPageSize = 250

// ContactCustomFields returns every custom field of contacts (GET
// /api/v4/contacts/custom_fields, all pages, 250 per page; a page past the
// last answers 204).
//
// https://www.amocrm.ru/developers/content/crm_platform/custom-fields
func (c *Client) ContactCustomFields(ctx context.Context) ([]CustomFieldDef, error) {
	return c.customFields(ctx, EntityContacts)
}

// CompanyCustomFields returns every custom field of companies (GET
// /api/v4/companies/custom_fields), as ContactCustomFields.
func (c *Client) CompanyCustomFields(ctx context.Context) ([]CustomFieldDef, error) {
	return c.customFields(ctx, EntityCompanies)
}

// customFields lists the custom fields of contacts or companies.
func (c *Client) customFields(ctx context.Context, entity EntityType) ([]CustomFieldDef, error) {
	var out []CustomFieldDef
	for n := 1; ; n++ {
		var p page[struct {
			Fields []CustomFieldDef `json:"custom_fields"`
		}]
		q := url.Values{"page": {strconv.Itoa(n)}, "limit": {strconv.Itoa(fieldsPageSize)}}
		resp, err := c.call(ctx, http.MethodGet, "api/v4/"+string(entity)+"/custom_fields", q, nil, &p, true)
		if err != nil {
			return nil, fmt.Errorf("amocrm: %s' custom fields, page %d: %w", entity, n, err)
		}
		if resp.StatusCode == http.StatusNoContent { // past the last page
			return out, nil
		}
		out = append(out, p.Embedded.Fields...)
		if len(p.Embedded.Fields) < fieldsPageSize || p.Links.Next == nil {
			return out, nil
		}
	}
}

// ErrUnknownField: a client field (a call variable such as
// "megafon_call_id") has no amoCRM contact (or company) custom field to
// go to. The error names the fields; nothing is silently dropped.
var ErrUnknownField = errors.New("amocrm: no custom field for a client field")

// WithContactFields maps client fields (match.Client.Fields keys, e.g. the
// call variables "megafon_call_direction", "megafon_call_ext",
// "megafon_call_id", "megafon_call_user", "megafon_record_link") to the
// ids of contact custom fields. SetClientFields writes a mapped key to its
// field without looking the fields up; an unmapped key is looked up by
// code, then name (see SetClientFields). Keys must be non-empty, ids
// positive. The map is for contacts only: a company's fields are always
// looked up by code or name among the companies' custom fields.
func WithContactFields(fields map[string]int64) StoreOption {
	return func(s *Store) error {
		for k, v := range fields {
			if strings.TrimSpace(k) == "" || v <= 0 {
				return fmt.Errorf("amocrm: contact field %q → custom field %d: want a non-empty key and a positive field id", k, v)
			}
		}
		s.fieldIDs = maps.Clone(fields)
		return nil
	}
}

// SetClientFields implements match.ClientUpdater: fields are written to
// the contact's custom fields with one PATCH /api/v4/contacts (a
// company's: PATCH /api/v4/companies); a key with an empty value clears
// its field (values: null), as match.MergeFields removes it.
//
// A key goes to the custom field WithContactFields maps it to (contacts
// only); otherwise to the contact (company) custom field whose code or
// else name equals the key, ignoring case (the account's fields are
// listed once per entity type and cached for 10 minutes; a miss lists
// them again at most once per cache period). Make the fields in amoCRM
// (Settings → Contacts → add a text field named "megafon_call_id", …; the
// same under Companies for calls from companies' numbers) or map them. A numeric field gets the value as a
// number. Keys that match no field, or a field that cannot hold text
// (select, date, …), make an error wrapping ErrUnknownField that names
// them, after the other keys were written: nothing is dropped silently.
// A 400 from amoCRM (e.g. a mapped field id that does not exist) is
// returned naming the key of the refused field. The limits of
// match.Client hold (match.MaxClientFields keys, match.MaxValueLen bytes
// per key and value): beyond them the error wraps match.ErrTooLarge and
// nothing is sent.
func (s *Store) SetClientFields(ctx context.Context, _, clientID string, fields map[string]string) error {
	entity, id, ok := ParseClientID(clientID)
	if !ok {
		return fmt.Errorf("amocrm: set client fields: %q is not a contact or company id", clientID)
	}
	noun := entity.noun()
	if len(fields) == 0 {
		return nil
	}
	if len(fields) > match.MaxClientFields {
		return fmt.Errorf("amocrm: set client fields of %s %d: %w: %d fields (max %d)", noun, id, match.ErrTooLarge, len(fields), match.MaxClientFields)
	}
	keys := slices.Sorted(maps.Keys(fields))
	for _, k := range keys {
		if len(k) > match.MaxValueLen || len(fields[k]) > match.MaxValueLen {
			return fmt.Errorf("amocrm: set client fields of %s %d: %w: field %.32q is longer than %d bytes", noun, id, match.ErrTooLarge, k, match.MaxValueLen)
		}
	}
	var (
		values  []CustomField
		sent    []string      // the key of each of values
		names   []CustomField // each of values as the cache keeps it
		unknown []string
	)
	for _, k := range keys {
		def, why, err := s.fieldFor(ctx, entity, k)
		if err != nil {
			return fmt.Errorf("amocrm: set client fields of %s %d: %w", noun, id, err)
		}
		if why != "" {
			unknown = append(unknown, fmt.Sprintf("%q (%s)", k, why))
			continue
		}
		f := CustomField{FieldID: def.ID}
		if v := fields[k]; v != "" {
			var val any = v
			if def.Type == "numeric" {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					unknown = append(unknown, fmt.Sprintf("%q (field %d is numeric, the value %.32q is not a number)", k, def.ID, v))
					continue
				}
				val = n
			}
			f.Values = []FieldValue{{Value: val}}
		}
		values = append(values, f)
		sent = append(sent, k)
		names = append(names, CustomField{FieldID: def.ID, FieldCode: def.Code, FieldName: cmp.Or(def.Name, k)})
	}
	if len(values) > 0 {
		var err error
		if entity == EntityCompanies {
			_, err = s.c.UpdateCompanies(ctx, []Company{{ID: id, CustomFields: values}})
		} else {
			_, err = s.c.UpdateContacts(ctx, []Contact{{ID: id, CustomFields: values}})
		}
		if err != nil {
			return fmt.Errorf("amocrm: set client fields %s of %s %d: %w", refused(err, sent), noun, id, err)
		}
		s.updateCached(ClientID(entity, id), values, names)
	}
	if len(unknown) > 0 {
		hint := "make contact custom fields with these names or codes, or map them with WithContactFields"
		if entity == EntityCompanies {
			hint = "make company custom fields with these names or codes"
		}
		return fmt.Errorf("%w: %s %d: %s: %s", ErrUnknownField, noun, id, strings.Join(unknown, ", "), hint)
	}
	return nil
}

// refused names the keys amoCRM's validation errors point at
// (custom_fields_values.N…), or all sent keys if none does.
func refused(err error, sent []string) string {
	var named []string
	for _, v := range ValidationErrors(err) {
		rest, ok := strings.CutPrefix(v.Path, "custom_fields_values.")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.SplitN(rest, ".", 2)[0])
		if err == nil && n >= 0 && n < len(sent) && !slices.Contains(named, sent[n]) {
			named = append(named, sent[n])
		}
	}
	if len(named) == 0 {
		named = sent
	}
	return `"` + strings.Join(named, `", "`) + `"`
}

// fieldList is the cached custom fields of one entity type
// (SetClientFields); relisted is when a missing field may list them
// again. s.mu guards it.
type fieldList struct {
	defs     timed[[]CustomFieldDef]
	relisted time.Time
}

// fieldFor returns the custom field of entity (contacts or companies) key
// goes to, or why there is none.
func (s *Store) fieldFor(ctx context.Context, entity EntityType, key string) (CustomFieldDef, string, error) {
	if id, ok := s.fieldIDs[key]; ok && entity == EntityContacts {
		return CustomFieldDef{ID: id}, "", nil
	}
	fl := s.fieldLists[entity]
	list := func(ctx context.Context) ([]CustomFieldDef, error) { return s.c.customFields(ctx, entity) }
	find := func(defs []CustomFieldDef) (CustomFieldDef, bool) {
		for _, pred := range []func(CustomFieldDef) bool{
			func(d CustomFieldDef) bool { return d.Code != "" && strings.EqualFold(d.Code, key) },
			func(d CustomFieldDef) bool { return strings.EqualFold(strings.TrimSpace(d.Name), key) },
		} {
			if i := slices.IndexFunc(defs, pred); i >= 0 {
				return defs[i], true
			}
		}
		return CustomFieldDef{}, false
	}
	flight := "fields:" + string(entity)
	defs, err := cached(s, ctx, flight, &fl.defs, list)
	if err != nil {
		return CustomFieldDef{}, "", err
	}
	d, ok := find(defs)
	if !ok {
		// The field may have been made since the list was cached: list
		// again, at most once per cache period.
		s.mu.Lock()
		relist := s.now().After(fl.relisted)
		if relist {
			fl.relisted = s.now().Add(usersTTL)
			fl.defs.exp = s.now()
		}
		s.mu.Unlock()
		if relist {
			if defs, err = cached(s, ctx, flight, &fl.defs, list); err != nil {
				return CustomFieldDef{}, "", err
			}
			d, ok = find(defs)
		}
	}
	switch {
	case !ok:
		return CustomFieldDef{}, "no " + entity.noun() + " custom field has this code or name", nil
	case !textual(d.Type):
		return CustomFieldDef{}, fmt.Sprintf("field %d %q has type %s, which cannot hold a text value", d.ID, d.Name, d.Type), nil
	}
	return d, "", nil
}

// textual reports whether a field of type typ holds one free value.
func textual(typ string) bool {
	switch typ {
	case "text", "textarea", "url", "numeric", "streetaddress":
		return true
	}
	return false
}

// updateCached writes the values just sent into the cached copies of the
// card with client id ref (replaced, never changed in place), so a lookup
// within the cache period sees them; names carry each value's field code
// and name.
func (s *Store) updateCached(ref string, values, names []CustomField) {
	merge := func(cd card) card {
		out := slices.Clone(cd.fields)
		for i, v := range values {
			out = slices.DeleteFunc(out, func(f CustomField) bool { return f.FieldID == v.FieldID })
			if len(v.Values) > 0 {
				f := names[i]
				f.Values = v.Values
				out = append(out, f)
			}
		}
		cd.fields = out
		return cd
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc, ok := s.cards[ref]; ok {
		cc.v = merge(cc.v)
		s.cards[ref] = cc
	}
	for p, e := range s.phones {
		changed := false
		for _, l := range []*[]card{&e.byPhone, &e.byField} {
			if i := slices.IndexFunc(*l, func(c card) bool { return c.ref() == ref }); i >= 0 {
				*l = slices.Clone(*l)
				(*l)[i] = merge((*l)[i])
				changed = true
			}
		}
		if changed {
			s.phones[p] = e
		}
	}
}
