// Package config loads zhsj's typed configuration. Precedence: command-line flags, then
// ZHSJ_* environment variables, then an optional file of KEY=VALUE lines (ZHSJ_CONFIG).
// Every secret can also be given as a file path in the variable's *_FILE form.
package config

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is everything zhsj reads at start.
type Config struct {
	Addr            string
	DataDir         string
	DatabaseURL     string
	SecretKey       []byte
	BaseURL         string
	LogFormat       string
	LogLevel        string
	MetricsToken    string
	TLSCert         string
	TLSKey          string
	TrustProxy      bool
	AutoMigrate     bool
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	AuditRetention  int // days
	MaxBodyBytes    int64
	LoginRatePerMin int
	// LoginAccountRatePerMin bounds password attempts on one account from all addresses.
	LoginAccountRatePerMin int
	ShutdownTimeout        time.Duration
}

// Var describes one setting: its environment name, flag, default and meaning (the README's
// configuration table is checked against this list by a test).
type Var struct {
	Env     string
	Flag    string
	Default string
	Secret  bool
	Help    string
	set     func(c *Config, v string) error
}

// Vars lists every setting.
var Vars = []Var{
	{Env: "ZHSJ_ADDR", Flag: "addr", Default: "127.0.0.1:8080", Help: "HTTP 监听地址 (listen address)", set: func(c *Config, v string) error { c.Addr = v; return nil }},
	{Env: "ZHSJ_DATA", Flag: "data", Default: "./data", Help: "数据目录：内置 SQLite 数据库、密钥文件、备份 (data directory)", set: func(c *Config, v string) error { c.DataDir = v; return nil }},
	{Env: "ZHSJ_DATABASE_URL", Flag: "database-url", Secret: true, Help: "PostgreSQL 连接串 postgres://…；留空使用内置 SQLite", set: func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
	{Env: "ZHSJ_SECRET_KEY", Flag: "", Secret: true, Help: "主密钥（64 位十六进制，SM4/HMAC-SM3 派生密钥的根）；留空时在数据目录生成 secret.key。多实例部署必须设置且一致", set: func(c *Config, v string) error {
		b, err := hex.DecodeString(strings.TrimSpace(v))
		if err != nil || len(b) < 32 {
			return fmt.Errorf("ZHSJ_SECRET_KEY 须为至少 64 位十六进制字符")
		}
		c.SecretKey = b
		return nil
	}},
	{Env: "ZHSJ_BASE_URL", Flag: "base-url", Help: "对外访问地址，用于生成链接（如 https://zhsj.example.gov.cn）", set: func(c *Config, v string) error { c.BaseURL = strings.TrimRight(v, "/"); return nil }},
	{Env: "ZHSJ_LOG_FORMAT", Flag: "log-format", Default: "text", Help: "日志格式 text 或 json", set: func(c *Config, v string) error {
		if v != "text" && v != "json" {
			return fmt.Errorf("ZHSJ_LOG_FORMAT 只能是 text 或 json")
		}
		c.LogFormat = v
		return nil
	}},
	{Env: "ZHSJ_LOG_LEVEL", Flag: "log-level", Default: "info", Help: "日志级别 debug/info/warn/error", set: func(c *Config, v string) error { c.LogLevel = v; return nil }},
	{Env: "ZHSJ_METRICS_TOKEN", Flag: "", Secret: true, Help: "访问 /metrics 的令牌（Bearer）；未设置时只允许本机访问", set: func(c *Config, v string) error { c.MetricsToken = v; return nil }},
	{Env: "ZHSJ_TLS_CERT", Flag: "tls-cert", Help: "TLS 证书文件（设置后启用 HTTPS 与 HSTS）", set: func(c *Config, v string) error { c.TLSCert = v; return nil }},
	{Env: "ZHSJ_TLS_KEY", Flag: "tls-key", Secret: true, Help: "TLS 私钥文件", set: func(c *Config, v string) error { c.TLSKey = v; return nil }},
	{Env: "ZHSJ_TRUST_PROXY", Flag: "trust-proxy", Default: "false", Help: "信任负载均衡的 X-Forwarded-For / X-Forwarded-Proto", set: boolSetter(func(c *Config, b bool) { c.TrustProxy = b })},
	{Env: "ZHSJ_AUTO_MIGRATE", Flag: "auto-migrate", Default: "true", Help: "启动时自动执行数据库迁移", set: boolSetter(func(c *Config, b bool) { c.AutoMigrate = b })},
	{Env: "ZHSJ_SESSION_IDLE", Flag: "", Default: "30m", Help: "会话空闲超时", set: durSetter(func(c *Config, d time.Duration) { c.SessionIdle = d })},
	{Env: "ZHSJ_SESSION_ABSOLUTE", Flag: "", Default: "12h", Help: "会话最长有效期", set: durSetter(func(c *Config, d time.Duration) { c.SessionAbsolute = d })},
	{Env: "ZHSJ_AUDIT_RETENTION_DAYS", Flag: "", Default: "180", Help: "审计日志保留天数（不少于 180）", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 180 {
			return fmt.Errorf("ZHSJ_AUDIT_RETENTION_DAYS 须为不小于 180 的整数")
		}
		c.AuditRetention = n
		return nil
	}},
	{Env: "ZHSJ_MAX_BODY_BYTES", Flag: "", Default: "10485760", Help: "请求体上限（字节）；文件上传接口另有上限", set: func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("ZHSJ_MAX_BODY_BYTES 须为正整数")
		}
		c.MaxBodyBytes = n
		return nil
	}},
	{Env: "ZHSJ_LOGIN_RATE_PER_MIN", Flag: "", Default: "30", Help: "每个来源 IP 每分钟登录尝试上限", set: positiveIntSetter(func(c *Config, n int) { c.LoginRatePerMin = n })},
	{Env: "ZHSJ_LOGIN_ACCOUNT_RATE_PER_MIN", Flag: "", Default: "10", Help: "每个账号每分钟口令登录尝试上限（不论来源 IP）", set: positiveIntSetter(func(c *Config, n int) { c.LoginAccountRatePerMin = n })},
	{Env: "ZHSJ_SHUTDOWN_TIMEOUT", Flag: "", Default: "30s", Help: "收到 SIGTERM 后等待进行中请求完成的时间", set: durSetter(func(c *Config, d time.Duration) { c.ShutdownTimeout = d })},
}

func boolSetter(f func(*Config, bool)) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("布尔值无效: %q", v)
		}
		f(c, b)
		return nil
	}
}

func positiveIntSetter(f func(*Config, int)) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("须为正整数: %q", v)
		}
		f(c, n)
		return nil
	}
}

func durSetter(f func(*Config, time.Duration)) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("时长无效: %q", v)
		}
		f(c, d)
		return nil
	}
}

// AddFlags registers the command-line flags of the settings that have one.
func AddFlags(fs *pflag.FlagSet) {
	for _, v := range Vars {
		if v.Flag != "" && fs.Lookup(v.Flag) == nil {
			fs.String(v.Flag, v.Default, v.Help+" ["+v.Env+"]")
		}
	}
	if fs.Lookup("config") == nil {
		fs.String("config", "", "配置文件（KEY=VALUE 行）[ZHSJ_CONFIG]")
	}
}

// Load builds the configuration from defaults, the optional file, the environment and the
// flags that were set explicitly. getenv is os.Getenv outside tests.
func Load(fs *pflag.FlagSet, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	values := map[string]string{}
	for _, v := range Vars {
		if v.Default != "" {
			values[v.Env] = v.Default
		}
	}
	file := getenv("ZHSJ_CONFIG")
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Changed {
			file = f.Value.String()
		}
	}
	if file != "" {
		fv, err := readFile(file)
		if err != nil {
			return nil, err
		}
		for k, v := range fv {
			values[k] = v
		}
	}
	for _, v := range Vars {
		if s := getenv(v.Env); s != "" {
			values[v.Env] = s
		}
		if p := getenv(v.Env + "_FILE"); p != "" {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("读取 %s_FILE: %w", v.Env, err)
			}
			values[v.Env] = strings.TrimSpace(string(b))
		}
		if fs != nil && v.Flag != "" {
			if f := fs.Lookup(v.Flag); f != nil && f.Changed {
				values[v.Env] = f.Value.String()
			}
		}
	}
	c := &Config{}
	for _, v := range Vars {
		if s, ok := values[v.Env]; ok && s != "" {
			if err := v.set(c, s); err != nil {
				return nil, fmt.Errorf("%s: %w", v.Env, err)
			}
		}
	}
	return c, nil
}

func readFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("读取配置文件: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s 第 %d 行格式应为 KEY=VALUE", path, n)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return out, sc.Err()
}

// EnsureSecretKey returns the configured master key, or reads or creates data/secret.key.
func (c *Config) EnsureSecretKey() ([]byte, error) {
	if len(c.SecretKey) > 0 {
		return c.SecretKey, nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(c.DataDir, "secret.key")
	if b, err := os.ReadFile(p); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) < 32 {
			return nil, fmt.Errorf("%s 内容无效", p)
		}
		c.SecretKey = k
		return k, nil
	}
	k := make([]byte, 32)
	if _, err := randRead(k); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	c.SecretKey = k
	return k, nil
}

// Defaults returns the configuration with nothing set but defaults (for tests and tools).
func Defaults() *Config {
	c, err := Load(nil, func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return c
}
