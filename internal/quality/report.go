package quality

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/report"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// PublishedReport is an entry of the report list. Its content is rendered from the history
// (which is append-only) in the reader's data scope, so the same report shows a city its own
// numbers and the province all of them.
type PublishedReport struct {
	ID          int64     `json:"id" db:"id"`
	Kind        string    `json:"kind" db:"kind"` // run | month
	RunID       *int64    `json:"run_id" db:"run_id"`
	Period      string    `json:"period" db:"period"`
	Title       string    `json:"title" db:"title"`
	PublishedBy string    `json:"published_by" db:"published_by"`
	PublishedAt time.Time `json:"published_at" db:"published_at"`
}

var monthRE = regexp.MustCompile(`^\d{4}-(0[1-9]|1[0-2])$`)

// Publish records a report of a run or of a month.
func (m *Module) Publish(ctx context.Context, kind string, runID int64, period, actor string, entry *audit.Entry) (*PublishedReport, error) {
	rep := &PublishedReport{Kind: kind, Period: period, PublishedBy: actor, PublishedAt: store.Now()}
	switch kind {
	case "run":
		var r Run
		if err := m.db.Get(ctx, &r, `SELECT `+runCols+` FROM quality_runs WHERE id = ?`, runID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, web.Errorf(http.StatusBadRequest, "unknown_run", "核查记录 %d 不存在", runID)
			}
			return nil, err
		}
		rep.RunID, rep.Period = &runID, ""
		rep.Title = fmt.Sprintf("数据质量核查报告（第 %d 次核查，%s）", runID, r.StartedAt.In(web.Shanghai()).Format("2006-01-02 15:04"))
	case "month":
		if !monthRE.MatchString(period) {
			return nil, web.Errorf(http.StatusBadRequest, "bad_period", "月份格式应为 YYYY-MM")
		}
		from, to := monthRange(period)
		var n int
		if err := m.db.Get(ctx, &n, `SELECT COUNT(*) FROM quality_runs WHERE started_at >= ? AND started_at < ?`, from, to); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, web.Errorf(http.StatusBadRequest, "empty_period", "%s 没有核查记录，无法发布月度报告", period)
		}
		y, mo := period[:4], period[5:]
		rep.Title = fmt.Sprintf("%s年%s月数据质量报告", y, mo)
	default:
		return nil, web.Errorf(http.StatusBadRequest, "bad_kind", "报告类型须为 run（单次核查）或 month（月度）")
	}
	err := m.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := store.InsertID(ctx, tx, `INSERT INTO quality_reports(kind, run_id, period, title, published_by, published_at) VALUES (?,?,?,?,?,?)`,
			rep.Kind, rep.RunID, rep.Period, rep.Title, rep.PublishedBy, rep.PublishedAt)
		if err != nil {
			return err
		}
		rep.ID = id
		if entry != nil && m.audit != nil {
			e := *entry
			e.ObjectType, e.ObjectID, e.Detail = "quality_report", strconv.FormatInt(id, 10), "发布"+rep.Title
			return m.audit.Record(ctx, tx, e)
		}
		return nil
	})
	return rep, err
}

func monthRange(period string) (time.Time, time.Time) {
	from, _ := time.ParseInLocation("2006-01", period, web.Shanghai())
	return from, from.AddDate(0, 1, 0)
}

// Reports lists published reports, newest first.
func (m *Module) Reports(ctx context.Context, offset, limit int) ([]PublishedReport, int, error) {
	var total int
	if err := m.db.Get(ctx, &total, `SELECT COUNT(*) FROM quality_reports`); err != nil {
		return nil, 0, err
	}
	var out []PublishedReport
	err := m.db.Select(ctx, &out, `SELECT id, kind, run_id, period, title, published_by, published_at FROM quality_reports ORDER BY id DESC LIMIT ? OFFSET ?`, limit, offset)
	return out, total, err
}

// ReportData is what a report shows.
type ReportData struct {
	Report  PublishedReport
	View    *RunView // run: the run; month: the latest result of each rule in the month
	Runs    int      // month: runs in the month
	Trend   []TrendPoint
	Failed  []ReportFailure // first failing rows per rule (run reports)
	Dataset map[string]string
	Scoped  bool
}

// ReportFailure is one failing row in a report.
type ReportFailure struct {
	Rule   string
	Name   string
	Row    FailedRow
	Values string
}

const reportFailuresPerRule = 20

func (m *Module) reportData(ctx context.Context, sc viewScope, id int64) (*ReportData, error) {
	var rep PublishedReport
	if err := m.db.Get(ctx, &rep, `SELECT id, kind, run_id, period, title, published_by, published_at FROM quality_reports WHERE id = ?`, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	d := &ReportData{Report: rep, Dataset: m.datasetTitles(), Scoped: !sc.all}
	switch rep.Kind {
	case "run":
		v, err := m.RunDetail(ctx, sc, *rep.RunID)
		if err != nil {
			return nil, err
		}
		d.View, d.Runs = v, 1
		for _, res := range v.Results {
			if res.Failed == 0 {
				continue
			}
			rows, _, err := m.FailedRows(ctx, sc, res.ID, 0, reportFailuresPerRule)
			if err != nil {
				return nil, err
			}
			for _, fr := range rows {
				d.Failed = append(d.Failed, ReportFailure{Rule: res.RuleCode, Name: res.RuleName, Row: fr, Values: valuesText(fr.Values)})
			}
		}
	default:
		from, to := monthRange(rep.Period)
		var runs []Run
		if err := m.db.Select(ctx, &runs, `SELECT `+runCols+` FROM quality_runs WHERE started_at >= ? AND started_at < ? ORDER BY id`, from, to); err != nil {
			return nil, err
		}
		if len(runs) == 0 {
			return nil, web.Errorf(http.StatusNotFound, "empty_period", "该月没有核查记录")
		}
		results, err := m.loadResults(ctx, sc, "run_id IN (SELECT id FROM quality_runs WHERE started_at >= ? AND started_at < ?)", from, to)
		if err != nil {
			return nil, err
		}
		latest := map[string]*Result{}
		var order []string
		for _, r := range results { // ordered by run id: later runs replace earlier ones
			if _, ok := latest[r.RuleCode]; !ok {
				order = append(order, r.RuleCode)
			}
			latest[r.RuleCode] = r
		}
		var picked []*Result
		for _, c := range order {
			picked = append(picked, latest[c])
		}
		last := runs[len(runs)-1]
		last.StartedAt = runs[0].StartedAt
		v, err := m.view(ctx, last, picked, sc)
		if err != nil {
			return nil, err
		}
		v.recount()
		d.View, d.Runs = v, len(runs)
		if d.Trend, err = m.trendOver(ctx, sc, runs, "1=1", nil, "", ""); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (m *Module) datasetTitles() map[string]string {
	out := map[string]string{}
	for _, d := range m.cat.Datasets {
		out[d.Name] = d.Title
	}
	return out
}

func valuesText(v map[string]*string) string {
	s := ""
	for k, x := range v {
		if s != "" {
			s += "；"
		}
		if x == nil {
			s += k + "=（空）"
		} else {
			s += k + "=" + *x
		}
	}
	return s
}

func (m *Module) apiReports(w http.ResponseWriter, r *http.Request) {
	p, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	items, total, err := m.Reports(r.Context(), p.Offset(), p.Size)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.List[PublishedReport]{Items: items, Total: total, Page: p.Page, Size: p.Size})
}

func (m *Module) apiPublish(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Kind   string  `json:"kind"`
		RunID  flexNum `json:"run_id"`
		Period string  `json:"period"`
	}
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	rep, err := m.Publish(r.Context(), in.Kind, int64(in.RunID), in.Period, actor(r), auditEntry(r, "quality.report.publish"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, rep)
}

func pctText(v *float64) any {
	if v == nil {
		return "—"
	}
	return *v
}

func (m *Module) apiReportXLSX(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	d, err := m.reportData(r.Context(), scopeOf(r.Context()), id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	ri := web.Info(r.Context())
	meta := []string{"导出人：" + ri.Actor, "导出时间：" + time.Now().In(web.Shanghai()).Format(report.TimeLayout)}
	if d.Scoped {
		meta = append(meta, "数据范围：本辖区")
	}
	v := d.View
	summary := report.Table{Title: "概况", Meta: append([]string{d.Report.Title}, meta...), Columns: []string{"项目", "得分"}}
	summary.Rows = append(summary.Rows, []any{"综合得分", pctText(v.Scores.Overall)})
	for _, dim := range Dimensions {
		if s, ok := v.Scores.Dimensions[dim]; ok {
			summary.Rows = append(summary.Rows, []any{"维度：" + dim, s})
		}
	}
	for _, ds := range m.cat.Datasets {
		if s, ok := v.Scores.Datasets[ds.Name]; ok {
			summary.Rows = append(summary.Rows, []any{"数据集：" + ds.Title, s})
		}
	}
	rules := report.Table{Title: "规则结果", Meta: meta, Columns: []string{"规则代码", "规则名称", "数据集", "质量维度", "严重程度", "核查数", "不合格数", "合格率(%)", "阈值(%)", "结论", "说明"}}
	for _, res := range v.Results {
		rules.Rows = append(rules.Rows, []any{res.RuleCode, res.RuleName, d.Dataset[res.Dataset], res.Dimension, SeverityLabel(res.Severity),
			res.Checked, res.Failed, pctText(res.PassRate), res.Threshold, statusLabel(res.Status), res.Message})
	}
	regions := report.Table{Title: "地区得分", Meta: meta, Columns: []string{"地区", "代码", "核查数", "不合格数", "得分"}}
	for _, rs := range v.Regions {
		regions.Rows = append(regions.Rows, []any{rs.Name, rs.Unit, rs.Checked, rs.Failed, rs.Score})
	}
	sheets := []report.Table{summary, rules, regions}
	if len(d.Failed) > 0 {
		ft := report.Table{Title: "不合格记录", Meta: append(meta, fmt.Sprintf("每条规则列出前 %d 条", reportFailuresPerRule)), Columns: []string{"规则代码", "规则名称", "记录键", "行政区划", "不合格值"}}
		for _, f := range d.Failed {
			ft.Rows = append(ft.Rows, []any{f.Rule, f.Name, f.Row.RowKey, f.Row.Region, f.Values})
		}
		sheets = append(sheets, ft)
	}
	if m.audit != nil {
		e := auditEntry(r, "quality.report.export")
		e.ObjectType, e.ObjectID, e.Detail = "quality_report", strconv.FormatInt(id, 10), "导出"+d.Report.Title+"（Excel）"
		if err := m.audit.Record(r.Context(), nil, *e); err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	report.ServeXLSX(w, d.Report.Title+".xlsx", sheets...)
}

func statusLabel(s string) string {
	switch s {
	case StatusPass:
		return "通过"
	case StatusFail:
		return "未达阈值"
	}
	return "执行出错"
}
