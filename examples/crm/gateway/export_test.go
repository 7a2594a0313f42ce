package gateway

import (
	"context"
	"io"
	"testing"

	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/match"
)

// NewWithTap is New with a tap that sees every event a webhook handler
// accepts.
func NewWithTap(cfg Config, logOut io.Writer, tap func(callevent.Event)) (*Gateway, error) {
	return newGateway(cfg, logOut, tap)
}

// LogCall puts rec in the call log as the engine would, in memory or
// in the database.
func (g *Gateway) LogCall(rec match.CallRecord) error {
	if g.db != nil {
		return g.db.LogCall(context.Background(), rec)
	}
	g.store.calls.put(rec)
	return nil
}

// SetCaller replaces the click-to-call client of provider, which is
// also the user list the employee sync reads.
func (g *Gateway) SetCaller(provider string, c callevent.Caller) {
	g.callers[provider] = c
	g.empSync.setSource(provider, c)
}

// CampaignAttempts are the attempts of a campaign's target n, as its
// store keeps them.
func (g *Gateway) CampaignAttempts(id string, n int) ([]dialer.Attempt, error) {
	return g.dialStore.Attempts(context.Background(), id, n)
}

// DisplayAddr is displayAddr.
var DisplayAddr = displayAddr

// AppendCall is appendCall; CallOf is callOf.
var (
	AppendCall = appendCall
	CallOf     = callOf
)

// SubscribeTelphin is subscribeTelphin.
func (g *Gateway) SubscribeTelphin(ctx context.Context, base string) error {
	return g.subscribeTelphin(ctx, base)
}

// AmoCRMFake is the amoCRM fake of -demo in amoCRM mode.
func (g *Gateway) AmoCRMFake() *amocrmtest.Server { return g.amoFake }

// RecordingWaiters is how many requests waited for the download in
// progress of a call's recording, 0 when none is in progress.
func (g *Gateway) RecordingWaiters(provider, account, callID string) int {
	c := g.recCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if fl := c.flights[recordKey(provider, account, callID)]; fl != nil {
		return fl.waiters
	}
	return 0
}

// RecordKey is recordKey: the name of a call's recording in the cache.
var RecordKey = recordKey

// setSource replaces provider's user list with c's (the tests' fakes).
func (s *employeeSync) setSource(provider string, c any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if src := usersOf(c); src != nil {
		s.sources[provider] = src
	} else {
		delete(s.sources, provider)
	}
}

// QuickPasswordHash is a password hash with the fewest iterations
// accepted, for the tests' speed.
func QuickPasswordHash(t testing.TB, password string) string {
	t.Helper()
	h, err := hashPassword(password, MinPasswordIterations)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Screens is how many screens' streams are open.
func (g *Gateway) Screens() int { return g.live.Subscribers() }
