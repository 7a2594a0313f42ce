package phonet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
)

func setup(t *testing.T, opts ...callbridge.ClientOption) (*phonet.Client, *phonettest.Server) {
	t.Helper()
	srv := phonettest.NewServer()
	t.Cleanup(srv.Close)
	c, err := srv.NewClient(opts...)
	require.NoError(t, err)
	return c, srv
}

var call = callevent.CallRequest{From: "001", To: "+380671234567"}

func TestClientAuthorizeAndCall(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	ref, err := c.Call(t.Context(), call)
	require.NoError(t, err)
	require.NotEmpty(t, ref.CallID)

	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "/rest/security/authorize", reqs[0].Path)
	require.JSONEq(t, `{"domain":"acme.phonet.com.ua","apiKey":"`+phonettest.DefaultAPIKey+`"}`, string(reqs[0].Body))
	require.Equal(t, "/rest/user/makeCall", reqs[1].Path)
	require.JSONEq(t, `{"legExt":"001","otherLegNum":"+380671234567"}`, string(reqs[1].Body))
	require.Equal(t, "FAKESESSION0001", reqs[1].Session, "the session cookie is sent")

	active := srv.ActiveCalls()
	require.Len(t, active, 1)
	require.Equal(t, ref.CallID, active[0].UUID)
	require.NoError(t, c.Hangup(t.Context(), callevent.CallControlRequest{CallID: ref.CallID}))
	require.Empty(t, srv.ActiveCalls())
	require.Equal(t, 1, srv.Authorizations(), "the session is reused")

	var apiErr *callbridge.APIError
	require.ErrorAs(t, c.Hangup(t.Context(), callevent.CallControlRequest{CallID: ref.CallID}), &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)
}

func TestClientSessionExpiry(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusForbidden, http.StatusUnauthorized, http.StatusFound} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t)
			srv.SetExpiredResponse(status)
			_, err := c.Users(t.Context())
			require.NoError(t, err)
			srv.ExpireSessions()
			_, err = c.Call(t.Context(), call)
			require.NoError(t, err, "an expired session is re-authorized and the call replayed")
			require.Equal(t, 2, srv.Authorizations(), "one re-authorization")
			require.Equal(t, 2, srv.Count(http.MethodPost, "/rest/user/makeCall"), "rejected once, replayed once")
			require.Zero(t, srv.Count(http.MethodGet, "/login"), "the login redirect is not followed")
			reqs := srv.Requests()
			require.Equal(t, "FAKESESSION0002", reqs[len(reqs)-1].Session)
		})
	}
}

func TestClientSessionRejectedTwice(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	_, err := c.Users(t.Context())
	require.NoError(t, err)
	srv.ExpireSessions()
	srv.Fail(phonettest.Failure{Path: "/rest/user/makeCall", Status: http.StatusForbidden, Times: 2})
	_, err = c.Call(t.Context(), call)
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusForbidden, apiErr.StatusCode)
	require.Equal(t, 2, srv.Count(http.MethodPost, "/rest/user/makeCall"), "no loop: one replay only")
	require.Equal(t, 2, srv.Authorizations())
}

func TestClientConcurrentCallsAuthorizeOnce(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	run := func() {
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.Call(context.Background(), call)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
	run()
	require.Equal(t, 1, srv.Authorizations())
	require.Equal(t, 100, srv.Count(http.MethodPost, "/rest/user/makeCall"))

	srv.ExpireSessions()
	run()
	require.Equal(t, 2, srv.Authorizations(), "100 rejected calls share one re-authorization")
}

// A session that outlives its TTL is rejected and re-authorized. The fake's
// clock moves only when the test says so: no sleeping, no race with a slow
// machine.
func TestClientSessionTTL(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	var mu sync.Mutex
	now := time.Date(2025, 8, 8, 9, 0, 0, 0, time.UTC)
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	srv.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	srv.SetSessionTTL(time.Minute)

	_, err := c.Users(t.Context())
	require.NoError(t, err)
	advance(time.Minute) // at the expiry instant the session still holds
	_, err = c.Users(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, srv.Authorizations(), "the session is reused within its TTL")

	advance(time.Second)
	_, err = c.Users(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, srv.Authorizations(), "an expired session is re-authorized once")
	require.Equal(t, 4, srv.Count(http.MethodGet, "/rest/users"), "one rejected request, replayed")
	reqs := srv.Requests()
	require.Equal(t, "FAKESESSION0002", reqs[len(reqs)-1].Session)
}

func TestClientAuthorizeFailures(t *testing.T) {
	t.Parallel()
	srv := phonettest.NewServer()
	t.Cleanup(srv.Close)
	c, err := phonet.NewClient(phonet.Credentials{Domain: srv.Domain, APIKey: "wrong-key-123456"}, callbridge.WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = c.Call(t.Context(), call)
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusForbidden, apiErr.StatusCode)
	require.NotContains(t, err.Error(), "wrong-key-123456")
	require.Zero(t, srv.Count(http.MethodPost, "/rest/user/makeCall"))

	c2, srv2 := setup(t)
	srv2.OmitSessionCookie(true)
	_, err = c2.Users(t.Context())
	require.ErrorIs(t, err, phonet.ErrNoSession)
	require.Zero(t, srv2.Count(http.MethodGet, "/rest/users"))
}

func TestClientMakeCallNotRetried(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusInternalServerError} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t)
			srv.Fail(phonettest.Failure{Path: "/rest/user/makeCall", Status: status, Times: 5})
			_, err := c.Call(t.Context(), call)
			var apiErr *callbridge.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, status, apiErr.StatusCode)
			require.Equal(t, 1, srv.Count(http.MethodPost, "/rest/user/makeCall"), "one click, at most one call")
		})
	}
}

func TestClientRetries(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	srv.SetUsers(phonettest.User{ID: 30, DisplayName: "Олена Коваль", Ext: "001"})
	srv.Fail(phonettest.Failure{Path: "/rest/users", Status: http.StatusServiceUnavailable, Times: 2})
	users, err := c.Users(t.Context())
	require.NoError(t, err, "GET is retried on 503")
	require.Len(t, users, 1)
	require.Equal(t, 3, srv.Count(http.MethodGet, "/rest/users"))

	c2, srv2 := setup(t, callbridge.WithRetry(callbridge.RetryPolicy{}))
	srv2.Fail(phonettest.Failure{Path: "/rest/users", Status: http.StatusTooManyRequests, RetryAfter: "7"})
	_, err = c2.Users(t.Context())
	var rl *callbridge.RateLimitError
	require.ErrorAs(t, err, &rl)
	require.Equal(t, 7*time.Second, rl.RetryAfter)
	require.Equal(t, 1, srv2.Count(http.MethodGet, "/rest/users"), "WithRetry with MaxRetries 0 turns retries off")
}

func TestClientSlowServer(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, callbridge.WithRetry(callbridge.RetryPolicy{}))
	srv.Fail(phonettest.Failure{Path: "/rest/calls/active/v3", Delay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.ActiveCalls(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestClientUsersAndActiveCalls(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	var users []phonettest.User
	require.NoError(t, json.Unmarshal(golden(t, "users.json"), &users))
	srv.SetUsers(users...)
	var active []phonettest.ActiveCall
	require.NoError(t, json.Unmarshal(golden(t, "active_calls.json"), &active))
	srv.AddActiveCall(active[0])

	gotUsers, err := c.Users(t.Context())
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]phonet.User{
		{ID: 30, DisplayName: "Олена Коваль", Ext: "001", Email: "olena@acme.ua"},
		{ID: 14, DisplayName: "Петро Шевченко", Ext: "002", Email: "petro@acme.ua"},
	}, gotUsers))

	gotActive, err := c.ActiveCalls(t.Context())
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]phonet.ActiveCall{{
		UUID: "47a968893984475b8c20e29dec144ce3", LastEvent: phonet.EventBridge, Direction: phonet.DirectionIncoming,
		DialAt: ms(1754641204000), BridgeAt: ms(1754641217000),
		Leg:       &phonet.Leg{ID: "30", Ext: "001", DisplayName: "Олена Коваль"},
		OtherLegs: []phonet.OtherLeg{{ID: "6137", Name: "ТОВ Ромашка", Num: "+380501112233", URL: "https://crm.example.com/contacts/6137"}},
		TrunkNum:  "+380442000000", TrunkName: "+380442000000",
	}}, gotActive))
}

// TestActiveCallSecondsDecoding decodes the doc-era second-precision shape
// directly.
func TestActiveCallSecondsDecoding(t *testing.T) {
	t.Parallel()
	var a phonet.ActiveCall
	require.NoError(t, json.Unmarshal([]byte(`{"uuid":"u","lastEvent":"call.dial","dialAt":1754641204,"bridgeAt":0,"lgDirection":"2","leg":null,"otherLegs":[{"id":6137,"num":380671234567}]}`), &a))
	require.Equal(t, ms(1754641204000), a.DialAt)
	require.True(t, a.BridgeAt.IsZero())
	require.Equal(t, phonet.DirectionOutgoing, a.Direction)
	require.Nil(t, a.Leg)
	require.Equal(t, "380671234567", a.OtherLegs[0].Num)
	require.Equal(t, "6137", a.OtherLegs[0].ID)
}

func records(n int, start time.Time) []phonettest.Record {
	out := make([]phonettest.Record, n)
	for i := range out {
		c := phonettest.InboundCall()
		c.UUID = "call-" + strconv.Itoa(i)
		c.DialAt = start.Add(time.Duration(i) * time.Second)
		c.BridgeAt = c.DialAt.Add(3 * time.Second)
		c.HangupAt = c.DialAt.Add(30 * time.Second)
		if i%2 == 1 {
			c.Direction = 2
		}
		out[i] = c.HistoryRecord()
	}
	return out
}

func TestClientCallsPaging(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 8, 8, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		n        int
		query    phonet.CallsQuery
		want     int
		requests int
		query0   string // expected query of the first page
	}{
		{"120 records: 3 pages", 120, phonet.CallsQuery{}, 120, 3, ""},
		{"exactly 100: an empty last page", 100, phonet.CallsQuery{}, 100, 3, ""},
		{"fewer than a page", 7, phonet.CallsQuery{}, 7, 1, ""},
		{"none", 0, phonet.CallsQuery{}, 0, 1, ""},
		{"page size 10", 25, phonet.CallsQuery{PageSize: 10}, 25, 3, ""},
		{"missed endpoint", 3, phonet.CallsQuery{Source: phonet.HistoryMissed}, 3, 1, ""},
		{"direction mask", 10, phonet.CallsQuery{Directions: []phonet.Direction{phonet.DirectionOutgoing}}, 5, 1, "directions=2"},
		{"indexed directions", 10, phonet.CallsQuery{Directions: []phonet.Direction{phonet.DirectionOutgoing, phonet.DirectionIncoming},
			DirectionsEncoding: phonet.DirectionsIndexed}, 10, 1, "directions%5B0%5D=2&directions%5B1%5D=4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t)
			endpoint, path := phonettest.Company, "/rest/calls/company.api"
			if tt.query.Source == phonet.HistoryMissed {
				endpoint, path = phonettest.Missed, "/rest/calls/missed.api"
			}
			srv.AddCalls(endpoint, records(tt.n, start)...)
			srv.AddCalls(endpoint, records(5, start.Add(24*time.Hour))...) // outside the window
			q := tt.query
			q.From, q.To = start, start.Add(time.Hour)
			seen := map[string]bool{}
			for rec, err := range c.Calls(t.Context(), q) {
				require.NoError(t, err)
				require.False(t, seen[rec.UUID], "no record twice")
				seen[rec.UUID] = true
			}
			require.Len(t, seen, tt.want)
			require.Equal(t, tt.requests, srv.Count(http.MethodGet, path))
			first := srv.Requests()[1]
			require.Equal(t, strconv.FormatInt(start.UnixMilli(), 10), first.Query.Get("timeFrom"), "epoch milliseconds")
			require.Equal(t, strconv.FormatInt(start.Add(time.Hour).UnixMilli(), 10), first.Query.Get("timeTo"))
			require.Equal(t, "0", first.Query.Get("offset"))
			if tt.query0 != "" {
				u := first.Query.Encode()
				require.Contains(t, u, tt.query0)
			}
		})
	}
}

func TestClientCallsStopsEarlyAndFails(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	start := time.Date(2025, 8, 8, 8, 0, 0, 0, time.UTC)
	srv.AddCalls(phonettest.Company, records(120, start)...)
	q := phonet.CallsQuery{From: start, To: start.Add(time.Hour)}
	n := 0
	for range c.Calls(t.Context(), q) {
		n++
		if n == 3 {
			break
		}
	}
	require.Equal(t, 1, srv.Count(http.MethodGet, "/rest/calls/company.api"), "breaking stops paging")

	srv.Fail(phonettest.Failure{Path: "/rest/calls/company.api", Status: http.StatusBadRequest})
	var errs []error
	for _, err := range c.Calls(t.Context(), q) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	require.Len(t, errs, 1, "an error is yielded once")

	for _, bad := range []phonet.CallsQuery{
		{}, {From: start}, {From: start, To: start.Add(-time.Second)}, {From: start, To: start, PageSize: 51},
		{From: start, To: start, Source: 9}, {From: start, To: start, DirectionsEncoding: 7},
	} {
		for _, err := range c.Calls(t.Context(), bad) {
			require.Error(t, err)
		}
	}
}

func TestClientHistorySample(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	var recs []phonettest.Record
	require.NoError(t, json.Unmarshal(golden(t, "history_company.json"), &recs))
	srv.AddCalls(phonettest.Company, recs...)
	var got []phonet.CallRecord
	for rec, err := range c.Calls(t.Context(), phonet.CallsQuery{From: ms(1754640000000), To: ms(1754643600000)}) {
		require.NoError(t, err)
		got = append(got, rec)
	}
	want := []phonet.CallRecord{{
		UUID: "9b2f6c1e4d8a4f0b8c3e7a5d1f2b6c90", Direction: phonet.DirectionOutgoing, EndAt: ms(1754641335000),
		BillSecs: 118, Duration: 131, Disposition: phonet.DispositionAnswered,
		OtherLegNum: "+380671234567", OtherLegName: "+380671234567",
		Leg:         &phonet.Leg{ID: "30", Type: phonet.LegUser, DisplayName: "Олена Коваль", Ext: "001"},
		AudioRecURL: "https://acme.phonet.com.ua/rest/public/calls/9b2f6c1e4d8a4f0b8c3e7a5d1f2b6c90/audio",
		Trunk:       "o=380442000000;",
	}, {
		UUID: "1d0e9a8b7c6f4e5d9a0b1c2d3e4f5a6b", Direction: phonet.DirectionIncoming, EndAt: ms(1754642010000),
		Duration: 25, Disposition: phonet.DispositionNoAnswer, OtherLegNum: "+380501112233", OtherLegName: "ТОВ Ромашка",
		Leg:             &phonet.Leg{ID: "14", Type: phonet.LegGroup, DisplayName: "Відділ продажу", Ext: "500"},
		TransferHistory: "500 > 002",
	}}
	require.Empty(t, cmp.Diff(want, got, cmpopts.IgnoreFields(phonet.CallRecord{}, "Raw")))
	for _, r := range got {
		require.True(t, json.Valid(r.Raw))
	}
}

func TestClientFindCall(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	in := phonettest.InboundCall()
	srv.AddCalls(phonettest.Company, records(60, in.HangupAt.Add(-5*time.Minute))...)
	srv.AddCalls(phonettest.Company, in.HistoryRecord())

	rec, err := c.FindCall(t.Context(), in.UUID, in.HangupAt.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, in.UUID, rec.UUID)
	require.Equal(t, 118, rec.BillSecs)
	q := srv.Requests()[1].Query
	require.Equal(t, strconv.FormatInt(in.HangupAt.Add(-9*time.Minute).UnixMilli(), 10), q.Get("timeFrom"), "±10 minutes")
	require.Equal(t, strconv.FormatInt(in.HangupAt.Add(11*time.Minute).UnixMilli(), 10), q.Get("timeTo"))

	_, err = c.FindCall(t.Context(), in.UUID, in.HangupAt.Add(time.Hour))
	require.ErrorIs(t, err, phonet.ErrCallNotFound)
	_, err = c.FindCall(t.Context(), "", in.HangupAt)
	require.Error(t, err)
}

func TestClientRecording(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	srv.SetRecording("rec-1.x", []byte("ID3-audio"))
	require.Equal(t, srv.URL+"/rest/public/calls/rec-1.x/audio", c.RecordingURL("rec-1.x"))
	var buf bytes.Buffer
	n, err := c.DownloadRecording(t.Context(), "rec-1.x", &buf)
	require.NoError(t, err)
	require.Equal(t, int64(9), n)
	require.Equal(t, "ID3-audio", buf.String())
	_, err = c.DownloadRecording(t.Context(), "missing", &buf)
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)

	c2, err := phonet.NewClient(phonet.Credentials{Domain: "https://acme.phonet.com.ua/", APIKey: "k"})
	require.NoError(t, err)
	require.Equal(t, "https://acme.phonet.com.ua/rest/public/calls/9b2f/audio", c2.RecordingURL("9b2f"))
	require.Equal(t, "acme.phonet.com.ua", c2.Domain())
}

// TestClientFollowsOtherRedirects checks that only login redirects are
// stopped: a recording moved elsewhere is still downloaded.
func TestClientFollowsOtherRedirects(t *testing.T) {
	t.Parallel()
	srv := phonettest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRecording("real", []byte("audio"))
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rest/security/authorize" {
			w.Header().Set("Set-Cookie", "JSESSIONID=front")
			return
		}
		if strings.HasSuffix(r.URL.Path, "/moved/audio") {
			http.Redirect(w, r, srv.URL+"/rest/public/calls/real/audio", http.StatusFound)
			return
		}
		http.Error(w, "no", http.StatusTeapot)
	}))
	t.Cleanup(front.Close)
	c, err := phonet.NewClient(srv.Credentials(), callbridge.WithBaseURL(front.URL), callbridge.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = c.DownloadRecording(t.Context(), "moved", &buf)
	require.NoError(t, err)
	require.Equal(t, "audio", buf.String())
}

func TestClientUnsupported(t *testing.T) {
	t.Parallel()
	c, srv := setup(t)
	// Phonet's API has no group call and no transfer: the client claims neither.
	_, groups := any(c).(callevent.GroupCaller)
	_, transfers := any(c).(callevent.Transferer)
	require.False(t, groups || transfers)
	_, err := c.Call(t.Context(), callevent.CallRequest{From: "001", To: "+380671234567", CallerID: "+380442000000"})
	require.ErrorIs(t, err, callevent.ErrUnsupported)
	_, err = c.Call(t.Context(), callevent.CallRequest{From: "001", To: "+380671234567", Queue: "sales"})
	require.ErrorIs(t, err, callevent.ErrUnsupported)
	_, err = c.Call(t.Context(), callevent.CallRequest{To: "+380671234567"})
	require.Error(t, err)
	require.Error(t, c.Hangup(t.Context(), callevent.CallControlRequest{}))
	require.Empty(t, srv.Requests(), "invalid requests are not sent")
}

func TestNewClientValidation(t *testing.T) {
	t.Parallel()
	ok := phonet.Credentials{Domain: "acme.phonet.com.ua", APIKey: "k"}
	tests := []struct {
		name  string
		creds phonet.Credentials
		opts  []callbridge.ClientOption
	}{
		{"no domain", phonet.Credentials{APIKey: "k"}, nil},
		{"domain with path", phonet.Credentials{Domain: "acme.phonet.com.ua/rest", APIKey: "k"}, nil},
		{"no key", phonet.Credentials{Domain: "acme.phonet.com.ua", APIKey: " "}, nil},
		{"bad base URL", ok, []callbridge.ClientOption{callbridge.WithBaseURL("acme")}},
		{"nil http client", ok, []callbridge.ClientOption{callbridge.WithHTTPClient(nil)}},
		{"bad rate", ok, []callbridge.ClientOption{callbridge.WithRateLimit(0, 1)}},
		{"bad retry", ok, []callbridge.ClientOption{callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: -1})}},
		{"min over max", ok, []callbridge.ClientOption{callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 1, MinWait: time.Second, MaxWait: time.Millisecond})}},
		{"control character in user agent", ok, []callbridge.ClientOption{callbridge.WithUserAgent("crm\n1")}},
		{"nil logger", ok, []callbridge.ClientOption{callbridge.WithLogger(nil)}},
	}
	for _, tt := range tests {
		_, err := phonet.NewClient(tt.creds, tt.opts...)
		require.Error(t, err, tt.name)
		require.NotContains(t, err.Error(), "k3y", tt.name)
	}
	_, err := phonet.NewClient(ok, callbridge.WithRateLimit(10, 1), callbridge.WithUserAgent("crm/1"),
		callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 2, MinWait: time.Millisecond, MaxWait: time.Second}))
	require.NoError(t, err)
}

// The options a Phonet client has no use for are refused, naming the
// option: it authorizes with an API key (no OAuth tokens to store) and
// passes numbers on as given. Errors carry one "phonet: " prefix.
func TestNewClientRefusesUnusedOptions(t *testing.T) {
	t.Parallel()
	ok := phonet.Credentials{Domain: "acme.phonet.com.ua", APIKey: "k3y-0123456789"}
	for name, tc := range map[string]struct {
		opt  callbridge.ClientOption
		want string
	}{
		"token store":     {callbridge.WithTokenStore(memStore{}), "phonet: WithTokenStore is not supported"},
		"default country": {callbridge.WithDefaultCountry("UA"), "phonet: WithDefaultCountry is not supported"},
		"invalid option":  {callbridge.WithBaseURL("acme"), "phonet: WithBaseURL: not an absolute http(s) URL"},
	} {
		c, err := phonet.NewClient(ok, tc.opt)
		require.ErrorContains(t, err, tc.want, name)
		require.Nil(t, c, name)
		require.True(t, strings.HasPrefix(err.Error(), "phonet: "), name)
		require.NotContains(t, err.Error(), "phonet: phonet:", name)
		require.NotContains(t, err.Error(), ok.APIKey, name)
	}
}

// memStore is a callbridge.TokenStore that stores nothing.
type memStore struct{}

func (memStore) Load(context.Context) (*oauth2.Token, error) { return nil, nil }
func (memStore) Save(context.Context, *oauth2.Token) error   { return nil }

func TestClientUserAgentAndRateLimit(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var agents []string
	srv := phonettest.NewServer()
	t.Cleanup(srv.Close)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		w.Header().Set("Set-Cookie", "JSESSIONID=abc")
		_, _ = w.Write([]byte(`[]`))
	}))
	t.Cleanup(front.Close)
	c, err := phonet.NewClient(srv.Credentials(), callbridge.WithBaseURL(front.URL), callbridge.WithUserAgent("crm/1.2"),
		callbridge.WithRateLimit(1000, 1))
	require.NoError(t, err)
	_, err = c.Users(t.Context())
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, agents, 2)
	require.True(t, strings.HasPrefix(agents[1], "callbridge/"), agents[1])
	require.True(t, strings.HasSuffix(agents[1], " crm/1.2"), agents[1])
}

// TestClientFetchRecording: a call's recording by its uuid
// (callevent.RecordingFetcher), with its content type; a call Phonet has
// no recording of is ErrNoRecording, Phonet failing its error, a uuid
// that would leave its path segment refused without a request.
func TestClientFetchRecording(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, callbridge.WithRetry(callbridge.RetryPolicy{}))
	audio := bytes.Repeat([]byte("RIFF-audio"), 500)
	srv.SetRecording("9b2f6c1e4d8a4f0b8c3e7a5d1f2b6c90", audio)
	rec, err := c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "9b2f6c1e4d8a4f0b8c3e7a5d1f2b6c90"})
	require.NoError(t, err)
	got, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	require.NoError(t, rec.Body.Close())
	require.Equal(t, audio, got)
	require.Equal(t, "audio/mpeg", rec.ContentType)

	_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "missing"})
	require.ErrorIs(t, err, callevent.ErrNoRecording)

	srv.Fail(phonettest.Failure{Path: "/rest/public/calls/", Status: http.StatusServiceUnavailable})
	_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "9b2f6c1e4d8a4f0b8c3e7a5d1f2b6c90"})
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
	require.NotErrorIs(t, err, callevent.ErrNoRecording)

	before := len(srv.Requests())
	_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "../users"})
	require.ErrorIs(t, err, phonet.ErrInvalidID)
	require.Len(t, srv.Requests(), before, "refused without a request")
}
