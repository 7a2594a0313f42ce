package megafon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// retries makes a client retry a request up to n times, without waiting.
func retries(n int) callbridge.ClientOption {
	return callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: n, Backoff: func(int, *http.Response) time.Duration { return 0 }})
}

// noRetries turns retries off.
var noRetries = callbridge.WithRetry(callbridge.RetryPolicy{})

// noLimit turns the default rate limit off.
var noLimit = callbridge.WithRateLimit(math.Inf(1), 1)

// generations runs f for crmapi v1 and for the legacy API.
func generations(t *testing.T, f func(t *testing.T, legacy bool)) {
	t.Helper()
	for _, legacy := range []bool{false, true} {
		name := "v1"
		if legacy {
			name = "legacy"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, legacy)
		})
	}
}

func newClient(t *testing.T, srv *megafontest.Server, legacy bool, opts ...callbridge.ClientOption) *megafon.Client {
	t.Helper()
	base := []callbridge.ClientOption{callbridge.WithBaseURL(srv.URL), retries(callbridge.DefaultMaxRetries), noLimit}
	c, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey, LegacyAPI: legacy},
		append(base, opts...)...)
	require.NoError(t, err)
	return c
}

func TestCall(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		c := newClient(t, srv, legacy)
		ref, err := c.Call(t.Context(), callevent.CallRequest{From: "andy", To: "+7 (916) 123-45-67", CallerID: "+74951234567"})
		require.NoError(t, err)
		require.Equal(t, "CALL000001", ref.CallID)

		reqs := srv.Requests()
		require.Len(t, reqs, 1)
		r := reqs[0]
		require.Equal(t, http.MethodPost, r.Method)
		require.Equal(t, megafontest.OpMakeCall, r.Op)
		want := url.Values{"phone": {"79161234567"}, "user": {"andy"}, "clid": {"74951234567"}}
		if legacy { // §7 A
			require.Equal(t, "/sys/crm_api.wcgp", r.Path)
			require.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
			want["cmd"], want["token"] = []string{"makeCall"}, []string{megafontest.APIKey}
			require.Empty(t, r.Header.Get("X-API-KEY"))
		} else { // §7 D
			require.Equal(t, "/crmapi/v1/makecall", r.Path)
			require.Equal(t, "application/json", r.Header.Get("Content-Type"))
			require.Equal(t, megafontest.APIKey, r.Header.Get("X-API-KEY"))
			require.JSONEq(t, `{"phone":"79161234567","user":"andy","clid":"74951234567"}`, string(r.Body))
		}
		if diff := cmp.Diff(want, r.Params); diff != "" {
			t.Errorf("params (-want +got):\n%s", diff)
		}
	})
}

func TestCallValidation(t *testing.T) {
	t.Parallel()
	srv := megafontest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv, false)
	for _, req := range []callevent.CallRequest{
		{From: "", To: "79161234567"},
		{From: "andy", To: ""},
		{From: "andy", To: "7916abc"},
		{From: "andy", To: "79161234567", CallerID: "office"},
	} {
		_, err := c.Call(t.Context(), req)
		require.Error(t, err, "%+v", req)
	}
	_, err := c.Call(t.Context(), callevent.CallRequest{From: "andy", To: "79161234567", Queue: "sales"})
	require.ErrorIs(t, err, callevent.ErrUnsupported, "a queue is for GroupCall")
	require.Empty(t, srv.Requests(), "invalid requests are not sent")

	// A direct number as From loses its "+" too.
	_, err = c.Call(t.Context(), callevent.CallRequest{From: "+74951234567", To: "79161234567"})
	require.NoError(t, err)
	require.Equal(t, "74951234567", srv.Requests()[0].Params.Get("user"))
}

// Every known makeCall answer shape gives the call id.
func TestCallResponseShapes(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, want string }{
		{`{"callid":"O3VUIAUSQ400004A","clid":"74951234567"}`, "O3VUIAUSQ400004A"},
		{`{"uuid":"28187487-edcf-4d23-9f95-c8591fbd9936"}`, "28187487-edcf-4d23-9f95-c8591fbd9936"},
		{`"B10D0EB124F4E64AF4EA-1511"`, "B10D0EB124F4E64AF4EA-1511"},
		{"B10D0EB124F4E64AF4EA-1511\n", "B10D0EB124F4E64AF4EA-1511"},
		{`null`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			t.Parallel()
			srv := megafontest.NewServer()
			t.Cleanup(srv.Close)
			srv.Fail(megafontest.Failure{Op: megafontest.OpMakeCall, Status: http.StatusOK, Body: tt.body})
			ref, err := newClient(t, srv, true).Call(t.Context(), callevent.CallRequest{From: "andy", To: "79161234567"})
			require.NoError(t, err)
			require.Equal(t, tt.want, ref.CallID)
		})
	}
	t.Run("HTML page", func(t *testing.T) {
		t.Parallel()
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		srv.Fail(megafontest.Failure{Op: megafontest.OpMakeCall, Status: http.StatusOK, Body: "<html><body>login</body></html>"})
		_, err := newClient(t, srv, true).Call(t.Context(), callevent.CallRequest{From: "andy", To: "79161234567"})
		require.ErrorContains(t, err, "unexpected makecall answer")
	})
}

// A click-to-call that got a 503 may have reached the PBX: it is never
// retried. Reads are.
func TestCallNotRetried(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		c := newClient(t, srv, legacy, callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond}))
		srv.Fail(megafontest.Failure{Op: megafontest.OpMakeCall, Status: http.StatusServiceUnavailable, Times: 3})
		_, err := c.Call(t.Context(), callevent.CallRequest{From: "andy", To: "79161234567"})
		var apiErr *callbridge.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
		require.Len(t, srv.Requests(), 1)

		srv.Fail(megafontest.Failure{Op: megafontest.OpGroups, Status: http.StatusServiceUnavailable, Times: 2})
		groups, err := c.Groups(t.Context())
		require.NoError(t, err)
		require.Len(t, groups, 1)
		require.Len(t, srv.Requests(), 4, "one call, then three attempts of Groups")
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		c := newClient(t, srv, legacy)

		// A revoked key: 401 in the generation's shape, key never in the error.
		srv.SetAPIKey("regenerated")
		_, err := c.Call(t.Context(), callevent.CallRequest{From: "andy", To: "79161234567"})
		var apiErr *callbridge.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
		require.Equal(t, "Invalid token", apiErr.Message)
		require.NotContains(t, err.Error(), megafontest.APIKey)
		require.NotContains(t, string(apiErr.Body), megafontest.APIKey)
		srv.SetAPIKey(megafontest.APIKey)

		// 400 with the PBX's message.
		_, err = c.Call(t.Context(), callevent.CallRequest{From: "nobody", To: "79161234567"})
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
		require.Equal(t, "Invalid parameters: [user]", apiErr.Message)

		// 429 is retried after Retry-After, then succeeds.
		n := len(srv.Requests())
		srv.Fail(megafontest.Failure{Op: megafontest.OpGroups, Status: http.StatusTooManyRequests, RetryAfter: "0"})
		_, err = c.Groups(t.Context())
		require.NoError(t, err)
		require.Len(t, srv.Requests(), n+2)

		// 429 beyond the retries is a *RateLimitError.
		c2 := newClient(t, srv, legacy, noRetries)
		srv.Fail(megafontest.Failure{Op: megafontest.OpGroups, Status: http.StatusTooManyRequests, RetryAfter: "7"})
		_, err = c2.Groups(t.Context())
		var rl *callbridge.RateLimitError
		require.ErrorAs(t, err, &rl)
		require.Equal(t, 7*time.Second, rl.RetryAfter)

		// A gateway error page: typed, retryable for a read.
		srv.Fail(megafontest.Failure{Op: megafontest.OpGroups, Status: http.StatusBadGateway, Body: "<html>502 Gateway Timeout</html>"})
		_, err = c2.Groups(t.Context())
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusBadGateway, apiErr.StatusCode)
		require.True(t, apiErr.Retryable())
	})
}

func TestSlowPBX(t *testing.T) {
	t.Parallel()
	srv := megafontest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv, false, callbridge.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}), noRetries)
	srv.Fail(megafontest.Failure{Op: megafontest.OpGroups, Delay: time.Minute}) // cut short when the client gives up
	start := time.Now()
	_, err := c.Groups(t.Context())
	require.Error(t, err)
	require.Less(t, time.Since(start), 10*time.Second)

	srv.Fail(megafontest.Failure{Op: megafontest.OpGroups, Delay: time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = newClient(t, srv, false).Groups(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestRedirectIsAnError(t *testing.T) {
	t.Parallel()
	srv := megafontest.NewServer()
	t.Cleanup(srv.Close)
	srv.Fail(megafontest.Failure{Op: megafontest.OpMakeCall, Status: http.StatusMovedPermanently, Body: "moved"})
	_, err := newClient(t, srv, true).Call(t.Context(), callevent.CallRequest{From: "andy", To: "79161234567"})
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusMovedPermanently, apiErr.StatusCode)
	require.Len(t, srv.Requests(), 1)
}

func TestGroupCallAndTransfer(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		c := newClient(t, srv, legacy)
		ref, err := c.GroupCall(t.Context(), callevent.GroupCallRequest{Group: "sales", To: "+79161234567"})
		if legacy {
			require.ErrorIs(t, err, callevent.ErrUnsupported)
			require.Empty(t, srv.Requests())
		} else {
			require.NoError(t, err)
			require.Equal(t, "CALL000001", ref.CallID)
			require.JSONEq(t, `{"phone":"79161234567","group":"sales"}`, string(srv.Requests()[0].Body))
		}
		_, transfers := any(c).(callevent.Transferer)
		require.False(t, transfers, "the PBX API has no transfer command: the client does not claim one")
	})
}

// §7 C and E: both generations describe andy the same way (v1 adds role and
// status).
func TestUsers(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		c := newClient(t, srv, legacy)
		want := megafon.User{Login: "andy", Name: "Андрей Иванов", Email: "andy@example.ru", Ext: "701", Telnum: "74951234567"}
		if !legacy {
			want.Position, want.Mobile, want.Role, want.Status = "Менеджер", "79161234567", "user", "online"
		}
		var got []megafon.User
		for u, err := range c.Users(t.Context()) {
			require.NoError(t, err)
			got = append(got, u)
		}
		if diff := cmp.Diff([]megafon.User{want}, got); diff != "" {
			t.Errorf("users (-want +got):\n%s", diff)
		}
		require.Equal(t, !legacy, got[0].Online())

		u, err := c.User(t.Context(), "andy")
		require.NoError(t, err)
		require.Equal(t, "andy", u.Login)
		_, err = c.User(t.Context(), "ghost")
		require.ErrorIs(t, err, megafon.ErrNotFound)
		if !legacy {
			var apiErr *callbridge.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, http.StatusNotFound, apiErr.StatusCode)
		}
	})
}

func TestUsersPagination(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		users := make([]megafontest.User, 250)
		for i := range users {
			users[i] = megafontest.User{Login: fmt.Sprintf("u%03d", i), Ext: fmt.Sprint(100 + i)}
		}
		srv.SetUsers(users...)
		c := newClient(t, srv, legacy)
		var logins []string
		for u, err := range c.Users(t.Context()) {
			require.NoError(t, err)
			logins = append(logins, u.Login)
		}
		require.Len(t, logins, 250)
		require.Equal(t, "u249", logins[249])
		wantRequests := 3
		if legacy {
			wantRequests = 1
		}
		require.Len(t, srv.Requests(), wantRequests)
		if !legacy {
			require.Equal(t, "200", srv.Requests()[2].Query.Get("start"))
			require.Equal(t, "status", srv.Requests()[2].Query.Get("with"))
		}

		// Stopping early stops fetching; an error ends the iteration.
		before := len(srv.Requests())
		for range c.Users(t.Context()) {
			break
		}
		require.Len(t, srv.Requests(), before+1)
		srv.Fail(megafontest.Failure{Op: megafontest.OpUsers, Status: http.StatusForbidden})
		n := 0
		var iterErr error
		for _, err := range c.Users(t.Context()) {
			n++
			iterErr = err
		}
		require.Equal(t, 1, n)
		require.Error(t, iterErr)
	})
}

// A PBX that ignores start and leaves out info.total answers every page
// full: Users stops when a page brings no new login, and after 1,000 pages
// of new ones at the latest.
func TestUsersPBXIgnoresStart(t *testing.T) {
	t.Parallel()
	page := func(first int) string {
		items := make([]string, 100)
		for i := range items {
			items[i] = fmt.Sprintf(`{"login":"u%d","ext":"%d"}`, first+i, 100+i)
		}
		return `{"items":[` + strings.Join(items, ",") + `],"info":{"start":0,"limit":100}}`
	}
	tests := []struct {
		name      string
		first     func(req int) int // first login of the answer to request req (0-based)
		wantUsers int
		wantReqs  int32
		wantErr   string
	}{
		{"same page every time", func(int) int { return 0 }, 100, 2, ""},
		{"new logins forever", func(req int) int { return 100 * req }, 100_000, 1000, "megafon: Users: more than 1000 pages, stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var reqs atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(reqs.Add(1)) - 1
				if n > 1000 { // the cap was not applied
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, page(tt.first(n)))
			}))
			t.Cleanup(srv.Close)
			c, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
				callbridge.WithBaseURL(srv.URL), retries(callbridge.DefaultMaxRetries), noLimit)
			require.NoError(t, err)
			users, errs := 0, []error(nil)
			for _, err := range c.Users(t.Context()) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				users++
			}
			require.Equal(t, tt.wantUsers, users)
			require.Equal(t, tt.wantReqs, reqs.Load())
			if tt.wantErr == "" {
				require.Empty(t, errs)
			} else {
				require.Len(t, errs, 1)
				require.EqualError(t, errs[0], tt.wantErr)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		groups, err := newClient(t, srv, legacy).Groups(t.Context())
		require.NoError(t, err)
		require.Equal(t, []megafon.Group{{ID: "sales", Name: "Отдел продаж", Ext: "710"}}, groups)
	})
}

// §7 B and F: the same records through both generations; the legacy CSV's
// +03:00 times come out as the same UTC instants as v1's.
func TestHistory(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		c := newClient(t, srv, legacy)
		got, err := collectHistory(c.History(t.Context(), megafon.HistoryQuery{
			Start: time.Date(2023, 1, 1, 3, 0, 0, 0, time.FixedZone("MSK", 3*3600)),
			End:   time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC),
		}))
		require.NoError(t, err)
		want := []megafon.HistoryRecord{
			{
				UID: "HLH8HFM77S000035", Type: "in", Status: "success", Client: "79260001122", Diversion: "74950000001",
				User: "andy", UserName: "Андрей Иванов", Group: "Продажи", Start: time.Date(2023, 1, 1, 12, 0, 0, 0, time.UTC),
				Wait: 5 * time.Second, Duration: 28 * time.Second, Record: "https://vats123456.megapbx.ru/rec/HLH8HFM77S000035.mp3",
			},
			{
				UID: "a252179d-fa9b-4b2a-9f4a-05c61af0639f", Type: "out", Status: "success", Client: "79002445949",
				Diversion: "74996861574", User: "admin", Start: time.Date(2023, 1, 1, 13, 14, 8, 0, time.UTC),
				Duration: 11 * time.Second,
			},
		}
		if legacy { // the CSV has no status, names or group and writes numbers with "+"
			for i := range want {
				want[i].Status, want[i].UserName, want[i].Group = "", "", ""
				want[i].Client, want[i].Diversion = "+"+want[i].Client, "+"+want[i].Diversion
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
		require.Equal(t, 23*time.Second, got[0].Talk())
		p := srv.Requests()[0].Params
		require.Equal(t, "20230101T000000Z", p.Get("start"), "24-hour UTC")
		require.Equal(t, "20230102T000000Z", p.Get("end"))
		require.Equal(t, "all", p.Get("type"))

		_, err = collectHistory(c.History(t.Context(), megafon.HistoryQuery{}))
		require.Error(t, err)
		_, err = collectHistory(c.History(t.Context(), megafon.HistoryQuery{Period: "today", Type: "missed", Limit: 10}))
		require.NoError(t, err)

		n := 0
		for range c.History(t.Context(), megafon.HistoryQuery{Period: "today"}) {
			n++
			break // stopping early is allowed
		}
		require.Equal(t, 1, n)
	})
}

func collectHistory(seq iter.Seq2[megafon.HistoryRecord, error]) ([]megafon.HistoryRecord, error) {
	var out []megafon.HistoryRecord
	for r, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func TestDND(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		c := newClient(t, srv, legacy)
		on, err := c.DND(t.Context(), "andy")
		require.NoError(t, err)
		require.False(t, on)
		require.NoError(t, c.SetDND(t.Context(), "andy", true))
		require.True(t, srv.DND("andy"))
		on, err = c.DND(t.Context(), "andy")
		require.NoError(t, err)
		require.True(t, on)
		require.NoError(t, c.SetDND(t.Context(), "andy", false))
		require.False(t, srv.DND("andy"))
		require.Error(t, c.SetDND(t.Context(), " ", true))
	})
}

func TestSubscriptions(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		srv.SetGroups(megafontest.Group{ID: "sales"}, megafontest.Group{ID: "support"})
		c := newClient(t, srv, legacy)

		require.NoError(t, c.SetSubscription(t.Context(), "andy", "sales", true))
		require.True(t, srv.Subscribed("andy", "sales"))
		require.False(t, srv.Subscribed("andy", "support"), "other groups untouched")
		require.False(t, srv.Subscribed("andy", "personal_andy"))
		on, err := c.Subscription(t.Context(), "andy", "sales")
		require.NoError(t, err)
		require.True(t, on)

		require.ErrorContains(t, c.SetSubscription(t.Context(), "andy", "", false), "groupID is required")
		_, err = c.Subscription(t.Context(), "andy", "")
		require.Error(t, err)
		n := len(srv.Requests())

		require.NoError(t, c.SetSubscriptionAllGroups(t.Context(), "andy", true))
		require.Len(t, srv.Requests(), n+1)
		for _, g := range []string{"sales", "support", "personal_andy"} {
			require.True(t, srv.Subscribed("andy", g), g)
		}
		require.NoError(t, c.SetSubscription(t.Context(), "andy", "support", false))
		require.False(t, srv.Subscribed("andy", "support"))
		require.True(t, srv.Subscribed("andy", "sales"))
	})
}

func TestNewClientValidation(t *testing.T) {
	t.Parallel()
	ok := megafon.Credentials{Domain: "vats123456.megapbx.ru", APIKey: "k"}
	tests := []struct {
		name  string
		creds megafon.Credentials
		opts  []callbridge.ClientOption
		want  string
	}{
		{"no domain", megafon.Credentials{APIKey: "k"}, nil, "megafon: Domain is required"},
		{"no key", megafon.Credentials{Domain: "vats1.megapbx.ru"}, nil, "megafon: APIKey is required"},
		{"domain with a path", megafon.Credentials{Domain: "vats1.megapbx.ru/crmapi", APIKey: "k"}, nil, "must be a host name"},
		{"bad base URL", ok, []callbridge.ClientOption{callbridge.WithBaseURL("ftp://x")}, "megafon: WithBaseURL"},
		{"nil HTTP client", ok, []callbridge.ClientOption{callbridge.WithHTTPClient(nil)}, "megafon: WithHTTPClient"},
		{"bad rate", ok, []callbridge.ClientOption{callbridge.WithRateLimit(0, 1)}, "megafon: WithRateLimit"},
		{"bad retry", ok, []callbridge.ClientOption{callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: -1})}, "megafon: WithRetry"},
		{"nil logger", ok, []callbridge.ClientOption{callbridge.WithLogger(nil)}, "megafon: WithLogger"},
		{"token store", ok, []callbridge.ClientOption{callbridge.WithTokenStore(tokenStore{})}, "megafon: WithTokenStore is not supported"},
		{"default country", ok, []callbridge.ClientOption{callbridge.WithDefaultCountry("RU")}, "megafon: WithDefaultCountry is not supported"},
	}
	for _, tt := range tests {
		_, err := megafon.NewClient(tt.creds, tt.opts...)
		require.ErrorContains(t, err, tt.want, tt.name)
		require.NotContains(t, err.Error(), "megafon: megafon:", tt.name)
	}
	c, err := megafon.NewClient(megafon.Credentials{Domain: " https://VATS1.megapbx.ru/ ", APIKey: "k", LegacyAPI: true})
	require.NoError(t, err)
	require.Equal(t, "vats1.megapbx.ru", c.Domain())
	require.True(t, c.Legacy())
}

// tokenStore is a callbridge.TokenStore, which a megafon Client refuses.
type tokenStore struct{}

func (tokenStore) Load(context.Context) (*oauth2.Token, error) { return nil, nil }
func (tokenStore) Save(context.Context, *oauth2.Token) error   { return nil }

// The key never leaks into an error, even in a transport error of the
// legacy API, which carries it in the body.
func TestKeyNotInErrors(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		srv.Fail(megafontest.Failure{Op: megafontest.OpGroups, Status: http.StatusBadRequest,
			Body: `{"error":"bad token ` + megafontest.APIKey + `","message":"token=` + megafontest.APIKey + `"}`})
		_, err := newClient(t, srv, legacy).Groups(t.Context())
		require.Error(t, err)
		var apiErr *callbridge.APIError
		require.True(t, errors.As(err, &apiErr))
		require.NotContains(t, err.Error(), megafontest.APIKey)
		require.NotContains(t, string(apiErr.Body), megafontest.APIKey)
	})
}

// TestFetchRecording: a call's recording from the link of its history
// push (callevent.RecordingFetcher), with the API key, in both API
// generations; no link or a deleted recording is ErrNoRecording; a link
// off the PBX is refused without a request (the key goes nowhere else);
// the PBX failing or refusing the key is its error, the key never in it.
func TestFetchRecording(t *testing.T) {
	t.Parallel()
	generations(t, func(t *testing.T, legacy bool) {
		srv := megafontest.NewServer()
		t.Cleanup(srv.Close)
		c := newClient(t, srv, legacy)
		audio := []byte(strings.Repeat("ID3-mf", 700))
		link := srv.SetRecording("HLH8HFM77S000035.mp3", audio)

		rec, err := c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "HLH8HFM77S000035", URL: link})
		require.NoError(t, err)
		got, err := io.ReadAll(rec.Body)
		require.NoError(t, err)
		require.NoError(t, rec.Body.Close())
		require.Equal(t, audio, got)
		require.Equal(t, "audio/mpeg", rec.ContentType)
		reqs := srv.Requests()
		require.Equal(t, megafontest.OpRecording, reqs[len(reqs)-1].Op)
		require.Equal(t, megafontest.APIKey, reqs[len(reqs)-1].Header.Get("X-Api-Key"))

		sent := len(srv.Requests())
		_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "c1"})
		require.ErrorIs(t, err, callevent.ErrNoRecording)
		for _, off := range []string{"https://evil.example/rec.mp3", "http://" + megafontest.Domain + "/rec/x.mp3",
			"https://user@" + megafontest.Domain + "/rec/x.mp3", "/rec/x.mp3", "::"} {
			_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "c1", URL: off})
			require.ErrorContains(t, err, "is not on the PBX", off)
			require.NotErrorIs(t, err, callevent.ErrNoRecording)
		}
		require.Len(t, srv.Requests(), sent, "nothing sent")

		srv.DeleteRecording("HLH8HFM77S000035.mp3")
		_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "HLH8HFM77S000035", URL: link})
		require.ErrorIs(t, err, callevent.ErrNoRecording)

		srv.SetRecording("HLH8HFM77S000035.mp3", audio)
		srv.Fail(megafontest.Failure{Op: megafontest.OpRecording, Status: http.StatusServiceUnavailable, Times: callbridge.DefaultMaxRetries + 1})
		_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "HLH8HFM77S000035", URL: link})
		var apiErr *callbridge.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
		require.NotErrorIs(t, err, callevent.ErrNoRecording)

		srv.SetAPIKey("another-key")
		_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "HLH8HFM77S000035", URL: link})
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
		require.NotContains(t, err.Error(), megafontest.APIKey)
	})
}
