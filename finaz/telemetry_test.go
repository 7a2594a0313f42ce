package finaz_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/internal/telemetry/telemetrytest"
)

// The dialer's progress: contacts uploaded and failed, by outcome; each
// contact's request an API call by operation and status.
func TestUploadCounted(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Handle("POST", "/queues/q/contacts", func(r finaztest.Request) finaztest.Response {
		if strings.Contains(string(r.Body), `"id":"refused"`) {
			return finaztest.Response{Status: 422, Body: `{"error":"rejected"}`}
		}
		return finaztest.Response{Status: 201}
	})
	m := telemetrytest.NewMetrics(t)
	c := newClient(t, perContactConfig(2), pbx, callbridge.WithMeterProvider(m.Provider))
	rep, err := c.UploadContacts(t.Context(), "q", []finaz.Contact{
		{ID: "a", Phones: []string{"11987654321"}}, {ID: "b", Phones: []string{"11987654322"}},
		{ID: "refused", Phones: []string{"11987654323"}}, {ID: "nophone"},
	})
	require.ErrorIs(t, err, finaz.ErrUploadIncomplete)
	require.Equal(t, 2, rep.Uploaded)
	require.Equal(t, 2.0, m.Value(t, "callbridge.dialer.contacts", "callbridge.provider=finaz", "callbridge.outcome=uploaded"))
	require.Equal(t, 2.0, m.Value(t, "callbridge.dialer.contacts", "callbridge.provider=finaz", "callbridge.outcome=failed"))
	var calls uint64
	for _, p := range m.Points(t, "callbridge.api.request.duration") {
		require.Equal(t, "upload_contacts", p.Attrs["callbridge.operation"])
		calls += p.Count
	}
	require.Equal(t, uint64(3), calls, "three contacts sent: %s", m.Dump(t, "callbridge.api.request.duration"))
}
