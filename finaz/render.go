package finaz

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/callbridge/callbridge/internal/httpx"
)

// renderRequest builds the request of ot. rows are the contacts' variables
// of a CSV-mode upload (nil otherwise).
func (ot *opTemplate) renderRequest(e *env, rows []map[string]string) (*httpx.Request, error) {
	req := &httpx.Request{Method: ot.method, Idempotent: ot.idempotent}

	// URL: path placeholders escaped as path segment text.
	p, err := ot.renderPath(e)
	if err != nil {
		return nil, withOp(ot.op, fieldErr("url", err))
	}
	// The whole query is built here (not left to httpx's Request.Query),
	// so Render shows exactly what is sent.
	query := ot.rawQuery
	if len(ot.query) > 0 {
		vals, _ := url.ParseQuery(ot.rawQuery) // validated by compileURL
		for _, q := range ot.query {
			v, err := q.val.value(e)
			if err != nil {
				return nil, withOp(ot.op, fieldErr("query."+q.key, err))
			}
			vals.Add(q.key, v)
		}
		query = vals.Encode()
	}
	// The URL is made absolute here, never resolved by httpx: resolving a
	// reference removes dot segments and drops a leading "/", which would
	// let a value's decoded text reshape the path.
	if ot.prefix != "" {
		req.Path = ot.prefix + p
	} else {
		req.Path = e.base + strings.TrimLeft(p, "/")
	}
	if query != "" {
		req.Path += "?" + query
	}
	if len(ot.headers) > 0 {
		req.Header = make(http.Header, len(ot.headers))
		for _, h := range ot.headers {
			v, err := h.val.value(e)
			if err != nil {
				return nil, withOp(ot.op, fieldErr("headers."+h.key, err))
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, withOp(ot.op, fieldErr("headers."+h.key, errors.New("value contains a line break or NUL")))
			}
			req.Header[h.key] = []string{v}
		}
	}
	if ot.body != nil {
		if err := ot.body.render(req, e, ot, rows); err != nil {
			return nil, withOp(ot.op, err)
		}
	}
	return req, nil
}

// renderPath renders the URL path of ot. Each value is percent-encoded as
// text inside its path segment ("/", "?", "#", "%", "\" and the like
// included), and a segment that holds a value must not be empty, "." or
// "..", not even once a server percent-decodes it (repeatedly), takes "\"
// for "/" or drops a ";" parameter: a value never changes which path is
// requested. Segments of the template's own text are checked by compileURL.
func (ot *opTemplate) renderPath(e *env) (string, error) {
	b := make([]byte, 0, 64)
	start := 0      // start of the current segment in b
	var name string // first variable in the current segment, "" if none
	end := func() error {
		if name != "" && !safeSegment(string(b[start:])) {
			return fmt.Errorf("the value of %s would change the URL path (an empty, \".\" or \"..\" segment)", name)
		}
		return nil
	}
	for _, s := range ot.path {
		if s.ref == nil {
			lit := s.lit
			for {
				i := strings.IndexByte(lit, '/')
				if i < 0 {
					b = append(b, lit...)
					break
				}
				b = append(b, lit[:i]...)
				if err := end(); err != nil {
					return "", err
				}
				b = append(b, '/')
				start, name, lit = len(b), "", lit[i+1:]
			}
			continue
		}
		v, err := e.lookup(s.ref.name)
		if err != nil {
			return "", err
		}
		b = append(b, url.PathEscape(v)...)
		if name == "" {
			name = s.ref.name
		}
	}
	if err := end(); err != nil {
		return "", err
	}
	return string(b), nil
}

// safeSegment reports whether seg, one percent-encoded path segment, stays
// one ordinary segment however a server reads it: it is not empty, and
// neither it nor any of its percent-decodings (decoded again and again,
// leniently) contains a "." or ".." segment, with "/" or "\" as
// separators and anything from ";" or NUL on ignored.
func safeSegment(seg string) bool {
	if seg == "" {
		return false
	}
	for range 8 {
		for part := range strings.FieldsFuncSeq(seg, func(r rune) bool { return r == '/' || r == '\\' }) {
			if i := strings.IndexAny(part, ";\x00"); i >= 0 {
				part = part[:i]
			}
			if part == "." || part == ".." {
				return false
			}
		}
		d := unescapeLenient(seg)
		if d == seg {
			return true
		}
		seg = d
	}
	return false // still decoding after 8 rounds: not an ordinary value
}

// unescapeLenient decodes every valid %XX of s and keeps anything else as
// is, the way lenient servers do.
func unescapeLenient(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func (bt *bodyTemplate) render(req *httpx.Request, e *env, ot *opTemplate, rows []map[string]string) error {
	switch bt.typ {
	case BodyJSON:
		b, err := bt.json.render(make([]byte, 0, 256), e, "body.json")
		if err != nil {
			return err
		}
		req.Body, req.ContentType = b, "application/json"
	case BodyForm:
		f, err := renderForm(bt.form, e)
		if err != nil {
			return err
		}
		req.Body, req.ContentType = []byte(f.Encode()), "application/x-www-form-urlencoded"
	case BodyText:
		esc := appendRaw
		if bt.xml {
			esc = appendXML
		}
		b, err := bt.text.render(nil, e, esc)
		if err != nil {
			return fieldErr("body.text", err)
		}
		req.Body, req.ContentType = b, "text/plain; charset=utf-8"
	case BodyCSV:
		b, err := ot.csv.render(e, rows)
		if err != nil {
			return err
		}
		req.Body, req.ContentType = b, "text/csv; charset=utf-8"
	case BodyMultipart:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, f := range bt.form {
			v, err := f.val.value(e)
			if err != nil {
				return fieldErr("body.form."+f.key, err)
			}
			if err := mw.WriteField(f.key, v); err != nil {
				return fieldErr("body.form."+f.key, err)
			}
		}
		if ot.csv != nil {
			name, err := ot.csv.fileName.value(e)
			if err != nil {
				return fieldErr("csv.file_name", err)
			}
			data, err := ot.csv.render(e, rows)
			if err != nil {
				return err
			}
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`,
				quoteEscaper.Replace(bt.fileField), quoteEscaper.Replace(name)))
			h.Set("Content-Type", "text/csv; charset=utf-8")
			w, err := mw.CreatePart(h)
			if err != nil {
				return err
			}
			_, _ = w.Write(data)
		}
		if err := mw.Close(); err != nil {
			return err
		}
		req.Body, req.ContentType = buf.Bytes(), mw.FormDataContentType()
	}
	if bt.contentType != "" {
		req.ContentType = bt.contentType
	}
	return nil
}

// quoteEscaper escapes a multipart header parameter like mime/multipart does.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "%0D", "\n", "%0A")

func renderForm(fields []kv, e *env) (url.Values, error) {
	f := make(url.Values, len(fields))
	for _, kv := range fields {
		v, err := kv.val.value(e)
		if err != nil {
			return nil, fieldErr("body.form."+kv.key, err)
		}
		f.Set(kv.key, v)
	}
	return f, nil
}

func appendXML(b []byte, v string) []byte { return append(b, html.EscapeString(v)...) }

// render writes the CSV file of rows: the optional header, then one line
// per row with each cell quoted as needed.
func (ct *csvTemplate) render(req *env, rows []map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Comma = ct.sep
	w.UseCRLF = ct.crlf
	if len(ct.header) > 0 {
		if err := w.Write(ct.header); err != nil {
			return nil, fieldErr("csv.header", err)
		}
	}
	rec := make([]string, len(ct.columns))
	for _, row := range rows {
		if err := ct.record(req, row, rec); err != nil {
			return nil, err
		}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// record fills rec (len(ct.columns)) with the cells of one row.
func (ct *csvTemplate) record(req *env, row map[string]string, rec []string) error {
	e := &env{vars: row, params: req.params, redact: req.redact}
	for i, col := range ct.columns {
		v, err := col.value(e)
		if err != nil {
			return fieldErr(fmt.Sprintf("csv.columns[%d]", i), err)
		}
		rec[i] = v
	}
	return nil
}
