package telphin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/phone"
	"github.com/callbridge/callbridge/internal/text"
)

// CallbackRequest is the body of POST /extension/{id}/callback/ (the
// fields callbridge uses; see Telphin's callback documentation).
type CallbackRequest struct {
	// SrcNum ring first, simultaneously; the first to answer is connected to DstNum.
	SrcNum []string `json:"src_num"`
	// DstNum is dialled after a source answered; its incoming rules apply,
	// so a queue or IVR extension may be given.
	DstNum string `json:"dst_num"`
	// SrcANI / DstANI are client DIDs shown to external parties on each leg.
	SrcANI string `json:"src_ani,omitempty"`
	DstANI string `json:"dst_ani,omitempty"`
	// CallerIDName / CallerIDNumber override the caller id (default: the extension).
	CallerIDName   string `json:"caller_id_name,omitempty"`
	CallerIDNumber string `json:"caller_id_number,omitempty"`
}

// CallbackResult identifies a call started by Callback.
type CallbackResult struct {
	// CallAPIID controls the call (Transfer, Hangup): "cb-<10 digits>-<32 hex>".
	CallAPIID string `json:"call_api_id"`
	// CallID is the whole-call id; events carry it as CallID / CallBackID.
	CallID string `json:"call_id"`
}

// Callback starts a call from extension extensionID
// (POST /api/ver1.0/extension/{id}/callback/). It is never retried after the
// request may have reached Telphin: one request, at most one call.
func (c *Client) Callback(ctx context.Context, extensionID int64, req CallbackRequest) (*CallbackResult, error) {
	var res CallbackResult
	path := "extension/" + strconv.FormatInt(extensionID, 10) + "/callback/"
	if err := c.do(ctx, "calls.create", http.MethodPost, path, nil, req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Call connects an employee with a client (Salebot's telphin_employee_call):
// the employee's extension rings first and, once answered, the client is
// dialled. req.From is the employee's short number ("101"), full extension
// name ("15400*101") or numeric extension id, resolved through the cached
// extension list; req.To is the client's phone, normalised (an invalid
// number fails before anything is sent) and sent as "+<digits>";
// req.CallerID, if set, is the company number shown to the client
// (dst_ani). It sends
//
//	POST /api/ver1.0/extension/{id}/callback/ {"src_num":["<ext name>"],"dst_num":"+<client>","dst_ani":"<CallerID>"}
//
// and returns the call_id. The POST is never retried once it may have
// reached Telphin.
func (c *Client) Call(ctx context.Context, req callevent.CallRequest) (callevent.CallRef, error) {
	if req.Queue != "" {
		return callevent.CallRef{}, fmt.Errorf("telphin: Call: Queue: %w (a call to a queue is GroupCall)", callevent.ErrUnsupported)
	}
	dst, err := c.dialable(req.To)
	if err != nil {
		return callevent.CallRef{}, err
	}
	ani, err := c.ani(req.CallerID)
	if err != nil {
		return callevent.CallRef{}, err
	}
	ext, err := c.Extension(ctx, req.From)
	if err != nil {
		return callevent.CallRef{}, fmt.Errorf("telphin: call from %q: %w", req.From, text.Unprefixed(err, Provider+": "))
	}
	res, err := c.Callback(ctx, ext.ID, CallbackRequest{SrcNum: []string{ext.Name}, DstNum: dst, DstANI: ani})
	if err != nil {
		return callevent.CallRef{}, err
	}
	return callevent.CallRef{CallID: res.CallID}, nil
}

// GroupCall connects a client with a queue or IVR (Salebot's
// telphin_group_call). Telphin's callback has no group field; its dst_num
// follows the incoming rules of the number, so the client is called first
// and then put through to the queue, which rings its agents:
//
//	POST /api/ver1.0/extension/{queue id}/callback/ {"src_num":["+<client>"],"dst_num":"<queue name>","src_ani":"<CallerID>"}
//
// req.Group is the queue/IVR extension id (Salebot's group_id), short
// number or full name; req.To the client's phone; req.CallerID, if set, the
// company number shown to the client (src_ani). Never retried once sent.
func (c *Client) GroupCall(ctx context.Context, req callevent.GroupCallRequest) (callevent.CallRef, error) {
	src, err := c.dialable(req.To)
	if err != nil {
		return callevent.CallRef{}, err
	}
	ani, err := c.ani(req.CallerID)
	if err != nil {
		return callevent.CallRef{}, err
	}
	grp, err := c.Extension(ctx, req.Group)
	if err != nil {
		return callevent.CallRef{}, fmt.Errorf("telphin: group call to %q: %w", req.Group, text.Unprefixed(err, Provider+": "))
	}
	res, err := c.Callback(ctx, grp.ID, CallbackRequest{SrcNum: []string{src}, DstNum: grp.Name, SrcANI: ani})
	if err != nil {
		return callevent.CallRef{}, err
	}
	return callevent.CallRef{CallID: res.CallID}, nil
}

// dialable normalises a client phone to "+<digits>"; an internal extension
// name is passed as is.
func (c *Client) dialable(raw string) (string, error) {
	n, err := phone.Normalize(raw, c.country)
	switch {
	case err == nil:
		return "+" + n, nil
	case errors.Is(err, phone.ErrInternal):
		return strings.TrimSpace(raw), nil
	default:
		return "", fmt.Errorf("telphin: phone %q: %w", raw, err)
	}
}

// ani normalises a caller-id DID to digits ("" stays "").
func (c *Client) ani(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", nil
	}
	n, err := phone.Normalize(raw, c.country)
	if err != nil {
		return "", fmt.Errorf("telphin: caller id %q: %w", raw, err)
	}
	return n, nil
}

// CurrentCall is a call in progress on an extension
// (GET /extension/{id}/current_calls/).
type CurrentCall struct {
	CallAPIID       string         `json:"call_api_id"`
	CallID          string         `json:"call_id"`
	SubCallID       string         `json:"subcall_id"`
	CallFlow        string         `json:"call_flow"`
	CalledNumber    string         `json:"called_number"`
	CalledDID       string         `json:"called_did"`
	CallerIDNumber  string         `json:"caller_id_number"`
	CallerIDName    string         `json:"caller_id_name"`
	InitTime        Time           `json:"init_time_gmt"`
	AnswerTime      Time           `json:"answer_time_gmt"`
	RecordUUID      string         `json:"record_uuid"`
	CallbackID      string         `json:"callback_id"`
	ExtensionID     int64          `json:"extension_id"`
	RealCall        bool           `json:"real_call"`
	CallerExtension *CallExtension `json:"caller_extension"`
	CalledExtension *CallExtension `json:"called_extension"`
}

// CallExtension is an extension as described inside a current call.
type CallExtension struct {
	ID       int64  `json:"id"`
	Type     string `json:"type"`
	Name     string `json:"name"`
	ClientID int64  `json:"client_id"`
}

// CurrentCalls lists the calls in progress on an extension (short number,
// full name or id).
func (c *Client) CurrentCalls(ctx context.Context, extension string) ([]CurrentCall, error) {
	ext, err := c.Extension(ctx, extension)
	if err != nil {
		return nil, err
	}
	var res struct {
		CallList []CurrentCall `json:"call_list"`
	}
	if err := c.do(ctx, "calls.current", http.MethodGet, "extension/"+strconv.FormatInt(ext.ID, 10)+"/current_calls/", nil, nil, &res); err != nil {
		return nil, err
	}
	return res.CallList, nil
}

// Action is a call-control action of Telphin's current_calls endpoint
// (PUT /extension/{id}/current_calls/{call_api_id}).
type Action string

// Call-control actions.
const (
	ActionTransfer         Action = "transfer"          // blind transfer to Destination
	ActionAttendedTransfer Action = "attended_transfer" // consultative transfer to Destination
	ActionHold             Action = "hold"
	ActionOffHold          Action = "offhold"
	ActionConference       Action = "conference" // add Destination to the call
	ActionPark             Action = "park"
	ActionPickup           Action = "pickup"    // take the call at Destination
	ActionEavesdrop        Action = "eavesdrop" // Destination listens in
	ActionWhisper          Action = "whisper"   // Destination talks to the employee only
)

// needsDestination reports whether a acts on a destination.
func (a Action) needsDestination() bool {
	switch a {
	case ActionTransfer, ActionAttendedTransfer, ActionConference, ActionPickup, ActionEavesdrop, ActionWhisper:
		return true
	}
	return false
}

func (a Action) known() bool {
	switch a {
	case ActionTransfer, ActionAttendedTransfer, ActionHold, ActionOffHold, ActionConference, ActionPark, ActionPickup,
		ActionEavesdrop, ActionWhisper:
		return true
	}
	return false
}

// ControlRequest is one call-control action on a call in progress.
type ControlRequest struct {
	// Extension holds the call: short number, name or id.
	Extension string
	// CallID is the CallAPIID of the call, or its CallID (then looked up
	// in Extension's current calls, case-insensitively).
	CallID string
	Action Action
	// Destination is a phone number (sent as "+<digits>") or an
	// extension (short number, name or id, sent as its full name), for
	// the actions that need one (transfers, conference, pickup,
	// eavesdrop, whisper).
	Destination string
}

// Control performs a call-control action on a call in progress:
//
//	PUT /api/ver1.0/extension/{id}/current_calls/{call_api_id} {"action":…,"send_dst":…}
//
// Transfer, Hold and Unhold are Control with their actions.
func (c *Client) Control(ctx context.Context, req ControlRequest) error {
	if !req.Action.known() {
		return fmt.Errorf("telphin: call control: unknown action %q", req.Action)
	}
	dst := strings.TrimSpace(req.Destination)
	if req.Action.needsDestination() && dst == "" {
		return fmt.Errorf("telphin: %s: empty destination", req.Action)
	}
	ext, apiID, err := c.callRef(ctx, req.Extension, req.CallID)
	if err != nil {
		return fmt.Errorf("telphin: %s: %w", req.Action, err)
	}
	if dst != "" {
		if n, err := phone.Normalize(dst, c.country); err == nil {
			dst = "+" + n
		} else if to, err := c.Extension(ctx, dst); err == nil {
			dst = to.Name
		} else {
			return fmt.Errorf("telphin: %s to %q: %w", req.Action, req.Destination, err)
		}
	}
	body := map[string]string{"action": string(req.Action)}
	if dst != "" {
		body["send_dst"] = dst
	}
	path, err := callPath(ext, apiID)
	if err != nil {
		return fmt.Errorf("telphin: %s: %w", req.Action, err)
	}
	return c.do(ctx, "calls.control", http.MethodPut, path, nil, body, nil)
}

// Transfer transfers a call in progress (Control with ActionTransfer, or
// ActionAttendedTransfer when req.Attended): req.From is the employee
// holding the call, req.CallID its CallAPIID or CallID, req.To a phone
// number or an extension.
func (c *Client) Transfer(ctx context.Context, req callevent.TransferRequest) error {
	action := ActionTransfer
	if req.Attended {
		action = ActionAttendedTransfer
	}
	return c.Control(ctx, ControlRequest{Extension: req.From, CallID: req.CallID, Action: action, Destination: req.To})
}

// Hold puts a call in progress on hold (Control with ActionHold).
func (c *Client) Hold(ctx context.Context, req callevent.CallControlRequest) error {
	return c.Control(ctx, ControlRequest{Extension: req.From, CallID: req.CallID, Action: ActionHold})
}

// Unhold takes a call off hold (Control with ActionOffHold).
func (c *Client) Unhold(ctx context.Context, req callevent.CallControlRequest) error {
	return c.Control(ctx, ControlRequest{Extension: req.From, CallID: req.CallID, Action: ActionOffHold})
}

// Hangup ends a call in progress on req.From's extension:
// DELETE /api/ver1.0/extension/{id}/current_calls/{call_api_id}.
// req.CallID is the CallAPIID, or the CallID (looked up in current calls).
func (c *Client) Hangup(ctx context.Context, req callevent.CallControlRequest) error {
	ext, apiID, err := c.callRef(ctx, req.From, req.CallID)
	if err != nil {
		return fmt.Errorf("telphin: hangup: %w", err)
	}
	path, err := callPath(ext, apiID)
	if err != nil {
		return fmt.Errorf("telphin: hangup: %w", err)
	}
	return c.do(ctx, "calls.hangup", http.MethodDelete, path, nil, nil, nil)
}

// callPath is the current_calls path of a call; the CallAPIID (given by
// the caller or found in current calls) is checked by pathID.
func callPath(ext int64, callAPIID string) (string, error) {
	id, err := pathID("call id", callAPIID)
	if err != nil {
		return "", err
	}
	return "extension/" + strconv.FormatInt(ext, 10) + "/current_calls/" + id, nil
}

// callRef resolves the extension and turns a CallID into the CallAPIID.
// A CallAPIID contains "-" ("3584709739-45c0…", "cb-…"); a CallID is 32 hex.
func (c *Client) callRef(ctx context.Context, extension, callID string) (int64, string, error) {
	callID, err := pathID("call id", callID)
	if err != nil {
		return 0, "", err
	}
	ext, err := c.Extension(ctx, extension)
	if err != nil {
		return 0, "", err
	}
	if strings.Contains(callID, "-") {
		return ext.ID, callID, nil
	}
	calls, err := c.CurrentCalls(ctx, strconv.FormatInt(ext.ID, 10))
	if err != nil {
		return 0, "", err
	}
	for _, cc := range calls {
		if strings.EqualFold(cc.CallID, callID) {
			return ext.ID, cc.CallAPIID, nil
		}
	}
	return 0, "", fmt.Errorf("call %q is not in progress on extension %s", callID, ext.Name)
}
