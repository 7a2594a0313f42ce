package callevent

import (
	"context"
	"errors"
	"io"
)

// ErrUnsupported is returned (possibly wrapped) by a provider client for a
// command its provider cannot perform. Test with errors.Is; it also
// matches the standard library's errors.ErrUnsupported.
var ErrUnsupported error = unsupported{}

type unsupported struct{}

func (unsupported) Error() string { return "callevent: operation not supported by this provider" }

// Is makes ErrUnsupported match errors.ErrUnsupported.
func (unsupported) Is(target error) bool { return target == errors.ErrUnsupported }

// CallRequest asks the provider to connect an employee with a client:
// the employee's phone rings first, then the client is dialled.
type CallRequest struct {
	// Account is the tenant, for clients that serve several.
	Account string
	// From is the employee: extension, login or full extension name.
	From string
	// To is the client's phone number.
	To string
	// CallerID is the company number to show the client, if the provider allows choosing.
	CallerID string
	// Queue is the queue the call is placed through, for a provider whose
	// operator calls go through one (Finaz: identificador_fila, by default
	// finaz.Config.DefaultQueue); the others return ErrUnsupported when it
	// is set.
	Queue string
}

// GroupCallRequest asks the provider to ring a group or queue and connect
// whoever answers with the client.
type GroupCallRequest struct {
	Account string
	// Group is the provider's group, queue or department identifier.
	Group string
	// To is the client's phone number.
	To       string
	CallerID string
}

// TransferRequest asks the provider to transfer an ongoing call.
type TransferRequest struct {
	Account string
	// CallID is the provider's identifier of the call to transfer.
	CallID string
	// From is the employee who currently holds the call.
	From string
	// To is the extension or phone number to transfer to.
	To string
	// Attended asks for a consultative transfer instead of a blind one.
	Attended bool
}

// CallRef identifies a call placed by a command.
type CallRef struct {
	CallID string
}

// Caller places employee-to-client calls.
type Caller interface {
	Call(ctx context.Context, req CallRequest) (CallRef, error)
}

// GroupCaller places group-to-client calls.
type GroupCaller interface {
	GroupCall(ctx context.Context, req GroupCallRequest) (CallRef, error)
}

// Transferer transfers ongoing calls.
type Transferer interface {
	Transfer(ctx context.Context, req TransferRequest) error
}

// CallControlRequest names a call in progress and the employee whose leg
// of it is controlled.
type CallControlRequest struct {
	Account string
	// CallID is the provider's identifier of the call.
	CallID string
	// From is the employee on the call: extension, login or full
	// extension name.
	From string
}

// Holder puts calls in progress on hold and takes them off it.
type Holder interface {
	Hold(ctx context.Context, req CallControlRequest) error
	Unhold(ctx context.Context, req CallControlRequest) error
}

// Hanger ends calls in progress.
type Hanger interface {
	Hangup(ctx context.Context, req CallControlRequest) error
}

// ErrNoRecording is returned (possibly wrapped) by a RecordingFetcher when
// the provider has no recording of the call: none was made, it is not
// stored yet, or it was deleted. Test with errors.Is.
var ErrNoRecording = errors.New("callevent: no recording of this call")

// RecordingRequest names a finished call whose recording is wanted.
type RecordingRequest struct {
	Account string
	// CallID is the provider's identifier of the call (Event.CallID).
	CallID string
	// URL is the recording link the provider gave for the call
	// (Event.RecordingURL), "" when none came. A provider whose API finds
	// a call's recording by the call does not need it; one whose API does
	// not (MegaFon) needs it.
	URL string
}

// Recording is a call recording being downloaded.
type Recording struct {
	// ContentType is the media type the provider gave ("audio/mpeg"), ""
	// when it gave none.
	ContentType string
	// Size is the length in bytes the provider announced, -1 when unknown.
	Size int64
	// Body streams the audio, nothing of it held in memory; the caller
	// closes it. Reading it stops when the context given to FetchRecording
	// is done.
	Body io.ReadCloser
}

// RecordingFetcher downloads the recordings of finished calls.
type RecordingFetcher interface {
	FetchRecording(ctx context.Context, req RecordingRequest) (Recording, error)
}
