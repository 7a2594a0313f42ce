package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
)

// rawRequest writes a request's head (and body) on a new connection.
func rawRequest(t *testing.T, srv *server, head string, body string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, head+"Host: 127.0.0.1\r\n\r\n"+body)
	require.NoError(t, err)
	return conn
}

func readStatus(t *testing.T, conn net.Conn, within time.Duration) (int, error) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(within)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// C: bodies in flight are bounded: stalled uploads (MegaFon's token is in
// the body, so they cannot be refused early) take their share of slots,
// then further uploads are 503 with Retry-After before their body is read,
// and the other providers' webhooks keep their own share.
func TestInFlightBounded(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{MaxInFlight: 4}) // 3 for URL-token hooks, 1 for MegaFon
	stalled := rawRequest(t, srv, fmt.Sprintf("POST /hooks/megafon HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n", 1<<20), "crm_token=")
	// megafon runs in require.Eventually's goroutine too: it returns its
	// errors, checked on the test's goroutine.
	megafon := func() (int, http.Header, error) {
		req, err := http.NewRequest("POST", srv.URL+"/hooks/megafon", strings.NewReader("crm_token=mf-token&cmd=event"))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header, nil
	}
	var reqErr firstError
	until := func(want int) func() bool {
		return func() bool {
			code, _, err := megafon()
			reqErr.set(err)
			return err == nil && code == want
		}
	}
	require.Eventually(t, until(http.StatusServiceUnavailable), 10*time.Second, 5*time.Millisecond)
	require.NoError(t, reqErr.get())
	code, hdr, err := megafon()
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "1", hdr.Get("Retry-After"))
	// Phonet still gets in.
	code, body := srv.send(t, hookOf(t, "", phonetNow().Dial().Request("/hooks/phonet/call?token=hook-token")))
	require.Equal(t, http.StatusAccepted, code, body)
	// The stalled upload ends; its slot is free again.
	stalled.Close()
	require.Eventually(t, until(http.StatusBadRequest), 10*time.Second, 5*time.Millisecond)
	require.NoError(t, reqErr.get())
}

// C: at most MaxConnections connections are served at once; the next
// waits until one closes.
func TestConnectionsBounded(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{MaxConnections: 2})
	get := "GET /healthz HTTP/1.1\r\n"
	var conns []net.Conn
	for range 2 {
		c := rawRequest(t, srv, get, "")
		code, err := readStatus(t, c, 10*time.Second)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		conns = append(conns, c)
	}
	third := rawRequest(t, srv, get, "")
	_, err := readStatus(t, third, 300*time.Millisecond) // a bound on a negative check
	var ne net.Error
	require.ErrorAs(t, err, &ne, "the third connection must not be served while two are open")
	require.True(t, ne.Timeout())
	conns[0].Close()
	code, err := readStatus(t, third, 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
}

// smallBuffers makes every accepted connection's send buffer tiny, so a
// client that does not read blocks the handler writing its answer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// C: shutdown with a client that holds a list response open without
// reading: the gateway closes it after the grace, drains, decides and
// returns nil (exit 0), far sooner than the 30 s it took.
func TestShutdownWithStuckReader(t *testing.T) {
	t.Parallel()
	cfg := gateway.Config{HookToken: "hook-token", MegafonToken: "mf-token", APIToken: apiToken, DefaultClients: defaultClients(t)}
	logs := &syncBuffer{}
	g, err := gateway.New(cfg, logs)
	require.NoError(t, err)
	for i := range 3000 {
		g.LogCall(record(i))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := serve(t, g, smallBuffers{ln}, logs)
	code, body := srv.send(t, hookOf(t, "", phonetNow().Dial().Request("/hooks/phonet/call?token=hook-token")))
	require.Equal(t, http.StatusAccepted, code, body)

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4096))
	_, err = io.WriteString(conn, "GET /api/calls?limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+apiToken+"\r\n\r\n")
	require.NoError(t, err)
	line, err := bufio.NewReaderSize(conn, 16).ReadString('\n') // the status line, then no more reading
	require.NoError(t, err)
	require.Contains(t, line, "200")

	begin := time.Now()
	require.NoError(t, srv.stop(), "nothing was lost: a clean stop")
	require.Less(t, time.Since(begin), gateway.ShutdownGrace+10*time.Second)
	require.Contains(t, logs.String(), "closing connections still busy after the grace")
	require.Equal(t, 1, logs.events(t), "the accepted event was delivered")
}

// rss is this process's resident set size in bytes (Linux).
func rss(t *testing.T) int64 {
	t.Helper()
	n, err := readRSS()
	if errors.Is(err, errNoRSS) {
		t.Skip(err)
	}
	require.NoError(t, err)
	return n
}

// errNoRSS: the system does not report the RSS.
var errNoRSS = errors.New("no VmRSS in /proc/self/status")

// readRSS is rss, safe off the test's goroutine.
func readRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errNoRSS, err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errNoRSS
}

// C: 20 parallel readers of 20,000 calls, each paging through all of them
// 1,000 at a time, grow the process's RSS by less than 50 MB (one body of
// the whole list per reader grew it by 1.1 GiB). Not parallel: it measures
// the process. The crm command's GOGC=400 is used.
var gcPercent = 400

func TestListMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures memory (not under -short or -race)")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
	cfg := gateway.Config{HookToken: "hook-token", MegafonToken: "mf-token", APIToken: apiToken, DefaultClients: defaultClients(t)}
	logs := &syncBuffer{}
	g, err := gateway.New(cfg, logs)
	require.NoError(t, err)
	const calls, readers = 20_000, 20
	for i := range calls {
		r := record(i)
		r.RecordingURL = "https://vats123456.megapbx.ru/rec/" + r.CallID + ".mp3"
		r.Employee, r.Extension, r.LinePhone = "701", "701", "74950000001"
		r.AnsweredAt, r.EndedAt = r.StartedAt.Add(7*time.Second), r.StartedAt.Add(95*time.Second)
		g.LogCall(r)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := serve(t, g, ln, logs)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: readers}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t)

	var mu sync.Mutex
	peak := base
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen, cursor := 0, ""
			var buf bytes.Buffer                   // reused, so the readers' own garbage stays small
			for range calls/gateway.MaxLimit + 2 { // bounded
				target := srv.URL + "/api/calls?limit=1000"
				if cursor != "" {
					target += "&cursor=" + cursor
				}
				req, _ := http.NewRequest("GET", target, nil)
				req.Header.Set("Authorization", "Bearer "+apiToken)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var p struct {
					Items      []struct{} `json:"items"`
					NextCursor string     `json:"next_cursor"`
				}
				buf.Reset()
				_, err = buf.ReadFrom(resp.Body)
				resp.Body.Close()
				if err == nil {
					err = json.Unmarshal(buf.Bytes(), &p)
				}
				if err != nil {
					errs <- err
					return
				}
				seen += len(p.Items)
				r, err := readRSS()
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				peak = max(peak, r)
				mu.Unlock()
				if p.NextCursor == "" {
					break
				}
				cursor = p.NextCursor
			}
			if seen != calls {
				errs <- fmt.Errorf("a reader saw %d calls, want %d", seen, calls)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	grew := peak - base
	t.Logf("RSS %d MiB before, peak %d MiB: +%.1f MiB for %d readers of %d calls", base>>20, peak>>20, float64(grew)/(1<<20), readers, calls)
	require.Less(t, grew, int64(50<<20))
}
