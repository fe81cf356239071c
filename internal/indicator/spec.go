package indicator

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"

	"zhsj/internal/dataset"
	"zhsj/internal/web"
)

// Indicator kinds.
const (
	KindAggregate = "aggregate" // one SQL aggregate over one dataset, materialised
	KindRatio     = "ratio"     // numerator / denominator of two indicators, at read time
	KindWeighted  = "weighted"  // weighted sum of other indicators, at read time
)

// Aggregates of an aggregate indicator.
const (
	AggCount         = "count"          // rows matching the filter
	AggSum           = "sum"            // SUM(expr) over rows matching the filter
	AggCountDistinct = "count_distinct" // COUNT(DISTINCT expr) over rows matching the filter
)

// Libraries.
const (
	LibTheme = "theme" // 主题库
	LibTopic = "topic" // 专题库
)

// Region levels and period kinds of materialised values.
const (
	LevelProvince = "province"
	LevelUnit     = "unit"
	LevelCounty   = "county"

	PeriodAll   = "all"
	PeriodYear  = "year"
	PeriodMonth = "month"
	PeriodDay   = "day"
)

// Levels are the region levels every aggregate indicator is materialised at.
var Levels = []string{LevelProvince, LevelUnit, LevelCounty}

// periodRank orders period kinds from coarse to fine.
var periodRank = map[string]int{PeriodAll: 0, PeriodYear: 1, PeriodMonth: 2, PeriodDay: 3}

// Labels are the Chinese names of the enumerations, for pages.
var Labels = map[string]string{
	KindAggregate: "聚合", KindRatio: "比率", KindWeighted: "加权综合",
	AggCount: "计数", AggSum: "求和", AggCountDistinct: "去重计数",
	LibTheme: "主题库", LibTopic: "专题库",
	LevelProvince: "全省", LevelUnit: "地市（报送单位）", LevelCounty: "区县",
	PeriodAll: "累计", PeriodYear: "年", PeriodMonth: "月", PeriodDay: "日",
}

// Part is one weighted component of a weighted indicator.
type Part struct {
	Code   string  `json:"code"`
	Weight float64 `json:"weight"`
}

// Spec is an indicator's declared definition: what it means, how it is computed and along
// which dimensions. It is stored as JSON (ind_definitions.spec) and versioned.
type Spec struct {
	Code       string   `json:"code"`
	Name       string   `json:"name"`
	Definition string   `json:"definition"` // Chinese definition text shown in the catalogue
	Unit       string   `json:"unit"`
	Library    string   `json:"library"` // theme | topic
	Groups     []string `json:"groups"`  // theme domain or topic keys it belongs to
	Kind       string   `json:"kind"`

	// Aggregate indicators: SQL over one dataset (columns unqualified; the row is "t").
	Dataset     string   `json:"dataset,omitempty"`
	Agg         string   `json:"agg,omitempty"`
	Expr        string   `json:"expr,omitempty"`   // column or expression for sum / count_distinct
	Filter      string   `json:"filter,omitempty"` // SQL condition; empty = every row
	Breakdown   string   `json:"breakdown,omitempty"`
	CodeTable   string   `json:"code_table,omitempty"`   // labels of breakdown values (ds_code_items)
	PeriodField string   `json:"period_field,omitempty"` // default: the dataset's period field
	Periods     []string `json:"periods,omitempty"`      // materialised period kinds; default all, year, month
	Cumulative  bool     `json:"cumulative,omitempty"`   // a stock: a period's value is everything up to its end

	// Ratio indicators.
	Numerator   string  `json:"numerator,omitempty"`
	Denominator string  `json:"denominator,omitempty"`
	DenAll      bool    `json:"den_all,omitempty"` // the denominator is read for the whole time (a stock)
	Scale       float64 `json:"scale,omitempty"`   // e.g. 100 for a percentage

	// Weighted indicators.
	Parts []Part `json:"parts,omitempty"`

	Drill string `json:"drill,omitempty"` // indicator whose records a drill-down lists; default itself / numerator
}

// LineageItem is one dataset and the fields an indicator reads from it.
type LineageItem struct {
	Dataset string   `json:"dataset"`
	Title   string   `json:"title"`
	Fields  []string `json:"fields"`
}

// Additive reports whether the indicator's values can be summed across regions and periods.
func (s *Spec) Additive() bool {
	return s.Kind == KindAggregate && s.Agg != AggCountDistinct
}

// finest is the finest period kind an aggregate is materialised at.
func (s *Spec) finest() string {
	f := PeriodAll
	for _, p := range s.periods() {
		if periodRank[p] > periodRank[f] {
			f = p
		}
	}
	return f
}

func (s *Spec) periods() []string {
	if len(s.Periods) == 0 {
		return []string{PeriodAll, PeriodYear, PeriodMonth}
	}
	return s.Periods
}

// InGroup reports whether the indicator belongs to the theme or topic key.
func (s *Spec) InGroup(key string) bool { return slices.Contains(s.Groups, key) }

// HasPeriod reports whether values exist for the period kind.
func (s *Spec) HasPeriod(kind string) bool { return slices.Contains(s.periods(), kind) }

var codeRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,39}$`)

func bad(field, format string, args ...any) error {
	e := web.Errorf(http.StatusBadRequest, "bad_indicator", format, args...)
	e.Fields = map[string]string{field: e.Message}
	return e
}

// Normalize trims the spec and fills defaults.
func (s *Spec) Normalize() {
	s.Code = strings.ToUpper(strings.TrimSpace(s.Code))
	s.Name = strings.TrimSpace(s.Name)
	s.Definition = strings.TrimSpace(s.Definition)
	s.Unit = strings.TrimSpace(s.Unit)
	s.Expr = strings.TrimSpace(s.Expr)
	s.Filter = strings.TrimSpace(s.Filter)
	s.Breakdown = strings.TrimSpace(s.Breakdown)
	s.PeriodField = strings.TrimSpace(s.PeriodField)
	s.Numerator = strings.ToUpper(strings.TrimSpace(s.Numerator))
	s.Denominator = strings.ToUpper(strings.TrimSpace(s.Denominator))
	s.Drill = strings.ToUpper(strings.TrimSpace(s.Drill))
	if s.Kind == "" {
		s.Kind = KindAggregate
	}
	if s.Kind == KindAggregate {
		if s.Agg == "" {
			s.Agg = AggCount
		}
		if len(s.Periods) == 0 {
			s.Periods = []string{PeriodAll, PeriodYear, PeriodMonth}
		}
		sort.Slice(s.Periods, func(i, j int) bool { return periodRank[s.Periods[i]] < periodRank[s.Periods[j]] })
		s.Periods = slices.Compact(s.Periods)
	} else {
		s.Dataset, s.Agg, s.Expr, s.Filter, s.Breakdown, s.CodeTable, s.PeriodField, s.Periods, s.Cumulative = "", "", "", "", "", "", "", nil, false
	}
	for i := range s.Parts {
		s.Parts[i].Code = strings.ToUpper(strings.TrimSpace(s.Parts[i].Code))
	}
}

// Validate checks the spec on its own; references to other indicators are checked by the
// catalogue (checkRefs) and the SQL by a trial run.
func (s *Spec) Validate() error {
	if !codeRE.MatchString(s.Code) {
		return bad("code", "指标编码须为 2 到 40 位大写字母、数字或下划线，并以字母开头")
	}
	if s.Name == "" || len([]rune(s.Name)) > 60 {
		return bad("name", "请填写指标名称（不超过 60 字）")
	}
	if s.Definition == "" {
		return bad("definition", "请填写指标定义（口径说明）")
	}
	if s.Unit == "" || len([]rune(s.Unit)) > 10 {
		return bad("unit", "请填写计量单位（不超过 10 字）")
	}
	if s.Library != LibTheme && s.Library != LibTopic {
		return bad("library", "所属库须为主题库（theme）或专题库（topic）")
	}
	for _, g := range s.Groups {
		if _, ok := GroupTitle(g); !ok {
			return bad("groups", "未知的主题或专题：%s", g)
		}
	}
	switch s.Kind {
	case KindAggregate:
		return s.validateAggregate()
	case KindRatio:
		if s.Numerator == "" || s.Denominator == "" {
			return bad("numerator", "比率指标须指定分子和分母指标")
		}
		if s.Numerator == s.Code || s.Denominator == s.Code {
			return bad("numerator", "比率指标不能引用自身")
		}
		if s.Scale < 0 {
			return bad("scale", "倍数不能为负")
		}
	case KindWeighted:
		if len(s.Parts) == 0 {
			return bad("parts", "加权综合指标须至少包含一个组成指标")
		}
		for _, p := range s.Parts {
			if p.Code == "" || p.Code == s.Code {
				return bad("parts", "组成指标编码无效：%q", p.Code)
			}
		}
	default:
		return bad("kind", "指标类型须为 aggregate、ratio 或 weighted")
	}
	return nil
}

func (s *Spec) validateAggregate() error {
	ds, ok := Dataset(s.Dataset)
	if !ok {
		return bad("dataset", "未知的数据集：%q", s.Dataset)
	}
	switch s.Agg {
	case AggCount:
		if s.Expr != "" {
			return bad("expr", "计数指标不需要表达式")
		}
	case AggSum, AggCountDistinct:
		if s.Expr == "" {
			return bad("expr", "求和与去重计数指标须填写表达式（字段或算式）")
		}
	default:
		return bad("agg", "聚合方式须为 count、sum 或 count_distinct")
	}
	for _, p := range s.Periods {
		if _, ok := periodRank[p]; !ok {
			return bad("periods", "未知的统计周期：%q（可用 all、year、month、day）", p)
		}
	}
	if !slices.Contains(s.Periods, PeriodAll) {
		return bad("periods", "统计周期须包含累计（all）")
	}
	if s.Cumulative && (!s.Additive() || s.finest() == PeriodAll) {
		return bad("cumulative", "存量（累计至期末）指标须为计数或求和，且按年或月统计")
	}
	if _, err := s.periodColumn(ds); err != nil {
		return err
	}
	if s.Breakdown != "" {
		if f, ok := ds.Field(s.Breakdown); !ok || f.Column() != s.Breakdown {
			return bad("breakdown", "分组字段 %q 不是数据集“%s”的字段", s.Breakdown, ds.TitleZh)
		}
	}
	for _, part := range []struct{ name, text string }{{"expr", s.Expr}, {"filter", s.Filter}} {
		if _, err := checkSQL(part.text, ds); err != nil {
			return bad(part.name, "%s：%v", map[string]string{"expr": "表达式", "filter": "筛选条件"}[part.name], err)
		}
	}
	return nil
}

// periodColumn is the column placing a row in a period and whether it is a timestamp.
func (s *Spec) periodColumn(ds *dataset.Dataset) (col string, err error) {
	col = s.PeriodField
	if col == "" {
		col = ds.PeriodField
	}
	if col == dataset.ColFirstSeen || col == dataset.ColLastUpdated {
		return col, nil
	}
	f, ok := ds.Field(col)
	if !ok || (f.Type != dataset.TypeDate && f.Type != dataset.TypeDateTime) || f.Extra {
		return "", bad("period_field", "统计期字段 %q 须为数据集“%s”的日期字段", col, ds.TitleZh)
	}
	return col, nil
}

// isTimestamp reports whether the period column holds timestamps rather than YYYY-MM-DD text.
func isTimestamp(ds *dataset.Dataset, col string) bool {
	if col == dataset.ColFirstSeen || col == dataset.ColLastUpdated {
		return true
	}
	f, ok := ds.Field(col)
	return ok && f.Type == dataset.TypeDateTime
}

// Refs are the other indicators a ratio or weighted indicator reads.
func (s *Spec) Refs() []string {
	switch s.Kind {
	case KindRatio:
		return []string{s.Numerator, s.Denominator}
	case KindWeighted:
		out := make([]string, len(s.Parts))
		for i, p := range s.Parts {
			out[i] = p.Code
		}
		return out
	}
	return nil
}

// sqlWords are the keywords and functions an indicator expression or filter may use. Every
// other identifier must be a column of a dataset or a dataset table, so that an expression
// can read datasets and nothing else, and cannot write.
var sqlWords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "is": true, "null": true, "like": true, "between": true,
	"case": true, "when": true, "then": true, "else": true, "end": true, "true": true, "false": true,
	"select": true, "distinct": true, "from": true, "where": true, "exists": true, "as": true,
	"coalesce": true, "nullif": true, "substr": true, "length": true, "lower": true, "upper": true, "trim": true,
	"cast": true, "integer": true, "bigint": true, "text": true, "abs": true, "round": true,
}

// sqlToken splits an expression into words, quoted strings, numbers and operators.
var sqlToken = regexp.MustCompile(`^(?:'(?:[^']|'')*'|[0-9]+(?:\.[0-9]+)?|[A-Za-z_][A-Za-z0-9_]*|<>|<=|>=|!=|\|\||[-+*/%=<>(),])`)

// checkSQL validates an indicator expression or filter against the datasets it may read and
// returns the dataset columns it references, by dataset name.
func checkSQL(text string, main *dataset.Dataset) (map[string][]string, error) {
	refs := map[string][]string{}
	if text == "" {
		return refs, nil
	}
	if len(text) > 2000 {
		return nil, fmt.Errorf("过长（不超过 2000 字符）")
	}
	var words []string
	depth := 0
	rest := text
	for {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			break
		}
		m := sqlToken.FindString(rest)
		if m == "" {
			r := []rune(rest)[0]
			return nil, fmt.Errorf("不允许的字符 %q（仅可使用字段、常量、运算符和常用函数）", r)
		}
		switch m {
		case "(":
			depth++
		case ")":
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("括号不匹配")
			}
		}
		c := m[0]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
			words = append(words, m)
		}
		rest = rest[len(m):]
	}
	if depth != 0 {
		return nil, fmt.Errorf("括号不匹配")
	}
	// Tables named in subqueries widen the columns that may be referenced.
	scope := []*dataset.Dataset{main}
	for _, w := range words {
		if ds, ok := datasetByTable(w); ok && ds != main {
			scope = append(scope, ds)
			refs[ds.Name] = append(refs[ds.Name], ds.Key...)
		}
	}
	for _, w := range words {
		lw := strings.ToLower(w)
		if sqlWords[lw] {
			continue
		}
		if _, ok := datasetByTable(w); ok {
			continue
		}
		found := false
		for _, ds := range scope {
			if hasColumn(ds, w) {
				refs[ds.Name] = append(refs[ds.Name], w)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%q 不是可用的字段、数据集或函数", w)
		}
	}
	for k, v := range refs {
		slices.Sort(v)
		refs[k] = slices.Compact(v)
	}
	return refs, nil
}

// hasColumn reports whether name is a readable column of ds: a plain field, the masked copy of
// a sealed one, or a system column. Sealed ciphertext and blind indexes are not readable.
func hasColumn(ds *dataset.Dataset, name string) bool {
	switch name {
	case dataset.ColRegion, dataset.ColFirstSeen, dataset.ColLastUpdated, dataset.ColID:
		return true
	}
	for i := range ds.Fields {
		if c := ds.Fields[i].Column(); c != "" && c == name {
			return true
		}
	}
	return false
}

// lineage lists the datasets and fields an aggregate reads.
func (s *Spec) lineage() []LineageItem {
	ds, ok := Dataset(s.Dataset)
	if !ok {
		return nil
	}
	fields := map[string][]string{}
	add := func(m map[string][]string) {
		for k, v := range m {
			fields[k] = append(fields[k], v...)
		}
	}
	col, _ := s.periodColumn(ds)
	main := []string{dataset.ColRegion}
	if col != "" {
		main = append(main, col)
	}
	if s.Breakdown != "" {
		main = append(main, s.Breakdown)
	}
	add(map[string][]string{ds.Name: main})
	for _, t := range []string{s.Expr, s.Filter} {
		m, _ := checkSQL(t, ds)
		add(m)
	}
	var out []LineageItem
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == ds.Name) != (names[j] == ds.Name) {
			return names[i] == ds.Name
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		v := fields[n]
		slices.Sort(v)
		d, _ := Dataset(n)
		out = append(out, LineageItem{Dataset: n, Title: d.TitleZh, Fields: slices.Compact(v)})
	}
	return out
}

// readsTable reports whether the aggregate reads the dataset's table (as its own or in a
// subquery of its expression or filter).
func (s *Spec) reads(name string) bool {
	for _, l := range s.lineage() {
		if l.Dataset == name {
			return true
		}
	}
	return false
}
