package finaz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/callbridge/callbridge/internal/httpx"
	strutil "github.com/callbridge/callbridge/internal/text"
)

// A template string is literal text with placeholders "{{name}}". A JSON
// string leaf may add modifiers: "{{name|number}}" (the whole leaf becomes
// a JSON number, or null when the value is empty) and "{{name|omitempty}}"
// (the key or array element is left out when the value is empty or the
// variable has no value, e.g. ramal_operador in a GroupCall).

// ref is one placeholder.
type ref struct {
	name      string
	number    bool
	omitEmpty bool
}

// segment is literal text or a placeholder.
type segment struct {
	lit string
	ref *ref
}

// text is a parsed template string.
type text []segment

var varNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseText parses s. Modifiers are accepted syntactically; the slot checks
// whether it allows them.
func parseText(s string) (text, error) {
	var t text
	for s != "" {
		i := strings.Index(s, "{{")
		if i < 0 {
			t = append(t, segment{lit: s})
			break
		}
		if i > 0 {
			t = append(t, segment{lit: s[:i]})
		}
		rest := s[i+2:]
		j := strings.Index(rest, "}}")
		if j < 0 {
			return nil, errors.New(`unterminated "{{"`)
		}
		r, err := parseRef(rest[:j])
		if err != nil {
			return nil, err
		}
		t = append(t, segment{ref: r})
		s = rest[j+2:]
	}
	return t, nil
}

func parseRef(inner string) (*ref, error) {
	parts := strings.Split(inner, "|")
	r := &ref{name: strings.TrimSpace(parts[0])}
	if !varNameRe.MatchString(r.name) {
		return nil, fmt.Errorf("bad placeholder {{%s}}: a name is letters, digits and _", inner)
	}
	for _, m := range parts[1:] {
		switch strings.TrimSpace(m) {
		case "number":
			r.number = true
		case "omitempty":
			r.omitEmpty = true
		default:
			return nil, fmt.Errorf("unknown modifier %q in {{%s}} (known: number, omitempty)", strings.TrimSpace(m), inner)
		}
	}
	return r, nil
}

// refs returns the placeholders of t.
func (t text) refs() []*ref {
	var out []*ref
	for _, s := range t {
		if s.ref != nil {
			out = append(out, s.ref)
		}
	}
	return out
}

// static reports whether t has no placeholder.
func (t text) static() bool {
	for _, s := range t {
		if s.ref != nil {
			return false
		}
	}
	return true
}

// single returns the placeholder if t is exactly one placeholder.
func (t text) single() *ref {
	if len(t) == 1 {
		return t[0].ref
	}
	return nil
}

// env supplies variable values while rendering.
type env struct {
	vars   map[string]string
	params map[string]Param
	redact bool   // replace secret params with "REDACTED" (dry run)
	base   string // the client's base URL with its trailing "/", for relative template URLs
}

func (e *env) lookup(name string) (string, error) {
	if p, ok := e.params[name]; ok {
		if e.redact && p.Secret {
			return redacted, nil
		}
		return p.Value, nil
	}
	if v, ok := e.vars[name]; ok {
		return v, nil
	}
	return "", fmt.Errorf("variable %q has no value", name)
}

// redacted replaces secret parameter values in dry runs.
const redacted = httpx.Redacted

// render appends t to b, passing every value through esc.
func (t text) render(b []byte, e *env, esc func([]byte, string) []byte) ([]byte, error) {
	for _, s := range t {
		if s.ref == nil {
			b = append(b, s.lit...)
			continue
		}
		v, err := e.lookup(s.ref.name)
		if err != nil {
			return b, err
		}
		b = esc(b, v)
	}
	return b, nil
}

// value renders t without escaping (the caller encodes the whole result).
func (t text) value(e *env) (string, error) {
	if len(t) == 1 && t[0].ref == nil {
		return t[0].lit, nil
	}
	if r := t.single(); r != nil {
		return e.lookup(r.name)
	}
	b, err := t.render(nil, e, appendRaw)
	return string(b), err
}

func appendRaw(b []byte, v string) []byte { return append(b, v...) }

// jsonNumberRe is the JSON number grammar.
var jsonNumberRe = regexp.MustCompile(`^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$`)

// appendJSONString appends s as a JSON string, as encoding/json writes it
// (U+2028 and U+2029 escaped, so the result is also safe inside JavaScript).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONStringContent(b, s)
	return append(b, '"')
}

// appendJSONStringContent appends s escaped for the inside of a JSON
// string, as encoding/json escapes it.
func appendJSONStringContent(b []byte, s string) []byte { return strutil.AppendJSON(b, s) }

// jnode is a node of a JSON body template.
type jnode struct {
	kind byte // 'o' object, 'a' array, 's' template string, 'l' literal
	keys []string
	kids []*jnode
	str  text
	lit  []byte // literal JSON (number, bool, null, or a static string pre-encoded)
	ref  *ref   // the single placeholder of a typed ('|number') or omitempty leaf
}

// parseJSONTemplate parses raw into a tree, keeping key order. Placeholders
// are allowed in string values only; path names the field for errors.
func parseJSONTemplate(raw []byte) (*jnode, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n, err := parseJNode(dec, "body.json")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fieldErr("body.json", errors.New("trailing data after the JSON value"))
	}
	return n, nil
}

func parseJNode(dec *json.Decoder, path string) (*jnode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fieldErr(path, err)
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			n := &jnode{kind: 'o'}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fieldErr(path, err)
				}
				k, _ := kt.(string)
				kid, err := parseJNode(dec, path+"."+k)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.kids = append(n.kids, kid)
			}
			_, err := dec.Token() // '}'
			return n, err
		case '[':
			n := &jnode{kind: 'a'}
			for i := 0; dec.More(); i++ {
				kid, err := parseJNode(dec, fmt.Sprintf("%s[%d]", path, i))
				if err != nil {
					return nil, err
				}
				n.kids = append(n.kids, kid)
			}
			_, err := dec.Token() // ']'
			return n, err
		}
		return nil, fieldErr(path, fmt.Errorf("unexpected %v", v))
	case string:
		t, err := parseText(v)
		if err != nil {
			return nil, fieldErr(path, err)
		}
		if t.static() {
			return &jnode{kind: 'l', lit: appendJSONString(nil, v)}, nil
		}
		return &jnode{kind: 's', str: t, ref: t.single()}, nil
	case json.Number:
		return &jnode{kind: 'l', lit: []byte(v)}, nil
	case bool:
		if v {
			return &jnode{kind: 'l', lit: []byte("true")}, nil
		}
		return &jnode{kind: 'l', lit: []byte("false")}, nil
	case nil:
		return &jnode{kind: 'l', lit: []byte("null")}, nil
	}
	return nil, fieldErr(path, fmt.Errorf("unexpected token %v", tok))
}

// walk calls f for every template string leaf with its field path.
func (n *jnode) walk(path string, f func(path string, leaf *jnode) error) error {
	switch n.kind {
	case 'o':
		for i, k := range n.keys {
			if err := n.kids[i].walk(path+"."+k, f); err != nil {
				return err
			}
		}
	case 'a':
		for i, kid := range n.kids {
			if err := kid.walk(fmt.Sprintf("%s[%d]", path, i), f); err != nil {
				return err
			}
		}
	case 's':
		return f(path, n)
	}
	return nil
}

// omitted reports whether an omitempty leaf renders to nothing.
func (n *jnode) omitted(e *env) bool {
	if n.kind != 's' || n.ref == nil || !n.ref.omitEmpty {
		return false
	}
	v, err := e.lookup(n.ref.name)
	return v == "" || err != nil // |omitempty also drops a variable without value
}

// render appends the JSON of n to b. path names the field in errors.
func (n *jnode) render(b []byte, e *env, path string) ([]byte, error) {
	switch n.kind {
	case 'l':
		return append(b, n.lit...), nil
	case 'o':
		b = append(b, '{')
		first := true
		for i, kid := range n.kids {
			if kid.omitted(e) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, n.keys[i])
			b = append(b, ':')
			var err error
			if b, err = kid.render(b, e, path+"."+n.keys[i]); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	case 'a':
		b = append(b, '[')
		first := true
		for i, kid := range n.kids {
			if kid.omitted(e) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			var err error
			if b, err = kid.render(b, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	// template string
	if n.ref != nil && n.ref.number {
		v, err := e.lookup(n.ref.name)
		if err != nil {
			return b, fieldErr(path, err)
		}
		if v == "" {
			return append(b, "null"...), nil
		}
		if !jsonNumberRe.MatchString(v) {
			return b, fieldErr(path, fmt.Errorf("value of %s is not a number", n.ref.name))
		}
		return append(b, v...), nil
	}
	b = append(b, '"')
	b, err := n.str.render(b, e, appendJSONStringContent)
	if err != nil {
		return b, fieldErr(path, err)
	}
	return append(b, '"'), nil
}

// fieldErr marks err with the template field it happened in; the operation
// is added by the caller.
func fieldErr(field string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	return &FieldError{Field: field, Err: err}
}

// FieldError is a configuration or rendering problem in one field of one
// operation's template, e.g. an unknown variable in click2call's
// "body.json.to" or a missing value at run time.
type FieldError struct {
	Op    Operation // empty for fields outside the operations
	Field string    // "url", "query.agent_user", "body.json.phones[0]", "csv.columns[2]", …
	Err   error
}

// Error returns "finaz: <op>: <field>: <problem>".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("finaz: ")
	if e.Op != "" {
		b.WriteString(string(e.Op))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

// withOp sets the operation of a FieldError in err (or wraps err in one).
func withOp(op Operation, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		if fe.Op == "" {
			fe.Op = op
		}
		return err
	}
	return &FieldError{Op: op, Err: err}
}
