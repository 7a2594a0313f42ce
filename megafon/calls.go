package megafon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/callbridge/callbridge/callevent"
)

// Call places a click-to-call: the PBX rings the employee req.From first
// and then dials the client req.To (the seed's megafon_call(client_phone,
// user)). From is a login ("andy" or "andy@vats123456.megapbx.ru"), an
// extension or the employee's direct number. To is the client's number;
// separators and a leading "+" are removed because the PBX rejects them.
// CallerID, if set, is the number shown to the client (clid). req.Account
// is ignored: a Client serves one PBX.
//
// The request is sent once and never retried after it may have reached the
// PBX (one click, at most one call). The returned CallRef carries the call
// id from any of the known answers ({"callid":…}, {"uuid":…}, a bare JSON
// string or plain text); it is empty when the PBX answered 200 without one.
//
// crmapi v1: POST /makecall. Legacy: cmd=makeCall.
func (c *Client) Call(ctx context.Context, req callevent.CallRequest) (callevent.CallRef, error) {
	if req.Queue != "" {
		return callevent.CallRef{}, fmt.Errorf("megafon: Call: Queue: %w (a call to a group is GroupCall)", callevent.ErrUnsupported)
	}
	user := strings.TrimSpace(req.From)
	if user == "" {
		return callevent.CallRef{}, errors.New("megafon: Call: From (employee login, extension or number) is required")
	}
	if isPhoneLike(user) {
		user = strings.TrimPrefix(user, "+")
	}
	return c.makeCall(ctx, "Call", "user", user, req.To, req.CallerID)
}

// GroupCall rings a call group (the group id, e.g. "sales") and connects
// whoever answers with the client req.To. It needs crmapi v1 (the group
// field of /makecall); on the legacy API it returns an error wrapping
// callevent.ErrUnsupported. Like Call it is never retried.
func (c *Client) GroupCall(ctx context.Context, req callevent.GroupCallRequest) (callevent.CallRef, error) {
	group := strings.TrimSpace(req.Group)
	if group == "" {
		return callevent.CallRef{}, errors.New("megafon: GroupCall: Group is required")
	}
	return c.makeCall(ctx, "GroupCall", "group", group, req.To, req.CallerID)
}

// makeCall sends makecall with who (user or group) calling to.
func (c *Client) makeCall(ctx context.Context, name, whoField, who, to, clid string) (callevent.CallRef, error) {
	phone, err := dialDigits(to)
	if err != nil {
		return callevent.CallRef{}, fmt.Errorf("megafon: %s: To: %w", name, err)
	}
	params := map[string]string{"phone": phone, whoField: who}
	if strings.TrimSpace(clid) != "" {
		if params["clid"], err = dialDigits(clid); err != nil {
			return callevent.CallRef{}, fmt.Errorf("megafon: %s: CallerID: %w", name, err)
		}
	}
	a := apiCall{name: name, method: http.MethodPost, path: "makecall", body: params}
	if whoField == "user" { // the legacy makeCall has no group parameter
		a.cmd, a.form = "makeCall", formOf(params)
	}
	body, err := c.send(ctx, a)
	if err != nil {
		return callevent.CallRef{}, err
	}
	id, err := parseCallID(body)
	if err != nil {
		return callevent.CallRef{}, fmt.Errorf("megafon: %s: %w", name, err)
	}
	return callevent.CallRef{CallID: id}, nil
}

func formOf(m map[string]string) url.Values {
	f := make(url.Values, len(m))
	for k, v := range m {
		f.Set(k, v)
	}
	return f
}

// dialDigits turns a phone number into the digits the PBX dials: a leading
// "+" and separators (spaces, dashes, dots, brackets) are removed; anything
// else that is not a digit is an error.
func dialDigits(s string) (string, error) {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0, r == ' ', r == '-', r == '.', r == '(', r == ')', r == '\u00a0':
		default:
			return "", fmt.Errorf("%q is not a phone number", s)
		}
	}
	if b.Len() == 0 {
		return "", errors.New("phone number is required")
	}
	return b.String(), nil
}

// isPhoneLike reports whether s is a "+"-prefixed number (an employee's
// direct number given as From).
func isPhoneLike(s string) bool {
	if !strings.HasPrefix(s, "+") || len(s) < 2 {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// parseCallID reads the makecall answer: {"callid":…}, {"uuid":…}, a bare
// JSON string or a bare plain-text id. An empty body gives "".
func parseCallID(body []byte) (string, error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0, string(body) == "null":
		return "", nil
	case body[0] == '{':
		var v struct {
			CallID flexString `json:"callid"`
			UUID   flexString `json:"uuid"`
			ID     flexString `json:"id"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return "", fmt.Errorf("decode makecall answer: %w", err)
		}
		return firstNonEmpty(string(v.CallID), string(v.UUID), string(v.ID)), nil
	case body[0] == '"':
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			return "", fmt.Errorf("decode makecall answer: %w", err)
		}
		return s, nil
	default:
		s := string(body)
		if len(s) > 128 || strings.ContainsAny(s, " \t\r\n<>{}[]") {
			return "", errors.New("unexpected makecall answer")
		}
		return s, nil
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// flexString decodes a JSON string, number or bool as text and null as "".
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case b[0] == '{' || b[0] == '[':
		return fmt.Errorf("megafon: expected a scalar, got %.20s", b)
	default:
		*f = flexString(b)
	}
	return nil
}
