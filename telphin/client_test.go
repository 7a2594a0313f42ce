package telphin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// noWait retries up to maxRetries times without waiting.
func noWait(maxRetries int) callbridge.ClientOption {
	return callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: maxRetries, Backoff: func(int, *http.Response) time.Duration { return 0 }})
}

func newClient(t *testing.T, srv *telphintest.Server, opts ...callbridge.ClientOption) *telphin.Client {
	t.Helper()
	return newClientFor(t, srv, telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret}, opts...)
}

func newClientFor(t *testing.T, srv *telphintest.Server, creds telphin.Credentials, opts ...callbridge.ClientOption) *telphin.Client {
	t.Helper()
	c, err := telphin.NewClient(creds,
		append([]callbridge.ClientOption{callbridge.WithBaseURL(srv.URL), noWait(callbridge.DefaultMaxRetries)}, opts...)...)
	require.NoError(t, err)
	return c
}

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	creds := telphin.Credentials{ClientID: "id", ClientSecret: "secret"}
	public := telphin.Credentials{ClientID: "id", ClientSecret: "secret", RedirectURL: "https://crm.example/cb"}
	tests := map[string]struct {
		creds telphin.Credentials
		opts  []callbridge.ClientOption
	}{
		"no secret":             {telphin.Credentials{ClientID: "id"}, nil},
		"bad base url":          {creds, []callbridge.ClientOption{callbridge.WithBaseURL("apiproxy.telphin.ru")}},
		"public without store":  {public, nil},
		"bad country":           {creds, []callbridge.ClientOption{callbridge.WithDefaultCountry("ZZ")}},
		"bad rate":              {creds, []callbridge.ClientOption{callbridge.WithRateLimit(0, 1)}},
		"bad retry":             {creds, []callbridge.ClientOption{callbridge.WithRetry(callbridge.RetryPolicy{MaxRetries: 1, MinWait: time.Second, MaxWait: time.Millisecond})}},
		"nil http client":       {creds, []callbridge.ClientOption{callbridge.WithHTTPClient(nil)}},
		"nil logger":            {creds, []callbridge.ClientOption{callbridge.WithLogger(nil)}},
		"relative redirect url": {telphin.Credentials{ClientID: "id", ClientSecret: "secret", RedirectURL: "cb"}, []callbridge.ClientOption{callbridge.WithTokenStore(&memStore{})}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := telphin.NewClient(tt.creds, tt.opts...)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "telphin: "), err.Error())
			require.Equal(t, 1, strings.Count(err.Error(), "telphin:"), "one provider prefix: %s", err)
		})
	}
	_, err := telphin.NewClient(public)
	require.ErrorContains(t, err, "requires callbridge.WithTokenStore")
	_, err = telphin.NewClient(public, callbridge.WithTokenStore(&memStore{}))
	require.NoError(t, err)
	_, err = telphin.NewClient(creds, callbridge.WithTokenStore(&memStore{}), callbridge.WithDefaultCountry("KZ"))
	require.NoError(t, err, "a trusted app may keep its tokens in a store")
}

// 100 concurrent calls share one token; gzip is accepted.
func TestTokenReuse(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.User(context.Background())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, srv.TokenRequests())
	require.Equal(t, 100, srv.Count(http.MethodGet, "/api/ver1.0/user/"))
	for _, r := range srv.Requests() {
		require.Contains(t, r.Header.Get("Accept-Encoding"), "gzip", r.Path)
	}
	u, err := c.User(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(telphintest.ClientNumericID), u.ClientID)
	require.Equal(t, "Europe/Moscow", u.Timezone)
}

// A token expiring server-side mid-flight causes exactly one refresh.
func TestExpiredTokenOneRefresh(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	_, err := c.User(t.Context())
	require.NoError(t, err)
	srv.ExpireTokens()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.User(context.Background())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 2, srv.TokenRequests(), "initial token + one refresh")
}

func TestWrongSecretNotInError(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c, err := telphin.NewClient(telphin.Credentials{ClientID: srv.ClientID, ClientSecret: "wrong-secret-value"},
		callbridge.WithBaseURL(srv.URL), noWait(callbridge.DefaultMaxRetries))
	require.NoError(t, err)
	_, err = c.User(t.Context())
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	require.Equal(t, "invalid_client", apiErr.Code)
	require.NotContains(t, err.Error(), "wrong-secret-value")
}

func lastBody(t *testing.T, srv *telphintest.Server, method, path string) map[string]any {
	t.Helper()
	reqs := srv.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == method && reqs[i].Path == path {
			var m map[string]any
			require.NoError(t, json.Unmarshal(reqs[i].Body, &m))
			return m
		}
	}
	t.Fatalf("no %s %s", method, path)
	return nil
}

func TestCallResolvesExtension(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	for i, from := range []string{"101", "15400*101", "469100", "15400*101@sipproxy.telphin.ru"} {
		ref, err := c.Call(t.Context(), callevent.CallRequest{From: from, To: "8 (953) 000-00-00", CallerID: "+7 499 961-09-99"})
		require.NoError(t, err, from)
		require.Len(t, ref.CallID, 32)
		want := map[string]any{"src_num": []any{"15400*101"}, "dst_num": "+79530000000", "dst_ani": "74999610999"}
		if diff := cmp.Diff(want, lastBody(t, srv, http.MethodPost, "/api/ver1.0/extension/469100/callback/")); diff != "" {
			t.Errorf("%s: body (-want +got):\n%s", from, diff)
		}
		require.Equal(t, i+1, srv.Count(http.MethodPost, "/api/ver1.0/extension/469100/callback/"))
	}
	require.Equal(t, 1, srv.Count(http.MethodGet, "/api/ver1.0/client/@me/extension/"), "the extension list is cached")
}

// callbridge.WithDefaultCountry sets the country of numbers given without
// a country code ("RU" by default).
func TestCallDefaultCountry(t *testing.T) {
	t.Parallel()
	for country, want := range map[string]string{"": "+79530000000", "UA": "+380501112233"} {
		srv := telphintest.NewServer()
		t.Cleanup(srv.Close)
		to := "8 (953) 000-00-00"
		var opts []callbridge.ClientOption
		if country != "" {
			to, opts = "050 111 22 33", []callbridge.ClientOption{callbridge.WithDefaultCountry(country)}
		}
		c := newClient(t, srv, opts...)
		_, err := c.Call(t.Context(), callevent.CallRequest{From: "101", To: to})
		require.NoError(t, err, country)
		require.Equal(t, want, lastBody(t, srv, http.MethodPost, "/api/ver1.0/extension/469100/callback/")["dst_num"], country)
	}
}

func TestCallRefreshesExtensionsOnMiss(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	telphin.SetExtensionRefreshAge(c, 0)
	_, err := c.Extension(t.Context(), "101")
	require.NoError(t, err)
	srv.AddExtension(telphintest.Extension{ID: 469103, Name: "15400*103", Type: "phone"})

	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Call(context.Background(), callevent.CallRequest{From: "103", To: "+79161112233"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 10, srv.Count(http.MethodPost, "/api/ver1.0/extension/469103/callback/"))
	require.Equal(t, 2, srv.Count(http.MethodGet, "/api/ver1.0/client/@me/extension/"), "concurrent misses refresh once")

	_, err = c.Call(t.Context(), callevent.CallRequest{From: "999", To: "+79161112233"})
	require.ErrorIs(t, err, telphin.ErrUnknownExtension)
	require.Equal(t, 0, srv.Count(http.MethodPost, "/api/ver1.0/extension/999"))
}

// The extension list expires: within its TTL a renumbered extension still
// resolves to the cached id (a hit does not refresh); after it the list is
// fetched again on use, once for concurrent callers. The Client's clock is
// a fake, so both halves are checked on every run.
func TestExtensionCacheTTL(t *testing.T) {
	t.Parallel()
	const ttl = time.Hour
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	var (
		mu  sync.Mutex
		now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	telphin.SetClock(c, clock)
	telphin.SetExtensionTTL(c, ttl)
	const lists = "/api/ver1.0/client/@me/extension/"
	ext, err := c.Extension(t.Context(), "101")
	require.NoError(t, err)
	require.Equal(t, int64(469100), ext.ID)

	// 101 is renumbered: deleted and created again with another id.
	srv.RemoveExtension(469100)
	srv.AddExtension(telphintest.Extension{ID: 469200, Name: "15400*101", Type: "phone"})
	advance(ttl - time.Second)
	ext, err = c.Extension(t.Context(), "101")
	require.NoError(t, err)
	require.Equal(t, int64(469100), ext.ID, "cached within the TTL")
	require.Equal(t, 1, srv.Count(http.MethodGet, lists), "a hit within the TTL does not refresh")

	advance(time.Second)
	var wg sync.WaitGroup
	type result struct {
		id  int64
		err error
	}
	results := make(chan result, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ext, err := c.Extension(context.Background(), "101")
			results <- result{ext.ID, err}
		}()
	}
	wg.Wait()
	close(results)
	for r := range results {
		require.NoError(t, r.err)
		require.Equal(t, int64(469200), r.id, "fetched again after the TTL")
	}
	require.Equal(t, 2, srv.Count(http.MethodGet, lists), "one refresh for concurrent callers")

	// The refreshed list is fresh again for a whole TTL.
	advance(ttl - time.Second)
	_, err = c.Extension(t.Context(), "101")
	require.NoError(t, err)
	require.Equal(t, 2, srv.Count(http.MethodGet, lists))
}

func TestCallNotRetriedOn503(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	srv.Fail(telphintest.Failure{Method: http.MethodPost, Path: "/api/ver1.0/extension/469100/callback/", Status: http.StatusServiceUnavailable, Times: 3})
	_, err := c.Call(t.Context(), callevent.CallRequest{From: "101", To: "+79161112233"})
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
	require.False(t, apiErr.Retryable())
	require.Equal(t, 1, srv.Count(http.MethodPost, "/api/ver1.0/extension/469100/callback/"), "one click, at most one call")

	// A GET is retried.
	srv.Fail(telphintest.Failure{Method: http.MethodGet, Path: "/api/ver1.0/user/", Status: http.StatusServiceUnavailable})
	_, err = c.User(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, srv.Count(http.MethodGet, "/api/ver1.0/user/"))
}

func TestCallInvalidPhoneNotSent(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	_, err := c.Call(t.Context(), callevent.CallRequest{From: "101", To: "call me"})
	require.Error(t, err)
	_, err = c.GroupCall(t.Context(), callevent.GroupCallRequest{Group: "555", To: ""})
	require.Error(t, err)
	require.Empty(t, srv.Requests())
}

func TestGroupCall(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	for _, group := range []string{"469555", "555", "15400*555"} {
		ref, err := c.GroupCall(t.Context(), callevent.GroupCallRequest{Group: group, To: "89161112233", CallerID: "74999610999"})
		require.NoError(t, err)
		require.NotEmpty(t, ref.CallID)
		want := map[string]any{"src_num": []any{"+79161112233"}, "dst_num": "15400*555", "src_ani": "74999610999"}
		if diff := cmp.Diff(want, lastBody(t, srv, http.MethodPost, "/api/ver1.0/extension/469555/callback/")); diff != "" {
			t.Errorf("%s: body (-want +got):\n%s", group, diff)
		}
	}
}

func TestTransferAndHangup(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	const apiID = "3584709739-45c0c95e-2b8d-4ee4-b3c5-c62e29552a8c"
	srv.AddCurrentCall(469100, map[string]any{"call_api_id": apiID, "call_id": "45c0c95e2b8d4ee4b3c5c62e29552a8c", "call_flow": "IN",
		"init_time_gmt": "2017-08-23 15:57:56,60", "answer_time_gmt": nil})

	calls, err := c.CurrentCalls(t.Context(), "101")
	require.NoError(t, err)
	require.Len(t, calls, 1)
	require.Equal(t, time.Date(2017, 8, 23, 15, 57, 56, 600_000_000, time.UTC), calls[0].InitTime.Time)
	require.True(t, calls[0].AnswerTime.IsZero())

	tests := []struct {
		req  callevent.TransferRequest
		want map[string]any
	}{
		{callevent.TransferRequest{From: "101", CallID: "45C0C95E2B8D4EE4B3C5C62E29552A8C", To: "102"},
			map[string]any{"action": "transfer", "send_dst": "15400*102"}},
		{callevent.TransferRequest{From: "15400*101", CallID: apiID, To: "8 916 111-22-33", Attended: true},
			map[string]any{"action": "attended_transfer", "send_dst": "+79161112233"}},
	}
	for _, tt := range tests {
		require.NoError(t, c.Transfer(t.Context(), tt.req))
		if diff := cmp.Diff(tt.want, lastBody(t, srv, http.MethodPut, "/api/ver1.0/extension/469100/current_calls/"+apiID)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	}
	err = c.Transfer(t.Context(), callevent.TransferRequest{From: "101", CallID: "ffffffffffffffffffffffffffffffff", To: "102"})
	require.ErrorContains(t, err, "not in progress")

	// Hold, unhold and the other actions of Telphin's call control.
	for _, tt := range []struct {
		do   func() error
		want map[string]any
	}{
		{func() error { return c.Hold(t.Context(), callevent.CallControlRequest{From: "101", CallID: apiID}) }, map[string]any{"action": "hold"}},
		{func() error { return c.Unhold(t.Context(), callevent.CallControlRequest{From: "101", CallID: apiID}) }, map[string]any{"action": "offhold"}},
		{func() error {
			return c.Control(t.Context(), telphin.ControlRequest{Extension: "101", CallID: apiID, Action: telphin.ActionConference, Destination: "102"})
		}, map[string]any{"action": "conference", "send_dst": "15400*102"}},
		{func() error {
			return c.Control(t.Context(), telphin.ControlRequest{Extension: "101", CallID: apiID, Action: telphin.ActionPark})
		}, map[string]any{"action": "park"}},
		{func() error {
			return c.Control(t.Context(), telphin.ControlRequest{Extension: "101", CallID: apiID, Action: telphin.ActionWhisper, Destination: "102"})
		}, map[string]any{"action": "whisper", "send_dst": "15400*102"}},
	} {
		require.NoError(t, tt.do())
		if diff := cmp.Diff(tt.want, lastBody(t, srv, http.MethodPut, "/api/ver1.0/extension/469100/current_calls/"+apiID)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	}
	puts := srv.Count(http.MethodPut, "/api/ver1.0/extension/469100/current_calls/")
	require.ErrorContains(t, c.Control(t.Context(), telphin.ControlRequest{Extension: "101", CallID: apiID, Action: "dance"}), `unknown action "dance"`)
	require.ErrorContains(t, c.Control(t.Context(), telphin.ControlRequest{Extension: "101", CallID: apiID, Action: telphin.ActionEavesdrop}), "empty destination")
	require.Equal(t, puts, srv.Count(http.MethodPut, "/api/ver1.0/extension/469100/current_calls/"), "refused before any request")

	require.NoError(t, c.Hangup(t.Context(), callevent.CallControlRequest{From: "101", CallID: "45c0c95e2b8d4ee4b3c5c62e29552a8c"}))
	require.Empty(t, srv.CurrentCalls(469100))
	err = c.Hangup(t.Context(), callevent.CallControlRequest{From: "101", CallID: apiID})
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)
}

// historyItem is the facts file's call_history item with another uuid.
func historyItem(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"call_uuid":"CAA308E3333C4A19AAED9C0254B9C6%02X","flow":"out","result":"bridged",
	"client_owner_id":37649,"extension_id":469100,"extension_name":"100*0111@sipproxy.telphin.ru","extension_type":"phone",
	"extension_group_owner_id":null,"from_username":"100*0111","from_screen_name":"100*0111","from_domain":"sipproxy.telphin.ru",
	"to_username":"+71111111111","did_number":null,"init_time_gmt":"2021-01-01 16:29:38","start_time_gmt":"2021-01-01 16:29:39",
	"bridged_time_gmt":"2021-01-01 16:29:52","hangup_time_gmt":"2021-01-01 16:30:16","duration":37,"bridged_duration":24,
	"bridged_username":"+71111111111","hangup_cause":"NORMAL_CLEARING","hangup_disposition":"caller_bye",
	"cdr":[{"flow":"out","result":"answered","application":"callback","extension_id":469100,"extension_type":"phone",
	"from_username":"100*0111","to_username":"+71111111111","dest_number":"+71111111111","ani_number":"79666660435",
	"source_number":null,"init_time_gmt":"2021-01-01 16:29:38.76","start_time_gmt":"2021-01-01 16:29:52",
	"hangup_time_gmt":"2021-01-01 16:30:16","duration":24,"hangup_cause":"NORMAL_CLEARING","hangup_disposition":"caller_bye",
	"record_uuid":"469100-5D36E5557F1845FEB577EDE8A19C5108","record_file_size":48528}]}`, i))
}

func collect(t *testing.T, seq iter.Seq2[telphin.HistoryCall, error]) ([]telphin.HistoryCall, error) {
	t.Helper()
	var out []telphin.HistoryCall
	for call, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, call)
	}
	return out, nil
}

func TestCallHistoryPagination(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	srv.StatsDelay = 0
	var items []json.RawMessage
	for i := range 7 {
		items = append(items, historyItem(i))
	}
	srv.SetHistory(items)
	c := newClient(t, srv)
	msk := time.FixedZone("MSK", 3*3600)
	q := telphin.HistoryQuery{Start: time.Date(2021, 1, 1, 3, 0, 0, 0, msk), End: time.Date(2021, 1, 2, 3, 0, 0, 0, msk), PerPage: 3, Flow: "out"}
	calls, err := collect(t, c.CallHistory(t.Context(), q))
	require.NoError(t, err)
	require.Len(t, calls, 7)
	require.Equal(t, 3, srv.Count(http.MethodGet, "/api/ver1.0/client/@me/call_history/"))
	first := srv.Requests()[1]
	require.Equal(t, "2021-01-01 00:00:00", first.Query.Get("start_datetime"), "times are sent as UTC")
	require.Equal(t, "2021-01-02 00:00:00", first.Query.Get("end_datetime"))
	require.Equal(t, "out", first.Query.Get("flow"))

	got := calls[0]
	require.Equal(t, "CAA308E3333C4A19AAED9C0254B9C600", got.CallUUID)
	require.Equal(t, time.Date(2021, 1, 1, 16, 29, 38, 0, time.UTC), got.InitTime.Time)
	require.Equal(t, time.Date(2021, 1, 1, 16, 29, 38, 760_000_000, time.UTC), got.CDR[0].InitTime.Time)
	require.Equal(t, "469100-5D36E5557F1845FEB577EDE8A19C5108", got.CDR[0].RecordUUID)
	require.Nil(t, got.ExtensionGroupOwnerID)

	// Stopping early stops fetching.
	for range c.CallHistory(t.Context(), q) {
		break
	}
	require.Equal(t, 4, srv.Count(http.MethodGet, "/api/ver1.0/client/@me/call_history/"))

	one, err := c.HistoryCall(t.Context(), "caa308e3333c4a19aaed9c0254b9c601")
	require.NoError(t, err)
	require.Equal(t, "CAA308E3333C4A19AAED9C0254B9C601", one.CallUUID)

	_, err = collect(t, c.CallHistory(t.Context(), telphin.HistoryQuery{}))
	require.Error(t, err)
}

// Concurrent iterations are serialised: the fake answers an overlapping
// stats request with 429, and retries are off, so any overlap would fail.
func TestCallHistorySerialised(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	srv.StatsDelay = 5 * time.Millisecond
	var items []json.RawMessage
	for i := range 4 {
		items = append(items, historyItem(i))
	}
	srv.SetHistory(items)
	c := newClient(t, srv, callbridge.WithRetry(callbridge.RetryPolicy{}))
	q := telphin.HistoryQuery{Start: time.Unix(0, 0), End: time.Now(), PerPage: 2}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			calls, err := collect(t, c.CallHistory(context.Background(), q))
			if err == nil && len(calls) != 4 {
				err = fmt.Errorf("got %d calls", len(calls))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// The fake does refuse overlapping requests (so the test above can fail).
	other := newClient(t, srv, callbridge.WithRetry(callbridge.RetryPolicy{}))
	srv.StatsDelay = time.Second
	before := srv.Count(http.MethodGet, "/api/ver1.0/client/@me/call_history/")
	done := make(chan error, 1)
	go func() { _, err := collect(t, c.CallHistory(context.Background(), q)); done <- err }()
	// Wait until the first request is at the fake (and held there).
	require.Eventually(t, func() bool {
		return srv.Count(http.MethodGet, "/api/ver1.0/client/@me/call_history/") > before
	}, 5*time.Second, time.Millisecond)
	_, err := collect(t, other.CallHistory(t.Context(), q))
	var rl *callbridge.RateLimitError
	require.ErrorAs(t, err, &rl)
	require.Contains(t, rl.Message, "concurrent request not allowed")
	require.NoError(t, <-done)
}

// The hourly quota 429 is a typed error with the reset time; it is not
// retried and later calls fail fast without reaching Telphin.
func TestQuotaExceeded(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	require.Equal(t, -1, c.RateLimit().Limit)
	srv.SetQuota(1)
	_, err := c.User(t.Context())
	require.NoError(t, err)
	require.Equal(t, callbridge.RateLimit{Limit: 10000, Remaining: 0}, callbridge.RateLimit{Limit: c.RateLimit().Limit, Remaining: c.RateLimit().Remaining})

	_, err = c.User(t.Context())
	var rl *callbridge.RateLimitError
	require.ErrorAs(t, err, &rl)
	require.Equal(t, "rate_limit_exceeded", rl.Code)
	require.WithinDuration(t, time.Now().Add(time.Hour), rl.Reset, time.Minute)
	require.Equal(t, 2, srv.Count(http.MethodGet, "/api/ver1.0/user/"), "not retried")

	_, err = c.Call(t.Context(), callevent.CallRequest{From: "101", To: "+79161112233"})
	require.ErrorAs(t, err, &rl)
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
	require.Equal(t, 2, srv.Count("", "/api/"), "nothing sent while the quota is exhausted")
}

// A quota 429 without X-RateLimit-* headers is recognised by its status
// rate_limit_exceeded: later calls fail fast until the next hour (the
// quota is hourly) without a request. The stats 429 does not block.
func TestQuotaExceededWithoutHeaders(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv, callbridge.WithRetry(callbridge.RetryPolicy{})) // one request per call, whatever httpx retries
	_, err := c.User(t.Context())
	require.NoError(t, err)

	srv.Fail(telphintest.Failure{Path: "/api/ver1.0/user/", Status: http.StatusTooManyRequests,
		Body: `{"message":"Stats request already exists, concurrent request not allowed"}`})
	_, err = c.User(t.Context())
	var rl *callbridge.RateLimitError
	require.ErrorAs(t, err, &rl)
	_, err = c.User(t.Context())
	require.NoError(t, err, "the stats 429 is not the quota: nothing is blocked")

	srv.Fail(telphintest.Failure{Path: "/api/ver1.0/user/", Status: http.StatusTooManyRequests, Times: 100,
		Body: `{"status":"rate_limit_exceeded","message":"Rate limit exceeded"}`})
	// Reset is the start of the next hour (computed after the call, so a
	// test crossing the hour still passes).
	nextHour := func(reset time.Time) bool {
		now := time.Now()
		return reset.Equal(reset.Truncate(time.Hour)) && reset.After(now) && !reset.After(now.Add(time.Hour))
	}
	_, err = c.User(t.Context())
	require.ErrorAs(t, err, &rl)
	require.Equal(t, "rate_limit_exceeded", rl.Code)
	require.True(t, nextHour(rl.Reset), "reset %v", rl.Reset)
	sent := srv.Count("", "/api/")

	for _, call := range []func() error{
		func() error { _, err := c.User(t.Context()); return err },
		func() error { _, err := c.Extensions(t.Context(), telphin.ExtensionFilter{}); return err },
		func() error { _, err := c.DownloadRecord(t.Context(), "x", io.Discard); return err },
	} {
		err := call()
		require.ErrorAs(t, err, &rl)
		require.Equal(t, "rate_limit_exceeded", rl.Code)
		require.True(t, nextHour(rl.Reset), "reset %v", rl.Reset)
	}
	require.Equal(t, sent, srv.Count("", "/api/"), "nothing sent while the quota is exhausted")

	// A download hitting the quota blocks the Client too.
	c2 := newClient(t, srv, callbridge.WithRetry(callbridge.RetryPolicy{}))
	srv.Fail(telphintest.Failure{Path: "/api/ver1.0/client/@me/record/", Status: http.StatusTooManyRequests,
		Body: `{"status":"rate_limit_exceeded","message":"Rate limit exceeded"}`})
	_, err = c2.DownloadRecord(t.Context(), "x", io.Discard)
	require.ErrorAs(t, err, &rl)
	require.True(t, nextHour(rl.Reset), "reset %v", rl.Reset)
	sent = srv.Count("", "/api/")
	_, err = c2.User(t.Context())
	require.ErrorAs(t, err, &rl)
	require.Equal(t, sent, srv.Count("", "/api/"), "blocked after the download's 429")
}

func TestRecords(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	audio := bytes.Repeat([]byte("ID3mp3"), 1000)
	srv.AddRecord("124575-F7CBC78AA41111E79A952B3394A79396", audio)

	u, err := c.Record(t.Context(), "124575-F7CBC78AA41111E79A952B3394A79396")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(u, srv.URL+"/storage/"))

	var buf bytes.Buffer
	n, err := c.DownloadRecord(t.Context(), "124575-F7CBC78AA41111E79A952B3394A79396", &buf)
	require.NoError(t, err)
	require.Equal(t, int64(len(audio)), n)
	require.Equal(t, audio, buf.Bytes())

	e := callevent.Event{Raw: json.RawMessage(`{"RecID":"124575-f7cbc78aa41111e79a952b3394a79396"}`)}
	u2, err := c.RecordingURL(t.Context(), e)
	require.NoError(t, err)
	require.NotEmpty(t, u2)
	u3, err := c.RecordingURL(t.Context(), callevent.Event{})
	require.NoError(t, err)
	require.Empty(t, u3)

	_, err = c.Record(t.Context(), "469100-00000000000000000000000000000000")
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "Record not found", apiErr.Message)
}

func TestSubscribeIdempotent(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	const hook = "https://crm.example/telphin/APPID?token=secret"
	first, err := c.Subscribe(t.Context(), "101", hook)
	require.NoError(t, err)
	second, err := c.Subscribe(t.Context(), "101", hook)
	require.NoError(t, err)
	require.Equal(t, first, second, "existing hooks are kept")
	require.Len(t, srv.Hooks(469100), 4)
	var types []string
	for _, h := range srv.Hooks(469100) {
		require.Equal(t, hook, h.URL)
		require.Equal(t, http.MethodPost, h.Method)
		types = append(types, h.EventType)
	}
	require.Equal(t, []string{"dial-in", "dial-out", "answer", "hangup"}, types)

	require.NoError(t, c.SubscribeAll(t.Context(), hook))
	require.Len(t, srv.Hooks(469100), 4)
	require.Len(t, srv.Hooks(469102), 4)
	require.Empty(t, srv.Hooks(469555), "queues are not phone extensions")

	require.NoError(t, c.Unsubscribe(t.Context(), "101", hook))
	require.Empty(t, srv.Hooks(469100))
	require.Len(t, srv.Hooks(469102), 4)
	_, err = c.Subscribe(t.Context(), "101", "/relative")
	require.Error(t, err)

	// The token rotated: the hooks with the old one go, another
	// integration's hooks stay.
	const other = "https://other.example/hooks?x=1"
	_, err = c.Subscribe(t.Context(), "102", other)
	require.NoError(t, err)
	const rotated = "https://crm.example/telphin/APPID/?token=new"
	require.NoError(t, c.SubscribeAll(t.Context(), rotated))
	var urls []string
	for _, h := range srv.Hooks(469102) {
		urls = append(urls, h.URL)
	}
	require.ElementsMatch(t, []string{other, other, other, other, rotated, rotated, rotated, rotated}, urls)
}

// memStore is a TokenStore in memory.
type memStore struct {
	mu    sync.Mutex
	tok   *oauth2.Token
	saves int
}

func (m *memStore) Load(context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tok, nil
}

func (m *memStore) Save(_ context.Context, tok *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok, m.saves = tok, m.saves+1
	return nil
}

func TestPublicApp(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	store := &memStore{}
	c := newClientFor(t, srv, telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret, RedirectURL: "https://crm.example/telphin/oauth"},
		callbridge.WithTokenStore(store))
	authURL, err := c.AuthCodeURL("xyz")
	require.NoError(t, err)
	require.Equal(t, srv.URL+"/oauth/authorize?client_id="+srv.ClientID+
		"&redirect_uri=https%3A%2F%2Fcrm.example%2Ftelphin%2Foauth&response_type=code&scope=all&state=xyz", authURL)

	_, err = c.User(t.Context())
	require.ErrorIs(t, err, telphin.ErrAuthorizationRequired)
	require.Empty(t, srv.Requests(), "nothing sent without a token")

	require.NoError(t, exchangeErr(c.Exchange(t.Context(), srv.AuthorizationCode())))
	_, err = c.User(t.Context())
	require.NoError(t, err)
	firstRefresh := store.tok.RefreshToken

	srv.ExpireTokens()
	_, err = c.User(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, store.saves)
	require.NotEqual(t, firstRefresh, store.tok.RefreshToken, "the rotated refresh token reached the store")

	_, err = c.Exchange(t.Context(), "used-or-forged-code")
	require.True(t, errors.Is(err, telphin.ErrInvalidGrant), err)
	require.NotContains(t, err.Error(), "used-or-forged-code")
}

// OAuth state: AuthCodeURL refuses to build a URL without one, NewState
// makes unguessable values, the fake's authorize page sends the state back
// unchanged and CheckState tells the real redirect from a forged one.
func TestOAuthState(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClientFor(t, srv, telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret, RedirectURL: "https://crm.example/telphin/oauth"},
		callbridge.WithTokenStore(&memStore{}))

	u, err := c.AuthCodeURL("")
	require.ErrorIs(t, err, telphin.ErrEmptyState, "an empty state is never silently dropped")
	require.Empty(t, u)

	seen := map[string]bool{}
	for range 100 {
		st, err := telphin.NewState()
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(st), 43, "32 random bytes")
		require.False(t, seen[st], "a state is never repeated")
		seen[st] = true
	}

	state, err := telphin.NewState()
	require.NoError(t, err)
	authURL, err := c.AuthCodeURL(state)
	require.NoError(t, err)
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(authURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	back, err := resp.Location()
	require.NoError(t, err)
	require.Equal(t, "crm.example", back.Host)
	require.Equal(t, state, back.Query().Get("state"))

	for name, got := range map[string]string{"missing": "", "guessed": "guess", "another session's": seenKey(seen), "prefix": state[:len(state)-1]} {
		err := telphin.CheckState(state, got)
		require.ErrorIs(t, err, telphin.ErrStateMismatch, name)
		require.NotContains(t, err.Error(), state, "the kept state is not echoed")
	}
	require.ErrorIs(t, telphin.CheckState("", ""), telphin.ErrStateMismatch, "nothing kept, nothing accepted")
	require.NoError(t, telphin.CheckState(state, back.Query().Get("state")))
	require.NoError(t, exchangeErr(c.Exchange(t.Context(), back.Query().Get("code"))))
	_, err = c.User(t.Context())
	require.NoError(t, err)
}

func seenKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

func TestSlowServerHonoursContext(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	srv.Fail(telphintest.Failure{Path: "/api/ver1.0/user/", Delay: time.Minute}) // cut short when the client gives up
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.User(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 10*time.Second)
}

// TestQuotaWithoutHeadersNotRetried: the hourly quota's 429 is sent once
// even with retries on, though no header says how long it lasts.
func TestQuotaWithoutHeadersNotRetried(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv) // default retries
	_, err := c.User(t.Context())
	require.NoError(t, err)
	before := srv.Count("", "/api/")
	srv.Fail(telphintest.Failure{Path: "/api/ver1.0/user/", Status: http.StatusTooManyRequests, Times: 100,
		Body: `{"status":"rate_limit_exceeded","message":"Rate limit exceeded"}`})
	_, err = c.User(t.Context())
	var rl *callbridge.RateLimitError
	require.ErrorAs(t, err, &rl)
	require.Equal(t, before+1, srv.Count("", "/api/"), "one request, not retried")
}

// TestCallRefusesQueue: a Telphin call to a queue is GroupCall; Call with
// a Queue sends nothing.
func TestCallRefusesQueue(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	_, err := c.Call(t.Context(), callevent.CallRequest{From: "101", To: "89530000000", Queue: "sales"})
	require.ErrorIs(t, err, callevent.ErrUnsupported)
	require.ErrorContains(t, err, "Queue")
	require.Empty(t, srv.Requests())
}

// TestFetchRecording: a call's recording by its id (callevent.
// RecordingFetcher): the history gives the record id of its first
// recorded leg, whose audio is streamed; a call without a recorded leg,
// whose record was deleted or that the history lacks is ErrNoRecording;
// Telphin failing is its error, not ErrNoRecording.
func TestFetchRecording(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	audio := bytes.Repeat([]byte("ID3mp3"), 1000)
	srv.AddRecord("469100-5D36E5557F1845FEB577EDE8A19C5108", audio)
	srv.SetHistory([]json.RawMessage{
		json.RawMessage(`{"call_uuid":"CAA308E3333C4A19AAED9C0254B9C61B","flow":"out","cdr":[{"flow":"out","record_uuid":null},{"flow":"out","record_uuid":"469100-5D36E5557F1845FEB577EDE8A19C5108"}]}`),
		json.RawMessage(`{"call_uuid":"BBB308E3333C4A19AAED9C0254B9C61B","flow":"in","cdr":[{"flow":"in","record_uuid":null}]}`),
		json.RawMessage(`{"call_uuid":"CCC308E3333C4A19AAED9C0254B9C61B","flow":"in","cdr":[{"flow":"in","record_uuid":"469100-00000000000000000000000000000000"}]}`),
	})

	rec, err := c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "caa308e3333c4a19aaed9c0254b9c61b"})
	require.NoError(t, err)
	got, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	require.NoError(t, rec.Body.Close())
	require.Equal(t, audio, got)
	require.Equal(t, "audio/mpeg", rec.ContentType)
	require.Equal(t, 1, srv.Count(http.MethodGet, "/api/ver1.0/client/@me/call_history/CAA308E3333C4A19AAED9C0254B9C61B"))

	for _, id := range []string{"bbb308e3333c4a19aaed9c0254b9c61b", "ccc308e3333c4a19aaed9c0254b9c61b", "ddd308e3333c4a19aaed9c0254b9c61b"} {
		_, err := c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: id})
		require.ErrorIs(t, err, callevent.ErrNoRecording, id)
	}

	srv.Fail(telphintest.Failure{Path: "/api/ver1.0/client/@me/record/", Status: http.StatusBadGateway, Times: callbridge.DefaultMaxRetries + 1})
	_, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "caa308e3333c4a19aaed9c0254b9c61b"})
	var apiErr *callbridge.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadGateway, apiErr.StatusCode)
	require.NotErrorIs(t, err, callevent.ErrNoRecording)
	rec, err = c.FetchRecording(t.Context(), callevent.RecordingRequest{CallID: "caa308e3333c4a19aaed9c0254b9c61b"})
	require.NoError(t, err, "Telphin recovered")
	require.NoError(t, rec.Body.Close())
}
