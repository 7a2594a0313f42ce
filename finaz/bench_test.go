package finaz_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/webhook"
)

// BenchmarkRender renders the generic REST click2call (JSON body, headers,
// a secret) and the VICIdial add_lead (a dozen query values).
func BenchmarkRender(b *testing.B) {
	for _, tc := range []struct {
		template string
		op       finaz.Operation
		vars     map[string]string
	}{
		{"generic-rest", finaz.OpClick2Call, map[string]string{"identificador_fila": "q7", "ramal_operador": "101", "ddd": "11", "numero": "987654321", "telefone": "5511987654321"}},
		{"vicidial", finaz.OpUploadContacts, map[string]string{"identificador_fila": "101", "identificador_contato_crm": "crm-1", "nome_cliente": `Ana "A" & Bia`,
			"ddd1": "11", "numero1": "987654321", "ddd2": "", "numero2": "", "ddd3": "", "numero3": ""}},
	} {
		b.Run(tc.template, func(b *testing.B) {
			cfg, err := finaz.LoadTemplate(tc.template)
			if err != nil {
				b.Fatal(err)
			}
			for name := range cfg.Params {
				cfg.SetParam(name, "secret-value")
			}
			c, err := finaz.NewClient(cfg, callbridge.WithBaseURL("https://pbx.example.com/"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Render(tc.op, tc.vars); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandler measures server-side notifications through the whole
// handler (token auth, decoding, normalisation, dedup, delivery).
func BenchmarkHandler(b *testing.B) {
	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	h, err := finaz.NewHandler(sink, webhook.WithToken("tok"), webhook.WithDedup(nil))
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]string, 1024)
	for i := range reqs {
		reqs[i] = finaztest.DiscadorURL("http://crm.example/p/", finaztest.Notification{
			PID: fmt.Sprint(i), Num: fmt.Sprintf("(11) 9%04d-%04d", i, i), CID: fmt.Sprint("c", i), Ramal: "2001", EmpresaID: "e", Token: "tok"})
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r := httptest.NewRequest("GET", reqs[n%len(reqs)], nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
