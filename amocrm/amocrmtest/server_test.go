package amocrmtest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callbridge/callbridge/amocrm/amocrmtest"
)

func get(t *testing.T, srv *amocrmtest.Server, method, path, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestFail(t *testing.T) {
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	tok := srv.LongLivedToken()
	srv.Fail(amocrmtest.Failure{Method: http.MethodPost, Path: "/api/v4/calls", Status: http.StatusTooManyRequests,
		RetryAfter: "3", Times: 2})

	// Another method or path is not selected.
	if resp := get(t, srv, http.MethodGet, "/api/v4/users", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET users: %d", resp.StatusCode)
	}
	for i := range 2 {
		resp := get(t, srv, http.MethodPost, "/api/v4/calls", tok)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" ||
			!strings.Contains(string(body), "429 Too Many Requests") {
			t.Fatalf("POST calls #%d: %d %q %s", i, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if resp := get(t, srv, http.MethodPost, "/api/v4/calls", tok); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("after Times: %d, want the fake's own 400", resp.StatusCode)
	}

	srv.Fail(amocrmtest.Failure{Status: http.StatusBadGateway, Body: `{"x":1}`})
	resp := get(t, srv, http.MethodGet, "/api/v4/users", tok)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || string(body) != `{"x":1}` || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("any request: %d %s %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}

	reqs := srv.Requests()
	if len(reqs) != 5 || reqs[1].Method != http.MethodPost || reqs[1].Path != "/api/v4/calls" ||
		reqs[1].Header.Get("Authorization") != "Bearer "+tok || string(reqs[1].Body) != "[]" {
		t.Fatalf("Requests: %+v", reqs)
	}
}

func TestCloseCutsDelayShort(t *testing.T) {
	srv := amocrmtest.NewServer()
	srv.Fail(amocrmtest.Failure{Delay: time.Hour})
	errc := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL + "/api/v4/users")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for len(srv.Requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	srv.Close()
	srv.Close() // idempotent
	<-errc
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
}
