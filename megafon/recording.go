package megafon

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/text"
)

var _ callevent.RecordingFetcher = (*Client)(nil)

// FetchRecording downloads the recording of a call
// (callevent.RecordingFetcher) from req.URL, the link of the call's
// history push (Event.RecordingURL) or History record, with the API key in
// X-API-KEY. The PBX's API finds no recording by call, so a request
// without URL is callevent.ErrNoRecording, without a request. The key
// goes to the PBX only: a link elsewhere than https://<Domain>/ or the
// base URL of callbridge.WithBaseURL is refused without a request. The
// PBX keeps recordings about a week and a link may not work yet right
// after the call: its 404 is callevent.ErrNoRecording.
func (c *Client) FetchRecording(ctx context.Context, req callevent.RecordingRequest) (callevent.Recording, error) {
	if strings.TrimSpace(req.URL) == "" {
		return callevent.Recording{}, fmt.Errorf("megafon: call %s has no recording link: %w", text.Clip(req.CallID, 64), callevent.ErrNoRecording)
	}
	u, err := url.Parse(req.URL)
	if err != nil || !c.onPBX(u) {
		return callevent.Recording{}, fmt.Errorf("megafon: recording link %q is not on the PBX %s: refused", text.Clip(req.URL, 120), c.domain)
	}
	rec, err := httpx.Recording(c.http.Do(ctx, &httpx.Request{Path: u.String(), Header: http.Header{"X-Api-Key": {c.key}}, Operation: "Recording"}))
	if err != nil {
		return rec, fmt.Errorf("megafon: recording: %w", err)
	}
	return rec, nil
}

// onPBX reports whether u is on the PBX: https on its domain, or the
// scheme and host of the client's base URL.
func (c *Client) onPBX(u *url.URL) bool {
	if u.User != nil || u.Host == "" {
		return false
	}
	if u.Scheme == "https" && strings.EqualFold(u.Host, c.domain) {
		return true
	}
	base := c.http.BaseURL()
	return u.Scheme == base.Scheme && strings.EqualFold(u.Host, base.Host)
}
