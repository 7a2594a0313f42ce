package dialer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// TargetError is a target (or a CSV row) that cannot be called, and why.
type TargetError struct {
	// Index is the target's index in the list checked; -1 for a CSV row
	// that made no target.
	Index int `json:"index"`
	// Line is the CSV line of the row (its first line, for a row over
	// several), 0 outside ImportCSV; EndLine its last when it spans more.
	Line    int `json:"line,omitempty"`
	EndLine int `json:"end_line,omitempty"`
	// Field names the field at fault ("phone", "name", "fields.city",
	// "row" for the row as a whole).
	Field string `json:"field"`
	Err   error  `json:"-"`
	dup   int    // for a duplicate phone: the earlier target's index + 1
}

// Error says where and what: "line 7: phone: …" or "target 3: phone: …".
func (e *TargetError) Error() string {
	switch {
	case e.EndLine > e.Line:
		return fmt.Sprintf("lines %d–%d: %s: %v", e.Line, e.EndLine, e.Field, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s: %v", e.Line, e.Field, e.Err)
	}
	return fmt.Sprintf("target %d: %s: %v", e.Index, e.Field, e.Err)
}

// Unwrap returns the cause.
func (e *TargetError) Unwrap() error { return e.Err }

// MarshalJSON writes the error with its message.
func (e *TargetError) MarshalJSON() ([]byte, error) {
	type plain TargetError
	return json.Marshal(struct {
		*plain
		Error string `json:"error"`
	}{(*plain)(e), e.Err.Error()})
}

// CheckTargets reports the targets that cannot be called, without
// changing any: a phone missing or not a valid number (country reads
// national numbers), a phone another target of the list has too (the
// later one is reported: a campaign never calls a number twice), text
// that is not printable or too long, an unknown TimeZone. Dialer.Create
// refuses a list with any.
func CheckTargets(country string, targets []Target) []TargetError {
	var bad []TargetError
	seen := make(map[uint64]int, len(targets))
	for i := range targets {
		t := &targets[i]
		if strings.TrimSpace(t.Phone) == "" {
			bad = append(bad, TargetError{Index: i, Field: "phone", Err: errors.New("required")})
			continue
		}
		n, err := normalize(t.Phone, country)
		if err != nil {
			bad = append(bad, TargetError{Index: i, Field: "phone", Err: err})
			continue
		}
		if err := t.validate(); err != nil {
			field, msg, _ := strings.Cut(err.Error(), ": ")
			bad = append(bad, TargetError{Index: i, Field: field, Err: errors.New(msg)})
			continue
		}
		if t.TimeZone != "" {
			if _, err := loadZone(t.TimeZone); err != nil {
				bad = append(bad, TargetError{Index: i, Field: "time_zone", Err: fmt.Errorf("unknown time zone %q", clip(t.TimeZone))})
				continue
			}
		}
		ph, _ := phoneNumber(n)
		if j, dup := seen[ph]; dup {
			bad = append(bad, TargetError{Index: i, Field: "phone", Err: fmt.Errorf("%s is also target %d", n, j), dup: j + 1})
			continue
		}
		seen[ph] = i
	}
	return bad
}

// CSV columns by their header names (case and spaces ignored); any other
// column is a custom field named by its header.
var csvColumns = map[string]string{
	"phone": "phone", "telephone": "phone", "tel": "phone", "number": "phone", "telefone": "phone", "телефон": "phone",
	"name": "name", "nome": "name", "имя": "name", "fio": "name", "фио": "name",
	"entity": "entity", "type": "entity",
	"entity_id": "entity_id", "id": "entity_id", "crm_id": "entity_id",
	"time_zone": "time_zone", "timezone": "time_zone", "tz": "time_zone",
}

// ImportCSV reads targets from a CSV file: a header row, then one target
// per row. The separator is the header's: ",", ";" or a tab. Columns are
// named by the header: phone (required; also "telephone", "number",
// "telefone", "телефон"), name, entity, entity_id (or "id", "crm_id"),
// time_zone; every other column is a custom field (Target.Fields; empty
// cells are left out).
//
// Good rows are kept; every bad row is reported with its line number and
// the field at fault: a broken quote, a wrong number of cells, a missing
// or invalid phone, a phone of an earlier row (see CheckTargets), text too
// long. country reads national numbers; phones are returned as written
// (Dialer.Create normalises them). err is set only when the file as a
// whole cannot be read: no header, no phone column, a header named twice,
// an I/O error.
func ImportCSV(r io.Reader, country string) (targets []Target, bad []TargetError, err error) {
	br := bufio.NewReader(r)
	sep, err := sniffSeparator(br)
	if err != nil {
		return nil, nil, err
	}
	cr := csv.NewReader(br)
	cr.Comma = sep
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%w: csv: the file is empty (a header row naming the columns is required)", ErrInvalid)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: csv: header: %v", ErrInvalid, err)
	}
	cols := make([]string, len(head))
	named := map[string]bool{}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		key := strings.ToLower(strings.ReplaceAll(h, " ", "_"))
		switch {
		case h == "":
			return nil, nil, fmt.Errorf("%w: csv: header: column %d has no name", ErrInvalid, i+1)
		case !utf8.ValidString(h) || len(h) > MaxFieldLen:
			return nil, nil, fmt.Errorf("%w: csv: header: column %d: not a name of at most %d bytes of UTF-8", ErrInvalid, i+1, MaxFieldLen)
		}
		if std, ok := csvColumns[key]; ok {
			cols[i] = std
		} else {
			cols[i] = "fields." + h
		}
		if named[cols[i]] {
			return nil, nil, fmt.Errorf("%w: csv: header: column %q is given twice", ErrInvalid, clip(h))
		}
		named[cols[i]] = true
	}
	if !named["phone"] {
		return nil, nil, fmt.Errorf("%w: csv: header: no phone column (phone, telephone, number, telefone, телефон)", ErrInvalid)
	}
	var lines []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			te := TargetError{Index: -1, Line: pe.StartLine, Field: "row", Err: pe.Err}
			if pe.Line > pe.StartLine {
				te.EndLine = pe.Line
			}
			bad = append(bad, te)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(cols) {
			bad = append(bad, TargetError{Index: -1, Line: line, Field: "row",
				Err: fmt.Errorf("%d cells, the header has %d", len(rec), len(cols))})
			continue
		}
		t := Target{}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			switch c := cols[i]; c {
			case "phone":
				t.Phone = v
			case "name":
				t.Name = v
			case "entity":
				t.Entity = v
			case "entity_id":
				t.EntityID = v
			case "time_zone":
				t.TimeZone = v
			default:
				if v != "" {
					if t.Fields == nil {
						t.Fields = map[string]string{}
					}
					t.Fields[strings.TrimPrefix(c, "fields.")] = v
				}
			}
		}
		targets = append(targets, t)
		lines = append(lines, line)
	}
	checked := CheckTargets(country, targets)
	drop := make([]bool, len(targets))
	for _, te := range checked {
		drop[te.Index] = true
		te.Line = lines[te.Index]
		if te.dup > 0 {
			n, _ := normalize(targets[te.Index].Phone, country)
			te.Err = fmt.Errorf("%s is also on line %d", n, lines[te.dup-1])
		}
		te.Index = -1
		bad = append(bad, te)
	}
	good := targets[:0]
	for i, t := range targets {
		if !drop[i] {
			good = append(good, t)
		}
	}
	slices.SortStableFunc(bad, func(a, b TargetError) int { return a.Line - b.Line })
	return slices.Clip(good), bad, nil
}

// sniffSeparator reads the header line ahead and picks the separator it
// uses most: ";", a tab or ",".
func sniffSeparator(br *bufio.Reader) (rune, error) {
	peek, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return 0, fmt.Errorf("csv: %w", err)
	}
	if i := bytes.IndexByte(peek, '\n'); i >= 0 {
		peek = peek[:i]
	}
	best, n := ',', bytes.Count(peek, []byte{','})
	for _, c := range []rune{';', '\t'} {
		if k := bytes.Count(peek, []byte(string(c))); k > n {
			best, n = c, k
		}
	}
	return best, nil
}
