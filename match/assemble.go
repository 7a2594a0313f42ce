package match

import (
	"cmp"
	"slices"

	"github.com/callbridge/callbridge/callevent"
)

// maxCallEvents bounds the events kept per call; further distinct events
// of one call are dropped (and logged).
const maxCallEvents = 64

// assembled is what the events of one call say, independent of the order
// they arrived in.
type assembled struct {
	rec       CallRecord // without ClientID, LeadID, Employee
	internal  bool
	answered  bool
	completed bool // a Completed event was seen
	openLegs  bool // a leg rang or was answered and has not ended
	ended     bool // some leg ended or completed
	legged    bool // the provider reports legs (some event has a LegID)
	handler   string
	handlerBy string // "extension" or "login"
	// contactRef is the client the provider named (Event.ContactRef).
	contactRef string
	// rang is the first extension (or login) the call rang or was placed
	// from, for a call nobody answered.
	rang string
	// events are the call's events (eventOrder), read-only.
	events []callevent.Event
}

// eventOrder sorts events by time, then kind, then id, so every fold over
// them is deterministic whatever the delivery order.
func eventOrder(a, b callevent.Event) int {
	return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
}

// assemble folds the events of one call (already sorted by eventOrder)
// into a call record.
func assemble(evs []callevent.Event) assembled {
	s := assembled{events: evs}
	r := &s.rec
	legs := make(map[string]uint8, 2) // bit 1: started, bit 2: closed
	var completedStatus, endedStatus callevent.Status
	legMissed := false // some leg reported the call missed
	var answerExt, answerEmp, anyExt, anyEmp string
	// After a transfer the call belongs to whoever answered last: the one
	// who talked when it ended, not the first agent of the group.
	var lastExt, lastEmp string
	transferred := false
	for i := range evs {
		e := &evs[i]
		if r.Provider == "" {
			r.Provider, r.Account, r.CallID = e.Provider, e.Account, e.CallID
		}
		if e.Direction == callevent.Internal {
			s.internal = true
		}
		if r.Direction == 0 {
			r.Direction = e.Direction
		}
		if r.ClientPhone == "" {
			r.ClientPhone = e.ClientPhone
		}
		if r.LinePhone == "" {
			r.LinePhone = e.LinePhone
		}
		if r.RecordingURL == "" {
			r.RecordingURL = e.RecordingURL
		}
		if s.contactRef == "" {
			s.contactRef = e.ContactRef
		}
		if e.Kind == callevent.Rated && e.Rating > 0 {
			r.Rating = e.Rating // the last rating counts
		}
		if r.StartedAt.IsZero() || e.At.Before(r.StartedAt) {
			r.StartedAt = e.At
		}
		answeredAt := e.AnsweredAt
		if e.Kind == callevent.Answered && answeredAt.IsZero() {
			answeredAt = e.At
		}
		if !answeredAt.IsZero() && (r.AnsweredAt.IsZero() || answeredAt.Before(r.AnsweredAt)) {
			r.AnsweredAt = answeredAt
		}
		endedAt := e.EndedAt
		if e.Kind == callevent.Ended && endedAt.IsZero() {
			endedAt = e.At
		}
		if endedAt.After(r.EndedAt) {
			r.EndedAt = endedAt
		}
		r.Duration = max(r.Duration, e.Duration)
		r.Wait = max(r.Wait, e.Wait)
		if anyExt == "" && anyEmp == "" {
			anyExt, anyEmp = e.Extension, e.Employee
		}
		if e.LegID != "" {
			s.legged = true
		}
		success := e.Status == callevent.Success
		if e.Status == callevent.Missed && (e.Kind == callevent.Completed || e.Kind == callevent.Ended) {
			legMissed = true
		}
		switch e.Kind {
		case callevent.Ringing, callevent.Transferred:
			legs[e.LegID] |= 1
		case callevent.Answered:
			legs[e.LegID] |= 1
			s.answered = true
		case callevent.Ended:
			legs[e.LegID] |= 2
			s.ended = true
			if endedStatus == 0 {
				endedStatus = e.Status
			}
		case callevent.Completed:
			legs[e.LegID] |= 2
			s.ended, s.completed = true, true
			if completedStatus == 0 {
				completedStatus = e.Status
			}
		}
		if success || e.Kind == callevent.Answered || !e.AnsweredAt.IsZero() {
			s.answered = true
			if answerExt == "" && answerEmp == "" && (e.Kind == callevent.Answered || success) {
				answerExt, answerEmp = e.Extension, e.Employee
			}
		}
		if e.Kind == callevent.Answered && (e.Extension != "" || e.Employee != "") {
			lastExt, lastEmp = e.Extension, e.Employee
		}
		if e.Kind == callevent.Transferred {
			transferred = true
		}
	}
	for _, st := range legs {
		if st == 1 {
			s.openLegs = true
		}
	}
	switch {
	case s.answered:
		r.Status = callevent.Success
	case legMissed && r.Direction != callevent.Outbound:
		// An unanswered inbound call is missed as a whole even when some
		// legs (the agents a queue rang) report their own outcome.
		r.Status = callevent.Missed
	case completedStatus != 0:
		r.Status = completedStatus
	case endedStatus != 0:
		r.Status = endedStatus
	case r.Direction == callevent.Outbound:
		r.Status = callevent.Canceled
	default:
		r.Status = callevent.Missed
	}
	if s.answered && r.Duration == 0 && !r.AnsweredAt.IsZero() && r.EndedAt.After(r.AnsweredAt) {
		r.Duration = r.EndedAt.Sub(r.AnsweredAt)
	}
	if r.Wait == 0 {
		until := r.EndedAt
		if s.answered {
			until = r.AnsweredAt
		}
		if !until.IsZero() && until.After(r.StartedAt) {
			r.Wait = until.Sub(r.StartedAt)
		}
	}
	// Who handled the call: who answered it (inbound) or placed it
	// (outbound). A missed inbound call has no handler.
	ext, emp := "", ""
	switch {
	case r.Direction == callevent.Outbound:
		ext, emp = anyExt, anyEmp
	case s.answered && transferred && (lastExt != "" || lastEmp != ""):
		ext, emp = lastExt, lastEmp
	case s.answered:
		ext, emp = answerExt, answerEmp
	}
	r.Extension = ext
	s.rang = cmp.Or(anyExt, anyEmp)
	switch {
	case ext != "":
		s.handler, s.handlerBy = ext, "extension"
	case emp != "":
		s.handler, s.handlerBy = emp, "login"
	}
	return s
}

// callCase classifies a call for the rules.
func callCase(a assembled) Case {
	switch {
	case a.rec.Direction == callevent.Outbound && a.answered:
		return OutboundAnswered
	case a.rec.Direction == callevent.Outbound:
		return OutboundMissed
	case a.answered:
		return InboundAnswered
	default:
		return InboundMissed
	}
}

// insertEvent adds e to evs keeping eventOrder; it reports false if an
// event with the same ID is already there or evs is full.
func insertEvent(evs []callevent.Event, e callevent.Event) ([]callevent.Event, bool) {
	for i := range evs {
		if evs[i].ID == e.ID {
			return evs, false
		}
	}
	if len(evs) >= maxCallEvents {
		return evs, false
	}
	e.Raw = nil // not needed for the record; keeps per-call memory small
	i, _ := slices.BinarySearchFunc(evs, e, eventOrder)
	return slices.Insert(evs, i, e), true
}

// dialogNotes are the notes of the call's events in Salebot's dialog
// (Rule.Dialog), each name once, in time order (an end at its time).
func dialogNotes(evs []callevent.Event) []DialogNote {
	var notes []DialogNote
	var talked []string // legs that answered
	for _, e := range evs {
		if e.Kind == callevent.Answered && e.LegID != "" {
			talked = append(talked, e.LegID)
		}
		name := dialogEvent(e, e.LegID != "" && slices.Contains(talked, e.LegID))
		if name == "" || slices.ContainsFunc(notes, func(n DialogNote) bool { return n.Text == name }) {
			continue
		}
		at := e.At
		if name == "COMPLETED" && e.EndedAt.After(at) { // a history record is stamped with the call's start
			at = e.EndedAt
		}
		notes = append(notes, DialogNote{Provider: e.Provider, CallID: e.CallID, Text: name, At: at})
	}
	slices.SortStableFunc(notes, func(a, b DialogNote) int { return a.At.Compare(b.At) })
	return notes
}

// dialogEvent names e as Salebot's dialog does (seed 001): ACCEPTED (the
// manager picked up), COMPLETED (hung up after talking: the end of a leg
// that answered, or of an answered call), OUTGOING (the manager calls),
// TRANSFERRED; "" for an event it does not show.
func dialogEvent(e callevent.Event, legTalked bool) string {
	switch {
	case e.Kind == callevent.Answered:
		return "ACCEPTED"
	case (e.Kind == callevent.Ended || e.Kind == callevent.Completed) && (legTalked || e.Status == callevent.Success || !e.AnsweredAt.IsZero()):
		return "COMPLETED"
	case e.Kind == callevent.Ringing && e.Direction == callevent.Outbound:
		return "OUTGOING"
	case e.Kind == callevent.Transferred:
		return "TRANSFERRED"
	}
	return ""
}
