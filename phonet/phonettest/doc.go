// Package phonettest helps test code that uses package phonet without
// Phonet.
//
// Server is a fake of Phonet's REST API on 127.0.0.1: authorization with
// JSESSIONID sessions that can expire, click-to-call, hang-up, active
// calls, the three history endpoints with paging, users and recordings. It
// records every request (Requests, Count) and injects failures (Fail: 429,
// 5xx, custom bodies, delays). NewServer starts it and the caller closes
// it; Server.NewClient returns a phonet.Client for it with instant retries:
//
//	srv := phonettest.NewServer()
//	defer srv.Close() // in a test: t.Cleanup(srv.Close)
//	client, err := phonet.NewClient(srv.Credentials(), callbridge.WithBaseURL(srv.URL))
//	// or: client, err := srv.NewClient()
//	srv.Fail(phonettest.Failure{Path: "/rest/users", Status: 503, Times: 2})
//
// Call and Body build the webhook requests Phonet sends about a call —
// call.dial, call.bridge, call.hangup, the customer lookup and the full call
// info (after_call_end) — as JSON or form-encoded, with the quirks of real
// deliveries (timestamps in seconds, null legs) one method away. The sample
// calls (InboundCall, OutboundCall, InternalCall) carry current times, so a
// handler with its default clock and time window accepts them; Call.At
// moves a call to a fixed moment for tests that compare exact times.
//
// The package imports neither testing nor net/http/httptest: a program
// may run the fake (a demo) without linking test code.
package phonettest
