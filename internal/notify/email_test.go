package notify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// smtpSink is an in-process SMTP server that keeps what it receives.
type smtpSink struct {
	user, pass string
	mu         sync.Mutex
	mails      []sunk
}

type sunk struct {
	From   string
	Rcpt   []string
	Data   []byte
	TLS    bool
	Authed string
}

type sinkSession struct {
	sink *smtpSink
	conn *smtp.Conn
	cur  sunk
}

func (s *smtpSink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &sinkSession{sink: s, conn: c}, nil
}

func (s *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.sink.user || pass != s.sink.pass {
			return errors.New("invalid credentials")
		}
		s.cur.Authed = user
		return nil
	}), nil
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.sink.user != "" && s.cur.Authed == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.From = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.Rcpt = append(s.cur.Rcpt, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	_, s.cur.TLS = s.conn.TLSConnectionState()
	s.sink.mu.Lock()
	s.sink.mails = append(s.sink.mails, s.cur)
	s.sink.mu.Unlock()
	s.cur = sunk{Authed: s.cur.Authed}
	return nil
}

func (s *sinkSession) Reset()        { s.cur = sunk{Authed: s.cur.Authed} }
func (s *sinkSession) Logout() error { return nil }

func (s *smtpSink) got() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.mails...)
}

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// startSink serves the sink on loopback: mode starttls, tls (implicit) or none.
func startSink(t *testing.T, sink *smtpSink, mode string, cert tls.Certificate) int {
	srv := smtp.NewServer(sink)
	srv.Domain = "127.0.0.1"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	switch mode {
	case "starttls":
		srv.TLSConfig = cfg
	case "tls":
		srv.TLSConfig = cfg
		l = tls.NewListener(l, cfg)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// parsedMail is a received message decoded as a mail client would.
type parsedMail struct {
	Subject, From, To, Cc string
	Plain, HTML           string
}

func decodeMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	hdr := func(k string) string {
		s, err := dec.DecodeHeader(msg.Header.Get(k))
		if err != nil {
			t.Fatalf("decode %s: %v", k, err)
		}
		return s
	}
	p := parsedMail{Subject: hdr("Subject"), From: hdr("From"), To: hdr("To"), Cc: hdr("Cc")}
	if strings.ContainsFunc(msg.Header.Get("Subject"), func(r rune) bool { return r > 127 }) {
		t.Fatalf("raw subject is not MIME-encoded: %q", msg.Header.Get("Subject"))
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			b, _ = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.Plain = string(b)
		case "text/html":
			p.HTML = string(b)
		}
	}
	return p
}

func TestEmailThroughSMTPSink(t *testing.T) {
	cert, pool := selfSigned(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newClock()
		h, logs := newHub(db, clock, Options{TLSConfig: &tls.Config{RootCAs: pool}})
		msg := Message{Title: "陕西省市场监管数据质量周报", Text: "本周 **企业登记** 数据通过率 99.2%。\n\n请各地市于周五前完成整改。", Severity: SeverityWarning, Link: "https://zhsj.test/quality/weekly"}
		for _, mode := range []string{"starttls", "tls", "none"} {
			sink := &smtpSink{}
			cfg := EmailConfig{Host: "127.0.0.1", Security: mode, From: "zhsj@amr.shaanxi.test",
				To: []string{"ops@amr.shaanxi.test", "duty@amr.shaanxi.test"}, Cc: []string{"leader@amr.shaanxi.test"}}
			if mode != "none" {
				sink.user, sink.pass = "zhsj", "p@ss-中文"
				cfg.Username, cfg.Password = sink.user, sink.pass
			}
			cfg.Port = startSink(t, sink, mode, cert)
			ch := mustChannel(t, h, "邮件 "+mode, KindEmail, cfg)
			id := mustSend(t, h, ch, msg)
			deliverDue(t, h)
			d := mustDelivery(t, h, id)
			if d.Status != StatusSent {
				t.Fatalf("%s: delivery %+v", mode, d)
			}
			got := sink.got()
			if len(got) != 1 {
				t.Fatalf("%s: sink got %d mails", mode, len(got))
			}
			m := got[0]
			if m.From != "zhsj@amr.shaanxi.test" || strings.Join(m.Rcpt, ",") != "ops@amr.shaanxi.test,duty@amr.shaanxi.test,leader@amr.shaanxi.test" {
				t.Fatalf("%s: envelope from=%s rcpt=%v", mode, m.From, m.Rcpt)
			}
			if m.TLS != (mode != "none") || (mode != "none" && m.Authed != "zhsj") {
				t.Fatalf("%s: tls=%v authed=%q", mode, m.TLS, m.Authed)
			}
			p := decodeMail(t, m.Data)
			if p.Subject != "[警告] 陕西省市场监管数据质量周报" {
				t.Fatalf("%s: subject %q", mode, p.Subject)
			}
			if !strings.Contains(p.From, "智慧市监") || !strings.Contains(p.To, "ops@amr.shaanxi.test") || !strings.Contains(p.Cc, "leader@amr.shaanxi.test") {
				t.Fatalf("%s: headers from=%q to=%q cc=%q", mode, p.From, p.To, p.Cc)
			}
			if !strings.Contains(p.Plain, "本周 企业登记 数据通过率 99.2%。") || !strings.Contains(p.Plain, "请各地市于周五前完成整改。") ||
				!strings.Contains(p.Plain, "详情：https://zhsj.test/quality/weekly") {
				t.Fatalf("%s: plain body %q", mode, p.Plain)
			}
			if !strings.Contains(p.HTML, "<h3>[警告] 陕西省市场监管数据质量周报</h3>") || !strings.Contains(p.HTML, `href="https://zhsj.test/quality/weekly"`) {
				t.Fatalf("%s: html body %q", mode, p.HTML)
			}
		}

		// Wrong credentials: the SMTP error is recorded, retried later, the password never logged.
		sink := &smtpSink{user: "zhsj", pass: "right"}
		port := startSink(t, sink, "starttls", cert)
		ch := mustChannel(t, h, "邮件 错误密码", KindEmail, EmailConfig{Host: "127.0.0.1", Port: port, Username: "zhsj", Password: "wrong-password-x",
			From: "zhsj@amr.shaanxi.test", To: []string{"ops@amr.shaanxi.test"}})
		id := mustSend(t, h, ch, msg)
		deliverDue(t, h)
		d := mustDelivery(t, h, id)
		if d.Status != StatusQueued || d.Attempts != 1 || !strings.Contains(d.Error, "AUTH") || len(sink.got()) != 0 {
			t.Fatalf("bad auth delivery %+v", d)
		}
		if strings.Contains(logs.String(), "wrong-password-x") || strings.Contains(d.Error, "wrong-password-x") {
			t.Fatal("password leaked")
		}
		// STARTTLS is mandatory: a server without it is refused rather than sent in clear.
		plain := &smtpSink{}
		port = startSink(t, plain, "none", cert)
		ch = mustChannel(t, h, "邮件 无 STARTTLS", KindEmail, EmailConfig{Host: "127.0.0.1", Port: port, From: "zhsj@amr.shaanxi.test", To: []string{"ops@amr.shaanxi.test"}})
		id = mustSend(t, h, ch, msg)
		deliverDue(t, h)
		if d := mustDelivery(t, h, id); d.Status != StatusQueued || !strings.Contains(d.Error, "STARTTLS") || len(plain.got()) != 0 {
			t.Fatalf("sent without STARTTLS: %+v", d)
		}
	})
}
