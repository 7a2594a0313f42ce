package telphintest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/telphin/telphintest"
)

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestFail(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)

	srv.Fail(telphintest.Failure{Method: http.MethodGet, Path: "/api/ver1.0/user/", Status: http.StatusTooManyRequests,
		RetryAfter: "7", Header: http.Header{"X-Ratelimit-Remaining": {"0"}}, Times: 2})
	srv.Fail(telphintest.Failure{Path: "/oauth/", Status: http.StatusBadGateway, Body: "<html>502</html>",
		Header: http.Header{"Content-Type": {"text/html"}}})
	for range 2 {
		resp, body := get(t, srv.URL+"/api/ver1.0/user/")
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.Equal(t, "7", resp.Header.Get("Retry-After"))
		require.Equal(t, "0", resp.Header.Get("X-RateLimit-Remaining"))
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.JSONEq(t, `{"message":"Too Many Requests"}`, body, "Telphin's error shape by default")
	}
	resp, _ := get(t, srv.URL+"/api/ver1.0/user/")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "used up: the fake answers (no token)")
	require.Empty(t, resp.Header.Get("Retry-After"))

	resp, body := get(t, srv.URL+"/oauth/authorize")
	require.Equal(t, http.StatusBadGateway, resp.StatusCode)
	require.Equal(t, "text/html", resp.Header.Get("Content-Type"))
	require.Equal(t, "<html>502</html>", body)

	reqs := srv.Requests()
	require.Len(t, reqs, 4)
	require.Equal(t, "/oauth/authorize", reqs[3].Path)
	require.Equal(t, 3, srv.Count(http.MethodGet, "/api/"))
}

func TestRequestsKeepSecrets(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.ClientID}, "client_secret": {srv.ClientSecret}}
	resp, err := http.PostForm(srv.URL+"/oauth/token", form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 1, srv.TokenRequests())
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	require.Contains(t, string(reqs[0].Body), url.QueryEscape(srv.ClientSecret), "recorded as received")
	require.NotContains(t, srv.String(), srv.ClientSecret)
}

// A delay ends when the client gives up, and when the Server is closed
// (the client sees the connection drop, Close does not wait it out).
func TestDelayCutShort(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	srv.Fail(telphintest.Failure{Path: "/api/", Delay: time.Minute, Times: 2})

	c := &http.Client{Timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := c.Get(srv.URL + "/api/ver1.0/user/")
	require.Error(t, err)

	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/api/ver1.0/user/")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return srv.Count("", "/api/") == 2 }, 5*time.Second, 5*time.Millisecond)
	srv.Close()
	srv.Close() // idempotent
	require.Error(t, <-done, "the connection drops")
	require.Less(t, time.Since(start), 4*time.Second)
}

func TestNewRequest(t *testing.T) {
	t.Parallel()
	r := telphintest.NewRequest("https://crm.example/telphin/app", "s3cret", telphintest.Call{}.DialIn())
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "crm.example", r.Host)
	require.Equal(t, "192.0.2.1:1234", r.RemoteAddr)
	require.Equal(t, "/telphin/app?token=s3cret", r.RequestURI)
	require.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	require.NoError(t, r.ParseForm())
	require.Equal(t, "dial-in", r.PostForm.Get("EventType"))

	g := telphintest.NewGETRequest("/hooks/telphin/app?x=1", "s3cret", telphintest.Call{}.Hangup())
	require.Equal(t, http.MethodGet, g.Method)
	require.Equal(t, "example.com", g.Host)
	require.Equal(t, "s3cret", g.URL.Query().Get("token"))
	require.Equal(t, "1", g.URL.Query().Get("x"))
	require.Equal(t, "hangup", g.URL.Query().Get("EventType"))
}

// The fake's call control refuses what Telphin does: an unknown action,
// and a transfer, conference, pickup, eavesdrop or whisper without
// send_dst.
func TestControlCallChecksActions(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.ClientID}, "client_secret": {srv.ClientSecret}}
	resp, err := http.PostForm(srv.URL+"/oauth/token", form)
	require.NoError(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	srv.AddCurrentCall(469100, map[string]any{"call_api_id": "1-abc", "call_id": "abc"})
	put := func(body string) int {
		req, err := http.NewRequest(http.MethodPut, srv.URL+"/api/ver1.0/extension/469100/current_calls/1-abc", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, put(`{"action":"hold"}`))
	require.Equal(t, http.StatusOK, put(`{"action":"conference","send_dst":"15400*102"}`))
	require.Equal(t, http.StatusBadRequest, put(`{"action":"dance"}`))
	require.Equal(t, http.StatusBadRequest, put(`{"action":"whisper"}`))
	require.Equal(t, "conference", srv.CurrentCalls(469100)[0]["last_action"], "a refused action changes nothing")
}
