package amocrm

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// User is an amoCRM user.
type User struct {
	ID     int64      `json:"id"`
	Name   string     `json:"name"`
	Email  string     `json:"email"`
	Lang   string     `json:"lang"`
	Rights UserRights `json:"rights"`
}

// UserRights are the flags of a user's rights that telephony needs.
type UserRights struct {
	IsAdmin  bool   `json:"is_admin"`
	IsFree   bool   `json:"is_free"`
	IsActive bool   `json:"is_active"`
	GroupID  *int64 `json:"group_id"`
	RoleID   *int64 `json:"role_id"`
}

// usersPageSize is the page size of Users (amoCRM's maximum).
const usersPageSize = 250

// Users iterates over the account's users (GET /api/v4/users, 250 per
// page). Only an administrator's token may list users: for others amoCRM
// answers 403 and the iterator yields that error. Iteration stops at the
// first error; break out of the loop to stop early.
//
//	for u, err := range client.Users(ctx) {
//		if err != nil { return err }
//		…
//	}
func (c *Client) Users(ctx context.Context) iter.Seq2[User, error] {
	return func(yield func(User, error) bool) {
		for n := 1; ; n++ {
			var p page[struct {
				Users []User `json:"users"`
			}]
			q := url.Values{"page": {strconv.Itoa(n)}, "limit": {strconv.Itoa(usersPageSize)}}
			resp, err := c.call(ctx, http.MethodGet, "api/v4/users", q, nil, &p, true)
			if err != nil {
				yield(User{}, err)
				return
			}
			if resp.StatusCode == http.StatusNoContent { // past the last page
				return
			}
			for _, u := range p.Embedded.Users {
				if !yield(u, nil) {
					return
				}
			}
			if len(p.Embedded.Users) < usersPageSize || p.Links.Next == nil {
				return
			}
		}
	}
}
