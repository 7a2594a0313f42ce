package finaz

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/internal/httpx"
	"github.com/callbridge/callbridge/internal/phone"
	"github.com/callbridge/callbridge/internal/telemetry"
	strutil "github.com/callbridge/callbridge/internal/text"
)

// Client sends the configured requests. It is safe for concurrent use. A
// Client carries one telephony account's credentials: do not share it
// across tenants.
type Client struct {
	c       *compiled
	retry   *httpx.Client // httpx's policy: retried only when safe for the request
	log     *slog.Logger
	secrets []string
	base    string            // the base URL with its trailing "/"
	dialer  *telemetry.Dialer // callbridge.dialer.contacts and .results
}

var (
	_ callevent.Caller      = (*Client)(nil)
	_ callevent.GroupCaller = (*Client)(nil)
	_ callevent.Transferer  = (*Client)(nil)

	_ callevent.RecordingFetcher = (*Client)(nil)
)

// NewClient validates cfg (see Config.Validate; every Param must also have
// a value) and returns a Client. It takes the options of package
// callbridge:
//
//   - callbridge.WithBaseURL overrides Config.BaseURL (e.g. a finaztest
//     server); it must have no query, fragment, user info or "."/".."
//     path segments.
//   - callbridge.WithDefaultCountry overrides Config.DefaultCountry, the
//     country of the numbers given to Call, GroupCall, Transfer,
//     UploadContacts and read from DialerResults.
//   - callbridge.WithHTTPClient: the default has callbridge.DefaultTimeout
//     (30 s) over one transport shared by the process, which keeps 16 idle
//     connections per host; give a client of your own for more parallel
//     uploads kept alive.
//   - callbridge.WithUserAgent, callbridge.WithRateLimit (no limit by
//     default), callbridge.WithRetry (only requests safe to repeat are
//     retried; see RequestTemplate.Idempotent) and callbridge.WithLogger
//     (debug lines: retries, per-contact upload failures).
//
// callbridge.WithTokenStore is refused: Finaz requests carry their
// credentials as Params, there is no OAuth token to store.
func NewClient(cfg Config, opts ...callbridge.ClientOption) (*Client, error) {
	cc, err := httpx.ClientOptions(Provider, callbridge.ClientConfig{}, opts)
	if err != nil {
		return nil, err
	}
	if cc.TokenStore != nil {
		return nil, errors.New("finaz: WithTokenStore is not supported: Finaz requests carry their credentials as Params, not OAuth tokens")
	}
	if cc.BaseURL != "" {
		if err := checkBaseURL(cc.BaseURL); err != nil { // stricter: no query, fragment or dot segments
			return nil, fmt.Errorf("finaz: WithBaseURL: %w", err)
		}
		cfg.BaseURL = cc.BaseURL
	}
	if cc.DefaultCountry != "" {
		cfg.DefaultCountry = cc.DefaultCountry
	}
	comp, err := compileConfig(&cfg, nil, true)
	if err != nil {
		return nil, err
	}
	c := &Client{c: comp, log: cc.Logger, dialer: telemetry.NewDialer(cc.MeterProvider)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for _, name := range sortedKeys(cfg.Params) {
		if p := cfg.Params[name]; p.Secret {
			c.secrets = append(c.secrets, p.Value)
		}
	}
	hcfg := httpx.ClientConfig(Provider, cc)
	hcfg.BaseURL = comp.base
	if hcfg.HTTPClient == nil {
		// One transport for the whole process (never a clone of
		// http.DefaultTransport per client, which panicked when that was
		// a wrapper and kept a connection pool per client). Its
		// httpx.DefaultMaxIdleConnsPerHost (16) idle connections cover the
		// default upload concurrency (4) and up to 16 parallel requests;
		// above that, uploads still run at full concurrency, the extra
		// connections are just not kept alive. Pass
		// callbridge.WithHTTPClient for a larger pool.
		hcfg.HTTPClient = httpx.DefaultHTTPClient()
	}
	hcfg.Secrets = func() []string { return c.secrets }
	if c.retry, err = httpx.New(hcfg); err != nil {
		return nil, fmt.Errorf("finaz: %w", err)
	}
	c.base = c.retry.BaseURL().String()
	return c, nil
}

// env is the rendering environment of a request; redact for dry runs.
func (c *Client) env(vars map[string]string, redact bool) *env {
	return &env{vars: vars, params: c.c.cfg.Params, redact: redact, base: c.base}
}

// String describes the Client without secrets: its base URL and the
// configured operations.
func (c *Client) String() string {
	if c == nil || c.c == nil {
		return "finaz.Client(nil)"
	}
	return fmt.Sprintf("finaz.Client{BaseURL: %q, Operations: %v}", httpx.Redact(c.base, c.secrets...), c.c.cfg.operations())
}

// GoString is String, so %#v shows no secret either.
func (c *Client) GoString() string { return c.String() }

// Format writes String for every verb (%d, %x and %q too), so no verb
// shows a secret.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the Client as String describes it.
func (c *Client) LogValue() slog.Value {
	if c == nil || c.c == nil {
		return slog.StringValue("finaz.Client(nil)")
	}
	ops := make([]string, 0, len(operations))
	for _, op := range c.c.cfg.operations() {
		ops = append(ops, string(op))
	}
	return slog.GroupValue(slog.String("base_url", httpx.Redact(c.base, c.secrets...)), slog.Any("operations", ops))
}

// MarshalJSON writes what LogValue logs, never a secret.
func (c *Client) MarshalJSON() ([]byte, error) {
	if c == nil || c.c == nil {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		BaseURL    string      `json:"base_url"`
		Operations []Operation `json:"operations"`
	}{httpx.Redact(c.base, c.secrets...), c.c.cfg.operations()})
}

// Configured reports whether op has a template.
func (c *Client) Configured(op Operation) bool { return c.c.ops[op] != nil }

func (c *Client) notConfigured(op Operation) error {
	return fmt.Errorf("finaz: %s is not configured: %w", op, callevent.ErrUnsupported)
}

// send renders and sends op. The caller closes the response body.
func (c *Client) send(ctx context.Context, op Operation, vars map[string]string, rows []map[string]string) (*http.Response, error) {
	ot := c.c.ops[op]
	if ot == nil {
		return nil, c.notConfigured(op)
	}
	req, err := ot.renderRequest(c.env(vars, false), rows)
	if err != nil {
		return nil, err
	}
	// httpx would retry a GET/PUT/DELETE after a 5xx or timeout, but a
	// click2call or upload sent as GET is not safe to repeat: it is retried
	// like a POST (429, dial errors).
	req.NotIdempotent = op.command() && !ot.idempotent
	req.Operation = string(op)
	resp, err := c.retry.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("finaz: %s: %w", op, err)
	}
	return resp, nil
}

// maxJudgedBody bounds the response body read to judge success.
const maxJudgedBody = 1 << 20

// exchange sends op and judges the answer by the template's Response spec;
// it returns the (capped) body of a success.
func (c *Client) exchange(ctx context.Context, op Operation, vars map[string]string, rows []map[string]string) ([]byte, error) {
	resp, err := c.send(ctx, op, vars, rows)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJudgedBody))
	if err != nil {
		return nil, fmt.Errorf("finaz: %s: reading response: %w", op, err)
	}
	if reason := c.c.ops[op].resp.judge(resp.StatusCode, body); reason != "" {
		return nil, fmt.Errorf("finaz: %s: %w", op, c.judgedError(resp, body, reason, c.c.ops[op].resp))
	}
	return body, nil
}

// judge returns why a response is a failure, or "".
func (rs *responseSpec) judge(status int, body []byte) string {
	if len(rs.status) > 0 {
		ok := false
		for _, s := range rs.status {
			ok = ok || s == status
		}
		if !ok {
			return fmt.Sprintf("status %d is not one of %v", status, rs.status)
		}
	}
	if rs.successRe != nil && !rs.successRe.Match(body) {
		return "body does not match success_regex"
	}
	if rs.successField != nil {
		v, _ := jsonField(body, rs.successField)
		ok := false
		for _, want := range rs.successValues {
			ok = ok || v == want
		}
		if !ok {
			return fmt.Sprintf("%s is %q", strings.Join(rs.successField, "."), v)
		}
	}
	return ""
}

// judgedError is the *callbridge.APIError of a 2xx response judged a failure.
func (c *Client) judgedError(resp *http.Response, body []byte, reason string, rs responseSpec) error {
	e := &callbridge.APIError{StatusCode: resp.StatusCode, Message: reason}
	if rs.messageField != nil {
		if m, ok := jsonField(body, rs.messageField); ok && m != "" {
			e.Message = m
		}
	} else if rs.successRe != nil {
		e.Message = firstLine(string(body), 200)
	}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		e.URL = httpx.Redact(redactURL(resp.Request.URL), c.secrets...)
	}
	e.Message = httpx.Redact(e.Message, c.secrets...)
	if len(body) > httpx.MaxErrorBodyBytes {
		body = body[:httpx.MaxErrorBodyBytes]
	}
	e.Body = []byte(httpx.Redact(string(body), c.secrets...))
	return e
}

// redactURL drops user info before the URL is put in an error.
func redactURL(u *url.URL) string {
	v := *u
	v.User = nil
	return v.String()
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// Call places a Click2Call: the operator's extension (req.From, variable
// ramal_operador) rings, then req.To (ddd, numero, telefone) is dialled.
// identificador_fila is req.Queue, else Config.DefaultQueue. The call id comes from the
// response as configured (empty when not configured or not found: the
// call may still have been placed, so that is not an error). Unless the
// template is marked idempotent the request is never retried once it may
// have reached the PBX.
func (c *Client) Call(ctx context.Context, req callevent.CallRequest) (callevent.CallRef, error) {
	vars, err := c.click2callVars(cmp.Or(strings.TrimSpace(req.Queue), c.c.cfg.DefaultQueue), req.From, req.To)
	if err != nil {
		return callevent.CallRef{}, err
	}
	return c.click2call(ctx, vars)
}

// GroupCall places a Click2Call for a queue: identificador_fila is
// req.Group, and there is no operator extension.
func (c *Client) GroupCall(ctx context.Context, req callevent.GroupCallRequest) (callevent.CallRef, error) {
	vars, err := c.click2callVars(req.Group, "", req.To)
	if err != nil {
		return callevent.CallRef{}, err
	}
	return c.click2call(ctx, vars)
}

func (c *Client) click2callVars(queue, ext, to string) (map[string]string, error) {
	full, ddd, num, err := SplitPhone(to, c.c.country)
	if err != nil {
		return nil, fmt.Errorf("finaz: click2call: %w", strutil.Unprefixed(err, Provider+": "))
	}
	vars := map[string]string{VarTelefone: full}
	setNonEmpty(vars, VarFila, queue)
	setNonEmpty(vars, VarRamal, ext)
	setNonEmpty(vars, VarDDD, ddd)
	setNonEmpty(vars, VarNumero, num)
	return vars, nil
}

// setNonEmpty sets vars[k] unless v is empty: an empty request field is a
// missing variable, so a template that needs it fails instead of sending "".
func setNonEmpty(vars map[string]string, k, v string) {
	if v = strings.TrimSpace(v); v != "" {
		vars[k] = v
	}
}

func (c *Client) click2call(ctx context.Context, vars map[string]string) (callevent.CallRef, error) {
	body, err := c.exchange(ctx, OpClick2Call, vars, nil)
	if err != nil {
		return callevent.CallRef{}, err
	}
	rs := c.c.ops[OpClick2Call].resp
	var id string
	switch {
	case rs.callIDField != nil:
		id, _ = jsonField(body, rs.callIDField)
	case rs.callIDRe != nil:
		if m := rs.callIDRe.FindSubmatch(body); m != nil {
			id = string(m[len(m)-1])
		}
	}
	if id == "" && (rs.callIDField != nil || rs.callIDRe != nil) {
		c.log.DebugContext(ctx, "finaz: click2call response has no call id")
	}
	return callevent.CallRef{CallID: strings.TrimSpace(id)}, nil
}

// Transfer transfers the operator's current call (req.From is
// ramal_operador, req.CallID identificador_chamada) to req.To
// (numero_destino: a phone number or an internal extension).
// identificador_fila is Config.DefaultQueue. Attended transfers are not
// part of the contract: they fail with callevent.ErrUnsupported.
func (c *Client) Transfer(ctx context.Context, req callevent.TransferRequest) error {
	if req.Attended {
		return fmt.Errorf("finaz: transfer: attended transfer: %w", callevent.ErrUnsupported)
	}
	dest, err := destination(req.To, c.c.country)
	if err != nil {
		return fmt.Errorf("finaz: transfer: %w", strutil.Unprefixed(err, Provider+": "))
	}
	vars := map[string]string{VarNumeroDestino: dest}
	setNonEmpty(vars, VarFila, c.c.cfg.DefaultQueue)
	setNonEmpty(vars, VarRamal, req.From)
	setNonEmpty(vars, VarChamada, req.CallID)
	_, err = c.exchange(ctx, OpTransfer, vars, nil)
	return err
}

// destination is numero_destino: national DDD+number for Brazil, full
// digits for other countries, an internal extension as given.
func destination(to, country string) (string, error) {
	full, err := phone.Normalize(to, country)
	switch {
	case errors.Is(err, phone.ErrInternal):
		return strings.TrimSpace(to), nil
	case err != nil:
		return "", phoneError(to, err)
	}
	if ddd, num, ok := splitBR(full); ok {
		return ddd + num, nil
	}
	return full, nil
}

// ClearDialer asks the dialer to drop the queue's contacts ("Limpeza de
// Contatos do Discador").
func (c *Client) ClearDialer(ctx context.Context, queue string) error {
	vars := map[string]string{}
	setNonEmpty(vars, VarFila, queue)
	_, err := c.exchange(ctx, OpClearDialer, vars, nil)
	return err
}

// maxResultsBody bounds the dialer_results answer.
const maxResultsBody = 64 << 20

// DialerResults fetches the outcome of the queue's dialer attempts
// ("Retorno do Discador"), parsing the CSV or JSON answer as configured.
// Results that cannot be read are skipped and reported in the error (as
// *ResultError, joined) next to the good ones.
func (c *Client) DialerResults(ctx context.Context, queue string) ([]DialerResult, error) {
	vars := map[string]string{}
	setNonEmpty(vars, VarFila, queue)
	resp, err := c.send(ctx, OpDialerResults, vars, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	ot := c.c.ops[OpDialerResults]
	if reason := ot.resp.judge(resp.StatusCode, nil); reason != "" {
		return nil, fmt.Errorf("finaz: %s: %w", OpDialerResults, c.judgedError(resp, nil, reason, ot.resp))
	}
	lr := &io.LimitedReader{R: resp.Body, N: maxResultsBody + 1}
	res, err := ot.results.parse(lr, c.c.country)
	c.dialer.Results.Add(ctx, int64(len(res)), telemetry.Attrs(telemetry.ProviderKey.String(Provider)))
	if lr.N <= 0 {
		return res, fmt.Errorf("finaz: %s: response larger than %d bytes", OpDialerResults, maxResultsBody)
	}
	return res, err
}

// DownloadRecording streams the recording of callID
// (identificador_chamada) into w and returns the number of bytes written.
// A failure after some bytes were written leaves w partly written.
func (c *Client) DownloadRecording(ctx context.Context, callID string, w io.Writer) (int64, error) {
	resp, err := c.recording(ctx, callID)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("finaz: %s: %w", OpDownloadRecording, err)
	}
	return n, nil
}

// recording sends download_recording for callID and judges the status;
// the caller closes the body of the response returned.
func (c *Client) recording(ctx context.Context, callID string) (*http.Response, error) {
	vars := map[string]string{}
	setNonEmpty(vars, VarChamada, callID)
	resp, err := c.send(ctx, OpDownloadRecording, vars, nil)
	if err != nil {
		return nil, err
	}
	rs := c.c.ops[OpDownloadRecording].resp
	if reason := rs.judge(resp.StatusCode, nil); reason != "" {
		resp.Body.Close()
		return nil, fmt.Errorf("finaz: %s: %w", OpDownloadRecording, c.judgedError(resp, nil, reason, rs))
	}
	return resp, nil
}

// FetchRecording downloads the recording of the call req names
// (callevent.RecordingFetcher) with the download_recording template,
// req.CallID as identificador_chamada; req.URL is not needed. Without
// the template it is callevent.ErrUnsupported; a 404 of the telephony
// system is callevent.ErrNoRecording.
func (c *Client) FetchRecording(ctx context.Context, req callevent.RecordingRequest) (callevent.Recording, error) {
	return httpx.Recording(c.recording(ctx, req.CallID))
}

// RenderedRequest is a dry-run rendering of an operation, secrets redacted.
type RenderedRequest struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// Render builds op's request from vars (system variable name → value,
// exactly as the template will see them) without sending it. Secret
// Params appear as "REDACTED". For upload_contacts in CSV mode, vars also
// fill the one line of the file. A variable the template needs but vars
// lacks is an error, as at run time. Method, URL, body and the template's
// headers are built by the same code as the request sent, byte for byte;
// the HTTP client adds headers of its own (User-Agent, Content-Length,
// Accept-Encoding) that are not shown.
func (c *Client) Render(op Operation, vars map[string]string) (*RenderedRequest, error) {
	ot := c.c.ops[op]
	if ot == nil {
		return nil, c.notConfigured(op)
	}
	var rows []map[string]string
	if ot.csv != nil {
		rows = []map[string]string{vars}
	}
	req, err := ot.renderRequest(c.env(vars, true), rows)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(req.Path) // absolute: renderRequest joins the base URL
	if err != nil {
		return nil, withOp(op, fieldErr("url", err))
	}
	h := req.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if req.ContentType != "" {
		h.Set("Content-Type", req.ContentType)
	}
	return &RenderedRequest{Method: req.Method, URL: u.String(), Header: h, Body: req.Body}, nil
}
