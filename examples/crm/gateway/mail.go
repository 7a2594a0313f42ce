package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/internal/text"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/sqlstore"
)

// SMTP is the mail server the notifications are e-mailed through
// (Config.SMTP): one e-mail per notification, to the employee told.
type SMTP struct {
	// Addr is the server's host:port ("smtp.example.com:587"). The
	// gateway switches to TLS with STARTTLS when the server offers it.
	Addr string
	// From is the sender: an address, or "Name <address>".
	From string
	// Username and Password, when set, log in with AUTH PLAIN, which is
	// sent only over TLS or to localhost (net/smtp). The password comes
	// from CRM_SMTP_PASSWORD or the file's {env: …} or {file: …}, never
	// from the command line or the file itself.
	Username, Password string
	// TLS, when set, is the client configuration of STARTTLS (a private
	// CA's roots); nil: the system's roots, for the host of Addr. Only for
	// a program embedding the gateway (or a test).
	TLS *tls.Config
}

// problems lists what is wrong with the settings, by their environment
// variables (and the file's keys).
func (s SMTP) problems() []error {
	var errs []error
	switch {
	case s.Addr == "" && s.From != "":
		errs = append(errs, errors.New("CRM_SMTP_FROM (smtp.from) is set but CRM_SMTP_ADDR (smtp.addr), the mail server, is not"))
	case s.Addr != "" && s.From == "":
		errs = append(errs, errors.New("CRM_SMTP_ADDR (smtp.addr) is set but CRM_SMTP_FROM (smtp.from), the sender's address, is not"))
	}
	if s.Addr == "" && (s.Username != "" || s.Password != "") {
		errs = append(errs, errors.New("CRM_SMTP_USERNAME or CRM_SMTP_PASSWORD is set but CRM_SMTP_ADDR (smtp.addr), the mail server, is not"))
	}
	if s.Addr != "" {
		if err := checkSMTPAddr(s.Addr); err != nil {
			errs = append(errs, fmt.Errorf("CRM_SMTP_ADDR: %w", err))
		}
	}
	if s.From != "" {
		if _, err := parseFrom(s.From); err != nil {
			errs = append(errs, fmt.Errorf("CRM_SMTP_FROM: %w", err))
		}
	}
	switch {
	case s.Username != "" && s.Password == "":
		errs = append(errs, errors.New("CRM_SMTP_USERNAME is set but CRM_SMTP_PASSWORD is not"))
	case s.Username == "" && s.Password != "":
		errs = append(errs, errors.New("CRM_SMTP_PASSWORD is set but CRM_SMTP_USERNAME is not"))
	}
	return errs
}

// checkSMTPAddr checks a mail server's host:port.
func checkSMTPAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	switch {
	case err != nil || strings.ContainsAny(addr, " \t\r\n/"):
		return fmt.Errorf("%q: want host:port, e.g. smtp.example.com:587", text.Clip(addr, 80))
	case host == "":
		return fmt.Errorf("%q: no host", text.Clip(addr, 80))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: the port %q is not a number from 1 to 65535", text.Clip(addr, 80), text.Clip(port, 20))
	}
	return nil
}

// parseFrom reads the sender of the e-mails.
func parseFrom(s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an e-mail address (want crm@example.com or \"CRM <crm@example.com>\")", text.Clip(s, 80))
	}
	return a, nil
}

// mailSender e-mails each notification to the employee told, through
// Config.SMTP.
type mailSender struct {
	g    *Gateway
	cfg  SMTP
	host string        // of cfg.Addr: TLS's server name, PLAIN's host
	from *mail.Address // cfg.From
	helo string        // the name the gateway greets the server with
}

// newMailSender makes the e-mail sender of g's (validated) Config.SMTP.
func newMailSender(g *Gateway) *mailSender {
	cfg := g.cfg.SMTP
	host, _, _ := net.SplitHostPort(cfg.Addr)
	from, _ := parseFrom(cfg.From)
	helo := "localhost"
	if u, err := url.Parse(g.cfg.PublicURL); err == nil && u.Hostname() != "" && net.ParseIP(u.Hostname()) == nil {
		helo = u.Hostname()
	}
	return &mailSender{g: g, cfg: cfg, host: host, from: from, helo: helo}
}

func (*mailSender) name() string { return senderEmail }

// permanent marks an error the next attempt would meet again.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// send e-mails one notification: to the address of its employee in the
// directory (an employee without one is failed for good), retried after
// a network error or a 4xx answer, failed for good after a 5xx.
func (m *mailSender) send(ctx context.Context, d sqlstore.Delivery) (retry bool, err error) {
	msg, to, err := m.compose(ctx, d)
	if err == nil {
		err = m.deliver(ctx, to, msg)
	}
	if err == nil {
		return false, nil
	}
	var ae *answerError
	switch {
	case errors.As(err, &ae):
		retry = ae.code < 500
	default:
		retry = !errors.As(err, new(permanent))
	}
	return retry, m.scrub(err)
}

// answerError is the server's refusal: 4xx may pass, 5xx will not.
type answerError struct {
	code int
	msg  string
}

func (e *answerError) Error() string { return strconv.Itoa(e.code) + " " + e.msg }

// smtpFailed is err of a step of the conversation with the server, its
// answer (a *textproto.Error) as an *answerError.
func (m *mailSender) smtpFailed(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		err = &answerError{te.Code, oneLine(te.Msg)}
	}
	if step == "" {
		return fmt.Errorf("smtp %s: %w", m.cfg.Addr, err)
	}
	return fmt.Errorf("smtp %s: %s: %w", m.cfg.Addr, step, err)
}

// scrub removes the password from an error, should a server echo it.
func (m *mailSender) scrub(err error) error {
	msg := err.Error()
	if p := m.cfg.Password; p != "" {
		plain := base64.StdEncoding.EncodeToString([]byte("\x00" + m.cfg.Username + "\x00" + p))
		if strings.Contains(msg, p) || strings.Contains(msg, plain) {
			msg = strings.ReplaceAll(strings.ReplaceAll(msg, plain, "REDACTED"), p, "REDACTED")
		}
	}
	return errors.New(text.Clip(msg, 300))
}

// compose makes the e-mail of a delivery and finds its recipient.
func (m *mailSender) compose(ctx context.Context, d sqlstore.Delivery) ([]byte, string, error) {
	var n Notification
	if err := json.Unmarshal(d.Payload, &n); err != nil {
		return nil, "", permanent{fmt.Errorf("notification: %w", err)}
	}
	emps, err := m.g.directory().Employees(ctx, "")
	if err != nil {
		return nil, "", fmt.Errorf("employees: %w", err)
	}
	var emp *match.Employee
	for i := range emps {
		if emps[i].ID == n.Employee {
			emp = &emps[i]
		}
	}
	switch {
	case emp == nil:
		return nil, "", permanent{fmt.Errorf("employee %q is not in the directory", n.Employee)}
	case strings.TrimSpace(emp.Email) == "":
		return nil, "", permanent{fmt.Errorf("employee %q has no e-mail address", n.Employee)}
	}
	to, err := mail.ParseAddress(emp.Email)
	if err != nil {
		return nil, "", permanent{fmt.Errorf("employee %q: %q is not an e-mail address", n.Employee, text.Clip(emp.Email, 80))}
	}
	f, err := m.factsOf(ctx, n)
	if err != nil {
		return nil, "", err
	}
	to.Name = oneLine(emp.Name)
	return m.message(f, to, d.Key), to.Address, nil
}

// mailFacts is what an e-mail says about a call.
type mailFacts struct {
	n      Notification
	at     time.Time // the call's start, else the notification's time
	line   string    // the company number called
	client string    // the client's name
	card   string    // links to the client's and the lead's cards
	lead   string
}

// factsOf finds the call's line and start in the call log, the client's
// name in the CRM and, in amoCRM mode, the links to the cards.
func (m *mailSender) factsOf(ctx context.Context, n Notification) (mailFacts, error) {
	f := mailFacts{n: n, at: n.At}
	rec, ok, err := m.g.loggedCall(ctx, n.Provider, n.Account, n.CallID)
	if err != nil {
		return f, fmt.Errorf("call log: %w", err)
	}
	if ok {
		f.line = rec.LinePhone
		if !rec.StartedAt.IsZero() {
			f.at = rec.StartedAt
		}
	}
	if m.g.amoClient != nil {
		base := "https://" + m.g.amoClient.Domain() + "/"
		if entity, id, ok := amocrm.ParseClientID(n.ClientID); ok {
			f.card = base + string(entity) + "/detail/" + strconv.FormatInt(id, 10)
		}
		if id, err := strconv.ParseInt(n.LeadID, 10, 64); err == nil && id > 0 {
			f.lead = base + "leads/detail/" + n.LeadID
		}
		return f, nil
	}
	if n.ClientID != "" {
		c, ok, err := m.g.local().FindClient(ctx, "", n.ClientID)
		if err != nil {
			return f, fmt.Errorf("client %s: %w", n.ClientID, err)
		}
		if ok {
			f.client = oneLine(c.Name)
		}
	}
	return f, nil
}

// mailHeadlines are the e-mails' first words, by notification kind.
var mailHeadlines = map[string]string{
	"missed":       "Пропущенный звонок",
	"call":         "Звонок",
	"task_overdue": "Просрочен перезвон",
}

// message is the e-mail of f to to: plain UTF-8 text in
// quoted-printable, its headers free of line breaks, its Message-ID
// derived from the outbox key (a message sent again after a lost answer
// is recognisably the same).
func (m *mailSender) message(f mailFacts, to *mail.Address, key string) []byte {
	headline := mailHeadlines[f.n.Kind]
	if headline == "" {
		headline = "Уведомление о звонке"
	}
	who := "скрытый номер"
	if f.n.ClientPhone != "" {
		who = displayPhone(f.n.ClientPhone)
	}
	if f.client != "" {
		who += ", " + f.client
	}
	var body strings.Builder
	fmt.Fprintf(&body, "%s: %s.\n\n", headline, who)
	field := func(label, v string) {
		if v = oneLine(v); v != "" {
			fmt.Fprintf(&body, "%s: %s\n", label, v)
		}
	}
	if f.n.ClientPhone != "" {
		field("Номер", displayPhone(f.n.ClientPhone))
	}
	if f.line != "" {
		field("Линия", displayPhone(f.line))
	}
	field("Время", f.at.Local().Format("02.01.2006 15:04:05 MST"))
	client := f.n.ClientID
	if f.client != "" && client != "" {
		client = f.client + " (" + client + ")"
	}
	field("Клиент", client)
	field("Сделка", f.n.LeadID)
	field("Карточка", f.card)
	field("Карточка сделки", f.lead)
	field("Причина", f.n.Reason)
	fmt.Fprintf(&body, "\n-- \ncallbridge: %s, звонок %s\n", oneLine(f.n.Provider), oneLine(f.n.CallID))

	sum := sha256.Sum256([]byte(key))
	_, domain, _ := strings.Cut(m.from.Address, "@")
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("Date", m.g.clock().Now().Format(time.RFC1123Z))
	header("From", m.from.String())
	header("To", to.String())
	header("Subject", mime.BEncoding.Encode("utf-8", text.Clip(headline+": "+who, 200)))
	header("Message-ID", fmt.Sprintf("<%x@%s>", sum[:16], domain))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(body.String()))
	_ = qp.Close()
	return b.Bytes()
}

// oneLine is s on one line: control characters (CR, LF, tab…) become
// spaces, so a name cannot add a header or a line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085' {
			return ' '
		}
		return r
	}, s)), " ")
}

// displayPhone shows a normalised number with its "+".
func displayPhone(p string) string {
	if p != "" && p[0] >= '0' && p[0] <= '9' {
		return "+" + p
	}
	return p
}

// deliver sends msg to rcpt through the server, within notifyTimeout:
// STARTTLS when the server offers it, then AUTH PLAIN when a username
// is set (refused without TLS, except to localhost).
func (m *mailSender) deliver(ctx context.Context, rcpt string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.cfg.Addr)
	if err != nil {
		return m.smtpFailed("", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		conn.Close()
		return m.smtpFailed("", err)
	}
	defer c.Close()
	if err := c.Hello(m.helo); err != nil {
		return m.smtpFailed("HELO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		tc := m.cfg.TLS.Clone()
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc.ServerName = m.host
		}
		if err := c.StartTLS(tc); err != nil {
			return m.smtpFailed("STARTTLS", err)
		}
	}
	if m.cfg.Username != "" {
		_, secure := c.TLSConnectionState()
		if !secure && m.host != "localhost" && m.host != "127.0.0.1" && m.host != "::1" { // as smtp.PlainAuth
			return permanent{fmt.Errorf("smtp %s offers no STARTTLS: the password is sent only over TLS (or to localhost)", m.cfg.Addr)}
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return permanent{fmt.Errorf("smtp %s offers no AUTH, but CRM_SMTP_USERNAME is set", m.cfg.Addr)}
		}
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.host)); err != nil {
			return m.smtpFailed("AUTH", err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return m.smtpFailed("MAIL FROM", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return m.smtpFailed("RCPT TO <"+rcpt+">", err)
	}
	w, err := c.Data()
	if err != nil {
		return m.smtpFailed("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return m.smtpFailed("DATA", err)
	}
	if err := w.Close(); err != nil {
		return m.smtpFailed("the message", err)
	}
	_ = c.Quit() // the server has the message
	return nil
}
