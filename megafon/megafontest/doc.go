// Package megafontest helps test code that uses package megafon without a
// real PBX.
//
// Server is a fake virtual PBX on 127.0.0.1 speaking both API generations
// over one data set: crmapi v1 (X-API-KEY header, JSON, {"message":…}
// errors, paginated users, bare-array history) and the legacy
// /sys/crm_api.wcgp (cmd + token form, {"error":…} errors, CSV history
// with +03:00 offsets, "OK" text answers). Start one, close it when done
// and point a client at it with callbridge.WithBaseURL(srv.URL) and
// megafontest.APIKey:
//
//	srv := megafontest.NewServer()
//	defer srv.Close() // in a test: t.Cleanup(srv.Close)
//	c, err := megafon.NewClient(
//		megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
//		callbridge.WithBaseURL(srv.URL),
//	)
//
// It records every request (Requests), injects failures (Fail: any
// status, a custom body, Retry-After, a delay, selected by method, path
// prefix and operation) and can revoke the key (SetAPIKey), so retries,
// rate limits and authentication failures can be tested:
//
//	srv.Fail(megafontest.Failure{Op: megafontest.OpMakeCall, Status: http.StatusTooManyRequests, RetryAfter: "7"})
//
// The legacy API multiplexes its operations on one path, so Failure.Op
// (OpMakeCall, OpHistory, …) selects an operation in either generation.
// The Server is deterministic: seeded with the documentation's samples,
// call ids numbered CALL000001, CALL000002, …
//
// SetRecording stores a recording and returns its link on the fake, to
// put in a history push (Outcome.Link) or a Record; a GET of the link
// with the API key answers the audio, a name not stored (or removed with
// DeleteRecording) 404, and Failure{Op: OpRecording} makes it fail.
//
// The webhook builders (Event, Transferred, History, Contact, Rating)
// return the fields the PBX posts, quirks included: lower-case statuses,
// user=pbx with a group id, a history without start (Outcome.NoStart),
// TRANSFERRED with second_callid. Times are current by default (a history
// without Outcome.Start started Duration seconds ago; event, contact and
// rating carry no time), so a handler's time window accepts them.
// NewRequest and NewJSONRequest wrap them in a server-side *http.Request
// carrying crm_token, ready for handler.ServeHTTP:
//
//	fields := megafontest.Event("INCOMING", megafontest.Call{ID: "c1", Direction: "in", Phone: "79161234567", User: "andy", Ext: "701"})
//	w := httptest.NewRecorder()
//	h.ServeHTTP(w, megafontest.NewRequest("/megafon", token, fields))
//
// The package links neither testing nor net/http/httptest, so a program
// (a demo) may run the fake.
package megafontest
