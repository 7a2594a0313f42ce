package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/phone"
)

// Config is what the Options of a provider's handler set that the
// provider's own code reads: the tenant of a request, the contact lookup,
// the default country, the card links. A provider's NewHandler takes it from
// Handler.Config. Authentication, limits, dedup and delivery stay inside the
// Handler.
type Config struct {
	// Provider is the provider named by ForProvider ("" for none).
	Provider string
	// Account takes the tenant from a request (WithAccount); nil for the
	// provider's default.
	Account func(r *http.Request) string
	// ContactLookup answers a provider's question who is calling
	// (WithContactLookup); nil for none.
	ContactLookup callevent.ContactLookup
	// LookupTimeout bounds ContactLookup (WithLookupTimeout).
	LookupTimeout time.Duration
	// DefaultCountry is the country of numbers written without a country
	// code (WithDefaultCountry); "" for the provider's default.
	DefaultCountry string
	// CardURL and NewContactURL are the templates of links to a found
	// client's card and to the "create contact" page (WithCardURL).
	CardURL, NewContactURL string
	// NewContactText is the text of the "create contact" link
	// (WithNewContactText).
	NewContactText string
	// Clock is the Handler's clock (WithClock).
	Clock func() time.Time
	// Tokens reports whether tokens authenticate requests (WithToken or
	// WithTokenAccounts), TokenAccounts whether some are bound to accounts
	// (then TokenAccount tells a request's account), and Unauthenticated
	// whether WithoutAuth was given. A provider that requires a token
	// (an allow-list alone is not enough) checks them.
	Tokens, TokenAccounts, Unauthenticated bool
	// BoundAccounts are the accounts of WithTokenAccounts, each once. A
	// provider whose body names the tenant refuses a body naming one of
	// them from a request whose token is not bound to it, so an unbound
	// token never acts for a bound tenant.
	BoundAccounts []string

	values map[string]any
}

// Value returns the value of the provider option name (see ProviderOption),
// or nil.
func (c Config) Value(name string) any { return c.values[name] }

// Config returns the settings the Handler's options gave, for the
// provider's decoder.
func (h *Handler) Config() Config {
	c := h.cfg
	c.Clock = h.now
	c.Tokens = h.secrets.sums != nil
	c.TokenAccounts = h.bound
	c.Unauthenticated = h.noAuth
	for _, a := range h.accounts {
		if a != "" && !slices.Contains(c.BoundAccounts, a) {
			c.BoundAccounts = append(c.BoundAccounts, a)
		}
	}
	return c
}

// ForProvider names the provider whose handler this is, in errors and for
// ProviderOption. A provider's NewHandler gives it first, before the user's
// options.
func ForProvider(name string) Option {
	return func(h *Handler) error { h.cfg.Provider = name; return nil }
}

// ProviderOption returns an Option carrying a setting that only provider's
// handler understands, under name; provider packages build their own
// options with it (phonet.WithPauseFunc). The handler of another provider
// refuses it.
func ProviderOption(provider, name string, value any) Option {
	return func(h *Handler) error {
		if h.cfg.Provider != provider {
			return fmt.Errorf("webhook: %s.%s is an option of %s handlers, not of %s", provider, name, provider, orNone(h.cfg.Provider))
		}
		if h.cfg.values == nil {
			h.cfg.values = map[string]any{}
		}
		h.cfg.values[name] = value
		return nil
	}
}

func orNone(provider string) string {
	if provider == "" {
		return "this handler"
	}
	return provider
}

// WithToken sets the accepted secret tokens, several at once for rotation;
// given again it adds to them. Where the token is read is the provider's
// (its doc says: a URL query parameter, MegaFon's crm_token) unless
// WithTokenFunc says otherwise. A missing or wrong token is 401.
func WithToken(tokens ...string) Option {
	return func(h *Handler) error {
		if len(tokens) == 0 {
			return errors.New("webhook: WithToken: no tokens")
		}
		for _, t := range tokens {
			if t == "" {
				return errors.New("webhook: WithToken: empty token")
			}
			h.tokens = append(h.tokens, t)
			h.accounts = append(h.accounts, "")
		}
		return nil
	}
}

// WithTokenAccounts serves several tenants on one URL: each token is
// accepted (as WithToken's are) and bound to its account, which the
// provider uses as the request's tenant (Event.Account, the account of a
// contact lookup) whatever the request says; a provider whose body names
// the tenant refuses a body naming another one with 403.
func WithTokenAccounts(tokenToAccount map[string]string) Option {
	return func(h *Handler) error {
		if len(tokenToAccount) == 0 {
			return errors.New("webhook: WithTokenAccounts: no tokens")
		}
		for t, a := range tokenToAccount {
			if t == "" || strings.TrimSpace(a) == "" {
				return errors.New("webhook: WithTokenAccounts: empty token or account")
			}
			h.tokens = append(h.tokens, t)
			h.accounts = append(h.accounts, a)
		}
		h.bound = true
		return nil
	}
}

// WithTokenFunc sets where the token of WithToken and WithTokenAccounts is
// read from (without a token it has no effect). Keep it out of what a
// provider copies into Event.Raw: the "token" query parameter (which the
// providers leave out) or a path segment, e.g.:
// func(r *http.Request, _ []byte) string { return r.PathValue("token") }.
func WithTokenFunc(from func(r *http.Request, body []byte) string) Option {
	return func(h *Handler) error {
		if from == nil {
			return errors.New("webhook: WithTokenFunc: nil function")
		}
		h.tokenFrom = from
		return nil
	}
}

// WithAllowedIPs accepts requests only from allowed addresses (see
// ClientIP: X-Forwarded-For is believed only from trustedProxies); others
// get 403. With a token both must pass, the address first.
func WithAllowedIPs(allowed, trustedProxies []netip.Prefix) Option {
	return func(h *Handler) error {
		if len(allowed) == 0 {
			return errors.New("webhook: WithAllowedIPs: empty allow-list")
		}
		h.allowed, h.trusted = allowed, trustedProxies
		return nil
	}
}

// WithAccount sets how the tenant (Event.Account, the account of a contact
// lookup) is taken from a request, e.g. from its route:
// func(r *http.Request) string { return r.PathValue("account") }.
// Without it the provider's default applies (see its NewHandler).
func WithAccount(f func(r *http.Request) string) Option {
	return func(h *Handler) error {
		if f == nil {
			return errors.New("webhook: WithAccount: nil function")
		}
		h.cfg.Account = f
		return nil
	}
}

// WithContactLookup answers a provider that asks who is calling while the
// call rings (Telphin Call Interactive, MegaFon cmd=contact, Phonet
// customer_data, the Finaz client-side notification).
func WithContactLookup(l callevent.ContactLookup) Option {
	return func(h *Handler) error {
		if l == nil {
			return errors.New("webhook: WithContactLookup: nil lookup")
		}
		h.cfg.ContactLookup = l
		return nil
	}
}

// WithLookupTimeout bounds the contact lookup (default
// DefaultLookupTimeout); past it the provider gets its "unknown" answer
// and the call goes on.
func WithLookupTimeout(d time.Duration) Option {
	return func(h *Handler) error {
		if d <= 0 {
			return errors.New("webhook: WithLookupTimeout: must be positive")
		}
		h.cfg.LookupTimeout = d
		return nil
	}
}

// WithDefaultCountry sets the country of numbers written without a country
// code: "RU", "KZ", "UA", "BY" or "BR" (each provider's default is in its
// doc).
func WithDefaultCountry(country string) Option {
	return func(h *Handler) error {
		if err := phone.CheckCountry(country); err != nil {
			return fmt.Errorf("webhook: WithDefaultCountry: %w", err)
		}
		h.cfg.DefaultCountry = country
		return nil
	}
}

// WithCardURL sets the templates of the links a provider shows an agent:
// card for a found client without a Contact.URL of its own, newContact
// for an unknown number (the "create contact" page). Either may be empty.
// Placeholders: {id} (Contact.ID), {phone} (the number as sent), {digits}
// (the normalised number), {account}; each value is percent-encoded. The
// result must be an absolute http(s) URL.
func WithCardURL(card, newContact string) Option {
	return func(h *Handler) error {
		for _, t := range []string{card, newContact} {
			if t == "" {
				continue
			}
			if err := checkTemplate(t); err != nil {
				return fmt.Errorf("webhook: WithCardURL: %w", err)
			}
		}
		h.cfg.CardURL, h.cfg.NewContactURL = card, newContact
		return nil
	}
}

// WithNewContactText sets the text of the "create contact" link.
func WithNewContactText(text string) Option {
	return func(h *Handler) error {
		if text == "" {
			return errors.New("webhook: WithNewContactText: empty text")
		}
		h.cfg.NewContactText = text
		return nil
	}
}

// CardURL expands a WithCardURL template: {id}, {phone}, {digits} and
// {account} are replaced by the values, each percent-encoded except
// letters, digits and "-._~", so they stay literal in a path segment and in
// a query value alike ("+" is %2B).
func CardURL(template, id, phone, digits, account string) string {
	if template == "" {
		return ""
	}
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	return strings.NewReplacer("{id}", esc(id), "{phone}", esc(phone), "{digits}", esc(digits), "{account}", esc(account)).Replace(template)
}

func checkTemplate(t string) error {
	u, err := url.Parse(CardURL(t, "1", "+380501112233", "380501112233", "acme"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", t)
	}
	return nil
}

type tokenAccountKey struct{}

// TokenAccount returns the account bound (WithTokenAccounts) to the token
// that authenticated the request whose context is ctx, or "" when the
// token is not bound to one.
func TokenAccount(ctx context.Context) string {
	a, _ := ctx.Value(tokenAccountKey{}).(string)
	return a
}

// buildAuth turns WithToken, WithTokenAccounts and WithAllowedIPs into
// authenticators, before any given with WithAuthenticator: the address
// first, so a sender outside the list cannot probe whether a token is
// valid.
func (h *Handler) buildAuth() error {
	var auths []Authenticator
	if len(h.allowed) > 0 {
		auths = append(auths, IPAllowList(h.allowed, h.trusted))
	}
	for i, t := range h.tokens {
		if j := slices.Index(h.tokens, t); j < i && h.accounts[j] != h.accounts[i] {
			// Which binding would win is an accident of the order: refuse.
			return errors.New("webhook: a token is given twice with different accounts (WithToken, WithTokenAccounts)")
		}
	}
	if len(h.tokens) > 0 {
		s, err := NewSecrets(h.tokens...)
		if err != nil {
			return err
		}
		if h.tokenFrom == nil {
			h.tokenFrom = QueryToken("token")
		}
		h.secrets = s
		auths = append(auths, TokenAuth(s, h.tokenFrom))
	}
	h.tokens = nil // only the hashes stay
	if h.auth != nil {
		auths = append(auths, h.auth)
	}
	switch len(auths) {
	case 0:
	case 1:
		h.auth = auths[0]
	default:
		h.auth = AllOf(auths...)
	}
	return nil
}
