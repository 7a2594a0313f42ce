package phonettest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/webhook"
)

func TestBodies(t *testing.T) {
	t.Parallel()
	c := phonettest.InboundCall().At(time.UnixMilli(1754641204000))
	dial := c.Dial()
	require.JSONEq(t, `{"event":"call.dial","accountDomain":"acme.phonet.com.ua",
	 "uuid":"5c3d2e1f0a9b4c8d7e6f5a4b3c2d1e0f","parentUuid":null,
	 "dialAt":1754641204000,"bridgeAt":null,"lgDirection":4,
	 "leg":{"id":30,"ext":"001","displayName":"Олена Коваль"},"leg2":null,
	 "otherLegs":[{"id":6137,"name":"ТОВ Ромашка","num":"+380501112233","companyName":"ТОВ Ромашка",
	               "url":"https://crm.example.com/contacts/6137"}],
	 "trunkNum":"+380442000000","trunkName":"Основна лінія","serverTime":1754641204350}`, string(dial.JSON()))

	sec := c.Hangup().InSeconds()
	require.Equal(t, int64(1754641204), sec["dialAt"])
	require.Equal(t, int64(1754641335), sec["hangupAt"])
	require.Equal(t, int64(1754641335000), c.Hangup()["hangupAt"], "InSeconds copies")

	form := dial.NullLeg().Form()
	require.Equal(t, "", form.Get("leg[ext]"))
	require.Equal(t, "+380501112233", form.Get("otherLegs[0][num]"))
	require.Equal(t, "call.dial", form.Get("event"))
	require.Equal(t, "", form.Get("bridgeAt"))

	rec := c.Record()
	require.Equal(t, "https://acme.phonet.com.ua/rest/public/calls/5c3d2e1f0a9b4c8d7e6f5a4b3c2d1e0f/audio ", rec["audioRecUrl"])
	require.EqualValues(t, 118, rec["billSecs"])
	require.EqualValues(t, 0, rec["disposition"])
	require.NotContains(t, rec, "event")

	internal := phonettest.InternalCall().Dial()
	unanswered := phonettest.InboundCall()
	unanswered.BridgeAt = time.Time{}
	require.True(t, unanswered.At(time.UnixMilli(1000)).BridgeAt.IsZero(), "At keeps an unanswered call unanswered")
	require.Nil(t, internal["otherLegs"])
	require.NotNil(t, internal["leg2"])

	p := phonettest.Pause(true, "a", "001", "x", time.UnixMilli(1000))
	require.Equal(t, 32, p["lgDirection"])

	r := dial.Request("/p?x=1", phonettest.WithToken("t k"), phonettest.AsForm(), phonettest.FromAddr("1.2.3.4:5"))
	require.Equal(t, "/p?x=1&token=t+k", r.URL.RequestURI())
	require.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	require.Equal(t, "1.2.3.4:5", r.RemoteAddr)
	require.Equal(t, phonettest.DefaultRemoteAddr, dial.Request("/p").RemoteAddr)
}

func TestServer(t *testing.T) {
	t.Parallel()
	srv := phonettest.NewServer()
	t.Cleanup(srv.Close)
	get := func(path, session string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		if session != "" {
			req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: session})
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	require.Equal(t, http.StatusForbidden, get("/rest/users", "").StatusCode)

	resp, err := http.Post(srv.URL+"/rest/security/authorize", "application/json",
		strings.NewReader(`{"domain":"acme.phonet.com.ua","apiKey":"`+phonettest.DefaultAPIKey+`"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	session := resp.Cookies()[0].Value
	require.Equal(t, "FAKESESSION0001", session)

	require.Equal(t, http.StatusOK, get("/rest/users", session).StatusCode)
	require.Equal(t, http.StatusBadRequest, get("/rest/calls/company.api?timeFrom=0&timeTo=1&limit=51&offset=0", session).StatusCode)

	srv.Fail(phonettest.Failure{Method: http.MethodGet, Path: "/rest/users", Status: http.StatusTooManyRequests, RetryAfter: "3", Times: 2})
	for range 2 {
		r := get("/rest/users", session)
		require.Equal(t, http.StatusTooManyRequests, r.StatusCode)
		require.Equal(t, "3", r.Header.Get("Retry-After"))
	}
	require.Equal(t, http.StatusOK, get("/rest/users", session).StatusCode, "the failure was used up")

	srv.SetExpiredResponse(http.StatusFound)
	srv.ExpireSessions()
	r := get("/rest/users", session)
	require.Equal(t, http.StatusFound, r.StatusCode)
	require.Equal(t, "/login", r.Header.Get("Location"))

	srv.SetRecording("u1", []byte("mp3"))
	r = get("/rest/public/calls/u1/audio", "")
	b, _ := io.ReadAll(r.Body)
	require.Equal(t, "mp3", string(b), "recordings are public")

	reqs := srv.Requests()
	require.Equal(t, "/rest/security/authorize", reqs[1].Path)
	var body map[string]string
	require.NoError(t, json.Unmarshal(reqs[1].Body, &body))
	require.Equal(t, "acme.phonet.com.ua", body["domain"])
	require.Equal(t, 1, srv.Authorizations())
}

// The sample calls carry current times: a handler with its default clock
// and time window accepts every body built from them, and none is stamped
// in the future.
func TestSampleCallsAreCurrent(t *testing.T) {
	t.Parallel()
	var got []callevent.Event
	h, err := phonet.NewHandler(callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		got = append(got, e)
		return nil
	}), webhook.WithoutAuth())
	require.NoError(t, err)
	before := time.Now()
	for _, c := range []phonettest.Call{phonettest.InboundCall(), phonettest.OutboundCall(), phonettest.InternalCall()} {
		for _, b := range []phonettest.Body{c.Dial(), c.Bridge(), c.Hangup(), c.Record()} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, b.Request("/phonet"))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		}
	}
	require.Len(t, got, 12)
	for _, e := range got {
		require.False(t, e.At.After(before), "%s at %s is in the future", e.Kind, e.At)
		require.WithinDuration(t, before, e.At, 5*time.Minute)
	}
}

func TestServerFailureShapes(t *testing.T) {
	t.Parallel()
	srv := phonettest.NewServer()
	t.Cleanup(srv.Close)
	require.False(t, strings.HasSuffix(srv.URL, "/"), "URL has no trailing slash, like httptest.Server's")
	do := func(method, path string) (*http.Response, string) {
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultTransport.RoundTrip(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}

	// Path is a prefix of the URL path; Method selects too.
	srv.Fail(phonettest.Failure{Method: http.MethodGet, Path: "/rest/calls/", Status: http.StatusBadGateway, Body: `{"message":"upstream"}`})
	r, _ := do(http.MethodPost, "/rest/calls/company.api")
	require.NotEqual(t, http.StatusBadGateway, r.StatusCode, "the method does not match")
	r, body := do(http.MethodGet, "/rest/calls/company.api")
	require.Equal(t, http.StatusBadGateway, r.StatusCode)
	require.Equal(t, `{"message":"upstream"}`, body)
	require.Equal(t, "application/json;charset=UTF-8", r.Header.Get("Content-Type"))

	srv.Fail(phonettest.Failure{Status: http.StatusInternalServerError, Body: "Internal error"})
	r, body = do(http.MethodGet, "/rest/users")
	require.Equal(t, http.StatusInternalServerError, r.StatusCode)
	require.Equal(t, "Internal error", body)
	require.Equal(t, "text/plain; charset=utf-8", r.Header.Get("Content-Type"))

	srv.Fail(phonettest.Failure{Path: "/rest/users", Status: http.StatusServiceUnavailable})
	r, body = do(http.MethodGet, "/rest/users")
	require.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
	require.Equal(t, "Service Unavailable\n", body, "Phonet's own shape by default")

	reqs := srv.Requests()
	require.Len(t, reqs, 4)
	require.Equal(t, http.MethodPost, reqs[0].Method)
	require.Equal(t, "/rest/calls/company.api", reqs[0].Path)
}

// Close cuts a delayed answer short and may be called again.
func TestServerCloseCutsDelays(t *testing.T) {
	t.Parallel()
	srv := phonettest.NewServer()
	srv.Fail(phonettest.Failure{Path: "/rest/users", Delay: time.Minute})
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/rest/users")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return len(srv.Requests()) == 1 }, 5*time.Second, 5*time.Millisecond)
	start := time.Now()
	srv.Close()
	srv.Close()
	require.Less(t, time.Since(start), 3*time.Second)
	select {
	case err := <-done:
		require.Error(t, err, "the connection drops: no answer")
	case <-time.After(5 * time.Second):
		t.Fatal("the delayed request did not end when the Server closed")
	}
}
