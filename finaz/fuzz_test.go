package finaz_test

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/callbridge/callbridge/finaz"
)

// FuzzFinazConfig: LoadConfig never panics, and a configuration it accepts
// renders every operation without panicking.
func FuzzFinazConfig(f *testing.F) {
	for _, name := range finaz.Templates() {
		b, err := fs.ReadFile(finaz.TemplateFS(), "templates/"+name+".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(escapeConfig))
	f.Add([]byte(`{"click2call": {"url": "https://x/{{ramal_operador}}", "body": {"type": "json", "json": {"a": ["{{ddd|number}}", {"b": "{{numero|omitempty}}"}]}}}}`))
	f.Add([]byte(`{"dialer_results": {"url": "https://x/", "results": {"format": "csv", "fields": {"contact_id": "0", "phone": "1", "status": "2"}}}}`))
	vars := map[string]string{
		"identificador_fila": "1", "ramal_operador": "a/b", "ddd": "11", "numero": "987654321", "telefone": "5511987654321",
		"numero_destino": "+1", "identificador_chamada": "..", "identificador_contato_crm": "x\"y", "nome_cliente": "\n",
		"cpf": "1", "ddd1": "11", "numero1": "1",
	}
	ops := []finaz.Operation{finaz.OpClick2Call, finaz.OpTransfer, finaz.OpUploadContacts, finaz.OpClearDialer, finaz.OpDialerResults, finaz.OpDownloadRecording}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := finaz.LoadConfig(bytes.NewReader(data))
		if err != nil {
			return
		}
		for name, p := range cfg.Params {
			if p.Value == "" {
				cfg.SetParam(name, "v")
			}
		}
		c, err := finaz.NewClient(cfg, finaz.WithBaseURL("https://pbx.example.com/"))
		if err != nil {
			return
		}
		for _, op := range ops {
			_, _ = c.Render(op, vars)
		}
	})
}

// FuzzFinazNotification: any notification request is answered 2xx or 4xx,
// never 5xx or a panic.
func FuzzFinazNotification(f *testing.F) {
	f.Add("atendimentodiscador", "pid=1&num=11987654321&cid=c&ramal=1&empresaId=e")
	f.Add("atendimentoreceptivo", "num=%2B55+11+98765-4321&cid=c&ramal=1&empresald=e")
	f.Add("atendimentodiscador", "num=abc&cid=&empresaId=")
	f.Add("x", "num=%zz")
	h, err := finaz.NewHandler(&recorder{}, finaz.WithoutAuth())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, endpoint, rawQuery string) {
		u := &url.URL{Scheme: "http", Host: "crm.example", Path: "/p/" + endpoint, RawQuery: rawQuery}
		if strings.ContainsAny(rawQuery, " #") {
			return // not a request line a client can send
		}
		r, err := http.NewRequest(http.MethodGet, u.String(), nil)
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 || w.Code < 200 || (w.Code >= 300 && w.Code < 400) {
			t.Fatalf("status %d for %q: %s", w.Code, u, w.Body)
		}
	})
}
