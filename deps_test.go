package callbridge_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// What a program links follows from what it imports: a provider package
// links no database driver nor package live, live links neither a
// database nor the webhook machinery, and the gateway binary (which runs the fakes
// in demo mode) links neither testing nor net/http/httptest.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const live = "github.com/callbridge/callbridge/live"
	for _, tc := range []struct {
		pkg       string
		forbidden []string
	}{
		{"./telphin", []string{"modernc.org/sqlite", "github.com/jackc/pgx/v5/stdlib", "github.com/callbridge/callbridge/sqlstore", live}},
		{"./megafon", []string{"modernc.org/sqlite", "github.com/jackc/pgx/v5/stdlib", live}},
		{"./phonet", []string{live}},
		{"./finaz", []string{live}},
		{"./amocrm", []string{live}},
		{"./live", []string{"modernc.org/sqlite", "github.com/jackc/pgx/v5/stdlib", "github.com/callbridge/callbridge/sqlstore",
			"github.com/callbridge/callbridge/webhook", "github.com/callbridge/callbridge/examples/crm/gateway"}},
		{"./webhook", []string{"modernc.org/sqlite", "github.com/jackc/pgx/v5/stdlib"}},
		{"./match", []string{"modernc.org/sqlite", "github.com/jackc/pgx/v5/stdlib"}},
		{"./dialer", []string{"modernc.org/sqlite", "github.com/jackc/pgx/v5/stdlib", "github.com/callbridge/callbridge/finaz"}},
		{"./examples/crm", []string{"testing", "net/http/httptest"}},
	} {
		out, err := exec.Command("go", "list", "-deps", tc.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tc.pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, f := range tc.forbidden {
			if slices.Contains(deps, f) {
				t.Errorf("%s links %s", tc.pkg, f)
			}
		}
	}
}
