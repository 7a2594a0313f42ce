package telphin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Extension types and statuses used in ExtensionFilter.
const (
	ExtensionPhone = "phone"
	ExtensionQueue = "queue"
	ExtensionIVR   = "ivr"
	ExtensionFax   = "fax"
)

// Extension is an internal number of the client: a phone terminal, queue,
// IVR or fax (GET /client/@me/extension/).
type Extension struct {
	ID int64 `json:"id"`
	// Name is the full name "<client prefix>*<short number>", e.g. "15400*101".
	Name   string `json:"name"`
	Domain string `json:"domain"`
	// Type is "phone", "queue", "ivr" or "fax".
	Type string `json:"type"`
	// Status is "active" or "blocked".
	Status           string `json:"status"`
	Label            string `json:"label"`
	ClientID         int64  `json:"client_id"`
	ExtensionGroupID *int64 `json:"extension_group_id"`
	CallerIDName     string `json:"caller_id_name"`
	CreateDate       string `json:"create_date"`
}

// Short returns the short number: the part of Name after "*" ("101").
func (e Extension) Short() string { return shortExtension(e.Name) }

// ExtensionFilter narrows Extensions. Zero fields do not filter.
type ExtensionFilter struct {
	// Type is ExtensionPhone, ExtensionQueue, ExtensionIVR or ExtensionFax.
	Type string
	// Status is "active" or "blocked".
	Status string
	// Name is a full extension name, e.g. "15400*101".
	Name string
}

// extensionsPerPage is the page size used to list extensions.
const extensionsPerPage = 100

// Extensions lists the client's extensions matching f, all pages
// (GET /api/ver1.0/client/@me/extension/).
func (c *Client) Extensions(ctx context.Context, f ExtensionFilter) ([]Extension, error) {
	q := url.Values{"per_page": {strconv.Itoa(extensionsPerPage)}}
	for k, v := range map[string]string{"type": f.Type, "status": f.Status, "name": f.Name} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var all []Extension
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		var batch []Extension
		if err := c.do(ctx, "extensions.list", http.MethodGet, "client/@me/extension/", q, nil, &batch); err != nil {
			return nil, err
		}
		all = append(all, batch...)
		if len(batch) < extensionsPerPage {
			return all, nil
		}
	}
}

// extensionTTL is how long the cached extension list is used before it
// is fetched again, so a deleted or renumbered extension stops resolving
// to its old id.
const extensionTTL = time.Hour

// extIndex is the cached extension list used to resolve what callers give
// as an employee or group (short number, full name, numeric id).
type extIndex struct {
	byID    map[int64]Extension
	byName  map[string]Extension // lower-cased full name
	byShort map[string]Extension
	at      time.Time
}

func (c *Client) fetchExtensions(ctx context.Context, _ *extIndex) (*extIndex, time.Time, error) {
	list, err := c.Extensions(ctx, ExtensionFilter{})
	if err != nil {
		return nil, time.Time{}, err
	}
	idx := &extIndex{byID: map[int64]Extension{}, byName: map[string]Extension{}, byShort: map[string]Extension{}, at: c.now()}
	for _, e := range list {
		idx.byID[e.ID] = e
		idx.byName[strings.ToLower(e.Name)] = e
		if s := e.Short(); s != "" {
			if prev, dup := idx.byShort[s]; !dup || prev.Type != ExtensionPhone {
				idx.byShort[s] = e // prefer phones for ambiguous short numbers
			}
		}
	}
	// No expiry for the cache: Extension ages the list with c.now.
	return idx, time.Time{}, nil
}

func (idx *extIndex) find(ref string) (Extension, bool) {
	if e, ok := idx.byName[strings.ToLower(ref)]; ok {
		return e, true
	}
	if e, ok := idx.byShort[ref]; ok {
		return e, true
	}
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		if e, ok := idx.byID[id]; ok {
			return e, true
		}
	}
	return Extension{}, false
}

// Extension resolves ref — a short number ("101"), a full name
// ("15400*101", optionally with "@domain") or a numeric extension id — to
// the extension, through a cached extension list shared by all goroutines.
// The list is fetched once (single-flight), fetched again when ref is not
// in it (at most every few seconds), so new extensions are found, and
// fetched again on use once it is an hour old (single-flight too), so a
// deleted or renumbered extension stops resolving to its old id.
// An unknown ref is ErrUnknownExtension.
func (c *Client) Extension(ctx context.Context, ref string) (Extension, error) {
	ref = strings.TrimSpace(ref)
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if ref == "" {
		return Extension{}, fmt.Errorf("%w: empty", ErrUnknownExtension)
	}
	idx, err := c.ext.Get(ctx)
	if err != nil {
		return Extension{}, err
	}
	if c.now().Sub(idx.at) >= c.extTTL {
		c.ext.Invalidate(idx) // concurrent users of the old list refresh once
		if idx, err = c.ext.Get(ctx); err != nil {
			return Extension{}, err
		}
	}
	if e, ok := idx.find(ref); ok {
		return e, nil
	}
	if c.now().Sub(idx.at) >= c.extMinAge {
		c.ext.Invalidate(idx) // concurrent misses on the same list refresh once
		if idx, err = c.ext.Get(ctx); err != nil {
			return Extension{}, err
		}
		if e, ok := idx.find(ref); ok {
			return e, nil
		}
	}
	return Extension{}, fmt.Errorf("%w: %q", ErrUnknownExtension, ref)
}

// shortExtension returns the short number of "prefix*ext@domain" ("ext"),
// or s without its domain if it has no "*".
func shortExtension(s string) string {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '*'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
