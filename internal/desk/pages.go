package desk

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/web"
)

func (d *Desk) pageRoutes() []web.Route {
	return []web.Route{
		{Method: "GET", Pattern: "/desk/tickets", Permission: PermTicketRead, Summary: "运维单", Handler: d.pageTickets},
		{Method: "GET", Pattern: "/desk/tickets/new", Permission: PermTicketCreate, Summary: "提交运维单", Handler: d.pageNewTicket},
		{Method: "GET", Pattern: "/desk/tickets/{id}", Permission: PermTicketRead, Summary: "运维单详情", Handler: d.pageTicket},
		{Method: "GET", Pattern: "/desk/suggest", Permission: PermKBRead, Summary: "相关知识推荐（页面片段）", Handler: d.pageSuggest},
		{Method: "GET", Pattern: "/desk/approvals", Permission: PermApprove, Summary: "变更审批", Handler: d.pageApprovals},
		{Method: "GET", Pattern: "/desk/kb", Permission: PermKBRead, Summary: "知识库", Handler: d.pageKB},
		{Method: "GET", Pattern: "/desk/kb/new", Permission: PermKBWrite, Summary: "新建知识", Handler: d.pageArticle},
		{Method: "GET", Pattern: "/desk/kb/{id}", Permission: PermKBRead, Summary: "知识详情", Handler: d.pageArticle},
		{Method: "GET", Pattern: "/desk/problems", Permission: PermTicketRead, Summary: "问题集", Handler: d.pageProblems},
		{Method: "GET", Pattern: "/desk/problems/new", Permission: PermTicketWrite, Summary: "新建问题记录", Handler: d.pageProblem},
		{Method: "GET", Pattern: "/desk/problems/{id}", Permission: PermTicketRead, Summary: "问题记录详情", Handler: d.pageProblem},
		{Method: "GET", Pattern: "/desk/sla", Permission: PermTicketRead, Summary: "SLA 与升级", Handler: d.pageSLA},
		{Method: "GET", Pattern: "/desk/reports", Permission: PermReportRead, Summary: "工作报告", Handler: d.pageReports},
		{Method: "GET", Pattern: "/desk/reports/{id}", Permission: PermReportRead, Summary: "工作报告详情", Handler: d.pageReport},
		{Method: "GET", Pattern: "/desk/reports/{id}/print", Permission: PermReportRead, Summary: "工作报告打印版（归档 HTML）", Handler: d.pageReportPrint},
		{Method: "GET", Pattern: "/desk/trainings", Permission: PermReportRead, Summary: "培训记录", Handler: d.pageTrainings},
		{Method: "GET", Pattern: "/m/desk", Permission: PermTicketRead, Summary: "移动端：我的运维单", Handler: d.pageMobileList},
		{Method: "GET", Pattern: "/m/desk/new", Permission: PermTicketCreate, Summary: "移动端：提交运维单", Handler: d.pageMobileNew},
		{Method: "GET", Pattern: "/m/desk/tickets/{id}", Permission: PermTicketRead, Summary: "移动端：运维单详情", Handler: d.pageMobileTicket},
	}
}

func (d *Desk) render(w http.ResponseWriter, r *http.Request, name, title string, crumbs []web.Crumb, data any) {
	d.pages.Render(w, r, name, web.PageData{Title: title, Crumbs: crumbs, Data: data})
}

// pageError shows a page's failure as a page with the Chinese message (unknown errors go
// through web.Fail, which logs them and hides the detail).
func (d *Desk) pageError(w http.ResponseWriter, r *http.Request, err error) {
	var we *web.Error
	if !errors.As(err, &we) || web.WantsJSON(r) {
		web.Fail(w, r, err)
		return
	}
	d.pages.RenderStatus(w, r, we.Status, "desk_error.html", web.PageData{Title: "无法显示", Crumbs: []web.Crumb{deskCrumb}, Data: we.Message})
}

var deskCrumb = web.Crumb{Title: "服务台", Path: "/desk/tickets"}

type ticketsPage struct {
	List       TicketList
	Filter     TicketFilter
	Query      template.URL
	Prev, Next string
	States     []string
	StateNames map[string]string
	Categories []string
	Grades     map[int]string
	Sources    map[string]string
}

func (d *Desk) pageTickets(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	f := ticketFilter(r)
	list, err := d.ListTickets(r.Context(), principal(r), f, pg)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	q := r.URL.Query()
	q.Del("page")
	tp := ticketsPage{List: list, Filter: f, Query: web.QueryString(q), States: append(append([]string{}, Lifecycle...), StatePending), StateNames: StateNames,
		Categories: Categories, Grades: GradeNames, Sources: SourceNames}
	tp.Prev, tp.Next = web.PageLinks(r.URL, pg, list.Total)
	d.render(w, r, "desk_tickets.html", "运维单", []web.Crumb{deskCrumb, {Title: "运维单"}}, tp)
}

type newTicketPage struct {
	Categories  []string
	ChangeKinds map[string]string
	Regions     []iam.Region
	Mobile      bool
}

func (d *Desk) newTicketData(r *http.Request, mobile bool) newTicketPage {
	p := principal(r)
	regs, _ := iam.ListRegions(r.Context(), d.db, p.Region)
	return newTicketPage{Categories: Categories, ChangeKinds: ChangeKinds, Regions: regs, Mobile: mobile}
}

func (d *Desk) pageNewTicket(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, "desk_ticket_new.html", "提交运维单", []web.Crumb{deskCrumb, {Title: "提交运维单"}}, d.newTicketData(r, false))
}

type ticketPage struct {
	*TicketDetail
	Lifecycle   []string
	StateNames  map[string]string
	ActionNames map[string]string
	Categories  []string
	ChangeKinds map[string]string
	Impacts     map[int]string
	Urgencies   map[int]string
	Assignees   any
	Suggestions []Article
	Now         time.Time
}

// StepDone reports whether a lifecycle state lies before or at the ticket's state.
func (tp ticketPage) StepDone(s string) bool {
	cur := tp.State
	if cur == StatePending {
		cur = tp.ResumeState
	}
	for _, x := range Lifecycle {
		if x == s {
			return true
		}
		if x == cur {
			return false
		}
	}
	return false
}

// Has reports whether action is available now.
func (tp ticketPage) Has(action string) bool {
	for _, a := range tp.NextActions {
		if a == action {
			return true
		}
	}
	return false
}

func (d *Desk) ticketPageData(r *http.Request) (*ticketPage, error) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		return nil, err
	}
	p := principal(r)
	td, err := d.Detail(r, p, id)
	if err != nil {
		return nil, err
	}
	tp := &ticketPage{TicketDetail: td, Lifecycle: Lifecycle, StateNames: StateNames, ActionNames: ActionNames, Categories: Categories,
		ChangeKinds: ChangeKinds, Impacts: ImpactNames, Urgencies: UrgencyNames, Now: d.Now()}
	if p.Can(PermTicketWrite) {
		as, err := d.Assignees(r.Context())
		if err != nil {
			return nil, err
		}
		tp.Assignees = as
	}
	if p.Can(PermKBRead) && td.State != StateClosed {
		if tp.Suggestions, err = d.Suggest(r.Context(), td.Title+" "+td.Description, td.System, 5); err != nil {
			return nil, err
		}
	}
	return tp, nil
}

func (d *Desk) pageTicket(w http.ResponseWriter, r *http.Request) {
	tp, err := d.ticketPageData(r)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	d.render(w, r, "desk_ticket.html", "运维单 "+tp.No, []web.Crumb{deskCrumb, {Title: "运维单", Path: "/desk/tickets"}, {Title: tp.No}}, tp)
}

func (d *Desk) pageSuggest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	items, err := d.Suggest(r.Context(), q.Get("title")+" "+q.Get("description"), q.Get("system"), 5)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	d.render(w, r, "desk_suggest.html", "相关知识", nil, items)
}

type approvalsPage struct {
	Pending, Done []Approval
	UserID        int64
}

func (d *Desk) pageApprovals(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	all, err := d.Approvals(r.Context(), p, "", 0)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	ap := approvalsPage{Pending: []Approval{}, Done: []Approval{}, UserID: p.UserID}
	for _, a := range all {
		if a.Status == "pending" {
			ap.Pending = append(ap.Pending, a)
		} else if len(ap.Done) < 50 {
			ap.Done = append(ap.Done, a)
		}
	}
	d.render(w, r, "desk_approvals.html", "变更审批", []web.Crumb{deskCrumb, {Title: "变更审批"}}, ap)
}

type kbPage struct {
	Q, System, Status string
	List              web.List[Article]
	Prev, Next        string
}

func (d *Desk) pageKB(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	q := r.URL.Query()
	kp := kbPage{Q: q.Get("q"), System: q.Get("system"), Status: q.Get("status")}
	f := SearchFilter{Q: kp.Q, System: kp.System, Status: kp.Status}
	if f.Status == "all" {
		f.Status, f.All = "", true
	}
	if kp.List, err = d.Search(r.Context(), f, pg); err != nil {
		d.pageError(w, r, err)
		return
	}
	kp.Prev, kp.Next = web.PageLinks(r.URL, pg, kp.List.Total)
	d.render(w, r, "desk_kb.html", "知识库", []web.Crumb{deskCrumb, {Title: "知识库"}}, kp)
}

func (d *Desk) pageArticle(w http.ResponseWriter, r *http.Request) {
	var a *Article
	if r.PathValue("id") != "" {
		id, err := web.PathInt64(r, "id")
		if err != nil {
			d.pageError(w, r, err)
			return
		}
		if a, err = d.GetArticle(r.Context(), id); err != nil {
			d.pageError(w, r, err)
			return
		}
	}
	title := "新建知识"
	if a != nil {
		title = a.Title
	}
	d.render(w, r, "desk_article.html", title, []web.Crumb{deskCrumb, {Title: "知识库", Path: "/desk/kb"}, {Title: title}}, a)
}

type problemsPage struct {
	Problems   []Problem
	Candidates []Candidate
}

func (d *Desk) pageProblems(w http.ResponseWriter, r *http.Request) {
	var pp problemsPage
	var err error
	if pp.Problems, err = d.Problems(r.Context(), r.URL.Query().Get("status")); err != nil {
		d.pageError(w, r, err)
		return
	}
	if pp.Candidates, err = d.Candidates(r.Context(), principal(r), 90, 3); err != nil {
		d.pageError(w, r, err)
		return
	}
	d.render(w, r, "desk_problems.html", "问题集", []web.Crumb{deskCrumb, {Title: "问题集"}}, pp)
}

type problemPage struct {
	Problem    *Problem
	Categories []string
	Statuses   map[string]string
	System     string
	Category   string
}

func (d *Desk) pageProblem(w http.ResponseWriter, r *http.Request) {
	pp := problemPage{Categories: Categories, Statuses: ProblemStatusNames, System: r.URL.Query().Get("system"), Category: r.URL.Query().Get("category")}
	if r.PathValue("id") != "" {
		id, err := web.PathInt64(r, "id")
		if err != nil {
			d.pageError(w, r, err)
			return
		}
		if pp.Problem, err = d.GetProblem(r.Context(), principal(r), id); err != nil {
			d.pageError(w, r, err)
			return
		}
	}
	title := "新建问题记录"
	if pp.Problem != nil {
		title = pp.Problem.Title
	}
	d.render(w, r, "desk_problem.html", title, []web.Crumb{deskCrumb, {Title: "问题集", Path: "/desk/problems"}, {Title: title}}, pp)
}

type slaPage struct {
	Targets   []Target
	Calendars []*Calendar
	Steps     []Step
	Channels  []struct {
		ID   int64
		Name string
		Kind string
	}
	Matrix    Matrix
	Impacts   map[int]string
	Urgencies map[int]string
	Breaches  []Breach
}

// GradeOf names the grade in cell (i, j) of the matrix.
func (sp slaPage) GradeOf(i, j int) string { return GradeName(sp.Matrix[i][j]) }

func (d *Desk) pageSLA(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sp := slaPage{Matrix: LoadMatrix(ctx, d.db), Impacts: ImpactNames, Urgencies: UrgencyNames}
	var err error
	if sp.Targets, err = d.Targets(ctx); err == nil {
		if sp.Calendars, err = d.Calendars(ctx); err == nil {
			if sp.Steps, err = d.Steps(ctx); err == nil {
				if sp.Breaches, err = d.Breaches(ctx, principal(r), false, 100); err == nil {
					err = d.db.Select(ctx, &sp.Channels, `SELECT id, name, kind FROM notify_channels ORDER BY name`)
				}
			}
		}
	}
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	d.render(w, r, "desk_sla.html", "SLA 与升级", []web.Crumb{deskCrumb, {Title: "SLA 与升级"}}, sp)
}

type reportsPage struct {
	Reports   []Report
	LastMonth string
	LastYear  string
	ThisYear  string
}

func (d *Desk) pageReports(w http.ResponseWriter, r *http.Request) {
	list, err := d.Reports(r.Context(), principal(r))
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	now := d.Now()
	d.render(w, r, "desk_reports.html", "工作报告", []web.Crumb{deskCrumb, {Title: "工作报告"}}, reportsPage{Reports: list,
		LastMonth: previousPeriod(ReportMonthly, now), LastYear: previousPeriod(ReportAnnual, now), ThisYear: now.In(shanghai()).Format("2006")})
}

type reportPage struct {
	Report *Report
	Data   *ReportData
	Body   template.HTML
	Chart  map[string]any
}

func (d *Desk) pageReport(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	rep, rd, err := d.ReportData(r.Context(), principal(r), id)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	body, err := RenderBody(rd)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	var names []string
	var values []int
	for _, c := range rd.ByCategory {
		names = append(names, c.Name)
		values = append(values, c.Count)
	}
	chart := map[string]any{
		"title":   map[string]any{"text": "运维单按问题类别", "left": "center", "textStyle": map[string]any{"fontSize": 14}},
		"tooltip": map[string]any{"trigger": "axis"},
		"grid":    map[string]any{"left": 40, "right": 16, "bottom": 60, "top": 40},
		"xAxis":   map[string]any{"type": "category", "data": names, "axisLabel": map[string]any{"rotate": 30}},
		"yAxis":   map[string]any{"type": "value", "minInterval": 1},
		"series":  []any{map[string]any{"type": "bar", "data": values, "name": "运维单", "itemStyle": map[string]any{"color": "#0b4f9c"}}},
	}
	d.render(w, r, "desk_report.html", rep.Title, []web.Crumb{deskCrumb, {Title: "工作报告", Path: "/desk/reports"}, {Title: rep.Title}},
		reportPage{Report: rep, Data: rd, Body: body, Chart: chart})
}

func (d *Desk) pageReportPrint(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	a, err := d.getReport(r.Context(), principal(r), id)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(a.HTML))
}

type trainingsPage struct {
	Trainings []Training
	Audiences map[string]string
	Modes     map[string]string
	Summary   TrainingSummary
}

func (d *Desk) pageTrainings(w http.ResponseWriter, r *http.Request) {
	list, err := d.Trainings(r.Context(), time.Unix(0, 0), d.Now().AddDate(10, 0, 0))
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	d.render(w, r, "desk_trainings.html", "培训记录", []web.Crumb{deskCrumb, {Title: "培训记录"}},
		trainingsPage{Trainings: list, Audiences: AudienceNames, Modes: ModeNames, Summary: summarizeTrainings(list)})
}

func (d *Desk) pageMobileList(w http.ResponseWriter, r *http.Request) {
	list, err := d.ListTickets(r.Context(), principal(r), TicketFilter{Mine: true}, web.Page{Page: 1, Size: 50})
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	d.render(w, r, "desk_m_list.html", "我的运维单", nil, list)
}

func (d *Desk) pageMobileNew(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, "desk_m_new.html", "报修", []web.Crumb{{Title: "我的运维单", Path: "/m/desk"}, {Title: "报修"}}, d.newTicketData(r, true))
}

func (d *Desk) pageMobileTicket(w http.ResponseWriter, r *http.Request) {
	tp, err := d.ticketPageData(r)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	d.render(w, r, "desk_m_ticket.html", "运维单 "+tp.No, []web.Crumb{{Title: "我的运维单", Path: "/m/desk"}, {Title: tp.No}}, tp)
}
