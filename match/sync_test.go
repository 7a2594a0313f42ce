// Tests that need every goroutine of a scenario parked before they go on
// use testing/synctest (Go 1.25): synctest.Wait returns once every
// goroutine of the bubble is blocked, so no test sleeps to "let the others
// pile up".
package match_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
	"github.com/stretchr/testify/require"
)

// TestResolveConcurrentCreatesOne: concurrent resolutions of one unknown
// phone create one client, and only one caller sees MatchCreated.
func TestResolveConcurrentCreatesOne(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, err := memstore.New()
		require.NoError(t, err)
		slow := &slowStore{Store: s, gate: make(chan struct{}), entered: make(chan struct{}, 100)}
		r, err := match.NewResolver(slow, "RU")
		require.NoError(t, err)
		var created atomic.Int32
		var wg sync.WaitGroup
		ids := make([]string, 100)
		errs := make([]error, 100)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := r.Resolve(context.Background(), acct, "+79165550000", &match.NewClient{Name: "n"})
				if res.Match == match.MatchCreated {
					created.Add(1)
				}
				ids[i], errs[i] = res.Client.ID, err
			}()
		}
		// Every resolution is parked: one in CreateClient, the others
		// waiting for its flight. Without single-flight they would all be
		// in CreateClient.
		synctest.Wait()
		entered := len(slow.entered)
		close(slow.gate) // before any assertion, so a failure cannot hang the bubble
		wg.Wait()
		require.Equal(t, 1, entered, "only one resolution reached CreateClient")
		require.NoError(t, errors.Join(errs...))
		require.Len(t, s.Clients(), 1)
		require.EqualValues(t, 1, created.Load())
		for _, id := range ids {
			require.Equal(t, s.Clients()[0].ID, id)
		}
	})
}

// ctxGatedStore holds CreateClient until gate is closed or the ctx it runs
// on ends (as a real store's HTTP call would).
type ctxGatedStore struct {
	*memstore.Store
	gate    chan struct{}
	entered atomic.Int32
}

func (s *ctxGatedStore) CreateClient(ctx context.Context, c match.Client) (match.Client, error) {
	s.entered.Add(1)
	select {
	case <-s.gate:
	case <-ctx.Done():
		return match.Client{}, ctx.Err()
	}
	return s.Store.CreateClient(ctx, c)
}

// TestResolveLeaderGivesUp: the caller whose resolution runs the shared
// flight gives up (its request was cancelled); the callers merged into
// the flight still get the client, and it is created once.
func TestResolveLeaderGivesUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, err := memstore.New()
		require.NoError(t, err)
		store := &ctxGatedStore{Store: s, gate: make(chan struct{})}
		r, err := match.NewResolver(store, "RU")
		require.NoError(t, err)

		lctx, cancel := context.WithCancel(context.Background())
		leaderErr := make(chan error, 1)
		go func() {
			_, err := r.Resolve(lctx, acct, "+79165550000", &match.NewClient{Name: "n"})
			leaderErr <- err
		}()
		synctest.Wait() // the leader is in CreateClient

		const followers = 10
		var wg sync.WaitGroup
		res := make([]match.Resolution, followers)
		errs := make([]error, followers)
		for i := range followers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i], errs[i] = r.Resolve(context.Background(), acct, "+79165550000", &match.NewClient{Name: "n"})
			}()
		}
		synctest.Wait() // the followers wait for the leader's flight

		cancel()
		synctest.Wait()
		close(store.gate)
		wg.Wait()
		require.ErrorIs(t, <-leaderErr, context.Canceled, "the leader gave up")
		require.NoError(t, errors.Join(errs...), "the followers did not fail with the leader's cancellation")
		require.Len(t, s.Clients(), 1)
		require.EqualValues(t, 1, store.entered.Load(), "created once")
		for _, r := range res {
			require.Equal(t, s.Clients()[0].ID, r.Client.ID)
			require.Equal(t, match.MatchPhone, r.Match, "for a follower the client was found")
		}
	})
}

// slowLeads holds every CreateLead until gate is closed.
type slowLeads struct {
	*memstore.Store
	gate    chan struct{}
	entered atomic.Int32
}

func (s *slowLeads) CreateLead(ctx context.Context, l match.Lead) (match.Lead, error) {
	s.entered.Add(1)
	<-s.gate
	return s.Store.CreateLead(ctx, l)
}

// TestPerPhoneLock: 20 concurrent calls from one unknown number, with a
// slow CreateLead and leads created "even if the client exists", make one
// client and one lead: the decisions of one phone run one at a time, so
// the 19 later calls see the first call's lead. Without the per-phone
// lock each call finds no active lead and creates its own (20 leads).
func TestPerPhoneLock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rule := match.DefaultRule()
		rule.Leads.InboundMissed = match.LeadCase{Create: true, EvenIfClientExists: true}
		h := newHarness(t, rule)
		store := &slowLeads{Store: h.s, gate: make(chan struct{})}
		h.e.SetLeadStore(store)

		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := callSpec{id: fmt.Sprint("pl", i), dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed}
				for _, ev := range c.events() {
					if err := h.e.HandleEvent(context.Background(), ev); err != nil {
						errs[i] = err
						return
					}
				}
			}()
		}
		synctest.Wait() // one call is in CreateLead; the others wait for its phone
		entered := store.entered.Load()
		close(store.gate) // before any assertion, so a failure cannot hang the bubble
		wg.Wait()
		require.EqualValues(t, 1, entered, "one decision at a time per phone")
		require.NoError(t, errors.Join(errs...))
		require.Len(t, h.s.Clients(), 2, "k1 and one new client")
		require.Len(t, h.s.Leads(), 1)
		require.Len(t, h.s.Calls(), n)
		for _, c := range h.s.Calls() {
			require.Equal(t, h.s.Leads()[0].ID, c.LeadID)
		}
	})
}

// TestPerPhoneLockWaitEndsWithCtx: a call waiting for another call of its
// phone gives up when its ctx ends, and its redelivery decides it.
func TestPerPhoneLockWaitEndsWithCtx(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rule := match.DefaultRule()
		rule.Leads.InboundMissed = match.LeadCase{Create: true, EvenIfClientExists: true}
		h := newHarness(t, rule)
		store := &slowLeads{Store: h.s, gate: make(chan struct{})}
		h.e.SetLeadStore(store)

		first := callSpec{id: "w1", dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed}.events()
		firstErr := make(chan error, 1)
		go func() {
			var err error
			for _, ev := range first {
				if err = h.e.HandleEvent(context.Background(), ev); err != nil {
					break
				}
			}
			firstErr <- err
		}()
		synctest.Wait() // the first call holds its phone, in CreateLead

		second := callSpec{id: "w2", dir: callevent.Inbound, phone: unknownA, ring: "101", status: callevent.Missed}.events()
		for _, ev := range second[:len(second)-1] {
			require.NoError(t, h.e.HandleEvent(t.Context(), ev))
		}
		ctx, cancel := context.WithCancel(context.Background())
		secondErr := make(chan error, 1)
		go func() { secondErr <- h.e.HandleEvent(ctx, second[len(second)-1]) }()
		synctest.Wait()
		cancel()
		require.ErrorIs(t, <-secondErr, context.Canceled)

		close(store.gate)
		require.NoError(t, <-firstErr)
		require.NoError(t, h.e.HandleEvent(t.Context(), second[len(second)-1]), "the redelivery decides the call")
		require.Len(t, h.s.Calls(), 2)
		require.Len(t, h.s.Leads(), 1)
	})
}

// leadGate parks ClientLeads until gate closes, counting who entered.
type leadGate struct {
	*memstore.Store
	gate    chan struct{}
	entered chan struct{}
}

func (s *leadGate) ClientLeads(ctx context.Context, account, clientID string) ([]match.Lead, error) {
	s.entered <- struct{}{}
	<-s.gate
	return s.Store.ClientLeads(ctx, account, clientID)
}

// TestOneNumberTwoAccountsOneLead: a store that keeps two telephony
// accounts as one CRM (memstore.SingleTenant, as the reference gateway
// does) gets one lead for two missed calls from one number that arrive
// through the two accounts at once: the engine decides calls of one
// number one at a time, whatever their account.
func TestOneNumberTwoAccountsOneLead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, err := memstore.New(memstore.SingleTenant())
		require.NoError(t, err)
		require.NoError(t, s.AddClients(match.Client{ID: "k1", Name: "Иван", Phone: known, Responsible: "u2"}))
		gate := &leadGate{Store: s, gate: make(chan struct{}), entered: make(chan struct{}, 10)}
		rule := match.DefaultRule()
		rule.Leads.InboundMissed = match.LeadCase{Create: true, EvenIfClientExists: true, Status: "new"}
		e, err := match.NewEngine(gate, match.WithRules(match.RuleSet{Default: match.Rules{Rule: rule}}))
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, account := range []string{"telphin-a", "megafon-b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := callevent.Event{ID: account + "-1", Provider: "p" + account, Account: account, Kind: callevent.Completed,
					Direction: callevent.Inbound, Status: callevent.Missed, CallID: "c-" + account, ClientPhone: known,
					LinePhone: line, At: t0, EndedAt: t0.Add(20 * time.Second)}
				errs[i] = e.HandleEvent(context.Background(), ev)
			}()
			synctest.Wait() // the first is parked in ClientLeads before the second starts
		}
		entered := len(gate.entered)
		close(gate.gate)
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		require.NoError(t, e.Close(context.Background()))
		require.Equal(t, 1, entered, "the second call of the number waited for the first")
		require.Len(t, s.Leads(), 1)
	})
}
