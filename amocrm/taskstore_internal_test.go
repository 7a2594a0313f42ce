package amocrm

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestTaskMarker: the marker line round-trips every call id, provider,
// account and phone, leaves the text before it as it was, and a text
// whose last line is not a marker is not the Store's.
func TestTaskMarker(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	for _, m := range []taskMarker{
		{account: "app1", provider: "telphin", callID: "76c8491e9d3711e7bd2379424bc8e8c8", phone: "79161234567"},
		{provider: "megafon", callID: "a/b?c d&e=%25\tx", phone: "380671234567"},
		{account: "a b/c?d&e=f", provider: "p/q", callID: "id", phone: "7", escalated: true, escalatedAt: at,
			doneAt: at.Add(time.Minute), doneBy: "telphin/cb?1"},
	} {
		for _, text := range []string{"Перезвонить клиенту +79161234567", "", "two\nlines\n", "callbridge:not/a?phone="} {
			full := m.appendTo(text)
			if strings.Count(full, "\n") != strings.Count(text, "\n")+min(1, len(text)) {
				t.Fatalf("marker %+v adds more than one line: %q", m, full)
			}
			gotText, got, ok := splitMarker(full)
			if !ok || gotText != text || got != m {
				t.Errorf("splitMarker(%q) = %q, %+v, %v; want %q, %+v", full, gotText, got, ok, text, m)
			}
		}
	}
	for _, s := range []string{"", "Позвонить", "callbridge:", "callbridge:telphin", "callbridge:telphin/?phone=7", "callbridge:/c1?phone=7",
		"callbridge:telphin/c1?account=a", "callbridge:telphin/c1?phone=7\nedited by hand", "callbridge:telphin/%zz?phone=7"} {
		if _, _, ok := splitMarker(s); ok {
			t.Errorf("splitMarker(%q) found a marker", s)
		}
	}
	if text, m, ok := splitMarker("Перезвонить\r\ncallbridge:telphin/c1?phone=7\r\n"); !ok || text != "Перезвонить" || m.callID != "c1" {
		t.Errorf("CRLF lines: %q, %+v, %v", text, m, ok)
	}
}

// FuzzTaskMarker: a task text from amoCRM (anything a user typed) never
// panics the marker reader, and a marker the Store writes is read back
// exactly.
func FuzzTaskMarker(f *testing.F) {
	f.Add("Перезвонить клиенту +79161234567", "app1", "telphin", "76c8491e9d3711e7", "79161234567", "telphin/cb")
	f.Add("", "", "p/q", "a b?c", "7", "")
	f.Add("x\ncallbridge:telphin/c1?phone=7", "a&b=c", "%", "\u00a0", "380", "\n")
	f.Fuzz(func(t *testing.T, text, account, provider, callID, phone, doneBy string) {
		_, _, _ = splitMarker(text)
		if provider == "" || callID == "" || phone == "" {
			return
		}
		m := taskMarker{account: account, provider: provider, callID: callID, phone: phone, doneBy: doneBy}
		gotText, got, ok := splitMarker(m.appendTo(text))
		if !ok || got != m || gotText != strings.TrimSuffix(text, "\r") {
			t.Fatalf("round trip of %+v with text %q: %+v, %q, %v", m, text, got, gotText, ok)
		}
	})
}

// FuzzTaskJSON: any task answer decodes without panicking, and a decoded
// task encodes and decodes to itself.
func FuzzTaskJSON(f *testing.F) {
	f.Add(`{"id":1,"result":[],"entity_id":null,"entity_type":null,"is_completed":false,"complete_till":1741942800}`)
	f.Add(`{"id":2,"result":{"text":"ok"},"entity_type":"contacts","entity_id":5}`)
	f.Add(`{"result":[{"text":"x"}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		var x Task
		if json.Unmarshal([]byte(in), &x) != nil {
			return
		}
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		var y Task
		if err := json.Unmarshal(b, &y); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if x.Result != nil && x.Result.Text == "" {
			x.Result = nil // an empty result is omitted when writing
		}
		if y.Result != nil && *y.Result == (TaskResult{}) {
			y.Result = nil
		}
		bx, _ := json.Marshal(x)
		by, _ := json.Marshal(y)
		if string(bx) != string(by) {
			t.Fatalf("%s → %s", bx, by)
		}
	})
}
