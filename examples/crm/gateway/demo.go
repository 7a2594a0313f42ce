package gateway

import (
	"fmt"
	"sync/atomic"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// demoMegafonDomain is the Account of MegaFon events in demo mode: the
// fake PBX's domain.
const demoMegafonDomain = megafontest.Domain

// startDemo starts the fake of every provider on 127.0.0.1 and points a
// client at each, so POST /api/calls works without accounts, and the demo
// phone, which rings the workspace's employees through Telphin's
// webhooks. Employees the
// fakes know: Telphin extension 101, MegaFon andy (701), Phonet 001; any
// extension for Finaz.
func (g *Gateway) startDemo() error {
	tsrv := telphintest.NewServer()
	g.closers = append(g.closers, tsrv.Close)
	g.telphinApp = tsrv.ClientID
	tc, err := telphin.NewClient(telphin.Credentials{ClientID: tsrv.ClientID, ClientSecret: tsrv.ClientSecret},
		g.clientOpts(callbridge.WithBaseURL(tsrv.URL))...)
	if err != nil {
		return fmt.Errorf("demo telphin: %w", err)
	}
	// The demo phone sends the Telphin webhooks the fake does not.
	g.demo = newDemoPhone(g, tsrv)
	g.closers = append(g.closers, g.demo.close)
	g.callers[telphin.Provider] = demoTelphin{tc, g.demo}

	msrv := megafontest.NewServer()
	g.closers = append(g.closers, msrv.Close)
	mc, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
		g.clientOpts(callbridge.WithBaseURL(msrv.URL))...)
	if err != nil {
		return fmt.Errorf("demo megafon: %w", err)
	}
	g.callers[megafon.Provider] = mc

	psrv := phonettest.NewServer()
	g.closers = append(g.closers, psrv.Close)
	pc, err := psrv.NewClient(g.clientOpts()...)
	if err != nil {
		return fmt.Errorf("demo phonet: %w", err)
	}
	g.callers[phonet.Provider] = pc

	fsrv := finaztest.NewServer()
	g.closers = append(g.closers, fsrv.Close)
	var seq atomic.Int64
	fsrv.Handle("POST", "/calls", func(finaztest.Request) finaztest.Response {
		return finaztest.Response{Status: 201, Body: fmt.Sprintf(`{"call_id":"demo-%d"}`, seq.Add(1))}
	})
	fc, err := finaz.NewClient(finaz.Config{
		Click2Call: &finaz.RequestTemplate{
			Method:   "POST",
			URL:      "calls",
			Body:     &finaz.Body{Type: "form", Form: map[string]string{"ramal": "{{ramal_operador}}", "numero": "+{{telefone}}"}},
			Response: &finaz.ResponseSpec{SuccessStatus: []int{201}, CallIDField: "call_id"},
		},
	}, g.clientOpts(callbridge.WithBaseURL(fsrv.URL))...)
	if err != nil {
		return fmt.Errorf("demo finaz: %w", err)
	}
	g.callers[finaz.Provider] = fc
	return nil
}
