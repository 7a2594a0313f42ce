package gateway_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/examples/crm/gateway"
	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/matchtest"
	"github.com/callbridge/callbridge/megafon/megafontest"
)

// mailClients seed the CRM for the e-mail tests: a client whose name
// tries to add a header, and clients of employees without an e-mail
// address and with a mailbox the server does not know.
const mailClients = `[
  {"id": "9", "name": "Иван\r\nBcc: evil@example.com", "phone": "+7 495 000-22-22", "responsible": "missed"},
  {"id": "10", "name": "Без почты", "phone": "+7 495 000-33-33", "responsible": "nomail"},
  {"id": "11", "name": "Уволен", "phone": "+7 495 000-44-44", "responsible": "gone"}
]`

// mailEmployees are the employees of the e-mail tests.
var mailEmployees = []match.Employee{
	{ID: "missed", Name: "Менеджер пропущенных", Email: "missed@example.com", Extensions: []string{"301"}},
	{ID: "nomail", Name: "Без адреса", Extensions: []string{"302"}},
	{ID: "gone", Name: "Уволенный", Email: "gone@example.com", Extensions: []string{"303"}},
}

// missedCall sends a missed MegaFon call from number to line, decided at
// once (its history is its end).
func missedCall(t *testing.T, srv *server, clock *matchtest.Clock, id, number, line string) {
	t.Helper()
	call := megafontest.Call{ID: id, Direction: "in", Phone: number, Diversion: line, User: "andy", Ext: "701"}
	sendMegafon(t, srv, megafontest.Event("INCOMING", call),
		megafontest.History(call, megafontest.Outcome{Status: "Missed", Start: clock.Now().Add(-time.Minute)}))
}

// notifications are /api/notifications by call id.
func notifications(t *testing.T, srv *server) map[string]gateway.Notification {
	t.Helper()
	var list []gateway.Notification
	getJSON(t, srv, "/api/notifications", &list)
	out := map[string]gateway.Notification{}
	for _, n := range list {
		out[n.CallID] = n
	}
	return out
}

// emailState waits until the e-mail of the notification of call id is
// in state, advancing the clock past the retries' waits, and returns the
// notification.
func emailState(t *testing.T, srv *server, clock *matchtest.Clock, id, state string) gateway.Notification {
	t.Helper()
	var n gateway.Notification
	require.Eventually(t, func() bool {
		clock.Advance(500 * time.Millisecond)
		var ok bool
		n, ok = notifications(t, srv)[id]
		return ok && n.Deliveries["email"] != nil && n.Deliveries["email"].State == state
	}, 15*time.Second, 20*time.Millisecond, "the e-mail of %s %s", id, state)
	return n
}

// TestNotificationEmail: with an SMTP server every notification becomes
// one e-mail to the employee told, logged in with the configured
// account, in UTF-8 quoted-printable with the caller's number, the
// line, the time, the client and the reason; a greylisting 451 is
// retried and the message sent once; /api/notifications shows each
// sender's delivery (the webhook's too); in database mode an e-mail the
// server did not take before a restart is sent after it, and nothing is
// sent twice.
func TestNotificationEmail(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		smtpd := newSMTPServer(t, nil)
		smtpd.set(func(s *smtpServer) { s.tempFail = 1 })
		rc := &receiver{secret: "notify-SECRET", fail: func(int) int { return 0 }}
		hook := httptest.NewServer(rc)
		t.Cleanup(hook.Close)
		clock := newFakeClock()
		cfg := gateway.Config{Clock: clock, DB: db, Rules: missedCallRules(), Employees: mailEmployees,
			DefaultClients: []byte(mailClients), NotifyURL: hook.URL, NotifySecret: "notify-SECRET",
			SMTP: gateway.SMTP{Addr: smtpd.addr, From: "CRM <crm@example.com>", Username: "crm", Password: "smtp-SECRET"}}
		srv := start(t, cfg)

		const autoName = "Автоконтакт: Входящий-пропущенный" // the engine's name for the client it creates
		began := clock.Now().Add(-time.Minute)
		missedCall(t, srv, clock, "mf-mail-1", "74950001111", "74951234567")
		n := emailState(t, srv, clock, "mf-mail-1", "sent")
		require.Equal(t, 2, n.Deliveries["email"].Attempts, "a 451, then accepted")
		require.Empty(t, n.Deliveries["email"].LastError)
		require.Equal(t, 2, smtpd.rcptCount())
		msgs := smtpd.messages()
		require.Len(t, msgs, 1, "one e-mail")
		m := msgs[0]
		require.Equal(t, "crm@example.com", m.from)
		require.Equal(t, []string{"missed@example.com"}, m.to)
		smtpd.set(func(s *smtpServer) { require.Equal(t, []string{"crm:smtp-SECRET", "crm:smtp-SECRET"}, s.auths) })

		r := parseMail(t, m)
		require.Equal(t, "Пропущенный звонок: +74950001111, "+autoName, r.subject)
		to, err := r.header.AddressList("To")
		require.NoError(t, err)
		require.Equal(t, []*mail.Address{{Name: "Менеджер пропущенных", Address: "missed@example.com"}}, to)
		from, err := r.header.AddressList("From")
		require.NoError(t, err)
		require.Equal(t, []*mail.Address{{Name: "CRM", Address: "crm@example.com"}}, from)
		_, err = r.header.Date()
		require.NoError(t, err)
		require.Regexp(t, `^<[0-9a-f]{32}@example\.com>$`, r.header.Get("Message-ID"))
		require.Equal(t, "text/plain; charset=utf-8", r.header.Get("Content-Type"))
		require.Equal(t, "1.0", r.header.Get("MIME-Version"))
		require.Equal(t, "Пропущенный звонок: +74950001111, "+autoName+".\n\n"+
			"Номер: +74950001111\n"+
			"Линия: +74951234567\n"+
			"Время: "+began.Local().Format("02.01.2006 15:04:05 MST")+"\n"+
			"Клиент: "+autoName+" ("+n.ClientID+")\n"+
			"Причина: "+n.Reason+"\n"+
			"\n-- \ncallbridge: megafon, звонок mf-mail-1\n", r.body)
		require.NotEmpty(t, n.ClientID)
		require.Empty(t, n.LeadID, "these rules open no lead")

		// The webhook has its own delivery of the same notification.
		require.NotNil(t, n.Deliveries["webhook"])
		require.Equal(t, n.Deliveries["webhook"], n.Delivery, "delivery is the webhook's, as before")
		require.Eventually(t, func() bool { return len(rc.received()) == 1 }, 10*time.Second, 10*time.Millisecond)

		if db == "" {
			return
		}
		// The server greylists everything; the gateway restarts; the
		// e-mail is sent after the restart, once, and the first is not
		// sent again.
		smtpd.set(func(s *smtpServer) { s.tempFail = 1 << 20 })
		missedCall(t, srv, clock, "mf-mail-2", "74950005555", "74951234567")
		require.Eventually(t, func() bool {
			e := notifications(t, srv)["mf-mail-2"].Deliveries["email"]
			return e != nil && e.State == "pending" && strings.Contains(e.LastError, "451 4.7.1")
		}, 10*time.Second, 10*time.Millisecond)
		require.NoError(t, srv.stop())
		smtpd.set(func(s *smtpServer) { s.tempFail = 0 })
		srv = start(t, cfg)
		emailState(t, srv, clock, "mf-mail-2", "sent")
		missedCall(t, srv, clock, "mf-mail-3", "74950006666", "74951234567")
		emailState(t, srv, clock, "mf-mail-3", "sent")
		var calls []string
		for _, m := range smtpd.messages() {
			_, tail, _ := strings.Cut(parseMail(t, m).body, "звонок ")
			calls = append(calls, strings.TrimSpace(tail))
		}
		require.Equal(t, []string{"mf-mail-1", "mf-mail-2", "mf-mail-3"}, calls, "each once")
	})
}

// TestNotificationEmailFailures: a 550 for the mailbox fails the e-mail
// for good with the server's answer, an employee without an address is
// failed at once (no retries, nothing sent), the password shows
// nowhere, and a client's name cannot add a header or a recipient.
func TestNotificationEmailFailures(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, db string) {
		smtpd := newSMTPServer(t, nil)
		smtpd.set(func(s *smtpServer) { s.unknown["gone@example.com"] = "unknown mailbox" })
		clock := newFakeClock()
		srv := start(t, gateway.Config{Clock: clock, DB: db, Rules: missedCallRules(), Employees: mailEmployees,
			DefaultClients: []byte(mailClients),
			SMTP:           gateway.SMTP{Addr: smtpd.addr, From: "crm@example.com", Username: "crm", Password: "smtp-SECRET"}})

		missedCall(t, srv, clock, "mf-gone", "74950004444", "")
		n := emailState(t, srv, clock, "mf-gone", "failed")
		require.Equal(t, 1, n.Deliveries["email"].Attempts, "not retried")
		require.Contains(t, n.Deliveries["email"].LastError, "550 5.1.1 <gone@example.com>: unknown mailbox")
		require.Nil(t, n.Delivery, "no webhook")

		missedCall(t, srv, clock, "mf-nomail", "74950003333", "")
		n = emailState(t, srv, clock, "mf-nomail", "failed")
		require.Equal(t, 1, n.Deliveries["email"].Attempts)
		require.Equal(t, `employee "nomail" has no e-mail address`, n.Deliveries["email"].LastError)
		require.Equal(t, 1, smtpd.rcptCount(), "nothing tried for the employee without an address")

		missedCall(t, srv, clock, "mf-inject", "74950002222", "")
		emailState(t, srv, clock, "mf-inject", "sent")
		msgs := smtpd.messages()
		require.Len(t, msgs, 1)
		require.Equal(t, []string{"missed@example.com"}, msgs[0].to)
		r := parseMail(t, msgs[0])
		require.Empty(t, r.header.Get("Bcc"))
		require.Equal(t, "Пропущенный звонок: +74950002222, Иван Bcc: evil@example.com", r.subject)
		require.Contains(t, r.body, "\nКлиент: Иван Bcc: evil@example.com (9)\n")
		head, _, _ := strings.Cut(msgs[0].raw, "\r\n\r\n")
		for _, line := range strings.Split(head, "\r\n") {
			require.NotContains(t, line, "\n", "a bare line feed in a header")
			require.NotContains(t, line, "\r", "a bare carriage return in a header")
			require.False(t, strings.HasPrefix(strings.ToLower(line), "bcc"), line)
		}

		code, body := srv.do(t, http.MethodGet, "/api/notifications", "", "")
		require.Equal(t, http.StatusOK, code)
		require.NotContains(t, body, "smtp-SECRET")
		require.NotContains(t, srv.logs.String(), "smtp-SECRET")
		var page gateway.Page[json.RawMessage]
		require.NoError(t, json.Unmarshal([]byte(body), &page))
		require.Len(t, page.Items, 3)
		require.True(t, slices.ContainsFunc(page.Items, func(m json.RawMessage) bool {
			return strings.Contains(string(m), `"deliveries":{"email":{"state":"failed","attempts":1,"last_error":"smtp 127.0.0.1:`)
		}), body)
	})
}

// TestNotificationEmailTLS: when the server offers STARTTLS the gateway
// switches to TLS (checking the server's certificate) before it logs
// in; a server that offers no STARTTLS, not on localhost, never gets the
// password: the e-mail fails at once saying why.
func TestNotificationEmailTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	smtpd := newSMTPServer(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	clock := newFakeClock()
	srv := start(t, gateway.Config{Clock: clock, Rules: missedCallRules(), Employees: mailEmployees,
		SMTP: gateway.SMTP{Addr: smtpd.addr, From: "crm@example.com", Username: "crm", Password: "smtp-SECRET",
			TLS: &tls.Config{RootCAs: pool}}})
	missedCall(t, srv, clock, "mf-tls", "74950001111", "")
	emailState(t, srv, clock, "mf-tls", "sent")
	msgs := smtpd.messages()
	require.Len(t, msgs, 1)
	require.True(t, msgs[0].tls, "sent over TLS")
	smtpd.set(func(s *smtpServer) { require.Equal(t, []string{"crm:smtp-SECRET"}, s.auths) })

	// The same server without STARTTLS, reached through an address that
	// is not localhost's name (an IPv4-mapped IPv6 address).
	plain := newSMTPServer(t, nil)
	_, port, err := net.SplitHostPort(plain.addr)
	require.NoError(t, err)
	srv = start(t, gateway.Config{Clock: clock, Rules: missedCallRules(), Employees: mailEmployees,
		SMTP: gateway.SMTP{Addr: net.JoinHostPort("::ffff:127.0.0.1", port), From: "crm@example.com", Username: "crm", Password: "smtp-SECRET"}})
	missedCall(t, srv, clock, "mf-plain", "74950001111", "")
	n := emailState(t, srv, clock, "mf-plain", "failed")
	require.Equal(t, 1, n.Deliveries["email"].Attempts)
	require.Contains(t, n.Deliveries["email"].LastError, "offers no STARTTLS: the password is sent only over TLS")
	plain.set(func(s *smtpServer) { require.Empty(t, s.auths, "no password over plain text") })
	require.Empty(t, plain.messages())
}

// TestNotificationEmailConfig: the SMTP settings come from the flags,
// the environment or the file's smtp, the password only from the
// environment or a file; every problem is listed at once (at its line in
// the file), and -check-config never shows the password.
func TestNotificationEmailConfig(t *testing.T) {
	t.Parallel()
	parse := func(args []string, env map[string]string) (gateway.Config, error) {
		return gateway.ParseConfig(args, func(k string) string { return env[k] }, io.Discard)
	}
	_, err := parse(nil, map[string]string{"CRM_SMTP_ADDR": "smtp.example.com:99999", "CRM_SMTP_USERNAME": "crm"})
	require.ErrorContains(t, err, `CRM_SMTP_ADDR: "smtp.example.com:99999": the port "99999" is not a number from 1 to 65535`)
	require.ErrorContains(t, err, "CRM_SMTP_ADDR (smtp.addr) is set but CRM_SMTP_FROM (smtp.from), the sender's address, is not")
	require.ErrorContains(t, err, "CRM_SMTP_USERNAME is set but CRM_SMTP_PASSWORD is not")
	_, err = parse(nil, map[string]string{"CRM_SMTP_FROM": "crm@example.com", "CRM_SMTP_PASSWORD": "p"})
	require.ErrorContains(t, err, "CRM_SMTP_FROM (smtp.from) is set but CRM_SMTP_ADDR (smtp.addr), the mail server, is not")
	require.ErrorContains(t, err, "CRM_SMTP_PASSWORD is set but CRM_SMTP_ADDR")
	require.ErrorContains(t, err, "CRM_SMTP_PASSWORD is set but CRM_SMTP_USERNAME is not")
	_, err = parse([]string{"-smtp-addr", "smtp.example.com", "-smtp-from", "CRM crm.example.com"}, nil)
	require.ErrorContains(t, err, `CRM_SMTP_ADDR: "smtp.example.com": want host:port`)
	require.ErrorContains(t, err, `CRM_SMTP_FROM: "CRM crm.example.com" is not an e-mail address`)

	dir := t.TempDir()
	path := filepath.Join(dir, "crm.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`smtp:
  addr: smtp.example.com:0
  from: "crm at example.com"
  username: crm
  password: inline-SECRET
`), 0o600))
	_, err = parse([]string{"-config", path}, nil)
	require.ErrorContains(t, err, "3 problem(s)")
	require.ErrorContains(t, err, `:2:9: smtp.addr: "smtp.example.com:0": the port "0" is not a number from 1 to 65535`)
	require.ErrorContains(t, err, `:3:9: smtp.from: "crm at example.com" is not an e-mail address`)
	require.ErrorContains(t, err, ":5:13: smtp.password: write {env: CRM_SMTP_PASSWORD} or {file: PATH}, not the password itself")
	require.NotContains(t, err.Error(), "inline-SECRET")

	// A good file: the password from the environment; a flag wins.
	require.NoError(t, os.WriteFile(path, []byte(`smtp:
  addr: smtp.example.com:587
  from: "CRM <crm@example.com>"
  username: crm
  password: {env: CRM_SMTP_PASSWORD}
`), 0o600))
	env := map[string]string{"CRM_SMTP_PASSWORD": "smtp-SECRET"}
	c, err := parse([]string{"-config", path, "-smtp-addr", "mail.example.com:25"}, env)
	require.NoError(t, err)
	require.Equal(t, gateway.SMTP{Addr: "mail.example.com:25", From: "CRM <crm@example.com>", Username: "crm", Password: "smtp-SECRET"}, c.SMTP)
	require.NotContains(t, c.String(), "smtp-SECRET")
	var out bytes.Buffer
	require.NoError(t, gateway.Run(t.Context(), []string{"-config", path, "-check-config"},
		func(k string) string { return env[k] }, &out, io.Discard, gateway.Defaults{}))
	require.NotContains(t, out.String(), "smtp-SECRET")
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	require.Equal(t, "REDACTED", got["SMTPPassword"])
	require.Equal(t, "smtp.example.com:587", got["SMTPAddr"])
	require.Equal(t, "env CRM_SMTP_PASSWORD", got["SecretsFrom"].(map[string]any)["smtp.password"])
}

// TestNotificationEmailAmoCRM: in amoCRM mode the e-mail goes to the
// amoCRM user's address and links the contact's card in amoCRM, while
// amoCRM gets its own pop-up.
func TestNotificationEmailAmoCRM(t *testing.T) {
	t.Parallel()
	smtpd := newSMTPServer(t, nil)
	clock := newFakeClock()
	srv := start(t, gateway.Config{Demo: true, CRM: gateway.CRMAmoCRM, Clock: clock,
		SMTP: gateway.SMTP{Addr: smtpd.addr, From: "crm@example.com"}})
	e := &amoEnv{t: t, srv: srv, amo: srv.AmoCRMFake(), clock: clock}
	op2 := amocrmtest.DefaultUsers[1]
	known := e.amo.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+79161111111"}, ResponsibleUserID: op2.ID})
	c := e.call("+79161111111")
	miss := c.Hangup()
	miss.Set("CallStatus", "NOANSWER")
	miss.Set("Duration", "0")
	e.send(c.DialIn(), miss)
	e.end()
	n := emailState(t, srv, clock, c.CallID, "sent")
	require.Equal(t, strconv.FormatInt(op2.ID, 10), n.Employee)
	require.True(t, e.popped("+79161111111", op2.ID), "amoCRM's own notification")
	msgs := smtpd.messages()
	require.Len(t, msgs, 1)
	require.Equal(t, []string{op2.Email}, msgs[0].to)
	r := parseMail(t, msgs[0])
	require.Contains(t, r.body, "\nКарточка: https://"+amocrmtest.Domain+"/contacts/detail/"+strconv.FormatInt(known, 10)+"\n")
	require.Contains(t, r.body, "\nКлиент: "+strconv.FormatInt(known, 10)+"\n")
}

// TestNotificationEmailRefused: a server that refuses the connection is
// tried again with backoff; the e-mail stays pending with the error.
func TestNotificationEmailRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nobody listens there now
	clock := newFakeClock()
	srv := start(t, gateway.Config{Clock: clock, Rules: missedCallRules(), Employees: mailEmployees,
		SMTP: gateway.SMTP{Addr: addr, From: "crm@example.com"}})
	missedCall(t, srv, clock, "mf-refused", "74950001111", "")
	require.Eventually(t, func() bool {
		clock.Advance(500 * time.Millisecond)
		e := notifications(t, srv)["mf-refused"].Deliveries["email"]
		return e != nil && e.State == "pending" && e.Attempts >= 2 && strings.Contains(e.LastError, "connection refused")
	}, 15*time.Second, 20*time.Millisecond, "retried, still pending")
}
