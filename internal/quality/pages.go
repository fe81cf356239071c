package quality

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"zhsj/internal/web"
)

func (m *Module) render(w http.ResponseWriter, r *http.Request, name, title string, crumbs []web.Crumb, data any) {
	if m.pages == nil {
		web.Fail(w, r, errors.New("quality: pages not set"))
		return
	}
	m.pages.Render(w, r, name, web.PageData{Title: title, Crumbs: append([]web.Crumb{{Title: "数据治理"}}, crumbs...), Data: data})
}

// pageError shows an error inside the layout (the pages' error state).
func (m *Module) pageError(w http.ResponseWriter, r *http.Request, err error) {
	var we *web.Error
	if !errors.As(err, &we) || m.pages == nil {
		web.Fail(w, r, err)
		return
	}
	m.pages.RenderStatus(w, r, we.Status, "quality_error.html", web.PageData{Title: "数据质量", Crumbs: []web.Crumb{{Title: "数据治理"}, {Title: "数据质量", Path: "/quality"}}, Data: we.Message})
}

// chart is an ECharts option rendered by app.js from a JSON block.
type chart struct {
	ID     string
	Option map[string]any
	Empty  bool
}

func trendChart(id, name string, pts []TrendPoint) chart {
	var xs []string
	var ys []any
	for _, p := range pts {
		xs = append(xs, p.At.In(web.Shanghai()).Format("01-02 15:04"))
		if p.Value == nil {
			ys = append(ys, nil)
		} else {
			ys = append(ys, *p.Value)
		}
	}
	return chart{ID: id, Empty: len(pts) == 0, Option: map[string]any{
		"tooltip": map[string]any{"trigger": "axis"},
		"grid":    map[string]any{"left": 40, "right": 16, "top": 24, "bottom": 32},
		"xAxis":   map[string]any{"type": "category", "data": xs},
		"yAxis":   map[string]any{"type": "value", "min": 0, "max": 100, "name": "分"},
		"series":  []any{map[string]any{"type": "line", "name": name, "data": ys, "smooth": true, "connectNulls": true}},
	}}
}

func barChart(id string, names []string, values []float64) chart {
	return chart{ID: id, Empty: len(names) == 0, Option: map[string]any{
		"tooltip": map[string]any{"trigger": "axis"},
		"grid":    map[string]any{"left": 40, "right": 16, "top": 24, "bottom": 32},
		"xAxis":   map[string]any{"type": "category", "data": names},
		"yAxis":   map[string]any{"type": "value", "min": 0, "max": 100},
		"series":  []any{map[string]any{"type": "bar", "data": values, "barMaxWidth": 36, "label": map[string]any{"show": true, "position": "top"}}},
	}}
}

func dimensionChart(id string, s Scores) chart {
	var names []string
	var vals []float64
	for _, d := range Dimensions {
		if v, ok := s.Dimensions[d]; ok {
			names = append(names, d)
			vals = append(vals, v)
		}
	}
	return barChart(id, names, vals)
}

type overviewData struct {
	Latest     *RunView
	Trend      chart
	Dimensions chart
	Datasets   []datasetScore
	CanRun     bool
}

type datasetScore struct {
	Name, Title string
	Score       *float64
}

func (m *Module) datasetScores(s Scores) []datasetScore {
	var out []datasetScore
	for _, d := range m.cat.Datasets {
		ds := datasetScore{Name: d.Name, Title: d.Title}
		if v, ok := s.Datasets[d.Name]; ok {
			ds.Score = &v
		}
		out = append(out, ds)
	}
	return out
}

func (m *Module) pageOverview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sc := scopeOf(ctx)
	d := overviewData{CanRun: web.ViewerFrom(ctx).Can(PermRunExecute)}
	var err error
	if d.Latest, err = m.Current(ctx, sc); err != nil {
		m.pageError(w, r, err)
		return
	}
	if d.Latest != nil {
		d.Dimensions = dimensionChart("quality-dimensions", d.Latest.Scores)
		d.Datasets = m.datasetScores(d.Latest.Scores)
	}
	pts, err := m.Trend(ctx, sc, "", "", "", 30)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	d.Trend = trendChart("quality-trend", "综合得分", pts)
	m.render(w, r, "quality_overview.html", "数据质量概览", []web.Crumb{{Title: "数据质量概览"}}, d)
}

type rulesData struct {
	Rules      []*Rule
	Filter     RuleFilter
	Datasets   []Dataset
	Dimensions []string
	Titles     map[string]string
	Templates  map[string]string
	CanWrite   bool
	CanRun     bool
}

func templateTitles() map[string]string {
	out := map[string]string{}
	for _, t := range RuleTemplates {
		out[t.Code] = t.Title
	}
	return out
}

func (m *Module) pageRules(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := RuleFilter{Dataset: q.Get("dataset"), Dimension: q.Get("dimension"), Q: q.Get("q")}
	rules, err := m.ListRules(r.Context(), f)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	v := web.ViewerFrom(r.Context())
	m.render(w, r, "quality_rules.html", "质量规则", []web.Crumb{{Title: "质量规则"}}, rulesData{Rules: rules, Filter: f,
		Datasets: m.cat.Datasets, Dimensions: Dimensions, Titles: m.datasetTitles(), Templates: templateTitles(),
		CanWrite: canEditRules(r.Context()), CanRun: v.Can(PermRunExecute)})
}

type ruleFormData struct {
	Rule       *Rule
	Params     string
	Exceptions string
	Datasets   []Dataset
	Templates  []Template
	Dimensions []string
	Severities []struct{ Code, Label string }
	Trend      chart
	CanWrite   bool // save and delete offered (PermRuleWrite and a province-wide scope); read-only otherwise
	CanRun     bool
}

func (m *Module) pageRuleForm(w http.ResponseWriter, r *http.Request) {
	v := web.ViewerFrom(r.Context())
	d := ruleFormData{Datasets: m.cat.Datasets, Templates: RuleTemplates, Dimensions: Dimensions, Severities: Severities,
		CanWrite: canEditRules(r.Context()), CanRun: v.Can(PermRunExecute), Params: "{}"}
	title := "新增质量规则"
	if r.PathValue("id") != "" {
		id, err := web.PathInt64(r, "id")
		if err != nil {
			m.pageError(w, r, err)
			return
		}
		if d.Rule, err = m.GetRule(r.Context(), id); err != nil {
			m.pageError(w, r, err)
			return
		}
		title = "质量规则：" + d.Rule.Name
		d.Params = indentJSON(d.Rule.Params)
		d.Exceptions = strings.Join(d.Rule.Exceptions, "\n")
		pts, err := m.Trend(r.Context(), scopeOf(r.Context()), "", "", d.Rule.Code, 30)
		if err != nil {
			m.pageError(w, r, err)
			return
		}
		d.Trend = trendChart("rule-trend", "合格率", pts)
		d.Trend.Option["yAxis"].(map[string]any)["name"] = "%"
	}
	m.render(w, r, "quality_rule_form.html", title, []web.Crumb{{Title: "质量规则", Path: "/quality/rules"}, {Title: title}}, d)
}

func indentJSON(v any) string {
	b, err := jsonMarshalIndent(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}

type runsData struct {
	Runs       []*RunView
	Total      int
	Page       int
	Pages      int
	Prev, Next string
	Dataset    string
	From, To   string
	Datasets   []Dataset
	CanRun     bool
}

func (m *Module) pageRuns(w http.ResponseWriter, r *http.Request) {
	p, err := web.Paging(r)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	f, err := runFilter(r)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	runs, total, err := m.ListRuns(r.Context(), scopeOf(r.Context()), f, p.Offset(), p.Size)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	q := r.URL.Query()
	d := runsData{Runs: runs, Total: total, Page: p.Page, Pages: (total + p.Size - 1) / p.Size, Dataset: f.Dataset,
		From: q.Get("from"), To: q.Get("to"), Datasets: m.cat.Datasets, CanRun: web.ViewerFrom(r.Context()).Can(PermRunExecute)}
	d.Prev, d.Next = web.PageLinks(r.URL, p, total)
	m.render(w, r, "quality_runs.html", "核查记录", []web.Crumb{{Title: "核查记录"}}, d)
}

type runData struct {
	View       *RunView
	Titles     map[string]string
	Dimensions chart
	Datasets   []datasetScore
	CanPublish bool
}

func (m *Module) pageRun(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	v, err := m.RunDetail(r.Context(), scopeOf(r.Context()), id)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	d := runData{View: v, Titles: m.datasetTitles(), Dimensions: dimensionChart("run-dimensions", v.Scores),
		Datasets: m.datasetScores(v.Scores), CanPublish: web.ViewerFrom(r.Context()).Can(PermReportPublish)}
	title := fmt.Sprintf("核查结果 #%d", id)
	m.render(w, r, "quality_run.html", title, []web.Crumb{{Title: "核查记录", Path: "/quality/runs"}, {Title: title}}, d)
}

type resultData struct {
	Result     *Result
	Dataset    *Dataset
	Rows       []FailedRow
	Columns    []Column
	Total      int
	Page       int
	Pages      int
	Prev, Next string
}

func (m *Module) pageResult(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	p, err := web.Paging(r)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	sc := scopeOf(r.Context())
	res, err := m.ResultDetail(r.Context(), sc, id)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	rows, total, err := m.FailedRows(r.Context(), sc, id, p.Offset(), p.Size)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	d := resultData{Result: res, Rows: rows, Total: total, Page: p.Page, Pages: (total + p.Size - 1) / p.Size}
	if ds, ok := m.cat.Get(res.Dataset); ok {
		d.Dataset = ds
		seen := map[string]bool{}
		for _, fr := range rows {
			for k := range fr.Values {
				seen[k] = true
			}
		}
		for _, c := range ds.Columns {
			if seen[c.Name] {
				d.Columns = append(d.Columns, c)
			}
		}
	}
	d.Prev, d.Next = web.PageLinks(r.URL, p, total)
	title := "不合格记录：" + res.RuleName
	m.render(w, r, "quality_result.html", title, []web.Crumb{{Title: "核查记录", Path: "/quality/runs"},
		{Title: fmt.Sprintf("核查结果 #%d", res.RunID), Path: fmt.Sprintf("/quality/runs/%d", res.RunID)}, {Title: title}}, d)
}

type recordData struct {
	Dataset  *Dataset
	Key      string
	Fields   []RecordField
	Failures []FailedRow
	Gone     string
}

func (m *Module) pageRecord(w http.ResponseWriter, r *http.Request) {
	name, key := r.PathValue("dataset"), r.URL.Query().Get("key")
	fields, hist, err := m.Record(r.Context(), scopeOf(r.Context()), name, key)
	d := recordData{Key: key, Fields: fields, Failures: hist}
	d.Dataset, _ = m.cat.Get(name)
	if err != nil {
		var we *web.Error
		if !(errors.As(err, &we) && we.Code == "record_gone") {
			m.pageError(w, r, err)
			return
		}
		d.Gone = we.Message
	}
	title := "记录详情"
	if d.Dataset != nil {
		title = d.Dataset.Title + "：" + key
	}
	m.render(w, r, "quality_record.html", title, []web.Crumb{{Title: "核查记录", Path: "/quality/runs"}, {Title: title}}, d)
}

type reportsData struct {
	Reports    []PublishedReport
	Total      int
	CanPublish bool
	Prev, Next string
}

func (m *Module) pageReports(w http.ResponseWriter, r *http.Request) {
	p, err := web.Paging(r)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	items, total, err := m.Reports(r.Context(), p.Offset(), p.Size)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	d := reportsData{Reports: items, Total: total, CanPublish: web.ViewerFrom(r.Context()).Can(PermReportPublish)}
	d.Prev, d.Next = web.PageLinks(r.URL, p, total)
	m.render(w, r, "quality_reports.html", "质量报告", []web.Crumb{{Title: "质量报告"}}, d)
}

type reportPage struct {
	*ReportData
	Dimensions chart
	Trend      chart
	Datasets   []datasetScore
}

func (m *Module) pageReport(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	d, err := m.reportData(r.Context(), scopeOf(r.Context()), id)
	if err != nil {
		m.pageError(w, r, err)
		return
	}
	p := reportPage{ReportData: d, Dimensions: dimensionChart("report-dimensions", d.View.Scores), Datasets: m.datasetScores(d.View.Scores)}
	if len(d.Trend) > 0 {
		p.Trend = trendChart("report-trend", "综合得分", d.Trend)
	}
	m.render(w, r, "quality_report.html", d.Report.Title, []web.Crumb{{Title: "质量报告", Path: "/quality/reports"}, {Title: d.Report.Title}}, p)
}

func jsonMarshalIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }

func fmtScore(v *float64) string {
	if v == nil {
		return "—"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64)
}

// Template helpers.

// PassRateText is the pass rate for display.
func (r *Result) PassRateText() string { return fmtScore(r.PassRate) }

// StatusLabel is the Chinese status.
func (r *Result) StatusLabel() string { return statusLabel(r.Status) }

// StatusClass is the tag class of the status.
func (r *Result) StatusClass() string {
	switch r.Status {
	case StatusPass:
		return "ok"
	case StatusFail:
		return "bad"
	}
	return "warn"
}

// SeverityText is the Chinese severity.
func (r *Result) SeverityText() string { return SeverityLabel(r.Severity) }

// MetricText shows a set-level measure.
func (r *Result) MetricText() string { return fmtScore(r.Metric) }

// Truncated reports whether fewer failing rows were kept than failed.
func (r *Result) Truncated() bool { return int64(r.Sampled) < r.Failed }

// ScoreText is the overall score for display.
func (v *RunView) ScoreText() string { return fmtScore(v.Score) }

// OverallText is the scored overall (in scope).
func (v *RunView) OverallText() string { return fmtScore(v.Scores.Overall) }

// TriggerLabel is the Chinese trigger kind.
func (r Run) TriggerLabel() string {
	switch r.Trigger {
	case TriggerSchedule:
		return "定时"
	case TriggerCLI:
		return "命令行"
	}
	return "手动"
}

// StatusOK reports whether every rule passed.
func (r Run) StatusOK() bool { return r.Status == "passed" }

// ScoreText is the dataset score for display.
func (d datasetScore) ScoreText() string { return fmtScore(d.Score) }

// Value returns a kept value for display.
func (f FailedRow) Value(name string) string {
	v, ok := f.Values[name]
	if !ok {
		return ""
	}
	if v == nil {
		return "（空）"
	}
	return *v
}

// SeverityText is the Chinese severity of a rule.
func (r *Rule) SeverityText() string { return SeverityLabel(r.Severity) }

// ThresholdText shows the threshold.
func (r *Rule) ThresholdText() string { return strconv.FormatFloat(r.Threshold, 'f', -1, 64) }

// Text shows a field's value.
func (f RecordField) Text() string {
	if f.Value == nil {
		return "（空）"
	}
	return *f.Value
}
