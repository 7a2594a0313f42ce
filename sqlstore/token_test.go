package sqlstore

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"
)

func TestTokenStore(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		dsn := dv.dsn(t)
		db := open(t, dsn)
		s := db.TokenStore("amocrm:example")
		if tok, err := s.Load(ctx); tok != nil || err != nil {
			t.Fatalf("Load of nothing = %v, %v; want nil, nil", tok, err)
		}
		if err := s.Save(ctx, nil); err == nil {
			t.Error("Save(nil) succeeded")
		}
		exp := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
		t1 := &oauth2.Token{AccessToken: "access-1", TokenType: "Bearer", RefreshToken: "refresh-1", Expiry: exp}
		if err := s.Save(ctx, t1); err != nil {
			t.Fatal(err)
		}
		t2 := &oauth2.Token{AccessToken: "access-2", TokenType: "Bearer", RefreshToken: "refresh-2", Expiry: exp.Add(time.Hour)}
		if err := s.Save(ctx, t2); err != nil { // a rotation replaces
			t.Fatal(err)
		}
		if err := db.TokenStore("telphin:app").Save(ctx, t1); err != nil {
			t.Fatal(err)
		}
		db.Close()

		// Durable: another handle (a restarted process) reads it back.
		db2 := open(t, dsn)
		opt := cmpopts.IgnoreUnexported(oauth2.Token{})
		for name, want := range map[string]*oauth2.Token{"amocrm:example": t2, "telphin:app": t1} {
			got, err := db2.TokenStore(name).Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, opt); diff != "" {
				t.Errorf("Load(%s) (-want +got):\n%s", name, diff)
			}
		}
		if dv.name == "sqlite" {
			// Save switches its connection to FULL and back: the one
			// connection besides the writer's (see beginGroup).
			db2.db.SetMaxOpenConns(2)
			if err := db2.TokenStore("x").Save(ctx, t1); err != nil {
				t.Fatal(err)
			}
			var sync int
			if err := db2.db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
				t.Errorf("synchronous = %d, %v; want 1 (NORMAL)", sync, err)
			}
		}
	})
}

// TestTokenSaved: TokenSaved tells when a token was last saved, by the
// database's clock, and that none is stored.
func TestTokenSaved(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		clock := newFakeClock()
		db := newDB(t, dv, WithClock(clock))
		if at, ok, err := db.TokenSaved(ctx, "amocrm:example"); ok || err != nil || !at.IsZero() {
			t.Fatalf("TokenSaved of nothing = %v, %v, %v", at, ok, err)
		}
		s := db.TokenStore("amocrm:example")
		if err := s.Save(ctx, &oauth2.Token{AccessToken: "a1", RefreshToken: "r1"}); err != nil {
			t.Fatal(err)
		}
		first := clock.Now()
		clock.Advance(40 * 24 * time.Hour)
		if at, ok, err := db.TokenSaved(ctx, "amocrm:example"); !ok || err != nil || !at.Equal(first) {
			t.Fatalf("TokenSaved = %v, %v, %v; want %v", at, ok, err, first)
		}
		if err := s.Save(ctx, &oauth2.Token{AccessToken: "a2", RefreshToken: "r2"}); err != nil {
			t.Fatal(err)
		}
		if at, ok, err := db.TokenSaved(ctx, "amocrm:example"); !ok || err != nil || !at.Equal(clock.Now()) {
			t.Fatalf("TokenSaved after a rotation = %v, %v, %v; want %v", at, ok, err, clock.Now())
		}
	})
}
