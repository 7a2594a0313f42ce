package megafontest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/megafon/megafontest"
)

func TestWebhookBuilders(t *testing.T) {
	t.Parallel()
	c := megafontest.Call{ID: "c1", Direction: "in", Phone: "79161234567", User: "pbx"}

	h := megafontest.History(c, megafontest.Outcome{Status: "missed", Group: "g_1", NoStart: true})
	require.False(t, h.Has("start"), "NoStart leaves start out")
	require.Equal(t, "missed", h.Get("status"))
	require.Equal(t, "pbx", h.Get("user"))
	require.Equal(t, "in", h.Get("type"))
	require.False(t, h.Has("wait"))

	h = megafontest.History(c, megafontest.Outcome{Status: "Success", Start: time.Date(2023, 1, 1, 15, 4, 5, 0, time.FixedZone("", 3*3600)), Wait: 3, SendWait: true})
	require.Equal(t, "20230101T120405Z", h.Get("start"))
	require.Equal(t, "3", h.Get("wait"))

	// A zero Start is the current time minus the duration: the call just ended.
	before := time.Now().Add(-30 * time.Second).Truncate(time.Second)
	h = megafontest.History(c, megafontest.Outcome{Status: "Success", Duration: 30})
	after := time.Now().Add(-30 * time.Second)
	start, err := time.Parse("20060102T150405Z", h.Get("start"))
	require.NoError(t, err)
	require.False(t, start.Before(before) || start.After(after), "start %v not in [%v, %v]", start, before, after)

	tr := megafontest.Transferred(c, "c2")
	require.Equal(t, "TRANSFERRED", tr.Get("type"))
	require.Equal(t, "c2", tr.Get("second_callid"))

	fields := megafontest.Rating(c, 4)
	r := megafontest.NewRequest("/hook", "tok", fields)
	require.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	b, _ := io.ReadAll(r.Body)
	var got url.Values
	got, err = url.ParseQuery(string(b))
	require.NoError(t, err)
	require.Equal(t, "tok", got.Get("crm_token"))
	require.Equal(t, "4", got.Get("rating"))
	require.False(t, fields.Has("crm_token"), "fields not modified")

	r = megafontest.NewJSONRequest("/hook", "tok", megafontest.Contact("79161234567", "c1"))
	var m map[string]string
	require.NoError(t, json.NewDecoder(r.Body).Decode(&m))
	require.Equal(t, map[string]string{"cmd": "contact", "phone": "79161234567", "callid": "c1", "crm_token": "tok"}, m)
}

func TestServerFaultsAndShapes(t *testing.T) {
	t.Parallel()
	srv := megafontest.NewServer()
	t.Cleanup(srv.Close)
	get := func(path string, key string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("X-API-KEY", key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/crmapi/v1/groups", "")
	require.Equal(t, http.StatusUnauthorized, code)
	require.JSONEq(t, `{"message":"Empty token"}`, body)
	code, body = get("/crmapi/v1/nothing", megafontest.APIKey)
	require.Equal(t, http.StatusNotFound, code)
	require.JSONEq(t, `{"message":"Not found"}`, body)

	srv.Fail(megafontest.Failure{Op: megafontest.OpGroups, Status: http.StatusInternalServerError, Times: 2})
	for range 2 {
		code, _ = get("/crmapi/v1/groups", megafontest.APIKey)
		require.Equal(t, http.StatusInternalServerError, code)
	}
	code, _ = get("/crmapi/v1/groups", megafontest.APIKey)
	require.Equal(t, http.StatusOK, code, "the fault is used up")

	resp, err := http.PostForm(srv.URL+"/sys/crm_api.wcgp", url.Values{"cmd": {"subscribtionstatus"}, "token": {megafontest.APIKey}})
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "the spec's misspelling is rejected, as live")
	require.True(t, strings.Contains(string(b), `"error"`))
	require.Len(t, srv.Requests(), 6)
	require.True(t, srv.Requests()[5].Legacy)
}

func TestFailSelectors(t *testing.T) {
	t.Parallel()
	srv := megafontest.NewServer()
	t.Cleanup(srv.Close)
	do := func(method, path string, form url.Values) int {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, body)
		require.NoError(t, err)
		req.Header.Set("X-API-KEY", megafontest.APIKey)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	legacyGroups := url.Values{"cmd": {"groups"}, "token": {megafontest.APIKey}}

	// Path: the legacy endpoint only; crmapi v1 is left alone.
	srv.Fail(megafontest.Failure{Path: "/sys/crm_api.wcgp", Status: http.StatusBadGateway})
	require.Equal(t, http.StatusOK, do(http.MethodGet, "/crmapi/v1/groups", nil))
	require.Equal(t, http.StatusBadGateway, do(http.MethodPost, "/sys/crm_api.wcgp", legacyGroups))
	require.Equal(t, http.StatusOK, do(http.MethodPost, "/sys/crm_api.wcgp", legacyGroups), "used up")

	// Method: only DELETEs of the DND endpoint.
	srv.Fail(megafontest.Failure{Method: http.MethodDelete, Path: "/crmapi/v1/users/", Status: http.StatusForbidden})
	require.Equal(t, http.StatusOK, do(http.MethodGet, "/crmapi/v1/users/andy/dnd", nil))
	require.Equal(t, http.StatusForbidden, do(http.MethodDelete, "/crmapi/v1/users/andy/dnd", nil))

	// Op: one operation across both generations on the shared legacy path.
	srv.Fail(megafontest.Failure{Op: megafontest.OpHistory, Status: http.StatusServiceUnavailable, Times: 2})
	require.Equal(t, http.StatusOK, do(http.MethodPost, "/sys/crm_api.wcgp", legacyGroups))
	require.Equal(t, http.StatusServiceUnavailable, do(http.MethodPost, "/sys/crm_api.wcgp",
		url.Values{"cmd": {"history"}, "token": {megafontest.APIKey}, "period": {"today"}}))
	require.Equal(t, http.StatusServiceUnavailable, do(http.MethodGet, "/crmapi/v1/history/json?period=today", nil))
	require.Equal(t, http.StatusOK, do(http.MethodGet, "/crmapi/v1/history/json?period=today", nil), "used up")

	// All selectors must match.
	srv.Fail(megafontest.Failure{Method: http.MethodPost, Path: "/crmapi/v1/", Op: megafontest.OpGroups, Status: http.StatusTeapot})
	require.Equal(t, http.StatusOK, do(http.MethodGet, "/crmapi/v1/groups", nil), "method differs")
	require.Equal(t, http.StatusOK, do(http.MethodPost, "/sys/crm_api.wcgp", legacyGroups), "path differs")

	reqs := srv.Requests()
	require.Len(t, reqs, 11)
	require.Equal(t, megafontest.OpHistory, reqs[6].Op)
	require.Equal(t, megafontest.APIKey, reqs[6].Params.Get("token"), "secrets as received")
}

func TestCloseCutsDelayShort(t *testing.T) {
	t.Parallel()
	srv := megafontest.NewServer()
	srv.Fail(megafontest.Failure{Op: megafontest.OpGroups, Delay: time.Minute})
	errc := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/crmapi/v1/groups", nil)
		if err != nil {
			errc <- err
			return
		}
		req.Header.Set("X-API-KEY", megafontest.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return len(srv.Requests()) == 1 }, 5*time.Second, time.Millisecond)
	start := time.Now()
	srv.Close()
	srv.Close() // idempotent
	require.Less(t, time.Since(start), 3*time.Second)
	require.Error(t, <-errc, "the waiting client sees the connection drop, not an answer")
}
