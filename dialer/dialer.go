package dialer

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry"
	"go.opentelemetry.io/otel/metric"
)

// Errors of the Dialer; compare with errors.Is.
var (
	// ErrUnknownEmployee: Config.Employees does not know an agent.
	ErrUnknownEmployee = errors.New("dialer: unknown employee")
	// ErrNoCaller: the campaign's provider has no click-to-call (no
	// Caller in Config.Callers; for a Remote campaign, no Remote).
	ErrNoCaller = errors.New("dialer: provider cannot place calls")
	// ErrNotAgent: the employee is not one of the campaign's agents.
	ErrNotAgent = errors.New("dialer: employee is not an agent of the campaign")
	// ErrAgentBusy: the employee takes calls of another campaign.
	ErrAgentBusy = errors.New("dialer: employee is busy in another campaign")
	// ErrState: the campaign or agent is not in a state that allows the
	// action (starting a running campaign, skipping with nothing offered).
	ErrState = errors.New("dialer: not allowed in this state")
	// ErrClosed: the Dialer is closed.
	ErrClosed = errors.New("dialer: closed")
)

// Clock is the Dialer's source of time: wrap-up, ring timeouts, retry
// delays and calling hours all go through it, so tests drive them
// without sleeping. It has the shape of match.Clock (matchtest.Clock
// implements it). The default is the system clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, when
	// time is advanced) once d has passed, unless the Timer is stopped.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled call of a Clock.
type Timer = interface{ Stop() bool }

type systemClock struct{}

func (systemClock) Now() time.Time                            { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Employees says what a provider rings for an employee.
type Employees interface {
	// Extension returns CallRequest.From for the employee: the extension
	// or login the provider rings first. found is false (with a nil
	// error) for an employee nobody knows.
	Extension(ctx context.Context, employee string) (ext string, found bool, err error)
}

// EmployeesFunc adapts a function to Employees.
type EmployeesFunc func(ctx context.Context, employee string) (string, bool, error)

// Extension calls f(ctx, employee).
func (f EmployeesFunc) Extension(ctx context.Context, employee string) (string, bool, error) {
	return f(ctx, employee)
}

// StaticEmployees maps employee ids to extensions.
type StaticEmployees map[string]string

// Extension returns the employee's extension.
func (s StaticEmployees) Extension(_ context.Context, employee string) (string, bool, error) {
	ext, ok := s[employee]
	return ext, ok, nil
}

// CallStart is what the call-started hook gets: the call just placed and
// its target, so a CRM opens the target's card on the agent's screen.
type CallStart struct {
	Campaign string `json:"campaign"`
	// Employee is the agent (for a Remote campaign, the operator's
	// extension the remote dialer reported, if any).
	Employee string `json:"employee,omitempty"`
	Provider string `json:"provider"`
	Account  string `json:"account,omitempty"`
	// CallID is the provider's call id ("" when the provider gave none).
	CallID  string    `json:"call_id,omitempty"`
	Attempt int       `json:"attempt"`
	Target  Target    `json:"target"`
	At      time.Time `json:"at"`
}

// Config configures a Dialer.
type Config struct {
	// Store keeps the campaigns (required).
	Store Store
	// Callers place the calls of preview and power campaigns, by
	// provider name (Campaign.Provider).
	Callers map[string]callevent.Caller
	// Remotes run Remote campaigns, by provider name.
	Remotes map[string]RemoteDialer
	// Employees resolves agents to extensions (required for preview and
	// power campaigns).
	Employees Employees
	// Clock is the source of time (default: the system clock).
	Clock Clock
	// Logger gets failures that have no caller to return to (a timer's
	// store error); the default discards.
	Logger *slog.Logger
	// OnCall is the call-started hook: called once a call is placed (for
	// a Remote campaign, when the remote dialer reports an operator
	// answered), outside the Dialer's locks. It must not block for long.
	OnCall func(ctx context.Context, s CallStart)
	// OnAgent is the agent hook: called with an agent of a preview or
	// power campaign each time its state as Status shows it (Agent)
	// changed — ready, dialing, in_call, wrap_up with its end, away, the
	// next target after a skip —, once per operation that changed it
	// (its last state), in order for each campaign, outside the Dialer's
	// locks. It must not block for long.
	OnAgent func(ctx context.Context, campaign string, a Agent)
	// CallTimeout bounds one call request to the provider (default
	// DefaultCallTimeout).
	CallTimeout time.Duration
	// MeterProvider gets the campaigns' progress: the attempts ended, by
	// provider and outcome (callbridge.dialer.attempts). Default: the
	// global provider, a no-op until the program sets one.
	MeterProvider metric.MeterProvider
}

// DefaultCallTimeout bounds a call request to a provider.
const DefaultCallTimeout = 30 * time.Second

// storeRetry is how soon an agent's next call is tried again after the
// store failed.
const storeRetry = 10 * time.Second

// Dialer runs campaigns over callevent.Callers (see the package doc). It
// is a callevent.Sink: give it the providers' events. It is safe for
// concurrent use.
type Dialer struct {
	cfg   Config
	clock Clock
	log   *slog.Logger
	base  context.Context
	stop  context.CancelFunc

	mu     sync.Mutex
	camps  map[string]*campaign // loaded: running, paused, or touched since
	busy   map[string]*agent    // employee → the agent taking calls (not away)
	closed bool
	wg     sync.WaitGroup // timer callbacks in progress

	tel *telemetry.Dialer
}

var _ callevent.Sink = (*Dialer)(nil)

// New returns a Dialer over cfg.Store and resumes the campaigns that were
// running or paused: their progress is read from the store, and an
// attempt recorded but not finished (the process stopped while placing
// or during the call) ends as Unknown and is not called again unless
// RetryPolicy.Unknown says so. Agents join again with Ready.
func New(ctx context.Context, cfg Config) (*Dialer, error) {
	if cfg.Store == nil {
		return nil, errors.New("dialer: New: Config.Store is required")
	}
	if cfg.CallTimeout < 0 {
		return nil, errors.New("dialer: New: Config.CallTimeout is negative")
	}
	d := &Dialer{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, camps: map[string]*campaign{}, busy: map[string]*agent{},
		tel: telemetry.NewDialer(cfg.MeterProvider)}
	if d.clock == nil {
		d.clock = systemClock{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.cfg.CallTimeout == 0 {
		d.cfg.CallTimeout = DefaultCallTimeout
	}
	d.base, d.stop = context.WithCancel(context.WithoutCancel(ctx))
	all, err := cfg.Store.Campaigns(ctx)
	if err != nil {
		return nil, fmt.Errorf("dialer: New: %w", err)
	}
	for _, c := range all {
		if c.State != Running && c.State != Paused {
			continue
		}
		if _, err := d.load(ctx, c); err != nil {
			d.Close()
			return nil, fmt.Errorf("dialer: New: resuming campaign %q: %w", c.ID, err)
		}
	}
	return d, nil
}

// Close stops the Dialer's timers and waits for the ones running. Calls
// in progress are not touched; their attempts end as Unknown at the next
// New unless an event settles them first.
func (d *Dialer) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	camps := make([]*campaign, 0, len(d.camps))
	for _, c := range d.camps {
		camps = append(camps, c)
	}
	d.mu.Unlock()
	for _, c := range camps {
		c.mu.Lock()
		c.stopTimers()
		c.unlock()
	}
	d.stop()
	d.wg.Wait()
}

// after runs f(ctx) after dur on the Dialer's clock, unless the Dialer is
// closed first.
func (d *Dialer) after(dur time.Duration, f func(ctx context.Context)) Timer {
	return d.clock.AfterFunc(max(0, dur), func() {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return
		}
		d.wg.Add(1)
		d.mu.Unlock()
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(d.base, d.cfg.CallTimeout+time.Minute)
		defer cancel()
		f(ctx)
	})
}

// Create validates c and its targets and stores them as a new Draft
// campaign; it returns the campaign as stored (its ID made when empty).
// Each target's phone is normalised with c.Country and its time zone
// resolved (Target.TimeZone, else ZoneOf, else the campaign's). Invalid
// targets fail the whole creation with a *ValidationError naming each
// (targets[i].phone, …); CheckTargets (or ImportCSV) sorts them out
// first.
func (d *Dialer) Create(ctx context.Context, c Campaign, targets []Target) (Campaign, error) {
	if err := c.Validate(); err != nil {
		return Campaign{}, err
	}
	if len(targets) == 0 {
		return Campaign{}, &ValidationError{Errs: []error{errors.New("targets: the campaign has no targets")}}
	}
	if bad := CheckTargets(c.Country, targets); len(bad) > 0 {
		errs := make([]error, 0, min(len(bad), 20)+1)
		for _, b := range bad[:min(len(bad), 20)] {
			errs = append(errs, fmt.Errorf("targets[%d].%s: %w", b.Index, b.Field, b.Err))
		}
		if len(bad) > 20 {
			errs = append(errs, fmt.Errorf("targets: %d more invalid targets", len(bad)-20))
		}
		return Campaign{}, &ValidationError{Errs: errs}
	}
	if c.ID == "" {
		c.ID = "c" + rand.Text()[:12]
	}
	def := campaignZone(&c)
	out := make([]Target, len(targets))
	for i, t := range targets {
		t.Number = i + 1
		t.Phone, _ = normalize(t.Phone, c.Country) // CheckTargets accepted it
		if t.TimeZone == "" {
			t.TimeZone = cmp.Or(ZoneOf(t.Phone), def)
		}
		out[i] = t
	}
	now := d.clock.Now().UTC()
	c.State, c.CreatedAt, c.UpdatedAt = Draft, now, now
	if err := d.cfg.Store.CreateCampaign(ctx, c, out); err != nil {
		return Campaign{}, fmt.Errorf("dialer: create campaign: %w", err)
	}
	return c, nil
}

// Campaign returns a campaign as stored.
func (d *Dialer) Campaign(ctx context.Context, id string) (Campaign, error) {
	if c := d.loaded(id); c != nil {
		c.mu.Lock()
		defer c.unlock()
		return c.spec, nil
	}
	return d.cfg.Store.Campaign(ctx, id)
}

// Campaigns returns every campaign as stored, oldest first.
func (d *Dialer) Campaigns(ctx context.Context) ([]Campaign, error) {
	all, err := d.cfg.Store.Campaigns(ctx)
	if err != nil {
		return nil, fmt.Errorf("dialer: campaigns: %w", err)
	}
	return all, nil
}

// loaded is the campaign in memory, nil if it is not.
func (d *Dialer) loaded(id string) *campaign {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.camps[id]
}

// get returns the campaign, loading it from the store.
func (d *Dialer) get(ctx context.Context, id string) (*campaign, error) {
	if c := d.loaded(id); c != nil {
		return c, nil
	}
	spec, err := d.cfg.Store.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	return d.load(ctx, spec)
}

// load reads a campaign's progress into memory (see New).
func (d *Dialer) load(ctx context.Context, spec Campaign) (*campaign, error) {
	c := &campaign{d: d, spec: spec, eff: spec.effective(), agents: map[string]*agent{}, calls: map[string]*agent{}}
	for _, emp := range spec.Agents {
		c.agents[emp] = newAgent(c, emp, "") // Start and Ready find their extensions
	}
	zoneIdx := map[string]uint16{}
	var unknown []Progress
	err := d.cfg.Store.Progress(ctx, spec.ID, func(p Progress) error {
		if p.Target != len(c.slots)+1 {
			return fmt.Errorf("progress of target %d out of order (expected %d)", p.Target, len(c.slots)+1)
		}
		ph, err := phoneNumber(p.Phone)
		if err != nil {
			return fmt.Errorf("target %d: %w", p.Target, err)
		}
		z, ok := zoneIdx[p.TimeZone]
		if !ok {
			loc, err := loadZone(cmp.Or(p.TimeZone, "UTC"))
			if err != nil {
				return err
			}
			if len(c.zones) > 1<<16-1 {
				return errors.New("more than 65535 time zones")
			}
			z = uint16(len(c.zones))
			zoneIdx[p.TimeZone] = z
			c.zones = append(c.zones, loc)
		}
		s := slot{phone: ph, zone: z, attempts: uint8(min(p.Attempts, 255)), outcome: p.Outcome, pos: -1}
		if !p.NextAt.IsZero() {
			s.next = p.NextAt.UnixNano()
		}
		switch p.State {
		case Pending:
			s.state = slotPending
		case Dialing:
			s.state = slotDialing
			if spec.Mode != Remote {
				unknown = append(unknown, p)
			}
		default:
			s.state = slotFinished
		}
		c.slots = append(c.slots, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.slots = slices.Clip(c.slots)
	c.heap.slots = c.slots
	c.heap.idx = make([]int32, 0, len(c.slots))
	for i := range c.slots {
		if c.slots[i].state == slotPending {
			c.heap.idx = append(c.heap.idx, int32(i))
		}
	}
	c.heap.init()
	// Attempts cut short by a stop: at most one call per attempt, so
	// they end as Unknown.
	now := d.clock.Now()
	for _, p := range unknown {
		if err := c.finishUnknown(ctx, p, now); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.unload() // an ended campaign read for a moment
	c.unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev := d.camps[spec.ID]; prev != nil {
		return prev, nil // loaded meanwhile
	}
	d.camps[spec.ID] = c
	return c, nil
}

// finishUnknown ends an attempt found open at load as Unknown.
func (c *campaign) finishUnknown(ctx context.Context, p Progress, now time.Time) error {
	i := int32(p.Target - 1)
	s := &c.slots[i]
	a := Attempt{Campaign: c.spec.ID, Target: p.Target, Number: p.Attempts, Phone: p.Phone, Outcome: Unknown, EndedAt: now.UTC()}
	np := c.after(i, Unknown, now)
	if err := c.finish(ctx, a, np); err != nil {
		return err
	}
	c.apply(i, np)
	if s.state == slotPending {
		c.heap.push(i)
	}
	return nil
}

// phoneNumber is a normalised phone as its number.
func phoneNumber(p string) (uint64, error) {
	if len(p) == 0 || len(p) > 15 || p[0] == '0' {
		return 0, fmt.Errorf("phone %q is not a normalised number", clip(p))
	}
	var n uint64
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, fmt.Errorf("phone %q is not a normalised number", clip(p))
		}
		n = n*10 + uint64(p[i]-'0')
	}
	return n, nil
}

// phoneString is the digits of a phone number.
func phoneString(n uint64) string {
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Start starts a Draft campaign: its provider must place calls (a Caller,
// or a Remote for a Remote campaign) and every agent must be known to
// Config.Employees, else nothing changes and the error says which
// (ErrNoCaller, ErrUnknownEmployee). Agents then join with Ready. A
// Remote campaign uploads its targets (see RemoteDialer).
func (d *Dialer) Start(ctx context.Context, id string) error {
	c, err := d.getChecked(ctx, id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.unlock()
	if c.spec.State != Draft {
		return fmt.Errorf("%w: campaign %q is %s, only a draft starts (resume a paused one)", ErrState, id, c.spec.State)
	}
	if err := c.setState(ctx, Running); err != nil {
		return err
	}
	if c.spec.Mode == Remote {
		return c.remoteRound(ctx)
	}
	return nil
}

// getChecked is the campaign id (get) once checkCampaign passed.
func (d *Dialer) getChecked(ctx context.Context, id string) (*campaign, error) {
	c, err := d.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := d.checkCampaign(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkCampaign resolves the provider and the agents of c.
func (d *Dialer) checkCampaign(ctx context.Context, c *campaign) error {
	c.mu.Lock()
	spec := c.spec
	c.unlock()
	if spec.Mode == Remote {
		r := d.cfg.Remotes[spec.Provider]
		if r == nil {
			return fmt.Errorf("%w: %q has no remote dialer configured", ErrNoCaller, spec.Provider)
		}
		if rc, ok := r.(RemoteChecker); ok {
			if err := rc.Check(); err != nil {
				return fmt.Errorf("%w: %q: %w", ErrNoCaller, spec.Provider, err)
			}
		}
		c.mu.Lock()
		c.remote = r
		c.unlock()
		return nil
	}
	caller := d.cfg.Callers[spec.Provider]
	if caller == nil {
		return fmt.Errorf("%w: %q has no click-to-call configured", ErrNoCaller, spec.Provider)
	}
	if d.cfg.Employees == nil {
		return fmt.Errorf("%w: no Config.Employees to find the agents", ErrUnknownEmployee)
	}
	exts := make(map[string]string, len(spec.Agents))
	var unknown []string
	for _, emp := range spec.Agents {
		ext, ok, err := d.cfg.Employees.Extension(ctx, emp)
		if err != nil {
			return fmt.Errorf("dialer: finding employee %q: %w", emp, err)
		}
		if !ok || ext == "" {
			unknown = append(unknown, fmt.Sprintf("%q", emp))
			continue
		}
		exts[emp] = ext
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: agents %v", ErrUnknownEmployee, unknown)
	}
	c.mu.Lock()
	defer c.unlock()
	c.caller = caller
	for emp, ext := range exts {
		if a := c.agents[emp]; a != nil {
			a.ext = ext
		} else {
			c.agents[emp] = newAgent(c, emp, ext)
		}
	}
	return nil
}

// Pause stops placing calls: calls in progress finish, agents wait (a
// preview's target goes back to the list). A Remote campaign's list is
// withdrawn from the remote dialer and its results read.
func (d *Dialer) Pause(ctx context.Context, id string) error {
	c, err := d.get(ctx, id)
	if err != nil {
		return err
	}
	if c.eff.Mode == Remote {
		if err := d.checkCampaign(ctx, c); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.unlock()
	if c.spec.State != Running {
		return fmt.Errorf("%w: campaign %q is %s, not running", ErrState, id, c.spec.State)
	}
	if c.spec.Mode == Remote {
		if err := c.remoteWithdraw(ctx); err != nil {
			return err
		}
	}
	if err := c.setState(ctx, Paused); err != nil {
		return err
	}
	c.idleAgents(false)
	return nil
}

// Resume runs a paused campaign again: agents who were ready get calls.
func (d *Dialer) Resume(ctx context.Context, id string) error {
	c, err := d.getChecked(ctx, id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.spec.State != Paused {
		st := c.spec.State
		c.unlock()
		return fmt.Errorf("%w: campaign %q is %s, not paused", ErrState, id, st)
	}
	if err := c.setState(ctx, Running); err != nil {
		c.unlock()
		return err
	}
	if c.spec.Mode == Remote {
		err := c.remoteRound(ctx)
		c.unlock()
		return err
	}
	var ps []*placement
	for _, a := range c.sortedAgents() {
		if a.state == AgentReady {
			p, err := c.next(ctx, a)
			if err != nil {
				c.retryLater(a, err)
			}
			if p != nil {
				ps = append(ps, p)
			}
		}
	}
	c.unlock()
	for _, p := range ps {
		c.place(p)
	}
	return nil
}

// Stop ends a campaign for good: no call is placed any more, targets not
// called stay pending, agents are released; calls in progress still get
// their outcomes.
func (d *Dialer) Stop(ctx context.Context, id string) error {
	c, err := d.get(ctx, id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.unlock()
	switch c.spec.State {
	case Stopped, Done:
		return fmt.Errorf("%w: campaign %q is %s already", ErrState, id, c.spec.State)
	}
	if c.spec.Mode == Remote && c.spec.State == Running {
		if c.remote == nil {
			c.remote = d.cfg.Remotes[c.spec.Provider]
		}
		if c.remote != nil {
			if err := c.remoteWithdraw(ctx); err != nil {
				return err
			}
		}
	}
	if err := c.setState(ctx, Stopped); err != nil {
		return err
	}
	c.idleAgents(true)
	c.stopTimers()
	c.unload()
	return nil
}

// SkipTarget skips target n of a campaign: it is not called (again). A
// target being called cannot be skipped (ErrState).
func (d *Dialer) SkipTarget(ctx context.Context, id string, n int) error {
	c, err := d.get(ctx, id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if n < 1 || n > len(c.slots) {
		c.unlock()
		return fmt.Errorf("%w: campaign %q has no target %d", ErrNotFound, id, n)
	}
	i := int32(n - 1)
	var holder *agent
	switch c.slots[i].state {
	case slotDialing:
		c.unlock()
		return fmt.Errorf("%w: target %d is being called", ErrState, n)
	case slotFinished:
		c.unlock()
		return fmt.Errorf("%w: target %d is finished (%s)", ErrState, n, c.slots[i].outcome)
	case slotOffered:
		for _, a := range c.agents {
			if a.target == i {
				holder = a
			}
		}
	}
	if err := c.finishTarget(ctx, i, Skipped); err != nil {
		c.unlock()
		return err
	}
	var p *placement
	if holder != nil {
		holder.target = -1
		if p, err = c.next(ctx, holder); err != nil {
			c.retryLater(holder, err)
		}
	}
	c.maybeDone(ctx)
	c.unlock()
	c.place(p)
	return nil
}

// DoNotCall puts phones on the do-not-call list (normalised with
// country): they are never dialled by any campaign from now on.
func (d *Dialer) DoNotCall(ctx context.Context, country string, phones ...string) error {
	norm := make([]string, 0, len(phones))
	for i, p := range phones {
		n, err := normalize(p, country)
		if err != nil {
			return fmt.Errorf("%w: phones[%d]: %v", ErrInvalid, i, err)
		}
		norm = append(norm, n)
	}
	return d.cfg.Store.AddDoNotCall(ctx, norm...)
}

// finish records the end of attempt a and the target's progress p, and
// counts it (callbridge.dialer.attempts).
func (c *campaign) finish(ctx context.Context, a Attempt, p Progress) error {
	if err := c.d.cfg.Store.FinishAttempt(ctx, a, p); err != nil {
		return err
	}
	c.d.tel.Attempts.Add(ctx, 1, telemetry.Attrs(telemetry.ProviderKey.String(c.spec.Provider),
		telemetry.OutcomeKey.String(a.Outcome.String())))
	return nil
}
