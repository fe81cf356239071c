// Package monitor is the 7×24 monitoring of the operations center: probe targets grouped by
// system (HTTP(S), TCP, DNS, PostgreSQL, MySQL, Redis, zhsj itself, node_exporter hosts), host
// and process metrics, samples with retention and rollups, alert rules with pending → firing →
// resolved, silences, maintenance windows, inhibition and de-duplication, notifications through
// the notify hub, and the public status page.
//
// One instance at a time runs the engine (probe scheduler, collectors, rule evaluation): it is
// the body of the job "monitor.engine", so the job scheduler's lease decides which instance
// that is and hands the engine over when it stops or dies.
package monitor

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"zhsj/internal/audit"
	"zhsj/internal/notify"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

//go:embed templates
var templates embed.FS

// Templates are the module's page templates.
func Templates() fs.FS { return templates }

// Permissions of the module (engineer role: monitor.* and notify.*).
const (
	PermTargetRead    = "monitor.target.read"
	PermTargetWrite   = "monitor.target.write"
	PermAlertRead     = "monitor.alert.read"
	PermAlertAck      = "monitor.alert.ack"
	PermRuleWrite     = "monitor.rule.write"
	PermSilenceWrite  = "monitor.silence.write"
	PermSettingsWrite = "monitor.settings.write"
	PermChannelRead   = "notify.channel.read"
	PermChannelWrite  = "notify.channel.write"
	PermChannelTest   = "notify.channel.test"
	PermDeliveryRead  = "notify.delivery.read"
)

// Target kinds.
const (
	KindHTTP     = "http"
	KindTCP      = "tcp"
	KindDNS      = "dns"
	KindPostgres = "postgres"
	KindMySQL    = "mysql"
	KindRedis    = "redis"
	KindZHSJ     = "zhsj"
	KindNode     = "node"
)

// Kinds lists the target kinds in display order.
var Kinds = []string{KindHTTP, KindTCP, KindDNS, KindPostgres, KindMySQL, KindRedis, KindZHSJ, KindNode}

// KindLabels are the Chinese names of the kinds.
var KindLabels = map[string]string{
	KindHTTP: "HTTP(S)", KindTCP: "TCP 端口", KindDNS: "DNS 解析", KindPostgres: "PostgreSQL",
	KindMySQL: "MySQL", KindRedis: "Redis", KindZHSJ: "智慧市监自身", KindNode: "主机（node_exporter）",
}

// Severities (the four national grades) from lowest to highest.
const (
	SevGeneral  = "general"  // 一般
	SevSerious  = "serious"  // 较大
	SevMajor    = "major"    // 重大
	SevCritical = "critical" // 特别重大
)

// Severities in ascending order.
var Severities = []string{SevGeneral, SevSerious, SevMajor, SevCritical}

// SeverityLabels are the Chinese names of the severities.
var SeverityLabels = map[string]string{SevGeneral: "一般", SevSerious: "较大", SevMajor: "重大", SevCritical: "特别重大"}

// notifySeverity maps a grade onto the hub's colours.
func notifySeverity(sev string) string {
	switch sev {
	case SevCritical, SevMajor:
		return notify.SeverityCritical
	case SevSerious:
		return notify.SeverityWarning
	}
	return notify.SeverityInfo
}

// Options tune a Service; zero values take the defaults noted.
type Options struct {
	Audit         *audit.Log
	Notify        *notify.Hub
	Now           func() time.Time // clock; default store.Now
	Logger        *slog.Logger
	BaseURL       string        // links in notifications, e.g. https://zhsj.example.gov.cn
	SelfURL       func() string // base URL of this instance for zhsj targets without an address
	EvalInterval  time.Duration // rule evaluation period; default 5 s (also after every flush)
	HostInterval  time.Duration // host metrics period; default 15 s; negative disables
	FlushInterval time.Duration // how long probe results wait to be written together; default 500 ms
	Registerer    prometheus.Registerer
	Hostname      string // label of this host's metrics; default os.Hostname
}

// Service is the monitoring module.
type Service struct {
	db    *store.DB
	opt   Options
	log   *slog.Logger
	pages *web.Pages
	m     *promMetrics

	statusMu    sync.Mutex
	statusCache *statusPage
	statusAt    time.Time

	evalMu sync.Mutex // one evaluation at a time
	series seriesCache

	engMu  sync.Mutex
	engine *Engine // running engine of this instance, if any
}

// New returns the module on db.
func New(db *store.DB, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = store.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.EvalInterval <= 0 {
		opt.EvalInterval = 5 * time.Second
	}
	if opt.HostInterval == 0 {
		opt.HostInterval = 15 * time.Second
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = 500 * time.Millisecond
	}
	if opt.Hostname == "" {
		opt.Hostname, _ = os.Hostname()
		if opt.Hostname == "" {
			opt.Hostname = "localhost"
		}
	}
	s := &Service{db: db, opt: opt, log: opt.Logger.With("module", "monitor")}
	s.m = newPromMetrics(db, opt.Registerer)
	return s
}

// SetPages gives the module the page renderer.
func (s *Service) SetPages(p *web.Pages) { s.pages = p }

func (s *Service) now() time.Time { return s.opt.Now().UTC().Truncate(time.Millisecond) }

// Permissions declares the module's permissions for the role editor.
func (s *Service) Permissions() []web.Perm {
	return []web.Perm{
		{Code: PermTargetRead, Name: "查看监控目标、指标与图表", Group: "运维中心"},
		{Code: PermTargetWrite, Name: "管理监控目标与监控系统", Group: "运维中心"},
		{Code: PermAlertRead, Name: "查看告警、告警规则与屏蔽", Group: "运维中心"},
		{Code: PermAlertAck, Name: "确认告警", Group: "运维中心"},
		{Code: PermRuleWrite, Name: "管理告警规则", Group: "运维中心"},
		{Code: PermSilenceWrite, Name: "管理告警屏蔽与维护窗口", Group: "运维中心"},
		{Code: PermSettingsWrite, Name: "修改监控数据保留期", Group: "运维中心"},
		{Code: PermChannelRead, Name: "查看通知渠道", Group: "运维中心"},
		{Code: PermChannelWrite, Name: "管理通知渠道", Group: "运维中心"},
		{Code: PermChannelTest, Name: "发送测试通知", Group: "运维中心"},
		{Code: PermDeliveryRead, Name: "查看通知发送记录", Group: "运维中心"},
	}
}

// Menu is the module's part of the left menu.
func (s *Service) Menu() []web.MenuItem {
	return []web.MenuItem{
		{Group: "运维中心", Title: "监控目标", Path: "/monitor", Permission: PermTargetRead, Order: 10},
		{Group: "运维中心", Title: "告警", Path: "/monitor/alerts", Permission: PermAlertRead, Order: 11},
		{Group: "运维中心", Title: "告警规则", Path: "/monitor/rules", Permission: PermAlertRead, Order: 12},
		{Group: "运维中心", Title: "屏蔽与维护窗口", Path: "/monitor/silences", Permission: PermAlertRead, Order: 13},
		{Group: "运维中心", Title: "主机指标", Path: "/monitor/charts", Permission: PermTargetRead, Order: 14},
		{Group: "运维中心", Title: "通知渠道", Path: "/notify/channels", Permission: PermChannelRead, Order: 15},
		{Group: "运维中心", Title: "通知发送记录", Path: "/notify/deliveries", Permission: PermDeliveryRead, Order: 16},
		{Group: "运维中心", Title: "系统状态页", Path: "/status", Permission: PermTargetRead, Order: 17},
	}
}

// detach returns a context for background work started by a request.
func detach(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// SeedDemo adds the demo monitoring: zhsj probing itself under 智慧市监平台. Idempotent.
func (s *Service) SeedDemo(ctx context.Context, q store.Q) ([]string, error) {
	var n int
	if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM monitor_targets WHERE kind = ?`, KindZHSJ); err != nil || n > 0 {
		return nil, err
	}
	var sys int64
	if err := q.Get(ctx, &sys, `SELECT id FROM monitor_systems WHERE code = 'zhsj'`); err != nil {
		return nil, err
	}
	if _, err := s.SaveTarget(ctx, q, Target{SystemID: sys, Name: "智慧市监平台（本实例就绪检查）", Kind: KindZHSJ, IntervalSeconds: 30,
		TimeoutMS: 5000, Retries: 1, Enabled: true}, 0); err != nil {
		return nil, err
	}
	return []string{"  监控：已添加“智慧市监平台（本实例就绪检查）”探测目标，见 运维中心 › 监控目标"}, nil
}
