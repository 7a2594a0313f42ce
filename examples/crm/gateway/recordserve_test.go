package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/megafon/megafontest"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/phonet/phonettest"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// recordingFake is a provider's fake with a client on it, for the
// recording routes.
type recordingFake struct {
	provider string
	client   callevent.Caller
	// add stores audio as the recording of call n and returns the call
	// as the log has it.
	add func(n int, audio []byte) match.CallRecord
	// none is a call the provider has no recording of.
	none func() match.CallRecord
	// fail makes the next recording download fail with 503.
	fail func()
	// downloads counts the recording downloads the fake received.
	downloads func() int
	// secret is the client's credential, never to be shown.
	secret string
}

// noRetry makes a client try once.
var noRetry = callbridge.WithRetry(callbridge.RetryPolicy{})

// recordedCall is a finished call of the log.
func recordedCall(provider, account, callID, link string) match.CallRecord {
	return match.CallRecord{Provider: provider, Account: account, CallID: callID, Direction: callevent.Inbound,
		Status: callevent.Success, ClientPhone: "79161234567", StartedAt: t0.Add(-time.Hour),
		AnsweredAt: t0.Add(-time.Hour + 5*time.Second), EndedAt: t0.Add(-time.Hour + time.Minute),
		Duration: 55 * time.Second, Wait: 5 * time.Second, RecordingURL: link}
}

// recordingFakes are the fakes of every provider that has recordings.
func recordingFakes(t *testing.T) []recordingFake {
	t.Helper()
	tsrv := telphintest.NewServer()
	t.Cleanup(tsrv.Close)
	tc, err := telphin.NewClient(telphin.Credentials{ClientID: tsrv.ClientID, ClientSecret: tsrv.ClientSecret}, callbridge.WithBaseURL(tsrv.URL), noRetry)
	require.NoError(t, err)
	var history []json.RawMessage
	telphinCall := func(callID, rec string) {
		history = append(history, json.RawMessage(fmt.Sprintf(`{"call_uuid":%q,"flow":"in","cdr":[{"flow":"in","record_uuid":%q}]}`, strings.ToUpper(callID), rec)))
		tsrv.SetHistory(history)
	}

	msrv := megafontest.NewServer()
	t.Cleanup(msrv.Close)
	mc, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
		callbridge.WithBaseURL(msrv.URL), noRetry, callbridge.WithRateLimit(math.Inf(1), 1))
	require.NoError(t, err)

	psrv := phonettest.NewServer()
	t.Cleanup(psrv.Close)
	pc, err := psrv.NewClient(noRetry)
	require.NoError(t, err)

	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	fc, err := finaz.NewClient(finaz.Config{
		Params:            map[string]finaz.Param{"token": {Value: "tk-rec-9", Secret: true}},
		DownloadRecording: &finaz.RequestTemplate{URL: "rec/{{identificador_chamada}}", Query: map[string]string{"token": "{{token}}"}}},
		callbridge.WithBaseURL(pbx.URL), noRetry)
	require.NoError(t, err)

	return []recordingFake{
		{
			provider: telphin.Provider, client: tc, secret: tsrv.ClientSecret,
			add: func(n int, audio []byte) match.CallRecord {
				callID, rec := fmt.Sprintf("dd%030x", n), fmt.Sprintf("469100-%032X", n)
				tsrv.AddRecord(rec, audio)
				telphinCall(callID, rec)
				return recordedCall(telphin.Provider, tsrv.ClientID, callID, tsrv.URL+"/storage/"+rec)
			},
			none: func() match.CallRecord {
				telphinCall("ee000000000000000000000000000000", "")
				return recordedCall(telphin.Provider, tsrv.ClientID, "ee000000000000000000000000000000", "")
			},
			fail: func() {
				tsrv.Fail(telphintest.Failure{Path: "/api/ver1.0/client/@me/record/", Status: http.StatusServiceUnavailable})
			},
			downloads: func() int { return tsrv.Count(http.MethodGet, "/api/ver1.0/client/@me/record/") },
		},
		{
			provider: megafon.Provider, client: mc, secret: megafontest.APIKey,
			add: func(n int, audio []byte) match.CallRecord {
				link := msrv.SetRecording(fmt.Sprintf("rec-%d.mp3", n), audio)
				return recordedCall(megafon.Provider, megafontest.Domain, fmt.Sprintf("mf-rec-%d", n), link)
			},
			none: func() match.CallRecord { return recordedCall(megafon.Provider, megafontest.Domain, "mf-none", "") },
			fail: func() {
				msrv.Fail(megafontest.Failure{Op: megafontest.OpRecording, Status: http.StatusServiceUnavailable})
			},
			downloads: func() int {
				n := 0
				for _, r := range msrv.Requests() {
					if r.Op == megafontest.OpRecording {
						n++
					}
				}
				return n
			},
		},
		{
			provider: phonet.Provider, client: pc, secret: psrv.Credentials().APIKey,
			add: func(n int, audio []byte) match.CallRecord {
				uuid := fmt.Sprintf("bb%030x", n)
				psrv.SetRecording(uuid, audio)
				return recordedCall(phonet.Provider, "acme.phonet.com.ua", uuid, pc.RecordingURL(uuid))
			},
			none: func() match.CallRecord {
				return recordedCall(phonet.Provider, "acme.phonet.com.ua", "cc000000000000000000000000000000", "")
			},
			fail: func() {
				psrv.Fail(phonettest.Failure{Path: "/rest/public/calls/", Status: http.StatusServiceUnavailable})
			},
			downloads: func() int {
				n := 0
				for _, r := range psrv.Requests() {
					if strings.HasPrefix(r.Path, "/rest/public/calls/") {
						n++
					}
				}
				return n
			},
		},
		{
			provider: finaz.Provider, client: fc, secret: "tk-rec-9",
			add: func(n int, audio []byte) match.CallRecord {
				id := fmt.Sprintf("f-%d", n)
				pbx.Reply("GET", "/rec/"+id, finaztest.Response{Header: http.Header{"Content-Type": {"audio/wav"}}, Body: string(audio)})
				return recordedCall(finaz.Provider, "empresa-1", id, "") // Finaz gives no links
			},
			none: func() match.CallRecord { return recordedCall(finaz.Provider, "empresa-1", "f-none", "") },
			fail: func() { pbx.Fail(finaztest.Failure{Path: "/rec/", Status: http.StatusServiceUnavailable}) },
			downloads: func() int {
				n := 0
				for _, r := range pbx.Requests() {
					if strings.HasPrefix(r.Path, "/rec/") {
						n++
					}
				}
				return n
			},
		},
	}
}

// audioOf is n's recording: size bytes that differ from another's.
func audioOf(n, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + n*13)
	}
	return b
}

// recordingPath is the API path of a call's recording.
func recordingPath(c match.CallRecord) string {
	return "/api/calls/" + c.Provider + "/" + url.PathEscape(c.CallID) + "/recording?account=" + url.QueryEscape(c.Account)
}

// fetched is an answer of a recording route.
type fetched struct {
	code   int
	header http.Header
	body   []byte
}

// tryFetch GETs target (path and query) with header h, the API token on
// /api/ paths; safe off the test's goroutine.
func (s *server) tryFetch(target string, h http.Header) (fetched, error) {
	req, err := http.NewRequest(http.MethodGet, s.URL+target, nil)
	if err != nil {
		return fetched{}, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if strings.HasPrefix(target, "/api/") && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+apiToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fetched{resp.StatusCode, resp.Header, b}, err
}

// fetch is tryFetch on the test's goroutine.
func (s *server) fetch(t *testing.T, target string, h http.Header) fetched {
	t.Helper()
	f, err := s.tryFetch(target, h)
	require.NoError(t, err)
	return f
}

// gatedFetcher holds every recording download of its client until
// release is closed, telling entered first.
type gatedFetcher struct {
	callevent.Caller
	entered, release chan struct{}
}

func (g gatedFetcher) FetchRecording(ctx context.Context, req callevent.RecordingRequest) (callevent.Recording, error) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return callevent.Recording{}, ctx.Err()
	}
	return g.Caller.(callevent.RecordingFetcher).FetchRecording(ctx, req)
}

// TestRecordingRoute: GET /api/calls/{provider}/{call_id}/recording
// streams a call's recording through the provider's client, for every
// provider with recordings: the fake's bytes with their length and type,
// byte ranges (206, suffix, 416) from the cache without another download,
// 404 for an unknown call and for a call without recording, 502 naming
// the provider when it fails and the recording on the next request once it
// recovers, 401 without the token, and one download for two concurrent
// first requests.
func TestRecordingRoute(t *testing.T) {
	t.Parallel()
	for _, f := range recordingFakes(t) {
		t.Run(f.provider, func(t *testing.T) {
			t.Parallel()
			srv := start(t, gateway.Config{RecordingCache: t.TempDir()})
			srv.SetCaller(f.provider, f.client)
			const size = 3000
			audio := audioOf(1, size)
			call := f.add(1, audio)
			srv.LogCall(call)
			path := recordingPath(call)

			got := srv.fetch(t, path, nil)
			require.Equal(t, http.StatusOK, got.code, string(got.body))
			require.Equal(t, audio, got.body)
			require.Equal(t, "3000", got.header.Get("Content-Length"))
			require.Equal(t, "bytes", got.header.Get("Accept-Ranges"))
			require.True(t, strings.HasPrefix(got.header.Get("Content-Type"), "audio/"), got.header.Get("Content-Type"))
			require.Contains(t, got.header.Get("Content-Disposition"), f.provider+"-")
			require.Equal(t, 1, f.downloads())

			for _, tc := range []struct {
				rng, contentRange string
				want              []byte
			}{
				{"bytes=100-199", "bytes 100-199/3000", audio[100:200]},
				{"bytes=-100", "bytes 2900-2999/3000", audio[size-100:]},
				{"bytes=2990-", "bytes 2990-2999/3000", audio[2990:]},
			} {
				got := srv.fetch(t, path, http.Header{"Range": {tc.rng}})
				require.Equal(t, http.StatusPartialContent, got.code, tc.rng)
				require.Equal(t, tc.contentRange, got.header.Get("Content-Range"), tc.rng)
				require.Equal(t, tc.want, got.body, tc.rng)
				require.Equal(t, fmt.Sprint(len(tc.want)), got.header.Get("Content-Length"), tc.rng)
			}
			got = srv.fetch(t, path, http.Header{"Range": {"bytes=5000-6000"}})
			require.Equal(t, http.StatusRequestedRangeNotSatisfiable, got.code)
			require.Equal(t, "bytes */3000", got.header.Get("Content-Range"))
			require.Equal(t, 1, f.downloads(), "every range from the cache")

			unknown := call
			unknown.CallID = "nobody-has-this-call"
			got = srv.fetch(t, recordingPath(unknown), nil)
			require.Equal(t, http.StatusNotFound, got.code)
			require.Contains(t, string(got.body), "no "+f.provider+` call \"nobody-has-this-call\"`)

			none := f.none()
			srv.LogCall(none)
			got = srv.fetch(t, recordingPath(none), nil)
			require.Equal(t, http.StatusNotFound, got.code, string(got.body))
			require.Contains(t, string(got.body), "no recording of "+f.provider+" call")

			// The provider fails: 502 naming it; the next request, once it
			// has recovered, downloads the recording.
			audio2 := audioOf(2, 2500)
			second := f.add(2, audio2)
			srv.LogCall(second)
			f.fail()
			got = srv.fetch(t, recordingPath(second), nil)
			require.Equal(t, http.StatusBadGateway, got.code, string(got.body))
			require.Contains(t, string(got.body), f.provider+" answered 503")
			require.NotContains(t, string(got.body), f.secret)
			got = srv.fetch(t, recordingPath(second), nil)
			require.Equal(t, http.StatusOK, got.code, string(got.body))
			require.Equal(t, audio2, got.body)

			got = srv.fetch(t, path, http.Header{"Authorization": {"Bearer wrong"}})
			require.Equal(t, http.StatusUnauthorized, got.code)

			// Two first requests at once: one download, both served.
			gate := gatedFetcher{Caller: f.client, entered: make(chan struct{}, 2), release: make(chan struct{})}
			srv.SetCaller(f.provider, gate)
			audio3 := audioOf(3, 4000)
			third := f.add(3, audio3)
			srv.LogCall(third)
			before := f.downloads()
			results := make(chan fetched, 2)
			errs := make(chan error, 2)
			for range 2 {
				go func() {
					got, err := srv.tryFetch(recordingPath(third), nil)
					errs <- err
					results <- got
				}()
			}
			<-gate.entered
			require.Eventually(t, func() bool { return srv.RecordingWaiters(f.provider, third.Account, third.CallID) == 2 },
				10*time.Second, time.Millisecond, "both requests wait for the one download")
			close(gate.release)
			for range 2 {
				require.NoError(t, <-errs)
				got := <-results
				require.Equal(t, http.StatusOK, got.code, string(got.body))
				require.Equal(t, audio3, got.body)
			}
			require.Empty(t, gate.entered, "no second download")
			require.Equal(t, before+1, f.downloads())
		})
	}
}

// TestRecordingNotServed: a provider whose client is not configured is
// 501 naming it and the setting; one whose client cannot fetch
// recordings (Finaz without download_recording) 501; an unknown provider
// 404; a bad call id 400.
func TestRecordingNotServed(t *testing.T) {
	t.Parallel()
	srv := start(t, gateway.Config{RecordingCache: t.TempDir()})
	mf := recordedCall(megafon.Provider, megafontest.Domain, "mf-x", "https://"+megafontest.Domain+"/rec/x.mp3")
	srv.LogCall(mf)
	got := srv.fetch(t, recordingPath(mf), nil)
	require.Equal(t, http.StatusNotImplemented, got.code, string(got.body))
	require.Contains(t, string(got.body), "megafon is not configured: set MEGAFON_DOMAIN and MEGAFON_API_KEY")

	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	fc, err := finaz.NewClient(finaz.Config{Click2Call: &finaz.RequestTemplate{URL: "dial"}}, callbridge.WithBaseURL(pbx.URL))
	require.NoError(t, err)
	srv.SetCaller(finaz.Provider, fc)
	fz := recordedCall(finaz.Provider, "empresa-1", "f-1", "")
	srv.LogCall(fz)
	got = srv.fetch(t, recordingPath(fz), nil)
	require.Equal(t, http.StatusNotImplemented, got.code, string(got.body))
	require.Contains(t, string(got.body), "finaz cannot fetch recordings")
	require.Empty(t, pbx.Requests())

	got = srv.fetch(t, "/api/calls/zadarma/1/recording", nil)
	require.Equal(t, http.StatusNotFound, got.code)
	require.Contains(t, string(got.body), `unknown provider \"zadarma\"`)
	got = srv.fetch(t, "/api/calls/finaz/a%01b/recording", nil)
	require.Equal(t, http.StatusBadRequest, got.code)
	require.Contains(t, string(got.body), "call_id")
}

// TestRecordingLinks: with a public URL, the recording link the API shows
// (list, call and its events) is the gateway's own, signed: it serves
// the recording with no token, ranges included, through the same code;
// a missing, altered or borrowed signature is 403. The provider's link
// stays in the log, where the gateway fetches from.
func TestRecordingLinks(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		clock := newFakeClock()
		msrv := megafontest.NewServer()
		t.Cleanup(msrv.Close)
		mc, err := megafon.NewClient(megafon.Credentials{Domain: megafontest.Domain, APIKey: megafontest.APIKey},
			callbridge.WithBaseURL(msrv.URL), noRetry)
		require.NoError(t, err)
		srv := start(t, gateway.Config{Clock: clock, DB: db, PublicURL: "https://crm.example.com/", RecordingCache: t.TempDir()})
		srv.SetCaller(megafon.Provider, mc)
		audio := audioOf(7, 5000)
		link := msrv.SetRecording("mf-link-1.mp3", audio)
		call := megafontest.Call{ID: "mf-link-1", Direction: "in", Phone: "74950005566", User: "andy", Ext: "701"}
		sendMegafon(t, srv, megafontest.Event("INCOMING", call),
			megafontest.History(call, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 60, Link: link}))
		waitEvents(t, srv, 2)
		clock.Advance(match.DefaultGracePeriod)
		require.Eventually(t, func() bool { return len(srv.Calls()) == 1 }, 10*time.Second, 5*time.Millisecond)

		var calls []gateway.Call
		getJSON(t, srv, "/api/calls", &calls)
		require.Len(t, calls, 1)
		signed := calls[0].RecordingURL
		// (MegaFon's account is the PBX domain, unset here: "".)
		require.True(t, strings.HasPrefix(signed, "https://crm.example.com/recordings/megafon/mf-link-1?sig="), signed)
		require.Equal(t, signed, srv.Calls()[0].RecordingURL)
		code, body := srv.do(t, http.MethodGet, "/api/calls/megafon/mf-link-1", "", "")
		require.Equal(t, http.StatusOK, code, body)
		var d gateway.CallDetail
		require.NoError(t, json.Unmarshal([]byte(body), &d))
		require.Equal(t, signed, d.Call.RecordingURL)
		linked := 0
		for _, e := range d.Events {
			if e.RecordingURL != "" {
				require.Equal(t, signed, e.RecordingURL, "the history event's link too")
				linked++
			}
		}
		require.Equal(t, 1, linked)
		require.NotContains(t, body, msrv.URL, "the provider's link is not shown")

		u, err := url.Parse(signed)
		require.NoError(t, err)
		target := u.RequestURI()
		got := srv.fetch(t, target, nil)
		require.Equal(t, http.StatusOK, got.code, string(got.body))
		require.Equal(t, audio, got.body)
		got = srv.fetch(t, target, http.Header{"Range": {"bytes=100-199"}})
		require.Equal(t, http.StatusPartialContent, got.code)
		require.Equal(t, audio[100:200], got.body)
		require.Equal(t, "bytes 100-199/5000", got.header.Get("Content-Range"))

		sig := u.Query().Get("sig")
		altered := []byte(sig)
		altered[3] ^= 1
		for _, bad := range []string{
			"/recordings/megafon/mf-link-1",
			"/recordings/megafon/mf-link-1?sig=",
			"/recordings/megafon/mf-link-1?sig=" + string(altered),
			"/recordings/megafon/mf-link-1?sig=" + sig + "%25",
			"/recordings/megafon/mf-link-2?sig=" + sig,
			"/recordings/megafon/mf-link-1?account=other&sig=" + sig,
			"/recordings/telphin/mf-link-1?sig=" + sig,
		} {
			got := srv.fetch(t, bad, nil)
			require.Equal(t, http.StatusForbidden, got.code, bad)
			require.Contains(t, string(got.body), "sig:", bad)
		}
	})
}

// TestRecordingLinkInAmoCRM: in amoCRM mode with a public URL, the call
// amoCRM gets carries the gateway's signed link, which amoCRM's users can
// open without the provider's credentials.
func TestRecordingLinkInAmoCRM(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := start(t, gateway.Config{Demo: true, CRM: gateway.CRMAmoCRM, Clock: clock, PublicURL: "https://crm.example.com",
		RecordingCache: t.TempDir()})
	call := megafontest.Call{ID: "mf-amo-1", Direction: "in", Phone: "74950005566", User: "andy", Ext: "701"}
	sendMegafon(t, srv, megafontest.Event("INCOMING", call),
		megafontest.History(call, megafontest.Outcome{Status: "Success", Start: clock.Now().Add(-time.Minute), Duration: 60,
			Link: "https://" + megafontest.Domain + "/rec/mf-amo-1.mp3"}))
	waitEvents(t, srv, 2)
	clock.Advance(match.DefaultGracePeriod)
	var link any
	require.Eventually(t, func() bool {
		for _, c := range srv.AmoCRMFake().Calls() {
			if c.Item["uniq"] == amocrm.CallUniq(megafon.Provider, megafontest.Domain, call.ID) {
				link = c.Item["link"]
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	require.IsType(t, "", link)
	require.True(t, strings.HasPrefix(link.(string), "https://crm.example.com/recordings/megafon/mf-amo-1?"), link)
	require.Equal(t, link, srv.Calls()[0].RecordingURL)
}

// TestRecordingCacheBound: the cache keeps at most its bound on disk,
// deleting the least recently served recording first; a restart serves
// what is on disk without downloading it again, and a damaged file is
// downloaded again.
func TestRecordingCacheBound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := recordingFakes(t)[1] // MegaFon
	cfg := gateway.Config{RecordingCache: dir, RecordingCacheMB: 1}
	srv := start(t, cfg)
	srv.SetCaller(f.provider, f.client)
	const size = 400 << 10 // two fit in 1 MiB, three do not
	var calls []match.CallRecord
	var audios [][]byte
	for n := range 3 {
		audios = append(audios, audioOf(n, size))
		calls = append(calls, f.add(n, audios[n]))
		srv.LogCall(calls[n])
	}
	get := func(s *server, n int) {
		t.Helper()
		got := s.fetch(t, recordingPath(calls[n]), nil)
		require.Equal(t, http.StatusOK, got.code, string(got.body))
		require.True(t, bytes.Equal(audios[n], got.body), "recording %d", n)
	}
	onDisk := func() (files int, bytes int64) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			info, err := e.Info()
			require.NoError(t, err)
			files++
			bytes += info.Size()
		}
		return files, bytes
	}
	get(srv, 0)
	get(srv, 1)
	get(srv, 0) // 0 is now the most recently served
	require.Equal(t, 2, f.downloads())
	get(srv, 2) // 1 goes
	require.Equal(t, 3, f.downloads())
	files, total := onDisk()
	require.Equal(t, 2, files)
	require.LessOrEqual(t, total, int64(1<<20))
	get(srv, 0)
	require.Equal(t, 3, f.downloads(), "0 was kept")
	get(srv, 1)
	require.Equal(t, 4, f.downloads(), "1 was evicted")

	// Now 1 and 0 are on disk. A restart serves them from there; a
	// damaged file is downloaded again.
	require.NoError(t, srv.stop())
	srv = start(t, cfg)
	srv.SetCaller(f.provider, f.client)
	for _, c := range calls {
		srv.LogCall(c)
	}
	get(srv, 0)
	get(srv, 1)
	require.Equal(t, 4, f.downloads(), "served from the disk")
	damaged := filepath.Join(dir, gateway.RecordKey(calls[0].Provider, calls[0].Account, calls[0].CallID))
	require.NoError(t, os.Truncate(damaged, 1000))
	require.NoError(t, srv.stop())
	srv = start(t, cfg)
	srv.SetCaller(f.provider, f.client)
	srv.LogCall(calls[0])
	get(srv, 0)
	require.Equal(t, 5, f.downloads(), "the damaged file downloaded again")
	files, total = onDisk()
	require.Equal(t, 2, files)
	require.LessOrEqual(t, total, int64(1<<20))
}

// TestRecordingSettings: the recording cache's directory and bound and
// the links' secret come from the configuration file (the secret as
// {env: …}), overridden by flags and the environment; the secret is never
// shown; a bad bound is refused naming the setting.
func TestRecordingSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "callbridge.yaml")
	require.NoError(t, os.WriteFile(path, []byte("recordings: {cache: /var/cache/cb, cache_mb: 64, link_secret: {env: REC_SECRET}}\n"), 0o600))
	env := map[string]string{"REC_SECRET": "rec-SECRET-9"}
	getenv := func(k string) string { return env[k] }
	c, err := gateway.ParseConfig([]string{"-config", path}, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "/var/cache/cb", c.RecordingCache)
	require.Equal(t, 64, c.RecordingCacheMB)
	require.Equal(t, "rec-SECRET-9", c.RecordingSecret)
	require.NotContains(t, c.String(), "rec-SECRET-9")
	require.Equal(t, "env REC_SECRET", c.SecretsFrom["recordings.link_secret"])

	env["CRM_RECORDING_CACHE_MB"], env["CRM_RECORDING_SECRET"] = "8", "other-SECRET"
	c, err = gateway.ParseConfig([]string{"-config", path, "-recording-cache", filepath.Join(dir, "rec")}, getenv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "rec"), c.RecordingCache)
	require.Equal(t, 8, c.RecordingCacheMB)
	require.Equal(t, "other-SECRET", c.RecordingSecret)

	env["CRM_RECORDING_CACHE_MB"] = "lots"
	_, err = gateway.ParseConfig([]string{"-config", path}, getenv, io.Discard)
	require.ErrorContains(t, err, "-recording-cache-mb (CRM_RECORDING_CACHE_MB)")
	require.NoError(t, os.WriteFile(path, []byte("recordings:\n  cache_mb: -3\n"), 0o600))
	_, err = gateway.ParseConfig([]string{"-config", path}, noEnv, io.Discard)
	require.ErrorContains(t, err, ":2:13: recordings.cache_mb: -3 is not a number of MiB")
}
