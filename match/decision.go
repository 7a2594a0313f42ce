package match

import (
	"fmt"
	"log/slog"
	"strings"
)

// ActionKind names what the engine did (or, in a dry run, would do).
type ActionKind uint8

// Action kinds.
const (
	// ActIgnore: the call is not handled (internal, anonymous, …).
	ActIgnore ActionKind = iota + 1
	// ActFindClient: an existing client was matched.
	ActFindClient
	// ActCreateClient: a client was created for an unknown number.
	ActCreateClient
	// ActNoClient: the number stays unknown; the call waits for late binding.
	ActNoClient
	// ActResponsible: the employee the call (and new records) belong to.
	ActResponsible
	// ActAttachLead: the call was attached to an existing active lead.
	ActAttachLead
	// ActReopenLead: a lost lead was reopened and the call attached to it.
	ActReopenLead
	// ActCreateLead: a lead was created and the call attached to it.
	ActCreateLead
	// ActNoLead: no lead was created, and why.
	ActNoLead
	// ActLogCall: the call was written to the call log.
	ActLogCall
	// ActNotify: an employee was (or will be, after a delay) notified.
	ActNotify
	// ActBindLate: a call that waited was attached to a client that appeared.
	ActBindLate
	// ActDialog: the call was written into the client's dialog and
	// variables (Rule.Dialog).
	ActDialog
	// ActCreateTask: a missed call became a call-back task (Rule.Task),
	// or why it did not.
	ActCreateTask
	// ActCloseTasks: an answered call closed the open call-back tasks of
	// its number.
	ActCloseTasks
)

var actionNames = [...]string{"", "ignore", "find client", "create client", "no client", "responsible",
	"attach lead", "reopen lead", "create lead", "no lead", "log call", "notify", "bind late", "dialog",
	"create task", "close tasks"}

// String returns e.g. "create client".
func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", k)
}

// MarshalText implements encoding.TextMarshaler.
func (k ActionKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Action is one step of a Decision with its reason.
type Action struct {
	Kind     ActionKind `json:"kind"`
	ClientID string     `json:"client_id,omitempty"`
	LeadID   string     `json:"lead_id,omitempty"`
	Employee string     `json:"employee,omitempty"`
	Reason   string     `json:"reason"`
}

// String renders the action for people: "create client c7: unknown number …".
func (a Action) String() string {
	var b strings.Builder
	b.WriteString(a.Kind.String())
	for _, kv := range [...][2]string{{"client", a.ClientID}, {"lead", a.LeadID}, {"employee", a.Employee}} {
		if kv[1] != "" {
			b.WriteString(" " + kv[0] + "=" + kv[1])
		}
	}
	if a.Reason != "" {
		b.WriteString(": " + a.Reason)
	}
	return b.String()
}

// Decision explains what the engine did with one call, so integrators can
// debug their rules. The engine logs every Decision at debug level;
// Engine.DryRun returns one without writing anything.
type Decision struct {
	// Call is the record as logged (in a dry run: as it would be).
	Call CallRecord `json:"call"`
	// Case is the situation the rules were applied for; 0 when ignored.
	Case Case `json:"case"`
	// Line is the name of the line rule used, "" for the account rule.
	Line    string   `json:"line,omitempty"`
	Actions []Action `json:"actions"`
}

// String renders the decision, one action per line.
func (d Decision) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "call %s/%s/%s", d.Call.Provider, d.Call.Account, d.Call.CallID)
	if d.Case != 0 {
		fmt.Fprintf(&b, " (%s", d.Case)
		if d.Line != "" {
			fmt.Fprintf(&b, ", line rule %q", d.Line)
		}
		b.WriteString(")")
	}
	for _, a := range d.Actions {
		b.WriteString("\n  " + a.String())
	}
	return b.String()
}

// LogValue implements slog.LogValuer.
func (d Decision) LogValue() slog.Value {
	acts := make([]string, len(d.Actions))
	for i, a := range d.Actions {
		acts[i] = a.String()
	}
	return slog.GroupValue(
		slog.String("provider", d.Call.Provider), slog.String("account", d.Call.Account),
		slog.String("call_id", d.Call.CallID), slog.String("case", d.Case.String()),
		slog.String("line", d.Line), slog.Any("actions", acts))
}

func (d *Decision) add(k ActionKind, clientID, leadID, employee, reason string, args ...any) {
	if len(args) > 0 {
		reason = fmt.Sprintf(reason, args...)
	}
	d.Actions = append(d.Actions, Action{Kind: k, ClientID: clientID, LeadID: leadID, Employee: employee, Reason: reason})
}
