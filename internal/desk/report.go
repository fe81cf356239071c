package desk

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/report"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Report kinds.
const (
	ReportMonthly = "monthly" // 工作月报
	ReportAnnual  = "annual"  // 总结报告
)

// NoData is what a section says when its source is absent.
const NoData = "暂无数据"

// Count is one row of a breakdown.
type Count struct {
	Name  string `json:"name" db:"name"`
	Count int    `json:"count" db:"n"`
}

// SLARow is the compliance of one target.
type SLARow struct {
	Code     string   `json:"code"`
	Name     string   `json:"name"`
	Minutes  int      `json:"minutes"`
	Total    int      `json:"total"`
	Met      int      `json:"met"`
	Breached int      `json:"breached"`
	Open     int      `json:"open"`
	Rate     *float64 `json:"rate"` // met / (met + breached), percent; nil when nothing finished
}

// Section is a part of the report read from another module, present or not.
type Section struct {
	Available bool       `json:"available"`
	Note      string     `json:"note"`
	Columns   []string   `json:"columns,omitempty"`
	Rows      [][]string `json:"rows,omitempty"`
}

// ChangeRow is a production change (upgrade, data correction, configuration).
type ChangeRow struct {
	TicketID  int64     `json:"ticket_id" db:"id"`
	No        string    `json:"no" db:"no"`
	Title     string    `json:"title" db:"title"`
	System    string    `json:"system" db:"system"`
	Kind      string    `json:"kind" db:"change_kind"`
	Approval  string    `json:"approval" db:"approval"`
	State     string    `json:"state" db:"state"`
	CloseCode string    `json:"close_code" db:"close_code"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
}

// KindName, ApprovalName and Outcome describe the change in Chinese.
func (c ChangeRow) KindName() string { return ChangeKinds[c.Kind] }
func (c ChangeRow) ApprovalName() string {
	if c.Approval == "" {
		return "未申请"
	}
	return ApprovalStatusNames[c.Approval]
}
func (c ChangeRow) Outcome() string {
	switch {
	case c.CloseCode == "refused":
		return "局方不同意，未处理"
	case c.State == StateClosed:
		return "已完成"
	}
	return StateNames[c.State]
}

// MonthRow is one month of the annual summary.
type MonthRow struct {
	Month     string   `json:"month"`
	Created   int      `json:"created"`
	Closed    int      `json:"closed"`
	Breaches  int      `json:"breaches"`
	Changes   int      `json:"changes"`
	Trainings int      `json:"trainings"`
	SLARate   *float64 `json:"sla_rate"`
	MTTA      *float64 `json:"mtta_minutes"`
	MTTR      *float64 `json:"mttr_minutes"`
}

// TrainingSummary totals the training sessions.
type TrainingSummary struct {
	Sessions   int      `json:"sessions"`
	Planned    int      `json:"planned"`
	Attendees  int      `json:"attendees"`
	Rate       *float64 `json:"rate"`
	ByAudience []Count  `json:"by_audience"`
}

// ReportData holds every number of a work report; it is archived as JSON with the report.
type ReportData struct {
	Kind        string    `json:"kind"`
	Period      string    `json:"period"`
	Title       string    `json:"title"`
	RegionCode  string    `json:"region_code"`
	RegionName  string    `json:"region_name"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	GeneratedAt time.Time `json:"generated_at"`
	GeneratedBy string    `json:"generated_by"`

	Created  int `json:"created"`
	Closed   int `json:"closed"`
	Refused  int `json:"refused"`
	Open     int `json:"open"`
	Reopened int `json:"reopened"`

	ByCategory []Count `json:"by_category"`
	ByGrade    []Count `json:"by_grade"`
	BySystem   []Count `json:"by_system"`
	BySource   []Count `json:"by_source"`

	SLA     []SLARow `json:"sla"`
	SLARate *float64 `json:"sla_rate"`
	MTTA    *float64 `json:"mtta_minutes"`
	MTTR    *float64 `json:"mttr_minutes"`

	Breaches []Breach `json:"breaches"`

	Alerts        Section `json:"alerts"`
	Availability  Section `json:"availability"`
	Inspections   Section `json:"inspections"`
	FindingsTotal int     `json:"findings_total"`
	FindingsOpen  int     `json:"findings_open"`
	Quality       Section `json:"quality"`

	Changes   []ChangeRow     `json:"changes"`
	Trainings []Training      `json:"trainings"`
	Training  TrainingSummary `json:"training"`
	Months    []MonthRow      `json:"months,omitempty"`
}

// KindName is the Chinese name of the report kind.
func (r *ReportData) KindName() string {
	if r.Kind == ReportAnnual {
		return "总结报告"
	}
	return "工作月报"
}

// ParsePeriod returns the [from, to) range of a period: YYYY-MM for a monthly report, YYYY
// for an annual one, in Asia/Shanghai.
func ParsePeriod(kind, period string) (time.Time, time.Time, error) {
	switch kind {
	case ReportMonthly:
		t, err := time.ParseInLocation("2006-01", period, shanghai())
		if err != nil {
			return time.Time{}, time.Time{}, badRequest("bad_period", "月报的期间应为 YYYY-MM，例如 2026-03")
		}
		return t, t.AddDate(0, 1, 0), nil
	case ReportAnnual:
		t, err := time.ParseInLocation("2006", period, shanghai())
		if err != nil {
			return time.Time{}, time.Time{}, badRequest("bad_period", "总结报告的期间应为 YYYY，例如 2026")
		}
		return t, t.AddDate(1, 0, 0), nil
	}
	return time.Time{}, time.Time{}, badRequest("bad_kind", "报告类型只能是 monthly（工作月报）或 annual（总结报告）")
}

func pct(a, b int) *float64 {
	if b <= 0 {
		return nil
	}
	v := round1(float64(a) * 100 / float64(b))
	return &v
}

func minutes(ms *float64) *float64 {
	if ms == nil {
		return nil
	}
	v := round1(*ms / 60000)
	return &v
}

// Compute gathers the report's numbers for tickets within p's data scope created in
// [from, to). Sections from other modules are read only when their tables exist.
func (d *Desk) Compute(ctx context.Context, p *iam.Principal, kind, period string) (*ReportData, error) {
	from, to, err := ParsePeriod(kind, period)
	if err != nil {
		return nil, err
	}
	rd := &ReportData{Kind: kind, Period: period, RegionCode: p.Region, RegionName: p.RegionName, From: from, To: to,
		GeneratedAt: d.Now(), GeneratedBy: actor{p: p}.name()}
	if rd.RegionName == "" {
		_ = d.db.Get(ctx, &rd.RegionName, `SELECT name FROM regions WHERE code = ?`, p.Region)
	}
	if kind == ReportMonthly {
		rd.Title = fmt.Sprintf("智慧云中心（智慧市监）运维服务工作月报（%s年%s月）", period[:4], strings.TrimPrefix(period[5:], "0"))
	} else {
		rd.Title = fmt.Sprintf("智慧云中心（智慧市监）运维服务总结报告（%s年度）", period)
	}
	if p.Region != iam.ProvinceCode {
		rd.Title += "·" + rd.RegionName
	}
	scope, sargs := p.Filter(scopeCols)
	where := `t.created_at >= ? AND t.created_at < ? AND ` + scope
	args := append([]any{from, to}, sargs...)

	// One pass over the period's tickets (light columns only) gives the totals, the
	// breakdowns and the mean times; the database is read once, not once per breakdown.
	var rows []ticketFacts
	if err := d.db.Select(ctx, &rows, `SELECT t.id, t.category, t.system, t.source, t.grade, t.state, t.close_code, t.reopen_count,
		t.change_kind, t.ack_ms, t.resolve_ms, t.created_month FROM desk_tickets t WHERE `+where, args...); err != nil {
		return nil, err
	}
	agg := aggregate(rows)
	rd.Created, rd.Closed, rd.Refused, rd.Open, rd.Reopened = agg.created, agg.closed, agg.refused, agg.open, agg.reopened
	rd.MTTA, rd.MTTR = agg.mtta(), agg.mttr()
	rd.ByCategory = counts(agg.byCategory, func(k string) string { return firstNonEmpty(k, "未登记") })
	rd.BySystem = counts(agg.bySystem, func(k string) string { return firstNonEmpty(k, "未登记") })
	rd.BySource = counts(agg.bySource, func(k string) string { return firstNonEmpty(SourceNames[k], k) })
	rd.ByGrade = []Count{}
	for _, g := range []int{1, 2, 3, 4, 0} {
		if n := agg.byGrade[g]; n > 0 {
			rd.ByGrade = append(rd.ByGrade, Count{Name: GradeName(g), Count: n})
		}
	}

	if rd.SLA, rd.SLARate, err = d.slaRows(ctx, where, args); err != nil {
		return nil, err
	}
	rd.Breaches = []Breach{}
	if err := d.db.Select(ctx, &rd.Breaches, breachSelect+` WHERE c.breached_at >= ? AND c.breached_at < ? AND c.status <> 'cancelled' AND `+scope+
		` ORDER BY c.breached_at, c.id`, append([]any{from, to}, sargs...)...); err != nil {
		return nil, err
	}
	rd.Changes = []ChangeRow{}
	var changeIDs []any
	for _, r := range rows {
		if r.ChangeKind != "" {
			changeIDs = append(changeIDs, r.ID)
		}
		if r.Source == "inspection" {
			rd.FindingsTotal++
			if r.State != StateClosed {
				rd.FindingsOpen++
			}
		}
	}
	for i := 0; i < len(changeIDs); i += 500 {
		chunk := changeIDs[i:min(i+500, len(changeIDs))]
		var part []ChangeRow
		if err := d.db.Select(ctx, &part, `SELECT t.id, t.no, t.title, t.system, t.change_kind, t.approval, t.state, t.close_code, t.created_at
			FROM desk_tickets t WHERE t.id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+`)`, chunk...); err != nil {
			return nil, err
		}
		rd.Changes = append(rd.Changes, part...)
	}
	sort.Slice(rd.Changes, func(i, j int) bool { return rd.Changes[i].TicketID < rd.Changes[j].TicketID })
	if rd.Trainings, err = d.Trainings(ctx, from, to); err != nil {
		return nil, err
	}
	slices.Reverse(rd.Trainings)
	rd.Training = summarizeTrainings(rd.Trainings)

	province := p.Region == iam.ProvinceCode
	rd.Alerts = d.alertSection(ctx, from, to, province)
	rd.Availability = d.availabilitySection(ctx, from, to, province)
	rd.Inspections = d.inspectionSection(ctx, from, to, p.RegionPath)
	rd.Quality = d.qualitySection(ctx, from, to, province, kind == ReportAnnual)

	if kind == ReportAnnual {
		if rd.Months, err = d.months(ctx, rd, rows, scope, sargs); err != nil {
			return nil, err
		}
	}
	return rd, nil
}

func (d *Desk) slaRows(ctx context.Context, where string, args []any) ([]SLARow, *float64, error) {
	var rows []struct {
		Target   string `db:"target"`
		Total    int    `db:"total"`
		Met      int    `db:"met"`
		Breached int    `db:"breached"`
	}
	if err := d.db.Select(ctx, &rows, `SELECT c.target, COUNT(*) AS total,
		SUM(CASE WHEN c.status = 'stopped' AND c.breached_at IS NULL THEN 1 ELSE 0 END) AS met,
		SUM(CASE WHEN c.breached_at IS NOT NULL THEN 1 ELSE 0 END) AS breached
		FROM desk_sla_clocks c JOIN desk_tickets t ON t.id = c.ticket_id
		WHERE c.status <> 'cancelled' AND `+where+` GROUP BY c.target`, args...); err != nil {
		return nil, nil, err
	}
	targets, err := d.Targets(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := []SLARow{}
	met, done := 0, 0
	for _, g := range targets {
		row := SLARow{Code: g.Code, Name: g.Name, Minutes: g.Minutes}
		for _, r := range rows {
			if r.Target == g.Code {
				row.Total, row.Met, row.Breached = r.Total, r.Met, r.Breached
			}
		}
		row.Open = row.Total - row.Met - row.Breached
		row.Rate = pct(row.Met, row.Met+row.Breached)
		met += row.Met
		done += row.Met + row.Breached
		out = append(out, row)
	}
	return out, pct(met, done), nil
}

func summarizeTrainings(ts []Training) TrainingSummary {
	s := TrainingSummary{ByAudience: []Count{}}
	by := map[string]int{}
	for _, t := range ts {
		s.Sessions++
		s.Planned += t.Planned
		s.Attendees += t.Attendees
		by[t.Audience]++
	}
	s.Rate = pct(s.Attendees, s.Planned)
	for _, a := range []string{"operator", "admin"} {
		s.ByAudience = append(s.ByAudience, Count{Name: AudienceNames[a], Count: by[a]})
	}
	return s
}

// ticketFacts are the columns of a ticket the reports count.
type ticketFacts struct {
	ID         int64  `db:"id"`
	Category   string `db:"category"`
	System     string `db:"system"`
	Source     string `db:"source"`
	Grade      int    `db:"grade"`
	State      string `db:"state"`
	CloseCode  string `db:"close_code"`
	Reopen     int    `db:"reopen_count"`
	ChangeKind string `db:"change_kind"`
	AckMS      *int64 `db:"ack_ms"`
	ResolveMS  *int64 `db:"resolve_ms"`
	Month      string `db:"created_month"`
}

type totals struct {
	created, closed, refused, open, reopened, changes int
	ackSum, resSum                                    float64
	ackN, resN                                        int
	byCategory, bySystem, bySource                    map[string]int
	byGrade                                           map[int]int
}

func aggregate(rows []ticketFacts) *totals {
	a := &totals{byCategory: map[string]int{}, bySystem: map[string]int{}, bySource: map[string]int{}, byGrade: map[int]int{}}
	for _, r := range rows {
		a.add(r)
	}
	return a
}

func (a *totals) add(r ticketFacts) {
	a.created++
	switch {
	case r.CloseCode == "refused":
		a.refused++
	case r.State == StateClosed && r.CloseCode == "resolved":
		a.closed++
	}
	if r.State != StateClosed {
		a.open++
	}
	if r.Reopen > 0 {
		a.reopened++
	}
	if r.ChangeKind != "" {
		a.changes++
	}
	if r.AckMS != nil {
		a.ackSum += float64(*r.AckMS)
		a.ackN++
	}
	if r.ResolveMS != nil {
		a.resSum += float64(*r.ResolveMS)
		a.resN++
	}
	if a.byCategory != nil {
		a.byCategory[r.Category]++
		a.bySystem[r.System]++
		a.bySource[r.Source]++
		a.byGrade[r.Grade]++
	}
}

func (a *totals) mtta() *float64 {
	if a.ackN == 0 {
		return nil
	}
	v := a.ackSum / float64(a.ackN)
	return minutes(&v)
}

func (a *totals) mttr() *float64 {
	if a.resN == 0 {
		return nil
	}
	v := a.resSum / float64(a.resN)
	return minutes(&v)
}

// counts turns a breakdown into rows, most first, then by name.
func counts(m map[string]int, name func(string) string) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{Name: name(k), Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// months splits an annual report by month of acceptance.
func (d *Desk) months(ctx context.Context, rd *ReportData, rows []ticketFacts, scope string, sargs []any) ([]MonthRow, error) {
	where := `t.created_at >= ? AND t.created_at < ? AND ` + scope
	args := append([]any{rd.From, rd.To}, sargs...)
	var sla []struct {
		Month    string `db:"created_month"`
		Met      int    `db:"met"`
		Breached int    `db:"breached"`
	}
	if err := d.db.Select(ctx, &sla, `SELECT t.created_month,
		SUM(CASE WHEN c.status = 'stopped' AND c.breached_at IS NULL THEN 1 ELSE 0 END) AS met,
		SUM(CASE WHEN c.breached_at IS NOT NULL THEN 1 ELSE 0 END) AS breached
		FROM desk_sla_clocks c JOIN desk_tickets t ON t.id = c.ticket_id
		WHERE c.status <> 'cancelled' AND `+where+` GROUP BY t.created_month`, args...); err != nil {
		return nil, err
	}
	out := make([]MonthRow, 12)
	index := map[string]int{}
	for i := range out {
		m := rd.From.AddDate(0, i, 0).Format("2006-01")
		out[i].Month = m
		index[m] = i
	}
	per := make([]totals, 12)
	for _, r := range rows {
		if i, ok := index[r.Month]; ok {
			per[i].add(r)
		}
	}
	for i := range out {
		out[i].Created, out[i].Closed, out[i].Changes = per[i].created, per[i].closed, per[i].changes
		out[i].MTTA, out[i].MTTR = per[i].mtta(), per[i].mttr()
	}
	for _, s := range sla {
		if i, ok := index[s.Month]; ok {
			out[i].SLARate = pct(s.Met, s.Met+s.Breached)
		}
	}
	for _, b := range rd.Breaches {
		if i, ok := index[monthOf(b.BreachedAt)]; ok {
			out[i].Breaches++
		}
	}
	for _, t := range rd.Trainings {
		if i, ok := index[monthOf(t.HeldAt)]; ok {
			out[i].Trainings++
		}
	}
	return out, nil
}

// tableExists reports whether another module's table is present in this database.
func tableExists(ctx context.Context, q store.Q, name string) bool {
	var n int
	var err error
	if q.Dialect() == store.Postgres {
		err = q.Get(ctx, &n, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`, name)
	} else {
		err = q.Get(ctx, &n, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name)
	}
	return err == nil && n > 0
}

// alertSeverityNames are the monitoring severities (一般/较大/重大/特别重大) and common others.
var alertSeverityNames = map[string]string{"general": "一般", "serious": "较大", "major": "重大", "critical": "特别重大",
	"warning": "警告", "info": "通知"}

func severityName(s string) string { return firstNonEmpty(alertSeverityNames[s], s) }

func (d *Desk) alertSection(ctx context.Context, from, to time.Time, province bool) Section {
	if !province {
		return Section{Note: NoData + "（运维中心告警为全省平台数据，仅在省级报告中统计）"}
	}
	if !tableExists(ctx, d.db, "monitor_alerts") || !tableExists(ctx, d.db, "monitor_systems") {
		return Section{Note: NoData + "（运维中心监控未接入）"}
	}
	var rows []struct {
		System   string `db:"system"`
		Severity string `db:"severity"`
		N        int    `db:"n"`
	}
	if err := d.db.Select(ctx, &rows, `SELECT COALESCE(s.name, '未归属系统') AS system, a.severity, COUNT(*) AS n
		FROM monitor_alerts a LEFT JOIN monitor_systems s ON s.id = a.system_id
		WHERE a.fired_at >= ? AND a.fired_at < ? GROUP BY s.name, a.severity ORDER BY s.name, a.severity`, from, to); err != nil {
		d.log.Warn("report: alerts", "err", err)
		return Section{Note: NoData + "（读取告警失败）"}
	}
	sec := Section{Available: true, Columns: []string{"系统", "级别", "告警次数"}, Rows: [][]string{}}
	total := 0
	for _, r := range rows {
		sec.Rows = append(sec.Rows, []string{r.System, severityName(r.Severity), strconv.Itoa(r.N)})
		total += r.N
	}
	sec.Note = fmt.Sprintf("本期告警 %d 次", total)
	if total == 0 {
		sec.Note = "本期无告警"
	}
	return sec
}

func (d *Desk) availabilitySection(ctx context.Context, from, to time.Time, province bool) Section {
	if !province {
		return Section{Note: NoData + "（可用性为全省平台数据，仅在省级报告中统计）"}
	}
	for _, t := range []string{"monitor_rollups", "monitor_series", "monitor_targets", "monitor_systems"} {
		if !tableExists(ctx, d.db, t) {
			return Section{Note: NoData + "（运维中心监控未接入）"}
		}
	}
	var rows []struct {
		System string  `db:"system"`
		Sum    float64 `db:"vsum"`
		Count  float64 `db:"vcount"`
	}
	if err := d.db.Select(ctx, &rows, `SELECT ms.name AS system, SUM(x.vsum) AS vsum, SUM(x.vcount) AS vcount
		FROM monitor_rollups x JOIN monitor_series s ON s.id = x.series_id JOIN monitor_targets mt ON mt.id = s.target_id
		JOIN monitor_systems ms ON ms.id = mt.system_id
		WHERE x.step = 3600 AND x.at >= ? AND x.at < ? AND s.name = 'probe_success'
		GROUP BY ms.name ORDER BY ms.name`, from.UnixMilli(), to.UnixMilli()); err != nil {
		d.log.Warn("report: availability", "err", err)
		return Section{Note: NoData + "（读取可用性失败）"}
	}
	if len(rows) == 0 {
		return Section{Note: NoData + "（本期没有探测数据）"}
	}
	sec := Section{Available: true, Columns: []string{"系统", "可用率", "探测次数"}, Rows: [][]string{}, Note: "按小时汇总的探测成功率"}
	for _, r := range rows {
		if r.Count <= 0 {
			continue
		}
		sec.Rows = append(sec.Rows, []string{r.System, strconv.FormatFloat(round1(r.Sum*1000/r.Count)/10, 'f', 2, 64) + "%", strconv.FormatInt(int64(r.Count), 10)})
	}
	return sec
}

var riskNames = map[string]string{"high": "高", "medium": "中", "low": "低", "none": "无"}

// inspectionSection reads the inspection module's runs in the period and its findings still
// open, within the jurisdiction (inspections carry a region).
func (d *Desk) inspectionSection(ctx context.Context, from, to time.Time, regionPath string) Section {
	if !tableExists(ctx, d.db, "inspect_runs") || !tableExists(ctx, d.db, "inspect_findings") {
		return Section{Note: NoData + "（巡检模块未接入；巡检发现转运维单的情况见下）"}
	}
	scope := `region_code IN (SELECT code FROM regions WHERE path LIKE ?)`
	var runs []struct {
		Plan     string   `db:"plan_name"`
		N        int      `db:"n"`
		Score    *float64 `db:"score"`
		Warning  int      `db:"warning"`
		Critical int      `db:"critical"`
	}
	if err := d.db.Select(ctx, &runs, `SELECT plan_name, COUNT(*) AS n, CAST(AVG(score) AS DOUBLE PRECISION) AS score,
		COALESCE(SUM(warning_count), 0) AS warning, COALESCE(SUM(critical_count), 0) AS critical
		FROM inspect_runs WHERE status = 'done' AND started_at >= ? AND started_at < ? AND `+scope+`
		GROUP BY plan_name ORDER BY plan_name`, from, to, regionPath+"%"); err != nil {
		d.log.Warn("report: inspections", "err", err)
		return Section{Note: NoData + "（读取巡检记录失败）"}
	}
	var open []struct {
		Risk string `db:"risk"`
		N    int    `db:"n"`
	}
	if err := d.db.Select(ctx, &open, `SELECT risk, COUNT(*) AS n FROM inspect_findings WHERE status <> 'closed' AND `+scope+` GROUP BY risk ORDER BY risk`,
		regionPath+"%"); err != nil {
		d.log.Warn("report: findings", "err", err)
		return Section{Note: NoData + "（读取巡检隐患失败）"}
	}
	sec := Section{Available: true, Columns: []string{"巡检计划", "完成次数", "平均健康分", "警告项", "严重项"}, Rows: [][]string{}}
	total := 0
	for _, r := range runs {
		score := "—"
		if r.Score != nil {
			score = strconv.FormatFloat(round1(*r.Score), 'f', 1, 64)
		}
		sec.Rows = append(sec.Rows, []string{r.Plan, strconv.Itoa(r.N), score, strconv.Itoa(r.Warning), strconv.Itoa(r.Critical)})
		total += r.N
	}
	openTotal := 0
	var parts []string
	for _, o := range open {
		openTotal += o.N
		parts = append(parts, firstNonEmpty(riskNames[o.Risk], o.Risk)+" "+strconv.Itoa(o.N))
	}
	sec.Note = fmt.Sprintf("本期完成巡检 %d 次；当前未整改隐患 %d 个", total, openTotal)
	if len(parts) > 0 {
		sec.Note += "（风险 " + strings.Join(parts, "、") + "）"
	}
	return sec
}

// qualitySection reads the data hub's quality runs in the period as a trend: by day in a
// monthly report, by month in an annual one.
func (d *Desk) qualitySection(ctx context.Context, from, to time.Time, province, annual bool) Section {
	if !province {
		return Section{Note: NoData + "（数据质量为全省平台数据，仅在省级报告中统计）"}
	}
	if !tableExists(ctx, d.db, "quality_runs") {
		return Section{Note: NoData + "（数据质量模块未接入）"}
	}
	var runs []struct {
		At     time.Time `db:"started_at"`
		Score  *float64  `db:"score"`
		Total  int       `db:"rules_total"`
		Passed int       `db:"rules_passed"`
	}
	if err := d.db.Select(ctx, &runs, `SELECT started_at, score, rules_total, rules_passed FROM quality_runs
		WHERE started_at >= ? AND started_at < ? ORDER BY started_at LIMIT 20000`, from, to); err != nil {
		d.log.Warn("report: quality", "err", err)
		return Section{Note: NoData + "（读取数据质量结果失败）"}
	}
	if len(runs) == 0 {
		return Section{Note: NoData + "（本期没有数据质量检查）"}
	}
	type bucket struct {
		key                 string
		n, scored           int
		score               float64
		rulesTotal, rulesOK int
	}
	var buckets []*bucket
	by := map[string]*bucket{}
	for _, r := range runs {
		k := r.At.In(shanghai()).Format(time.DateOnly)
		if annual {
			k = monthOf(r.At)
		}
		b := by[k]
		if b == nil {
			b = &bucket{key: k}
			by[k] = b
			buckets = append(buckets, b)
		}
		b.n++
		if r.Score != nil {
			b.scored++
			b.score += *r.Score
		}
		b.rulesTotal += r.Total
		b.rulesOK += r.Passed
	}
	sec := Section{Available: true, Columns: []string{"日期", "检查次数", "平均得分", "规则通过率"}, Rows: [][]string{}, Note: "数据质量检查趋势"}
	if annual {
		sec.Columns[0] = "月份"
	}
	for _, b := range buckets {
		score := "—"
		if b.scored > 0 {
			score = strconv.FormatFloat(round1(b.score/float64(b.scored)), 'f', 1, 64)
		}
		rate := "—"
		if p := pct(b.rulesOK, b.rulesTotal); p != nil {
			rate = strconv.FormatFloat(*p, 'f', 1, 64) + "%"
		}
		sec.Rows = append(sec.Rows, []string{b.key, strconv.Itoa(b.n), score, rate})
	}
	return sec
}

//go:embed reportdoc
var reportDoc embed.FS

var reportTpl = template.Must(template.New("").Funcs(web.Funcs()).Funcs(template.FuncMap{
	"rate": func(p *float64) string {
		if p == nil {
			return "—"
		}
		return strconv.FormatFloat(*p, 'f', 1, 64) + "%"
	},
	"mins": func(p *float64) string {
		if p == nil {
			return "—"
		}
		return strconv.FormatFloat(*p, 'f', 1, 64) + " 分钟"
	},
	"day": func(t time.Time) string { return t.In(shanghai()).Format("2006-01-02") },
	"last": func(t time.Time) string {
		return t.Add(-time.Second).In(shanghai()).Format("2006-01-02")
	},
}).ParseFS(reportDoc, "reportdoc/*.html"))

// RenderBody renders the report's body (the part shown in the console and printed).
func RenderBody(rd *ReportData) (template.HTML, error) {
	var b bytes.Buffer
	if err := reportTpl.ExecuteTemplate(&b, "body", rd); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}

// RenderDocument renders the standalone printable HTML document that is archived.
func RenderDocument(rd *ReportData) ([]byte, error) {
	var b bytes.Buffer
	if err := reportTpl.ExecuteTemplate(&b, "document", rd); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func opt(p *float64) any {
	if p == nil {
		return "—"
	}
	return *p
}

// Tables returns the report as XLSX sheets.
func (rd *ReportData) Tables() []report.Table {
	meta := []string{"期间：" + rd.From.In(shanghai()).Format("2006-01-02") + " 至 " + rd.To.Add(-time.Second).In(shanghai()).Format("2006-01-02"),
		"范围：" + rd.RegionName, "生成：" + rd.GeneratedBy + "，" + rd.GeneratedAt.In(shanghai()).Format(report.TimeLayout)}
	overview := report.Table{Title: "概况", Meta: append([]string{rd.Title}, meta...), Columns: []string{"项目", "数值"}, Rows: [][]any{
		{"受理运维单（个）", rd.Created}, {"已闭环（个）", rd.Closed}, {"局方不同意未处理（个）", rd.Refused}, {"未闭环（个）", rd.Open},
		{"重新打开过（个）", rd.Reopened}, {"SLA 总达成率（%）", opt(rd.SLARate)}, {"平均响应时长（分钟）", opt(rd.MTTA)},
		{"平均解决时长（分钟）", opt(rd.MTTR)}, {"超时（次）", len(rd.Breaches)}, {"变更与升级（个）", len(rd.Changes)},
		{"巡检发现转运维单（个）", rd.FindingsTotal}, {"其中未闭环（个）", rd.FindingsOpen}, {"培训（场）", rd.Training.Sessions},
		{"培训实到（人次）", rd.Training.Attendees},
	}}
	breakdown := report.Table{Title: "分类统计", Columns: []string{"维度", "名称", "运维单数"}, Rows: [][]any{}}
	for _, g := range []struct {
		name string
		rows []Count
	}{{"问题类别", rd.ByCategory}, {"事件等级", rd.ByGrade}, {"所属系统", rd.BySystem}, {"来源", rd.BySource}} {
		for _, c := range g.rows {
			breakdown.Rows = append(breakdown.Rows, []any{g.name, c.Name, c.Count})
		}
	}
	sla := report.Table{Title: "SLA 达成", Columns: []string{"目标", "时限（分钟）", "计时数", "达成", "超时", "进行中", "达成率（%）"}, Rows: [][]any{}}
	for _, s := range rd.SLA {
		sla.Rows = append(sla.Rows, []any{s.Name, s.Minutes, s.Total, s.Met, s.Breached, s.Open, opt(s.Rate)})
	}
	breaches := report.Table{Title: "超时明细", Columns: []string{"运维单", "标题", "系统", "等级", "SLA 目标", "超时时间", "超时说明", "说明人"}, Rows: [][]any{}}
	for _, b := range rd.Breaches {
		breaches.Rows = append(breaches.Rows, []any{b.No, b.Title, b.System, b.GradeName(), b.TargetName, b.BreachedAt, firstNonEmpty(b.Explanation, "（未说明）"), b.ExplainedBy})
	}
	ops := report.Table{Title: "运维中心", Columns: []string{"部分", "内容"}, Rows: [][]any{}}
	for _, s := range []struct {
		name string
		sec  Section
	}{{"告警", rd.Alerts}, {"可用性", rd.Availability}, {"巡检", rd.Inspections}, {"数据质量", rd.Quality}} {
		ops.Rows = append(ops.Rows, []any{s.name, s.sec.Note})
		for _, row := range s.sec.Rows {
			ops.Rows = append(ops.Rows, []any{s.name, strings.Join(row, "　")})
		}
	}
	ops.Rows = append(ops.Rows, []any{"巡检发现", fmt.Sprintf("转运维单 %d 个，未闭环 %d 个", rd.FindingsTotal, rd.FindingsOpen)})
	changes := report.Table{Title: "变更与升级", Columns: []string{"运维单", "标题", "系统", "变更类型", "局方审批", "结果", "受理时间"}, Rows: [][]any{}}
	for _, c := range rd.Changes {
		changes.Rows = append(changes.Rows, []any{c.No, c.Title, c.System, c.KindName(), c.ApprovalName(), c.Outcome(), c.CreatedAt})
	}
	trainings := report.Table{Title: "培训记录", Columns: []string{"时间", "主题", "对象", "形式", "地点", "讲师", "材料", "应到", "实到", "出勤率（%）"}, Rows: [][]any{}}
	for _, t := range rd.Trainings {
		trainings.Rows = append(trainings.Rows, []any{t.HeldAt, t.Title, t.AudienceName(), t.ModeName(), t.Location, t.Trainer, t.Materials, t.Planned, t.Attendees, t.Rate()})
	}
	out := []report.Table{overview, breakdown, sla, breaches, ops, changes, trainings}
	if rd.Kind == ReportAnnual {
		months := report.Table{Title: "月度汇总", Columns: []string{"月份", "受理", "闭环", "SLA 达成率（%）", "平均响应（分钟）", "平均解决（分钟）", "超时", "变更", "培训"}, Rows: [][]any{}}
		for _, m := range rd.Months {
			months.Rows = append(months.Rows, []any{m.Month, m.Created, m.Closed, opt(m.SLARate), opt(m.MTTA), opt(m.MTTR), m.Breaches, m.Changes, m.Trainings})
		}
		out = append(out[:1], append([]report.Table{months}, out[1:]...)...)
	}
	return out
}

// Report is one archived report.
type Report struct {
	ID          int64     `db:"id" json:"id"`
	Kind        string    `db:"kind" json:"kind"`
	Period      string    `db:"period" json:"period"`
	Version     int       `db:"version" json:"version"`
	RegionCode  string    `db:"region_code" json:"region_code"`
	Title       string    `db:"title" json:"title"`
	Trigger     string    `db:"trigger" json:"trigger"`
	GeneratedBy string    `db:"generated_by" json:"generated_by"`
	CreatedAt   time.Time `db:"created_at" json:"created_at"`
}

// KindName and TriggerName are the Chinese names.
func (r Report) KindName() string {
	if r.Kind == ReportAnnual {
		return "总结报告"
	}
	return "工作月报"
}
func (r Report) TriggerName() string {
	return map[string]string{"schedule": "定时生成", "manual": "手动生成"}[r.Trigger]
}

// Generate computes, renders and archives a report as a new version. A scheduled run for a
// period that already has a scheduled version archives nothing new and returns that one.
func (d *Desk) Generate(ctx context.Context, r *http.Request, p *iam.Principal, kind, period, trigger string) (int64, error) {
	if trigger == "schedule" {
		var id int64
		err := d.db.Get(ctx, &id, `SELECT id FROM desk_reports WHERE kind = ? AND period = ? AND region_code = ? AND trigger = 'schedule'`, kind, period, p.Region)
		if err == nil {
			return id, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
	}
	rd, err := d.Compute(ctx, p, kind, period)
	if err != nil {
		return 0, err
	}
	doc, err := RenderDocument(rd)
	if err != nil {
		return 0, err
	}
	var xlsx bytes.Buffer
	if err := report.WriteXLSX(&xlsx, rd.Tables()...); err != nil {
		return 0, err
	}
	data, err := json.Marshal(rd)
	if err != nil {
		return 0, err
	}
	var id int64
	err = d.db.InTx(ctx, func(tx *store.Tx) error {
		var v int
		if err := tx.Get(ctx, &v, `SELECT COALESCE(MAX(version), 0) FROM desk_reports WHERE kind = ? AND period = ? AND region_code = ?`, kind, period, p.Region); err != nil {
			return err
		}
		id, err = store.InsertID(ctx, tx, `INSERT INTO desk_reports(kind, period, version, region_code, title, data, html, xlsx, trigger, generated_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, kind, period, v+1, p.Region, rd.Title, string(data), string(doc), xlsx.Bytes(), trigger, rd.GeneratedBy, d.Now())
		if err != nil {
			return err
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.report.generate", ObjectType: "desk_report", ObjectID: fmt.Sprint(id),
			RegionCode: p.Region, Detail: fmt.Sprintf("生成%s（第 %d 版，%s）", rd.Title, v+1, map[string]string{"schedule": "定时", "manual": "手动"}[trigger])})
	})
	return id, err
}

// Reports lists archived reports within p's jurisdiction, newest first.
func (d *Desk) Reports(ctx context.Context, p *iam.Principal) ([]Report, error) {
	where, args := reportScope(p)
	out := []Report{}
	err := d.db.Select(ctx, &out, `SELECT id, kind, period, version, region_code, title, trigger, generated_by, created_at FROM desk_reports
		WHERE `+where+` ORDER BY period DESC, kind, version DESC LIMIT 500`, args...)
	return out, err
}

// reportScope limits reports to the principal's jurisdiction.
func reportScope(p *iam.Principal) (string, []any) {
	if p == nil || p.RegionPath == "" {
		return "1=0", nil
	}
	return `region_code IN (SELECT code FROM regions WHERE path LIKE ?)`, []any{p.RegionPath + "%"}
}

// archived is a report with its stored artefacts.
type archived struct {
	Report
	Data string `db:"data"`
	HTML string `db:"html"`
	XLSX []byte `db:"xlsx"`
}

func (d *Desk) getReport(ctx context.Context, p *iam.Principal, id int64) (*archived, error) {
	where, args := reportScope(p)
	var a archived
	if err := d.db.Get(ctx, &a, `SELECT id, kind, period, version, region_code, title, trigger, generated_by, created_at, data, html, xlsx
		FROM desk_reports WHERE id = ? AND `+where, append([]any{id}, args...)...); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	return &a, nil
}

// ReportData returns the archived numbers of a report.
func (d *Desk) ReportData(ctx context.Context, p *iam.Principal, id int64) (*Report, *ReportData, error) {
	a, err := d.getReport(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	var rd ReportData
	if err := json.Unmarshal([]byte(a.Data), &rd); err != nil {
		return nil, nil, err
	}
	return &a.Report, &rd, nil
}

// previousPeriod is the month (or year) before now in Asia/Shanghai.
func previousPeriod(kind string, now time.Time) string {
	t := now.In(shanghai())
	if kind == ReportAnnual {
		return strconv.Itoa(t.Year() - 1)
	}
	first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, shanghai())
	return first.AddDate(0, -1, 0).Format("2006-01")
}

// PreviousPeriod is the period a scheduled report covers: last month, or last year.
func (d *Desk) PreviousPeriod(kind string) string { return previousPeriod(kind, d.Now()) }
