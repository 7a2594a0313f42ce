package match

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/telemetry"
)

// WithMeterProvider sets where the engine's metrics go: calls in progress
// (callbridge.engine.calls.active), decisions by provider, case and
// outcome (callbridge.engine.decisions: decided, ignored, failed), clients
// and leads created (callbridge.engine.clients.created,
// callbridge.engine.leads.created) and notifications by outcome
// (callbridge.engine.notifications: sent, failed). Default: the global
// provider, a no-op until the program sets one (otel.SetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(e *Engine) error {
		if mp == nil {
			return errors.New("WithMeterProvider: nil meter provider")
		}
		e.mp = mp
		return nil
	}
}

// WithTracerProvider sets where the engine's spans go: one per event
// ("match.Engine HandleEvent", "match.Engine Resume") and per contact
// lookup, beneath the span of the event's context (the webhook's, through
// a Queue or an Inbox); one per decision ("match.Engine decide"), beneath
// the span of the event that completed the call, also when a timer decides
// it later; and one per store call of the engine ("match.store
// CreateLead"), beneath those, so that one call's path from the webhook to
// the CRM's note is one trace. The caller's number is masked (see
// WithUnmaskedPhones). Default: the global provider, a no-op until the
// program sets one (otel.SetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(e *Engine) error {
		if tp == nil {
			return errors.New("WithTracerProvider: nil tracer provider")
		}
		e.tp = tp
		return nil
	}
}

// WithUnmaskedPhones puts whole phone numbers in span attributes. By
// default a number shows its last four digits only ("*******4567").
func WithUnmaskedPhones() Option {
	return func(e *Engine) error { e.fullPhones = true; return nil }
}

// initTelemetry makes the engine's instruments, counts its calls in
// progress and wraps its stores in spans, once the options ran.
func (e *Engine) initTelemetry() {
	e.tel = telemetry.NewEngine(e.mp, e.tp)
	reg, err := e.tel.Meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		e.mu.Lock()
		n := len(e.active) - e.decided.Len()
		e.mu.Unlock()
		o.ObserveInt64(e.tel.Active, int64(n))
		return nil
	}, e.tel.Active)
	if err == nil {
		e.activeReg = reg
	}
	t := &storeTracer{tr: e.tel.Tracer, tel: e.tel}
	e.clients = tracedClients{e.clients, t}
	if e.getter != nil {
		e.getter = tracedGetter{e.getter, t}
	}
	if e.unique != nil {
		e.unique = tracedUnique{e.unique, t}
	}
	if e.dialog != nil {
		e.dialog = tracedDialog{e.dialog, t}
	}
	if e.updater != nil {
		e.updater = tracedUpdater{e.updater, t}
	}
	if e.reassign != nil {
		e.reassign = tracedReassigner{e.reassign, t}
	}
	if e.leads != nil {
		e.leads = tracedLeads{e.leads, t}
	}
	if e.byPhone != nil {
		e.byPhone = tracedPhoneLeads{e.byPhone, t}
	}
	if e.calls != nil {
		e.calls = tracedCallLog{e.calls, t}
	}
	if e.tasks != nil {
		e.tasks = tracedTasks{e.tasks, t}
	}
	if e.dir != nil {
		e.dir = tracedDirectory{e.dir, t}
	}
	if e.notifier != nil {
		e.notifier = tracedNotifier{e.notifier, t}
	}
	if e.popups != nil {
		e.popups = tracedPopUps{e.popups, t}
	}
	e.eventSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
}

// startEvent starts the span of an event given to the engine.
func (e *Engine) startEvent(ctx context.Context, name string, ev callevent.Event) (context.Context, trace.Span) {
	ctx, span := e.tel.Tracer.Start(ctx, name, e.eventSpan...)
	if span.IsRecording() {
		span.SetAttributes(telemetry.ProviderKey.String(ev.Provider), telemetry.AccountKey.String(ev.Account),
			telemetry.CallIDKey.String(ev.CallID), telemetry.EventIDKey.String(ev.ID),
			telemetry.EventKindKey.String(ev.Kind.String()))
	}
	return ctx, span
}

// endSpan ends span, marking it failed by err.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, telemetry.MaskDigits(err.Error()))
	}
	span.End()
}

// inTrace returns ctx beneath the span of the event that last changed
// st, for work a timer does later (a decision, late binding, delayed
// notifications); st.mu is held.
func inTrace(ctx context.Context, st *callState) context.Context {
	if st.trace.IsValid() {
		return trace.ContextWithSpanContext(ctx, st.trace)
	}
	return ctx
}

// startDecision starts the span of a decision of st's call.
func (e *Engine) startDecision(ctx context.Context, st *callState) (context.Context, trace.Span) {
	ctx, span := e.tel.Tracer.Start(ctx, "match.Engine decide", e.eventSpan...)
	if span.IsRecording() {
		span.SetAttributes(telemetry.ProviderKey.String(st.key.provider), telemetry.AccountKey.String(st.key.account),
			telemetry.CallIDKey.String(st.key.callID))
	}
	return ctx, span
}

// endDecision records a decision's outcome on its span and counter.
func (e *Engine) endDecision(ctx context.Context, span trace.Span, d Decision, err error) {
	outcome := telemetry.OutcomeDecided
	switch {
	case err != nil:
		outcome = telemetry.OutcomeFailed
	case d.ignored():
		outcome = telemetry.OutcomeIgnored
	}
	if span.IsRecording() {
		attrs := []attribute.KeyValue{telemetry.OutcomeKey.String(outcome), telemetry.CaseKey.String(d.Case.String()),
			attribute.Int("callbridge.actions", len(d.Actions))}
		if d.Call.ClientPhone != "" {
			attrs = append(attrs, telemetry.Phone(d.Call.ClientPhone, e.fullPhones))
		}
		if d.Call.ClientID != "" {
			attrs = append(attrs, telemetry.ClientIDKey.String(d.Call.ClientID))
		}
		if d.Call.LeadID != "" {
			attrs = append(attrs, telemetry.LeadIDKey.String(d.Call.LeadID))
		}
		span.SetAttributes(attrs...)
	}
	endSpan(span, err)
	if e.tel.Decisions.Enabled(ctx) {
		e.tel.Decisions.Add(ctx, 1, telemetry.Attrs(telemetry.ProviderKey.String(d.Call.Provider),
			telemetry.CaseKey.String(d.Case.String()), telemetry.OutcomeKey.String(outcome)))
	}
}

// ignored reports whether the decision left the call out of the CRM.
func (d Decision) ignored() bool {
	for _, a := range d.Actions {
		if a.Kind == ActIgnore {
			return true
		}
	}
	return false
}

// created counts a client or lead created (c is Engine.tel's counter).
func (e *Engine) created(ctx context.Context, c metric.Int64Counter, provider string) {
	if c.Enabled(ctx) {
		c.Add(ctx, 1, telemetry.Attrs(telemetry.ProviderKey.String(provider)))
	}
}

// logCall are the log attributes naming st's call.
func logCall(k callKey) []any {
	return []any{"provider", k.provider, "account", k.account, "call_id", k.callID}
}

// storeTracer starts the spans of the engine's store calls.
type storeTracer struct {
	tr  telemetry.Tracer
	tel *telemetry.Engine
}

// start starts the span name, "match.store <method>".
func (t *storeTracer) start(ctx context.Context, name string) (context.Context, trace.Span) {
	ctx, span := t.tr.Start(ctx, name)
	if span.IsRecording() {
		span.SetAttributes(telemetry.StoreOperationKey.String(strings.TrimPrefix(name, "match.store ")))
	}
	return ctx, span
}

// The engine's stores, each call in a span. The engine asserts the
// optional interfaces of its ClientStore before wrapping it.
type (
	tracedClients struct {
		s ClientStore
		t *storeTracer
	}
	tracedGetter struct {
		s ClientGetter
		t *storeTracer
	}
	tracedUnique struct {
		s UniquePhones
		t *storeTracer
	}
	tracedDialog struct {
		s Dialog
		t *storeTracer
	}
	tracedUpdater struct {
		s ClientUpdater
		t *storeTracer
	}
	tracedReassigner struct {
		s Reassigner
		t *storeTracer
	}
	tracedLeads struct {
		s LeadStore
		t *storeTracer
	}
	tracedPhoneLeads struct {
		s PhoneLeads
		t *storeTracer
	}
	tracedCallLog struct {
		s CallLog
		t *storeTracer
	}
	tracedTasks struct {
		s TaskStore
		t *storeTracer
	}
	tracedDirectory struct {
		s Directory
		t *storeTracer
	}
	tracedNotifier struct {
		s Notifier
		t *storeTracer
	}
	tracedPopUps struct {
		s PopUpper
		t *storeTracer
	}
)

func (w tracedClients) FindClientByPhone(ctx context.Context, account, phone string) (Client, bool, error) {
	ctx, span := w.t.start(ctx, "match.store FindClientByPhone")
	c, ok, err := w.s.FindClientByPhone(ctx, account, phone)
	endSpan(span, err)
	return c, ok, err
}

func (w tracedClients) FindClientsByField(ctx context.Context, account, phone string, limit int) ([]Client, error) {
	ctx, span := w.t.start(ctx, "match.store FindClientsByField")
	cs, err := w.s.FindClientsByField(ctx, account, phone, limit)
	endSpan(span, err)
	return cs, err
}

func (w tracedClients) CreateClient(ctx context.Context, c Client) (Client, error) {
	ctx, span := w.t.start(ctx, "match.store CreateClient")
	c, err := w.s.CreateClient(ctx, c)
	endSpan(span, err)
	return c, err
}

func (w tracedUnique) FindOrCreateClient(ctx context.Context, c Client) (Client, bool, error) {
	ctx, span := w.t.start(ctx, "match.store FindOrCreateClient")
	c, created, err := w.s.FindOrCreateClient(ctx, c)
	endSpan(span, err)
	return c, created, err
}

func (w tracedGetter) FindClient(ctx context.Context, account, id string) (Client, bool, error) {
	ctx, span := w.t.start(ctx, "match.store FindClient")
	c, ok, err := w.s.FindClient(ctx, account, id)
	endSpan(span, err)
	return c, ok, err
}

func (w tracedDialog) AddDialogNotes(ctx context.Context, account, clientID string, notes []DialogNote) error {
	ctx, span := w.t.start(ctx, "match.store AddDialogNotes")
	err := w.s.AddDialogNotes(ctx, account, clientID, notes)
	endSpan(span, err)
	return err
}

func (w tracedUpdater) SetClientFields(ctx context.Context, account, clientID string, fields map[string]string) error {
	ctx, span := w.t.start(ctx, "match.store SetClientFields")
	err := w.s.SetClientFields(ctx, account, clientID, fields)
	endSpan(span, err)
	return err
}

func (w tracedReassigner) SetClientResponsible(ctx context.Context, account, id, employee string) error {
	ctx, span := w.t.start(ctx, "match.store SetClientResponsible")
	err := w.s.SetClientResponsible(ctx, account, id, employee)
	endSpan(span, err)
	return err
}

func (w tracedReassigner) SetLeadResponsible(ctx context.Context, account, id, employee string) error {
	ctx, span := w.t.start(ctx, "match.store SetLeadResponsible")
	err := w.s.SetLeadResponsible(ctx, account, id, employee)
	endSpan(span, err)
	return err
}

func (w tracedLeads) ClientLeads(ctx context.Context, account, clientID string) ([]Lead, error) {
	ctx, span := w.t.start(ctx, "match.store ClientLeads")
	ls, err := w.s.ClientLeads(ctx, account, clientID)
	endSpan(span, err)
	return ls, err
}

func (w tracedLeads) CreateLead(ctx context.Context, l Lead) (Lead, error) {
	ctx, span := w.t.start(ctx, "match.store CreateLead")
	l, err := w.s.CreateLead(ctx, l)
	endSpan(span, err)
	return l, err
}

func (w tracedLeads) ReopenLead(ctx context.Context, account, leadID, status string) (Lead, error) {
	ctx, span := w.t.start(ctx, "match.store ReopenLead")
	l, err := w.s.ReopenLead(ctx, account, leadID, status)
	endSpan(span, err)
	return l, err
}

func (w tracedPhoneLeads) PhoneLeads(ctx context.Context, account, phone string) ([]Lead, error) {
	ctx, span := w.t.start(ctx, "match.store PhoneLeads")
	ls, err := w.s.PhoneLeads(ctx, account, phone)
	endSpan(span, err)
	return ls, err
}

func (w tracedCallLog) LogCall(ctx context.Context, rec CallRecord) error {
	ctx, span := w.t.start(ctx, "match.store LogCall")
	err := w.s.LogCall(ctx, rec)
	endSpan(span, err)
	return err
}

func (w tracedTasks) CreateTask(ctx context.Context, t Task) (Task, error) {
	ctx, span := w.t.start(ctx, "match.store CreateTask")
	t, err := w.s.CreateTask(ctx, t)
	endSpan(span, err)
	return t, err
}

func (w tracedTasks) CloseTasks(ctx context.Context, account, phone string, at time.Time, by string) ([]Task, error) {
	ctx, span := w.t.start(ctx, "match.store CloseTasks")
	ts, err := w.s.CloseTasks(ctx, account, phone, at, by)
	endSpan(span, err)
	return ts, err
}

func (w tracedTasks) OverdueTasks(ctx context.Context, account string, now time.Time) ([]Task, error) {
	ctx, span := w.t.start(ctx, "match.store OverdueTasks")
	ts, err := w.s.OverdueTasks(ctx, account, now)
	endSpan(span, err)
	return ts, err
}

func (w tracedTasks) EscalateTask(ctx context.Context, account, id string) error {
	ctx, span := w.t.start(ctx, "match.store EscalateTask")
	err := w.s.EscalateTask(ctx, account, id)
	endSpan(span, err)
	return err
}

func (w tracedTasks) OpenTasks(ctx context.Context, account string) ([]Task, error) {
	ctx, span := w.t.start(ctx, "match.store OpenTasks")
	ts, err := w.s.OpenTasks(ctx, account)
	endSpan(span, err)
	return ts, err
}

func (w tracedDirectory) FindEmployee(ctx context.Context, account, key string) (Employee, bool, error) {
	ctx, span := w.t.start(ctx, "match.store FindEmployee")
	x, ok, err := w.s.FindEmployee(ctx, account, key)
	endSpan(span, err)
	return x, ok, err
}

func (w tracedDirectory) Employees(ctx context.Context, account string) ([]Employee, error) {
	ctx, span := w.t.start(ctx, "match.store Employees")
	xs, err := w.s.Employees(ctx, account)
	endSpan(span, err)
	return xs, err
}

func (w tracedDirectory) Online(ctx context.Context, account string) ([]string, error) {
	ctx, span := w.t.start(ctx, "match.store Online")
	ids, err := w.s.Online(ctx, account)
	endSpan(span, err)
	return ids, err
}

// Notify also counts the notification by outcome.
func (w tracedNotifier) Notify(ctx context.Context, n Notification) error {
	ctx, span := w.t.start(ctx, "match.store Notify")
	err := w.s.Notify(ctx, n)
	endSpan(span, err)
	if c := w.t.tel.Notifications; c.Enabled(ctx) {
		outcome := telemetry.OutcomeSent
		if err != nil {
			outcome = telemetry.OutcomeFailed
		}
		c.Add(ctx, 1, telemetry.Attrs(telemetry.ProviderKey.String(n.Provider), telemetry.OutcomeKey.String(outcome)))
	}
	return err
}

func (w tracedPopUps) PopUp(ctx context.Context, p PopUp) error {
	ctx, span := w.t.start(ctx, "match.store PopUp")
	err := w.s.PopUp(ctx, p)
	endSpan(span, err)
	return err
}
