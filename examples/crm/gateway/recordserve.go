package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
)

// linkPurpose separates the key of the recording links from other uses
// of the secret it is derived from.
const linkPurpose = "callbridge recording links v1"

// recordingDir is where the recording cache lives: Config.RecordingCache,
// else "recordings" beside a SQLite database file, else
// callbridge-recordings in the temporary directory.
func recordingDir(c Config) string {
	if c.RecordingCache != "" {
		return c.RecordingCache
	}
	if f := sqliteFile(c.DB); f != "" {
		return filepath.Join(filepath.Dir(f), "recordings")
	}
	return filepath.Join(os.TempDir(), "callbridge-recordings")
}

// sqliteFile is the file of a SQLite database name (a path or a "file:"
// URI), "" for none, an in-memory one or PostgreSQL.
func sqliteFile(db string) string {
	db = strings.TrimSpace(db)
	if db == "" || strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return ""
	}
	if rest, ok := strings.CutPrefix(db, "file:"); ok {
		if strings.Contains(rest, "mode=memory") {
			return ""
		}
		db, _, _ = strings.Cut(rest, "?")
	}
	if db == "" || db == MemoryDB {
		return ""
	}
	return db
}

// newLinkKey derives the key that signs the recording links from secret.
func newLinkKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(linkPurpose))
	return m.Sum(nil)
}

// linkSig is the signature of the link to a call's recording.
func (g *Gateway) linkSig(provider, account, callID string) []byte {
	m := hmac.New(sha256.New, g.linkKey)
	m.Write([]byte(provider + "\x00" + account + "\x00" + callID))
	return m.Sum(nil)
}

// recordingLink is the link to a call's recording that the gateway gives
// out (the API, amoCRM's call): with a public URL, its own signed
// /recordings/{provider}/{call_id}?sig=…, which does not expire and needs
// no credentials of the provider's; without one, the provider's link
// as it came. "" when the provider gave none.
func (g *Gateway) recordingLink(provider, account, callID, link string) string {
	if link == "" || g.cfg.PublicURL == "" {
		return link
	}
	q := url.Values{"sig": {base64.RawURLEncoding.EncodeToString(g.linkSig(provider, account, callID))}}
	if account != "" {
		q.Set("account", account)
	}
	return strings.TrimRight(g.cfg.PublicURL, "/") + "/recordings/" + url.PathEscape(provider) + "/" + url.PathEscape(callID) + "?" + q.Encode()
}

// presented is rec as the gateway shows it: with its recordingLink.
func (g *Gateway) presented(rec match.CallRecord) match.CallRecord {
	rec.RecordingURL = g.recordingLink(rec.Provider, rec.Account, rec.CallID, rec.RecordingURL)
	return rec
}

// appendCall is appendCall of the record as presented.
func (g *Gateway) appendCall(b []byte, rec *match.CallRecord) ([]byte, error) {
	if rec.RecordingURL != "" && g.cfg.PublicURL != "" {
		p := g.presented(*rec)
		return appendCall(b, &p)
	}
	return appendCall(b, rec)
}

// apiRecording is GET /api/calls/{provider}/{call_id}/recording?account=…:
// the call's recording (serveRecording).
func (g *Gateway) apiRecording(w http.ResponseWriter, r *http.Request) {
	provider, ok := pathProvider(w, r)
	if !ok {
		return
	}
	g.serveRecording(w, r, provider, r.URL.Query().Get("account"), r.PathValue("call_id"))
}

// linkedRecording is GET /recordings/{provider}/{call_id}?account=…&sig=…,
// the link recordingLink gives out: serveRecording with no token, for a
// valid signature of the provider, account and call id (403 otherwise).
func (g *Gateway) linkedRecording(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	provider, account, callID := r.PathValue("provider"), q.Get("account"), r.PathValue("call_id")
	sig, err := base64.RawURLEncoding.DecodeString(q.Get("sig"))
	if err != nil || !hmac.Equal(sig, g.linkSig(provider, account, callID)) {
		writeError(w, http.StatusForbidden, "sig: missing or invalid: not a recording link of this gateway, or its secret changed")
		return
	}
	if provider, ok := pathProvider(w, r); ok {
		g.serveRecording(w, r, provider, account, callID)
	}
}

// notConfigured is the error of a provider whose client is not
// configured.
type notConfigured struct{ provider, missing string }

// Error names the provider and what to set.
func (e notConfigured) Error() string {
	return fmt.Sprintf("%s is not configured: set %s, or run the gateway with -demo", e.provider, e.missing)
}

// serveRecording answers with the recording of a call the gateway knows
// (its log, or the engine's events while it holds them; 404 otherwise),
// fetched once through the provider's client (callevent.RecordingFetcher)
// into the recording cache and served from there with its content type,
// length and byte ranges (206, 416). A call the provider has no recording
// of is 404, a provider not configured or unable to fetch recordings 501,
// the provider failing 502 (429 when it limits the rate).
func (g *Gateway) serveRecording(w http.ResponseWriter, r *http.Request, provider, account, callID string) {
	if callID == "" || len(callID) > 256 || strings.ContainsFunc(callID, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		writeError(w, http.StatusBadRequest, "call_id: want 1 to 256 printable characters")
		return
	}
	ctx := r.Context()
	link, known, err := g.callLink(ctx, provider, account, callID)
	if err != nil {
		g.dbError(w, r, err)
		return
	}
	if !known {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no %s call %q in account %q", provider, text.Clip(callID, 80), text.Clip(account, 80)))
		return
	}
	key := recordKey(provider, account, callID)
	f, err := g.recCache.open(ctx, key, func(ctx context.Context) (callevent.Recording, error) {
		c, ok := g.callers[provider]
		if !ok {
			return callevent.Recording{}, notConfigured{provider, g.missing[provider]}
		}
		rf, ok := c.(callevent.RecordingFetcher)
		if !ok {
			return callevent.Recording{}, fmt.Errorf("%s: %w", provider, callevent.ErrUnsupported)
		}
		return rf.FetchRecording(ctx, callevent.RecordingRequest{Account: account, CallID: callID, URL: link})
	})
	if err != nil {
		if ctx.Err() != nil {
			return // the client is gone
		}
		status, msg := recordingFailure(provider, callID, err)
		if ra := retryAfterOf(err); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		g.log.Log(ctx, level, "recording not served", "provider", provider, "call_id", callID, "status", status, "error", err)
		writeError(w, status, msg)
		return
	}
	defer f.Close()
	ctype := servedType(f)
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": recordingName(provider, callID, ctype)}))
	h.Set("Cache-Control", "private, max-age=86400")
	h.Set("ETag", `"`+key[:32]+`"`) // a call's recording never changes: If-Range works
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, f.audio)
}

// callLink finds a call and the recording link its provider gave, from
// the log or, while the engine holds the call, its events; known is false
// for a call neither has.
func (g *Gateway) callLink(ctx context.Context, provider, account, callID string) (link string, known bool, err error) {
	rec, logged, err := g.loggedCall(ctx, provider, account, callID)
	if err != nil {
		return "", false, err
	}
	events, held := g.engine.CallEvents(provider, account, callID)
	if !logged && !held {
		return "", false, nil
	}
	link = rec.RecordingURL
	for _, e := range events {
		if link == "" {
			link = e.RecordingURL
		}
	}
	return link, true, nil
}

// recordingFailure classifies a failure to fetch a recording and words it,
// naming the provider.
func recordingFailure(provider, callID string, err error) (int, string) {
	var nc notConfigured
	var ce *cacheError
	var apiErr *callbridge.APIError
	switch {
	case errors.As(err, &nc):
		return http.StatusNotImplemented, nc.Error()
	case errors.Is(err, callevent.ErrNoRecording):
		return http.StatusNotFound, fmt.Sprintf("no recording of %s call %q: %s has none (yet)", provider, text.Clip(callID, 80), provider)
	case errors.Is(err, callevent.ErrUnsupported):
		return http.StatusNotImplemented, provider + " cannot fetch recordings: " + strings.TrimPrefix(oneProvider(provider, err.Error()), provider+": ")
	case errors.As(err, &ce):
		return http.StatusInternalServerError, "the recording cache failed (see the gateway's log)"
	case errors.As(err, &apiErr):
		msg := cmpOr(cmpOr(apiErr.Message, apiErr.Code), http.StatusText(apiErr.StatusCode))
		msg = fmt.Sprintf("%s answered %d to the recording request: %s", provider, apiErr.StatusCode, msg)
		if apiErr.StatusCode == http.StatusTooManyRequests {
			return http.StatusTooManyRequests, msg
		}
		return http.StatusBadGateway, msg
	}
	return http.StatusBadGateway, oneProvider(provider, "recording download failed: "+err.Error())
}

// servedType is the content type a recording is served with: the
// provider's when it is audio, else what its first bytes are when that is
// audio, else application/octet-stream (never a type a browser would
// render as a page).
func servedType(f *recordFile) string {
	if mt, _, err := mime.ParseMediaType(f.contentType); err == nil && isAudio(mt) {
		return f.contentType
	}
	head := make([]byte, 512)
	n, _ := f.audio.ReadAt(head, 0)
	if mt := http.DetectContentType(head[:n]); isAudio(mt) {
		return mt
	}
	return "application/octet-stream"
}

func isAudio(mt string) bool { return strings.HasPrefix(mt, "audio/") || mt == "application/ogg" }

// recordingName is the file name a recording is offered under:
// <provider>-<call id>.<extension of its type>.
func recordingName(provider, callID, ctype string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, text.Clip(callID, 80))
	ext := ""
	mt, _, _ := mime.ParseMediaType(ctype)
	switch mt {
	case "audio/mpeg", "audio/mp3":
		ext = ".mp3"
	case "audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave":
		ext = ".wav"
	case "audio/ogg", "application/ogg":
		ext = ".ogg"
	}
	return provider + "-" + safe + ext
}
