package httpx

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
)

// Recording is the answer to a provider's recording download: resp's body
// as a callevent.Recording (the caller closes it), or err, which also
// matches callevent.ErrNoRecording when the provider answered 404.
func Recording(resp *http.Response, err error) (callevent.Recording, error) {
	if err != nil {
		return callevent.Recording{}, NoRecording(err)
	}
	return callevent.Recording{ContentType: resp.Header.Get("Content-Type"), Size: resp.ContentLength, Body: resp.Body}, nil
}

// NoRecording makes err, when it is a provider's 404 (no such call or
// record), match callevent.ErrNoRecording as well.
func NoRecording(err error) error {
	var apiErr *callbridge.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %w", callevent.ErrNoRecording, err)
	}
	return err
}
