package httpx

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Authenticator adds credentials to an outgoing request. It is called once
// per send (not per retry) for requests to BaseURL's origin, with the
// request about to be sent; it may set headers, cookies or query parameters.
//
// If it also implements Reauthenticator, a 401 (or any response for which
// IsAuthFailure reports true) makes the Client call Reauthenticate once with
// the failed request and replay the request once, rebuilt from the Request
// (body replayed) and passed to Authenticate again. A second auth failure
// is returned as an *APIError: there is no loop.
type Authenticator interface {
	Authenticate(ctx context.Context, req *http.Request) error
}

// Reauthenticator is implemented by an Authenticator that can recover from
// rejected credentials (expired token, dropped session).
type Reauthenticator interface {
	// Reauthenticate is called with the request that failed (its headers
	// carry the rejected credential; its body has been consumed). It
	// typically invalidates the cached credential (CredentialCache.Invalidate
	// with the stale value) so the replay's Authenticate fetches a new one.
	Reauthenticate(ctx context.Context, failed *http.Request) error
	// IsAuthFailure reports whether resp means the credentials were
	// rejected: e.g. 401; for Phonet also 403 or a redirect to a login page.
	// It must not read the body.
	IsAuthFailure(resp *http.Response) bool
}

// CacheAuth is an Authenticator and Reauthenticator backed by a
// CredentialCache: Authenticate applies the cached credential (fetching it
// single-flight when needed); Reauthenticate invalidates the credential the
// failed request carried, so concurrent auth failures with the same stale
// credential cause exactly one refresh.
type CacheAuth[T comparable] struct {
	Cache *CredentialCache[T]
	// Apply adds cred to req (header, cookie or query parameter). Required.
	Apply func(req *http.Request, cred T)
	// Used reports whether the failed request carried cred. nil → apply cred
	// to a scratch request and compare the headers, cookies and query
	// parameters Apply sets with the failed request's.
	Used func(failed *http.Request, cred T) bool
	// AuthFailure classifies responses; nil → status 401.
	AuthFailure func(resp *http.Response) bool
}

// Authenticate implements Authenticator.
func (a *CacheAuth[T]) Authenticate(ctx context.Context, req *http.Request) error {
	cred, err := a.Cache.Get(ctx)
	if err != nil {
		return err
	}
	a.Apply(req, cred)
	return nil
}

// Reauthenticate implements Reauthenticator: it invalidates the cached
// credential if the failed request used it.
func (a *CacheAuth[T]) Reauthenticate(_ context.Context, failed *http.Request) error {
	a.Cache.InvalidateFunc(func(cred T) bool {
		if a.Used != nil {
			return a.Used(failed, cred)
		}
		return appliedTo(failed, cred, a.Apply)
	})
	return nil
}

// IsAuthFailure implements Reauthenticator.
func (a *CacheAuth[T]) IsAuthFailure(resp *http.Response) bool {
	if a.AuthFailure != nil {
		return a.AuthFailure(resp)
	}
	return resp.StatusCode == http.StatusUnauthorized
}

// appliedTo reports whether failed carries what apply sets for cred. If
// apply sets nothing comparable it returns true (invalidate).
func appliedTo[T any](failed *http.Request, cred T, apply func(*http.Request, T)) bool {
	scratch := &http.Request{Header: http.Header{}, URL: &url.URL{}}
	apply(scratch, cred)
	for k, want := range scratch.Header {
		got := failed.Header.Values(k)
		if k == "Cookie" {
			if !cookiesContain(got, want) {
				return false
			}
			continue
		}
		if !slices.Equal(got, want) {
			return false
		}
	}
	if scratch.URL.RawQuery != "" && failed.URL != nil {
		have := failed.URL.Query()
		for k, want := range scratch.URL.Query() {
			if !slices.Equal(have[k], want) {
				return false
			}
		}
	}
	return true
}

func cookiesContain(got, want []string) bool {
	have := map[string]bool{}
	for _, line := range got {
		for _, p := range strings.Split(line, ";") {
			have[strings.TrimSpace(p)] = true
		}
	}
	for _, line := range want {
		for _, p := range strings.Split(line, ";") {
			if p = strings.TrimSpace(p); p != "" && !have[p] {
				return false
			}
		}
	}
	return true
}
