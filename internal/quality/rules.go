package quality

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"zhsj/internal/jobs"
	"zhsj/internal/web"
)

// Dimensions are GB/T 36344-2018's six first-level indicators.
var Dimensions = []string{"规范性", "完整性", "准确性", "一致性", "时效性", "可访问性"}

// Severities of a rule, with their Chinese labels.
var Severities = []struct{ Code, Label string }{
	{"info", "提示"}, {"warning", "一般"}, {"critical", "严重"},
}

// SeverityLabel is the Chinese label of a severity code.
func SeverityLabel(code string) string {
	for _, s := range Severities {
		if s.Code == code {
			return s.Label
		}
	}
	return code
}

// Rule is one data-quality rule.
type Rule struct {
	ID          int64      `json:"id"`
	Code        string     `json:"code"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Dataset     string     `json:"dataset"`
	Template    string     `json:"template"`
	Params      Params     `json:"params"`
	Dimension   string     `json:"dimension"`
	Severity    string     `json:"severity"`
	Threshold   float64    `json:"threshold"` // pass rate (%) required
	Filter      string     `json:"filter"`
	Exceptions  []string   `json:"exceptions"`
	Schedule    string     `json:"schedule"`
	SampleCap   int        `json:"sample_cap"`
	Enabled     bool       `json:"enabled"`
	Builtin     bool       `json:"builtin"`
	Version     int        `json:"version"`
	NextRunAt   *time.Time `json:"next_run_at,omitempty"`
	CreatedBy   string     `json:"created_by"`
	UpdatedBy   string     `json:"updated_by"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Params are the parameters of every template (each uses a few).
type Params struct {
	Column      string   `json:"column,omitempty"`       // the checked field (referential/consistency: the local foreign key)
	Columns     []string `json:"columns,omitempty"`      // unique: the (composite) key; date_order: the dates in order ("ref.x" = field x of the referenced dataset)
	Values      []string `json:"values,omitempty"`       // in_set: allowed values
	CodeTable   string   `json:"code_table,omitempty"`   // in_set: a maintained code table instead of values
	Min         *float64 `json:"min,omitempty"`          // range
	Max         *float64 `json:"max,omitempty"`          // range
	Pattern     string   `json:"pattern,omitempty"`      // regex
	MinLen      *int     `json:"min_len,omitempty"`      // length
	MaxLen      *int     `json:"max_len,omitempty"`      // length
	RefDataset  string   `json:"ref_dataset,omitempty"`  // referential, consistency, date_order
	RefKey      string   `json:"ref_key,omitempty"`      // field of the referenced dataset matched by Column (default: its key)
	RefColumn   string   `json:"ref_column,omitempty"`   // consistency: field of the referenced dataset compared
	ValueColumn string   `json:"value_column,omitempty"` // consistency: local field compared with RefColumn
	Hours       float64  `json:"hours,omitempty"`        // freshness: latest update at most this old
	MinChange   *float64 `json:"min_change_pct,omitempty"`
	MaxChange   *float64 `json:"max_change_pct,omitempty"`
	MinRows     *int64   `json:"min_rows,omitempty"`  // available
	Condition   string   `json:"condition,omitempty"` // custom_condition: SQL true for failing rows
	Query       string   `json:"query,omitempty"`     // custom_query: SELECT returning the key columns of failing rows
}

// Template is a kind of rule.
type Template struct {
	Code      string   `json:"code"`
	Title     string   `json:"title"`
	Level     string   `json:"level"` // row: one expression in the dataset's scan; set: queries of its own
	Dimension string   `json:"dimension"`
	Params    []string `json:"params"`
	Help      string   `json:"help"`
}

// RuleTemplates is the catalogue of rule templates.
var RuleTemplates = []Template{
	{"not_null", "非空", "row", "完整性", []string{"column"}, "字段值不得为空（NULL）。"},
	{"not_empty", "非空值（含空字符串）", "row", "完整性", []string{"column"}, "字段值不得为空或仅含空白。"},
	{"unique", "唯一性", "set", "准确性", []string{"columns"}, "一个或多个字段组合的取值不得重复；重复组中的每条记录都计为不合格。"},
	{"in_set", "值域（码表）", "row", "规范性", []string{"column", "values", "code_table"}, "字段值须在给定取值或维护的代码表中；空值不参与核查。"},
	{"range", "数值范围", "row", "准确性", []string{"column", "min", "max"}, "数值须在 [min, max] 内；非数值计为不合格；空值不参与核查。"},
	{"regex", "正则格式", "row", "准确性", []string{"column", "pattern"}, "字段值须匹配正则表达式（RE2 语法，PostgreSQL 上按其正则执行）；空值不参与核查。"},
	{"length", "长度", "row", "规范性", []string{"column", "min_len", "max_len"}, "字段值的字符数须在范围内；空值不参与核查。"},
	{"uscc", "统一社会信用代码校验", "row", "规范性", []string{"column"}, "按 GB 32100-2015 校验（含第18位校验码；15位旧注册号视为有效）；空值不参与核查。"},
	{"idcard", "身份证号码校验", "row", "规范性", []string{"column"}, "按 GB 11643-1999 校验校验码、出生日期与地址码；加密字段使用入库时记录的校验结果；空值不参与核查。"},
	{"region", "行政区划代码校验", "row", "规范性", []string{"column"}, "须为有效的 GB/T 2260 代码（含陕西历史代码）；空值不参与核查。"},
	{"not_future", "日期不晚于今天", "row", "准确性", []string{"column"}, "日期（时间）不得晚于当前（北京时间）；空值不参与核查。"},
	{"date_order", "日期先后顺序", "row", "一致性", []string{"columns", "column", "ref_dataset", "ref_key"}, "日期须按所列顺序不减，如 成立日期 ≤ 发证日期 ≤ 有效期至；“ref.字段”取自关联数据集（以 column 关联 ref_key）。"},
	{"referential", "引用完整性", "row", "一致性", []string{"column", "ref_dataset", "ref_key"}, "外键字段的值须在关联数据集中存在，如许可证持证企业须为市场主体。"},
	{"consistency", "跨数据集一致性", "row", "一致性", []string{"column", "ref_dataset", "ref_key", "value_column", "ref_column"}, "本记录字段须与关联记录的字段相同，如许可证的行政区划与持证企业的行政区划一致。"},
	{"freshness", "数据及时性", "set", "时效性", []string{"column", "hours"}, "数据集最近一次更新距今不超过 N 小时。"},
	{"volume", "数据量波动", "set", "完整性", []string{"min_change_pct", "max_change_pct"}, "记录数相对上一次核查的变化率（%）须在范围内；首次核查视为通过。"},
	{"available", "数据可访问", "set", "可访问性", []string{"min_rows"}, "数据集可查询且记录数不少于 min_rows（默认 1）。"},
	{"custom_condition", "自定义条件", "row", "规范性", []string{"condition"}, "SQL 布尔条件，对不合格记录为真；数据集表的别名为 t。只读、限时执行，只能引用数据集表。"},
	{"custom_query", "自定义查询", "set", "规范性", []string{"query"}, "SQL 查询（SELECT），返回不合格记录的键字段（与数据集键同名）。只读、限时执行，只能引用数据集表。"},
}

// TemplateByCode returns the template with the given code.
func TemplateByCode(code string) (Template, bool) {
	i := slices.IndexFunc(RuleTemplates, func(t Template) bool { return t.Code == code })
	if i < 0 {
		return Template{}, false
	}
	return RuleTemplates[i], true
}

var codeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{1,63}$`)

// Limits on rule input.
const (
	maxExceptions = 10000
	maxSampleCap  = 100000
	maxSQLLen     = 8000
)

// fieldErr is a validation error of one field.
func fieldErr(field, format string, args ...any) *web.Error {
	e := web.Errorf(http.StatusBadRequest, "invalid_rule", format, args...)
	e.Fields = map[string]string{field: e.Message}
	return e
}

// normalize trims the rule's text fields and fills defaults from the template.
func (r *Rule) normalize() {
	r.Code = strings.TrimSpace(r.Code)
	r.Name = strings.TrimSpace(r.Name)
	r.Dataset = strings.TrimSpace(r.Dataset)
	r.Template = strings.TrimSpace(r.Template)
	r.Filter = strings.TrimSpace(r.Filter)
	r.Schedule = strings.TrimSpace(r.Schedule)
	r.Params.Condition = strings.TrimSpace(r.Params.Condition)
	r.Params.Query = strings.TrimSpace(r.Params.Query)
	if r.Severity == "" {
		r.Severity = "warning"
	}
	if t, ok := TemplateByCode(r.Template); ok && r.Dimension == "" {
		r.Dimension = t.Dimension
	}
	var ex []string
	seen := map[string]bool{}
	for _, e := range r.Exceptions {
		e = strings.TrimSpace(e)
		if e != "" && !seen[e] {
			seen[e] = true
			ex = append(ex, e)
		}
	}
	r.Exceptions = ex
}

// Validate checks a rule against the catalog: known dataset and template, existing fields of
// fitting types, a compilable pattern, safe custom SQL, a valid schedule. Errors are Chinese.
func (r *Rule) Validate(cat *Catalog) error {
	r.normalize()
	if !codeRE.MatchString(r.Code) {
		return fieldErr("code", "规则代码须以字母开头，由字母、数字、下划线、点或短横线组成，长 2–64 位")
	}
	if r.Name == "" || len([]rune(r.Name)) > 100 {
		return fieldErr("name", "请填写规则名称（不超过 100 字）")
	}
	ds, ok := cat.Get(r.Dataset)
	if !ok {
		return fieldErr("dataset", "数据集 %q 不存在", r.Dataset)
	}
	if _, ok := TemplateByCode(r.Template); !ok {
		return fieldErr("template", "规则模板 %q 不存在", r.Template)
	}
	if !slices.Contains(Dimensions, r.Dimension) {
		return fieldErr("dimension", "质量维度须为 %s 之一", strings.Join(Dimensions, "、"))
	}
	if !slices.ContainsFunc(Severities, func(s struct{ Code, Label string }) bool { return s.Code == r.Severity }) {
		return fieldErr("severity", "严重程度须为 info（提示）、warning（一般）或 critical（严重）")
	}
	if r.Threshold < 0 || r.Threshold > 100 {
		return fieldErr("threshold", "通过阈值须在 0 到 100（%%）之间")
	}
	if len(r.Exceptions) > maxExceptions {
		return fieldErr("exceptions", "例外记录不得超过 %d 条", maxExceptions)
	}
	if r.SampleCap < 0 || r.SampleCap > maxSampleCap {
		return fieldErr("sample_cap", "保留的不合格记录数须在 0 到 %d 之间（0 表示使用系统默认值）", maxSampleCap)
	}
	if r.Schedule != "" {
		if _, err := jobs.ParseSpec(r.Schedule); err != nil {
			return fieldErr("schedule", "执行计划不是有效的 cron 表达式：%v", err)
		}
	}
	if r.Filter != "" {
		if err := checkSQL(r.Filter, sqlCondition, cat); err != nil {
			return fieldErr("filter", "过滤条件：%s", err.Error())
		}
	}
	_, err := compile(r, ds, cat, compileEnv{dialect: "sqlite", now: time.Now()})
	return err
}

// ruleJSON is the stored definition of a rule version.
func (r *Rule) definition() string {
	b, _ := json.Marshal(struct {
		Code, Name, Description, Dataset, Template, Dimension, Severity, Filter, Schedule string
		Params                                                                            Params
		Threshold                                                                         float64
		Exceptions                                                                        []string
		SampleCap                                                                         int
		Enabled                                                                           bool
	}{r.Code, r.Name, r.Description, r.Dataset, r.Template, r.Dimension, r.Severity, r.Filter, r.Schedule,
		r.Params, r.Threshold, r.Exceptions, r.SampleCap, r.Enabled})
	return string(b)
}

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }
