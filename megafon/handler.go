package megafon

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

// DefaultLookupTimeout is how long a cmd=contact request waits for the
// ContactLookup: the PBX holds the ringing call meanwhile.
const DefaultLookupTimeout = webhook.DefaultLookupTimeout

// HandlerOption configures NewHandler.
type HandlerOption func(*handlerConfig) error

type handlerConfig struct {
	tokens        []string
	accounts      []string // accounts[i] is the Account of tokens[i]
	account       string
	noAuth        bool
	allowed       []netip.Prefix
	trusted       []netip.Prefix
	lookup        callevent.ContactLookup
	lookupTimeout time.Duration
	country       string
	now           func() time.Time
	webhookOpts   []webhook.Option
}

// WithToken sets the accepted crm_token values ("Ключ для авторизации в
// вашей CRM"); several may be valid at once for rotation. Their events get
// the Account set with WithAccount.
func WithToken(tokens ...string) HandlerOption {
	return func(c *handlerConfig) error {
		for _, t := range tokens {
			if t == "" {
				return errors.New("megafon: empty token")
			}
			c.tokens = append(c.tokens, t)
			c.accounts = append(c.accounts, "")
		}
		return nil
	}
}

// WithTokenAccounts serves several PBXes (tenants) on one URL: each token
// is accepted and selects the Account of its events and contact lookups.
func WithTokenAccounts(tokenToAccount map[string]string) HandlerOption {
	return func(c *handlerConfig) error {
		if len(tokenToAccount) == 0 {
			return errors.New("megafon: empty token map")
		}
		for t, a := range tokenToAccount {
			if t == "" {
				return errors.New("megafon: empty token")
			}
			c.tokens = append(c.tokens, t)
			c.accounts = append(c.accounts, a)
		}
		return nil
	}
}

// WithAccount sets the Account of events authenticated by a WithToken
// token (or of all events WithoutAuth), typically the PBX domain.
func WithAccount(account string) HandlerOption {
	return func(c *handlerConfig) error { c.account = account; return nil }
}

// WithoutAuth runs the handler without checking crm_token, e.g. behind a
// gateway that authenticates. Without it a token is required.
func WithoutAuth() HandlerOption {
	return func(c *handlerConfig) error { c.noAuth = true; return nil }
}

// WithAllowedIPs additionally accepts requests only from allowed (see
// webhook.ClientIP for trustedProxies); others get 403.
func WithAllowedIPs(allowed, trustedProxies []netip.Prefix) HandlerOption {
	return func(c *handlerConfig) error {
		if len(allowed) == 0 {
			return errors.New("megafon: empty IP allow-list")
		}
		c.allowed, c.trusted = allowed, trustedProxies
		return nil
	}
}

// WithContactLookup answers cmd=contact (the PBX asking who is calling
// while the call rings) with the contact's name and responsible employee.
// Without it every contact request is answered {}.
func WithContactLookup(l callevent.ContactLookup) HandlerOption {
	return func(c *handlerConfig) error {
		if l == nil {
			return errors.New("megafon: nil contact lookup")
		}
		c.lookup = l
		return nil
	}
}

// WithLookupTimeout sets the contact lookup deadline (default 1 s). Past
// it the handler answers {} and logs; the lookup's context is canceled.
func WithLookupTimeout(d time.Duration) HandlerOption {
	return func(c *handlerConfig) error {
		if d <= 0 {
			return errors.New("megafon: lookup timeout must be positive")
		}
		c.lookupTimeout = d
		return nil
	}
}

// WithDefaultCountry sets the country of national-format numbers
// ("RU", "KZ", "UA", "BY", "BR"; default "RU").
func WithDefaultCountry(country string) HandlerOption {
	return func(c *handlerConfig) error {
		if err := phone.CheckCountry(country); err != nil {
			return fmt.Errorf("megafon: %w", err)
		}
		c.country = country
		return nil
	}
}

// WithClock sets the clock that stamps events carrying no time (default
// time.Now); tests use a fixed clock.
func WithClock(now func() time.Time) HandlerOption {
	return func(c *handlerConfig) error {
		if now == nil {
			return errors.New("megafon: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithWebhookOptions passes options to webhook.New (body limit, dedup
// store, methods, …). They apply after the handler's own. The logger
// (webhook.WithLogger) also receives the handler's own lines (failed or
// slow contact lookups); tokens are never logged.
func WithWebhookOptions(opts ...webhook.Option) HandlerOption {
	return func(c *handlerConfig) error {
		c.webhookOpts = append(c.webhookOpts, opts...)
		return nil
	}
}

// NewHandler returns the http.Handler for the one CRM URL the PBX posts
// cmd=history, event, contact and rating to (form-encoded; JSON accepted).
//
// crm_token in the body is compared in constant time with the WithToken /
// WithTokenAccounts tokens; a wrong or missing token is answered 401
// {"error":"Invalid token"} and nothing is delivered. A token is required
// unless WithoutAuth is given. Events (see Parse) go to sink; the reply is
// {}. cmd=contact is answered from the WithContactLookup lookup:
// {"contact_name":…,"responsible":…} (responsible is the employee's login,
// or extension when that is all that is known), or {} when not found,
// failed or slower than the lookup timeout.
func NewHandler(sink callevent.Sink, opts ...HandlerOption) (http.Handler, error) {
	cfg := handlerConfig{lookupTimeout: DefaultLookupTimeout, now: time.Now}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if len(cfg.tokens) == 0 && !cfg.noAuth { // an IP allow-list alone is not enough
		return nil, errors.New("megafon: no token configured (use WithToken, WithTokenAccounts or WithoutAuth)")
	}
	d := &decoder{cfg: cfg}
	wopts, err := webhook.Auth{Tokens: cfg.tokens, Token: bodyToken, AllowedIPs: cfg.allowed, TrustedProxies: cfg.trusted, Disabled: cfg.noAuth}.Options()
	if err != nil {
		return nil, fmt.Errorf("megafon: %w", err)
	}
	if len(cfg.tokens) > 0 {
		s, err := webhook.NewSecrets(cfg.tokens...) // selects the Account by token
		if err != nil {
			return nil, fmt.Errorf("megafon: %w", err)
		}
		d.secrets = &s
	}
	wopts = append(wopts, webhook.WithErrorWriter(writeError))
	wopts = append(wopts, cfg.webhookOpts...)
	h, err := webhook.New(sink, d, wopts...)
	if err != nil {
		return nil, fmt.Errorf("megafon: %w", err)
	}
	return h, nil
}

// bodyToken reads crm_token from the body (form or JSON). A form body is
// scanned for the field without decoding the rest, so authentication does
// not parse the whole form a second time.
func bodyToken(r *http.Request, body []byte) string {
	if !isJSONBody(r.Header.Get("Content-Type"), body) {
		for rest := string(body); rest != ""; {
			var pair string
			pair, rest, _ = strings.Cut(rest, "&")
			k, v, _ := strings.Cut(pair, "=")
			if k != tokenField && (!strings.Contains(k, "%") || unescape(k) != tokenField) {
				continue
			}
			return unescape(v)
		}
		return ""
	}
	f, err := Fields("application/json", body)
	if err != nil {
		return ""
	}
	return f.Get(tokenField)
}

// unescape is url.QueryUnescape; malformed input gives "".
func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return ""
	}
	return u
}

// writeError answers like the PBX's own API: 401 is exactly
// {"error":"Invalid token"}; other errors are webhook.WriteJSONError's
// {"error":"<message>"}, with a generic text for server errors.
func writeError(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status == http.StatusUnauthorized {
		//lint:ignore ST1005 the PBX's own reply, to the letter
		err = errors.New("Invalid token")
	}
	webhook.WriteJSONError(w, r, status, err)
}

// emptyReply is {}: the acknowledgement and the "contact not found" answer
// (never [], which the PBX does not accept).
var emptyReply = webhook.Reply{
	Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
	Body:   []byte("{}"),
}

type decoder struct {
	cfg     handlerConfig
	secrets *webhook.Secrets // nil WithoutAuth
}

// Decode implements webhook.Decoder.
func (d *decoder) Decode(r *http.Request, body []byte) (webhook.Result, error) {
	f, err := Fields(r.Header.Get("Content-Type"), body)
	if err != nil {
		return webhook.Result{}, err
	}
	account := d.account(f.Get(tokenField))
	if strings.EqualFold(strings.TrimSpace(f.Get("cmd")), CmdContact) {
		return webhook.Result{Reply: d.contact(r.Context(), account, f)}, nil
	}
	events, err := Parse(f, ParseOptions{Account: account, DefaultCountry: d.cfg.country, Now: d.cfg.now})
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{Events: events, Reply: emptyReply}, nil
}

// account is the Account selected by the (already authenticated) token.
func (d *decoder) account(token string) string {
	if d.secrets != nil {
		if i := d.secrets.Index(token); i >= 0 && d.cfg.accounts[i] != "" {
			return d.cfg.accounts[i]
		}
	}
	return d.cfg.account
}

type contactReply struct {
	ContactName string `json:"contact_name,omitempty"`
	Responsible string `json:"responsible,omitempty"`
}

// contact answers cmd=contact within the lookup timeout.
func (d *decoder) contact(ctx context.Context, account string, f url.Values) webhook.Reply {
	if d.cfg.lookup == nil {
		return emptyReply
	}
	p, err := phone.Normalize(f.Get("phone"), d.cfg.country)
	if err != nil {
		return emptyReply // anonymous, internal or garbage: nobody to look up
	}
	c, found, err := webhook.LookupContact(ctx, d.cfg.lookup, d.cfg.lookupTimeout, account, p)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		webhook.Logger(ctx).WarnContext(ctx, "megafon: contact lookup exceeded its deadline, answered {}",
			"callid", f.Get("callid"), "timeout", d.cfg.lookupTimeout)
		return emptyReply
	case err != nil:
		webhook.Logger(ctx).ErrorContext(ctx, "megafon: contact lookup failed, answered {}", "callid", f.Get("callid"), "error", err)
		return emptyReply
	case !found:
		return emptyReply
	}
	rep := contactReply{
		ContactName: c.Name,
		Responsible: firstNonEmpty(c.ResponsibleLogin, c.ResponsibleExtension),
	}
	if rep == (contactReply{}) {
		return emptyReply
	}
	reply, err := webhook.JSONReply(rep)
	if err != nil {
		return emptyReply
	}
	return reply
}
