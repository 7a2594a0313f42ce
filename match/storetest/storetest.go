package storetest

import (
	"cmp"
	"slices"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/callbridge/callbridge/match"
)

// Store is what the suite tests: every store interface of package match
// in one value, as memstore.Store and the SQL stores are.
type Store interface {
	match.ClientStore
	match.LeadStore
	match.CallLog
	match.Directory
	match.Notifier
}

// Harness adapts a store implementation to the suite. Every func field is
// required; each gets the test it runs in and fails it (t.Fatal) on an
// error of the store.
type Harness struct {
	// New returns a fresh, empty store for one subtest; release it with
	// t.Cleanup.
	New func(t *testing.T) Store
	// SetEmployees replaces the employees of account, in the order given
	// (what Directory.Employees returns).
	SetEmployees func(t *testing.T, s Store, account string, es ...match.Employee)
	// SetOnline replaces the ids of the employees online in account.
	SetOnline func(t *testing.T, s Store, account string, ids ...string)
	// Clients returns every client of account, in any order.
	Clients func(t *testing.T, s Store, account string) []match.Client
	// Calls returns every call record logged for account, in any order.
	Calls func(t *testing.T, s Store, account string) []match.CallRecord
	// Notifications returns every notification kept for account, in any
	// order.
	Notifications func(t *testing.T, s Store, account string) []match.Notification

	// DialogNotes returns the dialog of a client, oldest first, for a
	// store that is a match.Dialog (optional: nil skips that subtest).
	DialogNotes func(t *testing.T, s Store, account, clientID string) []match.DialogNote

	// IgnoresContext says the store does not look at its context (memstore):
	// the suite then does not require a canceled context to fail a call.
	IgnoresContext bool
	// Sequential runs the subtests one after another instead of in
	// parallel, for stores whose New cannot give independent stores at
	// once.
	Sequential bool
}

// check fails t when a required field of h is nil.
func (h Harness) check(t *testing.T) {
	t.Helper()
	for name, nilField := range map[string]bool{
		"New":           h.New == nil,
		"SetEmployees":  h.SetEmployees == nil,
		"SetOnline":     h.SetOnline == nil,
		"Clients":       h.Clients == nil,
		"Calls":         h.Calls == nil,
		"Notifications": h.Notifications == nil,
	} {
		if nilField {
			t.Fatalf("storetest: Harness.%s is nil", name)
		}
	}
}

// test is one semantic the suite checks.
type test struct {
	name string
	run  func(t *testing.T, h Harness)
}

// tests lists every subtest of Run.
var tests = []test{
	{"CreateClient", testCreateClient},
	{"CreateClientDefaults", testCreateClientDefaults},
	{"CreateClientNormalisesPhone", testCreateClientNormalisesPhone},
	{"CreateClientCopiesInput", testCreateClientCopiesInput},
	{"ClientIDUniqueInAccount", testClientIDUniqueInAccount},
	{"ClientLimits", testClientLimits},
	{"OnePhoneOneClient", testOnePhoneOneClient},
	{"OnePhoneOneClientConcurrent", testOnePhoneOneClientConcurrent},
	{"FindOrCreateClient", testFindOrCreateClient},
	{"ConcurrentClientsDistinct", testConcurrentClientsDistinct},
	{"FindClientsByField", testFindClientsByField},
	{"FindClient", testFindClient},
	{"SetClientFields", testSetClientFields},
	{"Dialog", testDialog},
	{"AccountsIsolated", testAccountsIsolated},
	{"Leads", testLeads},
	{"LeadErrors", testLeadErrors},
	{"LeadIdempotentByCall", testLeadIdempotentByCall},
	{"PhoneLeads", testPhoneLeads},
	{"Reassign", testReassign},
	{"LogCallUpserts", testLogCallUpserts},
	{"LogCallConcurrent", testLogCallConcurrent},
	{"CallStats", testCallStats},
	{"NotifyIdempotent", testNotifyIdempotent},
	{"NotifyConcurrent", testNotifyConcurrent},
	{"CreateTask", testCreateTask},
	{"TaskIdempotentByCall", testTaskIdempotentByCall},
	{"CloseTasks", testCloseTasks},
	{"OverdueTasks", testOverdueTasks},
	{"Directory", testDirectory},
	{"TimesRoundTrip", testTimesRoundTrip},
	{"CanceledContext", testCanceledContext},
}

// Run checks the store of h against every semantic of the suite (see the
// package doc), one subtest each on a fresh store from h.New. The subtests
// are grouped under one subtest "storetest": Run returns when all of them
// are done, so the caller may release shared resources when Run returns.
func Run(t *testing.T, h Harness) {
	t.Helper()
	h.check(t)
	t.Run("storetest", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if !h.Sequential {
					t.Parallel()
				}
				tc.run(t, h)
			})
		}
	})
}

// Fixed values of the tests.
const (
	acme   = "acme"
	globex = "globex"

	phone1 = "79161234567"
	phone2 = "79161234568"
	phone3 = "380671234567"
)

// t0 is a time with nanoseconds, in UTC; zoned is an instant in another
// zone.
var (
	t0    = time.Date(2025, 3, 14, 9, 26, 53, 589_793_238, time.UTC)
	msk   = time.FixedZone("MSK", 3*60*60)
	zoned = time.Date(2025, 6, 1, 23, 59, 58, 999_999_999, msk)
)

// concurrency is how many goroutines the concurrent subtests start.
const concurrency = 50

// opts compare values the way a store is required to keep them: times
// and durations to the microsecond, nil and empty slices and maps alike.
var opts = gocmp.Options{
	gocmp.Comparer(func(a, b time.Time) bool { return within(a.Sub(b)) }),
	gocmp.Comparer(func(a, b time.Duration) bool { return within(a - b) }),
	cmpopts.EquateEmpty(),
}

func within(d time.Duration) bool { return d < time.Microsecond && d > -time.Microsecond }

// diff fails t when got differs from want under opts.
func diff(t *testing.T, want, got any, msg string, args ...any) {
	t.Helper()
	if d := gocmp.Diff(want, got, opts); d != "" {
		t.Errorf(msg+" (-want +got):\n%s", append(args, d)...)
	}
}

// sorted returns xs sorted by key, to compare listings the harness
// returns in any order.
func sorted[T any](xs []T, key func(T) string) []T {
	xs = slices.Clone(xs)
	slices.SortStableFunc(xs, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return xs
}

func clientKey(c match.Client) string { return c.ID }

func callKey(r match.CallRecord) string { return r.Provider + "\x00" + r.CallID }

func noteKey(n match.Notification) string {
	return n.Provider + "\x00" + n.CallID + "\x00" + n.Employee + "\x00" + n.Kind.String()
}

func ids(cs []match.Client) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// parallel runs f(i) for i in [0, n) in n goroutines released at once (a
// barrier, so the calls overlap as much as the scheduler lets them) and
// waits for all of them.
func parallel(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}
