package finaz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	strutil "github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/webhook"
)

// Endpoint is one of the two "answered call" notifications of the manual.
type Endpoint string

const (
	// EndpointDiscador is the server-side notification: the PBX sends
	// GET …/atendimentodiscador?pid=&num=&cid=&ramal=&empresaId=.
	EndpointDiscador Endpoint = "atendimentodiscador"
	// EndpointReceptivo is the client-side notification: the agent's
	// browser opens …/atendimentoreceptivo?num=&cid=&ramal=&empresaId=.
	EndpointReceptivo Endpoint = "atendimentoreceptivo"
)

// TokenParam is the query parameter that carries the handler's token.
const TokenParam = "token"

// Provider is the Event.Provider of this package's events.
const Provider = "finaz"

// ParseNotification turns the parameters of a notification into an
// Answered event: ContactRef = pid (the "Identificador Contato CRM" of the
// mailing, server-side only), ClientPhone = num normalised with
// defaultCountry ("" means "BR"; "" for an anonymous number or an internal
// extension), CallID = cid, Extension = ramal, Account = empresaId (the
// manual prints it "empresald"; both spellings are read). The server-side
// call is a dialer call (Direction Outbound); the client-side one carries
// no direction. At is at in UTC, Raw the notification's parameters
// (without the token). The ID is stable for one notification, so a
// redelivery deduplicates: EventID("finaz", empresaId, endpoint, cid, ramal).
//
// Errors wrap webhook.ErrBadRequest and name the parameter: an unknown
// endpoint, a missing cid or empresaId, a num that is neither a phone
// number, an extension nor anonymous, a pid, cid, ramal or empresaId that
// is not printable text of at most callevent.MaxFieldLen bytes, more than
// MaxParams parameters, or a parameter longer than callevent.MaxFieldLen.
func ParseNotification(ep Endpoint, params url.Values, defaultCountry string, at time.Time) (callevent.Event, error) {
	if ep != EndpointDiscador && ep != EndpointReceptivo {
		return callevent.Event{}, fmt.Errorf("%w: unknown notification %q", webhook.ErrBadRequest, strutil.Clip(string(ep), 40))
	}
	if err := checkParams(ep, params); err != nil {
		return callevent.Event{}, err
	}
	get := func(k string) string { return strings.TrimSpace(params.Get(k)) }
	account, accountName := get("empresaId"), "empresaId"
	if account == "" {
		account, accountName = get("empresald"), "empresald"
	}
	cid := get("cid")
	var missing []string
	if cid == "" {
		missing = append(missing, "cid")
	}
	if account == "" {
		missing = append(missing, "empresaId")
	}
	if len(missing) > 0 {
		return callevent.Event{}, fmt.Errorf("%w: %s: missing %s", webhook.ErrBadRequest, ep, strings.Join(missing, ", "))
	}
	ramal, pid := get("ramal"), ""
	if ep == EndpointDiscador {
		pid = get("pid")
	}
	for _, f := range [...]struct{ name, v string }{{"cid", cid}, {accountName, account}, {"ramal", ramal}, {"pid", pid}} {
		if !callevent.Printable(f.v) {
			return callevent.Event{}, fmt.Errorf("%w: %s: %s %q is not printable text", webhook.ErrBadRequest, ep, f.name, strutil.Clip(f.v, 40))
		}
	}
	if defaultCountry == "" {
		defaultCountry = "BR"
	}
	client, _, err := webhook.Phone("num", get("num"), defaultCountry)
	if err != nil {
		if errors.Is(err, webhook.ErrBadRequest) {
			return callevent.Event{}, fmt.Errorf("%s: %w", ep, err)
		}
		return callevent.Event{}, fmt.Errorf("finaz: %w", err)
	}
	e := callevent.Event{
		ID:          webhook.EventID(Provider, account, string(ep), cid, ramal),
		Provider:    Provider,
		Account:     account,
		Kind:        callevent.Answered,
		CallID:      cid,
		ClientPhone: client,
		Extension:   ramal,
		ContactRef:  pid,
		At:          at.UTC(),
		Raw:         rawParams(params),
	}
	if ep == EndpointDiscador {
		e.Direction = callevent.Outbound
	}
	return e, nil
}

// MaxParams bounds the parameters of a notification (the manual's five,
// the token, and room for what a PBX adds).
const MaxParams = 32

// checkParams bounds the notification at decode time: at most MaxParams
// parameters, each name and value at most callevent.MaxFieldLen bytes, so
// nothing oversized reaches the event or its Raw.
func checkParams(ep Endpoint, params url.Values) error {
	if len(params) > MaxParams {
		return fmt.Errorf("%w: %s: %d parameters, more than %d", webhook.ErrBadRequest, ep, len(params), MaxParams)
	}
	for k, vs := range params {
		if len(k) > callevent.MaxFieldLen {
			return fmt.Errorf("%w: %s: parameter name %q is longer than %d bytes", webhook.ErrBadRequest, ep, strutil.Clip(k, 40), callevent.MaxFieldLen)
		}
		if k == TokenParam {
			continue // the authenticator's business; never echoed
		}
		for _, v := range vs {
			if len(v) > callevent.MaxFieldLen {
				return fmt.Errorf("%w: %s: %s is %d bytes, more than %d", webhook.ErrBadRequest, ep, strutil.Clip(k, 40), len(v), callevent.MaxFieldLen)
			}
		}
	}
	return nil
}

// rawParams is the JSON object of the parameters (first value each),
// without the token.
func rawParams(params url.Values) json.RawMessage {
	m := make(map[string]string, len(params))
	for k, vs := range params {
		if k == TokenParam || len(vs) == 0 {
			continue
		}
		m[k] = vs[0]
	}
	b, _ := json.Marshal(m)
	return b
}

// defaultNewContactText is the text of the "create contact" link of the
// client-side notification's page (webhook.WithNewContactText changes it).
const defaultNewContactText = "Cadastrar cliente"

// NewHandler returns the handler of both notifications, delivering an
// Answered event to sink. It serves the last path segment
// "atendimentodiscador" (reply: 200 "OK") and "atendimentoreceptivo"
// (reply: 302 to the client's CRM card or to the "create contact" page,
// or a small HTML page) and answers 404 to anything else, so mount it on a
// prefix:
//
//	mux.Handle("/telephony-proxy/", h)
//
// It takes the options of package webhook. Requests are GET (change with
// webhook.WithMethods). Authentication is required: webhook.WithToken (the
// query parameter "token", several tokens for rotation; keep it there or
// in a path segment with webhook.WithTokenFunc, since every other query
// parameter is kept in Event.Raw), webhook.WithAllowedIPs (not useful for
// the client-side notification, which comes from agents' browsers), or an
// explicit webhook.WithoutAuth.
//
// The client-side notification is an agent's browser window. With
// webhook.WithContactLookup (bounded by webhook.WithLookupTimeout; the
// account is empresaId) the window is redirected (302) to the found
// client's card: Contact.URL when it is an absolute http(s) URL, else the
// card template of webhook.WithCardURL(card, newContact). When the lookup
// answers that the number is not a client's and newContact is set, the
// window is redirected to the newContact page instead. Otherwise it gets a
// small escaped HTML page. When no client was found, the number is a phone
// number and newContact is set, the page links to newContact with the
// text of webhook.WithNewContactText (default "Cadastrar cliente"): that
// is the case without a lookup, or when the lookup failed or timed out
// (neither tells that the number is new, so the agent decides). In both
// templates {phone} and {digits} are the normalised number (finaz has
// always put the normalised number in {phone}), {account} is empresaId
// and {id} the contact's id ("" in newContact); each value is
// percent-encoded. The event is delivered whatever the lookup says. Failed
// lookups and contact URLs not redirected to are logged to
// webhook.WithLogger's logger.
//
// Numbers without a country code are read with webhook.WithDefaultCountry
// (default "BR"). The account of a notification is always its empresaId:
// webhook.WithAccount and webhook.WithTokenAccounts are refused.
func NewHandler(sink callevent.Sink, opts ...webhook.Option) (http.Handler, error) {
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("finaz: handler option %d is nil", i+1)
		}
	}
	wopts := append([]webhook.Option{webhook.ForProvider(Provider), webhook.WithMethods(http.MethodGet)}, opts...)
	h := &handler{}
	var err error
	var discador, receptivo *webhook.Handler
	if discador, err = webhook.New(sink, webhook.DecoderFunc(h.decodeDiscador), wopts...); err != nil {
		return nil, fmt.Errorf("finaz: %w", err)
	}
	if receptivo, err = webhook.New(sink, webhook.DecoderFunc(h.decodeReceptivo), wopts...); err != nil {
		return nil, fmt.Errorf("finaz: %w", err)
	}
	cfg := discador.Config()
	switch {
	case cfg.TokenAccounts:
		return nil, errors.New("finaz: WithTokenAccounts is not supported: the account of a notification is its empresaId; use WithToken")
	case cfg.Account != nil:
		return nil, errors.New("finaz: WithAccount is not supported: the account of a notification is its empresaId")
	}
	if cfg.DefaultCountry == "" {
		cfg.DefaultCountry = "BR"
	}
	if cfg.NewContactText == "" {
		cfg.NewContactText = defaultNewContactText
	}
	h.cfg, h.discador, h.receptivo = cfg, discador, receptivo
	return h, nil
}

type handler struct {
	cfg       webhook.Config
	discador  http.Handler
	receptivo http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch Endpoint(path.Base(r.URL.Path)) {
	case EndpointDiscador:
		h.discador.ServeHTTP(w, r)
	case EndpointReceptivo:
		h.receptivo.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *handler) decode(ep Endpoint, r *http.Request, body []byte) (callevent.Event, error) {
	params, err := webhook.Values(r, body)
	if err != nil {
		return callevent.Event{}, err
	}
	return ParseNotification(ep, params, h.cfg.DefaultCountry, webhook.Arrival(r.Context()))
}

func (h *handler) decodeDiscador(r *http.Request, body []byte) (webhook.Result, error) {
	e, err := h.decode(EndpointDiscador, r, body)
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{
		Events: []callevent.Event{e},
		Reply:  webhook.Reply{Status: http.StatusOK, Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, Body: []byte("OK")},
	}, nil
}

func (h *handler) decodeReceptivo(r *http.Request, body []byte) (webhook.Result, error) {
	e, err := h.decode(EndpointReceptivo, r, body)
	if err != nil {
		return webhook.Result{}, err
	}
	res := webhook.Result{Events: []callevent.Event{e}}
	contact, answer := h.lookup(r.Context(), e)
	if target := h.redirect(r.Context(), contact, answer, e); target != "" {
		res.Reply = webhook.Reply{Status: http.StatusFound, Header: http.Header{
			"Location":      {target},
			"Cache-Control": {"no-store"},
		}}
		return res, nil
	}
	var newContact string
	if answer != lookupFound && e.ClientPhone != "" {
		newContact = h.newContactURL(e)
	}
	page, err := answeredPage(e, contact, answer == lookupFound, newContact, h.cfg.NewContactText)
	if err != nil {
		return webhook.Result{}, err
	}
	res.Reply = webhook.Reply{Status: http.StatusOK, Header: http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {"no-store"},
		"X-Content-Type-Options":  {"nosniff"},
		"Content-Security-Policy": {"default-src 'none'; style-src 'unsafe-inline'"},
		"Referrer-Policy":         {"no-referrer"}, // the page's URL carries the token
	}, Body: page}
	return res, nil
}

// lookupAnswer is what a contact lookup said.
type lookupAnswer int

const (
	lookupNone     lookupAnswer = iota // no lookup, no number, or the lookup failed
	lookupNotFound                     // the lookup answered: not a client
	lookupFound
)

// lookup asks the ContactLookup within the lookup timeout, not waiting for
// a lookup that ignores its context; failures are logged and give
// lookupNone, so the agent still gets a page.
func (h *handler) lookup(ctx context.Context, e callevent.Event) (callevent.Contact, lookupAnswer) {
	if h.cfg.ContactLookup == nil || e.ClientPhone == "" {
		return callevent.Contact{}, lookupNone
	}
	c, found, err := webhook.LookupContact(ctx, h.cfg.ContactLookup, h.cfg.LookupTimeout, e.Account, e.ClientPhone)
	switch {
	case err != nil:
		webhook.Logger(ctx).WarnContext(ctx, "finaz: contact lookup failed", "account", e.Account, "error", err)
		return callevent.Contact{}, lookupNone
	case !found:
		return callevent.Contact{}, lookupNotFound
	}
	return c, lookupFound
}

// redirect is where the agent's window goes: the found client's card, the
// "create contact" page for a number the lookup does not know, or "" for
// the page.
func (h *handler) redirect(ctx context.Context, c callevent.Contact, answer lookupAnswer, e callevent.Event) string {
	switch answer {
	case lookupNotFound:
		return h.newContactURL(e)
	case lookupNone:
		return ""
	}
	if c.URL != "" {
		if safeRedirect(c.URL) {
			return c.URL
		}
		webhook.Logger(ctx).WarnContext(ctx, "finaz: contact URL is not an absolute http(s) URL, not redirecting", "contact", c.ID)
	}
	if h.cfg.CardURL == "" || c.ID == "" {
		return ""
	}
	return checkedURL(webhook.CardURL(h.cfg.CardURL, c.ID, e.ClientPhone, e.ClientPhone, e.Account))
}

// newContactURL is the expanded "create contact" template, or "".
func (h *handler) newContactURL(e callevent.Event) string {
	return checkedURL(webhook.CardURL(h.cfg.NewContactURL, "", e.ClientPhone, e.ClientPhone, e.Account))
}

// checkedURL is u if it is safe to redirect to, else "" (the values of a
// template are percent-encoded, so this is a second line of defence).
func checkedURL(u string) string {
	if u == "" || !safeRedirect(u) {
		return ""
	}
	return u
}

// safeRedirect accepts absolute http(s) URLs only (no javascript:, no
// scheme-relative "//host").
func safeRedirect(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		!strings.ContainsAny(s, "\r\n")
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="pt-BR"><head><meta charset="utf-8"><title>Chamada atendida</title>
<style>body{font-family:sans-serif;margin:2em}dt{font-weight:bold}</style></head>
<body><h1>Chamada atendida</h1><dl>
{{- if .Name}}<dt>Cliente</dt><dd>{{.Name}}</dd>{{end}}
<dt>Telefone</dt><dd>{{if .Phone}}+{{.Phone}}{{else}}não identificado{{end}}</dd>
<dt>Ligação</dt><dd>{{.CallID}}</dd>
{{- if .Extension}}<dt>Ramal</dt><dd>{{.Extension}}</dd>{{end}}
</dl>{{if not .Found}}<p>Nenhum cadastro encontrado para este número.</p>{{end}}
{{- if .NewContactURL}}<p><a href="{{.NewContactURL}}" rel="noreferrer">{{.NewContactText}}</a></p>{{end}}</body></html>
`))

func answeredPage(e callevent.Event, c callevent.Contact, found bool, newContactURL, newContactText string) ([]byte, error) {
	var b bytes.Buffer
	err := pageTmpl.Execute(&b, struct {
		Name, Phone, CallID, Extension string
		Found                          bool
		NewContactURL, NewContactText  string
	}{c.Name, e.ClientPhone, e.CallID, e.Extension, found, newContactURL, newContactText})
	return b.Bytes(), err
}
