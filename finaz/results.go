package finaz

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/callevent"
)

// Disposition is the outcome of one dialer attempt, as the manual lists
// them ("Ocupado / Secretária / Atendido / Número Inválido / etc.").
type Disposition string

// Dispositions.
const (
	DispositionAnswered      Disposition = "answered"       // Atendida
	DispositionBusy          Disposition = "busy"           // Ocupado
	DispositionVoicemail     Disposition = "voicemail"      // Secretária (answering machine)
	DispositionInvalidNumber Disposition = "invalid_number" // Número Inválido
	DispositionNoAnswer      Disposition = "no_answer"      // Não atendida
	DispositionDropped       Disposition = "dropped"        // answered, no operator free (abandoned)
	DispositionFailed        Disposition = "failed"         // network or PBX failure
	DispositionUnknown       Disposition = "unknown"        // a status the table does not map
)

var dispositions = []Disposition{DispositionAnswered, DispositionBusy, DispositionVoicemail,
	DispositionInvalidNumber, DispositionNoAnswer, DispositionDropped, DispositionFailed, DispositionUnknown}

// Status maps the disposition to the closest callevent.Status: answered →
// Success, busy → Busy, voicemail and no answer → NotAvailable, invalid
// number → NotFound, dropped → Missed, failed and unknown → Failed.
func (d Disposition) Status() callevent.Status {
	switch d {
	case DispositionAnswered:
		return callevent.Success
	case DispositionBusy:
		return callevent.Busy
	case DispositionVoicemail, DispositionNoAnswer:
		return callevent.NotAvailable
	case DispositionInvalidNumber:
		return callevent.NotFound
	case DispositionDropped:
		return callevent.Missed
	}
	return callevent.Failed
}

// DialerResult is one attempt reported by DialerResults.
type DialerResult struct {
	// ContactID is the "Identificador Contato CRM" given at upload.
	ContactID string `json:"contact_id"`
	// Phone is the dialled number, normalised with Config.DefaultCountry
	// ("5511987654321"); empty if the dialer's value is not a valid number
	// (see RawPhone).
	Phone string `json:"phone,omitempty"`
	// RawPhone is the number as the dialer wrote it (DDD and number joined by a space).
	RawPhone string `json:"raw_phone,omitempty"`
	// At is the time of the attempt, UTC; zero if not given.
	At time.Time `json:"at,omitzero"`
	// Status is the dialer's own status code.
	Status string `json:"status"`
	// Disposition is Status mapped through ResultsSpec.Statuses.
	Disposition Disposition `json:"disposition"`
}

// resultsSpec is a compiled ResultsSpec.
type resultsSpec struct {
	csv          bool
	sep          rune
	header       bool
	items        []string
	fields       [6]string // contact, phone, ddd, number, time, status
	idx          [6]int    // column numbers when !header
	layout       string
	loc          *time.Location
	statuses     map[string]Disposition
	statusesFold map[string]Disposition
}

const (
	fContact = iota
	fPhone
	fDDD
	fNumber
	fTime
	fStatus
)

var fieldNames = [6]string{"contact_id", "phone", "ddd", "number", "time", "status"}

func compileResults(op Operation, r *ResultsSpec, es *errs) *resultsSpec {
	rs := &resultsSpec{sep: ';', header: r.Header, layout: r.TimeLayout}
	f := r.Fields
	rs.fields = [6]string{f.ContactID, f.Phone, f.DDD, f.Number, f.Time, f.Status}
	switch r.Format {
	case "csv":
		rs.csv = true
		if r.Separator != "" {
			runes := []rune(r.Separator)
			if len(runes) != 1 || runes[0] == '"' || runes[0] == '\n' || runes[0] == '\r' {
				es.addf(op, "results.separator", "the separator must be one character other than a quote or line break")
			} else {
				rs.sep = runes[0]
			}
		}
		if r.Items != "" {
			es.addf(op, "results.items", "only a json result has items")
		}
	case "json":
		rs.items = splitPath(r.Items)
		if r.Header || r.Separator != "" {
			es.addf(op, "results", "header and separator apply to csv results only")
		}
	default:
		es.addf(op, "results.format", "format must be \"csv\" or \"json\", not %q", r.Format)
	}
	if f.ContactID == "" {
		es.addf(op, "results.fields.contact_id", "required")
	}
	if f.Status == "" {
		es.addf(op, "results.fields.status", "required")
	}
	switch {
	case f.Phone == "" && (f.DDD == "" || f.Number == ""):
		es.addf(op, "results.fields", "set phone, or ddd and number")
	case f.Phone != "" && (f.DDD != "" || f.Number != ""):
		es.addf(op, "results.fields", "set phone or ddd and number, not both")
	}
	if rs.csv && !rs.header {
		for i, name := range rs.fields {
			rs.idx[i] = -1
			if name == "" {
				continue
			}
			n, err := strconv.Atoi(name)
			if err != nil || n < 0 || n > 1000 {
				es.addf(op, "results.fields."+fieldNames[i], "without a header a field is a column number, not %q", name)
			}
			rs.idx[i] = n
		}
	}
	var err error
	if rs.loc, err = parseZone(r.TimeZone); err != nil {
		es.addf(op, "results.time_zone", "unknown time zone %q", r.TimeZone)
	}
	if rs.layout == "" {
		rs.layout = time.RFC3339
	}
	rs.statuses = r.Statuses
	rs.statusesFold = map[string]Disposition{}
	for code, d := range r.Statuses {
		if !containsDisposition(d) {
			es.addf(op, "results.statuses."+code, "unknown disposition %q", d)
		}
		rs.statusesFold[strings.ToUpper(code)] = d
	}
	return rs
}

func containsDisposition(d Disposition) bool {
	for _, x := range dispositions {
		if x == d {
			return true
		}
	}
	return false
}

// ResultError reports a dialer result that could not be read (bad time,
// missing field). Each is skipped, never silently: DialerResults returns
// every good result and these joined in its error.
type ResultError struct {
	Item int // 0-based line (CSV, header excluded) or array index (JSON)
	Err  error
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("finaz: dialer result %d: %v", e.Item, e.Err)
}

func (e *ResultError) Unwrap() error { return e.Err }

// parse reads all results from r; phones are normalised with country
// (Config.DefaultCountry).
func (rs *resultsSpec) parse(r io.Reader, country string) ([]DialerResult, error) {
	if rs.csv {
		return rs.parseCSV(r, country)
	}
	return rs.parseJSON(r, country)
}

func (rs *resultsSpec) parseCSV(r io.Reader, country string) ([]DialerResult, error) {
	cr := csv.NewReader(r)
	cr.Comma = rs.sep
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	idx := rs.idx
	if rs.header {
		head, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("finaz: dialer results: csv header: %w", err)
		}
		pos := map[string]int{}
		for i, h := range head {
			pos[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
		}
		for i, name := range rs.fields {
			idx[i] = -1
			if name == "" {
				continue
			}
			p, ok := pos[name]
			if !ok {
				return nil, fmt.Errorf("finaz: dialer results: csv header has no column %q", name)
			}
			idx[i] = p
		}
	}
	var out []DialerResult
	var bad []error
	for item := 0; ; item++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, errors.Join(append(bad, fmt.Errorf("finaz: dialer results: csv: %w", err))...)
		}
		get := func(f int) (string, bool) {
			i := idx[f]
			if i < 0 {
				return "", true
			}
			if i >= len(rec) {
				return "", false
			}
			return strings.TrimSpace(rec[i]), true
		}
		res, err := rs.build(get, country)
		if err != nil {
			bad = append(bad, &ResultError{Item: item, Err: err})
			continue
		}
		out = append(out, res)
	}
	return out, errors.Join(bad...)
}

func (rs *resultsSpec) parseJSON(r io.Reader, country string) ([]DialerResult, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("finaz: dialer results: json: %w", err)
	}
	v, ok := lookupPath(doc, rs.items)
	if !ok {
		return nil, fmt.Errorf("finaz: dialer results: no %q in the response", strings.Join(rs.items, "."))
	}
	arr, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("finaz: dialer results: %q is not an array", strings.Join(rs.items, "."))
	}
	paths := [6][]string{}
	for i, f := range rs.fields {
		paths[i] = splitPath(f)
	}
	var out []DialerResult
	var bad []error
	for item, el := range arr {
		get := func(f int) (string, bool) {
			if paths[f] == nil {
				return "", true
			}
			v, ok := lookupPath(el, paths[f])
			if !ok {
				return "", false
			}
			s, ok := scalarString(v)
			return strings.TrimSpace(s), ok
		}
		res, err := rs.build(get, country)
		if err != nil {
			bad = append(bad, &ResultError{Item: item, Err: err})
			continue
		}
		out = append(out, res)
	}
	return out, errors.Join(bad...)
}

// build assembles one result from its fields.
func (rs *resultsSpec) build(get func(f int) (string, bool), country string) (DialerResult, error) {
	var res DialerResult
	var ok bool
	if res.ContactID, ok = get(fContact); !ok || res.ContactID == "" {
		return res, fmt.Errorf("no %s", rs.fields[fContact])
	}
	if res.Status, ok = get(fStatus); !ok {
		return res, fmt.Errorf("no %s", rs.fields[fStatus])
	}
	res.Disposition = rs.disposition(res.Status)
	if rs.fields[fPhone] != "" {
		res.RawPhone, ok = get(fPhone)
		if !ok {
			return res, fmt.Errorf("no %s", rs.fields[fPhone])
		}
		res.Phone, _, _, _ = SplitPhone(res.RawPhone, country)
	} else {
		ddd, ok1 := get(fDDD)
		num, ok2 := get(fNumber)
		if !ok1 || !ok2 {
			return res, fmt.Errorf("no %s or %s", rs.fields[fDDD], rs.fields[fNumber])
		}
		res.RawPhone = strings.TrimSpace(ddd + " " + num)
		res.Phone, _ = JoinPhone(ddd, num)
	}
	if rs.fields[fTime] != "" {
		ts, ok := get(fTime)
		if !ok {
			return res, fmt.Errorf("no %s", rs.fields[fTime])
		}
		if ts != "" {
			at, err := rs.parseTime(ts)
			if err != nil {
				return res, err
			}
			res.At = at
		}
	}
	return res, nil
}

func (rs *resultsSpec) parseTime(s string) (time.Time, error) {
	if rs.layout == "unix" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q is not a unix time", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.ParseInLocation(rs.layout, s, rs.loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q does not match layout %q", s, rs.layout)
	}
	return t.UTC(), nil
}

func (rs *resultsSpec) disposition(status string) Disposition {
	if d, ok := rs.statuses[status]; ok {
		return d
	}
	if d, ok := rs.statusesFold[strings.ToUpper(status)]; ok {
		return d
	}
	return DispositionUnknown
}

// lookupPath follows a dotted path through decoded JSON: object keys, and
// array indexes written as numbers.
func lookupPath(v any, path []string) (any, bool) {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[p]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// scalarString renders a JSON scalar as text; objects and arrays fail.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case nil:
		return "", true
	}
	return "", false
}

// jsonField reads a dotted path from a JSON body; ok is false when the body
// is not JSON or has no such scalar.
func jsonField(body []byte, path []string) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return "", false
	}
	v, ok := lookupPath(doc, path)
	if !ok {
		return "", false
	}
	return scalarString(v)
}

// Event is the attempt as the Completed event of an outbound call of
// account to the contact (ContactRef = ContactID), so that a match.Engine
// logs one call per attempt on the CRM's client ("atualizarmos nossa base
// conforme cada retorno"). Its ID and CallID are derived from the contact,
// number, time and status, so reading the same results again makes the
// same events, which a sink deduplicates. A result without a time or a
// valid number is an error.
func (r DialerResult) Event(account string) (callevent.Event, error) {
	if r.At.IsZero() || r.Phone == "" {
		return callevent.Event{}, fmt.Errorf("finaz: dialer result of contact %q: no time or no valid number (%q)", r.ContactID, r.RawPhone)
	}
	h := sha256.New()
	for _, s := range []string{r.ContactID, r.Phone, strconv.FormatInt(r.At.UnixNano(), 10), r.Status} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	id := "dr-" + hex.EncodeToString(h.Sum(nil)[:16])
	raw, err := json.Marshal(r)
	if err != nil {
		return callevent.Event{}, fmt.Errorf("finaz: dialer result: %w", err)
	}
	e := callevent.Event{ID: id, Provider: Provider, Account: account, Kind: callevent.Completed, Direction: callevent.Outbound,
		Status: r.Disposition.Status(), CallID: id, ClientPhone: r.Phone, At: r.At, EndedAt: r.At, ContactRef: r.ContactID, Raw: raw}
	if r.Disposition == DispositionAnswered || r.Disposition == DispositionDropped {
		e.AnsweredAt = r.At
	}
	if err := e.Validate(); err != nil {
		return callevent.Event{}, fmt.Errorf("finaz: dialer result of contact %q: %w", r.ContactID, err)
	}
	return e, nil
}

// Worked reports whether the attempt settles its number: answered, or
// found invalid. Busy, voicemail, no answer, dropped and failed numbers
// are worth another try.
func (r DialerResult) Worked() bool {
	return r.Disposition == DispositionAnswered || r.Disposition == DispositionInvalidNumber
}

// Unworked returns contacts without the numbers that results worked
// (DialerResult.Worked), and without the contacts left with no number, so
// that an upload after a mailing's results does not call them again
// ("evitar chamadas duplicadas à números já trabalhados"). Numbers are
// compared normalised (Config.DefaultCountry); a number that does not
// normalise is kept for UploadContacts to report. contacts is not changed.
func (c *Client) Unworked(contacts []Contact, results []DialerResult) []Contact {
	worked := make(map[string]bool)
	for _, r := range results {
		if r.Worked() && r.Phone != "" {
			worked[r.Phone] = true
		}
	}
	out := make([]Contact, 0, len(contacts))
	for _, ct := range contacts {
		phones := make([]string, 0, len(ct.Phones))
		for _, p := range ct.Phones {
			if full, _, _, err := SplitPhone(p, c.c.country); err == nil && worked[full] {
				continue
			}
			phones = append(phones, p)
		}
		if len(phones) > 0 {
			ct.Phones = phones
			out = append(out, ct)
		}
	}
	return out
}
