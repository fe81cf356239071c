package dashboard

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/indicator"
	"zhsj/internal/web"
)

// PageView is what a dashboard page template renders.
type PageView struct {
	Page      *Page
	Tabs      []*Page
	Section   string
	Widgets   []Data
	Filter    FilterView
	Query     template.URL // region & period, for links
	Export    string
	CanExport bool
	CanDrill  bool
	Live      string
	Extra     map[string]any
}

// FilterView is the period and region filter: the choices are the viewer's jurisdiction only.
type FilterView struct {
	Region  string
	Period  string
	Regions []Option
	Periods []Option
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
	Selected     bool
}

// ChartJSON is a widget's ECharts option as a JSON script block.
func (d Data) ChartJSON() template.JS {
	b, _ := json.Marshal(d.Option)
	return template.JS(b)
}

// ChartID is the element id of the widget's chart option.
func (d Data) ChartID() string { return "chart-" + d.ID }

// IsChart reports whether the widget is drawn with ECharts.
func (d Data) IsChart() bool { return d.Option != nil }

func (m *Module) filterView(r *http.Request, sel indicator.Sel) FilterView {
	p := iam.FromContext(r.Context())
	f := FilterView{Region: sel.Region, Period: sel.Period}
	root, _ := indicator.RegionByCode(p.Region)
	add := func(code, label string) {
		f.Regions = append(f.Regions, Option{Value: code, Label: label, Selected: code == sel.Region})
	}
	if root != nil {
		add(root.Code, root.Name)
		switch root.Level {
		case indicator.LevelProvince:
			for _, u := range indicator.Units() {
				add(u.Code, "　"+u.Name)
				for _, c := range indicator.Children(u.Code) {
					if c.Code != u.Code {
						add(c.Code, "　　"+c.Name)
					}
				}
			}
		case indicator.LevelUnit:
			for _, c := range indicator.Children(root.Code) {
				if c.Code != root.Code {
					add(c.Code, "　"+c.Name)
				}
			}
		}
	}
	f.Periods = append(f.Periods, Option{Value: "", Label: "全部", Selected: sel.Period == ""})
	now := time.Now().In(web.Shanghai())
	for y := now.Year(); y >= now.Year()-5; y-- {
		ys := strconv.Itoa(y)
		f.Periods = append(f.Periods, Option{Value: ys, Label: ys + "年", Selected: sel.Period == ys})
	}
	for i := 0; i < 24; i++ {
		ms := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -i, 0).Format("2006-01")
		f.Periods = append(f.Periods, Option{Value: ms, Label: indicator.PeriodLabel(ms), Selected: sel.Period == ms})
	}
	if sel.Period != "" {
		found := false
		for _, o := range f.Periods {
			found = found || o.Selected
		}
		if !found {
			f.Periods = append(f.Periods, Option{Value: sel.Period, Label: indicator.PeriodLabel(sel.Period), Selected: true})
		}
	}
	return f
}

func selQuery(sel indicator.Sel) template.URL {
	q := url.Values{"region": {sel.Region}}
	if sel.Period != "" {
		q.Set("period", sel.Period)
	}
	return web.QueryString(q)
}

// buildPage computes every widget of a page.
func (m *Module) buildPage(r *http.Request, p *Page, only string) (*view, []Data, error) {
	v, err := m.newView(r)
	if err != nil {
		return nil, nil, err
	}
	var out []Data
	for i := range p.Widgets {
		w := &p.Widgets[i]
		if only != "" && w.ID != only {
			continue
		}
		d, err := v.build(r.Context(), w)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, d)
	}
	if only != "" && len(out) == 0 {
		return nil, nil, web.Errorf(http.StatusNotFound, "not_found", "看板 %s 没有 %s 这一项", p.Title, only)
	}
	return v, out, nil
}

func (m *Module) pageDashboard(p *Page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ws, err := m.buildPage(r, p, "")
		if err != nil {
			m.failPage(w, r, p.Title, err)
			return
		}
		pv := PageView{Page: p, Tabs: sectionPages(p.Section), Section: p.Section, Widgets: ws, Filter: m.filterView(r, v.sel),
			Query: selQuery(v.sel), CanExport: v.p.Can(PermExport), CanDrill: v.p.Can(PermDrill), Live: "/api/v1/dashboard/events",
			Extra: map[string]any{"Q": r.URL.Query()}}
		// Exports carry the page's filters too (e-bike search terms, push-run filters).
		eq := r.URL.Query()
		eq.Set("region", v.sel.Region)
		eq.Del("page")
		eq.Del("size")
		pv.Export = p.APIPath() + "/export?" + eq.Encode()
		if len(pv.Tabs) < 2 {
			pv.Tabs = nil
		}
		m.pages.Render(w, r, "dashboard_page.html", web.PageData{Title: p.Title, Crumbs: []web.Crumb{{Title: "智慧云中心"}, {Title: p.Section}, {Title: p.Title}}, Data: pv})
	}
}

// failPage shows a Chinese error inside the layout for page requests.
func (m *Module) failPage(w http.ResponseWriter, r *http.Request, title string, err error) {
	we, ok := err.(*web.Error)
	if !ok {
		web.Fail(w, r, err)
		return
	}
	m.pages.RenderStatus(w, r, we.Status, "dashboard_error.html", web.PageData{Title: title, Crumbs: []web.Crumb{{Title: "智慧云中心"}, {Title: title}}, Data: we.Message})
}

// PageJSON is a page's JSON API answer.
type PageJSON struct {
	Page        string `json:"page"`
	Title       string `json:"title"`
	Region      string `json:"region"`
	RegionName  string `json:"region_name"`
	Period      string `json:"period"`
	PeriodLabel string `json:"period_label"`
	Widgets     []Data `json:"widgets"`
}

func (m *Module) apiPage(p *Page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ws, err := m.buildPage(r, p, "")
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		web.JSON(w, http.StatusOK, PageJSON{Page: p.Key, Title: p.Title, Region: v.sel.Region, RegionName: indicator.RegionName(v.sel.Region),
			Period: v.sel.Period, PeriodLabel: indicator.PeriodLabel(v.sel.Period), Widgets: ws})
	}
}

func (m *Module) apiWidget(p *Page, wd *Widget) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, ws, err := m.buildPage(r, p, wd.ID)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		web.JSON(w, http.StatusOK, ws[0])
	}
}
