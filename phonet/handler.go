package phonet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/phone"
	"github.com/callbridge/callbridge/webhook"
)

// DefaultLookupTimeout is how long a customer lookup may take before the
// handler answers without it (Phonet holds the ringing call meanwhile).
const DefaultLookupTimeout = webhook.DefaultLookupTimeout

// DefaultNewContactText is the link text of the not-found lookup reply.
const DefaultNewContactText = "Додати контакт"

// PhonetIPs returns the addresses Phonet documents as the source of its
// webhooks (a 2019 list: 89.184.65.208, 89.184.82.130, 89.184.67.228,
// 89.184.82.191, 89.184.65.137, 95.213.132.131), for WithAllowedIPs. It
// returns a new slice on every call.
func PhonetIPs() []netip.Prefix {
	ips := [...]string{"89.184.65.208", "89.184.82.130", "89.184.67.228", "89.184.82.191", "89.184.65.137", "95.213.132.131"}
	out := make([]netip.Prefix, len(ips))
	for i, s := range ips {
		out[i] = netip.PrefixFrom(netip.MustParseAddr(s), 32)
	}
	return out
}

// Pause is an employee's pause toggle: a call event with lgDirection 32
// (pause on) or 64 (pause off). It is not a call, so it is not sent to the
// Sink; see WithPauseFunc.
type Pause struct {
	Account   string
	Extension string
	Employee  string
	// On is true when the employee went on pause, false when back.
	On bool
	// At is serverTime, else dialAt.
	At time.Time
	// Event is the notification as decoded.
	Event *CallEvent
}

// LookupReply is the JSON answer to a customer lookup. Null fields are
// written as null, as Phonet expects.
type LookupReply struct {
	Name    *string `json:"name"`
	URL     *string `json:"url"`
	URLText *string `json:"urlText"`
	// NewEntity is false when the number belongs to a known contact.
	NewEntity bool `json:"newEntity"`
	// ResponsibleEmployeeExt is the internal number of the contact's
	// manager; Phonet routes a regular customer's call to him.
	ResponsibleEmployeeExt *string `json:"responsibleEmployeeExt"`
	// ResponsibleEmployeeEmail is the manager's e-mail; Phonet prefers it
	// over ResponsibleEmployeeExt when both are set.
	ResponsibleEmployeeEmail *string `json:"responsibleEmployeeEmail"`
}

// HandlerOption configures NewHandler.
type HandlerOption func(*handlerConfig) error

type handlerConfig struct {
	tokens        []string
	tokenFrom     func(r *http.Request) string
	account       func(r *http.Request) string
	allowed       []netip.Prefix
	trusted       []netip.Prefix
	noAuth        bool
	lookup        callevent.ContactLookup
	lookupTimeout time.Duration
	country       string
	cardURL       string
	newCardURL    string
	newText       string
	pause         func(ctx context.Context, p Pause) error
	webhookOpts   []webhook.Option
}

// WithToken requires a secret token on every request, by default in the
// query parameter "token" (put it into the URLs in Phonet's cabinet:
// "https://crm.example.com/phonet?token=…"). Several tokens may be valid
// at once, for rotation; WithToken given more than once adds to the
// accepted tokens (it never replaces earlier ones), so a rotation token
// passed separately is not dropped. A wrong or missing token is 401.
func WithToken(tokens ...string) HandlerOption {
	return func(c *handlerConfig) error {
		if _, err := webhook.NewSecrets(tokens...); err != nil {
			return fmt.Errorf("phonet: WithToken: %w", err)
		}
		c.tokens = append(c.tokens, tokens...)
		return nil
	}
}

// WithTokenFunc sets where WithToken's token is read from, e.g. a path
// segment: func(r *http.Request) string { return r.PathValue("token") }.
func WithTokenFunc(from func(r *http.Request) string) HandlerOption {
	return func(c *handlerConfig) error {
		if from == nil {
			return errors.New("phonet: WithTokenFunc: nil function")
		}
		c.tokenFrom = from
		return nil
	}
}

// WithAccount sets how the tenant is taken from a request whose body has
// no accountDomain, for every kind of notification: it becomes
// Event.Account (and part of Event.ID), Pause.Account and the account
// passed to the ContactLookup. Example, for URLs such as
// …/phonet/customer_data/{tenant}:
// func(r *http.Request) string { return path.Base(r.URL.Path) }.
// A body's accountDomain always wins. Default: accountDomain, or "".
func WithAccount(f func(r *http.Request) string) HandlerOption {
	return func(c *handlerConfig) error {
		if f == nil {
			return errors.New("phonet: WithAccount: nil function")
		}
		c.account = f
		return nil
	}
}

// WithAllowedIPs accepts only requests from allowed (e.g. PhonetIPs());
// others get 403. X-Forwarded-For is believed only from trustedProxies.
// Combined with WithToken, both must pass.
func WithAllowedIPs(allowed, trustedProxies []netip.Prefix) HandlerOption {
	return func(c *handlerConfig) error {
		if len(allowed) == 0 {
			return errors.New("phonet: WithAllowedIPs: empty allow-list")
		}
		c.allowed = append([]netip.Prefix(nil), allowed...)
		c.trusted = append([]netip.Prefix(nil), trustedProxies...)
		return nil
	}
}

// WithoutAuth runs the handler without authentication (e.g. behind a
// gateway that authenticates). Without it, WithToken or WithAllowedIPs is
// required.
func WithoutAuth() HandlerOption {
	return func(c *handlerConfig) error { c.noAuth = true; return nil }
}

// WithContactLookup answers Phonet's customer lookups. Without it every
// lookup gets the "unknown" reply (all fields null, newEntity false).
func WithContactLookup(l callevent.ContactLookup) HandlerOption {
	return func(c *handlerConfig) error {
		if l == nil {
			return errors.New("phonet: WithContactLookup: nil lookup")
		}
		c.lookup = l
		return nil
	}
}

// WithLookupTimeout bounds a customer lookup (default DefaultLookupTimeout,
// 1 s). Past it, or when the lookup fails, the handler answers with the
// "unknown" reply and logs, so the call is never held up.
func WithLookupTimeout(d time.Duration) HandlerOption {
	return func(c *handlerConfig) error {
		if d <= 0 {
			return errors.New("phonet: WithLookupTimeout: timeout must be positive")
		}
		c.lookupTimeout = d
		return nil
	}
}

// WithDefaultCountry sets the country for numbers written without a country
// code (default "UA"): "RU", "KZ", "UA", "BY" or "BR".
func WithDefaultCountry(country string) HandlerOption {
	return func(c *handlerConfig) error {
		if err := phone.CheckCountry(country); err != nil {
			return fmt.Errorf("phonet: WithDefaultCountry: %w", err)
		}
		c.country = country
		return nil
	}
}

// WithCardURL sets the templates of the lookup reply's url: found for a
// known contact without Contact.URL, notFound for an unknown number (the
// "create contact" page). Placeholders: {id} (Contact.ID), {phone} (the
// number as Phonet sent it; a leading "+" that an unescaped form body
// turned into a space is restored) and {digits} (the normalised number).
// Each value is percent-encoded except letters, digits and "-._~", so it
// stays literal in a path segment or a query value alike ("+" is %2B,
// never a space). Either template may be empty. Example:
// WithCardURL("https://crm.example.com/contacts/{id}", "https://crm.example.com/contacts/new?phone={phone}").
func WithCardURL(found, notFound string) HandlerOption {
	return func(c *handlerConfig) error {
		for _, t := range []string{found, notFound} {
			if t == "" {
				continue
			}
			u, err := url.Parse(expandCard(t, "1", "+380501112233", "380501112233"))
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("phonet: WithCardURL: %q is not an absolute http(s) URL template", t)
			}
		}
		c.cardURL, c.newCardURL = found, notFound
		return nil
	}
}

// WithNewContactText sets the link text of the not-found reply (default
// DefaultNewContactText, "Додати контакт").
func WithNewContactText(text string) HandlerOption {
	return func(c *handlerConfig) error {
		if strings.TrimSpace(text) == "" {
			return errors.New("phonet: WithNewContactText: empty text")
		}
		c.newText = text
		return nil
	}
}

// WithPauseFunc receives the employees' pause toggles (lgDirection 32/64),
// which are acknowledged but not sent to the Sink. An error makes the
// handler answer 500 so Phonet redelivers. Pauses are not deduplicated.
func WithPauseFunc(f func(ctx context.Context, p Pause) error) HandlerOption {
	return func(c *handlerConfig) error {
		if f == nil {
			return errors.New("phonet: WithPauseFunc: nil function")
		}
		c.pause = f
		return nil
	}
}

// WithWebhookOptions passes options to webhook.New: body limit, methods,
// dedup store, error writer, logger. The logger (webhook.WithLogger) also
// receives the handler's own lines: skipped, failed or slow lookups.
func WithWebhookOptions(opts ...webhook.Option) HandlerOption {
	return func(c *handlerConfig) error {
		c.webhookOpts = append(c.webhookOpts, opts...)
		return nil
	}
}

// NewHandler returns the http.Handler for all of Phonet's webhooks: mount it
// on one URL for everything, or on the three Perfectum-style URLs
// (…/customer_data, …/call, …/after_call_end); the body tells the kinds
// apart (see ParseNotification). Call events and call records go to sink
// (deduplicated by Event.ID); a customer lookup is answered from
// WithContactLookup. Authentication (WithToken and/or WithAllowedIPs) is
// required unless WithoutAuth.
func NewHandler(sink callevent.Sink, opts ...HandlerOption) (http.Handler, error) {
	c := handlerConfig{
		lookupTimeout: DefaultLookupTimeout,
		country:       DefaultCountry,
		newText:       DefaultNewContactText,
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.tokenFrom != nil && len(c.tokens) == 0 {
		return nil, errors.New("phonet: WithTokenFunc needs WithToken")
	}
	auth := webhook.Auth{Tokens: c.tokens, AllowedIPs: c.allowed, TrustedProxies: c.trusted, Disabled: c.noAuth}
	if tf := c.tokenFrom; tf != nil {
		auth.Token = func(r *http.Request, _ []byte) string { return tf(r) }
	}
	wopts, err := auth.Options()
	if err != nil {
		return nil, fmt.Errorf("phonet: %w", err)
	}
	wopts = append(wopts, c.webhookOpts...)
	d := &decoder{cfg: c}
	h, err := webhook.New(sink, d, wopts...)
	if err != nil {
		return nil, fmt.Errorf("phonet: %w", err)
	}
	return h, nil
}

type decoder struct {
	cfg handlerConfig
}

func (d *decoder) Decode(r *http.Request, body []byte) (webhook.Result, error) {
	n, err := ParseNotification(r.Header.Get("Content-Type"), body)
	if err != nil {
		return webhook.Result{}, err
	}
	if acc := accountOf(n); d.cfg.account != nil && acc != nil && *acc == "" {
		*acc = d.cfg.account(r)
	}
	if n.Kind == KindLookup {
		reply, err := webhook.JSONReply(d.answer(r.Context(), n.Lookup))
		return webhook.Result{Reply: reply}, err
	}
	if n.Kind == KindCallEvent && n.Event.Direction.IsPause() && d.cfg.pause != nil {
		if err := d.cfg.pause(r.Context(), pauseOf(n.Event)); err != nil {
			return webhook.Result{}, fmt.Errorf("phonet: pause callback: %w", err)
		}
	}
	events, err := n.Events(d.cfg.country)
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{Events: events, Reply: webhook.Reply{
		Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body:   []byte("{}"), // call events and records are acknowledged with {}
	}}, nil
}

// accountOf points at the accountDomain of the notification's content.
func accountOf(n *Notification) *string {
	switch {
	case n.Lookup != nil:
		return &n.Lookup.AccountDomain
	case n.Event != nil:
		return &n.Event.AccountDomain
	case n.Record != nil:
		return &n.Record.AccountDomain
	}
	return nil
}

func pauseOf(e *CallEvent) Pause {
	p := Pause{Account: e.AccountDomain, On: e.Direction == DirectionPauseOn, Event: e,
		At: firstTime(e.ServerTime, e.DialAt, e.BridgeAt)}
	if e.Leg != nil {
		p.Extension, p.Employee = e.Leg.Ext, e.Leg.DisplayName
	}
	return p
}

// answer runs the contact lookup within the deadline and builds the reply.
func (d *decoder) answer(ctx context.Context, req *LookupRequest) LookupReply {
	if d.cfg.lookup == nil {
		return LookupReply{}
	}
	digits, err := phone.Normalize(req.OtherLegNum, d.cfg.country)
	if err != nil {
		webhook.Logger(ctx).DebugContext(ctx, "phonet: lookup skipped", "reason", err)
		return LookupReply{}
	}
	c, found, err := webhook.LookupContact(ctx, d.cfg.lookup, d.cfg.lookupTimeout, req.AccountDomain, digits)
	if err != nil {
		webhook.Logger(ctx).WarnContext(ctx, "phonet: contact lookup failed, answering unknown",
			"account", req.AccountDomain, "error", err)
		return LookupReply{}
	}
	return d.cfg.reply(c, found, phoneAsSent(req.OtherLegNum, digits), digits)
}

// phoneAsSent is the number for {phone}: raw, or "+"+number when raw is
// an international number whose "+" form decoding turned into a space
// (an unescaped "+" in a form-encoded body).
func phoneAsSent(raw, digits string) string {
	t := strings.TrimSpace(raw)
	if !strings.HasPrefix(raw, " ") || t == "" || t[0] < '0' || t[0] > '9' {
		return raw
	}
	only := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, t)
	if only != digits {
		return raw // a national number: no "+" was lost
	}
	return "+" + t
}

// reply builds the lookup reply for a finished lookup.
func (c *handlerConfig) reply(ct callevent.Contact, found bool, raw, digits string) LookupReply {
	if !found {
		return LookupReply{
			URL:       optional(expandCard(c.newCardURL, "", raw, digits)),
			URLText:   optional(c.newText),
			NewEntity: true,
		}
	}
	link := ct.URL
	if link == "" {
		link = expandCard(c.cardURL, ct.ID, raw, digits)
	}
	return LookupReply{
		Name:                     optional(ct.Name),
		URL:                      optional(link),
		URLText:                  optional(ct.Name),
		ResponsibleEmployeeExt:   optional(ct.ResponsibleExtension),
		ResponsibleEmployeeEmail: optional(ct.ResponsibleEmail),
	}
}

// expandCard fills a card URL template. Every value is escaped for both a
// path segment and a query value: url.PathEscape would leave "+", "&" and
// "=" (which a query decodes as a space or a separator) and
// url.QueryEscape writes a space as "+" (a literal plus in a path), so
// the query escape is used with spaces as %20.
func expandCard(tmpl, id, raw, digits string) string {
	if tmpl == "" {
		return ""
	}
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	return strings.NewReplacer(
		"{id}", esc(id),
		"{phone}", esc(raw),
		"{digits}", esc(digits),
	).Replace(tmpl)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
