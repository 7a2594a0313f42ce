package gateway_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// receiver is a notification webhook that checks the signature and
// answers what fail says (200 when it returns 0).
type receiver struct {
	mu     sync.Mutex
	got    []gateway.Notification
	tries  int
	bad    []string
	fail   func(try int) int
	secret string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.tries++
	sig := r.Header.Get(gateway.SignatureHeader)
	ts, v1, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",v1=")
	mac := hmac.New(sha256.New, []byte(rc.secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if !hmac.Equal([]byte(v1), []byte(hex.EncodeToString(mac.Sum(nil)))) || r.Header.Get("Idempotency-Key") == "" {
		rc.bad = append(rc.bad, sig)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if code := rc.fail(rc.tries); code != 0 {
		w.WriteHeader(code)
		return
	}
	var n gateway.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		rc.bad = append(rc.bad, string(body))
	}
	rc.got = append(rc.got, n)
}

func (rc *receiver) received() []gateway.Notification {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]gateway.Notification(nil), rc.got...)
}

// missedCallRules make the missed-calls manager "missed" responsible for
// (and told of) a missed call from an unknown number.
func missedCallRules() *match.RuleSet {
	return &match.RuleSet{Default: match.Rules{Rule: match.Rule{Create: match.CreateRule{InboundMissed: true},
		Missed: match.MissedRule{Manager: "missed"}}}}
}

// TestNotificationWebhook: with CRM_NOTIFY_URL every notification is
// POSTed to the webhook, signed (SignatureHeader, HMAC-SHA256 with the
// secret), retried after a failure until accepted, and its delivery shows
// in /api/notifications; in database mode a notification the webhook did
// not take before a restart is sent after it.
func TestNotificationWebhook(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		rc := &receiver{secret: "notify-SECRET", fail: func(try int) int {
			if try == 1 {
				return http.StatusServiceUnavailable
			}
			return 0
		}}
		hook := httptest.NewServer(rc)
		t.Cleanup(hook.Close)
		clock := newFakeClock()
		cfg := gateway.Config{Clock: clock, DB: db, NotifyURL: hook.URL + "/callbridge", NotifySecret: "notify-SECRET",
			Rules: missedCallRules(), Employees: []match.Employee{{ID: "missed", Extensions: []string{"301"}}}}
		srv := start(t, cfg)
		missed := func(id, number string) {
			t.Helper()
			call := megafontest.Call{ID: id, Direction: "in", Phone: number, User: "andy", Ext: "701"}
			sendMegafon(t, srv, megafontest.Event("INCOMING", call),
				megafontest.History(call, megafontest.Outcome{Status: "Missed", Start: clock.Now().Add(-time.Minute)}))
		}
		missed("mf-nt-1", "74950001111")
		waitEvents(t, srv, 2)
		clock.Advance(match.DefaultGracePeriod)
		require.Eventually(t, func() bool {
			clock.Advance(500 * time.Millisecond) // the retry's wait passes
			return len(rc.received()) == 1
		}, 15*time.Second, 50*time.Millisecond, "delivered after a retry")
		n := rc.received()[0]
		require.Equal(t, "missed", n.Kind)
		require.Equal(t, "missed", n.Employee)
		require.Equal(t, "mf-nt-1", n.CallID)
		require.Empty(t, rc.bad, "every request signed")
		require.Eventually(t, func() bool {
			code, body := srv.do(t, http.MethodGet, "/api/notifications", "", "")
			return code == http.StatusOK && strings.Contains(body, `"delivery":{"state":"sent","attempts":2`)
		}, 5*time.Second, 10*time.Millisecond, "the delivery in the list")
		if db == "" {
			return
		}

		// The webhook is down; the gateway restarts; the notification is
		// sent after the restart.
		rc.mu.Lock()
		rc.fail = func(int) int { return http.StatusBadGateway }
		rc.mu.Unlock()
		missed("mf-nt-2", "74950002222") // decided at once: its history is its end
		require.Eventually(t, func() bool {
			code, body := srv.do(t, http.MethodGet, "/api/notifications", "", "")
			return code == http.StatusOK && strings.Contains(body, `"call_id":"mf-nt-2"`) &&
				strings.Contains(body, `"state":"pending","attempts":1,"last_error":"the webhook answered 502`)
		}, 10*time.Second, 10*time.Millisecond, "pending after a failure, due again in a second")
		require.NoError(t, srv.stop())
		rc.mu.Lock()
		rc.fail = func(int) int { return 0 }
		rc.mu.Unlock()
		start(t, cfg)
		require.Eventually(t, func() bool {
			clock.Advance(500 * time.Millisecond)
			return len(rc.received()) == 2
		}, 15*time.Second, 50*time.Millisecond, "sent after the restart")
		require.Equal(t, "mf-nt-2", rc.received()[1].CallID)
	})
}

// TestNotificationWebhookConfig: the webhook needs its secret.
func TestNotificationWebhookConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CRM_NOTIFY_URL": "https://hooks.example.com/callbridge"}
	_, err := gateway.ParseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	require.ErrorContains(t, err, "CRM_NOTIFY_SECRET")
	env["CRM_NOTIFY_SECRET"] = "s"
	env["CRM_NOTIFY_URL"] = "ftp://x"
	_, err = gateway.ParseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	require.ErrorContains(t, err, "want http(s)")
}
