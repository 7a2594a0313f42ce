package finaz_test

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/internal/eventtest"
	"github.com/callbridge/callbridge/webhook"
)

// FuzzFinazConfig: LoadConfig never panics; a configuration it accepts
// renders every operation without panicking, with value in every
// variable; and a relative template's URL stays under the base path
// however its path is decoded (no value walks up).
func FuzzFinazConfig(f *testing.F) {
	for _, name := range finaz.Templates() {
		b, err := fs.ReadFile(finaz.TemplateFS(), "templates/"+name+".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "..")
	}
	f.Add([]byte(escapeConfig), "/../../admin/users")
	f.Add([]byte(`{"click2call": {"url": "{{ramal_operador}}/dial"}}`), "%2F..%2F..%2Fadmin")
	f.Add([]byte(`{"download_recording": {"url": "rec/{{identificador_chamada}}"}}`), `..\..`)
	f.Add([]byte(`{"click2call": {"url": "https://x/{{ramal_operador}}", "body": {"type": "json", "json": {"a": ["{{ddd|number}}", {"b": "{{numero|omitempty}}"}]}}}}`), "1")
	f.Add([]byte(`{"dialer_results": {"url": "https://x/", "results": {"format": "csv", "fields": {"contact_id": "0", "phone": "1", "status": "2"}}}}`), "")
	ops := []finaz.Operation{finaz.OpClick2Call, finaz.OpTransfer, finaz.OpUploadContacts, finaz.OpClearDialer, finaz.OpDialerResults, finaz.OpDownloadRecording}
	names := []string{"identificador_fila", "ramal_operador", "ddd", "numero", "telefone", "numero_destino", "identificador_chamada",
		"identificador_contato_crm", "nome_cliente", "cpf", "ddd1", "numero1", "telefone1"}
	const base = "https://pbx.example.com/base/"
	f.Fuzz(func(t *testing.T, data []byte, value string) {
		cfg, err := finaz.LoadConfig(bytes.NewReader(data))
		if err != nil {
			return
		}
		for name, p := range cfg.Params {
			if p.Value == "" {
				cfg.SetParam(name, "v")
			}
		}
		c, err := finaz.NewClient(cfg, callbridge.WithBaseURL(base))
		if err != nil {
			return
		}
		vars := make(map[string]string, len(names))
		for _, n := range names {
			vars[n] = value
		}
		for _, op := range ops {
			r, err := c.Render(op, vars)
			if err != nil || strings.Contains(templateURL(cfg, op), "://") {
				continue
			}
			u, err := url.Parse(r.URL)
			if err != nil {
				t.Fatalf("%s: rendered an unparsable URL %q: %v", op, r.URL, err)
			}
			if u.Host != "pbx.example.com" || !strings.HasPrefix(u.EscapedPath(), "/base/") {
				t.Fatalf("%s: %q left the base URL: %s", op, value, r.URL)
			}
			p := u.EscapedPath()
			for range 4 { // however often a server decodes it
				if d, err := url.PathUnescape(p); err == nil {
					p = d
				}
				if c := path.Clean(strings.ReplaceAll(p, `\`, "/")); c != "/base" && !strings.HasPrefix(c, "/base/") {
					t.Fatalf("%s: %q walks out of the base path: %s is %s", op, value, r.URL, c)
				}
			}
		}
	})
}

// templateURL is the URL of op's template in cfg.
func templateURL(cfg finaz.Config, op finaz.Operation) string {
	var t *finaz.RequestTemplate
	switch op {
	case finaz.OpClick2Call:
		t = cfg.Click2Call
	case finaz.OpTransfer:
		t = cfg.Transfer
	case finaz.OpUploadContacts:
		t = cfg.UploadContacts
	case finaz.OpClearDialer:
		t = cfg.ClearDialer
	case finaz.OpDialerResults:
		t = cfg.DialerResults
	case finaz.OpDownloadRecording:
		t = cfg.DownloadRecording
	}
	if t == nil {
		return ""
	}
	return t.URL
}

// FuzzFinazNotification: any notification request is answered 2xx or 4xx,
// never 5xx or a panic, and every event it accepts satisfies the Event
// invariants (eventtest.Check).
func FuzzFinazNotification(f *testing.F) {
	f.Add("atendimentodiscador", "pid=1&num=11987654321&cid=c&ramal=1&empresaId=e")
	f.Add("atendimentoreceptivo", "num=%2B55+11+98765-4321&cid=c&ramal=1&empresald=e")
	f.Add("atendimentodiscador", "num=abc&cid=&empresaId=")
	f.Add("atendimentodiscador", "num=1&cid=%00&empresaId=%FF")
	f.Add("atendimentodiscador", "num="+strings.Repeat("9", 100)+"&cid=c&empresaId=e")
	f.Add("x", "num=%zz")
	rec := &recorder{}
	h, err := finaz.NewHandler(rec, webhook.WithoutAuth())
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
		for _, e := range rec.take() {
			eventtest.Check(t, e)
		}
	})
}
