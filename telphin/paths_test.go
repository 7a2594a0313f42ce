package telphin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// Ids from webhooks (RecID, CallID, CallAPIID) go into API paths. None of
// them may walk up or sideways: DownloadRecord("..") once streamed
// GET /client/@me/ (the client object) as a "recording". Every such id is
// refused before a request is sent, so the fake sees only the token and
// extension-list requests.
func TestIDsNeverChangeThePath(t *testing.T) {
	t.Parallel()
	bad := []string{"..", ".", "a/../b", "%2F..", "%2f..%2f..", "../..", "../../user/", "..%2F", "%2e%2e", "%2E%2E",
		"./469100-AB", "a/b", "a\\..\\b", "..;", "a?b=1", "a#b", "a%00", "\x00", "a\nb", " .. ", "..\u2215..", strings.Repeat("a", 300)}
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	srv.AddCurrentCall(469100, map[string]any{"call_api_id": "3584709739-45c0c95e", "call_id": "45c0c95e2b8d4ee4b3c5c62e29552a8c"})
	ops := map[string]func(id string) error{
		"Record": func(id string) error { _, err := c.Record(t.Context(), id); return err },
		"DownloadRecord": func(id string) error {
			var buf bytes.Buffer
			n, err := c.DownloadRecord(t.Context(), id, &buf)
			if err == nil {
				t.Errorf("DownloadRecord(%q) streamed %d bytes: %q", id, n, buf.String())
			}
			return err
		},
		"RecordingURL": func(id string) error {
			raw, _ := json.Marshal(map[string]string{"RecID": id})
			_, err := c.RecordingURL(t.Context(), callevent.Event{Raw: raw})
			return err
		},
		"HistoryCall": func(id string) error { _, err := c.HistoryCall(t.Context(), id); return err },
		"Hangup": func(id string) error {
			return c.Hangup(t.Context(), callevent.CallControlRequest{From: "101", CallID: id})
		},
		"Transfer": func(id string) error {
			return c.Transfer(t.Context(), callevent.TransferRequest{From: "101", CallID: id, To: "102"})
		},
	}
	for name, op := range ops {
		for _, id := range bad {
			err := op(id)
			require.Error(t, err, "%s(%q)", name, id)
			require.NotContains(t, err.Error(), "telphin: telphin:", "one prefix")
		}
	}
	for _, r := range srv.Requests() {
		require.Contains(t, []string{"/oauth/token", "/api/ver1.0/client/@me/extension/"}, r.Path,
			"%s %s: an id reached the API path", r.Method, r.Path)
	}

	// Real ids still work and reach exactly their paths.
	const rec = "469100-5D36E5557F1845FEB577EDE8A19C5108"
	srv.AddRecord(rec, []byte("ID3 audio"))
	var buf bytes.Buffer
	_, err := c.DownloadRecord(t.Context(), rec, &buf)
	require.NoError(t, err)
	require.Equal(t, "ID3 audio", buf.String())
	_, err = c.Record(t.Context(), strings.ToLower(rec))
	require.NoError(t, err)
	require.NoError(t, c.Hangup(t.Context(), callevent.CallControlRequest{From: "101", CallID: "3584709739-45c0c95e"}))
	require.Equal(t, 1, srv.Count(http.MethodGet, "/api/ver1.0/client/@me/record/"+rec))
	require.Equal(t, 1, srv.Count(http.MethodGet, "/api/ver1.0/client/@me/record/"+strings.ToLower(rec)+"/storage_url/"))
	require.Equal(t, 1, srv.Count(http.MethodDelete, "/api/ver1.0/extension/469100/current_calls/3584709739-45c0c95e"))
}
