package telphin

import (
	"fmt"
	"strings"
)

// maxIDLen bounds an id put into an API path.
const maxIDLen = 256

// pathID checks an id (record id, call id, CallAPIID …) before it becomes
// one segment of an API path and returns it trimmed. Telphin's ids are
// hex, digits, letters and dashes ("469100-5D36…", "cb-3584709740-02ab…"),
// so only ASCII letters, digits, '-' and '_' are accepted: a value such as
// "..", ".", "a/../b" or "%2F.." can never change which path is requested
// (url.PathEscape leaves ".." alone, and URL resolution walks up with it).
// The error (to be wrapped by the caller) names the kind of id and
// carries at most a clip of it.
func pathID(kind, id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", fmt.Errorf("empty %s", kind)
	}
	if len(id) > maxIDLen {
		return "", fmt.Errorf("%s of %d bytes, more than %d", kind, len(id), maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '_':
		default:
			return "", fmt.Errorf("invalid %s %q: only letters, digits, '-' and '_' may appear in an id", kind, clipID(id))
		}
	}
	return id, nil
}

// clipID shortens an id for an error message, keeping it printable.
func clipID(s string) string {
	const n = 40
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
