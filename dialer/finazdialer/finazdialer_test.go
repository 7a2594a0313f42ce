package finazdialer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/dialer/finazdialer"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/webhook"
)

var (
	ctx = context.Background()
	t0  = time.Date(2025, 3, 14, 13, 0, 0, 0, time.UTC)
)

const queue = "q7"

// pbx is the fake telephony system's dialer: its mailing (the last CSV
// uploaded), clears, and the results it reports.
type pbx struct {
	srv     *finaztest.Server
	mu      sync.Mutex
	results []string // JSON objects
}

func (p *pbx) result(contact, ddd, number, status string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.results = append(p.results, fmt.Sprintf(`{"contact_id":%q,"ddd":%q,"number":%q,"called_at":%q,"status":%q}`,
		contact, ddd, number, at.Format(time.RFC3339), status))
}

// uploads are the CSV files uploaded, clears the clears, in order.
func (p *pbx) log() (uploads []string, ops []string) {
	for _, r := range p.srv.Requests() {
		switch {
		case r.Method == http.MethodDelete:
			ops = append(ops, "clear")
		case r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/mailing"):
			ops = append(ops, "upload")
			uploads = append(uploads, string(r.Files["file"].Data))
		}
	}
	return uploads, ops
}

func newPBX(t *testing.T) (*pbx, *finaz.Client) {
	p := &pbx{srv: finaztest.NewServer()}
	t.Cleanup(p.srv.Close)
	path := "/api/v1/queues/" + queue
	p.srv.Reply("DELETE", path+"/mailing", finaztest.Response{Status: 204})
	p.srv.Reply("POST", path+"/mailing", finaztest.Response{Status: 201, Body: `{}`})
	p.srv.Handle("GET", path+"/results", func(finaztest.Request) finaztest.Response {
		p.mu.Lock()
		defer p.mu.Unlock()
		return finaztest.Response{Body: `{"results":[` + strings.Join(p.results, ",") + `]}`}
	})
	cfg, err := finaz.LoadTemplate("generic-rest")
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetSecret("api_token", "s3cret")
	c, err := finaz.NewClient(cfg, callbridge.WithBaseURL(p.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

type rig struct {
	clock  *matchtest.Clock
	store  *dialer.MemStore
	d      *dialer.Dialer
	starts []dialer.CallStart
}

func newRig(t *testing.T, remote dialer.RemoteDialer) *rig {
	r := &rig{clock: matchtest.NewClock(t0), store: dialer.NewMemStore()}
	d, err := dialer.New(ctx, dialer.Config{Store: r.store, Clock: r.clock,
		Remotes: map[string]dialer.RemoteDialer{finaz.Provider: remote},
		OnCall:  func(_ context.Context, s dialer.CallStart) { r.starts = append(r.starts, s) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r.d = d
	return r
}

func (r *rig) status(t *testing.T, id string) dialer.Status {
	t.Helper()
	st, err := r.d.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func campaign() dialer.Campaign {
	return dialer.Campaign{ID: "spring", Provider: finaz.Provider, Mode: dialer.Remote, Queue: queue, Country: "BR",
		Retry: dialer.RetryPolicy{
			Busy:     dialer.Retry{Delay: callevent.Seconds(10 * time.Minute), MaxAttempts: 2},
			NoAnswer: dialer.Retry{Delay: callevent.Seconds(10 * time.Minute), MaxAttempts: 2},
		}}
}

func targets() []dialer.Target {
	var ts []dialer.Target
	for i := 1; i <= 6; i++ {
		ts = append(ts, dialer.Target{Phone: fmt.Sprintf("(11) 98765-00%02d", i), Name: fmt.Sprint("Cliente ", i)})
	}
	return ts
}

// TestRemoteCampaign runs a campaign on the Finaz contract's own dialer:
// cleared and loaded (the do-not-call number left out) at start, its
// progress read from the dialer's results (a round complete only when
// every target has one), the retries due loaded as the next round, the
// "answered" notification opening the target's card, done at the end.
func TestRemoteCampaign(t *testing.T) {
	p, client := newPBX(t)
	remote, err := finazdialer.New(client)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, remote)
	if err := r.d.DoNotCall(ctx, "BR", "(11) 98765-0006"); err != nil {
		t.Fatal(err)
	}
	c, err := r.d.Create(ctx, campaign(), targets())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	uploads, ops := p.log()
	want := "ID;CPF;NOME;DDD1Telefone1;DDD2Telefone2;DDD3Telefone3\r\n" +
		"spring:1;;Cliente 1;11987650001;;\r\nspring:2;;Cliente 2;11987650002;;\r\nspring:3;;Cliente 3;11987650003;;\r\n" +
		"spring:4;;Cliente 4;11987650004;;\r\nspring:5;;Cliente 5;11987650005;;\r\n"
	if !cmp.Equal(ops, []string{"clear", "upload"}) || len(uploads) != 1 || uploads[0] != strings.ReplaceAll(want, "\r\n", "\n") && uploads[0] != want {
		t.Fatalf("ops %v, mailing:\n%s", ops, uploads)
	}
	if st := r.status(t, c.ID); st.Dialing != 5 || st.Outcomes[dialer.DoNotCall] != 1 {
		t.Fatalf("after start: %+v", st)
	}

	// The dialer's operator answers target 1: the CRM opens its card.
	h, err := finaz.NewHandler(r.d, webhook.WithoutAuth(), webhook.WithClock(r.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, finaztest.NewDiscadorRequest("/telephony-proxy/", finaztest.Notification{
		PID: "spring:1", Num: "11987650001", CID: "pbx-1", Ramal: "2001", EmpresaID: "e1"}))
	if rec.Code != http.StatusOK || len(r.starts) != 1 || r.starts[0].Target.Name != "Cliente 1" || r.starts[0].Employee != "2001" ||
		r.starts[0].CallID != "pbx-1" {
		t.Fatalf("notification: %d, hooks %+v", rec.Code, r.starts)
	}

	r.clock.Advance(5 * time.Minute)
	at := r.clock.Now()
	p.result("spring:1", "11", "987650001", "ANSWERED", at)
	p.result("spring:2", "11", "987650002", "BUSY", at)
	p.result("spring:3", "11", "987650003", "INVALID_NUMBER", at)
	p.result("spring:4", "11", "987650004", "NO_ANSWER", at)
	p.result("other:4", "11", "987650004", "ANSWERED", at) // another campaign's
	if err := r.d.Sync(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	st := r.status(t, c.ID)
	if st.Dialing != 1 || st.Pending != 2 || st.Outcomes[dialer.Answered] != 1 || st.Outcomes[dialer.Invalid] != 1 {
		t.Fatalf("after the first results: %+v", st)
	}
	if _, ops := p.log(); len(ops) != 2 {
		t.Fatalf("the round is not complete, yet: %v", ops)
	}
	p.result("spring:5", "11", "987650005", "VOICEMAIL", at.Add(time.Minute))
	r.clock.Advance(10 * time.Minute)
	if err := r.d.Sync(ctx, c.ID); err != nil { // round 1 complete: the retries are due
		t.Fatal(err)
	}
	uploads, ops = p.log()
	if !cmp.Equal(ops, []string{"clear", "upload", "clear", "upload"}) || !strings.Contains(uploads[1], "spring:2;") ||
		!strings.Contains(uploads[1], "spring:4;") || strings.Count(uploads[1], "spring:") != 2 {
		t.Fatalf("second round: %v\n%s", ops, uploads)
	}
	// The second round's results come with the first's: only the new count.
	p.result("spring:2", "11", "987650002", "ANSWERED", r.clock.Now())
	p.result("spring:4", "11", "987650004", "NO_ANSWER", r.clock.Now())
	if err := r.d.Sync(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// Target 5 (voicemail, no answer) was due again ten minutes after
	// its result: a third round.
	if st := r.status(t, c.ID); st.Campaign.State != dialer.Running || st.Pending != 1 || st.Dialing != 0 {
		t.Fatalf("after the second round: %+v", st)
	}
	r.clock.Advance(10 * time.Minute)
	if err := r.d.Sync(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	p.result("spring:5", "11", "987650005", "NO_ANSWER", r.clock.Now())
	if err := r.d.Sync(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	st = r.status(t, c.ID)
	if st.Campaign.State != dialer.Done || st.Attempts != 8 || st.Outcomes[dialer.Answered] != 2 || st.Outcomes[dialer.NoAnswer] != 2 ||
		st.Outcomes[dialer.Invalid] != 1 || st.Outcomes[dialer.DoNotCall] != 1 {
		t.Fatalf("done: %+v", st)
	}
	if uploads, ops := p.log(); len(ops) != 6 || strings.Count(uploads[2], "spring:") != 1 || !strings.Contains(uploads[2], "spring:5;") {
		t.Fatalf("third round: %v\n%s", ops, uploads)
	}
}

// TestRemotePause: pausing clears the dialer and reads its results first,
// so the targets without a result (never dialled) go back to the list and
// are loaded again on resume; stop does the same and ends the campaign.
func TestRemotePause(t *testing.T) {
	p, client := newPBX(t)
	remote, err := finazdialer.New(client)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, remote)
	c, err := r.d.Create(ctx, campaign(), targets()[:3])
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Minute)
	p.result("spring:1", "11", "987650001", "ANSWERED", r.clock.Now())
	if err := r.d.Pause(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	st := r.status(t, c.ID)
	if st.Campaign.State != dialer.Paused || st.Dialing != 0 || st.Pending != 2 || st.Outcomes[dialer.Answered] != 1 {
		t.Fatalf("paused: %+v", st)
	}
	as, _ := r.store.Attempts(ctx, c.ID, 2)
	if len(as) != 1 || as[0].Outcome != dialer.Skipped {
		t.Fatalf("withdrawn attempt: %+v", as)
	}
	if err := r.d.Resume(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	uploads, ops := p.log()
	if !cmp.Equal(ops, []string{"clear", "upload", "clear", "clear", "upload"}) || strings.Contains(uploads[1], "spring:1;") ||
		strings.Count(uploads[1], "spring:") != 2 {
		t.Fatalf("resumed: %v\n%v", ops, uploads)
	}
	if err := r.d.Stop(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if st := r.status(t, c.ID); st.Campaign.State != dialer.Stopped || st.Dialing != 0 || st.Pending != 2 {
		t.Fatalf("stopped: %+v", st)
	}
}

// TestRemoteErrors: a client without the dialer's requests, or without
// click-to-call for a power campaign, is a clear error; a remote campaign
// without a remote dialer does not start.
func TestRemoteErrors(t *testing.T) {
	p := finaztest.NewServer()
	t.Cleanup(p.Close)
	only, err := finaz.NewClient(finaz.Config{DialerResults: &finaz.RequestTemplate{URL: "r",
		Results: &finaz.ResultsSpec{Format: "csv", Fields: finaz.ResultFields{ContactID: "0", Phone: "1", Status: "2"}}}},
		callbridge.WithBaseURL(p.URL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := finazdialer.New(only); !errors.Is(err, callevent.ErrUnsupported) || !strings.Contains(err.Error(), "upload_contacts") {
		t.Fatalf("New without upload: %v", err)
	}
	if _, err := finazdialer.Caller(only); !errors.Is(err, dialer.ErrNoCaller) || !strings.Contains(err.Error(), "click2call") {
		t.Fatalf("Caller without click2call: %v", err)
	}
	d, err := dialer.New(ctx, dialer.Config{Store: dialer.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Create(ctx, campaign(), targets())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, c.ID); !errors.Is(err, dialer.ErrNoCaller) {
		t.Fatalf("start without a remote dialer: %v", err)
	}
}
