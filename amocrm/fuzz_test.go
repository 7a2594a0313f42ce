package amocrm_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
)

// FuzzContactsAnswer feeds arbitrary answers (status and body) to the
// phone search: decoding and PHONE verification never panic, and a
// verified contact always has the phone.
func FuzzContactsAnswer(f *testing.F) {
	f.Add(200, `{"_embedded":{"contacts":[{"id":1,"custom_fields_values":[{"field_code":"PHONE","values":[{"value":"+7 916 123-45-67"}]}]}]}}`)
	f.Add(200, `{"_embedded":{"contacts":[{"id":2,"custom_fields_values":[{"field_code":"X","values":[{"value":89161234567}]},{"field_code":"PHONE","values":null}]}]}}`)
	f.Add(204, ``)
	f.Add(400, `{"validation-errors":[{"request_id":"0","errors":[{"code":"X","path":"p","detail":"d"}]}],"title":"Bad Request","detail":"Request validation failed"}`)
	f.Add(403, `<html>403 Forbidden</html>`)
	f.Add(401, `{"hint":"Token has been revoked","title":"x","status":401}`)
	var mu sync.Mutex
	var status int
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		st, b := status, body
		mu.Unlock()
		w.WriteHeader(st)
		_, _ = w.Write([]byte(b))
	}))
	f.Cleanup(srv.Close)
	// One Client for every input: a Client per input keeps a transport and
	// its connections each, and the fuzz worker runs out of memory.
	c, err := amocrm.NewClient(amocrm.Credentials{Domain: "example.amocrm.ru", LongLivedToken: "t"},
		callbridge.WithBaseURL(srv.URL), noRetries(), noRateLimit())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, st int, b string) {
		if st < 200 || st > 599 {
			st = 200 + (st%400+400)%400
		}
		mu.Lock()
		status, body = st, b
		mu.Unlock()
		amocrm.ResetBlock(c) // a block page must not silence the next inputs
		got, err := c.FindContactsByPhone(t.Context(), "+79161234567", "")
		for _, ct := range got {
			if !ct.HasPhone("79161234567") {
				t.Fatalf("contact %d without the phone returned", ct.ID)
			}
		}
		if err != nil {
			_ = amocrm.ValidationErrors(err)
			_ = err.Error()
		}
	})
}

// FuzzCompaniesAnswer feeds arbitrary answers to the Store's company
// search (no contact has the number): decoding and PHONE verification
// never panic, a company found by phone always has it, and a failed
// search is an error, never "not found".
func FuzzCompaniesAnswer(f *testing.F) {
	f.Add(200, `{"_embedded":{"companies":[{"id":1,"name":"ООО","custom_fields_values":[{"field_code":"PHONE","values":[{"value":"8 (916) 123-45-67"}]}]}]}}`)
	f.Add(200, `{"_embedded":{"companies":[{"id":2,"is_deleted":true,"custom_fields_values":[{"field_code":"PHONE","values":[{"value":"+79161234567"}]}]}]}}`)
	f.Add(200, `{"_embedded":{"companies":[{"id":3,"custom_fields_values":[{"field_code":"WEB","values":[{"value":"+7 916 123 45 67"}]}]}]}}`)
	f.Add(204, ``)
	f.Add(500, `{"title":"Internal Server Error","status":500}`)
	var mu sync.Mutex
	var status int
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v4/contacts" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		mu.Lock()
		st, b := status, body
		mu.Unlock()
		w.WriteHeader(st)
		_, _ = w.Write([]byte(b))
	}))
	f.Cleanup(srv.Close)
	c, err := amocrm.NewClient(amocrm.Credentials{Domain: "example.amocrm.ru", LongLivedToken: "t"},
		callbridge.WithBaseURL(srv.URL), noRetries(), noRateLimit())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, st int, b string) {
		if st < 200 || st > 599 {
			st = 200 + (st%400+400)%400
		}
		mu.Lock()
		status, body = st, b
		mu.Unlock()
		amocrm.ResetBlock(c)
		store, err := amocrm.NewStore(c) // a new cache per input
		if err != nil {
			t.Fatal(err)
		}
		cl, found, err := store.FindClientByPhone(t.Context(), "a", "79161234567")
		switch {
		case err != nil && found:
			t.Fatalf("found %+v and an error %v", cl, err)
		case st >= 300 && err == nil:
			t.Fatalf("status %d: no error", st)
		case found:
			var answer struct {
				Embedded struct {
					Companies []amocrm.Company `json:"companies"`
				} `json:"_embedded"`
			}
			_ = json.Unmarshal([]byte(b), &answer)
			_, id, _ := amocrm.ParseClientID(cl.ID)
			i := slices.IndexFunc(answer.Embedded.Companies, func(co amocrm.Company) bool { return co.ID == id })
			if !strings.HasPrefix(cl.ID, amocrm.CompanyIDPrefix) || i < 0 || !answer.Embedded.Companies[i].HasPhone("79161234567") {
				t.Fatalf("found %+v, not a company with the phone", cl)
			}
		}
	})
}
