package megafon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
)

// User is an employee account of the PBX.
type User struct {
	// Login is the short login ("andy"), used as Event.Employee and as
	// CallRequest.From.
	Login string
	// Name is the display name.
	Name     string
	Position string
	Email    string
	// Ext is the internal extension ("701").
	Ext string
	// Telnum is the employee's direct number; Mobile the mobile number.
	Telnum string
	Mobile string
	// Role is user, admin, restricted_user, … (crmapi v1 only).
	Role string
	// Status is "online" or "offline" (crmapi v1 only; "" on the legacy API).
	Status string
}

// Online reports whether the PBX says the user is online.
func (u User) Online() bool { return strings.EqualFold(u.Status, "online") }

// wireUser reads both generations: crmapi v1 {login, name, …} and the
// legacy accounts {name (the login), realName, …}.
type wireUser struct {
	Login    flexString `json:"login"`
	Name     flexString `json:"name"`
	RealName flexString `json:"realName"`
	Position flexString `json:"position"`
	Email    flexString `json:"email"`
	Ext      flexString `json:"ext"`
	Telnum   flexString `json:"telnum"`
	Mobile   flexString `json:"mobile"`
	Role     flexString `json:"role"`
	Status   flexString `json:"status"`
}

func (w wireUser) user() User {
	u := User{
		Login: string(w.Login), Name: string(w.Name), Position: string(w.Position),
		Email: string(w.Email), Ext: string(w.Ext), Telnum: string(w.Telnum),
		Mobile: string(w.Mobile), Role: string(w.Role), Status: string(w.Status),
	}
	if u.Login == "" { // legacy: name is the login
		u.Login, u.Name = u.Name, string(w.RealName)
	}
	return u
}

// maxUsersPages bounds Users: 1,000 pages of usersPageSize is 100,000
// employees.
const maxUsersPages = 1000

// Users iterates over all employees, page by page, with their online
// status (crmapi v1: GET /users?with=status; legacy: cmd=accounts, one
// page, no status). An error ends the iteration. A login already seen is
// not yielded again, and a page without a new login ends the iteration
// (a PBX that ignores start returns the same page forever); more than
// 1,000 pages end it with an error.
func (c *Client) Users(ctx context.Context) iter.Seq2[User, error] {
	return func(yield func(User, error) bool) {
		seen := map[string]bool{}
		for start, pages := 0, 0; ; pages++ {
			if pages == maxUsersPages {
				yield(User{}, fmt.Errorf("megafon: Users: more than %d pages, stopped", maxUsersPages))
				return
			}
			page, total, err := c.usersPage(ctx, start)
			if err != nil {
				yield(User{}, err)
				return
			}
			fresh := false
			for _, u := range page {
				if u.Login != "" {
					if seen[u.Login] {
						continue
					}
					seen[u.Login], fresh = true, true
				}
				if !yield(u, nil) {
					return
				}
			}
			start += len(page)
			if c.legacy || !fresh || start >= total {
				return
			}
		}
	}
}

// usersPage returns one page and the total (the page length when the PBX
// does not say).
func (c *Client) usersPage(ctx context.Context, start int) ([]User, int, error) {
	body, err := c.send(ctx, apiCall{
		name: "Users", method: http.MethodGet, path: "users",
		query: url.Values{"start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(usersPageSize)}, "with": {"status"}},
		cmd:   "accounts", safe: true,
	})
	if err != nil {
		return nil, 0, err
	}
	var page struct {
		Items []wireUser `json:"items"`
		Info  struct {
			Total flexString `json:"total"`
		} `json:"info"`
	}
	var items []wireUser
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, 0, fmt.Errorf("megafon: Users: decode: %w", err)
		}
		items = page.Items
	} else if err := decodeJSON(body, &items); err != nil {
		return nil, 0, fmt.Errorf("megafon: Users: decode: %w", err)
	}
	users := make([]User, len(items))
	for i, w := range items {
		users[i] = w.user()
	}
	total, err := strconv.Atoi(string(page.Info.Total))
	if err != nil || total < start+len(users) {
		total = start + len(users)
		if len(users) == usersPageSize && !c.legacy {
			total++ // a full page without a total: ask for the next one
		}
	}
	return users, total, nil
}

// User returns the employee with the given login. An unknown login is an
// error wrapping ErrNotFound (crmapi v1: GET /users/{login}, whose 404
// *callbridge.APIError is wrapped too; legacy: searched in cmd=accounts).
func (c *Client) User(ctx context.Context, login string) (User, error) {
	login = strings.TrimSpace(login)
	if login == "" {
		return User{}, errors.New("megafon: User: login is required")
	}
	if c.legacy {
		for u, err := range c.Users(ctx) {
			if err != nil {
				return User{}, err
			}
			if strings.EqualFold(u.Login, login) {
				return u, nil
			}
		}
		return User{}, fmt.Errorf("megafon: User %q: %w", login, ErrNotFound)
	}
	seg, err := pathSegment("User", "login", login)
	if err != nil {
		return User{}, err
	}
	body, err := c.send(ctx, apiCall{name: "User", method: http.MethodGet, path: "users/" + seg, safe: true})
	var apiErr *callbridge.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		return User{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return User{}, err
	}
	var w wireUser
	if err := decodeJSON(body, &w); err != nil {
		return User{}, fmt.Errorf("megafon: User: decode: %w", err)
	}
	return w.user(), nil
}

// Group is a call group (department).
type Group struct {
	// ID is the group id, e.g. "sales" or "buhgalterija_g1551011445322666863".
	ID   string
	Name string
	Ext  string
}

// Groups lists the call groups (crmapi v1: GET /groups; legacy: cmd=groups).
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	body, err := c.send(ctx, apiCall{name: "Groups", method: http.MethodGet, path: "groups", cmd: "groups", safe: true})
	if err != nil {
		return nil, err
	}
	var items []struct {
		ID       flexString `json:"id"`
		Name     flexString `json:"name"`
		RealName flexString `json:"realName"`
		Ext      flexString `json:"ext"`
	}
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '{' { // {"items":[…]}
		var page struct {
			Items json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, fmt.Errorf("megafon: Groups: decode: %w", err)
		}
		body = page.Items
	}
	if err := decodeJSON(body, &items); err != nil {
		return nil, fmt.Errorf("megafon: Groups: decode: %w", err)
	}
	groups := make([]Group, len(items))
	for i, g := range items {
		groups[i] = Group{ID: string(g.ID), Name: firstNonEmpty(string(g.Name), string(g.RealName)), Ext: string(g.Ext)}
	}
	return groups, nil
}

// DND reports whether "do not disturb" is on for the employee
// (crmapi v1: GET /users/{login}/dnd; legacy: cmd=get_dnd).
func (c *Client) DND(ctx context.Context, login string) (bool, error) {
	a, err := userCall("DND", login, "dnd", "get_dnd", nil)
	if err != nil {
		return false, err
	}
	a.method = http.MethodGet
	return c.flag(ctx, a)
}

// SetDND turns "do not disturb" on or off for the employee (crmapi v1:
// POST or DELETE /users/{login}/dnd; legacy: cmd=set_dnd). The legacy
// parameter name is documented inconsistently, so both state and status
// are sent.
func (c *Client) SetDND(ctx context.Context, login string, on bool) error {
	v := strconv.FormatBool(on)
	a, err := userCall("SetDND", login, "dnd", "set_dnd", url.Values{"state": {v}, "status": {v}})
	if err != nil {
		return err
	}
	a.method = onOff(on)
	_, err = c.send(ctx, a)
	return err
}

// Subscription reports whether the employee receives calls of the group
// groupID (crmapi v1: GET /users/{login}/subscription?group_id=; legacy:
// cmd=subscriptionStatus). groupID is required.
func (c *Client) Subscription(ctx context.Context, login, groupID string) (bool, error) {
	a, err := subscriptionCall("Subscription", login, groupID, "subscriptionStatus", nil)
	if err != nil {
		return false, err
	}
	a.method = http.MethodGet
	return c.flag(ctx, a)
}

// SetSubscription subscribes the employee to the calls of group groupID or
// unsubscribes them (crmapi v1: POST or DELETE
// /users/{login}/subscription?group_id=; legacy: cmd=subscribeOnCalls).
// groupID is required, because the PBX applies a request without one to
// every group; use SetSubscriptionAllGroups for that.
func (c *Client) SetSubscription(ctx context.Context, login, groupID string, on bool) error {
	a, err := subscriptionCall("SetSubscription", login, groupID, "subscribeOnCalls", url.Values{"status": {onOffWord(on)}})
	if err != nil {
		return err
	}
	a.method = onOff(on)
	_, err = c.send(ctx, a)
	return err
}

// SetSubscriptionAllGroups subscribes or unsubscribes the employee in every
// group at once, the employee's personal one-person group included.
func (c *Client) SetSubscriptionAllGroups(ctx context.Context, login string, on bool) error {
	a, err := userCall("SetSubscriptionAllGroups", login, "subscription", "subscribeOnCalls", url.Values{"status": {onOffWord(on)}})
	if err != nil {
		return err
	}
	a.method = onOff(on)
	_, err = c.send(ctx, a)
	return err
}

// userCall builds a call on /users/{login}/<resource> (v1) and cmd with
// user=<login> (legacy). The caller sets the v1 method.
func userCall(name, login, resource, cmd string, form url.Values) (apiCall, error) {
	login = strings.TrimSpace(login)
	if login == "" {
		return apiCall{}, fmt.Errorf("megafon: %s: login is required", name)
	}
	if form == nil {
		form = url.Values{}
	}
	seg, err := pathSegment(name, "login", login)
	if err != nil {
		return apiCall{}, err
	}
	form.Set("user", login)
	return apiCall{
		name: name, path: "users/" + seg + "/" + resource,
		cmd: cmd, form: form, safe: true,
	}, nil
}

func subscriptionCall(name, login, groupID, cmd string, form url.Values) (apiCall, error) {
	groupID = strings.TrimSpace(groupID)
	if groupID == "" {
		return apiCall{}, fmt.Errorf("megafon: %s: groupID is required (an empty group would apply to every group)", name)
	}
	a, err := userCall(name, login, "subscription", cmd, form)
	if err != nil {
		return apiCall{}, err
	}
	a.query = url.Values{"group_id": {groupID}}
	a.form.Set("group_id", groupID)
	return a, nil
}

func onOff(on bool) string {
	if on {
		return http.MethodPost
	}
	return http.MethodDelete
}

func onOffWord(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// flag sends a and reads a boolean answer in any known shape:
// {"state":true}, {"status":"true"}, {"status":"on"}.
func (c *Client) flag(ctx context.Context, a apiCall) (bool, error) {
	body, err := c.send(ctx, a)
	if err != nil {
		return false, err
	}
	var v struct {
		State  flexString `json:"state"`
		Status flexString `json:"status"`
	}
	if err := decodeJSON(body, &v); err != nil {
		return false, fmt.Errorf("megafon: %s: decode: %w", a.name, err)
	}
	s := strings.ToLower(firstNonEmpty(string(v.State), string(v.Status)))
	switch s {
	case "true", "on", "1", "yes", "enabled":
		return true, nil
	case "false", "off", "0", "no", "disabled":
		return false, nil
	}
	return false, fmt.Errorf("megafon: %s: unexpected state %q", a.name, s)
}

// decodeJSON decodes body into v; an empty or null body leaves v as is.
func decodeJSON(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil
	}
	return json.Unmarshal(body, v)
}

// pathSegment returns id escaped as one segment of an API path. An id that
// could change the path's shape once the PBX or a proxy decodes it — "."
// or "..", a "/" or "\\", a control character — is an error: url.PathEscape
// leaves dots alone, so "users/.." would resolve to another resource.
func pathSegment(op, field, id string) (string, error) {
	if id == "." || id == ".." || strings.ContainsAny(id, "/\\") || !callevent.Printable(id) {
		return "", fmt.Errorf("megafon: %s: %s %q is not valid in a URL path", op, field, id)
	}
	return url.PathEscape(id), nil
}
