// Package memstore keeps the stores of package match in memory: clients,
// leads, the call log, the employee directory, notifications and call-back
// tasks. It is the
// embedded default behind a match.Engine, for tests, demos and
// single-process deployments that can lose their CRM state on restart.
//
// One Store implements match.ClientStore, match.LeadStore, match.CallLog,
// match.Directory, match.Notifier and match.TaskStore (and the optional
// match.ClientGetter, match.ClientUpdater, match.Dialog, match.PhoneLeads
// and match.CallStats), so it is enough to pass it to match.NewEngine:
//
//	store, err := memstore.New(memstore.WithDefaultCountry("RU"))
//	…
//	engine, err := match.NewEngine(store, match.WithDefaultCountry("RU"))
//
// A Store is safe for concurrent use. Clients are indexed by normalised
// phone (phone.Normalize), their telephony number and every field value
// that is a phone, so lookups take no scan. Memory is bounded: per client
// by match.MaxClientFields, match.MaxClientTags and match.MaxValueLen (larger clients are
// refused with match.ErrTooLarge), the call log by WithMaxCalls and the kept
// notifications by WithMaxNotifications; leads, tasks and clients are kept
// until the process ends.
//
// A Store keeps the semantics every store of package match shares (the
// conformance suite match/storetest checks them): CreateClient creates at
// most one client per phone and account, returning the existing one for a
// known phone, also under concurrency; LogCall replaces the record of the
// same call; Notify keeps one notification per account, provider, call,
// employee and kind, so a replayed decision notifies nobody twice;
// CreateTask keeps one task per account, provider and call; times are
// kept in UTC. Leads without a client (Perfectum's leads of unknown
// numbers) are kept by their normalised phone, found by PhoneLeads. A
// Store ignores contexts: its calls never block.
//
// Each client, lead and employee belongs to an account (the tenant of
// callevent.Event.Account); SingleTenant makes one CRM for every account.
// Clients, leads, calls (newest first), notifications and tasks are listed
// in a stable order for an API; LoadClients seeds clients from JSON.
package memstore
