// Package dialer is a provider-neutral power dialer: it works campaigns
// (lists of numbers to call) over any callevent.Caller, and over a
// telephony system that dials by itself (RemoteDialer, the Finaz
// contract's dialer) with the same campaign API.
//
//	d, err := dialer.New(ctx, dialer.Config{
//		Store:     db, // a sqlstore.DB, or dialer.NewMemStore()
//		Callers:   map[string]callevent.Caller{telphin.Provider: telphinClient},
//		Employees: employees, // employee id → the extension the provider rings
//		OnCall:    func(ctx context.Context, s dialer.CallStart) { openCard(s.Employee, s.Target) },
//	})
//	c, err := d.Create(ctx, dialer.Campaign{Provider: telphin.Provider, Mode: dialer.Power,
//		Agents: []string{"anna"}, WrapUp: callevent.Seconds(30 * time.Second),
//		Hours: dialer.CallingHours{From: 9 * 60, To: 21 * 60}}, targets)
//	err = d.Start(ctx, c.ID)
//	agent, err := d.Ready(ctx, c.ID, "anna") // the first call goes out
//	// …and the provider's webhook handler delivers its events to d (a callevent.Sink).
//
// # Campaigns
//
// A Campaign is a list of Targets (a phone, the CRM entity and id it
// belongs to, a name and custom fields) worked by one or more agents
// (employees). ImportCSV reads a list from a CSV file, keeping the good
// rows and reporting every bad one with its line number. Create stores
// the campaign as a Draft; Start, Pause, Resume and Stop move it. Start
// refuses a campaign whose provider cannot place calls (ErrNoCaller) or
// whose agents Config.Employees does not know (ErrUnknownEmployee).
//
// Modes: Preview (the agent sees the next target and confirms each call
// with Ready, or Skip), Power (the next call is placed by itself once the
// agent's previous call ended and the campaign's WrapUp time passed; the
// first at once; Ready cuts the wrap-up short) and Remote (see
// RemoteDialer).
//
// # Agents
//
// Each agent moves through
//
//	away → ready → (preview →) dialing → in_call → wrap_up → dialing → …
//
// Ready joins (and resumes, and confirms a preview, and ends a wrap-up);
// PauseAgent sets the agent away, after the call in progress; Skip skips
// the target offered (in a power campaign, the one reserved for the next
// call during the wrap-up); Dispose records the agent's disposition of the
// call. An employee takes calls of one campaign at a time
// (ErrAgentBusy). Three call requests in a row refused by the provider
// set the agent away, with the error in Agent.LastError.
//
// # Outcomes and retries
//
// The outcome of a call comes from the provider's events (HandleEvent):
// its call id, or the client's number among the agents' calls in
// progress, ties an event to a call; Answered puts the agent in the call;
// Ended and Completed end it with the event's Status (see HandleEvent for
// the mapping to Answered, Busy, NoAnswer, Failed, Invalid). A hang-up
// without a status frees the agent at once and the attempt waits
// SettleWait for the event that brings its outcome (MegaFon's history
// push, Phonet's after_call_end), else the hang-up's stands. A call no
// event ends is ended by the campaign's RingTimeout (no answer) or MaxCall
// (answered). A failed call request is a Failed attempt. Then the
// campaign's RetryPolicy says whether and when the target is called
// again: a delay and a maximum number of attempts per outcome. A
// campaign that is over stays in memory for KeepFinished (the agents'
// last dispositions), then is read from the store.
//
// # Never the same number twice
//
// A campaign's targets have distinct numbers (Create refuses duplicates;
// ImportCSV reports them). A number answered or found invalid is worked:
// never called again by its campaign, nor, with Campaign.SkipWorked, by
// any other (Outcome Worked). A number on the do-not-call list
// (DoNotCall, the DispositionDoNotCall disposition, Store.AddDoNotCall)
// is never dialled by any campaign (Outcome DoNotCall); the lists are
// checked when a target is offered and again just before its call.
//
// # Calling hours
//
// Targets are called only inside the campaign's CallingHours, on the
// clock of each target's own time zone: Target.TimeZone, else the zone
// the number tells (ZoneOf: the country, Russian landline area codes,
// Brazilian DDDs), else the campaign's (Campaign.TimeZone, else the zone
// of Campaign.Country's capital). A window may span midnight
// ("20:00"–"02:00") and be limited to some weekdays. Zones come from the
// system's zone database; a program that may run where there is none
// (a scratch container) imports time/tzdata.
//
// # Progress, restarts and at-most-once calls
//
// Everything is kept by a Store (NewMemStore, or sqlstore.DB on SQLite or
// PostgreSQL; package storetest checks an implementation): the campaign,
// every target's progress, every attempt. An attempt is recorded durably
// (Store.BeginAttempt) before its call is requested from the provider,
// and the store refuses to record it twice (ErrAttemptExists): a call is
// placed at most once per attempt, even when the process stops between
// the two. New resumes the campaigns that were running or paused from
// the store; an attempt found recorded but not finished ends as Unknown
// (the call may or may not have gone out) and is not called again unless
// RetryPolicy.Unknown says so. Agents join again with Ready.
//
// # Call-started hook
//
// Config.OnCall is called once a call is placed (for a Remote campaign:
// when the remote dialer reports that an operator answered), with the
// Target read from the store, so a CRM opens the lead's card on the
// agent's screen.
//
// # Performance
//
// Go 1.26, 2 cores (AMD EPYC): a campaign keeps 32 bytes per target in
// memory (its number, next time, state and zone) and a heap of 4 bytes
// per pending target, ordered by the time each may next be called, so the
// next target is found in O(log n); the texts stay in the store (the
// MemStore packs them, about 55 bytes per target more):
//
//	BenchmarkMemory (1M targets)   36 B/target in the Dialer, 55 B/target in the MemStore, loaded in 0.12 s
//	BenchmarkCall/targets=10000    7.1 µs/call   (schedule, record, place, apply the outcome; 24 allocs)
//	BenchmarkCall/targets=1000000  6.2 µs/call
//	BenchmarkHeap/targets=1000     0.12 µs       (the next target alone)
//	BenchmarkHeap/targets=1000000  1.9 µs        (O(log n) steps; the rest is cache misses)
//
// # Testing
//
// The tests run campaigns against the fakes of every provider (telphintest,
// megafontest, phonettest, finaztest) with their webhooks, and a fake
// clock (the Clock of match's shape: matchtest.Clock).
package dialer
