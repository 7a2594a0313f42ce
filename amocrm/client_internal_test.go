package amocrm

import (
	"errors"
	"net/http"
	"runtime"
	"testing"

	"github.com/callbridge/callbridge"
	"github.com/stretchr/testify/require"
)

// A8: parsing an error answer keeps nothing in the Client: the validation
// errors travel inside the error value. 100,000 answers — validation
// errors read and returned, and 429 bodies parsed by httpx for a retry
// decision and then dropped — leave the heap where it was.
func TestErrorAnswersKeepNoState(t *testing.T) {
	c, err := NewClient(Credentials{Domain: "example.amocrm.ru", LongLivedToken: "x"})
	require.NoError(t, err)
	validation := []byte(`{"validation-errors":[{"request_id":"0","errors":[{"code":"NotSupportedChoice","path":"pipeline_id","detail":"The value you selected is not a valid choice."}]}],"title":"Bad Request","type":"https://httpstatus.es/400","status":400,"detail":"Request validation failed"}`)
	resp400 := &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/problem+json"}}}
	resp429 := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Content-Type": {"application/problem+json"}}}

	answer := func(i int) {
		if i%2 == 0 {
			// A retried attempt: httpx parses the body and drops the error.
			e := &callbridge.APIError{StatusCode: http.StatusTooManyRequests, Body: validation}
			c.parseError(resp429, validation, e)
			return
		}
		e := &callbridge.APIError{StatusCode: http.StatusBadRequest, Body: validation}
		c.parseError(resp400, validation, e)
		err := c.wrapError(e)
		if got := ValidationErrors(err); len(got) != 1 || got[0].Code != "NotSupportedChoice" {
			t.Fatalf("validation errors lost: %v", got)
		}
	}
	answer(1) // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 100_000 {
		answer(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d bytes after 100k error answers", grown)
	require.Less(t, grown, int64(2<<20), "the Client keeps something per error answer")
	runtime.KeepAlive(c)
}

// ValidationErrors reads the errors out of the error value itself, however
// it is wrapped, and returns a copy.
func TestValidationErrorsFromTheError(t *testing.T) {
	body := []byte(`{"validation-errors":[{"request_id":"3","errors":[{"code":"A","path":"p1","detail":"d1"},{"request_id":"4","code":"B","path":"p2","detail":"d2"}]}],"title":"Bad Request","status":400,"detail":"Request validation failed"}`)
	e := &callbridge.APIError{StatusCode: 400, Body: body}
	err := errors.Join(errors.New("other"), &callbridge.RateLimitError{APIError: *e})
	want := []ValidationError{{RequestID: "3", Code: "A", Path: "p1", Detail: "d1"}, {RequestID: "4", Code: "B", Path: "p2", Detail: "d2"}}
	require.Equal(t, want, ValidationErrors(err))
	require.Nil(t, ValidationErrors(errors.New("x")))
	require.Nil(t, ValidationErrors(&callbridge.APIError{StatusCode: 400, Body: []byte("<html>")}))
}
