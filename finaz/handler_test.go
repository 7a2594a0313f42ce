package finaz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/internal/eventtest"
	"github.com/callbridge/callbridge/webhook"
)

const base = "http://crm.example/telephony-proxy/"

type recorder struct {
	mu     sync.Mutex
	events []callevent.Event
	err    error
}

func (r *recorder) HandleEvent(_ context.Context, e callevent.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) got() []callevent.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]callevent.Event(nil), r.events...)
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerDiscador(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h, err := finaz.NewHandler(rec, webhook.WithToken("old", "new"))
	require.NoError(t, err)
	n := finaztest.Notification{PID: "crm-77", Num: "(11) 98765-4321", CID: "call-1", Ramal: "2001", EmpresaID: "emp-9", Token: "new"}
	before := time.Now().UTC()
	w := serve(h, finaztest.NewDiscadorRequest(base, n))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "OK", w.Body.String())
	got := rec.got()
	require.Len(t, got, 1)
	require.False(t, got[0].At.Before(before.Add(-time.Second)))
	require.Equal(t, time.UTC, got[0].At.Location())
	want := callevent.Event{
		ID: webhook.EventID("finaz", "emp-9", "atendimentodiscador", "call-1", "2001"), Provider: "finaz", Account: "emp-9",
		Kind: callevent.Answered, Direction: callevent.Outbound, CallID: "call-1", ClientPhone: "5511987654321",
		Extension: "2001", ContactRef: "crm-77", At: got[0].At,
		Raw: json.RawMessage(`{"cid":"call-1","empresaId":"emp-9","num":"(11) 98765-4321","pid":"crm-77","ramal":"2001"}`),
	}
	require.Empty(t, cmp.Diff(want, got[0]))

	// Redelivery is a no-op; the manual's "empresald" spelling and the old token work.
	n.ManualSpelling, n.Token = true, "old"
	w = serve(h, finaztest.NewDiscadorRequest(base, n))
	require.Equal(t, http.StatusOK, w.Code)
	require.Len(t, rec.got(), 1, "same notification, same ID: deduplicated")
	n.CID = "call-2"
	w = serve(h, finaztest.NewDiscadorRequest(base, n))
	require.Equal(t, http.StatusOK, w.Code)
	require.Len(t, rec.got(), 2)
	require.Equal(t, "emp-9", rec.got()[1].Account)
}

func TestHandlerRejects(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h, err := finaz.NewHandler(rec, webhook.WithToken("tok"))
	require.NoError(t, err)
	ok := finaztest.Notification{PID: "1", Num: "11987654321", CID: "c", Ramal: "1", EmpresaID: "e", Token: "tok"}
	tests := []struct {
		name   string
		req    *http.Request
		status int
		body   string
	}{
		{"no token", finaztest.NewDiscadorRequest(base, with(ok, func(n *finaztest.Notification) { n.Token = "" })), 401, "missing token"},
		{"wrong token", finaztest.NewDiscadorRequest(base, with(ok, func(n *finaztest.Notification) { n.Token = "nope" })), 401, "invalid token"},
		{"no cid", finaztest.NewDiscadorRequest(base, with(ok, func(n *finaztest.Notification) { n.CID = "" })), 400, "atendimentodiscador: missing cid"},
		{"no empresa", finaztest.NewReceptivoRequest(base, with(ok, func(n *finaztest.Notification) { n.EmpresaID = "" })), 400, "missing empresaId"},
		{"bad number", finaztest.NewDiscadorRequest(base, with(ok, func(n *finaztest.Notification) { n.Num = "12ab" })), 400, `num \"12ab\" is not a phone number`},
		{"post", httptest.NewRequest(http.MethodPost, finaztest.DiscadorURL(base, ok), nil), 405, ""},
		{"unknown path", httptest.NewRequest(http.MethodGet, base+"hangup?token=tok", nil), 404, ""},
	}
	for _, tt := range tests {
		w := serve(h, tt.req)
		require.Equal(t, tt.status, w.Code, tt.name)
		require.Contains(t, w.Body.String(), tt.body, tt.name)
	}
	require.Empty(t, rec.got(), "rejected requests have no side effects")

	// Anonymous and internal numbers are not client phones.
	for _, num := range []string{"", "anonymous", "101"} {
		w := serve(h, finaztest.NewDiscadorRequest(base, with(ok, func(n *finaztest.Notification) { n.Num, n.CID = num, "c-"+num })))
		require.Equal(t, 200, w.Code, num)
	}
	for _, e := range rec.got() {
		require.Empty(t, e.ClientPhone)
	}

	// A failing sink gives 500 so the PBX redelivers.
	rec.err = errors.New("db down")
	w := serve(h, finaztest.NewDiscadorRequest(base, with(ok, func(n *finaztest.Notification) { n.CID = "c-x" })))
	require.Equal(t, 500, w.Code)

	_, err = finaz.NewHandler(rec)
	require.ErrorContains(t, err, "no authentication configured")
	_, err = finaz.NewHandler(nil, webhook.WithoutAuth())
	require.Error(t, err)
	for _, o := range []webhook.Option{webhook.WithToken(""), webhook.WithContactLookup(nil), webhook.WithLookupTimeout(0),
		webhook.WithDefaultCountry("XX"), webhook.WithCardURL("javascript:alert(1)", ""), webhook.WithCardURL("", "/relative/{digits}"),
		webhook.WithNewContactText(""), webhook.WithAllowedIPs(nil, nil), webhook.WithLogger(nil)} {
		_, err := finaz.NewHandler(rec, webhook.WithoutAuth(), o)
		require.Error(t, err)
		require.True(t, strings.HasPrefix(err.Error(), "finaz: "), err.Error())
		require.Equal(t, 1, strings.Count(err.Error(), "finaz"), err.Error())
	}

	// The account is empresaId: options that would set it another way are
	// refused by name.
	_, err = finaz.NewHandler(rec, webhook.WithTokenAccounts(map[string]string{"tok": "emp-9"}))
	require.ErrorContains(t, err, "finaz: WithTokenAccounts is not supported")
	_, err = finaz.NewHandler(rec, webhook.WithToken("tok"), webhook.WithAccount(func(*http.Request) string { return "a" }))
	require.ErrorContains(t, err, "finaz: WithAccount is not supported")
	// So is another provider's option.
	_, err = finaz.NewHandler(rec, webhook.WithToken("tok"), webhook.ProviderOption("phonet", "pause", 1))
	require.ErrorContains(t, err, "finaz: webhook: phonet.pause is an option of phonet handlers, not of finaz")
}

func with(n finaztest.Notification, f func(*finaztest.Notification)) finaztest.Notification {
	f(&n)
	return n
}

func TestHandlerAllowedIPs(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	allowed, err := webhook.ParsePrefixes("10.0.0.0/8")
	require.NoError(t, err)
	h, err := finaz.NewHandler(rec, webhook.WithAllowedIPs(allowed, nil))
	require.NoError(t, err)
	n := finaztest.Notification{Num: "11987654321", CID: "c", EmpresaID: "e"}
	r := finaztest.NewDiscadorRequest(base, n)
	r.RemoteAddr = "192.0.2.1:1234"
	require.Equal(t, 403, serve(h, r).Code)
	r = finaztest.NewDiscadorRequest(base, n)
	r.RemoteAddr = netip.MustParseAddrPort("10.1.2.3:555").String()
	require.Equal(t, 200, serve(h, r).Code)
}

func TestHandlerReceptivo(t *testing.T) {
	t.Parallel()
	lookup := callevent.ContactLookupFunc(func(ctx context.Context, account, phone string) (callevent.Contact, bool, error) {
		switch phone {
		case "5511987654321":
			return callevent.Contact{ID: "k1", URL: "https://crm.example/clients/k1"}, true, nil
		case "5511987654322":
			return callevent.Contact{ID: "k 2/x", Name: "Zé"}, true, nil
		case "5511987654323":
			return callevent.Contact{ID: "k3", Name: "<b>Evil</b>", URL: "javascript:alert(1)"}, true, nil
		case "5511987654324":
			<-ctx.Done() // slower than the lookup timeout
			return callevent.Contact{}, false, ctx.Err()
		}
		return callevent.Contact{}, false, nil
	})
	rec := &recorder{}
	// The lookups that answer answer at once; a timeout they could lose on
	// a busy machine would make the test fail by chance, so only the slow
	// one goes to a handler with a short timeout.
	newHandler := func(timeout time.Duration) http.Handler {
		h, err := finaz.NewHandler(rec, webhook.WithToken("tok"), webhook.WithContactLookup(lookup),
			webhook.WithLookupTimeout(timeout), webhook.WithCardURL("https://crm.example/card/{account}/{id}", ""))
		require.NoError(t, err)
		return h
	}
	h, slow := newHandler(time.Minute), newHandler(50*time.Millisecond)
	n := finaztest.Notification{Ramal: "2001", EmpresaID: "emp 1", Token: "tok"}
	tests := []struct {
		num      string
		location string
		page     []string
		timeout  bool // the lookup outlasts a 50 ms timeout
	}{
		{"11987654321", "https://crm.example/clients/k1", nil, false},
		{"11987654322", "https://crm.example/card/emp%201/k%202%2Fx", nil, false},
		{"11987654323", "https://crm.example/card/emp%201/k3", nil, false}, // unsafe Contact.URL ignored
		{"11987654324", "", []string{"Nenhum cadastro encontrado", "+5511987654324"}, true},
		{"11987654325", "", []string{"Nenhum cadastro encontrado", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;11987654325", "2001"}, false},
	}
	for _, tt := range tests {
		n.Num = tt.num
		n.CID = `<script>alert("x")</script>` + tt.num // one call each: no dedup
		hh := h
		if tt.timeout {
			hh = slow
		}
		w := serve(hh, finaztest.NewReceptivoRequest(base, n))
		if tt.location != "" {
			require.Equal(t, http.StatusFound, w.Code, tt.num)
			require.Equal(t, tt.location, w.Header().Get("Location"))
			continue
		}
		require.Equal(t, http.StatusOK, w.Code, tt.num)
		require.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
		require.NotContains(t, w.Body.String(), "<script>")
		for _, p := range tt.page {
			require.Contains(t, w.Body.String(), p)
		}
	}
	got := rec.got()
	require.Len(t, got, len(tests), "the event is delivered whatever the lookup says")
	for _, e := range got {
		require.Equal(t, callevent.Answered, e.Kind)
		require.Zero(t, e.Direction)
		require.Empty(t, e.ContactRef)
	}

	// Without a lookup: always the page.
	h, err := finaz.NewHandler(rec, webhook.WithoutAuth())
	require.NoError(t, err)
	w := serve(h, finaztest.NewReceptivoRequest(base, finaztest.Notification{Num: "11987654321", CID: "z", EmpresaID: "e"}))
	require.Equal(t, 200, w.Code)
	require.Contains(t, w.Body.String(), "Chamada atendida")
}

// WithCardURL(card, newContact): a found client goes to card, a number the
// lookup does not know to newContact (302); when the lookup cannot tell
// (it failed, or there is none) the page links to newContact with the
// WithNewContactText text. {phone} and {digits} are both the normalised
// number, not the num as sent.
func TestHandlerReceptivoNewContact(t *testing.T) {
	t.Parallel()
	lookup := callevent.ContactLookupFunc(func(_ context.Context, account, phone string) (callevent.Contact, bool, error) {
		if account != "emp 1" {
			return callevent.Contact{}, false, fmt.Errorf("account %q", account)
		}
		switch phone {
		case "5511987654321":
			return callevent.Contact{ID: "k/1", Name: "Zé"}, true, nil
		case "5511987654323":
			return callevent.Contact{}, false, errors.New("crm down")
		case "5511987654324":
			return callevent.Contact{Name: "Sem ID"}, true, nil // found, but no card to go to
		}
		return callevent.Contact{}, false, nil
	})
	const (
		card       = "https://crm.example/card/{id}?tel={phone}&d={digits}&e={account}"
		newContact = "https://crm.example/clientes/novo?tel={phone}&d={digits}&e={account}&id={id}"
	)
	rec := &recorder{}
	// Every lookup answers at once: a long timeout, so that none loses to
	// it on a busy machine.
	h, err := finaz.NewHandler(rec, webhook.WithToken("tok"), webhook.WithContactLookup(lookup), webhook.WithLookupTimeout(time.Minute),
		webhook.WithCardURL(card, newContact), webhook.WithNewContactText(`Novo <cliente>`))
	require.NoError(t, err)
	const newURL = "https://crm.example/clientes/novo?tel=5511987654323&d=5511987654323&e=emp%201&id="
	tests := []struct {
		name, num string
		location  string
		link      string // the page's "create contact" link, "" for none
	}{
		{"found", "(11) 98765-4321", "https://crm.example/card/k%2F1?tel=5511987654321&d=5511987654321&e=emp%201", ""},
		{"not found", "+55 11 98765-4322", "https://crm.example/clientes/novo?tel=5511987654322&d=5511987654322&e=emp%201&id=", ""},
		{"lookup failed", "11 98765-4323", "", `<a href="` + strings.ReplaceAll(newURL, "&", "&amp;") + `" rel="noreferrer">Novo &lt;cliente&gt;</a>`},
		{"found without card", "11987654324", "", ""},
		{"anonymous", "anonymous", "", ""},
		{"extension", "2002", "", ""},
	}
	n := finaztest.Notification{Ramal: "2001", EmpresaID: "emp 1", Token: "tok"}
	for _, tt := range tests {
		n.Num, n.CID = tt.num, "call-"+tt.name
		w := serve(h, finaztest.NewReceptivoRequest(base, n))
		if tt.location != "" {
			require.Equal(t, http.StatusFound, w.Code, tt.name)
			require.Equal(t, tt.location, w.Header().Get("Location"), tt.name)
			continue
		}
		require.Equal(t, http.StatusOK, w.Code, tt.name)
		require.Empty(t, w.Header().Get("Location"), tt.name)
		require.Equal(t, "no-referrer", w.Header().Get("Referrer-Policy"), "%s: the page's URL carries the token", tt.name)
		if tt.link == "" {
			require.NotContains(t, w.Body.String(), "<a ", tt.name)
			continue
		}
		require.Contains(t, w.Body.String(), tt.link, tt.name)
		require.Contains(t, w.Body.String(), "Nenhum cadastro encontrado", tt.name)
	}
	require.Contains(t, serve(h, finaztest.NewReceptivoRequest(base, with(n, func(n *finaztest.Notification) { n.Num, n.CID = "11987654324", "c-named" }))).Body.String(),
		"Sem ID", "a found client without a card is named on the page")
	require.Len(t, rec.got(), len(tests)+1, "the event is delivered whatever the lookup says")

	// Without a lookup nothing tells the number is new: the page links to
	// newContact, with the default text.
	h, err = finaz.NewHandler(rec, webhook.WithToken("tok"), webhook.WithCardURL("", "https://crm.example/novo/{phone}"))
	require.NoError(t, err)
	w := serve(h, finaztest.NewReceptivoRequest(base, with(n, func(n *finaztest.Notification) { n.Num, n.CID = "11987654322", "no-lookup" })))
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), `<a href="https://crm.example/novo/5511987654322" rel="noreferrer">Cadastrar cliente</a>`)

	// Without newContact a number the lookup does not know gets the page,
	// and no link, whatever WithNewContactText says.
	h, err = finaz.NewHandler(rec, webhook.WithToken("tok"), webhook.WithContactLookup(lookup), webhook.WithLookupTimeout(time.Minute),
		webhook.WithCardURL(card, ""), webhook.WithNewContactText("Novo"))
	require.NoError(t, err)
	w = serve(h, finaztest.NewReceptivoRequest(base, with(n, func(n *finaztest.Notification) { n.Num, n.CID = "11987654322", "no-new" })))
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "Nenhum cadastro encontrado")
	require.NotContains(t, w.Body.String(), "<a ")
}

// A lookup that ignores its context no longer holds the agent's page: the
// handler answers at the lookup timeout, logs the failure to the handler's
// logger, and still delivers the event. A panicking lookup is a failure too.
func TestHandlerReceptivoStuckLookup(t *testing.T) {
	t.Parallel()
	const timeout = 50 * time.Millisecond
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	lookup := callevent.ContactLookupFunc(func(_ context.Context, _, phone string) (callevent.Contact, bool, error) {
		if phone == "5511987654329" {
			panic("boom")
		}
		<-release // ignores ctx
		return callevent.Contact{ID: "late", URL: "https://crm.example/clients/late"}, true, nil
	})
	var logs syncBuffer
	rec := &recorder{}
	for i, tt := range []struct {
		num     string
		timeout time.Duration
	}{
		{"11987654328", timeout}, // stuck
		// The panic comes at once: a long timeout, so that it is the
		// panic that is logged, not a timeout won on a busy machine.
		{"11987654329", time.Minute},
	} {
		h, err := finaz.NewHandler(rec, webhook.WithToken("tok"), webhook.WithContactLookup(lookup), webhook.WithLookupTimeout(tt.timeout),
			webhook.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		require.NoError(t, err)
		num := tt.num
		n := finaztest.Notification{Num: num, CID: "stuck-" + num, Ramal: "2001", EmpresaID: "emp-1", Token: "tok"}
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- serve(h, finaztest.NewReceptivoRequest(base, n)) }()
		var w *httptest.ResponseRecorder
		select {
		case w = <-done:
		case <-time.After(30 * time.Second): // the stuck lookup never returns: any bound shows the page does not wait for it
			t.Fatalf("%s: the page waits for a lookup stuck past its %v timeout", num, tt.timeout)
		}
		require.Equal(t, http.StatusOK, w.Code, num)
		require.Contains(t, w.Body.String(), "Nenhum cadastro encontrado")
		require.Len(t, rec.got(), i+1, "the event is delivered anyway")
	}
	require.Contains(t, logs.String(), "finaz: contact lookup failed")
	require.Contains(t, logs.String(), "deadline exceeded")
	require.Contains(t, logs.String(), "panic: boom")
}

// syncBuffer is a bytes.Buffer safe for a logger and a test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestParseNotification(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.FixedZone("BRT", -3*3600))
	q, err := url.ParseQuery("num=%2B7+916+123-45-67&cid=9&ramal=5&empresald=E&token=secret&extra=1")
	require.NoError(t, err)
	e, err := finaz.ParseNotification(finaz.EndpointReceptivo, q, "RU", at)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(callevent.Event{
		ID: webhook.EventID("finaz", "E", "atendimentoreceptivo", "9", "5"), Provider: "finaz", Account: "E",
		Kind: callevent.Answered, CallID: "9", ClientPhone: "79161234567", Extension: "5",
		At: at.UTC(), Raw: json.RawMessage(`{"cid":"9","empresald":"E","extra":"1","num":"+7 916 123-45-67","ramal":"5"}`),
	}, e))
	require.NoError(t, e.Validate())
	require.False(t, strings.Contains(string(e.Raw), "secret"), "the token is not kept")
	_, err = finaz.ParseNotification("other", q, "", at)
	require.ErrorIs(t, err, webhook.ErrBadRequest)
}

// TestHandlerRejectsGarbage: the edge policy of issue 13 A1/B7. Every
// parameter is bounded at decode time and checked; garbage is a 400 naming
// the parameter and reaches no sink. The limits themselves are accepted.
func TestHandlerRejectsGarbage(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h, err := finaz.NewHandler(rec, webhook.WithToken("tok"))
	require.NoError(t, err)
	ok := finaztest.Notification{PID: "1", Num: "11987654321", CID: "c", Ramal: "1", EmpresaID: "e", Token: "tok"}
	long := strings.Repeat("x", callevent.MaxFieldLen+1)
	tests := []struct {
		name string
		f    func(*finaztest.Notification)
		body string
	}{
		{"100-digit num", func(n *finaztest.Notification) { n.Num = strings.Repeat("9", 100) }, `num \"9999`},
		{"letters num", func(n *finaztest.Notification) { n.Num = "call me" }, `num \"call me\" is not a phone number`},
		{"NUL in cid", func(n *finaztest.Notification) { n.CID = "c\x00d" }, "cid"},
		{"invalid UTF-8 cid", func(n *finaztest.Notification) { n.CID = "c\xff" }, "cid"},
		{"10 KB cid", func(n *finaztest.Notification) { n.CID = strings.Repeat("c", 10<<10) }, "cid is 10240 bytes, more than 256"},
		{"long ramal", func(n *finaztest.Notification) { n.Ramal = long }, "ramal is 257 bytes"},
		{"long pid", func(n *finaztest.Notification) { n.PID = long }, "pid is 257 bytes"},
		{"long empresaId", func(n *finaztest.Notification) { n.EmpresaID = long }, "empresaId is 257 bytes"},
		{"control in empresald", func(n *finaztest.Notification) { n.EmpresaID, n.ManualSpelling = "e\x1b[2J", true }, "empresald"},
		{"newline in ramal", func(n *finaztest.Notification) { n.Ramal = "1\n2" }, "ramal"},
	}
	for _, tt := range tests {
		w := serve(h, finaztest.NewDiscadorRequest(base, with(ok, tt.f)))
		require.Equal(t, http.StatusBadRequest, w.Code, tt.name)
		require.Contains(t, w.Body.String(), tt.body, tt.name)
		require.Less(t, w.Body.Len(), 1024, "%s: the value is clipped in the reply", tt.name)
	}
	// An unknown parameter is bounded too, and so is their number.
	w := serve(h, httptest.NewRequest(http.MethodGet, finaztest.DiscadorURL(base, ok)+"&extra="+long, nil))
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), "extra is 257 bytes")
	many := url.Values{}
	for i := range finaz.MaxParams {
		many.Set(fmt.Sprint("p", i), "1")
	}
	w = serve(h, httptest.NewRequest(http.MethodGet, finaztest.DiscadorURL(base, ok)+"&"+many.Encode(), nil))
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), "more than 32")
	require.Empty(t, rec.got(), "rejected requests have no side effects")

	// At the limits: accepted.
	limit := strings.Repeat("m", callevent.MaxFieldLen)
	w = serve(h, finaztest.NewDiscadorRequest(base, finaztest.Notification{PID: limit, Num: "+55 11 98765-4321", CID: limit, Ramal: limit, EmpresaID: limit, Token: "tok"}))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	got := rec.got()
	require.Len(t, got, 1)
	require.Equal(t, limit, got[0].CallID)
	eventtest.Check(t, got[0])
}

// take returns the events recorded so far and forgets them.
func (r *recorder) take() []callevent.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

// A notification carries no time: it is stamped with the arrival time by
// the webhook handler's clock, so a test (or a replay) that sets the clock
// gets events inside the time window the handler checks.
func TestHandlerStampsArrivalByTheWebhookClock(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	rec := &recorder{}
	h, err := finaz.NewHandler(rec, webhook.WithToken("tok"),
		webhook.WithClock(func() time.Time { return at }))
	require.NoError(t, err)
	n := finaztest.Notification{Num: "(11) 98765-4321", CID: "call-1", Ramal: "2001", EmpresaID: "emp-9", Token: "tok"}
	w := serve(h, finaztest.NewReceptivoRequest(base, n))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Len(t, rec.got(), 1)
	require.Equal(t, at, rec.got()[0].At)
}

// webhook.WithDefaultCountry replaces the handler's default country, "BR".
func TestHandlerDefaultCountry(t *testing.T) {
	t.Parallel()
	n := finaztest.Notification{Num: "(916) 123-45-67", CID: "call-1", Ramal: "2001", EmpresaID: "emp-9", Token: "tok"}
	for _, tt := range []struct {
		opts []webhook.Option
		want string
	}{
		{nil, "5591961234567"}, // DDD 91, the ninth digit added
		{[]webhook.Option{webhook.WithDefaultCountry("RU")}, "79161234567"},
	} {
		rec := &recorder{}
		h, err := finaz.NewHandler(rec, append([]webhook.Option{webhook.WithToken("tok")}, tt.opts...)...)
		require.NoError(t, err)
		w := serve(h, finaztest.NewDiscadorRequest(base, n))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Equal(t, tt.want, rec.got()[0].ClientPhone)
	}
}
