package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
)

// lastCalls is how many of the client's calls a card shows.
const lastCalls = 5

// newLive makes the hub of the employees' screens (GET /api/events): the
// engine gives it the calls' states, cards, decisions and notifications,
// the status API the employees' statuses.
func (g *Gateway) newLive() (err error) {
	g.live, err = live.NewHub(live.WithDirectory(hubDirectory{g}), live.WithLogger(g.log), live.WithCards(g.completeCard))
	return err
}

// hubDirectory finds employees in the gateway's directory of the moment
// (amoCRM's users in amoCRM mode, known only once it is open).
type hubDirectory struct{ g *Gateway }

func (d hubDirectory) FindEmployee(ctx context.Context, account, key string) (match.Employee, bool, error) {
	return d.g.directory().FindEmployee(ctx, account, key)
}

// completeCard adds to a card the client's last calls from the gateway's
// call log (memory mode: the database has no search by phone yet) and,
// in amoCRM mode, the links to the contact and its leads.
func (g *Gateway) completeCard(_ context.Context, c *live.Card) error {
	if g.store != nil && c.ClientPhone != "" {
		for _, r := range g.store.calls.recent(c.ClientPhone, lastCalls) {
			c.LastCalls = append(c.LastCalls, g.presented(*r))
		}
	}
	if d := g.cfg.AmoCRM.Domain; g.cfg.CRM == CRMAmoCRM && d != "" && c.Client.ID != "" {
		base := "https://" + d + "/"
		c.ClientURL = base + "contacts/detail/" + url.PathEscape(c.Client.ID)
		for i := range c.Leads {
			c.Leads[i].URL = base + "leads/detail/" + url.PathEscape(c.Leads[i].ID)
		}
	}
	return nil
}

// apiError is an error answered with its status.
type apiError struct {
	status int
	msg    string
}

func (e apiError) Error() string       { return e.msg }
func (e apiError) HTTPStatusCode() int { return e.status }

// eventsFor is whose stream a request of GET /api/events opens: the
// employees' screens as Server-Sent Events (package live), behind the API
// token. employee=<id> streams one employee's calls, cards,
// notifications and status (404 for an id the directory does not have);
// without it every employee's. Last-Event-ID resumes.
func (g *Gateway) eventsFor(r *http.Request) (employee string, all bool, err error) {
	id := r.URL.Query().Get("employee")
	if id == "" {
		return "", true, nil
	}
	if len(id) > 256 || strings.ContainsFunc(id, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		return "", false, apiError{http.StatusBadRequest, "employee: want 1 to 256 printable characters"}
	}
	emps, err := g.directory().Employees(r.Context(), "")
	if err != nil {
		g.log.ErrorContext(r.Context(), "api: employees unavailable", "path", r.URL.Path, "error", err)
		return "", false, apiError{http.StatusServiceUnavailable, "the employees are not available"}
	}
	if !slices.ContainsFunc(emps, func(e match.Employee) bool { return e.ID == id }) {
		return "", false, apiError{http.StatusNotFound, fmt.Sprintf("no employee %q", text.Clip(id, 40))}
	}
	return id, false, nil
}

// liveStatus shows an employee's new status on their screens.
func (g *Gateway) liveStatus(id, status string, online bool) {
	g.live.StatusChanged(live.Status{Employee: id, Status: status, Online: online, At: g.clock().Now().UTC()})
}
