package megafon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

// NewHandler returns the http.Handler for the one CRM URL the PBX posts
// cmd=history, event, contact and rating to (form-encoded; JSON accepted).
// It takes the options of package webhook:
//
//   - webhook.WithToken: the accepted crm_token values ("Ключ для
//     авторизации в вашей CRM"); several may be valid at once for
//     rotation. Give a token, or webhook.WithoutAuth behind a gateway
//     that authenticates; with no authentication NewHandler fails.
//   - webhook.WithTokenAccounts serves several PBXes (tenants) on one URL:
//     each token is accepted and is the Account of its events and contact
//     lookups, whatever WithAccount says.
//   - webhook.WithAccount: the Account of events whose token is bound to
//     no account (webhook.WithToken), or of all events
//     webhook.WithoutAuth; typically the PBX domain:
//     func(*http.Request) string { return "vats123456.megapbx.ru" }.
//     Without it that Account is "".
//   - webhook.WithAllowedIPs additionally accepts requests only from the
//     allowed addresses; others get 403. The PBX posts from a cloud
//     platform's addresses, which other tenants' PBXes may share: use it
//     with a token, not instead of one.
//   - webhook.WithContactLookup answers cmd=contact (the PBX asking who is
//     calling while the call rings) with the contact's name and
//     responsible employee, within webhook.WithLookupTimeout (default
//     webhook.DefaultLookupTimeout, 1 s). Without it every contact request
//     is answered {}.
//   - webhook.WithDefaultCountry: the country of national-format numbers
//     (default "RU").
//   - webhook.WithClock: the handler's clock (default time.Now). The
//     arrival time (webhook.Arrival) stamps events carrying no time, ages
//     the memory of call directions and is what event times are checked
//     against; tests replaying recorded pushes use a fixed clock near
//     their times.
//   - webhook.WithTokenFunc replaces where the token is read (default:
//     crm_token in the body, see below).
//   - the handler mechanics: webhook.WithMaxBodyBytes, WithMethods,
//     WithDedup, WithTimeWindow, WithErrorWriter, WithAuthenticator, and
//     WithLogger, which also receives the handler's own lines (failed or
//     slow contact lookups); tokens are never logged.
//
// webhook.WithCardURL and webhook.WithNewContactText make it fail: the
// PBX's contact answer carries no link.
//
// crm_token in the body is compared in constant time with the tokens; a
// wrong or missing token is answered 401 {"error":"Invalid token"} and
// nothing is delivered. The token is found by a scan of the body for the
// crm_token field alone (form pair or JSON key, spelled plainly), so a
// sender without the token never costs a full decode, and a malformed body
// with the right token is a 400, not a 401. Events (see Parse) go to sink;
// the reply is {}. Bad input (see Parse) is a 400 naming the field; so is
// an event time outside the webhook time window (webhook.WithTimeWindow, 30
// days past to 1 hour ahead by default). cmd=contact is answered from the
// contact lookup: {"contact_name":…,"responsible":…} (responsible is the
// employee's login, or extension when that is all that is known), or {}
// when not found, failed or slower than the lookup timeout.
func NewHandler(sink callevent.Sink, opts ...webhook.Option) (http.Handler, error) {
	for i, o := range opts {
		if o == nil { // numbered as the caller gave them, not after the defaults below
			return nil, fmt.Errorf("megafon: option %d is nil", i+1)
		}
	}
	d := newDecoder()
	defaults := []webhook.Option{
		webhook.ForProvider(Provider),
		webhook.WithTokenFunc(bodyToken),
		webhook.WithErrorWriter(writeError),
	}
	h, err := webhook.New(sink, d, append(defaults, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("megafon: %w", err)
	}
	cfg := h.Config()
	if !cfg.Tokens && !cfg.Unauthenticated { // an IP allow-list alone is not enough: the PBX posts from a shared cloud
		return nil, errors.New("megafon: no token configured (webhook.WithToken or WithTokenAccounts) and no webhook.WithoutAuth")
	}
	if cfg.CardURL != "" || cfg.NewContactURL != "" {
		return nil, errors.New("megafon: WithCardURL is not supported: the PBX's contact answer carries no link")
	}
	if cfg.NewContactText != "" {
		return nil, errors.New("megafon: WithNewContactText is not supported: the PBX's contact answer carries no link")
	}
	d.cfg = cfg
	return h, nil
}

// bodyToken reads crm_token from the body (form or JSON) without decoding
// the rest: a form body is scanned pair by pair, a JSON body searched for
// the key (see jsonToken). It is the webhook.Handler's token function, for
// authentication and for the account a token is bound to alike, so the two
// always agree.
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
	cfg    webhook.Config // set by NewHandler before the handler is returned
	memory *directionMemory
}

// newDecoder returns a decoder with its bounded memory of call directions.
func newDecoder() *decoder {
	return &decoder{memory: newDirectionMemory(directionMemorySize, directionMemoryTTL)}
}

// Decode implements webhook.Decoder.
func (d *decoder) Decode(r *http.Request, body []byte) (webhook.Result, error) {
	f, err := Fields(r.Header.Get("Content-Type"), body)
	if err != nil {
		return webhook.Result{}, err
	}
	account := d.account(r)
	if strings.EqualFold(strings.TrimSpace(f.Get("cmd")), CmdContact) {
		reply, err := d.contact(r.Context(), account, f)
		if err != nil {
			return webhook.Result{}, err
		}
		return webhook.Result{Reply: reply}, nil
	}
	arrived := webhook.Arrival(r.Context())
	events, err := Parse(f, ParseOptions{Account: account, DefaultCountry: d.cfg.DefaultCountry,
		Now: func() time.Time { return arrived }, memory: d.memory})
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{Events: events, Reply: emptyReply}, nil
}

// account is the tenant of the request: the account its token is bound to
// (webhook.WithTokenAccounts), else webhook.WithAccount's. The
// webhook.Handler looks at the token again only when some token is bound
// to an account.
func (d *decoder) account(r *http.Request) string {
	if a := webhook.TokenAccount(r.Context()); a != "" {
		return a
	}
	if d.cfg.Account != nil {
		return d.cfg.Account(r)
	}
	return ""
}

type contactReply struct {
	ContactName string `json:"contact_name,omitempty"`
	Responsible string `json:"responsible,omitempty"`
}

// contact answers cmd=contact within the lookup timeout. A phone that is
// neither a number, an extension nor anonymous is a 400 naming it.
func (d *decoder) contact(ctx context.Context, account string, f url.Values) (webhook.Reply, error) {
	p, _, err := webhook.Phone("phone", f.Get("phone"), d.cfg.DefaultCountry)
	if err != nil {
		return webhook.Reply{}, err
	}
	if err := checkText("callid", strings.TrimSpace(f.Get("callid")), maxCallIDLen); err != nil {
		return webhook.Reply{}, err
	}
	if d.cfg.ContactLookup == nil || p == "" {
		return emptyReply, nil // anonymous or internal: nobody to look up
	}
	c, found, err := webhook.LookupContact(ctx, d.cfg.ContactLookup, d.cfg.LookupTimeout, account, p)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		webhook.Logger(ctx).WarnContext(ctx, "megafon: contact lookup exceeded its deadline, answered {}",
			"callid", f.Get("callid"), "timeout", d.cfg.LookupTimeout)
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
