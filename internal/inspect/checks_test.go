package inspect

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// selfSigned writes a self-signed certificate valid from notBefore to notAfter.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zhsj.test"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLSExpiry(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name       string
		notAfter   time.Time
		conclusion string
		text       string
	}{
		{"expired", now.Add(-48 * time.Hour), Critical, "已于"},
		{"in five days", now.Add(5 * 24 * time.Hour), Critical, "剩余 4 天"},
		{"in twenty days", now.Add(20 * 24 * time.Hour), Warning, "剩余 19 天"},
		{"in a year", now.AddDate(1, 0, 0), Normal, "zhsj.test"},
	} {
		e := &env{src: Sources{TLSCert: selfSigned(t, now.AddDate(-1, 0, 0), c.notAfter)}, now: now}
		r := tlsExpiry(context.Background(), e)
		if r.Conclusion != c.conclusion || !strings.Contains(r.Measured, c.text) {
			t.Errorf("%s: %+v", c.name, r)
		}
	}
	if r := tlsExpiry(context.Background(), &env{now: now}); r.Conclusion != Warning || r.Risk != RiskLow {
		t.Errorf("no certificate: %+v", r)
	}
	if r := tlsExpiry(context.Background(), &env{src: Sources{TLSCert: "/nonexistent.pem"}, now: now}); r.Conclusion != Failed {
		t.Errorf("missing file: %+v", r)
	}
}

// TestMetricsItems feeds the request metrics zhsj registers into the error-rate and P95
// items.
func TestMetricsItems(t *testing.T) {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhsj_http_requests_total", Help: "h"}, []string{"route", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zhsj_http_request_duration_seconds", Help: "h",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"route"})
	reg.MustRegister(requests, duration)
	// Each inspection run reads the metrics once; a new env is a new run.
	run := func() *env {
		return &env{src: Sources{Metrics: func() prometheus.Gatherer { return reg }}, now: time.Now()}
	}

	if r := errorRate(context.Background(), run()); r.Conclusion != Normal || !strings.Contains(r.Measured, "尚无请求") {
		t.Fatalf("no requests: %+v", r)
	}
	requests.WithLabelValues("/api/v1/a", "GET", "200").Add(970)
	requests.WithLabelValues("/api/v1/b", "GET", "500").Add(20)
	requests.WithLabelValues("/api/v1/c", "POST", "503").Add(10)
	r := errorRate(context.Background(), run())
	if r.Conclusion != Warning || *r.Value != 3 || !strings.Contains(r.Measured, "/api/v1/b 20 次") {
		t.Fatalf("3%% errors: %+v", r)
	}
	requests.WithLabelValues("/api/v1/b", "GET", "500").Add(100)
	if r := errorRate(context.Background(), run()); r.Conclusion != Critical {
		t.Fatalf("over 5%% errors: %+v", r)
	}

	// 90 fast requests (in the 5–10 ms bucket) and 10 slow ones (2.5–5 s): the 95th
	// percentile lies halfway into the slow bucket.
	for i := 0; i < 90; i++ {
		duration.WithLabelValues("/a").Observe(0.007)
	}
	for i := 0; i < 10; i++ {
		duration.WithLabelValues("/b").Observe(3)
	}
	first := run()
	r = latencyP95(context.Background(), first)
	if r.Conclusion != Critical || math.Abs(*r.Value-3.75) > 1e-9 || !strings.Contains(r.Measured, "100 次请求的 P95 约 3750 毫秒") {
		t.Fatalf("p95: %+v", r)
	}

	// The next inspection counts only what happened since this one: 1,000 good, fast
	// requests bring the window's error rate to 0 and its p95 into the fast bucket, although
	// since the process started 12% of requests failed and 10 were slow.
	errorRate(context.Background(), first)
	requests.WithLabelValues("/api/v1/a", "GET", "200").Add(1000)
	for i := 0; i < 1000; i++ {
		duration.WithLabelValues("/a").Observe(0.007)
	}
	second := run()
	second.base, second.baseAt = first.read, first.now
	if r := errorRate(context.Background(), second); r.Conclusion != Normal || *r.Value != 0 || !strings.Contains(r.Measured, "自上次巡检") || !strings.Contains(r.Measured, "请求 1000 次") {
		t.Fatalf("error rate since the previous inspection: %+v", r)
	}
	if r := latencyP95(context.Background(), second); r.Conclusion != Normal || *r.Value > 0.01 || !strings.Contains(r.Measured, "1000 次请求") {
		t.Fatalf("p95 since the previous inspection: %+v", r)
	}
	if r := errorRate(context.Background(), &env{}); r.Conclusion != NA {
		t.Fatalf("without metrics: %+v", r)
	}
}

func TestScore(t *testing.T) {
	run := &Run{}
	score(run, []Item{
		{Conclusion: Normal, Risk: RiskNone}, {Conclusion: Warning, Risk: RiskLow}, {Conclusion: Warning, Risk: RiskMedium},
		{Conclusion: Critical, Risk: RiskHigh}, {Conclusion: Failed, Risk: RiskMedium}, {Conclusion: NA, Risk: RiskNone},
	})
	if run.Score != 100-3-8-15-8 || run.NormalCount != 1 || run.WarningCount != 2 || run.CriticalCount != 1 || run.FailedCount != 1 || run.NACount != 1 {
		t.Fatalf("%+v", run)
	}
	many := make([]Item, 10)
	for i := range many {
		many[i] = Item{Conclusion: Critical, Risk: RiskHigh}
	}
	score(run, many)
	if run.Score != 0 {
		t.Fatalf("score below zero: %d", run.Score)
	}
}
