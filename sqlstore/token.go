package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
)

// TokenStore returns a callbridge.TokenStore that keeps one OAuth token
// (as JSON) under name, e.g. "amocrm:<subdomain>" or "telphin:<app id>":
// give it to the client with callbridge.WithTokenStore. Save commits
// before it returns, on SQLite with synchronous=FULL even when the
// database is NORMAL, so a rotated refresh token survives a power loss
// before it is used. Load returns (nil, nil) when nothing is stored. The
// token's values never appear in errors.
func (d *DB) TokenStore(name string) callbridge.TokenStore {
	return &tokenStore{db: d, name: name}
}

// TokenSaved returns when the token under name was last saved (by the
// database's clock, WithClock), and false when none is stored: how long
// an OAuth grant has been idle, for a caller that renews it before its
// refresh token lapses.
func (d *DB) TokenSaved(ctx context.Context, name string) (time.Time, bool, error) {
	var at int64
	err := d.db.QueryRowContext(ctx, "SELECT updated_at FROM cb_tokens WHERE name = $1", name).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, wrap(err, "token %q saved", name)
	}
	return fromNanos(at), true, nil
}

type tokenStore struct {
	db   *DB
	name string
}

// Load implements callbridge.TokenStore.
func (s *tokenStore) Load(ctx context.Context) (*oauth2.Token, error) {
	var raw string
	err := s.db.db.QueryRowContext(ctx, "SELECT token FROM cb_tokens WHERE name = $1", s.name).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err, "load token %q", s.name)
	}
	var tok oauth2.Token
	if err := json.Unmarshal([]byte(raw), &tok); err != nil {
		return nil, fmt.Errorf("sqlstore: load token %q: stored token is not valid JSON", s.name)
	}
	return &tok, nil
}

// Save implements callbridge.TokenStore.
func (s *tokenStore) Save(ctx context.Context, tok *oauth2.Token) error {
	if tok == nil {
		return fmt.Errorf("sqlstore: save token %q: nil token", s.name)
	}
	raw, err := json.Marshal(tok)
	if err != nil {
		return fmt.Errorf("sqlstore: save token %q: cannot encode the token", s.name)
	}
	const q = "INSERT INTO cb_tokens (name, token, updated_at) VALUES ($1, $2, $3)" +
		" ON CONFLICT (name) DO UPDATE SET token = excluded.token, updated_at = excluded.updated_at"
	now := s.db.cfg.now().UnixNano()
	unlock, err := s.db.lockWrite(ctx)
	if err != nil {
		return wrap(err, "save token %q", s.name)
	}
	defer unlock()
	if s.db.dialect != DialectSQLite || s.db.syncMode == "FULL" {
		_, err := s.db.db.ExecContext(ctx, q, s.name, string(raw), now)
		return wrap(err, "save token %q", s.name)
	}
	// synchronous=NORMAL does not sync the WAL at commit: make this one
	// commit FULL on its own connection, then restore the level.
	conn, err := s.db.db.Conn(ctx)
	if err != nil {
		return wrap(err, "save token %q", s.name)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
		return wrap(err, "save token %q", s.name)
	}
	_, err = conn.ExecContext(ctx, q, s.name, string(raw), now)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = "+s.db.syncMode); rerr != nil {
		// A connection left at FULL is only slower; drop it anyway.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return wrap(err, "save token %q", s.name)
}
