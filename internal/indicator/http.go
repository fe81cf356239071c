package indicator

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"zhsj/internal/iam"
	"zhsj/internal/jobs"
	"zhsj/internal/web"
)

// Routes are the catalogue's pages and API. Definitions and recomputation serve every region's
// dashboards: changing them is ProvinceWide.
func (s *Service) Routes() []web.Route {
	return []web.Route{
		{Method: "GET", Pattern: "/indicators", Permission: PermRead, Summary: "指标目录（指标维护）", Handler: s.pageCatalogue},
		{Method: "GET", Pattern: "/indicators/new", Permission: PermWrite, ProvinceWide: true, Summary: "新增指标", Handler: s.pageEdit},
		{Method: "GET", Pattern: "/indicators/{code}", Permission: PermRead, Summary: "指标详情、版本与计算记录", Handler: s.pageEdit},
		{Method: "GET", Pattern: "/api/v1/indicators", Permission: PermRead, Summary: "指标目录列表（定义、公式、血缘、最近计算、来源数据质量）", Handler: s.apiList},
		{Method: "POST", Pattern: "/api/v1/indicators", Permission: PermWrite, ProvinceWide: true, Summary: "新增指标定义", Handler: s.apiSave(true)},
		{Method: "GET", Pattern: "/api/v1/indicators/{code}", Permission: PermRead, Summary: "指标定义详情", Handler: s.apiGet},
		{Method: "PUT", Pattern: "/api/v1/indicators/{code}", Permission: PermWrite, ProvinceWide: true, Summary: "修改指标定义（生成新版本并重算历史）", Handler: s.apiSave(false)},
		{Method: "GET", Pattern: "/api/v1/indicators/{code}/versions", Permission: PermRead, Summary: "指标定义版本列表", Handler: s.apiVersions},
		{Method: "GET", Pattern: "/api/v1/indicators/{code}/values", Permission: PermRead, Summary: "指标取值（本辖区，按地区与统计期）", Handler: s.apiValues},
		{Method: "GET", Pattern: "/api/v1/indicator-runs", Permission: PermRead, Summary: "指标计算记录列表", Handler: s.apiRuns},
		{Method: "POST", Pattern: "/api/v1/indicator-runs", Permission: PermRecompute, ProvinceWide: true, Summary: "请求全量重算全部指标", Handler: s.apiRecompute},
	}
}

// Menu is the catalogue's menu entry.
func (s *Service) Menu() []web.MenuItem {
	return []web.MenuItem{{Group: "智慧云中心", Title: "指标维护", Path: "/indicators", Permission: PermRead, Order: 90}}
}

// Permissions of the module.
func (s *Service) Permissions() []web.Perm {
	return []web.Perm{
		{Code: PermRead, Name: "查看指标目录与取值", Group: "indicator"},
		{Code: PermWrite, Name: "维护指标定义", Group: "indicator"},
		{Code: PermRecompute, Name: "触发指标全量重算", Group: "indicator"},
	}
}

func (s *Service) apiList(w http.ResponseWriter, r *http.Request) {
	list, err := s.Catalogue(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(list))
}

func (s *Service) apiGet(w http.ResponseWriter, r *http.Request) {
	e, err := s.Entry(r.Context(), r.PathValue("code"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, e)
}

func (s *Service) apiSave(create bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in Input
		if err := web.Decode(r, &in); err != nil {
			web.Fail(w, r, err)
			return
		}
		if !create {
			in.Code = r.PathValue("code")
		}
		d, err := s.Save(r.Context(), r, iam.FromContext(r.Context()), in, create)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		status := http.StatusOK
		if create {
			status = http.StatusCreated
		}
		web.JSON(w, status, map[string]any{"id": d.Code, "code": d.Code, "version": d.Version, "message": "已保存为第 " + strconv.Itoa(d.Version) + " 版，历史数据将按新定义重算"})
	}
}

func (s *Service) apiVersions(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Get(r.Context(), r.PathValue("code")); err != nil {
		web.Fail(w, r, err)
		return
	}
	vs, err := s.Versions(r.Context(), r.PathValue("code"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(vs))
}

// SelFromRequest reads region and period parameters, defaulting the region to the caller's
// jurisdiction and refusing a region outside it.
func SelFromRequest(r *http.Request) (Sel, error) {
	p := iam.FromContext(r.Context())
	sel := Sel{Region: strings.TrimSpace(r.URL.Query().Get("region"))}
	if sel.Region == "" {
		sel.Region = p.Region
	}
	reg, ok := RegionByCode(sel.Region)
	if !ok {
		return sel, web.Errorf(http.StatusBadRequest, "bad_region", "行政区划代码 %q 无效", sel.Region)
	}
	if !p.WithinJurisdiction(reg.Path) {
		return sel, web.Errorf(http.StatusForbidden, "out_of_jurisdiction", "%s 不在您的辖区内，只能查看 %s 及其下辖地区的数据", reg.Name, p.RegionName)
	}
	per, err := ParsePeriod(r.URL.Query().Get("period"))
	if err != nil {
		return sel, err
	}
	sel.Period = per
	return sel, nil
}

func (s *Service) apiValues(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sel, err := SelFromRequest(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	rd, err := s.Reader(ctx, iam.FromContext(ctx))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	code := strings.ToUpper(r.PathValue("code"))
	d, err := rd.Definition(code)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	v, err := rd.Value(ctx, code, sel)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	out := map[string]any{"code": code, "name": d.Name, "unit": d.Unit, "region": sel.Region, "region_name": RegionName(sel.Region),
		"period": sel.Period, "period_label": PeriodLabel(sel.Period), "value": v.Value, "computed_at": v.ComputedAt}
	if d.Breakdown != "" || (d.Kind == KindRatio && d.breakdown(specMap(rd.defs)) != "") {
		if out["breakdown"], err = rd.Breakdown(ctx, code, sel); err != nil {
			web.Fail(w, r, err)
			return
		}
	} else if out["by_region"], err = rd.ByRegion(ctx, code, sel); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, out)
}

func specMap(defs map[string]*Definition) map[string]*Spec {
	out := make(map[string]*Spec, len(defs))
	for k, d := range defs {
		out[k] = &d.Spec
	}
	return out
}

// HasBreakdown reports whether code's values are broken down by a category.
func (r *Reader) HasBreakdown(code string) bool {
	d, ok := r.defs[code]
	return ok && d.breakdown(specMap(r.defs)) != ""
}

func (s *Service) apiRuns(w http.ResponseWriter, r *http.Request) {
	runs, err := s.Runs(r.Context(), strings.ToUpper(r.URL.Query().Get("code")), 100)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(runs))
}

func (s *Service) apiRecompute(w http.ResponseWriter, r *http.Request) {
	p := iam.FromContext(r.Context())
	id, err := s.RequestFull(r.Context(), r, p.Account)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	msg := "已请求全量重算，计算完成后各看板自动刷新"
	if err := s.Kick(r.Context(), p.Account); errors.Is(err, jobs.ErrBusy) {
		msg = "指标计算任务正在运行，全量重算已排队，将在本轮结束后进行"
	}
	web.JSON(w, http.StatusAccepted, map[string]any{"request_id": id, "message": msg})
}

type cataloguePage struct {
	Q, Group string
	Themes   []Group
	Topics   []Group
	Entries  []Entry
	Labels   map[string]string
	Runs     []RunRecord
	CanWrite bool
	CanRun   bool
}

func (s *Service) pageCatalogue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	list, err := s.Catalogue(ctx)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	runs, err := s.Runs(ctx, "", 10)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	p := iam.FromContext(ctx)
	d := cataloguePage{Q: strings.TrimSpace(r.URL.Query().Get("q")), Group: r.URL.Query().Get("group"), Themes: Themes, Topics: Topics,
		Labels: Labels, Runs: runs, CanWrite: p.Can(PermWrite) && p.ProvinceWide(), CanRun: p.Can(PermRecompute) && p.ProvinceWide()}
	for _, e := range list {
		switch {
		case d.Group == "none" && len(e.Groups) > 0, d.Group != "" && d.Group != "none" && !e.InGroup(d.Group):
			continue
		case d.Q != "" && !strings.Contains(strings.ToUpper(e.Code+" "+e.Name+" "+e.Definition.Definition), strings.ToUpper(d.Q)):
			continue
		}
		d.Entries = append(d.Entries, e)
	}
	s.pages.Render(w, r, "indicator_catalogue.html", web.PageData{Title: "指标维护", Crumbs: []web.Crumb{{Title: "智慧云中心"}, {Title: "指标维护"}}, Data: d})
}

type editPage struct {
	New      bool
	Entry    Entry
	Versions []Version
	Runs     []RunRecord
	Datasets []DatasetOption
	Themes   []Group
	Topics   []Group
	Codes    []string
	Labels   map[string]string
	CanWrite bool
	Kinds    []string
	Aggs     []string
	Periods  []string
	PartsJS  string
}

// DatasetOption is a dataset in the editor's choice list.
type DatasetOption struct{ Name, Title, Fields string }

func (s *Service) pageEdit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := iam.FromContext(ctx)
	d := editPage{New: r.PathValue("code") == "", Themes: Themes, Topics: Topics, Labels: Labels, CanWrite: p.Can(PermWrite) && p.ProvinceWide(),
		Kinds: []string{KindAggregate, KindRatio, KindWeighted}, Aggs: []string{AggCount, AggSum, AggCountDistinct},
		Periods: []string{PeriodAll, PeriodYear, PeriodMonth, PeriodDay}}
	title := "新增指标"
	if d.New {
		d.Entry = Entry{Definition: &Definition{Spec: Spec{Kind: KindAggregate, Agg: AggCount, Library: LibTheme, Periods: []string{PeriodAll, PeriodYear, PeriodMonth}}, Enabled: true}}
	} else {
		e, err := s.Entry(ctx, r.PathValue("code"))
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		d.Entry = e
		title = e.Name
		if d.Versions, err = s.Versions(ctx, e.Code); err != nil {
			web.Fail(w, r, err)
			return
		}
		if d.Runs, err = s.Runs(ctx, e.Code, 20); err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	parts := d.Entry.Parts
	if parts == nil {
		parts = []Part{}
	}
	b, _ := json.Marshal(parts)
	d.PartsJS = string(b)
	for _, ds := range Datasets() {
		var cols []string
		for _, f := range ds.Fields {
			if c := f.Column(); c != "" {
				cols = append(cols, c)
			}
		}
		d.Datasets = append(d.Datasets, DatasetOption{Name: ds.Name, Title: ds.TitleZh, Fields: strings.Join(cols, ", ")})
	}
	list, err := s.List(ctx)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	for _, e := range list {
		d.Codes = append(d.Codes, e.Code)
	}
	s.pages.Render(w, r, "indicator_edit.html", web.PageData{Title: title,
		Crumbs: []web.Crumb{{Title: "智慧云中心"}, {Title: "指标维护", Path: "/indicators"}, {Title: title}}, Data: d})
}
