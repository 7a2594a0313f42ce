package phonet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/webhook"
)

// DefaultNewContactText is the link text of the not-found lookup reply
// unless webhook.WithNewContactText gives another.
const DefaultNewContactText = "Додати контакт"

// PhonetIPs returns the addresses Phonet documents as the source of its
// webhooks (a 2019 list: 89.184.65.208, 89.184.82.130, 89.184.67.228,
// 89.184.82.191, 89.184.65.137, 95.213.132.131), for webhook.WithAllowedIPs. It
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

// WithPauseFunc receives the employees' pause toggles (lgDirection 32/64),
// which are acknowledged but not sent to the Sink. An error makes the
// handler answer 500 so Phonet redelivers. Pauses are not deduplicated.
// It is an option of phonet.NewHandler only: another provider's handler
// refuses it.
func WithPauseFunc(f func(ctx context.Context, p Pause) error) webhook.Option {
	o := webhook.ProviderOption("phonet", "WithPauseFunc", f)
	if f == nil {
		return func(h *webhook.Handler) error {
			if err := o(h); err != nil { // not a phonet handler: say that first
				return err
			}
			return errors.New("phonet: WithPauseFunc: nil function")
		}
	}
	return o
}

// NewHandler returns the http.Handler for all of Phonet's webhooks: mount it
// on one URL for everything, or on the three Perfectum-style URLs
// (…/customer_data, …/call, …/after_call_end); the body tells the kinds
// apart (see ParseNotification). A URL with a path segment customer_data
// takes only customer lookups and one with after_call_end only call
// records: another body there is a 400 saying what is missing. Call events
// and call records go to sink (validated, then deduplicated by Event.ID);
// a customer lookup is answered from webhook.WithContactLookup.
//
// It takes the options of package webhook, and WithPauseFunc:
//
//   - Authentication is required unless webhook.WithoutAuth:
//     webhook.WithToken (several for rotation; given again it adds to the
//     accepted tokens), read from the query parameter "token" (put it into
//     the URLs in Phonet's cabinet: "https://crm.example.com/phonet?token=…")
//     unless webhook.WithTokenFunc reads it elsewhere, e.g. a path segment:
//     func(r *http.Request, _ []byte) string { return r.PathValue("token") };
//     and/or webhook.WithAllowedIPs (e.g. PhonetIPs(); X-Forwarded-For is
//     believed only from the trusted proxies). With both, both must pass.
//     A wrong or missing token is 401, another address 403.
//   - Tenants: webhook.WithTokenAccounts binds each token to its account,
//     the company's Phonet domain (accountDomain, e.g.
//     "acme.phonet.com.ua"); webhook.WithAccount takes the tenant from the
//     route, e.g. for URLs such as …/phonet/customer_data/{tenant}:
//     func(r *http.Request) string { return path.Base(r.URL.Path) }. The
//     tenant so chosen becomes Event.Account (and part of Event.ID),
//     Pause.Account and the account passed to the ContactLookup, whatever
//     the body says: a body whose accountDomain names another tenant
//     (compared case-insensitively) is refused with 403 before any lookup
//     or delivery, as are a token and a route that name different tenants
//     and an unbound token used for a tenant some token is bound to. A
//     route giving "" chooses nothing. Without either the body's
//     accountDomain is the tenant: fine for one company, not for several.
//   - Lookups: webhook.WithContactLookup, bounded by
//     webhook.WithLookupTimeout (default webhook.DefaultLookupTimeout, 1 s; past
//     it, or when the lookup fails, the "unknown" reply is sent and the
//     call goes on). Without a lookup every lookup gets the "unknown"
//     reply (all fields null, newEntity false).
//   - webhook.WithCardURL(card, newContact): the templates of the lookup
//     reply's url, card for a known contact without Contact.URL, newContact
//     for an unknown number (the "create contact" page); see
//     webhook.CardURL. {phone} is the number as Phonet sent it (a leading
//     "+" that an unescaped form body turned into a space is restored),
//     {digits} the normalised number, {account} the tenant. Example:
//     webhook.WithCardURL("https://crm.example.com/contacts/{id}", "https://crm.example.com/contacts/new?phone={phone}").
//   - webhook.WithNewContactText: the link text of the not-found reply
//     (default DefaultNewContactText, "Додати контакт").
//   - webhook.WithDefaultCountry: the country of numbers written without a
//     country code (default DefaultCountry, "UA").
//   - webhook.WithClock: the arrival time (webhook.Arrival) that stamps a
//     call.hangup carrying no time at all, and the clock of the time window
//     events must fall in; tests that replay recorded payloads use a clock
//     near their times.
//   - webhook.WithLogger also receives the handler's own lines: skipped,
//     failed or slow lookups. Body limit, methods, dedup store, error
//     writer and time window are webhook's options as for every provider.
//
// A nil option, an option of another provider, or an invalid argument is
// an error.
func NewHandler(sink callevent.Sink, opts ...webhook.Option) (http.Handler, error) {
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("phonet: option %d is nil", i+1)
		}
	}
	d := &decoder{}
	h, err := webhook.New(sink, d, append([]webhook.Option{webhook.ForProvider("phonet")}, opts...)...)
	if err != nil {
		if strings.HasPrefix(err.Error(), "phonet: ") {
			return nil, err
		}
		return nil, fmt.Errorf("phonet: %w", err)
	}
	cfg := h.Config()
	d.account = cfg.Account
	d.lookup = cfg.ContactLookup
	d.lookupTimeout = cfg.LookupTimeout
	d.country = cmp.Or(cfg.DefaultCountry, DefaultCountry)
	d.cardURL, d.newCardURL = cfg.CardURL, cfg.NewContactURL
	d.newText = cmp.Or(cfg.NewContactText, DefaultNewContactText)
	if strings.TrimSpace(d.newText) == "" {
		return nil, errors.New("phonet: WithNewContactText: empty text")
	}
	d.bound = cfg.TokenAccounts
	d.boundAccounts = make(map[string]bool, len(cfg.BoundAccounts))
	for _, a := range cfg.BoundAccounts {
		d.boundAccounts[strings.ToLower(strings.TrimSpace(a))] = true
	}
	if v := cfg.Value("WithPauseFunc"); v != nil {
		f, ok := v.(func(ctx context.Context, p Pause) error)
		if !ok { // a webhook.ProviderOption not made by WithPauseFunc
			return nil, fmt.Errorf("phonet: WithPauseFunc: a %T is not a pause function", v)
		}
		d.pause = f
	}
	return h, nil
}

// decoder decodes Phonet's requests with the settings of the
// webhook.Handler's Config.
type decoder struct {
	account       func(r *http.Request) string // the route's tenant; nil for none
	bound         bool                         // some token is bound to an account
	lookup        callevent.ContactLookup
	lookupTimeout time.Duration
	country       string
	cardURL       string
	newCardURL    string
	newText       string
	pause         func(ctx context.Context, p Pause) error
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
	if n.Kind == KindCallEvent && n.Event.Direction.IsPause() && d.pause != nil {
		if err := d.pause(r.Context(), pauseOf(n.Event, arrived)); err != nil {
			return webhook.Result{}, fmt.Errorf("phonet: pause callback: %w", err)
		}
	}
	events, err := n.events(d.country, arrived)
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

// bindAccount makes the tenant chosen by the token (webhook.WithTokenAccounts) or
// the route (webhook.WithAccount) the notification's account. A body naming
// another tenant, or a token and a route that disagree, are ErrForbidden:
// the body never chooses a tenant the route or token chose.
func (d *decoder) bindAccount(r *http.Request, acc *string) error {
	var byToken, byRoute string
	if d.bound {
		byToken = webhook.TokenAccount(r.Context())
	}
	if d.account != nil {
		byRoute = d.account(r)
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
	digits, err := phoneOf("otherLegNum", req.OtherLegNum, d.country)
	if err != nil {
		return LookupReply{}, err
	}
	if d.lookup == nil {
		return LookupReply{}, nil
	}
	if digits == "" {
		webhook.Logger(ctx).DebugContext(ctx, "phonet: lookup skipped: anonymous or internal number")
		return LookupReply{}, nil
	}
	c, found, err := webhook.LookupContact(ctx, d.lookup, d.lookupTimeout, req.AccountDomain, digits)
	if err != nil {
		webhook.Logger(ctx).WarnContext(ctx, "phonet: contact lookup failed, answering unknown",
			"account", req.AccountDomain, "error", err)
		return LookupReply{}, nil
	}
	return d.reply(c, found, phoneAsSent(req.OtherLegNum, digits), digits, req.AccountDomain), nil
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

// reply builds the lookup reply for a finished lookup of account.
func (d *decoder) reply(ct callevent.Contact, found bool, raw, digits, account string) LookupReply {
	if !found {
		return LookupReply{
			URL:       optional(webhook.CardURL(d.newCardURL, "", raw, digits, account)),
			URLText:   optional(d.newText),
			NewEntity: true,
		}
	}
	link := ct.URL
	if link == "" {
		link = webhook.CardURL(d.cardURL, ct.ID, raw, digits, account)
	}
	return LookupReply{
		Name:                     optional(ct.Name),
		URL:                      optional(link),
		URLText:                  optional(ct.Name),
		ResponsibleEmployeeExt:   optional(ct.ResponsibleExtension),
		ResponsibleEmployeeEmail: optional(ct.ResponsibleEmail),
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
