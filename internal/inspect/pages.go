package inspect

import (
	"fmt"
	"net/http"
	"slices"

	"zhsj/internal/iam"
	"zhsj/internal/web"
)

type option struct{ Value, Label string }

func cycleOptions() []option {
	return []option{{CycleDaily, CycleLabels[CycleDaily]}, {CycleWeekly, CycleLabels[CycleWeekly]}, {CycleMonthly, CycleLabels[CycleMonthly]}, {CycleAdhoc, CycleLabels[CycleAdhoc]}}
}

func categoryOptions() []option {
	var out []option
	for _, c := range Categories {
		out = append(out, option{c, CategoryLabels[c]})
	}
	return out
}

type sel struct {
	Value, Label string
	On           bool
}

// planForm is what the plan form fields show: the plan (zero for a new one) and its choices.
type planForm struct {
	P          Plan
	Cycles     []sel
	Categories []sel
}

func newPlanForm(p Plan) planForm {
	f := planForm{P: p}
	for _, c := range cycleOptions() {
		f.Cycles = append(f.Cycles, sel{c.Value, c.Label, c.Value == p.Cycle})
	}
	chosen := map[string]bool{}
	if p.Categories != "" {
		for _, c := range p.CategoryList() {
			chosen[c] = true
		}
	}
	for _, c := range categoryOptions() {
		f.Categories = append(f.Categories, sel{c.Value, c.Label, chosen[c.Value]})
	}
	return f
}

type planRow struct {
	Plan
	Form planForm
}

type plansPage struct {
	Plans    []planRow
	NewForm  planForm
	CanWrite bool
	CanRun   bool
}

func (s *Service) plansPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	plans, err := s.Plans(ctx, iam.FromContext(ctx))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	v := web.ViewerFrom(ctx)
	d := plansPage{NewForm: newPlanForm(Plan{SystemName: "智慧市监平台", Cycle: CycleAdhoc}), CanWrite: v.Can(PermPlanWrite), CanRun: v.Can(PermRunExecute)}
	for _, p := range plans {
		d.Plans = append(d.Plans, planRow{Plan: p, Form: newPlanForm(p)})
	}
	s.pages.Render(w, r, "inspect_plans.html", web.PageData{Title: "巡检计划", Crumbs: []web.Crumb{{Title: "运维中心"}, {Title: "巡检计划"}}, Data: d})
}

type runsPage struct {
	Runs    []Run
	Total   int
	Page    int
	Pages   int
	PrevURL string
	NextURL string
	Chart   map[string]any
}

func (s *Service) runsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	d := runsPage{Page: pg.Page}
	if d.Runs, d.Total, err = s.Runs(ctx, iam.FromContext(ctx), 0, pg.Offset(), pg.Size); err != nil {
		web.Fail(w, r, err)
		return
	}
	d.Pages = max(1, (d.Total+pg.Size-1)/pg.Size)
	if pg.Page > 1 {
		d.PrevURL = fmt.Sprintf("/inspect/runs?page=%d", pg.Page-1)
	}
	if pg.Page < d.Pages {
		d.NextURL = fmt.Sprintf("/inspect/runs?page=%d", pg.Page+1)
	}
	// Health score trend of the runs on this page, oldest first, one line per plan.
	series := map[string][][2]any{}
	var names []string
	for _, run := range slices.Backward(d.Runs) {
		if run.Status != "done" {
			continue
		}
		if _, ok := series[run.PlanName]; !ok {
			names = append(names, run.PlanName)
		}
		series[run.PlanName] = append(series[run.PlanName], [2]any{run.StartedAt.In(shanghai).Format("2006-01-02 15:04"), run.Score})
	}
	if len(names) > 0 {
		var ss []map[string]any
		for _, n := range names {
			ss = append(ss, map[string]any{"name": n, "type": "line", "data": series[n]})
		}
		d.Chart = map[string]any{
			"tooltip": map[string]any{"trigger": "axis"}, "legend": map[string]any{"data": names},
			"xAxis": map[string]any{"type": "category"}, "yAxis": map[string]any{"type": "value", "min": 0, "max": 100, "name": "健康评分"},
			"series": ss,
		}
	}
	s.pages.Render(w, r, "inspect_runs.html", web.PageData{Title: "巡检记录与报告", Crumbs: []web.Crumb{{Title: "运维中心"}, {Title: "巡检记录与报告"}}, Data: d})
}

type runPage struct {
	*ReportData
	CanReview bool
	CanPDF    bool
}

func (s *Service) runPage(w http.ResponseWriter, r *http.Request) {
	d, ok := s.report(w, r)
	if !ok {
		return
	}
	v := web.ViewerFrom(r.Context())
	s.pages.Render(w, r, "inspect_run.html", web.PageData{Title: "巡检报告 #" + fmt.Sprint(d.Run.ID),
		Crumbs: []web.Crumb{{Title: "运维中心"}, {Title: "巡检记录与报告", Path: "/inspect/runs"}, {Title: d.Run.PlanName}},
		Data:   runPage{ReportData: d, CanReview: v.Can(PermReportReview) && d.Run.ReviewedAt == nil && d.Run.Status == "done", CanPDF: chromiumPath() != ""}})
}

// printPage serves the archived printable report as it was issued.
func (s *Service) printPage(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	p := iam.FromContext(r.Context())
	if _, err := s.Run(r.Context(), s.db, p, id); err != nil {
		web.Fail(w, r, err)
		return
	}
	a, err := s.Archived(r.Context(), id, "html", p.Account)
	if err != nil {
		web.Fail(w, r, web.Errorf(404, "not_found", "巡检报告尚未生成"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(a.Content)
}

type findingRow struct {
	Finding
	Statuses []option
}

type findingsPage struct {
	Items    []findingRow
	Total    int
	Status   string
	Statuses []option
	CanWrite bool
	Page     int
	Pages    int
	PrevURL  string
	NextURL  string
}

func (s *Service) findingsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	f := s.findingFilter(r)
	if r.URL.Query().Get("status") == "" && !r.URL.Query().Has("status") {
		f.Status = "unclosed"
	}
	items, total, err := s.Findings(ctx, iam.FromContext(ctx), f, pg.Offset(), pg.Size)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	statuses := []option{{FindingOpen, FindingStatusLabels[FindingOpen]}, {FindingRectifying, FindingStatusLabels[FindingRectifying]}, {FindingClosed, FindingStatusLabels[FindingClosed]}}
	d := findingsPage{Total: total, Status: f.Status, CanWrite: web.ViewerFrom(ctx).Can(PermFindingWrite), Page: pg.Page,
		Statuses: append([]option{{"unclosed", "未关闭"}, {"", "全部"}}, statuses...)}
	for _, it := range items {
		d.Items = append(d.Items, findingRow{Finding: it, Statuses: statuses})
	}
	d.Pages = max(1, (total+pg.Size-1)/pg.Size)
	if pg.Page > 1 {
		d.PrevURL = fmt.Sprintf("/inspect/findings?status=%s&page=%d", f.Status, pg.Page-1)
	}
	if pg.Page < d.Pages {
		d.NextURL = fmt.Sprintf("/inspect/findings?status=%s&page=%d", f.Status, pg.Page+1)
	}
	s.pages.Render(w, r, "inspect_findings.html", web.PageData{Title: "巡检隐患", Crumbs: []web.Crumb{{Title: "运维中心"}, {Title: "巡检隐患"}}, Data: d})
}
