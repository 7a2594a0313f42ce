package phonet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/webhook"
)

const unknownReply = `{"name":null,"url":null,"urlText":null,"newEntity":false,"responsibleEmployeeExt":null,"responsibleEmployeeEmail":null}`

func TestLookupReplies(t *testing.T) {
	t.Parallel()
	romashka := callevent.Contact{ID: "6137", Name: "ТОВ Ромашка", URL: "https://crm.example.com/contacts/6137",
		ResponsibleExtension: "001", ResponsibleEmail: "olena@acme.ua"}
	cards := webhook.WithCardURL("https://crm.example.com/contacts/{id}?from={digits}", "https://crm.example.com/contacts/new?phone={phone}")
	tests := []struct {
		name    string
		body    phonettest.Body
		contact callevent.Contact
		found   bool
		err     error
		delay   time.Duration
		opts    []webhook.Option
		want    string
		calls   int32
	}{
		{name: "found (facts §7.7)", contact: romashka, found: true, opts: []webhook.Option{cards},
			want: string(golden(t, "lookup_found_reply.json")), calls: 1},
		{name: "not found (facts §7.7)", opts: []webhook.Option{cards},
			want: string(golden(t, "lookup_not_found_reply.json")), calls: 1},
		{name: "not found, own text, no template", opts: []webhook.Option{webhook.WithNewContactText("Створити")},
			want: `{"name":null,"url":null,"urlText":"Створити","newEntity":true,"responsibleEmployeeExt":null,"responsibleEmployeeEmail":null}`, calls: 1},
		{name: "found without URL uses the card template", contact: callevent.Contact{ID: "a/b", Name: "Іван"}, found: true,
			opts: []webhook.Option{cards},
			want: `{"name":"Іван","url":"https://crm.example.com/contacts/a%2Fb?from=380501112233","urlText":"Іван","newEntity":false,"responsibleEmployeeExt":null,"responsibleEmployeeEmail":null}`, calls: 1},
		{name: "{account} in the templates", opts: []webhook.Option{webhook.WithCardURL("https://crm.example.com/{account}/contacts/{id}",
			"https://crm.example.com/{account}/contacts/new?phone={phone}")},
			want: `{"name":null,"url":"https://crm.example.com/acme.phonet.com.ua/contacts/new?phone=%2B380501112233","urlText":"Додати контакт","newEntity":true,"responsibleEmployeeExt":null,"responsibleEmployeeEmail":null}`, calls: 1},
		{name: "only the manager's e-mail", contact: callevent.Contact{Name: "Іван", ResponsibleEmail: "petro@acme.ua"}, found: true,
			want: `{"name":"Іван","url":null,"urlText":"Іван","newEntity":false,"responsibleEmployeeExt":null,"responsibleEmployeeEmail":"petro@acme.ua"}`, calls: 1},
		{name: "only the manager's extension", contact: callevent.Contact{Name: "Іван", ResponsibleExtension: "002"}, found: true,
			want: `{"name":"Іван","url":null,"urlText":"Іван","newEntity":false,"responsibleEmployeeExt":"002","responsibleEmployeeEmail":null}`, calls: 1},
		{name: "lookup error answers unknown", err: errors.New("db down"), opts: []webhook.Option{cards},
			want: unknownReply, calls: 1},
		{name: "slow lookup answers unknown within the deadline", contact: romashka, found: true, delay: 5 * time.Second,
			opts: []webhook.Option{cards, webhook.WithLookupTimeout(50 * time.Millisecond)}, want: unknownReply, calls: 1},
		{name: "anonymous number is not looked up", body: phonettest.InboundCall().Lookup().With("otherLegNum", "anonymous"),
			want: unknownReply},
		{name: "internal number is not looked up", body: phonettest.InboundCall().Lookup().With("otherLegNum", "002"),
			want: unknownReply},
		{name: "form-encoded lookup", body: phonettest.InboundCall().Lookup(), contact: romashka, found: true,
			want: string(golden(t, "lookup_found_reply.json")), calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			lookup := callevent.ContactLookupFunc(func(ctx context.Context, acc, phone string) (callevent.Contact, bool, error) {
				calls.Add(1)
				if acc != account || phone != "380501112233" {
					return callevent.Contact{}, false, errors.New("unexpected account or phone " + acc + " " + phone)
				}
				if tt.delay > 0 {
					select {
					case <-time.After(tt.delay):
					case <-ctx.Done():
					}
				}
				return tt.contact, tt.found, tt.err
			})
			sink := &recorder{}
			h := newHandler(t, sink, append(tt.opts, webhook.WithContactLookup(lookup))...)
			var req *http.Request
			switch {
			case tt.name == "form-encoded lookup":
				req = tt.body.Request("/phonet/customer_data", phonettest.WithToken(token), phonettest.AsForm())
			case tt.body != nil:
				req = tt.body.Request("/phonet/customer_data", phonettest.WithToken(token))
			default:
				req = rawRequest(golden(t, "lookup.json"), "application/json")
			}
			start := time.Now()
			w := post(h, req)
			require.Less(t, time.Since(start), 2*time.Second)
			require.Equal(t, http.StatusOK, w.Code)
			require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			require.Equal(t, tt.want, w.Body.String(), "the exact reply")
			require.Equal(t, tt.calls, calls.Load())
			require.Empty(t, sink.got(), "a lookup is not an event")
		})
	}
}

func TestLookupWithoutContactLookup(t *testing.T) {
	t.Parallel()
	w := post(newHandler(t, &recorder{}), rawRequest(golden(t, "lookup.json"), "application/json"))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, unknownReply, w.Body.String())
}

// webhook.WithAccount: a lookup is asked for the account the option takes from
// the request (here the last path segment), JSON or form; a body naming
// the same account is accepted, one naming another is refused with 403
// and never looked up.
func TestLookupWithAccount(t *testing.T) {
	t.Parallel()
	var got []string
	h, err := phonet.NewHandler(&recorder{}, webhook.WithoutAuth(),
		webhook.WithAccount(func(r *http.Request) string { return path.Base(r.URL.Path) }),
		webhook.WithContactLookup(callevent.ContactLookupFunc(func(_ context.Context, acc, phone string) (callevent.Contact, bool, error) {
			got = append(got, acc+" "+phone)
			return callevent.Contact{}, false, nil
		})))
	require.NoError(t, err)
	lookup := phonettest.InboundCall().Lookup()
	for _, r := range []*http.Request{
		lookup.Without("accountDomain").Request("/phonet/customer_data/tenant7"),
		lookup.Without("accountDomain").Request("/phonet/customer_data/tenant7", phonettest.AsForm()),
		lookup.With("accountDomain", "tenant7").Request("/phonet/customer_data/tenant7"),
	} {
		w := post(h, r)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	}
	w := post(h, lookup.Request("/phonet/customer_data/tenant7"))
	require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
	require.Equal(t, []string{"tenant7 380501112233", "tenant7 380501112233", "tenant7 380501112233"}, got)
}

// The card URL's placeholders are escaped for wherever they sit, path or
// query: "+380…" from a form-encoded lookup stays "+" (%2B), never a
// space, and an id with "+", "&", "=", " " or "/" stays one value.
func TestLookupCardURLEscaping(t *testing.T) {
	t.Parallel()
	const id = "a+b&c=d e/f"
	cards := webhook.WithCardURL("https://crm.example.com/c/{id}/{phone}?id={id}&phone={phone}&d={digits}",
		"https://crm.example.com/new/{phone}?phone={phone}&d={digits}")
	lookup := phonettest.InboundCall().Lookup()
	reqs := map[string]func() *http.Request{
		"json": func() *http.Request { return lookup.Request("/phonet/customer_data", phonettest.WithToken(token)) },
		"form": func() *http.Request {
			return lookup.Request("/phonet/customer_data", phonettest.WithToken(token), phonettest.AsForm())
		},
		"form with unescaped +": func() *http.Request { // "+" sent as is: form decoding makes it a space
			return rawRequest([]byte("otherLegNum=+380501112233&trunkNum=+380442000000&accountDomain="+account), "application/x-www-form-urlencoded")
		},
	}
	for _, found := range []bool{true, false} {
		for name, req := range reqs {
			t.Run(fmt.Sprintf("%s found=%v", name, found), func(t *testing.T) {
				t.Parallel()
				h := newHandler(t, &recorder{}, cards, webhook.WithContactLookup(callevent.ContactLookupFunc(
					func(_ context.Context, _, phone string) (callevent.Contact, bool, error) {
						if phone != "380501112233" {
							return callevent.Contact{}, false, errors.New("unexpected phone " + phone)
						}
						return callevent.Contact{ID: id, Name: "Іван"}, found, nil
					})))
				w := post(h, req())
				require.Equal(t, http.StatusOK, w.Code, w.Body.String())
				var reply struct{ URL string }
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &reply))
				require.NotEmpty(t, reply.URL, w.Body.String())
				u, err := url.Parse(reply.URL)
				require.NoError(t, err, reply.URL)
				var segs []string
				for _, s := range strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/") {
					v, err := url.PathUnescape(s)
					require.NoError(t, err)
					segs = append(segs, v)
				}
				q := u.Query()
				require.Equal(t, "+380501112233", q.Get("phone"), reply.URL)
				require.Equal(t, "380501112233", q.Get("d"), reply.URL)
				if found {
					require.Equal(t, []string{"c", id, "+380501112233"}, segs, reply.URL)
					require.Equal(t, id, q.Get("id"), reply.URL)
				} else {
					require.Equal(t, []string{"new", "+380501112233"}, segs, reply.URL)
				}
			})
		}
	}
}

// Numbers written without a country code are Ukrainian unless
// webhook.WithDefaultCountry says otherwise, in lookups as in events.
func TestDefaultCountry(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts  []webhook.Option
		num   string
		phone string
	}{
		{nil, "0501112233", "380501112233"},
		{[]webhook.Option{webhook.WithDefaultCountry("UA")}, "0501112233", "380501112233"},
		{[]webhook.Option{webhook.WithDefaultCountry("RU")}, "89161234567", "79161234567"},
	} {
		var phones []string
		sink := &recorder{}
		h := newHandler(t, sink, append(tt.opts, webhook.WithContactLookup(callevent.ContactLookupFunc(
			func(_ context.Context, _, phone string) (callevent.Contact, bool, error) {
				phones = append(phones, phone)
				return callevent.Contact{}, false, nil
			})))...)
		in := inboundCall()
		w := post(h, in.Lookup().With("otherLegNum", tt.num).Request("/phonet", phonettest.WithToken(token)))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		w = post(h, in.Dial().With("otherLegs", []any{map[string]any{"num": tt.num}}).Request("/phonet", phonettest.WithToken(token)))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Equal(t, []string{tt.phone}, phones, tt.num)
		got := sink.got()
		require.Len(t, got, 1)
		require.Equal(t, tt.phone, got[0].ClientPhone, tt.num)
	}
}
