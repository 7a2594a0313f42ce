package telphin_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// TestCompletedCalls: call_history items become the Completed events the
// hangup webhooks would give: the events' lower-case CallID, the App ID
// as the account, the client's number, the extension, the outcome and the
// times, and the record id for RecordingURL. Transfer legs are left out.
func TestCompletedCalls(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	defer srv.Close()
	srv.SetHistory([]json.RawMessage{
		json.RawMessage(`{"call_uuid":"CAA308E3333C4A19AAED9C0254B9C61B","flow":"out","result":"bridged","client_owner_id":37649,
 "extension_id":469100,"extension_name":"100*0111@sipproxy.telphin.ru","from_username":"100*0111","to_username":"+79161111111",
 "did_number":null,"init_time_gmt":"2021-01-01 16:29:38","start_time_gmt":"2021-01-01 16:29:39","bridged_time_gmt":"2021-01-01 16:29:52",
 "hangup_time_gmt":"2021-01-01 16:30:16","duration":37,"bridged_duration":24,"bridged_username":"+79161111111",
 "cdr":[{"flow":"out","result":"answered","record_uuid":"469100-5D36E5557F1845FEB577EDE8A19C5108","duration":24}]}`),
		json.RawMessage(`{"call_uuid":"0B1D8E6F7A8B4C9D8E7F6A5B4C3D2E1F","flow":"in","result":"not answered","from_username":"+79161234567",
 "to_username":"100*101","did_number":"74951234567","start_time_gmt":"2021-01-01 16:40:00","hangup_time_gmt":"2021-01-01 16:40:25",
 "duration":25,"bridged_duration":0,"cdr":[]}`),
		json.RawMessage(`{"call_uuid":"11111111111111111111111111111111","flow":"transfer","result":"answered","from_username":"100*101",
 "to_username":"100*102","start_time_gmt":"2021-01-01 16:45:00","hangup_time_gmt":"2021-01-01 16:46:00","duration":60,"cdr":[]}`),
	})
	c := newClient(t, srv)
	from := time.Date(2021, 1, 1, 16, 0, 0, 0, time.UTC)
	var got []callevent.Event
	for e, err := range c.CompletedCalls(t.Context(), from, from.Add(time.Hour)) {
		require.NoError(t, err)
		got = append(got, e)
	}
	require.Len(t, got, 2, "the transfer leg is left out")
	out, in := got[0], got[1]
	assert.Equal(t, "caa308e3333c4a19aaed9c0254b9c61b", out.CallID)
	assert.Equal(t, srv.ClientID, out.Account)
	assert.Equal(t, callevent.Completed, out.Kind)
	assert.Equal(t, callevent.Outbound, out.Direction)
	assert.Equal(t, callevent.Success, out.Status)
	assert.Equal(t, "79161111111", out.ClientPhone)
	assert.Equal(t, "0111", out.Extension)
	assert.Equal(t, 24*time.Second, out.Duration)
	assert.Equal(t, 13*time.Second, out.Wait)
	assert.Equal(t, time.Date(2021, 1, 1, 16, 29, 52, 0, time.UTC), out.AnsweredAt)
	assert.Equal(t, "469100-5D36E5557F1845FEB577EDE8A19C5108", telphin.RecID(out))

	assert.Equal(t, callevent.Inbound, in.Direction)
	assert.Equal(t, callevent.Missed, in.Status)
	assert.Equal(t, "79161234567", in.ClientPhone)
	assert.Equal(t, "74951234567", in.LinePhone)
	assert.Equal(t, 25*time.Second, in.Wait)
	assert.True(t, in.AnsweredAt.IsZero())
}
