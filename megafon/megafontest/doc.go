// Package megafontest helps test code that uses package megafon without a
// real PBX.
//
// Server is a fake virtual PBX on 127.0.0.1 speaking both API generations
// over one data set: crmapi v1 (X-API-KEY header, JSON, {"message":…}
// errors, paginated users, bare-array history) and the legacy
// /sys/crm_api.wcgp (cmd + token form, {"error":…} errors, CSV history
// with +03:00 offsets, "OK" text answers). Point a client at it with
// megafon.WithBaseURL(srv.URL) and megafontest.APIKey. It records every
// request (Requests), injects faults per operation (Inject: any status,
// a custom body, Retry-After, a delay) and can revoke the key
// (SetAPIKey), so retries, rate limits and authentication failures can be
// tested. It is deterministic: seeded with the documentation's samples,
// call ids numbered CALL000001, CALL000002, …
//
// The webhook builders (Event, Transferred, History, Contact, Rating)
// return the fields the PBX posts, quirks included: lower-case statuses,
// user=pbx with a group id, a history without start (Outcome.NoStart),
// TRANSFERRED with second_callid. Times are current by default (a history
// without Outcome.Start started Duration seconds ago; event, contact and
// rating carry no time), so a handler's time window accepts them. NewRequest and NewJSONRequest wrap them in a server-side
// *http.Request carrying crm_token, ready for handler.ServeHTTP:
//
//	fields := megafontest.Event("INCOMING", megafontest.Call{ID: "c1", Direction: "in", Phone: "79161234567", User: "andy", Ext: "701"})
//	w := httptest.NewRecorder()
//	h.ServeHTTP(w, megafontest.NewRequest("/megafon", token, fields))
package megafontest
