package gateway

import (
	"context"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/telphin"
)

// DefaultEmployeeSync is how often the employees are merged with the
// providers' user lists without Config.EmployeeSync.
const DefaultEmployeeSync = 10 * time.Minute

// employeeSyncTimeout bounds the reading of one provider's user list.
const employeeSyncTimeout = time.Minute

// employeeSync merges the directory with the providers' user lists: the
// configured employees (base), then amoCRM's users in amoCRM mode, then
// each provider's, at start and every Config.EmployeeSync.
type employeeSync struct {
	mu      sync.Mutex            // one sync at a time; guards sources and last
	base    []match.Employee      // the configured employees (set before the first sync)
	sources map[string]userSource // provider → its user list
	last    map[string][]providerUser

	smu   sync.Mutex               // guards state
	state map[string]*EmployeeSync // provider → how its last reading went

	keys   atomic.Pointer[map[string]map[string][]string] // employee id → provider → its keys there
	amoIDs atomic.Pointer[map[string]bool]                // the amoCRM users of the last sync

	job periodic // at start, then every Config.EmployeeSync
}

// userSource reads a provider's users.
type userSource func(ctx context.Context) ([]providerUser, error)

// providerUser is a user of a provider's list as the sync merges it.
type providerUser struct {
	// ID is the provider's id of the user: the Telphin extension id, the
	// MegaFon login, the Phonet user id, the amoCRM user id.
	ID                 string
	Name, Login, Email string
	Extensions         []string
	Admin              bool
}

// keys are what the directory finds the user by: its extensions and its
// login.
func (u providerUser) keys() []string {
	out := slices.Clone(u.Extensions)
	if u.Login != "" && !slices.Contains(out, u.Login) {
		out = append(out, u.Login)
	}
	return out
}

// EmployeeSync is how reading a provider's user list went (GET
// /api/status).
type EmployeeSync struct {
	// SyncedAt is when the list was last read; Users is how many users
	// it had.
	SyncedAt *time.Time `json:"synced_at,omitempty"`
	Users    int        `json:"users"`
	// Error is why the last reading failed, at FailedAt: the provider's
	// employees stay as the last list had them. Absent after a success.
	Error    string     `json:"error,omitempty"`
	FailedAt *time.Time `json:"failed_at,omitempty"`
}

// employeeSync is Config.EmployeeSync with its default; negative: off.
func (c Config) employeeSync() time.Duration { return cmpOr(c.EmployeeSync, DefaultEmployeeSync) }

// telphinLister, megafonLister and phonetLister are the clients that list
// users.
type (
	telphinLister interface {
		Extensions(ctx context.Context, f telphin.ExtensionFilter) ([]telphin.Extension, error)
	}
	megafonLister interface {
		Users(ctx context.Context) iter.Seq2[megafon.User, error]
	}
	phonetLister interface {
		Users(ctx context.Context) ([]phonet.User, error)
	}
)

// usersOf is the user list of a provider's client; nil if it has none.
func usersOf(c any) userSource {
	switch c := c.(type) {
	case telphinLister: // the active phones, as the webhooks are registered
		return func(ctx context.Context) ([]providerUser, error) {
			exts, err := c.Extensions(ctx, telphin.ExtensionFilter{Type: telphin.ExtensionPhone, Status: "active"})
			out := make([]providerUser, 0, len(exts))
			for _, e := range exts {
				out = append(out, providerUser{ID: strconv.FormatInt(e.ID, 10), Name: cmpOr(e.Label, cmpOr(e.CallerIDName, e.Short())),
					Extensions: []string{e.Short()}})
			}
			return out, err
		}
	case megafonLister:
		return func(ctx context.Context) ([]providerUser, error) {
			var out []providerUser
			for u, err := range c.Users(ctx) {
				if err != nil {
					return nil, err
				}
				if u.Login == "" {
					continue
				}
				p := providerUser{ID: u.Login, Name: cmpOr(u.Name, u.Login), Login: u.Login, Email: u.Email, Admin: u.Role == "admin"}
				if u.Ext != "" {
					p.Extensions = []string{u.Ext}
				}
				out = append(out, p)
			}
			return out, nil
		}
	case phonetLister:
		return func(ctx context.Context) ([]providerUser, error) {
			users, err := c.Users(ctx)
			out := make([]providerUser, 0, len(users))
			for _, u := range users {
				p := providerUser{ID: strconv.FormatInt(u.ID, 10), Name: cmpOr(u.DisplayName, u.Ext), Email: u.Email}
				if u.Ext != "" {
					p.Extensions = []string{u.Ext}
				}
				out = append(out, p)
			}
			return out, err
		}
	}
	return nil
}

// amoUsers is amoCRM's users (the amocrm.Store's directory: its users
// with the extensions Config.AmoCRM.Extensions maps to them).
func amoUsers(dir match.Directory) userSource {
	return func(ctx context.Context) ([]providerUser, error) {
		emps, err := dir.Employees(ctx, "")
		out := make([]providerUser, 0, len(emps))
		for _, e := range emps {
			out = append(out, providerUser{ID: e.ID, Name: e.Name, Login: e.Login, Email: e.Email,
				Extensions: slices.Clone(e.Extensions), Admin: e.Admin})
		}
		return out, err
	}
}

// syncID is the directory id of a provider's user that matches no
// configured employee: "<provider>:<id>", stable across syncs; in amoCRM
// mode amoCRM's users keep their own ids, which amoCRM takes as
// responsibles.
func syncID(provider, id string) string {
	if provider == CRMAmoCRM {
		return id
	}
	return provider + ":" + id
}

// syncOrder is the order the sources are merged in: amoCRM's users
// first, as the CRM's employees, then the telephony providers'.
var syncOrder = append([]string{CRMAmoCRM}, providers...)

// mergeEmployees is the directory a sync makes of the configured
// employees (base) and the users each provider listed (lists, by
// provider). A configured employee keeps its id, name, login, e-mail and
// admin flag, and gets the extensions and logins of the users that match
// it: the same id, e-mail, login or an extension. In amoCRM mode
// amoCRM's users match as configured employees do. A user matching none
// becomes an employee of its own (syncID). keys says, by employee id,
// which provider gave which extensions and logins.
func mergeEmployees(base []match.Employee, lists map[string][]providerUser) (out []match.Employee, keys map[string]map[string][]string) {
	out = make([]match.Employee, 0, len(base))
	for _, e := range base {
		e.Extensions = slices.Clone(e.Extensions)
		out = append(out, e)
	}
	keys = map[string]map[string][]string{}
	anchors := len(out) // out[:anchors] are matched: the configured employees, then amoCRM's users
	for _, provider := range syncOrder {
		for _, u := range lists[provider] {
			id := syncID(provider, u.ID)
			i := slices.IndexFunc(out[:anchors], func(e match.Employee) bool { return u.matches(e, id) })
			switch {
			case i >= 0:
				mergeUser(&out[i], u)
			case slices.ContainsFunc(out, func(e match.Employee) bool { return e.ID == id }):
				continue // listed twice
			default:
				i = len(out)
				out = append(out, match.Employee{ID: id, Name: u.Name, Login: u.Login, Email: u.Email,
					Extensions: slices.Clone(u.Extensions), Admin: u.Admin})
			}
			if keys[out[i].ID] == nil {
				keys[out[i].ID] = map[string][]string{}
			}
			keys[out[i].ID][provider] = append(keys[out[i].ID][provider], u.keys()...)
		}
		if provider == CRMAmoCRM {
			anchors = len(out)
		}
	}
	return out, keys
}

// matches says whether u is e, whose id would be id: the same id,
// e-mail, login, or one of u's extensions.
func (u providerUser) matches(e match.Employee, id string) bool {
	has := func(k string) bool { return k != "" && (k == e.Login || slices.Contains(e.Extensions, k)) }
	return e.ID == id || (u.Email != "" && strings.EqualFold(u.Email, e.Email)) || has(u.Login) || slices.ContainsFunc(u.Extensions, has)
}

// mergeUser adds u's extensions and login to the employee e it matches,
// so the directory finds e by them (a login beside e's own among the
// extensions: match.Employee has one Login). e's id, name, e-mail and
// admin flag stay; an empty name, login or e-mail is filled in from u.
func mergeUser(e *match.Employee, u providerUser) {
	if e.Login == "" {
		e.Login = u.Login
	}
	for _, k := range u.keys() {
		if k != e.Login && !slices.Contains(e.Extensions, k) {
			e.Extensions = append(e.Extensions, k)
		}
	}
	e.Name, e.Email = cmpOr(e.Name, u.Name), cmpOr(e.Email, u.Email)
}

// startEmployeeSync takes the user lists of the providers configured now
// and schedules the first sync at once, unless Config.EmployeeSync is
// off.
func (g *Gateway) startEmployeeSync() {
	s := &g.empSync
	if g.cfg.employeeSync() < 0 {
		return
	}
	s.mu.Lock()
	for p, c := range g.callers {
		if src := usersOf(c); src != nil {
			s.sources[p] = src
		}
	}
	s.mu.Unlock()
	s.job.start(g.clock(), false, 0, g.cfg.employeeSync(), func(ctx context.Context) {
		if err := g.syncEmployees(ctx); err != nil {
			g.log.Error("employee sync: the directory was not stored; the next sync tries again", "error", err)
		}
	})
}

// stopEmployeeSync stops the syncs, ends one in flight and waits for it.
func (g *Gateway) stopEmployeeSync() { g.empSync.job.stop() }

// syncEmployees reads every source's users (a source that fails keeps
// its last list, and says why in GET /api/status), merges them with the
// configured employees and stores the directory. The statuses of the
// employees still there stay; those of the employees gone are dropped,
// with them from the online set.
func (g *Gateway) syncEmployees(ctx context.Context) error {
	s := &g.empSync
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range slices.Sorted(maps.Keys(s.sources)) {
		rctx, cancel := context.WithTimeout(ctx, employeeSyncTimeout)
		users, err := s.sources[p](rctx)
		cancel()
		if ctx.Err() != nil {
			return nil // stopping: the list may be cut short
		}
		now := g.clock().Now().UTC()
		if err != nil {
			g.log.Warn("employee sync: reading the user list failed; its employees stay as they were",
				"provider", p, "kept", len(s.last[p]), "error", err)
		} else {
			s.last[p] = users
		}
		s.smu.Lock()
		st := s.state[p]
		if st == nil {
			st = &EmployeeSync{}
			s.state[p] = st
		}
		if err != nil {
			st.Error, st.FailedAt = text.Clip(err.Error(), 300), &now
		} else {
			*st = EmployeeSync{SyncedAt: &now, Users: len(users)}
		}
		s.smu.Unlock()
	}
	lists := map[string][]providerUser{}
	for p := range s.sources { // a provider no longer configured adds nobody
		lists[p] = s.last[p]
	}
	merged, keys := mergeEmployees(s.base, lists)
	amoIDs := map[string]bool{}
	for _, u := range s.last[CRMAmoCRM] {
		amoIDs[u.ID] = true
	}

	p := g.presence
	p.mu.Lock() // the online set is stored against this directory
	defer p.mu.Unlock()
	old, err := g.local().Employees(ctx, "")
	if err != nil {
		return err
	}
	if !slices.EqualFunc(old, merged, sameEmployee) {
		if err := g.setEmployees(ctx, merged); err != nil {
			return err
		}
		g.log.Info("employee sync: directory changed", "employees", len(merged), "was", len(old))
	}
	s.keys.Store(&keys)
	s.amoIDs.Store(&amoIDs)
	wasOnline := false
	for id := range p.status {
		if !slices.ContainsFunc(merged, func(e match.Employee) bool { return e.ID == id }) {
			wasOnline = wasOnline || p.isOnline(p.status[id])
			delete(p.status, id)
		}
	}
	if !wasOnline {
		return nil
	}
	var online []string
	for _, e := range merged {
		if p.isOnline(p.of(e.ID)) {
			online = append(online, e.ID)
		}
	}
	return g.setOnline(ctx, online)
}

// sameEmployee says whether a and b are equal.
func sameEmployee(a, b match.Employee) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Login == b.Login && a.Email == b.Email && a.Admin == b.Admin &&
		slices.Equal(a.Extensions, b.Extensions)
}

// setEmployees stores the directory.
func (g *Gateway) setEmployees(ctx context.Context, es []match.Employee) error {
	if g.db != nil {
		return g.db.SetEmployees(ctx, "", es...)
	}
	g.store.SetEmployees("", es...)
	return nil
}

// providerKeys are the extensions and logins each provider's user list
// gave employee id at the last sync.
func (g *Gateway) providerKeys(id string) map[string][]string {
	if k := g.empSync.keys.Load(); k != nil {
		return (*k)[id]
	}
	return nil
}

// syncState is how the last reading of provider's user list went; nil
// if never.
func (g *Gateway) syncState(provider string) *EmployeeSync {
	s := &g.empSync
	s.smu.Lock()
	defer s.smu.Unlock()
	if st := s.state[provider]; st != nil {
		c := *st
		return &c
	}
	return nil
}

// amoUser says whether id is an amoCRM user's, as the last sync listed
// them.
func (s *employeeSync) amoUser(id string) bool {
	ids := s.amoIDs.Load()
	return ids != nil && (*ids)[id]
}

// remember takes the users a previous run's sync added to the stored
// directory (their ids say their provider) as each provider's last list,
// so a provider whose list fails at the first sync keeps them. The
// extensions a provider gave configured employees come back with its
// first list.
func (s *employeeSync) remember(stored []match.Employee) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range stored {
		p, id, ok := strings.Cut(e.ID, ":")
		if !ok || !slices.Contains(providers, p) {
			continue
		}
		s.last[p] = append(s.last[p], providerUser{ID: id, Name: e.Name, Login: e.Login, Email: e.Email,
			Extensions: slices.Clone(e.Extensions), Admin: e.Admin})
	}
}
