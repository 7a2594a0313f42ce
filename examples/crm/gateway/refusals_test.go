package gateway_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
)

// apiRoute is a route behind the API token and how it refuses bad input:
// an unknown id (404) where its path names one, a body that is not JSON
// (400) where it takes one.
type apiRoute struct {
	pattern string // as routes() registers it
	path    string // a request of it, with a well-formed but unknown id
	unknown bool   // path names something the gateway does not have: 404
	body    bool   // it takes a JSON body: "{" is 400
}

var apiRoutes = []apiRoute{
	{pattern: "GET /api/status", path: "/api/status"},
	{pattern: "GET /api/calls", path: "/api/calls"},
	{pattern: "GET /api/clients", path: "/api/clients"},
	{pattern: "GET /api/leads", path: "/api/leads"},
	{pattern: "GET /api/notifications", path: "/api/notifications"},
	{pattern: "GET /api/stats", path: "/api/stats"},
	{pattern: "GET /api/tasks", path: "/api/tasks"},
	{pattern: "GET /api/popups", path: "/api/popups"},
	{pattern: "GET /api/events", path: "/api/events?employee=nobody", unknown: true},
	{pattern: "GET /api/employees", path: "/api/employees"},
	{pattern: "PUT /api/employees/{id}/status", path: "/api/employees/nobody/status", unknown: true, body: true},
	{pattern: "GET /api/deadletters", path: "/api/deadletters"},
	{pattern: "POST /api/deadletters/{id}/replay", path: "/api/deadletters/999999/replay", unknown: true},
	{pattern: "POST /api/calls", path: "/api/calls", body: true},
	{pattern: "GET /api/calls/live", path: "/api/calls/live"},
	{pattern: "GET /api/calls/{provider}/{call_id}", path: "/api/calls/telphin/no-such-call", unknown: true},
	{pattern: "POST /api/calls/{provider}/{call_id}/{action}", path: "/api/calls/telphin/no-such-call/hangup", unknown: true, body: true},
	{pattern: "GET /api/calls/{provider}/{call_id}/recording", path: "/api/calls/telphin/no-such-call/recording", unknown: true},
	{pattern: "POST /api/finaz/results", path: "/api/finaz/results", body: true},
	{pattern: "POST /api/campaigns", path: "/api/campaigns", body: true},
	{pattern: "GET /api/campaigns", path: "/api/campaigns"},
	{pattern: "GET /api/campaigns/{id}", path: "/api/campaigns/cNOSUCH", unknown: true},
	{pattern: "POST /api/campaigns/{id}/{action}", path: "/api/campaigns/cNOSUCH/start", unknown: true},
	{pattern: "POST /api/campaigns/{id}/agents/{employee}/{action}", path: "/api/campaigns/cNOSUCH/agents/701/ready", unknown: true},
	{pattern: "POST /api/campaigns/{id}/targets/{number}/skip", path: "/api/campaigns/cNOSUCH/targets/79161234567/skip", unknown: true},
	{pattern: "POST /api/donotcall", path: "/api/donotcall", body: true},
	{pattern: "POST /api/clients", path: "/api/clients", body: true},
	{pattern: "POST /api/employees/{id}/login-link", path: "/api/employees/nobody/login-link", unknown: true},
}

// TestEveryAPIRouteRefuses: every route under /api/ answers 401 without
// the API token (before anything else), 404 for an id it does not have
// and 400 for a body that is not JSON, over HTTP, in memory and in a
// database; and the table above lists every /api/ route routes()
// registers (in any of the package's files), so a new route is checked
// too.
func TestEveryAPIRouteRefuses(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var src []byte
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			src = append(src, b...)
		}
	}
	listed := map[string]bool{}
	for _, r := range apiRoutes {
		listed[r.pattern] = true
	}
	registered := regexp.MustCompile(`mux\.Handle(?:Func)?\("([A-Z]+ /api/[^"]*)"`).FindAllStringSubmatch(string(src), -1)
	require.NotEmpty(t, registered)
	for _, m := range registered {
		require.True(t, listed[m[1]], "%s is registered but not checked here", m[1])
	}
	require.Len(t, apiRoutes, len(registered), "a route here that the gateway no longer registers")

	bothModes(t, func(t *testing.T, db string) {
		srv := start(t, gateway.Config{Demo: true, DB: db})
		for _, r := range apiRoutes {
			method := strings.Fields(r.pattern)[0]
			body := `{}`
			for _, auth := range []string{"", "Bearer wrong"} {
				h := hook{method: method, target: r.path, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(body)}
				if auth != "" {
					h.header.Set("Authorization", auth)
				}
				code, resp := srv.send(t, h)
				require.Equal(t, http.StatusUnauthorized, code, "%s with %q: %s", r.pattern, auth, resp)
			}
			if r.body {
				code, resp := srv.do(t, method, r.path, "application/json", "{")
				require.Equal(t, http.StatusBadRequest, code, "%s with a broken body: %s", r.pattern, resp)
				require.Contains(t, resp, `"error"`, r.pattern)
			}
			if r.unknown {
				body := `{}`
				switch r.pattern {
				case "PUT /api/employees/{id}/status":
					body = `{"status":"away"}`
				case "POST /api/calls/{provider}/{call_id}/{action}":
					body = `{"from":"101"}`
				}
				code, resp := srv.do(t, method, r.path, "application/json", body)
				require.Equal(t, http.StatusNotFound, code, "%s with an unknown id: %s", r.pattern, resp)
				require.Contains(t, resp, `"error"`, r.pattern)
			}
		}
	})
}
