// Package dashboard is the Smart Cloud Center's views (智慧云中心): the six
// product-quality-safety modules, data assets, and the theme and topic libraries. Every
// number comes from the indicator layer's materialised values, limited to the viewer's
// jurisdiction in SQL; every card and chart has a JSON API (in the OpenAPI document through
// the route table), drills down to the records behind it, exports to XLSX (audited), and
// refreshes on open pages through Server-Sent Events when values change.
package dashboard

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"zhsj/internal/audit"
	"zhsj/internal/indicator"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

//go:embed templates
var templates embed.FS

// Templates are the module's page templates.
func Templates() fs.FS { return templates }

// Permissions (leader, analyst and inspector roles hold dashboard.*).
const (
	PermPQS     = "dashboard.pqs.read"
	PermAssets  = "dashboard.assets.read"
	PermLibrary = "dashboard.library.read"
	PermDrill   = "dashboard.drill.read"
	PermExport  = "dashboard.data.export"
)

// Module serves the dashboards.
type Module struct {
	db     *store.DB
	ind    *indicator.Service
	audit  *audit.Log
	log    *slog.Logger
	pages  *web.Pages
	hub    *hub
	counts countCache
}

// New returns the module.
func New(db *store.DB, ind *indicator.Service, a *audit.Log, log *slog.Logger) *Module {
	if log == nil {
		log = slog.Default()
	}
	return &Module{db: db, ind: ind, audit: a, log: log, hub: newHub(ind), counts: countCache{m: map[countKey]countVal{}}}
}

// SetPages receives the page renderer.
func (m *Module) SetPages(p *web.Pages) { m.pages = p }

// Permissions of the module.
func (m *Module) Permissions() []web.Perm {
	return []web.Perm{
		{Code: PermPQS, Name: "查看产品质量安全看板", Group: "dashboard"},
		{Code: PermAssets, Name: "查看数据资产看板", Group: "dashboard"},
		{Code: PermLibrary, Name: "查看主题库与专题库", Group: "dashboard"},
		{Code: PermDrill, Name: "看板下钻查看明细记录", Group: "dashboard"},
		{Code: PermExport, Name: "导出看板数据（XLSX）", Group: "dashboard"},
	}
}

// Menu is the module's entries in 智慧云中心.
func (m *Module) Menu() []web.MenuItem {
	return []web.MenuItem{
		{Group: "智慧云中心", Title: "产品质量安全", Path: "/dashboard/licence", Permission: PermPQS, Order: 10},
		{Group: "智慧云中心", Title: "数据资产", Path: "/dashboard/assets", Permission: PermAssets, Order: 20},
		{Group: "智慧云中心", Title: "主题库", Path: "/dashboard/themes", Permission: PermLibrary, Order: 30},
		{Group: "智慧云中心", Title: "专题库", Path: "/dashboard/topics", Permission: PermLibrary, Order: 40},
	}
}

// Routes are every page, the JSON API of every page, card and chart, drill-down, export and
// the live-update stream.
func (m *Module) Routes() []web.Route {
	var rs []web.Route
	for _, p := range Pages {
		rs = append(rs,
			web.Route{Method: "GET", Pattern: p.Path(), Permission: p.Perm, Summary: p.Section + "看板：" + p.Title, Handler: m.pageDashboard(p)},
			web.Route{Method: "GET", Pattern: p.APIPath(), Permission: p.Perm, Summary: p.Section + "·" + p.Title + "：全部卡片与图表数据", Handler: m.apiPage(p)},
			web.Route{Method: "GET", Pattern: p.APIPath() + "/export", Permission: PermExport, Summary: p.Section + "·" + p.Title + "：导出卡片、图表与表格数据（XLSX，可用 widget 参数只导出一项）", Handler: m.apiExport(p)},
		)
		for i := range p.Widgets {
			w := &p.Widgets[i]
			rs = append(rs, web.Route{Method: "GET", Pattern: p.APIPath() + "/" + w.ID, Permission: p.Perm,
				Summary: p.Title + "·" + w.Title + "（" + kindLabel(w.Kind) + "数据）", Handler: m.apiWidget(p, w)})
		}
	}
	rs = append(rs,
		web.Route{Method: "GET", Pattern: "/api/v1/dashboard/events", Permission: web.LoggedIn, Summary: "看板实时刷新事件流（Server-Sent Events：指标值更新时推送版本号）", Handler: m.stream},
		web.Route{Method: "GET", Pattern: "/dashboard/records", Permission: PermDrill, Summary: "看板下钻：卡片或图表背后的明细记录", Handler: m.pageRecords},
		web.Route{Method: "GET", Pattern: "/dashboard/records/{dataset}/{id}", Permission: PermDrill, Summary: "看板下钻：单条记录详情", Handler: m.pageRecord},
		web.Route{Method: "GET", Pattern: "/api/v1/dashboard/records", Permission: PermDrill, Summary: "看板下钻明细记录列表（ind、region、level、period、dim 参数）", Handler: m.apiRecords},
		web.Route{Method: "GET", Pattern: "/api/v1/dashboard/records/export", Permission: PermExport, Summary: "导出下钻明细记录（XLSX）", Handler: m.apiRecordsExport},
		web.Route{Method: "GET", Pattern: "/api/v1/dashboard/records/{dataset}/{id}", Permission: PermDrill, Summary: "看板下钻单条记录详情", Handler: m.apiRecord},
		web.Route{Method: "GET", Pattern: "/api/v1/dashboard/push-runs", Permission: PermAssets, Summary: "数据推送明细列表（推送时间、任务名称、调度类型、运行状态）", Handler: m.apiPushRuns},
		web.Route{Method: "GET", Pattern: "/dashboard/themes", Permission: PermLibrary, Summary: "主题库总览", Handler: m.pageThemes},
		web.Route{Method: "GET", Pattern: "/dashboard/themes/{key}", Permission: PermLibrary, Summary: "主题库：数据集、记录数、更新时间、质量评分与指标", Handler: m.pageTheme},
		web.Route{Method: "GET", Pattern: "/api/v1/dashboard/themes", Permission: PermLibrary, Summary: "主题库列表与接入状态", Handler: m.apiThemes},
		web.Route{Method: "GET", Pattern: "/api/v1/dashboard/themes/{key}", Permission: PermLibrary, Summary: "主题库详情（数据集与指标取值）", Handler: m.apiTheme},
		web.Route{Method: "GET", Pattern: "/dashboard/topics", Permission: PermLibrary, Summary: "专题库总览", Handler: m.pageTopics},
		web.Route{Method: "GET", Pattern: "/dashboard/topics/{key}", Permission: PermLibrary, Summary: "专题库：跨领域指标与图表", Handler: m.pageTopic},
		web.Route{Method: "GET", Pattern: "/api/v1/dashboard/topics/{key}", Permission: PermLibrary, Summary: "专题库全部卡片与图表数据（可用 widget 参数取单项）", Handler: m.apiTopic},
		web.Route{Method: "GET", Pattern: "/api/v1/dashboard/topics/{key}/export", Permission: PermExport, Summary: "导出专题库卡片与图表数据（XLSX）", Handler: m.apiTopicExport},
	)
	return rs
}

func kindLabel(k string) string {
	return map[string]string{KindCard: "卡片", KindBarRegion: "地区柱状图", KindTrend: "趋势折线图", KindPie: "占比饼图", KindBarDim: "分类柱状图", KindTable: "表格"}[k]
}

// canSee reports whether the viewer may open a path (for links between dashboards).
func canSee(r *http.Request, perm string) bool {
	v := web.ViewerFrom(r.Context())
	return v != nil && v.Can(perm)
}

// sectionPages are the pages of a section, for the tab bar.
func sectionPages(section string) []*Page {
	var out []*Page
	for _, p := range Pages {
		if strings.EqualFold(p.Section, section) {
			out = append(out, p)
		}
	}
	return out
}
