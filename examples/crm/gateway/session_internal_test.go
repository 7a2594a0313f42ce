package gateway

import (
	"slices"
	"testing"
	"time"
)

// FuzzLoginToken: no token crashes the check; only a token the gateway
// signed names an employee, and one it signed names that employee until
// it expires.
func FuzzLoginToken(f *testing.F) {
	g := &Gateway{loginKey: newLoginKey("api-token")}
	now := time.Unix(1_800_000_000, 0)
	f.Add("anna", g.loginToken("anna", now.Add(time.Hour)))
	f.Add("", "YW5uYQ.1.x")
	f.Add("x", "...")
	f.Fuzz(func(t *testing.T, employee, tok string) {
		if id, err := g.checkLoginToken(tok, now); err == nil {
			if id == "" {
				t.Fatalf("%q: valid with no employee", tok)
			}
			if g.loginToken(id, time.Time{}) == tok {
				t.Fatalf("%q: an expired token accepted", tok)
			}
		}
		if employee == "" {
			return
		}
		own := g.loginToken(employee, now.Add(time.Minute))
		if id, err := g.checkLoginToken(own, now); (err == nil) != (len(own) <= 512) || (err == nil && id != employee) {
			t.Fatalf("%q: its own token gave %q, %v", employee, id, err)
		}
		if _, err := g.checkLoginToken(own, now.Add(2*time.Minute)); err == nil {
			t.Fatalf("%q: accepted after it expired", employee)
		}
	})
}

// FuzzPasswordHashAndLanguage: no configured hash nor Accept-Language
// crashes their readers, and a language is always one of the workspace's.
func FuzzPasswordHashAndLanguage(f *testing.F) {
	f.Add("pbkdf2-sha256$10000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "en-US,en;q=0.9")
	f.Add("pbkdf2-sha256$1$$", "ru;q=2")
	f.Fuzz(func(t *testing.T, hash, accept string) {
		if h, err := parsePasswordHash(hash); err == nil && (h.iter < MinPasswordIterations || len(h.key) != passwordKeyLen) {
			t.Fatalf("%q accepted: %+v", hash, h)
		}
		if l := acceptLanguage(accept); !slices.Contains(languages, l) {
			t.Fatalf("%q: language %q", accept, l)
		}
	})
}
