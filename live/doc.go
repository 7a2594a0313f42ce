// Package live shows each employee their calls as they happen: the state
// of every call they are on and of each leg (ringing, talking, on hold,
// transferred, ended), the client card (client, company, open leads with
// links, last calls), notifications and status changes, streamed to their
// browser as Server-Sent Events.
//
// A [Hub] takes the outputs of a match.Engine — it is the one place that
// knows a call's state; the hub only shows it — the CRM's statuses and a
// dialer's lists (Hub.CampaignChanged: the target called, the wrap-up):
//
//	hub, _ := live.NewHub(live.WithDirectory(store))
//	engine, _ := match.NewEngine(store,
//		match.WithOnLiveCall(hub.CallChanged), // call and leg states
//		match.WithPopUps(hub),                 // cards
//		match.WithOnDecision(hub.Decided),     // the end of each call
//		match.WithNotifier(hub.Notifier(store)))
//	mux.Handle("GET /events", hub.Handler(auth))
//
// An update goes to the employees of the call's legs (their extension or
// login found with WithDirectory), to the employees who got the call's
// card, or to the employee notified; a stream of every employee (Auth's
// all) gets them all. A call put on hold is the engine's to know too
// (match.Engine.Hold: no provider reports a hold).
//
// # Streams
//
// Each update is one SSE event: its name is the update's type (call,
// card, notification, status, campaign, sync, reset), its data the [Update] as
// JSON, its id "<run>-<n>", n counting the hub's updates. The hub keeps
// the newest updates, of every employee and of each (WithHistory), so a
// browser that reconnects with Last-Event-ID (EventSource does it by
// itself) gets exactly the updates it missed, in order. When it cannot —
// the id is older than what is kept, or of another run of the server —
// the stream begins with a reset event: the client reloads what it shows
// and takes the reset's calls as the calls in progress; it never misses
// an update silently. A stream that does not resume begins with a sync
// event, the calls in progress the employee is on.
//
// Publishing never waits for a browser. Each stream has a buffer
// (WithBuffer); a stream that falls that far behind is cut, and its
// browser reconnects and resumes from the history, so one slow screen
// holds no other back. Publishing costs in proportion to the streams of
// the employees concerned and of all employees, not of every stream.
//
// Authentication is the embedding CRM's: [Auth] reads the request and
// says whose stream it is.
//
// # Performance
//
// On the 2-core development VM, shared with other jobs (go test -run '^$'
// -bench . -benchtime 5000x ./live, three runs): a call update published
// to one of 200 employees with 1,000 streams open costs 7 µs (median; 11
// µs with 10 streams of every employee too) and 13 allocations, half of
// it encoding the JSON once (BenchmarkCallChanged); with 200 browsers
// connected over HTTP and 1,000 call updates a second, an update reaches
// its browser in p50 0.1 ms, p99 0.3–0.6 ms (BenchmarkLatency).
package live
