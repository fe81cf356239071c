// Package inspect runs inspections (巡检) of the platform: plans on a daily, weekly or monthly
// schedule or on demand; items over the database, the platform's own metrics, configuration,
// security, logs and backups, each with method, threshold, measured value, conclusion and risk
// level; a health score compared with the previous inspection; findings (隐患) with owner and
// deadline announced through events; and the standard report as XLSX, printable HTML and PDF,
// archived per version.
package inspect

import (
	"strconv"
	"strings"
	"time"

	"zhsj/internal/store"
)

// Permissions of the module.
const (
	PermPlanRead     = "inspect.plan.read"
	PermPlanWrite    = "inspect.plan.write"
	PermRunExecute   = "inspect.run.execute"
	PermReportRead   = "inspect.report.read"
	PermReportReview = "inspect.report.review"
	PermFindingRead  = "inspect.finding.read"
	PermFindingWrite = "inspect.finding.write"
)

// EventFindingOpened is published when an inspection opens a finding.
const EventFindingOpened = "inspect.finding.opened"

// Cycles of a plan.
const (
	CycleDaily   = "daily"
	CycleWeekly  = "weekly"
	CycleMonthly = "monthly"
	CycleAdhoc   = "adhoc"
)

// CycleLabels are the Chinese names of the cycles.
var CycleLabels = map[string]string{CycleDaily: "日巡检", CycleWeekly: "周巡检", CycleMonthly: "月巡检", CycleAdhoc: "专项（按需）"}

// Conclusions of an item.
const (
	Normal   = "normal"
	Warning  = "warning"
	Critical = "critical"
	Failed   = "failed"
	NA       = "na"
)

// ConclusionLabels are the Chinese names of the conclusions.
var ConclusionLabels = map[string]string{Normal: "正常", Warning: "警告", Critical: "严重", Failed: "检查失败", NA: "不适用"}

// Risk levels.
const (
	RiskNone   = "none"
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

// RiskLabels are the Chinese names of the risk levels.
var RiskLabels = map[string]string{RiskNone: "无", RiskLow: "低", RiskMedium: "中", RiskHigh: "高"}

// riskPoints is what an item of each risk takes off the health score.
var riskPoints = map[string]int{RiskLow: 3, RiskMedium: 8, RiskHigh: 15}

// deadlineDays is how long a finding of each risk may stay open.
var deadlineDays = map[string]int{RiskHigh: 3, RiskMedium: 7, RiskLow: 15, RiskNone: 15}

// Categories of items, in report order.
var Categories = []string{"database", "app", "config", "security", "logs", "backup"}

// CategoryLabels are the Chinese names of the categories.
var CategoryLabels = map[string]string{
	"database": "数据库", "app": "平台运行", "config": "配置检查", "security": "安全与隐患", "logs": "日志分析", "backup": "备份有效性",
}

// Finding statuses.
const (
	FindingOpen       = "open"
	FindingRectifying = "rectifying"
	FindingClosed     = "closed"
)

// FindingStatusLabels are the Chinese names of the finding statuses.
var FindingStatusLabels = map[string]string{FindingOpen: "待整改", FindingRectifying: "整改中", FindingClosed: "已整改"}

// Plan is an inspection plan.
type Plan struct {
	ID         int64     `db:"id" json:"id"`
	Name       string    `db:"name" json:"name"`
	Cycle      string    `db:"cycle" json:"cycle"`
	Categories string    `db:"categories" json:"categories"`
	SystemName string    `db:"system_name" json:"system_name"`
	Scope      string    `db:"scope" json:"scope"`
	Inspector  string    `db:"inspector" json:"inspector"`
	Reviewer   string    `db:"reviewer" json:"reviewer"`
	Owner      string    `db:"owner" json:"owner"`
	Enabled    bool      `db:"enabled" json:"enabled"`
	RegionCode string    `db:"region_code" json:"region_code"`
	CreatedBy  *int64    `db:"created_by" json:"created_by,omitempty"`
	CreatedAt  time.Time `db:"created_at" json:"created_at"`
	UpdatedAt  time.Time `db:"updated_at" json:"updated_at"`
}

// CycleLabel is the Chinese name of the cycle.
func (p Plan) CycleLabel() string { return CycleLabels[p.Cycle] }

// CategoryList returns the plan's categories (all when none is set).
func (p Plan) CategoryList() []string {
	if strings.TrimSpace(p.Categories) == "" {
		return Categories
	}
	var out []string
	for _, c := range strings.Split(p.Categories, ",") {
		if c = strings.TrimSpace(c); CategoryLabels[c] != "" {
			out = append(out, c)
		}
	}
	return out
}

// CategoryNames is the plan's categories in Chinese.
func (p Plan) CategoryNames() string {
	var out []string
	for _, c := range p.CategoryList() {
		out = append(out, CategoryLabels[c])
	}
	return strings.Join(out, "、")
}

// Run is one inspection.
type Run struct {
	ID            int64      `db:"id" json:"id"`
	PlanID        int64      `db:"plan_id" json:"plan_id"`
	PlanName      string     `db:"plan_name" json:"plan_name"`
	Cycle         string     `db:"cycle" json:"cycle"`
	TriggerKind   string     `db:"trigger_kind" json:"trigger_kind"`
	Actor         string     `db:"actor" json:"actor"`
	Status        string     `db:"status" json:"status"`
	PeriodStart   time.Time  `db:"period_start" json:"period_start"`
	PeriodEnd     time.Time  `db:"period_end" json:"period_end"`
	StartedAt     time.Time  `db:"started_at" json:"started_at"`
	FinishedAt    *time.Time `db:"finished_at" json:"finished_at,omitempty"`
	Score         int        `db:"score" json:"score"`
	PrevRunID     *int64     `db:"prev_run_id" json:"prev_run_id,omitempty"`
	PrevScore     *int       `db:"prev_score" json:"prev_score,omitempty"`
	NormalCount   int        `db:"normal_count" json:"normal_count"`
	WarningCount  int        `db:"warning_count" json:"warning_count"`
	CriticalCount int        `db:"critical_count" json:"critical_count"`
	FailedCount   int        `db:"failed_count" json:"failed_count"`
	NACount       int        `db:"na_count" json:"na_count"`
	Summary       string     `db:"summary" json:"summary"`
	Inspector     string     `db:"inspector" json:"inspector"`
	Reviewer      string     `db:"reviewer" json:"reviewer"`
	ReviewedAt    *time.Time `db:"reviewed_at" json:"reviewed_at,omitempty"`
	ReviewNote    string     `db:"review_note" json:"review_note"`
	Error         string     `db:"error" json:"error"`
	RegionCode    string     `db:"region_code" json:"region_code"`
	CreatedBy     *int64     `db:"created_by" json:"created_by,omitempty"`
}

const runCols = `id, plan_id, plan_name, cycle, trigger_kind, actor, status, period_start, period_end, started_at, finished_at, score,
	prev_run_id, prev_score, normal_count, warning_count, critical_count, failed_count, na_count, summary, inspector, reviewer,
	reviewed_at, review_note, error, region_code, created_by`

// CycleLabel is the Chinese name of the cycle.
func (r Run) CycleLabel() string { return CycleLabels[r.Cycle] }

// StatusLabel is the Chinese name of the status.
func (r Run) StatusLabel() string {
	return map[string]string{"running": "进行中", "done": "已完成", "failed": "失败"}[r.Status]
}

// ScoreDelta is the change of the score since the previous run ("" without one).
func (r Run) ScoreDelta() string {
	if r.PrevScore == nil {
		return "首次巡检"
	}
	d := r.Score - *r.PrevScore
	switch {
	case d > 0:
		return "较上期 +" + strconv.Itoa(d)
	case d < 0:
		return "较上期 " + strconv.Itoa(d)
	}
	return "与上期持平"
}

// Item is one checked item of a run.
type Item struct {
	ID             int64    `db:"id" json:"id"`
	RunID          int64    `db:"run_id" json:"run_id"`
	Seq            int      `db:"seq" json:"seq"`
	Category       string   `db:"category" json:"category"`
	Code           string   `db:"code" json:"code"`
	Name           string   `db:"name" json:"name"`
	Method         string   `db:"method" json:"method"`
	Threshold      string   `db:"threshold" json:"threshold"`
	Measured       string   `db:"measured" json:"measured"`
	Value          *float64 `db:"value" json:"value,omitempty"`
	Conclusion     string   `db:"conclusion" json:"conclusion"`
	Risk           string   `db:"risk" json:"risk"`
	Advice         string   `db:"advice" json:"advice"`
	PrevConclusion string   `db:"prev_conclusion" json:"prev_conclusion"`
}

// CategoryLabel, ConclusionLabel, RiskLabel and Trend are the Chinese texts of the item.
func (i Item) CategoryLabel() string   { return CategoryLabels[i.Category] }
func (i Item) ConclusionLabel() string { return ConclusionLabels[i.Conclusion] }
func (i Item) RiskLabel() string       { return RiskLabels[i.Risk] }

// Trend compares the conclusion with the previous inspection's.
func (i Item) Trend() string {
	switch {
	case i.PrevConclusion == "":
		return "—"
	case i.PrevConclusion == i.Conclusion:
		return "无变化"
	case rank[i.Conclusion] < rank[i.PrevConclusion]:
		return "好转（上期" + ConclusionLabels[i.PrevConclusion] + "）"
	}
	return "变差（上期" + ConclusionLabels[i.PrevConclusion] + "）"
}

// ConclusionClass is the tag class for pages.
func (i Item) ConclusionClass() string {
	return map[string]string{Normal: "ok", Warning: "warn", Critical: "bad", Failed: "bad"}[i.Conclusion]
}

var rank = map[string]int{Normal: 0, NA: 0, Warning: 1, Failed: 2, Critical: 3}

// Finding is a 隐患 found by an inspection.
type Finding struct {
	ID            int64      `db:"id" json:"id"`
	RunID         int64      `db:"run_id" json:"run_id"`
	LastRunID     int64      `db:"last_run_id" json:"last_run_id"`
	ItemID        *int64     `db:"item_id" json:"item_id,omitempty"`
	Code          string     `db:"code" json:"code"`
	Category      string     `db:"category" json:"category"`
	Title         string     `db:"title" json:"title"`
	Detail        string     `db:"detail" json:"detail"`
	Risk          string     `db:"risk" json:"risk"`
	Owner         string     `db:"owner" json:"owner"`
	Deadline      string     `db:"deadline" json:"deadline"`
	Status        string     `db:"status" json:"status"`
	Advice        string     `db:"advice" json:"advice"`
	Rectification string     `db:"rectification" json:"rectification"`
	ClosedAt      *time.Time `db:"closed_at" json:"closed_at,omitempty"`
	ClosedNote    string     `db:"closed_note" json:"closed_note"`
	ClosedRunID   *int64     `db:"closed_run_id" json:"closed_run_id,omitempty"`
	RegionCode    string     `db:"region_code" json:"region_code"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt     time.Time  `db:"updated_at" json:"updated_at"`
}

const findingCols = `id, run_id, last_run_id, item_id, code, category, title, detail, risk, owner, deadline, status, advice, rectification,
	closed_at, closed_note, closed_run_id, region_code, created_at, updated_at`

// RiskLabel, StatusLabel and CategoryLabel are the Chinese texts of the finding.
func (f Finding) RiskLabel() string     { return RiskLabels[f.Risk] }
func (f Finding) StatusLabel() string   { return FindingStatusLabels[f.Status] }
func (f Finding) CategoryLabel() string { return CategoryLabels[f.Category] }

// Overdue reports whether an unclosed finding is past its deadline.
func (f Finding) Overdue() bool {
	return f.Status != FindingClosed && f.Deadline < time.Now().In(shanghai).Format("2006-01-02")
}

var shanghai = store.China
