package finaz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/callbridge/callbridge/internal/httpx"
)

// Config is one telephony system's integration: a RequestTemplate per
// operation it supports (nil for the others) plus the static parameters the
// templates use. Build it in Go or load it from JSON with LoadConfig; both
// are validated (Validate) by NewClient.
type Config struct {
	// BaseURL is where relative template URLs point ("https://pbx.example.com/").
	// Optional when every template URL is absolute; callbridge.WithBaseURL
	// overrides it.
	BaseURL string `json:"base_url,omitempty"`
	// DefaultCountry is the ISO country for numbers written without a
	// country code: "BR" (default), "RU", "KZ", "UA" or "BY";
	// callbridge.WithDefaultCountry overrides it.
	DefaultCountry string `json:"default_country,omitempty"`
	// DefaultQueue fills identificador_fila for Client.Call, which has no
	// queue of its own (GroupCall takes the request's Group). Empty means
	// no value: a template that uses the variable then fails.
	DefaultQueue string `json:"default_queue,omitempty"`
	// UploadConcurrency bounds the parallel requests of a per-contact
	// upload: default 4, at most 64.
	UploadConcurrency int `json:"upload_concurrency,omitempty"`
	// Params are the extra variables of the manual ("credenciais/etc."),
	// usable in every template by name. Their names must not be system
	// variable names. Secret values are redacted from errors, logs and
	// Render. In JSON a param is {"value": "…", "secret": true} or just "…".
	Params map[string]Param `json:"params,omitempty"`

	Click2Call        *RequestTemplate `json:"click2call,omitempty"`
	Transfer          *RequestTemplate `json:"transfer,omitempty"`
	UploadContacts    *RequestTemplate `json:"upload_contacts,omitempty"`
	ClearDialer       *RequestTemplate `json:"clear_dialer,omitempty"`
	DialerResults     *RequestTemplate `json:"dialer_results,omitempty"`
	DownloadRecording *RequestTemplate `json:"download_recording,omitempty"`
}

// Param is a static template variable such as a login or an API key.
type Param struct {
	Value string `json:"value"`
	// Secret values never appear in errors, logs or Render output.
	Secret bool `json:"secret,omitempty"`
}

// UnmarshalJSON accepts {"value": "…", "secret": bool} or a plain string.
func (p *Param) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*p = Param{}
		return json.Unmarshal(b, &p.Value)
	}
	type plain Param
	var v plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*p = Param(v)
	return nil
}

// RequestTemplate describes one HTTP request. Every string may contain
// placeholders "{{name}}" for the operation's system variables and the
// Config.Params; each placeholder is escaped for its slot.
type RequestTemplate struct {
	// Method is the HTTP method; default GET without a body, POST with one.
	Method string `json:"method,omitempty"`
	// URL is absolute or relative to Config.BaseURL (joined to it, also
	// when it starts with "/"). Placeholders are allowed in the path only,
	// each escaped as part of a path segment ("/" included); a value that
	// would make its segment empty, "." or ".." is an error, as is a "."
	// or ".." segment in the URL itself. Put variable query parameters in
	// Query.
	URL string `json:"url"`
	// Headers are request headers. A value may not contain line breaks.
	Headers map[string]string `json:"headers,omitempty"`
	// Query are URL query parameters, each value query-escaped.
	Query map[string]string `json:"query,omitempty"`
	// Body is the request body, built structurally; nil for none.
	Body *Body `json:"body,omitempty"`
	// Idempotent declares that repeating the request is harmless, so
	// transient failures (502/503/504, timeouts) are retried. Without it a
	// state-changing operation (click2call, transfer, upload_contacts,
	// clear_dialer) is never retried once it may have reached the PBX:
	// one click, at most one call.
	Idempotent bool `json:"idempotent,omitempty"`
	// Response says how to tell success from failure (and, for click2call,
	// where the call id is). nil: any 2xx is a success.
	Response *ResponseSpec `json:"response,omitempty"`
	// CSV switches upload_contacts to CSV mode: all contacts in one file
	// sent in one request. Without it each contact is its own request.
	CSV *CSVSpec `json:"csv,omitempty"`
	// Results says how to read the answer of dialer_results (required there).
	Results *ResultsSpec `json:"results,omitempty"`
}

// Body types.
const (
	BodyJSON      = "json"      // JSON built from the Body.JSON template tree
	BodyForm      = "form"      // application/x-www-form-urlencoded from Body.Form
	BodyMultipart = "multipart" // multipart/form-data: Body.Form fields, and the CSV file in CSV mode
	BodyText      = "text"      // Body.Text, see Body.Escape
	BodyCSV       = "csv"       // the CSV file itself (upload_contacts in CSV mode)
)

// Body is a request body.
type Body struct {
	// Type is one of "json", "form", "multipart", "text", "csv".
	Type string `json:"type"`
	// JSON is the template tree of a "json" body: placeholders in string
	// values (not keys). A string that is exactly "{{name|number}}" becomes
	// a JSON number (null when empty); "{{name|omitempty}}" drops the key
	// or element when the value is empty. Everything else is a JSON string.
	JSON json.RawMessage `json:"json,omitempty"`
	// Form holds the fields of a "form" or "multipart" body.
	Form map[string]string `json:"form,omitempty"`
	// Text is a "text" body. Placeholders are escaped per Escape.
	Text string `json:"text,omitempty"`
	// Escape is the escaping of a "text" body: "xml" (XML/HTML text and
	// attribute escaping) or "" — then only digit-only variables and Params
	// are allowed, since nothing else could be escaped safely.
	Escape string `json:"escape,omitempty"`
	// ContentType overrides the body's default content type
	// (application/json, …form-urlencoded, text/plain; charset=utf-8, text/csv).
	ContentType string `json:"content_type,omitempty"`
	// FileField is the multipart field of the CSV file in CSV mode
	// (default "file").
	FileField string `json:"file_field,omitempty"`
}

// CSVSpec is the mailing file of upload_contacts in CSV mode ("Arquivo CSV").
type CSVSpec struct {
	// FileName is the file's name ("arqMailing.csv", the default
	// "mailing.csv"); placeholders allowed (identificador_fila, Params).
	FileName string `json:"file_name,omitempty"`
	// Separator is the one-character field separator (default ";").
	Separator string `json:"separator,omitempty"`
	// Header is an optional first line, e.g. ["ID","CPF","DDD1Telefone1"].
	Header []string `json:"header,omitempty"`
	// Columns are the cell templates of each contact's line, e.g.
	// ["{{identificador_contato_crm}}", "{{cpf}}", "{{ddd1}}{{numero1}}"]
	// for the manual's "ID;CPF;DDD1Telefone1". Cells are CSV-quoted when
	// they contain the separator, quotes or line breaks.
	Columns []string `json:"columns"`
	// CRLF ends lines with "\r\n" instead of "\n".
	CRLF bool `json:"crlf,omitempty"`
}

// ResponseSpec judges a response. A response is a success when its status
// is in SuccessStatus and every configured check passes.
type ResponseSpec struct {
	// SuccessStatus lists the 2xx codes that mean success (default: any 2xx).
	SuccessStatus []int `json:"success_status,omitempty"`
	// SuccessField is a dotted JSON path ("result.status", "items.0.ok")
	// whose value must be one of SuccessValues (default "true").
	SuccessField  string   `json:"success_field,omitempty"`
	SuccessValues []string `json:"success_values,omitempty"`
	// SuccessRegex must match the body, e.g. "^SUCCESS" for VICIdial's
	// text replies.
	SuccessRegex string `json:"success_regex,omitempty"`
	// MessageField is a dotted JSON path to an error message, shown in the
	// error of a failed request.
	MessageField string `json:"message_field,omitempty"`
	// CallIDField (a dotted JSON path) or CallIDRegex (its first group, or
	// the whole match) finds the call id in a click2call response.
	CallIDField string `json:"call_id_field,omitempty"`
	CallIDRegex string `json:"call_id_regex,omitempty"`
}

// ResultsSpec reads the dialer_results answer ("Retorno do Discador"), a
// CSV file or a JSON document.
type ResultsSpec struct {
	// Format is "csv" or "json".
	Format string `json:"format"`
	// Separator is the CSV separator (default ";").
	Separator string `json:"separator,omitempty"`
	// Header says the CSV's first line names the columns; Fields then name
	// columns, otherwise they are 0-based column numbers ("0", "3").
	Header bool `json:"header,omitempty"`
	// Items is the dotted JSON path of the array of results ("" when the
	// document is the array).
	Items string `json:"items,omitempty"`
	// Fields locate each value in a CSV line or a JSON item (dotted path).
	Fields ResultFields `json:"fields"`
	// TimeLayout is the Go layout of Fields.Time ("2006-01-02 15:04:05");
	// default RFC 3339. "unix" reads seconds since the epoch.
	TimeLayout string `json:"time_layout,omitempty"`
	// TimeZone applies to times without a zone: an IANA name
	// ("America/Sao_Paulo") or a fixed offset ("-03:00"); default UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// Statuses maps the dialer's status codes to dispositions, e.g.
	// {"ANSWER": "answered", "B": "busy", "AM": "voicemail"}. Codes match
	// exactly, then case-insensitively; others give DispositionUnknown.
	Statuses map[string]Disposition `json:"statuses,omitempty"`
}

// ResultFields locate the values of one dialer result. ContactID, Status
// and either Phone or DDD+Number are required; Time is optional.
type ResultFields struct {
	ContactID string `json:"contact_id"`
	Phone     string `json:"phone,omitempty"`
	DDD       string `json:"ddd,omitempty"`
	Number    string `json:"number,omitempty"`
	Time      string `json:"time,omitempty"`
	Status    string `json:"status"`
}

// LoadConfig reads a JSON configuration and validates it (see
// Config.Validate). Unknown JSON fields are errors, so typos surface.
// required lists the operations the application needs; a missing one is
// an error. Problems are all reported, joined; each is a *FieldError
// naming the operation and field.
func LoadConfig(r io.Reader, required ...Operation) (Config, error) {
	var cfg Config
	dec := json.NewDecoder(io.LimitReader(r, maxConfigBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("finaz: config: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("finaz: config: trailing data after the JSON object")
	}
	if err := cfg.Validate(required...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// maxConfigBytes bounds what LoadConfig reads.
const maxConfigBytes = 4 << 20

// Validate checks the configuration without sending anything: required
// operations present, URLs, methods, headers, body types, every
// placeholder known to its operation and allowed in its slot, response
// and results specs. Param values and a base URL for relative template
// URLs are not required here (shipped templates leave them empty);
// NewClient requires them.
func (c *Config) Validate(required ...Operation) error {
	_, err := compileConfig(c, required, false)
	return err
}

// template returns the template of op.
func (c *Config) template(op Operation) *RequestTemplate {
	switch op {
	case OpClick2Call:
		return c.Click2Call
	case OpTransfer:
		return c.Transfer
	case OpUploadContacts:
		return c.UploadContacts
	case OpClearDialer:
		return c.ClearDialer
	case OpDialerResults:
		return c.DialerResults
	case OpDownloadRecording:
		return c.DownloadRecording
	}
	return nil
}

// SetParam sets the value of a static parameter, e.g. a login left empty
// in a shipped template, keeping its Secret flag if it exists.
func (c *Config) SetParam(name, value string) {
	if c.Params == nil {
		c.Params = map[string]Param{}
	}
	p := c.Params[name]
	p.Value = value
	c.Params[name] = p
}

// SetSecret sets a secret parameter (a password, an API token): its value
// is redacted from errors, logs and Render.
func (c *Config) SetSecret(name, value string) {
	if c.Params == nil {
		c.Params = map[string]Param{}
	}
	c.Params[name] = Param{Value: value, Secret: true}
}

// String describes the configuration without secrets: the base URL,
// country, queue, concurrency, the Params (secret values as "REDACTED")
// and the names of the configured operations. Templates are not shown
// (marshal the Config to JSON to see them, secrets redacted).
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "finaz.Config{BaseURL: %q, DefaultCountry: %q, DefaultQueue: %q, UploadConcurrency: %d, Params: {",
		httpx.Redact(c.BaseURL, c.secretValues()...), c.DefaultCountry, c.DefaultQueue, c.UploadConcurrency)
	for i, name := range sortedKeys(c.Params) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %q", name, c.Params[name].String())
	}
	fmt.Fprintf(&b, "}, Operations: %v}", c.operations())
	return b.String()
}

// GoString is String, so %#v shows no secret either.
func (c Config) GoString() string { return c.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the configuration as String describes it.
func (c Config) LogValue() slog.Value {
	params := make([]slog.Attr, 0, len(c.Params))
	for _, name := range sortedKeys(c.Params) {
		params = append(params, slog.String(name, c.Params[name].String()))
	}
	ops := make([]string, 0, len(operations))
	for _, op := range c.operations() {
		ops = append(ops, string(op))
	}
	return slog.GroupValue(
		slog.String("base_url", httpx.Redact(c.BaseURL, c.secretValues()...)),
		slog.String("default_country", c.DefaultCountry),
		slog.String("default_queue", c.DefaultQueue),
		slog.Int("upload_concurrency", c.UploadConcurrency),
		slog.Attr{Key: "params", Value: slog.GroupValue(params...)},
		slog.Any("operations", ops),
	)
}

// operations lists the configured operations in the manual's order.
func (c *Config) operations() []Operation {
	var ops []Operation
	for _, op := range operations {
		if c.template(op) != nil {
			ops = append(ops, op)
		}
	}
	return ops
}

// secretValues are the non-empty values of the secret Params.
func (c *Config) secretValues() []string {
	var s []string
	for _, name := range sortedKeys(c.Params) {
		if p := c.Params[name]; p.Secret && p.Value != "" {
			s = append(s, p.Value)
		}
	}
	return s
}

// String is the value, or "REDACTED" for a secret.
func (p Param) String() string {
	if p.Secret {
		return redacted
	}
	return p.Value
}

// GoString shows the Param as Go syntax, a secret value as "REDACTED".
func (p Param) GoString() string {
	return fmt.Sprintf("finaz.Param{Value: %q, Secret: %t}", p.String(), p.Secret)
}

// Format writes GoString for %#v and String for every other verb, so no
// verb shows a secret.
func (p Param) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, p.GoString())
		return
	}
	_, _ = io.WriteString(f, p.String())
}

// LogValue logs the value, or "REDACTED" for a secret.
func (p Param) LogValue() slog.Value { return slog.StringValue(p.String()) }

// MarshalJSON writes {"value": "…"}, or {"value": "REDACTED", "secret":
// true} for a secret: a marshalled Config never carries secrets. Such a
// Config loads again, but NewClient refuses it until the secret is set
// (Config.SetSecret or SetParam).
func (p Param) MarshalJSON() ([]byte, error) {
	type plain Param
	return json.Marshal(plain{Value: p.String(), Secret: p.Secret})
}
