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
	p, err := ot.path.render(make([]byte, 0, 64), e, appendPathSegment)
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
	req.Path = ot.prefix + string(p)
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

// appendPathSegment escapes v as text inside one path segment: "/", "?",
// "#", "%", spaces and non-ASCII are percent-encoded, and a value made only
// of dots is encoded so it cannot become "." or "..".
func appendPathSegment(b []byte, v string) []byte {
	esc := url.PathEscape(v)
	if strings.Trim(v, ".") == "" && v != "" {
		esc = strings.ReplaceAll(esc, ".", "%2E")
	}
	return append(b, esc...)
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
