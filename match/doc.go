// Package match turns provider call events into CRM facts: it resolves a
// phone number to a client and runs the call rules engine (auto-creating a
// client or lead, picking the responsible manager, handling missed calls,
// late binding), over pluggable stores.
//
// # Phone numbers
//
// Every phone comparison in this package goes through phone.Normalize
// (package callbridge/phone), which reduces any phone value a provider or a
// CRM sends ("8 (916) 123-45-67 доб. 12", "%2B380…", "(11) 91234-5678") to
// E.164 digits without the "+" ("79161234567"), so "8 916 …", "+7916…" and
// "7916…" are one client.
//
// # Stores
//
// The package owns small store interfaces, each of one to three methods
// taking a context and returning errors, so a CRM (package amocrm, or your
// own database) can plug in:
//
//   - [ClientStore]: find a client by its telephony number, find clients
//     by any field or variable holding the number, create a client;
//   - [LeadStore]: a client's leads (active = not won, lost or
//     unqualified), create a lead, reopen a lead;
//   - [CallLog]: record (or re-record) a call against a client and lead;
//   - [Directory]: employee by extension or login (several extensions may
//     map to one employee), all employees with their admin flag, who is
//     online;
//   - [Notifier]: tell an employee about a missed call.
//
// Optional interfaces, found by type assertion on the ClientStore (or set
// by an option), add features: [ClientGetter], [Dialog] and
// [ClientUpdater], [CallStats], [TaskStore] for call-back tasks,
// [Reassigner] to hand a client over after a transfer, [UniquePhones] to
// create a caller's client in one step, and [PopUpper] for the cards of
// live calls.
//
// Package [github.com/callbridge/callbridge/match/memstore] implements all
// of them in memory, the embedded default; package sqlstore in SQLite or
// PostgreSQL; package amocrm implements the five over amoCRM.
//
// # Resolving a phone to a client
//
// The engine finds the client of a call's phone in Salebot's matching
// order: 1) a client whose telephony number is the phone; 2) otherwise a
// client with any field or variable holding the phone, the first in the
// store's stable order winning (the [Decision] names the others); 3)
// otherwise, when the rule creates clients, a new client — in the
// account's messenger channel ([Rule.Messenger], e.g. WhatsApp) when it
// has one, else a telephony client. Concurrent calls from one unknown
// phone create exactly one client: their lookups share one flight
// (singleflight per account and phone) and the store is asked again
// inside it, or, when it is a [UniquePhones] (one client per phone, as
// sqlstore's unique index keeps), creates in the same step it finds.
// [Engine.LookupContact] matches the same way and never
// creates. Before all that, a call whose provider names the CRM's client
// (callevent.Event.ContactRef: the Finaz dialer's pid) goes to that
// client when the store has it ([ClientGetter]).
//
// # The engine
//
// [Engine] is a callevent.Sink: mount it behind any provider handler (or a
// callevent.Fanout). It assembles the events of each call — in any order,
// redelivered, over several legs — into one [CallRecord] and applies the
// rules at the decisive moment: a Completed event once no leg is still
// ringing or talking (for a provider that reports legs, [DefaultSettle]
// later, so a leg delivered late still counts: [WithSettle]), or a grace
// period ([DefaultGracePeriod]) after the last leg Ended when the provider
// sends no Completed. Internal calls are
// ignored ("local calls are not passed"), anonymous calls are logged
// without a client, and a Rated event sets the Rating of the call it
// rates (logged again if already decided; a rating of a call the engine
// does not hold is dropped). If a store fails, HandleEvent
// returns the error (a webhook answers 5xx and the provider redelivers);
// the redelivery continues where the engine stopped, so nothing is created
// twice. Finished calls are remembered for [DefaultRetention] to absorb
// late and duplicate events (a late event can add a recording or durations
// to the record, but does not re-run the rules), then forgotten; a call
// that never ends is acted on after [DefaultIdleTimeout].
// [WithTiming] and [WithLimits] change these times and bounds.
//
// While a call is live the engine acts in phases, as seed 002 does
// (each phase once per call, whatever the order and number of its
// events): when an inbound call rings, every employee it rings gets the
// caller's card ([PopUp], through a [PopUpper]: amoCRM's pop-up, a CRM's
// screen) with the client and its open leads; when an employee places an
// outbound call to an unknown number, the client is created then (if the
// rule creates clients on outbound calls) and the caller's card links to
// it; when an inbound call from an unknown number is answered, its client
// and lead are created then, with the answerer responsible, and the
// answerer's card shows them; when the rule creates no client, the card
// on answer offers to create one, and a client with the number created
// in any way before the late-binding window closes gets the call. The
// decision at the end does everything else once (call log, missed-call
// handling, notifications) and finds what the phases created; if the call
// was transferred after its answer, the client and lead created on answer
// go to the employee who talked last ([Reassigner]). A call heard of only
// once it is over, and events resumed after a restart (given to
// [Engine.Resume] more than a few seconds after they arrived; a durable
// inbox's prompt deliveries are live), have no live phases.
//
// [Engine.LiveCalls] is the view of the calls in progress: each leg
// ringing, talking, on hold ([Engine.Hold]: the program that holds a
// call tells the engine, as no provider reports it), transferred or
// ended; [WithOnLiveCall] hands each change of it to the program as it
// happens (package live shows it on the employees' screens).
//
// The engine is also a callevent.ContactLookup: [Engine.LookupContact]
// answers MegaFon's cmd=contact, Phonet's customer_data and Finaz's screen
// pop with the client's name, card URL ([WithCardURL]) and responsible
// employee's extension, login and e-mail.
//
// Time comes from a [Clock] ([WithClock]), so tests drive grace periods,
// late binding and delayed notifications without sleeping. [Engine.Close]
// decides every call whose decision only waits for time (settle wait,
// grace period, a provider's idle timeout such as Finaz's), stops every
// timer and waits for timer work in progress.
//
// The engine tracks at most [DefaultMaxCalls] undecided calls ([WithLimits]);
// decided calls do not count, and their memory is bounded too. When full,
// an event of a new call gets [ErrOverloaded], which package webhook
// answers with 503 and Retry-After so the provider redelivers; a
// webhook.Queue asks [Engine.Admit] before it accepts an event, so nothing
// is acknowledged and then dropped.
//
// # Rules
//
// [Rules] are per account ([RuleSet]: an account's rules or the default),
// with per-line overrides ([LineRule], the Telphin guide's "actions by
// number": one rule per company number, a number in at most one rule —
// checked when rules are loaded). A rule distinguishes four cases: inbound
// answered, inbound missed, outbound answered, outbound missed.
//
//   - Clients ([CreateRule]): create one for an unknown number on inbound
//     answered, inbound missed and outbound calls, each switchable, named
//     "Автоконтакт: Входящий", "Автоконтакт: Входящий-пропущенный" and
//     "Автоконтакт: Исходящий" unless templates say otherwise; a client
//     created for an inbound call is tagged with the company number that
//     was dialled.
//   - Leads ([LeadRules]): per case, create a lead ("Входящий +<phone>" /
//     "Исходящий +<phone>", with pipeline, status and source), for a new
//     client only or "even if the client exists"; never when the client
//     has an active lead — the call is attached to that lead instead.
//   - Reopen ([Rule.ReopenStatus]): an outbound call to a client with no
//     active lead whose newest lead is lost or unqualified moves that lead
//     to the configured status.
//   - Responsible: the employee who answered (inbound) or called
//     (outbound); for a known client's missed call the client's
//     responsible; for an unknown number's missed call the missed-calls
//     manager, or distribution ([MissedRule]): round robin, or "active"
//     (online employees first, round robin when none is online), over a
//     list of employees or everybody.
//   - Notifications ([NotifyRule]) on a missed inbound call: the
//     responsible, optionally the admins, optionally chosen employees for
//     unknown numbers, optionally extra employees after a delay.
//   - Call-back tasks ([TaskRule], through a [TaskStore]): a missed
//     inbound call becomes one task (one per call, however many agents a
//     group rang, also when the call is decided again) for the employee
//     the missed call belongs to, due the rule's deadline after the call
//     (an hour by default). Any answered call with the number, outbound
//     (the call back) or inbound (the client reached us), closes its open
//     tasks. [Engine.EscalateOverdue], run periodically, tells the admins
//     about overdue tasks, once per task and admin.
//   - Late binding: a call that could not be attached (unknown number,
//     creation switched off) waits [DefaultLateBindingWindow] (10 minutes,
//     as in the guide) and is attached to a client with that phone that
//     appears meanwhile: at once when another call creates it or
//     [Engine.ClientCreated] reports it, otherwise by one more look into
//     the store when the window closes (a client made by hand in the CRM).
//
// The zero [Rule] only logs calls against known clients; [DefaultRule] is
// the amoCRM guide's setup (create a client for every unknown number).
// [ParseRules] reads rules from JSON; a line rule there starts from its
// account's rule, so it lists only what it changes:
//
//	{"default": {
//	   "create": {"inbound_answered": true, "inbound_missed": true, "outbound": true},
//	   "leads":  {"inbound_missed": {"create": true, "status": "new", "source": "missed call"}},
//	   "notify": {"admins": true, "extra": ["u4"], "delay": "5m"},
//	   "task":   {"enabled": true, "deadline": "1h", "text": "Перезвонить клиенту +{phone}"},
//	   "lines":  [{"name": "Sales", "numbers": ["+7 495 123-45-67"],
//	               "missed": {"distribution": "active", "employees": ["u1", "u2"]}}]},
//	 "accounts": {"other-account": {"create": {"inbound_missed": true}}}}
//
// # Explaining decisions
//
// Every call ends in a [Decision]: the record as logged and the list of
// [Action]s with their reasons ("create client c7: unknown number and
// creating clients on inbound missed is on", "attach lead l3: the client
// has an active lead", "notify employee=u3: admin"). The engine logs it at
// debug level ([WithLogger]); [Engine.DryRun] returns it for a list of
// events without writing anything, so integrators can debug their rules.
//
// # Writing your own store
//
// Implement the interfaces you need and pass them to [NewEngine]: the
// first argument is the ClientStore; if it also implements the others it
// is used for them, else set them with [WithLeadStore], [WithCallLog],
// [WithDirectory], [WithNotifier] and [WithTaskStore]. Stores return errors for failures
// and (zero, false, nil) for "not found" — never treat a failed search as
// "no client", or duplicates follow.
//
// # Performance
//
// Measured with go test -bench 'Resolve|Engine' -count 5 ./match/ on 2
// cores (AMD EPYC), median of 5:
//
//	BenchmarkResolve  1,000,000 clients   302 ns/op   0 allocs/op   390 B of heap per client
//	BenchmarkEngine   realistic mix       ~226,000 events/s (4.4 µs/event), 2.0 kB and 12 allocs per event
//
// The 1,000,000-client store is built only when the benchmark runs.
package match
