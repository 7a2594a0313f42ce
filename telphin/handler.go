package telphin

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

// TokenParam is the query parameter carrying the handler's secret token.
const TokenParam = "token"

// NewHandler returns the http.Handler receiving Telphin call events
// (dial-in, dial-out, answer, hangup) as POST form bodies or GET query
// strings and delivering callevent.Events to sink; see the package doc.
//
// Options are those of package webhook. Telphin signs nothing, so give a
// secret token (webhook.WithToken; several at once for rotation), read
// from the TokenParam query parameter of the hook URL
// (…/telphin/{APP_ID}?token=…) unless webhook.WithTokenFunc says
// otherwise, or webhook.WithoutAuth behind a gateway that authenticates.
// webhook.WithAllowedIPs adds an IP allow-list (Telphin does not publish
// its addresses: ask its support). Defaults: methods POST and GET;
// Event.Account is the last non-empty path segment of the request, as in
// the hook URL https://crm.example/telphin/{APP_ID} (webhook.WithAccount to
// change); with webhook.WithTokenAccounts, the account bound to the
// request's token is Event.Account and the account of the contact lookup,
// whatever the path says. webhook.WithContactLookup answers Call
// Interactive requests (webhook.WithLookupTimeout, default
// webhook.DefaultLookupTimeout); webhook.WithDefaultCountry sets the country of
// numbers without a country code (default "RU"). Telphin shows agents no
// links: webhook.WithCardURL and webhook.WithNewContactText are refused.
func NewHandler(sink callevent.Sink, opts ...webhook.Option) (http.Handler, error) {
	for i, o := range opts {
		if o == nil { // named by the caller's position, not webhook.New's
			return nil, fmt.Errorf("telphin: handler option %d is nil", i+1)
		}
	}
	d := &decoder{}
	defaults := []webhook.Option{
		webhook.ForProvider("telphin"),
		webhook.WithMethods(http.MethodPost, http.MethodGet),
		webhook.WithTokenFunc(webhook.QueryToken(TokenParam)),
	}
	h, err := webhook.New(sink, d, append(defaults, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("telphin: %w", err)
	}
	cfg := h.Config()
	if !cfg.Tokens && !cfg.Unauthenticated { // Telphin signs nothing and publishes no addresses: an allow-list alone is not enough
		return nil, errors.New("telphin: no token configured (webhook.WithToken or WithTokenAccounts) and no webhook.WithoutAuth")
	}
	if cfg.CardURL != "" || cfg.NewContactURL != "" {
		return nil, errors.New("telphin: WithCardURL is not supported: Telphin shows agents no links (Call Interactive only routes the call)")
	}
	if cfg.NewContactText != "" {
		return nil, errors.New("telphin: WithNewContactText is not supported: Telphin shows agents no links (Call Interactive only routes the call)")
	}
	d.account = cfg.Account
	if d.account == nil {
		d.account = lastPathSegment
	}
	d.lookup, d.lookupTimeout = cfg.ContactLookup, cfg.LookupTimeout
	d.country = cfg.DefaultCountry
	if d.country == "" {
		d.country = "RU"
	}
	return h, nil
}

// decoder is the webhook.Decoder of Telphin requests.
type decoder struct {
	account       func(r *http.Request) string
	lookup        callevent.ContactLookup
	lookupTimeout time.Duration
	country       string
}

func (d *decoder) Decode(r *http.Request, body []byte) (webhook.Result, error) {
	fields, err := webhook.Values(r, body)
	if err != nil {
		return webhook.Result{}, err
	}
	// The token parameter is kept out of Event.Raw, whatever authenticated
	// the request.
	fields.Del(TokenParam)
	// Every field is bounded before anything is looked up or kept, also
	// for call_interactive, which produces no event to validate.
	if err := checkFields(fields); err != nil {
		return webhook.Result{}, err
	}
	// A token bound to an account (webhook.WithTokenAccounts) names the
	// tenant, whatever the route says.
	account := webhook.TokenAccount(r.Context())
	if account == "" {
		account = d.account(r)
	}
	if strings.EqualFold(strings.TrimSpace(fields.Get("EventType")), EventCallInteractive) {
		reply, err := d.interactive(r.Context(), account, fields.Get("CallerIDNum"))
		return webhook.Result{Reply: reply}, err
	}
	events, err := parseFields(account, fields, d.country)
	return webhook.Result{Events: events}, err
}

// interactive answers a Call Interactive request with the responsible
// manager's extension of a known caller, or an empty Response. A
// CallerIDNum that is neither a number, an extension nor anonymous is a
// 400 naming the field.
func (d *decoder) interactive(ctx context.Context, account, caller string) (webhook.Reply, error) {
	p, _, err := webhook.Phone("CallerIDNum", strings.TrimSpace(caller), d.country)
	if err != nil {
		return webhook.Reply{}, fmt.Errorf("telphin: %w", err)
	}
	ext := ""
	if p != "" && d.lookup != nil {
		ext = d.responsible(ctx, account, p)
	}
	return InteractiveReply(ext), nil
}

// responsible runs the lookup under the deadline, not waiting for a lookup
// that ignores its context.
func (d *decoder) responsible(ctx context.Context, account, phone string) string {
	c, found, err := webhook.LookupContact(ctx, d.lookup, d.lookupTimeout, account, phone)
	if err != nil || !found {
		return ""
	}
	return strings.TrimSpace(c.ResponsibleExtension)
}

// InteractiveReply is the XML answer to a Call Interactive request:
// <Response><SetVar name="number">ext</SetVar></Response> routing the call
// to extension ext, or an empty <Response></Response> when ext is "".
func InteractiveReply(ext string) webhook.Reply {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response>`)
	if ext != "" {
		b.WriteString(`<SetVar name="number">`)
		_ = xml.EscapeText(&b, []byte(ext))
		b.WriteString(`</SetVar>`)
	}
	b.WriteString(`</Response>`)
	return webhook.Reply{
		Status: http.StatusOK,
		Header: http.Header{"Content-Type": {"text/xml; charset=utf-8"}},
		Body:   []byte(b.String()),
	}
}

// lastPathSegment is the default account: the last non-empty path segment.
func lastPathSegment(r *http.Request) string {
	p := strings.TrimRight(r.URL.Path, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	return p
}
