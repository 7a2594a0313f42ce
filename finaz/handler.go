package finaz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/phone"
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

// HandlerOption configures NewHandler.
type HandlerOption func(*handlerOptions) error

type handlerOptions struct {
	tokens        []string
	noAuth        bool
	allowed       []netip.Prefix
	trusted       []netip.Prefix
	lookup        callevent.ContactLookup
	lookupTimeout time.Duration
	country       string
	cardURL       string
	webhookOpts   []webhook.Option
}

// WithToken requires the query parameter "token" to be one of tokens
// (several for rotation). Put it in the URL configured at the PBX and in
// the agent's browser URL.
func WithToken(tokens ...string) HandlerOption {
	return func(o *handlerOptions) error {
		if len(tokens) == 0 {
			return errors.New("finaz: WithToken needs at least one token")
		}
		o.tokens = append(o.tokens, tokens...)
		return nil
	}
}

// WithoutAuth runs the handler without authentication (e.g. behind a
// gateway that authenticates). Without it, NewHandler needs WithToken or
// WithAllowedIPs.
func WithoutAuth() HandlerOption {
	return func(o *handlerOptions) error { o.noAuth = true; return nil }
}

// WithAllowedIPs accepts only requests from allowed addresses, with
// X-Forwarded-For believed only from trustedProxies. With WithToken both
// must pass. Not useful for the client-side notification, which comes
// from agents' browsers.
func WithAllowedIPs(allowed, trustedProxies []netip.Prefix) HandlerOption {
	return func(o *handlerOptions) error {
		if len(allowed) == 0 {
			return errors.New("finaz: WithAllowedIPs needs at least one prefix")
		}
		o.allowed, o.trusted = allowed, trustedProxies
		return nil
	}
}

// WithContactLookup finds the client of a client-side notification, whose
// browser window is then redirected (302) to the contact's card: Contact.URL,
// or the WithCardURL pattern.
func WithContactLookup(l callevent.ContactLookup) HandlerOption {
	return func(o *handlerOptions) error {
		if l == nil {
			return errors.New("finaz: nil contact lookup")
		}
		o.lookup = l
		return nil
	}
}

// WithLookupTimeout bounds the contact lookup (default 1 s). When it runs
// out the agent gets the fallback page; the event is delivered anyway.
func WithLookupTimeout(d time.Duration) HandlerOption {
	return func(o *handlerOptions) error {
		if d <= 0 {
			return errors.New("finaz: lookup timeout must be positive")
		}
		o.lookupTimeout = d
		return nil
	}
}

// WithDefaultCountry sets the country of numbers without a country code
// (default "BR").
func WithDefaultCountry(country string) HandlerOption {
	return func(o *handlerOptions) error {
		if err := phone.CheckCountry(country); err != nil {
			return fmt.Errorf("finaz: %w", err)
		}
		o.country = country
		return nil
	}
}

// WithCardURL sets the CRM card URL used when the looked-up contact has no
// Contact.URL of its own: "{id}" is replaced by the contact id, "{phone}"
// by the normalised phone and "{account}" by empresaId, each path-escaped.
// It must be an absolute http(s) URL.
func WithCardURL(pattern string) HandlerOption {
	return func(o *handlerOptions) error {
		if !safeRedirect(strings.NewReplacer("{id}", "x", "{phone}", "x", "{account}", "x").Replace(pattern)) {
			return fmt.Errorf("finaz: card URL %q is not an absolute http(s) URL", pattern)
		}
		o.cardURL = pattern
		return nil
	}
}

// WithWebhookOptions passes options to the underlying webhook.Handler
// (body limit, dedup store, logger, methods — default GET). The logger
// (webhook.WithLogger) also receives the handler's own lines: failed
// contact lookups and contact URLs not redirected to.
func WithWebhookOptions(opts ...webhook.Option) HandlerOption {
	return func(o *handlerOptions) error {
		o.webhookOpts = append(o.webhookOpts, opts...)
		return nil
	}
}

// NewHandler returns the handler of both notifications, delivering an
// Answered event to sink. It serves the last path segment
// "atendimentodiscador" (reply: 200 "OK") and "atendimentoreceptivo"
// (reply: 302 to the client's CRM card, or a small HTML page) and answers
// 404 to anything else, so mount it on a prefix:
//
//	mux.Handle("/telephony-proxy/", h)
//
// Requests are GET; authentication (WithToken, WithAllowedIPs or an
// explicit WithoutAuth) is required.
func NewHandler(sink callevent.Sink, opts ...HandlerOption) (http.Handler, error) {
	o := handlerOptions{lookupTimeout: webhook.DefaultLookupTimeout, country: "BR"}
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("finaz: handler option %d is nil", i+1)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	auth, err := webhook.Auth{Tokens: o.tokens, AllowedIPs: o.allowed, TrustedProxies: o.trusted, Disabled: o.noAuth}.Options()
	if err != nil {
		return nil, fmt.Errorf("finaz: %w", err)
	}
	wopts := append([]webhook.Option{webhook.WithMethods(http.MethodGet)}, auth...)
	wopts = append(wopts, o.webhookOpts...)

	o.tokens = nil // the authenticator keeps them hashed; nothing else needs them
	h := &handler{o: o}
	if h.discador, err = webhook.New(sink, webhook.DecoderFunc(h.decodeDiscador), wopts...); err != nil {
		return nil, fmt.Errorf("finaz: %w", err)
	}
	if h.receptivo, err = webhook.New(sink, webhook.DecoderFunc(h.decodeReceptivo), wopts...); err != nil {
		return nil, fmt.Errorf("finaz: %w", err)
	}
	return h, nil
}

type handler struct {
	o         handlerOptions
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
	return ParseNotification(ep, params, h.o.country, webhook.Arrival(r.Context()))
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
	contact, found := h.lookup(r.Context(), e)
	if target := h.cardURL(r.Context(), contact, found, e); target != "" {
		res.Reply = webhook.Reply{Status: http.StatusFound, Header: http.Header{
			"Location":      {target},
			"Cache-Control": {"no-store"},
		}}
		return res, nil
	}
	page, err := answeredPage(e, contact, found)
	if err != nil {
		return webhook.Result{}, err
	}
	res.Reply = webhook.Reply{Status: http.StatusOK, Header: http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {"no-store"},
		"X-Content-Type-Options":  {"nosniff"},
		"Content-Security-Policy": {"default-src 'none'; style-src 'unsafe-inline'"},
	}, Body: page}
	return res, nil
}

// lookup asks the ContactLookup within the lookup timeout, not waiting for
// a lookup that ignores its context; failures are logged and give "not
// found", so the agent still gets a page.
func (h *handler) lookup(ctx context.Context, e callevent.Event) (callevent.Contact, bool) {
	if h.o.lookup == nil || e.ClientPhone == "" {
		return callevent.Contact{}, false
	}
	c, found, err := webhook.LookupContact(ctx, h.o.lookup, h.o.lookupTimeout, e.Account, e.ClientPhone)
	if err != nil {
		webhook.Logger(ctx).WarnContext(ctx, "finaz: contact lookup failed", "account", e.Account, "error", err)
		return callevent.Contact{}, false
	}
	return c, found
}

func (h *handler) cardURL(ctx context.Context, c callevent.Contact, found bool, e callevent.Event) string {
	if !found {
		return ""
	}
	if c.URL != "" {
		if safeRedirect(c.URL) {
			return c.URL
		}
		webhook.Logger(ctx).WarnContext(ctx, "finaz: contact URL is not an absolute http(s) URL, not redirecting", "contact", c.ID)
	}
	if h.o.cardURL == "" || c.ID == "" {
		return ""
	}
	return strings.NewReplacer(
		"{id}", url.PathEscape(c.ID),
		"{phone}", url.PathEscape(e.ClientPhone),
		"{account}", url.PathEscape(e.Account),
	).Replace(h.o.cardURL)
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
</dl>{{if not .Found}}<p>Nenhum cadastro encontrado para este número.</p>{{end}}</body></html>
`))

func answeredPage(e callevent.Event, c callevent.Contact, found bool) ([]byte, error) {
	var b bytes.Buffer
	err := pageTmpl.Execute(&b, struct {
		Name, Phone, CallID, Extension string
		Found                          bool
	}{c.Name, e.ClientPhone, e.CallID, e.Extension, found})
	return b.Bytes(), err
}
