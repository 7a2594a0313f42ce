package fakehttp_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/internal/fakehttp"
)

func TestServer(t *testing.T) {
	t.Parallel()
	srv := fakehttp.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path)
	}))
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"))
	resp, err := http.Get(srv.URL + "/x")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "GET /x", string(b))
	srv.Close()
	srv.Close() // twice is fine
	_, err = http.Get(srv.URL + "/x")
	require.Error(t, err, "closed")
}

func TestNewRequest(t *testing.T) {
	t.Parallel()
	r := fakehttp.NewRequest(http.MethodPost, "/hook?token=a", strings.NewReader("x=1"))
	require.Equal(t, "192.0.2.1:1234", r.RemoteAddr)
	require.Equal(t, "example.com", r.Host)
	require.Equal(t, "/hook?token=a", r.RequestURI)
	require.Equal(t, "a", r.URL.Query().Get("token"))
	r = fakehttp.NewRequest(http.MethodGet, "https://crm.example/p", nil)
	require.Equal(t, "crm.example", r.Host)
	require.Equal(t, http.NoBody, r.Body)
}
