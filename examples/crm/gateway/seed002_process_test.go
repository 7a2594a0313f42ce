package gateway_test

// TestSeed002TenScenariosProcess: seed 002's scenarios through the crm
// command as a child process, configured as an operator would, over the
// amoCRM and Telphin fakes running in the test.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// TestSeed002TenScenariosProcess replays seed 002's ten scenarios
// (seed002CreateOn, seed002CreateOff), as TestSeed002TenScenarios does in
// process, through the crm command built once and run as a child process
// per rule set: configured by a YAML file in amoCRM mode with a SQLite
// database, its amoCRM client pointed at the amoCRM fake
// (amocrm.base_url) and its Telphin client at the Telphin fake
// (providers.telphin.base_url), both in the test. Telphin's webhooks go
// to the URLs the gateway registered on the Telphin fake at start; the
// engine's settle time passes for real, so the checks wait for the
// gateway's /api/calls to list the calls. Every answered call's recording,
// stored on the Telphin fake, plays through the link amoCRM got. Then the
// process gets SIGTERM and must exit 0.
func TestSeed002TenScenariosProcess(t *testing.T) {
	t.Parallel()
	bin := buildCRM(t)
	for _, part := range []struct {
		name, create string
		run          func(*testing.T, seed002Gateway)
	}{
		// The guide's «создать контакт» for inbound answered, missed and
		// outbound calls from unknown numbers: on, then off.
		{"create on", "{inbound_answered: true, inbound_missed: true, outbound: true}", seed002CreateOn},
		{"create off", "{inbound_answered: false, inbound_missed: false, outbound: false}", seed002CreateOff},
	} {
		t.Run(part.name, func(t *testing.T) {
			t.Parallel()
			p := startCRM(t, bin, part.create)
			part.run(t, p)
			p.checkRecordings()
			p.stop()
		})
	}
}

// buildCRM builds the crm command (examples/crm) into a temporary
// directory and returns the binary's path. Under -short a machine that
// cannot build it skips the test.
func buildCRM(t *testing.T) string {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		if testing.Short() {
			t.Skipf("process test skipped under -short: "+format, args...)
		}
		t.Fatalf(format, args...)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		root := os.Getenv("GOROOT")
		if root == "" {
			fail("no go command to build examples/crm: %v", err)
		}
		goTool = filepath.Join(root, "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "crm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/callbridge/callbridge/examples/crm").CombinedOutput()
	if err != nil {
		fail("go build examples/crm: %v\n%s", err, out)
	}
	return bin
}

// The process's secrets, given in its environment.
const (
	procAPIToken  = "process-api-token"
	procHookToken = "process-hook-token"
)

// crmProc is a crm process in amoCRM mode over its own fakes; it
// implements seed002Gateway.
type crmProc struct {
	t    *testing.T
	base string // http://127.0.0.1:PORT, also the public URL
	amo  *amocrmtest.Server
	tel  *telphintest.Server
	cmd  *exec.Cmd
	// hooks are the URLs the gateway registered on the Telphin fake for
	// extension 101, by event type.
	hooks  map[string]string
	client *http.Client

	mu      sync.Mutex
	stderr  bytes.Buffer
	events  int           // "event" lines on stdout: events the engine handled
	changed chan struct{} // closed and replaced at each event line
	addr    chan string   // the address of the "listening" line

	exited  chan struct{}
	waitErr error // set before exited is closed

	calls    int               // calls built
	sent     int               // webhooks acknowledged
	hungUp   []string          // the call ids whose hangup was sent
	recorded map[string][]byte // the recording of each answered call, by call id
	recIDs   map[string]string // its record id
	history  []json.RawMessage // the Telphin fake's call history
}

// ext101 is the Telphin fake's extension 101, the scenarios' employee.
var ext101 = telphintest.DefaultExtensions[0]

// startCRM starts the crm command with a configuration file setting the
// rules' create (the guide's «создать контакт» options), on a free port,
// and returns when it is ready and has registered its Telphin webhooks.
func startCRM(t *testing.T, bin, create string) *crmProc {
	t.Helper()
	amo, tel := amocrmtest.NewServer(), telphintest.NewServer()
	t.Cleanup(amo.Close)
	t.Cleanup(tel.Close)
	dir := t.TempDir()
	env := []string{"CRM_API_TOKEN=" + procAPIToken, "CRM_HOOK_TOKEN=" + procHookToken,
		"AMOCRM_TOKEN=" + amo.LongLivedToken(), "TELPHIN_CLIENT_SECRET=" + tel.ClientSecret}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc([]string{"CRM_", "AMOCRM_", "TELPHIN_", "MEGAFON_", "PHONET_", "FINAZ_"}, func(p string) bool { return strings.HasPrefix(k, p) }) {
			env = append(env, kv)
		}
	}
	// The port is chosen before the start (the public URL names it):
	// another program may take it meanwhile, so a start that finds it
	// taken is tried again on another.
	for range 5 {
		port := freePort(t)
		config := filepath.Join(dir, "callbridge.yaml")
		require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(`listen: 127.0.0.1:%[1]d
public_url: http://127.0.0.1:%[1]d
db: %[2]s
crm: amocrm
amocrm:
  domain: %[3]s
  base_url: %[4]s
  token: {env: AMOCRM_TOKEN}
  extensions: {"101": %[5]d, "102": %[6]d}
tokens:
  api: {env: CRM_API_TOKEN}
  hooks: {env: CRM_HOOK_TOKEN}
providers:
  telphin:
    client_id: %[7]s
    client_secret: {env: TELPHIN_CLIENT_SECRET}
    base_url: %[8]s
rules:
  default:
    create: %[9]s
`, port, filepath.Join(dir, "crm.db"), amocrmtest.Domain, amo.URL, amocrmtest.DefaultUsers[0].ID, amocrmtest.DefaultUsers[1].ID,
			tel.ClientID, tel.URL, create)), 0o600))
		p := &crmProc{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), amo: amo, tel: tel,
			client: &http.Client{Timeout: 20 * time.Second}, changed: make(chan struct{}), addr: make(chan string, 1),
			exited: make(chan struct{}), recorded: map[string][]byte{}, recIDs: map[string]string{}}
		p.cmd = exec.Command(bin, "-config", config)
		p.cmd.Dir, p.cmd.Env = dir, env
		if p.listen() {
			p.ready()
			return p
		}
		if !strings.Contains(p.stderrText(), "address already in use") {
			t.Fatalf("crm exited before listening: %v\n%s", p.waitErr, p.stderrText())
		}
	}
	t.Fatal("no free port in 5 tries")
	return nil
}

// freePort is a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// listen starts the process and reports whether it logged that it
// listens (false: it exited first). Once started, it is killed when the
// test ends unless it exited; a failed test logs its stderr.
func (p *crmProc) listen() bool {
	t := p.t
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("crm stderr:\n%s", p.stderrText())
		}
	})
	var wg sync.WaitGroup
	wg.Go(func() { p.readLines(stdout, p.stdoutLine) })
	wg.Go(func() { p.readLines(stderr, p.stderrLine) })
	go func() {
		wg.Wait()
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case a := <-p.addr:
		require.Equal(t, strings.TrimPrefix(p.base, "http://"), a, "the address configured")
		return true
	case <-p.exited:
		return false
	case <-time.After(time.Minute):
		t.Fatalf("crm did not log \"listening\" within a minute:\n%s", p.stderrText())
		return false
	}
}

// readLines hands each line of r to f.
func (p *crmProc) readLines(r io.Reader, f func([]byte)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f(sc.Bytes())
	}
	_, _ = io.Copy(io.Discard, r)
}

// logLine is the part of a slog JSON line the test reads.
type logLine struct {
	Msg  string `json:"msg"`
	Addr string `json:"addr"`
}

// stdoutLine counts the "event" lines: one per event the engine handled.
func (p *crmProc) stdoutLine(b []byte) {
	var l logLine
	if json.Unmarshal(b, &l) != nil || l.Msg != "event" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events++
	close(p.changed)
	p.changed = make(chan struct{})
}

// stderrLine keeps the line and passes on the address of "listening".
func (p *crmProc) stderrLine(b []byte) {
	p.mu.Lock()
	p.stderr.Write(b)
	p.stderr.WriteByte('\n')
	p.mu.Unlock()
	var l logLine
	if json.Unmarshal(b, &l) == nil && l.Msg == "listening" {
		select {
		case p.addr <- l.Addr:
		default:
		}
	}
}

// stderrText is what the process wrote to stderr so far.
func (p *crmProc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// poll checks cond every 20 ms, at most attempts times, and fails the
// test if it never holds or the process exits.
func (p *crmProc) poll(attempts int, what string, cond func() bool) {
	p.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range attempts {
		if cond() {
			return
		}
		select {
		case <-p.exited:
			p.t.Fatalf("crm exited (%v) while waiting for %s", p.waitErr, what)
		case <-tick.C:
		}
	}
	if !cond() {
		p.t.Fatalf("%s: not after %d checks", what, attempts)
	}
}

// ready waits until /readyz answers 200 and the gateway registered its
// webhook URL for the four call events of extension 101 on the Telphin
// fake, with the configured hook token.
func (p *crmProc) ready() {
	p.t.Helper()
	p.poll(500, "GET /readyz 200", func() bool {
		code, _ := p.get("/readyz", false)
		return code == http.StatusOK
	})
	p.poll(500, "the Telphin webhooks registered", func() bool { return len(p.tel.Hooks(ext101.ID)) == 4 })
	p.hooks = map[string]string{}
	for _, h := range p.tel.Hooks(ext101.ID) {
		require.Equal(p.t, http.MethodPost, h.Method)
		require.Equal(p.t, p.base+"/hooks/telphin/"+p.tel.ClientID+"?token="+procHookToken, h.URL)
		p.hooks[h.EventType] = h.URL
	}
}

// get is a GET of path on the process (with the API token when api).
func (p *crmProc) get(path string, api bool) (int, string) {
	req, err := http.NewRequest(http.MethodGet, p.base+path, nil)
	require.NoError(p.t, err)
	if api {
		req.Header.Set("Authorization", "Bearer "+procAPIToken)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(p.t, err)
	return resp.StatusCode, string(b)
}

// amoFake is the process's amoCRM fake.
func (p *crmProc) amoFake() *amocrmtest.Server { return p.amo }

// call is a call that began ringing two minutes ago.
func (p *crmProc) call(client string) telphintest.Call {
	p.calls++
	return seed002Call(p.calls, client, time.Now().Add(-2*time.Minute).Truncate(time.Microsecond).UTC())
}

// send posts each webhook to the URL the gateway registered for its
// event type, as Telphin does, and waits for the engine's event lines.
// The hangup of an answered call carries a record id, of a recording
// stored on the Telphin fake (the PBX records the conversations).
func (p *crmProc) send(fields ...url.Values) {
	p.t.Helper()
	for _, f := range fields {
		typ, id := f.Get("EventType"), f.Get("CallID")
		if typ == "hangup" {
			p.hungUp = append(p.hungUp, id)
			if f.Get("CallStatus") == "ANSWER" {
				p.record(id, f.Get("CallFlow"))
				f = maps.Clone(f)
				f.Set("RecID", p.recIDs[id])
			}
		}
		target, ok := p.hooks[typ]
		require.True(p.t, ok, "no hook registered for %s", typ)
		h := hookOf(p.t, "telphin", telphintest.NewRequest(target, "", f))
		req, err := http.NewRequest(h.method, p.base+h.target, bytes.NewReader(h.body))
		require.NoError(p.t, err)
		req.Header = h.header.Clone()
		resp, err := p.client.Do(req)
		require.NoError(p.t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Contains(p.t, []int{http.StatusOK, http.StatusAccepted}, resp.StatusCode, "%s: %s", typ, body)
	}
	p.sent += len(fields)
	p.waitEvents(p.sent)
}

// record stores the recording of call id on the Telphin fake, with the
// call in its history (where the gateway finds the record to serve).
func (p *crmProc) record(id, flow string) {
	rec := fmt.Sprintf("%d-%s", ext101.ID, strings.ToUpper(id))
	p.recIDs[id], p.recorded[id] = rec, []byte("ID3 recording of "+id)
	p.tel.AddRecord(rec, p.recorded[id])
	item, err := json.Marshal(map[string]any{"call_uuid": strings.ToUpper(id), "flow": flow,
		"cdr": []map[string]any{{"flow": flow, "record_uuid": rec}}})
	require.NoError(p.t, err)
	p.history = append(p.history, item)
	p.tel.SetHistory(p.history)
}

// waitEvents returns when the engine has handled n events: the process
// wrote n event lines.
func (p *crmProc) waitEvents(n int) {
	p.t.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		got, changed := p.events, p.changed
		p.mu.Unlock()
		if got >= n {
			require.Equal(p.t, n, got, "events handled")
			return
		}
		select {
		case <-changed:
		case <-p.exited:
			p.t.Fatalf("crm exited (%v) with %d of %d events handled", p.waitErr, got, n)
		case <-timeout.C:
			p.t.Fatalf("the engine handled %d of %d events", got, n)
		}
	}
}

// talk waits while the conversation goes on: the gateway reuses amoCRM's
// "no contact has this phone" for amocrm.DefaultNotFoundTTL, on the real
// clock of another process. No event ends this wait: it is the time a
// conversation takes.
func (p *crmProc) talk() { time.Sleep(amocrm.DefaultNotFoundTTL + 500*time.Millisecond) }

// end waits until /api/calls lists every call that hung up: the gateway
// logs a call in amoCRM and then in its own log when it decides it, the
// engine's settle time (match.DefaultSettle) after its last hangup.
func (p *crmProc) end() {
	p.t.Helper()
	p.poll(1500, "every call that hung up in /api/calls", func() bool {
		code, body := p.get("/api/calls?limit=1000", true)
		if code != http.StatusOK {
			return false
		}
		var page gateway.Page[gateway.Call]
		require.NoError(p.t, json.Unmarshal([]byte(body), &page), body)
		for _, id := range p.hungUp {
			if !slices.ContainsFunc(page.Items, func(c gateway.Call) bool { return c.CallID == id }) {
				return false
			}
		}
		return true
	})
}

// callOn is the call of id in amoCRM (account: the Telphin App ID of the
// hook URL).
func (p *crmProc) callOn(id string) amocrmtest.Call {
	p.t.Helper()
	return amoCallOn(p.t, p.amo, p.tel.ClientID, id)
}

// popups is the body of GET /api/popups?employee=employee.
func (p *crmProc) popups(employee int64) string {
	p.t.Helper()
	code, body := p.get("/api/popups?employee="+strconv.FormatInt(employee, 10), true)
	require.Equal(p.t, http.StatusOK, code, body)
	return body
}

// checkRecordings: each answered call in amoCRM links to the gateway's
// own signed recording link (public_url), which plays the recording
// Telphin stored, with no token.
func (p *crmProc) checkRecordings() {
	p.t.Helper()
	require.NotEmpty(p.t, p.recorded)
	for id, audio := range p.recorded {
		link, _ := p.callOn(id).Item["link"].(string)
		require.True(p.t, strings.HasPrefix(link, p.base+"/recordings/telphin/"+id+"?"), "call %s: link %q", id, link)
		code, body := p.get(strings.TrimPrefix(link, p.base), false)
		require.Equal(p.t, http.StatusOK, code, "call %s: %s", id, body)
		require.Equal(p.t, string(audio), body, "call %s", id)
	}
}

// stop sends SIGTERM and requires a clean exit (status 0) within 30 s.
func (p *crmProc) stop() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.t.Fatal("crm did not exit within 30 s of SIGTERM")
	}
	var exit *exec.ExitError
	if errors.As(p.waitErr, &exit) {
		p.t.Fatalf("crm exited with status %d after SIGTERM", exit.ExitCode())
	}
	require.NoError(p.t, p.waitErr)
}
