// Package finazdialer runs dialer campaigns on a telephony system of the
// Finaz integration contract: its own dialer dials a Remote campaign
// (clear, upload the mailing as CSV or per contact, read the results as
// CSV or JSON), and its Click2Call places the calls of preview and power
// campaigns.
//
//	client, err := finaz.NewClient(cfg, callbridge.WithBaseURL(pbxURL))
//	remote, err := finazdialer.New(client) // needs upload_contacts and dialer_results
//	d, err := dialer.New(ctx, dialer.Config{Store: store, Remotes: map[string]dialer.RemoteDialer{finaz.Provider: remote}})
//
// The contact id uploaded is "<campaign>:<target number>"; the
// telephony system reports it back in its results and as pid in its
// "answered" notification (give the Dialer the finaz handler's events, and
// the call-started hook opens the target's card).
package finazdialer

import (
	"context"
	"fmt"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/finaz"
)

// Remote is a finaz.Client as a dialer.RemoteDialer.
type Remote struct{ c *finaz.Client }

var _ dialer.RemoteDialer = Remote{}

// New returns the remote dialer of c. c needs the upload_contacts and
// dialer_results operations (clear_dialer too for Load to clear first,
// and for a campaign to be paused or stopped); without them it is an
// error wrapping callevent.ErrUnsupported.
func New(c *finaz.Client) (Remote, error) {
	if c == nil {
		return Remote{}, fmt.Errorf("finazdialer: nil client: %w", dialer.ErrNoCaller)
	}
	for _, op := range []finaz.Operation{finaz.OpUploadContacts, finaz.OpDialerResults} {
		if !c.Configured(op) {
			return Remote{}, fmt.Errorf("finazdialer: the finaz configuration has no %s request: %w", op, callevent.ErrUnsupported)
		}
	}
	return Remote{c}, nil
}

// Caller returns c for preview and power campaigns: an error wrapping
// dialer.ErrNoCaller when it has no click2call request.
func Caller(c *finaz.Client) (callevent.Caller, error) {
	if c == nil || !c.Configured(finaz.OpClick2Call) {
		return nil, fmt.Errorf("finazdialer: the finaz configuration has no click2call request: %w", dialer.ErrNoCaller)
	}
	return c, nil
}

// Load is finaz's ReloadDialer: clear the queue (when clear_dialer is
// configured), then upload the contacts; failed has the contacts the
// upload report lists.
func (r Remote) Load(ctx context.Context, queue string, contacts []dialer.RemoteContact) (map[int]error, error) {
	fc := make([]finaz.Contact, len(contacts))
	for i, ct := range contacts {
		fc[i] = finaz.Contact{ID: ct.ID, Name: ct.Name, Phones: []string{ct.Phone}}
	}
	rep, err := r.c.ReloadDialer(ctx, queue, fc)
	var failed map[int]error
	if rep != nil && len(rep.Failed) > 0 {
		failed = make(map[int]error, len(rep.Failed))
		for _, f := range rep.Failed {
			failed[f.Index] = f.Err
		}
	}
	return failed, err
}

// Clear is finaz's ClearDialer.
func (r Remote) Clear(ctx context.Context, queue string) error { return r.c.ClearDialer(ctx, queue) }

// Results is finaz's DialerResults, each disposition mapped to an
// outcome: answered Answered, busy Busy, voicemail and no answer
// NoAnswer, invalid number Invalid; dropped (answered with no operator
// free), failed and unknown statuses Failed.
func (r Remote) Results(ctx context.Context, queue string) ([]dialer.RemoteResult, error) {
	rs, err := r.c.DialerResults(ctx, queue)
	out := make([]dialer.RemoteResult, 0, len(rs))
	for _, x := range rs {
		out = append(out, dialer.RemoteResult{ContactID: x.ContactID, Phone: x.Phone, At: x.At, Outcome: outcome(x.Disposition), Status: x.Status})
	}
	return out, err
}

func outcome(d finaz.Disposition) dialer.Outcome {
	switch d {
	case finaz.DispositionAnswered:
		return dialer.Answered
	case finaz.DispositionBusy:
		return dialer.Busy
	case finaz.DispositionVoicemail, finaz.DispositionNoAnswer:
		return dialer.NoAnswer
	case finaz.DispositionInvalidNumber:
		return dialer.Invalid
	}
	return dialer.Failed
}
