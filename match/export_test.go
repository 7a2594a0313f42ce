package match

// What the external tests (package match_test) look at inside.

// DecidedMarksPerCall is decidedMarksPerCall.
const DecidedMarksPerCall = decidedMarksPerCall

// Memory reports what the engine remembers: calls with a full record
// (undecided and decided), decided calls with a full record, marks of
// decided calls whose record was dropped, and calls waiting for late
// binding.
func (e *Engine) Memory() (active, decided, marks, waiting int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.pending {
		waiting += len(l)
	}
	return len(e.active), e.decided.Len(), len(e.marks), waiting
}

// SetLeadStore replaces the lead store of a running engine.
func (e *Engine) SetLeadStore(s LeadStore) { e.leads = s }

// RuleFor is rule.
func (rs *RuleSet) RuleFor(account, line string) (Rule, string) { return rs.rule(account, line) }

// Clone is clone.
func (r Rule) Clone() Rule { return r.clone() }

// The resolver the engine finds and creates clients with.
type (
	Resolver   = resolver
	MatchKind  = matchKind
	Resolution = resolution
	NewClient  = newClient
)

// NewResolver is newResolver over s, as a UniquePhones if it is one.
func NewResolver(s ClientStore, country string) (*Resolver, error) {
	u, _ := s.(UniquePhones)
	return newResolver(s, u, country)
}

// Match kinds.
const (
	MatchNone    = matchNone
	MatchPhone   = matchPhone
	MatchField   = matchField
	MatchCreated = matchCreated
)
