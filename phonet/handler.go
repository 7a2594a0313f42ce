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
	"github.com/callbridge/callbridge/internal/text"
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
	accounts      []string // accounts[i] is the tenant of tokens[i]; "" for none
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
	now           func() time.Time // nil: the webhook.Handler's own clock
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
		c.accounts = append(c.accounts, make([]string, len(tokens))...)
		return nil
	}
}

// WithTokenAccounts serves several Phonet companies (tenants) on one URL:
// each token is accepted (as WithToken's are) and is bound to its account,
// the company's Phonet domain (accountDomain, e.g. "acme.phonet.com.ua").
// A request authenticated by a bound token belongs to that account: it
// becomes Event.Account, Pause.Account and the account of the lookup,
// whatever the body says, and a body whose accountDomain names another
// account is refused with 403 before any lookup or delivery, so one
// tenant's token never acts as another tenant. Tokens given with WithToken
// stay unbound.
func WithTokenAccounts(tokenToAccount map[string]string) HandlerOption {
	return func(c *handlerConfig) error {
		if len(tokenToAccount) == 0 {
			return errors.New("phonet: WithTokenAccounts: empty token map")
		}
		for t, a := range tokenToAccount {
			if t == "" {
				return errors.New("phonet: WithTokenAccounts: empty token")
			}
			if strings.TrimSpace(a) == "" {
				return errors.New("phonet: WithTokenAccounts: empty account")
			}
			c.tokens = append(c.tokens, t)
			c.accounts = append(c.accounts, a)
		}
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

// WithAccount sets how the tenant is taken from the request (its route),
// for every kind of notification: it becomes Event.Account (and part of
// Event.ID), Pause.Account and the account passed to the ContactLookup.
// Example, for URLs such as …/phonet/customer_data/{tenant}:
// func(r *http.Request) string { return path.Base(r.URL.Path) }.
// The route chooses, never the body: a body whose accountDomain names
// another tenant (compared case-insensitively) is refused with 403, so the
// tenant names should be the companies' Phonet domains. A route giving ""
// chooses nothing; a token bound with WithTokenAccounts to another tenant
// is refused with 403 too. Without WithAccount and WithTokenAccounts the
// body's accountDomain is the tenant: use one of them when one handler
// serves several companies.
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

// WithClock sets the clock of the handler (default time.Now); it is
// webhook.WithClock: the arrival time (webhook.Arrival) that stamps a
// call.hangup carrying no time at all, and the clock of the time window
// events must fall in. Tests that replay recorded payloads use a clock near
// their times.
func WithClock(now func() time.Time) HandlerOption {
	return func(c *handlerConfig) error {
		if now == nil {
			return errors.New("phonet: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithWebhookOptions passes options to webhook.New: body limit, methods,
// dedup store, error writer, logger, time window. The logger
// (webhook.WithLogger) also receives the handler's own lines: skipped,
// failed or slow lookups. Give the clock with WithClock rather than
// webhook.WithClock, so the decoder reads the same clock.
func WithWebhookOptions(opts ...webhook.Option) HandlerOption {
	return func(c *handlerConfig) error {
		c.webhookOpts = append(c.webhookOpts, opts...)
		return nil
	}
}

// NewHandler returns the http.Handler for all of Phonet's webhooks: mount it
// on one URL for everything, or on the three Perfectum-style URLs
// (…/customer_data, …/call, …/after_call_end); the body tells the kinds
// apart (see ParseNotification). A URL with a path segment customer_data
// takes only customer lookups and one with after_call_end only call
// records: another body there is a 400 saying what is missing. Call events
// and call records go to sink (validated, then deduplicated by Event.ID);
// a customer lookup is answered from WithContactLookup. Authentication
// (WithToken, WithTokenAccounts and/or WithAllowedIPs) is required unless
// WithoutAuth. A nil option is an error.
func NewHandler(sink callevent.Sink, opts ...HandlerOption) (http.Handler, error) {
	c := handlerConfig{
		lookupTimeout: DefaultLookupTimeout,
		country:       DefaultCountry,
		newText:       DefaultNewContactText,
	}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("phonet: handler option %d is nil", i+1)
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.tokenFrom != nil && len(c.tokens) == 0 {
		return nil, errors.New("phonet: WithTokenFunc needs WithToken")
	}
	d := &decoder{cfg: c, boundAccounts: map[string]bool{}}
	bound := map[string]string{}
	for i, t := range c.tokens {
		if a, ok := bound[t]; ok && !strings.EqualFold(a, c.accounts[i]) {
			return nil, errors.New("phonet: a token is bound to two accounts")
		}
		bound[t] = c.accounts[i]
		if c.accounts[i] != "" {
			d.boundAccounts[strings.ToLower(c.accounts[i])] = true
		}
		if c.accounts[i] != "" && d.secrets == nil {
			s, err := webhook.NewSecrets(c.tokens...) // selects the account by token
			if err != nil {
				return nil, fmt.Errorf("phonet: %w", err)
			}
			d.secrets = &s
		}
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
	if c.now != nil {
		wopts = append(wopts, webhook.WithClock(c.now)) // after the user's: one clock for both
	}
	d.cfg.tokens = nil // the authenticator keeps them hashed; nothing else needs them
	h, err := webhook.New(sink, d, wopts...)
	if err != nil {
		return nil, fmt.Errorf("phonet: %w", err)
	}
	return h, nil
}

type decoder struct {
	cfg     handlerConfig
	secrets *webhook.Secrets // the tokens, when some are bound to accounts
	// boundAccounts are the (lower-case) accounts some token is bound to:
	// no other token may act for them.
	boundAccounts map[string]bool
}

func (d *decoder) Decode(r *http.Request, body []byte) (webhook.Result, error) {
	arrived := webhook.Arrival(r.Context())
	n, err := ParseNotification(r.Header.Get("Content-Type"), body)
	if err != nil {
		return webhook.Result{}, err
	}
	if err := checkEndpoint(r.URL.Path, n); err != nil {
		return webhook.Result{}, err
	}
	if err := d.bindAccount(r, accountOf(n)); err != nil {
		return webhook.Result{}, err
	}
	if n.Kind == KindLookup {
		rep, err := d.answer(r.Context(), n.Lookup)
		if err != nil {
			return webhook.Result{}, err
		}
		reply, err := webhook.JSONReply(rep)
		return webhook.Result{Reply: reply}, err
	}
	if n.Kind == KindCallEvent && n.Event.Direction.IsPause() && d.cfg.pause != nil {
		if err := d.cfg.pause(r.Context(), pauseOf(n.Event, arrived)); err != nil {
			return webhook.Result{}, fmt.Errorf("phonet: pause callback: %w", err)
		}
	}
	events, err := n.events(d.cfg.country, arrived)
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{Events: events, Reply: webhook.Reply{
		Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body:   []byte("{}"), // call events and records are acknowledged with {}
	}}, nil
}

// checkEndpoint refuses a body of the wrong kind at a Perfectum-style URL:
// a path segment customer_data takes only customer lookups, one
// after_call_end only call records.
func checkEndpoint(p string, n *Notification) error {
	for seg := range strings.SplitSeq(p, "/") {
		switch {
		case seg == "customer_data" && n.Kind != KindLookup:
			return fmt.Errorf("%w: a customer_data request needs otherLegNum and neither event nor endAt (got a %s)", ErrMalformed, n.Kind)
		case seg == "after_call_end" && n.Kind != KindCallRecord:
			return fmt.Errorf("%w: an after_call_end request needs endAt and no event (got a %s)", ErrMalformed, n.Kind)
		}
	}
	return nil
}

// bindAccount makes the tenant chosen by the token (WithTokenAccounts) or
// the route (WithAccount) the notification's account. A body naming
// another tenant, or a token and a route that disagree, are ErrForbidden:
// the body never chooses a tenant the route or token chose.
func (d *decoder) bindAccount(r *http.Request, acc *string) error {
	var byToken, byRoute string
	if d.secrets != nil {
		if i := d.secrets.Index(d.token(r)); i >= 0 {
			byToken = d.cfg.accounts[i]
		}
	}
	if d.cfg.account != nil {
		byRoute = d.cfg.account(r)
	}
	tenant := byToken
	switch {
	case byToken == "":
		tenant = byRoute
	case byRoute != "" && !strings.EqualFold(byRoute, byToken):
		return fmt.Errorf("phonet: the token belongs to another account than the URL's %q: %w", text.Clip(byRoute, 64), webhook.ErrForbidden)
	}
	if acc == nil {
		return nil
	}
	if tenant == "" {
		if d.boundAccounts[strings.ToLower(strings.TrimSpace(*acc))] {
			return fmt.Errorf("phonet: accountDomain %q is bound to another token: %w", text.Clip(*acc, 64), webhook.ErrForbidden)
		}
		return nil
	}
	if *acc != "" && !strings.EqualFold(*acc, tenant) {
		return fmt.Errorf("phonet: accountDomain %q is not the account of this token or URL: %w", text.Clip(*acc, 64), webhook.ErrForbidden)
	}
	*acc = tenant
	return nil
}

// token is the request's token as the authenticator read it.
func (d *decoder) token(r *http.Request) string {
	if d.cfg.tokenFrom != nil {
		return d.cfg.tokenFrom(r)
	}
	return r.URL.Query().Get("token")
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

func pauseOf(e *CallEvent, arrived time.Time) Pause {
	p := Pause{Account: e.AccountDomain, On: e.Direction == DirectionPauseOn, Event: e,
		At: firstTime(e.ServerTime, e.DialAt, e.BridgeAt, arrived)}
	if e.Leg != nil {
		p.Extension, p.Employee = e.Leg.Ext, e.Leg.DisplayName
	}
	return p
}

// answer runs the contact lookup within the deadline and builds the reply.
// A number that is neither a phone, an extension nor anonymous is an error
// naming otherLegNum (400).
func (d *decoder) answer(ctx context.Context, req *LookupRequest) (LookupReply, error) {
	digits, err := phoneOf("otherLegNum", req.OtherLegNum, d.cfg.country)
	if err != nil {
		return LookupReply{}, err
	}
	if d.cfg.lookup == nil {
		return LookupReply{}, nil
	}
	if digits == "" {
		webhook.Logger(ctx).DebugContext(ctx, "phonet: lookup skipped: anonymous or internal number")
		return LookupReply{}, nil
	}
	c, found, err := webhook.LookupContact(ctx, d.cfg.lookup, d.cfg.lookupTimeout, req.AccountDomain, digits)
	if err != nil {
		webhook.Logger(ctx).WarnContext(ctx, "phonet: contact lookup failed, answering unknown",
			"account", req.AccountDomain, "error", err)
		return LookupReply{}, nil
	}
	return d.cfg.reply(c, found, phoneAsSent(req.OtherLegNum, digits), digits), nil
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
