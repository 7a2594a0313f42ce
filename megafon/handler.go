package megafon

import (
	"bytes"
	"context"
	"encoding/json"
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
	now           func() time.Time // nil: the webhook.Handler's own clock
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

// WithClock sets the handler's clock (default time.Now); it is
// webhook.WithClock: the arrival time (webhook.Arrival) stamps events
// carrying no time, ages the memory of call directions and is what event
// times are checked against. Tests replaying recorded pushes use a fixed
// clock near their times.
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
// unless WithoutAuth is given. The token is found by a scan of the body
// for the crm_token field alone (form pair or JSON key, spelled plainly),
// so a sender without the token never costs a full decode, and a
// malformed body with the right token is a 400, not a 401. Events (see
// Parse) go to sink; the reply is {}. Bad input (see Parse) is a 400
// naming the field; so is an event time outside the webhook time window
// (webhook.WithTimeWindow, 30 days past to 1 hour ahead by default). cmd=contact is answered from the WithContactLookup lookup:
// {"contact_name":…,"responsible":…} (responsible is the employee's login,
// or extension when that is all that is known), or {} when not found,
// failed or slower than the lookup timeout.
func NewHandler(sink callevent.Sink, opts ...HandlerOption) (http.Handler, error) {
	cfg := handlerConfig{lookupTimeout: DefaultLookupTimeout}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("megafon: option %d is nil", i+1)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if len(cfg.tokens) == 0 && !cfg.noAuth { // an IP allow-list alone is not enough
		return nil, errors.New("megafon: no token configured (use WithToken, WithTokenAccounts or WithoutAuth)")
	}
	d := newDecoder(cfg)
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
	d.cfg.tokens = nil // only the hashes in secrets stay: the handler never shows a token, however printed
	wopts = append(wopts, webhook.WithErrorWriter(writeError))
	if cfg.now != nil {
		wopts = append(wopts, webhook.WithClock(cfg.now))
	}
	wopts = append(wopts, cfg.webhookOpts...)
	h, err := webhook.New(sink, d, wopts...)
	if err != nil {
		return nil, fmt.Errorf("megafon: %w", err)
	}
	return h, nil
}

// bodyToken reads crm_token from the body (form or JSON) without decoding
// the rest: a form body is scanned pair by pair, a JSON body searched for
// the key (see jsonToken). The decoder selects the tenant with the same
// function, so authentication and tenant always agree.
func bodyToken(r *http.Request, body []byte) string {
	if isJSONBody(r.Header.Get("Content-Type"), body) {
		return jsonToken(body)
	}
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

// maxTokenLen bounds how much of a JSON body the token's value may span.
const maxTokenLen = 1024

// jsonToken finds the value of the first "crm_token" key in a JSON body by
// a byte search: a quoted "crm_token" followed by a colon can only be a
// key (inside a JSON string its quotes would be escaped), and the value
// after it is read alone, up to maxTokenLen bytes. The rest of the body is
// not decoded, so it may be malformed: the decoder rejects it after
// authentication with a 400. A string value is unquoted; a number or
// boolean is its text, as Fields gives it.
func jsonToken(body []byte) string {
	const key = `"` + tokenField + `"`
	for rest := body; ; {
		i := bytes.Index(rest, []byte(key))
		if i < 0 {
			return ""
		}
		rest = rest[i+len(key):]
		v := bytes.TrimLeft(rest, " \t\r\n")
		if len(v) == 0 || v[0] != ':' {
			continue // "crm_token" as a value
		}
		return jsonScalar(bytes.TrimLeft(v[1:], " \t\r\n"))
	}
}

// jsonScalar reads the JSON scalar at the start of b: a string (unquoted),
// or a number or boolean (as text). Anything else, or more than
// maxTokenLen bytes, gives "".
func jsonScalar(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if b[0] != '"' {
		if !strings.ContainsRune("-0123456789tf", rune(b[0])) {
			return "" // null, an object, an array or garbage
		}
		lit := b[:min(len(b), maxTokenLen+1)]
		if end := bytes.IndexAny(lit, ",}] \t\r\n"); end >= 0 {
			lit = lit[:end]
		} else if len(lit) > maxTokenLen {
			return ""
		}
		return string(lit)
	}
	for i := 1; i < len(b) && i <= maxTokenLen; i++ {
		switch b[i] {
		case '\\':
			i++ // skip the escaped byte
		case '"':
			var s string
			if json.Unmarshal(b[:i+1], &s) != nil {
				return ""
			}
			return s
		}
	}
	return ""
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
	memory  *directionMemory
}

// newDecoder returns the decoder of a handler configured by cfg, with its
// bounded memory of call directions.
func newDecoder(cfg handlerConfig) *decoder {
	return &decoder{cfg: cfg, memory: newDirectionMemory(directionMemorySize, directionMemoryTTL)}
}

// Decode implements webhook.Decoder.
func (d *decoder) Decode(r *http.Request, body []byte) (webhook.Result, error) {
	f, err := Fields(r.Header.Get("Content-Type"), body)
	if err != nil {
		return webhook.Result{}, err
	}
	account := d.account(r, body)
	if strings.EqualFold(strings.TrimSpace(f.Get("cmd")), CmdContact) {
		reply, err := d.contact(r.Context(), account, f)
		if err != nil {
			return webhook.Result{}, err
		}
		return webhook.Result{Reply: reply}, nil
	}
	arrived := webhook.Arrival(r.Context())
	events, err := Parse(f, ParseOptions{Account: account, DefaultCountry: d.cfg.country,
		Now: func() time.Time { return arrived }, memory: d.memory})
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{Events: events, Reply: emptyReply}, nil
}

// account is the Account selected by the (already authenticated) token.
// account is the tenant of the request: the account its token is bound to
// (WithTokenAccounts), else WithAccount's. The token is looked at again
// only when some token is bound to an account.
func (d *decoder) account(r *http.Request, body []byte) string {
	if d.secrets != nil {
		if i := d.secrets.Index(bodyToken(r, body)); i >= 0 && d.cfg.accounts[i] != "" {
			return d.cfg.accounts[i]
		}
	}
	return d.cfg.account
}

type contactReply struct {
	ContactName string `json:"contact_name,omitempty"`
	Responsible string `json:"responsible,omitempty"`
}

// contact answers cmd=contact within the lookup timeout. A phone that is
// neither a number, an extension nor anonymous is a 400 naming it.
func (d *decoder) contact(ctx context.Context, account string, f url.Values) (webhook.Reply, error) {
	p, _, err := webhook.Phone("phone", f.Get("phone"), d.cfg.country)
	if err != nil {
		return webhook.Reply{}, err
	}
	if err := checkText("callid", strings.TrimSpace(f.Get("callid")), maxCallIDLen); err != nil {
		return webhook.Reply{}, err
	}
	if d.cfg.lookup == nil || p == "" {
		return emptyReply, nil // anonymous or internal: nobody to look up
	}
	c, found, err := webhook.LookupContact(ctx, d.cfg.lookup, d.cfg.lookupTimeout, account, p)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		webhook.Logger(ctx).WarnContext(ctx, "megafon: contact lookup exceeded its deadline, answered {}",
			"callid", f.Get("callid"), "timeout", d.cfg.lookupTimeout)
		return emptyReply, nil
	case err != nil:
		webhook.Logger(ctx).ErrorContext(ctx, "megafon: contact lookup failed, answered {}", "callid", f.Get("callid"), "error", err)
		return emptyReply, nil
	case !found:
		return emptyReply, nil
	}
	rep := contactReply{
		ContactName: c.Name,
		Responsible: firstNonEmpty(c.ResponsibleLogin, c.ResponsibleExtension),
	}
	if rep == (contactReply{}) {
		return emptyReply, nil
	}
	reply, err := webhook.JSONReply(rep)
	if err != nil {
		return emptyReply, nil
	}
	return reply, nil
}
