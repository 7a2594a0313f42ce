package sqlstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/callbridge/callbridge/match"
)

// dirTTL bounds how long FindEmployee and Employees answer from a copy of
// an account's directory: a change through this DB (SetEmployees) shows
// at once, one made by another instance on the same database within
// dirTTL. Every call looks its employees up, and the directory changes
// rarely (an administrator, a sync every few minutes).
const dirTTL = 2 * time.Second

// maxDirAccounts bounds the accounts whose directory is kept.
const maxDirAccounts = 10000

// dirCache keeps the directories of the accounts lately looked up.
type dirCache struct {
	mu       sync.Mutex
	gen      uint64 // counts the changes made through this DB
	accounts map[string]dirEntry
}

// dirEntry is an account's directory as read at gen.
type dirEntry struct {
	emps []match.Employee
	gen  uint64
	read time.Time
}

// changed forgets every directory kept: one changed through this DB.
func (c *dirCache) changed() {
	c.mu.Lock()
	c.gen++
	clear(c.accounts)
	c.mu.Unlock()
}

// employees returns the directory of account, read by load unless a copy
// read in the last dirTTL (by now), since the last change through this
// DB, is kept. The slice is shared: do not change it.
func (c *dirCache) employees(ctx context.Context, account string, now func() time.Time,
	load func(context.Context, string) ([]match.Employee, error)) ([]match.Employee, error) {
	c.mu.Lock()
	gen := c.gen
	if e, ok := c.accounts[account]; ok && e.gen == gen && now().Sub(e.read) < dirTTL {
		c.mu.Unlock()
		return e.emps, nil
	}
	c.mu.Unlock()
	emps, err := load(ctx, account)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen { // no change since the read began
		if c.accounts == nil || len(c.accounts) >= maxDirAccounts {
			c.accounts = map[string]dirEntry{}
		}
		c.accounts[account] = dirEntry{emps: emps, gen: gen, read: now()}
	}
	c.mu.Unlock()
	return emps, nil
}

// cloneEmployee is e with its own extensions.
func cloneEmployee(e match.Employee) match.Employee {
	e.Extensions = slices.Clone(e.Extensions)
	return e
}
