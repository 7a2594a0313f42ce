package finaz

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callbridge/callbridge/internal/phone"
)

// compiled is a validated Config, ready to render requests.
type compiled struct {
	cfg     Config
	base    string // BaseURL or the origin of the first absolute template URL
	country string
	conc    int
	ops     map[Operation]*opTemplate
}

// opTemplate is one compiled RequestTemplate.
type opTemplate struct {
	op         Operation
	method     string
	prefix     string // scheme://host of an absolute URL, "" for relative
	path       text   // path part, placeholders escaped as path segments
	rawQuery   string // static query of the URL
	headers    []kv
	query      []kv
	body       *bodyTemplate
	idempotent bool
	resp       responseSpec
	csv        *csvTemplate
	results    *resultsSpec
}

type kv struct {
	key string
	val text
}

type bodyTemplate struct {
	typ         string
	json        *jnode
	form        []kv
	text        text
	xml         bool
	contentType string
	fileField   string
}

type csvTemplate struct {
	fileName text
	sep      rune
	header   []string
	columns  []text
	crlf     bool
}

type responseSpec struct {
	status        []int
	successField  []string
	successValues []string
	successRe     *regexp.Regexp
	messageField  []string
	callIDField   []string
	callIDRe      *regexp.Regexp
}

// errs collects FieldErrors.
type errs []error

func (e *errs) add(op Operation, field string, err error) {
	*e = append(*e, &FieldError{Op: op, Field: field, Err: err})
}

func (e *errs) addf(op Operation, field, format string, args ...any) {
	e.add(op, field, fmt.Errorf(format, args...))
}

var headerNameRe = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func compileConfig(cfg *Config, required []Operation, forClient bool) (*compiled, error) {
	var es errs
	c := &compiled{cfg: *cfg, ops: map[Operation]*opTemplate{}}

	c.country = cfg.DefaultCountry
	if c.country == "" {
		c.country = "BR"
	}
	if phone.CheckCountry(c.country) != nil {
		es.addf("", "default_country", "unsupported country %q (supported: BR, RU, KZ, UA, BY)", cfg.DefaultCountry)
	}
	switch {
	case cfg.UploadConcurrency == 0:
		c.conc = defaultConcurrency
	case cfg.UploadConcurrency < 0 || cfg.UploadConcurrency > maxConcurrency:
		es.addf("", "upload_concurrency", "%d is outside 1..%d", cfg.UploadConcurrency, maxConcurrency)
	default:
		c.conc = cfg.UploadConcurrency
	}
	for name := range cfg.Params {
		if !varNameRe.MatchString(name) {
			es.addf("", "params."+name, "a parameter name is letters, digits and _")
		}
		if isSystemVar(name) {
			es.addf("", "params."+name, "%q is a system variable name", name)
		}
	}
	if cfg.BaseURL != "" {
		if err := checkBaseURL(cfg.BaseURL); err != nil {
			es.add("", "base_url", err)
		}
		c.base = cfg.BaseURL
	}
	for _, op := range required {
		if !slices.Contains(operations[:], op) {
			es.addf(op, "", "unknown operation")
		} else if cfg.template(op) == nil {
			es.addf(op, "", "operation is required but not configured")
		}
	}
	n := 0
	for _, op := range operations {
		t := cfg.template(op)
		if t == nil {
			continue
		}
		n++
		ot := compileOp(op, t, cfg.Params, &es)
		c.ops[op] = ot
		if ot != nil && c.base == "" && ot.prefix != "" {
			c.base = ot.prefix + "/"
		}
	}
	if n == 0 {
		es.addf("", "", "no operation is configured")
	}
	for _, ot := range c.ops {
		if forClient && ot != nil && ot.prefix == "" && cfg.BaseURL == "" {
			es.addf(ot.op, "url", "relative URL %q needs base_url (or callbridge.WithBaseURL)", cfg.template(ot.op).URL)
		}
	}
	if forClient {
		for _, name := range sortedKeys(cfg.Params) {
			switch p := cfg.Params[name]; {
			case p.Value == "":
				es.addf("", "params."+name, "has no value (set it with Config.SetParam)")
			case p.Secret && p.Value == redacted:
				es.addf("", "params."+name, "holds %q from a marshalled config, not the secret (set it with Config.SetSecret)", redacted)
			}
		}
	}
	if len(es) > 0 {
		return nil, errors.Join(es...)
	}
	return c, nil
}

func isSystemVar(name string) bool {
	for _, s := range []varSet{click2callVars, transferVars, recordingVars, uploadVars} {
		if _, ok := s[name]; ok {
			return true
		}
	}
	return false
}

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must not have a query, fragment or user info")
	}
	if !literalPathSafe(text{{lit: u.EscapedPath()}}) {
		return errors.New("the path must not have \".\" or \"..\" segments")
	}
	return nil
}

// literalPathSafe reports whether the template's own path text has no "."
// or ".." segment (however a server decodes it); placeholders count as
// ordinary text here, renderPath checks their values.
func literalPathSafe(path text) bool {
	var b strings.Builder
	for _, s := range path {
		if s.ref != nil {
			b.WriteString("x")
			continue
		}
		b.WriteString(s.lit)
	}
	for seg := range strings.SplitSeq(b.String(), "/") {
		if seg != "" && !safeSegment(seg) {
			return false
		}
	}
	return true
}

// slot says what a placeholder is inside, for validation.
type slot uint8

const (
	slotPath slot = iota
	slotQuery
	slotHeader
	slotForm
	slotJSON
	slotText
	slotCSV
	slotFileName
)

// checkText validates the placeholders of t in a slot.
func checkText(op Operation, field string, t text, vars varSet, params map[string]Param, sl slot, es *errs) {
	for _, r := range t.refs() {
		k, isParam := kindText, false
		if _, ok := params[r.name]; ok {
			isParam = true
			k = kindID
		} else if vk, ok := vars[r.name]; ok {
			k = vk
		} else {
			es.addf(op, field, "unknown variable %q for %s (available: %s)", r.name, op, varList(vars, params))
			continue
		}
		if sl != slotJSON && (r.number || r.omitEmpty) {
			es.addf(op, field, "modifiers (|number, |omitempty) are only allowed in JSON bodies")
			continue
		}
		if r.number || r.omitEmpty {
			if len(t) != 1 {
				es.addf(op, field, "a |number or |omitempty placeholder must be the whole JSON string")
				continue
			}
		}
		if r.number && k == kindText {
			es.addf(op, field, "variable %q is free text and cannot fill a JSON number", r.name)
		}
		if r.number && isParam && params[r.name].Secret {
			es.addf(op, field, "secret parameter %q cannot fill a JSON number", r.name)
		}
		if sl == slotText && k != kindDigits && !isParam {
			es.addf(op, field, "variable %q may contain any text: set body.escape to \"xml\" or use a structured body (json, form)", r.name)
		}
	}
}

func varList(vars varSet, params map[string]Param) string {
	var names []string
	for n := range vars {
		names = append(names, n)
	}
	for n := range params {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func compileOp(op Operation, t *RequestTemplate, params map[string]Param, es *errs) *opTemplate {
	ot := &opTemplate{op: op, idempotent: t.Idempotent}
	csvMode := op == OpUploadContacts && t.CSV != nil
	vars := requestVars(op, csvMode)
	before := len(*es)

	// method
	ot.method = strings.ToUpper(strings.TrimSpace(t.Method))
	if ot.method == "" {
		ot.method = http.MethodGet
		if t.Body != nil {
			ot.method = http.MethodPost
		}
	}
	if !headerNameRe.MatchString(ot.method) {
		es.addf(op, "method", "invalid method %q", t.Method)
	}

	// URL
	compileURL(op, t.URL, ot, vars, params, es)

	// headers and query, sorted for deterministic rendering
	for _, k := range sortedKeys(t.Headers) {
		field := "headers." + k
		if !headerNameRe.MatchString(k) {
			es.addf(op, field, "invalid header name")
			continue
		}
		v := parseField(op, field, t.Headers[k], es)
		checkText(op, field, v, vars, params, slotHeader, es)
		ot.headers = append(ot.headers, kv{http.CanonicalHeaderKey(k), v})
	}
	for _, k := range sortedKeys(t.Query) {
		field := "query." + k
		if k == "" || strings.Contains(k, "{{") {
			es.addf(op, field, "query parameter names must be static and non-empty")
			continue
		}
		v := parseField(op, field, t.Query[k], es)
		checkText(op, field, v, vars, params, slotQuery, es)
		ot.query = append(ot.query, kv{k, v})
	}

	// body
	if t.Body != nil {
		ot.body = compileBody(op, t.Body, csvMode, vars, params, es)
	}
	if csvMode {
		ot.csv = compileCSV(op, t.CSV, params, es)
		if t.Body == nil || (t.Body.Type != BodyCSV && t.Body.Type != BodyMultipart) {
			es.addf(op, "body.type", "CSV mode needs a body of type \"csv\" or \"multipart\"")
		}
	} else if t.CSV != nil {
		es.addf(op, "csv", "only upload_contacts has a CSV mode")
	}

	// response
	if t.Response != nil {
		ot.resp = compileResponse(op, t.Response, es)
	}

	// results
	switch {
	case op == OpDialerResults && t.Results == nil:
		es.addf(op, "results", "dialer_results needs a results spec (format, fields)")
	case op == OpDialerResults:
		ot.results = compileResults(op, t.Results, es)
	case t.Results != nil:
		es.addf(op, "results", "only dialer_results has a results spec")
	}
	if len(*es) > before {
		return nil
	}
	return ot
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func parseField(op Operation, field, s string, es *errs) text {
	t, err := parseText(s)
	if err != nil {
		es.add(op, field, err)
	}
	return t
}

func compileURL(op Operation, raw string, ot *opTemplate, vars varSet, params map[string]Param, es *errs) {
	if strings.TrimSpace(raw) == "" {
		es.addf(op, "url", "url is required")
		return
	}
	if strings.Contains(raw, "#") {
		es.addf(op, "url", "url must not have a fragment")
		return
	}
	rest := raw
	if i := strings.Index(raw, "://"); i >= 0 {
		end := strings.IndexByte(raw[i+3:], '/')
		if end < 0 {
			end = len(raw) - i - 3
			if q := strings.IndexByte(raw[i+3:], '?'); q >= 0 {
				end = q
			}
		}
		ot.prefix = raw[:i+3+end]
		rest = raw[i+3+end:]
		if strings.Contains(ot.prefix, "{{") {
			es.addf(op, "url", "placeholders are not allowed in the scheme or host")
			return
		}
		if err := checkBaseURL(ot.prefix + "/"); err != nil {
			es.add(op, "url", err)
			return
		}
	}
	path, query, _ := strings.Cut(rest, "?")
	if strings.Contains(query, "{{") {
		es.addf(op, "url", "placeholders are not allowed in the URL's query: use \"query\"")
		return
	}
	if _, err := url.ParseQuery(query); err != nil {
		es.addf(op, "url", "invalid query: %v", err)
		return
	}
	ot.rawQuery = query
	ot.path = parseField(op, "url", path, es)
	for _, s := range ot.path {
		if s.ref == nil {
			if _, err := url.Parse(s.lit); err != nil || strings.ContainsAny(s.lit, " \t\r\n") {
				es.addf(op, "url", "invalid path text %q", s.lit)
			}
		}
	}
	if ot.prefix == "" && strings.HasPrefix(path, "//") {
		es.addf(op, "url", "scheme-relative URLs are not allowed")
	}
	if !literalPathSafe(ot.path) {
		es.addf(op, "url", "the path must not have \".\" or \"..\" segments")
	}
	checkText(op, "url", ot.path, vars, params, slotPath, es)
}

func compileBody(op Operation, b *Body, csvMode bool, vars varSet, params map[string]Param, es *errs) *bodyTemplate {
	bt := &bodyTemplate{typ: b.Type, contentType: b.ContentType, fileField: b.FileField}
	if strings.ContainsAny(b.ContentType, "\r\n") {
		es.addf(op, "body.content_type", "invalid content type")
	}
	unused := func(field string, set bool) {
		if set {
			es.addf(op, "body."+field, "not used by a %q body", b.Type)
		}
	}
	switch b.Type {
	case BodyJSON:
		unused("form", b.Form != nil)
		unused("text", b.Text != "")
		if len(b.JSON) == 0 {
			es.addf(op, "body.json", "a json body needs a json template")
			return bt
		}
		n, err := parseJSONTemplate(b.JSON)
		if err != nil {
			*es = append(*es, withOp(op, err))
			return bt
		}
		_ = n.walk("body.json", func(path string, leaf *jnode) error {
			checkText(op, path, leaf.str, vars, params, slotJSON, es)
			return nil
		})
		bt.json = n
	case BodyForm, BodyMultipart:
		unused("json", len(b.JSON) > 0)
		unused("text", b.Text != "")
		if b.Type == BodyForm && len(b.Form) == 0 {
			es.addf(op, "body.form", "a form body needs fields")
		}
		for _, k := range sortedKeys(b.Form) {
			field := "body.form." + k
			if k == "" || strings.Contains(k, "{{") {
				es.addf(op, field, "form field names must be static and non-empty")
				continue
			}
			v := parseField(op, field, b.Form[k], es)
			checkText(op, field, v, vars, params, slotForm, es)
			bt.form = append(bt.form, kv{k, v})
		}
		if b.Type == BodyMultipart && bt.fileField == "" && csvMode {
			bt.fileField = "file"
		}
	case BodyText:
		unused("json", len(b.JSON) > 0)
		unused("form", b.Form != nil)
		switch b.Escape {
		case "":
		case "xml":
			bt.xml = true
		default:
			es.addf(op, "body.escape", "unknown escape %q (known: xml)", b.Escape)
		}
		bt.text = parseField(op, "body.text", b.Text, es)
		sl := slotText
		if bt.xml {
			sl = slotForm // any variable, escaped
		}
		checkText(op, "body.text", bt.text, vars, params, sl, es)
	case BodyCSV:
		unused("json", len(b.JSON) > 0)
		unused("form", b.Form != nil)
		unused("text", b.Text != "")
		if !csvMode {
			es.addf(op, "body.type", "a csv body needs upload_contacts with a csv spec")
		}
	default:
		es.addf(op, "body.type", "unknown body type %q (known: json, form, multipart, text, csv)", b.Type)
	}
	if b.FileField != "" && !(b.Type == BodyMultipart && csvMode) {
		es.addf(op, "body.file_field", "only a multipart body in CSV mode has a file")
	}
	if b.Escape != "" && b.Type != BodyText {
		es.addf(op, "body.escape", "only a text body has an escape")
	}
	return bt
}

func compileCSV(op Operation, s *CSVSpec, params map[string]Param, es *errs) *csvTemplate {
	ct := &csvTemplate{sep: ';', header: s.Header, crlf: s.CRLF}
	if s.Separator != "" {
		r, size := utf8.DecodeRuneInString(s.Separator)
		if size != len(s.Separator) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
			es.addf(op, "csv.separator", "the separator must be one character other than a quote or line break")
		}
		ct.sep = r
	}
	name := s.FileName
	if name == "" {
		name = "mailing.csv"
	}
	ct.fileName = parseField(op, "csv.file_name", name, es)
	checkText(op, "csv.file_name", ct.fileName, queueVars, params, slotFileName, es)
	if len(s.Columns) == 0 {
		es.addf(op, "csv.columns", "at least one column is required")
	}
	if len(s.Header) > 0 && len(s.Header) != len(s.Columns) {
		es.addf(op, "csv.header", "%d header names for %d columns", len(s.Header), len(s.Columns))
	}
	for i, col := range s.Columns {
		field := "csv.columns[" + strconv.Itoa(i) + "]"
		t := parseField(op, field, col, es)
		checkText(op, field, t, uploadVars, params, slotCSV, es)
		ct.columns = append(ct.columns, t)
	}
	return ct
}

func compileResponse(op Operation, r *ResponseSpec, es *errs) responseSpec {
	var rs responseSpec
	for _, s := range r.SuccessStatus {
		if s < 200 || s > 299 {
			es.addf(op, "response.success_status", "%d is not a 2xx status (other statuses are always errors)", s)
		}
	}
	rs.status = r.SuccessStatus
	rs.successField = splitPath(r.SuccessField)
	rs.successValues = r.SuccessValues
	if len(rs.successValues) == 0 {
		rs.successValues = []string{"true"}
	}
	if len(r.SuccessValues) > 0 && r.SuccessField == "" {
		es.addf(op, "response.success_values", "needs success_field")
	}
	rs.messageField = splitPath(r.MessageField)
	rs.callIDField = splitPath(r.CallIDField)
	var err error
	if r.SuccessRegex != "" {
		if rs.successRe, err = regexp.Compile(r.SuccessRegex); err != nil {
			es.add(op, "response.success_regex", err)
		}
	}
	if r.CallIDRegex != "" {
		if rs.callIDRe, err = regexp.Compile(r.CallIDRegex); err != nil {
			es.add(op, "response.call_id_regex", err)
		}
	}
	if op != OpClick2Call && (r.CallIDField != "" || r.CallIDRegex != "") {
		es.addf(op, "response", "only click2call returns a call id")
	}
	if r.CallIDField != "" && r.CallIDRegex != "" {
		es.addf(op, "response", "set call_id_field or call_id_regex, not both")
	}
	if (op == OpDownloadRecording || op == OpDialerResults) &&
		(r.SuccessField != "" || r.SuccessRegex != "" || r.MessageField != "") {
		es.addf(op, "response", "%s judges success by status only (its body is the data)", op)
	}
	return rs
}

// splitPath splits a dotted JSON path; "" gives nil.
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

// defaults of UploadConcurrency.
const (
	defaultConcurrency = 4
	maxConcurrency     = 64
)

// parseZone reads an IANA zone name or a fixed offset "-03:00".
func parseZone(s string) (*time.Location, error) {
	if s == "" || s == "UTC" {
		return time.UTC, nil
	}
	if len(s) == 6 && (s[0] == '+' || s[0] == '-') && s[3] == ':' {
		h, err1 := strconv.Atoi(s[1:3])
		m, err2 := strconv.Atoi(s[4:6])
		if err1 == nil && err2 == nil && h <= 14 && m < 60 {
			off := h*3600 + m*60
			if s[0] == '-' {
				off = -off
			}
			return time.FixedZone(s, off), nil
		}
	}
	return time.LoadLocation(s)
}
