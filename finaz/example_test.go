package finaz_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/webhook"
)

// A full configuration in JSON: click2call as a JSON POST, uploads as the
// manual's CSV file, results as CSV. Render shows the request without
// sending it, secrets redacted.
func ExampleLoadConfig() {
	const config = `{
	  "base_url": "https://pbx.example.com/api/",
	  "default_queue": "vendas",
	  "params": {"api_key": {"value": "s3cr3t", "secret": true}},
	  "click2call": {
	    "method": "POST",
	    "url": "queues/{{identificador_fila}}/calls",
	    "headers": {"X-Api-Key": "{{api_key}}"},
	    "body": {"type": "json", "json": {"ramal": "{{ramal_operador}}", "ddd": "{{ddd|number}}", "numero": "{{numero}}"}},
	    "response": {"success_status": [201], "call_id_field": "id"}
	  },
	  "upload_contacts": {
	    "method": "POST",
	    "url": "queues/{{identificador_fila}}/mailing",
	    "headers": {"X-Api-Key": "{{api_key}}"},
	    "body": {"type": "multipart", "file_field": "arquivo"},
	    "csv": {"file_name": "arqMailing.csv", "columns": ["{{identificador_contato_crm}}", "{{cpf}}", "{{ddd1}}{{numero1}}", "{{ddd2}}{{numero2}}"]}
	  },
	  "dialer_results": {
	    "url": "queues/{{identificador_fila}}/results.csv",
	    "headers": {"X-Api-Key": "{{api_key}}"},
	    "results": {"format": "csv", "header": true, "fields": {"contact_id": "ID", "ddd": "DDD", "number": "NUMERO", "time": "DATA", "status": "STATUS"},
	                "time_layout": "2006-01-02 15:04:05", "time_zone": "-03:00",
	                "statuses": {"ATENDIDA": "answered", "OCUPADO": "busy", "SECRETARIA": "voicemail", "INVALIDO": "invalid_number", "NAO_ATENDIDA": "no_answer"}}
	  }
	}`
	cfg, err := finaz.LoadConfig(strings.NewReader(config), finaz.OpClick2Call)
	if err != nil {
		log.Fatal(err)
	}
	client, err := finaz.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	r, err := client.Render(finaz.OpClick2Call, map[string]string{
		"identificador_fila": "vendas", "ramal_operador": "101", "ddd": "11", "numero": "987654321",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Method, r.URL)
	fmt.Println("X-Api-Key:", r.Header.Get("X-Api-Key"))
	fmt.Println(string(r.Body))
	// Output:
	// POST https://pbx.example.com/api/queues/vendas/calls
	// X-Api-Key: REDACTED
	// {"ramal":"101","ddd":11,"numero":"987654321"}
}

// A click2call against the fake PBX of package finaztest.
func ExampleClient_Call() {
	pbx := finaztest.NewServer() // in a test: t.Cleanup(pbx.Close)
	defer pbx.Close()
	pbx.Reply("POST", "/calls", finaztest.Response{Status: 201, Body: `{"call_id": "c-1001"}`})

	cfg := finaz.Config{
		Click2Call: &finaz.RequestTemplate{
			Method:   "POST",
			URL:      "calls",
			Body:     &finaz.Body{Type: "form", Form: map[string]string{"ramal": "{{ramal_operador}}", "destino": "0{{ddd}}{{numero}}"}},
			Response: &finaz.ResponseSpec{CallIDField: "call_id"},
		},
	}
	client, err := finaz.NewClient(cfg, callbridge.WithBaseURL(pbx.URL))
	if err != nil {
		log.Fatal(err)
	}
	ref, err := client.Call(context.Background(), callevent.CallRequest{From: "101", To: "+55 (11) 98765-4321"})
	if err != nil {
		log.Fatal(err)
	}
	sent := pbx.Requests()[0]
	fmt.Println("call id:", ref.CallID)
	fmt.Println(sent.Method, sent.Path, sent.Form.Encode())
	// Output:
	// call id: c-1001
	// POST /calls destino=011987654321&ramal=101
}

// Mounting the notification handler: the PBX calls
// GET https://crm.example/telephony-proxy/atendimentodiscador?…&token=…
// and agents' browsers open …/atendimentoreceptivo?…&token=….
func ExampleNewHandler() {
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		fmt.Println(e.Kind, e.Account, e.CallID, e.ClientPhone, e.Extension, "pid="+e.ContactRef)
		return nil
	})
	lookup := callevent.ContactLookupFunc(func(_ context.Context, account, phone string) (callevent.Contact, bool, error) {
		return callevent.Contact{ID: "42", URL: "https://crm.example/clientes/42"}, true, nil
	})
	h, err := finaz.NewHandler(sink, webhook.WithToken("long-random-token"), webhook.WithContactLookup(lookup))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/telephony-proxy/", h)

	n := finaztest.Notification{PID: "crm-7", Num: "11987654321", CID: "abc", Ramal: "2001", EmpresaID: "123", Token: "long-random-token"}
	w := &statusWriter{header: http.Header{}}
	mux.ServeHTTP(w, finaztest.NewDiscadorRequest("http://crm.example/telephony-proxy/", n))
	mux.ServeHTTP(w, finaztest.NewReceptivoRequest("http://crm.example/telephony-proxy/", n))
	fmt.Println(w.status, w.header.Get("Location"))
	// Output:
	// answered 123 abc 5511987654321 2001 pid=crm-7
	// answered 123 abc 5511987654321 2001 pid=
	// 302 https://crm.example/clientes/42
}

type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header         { return w.header }
func (w *statusWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *statusWriter) WriteHeader(s int)           { w.status = s }

// The agent's browser window goes to the client's card, or to the CRM's
// "create contact" page for a number the lookup does not know. {phone} is
// the normalised number, {account} the empresaId.
func ExampleNewHandler_cardURL() {
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	lookup := callevent.ContactLookupFunc(func(_ context.Context, account, phone string) (callevent.Contact, bool, error) {
		if phone == "5511987654321" {
			return callevent.Contact{ID: "42"}, true, nil
		}
		return callevent.Contact{}, false, nil
	})
	h, err := finaz.NewHandler(sink, webhook.WithToken("long-random-token"), webhook.WithContactLookup(lookup),
		webhook.WithCardURL("https://crm.example/{account}/clientes/{id}", "https://crm.example/{account}/clientes/novo?telefone={phone}"))
	if err != nil {
		log.Fatal(err)
	}
	for _, num := range []string{"(11) 98765-4321", "(11) 3456-7890"} {
		n := finaztest.Notification{Num: num, CID: "call " + num, Ramal: "2001", EmpresaID: "123", Token: "long-random-token"}
		w := &statusWriter{header: http.Header{}}
		h.ServeHTTP(w, finaztest.NewReceptivoRequest("http://crm.example/telephony-proxy/", n))
		fmt.Println(w.status, w.header.Get("Location"))
	}
	// Output:
	// 302 https://crm.example/123/clientes/42
	// 302 https://crm.example/123/clientes/novo?telefone=551134567890
}
