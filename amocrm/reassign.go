package amocrm

import (
	"context"
	"fmt"
	"slices"

	"github.com/callbridge/callbridge/match"
)

var _ match.Reassigner = (*Store)(nil)

// SetClientResponsible implements match.Reassigner: the contact (or the
// company, for a "company:N" id) gets the amoCRM user employee as its
// responsible (PATCH /api/v4/contacts or /api/v4/companies). The store's
// cached cards of the client are dropped, so the next look-up reads it
// again.
func (s *Store) SetClientResponsible(ctx context.Context, _, clientID, employee string) error {
	uid := parseID(employee)
	if uid == 0 {
		return fmt.Errorf("amocrm: set responsible of %q: %q is not an amoCRM user id", clientID, employee)
	}
	entity, id, ok := ParseClientID(clientID)
	if !ok {
		return fmt.Errorf("amocrm: set responsible: %q is not a contact or company id", clientID)
	}
	var err error
	if entity == EntityCompanies {
		_, err = s.c.UpdateCompanies(ctx, []Company{{ID: id, ResponsibleUserID: uid}})
	} else {
		_, err = s.c.UpdateContacts(ctx, []Contact{{ID: id, ResponsibleUserID: uid}})
	}
	if err != nil {
		return fmt.Errorf("amocrm: set responsible of %s: %w", clientID, err)
	}
	s.mu.Lock()
	for phone, e := range s.phones {
		for _, cd := range slices.Concat(e.byPhone, e.byField) {
			if cd.entity == entity && cd.id == id {
				delete(s.phones, phone)
				break
			}
		}
	}
	s.mu.Unlock()
	return nil
}

// SetLeadResponsible implements match.Reassigner: the lead gets the
// amoCRM user employee as its responsible (PATCH /api/v4/leads/{id}).
func (s *Store) SetLeadResponsible(ctx context.Context, _, leadID, employee string) error {
	uid, id := parseID(employee), parseID(leadID)
	if uid == 0 || id == 0 {
		return fmt.Errorf("amocrm: set responsible of lead %q: %q is not an amoCRM user id or %q not a lead id", leadID, employee, leadID)
	}
	if err := s.c.UpdateLead(ctx, Lead{ID: id, ResponsibleUserID: uid}); err != nil {
		return fmt.Errorf("amocrm: set responsible of lead %s: %w", leadID, err)
	}
	s.mu.Lock()
	if l, ok := s.leads[id]; ok {
		l.v.ResponsibleUserID = uid
		s.leads[id] = l
	}
	s.mu.Unlock()
	return nil
}
