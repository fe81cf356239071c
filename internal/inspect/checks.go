package inspect

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// BackupInfo describes one backup for the backup items.
type BackupInfo struct {
	Name      string
	Kind      string
	CreatedAt time.Time
	OK        bool
	Error     string
	Tables    int
	Rows      int64
}

// BackupSource is what the backup items ask the backup module (wired by the app).
type BackupSource interface {
	// Latest returns the newest successful backup and the newest attempt (either may be nil).
	Latest(ctx context.Context) (lastOK, lastAttempt *BackupInfo, err error)
	// TestRestore restores the newest successful backup into a scratch database and compares
	// it with its manifest (备份有效性验证).
	TestRestore(ctx context.Context) (ok bool, summary string, err error)
}

// Sources are what the checks read besides the database.
type Sources struct {
	Metrics  func() prometheus.Gatherer // this instance's registry (request metrics)
	Audit    *audit.Log
	Policy   func() iam.Policy
	Backups  BackupSource
	TLSCert  string // certificate file served by zhsj ("" when TLS ends before it)
	LogLevel string
}

// result is what one check measured and concluded.
type result struct {
	Measured   string
	Value      *float64
	Conclusion string
	Risk       string
	Advice     string
}

func ok(measured string) result {
	return result{Measured: measured, Conclusion: Normal, Risk: RiskNone}
}

func warn(measured, risk, advice string) result {
	return result{Measured: measured, Conclusion: Warning, Risk: risk, Advice: advice}
}

func crit(measured, advice string) result {
	return result{Measured: measured, Conclusion: Critical, Risk: RiskHigh, Advice: advice}
}

func na(measured string) result { return result{Measured: measured, Conclusion: NA, Risk: RiskNone} }

func failed(err error) result {
	return result{Measured: "检查执行失败：" + err.Error(), Conclusion: Failed, Risk: RiskMedium, Advice: "排查检查失败原因后重新巡检"}
}

func (r result) with(v float64) result { r.Value = &v; return r }

// env is what a check runs against.
type env struct {
	db       *store.DB
	src      Sources
	from, to time.Time       // the period under inspection
	prev     map[string]Item // previous run's items by code
	now      time.Time
	// Metrics: as read once in this run, and as the previous inspection read them.
	read   []*dto.MetricFamily
	base   []*dto.MetricFamily
	baseAt time.Time
}

// check is one inspection item.
type check struct {
	Category, Code, Name, Method, Threshold string
	// Dialect limits the check to one database kind ("" for both).
	Dialect store.Dialect
	Run     func(ctx context.Context, e *env) result
}

// checks lists every item, in report order within each category.
var checks = []check{
	// Database: PostgreSQL.
	{Category: "database", Code: "db.connections", Name: "数据库连接数", Dialect: store.Postgres,
		Method: "查询 pg_stat_activity 的当前连接数与 max_connections 参数", Threshold: "≤ 80% 正常；> 80% 警告；> 90% 严重", Run: pgConnections},
	{Category: "database", Code: "db.slow_queries", Name: "慢查询", Dialect: store.Postgres,
		Method: "查询 pg_stat_statements 中平均耗时超过 1 秒的语句", Threshold: "0 条正常；1–9 条警告；≥ 10 条严重", Run: pgSlowQueries},
	{Category: "database", Code: "db.size", Name: "数据库大小与增长",
		Method: "PostgreSQL：pg_database_size；SQLite：数据库文件与 WAL 文件大小；与上次巡检比较", Threshold: "较上次增长 ≤ 20% 正常；> 20% 警告；> 50% 严重（小于 64 MB 不评增长）", Run: dbSize},
	{Category: "database", Code: "db.long_transactions", Name: "长事务", Dialect: store.Postgres,
		Method: "查询 pg_stat_activity 中已持续 5 分钟以上的非空闲事务", Threshold: "0 个正常；有则警告；超过 30 分钟严重", Run: pgLongTx},
	{Category: "database", Code: "db.locks", Name: "锁等待", Dialect: store.Postgres,
		Method: "查询 pg_locks 中未获授予的锁", Threshold: "0 个正常；1–9 个警告；≥ 10 个严重", Run: pgLocks},
	// Database: SQLite equivalents.
	{Category: "database", Code: "db.connections", Name: "数据库连接池", Dialect: store.SQLite,
		Method: "读取连接池统计（SQLite：一个写连接，一组只读连接）", Threshold: "写连接平均等待 ≤ 50 ms 正常；> 50 ms 警告；> 500 ms 严重", Run: sqlitePool},
	{Category: "database", Code: "db.slow_queries", Name: "慢查询", Dialect: store.SQLite,
		Method: "SQLite 不提供慢查询统计", Threshold: "—", Run: func(context.Context, *env) result {
			return na("内置 SQLite 无慢查询统计；请参考“平台运行”中的 P95 响应时间")
		}},
	{Category: "database", Code: "db.wal", Name: "WAL 日志大小", Dialect: store.SQLite,
		Method: "读取 WAL 文件大小（长时间的读事务会阻止检查点，使 WAL 持续增长）", Threshold: "≤ 64 MB 正常；> 64 MB 警告；> 512 MB 严重", Run: sqliteWAL},
	{Category: "database", Code: "db.integrity", Name: "数据库完整性", Dialect: store.SQLite,
		Method: "执行 PRAGMA integrity_check", Threshold: "结果为 ok", Run: sqliteIntegrity},

	{Category: "app", Code: "app.error_rate", Name: "接口错误率",
		Method: "读取本实例指标 zhsj_http_requests_total，计算自上次巡检以来（本进程的首次巡检：自进程启动以来）5xx 占全部请求的比例", Threshold: "≤ 1% 正常；> 1% 警告；> 5% 严重", Run: errorRate},
	{Category: "app", Code: "app.latency_p95", Name: "P95 响应时间",
		Method: "由本实例直方图 zhsj_http_request_duration_seconds（全部路由合并，自上次巡检以来）估算第 95 百分位", Threshold: "≤ 1 秒正常；> 1 秒警告；> 3 秒严重", Run: latencyP95},
	{Category: "app", Code: "app.job_failures", Name: "定时任务失败",
		Method: "统计巡检期间 job_runs 中失败的运行", Threshold: "0 次正常；1–4 次警告；≥ 5 次严重", Run: jobFailures},
	{Category: "app", Code: "app.event_backlog", Name: "事件队列积压",
		Method: "统计 event_deliveries 中超过 5 分钟仍未投递的事件与投递失败（死信）的事件", Threshold: "无死信且积压 ≤ 100 正常；有死信或积压 > 100 警告；积压 > 1000 严重", Run: eventBacklog},
	{Category: "app", Code: "app.alerts", Name: "未恢复的监控告警",
		Method: "统计监控模块当前处于告警状态的告警（未启用监控时不适用）", Threshold: "0 个正常；一般/较大告警警告；重大及以上严重", Run: firingAlerts},

	{Category: "config", Code: "cfg.tls", Name: "TLS 证书有效期",
		Method: "读取 ZHSJ_TLS_CERT 证书的到期时间", Threshold: "剩余 ≥ 30 天正常；< 30 天警告；< 7 天或已过期严重", Run: tlsExpiry},
	{Category: "config", Code: "cfg.debug", Name: "调试模式",
		Method: "检查日志级别 ZHSJ_LOG_LEVEL", Threshold: "生产环境不应为 debug", Run: debugOff},
	{Category: "config", Code: "cfg.password_policy", Name: "口令与登录策略",
		Method: "对照等保三级基线检查口令长度、复杂度、有效期、登录失败锁定与休眠账号策略", Threshold: "长度 ≥ 8（管理员 ≥ 12）、≥ 3 类字符、有效期 ≤ 90 天、失败 ≤ 5 次锁定 ≥ 10 分钟", Run: policyBaseline},
	{Category: "config", Code: "cfg.admins", Name: "管理员账号数",
		Method: "统计启用状态下持有三员（系统、安全、审计管理员）角色的账号", Threshold: "三员各 1–3 个", Run: adminCount},

	{Category: "security", Code: "sec.weak_password", Name: "弱口令账号",
		Method: "统计启用账号中口令被标记为弱口令的账号", Threshold: "0 个", Run: weakPasswords},
	{Category: "security", Code: "sec.expired_password", Name: "口令过期账号",
		Method: "统计启用账号中口令超过有效期未修改的账号", Threshold: "0 个", Run: expiredPasswords},
	{Category: "security", Code: "sec.dormant", Name: "长期未登录账号",
		Method: "统计启用账号中超过休眠期未登录的账号", Threshold: "0 个", Run: dormantAccounts},
	{Category: "security", Code: "sec.access_review", Name: "权限复核",
		Method: "检查最近一次权限复核的时间与未完成的复核", Threshold: "每季度复核一次；复核开启后 30 天内完成", Run: accessReview},
	{Category: "security", Code: "sec.audit_chain", Name: "审计日志完整性",
		Method: "按 HMAC-SM3 链逐条校验审计日志", Threshold: "链完整", Run: auditChain},

	{Category: "logs", Code: "log.login_failures", Name: "登录失败突增",
		Method: "按小时统计巡检期间登录失败、拒绝与锁定的次数", Threshold: "每小时 ≤ 20 次正常；> 20 次警告；> 100 次严重", Run: loginBursts},
	{Category: "logs", Code: "log.operation_failures", Name: "越权与操作失败突增",
		Method: "按小时统计巡检期间被拒绝（越权）与失败的操作", Threshold: "每小时 ≤ 50 次正常；> 50 次警告；> 200 次严重", Run: operationBursts},

	{Category: "backup", Code: "bk.latest", Name: "最近一次备份",
		Method: "检查最近一次备份是否成功及其距今时间", Threshold: "成功且距今 ≤ 26 小时正常；> 26 小时或最近一次失败警告；> 72 小时或无备份严重", Run: latestBackup},
	{Category: "backup", Code: "bk.restore_test", Name: "备份有效性验证（恢复演练）",
		Method: "将最近一次成功的备份恢复到临时数据库，核对结构版本、各表行数与内容校验值、审计链", Threshold: "全部一致", Run: restoreTest},
}

// ---- database ----

func pgConnections(ctx context.Context, e *env) result {
	var used, max int64
	if err := e.db.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM pg_stat_activity), current_setting('max_connections')::bigint`).Scan(&used, &max); err != nil {
		return failed(err)
	}
	pct := float64(used) * 100 / float64(max)
	m := fmt.Sprintf("%d / %d（%.0f%%）", used, max, pct)
	switch {
	case pct > 90:
		return crit(m, "排查连接泄漏，调整连接池或 max_connections").with(pct)
	case pct > 80:
		return warn(m, RiskMedium, "关注连接增长，必要时调整连接池或 max_connections").with(pct)
	}
	return ok(m).with(pct)
}

func pgSlowQueries(ctx context.Context, e *env) result {
	var ext int
	if err := e.db.Get(ctx, &ext, `SELECT COUNT(*) FROM pg_extension WHERE extname = 'pg_stat_statements'`); err != nil {
		return failed(err)
	}
	if ext == 0 {
		r := na("未安装 pg_stat_statements 扩展，无法统计慢查询")
		r.Advice = "在 shared_preload_libraries 中加入 pg_stat_statements 并执行 CREATE EXTENSION pg_stat_statements"
		return r
	}
	var n int64
	var worst float64
	if err := e.db.QueryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(mean_exec_time), 0) FROM pg_stat_statements WHERE mean_exec_time > 1000`).Scan(&n, &worst); err != nil {
		return failed(fmt.Errorf("读取 pg_stat_statements 失败（扩展可能未预加载）：%w", err))
	}
	m := fmt.Sprintf("平均耗时超过 1 秒的语句 %d 条，最慢平均 %.0f 毫秒", n, worst)
	switch {
	case n >= 10:
		return crit(m, "优化慢语句（索引、改写），复核统计信息").with(float64(n))
	case n > 0:
		return warn(m, RiskLow, "分析慢语句的执行计划").with(float64(n))
	}
	return ok(m).with(0)
}

func dbSize(ctx context.Context, e *env) result {
	var size int64
	desc := ""
	if e.db.Dialect() == store.Postgres {
		if err := e.db.Get(ctx, &size, `SELECT pg_database_size(current_database())`); err != nil {
			return failed(err)
		}
		desc = "数据库 " + humanBytes(size)
	} else {
		st, err := os.Stat(e.db.Path())
		if err != nil {
			return failed(err)
		}
		var wal int64
		if w, err := os.Stat(e.db.Path() + "-wal"); err == nil {
			wal = w.Size()
		}
		size = st.Size() + wal
		desc = fmt.Sprintf("数据库文件 %s，WAL %s", humanBytes(st.Size()), humanBytes(wal))
	}
	r := ok(desc)
	if p, has := e.prev["db.size"]; has && p.Value != nil && *p.Value > 0 {
		growth := (float64(size) - *p.Value) * 100 / *p.Value
		r.Measured += fmt.Sprintf("；较上次巡检 %+.1f%%", growth)
		if *p.Value >= 64<<20 {
			switch {
			case growth > 50:
				r = crit(r.Measured, "核实数据增长原因（导入、日志、监控样本），评估磁盘容量与清理策略")
			case growth > 20:
				r = warn(r.Measured, RiskLow, "关注数据增长趋势与磁盘余量")
			}
		}
	} else {
		r.Measured += "；首次记录，下次巡检起比较增长"
	}
	return r.with(float64(size))
}

func pgLongTx(ctx context.Context, e *env) result {
	var n int64
	var longest float64
	if err := e.db.QueryRow(ctx, `SELECT COUNT(*), COALESCE(EXTRACT(EPOCH FROM MAX(now() - xact_start)), 0)::float8 FROM pg_stat_activity
		WHERE xact_start IS NOT NULL AND state <> 'idle' AND pid <> pg_backend_pid() AND now() - xact_start > interval '5 minutes'`).Scan(&n, &longest); err != nil {
		return failed(err)
	}
	m := fmt.Sprintf("持续 5 分钟以上的事务 %d 个，最长 %.0f 分钟", n, longest/60)
	switch {
	case longest > 1800:
		return crit(m, "查明并结束长事务（pg_terminate_backend），检查应用是否遗漏提交").with(float64(n))
	case n > 0:
		return warn(m, RiskMedium, "查明长事务来源").with(float64(n))
	}
	return ok(m).with(0)
}

func pgLocks(ctx context.Context, e *env) result {
	var n int64
	if err := e.db.Get(ctx, &n, `SELECT COUNT(*) FROM pg_locks WHERE NOT granted`); err != nil {
		return failed(err)
	}
	m := fmt.Sprintf("等待中的锁 %d 个", n)
	switch {
	case n >= 10:
		return crit(m, "查明阻塞源（pg_blocking_pids）并处置").with(float64(n))
	case n > 0:
		return warn(m, RiskLow, "关注锁等待，必要时查明阻塞源").with(float64(n))
	}
	return ok(m).with(0)
}

func sqlitePool(ctx context.Context, e *env) result {
	w, r := e.db.Writer().Stats(), e.db.Reader().Stats()
	avg := time.Duration(0)
	if w.WaitCount > 0 {
		avg = w.WaitDuration / time.Duration(w.WaitCount)
	}
	m := fmt.Sprintf("写连接 %d/%d，读连接 %d/%d（使用中 %d）；写连接累计等待 %d 次，平均 %d 毫秒",
		w.OpenConnections, w.MaxOpenConnections, r.OpenConnections, r.MaxOpenConnections, r.InUse, w.WaitCount, avg.Milliseconds())
	ms := float64(avg.Milliseconds())
	switch {
	case avg > 500*time.Millisecond:
		return crit(m, "写入争用严重：考虑迁移到 PostgreSQL 或削减批量写入").with(ms)
	case avg > 50*time.Millisecond:
		return warn(m, RiskLow, "关注写入争用").with(ms)
	}
	return ok(m).with(ms)
}

func sqliteWAL(ctx context.Context, e *env) result {
	var size int64
	if st, err := os.Stat(e.db.Path() + "-wal"); err == nil {
		size = st.Size()
	}
	m := "WAL " + humanBytes(size)
	switch {
	case size > 512<<20:
		return crit(m, "查明长时间的读事务，执行 PRAGMA wal_checkpoint(TRUNCATE)").with(float64(size))
	case size > 64<<20:
		return warn(m, RiskLow, "关注检查点是否被长读事务阻塞").with(float64(size))
	}
	return ok(m).with(float64(size))
}

func sqliteIntegrity(ctx context.Context, e *env) result {
	var msgs []string
	if err := e.db.Select(ctx, &msgs, `PRAGMA integrity_check`); err != nil {
		return failed(err)
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return ok("ok")
	}
	return crit(strings.Join(msgs[:min(len(msgs), 3)], "；"), "立即从最近一次通过恢复验证的备份恢复，并排查存储故障")
}

// ---- platform ----

func gather(e *env) ([]*dto.MetricFamily, error) {
	if e.read != nil {
		return e.read, nil
	}
	if e.src.Metrics == nil || e.src.Metrics() == nil {
		return nil, errors.New("未接入指标")
	}
	mfs, err := e.src.Metrics().Gather()
	if err == nil {
		e.read = mfs
	}
	return mfs, err
}

func family(mfs []*dto.MetricFamily, name string) *dto.MetricFamily {
	for _, f := range mfs {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

func errorRate(ctx context.Context, e *env) result {
	if _, err := gather(e); err != nil {
		return na("本实例未接入指标")
	}
	var total, errs float64
	routes := map[string]float64{}
	f, window := windowed(e, "zhsj_http_requests_total")
	if f != nil {
		for _, m := range f.Metric {
			v := m.GetCounter().GetValue()
			total += v
			var code, route string
			for _, l := range m.Label {
				switch l.GetName() {
				case "code":
					code = l.GetValue()
				case "route":
					route = l.GetValue()
				}
			}
			if strings.HasPrefix(code, "5") {
				errs += v
				routes[route] += v
			}
		}
	}
	if total == 0 {
		return ok(window + "尚无请求").with(0)
	}
	pct := errs * 100 / total
	m := fmt.Sprintf("%s请求 %.0f 次，5xx %.0f 次（%.2f%%）", window, total, errs, pct)
	if len(routes) > 0 {
		type rc struct {
			r string
			n float64
		}
		var list []rc
		for r, n := range routes {
			list = append(list, rc{r, n})
		}
		sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n || list[i].n == list[j].n && list[i].r < list[j].r })
		var top []string
		for _, x := range list[:min(3, len(list))] {
			top = append(top, fmt.Sprintf("%s %.0f 次", x.r, x.n))
		}
		m += "；最多：" + strings.Join(top, "，")
	}
	switch {
	case pct > 5:
		return crit(m, "按请求编号查日志定位 5xx 原因").with(pct)
	case pct > 1:
		return warn(m, RiskMedium, "按请求编号查日志定位 5xx 原因").with(pct)
	}
	return ok(m).with(pct)
}

// histogramQuantile estimates quantile q over every series of a histogram family by linear
// interpolation inside the bucket holding it (as Prometheus's histogram_quantile does).
func histogramQuantile(f *dto.MetricFamily, q float64) (value float64, count uint64) {
	buckets := map[float64]uint64{}
	for _, m := range f.Metric {
		h := m.GetHistogram()
		count += h.GetSampleCount()
		for _, b := range h.Bucket {
			buckets[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	if count == 0 {
		return 0, 0
	}
	bounds := make([]float64, 0, len(buckets))
	for b := range buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	rank := q * float64(count)
	prevBound, prevCum := 0.0, 0.0
	for _, b := range bounds {
		cum := float64(buckets[b])
		if cum >= rank {
			if cum == prevCum {
				return b, count
			}
			return prevBound + (b-prevBound)*(rank-prevCum)/(cum-prevCum), count
		}
		prevBound, prevCum = b, cum
	}
	return math.Inf(1), count // beyond the last finite bucket
}

func latencyP95(ctx context.Context, e *env) result {
	if _, err := gather(e); err != nil {
		return na("本实例未接入指标")
	}
	f, window := windowed(e, "zhsj_http_request_duration_seconds")
	if f == nil {
		return ok(window + "尚无请求").with(0)
	}
	p95, n := histogramQuantile(f, 0.95)
	if n == 0 {
		return ok(window + "尚无请求").with(0)
	}
	m := fmt.Sprintf("%s %d 次请求的 P95 约 %.0f 毫秒", window, n, p95*1000)
	if math.IsInf(p95, 1) {
		m = fmt.Sprintf("%s %d 次请求的 P95 超过最大统计区间", window, n)
		p95 = 1e6
	}
	switch {
	case p95 > 3:
		return crit(m, "定位慢接口（按路由查看直方图），优化查询或扩容").with(p95)
	case p95 > 1:
		return warn(m, RiskMedium, "定位慢接口（按路由查看直方图）").with(p95)
	}
	return ok(m).with(p95)
}

func jobFailures(ctx context.Context, e *env) result {
	var rows []struct {
		Job string `db:"job"`
		N   int64  `db:"n"`
	}
	if err := e.db.Select(ctx, &rows, `SELECT job, COUNT(*) AS n FROM job_runs WHERE status = 'failed' AND started_at >= ? AND started_at < ? GROUP BY job ORDER BY n DESC, job`,
		e.from, e.to); err != nil {
		return failed(err)
	}
	var total int64
	var parts []string
	for _, r := range rows {
		total += r.N
		parts = append(parts, fmt.Sprintf("%s %d 次", r.Job, r.N))
	}
	if total == 0 {
		return ok("巡检期间无失败的任务运行").with(0)
	}
	m := fmt.Sprintf("失败 %d 次：%s", total, strings.Join(parts[:min(5, len(parts))], "，"))
	if total >= 5 {
		return crit(m, "在“定时任务”中查看失败原因并处理").with(float64(total))
	}
	return warn(m, RiskMedium, "在“定时任务”中查看失败原因并处理").with(float64(total))
}

func eventBacklog(ctx context.Context, e *env) result {
	var pending, dead int64
	if err := e.db.QueryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM event_deliveries WHERE status = 'pending' AND next_attempt_at < ?),
		(SELECT COUNT(*) FROM event_deliveries WHERE status = 'dead')`, e.now.Add(-5*time.Minute)).Scan(&pending, &dead); err != nil {
		return failed(err)
	}
	m := fmt.Sprintf("超过 5 分钟未投递 %d 条，死信 %d 条", pending, dead)
	switch {
	case pending > 1000:
		return crit(m, "检查订阅者是否停止运行，处理死信后重新投递").with(float64(pending))
	case pending > 100 || dead > 0:
		return warn(m, RiskMedium, "查看死信原因，修复后重新投递").with(float64(pending))
	}
	return ok(m).with(float64(pending))
}

func firingAlerts(ctx context.Context, e *env) result {
	if !tableExists(ctx, e.db, "monitor_alerts") {
		return na("监控模块未启用")
	}
	var rows []struct {
		Severity string `db:"severity"`
		N        int64  `db:"n"`
	}
	if err := e.db.Select(ctx, &rows, `SELECT severity, COUNT(*) AS n FROM monitor_alerts WHERE state = 'firing' GROUP BY severity ORDER BY severity`); err != nil {
		return failed(err)
	}
	labels := map[string]string{"general": "一般", "serious": "较大", "major": "重大", "critical": "特别重大"}
	var total int64
	var parts []string
	grave := false
	for _, r := range rows {
		total += r.N
		parts = append(parts, fmt.Sprintf("%s %d 个", firstNonEmpty(labels[r.Severity], r.Severity), r.N))
		grave = grave || r.Severity == "major" || r.Severity == "critical"
	}
	if total == 0 {
		return ok("无告警中的告警").with(0)
	}
	m := "告警中 " + strings.Join(parts, "，")
	if grave {
		return crit(m, "按告警处置流程处理重大告警").with(float64(total))
	}
	return warn(m, RiskLow, "处理或确认告警").with(float64(total))
}

// ---- configuration ----

func tlsExpiry(ctx context.Context, e *env) result {
	if e.src.TLSCert == "" {
		return warn("本程序未启用 HTTPS（若由负载均衡终止 TLS，请在负载均衡上核查证书有效期）", RiskLow, "在负载均衡或本程序（ZHSJ_TLS_CERT）上启用 HTTPS 并纳入证书到期监控")
	}
	b, err := os.ReadFile(e.src.TLSCert)
	if err != nil {
		return failed(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return failed(errors.New("证书文件不是 PEM 格式"))
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return failed(err)
	}
	days := cert.NotAfter.Sub(e.now).Hours() / 24
	m := fmt.Sprintf("证书 %s 于 %s 到期，剩余 %.0f 天", cert.Subject.CommonName, cert.NotAfter.In(shanghai).Format("2006-01-02"), math.Floor(days))
	switch {
	case days < 0:
		return crit(fmt.Sprintf("证书 %s 已于 %s 过期", cert.Subject.CommonName, cert.NotAfter.In(shanghai).Format("2006-01-02")), "立即更换证书").with(days)
	case days < 7:
		return crit(m, "立即更换证书").with(days)
	case days < 30:
		return warn(m, RiskMedium, "安排更换证书").with(days)
	}
	return ok(m).with(days)
}

func debugOff(ctx context.Context, e *env) result {
	if strings.EqualFold(e.src.LogLevel, "debug") {
		return warn("日志级别为 debug", RiskLow, "生产环境设置 ZHSJ_LOG_LEVEL=info，避免日志泄露细节并影响性能")
	}
	return ok("日志级别为 " + firstNonEmpty(e.src.LogLevel, "info"))
}

func policyBaseline(ctx context.Context, e *env) result {
	if e.src.Policy == nil {
		return na("未接入口令策略")
	}
	p := e.src.Policy()
	var gaps []string
	if p.MinLength < 8 {
		gaps = append(gaps, fmt.Sprintf("口令最短 %d 位（应 ≥ 8）", p.MinLength))
	}
	if p.AdminMinLength < 12 {
		gaps = append(gaps, fmt.Sprintf("管理员口令最短 %d 位（应 ≥ 12）", p.AdminMinLength))
	}
	if p.MinClasses < 3 {
		gaps = append(gaps, fmt.Sprintf("字符类别 %d 类（应 ≥ 3）", p.MinClasses))
	}
	if p.MaxAge <= 0 || p.MaxAge > 90*24*time.Hour {
		gaps = append(gaps, "口令有效期超过 90 天或不过期")
	}
	if p.MaxFailures <= 0 || p.MaxFailures > 5 {
		gaps = append(gaps, fmt.Sprintf("登录失败 %d 次才锁定（应 ≤ 5）", p.MaxFailures))
	}
	if p.LockFor < 10*time.Minute {
		gaps = append(gaps, "锁定时间少于 10 分钟")
	}
	m := fmt.Sprintf("最短 %d 位（管理员 %d 位），%d 类字符，有效期 %d 天，失败 %d 次锁定 %d 分钟，休眠 %d 天",
		p.MinLength, p.AdminMinLength, p.MinClasses, int(p.MaxAge.Hours()/24), p.MaxFailures, int(p.LockFor.Minutes()), int(p.DormantAfter.Hours()/24))
	if len(gaps) > 0 {
		return warn(m+"；不符合："+strings.Join(gaps, "，"), RiskMedium, "按等保三级基线调整口令与登录策略").with(float64(len(gaps)))
	}
	return ok(m).with(0)
}

func adminCount(ctx context.Context, e *env) result {
	var rows []struct {
		Kind string `db:"admin_kind"`
		N    int64  `db:"n"`
	}
	if err := e.db.Select(ctx, &rows, `SELECT r.admin_kind, COUNT(DISTINCT u.id) AS n FROM users u
		JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id
		WHERE u.status = 'active' AND r.admin_kind <> '' GROUP BY r.admin_kind`); err != nil {
		return failed(err)
	}
	counts := map[string]int64{}
	for _, r := range rows {
		counts[r.Kind] = r.N
	}
	names := []struct{ kind, label string }{{iam.AdminSystem, "系统管理员"}, {iam.AdminSecurity, "安全管理员"}, {iam.AdminAudit, "审计管理员"}}
	var parts, missing, many []string
	var total int64
	for _, n := range names {
		c := counts[n.kind]
		total += c
		parts = append(parts, fmt.Sprintf("%s %d 个", n.label, c))
		if c == 0 {
			missing = append(missing, n.label)
		} else if c > 3 {
			many = append(many, n.label)
		}
	}
	m := strings.Join(parts, "，")
	switch {
	case len(missing) > 0:
		return warn(m+"；缺少 "+strings.Join(missing, "、"), RiskMedium, "按三员分立配置缺少的管理员账号").with(float64(total))
	case len(many) > 0:
		return warn(m+"；过多："+strings.Join(many, "、"), RiskLow, "清理多余的管理员账号，遵循最小授权").with(float64(total))
	}
	return ok(m).with(float64(total))
}

// ---- security ----

type account struct {
	ID                int64      `db:"id"`
	Account           string     `db:"account"`
	Weak              bool       `db:"weak_password"`
	PasswordChangedAt *time.Time `db:"password_changed_at"`
	PasswordMaxDays   int        `db:"password_max_days"`
	LastLoginAt       *time.Time `db:"last_login_at"`
	CreatedAt         time.Time  `db:"created_at"`
}

func activeAccounts(ctx context.Context, e *env) ([]account, error) {
	var out []account
	err := e.db.Select(ctx, &out, `SELECT id, account, weak_password, password_changed_at, password_max_days, last_login_at, created_at
		FROM users WHERE status = 'active' ORDER BY account`)
	return out, err
}

func listAccounts(names []string) string {
	s := strings.Join(names[:min(5, len(names))], "、")
	if len(names) > 5 {
		s += fmt.Sprintf(" 等 %d 个", len(names))
	}
	return s
}

func weakPasswords(ctx context.Context, e *env) result {
	us, err := activeAccounts(ctx, e)
	if err != nil {
		return failed(err)
	}
	var names []string
	for _, u := range us {
		if u.Weak {
			names = append(names, u.Account)
		}
	}
	if len(names) == 0 {
		return ok(fmt.Sprintf("启用账号 %d 个，无弱口令", len(us))).with(0)
	}
	return crit(fmt.Sprintf("弱口令账号 %d 个：%s", len(names), listAccounts(names)), "通知账号所有人立即修改口令，必要时重置并强制修改").with(float64(len(names)))
}

func expiredPasswords(ctx context.Context, e *env) result {
	if e.src.Policy == nil {
		return na("未接入口令策略")
	}
	p := e.src.Policy()
	us, err := activeAccounts(ctx, e)
	if err != nil {
		return failed(err)
	}
	var names []string
	for _, u := range us {
		maxAge := p.MaxAge
		if u.PasswordMaxDays > 0 && time.Duration(u.PasswordMaxDays)*24*time.Hour < maxAge {
			maxAge = time.Duration(u.PasswordMaxDays) * 24 * time.Hour
		}
		changed := u.CreatedAt
		if u.PasswordChangedAt != nil {
			changed = *u.PasswordChangedAt
		}
		if maxAge > 0 && changed.Add(maxAge).Before(e.now) {
			names = append(names, u.Account)
		}
	}
	if len(names) == 0 {
		return ok("无口令过期账号").with(0)
	}
	return warn(fmt.Sprintf("口令过期账号 %d 个：%s", len(names), listAccounts(names)), RiskMedium, "督促修改口令；长期不用的账号应停用").with(float64(len(names)))
}

func dormantAccounts(ctx context.Context, e *env) result {
	if e.src.Policy == nil {
		return na("未接入口令策略")
	}
	after := e.src.Policy().DormantAfter
	if after <= 0 {
		after = 90 * 24 * time.Hour
	}
	us, err := activeAccounts(ctx, e)
	if err != nil {
		return failed(err)
	}
	var names []string
	for _, u := range us {
		last := u.CreatedAt
		if u.LastLoginAt != nil {
			last = *u.LastLoginAt
		}
		if last.Add(after).Before(e.now) {
			names = append(names, u.Account)
		}
	}
	days := int(after.Hours() / 24)
	if len(names) == 0 {
		return ok(fmt.Sprintf("无超过 %d 天未登录的启用账号", days)).with(0)
	}
	return warn(fmt.Sprintf("超过 %d 天未登录 %d 个：%s", days, len(names), listAccounts(names)), RiskLow, "核实后停用休眠账号").with(float64(len(names)))
}

func accessReview(ctx context.Context, e *env) result {
	if !tableExists(ctx, e.db, "access_reviews") {
		return na("权限复核功能未启用")
	}
	var last sql.NullTime
	var openOld int64
	if err := e.db.QueryRow(ctx, `SELECT (SELECT MAX(created_at) FROM access_reviews),
		(SELECT COUNT(*) FROM access_reviews WHERE status = 'open' AND created_at < ?)`, e.now.AddDate(0, 0, -30)).Scan(&last, &openOld); err != nil {
		return failed(err)
	}
	if !last.Valid {
		return warn("尚未开展过权限复核", RiskMedium, "由安全管理员发起权限复核，逐项确认或收回")
	}
	days := int(e.now.Sub(last.Time).Hours() / 24)
	m := fmt.Sprintf("最近一次复核开启于 %s（%d 天前）", last.Time.In(shanghai).Format("2006-01-02"), days)
	switch {
	case openOld > 0:
		return warn(fmt.Sprintf("%s；%d 个复核超过 30 天未完成", m, openOld), RiskMedium, "督促完成权限复核").with(float64(days))
	case days > 100:
		return warn(m+"；已超过一个季度", RiskMedium, "发起本季度权限复核").with(float64(days))
	}
	return ok(m).with(float64(days))
}

func auditChain(ctx context.Context, e *env) result {
	if e.src.Audit == nil {
		return na("未接入审计日志")
	}
	rep, err := e.src.Audit.Verify(ctx)
	if err != nil {
		return failed(err)
	}
	if !rep.OK {
		return crit(fmt.Sprintf("第 %d 条 —— %s", rep.FirstBadID, rep.Reason), "立即上报安全管理员与审计管理员，保全现场，排查篡改来源").with(float64(rep.FirstBadID))
	}
	return ok(fmt.Sprintf("已校验 %d 条记录，链完整", rep.Checked)).with(float64(rep.Checked))
}

// ---- logs ----

// hourlyBurst counts audit records matching cond in the period, and the most in one hour.
func hourlyBurst(ctx context.Context, e *env, cond string) (total, peak int64, peakAt time.Time, err error) {
	var ats []time.Time
	if err = e.db.Select(ctx, &ats, `SELECT at FROM audit_log WHERE at >= ? AND at < ? AND `+cond+` ORDER BY at`, e.from, e.to); err != nil {
		return
	}
	hours := map[time.Time]int64{}
	for _, t := range ats {
		h := t.Truncate(time.Hour)
		hours[h]++
		if hours[h] > peak || hours[h] == peak && h.Before(peakAt) {
			peak, peakAt = hours[h], h
		}
	}
	return int64(len(ats)), peak, peakAt, nil
}

func burstResult(total, peak int64, at time.Time, warnAt, critAt int64, what, advice string) result {
	if total == 0 {
		return ok("巡检期间无" + what).with(0)
	}
	m := fmt.Sprintf("巡检期间%s %d 次，峰值 %d 次/小时（%s 时）", what, total, peak, at.In(shanghai).Format("01-02 15"))
	switch {
	case peak > critAt:
		return crit(m, advice).with(float64(peak))
	case peak > warnAt:
		return warn(m, RiskMedium, advice).with(float64(peak))
	}
	return ok(m).with(float64(peak))
}

func loginBursts(ctx context.Context, e *env) result {
	total, peak, at, err := hourlyBurst(ctx, e, `kind = 'login' AND result IN ('failure', 'denied', 'locked')`)
	if err != nil {
		return failed(err)
	}
	return burstResult(total, peak, at, 20, 100, "登录失败/拒绝/锁定", "在登录日志中查看来源 IP，疑似暴力破解时封禁来源")
}

func operationBursts(ctx context.Context, e *env) result {
	total, peak, at, err := hourlyBurst(ctx, e, `kind = 'operation' AND result IN ('failure', 'denied')`)
	if err != nil {
		return failed(err)
	}
	return burstResult(total, peak, at, 50, 200, "越权或失败的操作", "在操作日志中查看账号与操作，排查越权尝试或程序故障")
}

// ---- backups ----

func latestBackup(ctx context.Context, e *env) result {
	if e.src.Backups == nil {
		return na("未接入备份模块")
	}
	good, last, err := e.src.Backups.Latest(ctx)
	if err != nil {
		return failed(err)
	}
	if good == nil {
		m := "没有可用的成功备份"
		if last != nil {
			m += "；最近一次（" + last.CreatedAt.In(shanghai).Format("2006-01-02 15:04") + "）失败：" + last.Error
		}
		return crit(m, "立即执行备份并排查失败原因")
	}
	hours := e.now.Sub(good.CreatedAt).Hours()
	m := fmt.Sprintf("最近成功备份 %s（%.0f 小时前，%d 张表 %d 行）", good.Name, hours, good.Tables, good.Rows)
	if last != nil && !last.OK && last.CreatedAt.After(good.CreatedAt) {
		m += "；此后最近一次备份失败：" + last.Error
		if hours <= 72 {
			return warn(m, RiskMedium, "排查备份失败原因").with(hours)
		}
	}
	switch {
	case hours > 72:
		return crit(m, "检查定时备份任务与备份目录空间").with(hours)
	case hours > 26:
		return warn(m, RiskMedium, "检查定时备份任务是否按时运行").with(hours)
	}
	return ok(m).with(hours)
}

func restoreTest(ctx context.Context, e *env) result {
	if e.src.Backups == nil {
		return na("未接入备份模块")
	}
	passed, summary, err := e.src.Backups.TestRestore(ctx)
	if err != nil {
		return crit("无法完成恢复演练："+err.Error(), "确认存在成功的备份，并排查恢复演练失败的原因")
	}
	if !passed {
		return crit(summary, "备份不可用于恢复：立即重新备份并排查原因")
	}
	return ok(summary)
}

// ---- helpers ----

func tableExists(ctx context.Context, db *store.DB, name string) bool {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if db.Dialect() == store.Postgres {
		q = `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?`
	}
	var n int
	return db.Get(ctx, &n, q, name) == nil && n > 0
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
