// Package storetest is a conformance suite for the stores of package match:
// it checks that an implementation of match.ClientStore, match.LeadStore,
// match.CallLog, match.Directory and match.Notifier, and of the optional
// match.Dialog and match.TaskStore when the store is one, behaves like
// every other (memstore, the SQL stores), so the engine can run over any
// of them.
//
// An implementation runs the suite from one of its tests, with a Harness
// that makes a fresh store and does what the interfaces cannot (seeding the
// directory, reading back calls and notifications):
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			New: func(t *testing.T) storetest.Store {
//				s, err := memstore.New()
//				require.NoError(t, err)
//				return s
//			},
//			SetEmployees: func(t *testing.T, s storetest.Store, account string, es ...match.Employee) {
//				s.(*memstore.Store).SetEmployees(account, es...)
//			},
//			…
//			IgnoresContext: true,
//		})
//	}
//
// Run runs one subtest per semantic, each on its own store, in parallel
// (unless Harness.Sequential), and returns when all of them are done.
//
// # What the suite assumes
//
//   - Phones: a store normalises a client's Phone and field values with
//     phone.Normalize. The suite passes phones as E.164 digits of Russia
//     ("79161234567") or Ukraine ("380671234567"), or with a leading "+",
//     so it holds for a store whose default country is RU (the default of
//     memstore and the SQL stores); field values are always international.
//   - One phone, one client: CreateClient for a phone that already has a
//     client in the account returns that client (same ID) and creates
//     nothing, also under concurrency. Clients without a phone are never
//     merged, and FindClientByPhone never finds one for "". A store that
//     is a match.UniquePhones reports which FindOrCreateClient created.
//   - IDs are unique within an account, not across accounts; a taken ID is
//     an error. An empty ID gets one from the store; an empty Channel is
//     stored as match.ChannelTelephony; a zero CreatedAt is stamped.
//   - Creation order is the order of the CreateClient / CreateLead calls,
//     not of CreatedAt or of the IDs (FindClientsByField, ClientLeads).
//   - Times come back as the same instant to the microsecond, in UTC
//     (Location() == time.UTC); a zero time stays zero. Durations come back
//     to the microsecond.
//   - One call, one lead: CreateLead with a CallID for which the account
//     already has a lead of the same Provider returns that lead as stored
//     (same ID) and creates nothing, whatever the new lead's other values,
//     also under concurrency. Leads without a CallID are never merged.
//     Provider and CallID are stored and read back.
//   - Leads without a client (a store that is a match.PhoneLeads; others
//     skip the subtest): CreateLead takes a lead with an empty ClientID
//     and a Phone, normalised as client phones are; PhoneLeads lists the
//     account's leads without a client of a number, newest first (in
//     creation order). A lead of a client keeps no Phone, and ClientLeads
//     of "" lists no lead without a client. One call, one lead, as above;
//     a lead with neither a client nor a phone, or with a phone that is
//     not a number, is refused.
//   - LogCall replaces the record of the same Provider, Account and CallID.
//   - Notify keeps one notification per Account, Provider, CallID,
//     Employee and Kind: the first; a replay changes nothing.
//   - Tasks (a store that is a match.TaskStore; others skip these
//     subtests): CreateTask stores an open, unescalated task with an ID of
//     the store and refuses one without a phone or call, or over the
//     limits (match.ErrTooLarge); one call, one task, as for leads, also
//     once the task is done and under concurrency. CloseTasks closes every
//     open task of the account for the phone, each reported closed by one
//     call only, also under concurrency. OverdueTasks lists the open,
//     unescalated tasks due strictly before now; OverdueTasks, OpenTasks
//     and CloseTasks list oldest due first, ties in creation order.
//     EscalateTask is idempotent; an unknown task (or another account's)
//     is an error.
//   - Context: with a canceled context every method fails with an error
//     wrapping context.Canceled and has no effect, and the store keeps
//     working with a live context. A store that ignores the context
//     (memstore) sets Harness.IgnoresContext: then the methods are only
//     called with a canceled context and must return. A method that hangs
//     is caught by the test binary's -timeout: the suite measures no time.
package storetest
