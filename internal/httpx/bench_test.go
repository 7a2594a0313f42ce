package httpx

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkClientDo(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL + "/api/"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	req := &Request{Path: "user/"}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func BenchmarkRedact(b *testing.B) {
	s := `{"error":"invalid_token","access_token":"abc","url":"https://x/a?token=abc&b=1"}`
	b.ReportAllocs()
	for b.Loop() {
		_ = Redact(s, "lit3ral")
	}
}
