package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"zhsj/internal/store"
)

// System groups targets.
type System struct {
	ID          int64     `db:"id" json:"id"`
	Code        string    `db:"code" json:"code"`
	Name        string    `db:"name" json:"name"`
	Description string    `db:"description" json:"description"`
	Sort        int       `db:"sort" json:"sort"`
	Public      bool      `db:"public" json:"public"`
	CreatedAt   time.Time `db:"created_at" json:"created_at"`
	UpdatedAt   time.Time `db:"updated_at" json:"updated_at"`
}

// TargetConfig holds the kind-specific options of a target.
type TargetConfig struct {
	Method       string `json:"method,omitempty"`        // http: GET (default) | HEAD
	ExpectStatus string `json:"expect_status,omitempty"` // http: "200-399" (default), "200,204"
	Keyword      string `json:"keyword,omitempty"`       // http: text the body must contain
	InsecureTLS  bool   `json:"insecure_tls,omitempty"`  // http: accept self-signed certificates (expiry still checked)
	Server       string `json:"server,omitempty"`        // dns: resolver host:port; empty uses the system resolver
	RecordType   string `json:"record_type,omitempty"`   // dns: A (default) | AAAA | CNAME | MX | TXT
	Expect       string `json:"expect,omitempty"`        // dns: text one answer must contain
	Query        string `json:"query,omitempty"`         // postgres/mysql: the query; default SELECT 1
	Password     string `json:"password,omitempty"`      // redis: AUTH password
}

// Target is one probe target.
type Target struct {
	ID              int64        `json:"id"`
	SystemID        int64        `json:"system_id"`
	ParentID        *int64       `json:"parent_id,omitempty"`
	Name            string       `json:"name"`
	Kind            string       `json:"kind"`
	Address         string       `json:"address"`
	Config          TargetConfig `json:"config"`
	IntervalSeconds int          `json:"interval_seconds"`
	TimeoutMS       int          `json:"timeout_ms"`
	Retries         int          `json:"retries"`
	Enabled         bool         `json:"enabled"`
	Status          string       `json:"status"`
	LastCheckedAt   *time.Time   `json:"last_checked_at,omitempty"`
	LastChangeAt    *time.Time   `json:"last_change_at,omitempty"`
	LastLatencyMS   float64      `json:"last_latency_ms"`
	LastError       string       `json:"last_error"`
	CertExpiresAt   *time.Time   `json:"cert_expires_at,omitempty"`
	CreatedAt       time.Time    `json:"created_at"`
	UpdatedAt       time.Time    `json:"updated_at"`

	SystemName string `json:"system_name,omitempty"`
}

type targetRow struct {
	ID              int64      `db:"id"`
	SystemID        int64      `db:"system_id"`
	ParentID        *int64     `db:"parent_id"`
	Name            string     `db:"name"`
	Kind            string     `db:"kind"`
	Address         string     `db:"address"`
	Config          string     `db:"config"`
	IntervalSeconds int        `db:"interval_seconds"`
	TimeoutMS       int        `db:"timeout_ms"`
	Retries         int        `db:"retries"`
	Enabled         bool       `db:"enabled"`
	Status          string     `db:"status"`
	LastCheckedAt   *time.Time `db:"last_checked_at"`
	LastChangeAt    *time.Time `db:"last_change_at"`
	LastLatencyMS   float64    `db:"last_latency_ms"`
	LastError       string     `db:"last_error"`
	CertExpiresAt   *time.Time `db:"cert_expires_at"`
	CreatedBy       *int64     `db:"created_by"`
	CreatedAt       time.Time  `db:"created_at"`
	UpdatedAt       time.Time  `db:"updated_at"`
	SystemName      string     `db:"system_name"`
}

func (r targetRow) target() Target {
	t := Target{ID: r.ID, SystemID: r.SystemID, ParentID: r.ParentID, Name: r.Name, Kind: r.Kind, Address: r.Address,
		IntervalSeconds: r.IntervalSeconds, TimeoutMS: r.TimeoutMS, Retries: r.Retries, Enabled: r.Enabled, Status: r.Status,
		LastCheckedAt: r.LastCheckedAt, LastChangeAt: r.LastChangeAt, LastLatencyMS: r.LastLatencyMS, LastError: r.LastError,
		CertExpiresAt: r.CertExpiresAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, SystemName: r.SystemName}
	json.Unmarshal([]byte(r.Config), &t.Config)
	return t
}

const targetSelect = `SELECT t.id, t.system_id, t.parent_id, t.name, t.kind, t.address, t.config, t.interval_seconds, t.timeout_ms,
	t.retries, t.enabled, t.status, t.last_checked_at, t.last_change_at, t.last_latency_ms, t.last_error, t.cert_expires_at,
	t.created_by, t.created_at, t.updated_at, s.name AS system_name
	FROM monitor_targets t JOIN monitor_systems s ON s.id = t.system_id`

// StatusLabels are the Chinese names of target states.
var StatusLabels = map[string]string{"up": "正常", "down": "故障", "unknown": "未知"}

// Systems lists the systems in display order.
func (s *Service) Systems(ctx context.Context) ([]System, error) {
	var out []System
	err := s.db.Select(ctx, &out, `SELECT id, code, name, description, sort, public, created_at, updated_at FROM monitor_systems ORDER BY sort, id`)
	return out, err
}

var codeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,31}$`)

// SaveSystem creates (ID 0) or updates a system and returns its id.
func (s *Service) SaveSystem(ctx context.Context, q store.Q, sys System) (int64, error) {
	sys.Code, sys.Name = strings.TrimSpace(sys.Code), strings.TrimSpace(sys.Name)
	if !codeRE.MatchString(sys.Code) {
		return 0, invalid("系统代码须为小写字母开头的 2–32 位字母、数字或下划线")
	}
	if sys.Name == "" || utf8.RuneCountInString(sys.Name) > 64 {
		return 0, invalid("系统名称不能为空，且不超过 64 个字")
	}
	now := s.now()
	var n int
	if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM monitor_systems WHERE (code = ? OR name = ?) AND id <> ?`, sys.Code, sys.Name, sys.ID); err != nil {
		return 0, err
	}
	if n > 0 {
		return 0, invalid("系统代码或名称已存在")
	}
	if sys.ID == 0 {
		return store.InsertID(ctx, q, `INSERT INTO monitor_systems (code, name, description, sort, public, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			sys.Code, sys.Name, sys.Description, sys.Sort, sys.Public, now, now)
	}
	res, err := q.Exec(ctx, `UPDATE monitor_systems SET code = ?, name = ?, description = ?, sort = ?, public = ?, updated_at = ? WHERE id = ?`,
		sys.Code, sys.Name, sys.Description, sys.Sort, sys.Public, now, sys.ID)
	if err != nil {
		return 0, err
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return 0, ErrNotFound
	}
	return sys.ID, nil
}

// Errors.
var (
	ErrNotFound = errors.New("记录不存在")
)

// invalidError is bad input, shown to people as given.
type invalidError struct{ msg string }

func (e invalidError) Error() string { return e.msg }

func invalid(format string, args ...any) error { return invalidError{fmt.Sprintf(format, args...)} }

// Targets lists targets, optionally of one system, by system order and name.
func (s *Service) Targets(ctx context.Context, systemID int64) ([]Target, error) {
	q, args := targetSelect, []any{}
	if systemID != 0 {
		q += ` WHERE t.system_id = ?`
		args = append(args, systemID)
	}
	var rows []targetRow
	if err := s.db.Select(ctx, &rows, q+` ORDER BY s.sort, s.id, t.name`, args...); err != nil {
		return nil, err
	}
	out := make([]Target, len(rows))
	for i, r := range rows {
		out[i] = r.target()
	}
	return out, nil
}

// Target returns one target.
func (s *Service) Target(ctx context.Context, id int64) (Target, error) {
	return getTarget(ctx, s.db, id)
}

func getTarget(ctx context.Context, q store.Q, id int64) (Target, error) {
	var r targetRow
	err := q.Get(ctx, &r, targetSelect+` WHERE t.id = ?`, id)
	if errors.Is(err, store.ErrNotFound) {
		return Target{}, ErrNotFound
	}
	return r.target(), err
}

const secretMask = "******"

var mysqlPassRE = regexp.MustCompile(`^([^:@/()]*):([^@]*)@`)

// redactAddress hides the password of a database address.
func redactAddress(kind, addr string) string {
	switch kind {
	case KindPostgres:
		if u, err := url.Parse(addr); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), secretMask)
				return strings.Replace(u.String(), url.QueryEscape(secretMask), secretMask, 1)
			}
		}
		// key=value form: password=…
		return regexp.MustCompile(`(password=)\S+`).ReplaceAllString(addr, "${1}"+secretMask)
	case KindMySQL:
		if m := mysqlPassRE.FindStringSubmatch(addr); m != nil && m[2] != "" {
			return mysqlPassRE.ReplaceAllString(addr, "${1}:"+secretMask+"@")
		}
	}
	return addr
}

// Redacted returns the target as shown to people: no passwords.
func (t Target) Redacted() Target {
	t.Address = redactAddress(t.Kind, t.Address)
	if t.Config.Password != "" {
		t.Config.Password = secretMask
	}
	return t
}

// checkTarget validates and normalises a target.
func checkTarget(t *Target) error {
	t.Name, t.Address = strings.TrimSpace(t.Name), strings.TrimSpace(t.Address)
	if t.Name == "" || utf8.RuneCountInString(t.Name) > 100 {
		return invalid("目标名称不能为空，且不超过 100 个字")
	}
	if !slices.Contains(Kinds, t.Kind) {
		return invalid("不支持的探测类型 %q（可选 %s）", t.Kind, strings.Join(Kinds, "、"))
	}
	if t.SystemID <= 0 {
		return invalid("请选择所属系统")
	}
	if t.IntervalSeconds == 0 {
		t.IntervalSeconds = 30
	}
	if t.IntervalSeconds < 5 || t.IntervalSeconds > 86400 {
		return invalid("探测间隔须在 5 秒到 1 天之间")
	}
	if t.TimeoutMS == 0 {
		t.TimeoutMS = 5000
	}
	if t.TimeoutMS < 100 || t.TimeoutMS > 60000 {
		return invalid("超时须在 100 毫秒到 60 秒之间")
	}
	if t.Retries < 0 || t.Retries > 5 {
		return invalid("重试次数须在 0 到 5 之间")
	}
	if time.Duration(t.TimeoutMS)*time.Millisecond*time.Duration(t.Retries+1)+time.Duration(t.Retries)*retryDelay > time.Duration(t.IntervalSeconds)*time.Second {
		return invalid("超时 ×（重试次数 + 1）不能超过探测间隔")
	}
	c := &t.Config
	switch t.Kind {
	case KindHTTP, KindNode:
		u, err := url.Parse(t.Address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid("地址须为 http:// 或 https:// 开头的网址")
		}
		c.Method = strings.ToUpper(c.Method)
		if c.Method != "" && c.Method != "GET" && c.Method != "HEAD" {
			return invalid("请求方法只能是 GET 或 HEAD")
		}
		if _, err := parseStatusSpec(c.ExpectStatus); err != nil {
			return err
		}
	case KindZHSJ:
		if t.Address != "" {
			if u, err := url.Parse(t.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return invalid("智慧市监地址须为 http(s) 网址，留空表示本实例")
			}
		}
	case KindTCP, KindRedis:
		if _, port, err := net.SplitHostPort(t.Address); err != nil || port == "" {
			return invalid("地址须为 主机:端口，如 127.0.0.1:6379")
		} else if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return invalid("端口须为 1–65535")
		}
	case KindDNS:
		if t.Address == "" || strings.ContainsAny(t.Address, " /:") {
			return invalid("请填写要解析的域名")
		}
		c.RecordType = strings.ToUpper(c.RecordType)
		if c.RecordType != "" && !slices.Contains([]string{"A", "AAAA", "CNAME", "MX", "TXT"}, c.RecordType) {
			return invalid("记录类型只能是 A、AAAA、CNAME、MX 或 TXT")
		}
		if c.Server != "" {
			if _, _, err := net.SplitHostPort(c.Server); err != nil {
				return invalid("DNS 服务器须为 主机:端口，如 223.5.5.5:53")
			}
		}
	case KindPostgres:
		if !strings.HasPrefix(t.Address, "postgres://") && !strings.HasPrefix(t.Address, "postgresql://") && !strings.Contains(t.Address, "host=") {
			return invalid("PostgreSQL 地址须为 postgres://用户@主机:端口/库 形式")
		}
	case KindMySQL:
		if !strings.Contains(t.Address, "@tcp(") && !strings.Contains(t.Address, "@unix(") {
			return invalid("MySQL 地址须为 用户:口令@tcp(主机:端口)/库 形式")
		}
	}
	if (t.Kind == KindPostgres || t.Kind == KindMySQL) && c.Query != "" {
		q := strings.ToUpper(strings.TrimSpace(c.Query))
		if !strings.HasPrefix(q, "SELECT") && !strings.HasPrefix(q, "SHOW") {
			return invalid("探测语句只能是 SELECT 或 SHOW 查询")
		}
	}
	return nil
}

// SaveTarget creates (ID 0) or updates a target in q and returns its id. Masked secrets
// keep the stored ones.
func (s *Service) SaveTarget(ctx context.Context, q store.Q, t Target, actorID int64) (int64, error) {
	var old Target
	if t.ID != 0 {
		var err error
		if old, err = getTarget(ctx, q, t.ID); err != nil {
			return 0, err
		}
		if t.Address == redactAddress(old.Kind, old.Address) {
			t.Address = old.Address
		}
		if t.Config.Password == secretMask {
			t.Config.Password = old.Config.Password
		}
	}
	if err := checkTarget(&t); err != nil {
		return 0, err
	}
	var n int
	if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM monitor_systems WHERE id = ?`, t.SystemID); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, invalid("所属系统不存在")
	}
	if t.ParentID != nil {
		if *t.ParentID == t.ID && t.ID != 0 {
			return 0, invalid("上级目标不能是自己")
		}
		if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM monitor_targets WHERE id = ?`, *t.ParentID); err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, invalid("上级目标不存在")
		}
	}
	if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM monitor_targets WHERE system_id = ? AND name = ? AND id <> ?`, t.SystemID, t.Name, t.ID); err != nil {
		return 0, err
	}
	if n > 0 {
		return 0, invalid("该系统下已有名为「%s」的目标", t.Name)
	}
	cfg, _ := json.Marshal(t.Config)
	now := s.now()
	if t.ID == 0 {
		var by *int64
		if actorID != 0 {
			by = &actorID
		}
		return store.InsertID(ctx, q, `INSERT INTO monitor_targets (system_id, parent_id, name, kind, address, config, interval_seconds,
			timeout_ms, retries, enabled, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.SystemID, t.ParentID, t.Name, t.Kind, t.Address, string(cfg), t.IntervalSeconds, t.TimeoutMS, t.Retries, t.Enabled, by, now, now)
	}
	status := old.Status
	if old.Kind != t.Kind || old.Address != t.Address || !t.Enabled {
		status = "unknown"
	}
	_, err := q.Exec(ctx, `UPDATE monitor_targets SET system_id = ?, parent_id = ?, name = ?, kind = ?, address = ?, config = ?,
		interval_seconds = ?, timeout_ms = ?, retries = ?, enabled = ?, status = ?, updated_at = ? WHERE id = ?`,
		t.SystemID, t.ParentID, t.Name, t.Kind, t.Address, string(cfg), t.IntervalSeconds, t.TimeoutMS, t.Retries, t.Enabled, status, now, t.ID)
	return t.ID, err
}

// DeleteTarget removes a target with its series, samples and rules (alerts stay as history).
func (s *Service) DeleteTarget(ctx context.Context, q store.Q, id int64) error {
	res, err := q.Exec(ctx, `DELETE FROM monitor_targets WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Rule is one alert rule.
type Rule struct {
	ID            int64     `db:"id" json:"id"`
	Name          string    `db:"name" json:"name"`
	Metric        string    `db:"metric" json:"metric"`
	Matchers      string    `db:"matchers" json:"matchers"`
	SystemID      *int64    `db:"system_id" json:"system_id,omitempty"`
	TargetID      *int64    `db:"target_id" json:"target_id,omitempty"`
	Op            string    `db:"op" json:"op"`
	Threshold     float64   `db:"threshold" json:"threshold"`
	ForSeconds    int       `db:"for_seconds" json:"for_seconds"`
	Severity      string    `db:"severity" json:"severity"`
	RepeatSeconds int       `db:"repeat_seconds" json:"repeat_seconds"`
	Channels      string    `db:"channels" json:"channels"`
	Description   string    `db:"description" json:"description"`
	Enabled       bool      `db:"enabled" json:"enabled"`
	CreatedAt     time.Time `db:"created_at" json:"created_at"`
	UpdatedAt     time.Time `db:"updated_at" json:"updated_at"`
}

// SeverityLabel is the Chinese grade.
func (r Rule) SeverityLabel() string { return SeverityLabels[r.Severity] }

// ThresholdText is the threshold as typed (no trailing zeros).
func (r Rule) ThresholdText() string { return strconv.FormatFloat(r.Threshold, 'f', -1, 64) }

// Condition renders the rule's condition.
func (r Rule) Condition() string {
	m := r.Metric
	if r.Matchers != "" {
		m += "{" + r.Matchers + "}"
	}
	return fmt.Sprintf("%s %s %s", m, r.Op, r.ThresholdText())
}

// ChannelIDs parses the channel list.
func (r Rule) ChannelIDs() []int64 { return parseIDs(r.Channels) }

func parseIDs(s string) []int64 {
	var out []int64
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '，' }) {
		if n, err := strconv.ParseInt(f, 10, 64); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

var ops = []string{"<", "<=", ">", ">=", "==", "!="}

var metricRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func compare(v float64, op string, th float64) bool {
	switch op {
	case "<":
		return v < th
	case "<=":
		return v <= th
	case ">":
		return v > th
	case ">=":
		return v >= th
	case "==":
		return v == th
	case "!=":
		return v != th
	}
	return false
}

// Rules lists the rules by name.
func (s *Service) Rules(ctx context.Context) ([]Rule, error) {
	var out []Rule
	err := s.db.Select(ctx, &out, `SELECT * FROM monitor_rules ORDER BY id`)
	return out, err
}

// SaveRule creates (ID 0) or updates a rule and returns its id.
func (s *Service) SaveRule(ctx context.Context, q store.Q, r Rule) (int64, error) {
	r.Name, r.Metric, r.Matchers = strings.TrimSpace(r.Name), strings.TrimSpace(r.Metric), strings.TrimSpace(r.Matchers)
	switch {
	case r.Name == "" || utf8.RuneCountInString(r.Name) > 64:
		return 0, invalid("规则名称不能为空，且不超过 64 个字")
	case !metricRE.MatchString(r.Metric):
		return 0, invalid("指标名称无效，如 probe_success、host_cpu_percent")
	case !slices.Contains(ops, r.Op):
		return 0, invalid("比较符只能是 %s", strings.Join(ops, " "))
	case SeverityLabels[r.Severity] == "":
		return 0, invalid("告警级别只能是 一般、较大、重大、特别重大")
	case r.ForSeconds < 0 || r.ForSeconds > 7*86400:
		return 0, invalid("持续时间须在 0 到 7 天之间")
	case r.RepeatSeconds < 0 || (r.RepeatSeconds > 0 && r.RepeatSeconds < 60):
		return 0, invalid("重复通知间隔为 0（不重复）或不少于 60 秒")
	}
	if _, err := parseMatchers(r.Matchers); err != nil {
		return 0, err
	}
	ids := r.ChannelIDs()
	parts := make([]string, len(ids))
	for i, id := range ids {
		var n int
		if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM notify_channels WHERE id = ?`, id); err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, invalid("通知渠道 %d 不存在", id)
		}
		parts[i] = strconv.FormatInt(id, 10)
	}
	r.Channels = strings.Join(parts, ",")
	var n int
	if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM monitor_rules WHERE name = ? AND id <> ?`, r.Name, r.ID); err != nil {
		return 0, err
	}
	if n > 0 {
		return 0, invalid("规则名称「%s」已存在", r.Name)
	}
	now := s.now()
	if r.ID == 0 {
		return store.InsertID(ctx, q, `INSERT INTO monitor_rules (name, metric, matchers, system_id, target_id, op, threshold, for_seconds,
			severity, repeat_seconds, channels, description, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Name, r.Metric, r.Matchers, r.SystemID, r.TargetID, r.Op, r.Threshold, r.ForSeconds, r.Severity, r.RepeatSeconds,
			r.Channels, r.Description, r.Enabled, now, now)
	}
	res, err := q.Exec(ctx, `UPDATE monitor_rules SET name = ?, metric = ?, matchers = ?, system_id = ?, target_id = ?, op = ?, threshold = ?,
		for_seconds = ?, severity = ?, repeat_seconds = ?, channels = ?, description = ?, enabled = ?, updated_at = ? WHERE id = ?`,
		r.Name, r.Metric, r.Matchers, r.SystemID, r.TargetID, r.Op, r.Threshold, r.ForSeconds, r.Severity, r.RepeatSeconds,
		r.Channels, r.Description, r.Enabled, now, r.ID)
	if err != nil {
		return 0, err
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return 0, ErrNotFound
	}
	return r.ID, nil
}

// parseMatchers reads "k=v;k2=v2".
func parseMatchers(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || !metricRE.MatchString(strings.TrimSpace(k)) {
			return nil, invalid("标签匹配须为 键=值，多个用分号分隔，如 mount=/")
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// Silence is a one-off silence or a (recurring) maintenance window.
type Silence struct {
	ID            int64     `db:"id" json:"id"`
	Kind          string    `db:"kind" json:"kind"` // silence | maintenance
	SystemID      *int64    `db:"system_id" json:"system_id,omitempty"`
	TargetID      *int64    `db:"target_id" json:"target_id,omitempty"`
	RuleID        *int64    `db:"rule_id" json:"rule_id,omitempty"`
	StartsAt      time.Time `db:"starts_at" json:"starts_at"`
	EndsAt        time.Time `db:"ends_at" json:"ends_at"`
	Recurrence    string    `db:"recurrence" json:"recurrence"` // none | daily | weekly
	Weekdays      string    `db:"weekdays" json:"weekdays"`     // weekly: 1..7, Monday = 1
	WindowStart   string    `db:"window_start" json:"window_start"`
	WindowMinutes int       `db:"window_minutes" json:"window_minutes"`
	Comment       string    `db:"comment" json:"comment"`
	CreatedBy     string    `db:"created_by" json:"created_by"`
	CreatedAt     time.Time `db:"created_at" json:"created_at"`
}

// KindLabel names the silence kind.
func (x Silence) KindLabel() string {
	if x.Kind == "maintenance" {
		return "维护窗口"
	}
	return "告警屏蔽"
}

// Describe renders when the silence applies.
func (x Silence) Describe() string {
	loc := shanghai
	span := x.StartsAt.In(loc).Format("2006-01-02 15:04") + " 至 " + x.EndsAt.In(loc).Format("2006-01-02 15:04")
	switch x.Recurrence {
	case "daily":
		return fmt.Sprintf("%s 期间每天 %s 起 %d 分钟", span, x.WindowStart, x.WindowMinutes)
	case "weekly":
		return fmt.Sprintf("%s 期间每周（%s）%s 起 %d 分钟", span, x.Weekdays, x.WindowStart, x.WindowMinutes)
	}
	return span
}

// activeAt reports whether the silence is in force at t.
func (x Silence) activeAt(t time.Time) bool {
	if t.Before(x.StartsAt) || !t.Before(x.EndsAt) {
		return false
	}
	if x.Recurrence == "" || x.Recurrence == "none" {
		return true
	}
	hh, mm, ok := parseHHMM(x.WindowStart)
	if !ok {
		return false
	}
	local := t.In(shanghai)
	// The window may have opened yesterday and run past midnight: check today's and yesterday's.
	for _, d := range []int{0, -1} {
		day := local.AddDate(0, 0, d)
		start := time.Date(day.Year(), day.Month(), day.Day(), hh, mm, 0, 0, shanghai)
		if x.Recurrence == "weekly" {
			wd := int(start.Weekday())
			if wd == 0 {
				wd = 7
			}
			if !slices.Contains(parseInts(x.Weekdays), wd) {
				continue
			}
		}
		if !local.Before(start) && local.Before(start.Add(time.Duration(x.WindowMinutes)*time.Minute)) {
			return true
		}
	}
	return false
}

func parseInts(s string) []int {
	var out []int
	for _, id := range parseIDs(s) {
		out = append(out, int(id))
	}
	return out
}

func parseHHMM(s string) (int, int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, 0, false
	}
	return t.Hour(), t.Minute(), true
}

var shanghai = store.China

// matches reports whether the silence covers an alert of rule on target in system.
func (x Silence) matches(ruleID int64, targetID, systemID *int64) bool {
	eq := func(want, have *int64) bool { return want == nil || (have != nil && *want == *have) }
	return eq(x.RuleID, &ruleID) && eq(x.TargetID, targetID) && eq(x.SystemID, systemID)
}

// Silences lists silences and maintenance windows, newest first; with activeOnly only those
// not yet ended.
func (s *Service) Silences(ctx context.Context, activeOnly bool) ([]Silence, error) {
	q := `SELECT * FROM monitor_silences`
	args := []any{}
	if activeOnly {
		q += ` WHERE ends_at > ?`
		args = append(args, s.now())
	}
	var out []Silence
	err := s.db.Select(ctx, &out, q+` ORDER BY id DESC`, args...)
	return out, err
}

// SaveSilence validates and stores a new silence and returns its id.
func (s *Service) SaveSilence(ctx context.Context, q store.Q, x Silence) (int64, error) {
	if x.Kind == "" {
		x.Kind = "silence"
	}
	if x.Kind != "silence" && x.Kind != "maintenance" {
		return 0, invalid("类型只能是告警屏蔽或维护窗口")
	}
	if x.Recurrence == "" {
		x.Recurrence = "none"
	}
	if x.StartsAt.IsZero() {
		x.StartsAt = s.now()
	}
	if !x.EndsAt.After(x.StartsAt) {
		return 0, invalid("结束时间须晚于开始时间")
	}
	switch x.Recurrence {
	case "none":
		x.WindowStart, x.WindowMinutes, x.Weekdays = "", 0, ""
	case "daily", "weekly":
		if _, _, ok := parseHHMM(x.WindowStart); !ok {
			return 0, invalid("每日开始时间须为 时:分，如 02:00")
		}
		if x.WindowMinutes <= 0 || x.WindowMinutes > 24*60 {
			return 0, invalid("窗口时长须在 1 到 1440 分钟之间")
		}
		if x.Recurrence == "weekly" {
			days := parseInts(x.Weekdays)
			if len(days) == 0 || slices.ContainsFunc(days, func(d int) bool { return d < 1 || d > 7 }) {
				return 0, invalid("每周的日期须为 1–7（周一为 1），多个用逗号分隔")
			}
		}
	default:
		return 0, invalid("重复方式只能是 不重复、每天 或 每周")
	}
	x.Comment = strings.TrimSpace(x.Comment)
	if x.Comment == "" {
		return 0, invalid("请填写屏蔽原因")
	}
	return store.InsertID(ctx, q, `INSERT INTO monitor_silences (kind, system_id, target_id, rule_id, starts_at, ends_at, recurrence, weekdays,
		window_start, window_minutes, comment, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		x.Kind, x.SystemID, x.TargetID, x.RuleID, x.StartsAt, x.EndsAt, x.Recurrence, x.Weekdays, x.WindowStart, x.WindowMinutes,
		x.Comment, x.CreatedBy, s.now())
}

// ExpireSilence ends a silence now.
func (s *Service) ExpireSilence(ctx context.Context, q store.Q, id int64) error {
	now := s.now()
	res, err := q.Exec(ctx, `UPDATE monitor_silences SET ends_at = CASE WHEN starts_at > ? THEN starts_at ELSE ? END WHERE id = ? AND ends_at > ?`, now, now, id, now)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
