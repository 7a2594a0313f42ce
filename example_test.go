package callbridge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/megafon"
)

// Every provider client returns the same *callbridge.APIError for an error
// answer; Provider says which API gave it.
func ExampleAPIError() {
	pbx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"user not found"}`)
	}))
	defer pbx.Close()

	client, err := megafon.NewClient(megafon.Credentials{Domain: "vats1.megapbx.ru", APIKey: "key"},
		callbridge.WithBaseURL(pbx.URL))
	if err != nil {
		panic(err)
	}
	_, err = client.Call(context.Background(), callevent.CallRequest{From: "andy", To: "79161234567"})

	var apiErr *callbridge.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Provider, apiErr.StatusCode, apiErr.Message)
	}
	// Output: megafon 404 user not found
}
