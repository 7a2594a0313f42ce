package amocrmtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callbridge/callbridge/amocrm/amocrmtest"
)

func get(t *testing.T, srv *amocrmtest.Server, method, path, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestFail(t *testing.T) {
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	tok := srv.LongLivedToken()
	srv.Fail(amocrmtest.Failure{Method: http.MethodPost, Path: "/api/v4/calls", Status: http.StatusTooManyRequests,
		RetryAfter: "3", Times: 2})

	// Another method or path is not selected.
	if resp := get(t, srv, http.MethodGet, "/api/v4/users", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET users: %d", resp.StatusCode)
	}
	for i := range 2 {
		resp := get(t, srv, http.MethodPost, "/api/v4/calls", tok)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" ||
			!strings.Contains(string(body), "429 Too Many Requests") {
			t.Fatalf("POST calls #%d: %d %q %s", i, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if resp := get(t, srv, http.MethodPost, "/api/v4/calls", tok); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("after Times: %d, want the fake's own 400", resp.StatusCode)
	}

	srv.Fail(amocrmtest.Failure{Status: http.StatusBadGateway, Body: `{"x":1}`})
	resp := get(t, srv, http.MethodGet, "/api/v4/users", tok)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || string(body) != `{"x":1}` || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("any request: %d %s %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}

	reqs := srv.Requests()
	if len(reqs) != 5 || reqs[1].Method != http.MethodPost || reqs[1].Path != "/api/v4/calls" ||
		reqs[1].Header.Get("Authorization") != "Bearer "+tok || string(reqs[1].Body) != "[]" {
		t.Fatalf("Requests: %+v", reqs)
	}
}

func TestCloseCutsDelayShort(t *testing.T) {
	srv := amocrmtest.NewServer()
	srv.Fail(amocrmtest.Failure{Delay: time.Hour})
	errc := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL + "/api/v4/users")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for len(srv.Requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	srv.Close()
	srv.Close() // idempotent
	<-errc
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

// send makes an API request with a JSON body ("" for none) and returns
// the status and the decoded answer (nil when empty).
func send(t *testing.T, srv *amocrmtest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.LongLivedToken())
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

// Companies behave like contacts: search (204 when nothing matches),
// create, get (204 for an unknown id), update, custom fields, leads
// linked to them, calls placed on them (a contact with the phone first)
// and notes on them.
func TestCompanies(t *testing.T) {
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetRateLimit(math.Inf(1), 1)
	check := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: status %d, want %d", what, got, want)
		}
	}

	st, _ := send(t, srv, "GET", "/api/v4/companies?query=9163333333", "")
	check("search, nothing", st, http.StatusNoContent)
	st, _ = send(t, srv, "POST", "/api/v4/companies", `[{"name":"X","responsible_user_id":1}]`)
	check("an unknown responsible", st, http.StatusBadRequest)
	st, out := send(t, srv, "POST", "/api/v4/companies",
		`[{"name":"ООО Ромашка","custom_fields_values":[{"field_code":"PHONE","values":[{"value":"+79163333333","enum_code":"WORK"}]}]}]`)
	check("create", st, http.StatusOK)
	id := int64(out["_embedded"].(map[string]any)["companies"].([]any)[0].(map[string]any)["id"].(float64))
	if cs := srv.Companies(); len(cs) != 1 || cs[0].ID != id || cs[0].Phones[0] != "+79163333333" || len(srv.Contacts()) != 0 {
		t.Fatalf("companies %+v, contacts %+v", cs, srv.Contacts())
	}

	st, _ = send(t, srv, "POST", "/api/v4/leads", `[{"name":"L","_embedded":{"companies":[{"id":999999}]}}]`)
	check("a lead linked to an unknown company", st, http.StatusBadRequest)
	st, _ = send(t, srv, "POST", "/api/v4/leads", fmt.Sprintf(`[{"name":"L","_embedded":{"companies":[{"id":%d}]}}]`, id))
	check("a lead linked to the company", st, http.StatusOK)
	lead := srv.Leads()[0]
	if len(lead.CompanyIDs) != 1 || lead.CompanyIDs[0] != id || len(lead.ContactIDs) != 0 {
		t.Fatalf("lead %+v", lead)
	}

	st, out = send(t, srv, "GET", fmt.Sprintf("/api/v4/companies/%d?with=leads", id), "")
	check("get", st, http.StatusOK)
	emb := out["_embedded"].(map[string]any)
	phone := out["custom_fields_values"].([]any)[0].(map[string]any)
	if out["name"] != "ООО Ромашка" || len(emb["leads"].([]any)) != 1 || phone["field_id"] != float64(1698062) || phone["field_code"] != "PHONE" {
		t.Fatalf("get: %v", out)
	}
	if _, ok := out["first_name"]; ok {
		t.Fatalf("a company has no first_name: %v", out)
	}
	st, _ = send(t, srv, "GET", "/api/v4/companies/999999", "")
	check("get an unknown id", st, http.StatusNoContent)
	st, out = send(t, srv, "GET", "/api/v4/leads?filter[id][]="+fmt.Sprint(lead.ID), "")
	check("list the lead", st, http.StatusOK)
	if cos := out["_embedded"].(map[string]any)["leads"].([]any)[0].(map[string]any)["_embedded"].(map[string]any)["companies"].([]any); len(cos) != 1 {
		t.Fatalf("the lead's companies: %v", cos)
	}

	st, _ = send(t, srv, "PATCH", "/api/v4/companies", `[{"id":999999,"name":"Y"}]`)
	check("update an unknown id", st, http.StatusBadRequest)
	st, _ = send(t, srv, "PATCH", "/api/v4/companies", fmt.Sprintf(`[{"id":%d,"custom_fields_values":[{"field_code":"WEB","values":[{"value":"https://r.example"}]}]}]`, id))
	check("update", st, http.StatusOK)
	if f := srv.Companies()[0].Fields; f["Web"] != "https://r.example" {
		t.Fatalf("fields %v", f)
	}
	st, out = send(t, srv, "GET", "/api/v4/companies/custom_fields?limit=2&page=2", "")
	check("custom fields, page 2", st, http.StatusOK)
	if fs := out["_embedded"].(map[string]any)["custom_fields"].([]any); len(fs) != 2 || fs[0].(map[string]any)["entity_type"] != "companies" {
		t.Fatalf("custom fields: %v", fs)
	}
	st, _ = send(t, srv, "GET", "/api/v4/companies/custom_fields?limit=2&page=3", "")
	check("custom fields past the last page", st, http.StatusNoContent)

	// The lead is closed, so the call goes on the company itself.
	st, _ = send(t, srv, "PATCH", fmt.Sprintf("/api/v4/leads/%d", lead.ID), `{"status_id":143}`)
	check("close the lead", st, http.StatusOK)
	call := `[{"direction":"inbound","phone":"+79163333333","source":"s","duration":1}]`
	st, _ = send(t, srv, "POST", "/api/v4/calls", call)
	check("a call from the company's number", st, http.StatusOK)
	srv.AddContact(amocrmtest.Contact{Name: "Секретарь", Phones: []string{"8 916 333 33 33"}})
	st, _ = send(t, srv, "POST", "/api/v4/calls", call)
	check("a call from a number a contact has too", st, http.StatusOK)
	st, _ = send(t, srv, "POST", "/api/v4/companies/notes", `[{"entity_id":999999,"note_type":"common","params":{"text":"x"}}]`)
	check("a note on an unknown company", st, http.StatusBadRequest)
	st, _ = send(t, srv, "POST", "/api/v4/companies/notes", fmt.Sprintf(`[{"entity_id":%d,"note_type":"common","params":{"text":"x"}}]`, id))
	check("a note on the company", st, http.StatusOK)
	calls := srv.Calls()
	if len(calls) != 2 || calls[0].Entity != "companies" || calls[0].EntityID != id || calls[1].Entity != "contacts" {
		t.Fatalf("calls %+v", calls)
	}
	if n := srv.TextNotes(); len(n) != 1 || n[0].Entity != "companies" || n[0].EntityID != id {
		t.Fatalf("notes %+v", n)
	}

	st, out = send(t, srv, "GET", "/api/v4/companies?query=9163333333&with=leads", "")
	check("search", st, http.StatusOK)
	if cs := out["_embedded"].(map[string]any)["companies"].([]any); len(cs) != 1 {
		t.Fatalf("search: %v", cs)
	}
}

// tokenRequest posts a token request with the fake's client and returns
// the status and the decoded body.
func tokenRequest(t *testing.T, srv *amocrmtest.Server, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("client_id", amocrmtest.ClientID)
	form.Set("client_secret", amocrmtest.ClientSecret)
	form.Set("redirect_uri", amocrmtest.RedirectURI)
	resp, err := srv.Client().PostForm(srv.URL+"/oauth2/access_token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// Revoke kills every access and refresh token, as amoCRM does when the
// integration is removed: the API answers 401, a refresh 401 "Token has
// been revoked"; a new authorization works again.
func TestRevoke(t *testing.T) {
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	code, tok := tokenRequest(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {srv.AuthorizationCode()}})
	if code != http.StatusOK {
		t.Fatalf("exchange: %d %v", code, tok)
	}
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	if resp := get(t, srv, http.MethodGet, "/api/v4/users", access); resp.StatusCode != http.StatusOK {
		t.Fatalf("before Revoke: %d", resp.StatusCode)
	}
	srv.Revoke()
	if resp := get(t, srv, http.MethodGet, "/api/v4/users", access); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("access token after Revoke: %d, want 401", resp.StatusCode)
	}
	code, body := tokenRequest(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if code != http.StatusUnauthorized || body["hint"] != "Token has been revoked" {
		t.Fatalf("refresh after Revoke: %d %v, want 401 Token has been revoked", code, body)
	}
	code, tok = tokenRequest(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {srv.AuthorizationCode()}})
	if code != http.StatusOK {
		t.Fatalf("a new authorization: %d %v", code, tok)
	}
	if resp := get(t, srv, http.MethodGet, "/api/v4/users", tok["access_token"].(string)); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the new authorization: %d", resp.StatusCode)
	}
}
