package finaz

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/callbridge/callbridge/internal/telemetry"
)

// Contact is one mailing record for the dialer.
type Contact struct {
	// ID is the CRM's contact id ("Identificador Contato CRM"); the dialer
	// returns it in DialerResults and the answered notification (pid).
	// Required.
	ID string
	// Name is the client's name ("Nome Cliente").
	Name string
	// CPF is the client's CPF; dots, dashes, slashes and spaces are
	// removed, anything else but digits is an error.
	CPF string
	// Phones are one to five numbers in any usual format; each is
	// normalised (Config.DefaultCountry) and split into DDD and number.
	Phones []string
}

// ContactError is a contact that was not uploaded.
type ContactError struct {
	// Index is the contact's position in the slice given to UploadContacts.
	Index     int
	ContactID string
	Err       error
}

// Error returns "finaz: contact <index> (<id>): <cause>".
func (e *ContactError) Error() string {
	return fmt.Sprintf("finaz: contact %d (%q): %v", e.Index, e.ContactID, e.Err)
}

// Unwrap returns the cause.
func (e *ContactError) Unwrap() error { return e.Err }

// UploadReport accounts for every contact of an upload:
// Total == Uploaded + len(Failed).
type UploadReport struct {
	Total    int
	Uploaded int
	// Failed lists the contacts not uploaded, in input order: invalid
	// data, a rejected request, or not sent because the context ended.
	Failed []ContactError
}

// ErrUploadIncomplete is returned (wrapped) by UploadContacts and
// ReloadDialer when some contacts were not uploaded; the UploadReport
// says which.
var ErrUploadIncomplete = errors.New("finaz: upload incomplete")

// UploadContacts sends contacts to the queue's dialer ("Envio automático
// de Contatos ao Discador"). In CSV mode (RequestTemplate.CSV) all valid
// contacts go in one file in one request; otherwise each contact is one
// request, Config.UploadConcurrency at a time. Invalid contacts are not
// sent, nor in CSV mode a contact whose row cannot be rendered (e.g. a
// foreign phone under a {{ddd1}} column): each is reported with its own
// error and the others are uploaded. The report is never nil and accounts
// for every contact; the error wraps ErrUploadIncomplete when any failed.
// A per-contact request is not
// retried after it may have reached the PBX unless the template is
// idempotent, since that could duplicate the contact.
func (c *Client) UploadContacts(ctx context.Context, queue string, contacts []Contact) (*UploadReport, error) {
	rep := &UploadReport{Total: len(contacts)}
	ot := c.c.ops[OpUploadContacts]
	if ot == nil {
		rep.failAll(contacts, c.notConfigured(OpUploadContacts))
		return rep, rep.err()
	}
	errs := make([]error, len(contacts))
	rows := make([]map[string]string, len(contacts))
	for i, ct := range contacts {
		rows[i], errs[i] = contactVars(ct, c.c.country)
		if errs[i] == nil {
			setNonEmpty(rows[i], VarFila, queue)
		}
	}
	if ot.csv != nil {
		c.uploadCSV(ctx, ot, queue, rows, errs)
	} else {
		c.uploadEach(ctx, rows, errs)
	}
	for i, err := range errs {
		if err != nil {
			rep.Failed = append(rep.Failed, ContactError{Index: i, ContactID: contacts[i].ID, Err: err})
		}
	}
	rep.Uploaded = rep.Total - len(rep.Failed)
	c.countUpload(ctx, rep)
	return rep, rep.err()
}

// countUpload adds an upload's contacts to callbridge.dialer.contacts.
func (c *Client) countUpload(ctx context.Context, rep *UploadReport) {
	if !c.dialer.Contacts.Enabled(ctx) {
		return
	}
	p := telemetry.ProviderKey.String(Provider)
	c.dialer.Contacts.Add(ctx, int64(rep.Uploaded), telemetry.Attrs(p, telemetry.OutcomeKey.String(telemetry.OutcomeUploaded)))
	c.dialer.Contacts.Add(ctx, int64(len(rep.Failed)), telemetry.Attrs(p, telemetry.OutcomeKey.String(telemetry.OutcomeFailed)))
}

// uploadCSV sends the rows that render as one file. A row that cannot be
// rendered (e.g. a foreign phone under a {{ddd1}} column) fails alone.
func (c *Client) uploadCSV(ctx context.Context, ot *opTemplate, queue string, rows []map[string]string, errs []error) {
	var valid []map[string]string
	e := &env{params: c.c.cfg.Params}
	rec := make([]string, len(ot.csv.columns))
	for i, r := range rows {
		if errs[i] != nil {
			continue
		}
		if err := ot.csv.record(e, r, rec); err != nil {
			errs[i] = withOp(OpUploadContacts, err)
			continue
		}
		valid = append(valid, r)
	}
	if len(valid) == 0 {
		return
	}
	vars := map[string]string{}
	setNonEmpty(vars, VarFila, queue)
	if _, err := c.exchange(ctx, OpUploadContacts, vars, valid); err != nil {
		for i := range rows {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
}

func (c *Client) uploadEach(ctx context.Context, rows []map[string]string, errs []error) {
	var g errgroup.Group
	g.SetLimit(c.c.conc)
	for i := range rows {
		if errs[i] != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("not sent: %w", err)
			continue
		}
		g.Go(func() error {
			if _, err := c.exchange(ctx, OpUploadContacts, rows[i], nil); err != nil {
				errs[i] = err
				c.log.DebugContext(ctx, "finaz: contact not uploaded", "index", i, "error", err)
			}
			return nil
		})
	}
	_ = g.Wait()
}

// ReloadDialer is the manual's "always clear before a new upload": it runs
// ClearDialer (when configured) and then UploadContacts. If clearing fails
// nothing is uploaded and every contact is reported failed.
func (c *Client) ReloadDialer(ctx context.Context, queue string, contacts []Contact) (*UploadReport, error) {
	if c.Configured(OpClearDialer) {
		if err := c.ClearDialer(ctx, queue); err != nil {
			rep := &UploadReport{Total: len(contacts)}
			rep.failAll(contacts, fmt.Errorf("not sent, clearing the dialer failed: %w", err))
			return rep, fmt.Errorf("%w: %w", ErrUploadIncomplete, err)
		}
	}
	return c.UploadContacts(ctx, queue, contacts)
}

func (r *UploadReport) failAll(contacts []Contact, err error) {
	for i, ct := range contacts {
		r.Failed = append(r.Failed, ContactError{Index: i, ContactID: ct.ID, Err: err})
	}
}

func (r *UploadReport) err() error {
	if len(r.Failed) == 0 {
		return nil
	}
	f := r.Failed[0]
	return fmt.Errorf("%w: %d of %d contacts failed, the first: %w", ErrUploadIncomplete, len(r.Failed), r.Total, &f)
}

// contactVars validates ct and returns its template variables. Phones
// beyond the contact's own are empty strings, so templates can always
// reference ddd1..ddd5; a non-Brazilian phone has no DDD and number (only
// telefoneN), so a template that needs them fails for that contact.
func contactVars(ct Contact, country string) (map[string]string, error) {
	id := strings.TrimSpace(ct.ID)
	if id == "" {
		return nil, errors.New("contact id is empty")
	}
	if len(ct.Phones) == 0 {
		return nil, errors.New("contact has no phone")
	}
	if len(ct.Phones) > MaxContactPhones {
		return nil, fmt.Errorf("contact has %d phones, at most %d are allowed", len(ct.Phones), MaxContactPhones)
	}
	cpf, err := cleanCPF(ct.CPF)
	if err != nil {
		return nil, err
	}
	vars := make(map[string]string, 4+3*MaxContactPhones)
	vars[VarContatoCRM] = id
	vars[VarNomeCliente] = strings.TrimSpace(ct.Name)
	vars[VarCPF] = cpf
	for n := 1; n <= MaxContactPhones; n++ {
		if n > len(ct.Phones) {
			vars[VarDDDN(n)], vars[VarNumeroN(n)], vars[VarTelefoneN(n)] = "", "", ""
			continue
		}
		full, ddd, num, err := SplitPhone(ct.Phones[n-1], country)
		if err != nil {
			return nil, fmt.Errorf("phone %d: %w", n, err)
		}
		vars[VarTelefoneN(n)] = full
		if ddd != "" {
			vars[VarDDDN(n)], vars[VarNumeroN(n)] = ddd, num
		}
	}
	return vars, nil
}

func cleanCPF(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '.' || r == '-' || r == '/' || r == ' ':
		default:
			return "", fmt.Errorf("cpf %q is not a number", s)
		}
	}
	return b.String(), nil
}
