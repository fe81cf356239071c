package quality

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/web"
)

// Routes are the module's API and pages. Every route that needs PermRuleWrite (creating,
// changing and deleting rules, saving settings, the new-rule page) is ProvinceWide: see
// canEditRules.
func (m *Module) Routes() []web.Route {
	routes := []web.Route{
		{Method: "GET", Pattern: "/api/v1/quality/datasets", Permission: PermRuleRead, Summary: "可核查的数据集及其字段", Handler: m.apiDatasets},
		{Method: "GET", Pattern: "/api/v1/quality/templates", Permission: PermRuleRead, Summary: "数据质量规则模板", Handler: m.apiTemplates},
		{Method: "GET", Pattern: "/api/v1/quality/rules", Permission: PermRuleRead, Summary: "数据质量规则列表", Handler: m.apiRules},
		{Method: "POST", Pattern: "/api/v1/quality/rules", Permission: PermRuleWrite, Summary: "新增数据质量规则", Handler: m.apiCreateRule},
		{Method: "GET", Pattern: "/api/v1/quality/rules/{id}", Permission: PermRuleRead, Summary: "数据质量规则详情", Handler: m.apiRule},
		{Method: "PUT", Pattern: "/api/v1/quality/rules/{id}", Permission: PermRuleWrite, Summary: "修改数据质量规则", Handler: m.apiUpdateRule},
		{Method: "DELETE", Pattern: "/api/v1/quality/rules/{id}", Permission: PermRuleWrite, Summary: "删除数据质量规则", Handler: m.apiDeleteRule},
		{Method: "GET", Pattern: "/api/v1/quality/settings", Permission: PermRuleRead, Summary: "数据质量设置（维度权重等）", Handler: m.apiSettings},
		{Method: "PUT", Pattern: "/api/v1/quality/settings", Permission: PermRuleWrite, Summary: "修改数据质量设置", Handler: m.apiSaveSettings},
		{Method: "POST", Pattern: "/api/v1/quality/runs", Permission: PermRunExecute, Summary: "执行数据质量核查", Handler: m.apiRun},
		{Method: "GET", Pattern: "/api/v1/quality/runs", Permission: PermResultRead, Summary: "数据质量核查记录", Handler: m.apiRuns},
		{Method: "GET", Pattern: "/api/v1/quality/runs/{id}", Permission: PermResultRead, Summary: "数据质量核查结果", Handler: m.apiRunDetail},
		{Method: "GET", Pattern: "/api/v1/quality/results/{id}/rows", Permission: PermResultRead, Summary: "规则的不合格记录", Handler: m.apiFailedRows},
		{Method: "GET", Pattern: "/api/v1/quality/records/{dataset}", Permission: PermResultRead, Summary: "不合格记录的完整信息", Handler: m.apiRecord},
		{Method: "GET", Pattern: "/api/v1/quality/trend", Permission: PermResultRead, Summary: "数据质量趋势", Handler: m.apiTrend},
		{Method: "GET", Pattern: "/api/v1/quality/reports", Permission: PermReportRead, Summary: "数据质量报告列表", Handler: m.apiReports},
		{Method: "POST", Pattern: "/api/v1/quality/reports", Permission: PermReportPublish, Summary: "发布数据质量报告", Handler: m.apiPublish},
		{Method: "GET", Pattern: "/api/v1/quality/reports/{id}/xlsx", Permission: PermReportRead, Summary: "下载数据质量报告（Excel）", Handler: m.apiReportXLSX},

		{Method: "GET", Pattern: "/quality", Permission: PermResultRead, Summary: "数据质量概览", Handler: m.pageOverview},
		{Method: "GET", Pattern: "/quality/rules", Permission: PermRuleRead, Summary: "数据质量规则目录", Handler: m.pageRules},
		{Method: "GET", Pattern: "/quality/rules/new", Permission: PermRuleWrite, Summary: "新增数据质量规则页面", Handler: m.pageRuleForm},
		{Method: "GET", Pattern: "/quality/rules/{id}", Permission: PermRuleRead, Summary: "数据质量规则编辑页面", Handler: m.pageRuleForm},
		{Method: "GET", Pattern: "/quality/runs", Permission: PermResultRead, Summary: "数据质量核查记录页面", Handler: m.pageRuns},
		{Method: "GET", Pattern: "/quality/runs/{id}", Permission: PermResultRead, Summary: "数据质量核查结果页面", Handler: m.pageRun},
		{Method: "GET", Pattern: "/quality/results/{id}", Permission: PermResultRead, Summary: "不合格记录页面", Handler: m.pageResult},
		{Method: "GET", Pattern: "/quality/records/{dataset}", Permission: PermResultRead, Summary: "不合格记录详情页面", Handler: m.pageRecord},
		{Method: "GET", Pattern: "/quality/reports", Permission: PermReportRead, Summary: "数据质量报告页面", Handler: m.pageReports},
		{Method: "GET", Pattern: "/quality/reports/{id}", Permission: PermReportRead, Summary: "数据质量报告（可打印）", Handler: m.pageReport},
	}
	for i := range routes {
		routes[i].ProvinceWide = routes[i].Permission == PermRuleWrite
	}
	return routes
}

// canEditRules reports whether the caller may change rules and settings: it holds
// PermRuleWrite and its data scope is the whole province. Rules and settings are not scoped —
// they apply to every region's data and scores — and a custom rule's SQL reads every region's
// rows, so its failed count on the caller's own rows could reveal other regions' data.
func canEditRules(ctx context.Context) bool {
	p := iam.FromContext(ctx)
	return p.Can(PermRuleWrite) && p.ProvinceWide()
}

func actor(r *http.Request) string {
	if p := iam.FromContext(r.Context()); p != nil {
		return p.Account
	}
	return web.Info(r.Context()).Actor
}

func auditEntry(r *http.Request, action string) *audit.Entry {
	e := audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation, Action: action, Result: audit.ResultSuccess})
	return &e
}

func (m *Module) apiDatasets(w http.ResponseWriter, r *http.Request) {
	web.JSON(w, http.StatusOK, map[string]any{"items": m.cat.Datasets})
}

func (m *Module) apiTemplates(w http.ResponseWriter, r *http.Request) {
	web.JSON(w, http.StatusOK, map[string]any{"items": RuleTemplates, "dimensions": Dimensions, "severities": Severities})
}

func (m *Module) apiRules(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rules, err := m.ListRules(r.Context(), RuleFilter{Dataset: q.Get("dataset"), Dimension: q.Get("dimension"), Template: q.Get("template"), Q: q.Get("q")})
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(rules))
}

func (m *Module) apiRule(w http.ResponseWriter, r *http.Request) {
	web.ByID(w, r, func(id int64) (any, error) { return m.GetRule(r.Context(), id) })
}

// flexParams accepts the parameters as a JSON object or as a string holding one (the editor's
// text area).
type flexParams Params

func (f *flexParams) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if strings.TrimSpace(s) == "" {
			*f = flexParams{}
			return nil
		}
		b = []byte(s)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Params
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("规则参数不是有效的 JSON 对象：%v", err)
	}
	*f = flexParams(p)
	return nil
}

// flexList accepts an array of strings or one string with an item per line.
type flexList []string

func (f *flexList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*f = l
	return nil
}

// flexNum accepts a number or a numeric string (form fields).
type flexNum float64

func (f *flexNum) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		s = strings.TrimSpace(s)
		if s == "" {
			*f = 0
			return nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q 不是数字", s)
		}
		*f = flexNum(v)
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = flexNum(v)
	return nil
}

type ruleInput struct {
	Code        string     `json:"code"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Dataset     string     `json:"dataset"`
	Template    string     `json:"template"`
	Params      flexParams `json:"params"`
	Dimension   string     `json:"dimension"`
	Severity    string     `json:"severity"`
	Threshold   *flexNum   `json:"threshold"`
	Filter      string     `json:"filter"`
	Exceptions  flexList   `json:"exceptions"`
	Schedule    string     `json:"schedule"`
	SampleCap   flexNum    `json:"sample_cap"`
	Enabled     *bool      `json:"enabled"`
}

func (in ruleInput) rule() *Rule {
	r := &Rule{Code: in.Code, Name: in.Name, Description: strings.TrimSpace(in.Description), Dataset: in.Dataset, Template: in.Template,
		Params: Params(in.Params), Dimension: in.Dimension, Severity: in.Severity, Threshold: 100, Filter: in.Filter,
		Exceptions: in.Exceptions, Schedule: in.Schedule, SampleCap: int(in.SampleCap), Enabled: true}
	if in.Threshold != nil {
		r.Threshold = float64(*in.Threshold)
	}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	return r
}

func decodeRule(r *http.Request) (*Rule, error) {
	var in ruleInput
	if err := web.Decode(r, &in); err != nil {
		var we *web.Error
		if errors.As(err, &we) {
			return nil, err
		}
		return nil, web.Errorf(http.StatusBadRequest, "bad_json", "%v", err)
	}
	return in.rule(), nil
}

func (m *Module) apiCreateRule(w http.ResponseWriter, r *http.Request) {
	rule, err := decodeRule(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := m.CreateRule(r.Context(), rule, actor(r), auditEntry(r, "quality.rule.create")); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, rule)
}

func (m *Module) apiUpdateRule(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	rule, err := decodeRule(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := m.UpdateRule(r.Context(), id, rule, actor(r), auditEntry(r, "quality.rule.update")); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, rule)
}

func (m *Module) apiDeleteRule(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := m.DeleteRule(r.Context(), id, auditEntry(r, "quality.rule.delete")); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "已删除"})
}

func (m *Module) apiSettings(w http.ResponseWriter, r *http.Request) {
	st, err := m.Settings(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, st)
}

func (m *Module) apiSaveSettings(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Weights   map[string]flexNum `json:"weights"`
		SampleCap flexNum            `json:"sample_cap"`
		TimeoutS  flexNum            `json:"timeout_seconds"`
	}
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	st := Settings{Weights: map[string]float64{}, SampleCap: int(in.SampleCap), TimeoutS: int(in.TimeoutS)}
	for k, v := range in.Weights {
		st.Weights[k] = float64(v)
	}
	if err := m.SaveSettings(r.Context(), st, actor(r), auditEntry(r, "quality.settings.update")); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "设置已保存"})
}

func (m *Module) apiRun(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Dataset string `json:"dataset"`
		Rule    string `json:"rule"`
	}
	if r.ContentLength != 0 {
		if err := web.Decode(r, &in); err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	if in.Dataset != "" {
		if _, ok := m.cat.Get(in.Dataset); !ok {
			web.Fail(w, r, web.Errorf(http.StatusBadRequest, "unknown_dataset", "数据集 %q 不存在", in.Dataset))
			return
		}
	}
	run, _, err := m.Execute(r.Context(), RunOptions{Dataset: in.Dataset, Rule: in.Rule, Trigger: TriggerManual, Actor: actor(r),
		Audit: auditEntry(r, "quality.run.execute")})
	if err != nil {
		if errors.Is(err, ErrNoRules) || errors.Is(err, ErrUnknownRule) {
			err = web.Errorf(http.StatusBadRequest, "no_rules", "%s", err.Error())
		}
		web.Fail(w, r, err)
		return
	}
	v, err := m.RunDetail(r.Context(), scopeOf(r.Context()), run.ID)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, v)
}

func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, web.Shanghai())
	if err != nil {
		return t, web.Errorf(http.StatusBadRequest, "bad_date", "日期 %q 格式应为 YYYY-MM-DD", s)
	}
	return t, nil
}

func runFilter(r *http.Request) (RunFilter, error) {
	q := r.URL.Query()
	f := RunFilter{Dataset: q.Get("dataset")}
	var err error
	if f.From, err = parseDay(q.Get("from")); err != nil {
		return f, err
	}
	if f.To, err = parseDay(q.Get("to")); err != nil {
		return f, err
	}
	if !f.To.IsZero() {
		f.To = f.To.AddDate(0, 0, 1)
	}
	return f, nil
}

func (m *Module) apiRuns(w http.ResponseWriter, r *http.Request) {
	p, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	f, err := runFilter(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	runs, total, err := m.ListRuns(r.Context(), scopeOf(r.Context()), f, p.Offset(), p.Size)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.List[*RunView]{Items: runs, Total: total, Page: p.Page, Size: p.Size})
}

func (m *Module) apiRunDetail(w http.ResponseWriter, r *http.Request) {
	web.ByID(w, r, func(id int64) (any, error) { return m.RunDetail(r.Context(), scopeOf(r.Context()), id) })
}

func (m *Module) apiFailedRows(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	p, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	sc := scopeOf(r.Context())
	res, err := m.ResultDetail(r.Context(), sc, id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	rows, total, err := m.FailedRows(r.Context(), sc, id, p.Offset(), p.Size)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, struct {
		web.List[FailedRow]
		Result *Result `json:"result"`
	}{web.List[FailedRow]{Items: rows, Total: total, Page: p.Page, Size: p.Size}, res})
}

func (m *Module) apiRecord(w http.ResponseWriter, r *http.Request) {
	fields, hist, err := m.Record(r.Context(), scopeOf(r.Context()), r.PathValue("dataset"), r.URL.Query().Get("key"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"fields": fields, "failures": hist})
}

func (m *Module) apiTrend(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 30
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 365 {
			web.Fail(w, r, web.Errorf(http.StatusBadRequest, "bad_limit", "limit 须为 1 到 365 之间的整数"))
			return
		}
		limit = n
	}
	pts, err := m.Trend(r.Context(), scopeOf(r.Context()), q.Get("dataset"), q.Get("dimension"), q.Get("rule"), limit)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": pts})
}
