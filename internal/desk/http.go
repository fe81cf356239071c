package desk

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/report"
	"zhsj/internal/web"
)

// Routes are the desk's API and pages.
func (d *Desk) Routes() []web.Route {
	api := []web.Route{
		{Method: "GET", Pattern: "/api/v1/desk/meta", Permission: PermTicketRead, Summary: "服务台字典：状态、类别、等级、分级矩阵", Handler: d.apiMeta},
		{Method: "GET", Pattern: "/api/v1/desk/tickets", Permission: PermTicketRead, Summary: "运维单列表", Handler: d.apiTickets},
		{Method: "POST", Pattern: "/api/v1/desk/tickets", Permission: PermTicketCreate, Summary: "提交运维单（受理）", Handler: d.apiCreateTicket},
		{Method: "GET", Pattern: "/api/v1/desk/tickets/export", Permission: PermTicketRead, Summary: "导出运维单 XLSX", Handler: d.apiExportTickets},
		{Method: "GET", Pattern: "/api/v1/desk/tickets/{id}", Permission: PermTicketRead, Summary: "运维单详情（流转记录、SLA 计时、关联、审批）", Handler: d.apiTicket},
		{Method: "PUT", Pattern: "/api/v1/desk/tickets/{id}", Permission: PermTicketWrite, Summary: "修改运维单", Handler: d.apiUpdateTicket},
		{Method: "POST", Pattern: "/api/v1/desk/tickets/{id}/transitions", Permission: PermTicketWrite, Summary: "运维单流转（登记、分级、响应、排查、处理、验证、闭环、挂起、恢复、重新打开）", Handler: d.apiTransition},
		{Method: "POST", Pattern: "/api/v1/desk/tickets/{id}/plans", Permission: PermTicketWrite, Summary: "提交解决时间表", Handler: d.apiAddPlan},
		{Method: "POST", Pattern: "/api/v1/desk/tickets/{id}/clocks/{clock}/explanation", Permission: PermTicketWrite, Summary: "填写 SLA 超时说明", Handler: d.apiExplain},
		{Method: "POST", Pattern: "/api/v1/desk/tickets/{id}/approvals", Permission: PermTicketWrite, Summary: "申请局方审批生产变更", Handler: d.apiRequestApproval},
		{Method: "POST", Pattern: "/api/v1/desk/tickets/{id}/article", Permission: PermKBWrite, Summary: "由闭环运维单生成知识草稿", Handler: d.apiFromTicket},
		{Method: "GET", Pattern: "/api/v1/desk/approvals", Permission: PermTicketRead, Summary: "变更审批列表", Handler: d.apiApprovals},
		{Method: "POST", Pattern: "/api/v1/desk/approvals/{id}/decision", Permission: PermApprove, Summary: "局方审批：同意或不同意", Handler: d.apiDecide},
		{Method: "GET", Pattern: "/api/v1/desk/kb/articles", Permission: PermKBRead, Summary: "知识库检索列表", Handler: d.apiSearch},
		{Method: "POST", Pattern: "/api/v1/desk/kb/articles", Permission: PermKBWrite, Summary: "新建知识", Handler: d.apiSaveArticle},
		{Method: "GET", Pattern: "/api/v1/desk/kb/articles/{id}", Permission: PermKBRead, Summary: "知识详情", Handler: d.apiArticle},
		{Method: "PUT", Pattern: "/api/v1/desk/kb/articles/{id}", Permission: PermKBWrite, Summary: "修改知识", Handler: d.apiSaveArticle},
		{Method: "GET", Pattern: "/api/v1/desk/kb/suggest", Permission: PermKBRead, Summary: "登记运维单时推荐相关知识", Handler: d.apiSuggest},
		{Method: "GET", Pattern: "/api/v1/desk/problems", Permission: PermTicketRead, Summary: "问题集列表", Handler: d.apiProblems},
		{Method: "POST", Pattern: "/api/v1/desk/problems", Permission: PermTicketWrite, Summary: "新建问题记录", Handler: d.apiSaveProblem},
		{Method: "GET", Pattern: "/api/v1/desk/problems/candidates", Permission: PermTicketRead, Summary: "重复发生的事件（问题候选）", Handler: d.apiCandidates},
		{Method: "GET", Pattern: "/api/v1/desk/problems/{id}", Permission: PermTicketRead, Summary: "问题记录详情", Handler: d.apiProblem},
		{Method: "PUT", Pattern: "/api/v1/desk/problems/{id}", Permission: PermTicketWrite, Summary: "修改问题记录", Handler: d.apiSaveProblem},
		{Method: "GET", Pattern: "/api/v1/desk/sla/targets", Permission: PermTicketRead, Summary: "SLA 目标列表", Handler: d.apiTargets},
		{Method: "PUT", Pattern: "/api/v1/desk/sla/targets/{code}", Permission: PermTicketWrite, Summary: "修改 SLA 目标", Handler: d.apiUpdateTarget},
		{Method: "GET", Pattern: "/api/v1/desk/sla/calendars", Permission: PermTicketRead, Summary: "SLA 日历列表", Handler: d.apiCalendars},
		{Method: "POST", Pattern: "/api/v1/desk/sla/calendars", Permission: PermTicketWrite, Summary: "新建 SLA 日历", Handler: d.apiSaveCalendar},
		{Method: "PUT", Pattern: "/api/v1/desk/sla/calendars/{id}", Permission: PermTicketWrite, Summary: "修改 SLA 日历与节假日", Handler: d.apiSaveCalendar},
		{Method: "GET", Pattern: "/api/v1/desk/sla/escalation", Permission: PermTicketRead, Summary: "升级链", Handler: d.apiSteps},
		{Method: "PUT", Pattern: "/api/v1/desk/sla/escalation", Permission: PermTicketWrite, Summary: "修改升级链与通知渠道", Handler: d.apiUpdateSteps},
		{Method: "PUT", Pattern: "/api/v1/desk/sla/matrix", Permission: PermTicketWrite, Summary: "修改分级矩阵（影响范围 × 紧急程度）", Handler: d.apiUpdateMatrix},
		{Method: "GET", Pattern: "/api/v1/desk/sla/breaches", Permission: PermTicketRead, Summary: "SLA 超时列表", Handler: d.apiBreaches},
		{Method: "GET", Pattern: "/api/v1/desk/reports", Permission: PermReportRead, Summary: "工作报告归档列表", Handler: d.apiReports},
		{Method: "POST", Pattern: "/api/v1/desk/reports", Permission: PermReportRead, Summary: "生成工作月报或总结报告", Handler: d.apiGenerate},
		{Method: "GET", Pattern: "/api/v1/desk/reports/{id}", Permission: PermReportRead, Summary: "工作报告数据", Handler: d.apiReport},
		{Method: "GET", Pattern: "/api/v1/desk/reports/{id}/xlsx", Permission: PermReportRead, Summary: "下载工作报告 XLSX", Handler: d.apiReportXLSX},
		{Method: "GET", Pattern: "/api/v1/desk/trainings", Permission: PermReportRead, Summary: "培训记录列表", Handler: d.apiTrainings},
		{Method: "POST", Pattern: "/api/v1/desk/trainings", Permission: PermTicketWrite, Summary: "新增培训记录", Handler: d.apiSaveTraining},
		{Method: "PUT", Pattern: "/api/v1/desk/trainings/{id}", Permission: PermTicketWrite, Summary: "修改培训记录", Handler: d.apiSaveTraining},
	}
	return append(api, d.pageRoutes()...)
}

func principal(r *http.Request) *iam.Principal { return iam.FromContext(r.Context()) }

func (d *Desk) apiMeta(w http.ResponseWriter, r *http.Request) {
	var states []map[string]string
	for _, s := range append(append([]string{}, Lifecycle...), StatePending) {
		states = append(states, map[string]string{"code": s, "name": StateNames[s]})
	}
	web.JSON(w, http.StatusOK, map[string]any{
		"states": states, "categories": Categories, "grades": GradeNames, "impacts": ImpactNames, "urgencies": UrgencyNames,
		"matrix": LoadMatrix(r.Context(), d.db), "change_kinds": ChangeKinds, "sources": SourceNames, "actions": ActionNames,
	})
}

func ticketFilter(r *http.Request) TicketFilter {
	q := r.URL.Query()
	f := TicketFilter{State: q.Get("state"), Category: q.Get("category"), System: q.Get("system"), Source: q.Get("source"),
		Q: strings.TrimSpace(q.Get("q")), Mine: q.Get("mine") == "1" || q.Get("mine") == "true", Open: q.Get("open") == "1" || q.Get("open") == "true"}
	f.Grade, _ = strconv.Atoi(q.Get("grade"))
	f.Assignee, _ = strconv.ParseInt(q.Get("assignee"), 10, 64)
	return f
}

func (d *Desk) apiTickets(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	list, err := d.ListTickets(r.Context(), principal(r), ticketFilter(r), pg)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, list)
}

// maxExport bounds a ticket export.
const maxExport = 50000

func (d *Desk) apiExportTickets(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	f := ticketFilter(r)
	list, err := d.ListTickets(r.Context(), p, f, web.Page{Page: 1, Size: maxExport})
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if list.Total > maxExport {
		web.Fail(w, r, web.Errorf(http.StatusRequestEntityTooLarge, "too_many", "符合条件的运维单有 %d 个，超过单次导出上限 %d，请缩小筛选范围", list.Total, maxExport))
		return
	}
	t := report.Table{Title: "运维单", Meta: []string{"导出人：" + p.Account, "导出时间：" + time.Now().In(shanghai()).Format(report.TimeLayout), "筛选：" + r.URL.RawQuery},
		Columns: []string{"编号", "标题", "状态", "来源", "类别", "系统", "等级", "报告人", "处理人", "受理时间", "响应时间", "提交验证时间", "闭环时间", "事件原因", "处理方法", "验证结果"}}
	for _, x := range list.Items {
		t.Rows = append(t.Rows, []any{x.No, x.Title, x.StateName(), x.SourceName(), x.Category, x.System, x.GradeName(), x.Reporter, x.AssigneeName,
			x.CreatedAt, x.AcknowledgedAt, x.ResolvedAt, x.ClosedAt, x.Cause, x.Method, x.VerifyResult})
	}
	if err := d.record(r.Context(), d.db, r, audit.Entry{Action: "desk.ticket.export", ObjectType: "desk_ticket", ObjectID: "export",
		Detail: fmt.Sprintf("导出运维单 %d 条（%s）", len(list.Items), r.URL.RawQuery)}); err != nil {
		web.Fail(w, r, err)
		return
	}
	report.ServeXLSX(w, "运维单-"+time.Now().In(shanghai()).Format("20060102")+".xlsx", t)
}

func (d *Desk) apiCreateTicket(w http.ResponseWriter, r *http.Request) {
	var in TicketInput
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	t, err := d.CreateTicket(r.Context(), r, principal(r), in)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, t)
}

// TicketDetail is a ticket with everything recorded about it.
type TicketDetail struct {
	*Ticket
	RegionName  string       `json:"region_name"`
	NextActions []string     `json:"next_actions"`
	Transitions []Transition `json:"transitions"`
	Clocks      []Clock      `json:"clocks"`
	Escalations []Escalation `json:"escalations"`
	Links       []Link       `json:"links"`
	Plans       []Plan       `json:"plans"`
	Approvals   []Approval   `json:"approvals"`
	Articles    []Article    `json:"articles"`
	Problems    []Problem    `json:"problems"`
}

// Detail loads a ticket within p's scope with its history.
func (d *Desk) Detail(r *http.Request, p *iam.Principal, id int64) (*TicketDetail, error) {
	ctx := r.Context()
	t, err := d.GetTicket(ctx, p, id)
	if err != nil {
		return nil, err
	}
	td := &TicketDetail{Ticket: t, NextActions: NextActions(t.State)}
	if err := d.db.Get(ctx, &td.RegionName, `SELECT name FROM regions WHERE code = ?`, t.RegionCode); err != nil {
		return nil, err
	}
	if td.Transitions, err = d.Transitions(ctx, id); err != nil {
		return nil, err
	}
	if td.Clocks, err = d.Clocks(ctx, id); err != nil {
		return nil, err
	}
	if td.Escalations, err = d.Escalations(ctx, id); err != nil {
		return nil, err
	}
	if td.Links, err = d.Links(ctx, id); err != nil {
		return nil, err
	}
	if td.Plans, err = d.Plans(ctx, id); err != nil {
		return nil, err
	}
	if td.Approvals, err = d.Approvals(ctx, p, "", id); err != nil {
		return nil, err
	}
	if td.Articles, err = d.ArticlesForTicket(ctx, id); err != nil {
		return nil, err
	}
	if td.Problems, err = d.ProblemsForTicket(ctx, id); err != nil {
		return nil, err
	}
	return td, nil
}

func (d *Desk) apiTicket(w http.ResponseWriter, r *http.Request) {
	web.ByID(w, r, func(id int64) (any, error) { return d.Detail(r, principal(r), id) })
}

func (d *Desk) apiUpdateTicket(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var in TicketUpdate
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	t, err := d.UpdateTicket(r.Context(), r, principal(r), id, in)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, t)
}

func (d *Desk) apiTransition(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var in TransitionInput
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	t, err := d.Transition(r.Context(), r, principal(r), id, in)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": t.ID, "state": t.State, "message": "已" + ActionNames[in.Action] + "，当前状态：" + t.StateName(), "ticket": t})
}

func (d *Desk) apiAddPlan(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var in PlanInput
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := d.AddPlan(r.Context(), r, principal(r), id, in); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "message": "解决时间表已提交"})
}

func (d *Desk) apiExplain(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	clock, err := web.PathInt64(r, "clock")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var in struct {
		Explanation string `json:"explanation"`
	}
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := d.ExplainBreach(r.Context(), r, principal(r), id, clock, in.Explanation); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "message": "超时说明已保存"})
}

func (d *Desk) apiRequestApproval(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var in ApprovalInput
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	aid, err := d.RequestApproval(r.Context(), r, principal(r), id, in)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": aid, "ticket_id": id, "message": "已提交局方审批"})
}

func (d *Desk) apiApprovals(w http.ResponseWriter, r *http.Request) {
	out, err := d.Approvals(r.Context(), principal(r), r.URL.Query().Get("status"), 0)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(out))
}

func (d *Desk) apiDecide(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var in Decision
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := d.Decide(r.Context(), r, principal(r), id, in); err != nil {
		web.Fail(w, r, err)
		return
	}
	msg := "已同意，运维单可进入处理"
	if !in.Approve {
		msg = "已不同意，运维单按“" + RefusalText + "”闭环"
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "message": msg})
}

func (d *Desk) apiSearch(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := SearchFilter{Q: q.Get("q"), System: q.Get("system"), Status: q.Get("status")}
	if f.Status == "all" {
		f.Status, f.All = "", true
	}
	list, err := d.Search(r.Context(), f, pg)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, list)
}

func (d *Desk) apiArticle(w http.ResponseWriter, r *http.Request) {
	web.ByID(w, r, func(id int64) (any, error) { return d.GetArticle(r.Context(), id) })
}

func (d *Desk) apiSaveArticle(w http.ResponseWriter, r *http.Request) {
	web.SaveHandler("知识已保存", func(r *http.Request, id int64, in ArticleInput) (int64, error) {
		return d.SaveArticle(r.Context(), r, principal(r), id, in)
	})(w, r)
}

func (d *Desk) apiFromTicket(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	aid, created, err := d.ArticleFromTicket(r.Context(), r, principal(r), id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	status, msg := http.StatusOK, "该运维单已生成过知识草稿"
	if created {
		status, msg = http.StatusCreated, "已生成知识草稿，请完善后发布"
	}
	web.JSON(w, status, map[string]any{"id": aid, "message": msg})
}

func (d *Desk) apiSuggest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out, err := d.Suggest(r.Context(), q.Get("q"), q.Get("system"), 5)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": out})
}

func (d *Desk) apiProblems(w http.ResponseWriter, r *http.Request) {
	out, err := d.Problems(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(out))
}

func (d *Desk) apiProblem(w http.ResponseWriter, r *http.Request) {
	web.ByID(w, r, func(id int64) (any, error) { return d.GetProblem(r.Context(), principal(r), id) })
}

func (d *Desk) apiSaveProblem(w http.ResponseWriter, r *http.Request) {
	web.SaveHandler("问题记录已保存", func(r *http.Request, id int64, in ProblemInput) (int64, error) {
		return d.SaveProblem(r.Context(), r, principal(r), id, in)
	})(w, r)
}

func (d *Desk) apiCandidates(w http.ResponseWriter, r *http.Request) {
	out, err := d.Candidates(r.Context(), principal(r), 90, 3)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": out})
}

func (d *Desk) apiTargets(w http.ResponseWriter, r *http.Request) {
	out, err := d.Targets(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": out})
}

func (d *Desk) apiUpdateTarget(w http.ResponseWriter, r *http.Request) {
	var in TargetInput
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := d.UpdateTarget(r.Context(), r, r.PathValue("code"), in); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "SLA 目标已保存（已开始的计时沿用原目标）"})
}

func (d *Desk) apiCalendars(w http.ResponseWriter, r *http.Request) {
	out, err := d.Calendars(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": out})
}

func (d *Desk) apiSaveCalendar(w http.ResponseWriter, r *http.Request) {
	web.SaveHandler("日历已保存", func(r *http.Request, id int64, in Calendar) (int64, error) {
		return d.SaveCalendar(r.Context(), r, id, in)
	})(w, r)
}

func (d *Desk) apiSteps(w http.ResponseWriter, r *http.Request) {
	out, err := d.Steps(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": out})
}

func (d *Desk) apiUpdateSteps(w http.ResponseWriter, r *http.Request) {
	// Either {"steps":[…]} or the page form's parallel arrays name[], trigger_pct[], channel_id[].
	var in struct {
		Steps   []Step   `json:"steps"`
		Name    []string `json:"name"`
		Pct     []int    `json:"trigger_pct"`
		Channel []int64  `json:"channel_id"`
	}
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	if in.Steps == nil {
		if len(in.Pct) != len(in.Name) || len(in.Channel) != len(in.Name) {
			web.Fail(w, r, badRequest("bad_steps", "升级链各级的名称、触发比例和通知渠道须一一对应"))
			return
		}
		for i := range in.Name {
			s := Step{Level: i + 1, Name: in.Name[i], TriggerPct: in.Pct[i]}
			if in.Channel[i] != 0 {
				s.ChannelID = &in.Channel[i]
			}
			in.Steps = append(in.Steps, s)
		}
	}
	if err := d.UpdateSteps(r.Context(), r, in.Steps); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "升级链已保存"})
}

func (d *Desk) apiUpdateMatrix(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Matrix *Matrix `json:"matrix"`
		Text   string  `json:"matrix_text"`
	}
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	var m Matrix
	if in.Matrix != nil {
		m = *in.Matrix
	} else {
		var err error
		if m, err = ParseMatrix(in.Text); err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	if err := d.SaveMatrix(r.Context(), r, m); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "分级矩阵已保存"})
}

func (d *Desk) apiBreaches(w http.ResponseWriter, r *http.Request) {
	out, err := d.Breaches(r.Context(), principal(r), r.URL.Query().Get("unexplained") == "1", 500)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(out))
}

func (d *Desk) apiReports(w http.ResponseWriter, r *http.Request) {
	out, err := d.Reports(r.Context(), principal(r))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(out))
}

func (d *Desk) apiGenerate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Kind   string `json:"kind"`
		Period string `json:"period"`
	}
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	id, err := d.Generate(r.Context(), r, principal(r), in.Kind, strings.TrimSpace(in.Period), "manual")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": id, "message": "报告已生成并归档"})
}

func (d *Desk) apiReport(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	rep, data, err := d.ReportData(r.Context(), principal(r), id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"report": rep, "data": data})
}

func (d *Desk) apiReportXLSX(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	a, err := d.getReport(r.Context(), principal(r), id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := d.record(r.Context(), d.db, r, audit.Entry{Action: "desk.report.export", ObjectType: "desk_report", ObjectID: fmt.Sprint(id),
		RegionCode: a.RegionCode, Detail: "下载" + a.Title + " XLSX"}); err != nil {
		web.Fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", report.ContentType)
	w.Header().Set("Content-Disposition", report.ContentDisposition(fmt.Sprintf("%s-%s-v%d.xlsx", a.KindName(), a.Period, a.Version)))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(a.XLSX)
}

func (d *Desk) apiTrainings(w http.ResponseWriter, r *http.Request) {
	from, to := time.Unix(0, 0), time.Now().AddDate(10, 0, 0)
	if s := r.URL.Query().Get("period"); s != "" {
		kind := ReportMonthly
		if len(s) == 4 {
			kind = ReportAnnual
		}
		var err error
		if from, to, err = ParsePeriod(kind, s); err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	out, err := d.Trainings(r.Context(), from, to)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(out))
}

func (d *Desk) apiSaveTraining(w http.ResponseWriter, r *http.Request) {
	web.SaveHandler("培训记录已保存", func(r *http.Request, id int64, in TrainingInput) (int64, error) {
		return d.SaveTraining(r.Context(), r, principal(r), id, in)
	})(w, r)
}
