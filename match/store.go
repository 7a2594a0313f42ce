package match

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// Channel is the kind of client record: how the CRM can reach the client.
type Channel string

// Client channels. Any other messenger name ("viber", "telegram", …) is a
// valid Channel too.
const (
	// ChannelTelephony is a client the CRM can only call (Salebot's
	// "telephony client").
	ChannelTelephony Channel = "telephony"
	// ChannelWhatsApp is a WhatsApp client, created for an unknown number
	// when the account has WhatsApp connected.
	ChannelWhatsApp Channel = "whatsapp"
)

// Client is a CRM client (amoCRM contact, Salebot client, Perfectum
// customer).
//
// Values returned by a store share their Tags and Fields with the store:
// treat them as read-only.
type Client struct {
	// ID is the store's id of the client, unique within the account.
	ID string `json:"id"`
	// Account is the tenant the client belongs to (see callevent.Event.Account).
	Account string `json:"account,omitempty"`
	Name    string `json:"name"`
	// Phone is the client's normalised telephony number: what step 1 of
	// the matching order matches.
	Phone   string  `json:"phone"`
	Channel Channel `json:"channel"`
	// Responsible is the id of the employee who owns the client.
	Responsible string `json:"responsible"`
	// CreatedFromCall is true for clients the engine created for an
	// unknown number.
	CreatedFromCall bool `json:"created_from_call"`
	// Tags label the client; the engine tags a client it creates for an
	// inbound call with the company number that was dialled.
	Tags []string `json:"tags,omitempty"`
	// Fields are the client's other fields or variables ("work_phone",
	// "whatsapp", …). Step 2 of the matching order matches every value
	// that normalises to the phone.
	Fields    map[string]string `json:"fields,omitempty"`
	CreatedAt time.Time         `json:"created_at,omitzero"`
}

// LeadState classifies a lead's status: only open leads are active.
type LeadState uint8

// Lead states.
const (
	// LeadOpen is an active lead: not won, lost or unqualified.
	LeadOpen LeadState = iota
	LeadWon
	LeadLost
	LeadUnqualified
)

var leadStateNames = [...]string{"open", "won", "lost", "unqualified"}

// String returns "open", "won", "lost" or "unqualified".
func (s LeadState) String() string {
	if int(s) < len(leadStateNames) {
		return leadStateNames[s]
	}
	return "LeadState(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (s LeadState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; "" is LeadOpen.
func (s *LeadState) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = LeadOpen
		return nil
	}
	for i, n := range leadStateNames {
		if n == string(b) {
			*s = LeadState(i)
			return nil
		}
	}
	return fmt.Errorf("match: unknown lead state %q", b)
}

// Lead is a CRM deal (amoCRM сделка, Perfectum лід).
type Lead struct {
	ID       string `json:"id"`
	Account  string `json:"account,omitempty"`
	ClientID string `json:"client_id"`
	// Phone is the number of a lead without a client (ClientID empty):
	// Perfectum creates leads, not clients, for unknown numbers, and finds
	// them by the number (see PhoneLeads). Normalised; empty for a lead of
	// a client.
	Phone    string `json:"phone,omitempty"`
	Name     string `json:"name"`
	Pipeline string `json:"pipeline,omitempty"`
	// Status is the CRM's status (stage) name or id.
	Status string `json:"status"`
	// State says whether Status is open, won, lost or unqualified.
	State  LeadState `json:"state"`
	Source string    `json:"source,omitempty"`
	// Provider and CallID are the call that created the lead: the engine
	// sets them for the leads it creates; they are empty for other leads.
	// A store keeps one lead per Provider and CallID in an account (see
	// LeadStore.CreateLead), so a replayed decision creates no second lead.
	Provider    string    `json:"provider,omitempty"`
	CallID      string    `json:"call_id,omitempty"`
	Responsible string    `json:"responsible"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
}

// Active reports whether the lead is open (not won, lost or unqualified).
func (l Lead) Active() bool { return l.State == LeadOpen }

// CallRecord is one call as the engine assembled it from its events, with
// the client, lead and employee it was attached to.
type CallRecord struct {
	Provider  string              `json:"provider"`
	Account   string              `json:"account"`
	CallID    string              `json:"call_id"`
	Direction callevent.Direction `json:"direction"`
	Status    callevent.Status    `json:"status"`
	ClientID  string              `json:"client_id"`
	// ClientPhone is the normalised external number, "" if anonymous.
	ClientPhone string `json:"client_phone"`
	// Employee is the id of the employee the call belongs to: who answered
	// (inbound) or called (outbound); for a missed call the responsible
	// ("Кому" in amoCRM).
	Employee string `json:"employee"`
	// Extension is the short number that answered or called.
	Extension    string        `json:"extension"`
	LinePhone    string        `json:"line_phone"`
	StartedAt    time.Time     `json:"started_at"`
	AnsweredAt   time.Time     `json:"answered_at,omitzero"`
	EndedAt      time.Time     `json:"ended_at,omitzero"`
	Duration     time.Duration `json:"-"`
	Wait         time.Duration `json:"-"`
	RecordingURL string        `json:"recording_url"`
	LeadID       string        `json:"lead_id"`
	// Rating is the client's score of the call (a Rated event, e.g.
	// MegaFon's rating), 0 if the call was not rated.
	Rating int `json:"rating,omitempty"`
}

// MarshalJSON encodes Duration and Wait as duration_sec and wait_sec, in
// callevent.Seconds like every duration callbridge writes.
func (r CallRecord) MarshalJSON() ([]byte, error) {
	type plain CallRecord
	return json.Marshal(struct {
		plain
		Duration callevent.Seconds `json:"duration_sec"`
		Wait     callevent.Seconds `json:"wait_sec"`
	}{plain(r), callevent.Seconds(r.Duration), callevent.Seconds(r.Wait)})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (r *CallRecord) UnmarshalJSON(b []byte) error {
	type plain CallRecord
	var v struct {
		plain
		Duration callevent.Seconds `json:"duration_sec"`
		Wait     callevent.Seconds `json:"wait_sec"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = CallRecord(v.plain)
	r.Duration, r.Wait = time.Duration(v.Duration), time.Duration(v.Wait)
	return nil
}

// Employee is a user of the CRM who takes calls.
type Employee struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Login string `json:"login,omitempty"`
	Email string `json:"email,omitempty"`
	// Extensions are the employee's short numbers; several may map to one
	// employee.
	Extensions []string `json:"extensions,omitempty"`
	Admin      bool     `json:"admin,omitempty"`
}

// NotificationKind says why an employee is notified.
type NotificationKind uint8

// Notification kinds.
const (
	// NotifyMissed: an inbound call was not answered.
	NotifyMissed NotificationKind = iota + 1
	// NotifyCall: any other call, told to the employees chosen for every
	// call (NotifyRule.Extra).
	NotifyCall
	// NotifyTaskOverdue: the call-back task of a missed call is overdue,
	// told to the account's admins (Engine.EscalateOverdue). Provider and
	// CallID are the missed call's.
	NotifyTaskOverdue
	// NotifyIntegration: a CRM integration stopped working (its OAuth
	// tokens cannot be renewed: revoked, or the renewal fails), told to
	// the admins. Provider is the CRM ("amocrm"), CallID names the failure
	// (one notification per failure and admin), Reason says what failed
	// and what to do.
	NotifyIntegration
)

// String returns "missed", "call", "task_overdue" or "integration".
func (k NotificationKind) String() string {
	switch k {
	case NotifyMissed:
		return "missed"
	case NotifyCall:
		return "call"
	case NotifyTaskOverdue:
		return "task_overdue"
	case NotifyIntegration:
		return "integration"
	}
	return "NotificationKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (k NotificationKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *NotificationKind) UnmarshalText(b []byte) error {
	for _, v := range [...]NotificationKind{NotifyMissed, NotifyCall, NotifyTaskOverdue, NotifyIntegration} {
		if v.String() == string(b) {
			*k = v
			return nil
		}
	}
	return fmt.Errorf("match: unknown notification kind %q", b)
}

// Notification tells one employee about a call.
type Notification struct {
	Kind        NotificationKind `json:"kind"`
	Account     string           `json:"account"`
	Employee    string           `json:"employee"`
	Provider    string           `json:"provider"`
	CallID      string           `json:"call_id"`
	ClientID    string           `json:"client_id,omitempty"`
	ClientPhone string           `json:"client_phone,omitempty"`
	LeadID      string           `json:"lead_id,omitempty"`
	// Reason says why this employee is told: "responsible", "admin",
	// "unknown number", "extra"; for NotifyTaskOverdue which task is
	// overdue since when.
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// ClientStore finds and creates clients. Phones passed in are normalised.
type ClientStore interface {
	// FindClientByPhone returns the first client (in a stable order) whose
	// Phone is phone.
	FindClientByPhone(ctx context.Context, account, phone string) (c Client, found bool, err error)
	// FindClientsByField returns up to limit clients, in a stable order,
	// with any field or variable holding phone (compared after phone.Normalize).
	FindClientsByField(ctx context.Context, account, phone string, limit int) ([]Client, error)
	// CreateClient stores c (c.ID empty: the store assigns one) and returns
	// it as stored.
	CreateClient(ctx context.Context, c Client) (Client, error)
}

// A UniquePhones store keeps at most one client per phone in an account
// (a unique index, a lock). The engine creates an unknown caller's client
// with FindOrCreateClient, in one step, instead of asking FindClientByPhone
// once more just before CreateClient (whether a concurrent call created
// it meanwhile).
type UniquePhones interface {
	// FindOrCreateClient creates c as CreateClient does unless a client of
	// c.Account has c.Phone (normalised); then it creates nothing and
	// returns that client with created false.
	FindOrCreateClient(ctx context.Context, c Client) (_ Client, created bool, err error)
}

// A ClientGetter finds a client by its id. A ClientStore that is one lets
// the engine take the client a provider names (callevent.Event.ContactRef,
// e.g. Finaz's pid) before it matches by phone.
type ClientGetter interface {
	// FindClient returns the client of account with id.
	FindClient(ctx context.Context, account, id string) (c Client, found bool, err error)
}

// DialogNote is a line of a client's dialog: something that happened in
// one of its calls ("megafon_call_event ACCEPTED").
type DialogNote struct {
	Provider string    `json:"provider"`
	CallID   string    `json:"call_id"`
	Text     string    `json:"text"`
	At       time.Time `json:"at"`
}

// A Dialog keeps the notes of clients' dialogs (Rule.Dialog).
type Dialog interface {
	// AddDialogNotes adds notes, in order, to the dialog of the client of
	// account with id clientID (one call's notes at once, so a remote CRM
	// is asked once). It is idempotent: a note with the Provider, CallID
	// and Text of one the client has is not added again.
	AddDialogNotes(ctx context.Context, account, clientID string, notes []DialogNote) error
}

// A ClientUpdater changes clients' fields (Rule.Dialog's call variables).
type ClientUpdater interface {
	// SetClientFields merges fields into the fields of the client of
	// account with id clientID; an empty value removes the field. The
	// client's limits (MaxClientFields, MaxValueLen) hold.
	SetClientFields(ctx context.Context, account, clientID string, fields map[string]string) error
}

// MergeFields returns fields with set merged in, a key set to "" removed:
// what ClientUpdater.SetClientFields does to a client's fields. Neither
// map is changed.
func MergeFields(fields, set map[string]string) map[string]string {
	out := make(map[string]string, len(fields)+len(set))
	for k, v := range fields {
		out[k] = v
	}
	for k, v := range set {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// A Reassigner hands a client or a lead to another employee. The engine
// uses it for a client it created when an inbound call was answered (and
// the lead it created then) when the call was transferred afterwards: both
// go to the employee who talked last.
type Reassigner interface {
	// SetClientResponsible makes employee the responsible of the client
	// of account with id.
	SetClientResponsible(ctx context.Context, account, id, employee string) error
	// SetLeadResponsible makes employee the responsible of the lead of
	// account with id.
	SetLeadResponsible(ctx context.Context, account, id, employee string) error
}

// LeadStore reads and writes a client's leads.
type LeadStore interface {
	// ClientLeads returns the client's leads, newest first.
	ClientLeads(ctx context.Context, account, clientID string) ([]Lead, error)
	// CreateLead stores l (l.ID empty: the store assigns one) and returns
	// it as stored.
	//
	// CreateLead is idempotent by call: when l.CallID is not empty and the
	// account already has a lead with l's Provider and CallID, CreateLead
	// returns that lead (as stored) and creates nothing, whatever l's other
	// values, also when several CreateLead for one call run at once. Leads
	// with an empty CallID are never merged.
	CreateLead(ctx context.Context, l Lead) (Lead, error)
	// ReopenLead moves a closed lead to status, making it active again.
	ReopenLead(ctx context.Context, account, leadID, status string) (Lead, error)
}

// A PhoneLeads store keeps leads without a client: a LeadStore whose
// CreateLead takes a Lead with an empty ClientID and a Phone. The engine
// then creates and finds the leads of unknown numbers without creating a
// client first (Perfectum, seed 003).
type PhoneLeads interface {
	// PhoneLeads returns the leads without a client whose Phone is phone
	// (normalised), newest first.
	PhoneLeads(ctx context.Context, account, phone string) ([]Lead, error)
}

// CallLog records calls.
type CallLog interface {
	// LogCall records rec, replacing an earlier record of the same
	// Provider, Account and CallID (the engine logs a call again when it
	// attaches it late or learns more about it).
	LogCall(ctx context.Context, rec CallRecord) error
}

// Directory knows the account's employees.
type Directory interface {
	// FindEmployee returns the employee with key as one of its extensions
	// or as its login.
	FindEmployee(ctx context.Context, account, key string) (e Employee, found bool, err error)
	// Employees returns every employee of the account in a stable order.
	Employees(ctx context.Context, account string) ([]Employee, error)
	// Online returns the ids of the employees online now.
	Online(ctx context.Context, account string) ([]string, error)
}

// Notifier tells an employee about a call.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Phase is a moment of a live call at which the engine acts before the
// call is over (seed 002 creates contacts and shows cards during the call).
type Phase uint8

// Phases of a live call.
const (
	// PhaseRinging: an inbound call rings an employee.
	PhaseRinging Phase = iota + 1
	// PhaseDialing: an employee places an outbound call.
	PhaseDialing
	// PhaseAnswered: the call is answered.
	PhaseAnswered
)

var phaseNames = [...]string{"", "ringing", "dialing", "answered"}

// String returns "ringing", "dialing" or "answered".
func (p Phase) String() string {
	if int(p) < len(phaseNames) && p > 0 {
		return phaseNames[p]
	}
	return "Phase(" + strconv.Itoa(int(p)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Phase) UnmarshalText(b []byte) error {
	for i, n := range phaseNames {
		if i > 0 && n == string(b) {
			*p = Phase(i)
			return nil
		}
	}
	return fmt.Errorf("match: unknown phase %q", b)
}

// PopUp is the card an employee sees during a live call: who is calling,
// with the client's open leads, or an offer to create a client for an
// unknown number.
type PopUp struct {
	Phase     Phase               `json:"phase"`
	Account   string              `json:"account"`
	Provider  string              `json:"provider"`
	CallID    string              `json:"call_id"`
	Direction callevent.Direction `json:"direction"`
	// Employee is the id of the employee who sees the card: one the call
	// rang (PhaseRinging), who placed it (PhaseDialing) or who answered
	// (PhaseAnswered).
	Employee    string `json:"employee"`
	ClientPhone string `json:"client_phone"`
	LinePhone   string `json:"line_phone,omitempty"`
	// Client is the caller's client; its ID is empty when the number is
	// unknown.
	Client Client `json:"client,omitzero"`
	// Created reports that the engine created Client for this call.
	Created bool `json:"created,omitempty"`
	// Leads are the client's active leads, newest first.
	Leads []Lead `json:"leads,omitempty"`
	// Offer: the number is unknown and the rule does not create clients
	// for it, so the card offers to create a contact or a company. A
	// client with the number created by any means within the late-binding
	// window gets the call.
	Offer bool      `json:"offer,omitempty"`
	At    time.Time `json:"at"`
}

// A PopUpper shows employees the card of a live call (amoCRM's
// incoming-call pop-up, a CRM's own screen). The engine calls it once per
// call, employee and phase, from the goroutine that delivers the event;
// an error is logged and does not fail the event.
type PopUpper interface {
	PopUp(ctx context.Context, p PopUp) error
}
