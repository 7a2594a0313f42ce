package webhook_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/webhook"
)

// A provider's handler is a Decoder plus the shared mechanics: here a toy
// provider posts a form with the call id and the caller's number, and the
// handler, mounted on a ServeMux, authenticates it by a token in the URL,
// validates and deduplicates the event and delivers it to a Sink.
func Example() {
	decode := webhook.DecoderFunc(func(r *http.Request, body []byte) (webhook.Result, error) {
		v, err := webhook.Values(r, body)
		if err != nil {
			return webhook.Result{}, err
		}
		id := v.Get("call_id")
		if id == "" {
			return webhook.Result{}, fmt.Errorf("%w: call_id is required", webhook.ErrBadRequest)
		}
		phone, _, err := webhook.Phone("from", v.Get("from"), "RU")
		if err != nil {
			return webhook.Result{}, err
		}
		return webhook.Result{Events: []callevent.Event{{
			ID:          webhook.EventID("toy", id, "ringing"),
			Provider:    "toy",
			Kind:        callevent.Ringing,
			Direction:   callevent.Inbound,
			CallID:      id,
			ClientPhone: phone,
			At:          time.Now().UTC(),
		}}}, nil
	})
	sink := callevent.SinkFunc(func(_ context.Context, e callevent.Event) error {
		fmt.Printf("%s call %s from %s\n", e.Kind, e.CallID, e.ClientPhone)
		return nil
	})
	secrets, err := webhook.NewSecrets("s3cr3t")
	if err != nil {
		log.Fatal(err)
	}
	h, err := webhook.New(sink, decode, webhook.WithAuthenticator(webhook.TokenAuth(secrets, webhook.QueryToken("token"))))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/toy", h)

	send := func(token string, form url.Values) {
		r := httptest.NewRequest(http.MethodPost, "/hooks/toy?token="+token, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(strings.TrimSpace(fmt.Sprint(w.Code, " ", w.Body.String())))
	}
	call := url.Values{"call_id": {"c-1"}, "from": {"8 (916) 123-45-67"}}
	send("s3cr3t", call)
	send("s3cr3t", call) // a redelivery: acknowledged, not delivered again
	send("wrong", call)
	send("s3cr3t", url.Values{"from": {"79161234567"}})
	// Output:
	// ringing call c-1 from 79161234567
	// 200
	// 200
	// 401 {"error":"webhook: unauthorized: invalid token"}
	// 400 {"error":"webhook: bad request: call_id is required"}
}
