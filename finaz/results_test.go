package finaz_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
)

var vicidialLikeStatuses = map[string]finaz.Disposition{
	"SALE": finaz.DispositionAnswered, "A": finaz.DispositionVoicemail, "B": finaz.DispositionBusy,
	"DC": finaz.DispositionInvalidNumber, "N": finaz.DispositionNoAnswer, "DROP": finaz.DispositionDropped,
}

func TestDialerResults(t *testing.T) {
	t.Parallel()
	saoPaulo := time.FixedZone("-03:00", -3*3600)
	tests := []struct {
		name    string
		country string // Config.DefaultCountry
		spec    finaz.ResultsSpec
		body    string
		want    []finaz.DialerResult
		wantErr string
	}{
		{
			name: "csv with header",
			spec: finaz.ResultsSpec{Format: "csv", Header: true, Separator: ";",
				Fields:     finaz.ResultFields{ContactID: "ID", DDD: "DDD", Number: "TELEFONE", Time: "DATA", Status: "STATUS"},
				TimeLayout: "02/01/2006 15:04:05", TimeZone: "-03:00", Statuses: vicidialLikeStatuses},
			body: "\ufeffID;DDD;TELEFONE;DATA;STATUS\n" +
				"c1;11;98765-4321;21/11/2026 10:00:00;SALE\n" +
				"c2;21;3456-7890;21/11/2026 10:01:30;b\n" +
				"\"c;3\";31;999990000;;WEIRD\n",
			want: []finaz.DialerResult{
				{ContactID: "c1", Phone: "5511987654321", RawPhone: "11 98765-4321", At: time.Date(2026, 11, 21, 10, 0, 0, 0, saoPaulo).UTC(), Status: "SALE", Disposition: finaz.DispositionAnswered},
				{ContactID: "c2", Phone: "552134567890", RawPhone: "21 3456-7890", At: time.Date(2026, 11, 21, 13, 1, 30, 0, time.UTC), Status: "b", Disposition: finaz.DispositionBusy},
				{ContactID: "c;3", Phone: "5531999990000", RawPhone: "31 999990000", Status: "WEIRD", Disposition: finaz.DispositionUnknown},
			},
		},
		{
			name: "csv by column number, bad lines reported",
			spec: finaz.ResultsSpec{Format: "csv", Separator: "|",
				Fields:     finaz.ResultFields{ContactID: "0", Phone: "2", Time: "3", Status: "1"},
				TimeLayout: "unix", Statuses: vicidialLikeStatuses},
			body: "c1|N|+55 11 98765-4321|1795000000\n" +
				"c2|A|11987654322|yesterday\n" +
				"|DC|11987654323|1795000000\n" +
				"c4|DC\n" +
				"c5|DROP|garbage|\n",
			want: []finaz.DialerResult{
				{ContactID: "c1", Phone: "5511987654321", RawPhone: "+55 11 98765-4321", At: time.Unix(1795000000, 0).UTC(), Status: "N", Disposition: finaz.DispositionNoAnswer},
				{ContactID: "c5", RawPhone: "garbage", Status: "DROP", Disposition: finaz.DispositionDropped},
			},
			wantErr: "finaz: dialer result 1: time \"yesterday\" is not a unix time\nfinaz: dialer result 2: no 0\nfinaz: dialer result 3: no 2",
		},
		{
			name: "json nested",
			spec: finaz.ResultsSpec{Format: "json", Items: "data.calls",
				Fields:   finaz.ResultFields{ContactID: "lead.crm_id", Phone: "dialed", Time: "at", Status: "result.code"},
				Statuses: map[string]finaz.Disposition{"ok": finaz.DispositionAnswered, "fail": finaz.DispositionFailed}},
			body: `{"data":{"calls":[
				{"lead":{"crm_id":123},"dialed":"5511987654321","at":"2026-11-21T10:00:00Z","result":{"code":"OK"}},
				{"lead":{"crm_id":"x"},"dialed":"5511987654321","at":"","result":{"code":"fail"}},
				{"lead":{},"dialed":"1","result":{"code":"ok"}},
				{"lead":{"crm_id":"y"},"dialed":{"nested":1},"result":{"code":"ok"}}]}}`,
			want: []finaz.DialerResult{
				{ContactID: "123", Phone: "5511987654321", RawPhone: "5511987654321", At: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), Status: "OK", Disposition: finaz.DispositionAnswered},
				{ContactID: "x", Phone: "5511987654321", RawPhone: "5511987654321", Status: "fail", Disposition: finaz.DispositionFailed},
			},
			wantErr: "finaz: dialer result 2: no lead.crm_id\nfinaz: dialer result 3: no dialed",
		},
		{
			name: "json top-level array, empty",
			spec: finaz.ResultsSpec{Format: "json", Fields: finaz.ResultFields{ContactID: "id", Phone: "p", Status: "s"}},
			body: `[]`,
		},
		{
			name:    "national numbers read with the default country",
			country: "RU",
			spec:    finaz.ResultsSpec{Format: "csv", Fields: finaz.ResultFields{ContactID: "0", Phone: "1", Status: "2"}},
			body:    "c1;8 (916) 123-45-67;N\n",
			want:    []finaz.DialerResult{{ContactID: "c1", Phone: "79161234567", RawPhone: "8 (916) 123-45-67", Status: "N", Disposition: finaz.DispositionUnknown}},
		},
		{
			name:    "json without the items",
			spec:    finaz.ResultsSpec{Format: "json", Items: "rows", Fields: finaz.ResultFields{ContactID: "id", Phone: "p", Status: "s"}},
			body:    `{"error":"no such queue"}`,
			wantErr: `finaz: dialer results: no "rows" in the response`,
		},
		{
			name:    "csv header without the column",
			spec:    finaz.ResultsSpec{Format: "csv", Header: true, Fields: finaz.ResultFields{ContactID: "ID", Phone: "FONE", Status: "ST"}},
			body:    "ID;ST\n1;x\n",
			wantErr: `finaz: dialer results: csv header has no column "FONE"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pbx := finaztest.NewServer()
			t.Cleanup(pbx.Close)
			pbx.Reply("GET", "/results/q1", finaztest.Response{Body: tt.body})
			spec := tt.spec
			c := newClient(t, finaz.Config{DefaultCountry: tt.country,
				DialerResults: &finaz.RequestTemplate{URL: "results/{{identificador_fila}}", Results: &spec}}, pbx)
			got, err := c.DialerResults(t.Context(), "q1")
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Empty(t, cmp.Diff(tt.want, got))
			if len(tt.want) > 0 && tt.wantErr != "" && tt.spec.Format == "csv" {
				var re *finaz.ResultError
				require.True(t, errors.As(err, &re))
			}
		})
	}
}

func TestDispositionStatus(t *testing.T) {
	t.Parallel()
	want := map[finaz.Disposition]callevent.Status{
		finaz.DispositionAnswered: callevent.Success, finaz.DispositionBusy: callevent.Busy,
		finaz.DispositionVoicemail: callevent.NotAvailable, finaz.DispositionNoAnswer: callevent.NotAvailable,
		finaz.DispositionInvalidNumber: callevent.NotFound, finaz.DispositionDropped: callevent.Missed,
		finaz.DispositionFailed: callevent.Failed, finaz.DispositionUnknown: callevent.Failed,
	}
	for d, s := range want {
		require.Equal(t, s, d.Status(), string(d))
	}
}

// TestDialerResultEvents: each attempt of the dialer's return ("Retorno
// do Discador", seed 004) is an outbound Completed event on the contact,
// the same event when read again, and a number it worked (answered or
// invalid) is not uploaded again.
func TestDialerResultEvents(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)
	results := []finaz.DialerResult{
		{ContactID: "c1", Phone: "5511987654321", At: at, Status: "B", Disposition: finaz.DispositionBusy},
		{ContactID: "c1", Phone: "5511987654321", At: at.Add(time.Hour), Status: "SALE", Disposition: finaz.DispositionAnswered},
		{ContactID: "c2", Phone: "552134567890", At: at, Status: "DC", Disposition: finaz.DispositionInvalidNumber},
		{ContactID: "c3", Phone: "5531999990000", At: at, Status: "A", Disposition: finaz.DispositionVoicemail},
	}
	ids := map[string]bool{}
	for _, r := range results {
		e, err := r.Event("load")
		require.NoError(t, err)
		require.Equal(t, callevent.Completed, e.Kind)
		require.Equal(t, callevent.Outbound, e.Direction)
		require.Equal(t, r.Disposition.Status(), e.Status)
		require.Equal(t, r.ContactID, e.ContactRef)
		require.Equal(t, r.Phone, e.ClientPhone)
		require.Equal(t, e.ID, e.CallID)
		require.False(t, ids[e.ID], "one call per attempt")
		ids[e.ID] = true
		again, err := r.Event("load")
		require.NoError(t, err)
		require.Equal(t, e.ID, again.ID, "the same attempt read again is the same event")
	}
	_, err := finaz.DialerResult{ContactID: "c9", RawPhone: "garbage", At: at, Disposition: finaz.DispositionBusy}.Event("load")
	require.ErrorContains(t, err, "c9")

	c, err := finaz.NewClient(finaz.Config{DefaultCountry: "BR", Click2Call: &finaz.RequestTemplate{Method: "POST", URL: "calls"}},
		callbridge.WithBaseURL("http://127.0.0.1:9"))
	require.NoError(t, err)
	contacts := []finaz.Contact{
		{ID: "c1", Name: "Ana", Phones: []string{"(11) 98765-4321", "11 3333-4444"}},
		{ID: "c2", Name: "Bia", Phones: []string{"+55 21 3456-7890"}},
		{ID: "c3", Name: "Caio", Phones: []string{"31 99999-0000"}},
	}
	got := c.Unworked(contacts, results)
	require.Empty(t, cmp.Diff([]finaz.Contact{
		{ID: "c1", Name: "Ana", Phones: []string{"11 3333-4444"}},   // the answered number is dropped
		{ID: "c3", Name: "Caio", Phones: []string{"31 99999-0000"}}, // a voicemail is tried again
	}, got))
	require.Len(t, contacts[0].Phones, 2, "the input is not changed")
}
