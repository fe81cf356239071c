package dashboard

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/indicator"
	"zhsj/internal/web"
)

// Theme libraries (主题库): one per business domain, each with its datasets (record counts in
// the viewer's jurisdiction, freshness, quality score) and its indicators. A domain without a
// connected dataset says so and shows how to connect one; no number is ever made up.
// Topic libraries (专题库): cross-domain indicators of the catalogue, grouped by topic.

// DatasetStatus is one dataset of a theme as the viewer sees it.
type DatasetStatus struct {
	Name        string     `json:"name"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Records     int64      `json:"records"`
	UpdatedAt   *time.Time `json:"updated_at"`   // newest change of a row in scope
	LastRun     *time.Time `json:"last_run_at"`  // last committed ingestion
	Quality     *float64   `json:"quality"`      // nil: 暂无质量评分
	QualityAt   *time.Time `json:"quality_at"`   //
	Connected   bool       `json:"connected"`    // has rows (anywhere)
	QualityText string     `json:"quality_text"` //
}

// ThemeView is a theme library.
type ThemeView struct {
	indicator.Group
	Connected  bool            `json:"connected"`
	Datasets   []DatasetStatus `json:"dataset_status"`
	Indicators []Data          `json:"indicators"`
	HowTo      string          `json:"how_to,omitempty"`
	Demo       bool            `json:"demo"`
}

const howTo = "接入方法：在“数据治理 › 数据集”中为该领域的数据配置来源（上传 CSV / XLSX / JSON 文件，配置 HTTP 拉取或推送接口，或从业务库按增量游标抽取），映射字段后导入；数据集登记到数据中台后，在“指标维护”中为本主题定义指标，指标随每次入库自动刷新。"

type countKey struct {
	dataset, scope, region string
	version                int64 // indicator values version: bumped after every ingestion's refresh
}

type countVal struct {
	n       int64
	updated *time.Time
	at      time.Time
}

// countCache keeps record counts of large tables between requests until the next refresh of
// indicator values (which follows every ingestion) or for at most 5 minutes.
type countCache struct {
	sync.Mutex
	m map[countKey]countVal
}

// datasetStatus counts a dataset's rows in region within the viewer's scope.
func (m *Module) datasetStatus(ctx context.Context, p *iam.Principal, name, region string) (DatasetStatus, error) {
	ds, ok := indicator.Dataset(name)
	if !ok {
		return DatasetStatus{Name: name, Title: name}, nil
	}
	st := DatasetStatus{Name: ds.Name, Title: ds.TitleZh, Description: ds.Description}
	version, _, err := m.ind.StateVersion(ctx)
	if err != nil {
		return st, err
	}
	key := countKey{ds.Name, p.RegionPath, region, version}
	m.counts.Lock()
	c, hit := m.counts.m[key]
	m.counts.Unlock()
	if !hit || time.Since(c.at) > 5*time.Minute {
		scope, args := indicator.ScopeFilter(p, "t.region_code")
		q := "SELECT COUNT(*) AS n, MAX(t.last_updated_at) AS updated FROM " + ds.Table + " t WHERE " + scope
		if region != iam.ProvinceCode {
			rg, _ := indicator.RegionByCode(region)
			if rg != nil {
				q += " AND t.region_code IN (SELECT code FROM regions WHERE path LIKE ?)"
				args = append(args, rg.Path+"%")
			}
		}
		n, upd, err := m.countMax(ctx, q, args...)
		if err != nil {
			return st, err
		}
		c = countVal{n: n, updated: upd, at: time.Now()}
		m.counts.Lock()
		if len(m.counts.m) > 10000 {
			m.counts.m = map[countKey]countVal{}
		}
		m.counts.m[key] = c
		m.counts.Unlock()
	}
	st.Records, st.UpdatedAt = c.n, c.updated
	if _, last, err := m.countMax(ctx, `SELECT COUNT(*), MAX(finished_at) FROM ds_ingest_runs WHERE dataset = ? AND status = 'committed'`, ds.Name); err == nil {
		st.LastRun = last
	}
	var any int
	m.db.Get(ctx, &any, "SELECT COUNT(*) FROM (SELECT 1 FROM "+ds.Table+" LIMIT 1) x")
	st.Connected = any > 0
	st.QualityText = "暂无质量评分"
	if m.ind.Quality != nil {
		if qs, ok := m.ind.Quality(ctx, ds.Name); ok {
			v, t := qs.Score, qs.At
			st.Quality, st.QualityAt = &v, &t
			st.QualityText = formatScore(v)
		}
	}
	return st, nil
}

// countMax runs a query returning a count and a MAX of a timestamp column; SQLite returns the
// aggregate of a timestamp as text.
func (m *Module) countMax(ctx context.Context, q string, args ...any) (int64, *time.Time, error) {
	var n int64
	var raw any
	if err := m.db.QueryRow(ctx, q, args...).Scan(&n, &raw); err != nil {
		return 0, nil, err
	}
	switch x := raw.(type) {
	case time.Time:
		return n, &x, nil
	case string:
		if t, err := parseSQLiteTime(x); err == nil {
			return n, &t, nil
		}
	case []byte:
		if t, err := parseSQLiteTime(string(x)); err == nil {
			return n, &t, nil
		}
	}
	return n, nil, nil
}

func formatScore(v float64) string { return format(&v, "分") + " 分" }

// parseSQLiteTime reads a timestamp as modernc's SQLite stores it.
func parseSQLiteTime(s string) (time.Time, error) {
	for _, l := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02T15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05Z07:00"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Parse(time.RFC3339Nano, s)
}

// groupIndicators are the enabled indicators of a theme or topic, catalogue order.
func (m *Module) groupIndicators(ctx context.Context, key string) ([]*indicator.Definition, error) {
	list, err := m.ind.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []*indicator.Definition
	for _, d := range list {
		if d.Enabled && d.InGroup(key) {
			out = append(out, d)
		}
	}
	return out, nil
}

// groupPage turns a theme's or topic's indicators into a page of widgets: a card for each
// indicator with a single value, a pie for each breakdown, bars by region for the first four
// and a monthly trend of the first.
func (m *Module) groupPage(ctx context.Context, g indicator.Group, rd *indicator.Reader, withCharts bool) (*Page, error) {
	defs, err := m.groupIndicators(ctx, g.Key)
	if err != nil {
		return nil, err
	}
	p := &Page{Key: g.Key, Title: g.Title, Section: map[string]string{indicator.LibTheme: "主题库", indicator.LibTopic: "专题库"}[g.Library], Perm: PermLibrary, Intro: g.Description}
	var charts []Widget
	bars, trend := 0, false
	for _, d := range defs {
		id := strings.ToLower(d.Code)
		if rd.HasBreakdown(d.Code) {
			charts = append(charts, Widget{ID: id, Title: d.Name, Kind: KindPie, Codes: []string{d.Code}})
			continue
		}
		p.Widgets = append(p.Widgets, Widget{ID: id, Title: d.Name, Kind: KindCard, Codes: []string{d.Code}})
		if bars < 4 {
			charts = append(charts, Widget{ID: id + "_by_region", Title: d.Name + "·地区分布", Kind: KindBarRegion, Codes: []string{d.Code}})
			bars++
		}
		if !trend && d.Kind == indicator.KindAggregate && d.HasPeriod(indicator.PeriodMonth) {
			charts = append(charts, Widget{ID: id + "_trend", Title: d.Name + "·月度趋势", Kind: KindTrend, Codes: []string{d.Code}, Period: indicator.PeriodMonth, N: 12, Wide: true})
			trend = true
		}
	}
	if withCharts {
		p.Widgets = append(p.Widgets, charts...)
	}
	return p, nil
}

func (m *Module) isDemo(ctx context.Context) bool {
	var n int
	m.db.Get(ctx, &n, `SELECT COUNT(*) FROM settings WHERE key = 'demo.seeded'`)
	return n > 0
}

func (m *Module) theme(r *http.Request, key string) (*ThemeView, *view, error) {
	ctx := r.Context()
	var g *indicator.Group
	for i := range indicator.Themes {
		if indicator.Themes[i].Key == key {
			g = &indicator.Themes[i]
		}
	}
	if g == nil {
		return nil, nil, web.Errorf(http.StatusNotFound, "not_found", "主题库 %s 不存在", key)
	}
	v, err := m.newView(r)
	if err != nil {
		return nil, nil, err
	}
	tv := &ThemeView{Group: *g, Demo: m.isDemo(ctx)}
	for _, name := range g.Datasets {
		st, err := m.datasetStatus(ctx, v.p, name, v.sel.Region)
		if err != nil {
			return nil, nil, err
		}
		tv.Datasets = append(tv.Datasets, st)
		tv.Connected = tv.Connected || st.Connected
	}
	if !tv.Connected {
		tv.HowTo = howTo
		return tv, v, nil // no indicator values without data
	}
	p, err := m.groupPage(ctx, *g, v.rd, false)
	if err != nil {
		return nil, nil, err
	}
	for i := range p.Widgets {
		d, err := v.build(ctx, &p.Widgets[i])
		if err != nil {
			return nil, nil, err
		}
		tv.Indicators = append(tv.Indicators, d)
	}
	return tv, v, nil
}

func (m *Module) apiThemes(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := iam.FromContext(ctx)
	var out []ThemeView
	for _, g := range indicator.Themes {
		tv := ThemeView{Group: g}
		for _, name := range g.Datasets {
			st, err := m.datasetStatus(ctx, p, name, p.Region)
			if err != nil {
				web.Fail(w, r, err)
				return
			}
			tv.Datasets = append(tv.Datasets, st)
			tv.Connected = tv.Connected || st.Connected
		}
		if !tv.Connected {
			tv.HowTo = howTo
		}
		out = append(out, tv)
	}
	web.JSON(w, http.StatusOK, web.Whole(out))
}

func (m *Module) apiTheme(w http.ResponseWriter, r *http.Request) {
	tv, _, err := m.theme(r, r.PathValue("key"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, tv)
}

func (m *Module) pageThemes(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := iam.FromContext(ctx)
	type item struct {
		indicator.Group
		Datasets   []DatasetStatus
		Connected  bool
		Indicators int
	}
	var items []item
	for _, g := range indicator.Themes {
		it := item{Group: g}
		for _, name := range g.Datasets {
			st, err := m.datasetStatus(ctx, p, name, p.Region)
			if err != nil {
				web.Fail(w, r, err)
				return
			}
			it.Datasets = append(it.Datasets, st)
			it.Connected = it.Connected || st.Connected
		}
		defs, err := m.groupIndicators(ctx, g.Key)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		it.Indicators = len(defs)
		items = append(items, it)
	}
	m.pages.Render(w, r, "dashboard_themes.html", web.PageData{Title: "主题库", Crumbs: []web.Crumb{{Title: "智慧云中心"}, {Title: "主题库"}},
		Data: map[string]any{"Items": items, "Demo": m.isDemo(ctx)}})
}

func (m *Module) pageTheme(w http.ResponseWriter, r *http.Request) {
	tv, v, err := m.theme(r, r.PathValue("key"))
	if err != nil {
		m.failPage(w, r, "主题库", err)
		return
	}
	m.pages.Render(w, r, "dashboard_theme.html", web.PageData{Title: tv.Title, Crumbs: []web.Crumb{{Title: "智慧云中心"}, {Title: "主题库", Path: "/dashboard/themes"}, {Title: tv.Title}},
		Data: map[string]any{"Theme": tv, "Filter": m.filterView(r, v.sel), "Live": "/api/v1/dashboard/events", "CanDrill": v.p.Can(PermDrill)}})
}

func topicByKey(key string) (indicator.Group, error) {
	for _, g := range indicator.Topics {
		if g.Key == key {
			return g, nil
		}
	}
	return indicator.Group{}, web.Errorf(http.StatusNotFound, "not_found", "专题库 %s 不存在", key)
}

func (m *Module) topic(r *http.Request, only string) (*Page, *view, []Data, error) {
	g, err := topicByKey(r.PathValue("key"))
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := m.newView(r)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := m.groupPage(r.Context(), g, v.rd, true)
	if err != nil {
		return nil, nil, nil, err
	}
	var out []Data
	for i := range p.Widgets {
		if only != "" && p.Widgets[i].ID != only {
			continue
		}
		d, err := v.build(r.Context(), &p.Widgets[i])
		if err != nil {
			return nil, nil, nil, err
		}
		out = append(out, d)
	}
	if only != "" && len(out) == 0 {
		return nil, nil, nil, web.Errorf(http.StatusNotFound, "not_found", "专题 %s 没有 %s 这一项", g.Title, only)
	}
	return p, v, out, nil
}

func (m *Module) apiTopic(w http.ResponseWriter, r *http.Request) {
	only := r.URL.Query().Get("widget")
	p, v, ws, err := m.topic(r, only)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if only != "" {
		web.JSON(w, http.StatusOK, ws[0])
		return
	}
	web.JSON(w, http.StatusOK, PageJSON{Page: "topic-" + p.Key, Title: p.Title, Region: v.sel.Region, RegionName: indicator.RegionName(v.sel.Region),
		Period: v.sel.Period, PeriodLabel: indicator.PeriodLabel(v.sel.Period), Widgets: ws})
}

func (m *Module) apiTopicExport(w http.ResponseWriter, r *http.Request) {
	only := r.URL.Query().Get("widget")
	p, v, ws, err := m.topic(r, only)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	detail := "导出专题库“" + p.Title + "”数据（地区：" + indicator.RegionName(v.sel.Region) + "，统计期：" + indicator.PeriodLabel(v.sel.Period) + "）"
	m.send(w, r, "专题库-"+p.Title, "topic:"+p.Key+ifs(only != "", ":"+only), detail, tables(ws))
}

func (m *Module) pageTopics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	type item struct {
		indicator.Group
		Indicators []*indicator.Definition
	}
	var dirs []string
	byDir := map[string][]item{}
	for _, g := range indicator.Topics {
		defs, err := m.groupIndicators(ctx, g.Key)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		if _, ok := byDir[g.Direction]; !ok {
			dirs = append(dirs, g.Direction)
		}
		byDir[g.Direction] = append(byDir[g.Direction], item{Group: g, Indicators: defs})
	}
	type dir struct {
		Title  string
		Topics []item
	}
	var data []dir
	for _, d := range dirs {
		data = append(data, dir{Title: d, Topics: byDir[d]})
	}
	m.pages.Render(w, r, "dashboard_topics.html", web.PageData{Title: "专题库", Crumbs: []web.Crumb{{Title: "智慧云中心"}, {Title: "专题库"}}, Data: data})
}

func (m *Module) pageTopic(w http.ResponseWriter, r *http.Request) {
	p, v, ws, err := m.topic(r, "")
	if err != nil {
		m.failPage(w, r, "专题库", err)
		return
	}
	pv := PageView{Page: p, Section: "专题库", Widgets: ws, Filter: m.filterView(r, v.sel), Query: selQuery(v.sel), CanExport: v.p.Can(PermExport),
		CanDrill: v.p.Can(PermDrill), Live: "/api/v1/dashboard/events"}
	pv.Export = "/api/v1/dashboard/topics/" + p.Key + "/export?" + string(pv.Query)
	g, _ := topicByKey(p.Key)
	pv.Extra = map[string]any{"Direction": g.Direction, "TopicPath": "/dashboard/topics/" + p.Key}
	m.pages.Render(w, r, "dashboard_page.html", web.PageData{Title: p.Title, Crumbs: []web.Crumb{{Title: "智慧云中心"}, {Title: "专题库", Path: "/dashboard/topics"}, {Title: p.Title}}, Data: pv})
}
