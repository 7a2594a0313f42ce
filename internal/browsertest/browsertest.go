// Package browsertest drives the system's Chromium for tests that need a
// real browser (chromedp). Without one a test is skipped, saying how to
// run it; under CI=true it fails instead, so CI never passes by skipping
// (.ci/run installs Debian's chromium). Nothing is downloaded: the
// browser is the one installed, found on PATH or named by Env.
//
// Waits are bounded by the context of each step (Step), never by sleeps;
// screenshots of the states a test records (Shots.Take) are written when
// the test fails, into a directory under $CALLBRIDGE_ARTIFACTS (else
// testdata/artifacts, which git ignores) named in the test's log.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Env names the environment variable with the browser's path.
const Env = "CALLBRIDGE_CHROMIUM"

// ArtifactsEnv names the environment variable of the directory where a
// failing test's screenshots go.
const ArtifactsEnv = "CALLBRIDGE_ARTIFACTS"

// names are the browsers looked for on PATH, in order.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"}

// ExecPath returns the browser's path, skipping t when there is none
// (failing it under CI=true).
func ExecPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(Env); p != "" {
		return p
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found: .ci/run installs Debian's chromium (apt-get install chromium); or set " + Env)
	}
	t.Skip("no Chromium found: install it (Debian: apt-get install chromium) or set " + Env + "=/path/to/chrome to run the browser tests")
	return ""
}

// startTimeout bounds the browser's start.
const startTimeout = time.Minute

// Browser starts one headless browser for t, closed when t ends, and
// returns its context. Open tabs with Tab.
func Browser(t testing.TB) context.Context {
	t.Helper()
	path := ExecPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() { bcancel(); acancel() })
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }() // the first Do starts it, bound to bctx
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", path, err)
		}
	case <-time.After(startTimeout):
		t.Fatalf("%s did not start within %s", path, startTimeout)
	}
	return bctx
}

// Tab opens a tab of browser in a browser context of its own (its own
// cookies: another signed-in user), closed when t ends.
func Tab(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return ctx
}

// StepTimeout bounds one step of a test in the browser: a condition on
// the page that does not come true within it fails the test.
const StepTimeout = 10 * time.Second

// Step runs actions in tab, bounded by StepTimeout; an error fails t,
// naming what.
func Step(t testing.TB, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Get runs an action that returns a value in tab, bounded by
// StepTimeout; an error fails t, naming what.
func Get[T any](t testing.TB, tab context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, StepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// Shots keeps screenshots of a test's states, written only when the test
// fails (with one of every watched tab at the end).
type Shots struct {
	t    testing.TB
	mu   sync.Mutex
	list []shot
}

type shot struct {
	name string
	png  []byte
}

// NewShots records the screenshots of t (call it before opening the
// tabs, so that the screenshots are written after the tabs' last).
func NewShots(t testing.TB) *Shots {
	s := &Shots{t: t}
	t.Cleanup(s.flush)
	return s
}

// Watch captures tab at the end if the test fails (call it after Tab,
// so that this runs before the tab closes).
func (s *Shots) Watch(name string, tab context.Context) {
	s.t.Cleanup(func() {
		if s.t.Failed() {
			s.Take(tab, "end-"+name)
		}
	})
}

// Take captures tab now as name.
func (s *Shots) Take(tab context.Context, name string) {
	ctx, cancel := context.WithTimeout(tab, StepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		s.t.Logf("screenshot %s: %v", name, err)
		return
	}
	s.mu.Lock()
	s.list = append(s.list, shot{name, png})
	s.mu.Unlock()
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// flush writes the screenshots when the test failed.
func (s *Shots) flush() {
	if !s.t.Failed() {
		return
	}
	root := os.Getenv(ArtifactsEnv)
	if root == "" {
		root = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		s.t.Logf("screenshots not saved: %v", err)
		return
	}
	dir, err := os.MkdirTemp(root, unsafeName.ReplaceAllString(s.t.Name(), "_")+"-")
	if err != nil {
		s.t.Logf("screenshots not saved: %v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sh := range s.list {
		p := filepath.Join(dir, fmt.Sprintf("%02d-%s.png", i+1, unsafeName.ReplaceAllString(sh.name, "_")))
		if err := os.WriteFile(p, sh.png, 0o644); err != nil {
			s.t.Logf("screenshot %s not saved: %v", sh.name, err)
		}
	}
	abs, _ := filepath.Abs(dir)
	s.t.Logf("screenshots of the failing test: %s", abs)
}
