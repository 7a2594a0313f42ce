package callbridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/webhook"
)

type tokenStore struct{ tok *oauth2.Token }

func (s *tokenStore) Load(context.Context) (*oauth2.Token, error)   { return s.tok, nil }
func (s *tokenStore) Save(_ context.Context, t *oauth2.Token) error { s.tok = t; return nil }

type nopSink struct{}

func (nopSink) HandleEvent(context.Context, callevent.Event) error { return nil }

const secret = "SEKRITxyz123"

// Every type that holds a secret — credentials, clients, configs, the
// handlers of every provider and webhook's own Auth and Secrets — shows
// none of it, whatever the verb, in slog (text and JSON) or in JSON.
func TestNoTypeShowsASecret(t *testing.T) {
	vals := map[string]any{}
	add := func(name string, v any, err error) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vals[name] = v
	}
	ac := amocrm.Credentials{Domain: "x.amocrm.ru", ClientID: "id", ClientSecret: secret + "cs", RedirectURL: "https://r.example/cb", LongLivedToken: secret + "llt"}
	vals["amocrm.Credentials"] = ac
	c1, err := amocrm.NewClient(amocrm.Credentials{Domain: "x.amocrm.ru", LongLivedToken: secret + "llt"})
	add("amocrm.Client(llt)", c1, err)
	c2, err := amocrm.NewClient(amocrm.Credentials{Domain: "x.amocrm.ru", ClientID: "id", ClientSecret: secret + "cs", RedirectURL: "https://r.example/cb"},
		callbridge.WithTokenStore(&tokenStore{tok: &oauth2.Token{AccessToken: secret + "at", RefreshToken: secret + "rt"}}))
	add("amocrm.Client(oauth)", c2, err)
	st, err := amocrm.NewStore(c1)
	add("amocrm.Store", st, err)
	vals["amocrm.Redirect"] = amocrm.Redirect{Code: secret + "code", Domain: "x.amocrm.ru"}
	tc := telphin.Credentials{ClientID: "id", ClientSecret: secret + "tcs"}
	vals["telphin.Credentials"] = tc
	t1, err := telphin.NewClient(tc)
	add("telphin.Client", t1, err)
	pc := phonet.Credentials{Domain: "acme.phonet.com.ua", APIKey: secret + "pk"}
	vals["phonet.Credentials"] = pc
	p1, err := phonet.NewClient(pc)
	add("phonet.Client", p1, err)
	mc := megafon.Credentials{Domain: "vats1.megapbx.ru", APIKey: secret + "mk"}
	vals["megafon.Credentials"] = mc
	m1, err := megafon.NewClient(mc)
	add("megafon.Client", m1, err)
	fcfg := finaz.Config{BaseURL: "https://pbx.example.com/", Params: map[string]finaz.Param{"key": {Value: secret + "fk", Secret: true}},
		Click2Call: &finaz.RequestTemplate{URL: "dial", Headers: map[string]string{"X-Key": "{{key}}"}}}
	vals["finaz.Config"] = fcfg
	vals["finaz.Param"] = fcfg.Params["key"]
	f1, err := finaz.NewClient(fcfg)
	add("finaz.Client", f1, err)
	// handlers
	h, err := phonet.NewHandler(nopSink{}, webhook.WithToken(secret+"ph"))
	add("phonet.Handler", h, err)
	h, err = phonet.NewHandler(nopSink{}, webhook.WithTokenAccounts(map[string]string{secret + "pha": "acme"}))
	add("phonet.Handler(accounts)", h, err)
	h, err = megafon.NewHandler(nopSink{}, webhook.WithToken(secret+"mh"))
	add("megafon.Handler", h, err)
	h, err = megafon.NewHandler(nopSink{}, webhook.WithTokenAccounts(map[string]string{secret + "mha": "acme"}))
	add("megafon.Handler(accounts)", h, err)
	h, err = telphin.NewHandler(nopSink{}, webhook.WithToken(secret+"th"))
	add("telphin.Handler", h, err)
	h, err = finaz.NewHandler(nopSink{}, webhook.WithToken(secret+"fh"))
	add("finaz.Handler", h, err)
	sec, _ := webhook.NewSecrets(secret + "ws")
	vals["webhook.Secrets"] = sec
	wh, err := webhook.New(nopSink{}, webhook.DecoderFunc(nil), webhook.WithToken(secret+"wa"), webhook.WithTokenAccounts(map[string]string{secret + "wb": "acme"}))
	add("webhook.Handler", wh, err)
	vals["webhook.Config"] = wh.Config()
	for name, v := range vals {
		var outs []string
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			outs = append(outs, f+" "+fmt.Sprintf(f, v))
		}
		b, err := json.Marshal(v)
		outs = append(outs, "json "+string(b)+fmt.Sprint(err))
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
		outs = append(outs, "slogjson "+buf.String())
		buf.Reset()
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
		outs = append(outs, "slogtext "+buf.String())
		for _, o := range outs {
			if strings.Contains(o, "SEKRIT") {
				i := strings.Index(o, "SEKRIT")
				t.Errorf("%s shows a secret via %s ...%s...", name, o[:strings.IndexByte(o, ' ')], o[max(0, i-80):min(len(o), i+30)])
			}
		}
	}
}
