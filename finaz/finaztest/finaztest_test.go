package finaztest_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/finaz/finaztest"
)

type answer struct {
	status int
	header http.Header
	body   string
}

// do may run outside the test's goroutine: it reports errors, never fails.
func do(ctx context.Context, method, url string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return answer{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}, err
}

func get(t *testing.T, method, url string) answer {
	t.Helper()
	a, err := do(t.Context(), method, url)
	require.NoError(t, err)
	return a
}

func TestServerShape(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	require.True(t, strings.HasPrefix(pbx.URL, "http://127.0.0.1:"), pbx.URL)
	require.False(t, strings.HasSuffix(pbx.URL, "/"), "like httptest.Server.URL: no trailing slash")

	pbx.Reply("GET", "/x", finaztest.Response{Status: 202, Header: http.Header{"X-A": {"1"}}, Body: "ok"})
	pbx.Handle("", "/any", func(r finaztest.Request) finaztest.Response { return finaztest.Response{Body: r.Method} })
	a := get(t, "GET", pbx.URL+"/x?q=1")
	require.Equal(t, answer{202, a.header, "ok"}, a)
	require.Equal(t, "1", a.header.Get("X-A"))
	require.Equal(t, "PATCH", get(t, "PATCH", pbx.URL+"/any").body)
	require.Equal(t, 404, get(t, "POST", pbx.URL+"/x").status)

	reqs := pbx.Requests()
	require.Len(t, reqs, 3)
	require.Equal(t, "1", reqs[0].Query.Get("q"))

	pbx.Authorize(func(r finaztest.Request) bool { return r.Header.Get("Authorization") == "Bearer ok" })
	a = get(t, "GET", pbx.URL+"/x")
	require.Equal(t, 401, a.status)
	require.JSONEq(t, `{"error":"unauthorized"}`, a.body)
	pbx.Authorize(nil)
	require.Equal(t, 202, get(t, "GET", pbx.URL+"/x").status)

	pbx.Close()
	pbx.Close() // idempotent
	_, err := do(t.Context(), "GET", pbx.URL+"/x")
	require.Error(t, err, "closed")
}

func TestFail(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Reply("", "/calls", finaztest.Response{Body: "ok"})
	pbx.Reply("", "/calls/1", finaztest.Response{Body: "ok"})
	pbx.Reply("", "/results", finaztest.Response{Body: "ok"})

	// Method and Path (a prefix) select; Times (0 = 1) counts.
	pbx.Fail(finaztest.Failure{Method: "POST", Path: "/calls", Status: 503, Times: 2})
	require.Equal(t, "ok", get(t, "GET", pbx.URL+"/calls").body, "other method")
	require.Equal(t, "ok", get(t, "POST", pbx.URL+"/results").body, "other path")
	a := get(t, "POST", pbx.URL+"/calls/1")
	require.Equal(t, 503, a.status)
	require.JSONEq(t, `{"error":"Service Unavailable"}`, a.body, "the fake's error shape by default")
	require.Equal(t, "application/json", a.header.Get("Content-Type"))
	require.Equal(t, 503, get(t, "POST", pbx.URL+"/calls").status)
	require.Equal(t, "ok", get(t, "POST", pbx.URL+"/calls").body, "used up")

	// Body, RetryAfter, Header; failures are matched in the order added.
	pbx.Fail(finaztest.Failure{Status: 429, Body: "slow down", RetryAfter: "7", Header: http.Header{"X-Limit": {"10"}}})
	pbx.Fail(finaztest.Failure{Status: 500})
	a = get(t, "GET", pbx.URL+"/results")
	require.Equal(t, 429, a.status)
	require.Equal(t, "slow down", a.body)
	require.Equal(t, "7", a.header.Get("Retry-After"))
	require.Equal(t, "10", a.header.Get("X-Limit"))
	require.Equal(t, 500, get(t, "GET", pbx.URL+"/results").status)

	// A failure comes before the credential check, and is recorded.
	pbx.Authorize(func(finaztest.Request) bool { return false })
	pbx.Fail(finaztest.Failure{Status: 502})
	require.Equal(t, 502, get(t, "GET", pbx.URL+"/calls").status)
	require.Equal(t, 401, get(t, "GET", pbx.URL+"/calls").status)
	pbx.Authorize(nil)
	require.Len(t, pbx.Requests(), 9, "every request, failed or not")

	// Status 0: a delay only, then the normal answer.
	pbx.Fail(finaztest.Failure{Path: "/calls", Delay: 20 * time.Millisecond})
	start := time.Now()
	require.Equal(t, "ok", get(t, "GET", pbx.URL+"/calls").body)
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)

	// Reset forgets requests and pending failures, not routes.
	pbx.Fail(finaztest.Failure{Status: 503, Times: 5})
	pbx.Reset()
	require.Empty(t, pbx.Requests())
	require.Equal(t, "ok", get(t, "GET", pbx.URL+"/calls").body)
}

// A delay is cut short when the client gives up or the Server is closed
// (the connection is dropped).
func TestDelayCutShort(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	arrived := make(chan struct{}, 4)
	pbx.Handle("GET", "/slow", func(finaztest.Request) finaztest.Response {
		arrived <- struct{}{}
		return finaztest.Response{Body: "late", Delay: time.Hour}
	})

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := do(ctx, "GET", pbx.URL+"/slow")
		errc <- err
	}()
	<-arrived
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)

	pbx.Fail(finaztest.Failure{Path: "/slow", Status: 503, Delay: time.Hour})
	go func() {
		_, err := do(t.Context(), "GET", pbx.URL+"/slow")
		errc <- err
	}()
	require.Eventually(t, func() bool { return len(pbx.Requests()) == 2 }, 30*time.Second, time.Millisecond)
	pbx.Close()
	require.Error(t, <-errc, "the connection is dropped")
}

func TestNotificationRequests(t *testing.T) {
	t.Parallel()
	n := finaztest.Notification{PID: "p", Num: "11987654321", CID: "c 1", Ramal: "2001", EmpresaID: "e", Token: "tok"}
	r := finaztest.NewDiscadorRequest("https://crm.example/proxy/", n)
	require.Equal(t, "GET", r.Method)
	require.Equal(t, "crm.example", r.Host)
	require.Equal(t, "192.0.2.1:1234", r.RemoteAddr)
	require.Equal(t, "/proxy/atendimentodiscador?cid=c+1&empresaId=e&num=11987654321&pid=p&ramal=2001&token=tok", r.RequestURI)

	n.ManualSpelling, n.Token = true, ""
	r = finaztest.NewReceptivoRequest("/hooks/finaz", n)
	require.Equal(t, "example.com", r.Host)
	require.Equal(t, "/hooks/finaz/atendimentoreceptivo?cid=c+1&empresald=e&num=11987654321&ramal=2001", r.RequestURI)
	require.Equal(t, "http://example.com/hooks/finaz/atendimentoreceptivo?cid=c+1&empresald=e&num=11987654321&ramal=2001",
		finaztest.ReceptivoURL("http://example.com/hooks/finaz/", n))
}
