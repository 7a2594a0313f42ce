// Package phonettest helps test code that uses package phonet without
// Phonet.
//
// Server is a fake of Phonet's REST API on httptest: authorization with
// JSESSIONID sessions that can expire, click-to-call, hang-up, active
// calls, the three history endpoints with paging, users and recordings. It
// records every request (Requests, Count) and injects failures (Fail: 429,
// 5xx, delays). NewServer ties a Server to a test; Server.NewClient returns
// a phonet.Client for it with instant retries.
//
// Call and Body build the webhook requests Phonet sends about a call —
// call.dial, call.bridge, call.hangup, the customer lookup and the full call
// info (after_call_end) — as JSON or form-encoded, with the quirks of real
// deliveries (timestamps in seconds, null legs) one method away. The sample
// calls (InboundCall, OutboundCall, InternalCall) carry current times, so a
// handler with its default clock and time window accepts them; Call.At
// moves a call to a fixed moment for tests that compare exact times.
package phonettest
