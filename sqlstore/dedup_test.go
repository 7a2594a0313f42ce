package sqlstore

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbridge/callbridge/webhook"
)

// claimIs checks one Claim answer: "claim" (true, nil), "done" (false,
// nil) or "busy" (false, ErrInProgress).
func claimIs(t *testing.T, d webhook.Dedup, id, want string) {
	t.Helper()
	ok, err := d.Claim(ctx, id)
	var got string
	switch {
	case ok && err == nil:
		got = "claim"
	case !ok && err == nil:
		got = "done"
	case !ok && errors.Is(err, webhook.ErrInProgress):
		got = "busy"
	default:
		t.Fatalf("Claim(%s) = %v, %v", id, ok, err)
	}
	if got != want {
		t.Fatalf("Claim(%s) = %s, want %s", id, got, want)
	}
}

func TestDedup(t *testing.T) {
	const ttl, claimTimeout = time.Hour, 5 * time.Minute
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		clock := newFakeClock()
		// Two instances on one database.
		a := open(t, dsn, WithClock(clock), WithClaimTimeout(claimTimeout)).Dedup(ttl)
		b := open(t, dsn, WithClock(clock), WithClaimTimeout(claimTimeout)).Dedup(ttl)

		t.Run("claim, in progress, done, expired", func(t *testing.T) {
			claimIs(t, a, "e1", "claim")
			claimIs(t, a, "e1", "busy")
			claimIs(t, b, "e1", "busy")
			a.Release(ctx, "e1", true)
			claimIs(t, b, "e1", "done")
			claimIs(t, a, "e1", "done")
			clock.Advance(ttl - time.Second)
			claimIs(t, b, "e1", "done")
			clock.Advance(time.Second)
			claimIs(t, b, "e1", "claim") // expired: processed again
			b.Release(ctx, "e1", true)
		})
		t.Run("release not done", func(t *testing.T) {
			claimIs(t, a, "e2", "claim")
			a.Release(ctx, "e2", false)
			claimIs(t, b, "e2", "claim")
			b.Release(ctx, "e2", true)
			// Release(false) of a done id forgets it (a dead-lettered event).
			a.Release(ctx, "e2", false)
			claimIs(t, a, "e2", "claim")
		})
		t.Run("stale claim taken over", func(t *testing.T) {
			claimIs(t, a, "e3", "claim") // a dies mid-delivery
			clock.Advance(claimTimeout - time.Second)
			claimIs(t, b, "e3", "busy")
			clock.Advance(time.Second)
			claimIs(t, b, "e3", "claim")
			// a's late failure does not drop b's live claim.
			a.Release(ctx, "e3", false)
			claimIs(t, a, "e3", "busy")
			b.Release(ctx, "e3", true)
			claimIs(t, a, "e3", "done")
		})
	})
}

func TestDedupConcurrentClaims(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		ds := []webhook.Dedup{open(t, dsn).Dedup(time.Hour), open(t, dsn).Dedup(time.Hour)}
		const n = 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		claimed, busy := 0, 0
		for i := range n {
			wg.Go(func() {
				ok, err := ds[i%2].Claim(ctx, "same")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case ok:
					claimed++
				case errors.Is(err, webhook.ErrInProgress):
					busy++
				default:
					t.Errorf("Claim: %v %v", ok, err)
				}
			})
		}
		wg.Wait()
		if claimed != 1 || busy != n-1 {
			t.Errorf("%d claimed, %d in progress; want 1 and %d", claimed, busy, n-1)
		}
	})
}

func TestPurgeDedup(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clock := newFakeClock()
		db := newDB(t, dv, WithClock(clock), WithClaimTimeout(time.Minute))
		d := db.Dedup(time.Hour)
		for _, id := range []string{"done1", "done2", "claimed"} {
			claimIs(t, d, id, "claim")
		}
		d.Release(ctx, "done1", true)
		d.Release(ctx, "done2", true)
		if n, err := db.PurgeDedup(ctx); err != nil || n != 0 {
			t.Fatalf("PurgeDedup now = %d, %v; want 0", n, err)
		}
		clock.Advance(2 * time.Minute) // the claim is stale
		if n, err := db.PurgeDedup(ctx); err != nil || n != 1 {
			t.Fatalf("PurgeDedup after the claim timeout = %d, %v; want 1", n, err)
		}
		clock.Advance(time.Hour)
		if n, err := db.PurgeDedup(ctx); err != nil || n != 2 {
			t.Fatalf("PurgeDedup after the ttl = %d, %v; want 2", n, err)
		}
		claimIs(t, d, "done1", "claim")
	})
}

func TestDedupReleaseErrorIsLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	db, err := Open(ctx, t.TempDir()+"/d.db", WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	d := db.Dedup(time.Hour)
	claimIs(t, d, "e", "claim")
	db.Close()
	d.Release(ctx, "e", true)
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "dedup release failed") || !strings.Contains(buf.String(), "id=e") {
		t.Errorf("log = %q, want the failed release", buf.String())
	}
	if _, err := d.Claim(ctx, "x"); err == nil || !strings.HasPrefix(err.Error(), "sqlstore: dedup claim: ") {
		t.Errorf("Claim on a closed database: %v", err)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
