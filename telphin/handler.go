package telphin

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

// DefaultLookupTimeout bounds a ContactLookup answering call_interactive.
const DefaultLookupTimeout = webhook.DefaultLookupTimeout

// TokenParam is the query parameter carrying the handler's secret token.
const TokenParam = "token"

// HandlerOption configures NewHandler.
type HandlerOption func(*handlerConfig) error

type handlerConfig struct {
	tokens        []string
	tokenFrom     func(r *http.Request) string
	noAuth        bool
	allowed       []netip.Prefix
	trusted       []netip.Prefix
	account       func(r *http.Request) string
	lookup        callevent.ContactLookup
	lookupTimeout time.Duration
	country       string
	webhookOpts   []webhook.Option
}

// WithToken sets the accepted secret tokens (several, to rotate without
// downtime), read from the "token" query parameter of the hook URL
// (…/telphin/APPID?token=…) unless WithTokenFunc says otherwise.
// Telphin signs nothing, so a token is required unless WithoutAuth.
func WithToken(tokens ...string) HandlerOption {
	return func(c *handlerConfig) error {
		c.tokens = append(c.tokens, tokens...)
		return nil
	}
}

// WithTokenFunc sets where the token is read from (default: the "token"
// query parameter), e.g. a path segment.
func WithTokenFunc(from func(r *http.Request) string) HandlerOption {
	return func(c *handlerConfig) error {
		if from == nil {
			return errors.New("telphin: nil token function")
		}
		c.tokenFrom = from
		return nil
	}
}

// WithoutAuth runs the handler without a token, e.g. behind a gateway that
// authenticates. Use with care: anyone who knows the URL can post events.
func WithoutAuth() HandlerOption {
	return func(c *handlerConfig) error { c.noAuth = true; return nil }
}

// WithAllowedIPs accepts requests only from allowed addresses (in addition
// to the token). X-Forwarded-For is believed only from trustedProxies.
// Telphin does not publish its addresses: ask its support.
func WithAllowedIPs(allowed, trustedProxies []netip.Prefix) HandlerOption {
	return func(c *handlerConfig) error {
		if len(allowed) == 0 {
			return errors.New("telphin: empty IP allow-list")
		}
		c.allowed, c.trusted = allowed, trustedProxies
		return nil
	}
}

// WithAccount sets how the tenant (Event.Account, the App ID) is taken from
// a request. Default: the last non-empty path segment, as in the hook URL
// https://crm.example/telphin/{APP_ID}.
func WithAccount(f func(r *http.Request) string) HandlerOption {
	return func(c *handlerConfig) error {
		if f == nil {
			return errors.New("telphin: nil account function")
		}
		c.account = f
		return nil
	}
}

// WithContactLookup answers Call Interactive requests: the caller's phone
// is looked up and a known client's ResponsibleExtension is returned to
// Telphin, which routes the call to that manager.
func WithContactLookup(l callevent.ContactLookup) HandlerOption {
	return func(c *handlerConfig) error {
		if l == nil {
			return errors.New("telphin: nil contact lookup")
		}
		c.lookup = l
		return nil
	}
}

// WithLookupTimeout bounds the contact lookup (default 1 s); after it the
// call goes on unrouted.
func WithLookupTimeout(d time.Duration) HandlerOption {
	return func(c *handlerConfig) error {
		if d <= 0 {
			return errors.New("telphin: lookup timeout must be positive")
		}
		c.lookupTimeout = d
		return nil
	}
}

// WithDefaultCountry sets the country of numbers without a country code
// in events ("RU" by default).
func WithDefaultCountry(cc string) HandlerOption {
	return func(c *handlerConfig) error {
		if err := checkCountry(cc); err != nil {
			return err
		}
		c.country = cc
		return nil
	}
}

// WithWebhookOptions passes options to webhook.New: body limit, dedup
// store, logger, methods (default POST and GET), error writer.
func WithWebhookOptions(opts ...webhook.Option) HandlerOption {
	return func(c *handlerConfig) error {
		c.webhookOpts = append(c.webhookOpts, opts...)
		return nil
	}
}

// NewHandler returns the http.Handler receiving Telphin call events
// (dial-in, dial-out, answer, hangup) as POST form bodies or GET query
// strings and delivering callevent.Events to sink; see the package doc.
// A token (WithToken) is required unless WithoutAuth is given.
func NewHandler(sink callevent.Sink, opts ...HandlerOption) (http.Handler, error) {
	c := handlerConfig{account: lastPathSegment, lookupTimeout: DefaultLookupTimeout, country: "RU"}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("telphin: handler option %d is nil", i+1)
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if len(c.tokens) == 0 && !c.noAuth { // an IP allow-list alone is not enough
		return nil, errors.New("telphin: no token configured (WithToken) and no WithoutAuth")
	}
	d := &decoder{cfg: c}
	d.cfg.tokens = nil // the decoder never needs them: keep secrets in one place
	auth := webhook.Auth{Tokens: c.tokens, AllowedIPs: c.allowed, TrustedProxies: c.trusted, Disabled: c.noAuth}
	if f := c.tokenFrom; f != nil {
		auth.Token = func(r *http.Request, _ []byte) string { return f(r) }
	} else if len(c.tokens) > 0 {
		d.dropParam = TokenParam
	}
	aopts, err := auth.Options()
	if err != nil {
		return nil, err
	}
	wopts := append([]webhook.Option{webhook.WithMethods(http.MethodPost, http.MethodGet)}, aopts...)
	wopts = append(wopts, c.webhookOpts...)
	return webhook.New(sink, d, wopts...)
}

// decoder is the webhook.Decoder of Telphin requests.
type decoder struct {
	cfg       handlerConfig
	dropParam string // the token parameter, kept out of Event.Raw
}

func (d *decoder) Decode(r *http.Request, body []byte) (webhook.Result, error) {
	fields, err := webhook.Values(r, body)
	if err != nil {
		return webhook.Result{}, err
	}
	if d.dropParam != "" {
		fields.Del(d.dropParam)
	}
	// Every field is bounded before anything is looked up or kept, also
	// for call_interactive, which produces no event to validate.
	if err := checkFields(fields); err != nil {
		return webhook.Result{}, err
	}
	account := d.cfg.account(r)
	if strings.EqualFold(strings.TrimSpace(fields.Get("EventType")), EventCallInteractive) {
		reply, err := d.interactive(r.Context(), account, fields.Get("CallerIDNum"))
		return webhook.Result{Reply: reply}, err
	}
	events, err := parseFields(account, fields, d.cfg.country)
	return webhook.Result{Events: events}, err
}

// interactive answers a Call Interactive request with the responsible
// manager's extension of a known caller, or an empty Response. A
// CallerIDNum that is neither a number, an extension nor anonymous is a
// 400 naming the field.
func (d *decoder) interactive(ctx context.Context, account, caller string) (webhook.Reply, error) {
	p, _, err := webhook.Phone("CallerIDNum", strings.TrimSpace(caller), d.cfg.country)
	if err != nil {
		return webhook.Reply{}, fmt.Errorf("telphin: %w", err)
	}
	ext := ""
	if p != "" && d.cfg.lookup != nil {
		ext = d.responsible(ctx, account, p)
	}
	return InteractiveReply(ext), nil
}

// responsible runs the lookup under the deadline, not waiting for a lookup
// that ignores its context.
func (d *decoder) responsible(ctx context.Context, account, phone string) string {
	c, found, err := webhook.LookupContact(ctx, d.cfg.lookup, d.cfg.lookupTimeout, account, phone)
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
