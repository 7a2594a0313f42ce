package telphin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// callEventTypes are the four call events Subscribe registers.
var callEventTypes = []string{"dial-in", "dial-out", "answer", "hangup"}

// EventHook is a webhook registered on an extension
// (/api/ver1.0/extension/{id}/event/).
type EventHook struct {
	ID        int64  `json:"id"`
	URL       string `json:"url"`
	Method    string `json:"method"`
	EventType string `json:"event_type"`
}

// EventHooks lists the hooks of an extension (short number, name or id).
func (c *Client) EventHooks(ctx context.Context, extension string) ([]EventHook, error) {
	ext, err := c.Extension(ctx, extension)
	if err != nil {
		return nil, err
	}
	return c.hooks(ctx, ext.ID)
}

func (c *Client) hooks(ctx context.Context, extID int64) ([]EventHook, error) {
	var hooks []EventHook
	if err := c.do(ctx, "hooks.list", http.MethodGet, hookPath(extID), nil, nil, &hooks); err != nil {
		return nil, err
	}
	return hooks, nil
}

func hookPath(extID int64) string {
	return "extension/" + strconv.FormatInt(extID, 10) + "/event/"
}

// Subscribe registers hookURL for the four call events (dial-in, dial-out,
// answer, hangup) of an extension (short number, full name or id), method
// POST — what otherwise is clicked through by hand in the Telphin panel for
// every extension. It is idempotent: an existing hook with the same event
// type, URL and method is kept, not duplicated. Hooks to the same endpoint
// (hookURL's scheme, host and path) with another URL, such as an older
// token in the query, are deleted once the new ones exist, so a rotated
// token or a moved gateway leaves no stale hook that would fail every
// call. It returns the four hooks. Put the handler's token in hookURL
// ("https://crm.example/telphin/APPID?token=…").
func (c *Client) Subscribe(ctx context.Context, extension, hookURL string) ([]EventHook, error) {
	if err := checkHookURL(hookURL); err != nil {
		return nil, err
	}
	ext, err := c.Extension(ctx, extension)
	if err != nil {
		return nil, err
	}
	return c.subscribe(ctx, ext.ID, hookURL)
}

func (c *Client) subscribe(ctx context.Context, extID int64, hookURL string) ([]EventHook, error) {
	existing, err := c.hooks(ctx, extID)
	if err != nil {
		return nil, err
	}
	out := make([]EventHook, 0, len(callEventTypes))
next:
	for _, typ := range callEventTypes {
		for _, h := range existing {
			if h.EventType == typ && h.URL == hookURL && (h.Method == "" || h.Method == http.MethodPost) {
				out = append(out, h)
				continue next
			}
		}
		var created EventHook
		body := EventHook{URL: hookURL, EventType: typ, Method: http.MethodPost}
		// Not retried after it may have been sent: a retry could duplicate the hook.
		if err := c.do(ctx, "hooks.create", http.MethodPost, hookPath(extID), nil, body, &created); err != nil {
			return out, err
		}
		out = append(out, created)
	}
	for _, h := range existing {
		if h.URL != hookURL && sameEndpoint(h.URL, hookURL) {
			if err := c.do(ctx, "hooks.delete", http.MethodDelete, hookPath(extID)+strconv.FormatInt(h.ID, 10), nil, nil, nil); err != nil {
				return out, fmt.Errorf("delete stale hook %d: %w", h.ID, err)
			}
		}
	}
	return out, nil
}

// sameEndpoint reports whether two hook URLs differ at most in their
// query and fragment.
func sameEndpoint(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		strings.TrimRight(ua.Path, "/") == strings.TrimRight(ub.Path, "/")
}

// SubscribeAll runs Subscribe for every active phone extension of the
// client (stale hooks of the endpoint are deleted as Subscribe does). It goes on after a failing extension and returns the failures
// joined.
func (c *Client) SubscribeAll(ctx context.Context, hookURL string) error {
	if err := checkHookURL(hookURL); err != nil {
		return err
	}
	exts, err := c.Extensions(ctx, ExtensionFilter{Type: ExtensionPhone, Status: "active"})
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range exts {
		if _, err := c.subscribe(ctx, e.ID, hookURL); err != nil {
			errs = append(errs, fmt.Errorf("extension %s: %w", e.Name, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Unsubscribe deletes every hook of an extension whose URL is hookURL
// (DELETE /api/ver1.0/extension/{id}/event/{hook id}). No hook is not an error.
func (c *Client) Unsubscribe(ctx context.Context, extension, hookURL string) error {
	ext, err := c.Extension(ctx, extension)
	if err != nil {
		return err
	}
	hooks, err := c.hooks(ctx, ext.ID)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		if h.URL != hookURL {
			continue
		}
		if err := c.do(ctx, "hooks.delete", http.MethodDelete, hookPath(ext.ID)+strconv.FormatInt(h.ID, 10), nil, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

func checkHookURL(hookURL string) error {
	if u, err := url.Parse(hookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("telphin: hook URL must be an absolute http(s) URL")
	}
	return nil
}
