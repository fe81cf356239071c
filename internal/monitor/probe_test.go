package monitor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"zhsj/internal/store/storetest"
)

func probe(t *testing.T, tg Target) Result {
	t.Helper()
	if tg.TimeoutMS == 0 {
		tg.TimeoutMS = 3000
	}
	if err := checkTarget(&tg); err != nil && tg.Kind != KindZHSJ {
		t.Fatalf("target invalid: %v", err)
	}
	return NewProber(nil).Probe(context.Background(), tg)
}

func TestProbeHTTP(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte("<html>智慧市监 首页</html>"))
		case "/500":
			http.Error(w, "boom", 500)
		case "/flaky":
			if calls.Load()%2 == 1 {
				http.Error(w, "first fails", 503)
				return
			}
			w.Write([]byte("ok"))
		}
	}))
	defer srv.Close()
	base := Target{ID: 1, SystemID: 1, Name: "x", Kind: KindHTTP, IntervalSeconds: 30}

	tg := base
	tg.Address, tg.Config.Keyword = srv.URL+"/ok", "智慧市监"
	if r := probe(t, tg); !r.OK || r.StatusCode != 200 || r.Latency <= 0 || r.Attempts != 1 {
		t.Fatalf("ok page: %+v", r)
	}
	tg.Config.Keyword = "不存在的关键字"
	if r := probe(t, tg); r.OK || !strings.Contains(r.Error, "不包含关键字") {
		t.Fatalf("missing keyword: %+v", r)
	}
	tg = base
	tg.Address, tg.Retries = srv.URL+"/500", 2
	if r := probe(t, tg); r.OK || r.StatusCode != 500 || r.Attempts != 3 || !strings.Contains(r.Error, "状态码 500") {
		t.Fatalf("500 page: %+v", r)
	}
	tg.Config.ExpectStatus = "500"
	if r := probe(t, tg); !r.OK {
		t.Fatalf("expected status 500 accepted: %+v", r)
	}
	// A failed first attempt is retried within the run.
	calls.Store(0)
	tg = base
	tg.Address, tg.Retries = srv.URL+"/flaky", 1
	if r := probe(t, tg); !r.OK || r.Attempts != 2 {
		t.Fatalf("retry: %+v", r)
	}
	tg.Retries = 0
	calls.Store(0)
	if r := probe(t, tg); r.OK || r.Attempts != 1 {
		t.Fatalf("without retry: %+v", r)
	}
}

func TestProbeTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	start := time.Now()
	r := probe(t, Target{ID: 1, SystemID: 1, Name: "slow", Kind: KindHTTP, Address: srv.URL, TimeoutMS: 300, Retries: 0, IntervalSeconds: 30})
	if r.OK || !strings.Contains(r.Error, "超时") || time.Since(start) > 2*time.Second {
		t.Fatalf("timeout: %+v after %s", r, time.Since(start))
	}
}

// selfSigned makes a certificate for 127.0.0.1 valid between notBefore and notAfter.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "zhsj-test"},
		NotBefore: notBefore, NotAfter: notAfter, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func tlsServer(t *testing.T, cert tls.Certificate) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secure")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestProbeTLSCertificates(t *testing.T) {
	now := time.Now()
	expired := tlsServer(t, selfSigned(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour)))
	base := Target{ID: 1, SystemID: 1, Name: "tls", Kind: KindHTTP, Address: expired.URL, IntervalSeconds: 30}
	// Verified: the handshake fails on the expired certificate.
	if r := probe(t, base); r.OK || !strings.Contains(r.Error, "证书") {
		t.Fatalf("expired, verified: %+v", r)
	}
	// Trusting the self-signed certificate does not excuse its expiry.
	insecure := base
	insecure.Config.InsecureTLS = true
	r := probe(t, insecure)
	if r.OK || !strings.Contains(r.Error, "过期") || r.CertExpires.IsZero() || r.CertExpires.After(now) {
		t.Fatalf("expired, insecure: %+v", r)
	}
	// A valid self-signed certificate passes when trusted and reports its expiry.
	valid := tlsServer(t, selfSigned(t, now.Add(-time.Hour), now.Add(10*24*time.Hour)))
	insecure.Address = valid.URL
	r = probe(t, insecure)
	if !r.OK || r.CertExpires.Sub(now) < 9*24*time.Hour {
		t.Fatalf("valid self-signed: %+v", r)
	}
	smp := resultSamples(Result{TargetID: 1, Started: now, OK: true, CertExpires: r.CertExpires})
	var days float64
	for _, s := range smp {
		if s.Name == "probe_cert_days_left" {
			days = s.Value
		}
	}
	if days < 9.9 || days > 10.1 {
		t.Fatalf("cert days left = %v", days)
	}
	// Untrusted without the option.
	insecure.Config.InsecureTLS = false
	if r := probe(t, insecure); r.OK || !strings.Contains(r.Error, "不受信任") {
		t.Fatalf("self-signed, verified: %+v", r)
	}
}

// closedPort returns a loopback address nobody listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestProbeTCPAndClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "tcp", Kind: KindTCP, Address: ln.Addr().String(), IntervalSeconds: 30}); !r.OK {
		t.Fatalf("open port: %+v", r)
	}
	closed := closedPort(t)
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "tcp", Kind: KindTCP, Address: closed, IntervalSeconds: 30}); r.OK || !strings.Contains(r.Error, "连接被拒绝") {
		t.Fatalf("closed port: %+v", r)
	}
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "http", Kind: KindHTTP, Address: "http://" + closed + "/", IntervalSeconds: 30}); r.OK || !strings.Contains(r.Error, "连接被拒绝") {
		t.Fatalf("closed http port: %+v", r)
	}
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "redis", Kind: KindRedis, Address: closed, IntervalSeconds: 30}); r.OK {
		t.Fatalf("closed redis port: %+v", r)
	}
}

func TestProbeDNS(t *testing.T) {
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "dns", Kind: KindDNS, Address: "localhost", Config: TargetConfig{Expect: "127.0.0.1"}, IntervalSeconds: 30}); !r.OK {
		t.Fatalf("localhost: %+v", r)
	}
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "dns", Kind: KindDNS, Address: "localhost", Config: TargetConfig{Expect: "10.9.9.9"}, IntervalSeconds: 30}); r.OK || !strings.Contains(r.Error, "不包含") {
		t.Fatalf("unexpected answer accepted: %+v", r)
	}
	// A resolver that does not answer: the probe fails within its timeout.
	r := probe(t, Target{ID: 1, SystemID: 1, Name: "dns", Kind: KindDNS, Address: "zhsj.example.invalid", TimeoutMS: 500,
		Config: TargetConfig{Server: closedPort(t)}, IntervalSeconds: 30})
	if r.OK {
		t.Fatalf("dead resolver: %+v", r)
	}
}

func requireService(t *testing.T, addr string) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		storetest.Missing(t, addr+" is not reachable")
	}
	c.Close()
}

func TestProbePostgres(t *testing.T) {
	url := os.Getenv("ZHSJ_TEST_POSTGRES_URL")
	if url == "" {
		storetest.Missing(t, "ZHSJ_TEST_POSTGRES_URL is not set")
	}
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "pg", Kind: KindPostgres, Address: url, IntervalSeconds: 30,
		Config: TargetConfig{Query: "SELECT count(*) FROM pg_stat_activity"}}); !r.OK {
		t.Fatalf("postgres: %+v", r)
	}
	bad := strings.Replace(url, "/test", "/zhsj_no_such_db", 1)
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "pg", Kind: KindPostgres, Address: bad, IntervalSeconds: 30}); r.OK || r.Error == "" {
		t.Fatalf("missing database: %+v", r)
	}
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "pg", Kind: KindPostgres, Address: "postgres://postgres@" + closedPort(t) + "/test?sslmode=disable", IntervalSeconds: 30}); r.OK {
		t.Fatalf("closed port: %+v", r)
	}
}

func TestProbeMySQL(t *testing.T) {
	requireService(t, "127.0.0.1:3306")
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "mysql", Kind: KindMySQL, Address: "root@tcp(127.0.0.1:3306)/", IntervalSeconds: 30,
		Config: TargetConfig{Query: "SHOW STATUS LIKE 'Threads_connected'"}}); !r.OK {
		t.Fatalf("mysql: %+v", r)
	}
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "mysql", Kind: KindMySQL, Address: "nobody_zhsj:wrong@tcp(127.0.0.1:3306)/", IntervalSeconds: 30}); r.OK {
		t.Fatalf("bad credentials accepted: %+v", r)
	}
}

func TestProbeRedis(t *testing.T) {
	requireService(t, "127.0.0.1:6379")
	if r := probe(t, Target{ID: 1, SystemID: 1, Name: "redis", Kind: KindRedis, Address: "127.0.0.1:6379", IntervalSeconds: 30}); !r.OK {
		t.Fatalf("redis: %+v", r)
	}
}

func TestRedactAddress(t *testing.T) {
	for _, c := range []struct{ kind, in, want string }{
		{KindPostgres, "postgres://zhsj:s3cret@db:5432/zhsj?sslmode=disable", "postgres://zhsj:******@db:5432/zhsj?sslmode=disable"},
		{KindPostgres, "host=db user=zhsj password=s3cret dbname=zhsj", "host=db user=zhsj password=****** dbname=zhsj"},
		{KindMySQL, "root:s3cret@tcp(127.0.0.1:3306)/zhsj", "root:******@tcp(127.0.0.1:3306)/zhsj"},
		{KindMySQL, "root@tcp(127.0.0.1:3306)/", "root@tcp(127.0.0.1:3306)/"},
		{KindHTTP, "https://a.example/x", "https://a.example/x"},
	} {
		if got := redactAddress(c.kind, c.in); got != c.want || strings.Contains(got, "s3cret") {
			t.Errorf("redact %q = %q, want %q", c.in, got, c.want)
		}
	}
}
