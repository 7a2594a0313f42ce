package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
)

// Status is an employee status, as the PBX names them (Config.Statuses).
// Calls are distributed among the employees whose status is Online (the
// rules' "active" distribution).
type Status struct {
	Name   string `json:"name" yaml:"name"`
	Online bool   `json:"online,omitempty" yaml:"online"`
}

// DefaultStatuses are the statuses without configuration: available
// (online), away, busy and offline.
var DefaultStatuses = []Status{{Name: "available", Online: true}, {Name: "away"}, {Name: "busy"}, {Name: "offline"}}

// Employee is an employee as GET /api/employees lists it: the directory's
// employee with its status and whether it is online.
type Employee struct {
	match.Employee
	Status string `json:"status"`
	Online bool   `json:"online"`
	// Providers are, by provider, the extensions and logins its user
	// list gave the employee at the last employee sync. (The directory
	// itself keeps one list of extensions: match.Employee says nothing
	// of providers, and the engine finds an employee by a key alone.)
	Providers map[string][]string `json:"providers,omitempty"`
}

// StatusRequest is the body of PUT /api/employees/{id}/status.
type StatusRequest struct {
	Status string `json:"status"`
}

// presence keeps the employees' statuses. The set of online employees is
// the directory's (match.Directory.Online), kept in the database in
// database mode: after a restart an employee who was online has the first
// online status, every other one "offline" (or the first status that is
// not online).
type presence struct {
	g        *Gateway
	statuses []Status
	mu       sync.Mutex
	status   map[string]string // employee id → status name
}

// newPresence reads who is online from the directory.
func newPresence(ctx context.Context, g *Gateway, statuses []Status) (*presence, error) {
	if len(statuses) == 0 {
		statuses = DefaultStatuses
	}
	p := &presence{g: g, statuses: statuses, status: map[string]string{}}
	online, err := g.directory().Online(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("employees online: %w", err)
	}
	for _, id := range online {
		p.status[id] = p.first(true)
	}
	return p, nil
}

// of is an employee's status: the last set, else the first online one
// for an employee online at start, else the offline one.
func (p *presence) of(id string) string {
	if st, ok := p.status[id]; ok {
		return st
	}
	return p.first(false)
}

// first is the name of the first status that is online, or for not
// online "offline" if there is one, else the first that is not online.
func (p *presence) first(online bool) string {
	if !online && slices.Contains(p.statuses, Status{Name: "offline"}) {
		return "offline"
	}
	for _, s := range p.statuses {
		if s.Online == online {
			return s.Name
		}
	}
	return p.statuses[0].Name
}

func (p *presence) isOnline(name string) bool {
	i := slices.IndexFunc(p.statuses, func(s Status) bool { return s.Name == name })
	return i >= 0 && p.statuses[i].Online
}

// directory is the CRM's match.Directory, in memory or in the database.
func (g *Gateway) directory() match.Directory {
	if g.amoDir != nil {
		return g.amoDir
	}
	return g.local()
}

// registry is the directory GET /api/employees lists and statuses are
// set in: the gateway's own (memory or database), which the employee
// sync merges with the providers' user lists; in amoCRM mode with the
// sync off, amoCRM's users.
func (g *Gateway) registry() match.Directory {
	if g.amoDir != nil && g.cfg.employeeSync() < 0 {
		return g.amoDir
	}
	return g.local()
}

// setOnline stores who is online now.
func (g *Gateway) setOnline(ctx context.Context, ids []string) error {
	if g.db != nil {
		return g.db.SetOnline(ctx, "", ids...)
	}
	g.store.SetOnline("", ids...)
	return nil
}

// listEmployees is GET /api/employees: the registry's employees with
// their statuses and what the providers' user lists gave them, in the
// registry's order.
func (g *Gateway) listEmployees(w http.ResponseWriter, r *http.Request) {
	p := g.presence
	p.mu.Lock() // the statuses of this directory, not of one a sync is replacing
	emps, err := g.registry().Employees(r.Context(), "")
	if err != nil {
		p.mu.Unlock()
		g.dbError(w, r, err)
		return
	}
	out := make([]Employee, 0, len(emps))
	for _, e := range emps {
		st := p.of(e.ID)
		out = append(out, Employee{Employee: e, Status: st, Online: p.isOnline(st), Providers: g.providerKeys(e.ID)})
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"employees": out, "statuses": p.statuses})
}

// setStatus is PUT /api/employees/{id}/status: {"status": "away"} sets
// the employee's status; the online employees are stored at once, so the
// next missed call is distributed accordingly.
func (g *Gateway) setStatus(w http.ResponseWriter, r *http.Request) {
	var req StatusRequest
	if code, err := decodeJSON(w, r, &req); err != nil {
		writeError(w, code, err.Error())
		return
	}
	p := g.presence
	if !slices.ContainsFunc(p.statuses, func(s Status) bool { return s.Name == req.Status }) {
		names := make([]string, len(p.statuses))
		for i, s := range p.statuses {
			names[i] = s.Name
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status: %q is none of %s", text.Clip(req.Status, 40), strings.Join(names, ", ")))
		return
	}
	id := r.PathValue("id")
	// One change at a time, against the directory a sync may replace
	// only meanwhile, so the stored online set is the newest.
	p.mu.Lock()
	defer p.mu.Unlock()
	emps, err := g.registry().Employees(r.Context(), "")
	if err != nil {
		g.dbError(w, r, err)
		return
	}
	i := slices.IndexFunc(emps, func(e match.Employee) bool { return e.ID == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no employee %q", text.Clip(id, 40)))
		return
	}
	old, had := p.status[id]
	p.status[id] = req.Status
	var online []string
	for _, e := range emps {
		if p.isOnline(p.of(e.ID)) {
			online = append(online, e.ID)
		}
	}
	if err := g.setOnline(r.Context(), online); err != nil {
		if had {
			p.status[id] = old
		} else {
			delete(p.status, id)
		}
		g.dbError(w, r, err)
		return
	}
	g.log.InfoContext(r.Context(), "employee status", "employee", id, "status", req.Status)
	g.liveStatus(id, req.Status, p.isOnline(req.Status))
	writeJSON(w, http.StatusOK, Employee{Employee: emps[i], Status: req.Status, Online: p.isOnline(req.Status), Providers: g.providerKeys(id)})
}
