package eventtest_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/eventtest"
)

func TestCheck(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("MSK", 3*3600))
	eventtest.Check(t, callevent.Event{ID: "1", Provider: "p", Kind: callevent.Completed, CallID: "c",
		At: at, AnsweredAt: at.Add(time.Second), EndedAt: at.Add(time.Minute), Duration: 59 * time.Second,
		Raw: json.RawMessage(`{ "a" : 1, "b": "<&>" }`)})
	ft := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		eventtest.Check(ft, callevent.Event{ID: "1", Provider: "p", Kind: callevent.Ringing, CallID: "c\x00", At: at})
	}()
	if !ft.failed {
		t.Fatal("Check accepted an event with a NUL in its call id")
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
