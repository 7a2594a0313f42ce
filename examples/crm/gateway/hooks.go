package gateway

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/callbridge/callbridge/telphin"
)

// hookSetupTimeout bounds registering Telphin's webhooks at start.
const hookSetupTimeout = 2 * time.Minute

// telphinHookURL is the URL Telphin posts the events of the gateway's
// application to.
func (g *Gateway) telphinHookURL(base string) string {
	return strings.TrimRight(base, "/") + "/hooks/telphin/" + url.PathEscape(g.telphinApp) + "?token=" + url.QueryEscape(g.hookToken)
}

// subscribeTelphin registers the gateway's Telphin webhook URL for the
// four call events of every active phone extension, and removes the
// gateway's stale hooks (an older token), as the guide does by hand in
// the Telphin panel (telphin.Client.SubscribeAll). base must be the URL
// Telphin reaches the gateway at (-public-url).
func (g *Gateway) subscribeTelphin(ctx context.Context, base string) error {
	c, ok := g.callers[telphin.Provider].(*telphin.Client)
	if !ok {
		return nil
	}
	if err := c.SubscribeAll(ctx, g.telphinHookURL(base)); err != nil {
		return fmt.Errorf("telphin webhooks: %w", err)
	}
	return nil
}

// setUpHooks registers the webhooks the gateway can register itself, in
// the background; only with a public URL, which a provider can reach.
func (g *Gateway) setUpHooks(ctx context.Context) {
	if g.cfg.PublicURL == "" {
		if _, ok := g.callers[telphin.Provider].(*telphin.Client); ok {
			g.log.Info("telphin webhooks not registered: set -public-url (CRM_PUBLIC_URL) to the URL Telphin reaches the gateway at, and the gateway registers them for every extension")
		}
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hookSetupTimeout)
		defer cancel()
		if err := g.subscribeTelphin(ctx, g.cfg.PublicURL); err != nil {
			g.log.Error("registering webhooks failed; register them by hand (the URLs are printed at start)", "error", err)
			g.hookStats.failed(telphin.Provider, err, time.Now().UTC())
			return
		}
		if _, ok := g.callers[telphin.Provider].(*telphin.Client); ok {
			g.hookStats.registered(telphin.Provider)
			g.log.Info("telphin webhooks registered for every active extension")
		}
	}()
}
