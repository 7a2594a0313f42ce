package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/eventtest"

	"github.com/callbridge/callbridge/examples/crm/gateway"
)

// fuzzRoutes are the routes the fuzzer posts to, with valid tokens, so
// the decoders behind authentication are reached.
var fuzzRoutes = []struct{ method, target string }{
	{"POST", "/hooks/telphin/app?token=hook-token&"},
	{"GET", "/hooks/telphin/app?token=hook-token&"},
	{"POST", "/hooks/megafon?"},
	{"POST", "/hooks/phonet/customer_data?token=hook-token&"},
	{"POST", "/hooks/phonet/call?token=hook-token&"},
	{"POST", "/hooks/phonet/after_call_end?token=hook-token&"},
	{"GET", "/hooks/finaz/atendimentodiscador?token=hook-token&"},
	{"GET", "/hooks/finaz/atendimentoreceptivo?token=hook-token&"},
	{"POST", "/api/calls?"},
}

// FuzzGateway: the server never dies on input and never blames itself
// for it: whatever the route, query, content type and body, the answer is
// 2xx, 3xx or 4xx (or 503 if the fuzzer outruns the queue); and every
// event a handler accepts satisfies the Event invariants
// (eventtest.Check). The gateway is built once, outside the fuzz function.
func FuzzGateway(f *testing.F) {
	sc := buildScenario(f)
	for _, h := range sc.events {
		for i, r := range fuzzRoutes {
			if r.method == h.method {
				f.Add(uint8(i), "", h.header.Get("Content-Type"), h.body)
			}
		}
	}
	f.Add(uint8(2), "", "application/x-www-form-urlencoded", []byte("crm_token=mf-token&cmd=contact&phone=%2B7"))
	f.Add(uint8(8), "", "application/json", []byte(`{"provider":"phonet","from":"001","to":"+380671234567"}`))
	f.Add(uint8(6), "pid=1&num=11987654321&cid=x&ramal=1&empresaId=1", "", []byte(nil))

	var (
		mu       sync.Mutex
		accepted []callevent.Event
	)
	g, err := gateway.NewWithTap(gateway.Config{HookToken: "hook-token", MegafonToken: "mf-token", APIToken: apiToken, Demo: true,
		DefaultClients: defaultClients(f), QueueSize: 1 << 10}, io.Discard, func(e callevent.Event) {
		mu.Lock()
		accepted = append(accepted, e)
		mu.Unlock()
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = g.Close(context.Background()) })
	h := g.Handler()
	f.Fuzz(func(t *testing.T, route uint8, query, contentType string, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req, err := http.NewRequest(r.method, "http://crm.test"+r.target, bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		req.URL.RawQuery += query
		if r.target == "/hooks/megafon?" && !bytes.Contains(body, []byte("crm_token")) {
			req.Body = io.NopCloser(io.MultiReader(bytes.NewReader([]byte("crm_token=mf-token&")), bytes.NewReader(body)))
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Authorization", "Bearer "+apiToken)
		mu.Lock()
		accepted = accepted[:0]
		mu.Unlock()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		mu.Lock()
		evs := slices.Clone(accepted)
		mu.Unlock()
		for _, e := range evs {
			eventtest.Check(t, e)
		}
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable { // 503: queue full, an overload answer
			t.Fatalf("%s %s (%s) %q: %d %s", r.method, req.URL, contentType, body, w.Code, w.Body)
		}
	})
}
