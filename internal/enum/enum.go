// Package enum gives the small integer enums of callbridge's packages
// (callevent's Kind, Direction and Status, dialer's Mode, State and
// Outcome) their text form: names[v] is the name of value v.
package enum

import "fmt"

// String is the name of v, or typ(v) for a value out of range.
func String(names []string, typ string, v uint8) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}

// Marshal is MarshalText: the name of v; a value out of range is an error
// naming pkg and typ.
func Marshal(pkg string, names []string, typ string, v uint8) ([]byte, error) {
	if int(v) >= len(names) {
		return nil, fmt.Errorf("%s: invalid %s %d", pkg, typ, v)
	}
	return []byte(names[v]), nil
}

// Parse is UnmarshalText: the value named text; an unknown name is an
// error naming pkg and typ.
func Parse(pkg string, names []string, typ string, text []byte) (uint8, error) {
	for i, n := range names {
		if n == string(text) {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("%s: unknown %s %q", pkg, typ, text)
}
