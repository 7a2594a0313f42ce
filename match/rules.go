package match

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Default names, as in the Telphin↔amoCRM guide (see CreateRule and
// LeadCase).
const (
	defaultNameInboundAnswered = "Автоконтакт: Входящий"
	defaultNameInboundMissed   = "Автоконтакт: Входящий-пропущенный"
	defaultNameOutbound        = "Автоконтакт: Исходящий"
	defaultLeadNameInbound     = "Входящий +{phone}"
	defaultLeadNameOutbound    = "Исходящий +{phone}"
)

// Distribution modes for the responsible of a missed call from an unknown
// number when MissedRule.Manager is not set.
const (
	// DistributeNone leaves the responsible empty.
	DistributeNone = ""
	// DistributeRoundRobin takes the candidates in turn.
	DistributeRoundRobin = "round_robin"
	// DistributeActive takes the online candidates in turn, or all
	// candidates in turn when none is online.
	DistributeActive = "active"
)

// Case is one of the four situations the rules distinguish.
type Case uint8

// Cases.
const (
	InboundAnswered Case = iota + 1
	InboundMissed
	OutboundAnswered
	OutboundMissed
)

var caseNames = [...]string{"", "inbound answered", "inbound missed", "outbound answered", "outbound missed"}

// String returns e.g. "inbound missed".
func (c Case) String() string {
	if int(c) < len(caseNames) {
		return caseNames[c]
	}
	return fmt.Sprintf("Case(%d)", c)
}

// Rule is what the engine does with a finished call. The zero Rule only
// logs calls against known clients; a call is attached to a client's
// active lead only in the cases that create leads (Leads), as in
// Perfectum's rules. DefaultRule is the amoCRM guide's setup.
type Rule struct {
	// Create says when to create a client for an unknown number.
	Create CreateRule `json:"create"`
	// Leads says when to create a lead.
	Leads LeadRules `json:"leads"`
	// ReopenStatus, when set, reopens a lost or unqualified lead on an
	// outbound call to its client when the client has no active lead: the
	// newest lead moves to this status.
	ReopenStatus string `json:"reopen_status,omitempty"`
	// Missed chooses the responsible for a missed call from an unknown
	// number.
	Missed MissedRule `json:"missed"`
	// Notify says whom to tell about a missed inbound call.
	Notify NotifyRule `json:"notify"`
	// Messenger is the account's messenger channel ("whatsapp", …): when
	// set, clients for unknown numbers are created in it rather than as
	// telephony clients (Salebot).
	Messenger Channel `json:"messenger,omitempty"`
	// Dialog writes each call into its client's dialog and variables
	// (Salebot × MegaFon, seed 001): the notes "<provider>_call_event
	// <EVENT>" (ACCEPTED, COMPLETED, OUTGOING, TRANSFERRED) and
	// "<provider>_call_status <Status>", and the fields
	// <provider>_call_direction, _call_ext, _call_id, _call_user and
	// <provider>_record_link, through a store that is a Dialog and a
	// ClientUpdater.
	Dialog bool `json:"dialog,omitempty"`
	// MappedOnly handles only the calls of extensions mapped to an
	// employee of the directory (seed 002: "Интеграция работает только
	// для добавочных, у которых проставлено соответствие"): a call whose
	// extension (who answered or called, else who was rung) is no
	// employee's is ignored, and counted (Engine.Unmapped).
	MappedOnly bool `json:"mapped_only,omitempty"`
	// Task makes each missed inbound call a call-back task for its
	// responsible, closed when a call with the number is answered (see
	// TaskRule and TaskStore).
	Task TaskRule `json:"task,omitzero"`
}

// CreateRule switches client creation for unknown numbers per case, with
// name templates. In a name template "{phone}" is replaced by the client's
// number ("79161234567"), "{line}" by the company number.
type CreateRule struct {
	InboundAnswered bool `json:"inbound_answered,omitempty"`
	InboundMissed   bool `json:"inbound_missed,omitempty"`
	// Outbound covers outbound calls, answered or not.
	Outbound bool `json:"outbound,omitempty"`

	// The names of created clients; empty = the guide's "Автоконтакт:
	// Входящий", "Автоконтакт: Входящий-пропущенный" and "Автоконтакт:
	// Исходящий".
	NameInboundAnswered string `json:"name_inbound_answered,omitempty"`
	NameInboundMissed   string `json:"name_inbound_missed,omitempty"`
	NameOutbound        string `json:"name_outbound,omitempty"`
}

func (r CreateRule) enabled(c Case) bool {
	switch c {
	case InboundAnswered:
		return r.InboundAnswered
	case InboundMissed:
		return r.InboundMissed
	default:
		return r.Outbound
	}
}

func (r CreateRule) name(c Case) string {
	switch c {
	case InboundAnswered:
		return cmp.Or(r.NameInboundAnswered, defaultNameInboundAnswered)
	case InboundMissed:
		return cmp.Or(r.NameInboundMissed, defaultNameInboundMissed)
	default:
		return cmp.Or(r.NameOutbound, defaultNameOutbound)
	}
}

// LeadRules has one LeadCase per Case.
type LeadRules struct {
	InboundAnswered  LeadCase `json:"inbound_answered"`
	InboundMissed    LeadCase `json:"inbound_missed"`
	OutboundAnswered LeadCase `json:"outbound_answered"`
	OutboundMissed   LeadCase `json:"outbound_missed"`
}

func (r LeadRules) get(c Case) LeadCase {
	switch c {
	case InboundAnswered:
		return r.InboundAnswered
	case InboundMissed:
		return r.InboundMissed
	case OutboundAnswered:
		return r.OutboundAnswered
	default:
		return r.OutboundMissed
	}
}

// LeadCase says whether and how to create a lead in one Case. A lead is
// never created when the client already has an active lead: the call is
// attached to that lead instead.
type LeadCase struct {
	Create bool `json:"create,omitempty"`
	// EvenIfClientExists creates the lead for a client that existed before
	// the call too; otherwise only for a client created for this call.
	EvenIfClientExists bool `json:"even_if_client_exists,omitempty"`
	// Name is a template as in CreateRule; empty = "Входящий +{phone}"
	// (inbound) or "Исходящий +{phone}" (outbound).
	Name     string `json:"name,omitempty"`
	Pipeline string `json:"pipeline,omitempty"`
	Status   string `json:"status,omitempty"`
	Source   string `json:"source,omitempty"`
}

// MissedRule chooses the responsible for a missed call from an unknown
// number: Manager if set, else Distribution over Employees (empty = every
// employee in the directory).
type MissedRule struct {
	Manager      string   `json:"manager,omitempty"`
	Distribution string   `json:"distribution,omitempty"`
	Employees    []string `json:"employees,omitempty"`
}

// NotifyRule says whom to tell about calls (Perfectum's settings 14 to
// 18). A missed inbound call is told to its responsible (unless
// MuteResponsible), to the responsible of the lead it is attached to
// (LeadResponsible), to every admin of the directory (Admins) and, for a
// number the CRM did not know, to the employees in Unknown; every call,
// missed or not, is told to the employees in Extra. Each employee is told
// once per call. Delay holds every notification back that long after the
// decision (0 = at once).
type NotifyRule struct {
	MuteResponsible bool `json:"mute_responsible,omitempty"`
	LeadResponsible bool `json:"lead_responsible,omitempty"`
	Admins          bool `json:"admins,omitempty"`
	// Unknown lists employees told about missed calls from unknown numbers.
	Unknown []string `json:"unknown,omitempty"`
	// Extra lists employees told about every call.
	Extra []string `json:"extra,omitempty"`
	Delay Duration `json:"delay,omitempty"`
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("90s", "5m") or a number of seconds.
type Duration time.Duration

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "5m" or 300.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var sec float64
		if err2 := json.Unmarshal(b, &sec); err2 != nil {
			return fmt.Errorf("duration: want a string like \"5m\" or seconds, got %s", b)
		}
		*d = Duration(sec * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultRule returns the Telphin↔amoCRM guide's setup: create a client for
// every unknown number (inbound answered, inbound missed, outbound), no
// leads, tell the responsible about missed calls.
func DefaultRule() Rule {
	return Rule{Create: CreateRule{InboundAnswered: true, InboundMissed: true, Outbound: true}}
}

func (r Rule) clone() Rule {
	r.Missed.Employees = slices.Clone(r.Missed.Employees)
	r.Notify.Unknown = slices.Clone(r.Notify.Unknown)
	r.Notify.Extra = slices.Clone(r.Notify.Extra)
	return r
}

// Rules are an account's rules: Rule for every call, unless the company
// number of the call is in one of Lines.
type Rules struct {
	Rule
	Lines []LineRule `json:"lines,omitempty"`
}

// LineRule replaces the account's Rule for calls on its company numbers
// ("actions by number" in the Telphin guide). A number may be in only one
// LineRule.
type LineRule struct {
	Name    string   `json:"name"`
	Numbers []string `json:"numbers"`
	Rule
}

// UnmarshalJSON reads the account rule and its lines; each line starts
// from a copy of the account rule, so a line in JSON lists only what it
// changes.
func (r *Rules) UnmarshalJSON(b []byte) error {
	var aux struct {
		Lines []json.RawMessage `json:"lines"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	var base Rule
	if err := strictUnmarshal(b, &struct {
		*Rule
		Lines json.RawMessage `json:"lines"`
	}{Rule: &base}); err != nil {
		return err
	}
	out := Rules{Rule: base}
	for i, raw := range aux.Lines {
		lr := LineRule{Rule: base.clone()}
		if err := strictUnmarshal(raw, &lr); err != nil {
			return fmt.Errorf("lines[%d]: %w", i, err)
		}
		out.Lines = append(out.Lines, lr)
	}
	*r = out
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// RuleSet holds the rules of every account: Accounts[account], or Default
// for an account not listed.
type RuleSet struct {
	Default  Rules            `json:"default"`
	Accounts map[string]Rules `json:"accounts,omitempty"`
}

// ParseRules reads a RuleSet from JSON and validates it; company numbers
// are normalised with defaultCountry (give the engine's, see
// WithDefaultCountry; "" means "RU"). Unknown fields are errors. Example:
//
//	{"default": {"create": {"inbound_answered": true, "inbound_missed": true, "outbound": true},
//	             "leads": {"inbound_missed": {"create": true, "source": "missed call"}},
//	             "lines": [{"name": "Sales", "numbers": ["74951234567"],
//	                        "missed": {"distribution": "round_robin", "employees": ["u1", "u2"]}}]}}
func ParseRules(data []byte, defaultCountry string) (RuleSet, error) {
	var rs RuleSet
	if err := strictUnmarshal(data, &rs); err != nil {
		return RuleSet{}, fmt.Errorf("match: rules: %w", err)
	}
	if err := rs.normalize(defaultCountry); err != nil {
		return RuleSet{}, err
	}
	return rs, nil
}

// Validate reports whether rs is consistent: every company number is a
// phone and in at most one line rule of its account, distributions are
// known, durations (notify delay, task deadline) not negative and task
// texts within MaxTaskTextLen.
func (rs RuleSet) Validate(defaultCountry string) error {
	cp := RuleSet{Default: rs.Default.clone(), Accounts: make(map[string]Rules, len(rs.Accounts))}
	for k, v := range rs.Accounts {
		cp.Accounts[k] = v.clone()
	}
	return cp.normalize(defaultCountry)
}

func (r Rules) clone() Rules {
	r.Rule = r.Rule.clone()
	lines := make([]LineRule, len(r.Lines))
	for i, l := range r.Lines {
		l.Numbers = slices.Clone(l.Numbers)
		l.Rule = l.Rule.clone()
		lines[i] = l
	}
	r.Lines = lines
	return r
}

// normalize validates rs in place, normalising the line numbers.
func (rs *RuleSet) normalize(country string) error {
	var errs []error
	check := func(name string, r *Rules) {
		seen := make(map[string]string)
		if err := r.Rule.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		for i := range r.Lines {
			l := &r.Lines[i]
			where := fmt.Sprintf("%s: line %q", name, l.Name)
			if len(l.Numbers) == 0 {
				errs = append(errs, fmt.Errorf("%s: no numbers", where))
			}
			if err := l.Rule.validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
			for j, n := range l.Numbers {
				p, err := normalize(n, country)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: number %q: %w", where, n, err))
					continue
				}
				l.Numbers[j] = p
				if other, dup := seen[p]; dup {
					errs = append(errs, fmt.Errorf("%s: number %s is already in line %q (a number may be in one rule only)", where, p, other))
				}
				seen[p] = l.Name
			}
		}
	}
	check("default", &rs.Default)
	accounts := make([]string, 0, len(rs.Accounts))
	for a := range rs.Accounts {
		accounts = append(accounts, a)
	}
	slices.Sort(accounts)
	for _, a := range accounts {
		r := rs.Accounts[a]
		check(fmt.Sprintf("account %q", a), &r)
		rs.Accounts[a] = r
	}
	if len(errs) > 0 {
		return fmt.Errorf("match: invalid rules: %w", errors.Join(errs...))
	}
	return nil
}

func (r Rule) validate() error {
	switch r.Missed.Distribution {
	case DistributeNone, DistributeRoundRobin, DistributeActive:
	default:
		return fmt.Errorf("unknown distribution %q (want %q or %q)", r.Missed.Distribution, DistributeRoundRobin, DistributeActive)
	}
	if r.Notify.Delay < 0 {
		return fmt.Errorf("negative notify delay %v", time.Duration(r.Notify.Delay))
	}
	return r.Task.validate()
}

// rule returns the rule for a call of account on line, and the name of the
// line rule ("" for the account rule).
func (rs *RuleSet) rule(account, line string) (Rule, string) {
	r, ok := rs.Accounts[account]
	if !ok {
		r = rs.Default
	}
	if line != "" {
		for _, l := range r.Lines {
			if slices.Contains(l.Numbers, line) {
				return l.Rule, l.Name
			}
		}
	}
	return r.Rule, ""
}

// expand fills a name template.
func expand(tmpl, phone, line string) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	return strings.NewReplacer("{phone}", phone, "{line}", line).Replace(tmpl)
}
