package callevent

import (
	"context"
	"errors"
)

// Sink receives call events. HandleEvent must be safe for concurrent use.
// A returned error tells the delivering side that the event was not
// processed, so it can be retried (a webhook handler answers 5xx and the
// provider redelivers).
type Sink interface {
	HandleEvent(ctx context.Context, e Event) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, e Event) error

// HandleEvent calls f(ctx, e).
func (f SinkFunc) HandleEvent(ctx context.Context, e Event) error { return f(ctx, e) }

// Fanout returns a Sink that delivers every event to each of sinks in order,
// even when an earlier one fails, and joins their errors with errors.Join.
// Nil sinks are skipped.
func Fanout(sinks ...Sink) Sink {
	s := make(fanout, 0, len(sinks))
	for _, k := range sinks {
		if k != nil {
			s = append(s, k)
		}
	}
	return s
}

type fanout []Sink

func (f fanout) HandleEvent(ctx context.Context, e Event) error {
	var errs []error
	for _, s := range f {
		if err := s.HandleEvent(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Contact is what a CRM knows about the owner of a phone number, as needed
// to answer a provider's lookup (MegaFon cmd=contact, Phonet customer_data,
// Telphin call_interactive, Finaz screen pop).
type Contact struct {
	// ID is the CRM's client id.
	ID string `json:"id,omitempty"`
	// Name is the client's display name.
	Name string `json:"name,omitempty"`
	// URL opens the client's card in the CRM.
	URL string `json:"url,omitempty"`
	// ResponsibleExtension is the short number of the client's manager.
	ResponsibleExtension string `json:"responsible_extension,omitempty"`
	// ResponsibleLogin is the manager's login at the telephony provider.
	ResponsibleLogin string `json:"responsible_login,omitempty"`
	// ResponsibleEmail is the manager's e-mail.
	ResponsibleEmail string `json:"responsible_email,omitempty"`
}

// ContactLookup finds the contact for a normalised phone within an account.
// found is false (with a nil error) when nobody has that phone.
type ContactLookup interface {
	LookupContact(ctx context.Context, account, phone string) (c Contact, found bool, err error)
}

// ContactLookupFunc adapts a function to a ContactLookup.
type ContactLookupFunc func(ctx context.Context, account, phone string) (Contact, bool, error)

// LookupContact calls f(ctx, account, phone).
func (f ContactLookupFunc) LookupContact(ctx context.Context, account, phone string) (Contact, bool, error) {
	return f(ctx, account, phone)
}
