package httpx

import (
	"compress/gzip"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGzip: the Client asks for gzip itself and decompresses, also through
// a transport that would not (DisableCompression), for success and error
// bodies alike.
func TestGzip(t *testing.T) {
	t.Parallel()
	for name, hc := range map[string]*http.Client{
		"default transport":    nil,
		"compression off":      {Transport: &http.Transport{DisableCompression: true}},
		"custom round tripper": {Transport: roundTripFunc(http.DefaultTransport.RoundTrip)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var asked []string
			c, _ := setup(t, Config{HTTPClient: hc}, func(w http.ResponseWriter, r *http.Request) {
				asked = append(asked, r.Header.Get("Accept-Encoding"))
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", "gzip")
				status, body := http.StatusOK, `{"call_id":"c-42"}`
				if r.URL.Path == "/api/bad" {
					status, body = http.StatusBadRequest, `{"message":"phone is invalid"}`
				}
				w.WriteHeader(status)
				zw := gzip.NewWriter(w)
				_, _ = zw.Write([]byte(body))
				_ = zw.Close()
			})
			var out struct {
				CallID string `json:"call_id"`
			}
			_, err := c.JSON(t.Context(), &Request{Method: http.MethodGet, Path: "ok"}, &out)
			require.NoError(t, err)
			require.Equal(t, "c-42", out.CallID)

			_, err = c.JSON(t.Context(), &Request{Method: http.MethodGet, Path: "bad"}, nil)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, "phone is invalid", ae.Message)
			require.Equal(t, []string{"gzip", "gzip"}, asked)
		})
	}
}
