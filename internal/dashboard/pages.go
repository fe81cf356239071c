package dashboard

import "zhsj/internal/indicator"

// Widget kinds.
const (
	KindCard      = "card"       // one number: value, unit, period, freshness
	KindBarRegion = "bar_region" // one bar per child region (one series per code)
	KindTrend     = "trend"      // a line over years, months or days
	KindPie       = "pie"        // breakdown with shares
	KindBarDim    = "bar_dim"    // breakdown as bars
	KindTable     = "table"      // a table of records or derived rows
)

// Widget is one card, chart or table of a dashboard page, declared as data.
type Widget struct {
	ID     string   // stable, used in URLs and element ids
	Title  string   // Chinese title
	Kind   string   // KindCard, …
	Codes  []string // indicators (cards and pies use the first)
	Mode   string   // cards: "mom" adds the month-on-month change
	Period string   // trends: year | month | day
	N      int      // trends: number of periods
	Table  string   // tables: unqualified | assessment | push_runs | ebike
	Wide   bool     // spans the full row
}

// Page is one dashboard page.
type Page struct {
	Key     string // URL segment, e.g. "licence"
	Title   string
	Section string // 产品质量安全 or 数据资产
	Perm    string
	Intro   string
	Widgets []Widget
}

// Path is the page's URL.
func (p *Page) Path() string { return "/dashboard/" + p.Key }

// APIPath is the page's JSON API.
func (p *Page) APIPath() string { return "/api/v1/dashboard/" + p.Key }

// Widget returns the page's widget id.
func (p *Page) Widget(id string) (*Widget, bool) {
	for i := range p.Widgets {
		if p.Widgets[i].ID == id {
			return &p.Widgets[i], true
		}
	}
	return nil, false
}

func card(id, title, code string) Widget {
	return Widget{ID: id, Title: title, Kind: KindCard, Codes: []string{code}}
}

// Pages are the six product-quality-safety modules as the procurement lists them, and the
// data-asset dashboard.
var Pages = []*Page{
	{Key: "licence", Title: "生产许可", Section: "产品质量安全", Perm: PermPQS,
		Intro: "工业产品生产许可证全维度统计：总量、有效、注销、撤销，地市分布、年度趋势与产品类别。",
		Widgets: []Widget{
			card("total", "许可证总数", "LIC_TOTAL"), card("valid", "有效", "LIC_VALID"), card("cancelled", "注销", "LIC_CANCELLED"), card("revoked", "撤销", "LIC_REVOKED"),
			{ID: "by_region", Title: "地市分布", Kind: KindBarRegion, Codes: []string{"LIC_VALID", "LIC_CANCELLED", "LIC_REVOKED"}},
			{ID: "trend", Title: "年度趋势（按发证年份）", Kind: KindTrend, Codes: []string{"LIC_TOTAL", "LIC_VALID"}, Period: indicator.PeriodYear, N: 6},
			{ID: "by_category", Title: "产品类别分布", Kind: KindPie, Codes: []string{"LIC_BY_CATEGORY"}, Wide: true},
		}},
	{Key: "sampling", Title: "质量抽查", Section: "产品质量安全", Perm: PermPQS,
		Intro: "监督抽查批次、合格率与覆盖率，地市分布、八大类产品合格率和不合格产品跟踪。覆盖率口径见指标维护（SMP_COVERAGE）。",
		Widgets: []Widget{
			card("batches", "抽查批次", "SMP_BATCHES"), card("pass_rate", "合格率", "SMP_PASS_RATE"), card("coverage", "覆盖率", "SMP_COVERAGE"), card("unqualified", "不合格批次", "SMP_UNQUALIFIED"),
			{ID: "by_region", Title: "地市抽查批次", Kind: KindBarRegion, Codes: []string{"SMP_BATCHES", "SMP_UNQUALIFIED"}},
			{ID: "pass_rate_by_region", Title: "地市合格率", Kind: KindBarRegion, Codes: []string{"SMP_PASS_RATE"}},
			{ID: "by_category", Title: "八大类产品合格率", Kind: KindBarDim, Codes: []string{"SMP_PASS_RATE_BY_CAT"}},
			{ID: "followup", Title: "不合格产品后处理状态", Kind: KindPie, Codes: []string{"SMP_UNQ_BY_FOLLOWUP"}},
			{ID: "tracking", Title: "不合格产品跟踪", Kind: KindTable, Codes: []string{"SMP_UNQUALIFIED"}, Table: "unqualified", Wide: true},
		}},
	{Key: "enterprise", Title: "企业主体", Section: "产品质量安全", Perm: PermPQS,
		Intro: "企业底数、工业产品企业库与质量安全管理人员，各地市企业分布。",
		Widgets: []Widget{
			card("total", "企业底数", "ENT_TOTAL"), card("industrial", "工业产品生产企业", "ENT_INDUSTRIAL"), card("quality_managers", "质量安全管理人员", "ENT_QM"), card("new", "新设市场主体", "ENT_NEW"),
			{ID: "by_region", Title: "地市企业分布", Kind: KindBarRegion, Codes: []string{"ENT_TOTAL", "ENT_INDUSTRIAL"}},
			{ID: "qm_by_region", Title: "地市质量安全管理人员", Kind: KindBarRegion, Codes: []string{"ENT_QM"}},
			{ID: "trend", Title: "新设市场主体年度趋势", Kind: KindTrend, Codes: []string{"ENT_NEW"}, Period: indicator.PeriodYear, N: 6, Wide: true},
		}},
	{Key: "supervision", Title: "监督检查", Section: "产品质量安全", Perm: PermPQS,
		Intro: "专项计划、检查、整改、复查、立案全流程统计，地市分析与量化考核（得分口径见指标维护 SUP_SCORE）。",
		Widgets: []Widget{
			card("plans", "专项计划", "SUP_PLANS"), card("inspections", "检查户次", "SUP_INSPECTIONS"), card("rectify", "责令整改", "SUP_RECTIFY"),
			card("reinspect", "复查", "SUP_REINSPECT"), card("cases", "立案", "SUP_CASES"),
			{ID: "by_region", Title: "地市检查与处置", Kind: KindBarRegion, Codes: []string{"SUP_INSPECTIONS", "SUP_RECTIFY", "SUP_REINSPECT", "SUP_CASES"}, Wide: true},
			{ID: "assessment", Title: "量化考核", Kind: KindTable, Codes: []string{"SUP_SCORE"}, Table: "assessment", Wide: true},
		}},
	{Key: "trace", Title: "追溯平台", Section: "产品质量安全", Perm: PermPQS,
		Intro: "追溯企业与未追溯企业、追溯码赋码与扫码，追溯平台运行状态监测。",
		Widgets: []Widget{
			card("on", "追溯企业", "TRC_ENT_ON"), card("off", "未追溯企业", "TRC_ENT_OFF"), card("codes", "追溯码", "TRC_CODES"), card("scans", "扫码次数", "TRC_SCANS"), card("ok_rate", "平台运行正常率", "TRC_OK_RATE"),
			{ID: "by_region", Title: "地市追溯企业", Kind: KindBarRegion, Codes: []string{"TRC_ENT_ON", "TRC_ENT_OFF"}},
			{ID: "status", Title: "平台运行状态", Kind: KindPie, Codes: []string{"TRC_BY_STATUS"}},
			{ID: "trend", Title: "赋码量月度趋势", Kind: KindTrend, Codes: []string{"TRC_CODES"}, Period: indicator.PeriodMonth, N: 12, Wide: true},
		}},
	{Key: "ebike", Title: "备案信息", Section: "产品质量安全", Perm: PermPQS,
		Intro: "电动自行车登记备案信息集中展示，按品牌、型号、CCC 证书编号和生产企业检索核查。",
		Widgets: []Widget{
			card("total", "备案车辆", "EBK_TOTAL"), card("brands", "备案品牌", "EBK_BRANDS"),
			{ID: "status", Title: "车辆状态", Kind: KindPie, Codes: []string{"EBK_BY_STATUS"}},
			{ID: "by_region", Title: "地市备案", Kind: KindBarRegion, Codes: []string{"EBK_TOTAL"}},
			{ID: "search", Title: "备案信息检索（品牌、型号、CCC 证书编号、生产企业，分页）", Kind: KindTable, Codes: []string{"EBK_TOTAL"}, Table: "ebike", Wide: true},
		}},
	{Key: "assets", Title: "数据资产", Section: "数据资产", Perm: PermAssets,
		Intro: "资源总数与调用次数（含上月环比）、调用成功率与失败次数、各系统调用占比，以及数据推送明细。",
		Widgets: []Widget{
			{ID: "resources", Title: "资源总数", Kind: KindCard, Codes: []string{"DA_RESOURCES"}, Mode: "mom"},
			{ID: "calls", Title: "总调用次数", Kind: KindCard, Codes: []string{"DA_CALLS"}, Mode: "mom"},
			card("success_rate", "调用成功率", "DA_SUCCESS_RATE"), card("failed", "调用失败次数", "DA_CALLS_FAILED"),
			{ID: "by_system", Title: "各系统调用次数占比", Kind: KindPie, Codes: []string{"DA_CALLS_BY_SYSTEM"}},
			{ID: "trend", Title: "调用次数月度趋势", Kind: KindTrend, Codes: []string{"DA_CALLS", "DA_CALLS_FAILED"}, Period: indicator.PeriodMonth, N: 12},
			{ID: "push", Title: "数据推送明细", Kind: KindTable, Table: "push_runs", Wide: true},
		}},
}

// PageByKey returns a declared page.
func PageByKey(key string) (*Page, bool) {
	for _, p := range Pages {
		if p.Key == key {
			return p, true
		}
	}
	return nil, false
}
