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

// Library packages instrument with the OpenTelemetry API only: none links
// the SDK, an exporter or a Prometheus client (the program chooses those;
// examples/crm does), yet each links the API it records with.
func TestTelemetryAPIOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	forbidden := []string{"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters/", "github.com/prometheus/",
		"go.opentelemetry.io/contrib/", "google.golang.org/grpc"}
	for _, pkg := range []string{".", "./telphin", "./megafon", "./phonet", "./finaz", "./amocrm", "./webhook",
		"./match", "./sqlstore", "./reconcile"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, d := range deps {
			for _, f := range forbidden {
				if d == strings.TrimSuffix(f, "/") || strings.HasPrefix(d, f) || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") {
					t.Errorf("%s links %s", pkg, d)
				}
			}
		}
		if !slices.Contains(deps, "go.opentelemetry.io/otel/trace") {
			t.Errorf("%s does not link go.opentelemetry.io/otel/trace: not instrumented", pkg)
		}
	}
	out, err := exec.Command("go", "list", "-deps", "./examples/crm").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(out)), "go.opentelemetry.io/otel/sdk/metric") {
		t.Error("the gateway does not link the metrics SDK: its /metrics would be empty")
	}
}
