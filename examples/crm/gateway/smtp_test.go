package gateway_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// smtpServer is a mail server on 127.0.0.1 speaking the SMTP net/smtp
// speaks (EHLO, STARTTLS when it has a certificate, AUTH PLAIN, MAIL,
// RCPT, DATA, RSET, NOOP, QUIT). It records every command and the
// messages it accepts, and answers as told: 451 to the next RCPTs
// (greylisting), 550 to unknown mailboxes.
type smtpServer struct {
	addr string
	tls  *tls.Config // offers STARTTLS when set

	mu       sync.Mutex
	msgs     []smtpMessage
	rcpts    []string          // every RCPT TO, accepted or not
	auths    []string          // "user:password" of every AUTH PLAIN
	tempFail int               // the next RCPTs answered 451
	unknown  map[string]string // mailbox → the 550 text
	errs     []error           // what the client did wrong
}

// smtpMessage is a message the server accepted.
type smtpMessage struct {
	from string
	to   []string
	tls  bool   // sent after STARTTLS
	raw  string // as sent, CRLFs kept
}

// newSMTPServer starts a server until the test ends; with cfg it offers
// STARTTLS.
func newSMTPServer(t *testing.T, cfg *tls.Config) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &smtpServer{addr: ln.Addr().String(), tls: cfg, unknown: map[string]string{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		require.NoError(t, errors.Join(s.errs...), "the SMTP client")
	})
	return s
}

// serve speaks SMTP on one connection until QUIT or the client leaves.
func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	tp := textproto.NewConn(c)
	reply := func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
	reply("220 fake.example ESMTP")
	var (
		from   string
		to     []string
		secure bool
	)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"fake.example", "AUTH PLAIN", "8BITMIME"}
			if s.tls != nil && !secure {
				ext = append(ext, "STARTTLS")
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				reply("250%s%s", sep, e)
			}
		case "STARTTLS":
			reply("220 2.0.0 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				s.fail(fmt.Errorf("STARTTLS handshake: %w", err))
				return
			}
			c, tp, secure = tc, textproto.NewConn(tc), true
			reply = func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(b), "\x00")
			if mech != "PLAIN" || err != nil || len(parts) != 3 {
				reply("501 5.5.4 bad AUTH")
				continue
			}
			s.mu.Lock()
			s.auths = append(s.auths, parts[1]+":"+parts[2])
			s.mu.Unlock()
			reply("235 2.7.0 authenticated")
		case "MAIL":
			addr, ok := angle(arg, "FROM:")
			if !ok {
				s.fail(fmt.Errorf("MAIL %q", arg))
				reply("501 5.5.4 syntax")
				continue
			}
			from, to = addr, nil
			reply("250 2.1.0 ok")
		case "RCPT":
			addr, ok := angle(arg, "TO:")
			if !ok {
				s.fail(fmt.Errorf("RCPT %q", arg))
				reply("501 5.5.4 syntax")
				continue
			}
			s.mu.Lock()
			s.rcpts = append(s.rcpts, addr)
			temp, why := s.tempFail > 0, s.unknown[addr]
			if temp {
				s.tempFail--
			}
			s.mu.Unlock()
			switch {
			case temp:
				reply("451 4.7.1 <%s>: greylisted, try again later", addr)
			case why != "":
				reply("550 5.1.1 <%s>: %s", addr, why)
			default:
				to = append(to, addr)
				reply("250 2.1.5 ok")
			}
		case "DATA":
			if from == "" || len(to) == 0 {
				reply("503 5.5.1 need MAIL and RCPT")
				continue
			}
			reply("354 end with .")
			var raw strings.Builder // as sent: CRLFs kept, dots unstuffed
			for {
				l, err := tp.R.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				raw.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, smtpMessage{from: from, to: to, tls: secure, raw: raw.String()})
			s.mu.Unlock()
			from, to = "", nil
			reply("250 2.0.0 queued")
		case "RSET":
			from, to = "", nil
			reply("250 2.0.0 ok")
		case "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("502 5.5.2 unknown command")
		}
	}
}

// angle reads "<prefix><addr>[ params]".
func angle(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	addr, _, ok := strings.Cut(rest[1:], ">")
	return addr, ok
}

func (s *smtpServer) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

// messages are the messages accepted so far.
func (s *smtpServer) messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.msgs...)
}

// rcptCount is how many RCPT TO the server had, accepted or not.
func (s *smtpServer) rcptCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rcpts)
}

// set changes what the server answers.
func (s *smtpServer) set(f func(s *smtpServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// readMail is a message as its reader sees it: the headers, the subject
// decoded, the body decoded from quoted-printable with its lines ending
// in "\n".
type readMail struct {
	header  mail.Header
	subject string
	body    string
}

func parseMail(t *testing.T, m smtpMessage) readMail {
	t.Helper()
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(m.raw)))
	require.NoError(t, err, m.raw)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "quoted-printable", msg.Header.Get("Content-Transfer-Encoding"))
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	require.NoError(t, err)
	return readMail{header: msg.Header, subject: subject, body: strings.ReplaceAll(string(body), "\r\n", "\n")}
}

// selfSigned is a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}
