// Package callevent is the shared vocabulary of callbridge: the one Event type
// every provider emits, the Sink that receives events, the ContactLookup that
// answers a provider's "who is calling?" question, and the provider-neutral
// command requests (CallRequest, GroupCallRequest, TransferRequest,
// CallControlRequest, RecordingRequest) with the Caller, GroupCaller,
// Transferer, Holder, Hanger and RecordingFetcher interfaces that provider
// clients implement.
//
// The package imports nothing else from callbridge, so application code can
// depend on it without pulling in any provider.
//
// # Events
//
// A provider webhook handler turns each notification into one or more Events.
// Kind says what happened (Ringing, Answered, Transferred, Ended, Completed,
// Rated), Direction and Status describe the call, and Raw keeps the original
// fields so nothing the provider sent is lost. Event.ID is stable for one
// notification: a redelivery of the same notification carries the same ID,
// which is what deduplication keys on.
//
// # Sinks
//
// A Sink receives events. SinkFunc adapts a function, Fanout delivers to
// several sinks and joins their errors.
package callevent
