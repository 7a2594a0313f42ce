// Package eventtest checks the invariants of callevent.Event in tests and
// fuzz targets: every event a decoder accepts is valid (Event.Validate) and
// survives a JSON round trip unchanged.
package eventtest

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/callbridge/callbridge/callevent"
)

// Check fails t unless e satisfies the Event invariants and its JSON form
// decodes back to e.
func Check(t testing.TB, e callevent.Event) {
	t.Helper()
	if err := e.Validate(); err != nil {
		t.Fatalf("accepted an invalid event: %v", err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("event does not encode as JSON: %v", err)
	}
	var back callevent.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("event JSON does not decode: %v\n%s", err, b)
	}
	if diff := cmp.Diff(normal(e), normal(back)); diff != "" {
		t.Fatalf("event changes in a JSON round trip (-before +after):\n%s", diff)
	}
}

// normal makes equal events compare equal: times by instant in UTC, Raw
// compacted and HTML-escaped as encoding/json writes it.
func normal(e callevent.Event) callevent.Event {
	for _, t := range []*time.Time{&e.At, &e.AnsweredAt, &e.EndedAt} {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
	if len(e.Raw) > 0 {
		var compact, escaped bytes.Buffer
		if json.Compact(&compact, e.Raw) == nil {
			json.HTMLEscape(&escaped, compact.Bytes())
			e.Raw = escaped.Bytes()
		}
	}
	return e
}
