package live

import (
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// Update types: the "type" of an Update and the SSE event name of its
// frame.
const (
	// TypeCall: a call the employee is on changed (Update.Call).
	TypeCall = "call"
	// TypeCard: the client card of a call for the employee (Update.Card).
	TypeCard = "card"
	// TypeNotification: the employee is told about a call
	// (Update.Notification).
	TypeNotification = "notification"
	// TypeStatus: the employee's status changed (Update.Status).
	TypeStatus = "status"
	// TypeCampaign: the dialing list the employee works changed
	// (Update.Campaign).
	TypeCampaign = "campaign"
	// TypeSync: the first update of a stream that does not resume: the
	// calls in progress the subscriber is on (Update.Calls).
	TypeSync = "sync"
	// TypeReset: a stream could not resume where the client left off
	// (its Last-Event-ID is older than the history, or of another run):
	// updates were missed, so the client reloads whatever it shows
	// (notifications, lists) and takes Update.Calls as the calls now.
	TypeReset = "reset"
)

// Update is one change of an employee's screen, the JSON data of one SSE
// event. Type says which of the other fields is set.
type Update struct {
	Type         string              `json:"type"`
	Call         *Call               `json:"call,omitempty"`
	Card         *Card               `json:"card,omitempty"`
	Notification *match.Notification `json:"notification,omitempty"`
	Status       *Status             `json:"status,omitempty"`
	Campaign     *Campaign           `json:"campaign,omitempty"`
	// Calls are the calls in progress of a sync or reset, oldest first
	// (empty, not absent, when there are none).
	Calls []Call `json:"calls,omitzero"`
	// Reason says why a reset happened.
	Reason string `json:"reason,omitempty"`
}

// Call is a call as an employee's screen shows it: the engine's view of
// the call in progress (match.LiveCall) with the employee of each leg and
// the state of the whole call; once decided, its outcome.
type Call struct {
	Provider    string              `json:"provider"`
	Account     string              `json:"account"`
	CallID      string              `json:"call_id"`
	Direction   callevent.Direction `json:"direction"`
	ClientPhone string              `json:"client_phone"`
	LinePhone   string              `json:"line_phone,omitempty"`
	// State is the call's: talking when a leg talks, else on_hold when
	// one is on hold, else ringing when one rings, else ended (also once
	// decided). Never transferred: that is a leg's.
	State      match.LegState `json:"state"`
	StartedAt  time.Time      `json:"started_at"`
	AnsweredAt time.Time      `json:"answered_at,omitzero"`
	// ClientID is the client found or created for the call, "" while
	// none is.
	ClientID string `json:"client_id,omitempty"`
	// Legs are the call's legs in the order they started.
	Legs []Leg `json:"legs"`

	// Decided is set on the last update of a call: the engine decided
	// it. Status, LeadID and Employee are the decision's.
	Decided bool             `json:"decided,omitempty"`
	Status  callevent.Status `json:"status,omitempty"`
	LeadID  string           `json:"lead_id,omitempty"`
	// Employee is the id of the employee the call belongs to (who
	// answered or called; for a missed call the responsible).
	Employee string `json:"employee,omitempty"`
}

// Leg is a leg of a call with the employee whose phone it is.
type Leg struct {
	match.Leg
	// Employee is the id of the employee of the leg's extension or
	// login, "" when the directory has none.
	Employee string `json:"employee,omitempty"`
}

// Card is the client card an employee sees during a call: the engine's
// pop-up (match.PopUp) with what the CRM adds through WithCards (links,
// company, last calls).
type Card struct {
	Phase     match.Phase         `json:"phase"`
	Provider  string              `json:"provider"`
	Account   string              `json:"account"`
	CallID    string              `json:"call_id"`
	Direction callevent.Direction `json:"direction"`
	// Employee is the id of the employee who sees the card.
	Employee    string `json:"employee"`
	ClientPhone string `json:"client_phone"`
	LinePhone   string `json:"line_phone,omitempty"`
	// Client is the caller's client; its ID is empty for an unknown
	// number.
	Client match.Client `json:"client,omitzero"`
	// ClientURL opens the client in the CRM.
	ClientURL string `json:"client_url,omitempty"`
	// Company is the client's company, when the CRM keeps one.
	Company string `json:"company,omitempty"`
	// Created reports that the engine created Client for this call.
	Created bool `json:"created,omitempty"`
	// Offer: the number is unknown and the card offers to create a
	// client.
	Offer bool `json:"offer,omitempty"`
	// Leads are the client's open leads, newest first.
	Leads []CardLead `json:"leads,omitempty"`
	// LastCalls are the client's latest calls, newest first.
	LastCalls []match.CallRecord `json:"last_calls,omitempty"`
	At        time.Time          `json:"at"`
}

// CardLead is an open lead on a card, with its link.
type CardLead struct {
	match.Lead
	// URL opens the lead in the CRM.
	URL string `json:"url,omitempty"`
}

// Status is an employee's status (available, away, …) as the CRM names
// it.
type Status struct {
	Employee string `json:"employee"`
	Status   string `json:"status"`
	// Online says whether calls are distributed to the employee.
	Online bool      `json:"online"`
	At     time.Time `json:"at"`
}

// Campaign states (Campaign.State).
const (
	// CampaignDialing: the target's call is being placed.
	CampaignDialing = "dialing"
	// CampaignTalking: the target answered.
	CampaignTalking = "talking"
	// CampaignWrapUp: the call is over; the next one is placed at
	// Campaign.WrapUpUntil unless the employee is ready sooner.
	CampaignWrapUp = "wrap_up"
	// CampaignPaused: no call is placed until the employee is ready.
	CampaignPaused = "paused"
	// CampaignDone: the list is worked through.
	CampaignDone = "done"
)

// Campaign is the state of a dialing list (a power dialer's campaign)
// for the employee who works it: where it is, the target being called,
// and the wrap-up time after each call (seed 002: «Время постобработки
// звонка при обзвоне»). The dialer publishes it (Hub.CampaignChanged);
// the employee's screen shows the target's card and counts the wrap-up
// down.
type Campaign struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Employee string `json:"employee"`
	// State is one of the Campaign* states.
	State  string          `json:"state"`
	Target *CampaignTarget `json:"target,omitempty"`
	// WrapUpUntil is when the wrap-up ends (State CampaignWrapUp), and
	// WrapUp its length, so a screen whose clock differs from the
	// server's counts it down from when the update arrives.
	WrapUpUntil time.Time         `json:"wrap_up_until,omitzero"`
	WrapUp      callevent.Seconds `json:"wrap_up_sec,omitempty"`
	// Position is the 1-based number of Target in the list, of Total.
	Position int `json:"position,omitempty"`
	Total    int `json:"total,omitempty"`
	// Dispositions are the outcomes the employee may record for a call.
	Dispositions []string  `json:"dispositions,omitempty"`
	At           time.Time `json:"at"`
}

// CampaignTarget is the entry of a dialing list being called: a contact,
// a company or a lead, with its number and the call placed to it.
type CampaignTarget struct {
	// ID is the dialer's id of the entry.
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Phone    string `json:"phone"`
	ClientID string `json:"client_id,omitempty"`
	// URL opens the entry's card in the CRM (a lead, a contact).
	URL      string `json:"url,omitempty"`
	Provider string `json:"provider,omitempty"`
	CallID   string `json:"call_id,omitempty"`
}

// cardOf is the card of an engine's pop-up.
func cardOf(p match.PopUp) Card {
	c := Card{Phase: p.Phase, Provider: p.Provider, Account: p.Account, CallID: p.CallID, Direction: p.Direction,
		Employee: p.Employee, ClientPhone: p.ClientPhone, LinePhone: p.LinePhone, Client: p.Client,
		Created: p.Created, Offer: p.Offer, At: p.At}
	if len(p.Leads) > 0 {
		c.Leads = make([]CardLead, len(p.Leads))
		for i, l := range p.Leads {
			c.Leads[i] = CardLead{Lead: l}
		}
	}
	return c
}

// stateOf is the state of a call with legs: see Call.State. A call
// whose provider names no leg is talking once answered, else ringing.
func stateOf(c match.LiveCall) match.LegState {
	var ringing, held bool
	for _, l := range c.Legs {
		switch l.State {
		case match.LegTalking:
			return match.LegTalking
		case match.LegOnHold:
			held = true
		case match.LegRinging:
			ringing = true
		}
	}
	switch {
	case held:
		return match.LegOnHold
	case ringing:
		return match.LegRinging
	case len(c.Legs) > 0:
		return match.LegEnded
	case !c.AnsweredAt.IsZero():
		return match.LegTalking
	}
	return match.LegRinging
}
