package finaz_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
)

func perContactConfig(conc int) finaz.Config {
	return finaz.Config{
		UploadConcurrency: conc,
		UploadContacts: &finaz.RequestTemplate{
			Method: "POST", URL: "queues/{{identificador_fila}}/contacts",
			Body: &finaz.Body{Type: "json", JSON: []byte(`{"id": "{{identificador_contato_crm}}", "name": "{{nome_cliente}}",
				"cpf": "{{cpf|omitempty}}", "phones": ["{{telefone1}}", "{{telefone2|omitempty}}"]}`)},
		},
		ClearDialer: &finaz.RequestTemplate{Method: "DELETE", URL: "queues/{{identificador_fila}}/contacts"},
	}
}

func TestUploadTenThousandPerContact(t *testing.T) {
	t.Parallel()
	const n = 10_000
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	var inFlight, maxInFlight atomic.Int32
	pbx.Handle("POST", "/queues/q1/contacts", func(r finaztest.Request) finaztest.Response {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if cur <= m || maxInFlight.CompareAndSwap(m, cur) {
				break
			}
		}
		if strings.Contains(string(r.Body), `"id":"bad-`) {
			return finaztest.Response{Status: 422, Body: `{"error":"rejected"}`}
		}
		return finaztest.Response{Status: 201}
	})
	c := newClient(t, perContactConfig(8), pbx)
	contacts := make([]finaz.Contact, n)
	var wantFailed []int
	for i := range contacts {
		id := "c-" + strconv.Itoa(i)
		if i%100 == 37 { // 1% rejected by the PBX
			id = "bad-" + strconv.Itoa(i)
			wantFailed = append(wantFailed, i)
		}
		contacts[i] = finaz.Contact{ID: id, Name: "Cliente " + strconv.Itoa(i), Phones: []string{fmt.Sprintf("11 9%08d", i)}}
	}
	start := time.Now()
	rep, err := c.UploadContacts(t.Context(), "q1", contacts)
	t.Logf("%d contacts in %v", n, time.Since(start))
	require.ErrorIs(t, err, finaz.ErrUploadIncomplete)
	require.ErrorContains(t, err, "100 of 10000 contacts failed")
	require.Equal(t, n, rep.Total)
	require.Equal(t, n-len(wantFailed), rep.Uploaded)
	var gotFailed []int
	for _, f := range rep.Failed {
		gotFailed = append(gotFailed, f.Index)
		require.Equal(t, contacts[f.Index].ID, f.ContactID)
		var apiErr *callbridge.APIError
		require.ErrorAs(t, f.Err, &apiErr)
		require.Equal(t, 422, apiErr.StatusCode)
	}
	require.Equal(t, wantFailed, gotFailed, "exactly the rejected contacts are reported, in order")
	require.Len(t, pbx.Requests(), n, "every contact sent once, none retried")
	require.LessOrEqual(t, maxInFlight.Load(), int32(8), "concurrency is bounded")
}

func TestUploadInvalidContactsAndCancel(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Reply("POST", "/queues/q/contacts", finaztest.Response{Status: 201})
	c := newClient(t, perContactConfig(2), pbx)
	contacts := []finaz.Contact{
		{ID: "ok", Name: `Zé "da" Silva`, CPF: "123.456.789-09", Phones: []string{"11987654321", "+7 916 123 45 67"}},
		{ID: "", Phones: []string{"11987654321"}},
		{ID: "nophone"},
		{ID: "badphone", Phones: []string{"123"}},
		{ID: "six", Phones: []string{"1", "2", "3", "4", "5", "6"}},
		{ID: "badcpf", CPF: "12x", Phones: []string{"11987654321"}},
	}
	rep, err := c.UploadContacts(t.Context(), "q", contacts)
	require.ErrorIs(t, err, finaz.ErrUploadIncomplete)
	require.Equal(t, 6, rep.Total)
	require.Equal(t, 1, rep.Uploaded)
	want := map[int]string{1: "contact id is empty", 2: "contact has no phone", 3: "phone 1: finaz: invalid phone number",
		4: "contact has 6 phones, at most 5", 5: `cpf "12x" is not a number`}
	require.Len(t, rep.Failed, len(want))
	for _, f := range rep.Failed {
		require.ErrorContains(t, f.Err, want[f.Index], "contact %d", f.Index)
	}
	require.Len(t, pbx.Requests(), 1)
	require.JSONEq(t, `{"id":"ok","name":"Zé \"da\" Silva","cpf":"12345678909","phones":["5511987654321","79161234567"]}`,
		string(pbx.Requests()[0].Body))

	// A canceled context: nothing sent, everything reported.
	pbx.Reset()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rep, err = c.UploadContacts(ctx, "q", contacts[:1])
	require.ErrorIs(t, err, finaz.ErrUploadIncomplete)
	require.Len(t, rep.Failed, 1)
	require.ErrorIs(t, rep.Failed[0].Err, context.Canceled)
	require.Empty(t, pbx.Requests())
}

func TestUploadCSVMode(t *testing.T) {
	t.Parallel()
	cfg := finaz.Config{
		UploadContacts: &finaz.RequestTemplate{
			Method: "PUT", URL: "mailing/{{identificador_fila}}",
			Body: &finaz.Body{Type: "csv"},
			CSV: &finaz.CSVSpec{Separator: ",", CRLF: true,
				Columns: []string{"{{identificador_contato_crm}}", "{{cpf}}", "{{ddd1}}{{numero1}}", "{{ddd2}}{{numero2}}", "{{nome_cliente}}"}},
		},
	}
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Reply("PUT", "/mailing/camp 1", finaztest.Response{Status: 204})
	c := newClient(t, cfg, pbx)
	contacts := []finaz.Contact{
		{ID: "1", CPF: "111.222.333-44", Phones: []string{"11987654321", "1133334444"}, Name: "Ana, a \"primeira\"\nlinha 2"},
		{ID: "2", Phones: []string{"nope"}},
		{ID: "3", Phones: []string{"+55 (21) 98888-7777"}, Name: "=cmd|' /C calc'!A0"},
	}
	rep, err := c.UploadContacts(t.Context(), "camp 1", contacts)
	require.ErrorIs(t, err, finaz.ErrUploadIncomplete)
	require.Equal(t, 2, rep.Uploaded)
	require.Len(t, rep.Failed, 1)
	require.Equal(t, "2", rep.Failed[0].ContactID)
	reqs := pbx.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "/mailing/camp%201", reqs[0].RawPath)
	require.Equal(t, "text/csv; charset=utf-8", reqs[0].Header.Get("Content-Type"))
	require.Equal(t, "1,11122233344,11987654321,1133334444,\"Ana, a \"\"primeira\"\"\r\nlinha 2\"\r\n"+
		"3,,21988887777,,=cmd|' /C calc'!A0\r\n", string(reqs[0].Body))

	// The request fails: every valid contact is reported with that error.
	pbx.Reply("PUT", "/mailing/camp 1", finaztest.Response{Status: 400, Body: "bad file"})
	rep, err = c.UploadContacts(t.Context(), "camp 1", contacts)
	require.ErrorIs(t, err, finaz.ErrUploadIncomplete)
	require.Zero(t, rep.Uploaded)
	require.Len(t, rep.Failed, 3)

	// Upload not configured.
	c2 := newClient(t, perContactConfig(1), pbx)
	_, err = c2.DialerResults(t.Context(), "q")
	require.ErrorIs(t, err, callevent.ErrUnsupported)
}

// The queue variable validates in a CSV column, so it must also render
// there.
func TestUploadCSVQueueColumn(t *testing.T) {
	t.Parallel()
	cfg := finaz.Config{UploadContacts: &finaz.RequestTemplate{
		Method: "POST", URL: "q/{{identificador_fila}}", Body: &finaz.Body{Type: "csv"},
		CSV: &finaz.CSVSpec{Columns: []string{"{{identificador_fila}}", "{{identificador_contato_crm}}"}},
	}}
	require.NoError(t, cfg.Validate())
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Reply("POST", "/q/q1", finaztest.Response{Status: 200})
	c := newClient(t, cfg, pbx)
	rep, err := c.UploadContacts(t.Context(), "q1", []finaz.Contact{{ID: "1", Phones: []string{"11987654321"}}})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Uploaded)
	require.Len(t, pbx.Requests(), 1)
	require.Equal(t, "q1;1\n", string(pbx.Requests()[0].Body))
}

// A row that cannot be rendered fails alone: the others are uploaded and
// the report names exactly that contact and why.
func TestUploadCSVRowFailsAlone(t *testing.T) {
	t.Parallel()
	cfg := finaz.Config{UploadContacts: &finaz.RequestTemplate{
		Method: "POST", URL: "q/{{identificador_fila}}", Body: &finaz.Body{Type: "csv"},
		CSV: &finaz.CSVSpec{Columns: []string{"{{identificador_contato_crm}}", "{{ddd1}}{{numero1}}"}},
	}}
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Reply("POST", "/q/q1", finaztest.Response{Status: 200})
	c := newClient(t, cfg, pbx)
	contacts := []finaz.Contact{
		{ID: "1", Phones: []string{"11987654321"}},
		{ID: "2", Phones: []string{"+7 916 123-45-67"}}, // no DDD
		{ID: "3", Phones: []string{"21988887777"}},
	}
	rep, err := c.UploadContacts(t.Context(), "q1", contacts)
	require.ErrorIs(t, err, finaz.ErrUploadIncomplete)
	require.Equal(t, 2, rep.Uploaded)
	require.Len(t, rep.Failed, 1)
	require.Equal(t, 1, rep.Failed[0].Index)
	require.Equal(t, "2", rep.Failed[0].ContactID)
	require.EqualError(t, rep.Failed[0].Err, `finaz: upload_contacts: csv.columns[1]: variable "ddd1" has no value`)
	var fe *finaz.FieldError
	require.ErrorAs(t, rep.Failed[0].Err, &fe)
	require.Len(t, pbx.Requests(), 1)
	require.Equal(t, "1;11987654321\n3;21988887777\n", string(pbx.Requests()[0].Body))

	// No row renders: nothing is sent.
	pbx.Reset()
	rep, err = c.UploadContacts(t.Context(), "q1", contacts[1:2])
	require.ErrorIs(t, err, finaz.ErrUploadIncomplete)
	require.Zero(t, rep.Uploaded)
	require.Len(t, rep.Failed, 1)
	require.Empty(t, pbx.Requests())
}

func TestReloadDialer(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	pbx.Reply("DELETE", "/queues/q/contacts", finaztest.Response{Status: 204})
	pbx.Reply("POST", "/queues/q/contacts", finaztest.Response{Status: 201})
	c := newClient(t, perContactConfig(1), pbx)
	contacts := []finaz.Contact{{ID: "1", Phones: []string{"11987654321"}}, {ID: "2", Phones: []string{"11987654322"}}}
	rep, err := c.ReloadDialer(t.Context(), "q", contacts)
	require.NoError(t, err)
	require.Equal(t, &finaz.UploadReport{Total: 2, Uploaded: 2}, rep)
	reqs := pbx.Requests()
	require.Len(t, reqs, 3)
	require.Equal(t, "DELETE", reqs[0].Method, "the dialer is cleared before the upload")

	// Clearing fails: nothing is uploaded, everything is reported.
	pbx.Reset()
	pbx.Reply("DELETE", "/queues/q/contacts", finaztest.Response{Status: 500})
	rep, err = c.ReloadDialer(t.Context(), "q", contacts)
	require.ErrorIs(t, err, finaz.ErrUploadIncomplete)
	require.Equal(t, 2, rep.Total)
	require.Len(t, rep.Failed, 2)
	require.ErrorContains(t, rep.Failed[0].Err, "clearing the dialer failed")
	require.Len(t, pbx.Requests(), 1)
}
