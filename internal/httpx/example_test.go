package httpx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/callbridge/callbridge/internal/httpx"
	"golang.org/x/time/rate"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"id":"101","name":"Reception"}`)
	}))
	defer srv.Close()

	// One credential cache per tenant, shared by all goroutines.
	n := 0
	tokens := httpx.NewCredentialCache(func(ctx context.Context, prev string) (string, time.Time, error) {
		n++ // a real fetch calls the provider's token endpoint
		return fmt.Sprintf("tok-%d", n), time.Now().Add(time.Hour), nil
	})
	c, err := httpx.New(httpx.Config{
		BaseURL: srv.URL + "/api/ver1.0",
		Limiter: rate.NewLimiter(10, 5),
		Auth: &httpx.CacheAuth[string]{
			Cache: tokens,
			Apply: func(req *http.Request, tok string) { req.Header.Set("Authorization", "Bearer "+tok) },
		},
	})
	if err != nil {
		panic(err)
	}
	var user struct{ ID, Name string }
	if _, err := c.JSON(context.Background(), &httpx.Request{Path: "user/"}, &user); err != nil {
		var apiErr *httpx.APIError
		if errors.As(err, &apiErr) {
			fmt.Println("status", apiErr.StatusCode)
		}
		return
	}
	fmt.Println(user.ID, user.Name)
	// Output: 101 Reception
}

func ExampleRateLimitError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7200")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c, _ := httpx.New(httpx.Config{BaseURL: srv.URL})

	_, err := c.Do(context.Background(), &httpx.Request{Path: "history"})
	var rl *httpx.RateLimitError
	if errors.As(err, &rl) {
		// A quota reset two hours away is returned at once, not slept on.
		fmt.Println("retry after", rl.RetryAfter)
	}
	// Output: retry after 2h0m0s
}
