package amocrm_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/match"
)

// TestBudgetRequestsPerCall measures the amoCRM requests one completed call
// costs (the cards of the live call not counted). An unknown number is
// searched among contacts and then companies.
func TestBudgetRequestsPerCall(t *testing.T) {
	t.Parallel()
	withLeads := match.DefaultRule()
	withLeads.Leads.InboundAnswered = match.LeadCase{Create: true, Pipeline: "7249526"}
	tests := []struct {
		name     string
		rule     match.Rule
		phone    string
		activeLd bool
		want     int
	}{
		{"known contact (search, call)", match.DefaultRule(), "+79161111111", false, 2},
		{"known contact with an active lead, no lead rule (search, call)", match.DefaultRule(), "+79161111111", true, 2},
		{"known contact with an active lead, lead rule on (search, lead statuses, note on the lead)", withLeads, "+79161111111", true, 3},
		{"unknown number, contact (2 searches, contact, call)", match.DefaultRule(), "+79162222222", false, 4},
		{"unknown number, contact and lead (2 searches, contact, lead, note on the lead)", withLeads, "+79162222222", false, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{rule: tt.rule, noPopups: true})
			id := e.srv.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+79161111111"}, ResponsibleUserID: op2})
			if tt.activeLd {
				e.srv.AddLead(amocrmtest.Lead{Name: "Сделка", ContactIDs: []int64{id}})
			}
			e.send(call{"5c000000000000000000000000000001", tt.phone, "101"}.inboundAnswered()...)
			got := requests(e.srv)
			t.Logf("%d requests: %q", len(got), got)
			require.Len(t, got, tt.want)
			require.Len(t, e.srv.Calls(), 1, "the call is logged")
		})
	}
}

// TestBudgetConcurrentUnknownNumber: 50 concurrent calls from one unknown
// number create exactly one contact and log all 50 calls.
func TestBudgetConcurrentUnknownNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{rule: match.DefaultRule(), noPopups: true})
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.deliver(call{fmt.Sprintf("5c%030d", i), "+79162222222", "101"}.inboundAnswered()...)
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	e.settle()
	require.Len(t, e.srv.Contacts(), 1, "one contact for one number")
	require.Len(t, e.srv.Calls(), 50)
	require.Equal(t, 1, e.srv.Count("GET", "/api/v4/contacts"), "one search: the cache answers the rest")
	require.Equal(t, 1, e.srv.Count("GET", "/api/v4/companies"), "one search of companies")
}

// TestBudgetBurstRespectsRateLimit: 200 calls at once (100 known and 100
// unknown numbers) never exceed the rate limit at the fake, which answers
// 429 beyond it (a token bucket: the limit per second, burst = limit, which
// absorbs scheduling jitter between the client's limiter and the server),
// and no call is lost. Both sides run at 50 requests/s so
// the test takes ~10 s instead of ~70 s at amoCRM's 7; the default 7 is
// checked by TestDefaultRateLimit.
func TestBudgetBurstRespectsRateLimit(t *testing.T) {
	t.Parallel()
	const limit = 50
	e := newEnv(t, envConfig{rule: match.DefaultRule(), noPopups: true,
		clientOpt: []callbridge.ClientOption{callbridge.WithRateLimit(limit, 1)}})
	e.srv.SetRateLimit(limit, limit)
	for i := range 100 {
		e.srv.AddContact(amocrmtest.Contact{Name: fmt.Sprint("Клиент ", i), Phones: []string{fmt.Sprintf("+7916%07d", i)}, ResponsibleUserID: op2})
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.deliver(call{fmt.Sprintf("5c%030d", i), fmt.Sprintf("+7916%07d", i), "101"}.inboundAnswered()...)
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	e.settle()
	reqs := len(e.srv.APIRequests())
	t.Logf("200 calls: %d requests in %v, at most %d in one second", reqs, time.Since(start).Round(time.Millisecond), e.srv.MaxPerSecond())
	require.Zero(t, e.srv.RateLimited(), "the fake answered 429: the client exceeded the limit")
	require.Len(t, e.srv.Calls(), 200, "no call is lost")
	require.Len(t, e.srv.Contacts(), 200)
	require.Equal(t, 600, reqs, "2 per known number, 4 per unknown")
}

// TestDefaultRateLimit: with the defaults on both sides (7 requests/s) a
// burst of calls gets no 429 and is spread out at 7 requests/s: the fake's
// token bucket (burst 7) would accept up to 14 requests in the first
// second, so the elapsed time and the fake's sliding one-second count
// check the client's own limit. Without the client limiter the same burst
// gets 429s (so the fake's check can fail).
func TestDefaultRateLimit(t *testing.T) {
	t.Parallel()
	t.Run("default 7 rps", func(t *testing.T) {
		t.Parallel()
		const (
			calls = 15
			reqs  = 2 * calls // search and call per known contact
			burst = 1         // the default client burst
		)
		e := newEnv(t, envConfig{rule: match.DefaultRule(), noPopups: true, clientOpt: []callbridge.ClientOption{}})
		for i := range calls {
			e.srv.AddContact(amocrmtest.Contact{Name: fmt.Sprint("Клиент ", i), Phones: []string{fmt.Sprintf("+7916%07d", i)}})
		}
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, calls)
		for i := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.deliver(call{fmt.Sprintf("5c%030d", i), fmt.Sprintf("+7916%07d", i), "101"}.inboundAnswered()...)
			}()
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		e.settle()
		elapsed := time.Since(start)
		t.Logf("%d requests in %v, at most %d received in one second", reqs, elapsed.Round(time.Millisecond), e.srv.MaxPerSecond())
		require.Zero(t, e.srv.RateLimited(), "the fake answered 429: the client exceeded 7 requests/s")
		require.Len(t, e.srv.APIRequests(), reqs)
		require.Len(t, e.srv.Calls(), calls)
		// At amoCRM's 7/s (a literal, not DefaultRateLimit, so a changed
		// default fails) with burst 1 the last request leaves at the
		// earliest (reqs-burst)/7 s after the first: 4.1 s; 9/s takes 3.2 s.
		minElapsed := time.Duration(reqs-burst)*time.Second/7 - 100*time.Millisecond
		require.GreaterOrEqual(t, elapsed, minElapsed, "faster than 7 requests/s on average")
		// 7 in any second, plus one for the jitter between the client's
		// limiter and the fake's receive times.
		require.LessOrEqual(t, e.srv.MaxPerSecond(), 8, "more than 7 requests in one second")
	})
	t.Run("no client limit", func(t *testing.T) {
		t.Parallel()
		srv := amocrmtest.NewServer()
		t.Cleanup(srv.Close)
		c, err := amocrm.NewClient(amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: srv.LongLivedToken()},
			callbridge.WithBaseURL(srv.URL), callbridge.WithHTTPClient(srv.Client()), noRateLimit(), noRetries())
		require.NoError(t, err)
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = c.SearchContacts(t.Context(), "916", 10)
			}()
		}
		wg.Wait()
		require.Positive(t, srv.RateLimited())
	})
}
