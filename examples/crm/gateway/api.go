package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
)

// Call is one element of GET /api/calls.
type Call struct {
	Provider     string     `json:"provider"`
	Account      string     `json:"account"`
	CallID       string     `json:"call_id"`
	Direction    string     `json:"direction"`
	Status       string     `json:"status"`
	ClientID     string     `json:"client_id"`
	ClientPhone  string     `json:"client_phone"`
	Employee     string     `json:"employee"`
	Extension    string     `json:"extension"`
	LinePhone    string     `json:"line_phone"`
	StartedAt    time.Time  `json:"started_at"`
	AnsweredAt   *time.Time `json:"answered_at"`
	EndedAt      *time.Time `json:"ended_at"`
	DurationSec  int64      `json:"duration_sec"`
	WaitSec      int64      `json:"wait_sec"`
	RecordingURL string     `json:"recording_url"`
	LeadID       string     `json:"lead_id"`
}

// Client is one element of GET /api/clients.
type Client struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Phone           string `json:"phone"`
	Channel         string `json:"channel"`
	Responsible     string `json:"responsible"`
	CreatedFromCall bool   `json:"created_from_call"`
}

// Lead is one element of GET /api/leads.
type Lead struct {
	ID          string `json:"id"`
	ClientID    string `json:"client_id"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	Source      string `json:"source"`
	Responsible string `json:"responsible"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func callOf(r match.CallRecord) Call {
	return Call{
		Provider: r.Provider, Account: r.Account, CallID: r.CallID,
		Direction: r.Direction.String(), Status: r.Status.String(),
		ClientID: r.ClientID, ClientPhone: r.ClientPhone, Employee: r.Employee, Extension: r.Extension,
		LinePhone: r.LinePhone, StartedAt: r.StartedAt, AnsweredAt: optionalTime(r.AnsweredAt),
		EndedAt: optionalTime(r.EndedAt), DurationSec: int64(r.Duration / time.Second),
		WaitSec: int64(r.Wait / time.Second), RecordingURL: r.RecordingURL, LeadID: r.LeadID,
	}
}

// Calls lists the logged calls, newest first, as GET /api/calls does.
func (g *Gateway) Calls() []Call { return mapSlice(g.store.Calls(), callOf) }

// Clients lists the clients in creation order, as GET /api/clients does.
func (g *Gateway) Clients() []Client {
	return mapSlice(g.store.Clients(), func(c match.Client) Client {
		return Client{ID: c.ID, Name: c.Name, Phone: c.Phone, Channel: string(c.Channel),
			Responsible: c.Responsible, CreatedFromCall: c.CreatedFromCall}
	})
}

// Leads lists the leads in creation order, as GET /api/leads does.
func (g *Gateway) Leads() []Lead {
	return mapSlice(g.store.Leads(), func(l match.Lead) Lead {
		return Lead{ID: l.ID, ClientID: l.ClientID, Name: l.Name, Status: l.Status, Source: l.Source, Responsible: l.Responsible}
	})
}

// mapSlice maps in to a non-nil slice, so an empty list is [] in JSON.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}

func (g *Gateway) listCalls(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.Calls())
}

func (g *Gateway) listClients(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.Clients())
}

func (g *Gateway) listLeads(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.Leads())
}

// CallRequest is the body of POST /api/call. With Group set the provider
// rings that group or queue instead of the employee From.
type CallRequest struct {
	Provider string `json:"provider"`
	From     string `json:"from"`
	To       string `json:"to"`
	Group    string `json:"group,omitempty"`
}

// CallReply is the answer of POST /api/call.
type CallReply struct {
	CallID string `json:"call_id"`
}

// maxAPIBody bounds the body of POST /api/call.
const maxAPIBody = 64 << 10

// callTimeout bounds one click-to-call.
const callTimeout = 30 * time.Second

// placeCall is POST /api/call: click-to-call through a provider's client.
// A bad request or a provider without credentials (or without group calls)
// is 400 with a message, a failing provider 502.
func (g *Gateway) placeCall(w http.ResponseWriter, r *http.Request) {
	req, status, err := decodeCallRequest(w, r)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	caller, ok := g.callers[req.Provider]
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s is not configured: set %s, or run the gateway with -demo", req.Provider, g.missing[req.Provider]))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	var ref callevent.CallRef
	if req.Group != "" {
		gc, ok := caller.(callevent.GroupCaller)
		if !ok {
			err = callevent.ErrUnsupported
		} else {
			ref, err = gc.GroupCall(ctx, callevent.GroupCallRequest{Group: req.Group, To: req.To})
		}
	} else {
		ref, err = caller.Call(ctx, callevent.CallRequest{From: req.From, To: req.To})
	}
	switch {
	case errors.Is(err, callevent.ErrUnsupported):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s cannot do this: %v", req.Provider, err))
	case err != nil:
		g.log.WarnContext(r.Context(), "click-to-call failed", "provider", req.Provider, "error", err)
		writeError(w, http.StatusBadGateway, fmt.Sprintf("%s: %v", req.Provider, err))
	default:
		g.log.InfoContext(r.Context(), "click-to-call", "provider", req.Provider, "call_id", ref.CallID)
		writeJSON(w, http.StatusOK, CallReply{CallID: ref.CallID})
	}
}

func decodeCallRequest(w http.ResponseWriter, r *http.Request) (CallRequest, int, error) {
	var req CallRequest
	// Read the whole body first: the decoder stops at the first syntax
	// error, so an oversized body that is not JSON would be 400, not 413.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return req, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", maxAPIBody)
		}
		return req, http.StatusBadRequest, fmt.Errorf("reading the body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, http.StatusBadRequest, fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, http.StatusBadRequest, errors.New("malformed JSON: data after the object")
	}
	req.Provider = strings.ToLower(strings.TrimSpace(req.Provider))
	var missing []string
	if req.Provider == "" {
		missing = append(missing, "provider")
	}
	if req.To == "" {
		missing = append(missing, "to")
	}
	if req.From == "" && req.Group == "" {
		missing = append(missing, "from (or group)")
	}
	if len(missing) > 0 {
		return req, http.StatusBadRequest, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if !slices.Contains(providers, req.Provider) {
		return req, http.StatusBadRequest, fmt.Errorf("unknown provider %q (one of %s)", req.Provider, strings.Join(providers, ", "))
	}
	return req, 0, nil
}
