package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/phone"
)

// Kinds of client POST /api/clients creates (ClientRequest.Kind).
const (
	KindContact = "contact"
	KindCompany = "company"
)

// ClientRequest is the body of POST /api/clients: a contact or a
// company for a number (the card's offer for an unknown number, seed 002
// scenarios 3 and 8).
type ClientRequest struct {
	Name  string `json:"name"`
	Phone string `json:"phone"`
	// Kind is KindContact (the default) or KindCompany.
	Kind string `json:"kind,omitempty"`
	// Responsible is the employee who owns the client.
	Responsible string `json:"responsible,omitempty"`
}

// CreatedClient is the answer of POST /api/clients.
type CreatedClient struct {
	Client
	Kind string `json:"kind"`
	// URL opens the client in the CRM (amoCRM mode).
	URL string `json:"url,omitempty"`
}

// createClient is POST /api/clients: {"name","phone"[,"kind"][,"responsible"]}
// creates a contact (or a company) in the CRM: the built-in one (a
// company is a client whose fields say kind: company), or amoCRM. A call
// of the number that ended less than the late-binding window ago, or
// that is still in progress, is attached to it when decided. 201 with
// the client; 400 naming a bad field; 409 when a client has the number
// already (built-in CRM).
func (g *Gateway) createClient(w http.ResponseWriter, r *http.Request) {
	var req ClientRequest
	if status, err := decodeJSON(w, r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	req.Name, req.Kind = strings.TrimSpace(req.Name), cmpOr(strings.TrimSpace(req.Kind), KindContact)
	switch {
	case req.Name == "" || len(req.Name) > match.MaxValueLen || !callevent.Printable(req.Name):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("name: want 1 to %d bytes of printable text", match.MaxValueLen))
		return
	case req.Kind != KindContact && req.Kind != KindCompany:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("kind: %q is neither %s nor %s", text.Clip(req.Kind, 20), KindContact, KindCompany))
		return
	case len(req.Responsible) > match.MaxValueLen || !callevent.Printable(req.Responsible):
		writeError(w, http.StatusBadRequest, "responsible: want an employee id")
		return
	}
	num, err := phone.Normalize(req.Phone, g.cfg.Country)
	if err != nil || num == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("phone: %q is not a phone number", text.Clip(req.Phone, 40)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	var out CreatedClient
	if g.amoClient != nil {
		out, err = g.createAmoClient(ctx, req, num)
		if err != nil {
			status, msg := callFailure("amocrm", err)
			g.log.WarnContext(r.Context(), "creating a client in amoCRM failed", "kind", req.Kind, "status", status, "error", err)
			writeError(w, status, msg)
			return
		}
	} else {
		if c, found, err := g.crm.FindClientByPhone(ctx, "", num); err != nil {
			g.dbError(w, r, err)
			return
		} else if found {
			writeError(w, http.StatusConflict, fmt.Sprintf("phone: client %q has the number already", text.Clip(c.ID, 40)))
			return
		}
		c := match.Client{Name: req.Name, Phone: num, Channel: match.ChannelTelephony, Responsible: req.Responsible}
		if req.Kind == KindCompany {
			c.Fields = map[string]string{"kind": KindCompany}
		}
		c, err := g.crm.CreateClient(ctx, c)
		if err != nil {
			g.dbError(w, r, err)
			return
		}
		out = CreatedClient{Client: clientOf(c), Kind: req.Kind}
	}
	g.log.InfoContext(r.Context(), "client created", "kind", req.Kind, "client_id", out.ID, "responsible", req.Responsible)
	writeJSON(w, http.StatusCreated, out)
}

// createAmoClient creates the contact (through the amoCRM store, which
// then finds it by its number) or the company in amoCRM.
func (g *Gateway) createAmoClient(ctx context.Context, req ClientRequest, num string) (CreatedClient, error) {
	base := "https://" + g.amoClient.Domain() + "/"
	if req.Kind == KindContact {
		c, err := g.crm.CreateClient(ctx, match.Client{Name: req.Name, Phone: num, Responsible: req.Responsible})
		if err != nil {
			return CreatedClient{}, err
		}
		return CreatedClient{Client: clientOf(c), Kind: KindContact, URL: base + "contacts/detail/" + url.PathEscape(c.ID)}, nil
	}
	uid, _ := strconv.ParseInt(req.Responsible, 10, 64) // amoCRM mode: employees are amoCRM users
	out, err := g.amoClient.CreateCompanies(ctx, []amocrm.Company{{Name: req.Name, ResponsibleUserID: uid,
		CustomFields: []amocrm.CustomField{amocrm.PhoneField(num)}}})
	if err != nil {
		return CreatedClient{}, err
	}
	id := strconv.FormatInt(out[0].ID, 10)
	return CreatedClient{Client: Client{ID: amocrm.CompanyIDPrefix + id, Name: req.Name, Phone: num, Responsible: req.Responsible},
		Kind: KindCompany, URL: base + "companies/detail/" + id}, nil
}
