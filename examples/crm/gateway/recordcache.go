package gateway

import (
	"bufio"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// recordFetchTimeout bounds one download of a recording into the cache.
const recordFetchTimeout = 5 * time.Minute

// recordMagic starts the header line of a cached recording:
// "cbrec1 <audio bytes, 20 digits> <content type>\n", then the audio.
const recordMagic = "cbrec1 "

// maxRecordHeader bounds the header line of a cached recording.
const maxRecordHeader = 512

// staleTemp is how old a temporary file of the cache must be to be an
// abandoned download (a crash), deleted when the cache is loaded.
const staleTemp = time.Hour

// recordCache keeps the recordings downloaded from the providers in a
// directory, at most max bytes of them: beyond it the least recently
// served are deleted (after a restart, in the order they were
// downloaded). A recording larger than max is kept alone until the next
// one arrives. Each file is named by the hash of its call's key and is
// written to a temporary file first, then renamed, so no reader ever
// sees half of one; concurrent first requests of one recording share one
// download. Nothing of a recording is held in memory.
type recordCache struct {
	dir string
	max int64
	log *slog.Logger

	ctx    context.Context // cancelled by close: downloads stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	loaded  bool
	files   map[string]*list.Element // key → element of lru (a *cachedRecord)
	lru     list.List                // most recently served first
	size    int64
	flights map[string]*recordFlight
}

// cachedRecord is a recording in the cache.
type cachedRecord struct {
	key  string
	size int64 // bytes on disk, header included
}

// recordFlight is a download in progress; done is closed when it ends.
type recordFlight struct {
	done    chan struct{}
	err     error
	waiters int // the requests that waited for it (c.mu)
}

// recordFile is an open recording of the cache: its content type as the
// provider gave it and its audio. Close it.
type recordFile struct {
	f           *os.File
	contentType string
	audio       *io.SectionReader
}

// Close closes the file.
func (f *recordFile) Close() error { return f.f.Close() }

// cacheError is a failure of the cache itself (the disk), not of the
// provider.
type cacheError struct{ err error }

// Error says what the cache failed at.
func (e *cacheError) Error() string { return "recording cache: " + e.err.Error() }

// Unwrap is the cause.
func (e *cacheError) Unwrap() error { return e.err }

// newRecordCache returns a cache in dir bounded to max bytes. The
// directory is created when the first recording is asked for.
func newRecordCache(dir string, max int64, log *slog.Logger) *recordCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &recordCache{dir: dir, max: max, log: log, ctx: ctx, cancel: cancel,
		files: map[string]*list.Element{}, flights: map[string]*recordFlight{}}
}

// recordKey names the recording of a call in the cache: the hex SHA-256
// of its provider, account and call id.
func recordKey(provider, account, callID string) string {
	sum := sha256.Sum256([]byte(provider + "\x00" + account + "\x00" + callID))
	return hex.EncodeToString(sum[:])
}

// open returns the recording of key, downloading it with fetch when the
// cache lacks it. Requests for a recording being downloaded wait for that
// download (or for ctx) and share its outcome; a failed download is not
// remembered, so the next request tries again. The download runs on its
// own, bounded by recordFetchTimeout: a client leaving does not fail the
// others waiting for it.
func (c *recordCache) open(ctx context.Context, key string, fetch func(context.Context) (callevent.Recording, error)) (*recordFile, error) {
	for range 4 { // a download, or a cached file that cannot be read, per turn
		c.mu.Lock()
		if err := c.loadLocked(); err != nil {
			c.mu.Unlock()
			return nil, &cacheError{err}
		}
		if el := c.files[key]; el != nil {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			f, err := c.openFile(key)
			if err == nil {
				return f, nil
			}
			// Gone (another process sharing the directory evicted it) or
			// damaged: forget it and download it again.
			c.log.WarnContext(ctx, "recording cache: a cached recording cannot be read; fetching it again", "file", key, "error", err)
			c.mu.Lock()
			if c.files[key] == el {
				c.dropLocked(el)
			}
			c.mu.Unlock()
			continue
		}
		fl := c.flights[key]
		if fl == nil {
			fl = &recordFlight{done: make(chan struct{})}
			c.flights[key] = fl
			c.wg.Add(1)
			go c.download(key, fl, fetch)
		}
		fl.waiters++
		c.mu.Unlock()
		select {
		case <-fl.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if fl.err != nil {
			return nil, fl.err
		}
	}
	return nil, &cacheError{errors.New("the recording was evicted as soon as it was stored (cache too small?)")}
}

// download fetches the recording of key into a temporary file and renames
// it into the cache, then ends fl.
func (c *recordCache) download(key string, fl *recordFlight, fetch func(context.Context) (callevent.Recording, error)) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, recordFetchTimeout)
	defer cancel()
	size, err := c.fetchInto(ctx, key, fetch)
	c.mu.Lock()
	delete(c.flights, key)
	if err == nil {
		c.addLocked(key, size)
	}
	c.mu.Unlock()
	fl.err = err
	close(fl.done)
}

// fetchInto downloads the recording into the cache's file of key and
// returns its size on disk. A provider's failure is returned as it is,
// the cache's own as a *cacheError.
func (c *recordCache) fetchInto(ctx context.Context, key string, fetch func(context.Context) (callevent.Recording, error)) (int64, error) {
	rec, err := fetch(ctx)
	if err != nil {
		return 0, err
	}
	defer rec.Body.Close()
	if err := os.MkdirAll(c.dir, 0o700); err != nil { // removed meanwhile
		return 0, &cacheError{err}
	}
	tmp, err := os.CreateTemp(c.dir, "."+key+"-*.tmp")
	if err != nil {
		return 0, &cacheError{err}
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	ct := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, rec.ContentType)
	header := fmt.Sprintf("%s%020d %s\n", recordMagic, 0, ct)
	if len(header) > maxRecordHeader {
		header = fmt.Sprintf("%s%020d \n", recordMagic, 0)
	}
	if _, err := io.WriteString(tmp, header); err != nil {
		return 0, &cacheError{err}
	}
	n, err := io.Copy(tmp, rec.Body)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == tmp.Name() {
			return 0, &cacheError{err}
		}
		return 0, fmt.Errorf("reading the recording: %w", err)
	}
	if rec.Size >= 0 && n != rec.Size {
		return 0, fmt.Errorf("the recording ended after %d of the %d bytes announced", n, rec.Size)
	}
	if _, err := tmp.WriteAt(fmt.Appendf(nil, "%020d", n), int64(len(recordMagic))); err != nil {
		return 0, &cacheError{err}
	}
	if err := tmp.Close(); err != nil {
		return 0, &cacheError{err}
	}
	if err := os.Rename(tmp.Name(), filepath.Join(c.dir, key)); err != nil {
		return 0, &cacheError{err}
	}
	done = true
	return int64(len(header)) + n, nil
}

// openFile opens the cached file of key and checks its header against
// its size.
func (c *recordCache) openFile(key string) (*recordFile, error) {
	f, err := os.Open(filepath.Join(c.dir, key))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	line, err := bufio.NewReaderSize(io.LimitReader(f, maxRecordHeader), maxRecordHeader).ReadString('\n')
	rest, ok := strings.CutPrefix(line, recordMagic)
	var n int64
	if ok && len(rest) > 21 && rest[20] == ' ' {
		n, err = strconv.ParseInt(rest[:20], 10, 64)
	} else if err == nil {
		err = errors.New("not a cached recording")
	}
	if err == nil && st.Size() != int64(len(line))+n {
		err = fmt.Errorf("%d bytes, the header says %d of audio after %d", st.Size(), n, len(line))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &recordFile{f: f, contentType: strings.TrimSuffix(rest[21:], "\n"), audio: io.NewSectionReader(f, int64(len(line)), n)}, nil
}

// loadLocked creates the directory and lists the recordings already in
// it, once; abandoned temporary files are deleted. c.mu is held.
func (c *recordCache) loadLocked() error {
	if c.loaded {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	type found struct {
		key  string
		size int64
		mod  time.Time
	}
	var all []found
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".tmp") && strings.HasPrefix(name, "."):
			if time.Since(info.ModTime()) > staleTemp {
				_ = os.Remove(filepath.Join(c.dir, name))
			}
		case isRecordKey(name):
			all = append(all, found{name, info.Size(), info.ModTime()})
		}
	}
	slices.SortFunc(all, func(a, b found) int { return a.mod.Compare(b.mod) })
	for _, f := range all {
		c.addLocked(f.key, f.size)
	}
	c.loaded = true
	return nil
}

// isRecordKey reports whether name is a key of recordKey.
func isRecordKey(name string) bool {
	if len(name) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil && strings.ToLower(name) == name
}

// addLocked puts a recording first in the cache and deletes the least
// recently served beyond the bound (never the one added). c.mu is held.
func (c *recordCache) addLocked(key string, size int64) {
	if el := c.files[key]; el != nil {
		c.dropLocked(el)
	}
	c.files[key] = c.lru.PushFront(&cachedRecord{key: key, size: size})
	c.size += size
	for c.size > c.max && c.lru.Len() > 1 {
		el := c.lru.Back()
		c.dropLocked(el)
		if err := os.Remove(filepath.Join(c.dir, el.Value.(*cachedRecord).key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("recording cache: evicting a recording failed", "error", err)
		}
	}
}

// dropLocked forgets a recording (its file stays). c.mu is held.
func (c *recordCache) dropLocked(el *list.Element) {
	r := el.Value.(*cachedRecord)
	c.lru.Remove(el)
	delete(c.files, r.key)
	c.size -= r.size
}

// close stops the downloads in progress and waits for them.
func (c *recordCache) close() {
	c.cancel()
	c.wg.Wait()
}
