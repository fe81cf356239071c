package monitor

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // MySQL probe
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL probe
)

// Result is the outcome of one probe run (all its attempts).
type Result struct {
	TargetID    int64
	Scheduled   time.Time // when the run was due
	Started     time.Time // when it started
	OK          bool
	Latency     time.Duration // of the last attempt
	StatusCode  int           // http
	CertExpires time.Time     // earliest certificate expiry (https)
	Error       string        // Chinese reason of the failure
	Attempts    int
	Samples     []Sample // extra samples (node_exporter hosts)
}

// retryDelay is the pause between attempts of one run.
const retryDelay = time.Second

// bodyLimit bounds how much of an HTTP body a keyword check reads.
const bodyLimit = 1 << 20

var (
	transport = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	insecureTransport = func() *http.Transport {
		t := transport.Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // #nosec: expiry is still checked
		return t
	}()
)

// Prober runs probes. SelfURL resolves zhsj targets without an address.
type Prober struct {
	SelfURL func() string
	Now     func() time.Time
	node    *nodeState
}

// NewProber returns a prober.
func NewProber(selfURL func() string) *Prober {
	return &Prober{SelfURL: selfURL, Now: time.Now, node: newNodeState()}
}

// Probe runs the target's check with its timeout, retrying failed attempts.
func (p *Prober) Probe(ctx context.Context, t Target) Result {
	res := Result{TargetID: t.ID, Started: time.Now()}
	timeout := time.Duration(t.TimeoutMS) * time.Millisecond
	for attempt := 0; attempt <= t.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return res
			case <-time.After(retryDelay):
			}
		}
		res.Attempts++
		actx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		r := Result{}
		err := p.once(actx, t, &r)
		cancel()
		res.Latency = time.Since(start)
		res.StatusCode, res.CertExpires, res.Samples = r.StatusCode, r.CertExpires, r.Samples
		if err == nil {
			res.OK, res.Error = true, ""
			return res
		}
		res.OK, res.Error = false, explain(err, timeout)
		if ctx.Err() != nil {
			break
		}
	}
	return res
}

func (p *Prober) once(ctx context.Context, t Target, r *Result) error {
	switch t.Kind {
	case KindHTTP:
		return p.probeHTTP(ctx, t.Address, t.Config, r)
	case KindZHSJ:
		base := strings.TrimRight(t.Address, "/")
		if base == "" && p.SelfURL != nil {
			base = strings.TrimRight(p.SelfURL(), "/")
		}
		if base == "" {
			return errors.New("未配置本实例地址")
		}
		return p.probeHTTP(ctx, base+"/readyz", TargetConfig{Keyword: `"ready":true`, ExpectStatus: "200", InsecureTLS: t.Config.InsecureTLS}, r)
	case KindTCP:
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", t.Address)
		if err != nil {
			return err
		}
		return c.Close()
	case KindDNS:
		return probeDNS(ctx, t.Address, t.Config)
	case KindPostgres:
		return probeSQL(ctx, "pgx", t.Address, t.Config.Query)
	case KindMySQL:
		return probeSQL(ctx, "mysql", mysqlDSN(t.Address, time.Duration(t.TimeoutMS)*time.Millisecond), t.Config.Query)
	case KindRedis:
		return probeRedis(ctx, t.Address, t.Config.Password)
	case KindNode:
		return p.probeNode(ctx, t, r)
	}
	return fmt.Errorf("不支持的探测类型 %s", t.Kind)
}

// statusSpec is a set of accepted HTTP status ranges.
type statusSpec [][2]int

func parseStatusSpec(s string) (statusSpec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return statusSpec{{200, 399}}, nil
	}
	var out statusSpec
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return nil, invalid("期望状态码格式如 200-399 或 200,204")
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}

func (s statusSpec) ok(code int) bool {
	for _, r := range s {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

func (p *Prober) probeHTTP(ctx context.Context, url string, c TargetConfig, r *Result) error {
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "zhsj-monitor/1")
	tr := transport
	if c.InsecureTLS {
		tr = insecureTransport
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r.StatusCode = resp.StatusCode
	if resp.TLS != nil {
		for _, cert := range resp.TLS.PeerCertificates {
			if r.CertExpires.IsZero() || cert.NotAfter.Before(r.CertExpires) {
				r.CertExpires = cert.NotAfter
			}
		}
		if !r.CertExpires.IsZero() && r.CertExpires.Before(p.Now()) {
			return fmt.Errorf("TLS 证书已于 %s 过期", r.CertExpires.In(shanghai).Format("2006-01-02 15:04"))
		}
	}
	spec, _ := parseStatusSpec(c.ExpectStatus)
	var body []byte
	if c.Keyword != "" {
		body, err = io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
		if err != nil {
			return fmt.Errorf("读取响应失败: %w", err)
		}
	} else {
		io.Copy(io.Discard, io.LimitReader(resp.Body, bodyLimit))
	}
	if !spec.ok(resp.StatusCode) {
		return fmt.Errorf("HTTP 状态码 %d 不在期望范围 %s 内", resp.StatusCode, orDefault(c.ExpectStatus, "200-399"))
	}
	if c.Keyword != "" && !strings.Contains(string(body), c.Keyword) {
		return fmt.Errorf("响应内容不包含关键字「%s」", c.Keyword)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func probeDNS(ctx context.Context, name string, c TargetConfig) error {
	res := &net.Resolver{PreferGo: true}
	if c.Server != "" {
		res.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, c.Server)
		}
	}
	var answers []string
	var err error
	switch c.RecordType {
	case "", "A", "AAAA":
		network := "ip4"
		if c.RecordType == "AAAA" {
			network = "ip6"
		}
		var ips []net.IP
		ips, err = res.LookupIP(ctx, network, name)
		for _, ip := range ips {
			answers = append(answers, ip.String())
		}
	case "CNAME":
		var cname string
		cname, err = res.LookupCNAME(ctx, name)
		answers = append(answers, cname)
	case "MX":
		var mx []*net.MX
		mx, err = res.LookupMX(ctx, name)
		for _, m := range mx {
			answers = append(answers, m.Host)
		}
	case "TXT":
		answers, err = res.LookupTXT(ctx, name)
	}
	if err != nil {
		return err
	}
	if len(answers) == 0 {
		return fmt.Errorf("域名 %s 没有 %s 记录", name, orDefault(c.RecordType, "A"))
	}
	if c.Expect != "" {
		for _, a := range answers {
			if strings.Contains(a, c.Expect) {
				return nil
			}
		}
		return fmt.Errorf("解析结果 %s 不包含「%s」", strings.Join(answers, ", "), c.Expect)
	}
	return nil
}

func mysqlDSN(dsn string, timeout time.Duration) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	if !strings.Contains(dsn, "timeout=") {
		dsn += sep + "timeout=" + timeout.String()
	}
	return dsn
}

// probeSQL connects, runs the query and reads its rows.
func probeSQL(ctx context.Context, driver, dsn, query string) error {
	if query == "" {
		query = "SELECT 1"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n == 0 {
		return errors.New("探测语句没有返回任何行")
	}
	return nil
}

// probeRedis speaks RESP: AUTH when a password is set, then PING → +PONG.
func probeRedis(ctx context.Context, addr, password string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	rd := bufio.NewReader(c)
	cmd := func(args ...string) (string, error) {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := io.WriteString(c, b.String()); err != nil {
			return "", err
		}
		line, err := rd.ReadString('\n')
		return strings.TrimRight(line, "\r\n"), err
	}
	if password != "" {
		line, err := cmd("AUTH", password)
		if err != nil {
			return err
		}
		if line != "+OK" {
			return fmt.Errorf("Redis 认证失败: %s", strings.TrimPrefix(line, "-"))
		}
	}
	line, err := cmd("PING")
	if err != nil {
		return err
	}
	if line != "+PONG" {
		return fmt.Errorf("Redis 未正常应答 PING: %s", strings.TrimPrefix(line, "-"))
	}
	return nil
}

// explain turns a probe error into a Chinese reason.
func explain(err error, timeout time.Duration) string {
	var certInvalid x509.CertificateInvalidError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("超时（超过 %s 未完成）", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "连接被拒绝（端口未监听）"
	case errors.As(err, &certInvalid):
		if certInvalid.Reason == x509.Expired {
			return "TLS 证书已过期或尚未生效: " + certInvalid.Detail
		}
		return "TLS 证书无效: " + certInvalid.Error()
	case errors.As(err, &unknownAuth):
		return "TLS 证书不受信任（自签名或颁发机构未知）"
	case errors.As(err, &hostErr):
		return "TLS 证书与域名不匹配: " + hostErr.Error()
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "域名不存在: " + dnsErr.Name
		}
		return "域名解析失败: " + dnsErr.Error()
	}
	return err.Error()
}
