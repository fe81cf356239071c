package inspect

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/report"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

//go:embed templates
var templates embed.FS

// Templates are the module's pages.
func Templates() fs.FS { return templates }

// SetPages gives the module the page renderer.
func (s *Service) SetPages(p *web.Pages) { s.pages = p }

// Permissions declares the module's permissions.
func (s *Service) Permissions() []web.Perm {
	g := "运维中心"
	return []web.Perm{
		{Code: PermPlanRead, Name: "查看巡检计划", Group: g},
		{Code: PermPlanWrite, Name: "新建、修改巡检计划", Group: g},
		{Code: PermRunExecute, Name: "执行巡检", Group: g},
		{Code: PermReportRead, Name: "查看、下载巡检报告", Group: g},
		{Code: PermReportReview, Name: "复核签发巡检报告", Group: g},
		{Code: PermFindingRead, Name: "查看巡检隐患", Group: g},
		{Code: PermFindingWrite, Name: "指派、整改、关闭巡检隐患", Group: g},
	}
}

// Menu is the module's part of the left menu.
func (s *Service) Menu() []web.MenuItem {
	return []web.MenuItem{
		{Group: "运维中心", Title: "巡检计划", Path: "/inspect/plans", Permission: PermPlanRead, Order: 50},
		{Group: "运维中心", Title: "巡检记录与报告", Path: "/inspect/runs", Permission: PermReportRead, Order: 51},
		{Group: "运维中心", Title: "巡检隐患", Path: "/inspect/findings", Permission: PermFindingRead, Order: 52},
	}
}

// Routes are the module's pages and API.
func (s *Service) Routes() []web.Route {
	return []web.Route{
		{Method: "GET", Pattern: "/inspect/plans", Permission: PermPlanRead, Summary: "巡检计划", Handler: s.plansPage},
		{Method: "GET", Pattern: "/inspect/runs", Permission: PermReportRead, Summary: "巡检记录与报告", Handler: s.runsPage},
		{Method: "GET", Pattern: "/inspect/runs/{id}", Permission: PermReportRead, Summary: "巡检报告", Handler: s.runPage},
		{Method: "GET", Pattern: "/inspect/runs/{id}/print", Permission: PermReportRead, Summary: "巡检报告打印版", Handler: s.printPage},
		{Method: "GET", Pattern: "/inspect/findings", Permission: PermFindingRead, Summary: "巡检隐患", Handler: s.findingsPage},

		{Method: "GET", Pattern: "/api/v1/inspect/plans", Permission: PermPlanRead, Summary: "巡检计划列表", Handler: s.apiPlans},
		{Method: "POST", Pattern: "/api/v1/inspect/plans", Permission: PermPlanWrite, Summary: "新建巡检计划", Handler: s.apiCreatePlan},
		{Method: "PUT", Pattern: "/api/v1/inspect/plans/{id}", Permission: PermPlanWrite, Summary: "修改巡检计划", Handler: s.apiUpdatePlan},
		{Method: "POST", Pattern: "/api/v1/inspect/plans/{id}/run", Permission: PermRunExecute, Summary: "立即执行巡检", Handler: s.apiRun},
		{Method: "GET", Pattern: "/api/v1/inspect/runs", Permission: PermReportRead, Summary: "巡检记录列表", Handler: s.apiRuns},
		{Method: "GET", Pattern: "/api/v1/inspect/runs/{id}", Permission: PermReportRead, Summary: "巡检结果（分项与隐患）", Handler: s.apiRunDetail},
		{Method: "POST", Pattern: "/api/v1/inspect/runs/{id}/review", Permission: PermReportReview, Summary: "复核巡检报告", Handler: s.apiReview},
		{Method: "GET", Pattern: "/api/v1/inspect/runs/{id}/report", Permission: PermReportRead, Summary: "下载巡检报告（xlsx/html/pdf）", Handler: s.apiDownload},
		{Method: "GET", Pattern: "/api/v1/inspect/findings", Permission: PermFindingRead, Summary: "巡检隐患列表", Handler: s.apiFindings},
		{Method: "PUT", Pattern: "/api/v1/inspect/findings/{id}", Permission: PermFindingWrite, Summary: "更新巡检隐患（责任人、期限、整改、状态）", Handler: s.apiUpdateFinding},
	}
}

// ---- plans ----

func (s *Service) apiPlans(w http.ResponseWriter, r *http.Request) {
	plans, err := s.Plans(r.Context(), iam.FromContext(r.Context()))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(plans))
}

func (s *Service) apiCreatePlan(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := iam.FromContext(ctx)
	var in PlanInput
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := in.check(); err != nil {
		web.Fail(w, r, err)
		return
	}
	enabled := in.Enabled == nil || *in.Enabled
	var id int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.ownerExists(ctx, tx, in.Owner); err != nil {
			return err
		}
		now := s.Now()
		var err error
		id, err = store.InsertID(ctx, tx, `INSERT INTO inspect_plans (name, cycle, categories, system_name, scope, inspector, reviewer, owner, enabled, region_code, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, in.Name, in.Cycle, strings.Join(in.Categories, ","), in.SystemName, in.Scope, in.Inspector,
			in.Reviewer, in.Owner, enabled, p.Region, p.UserID, now, now)
		if err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, entry(r, audit.Entry{Action: "inspect.plan.create", ObjectType: "inspect_plan", ObjectID: fmt.Sprint(id),
			Detail: fmt.Sprintf("新建巡检计划“%s”（%s）", in.Name, CycleLabels[in.Cycle])}))
	})
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": id, "message": "巡检计划已创建"})
}

func (s *Service) apiUpdatePlan(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
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
	if err := in.check(); err != nil {
		web.Fail(w, r, err)
		return
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := s.Plan(ctx, tx, iam.FromContext(ctx), id)
		if err != nil {
			return err
		}
		if err := s.ownerExists(ctx, tx, in.Owner); err != nil {
			return err
		}
		enabled := cur.Enabled
		if in.Enabled != nil {
			enabled = *in.Enabled
		}
		if _, err := tx.Exec(ctx, `UPDATE inspect_plans SET name = ?, cycle = ?, categories = ?, system_name = ?, scope = ?, inspector = ?, reviewer = ?, owner = ?,
			enabled = ?, updated_at = ? WHERE id = ?`, in.Name, in.Cycle, strings.Join(in.Categories, ","), in.SystemName, in.Scope, in.Inspector, in.Reviewer,
			in.Owner, enabled, s.Now(), id); err != nil {
			return err
		}
		state := "启用"
		if !enabled {
			state = "停用"
		}
		return s.audit.Record(ctx, tx, entry(r, audit.Entry{Action: "inspect.plan.update", ObjectType: "inspect_plan", ObjectID: fmt.Sprint(id),
			Detail: fmt.Sprintf("修改巡检计划“%s”（%s，%s）", in.Name, CycleLabels[in.Cycle], state)}))
	})
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "message": "巡检计划已保存"})
}

func (s *Service) apiRun(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := iam.FromContext(ctx)
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	plan, err := s.Plan(ctx, s.db, p, id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	who := audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation})
	var uid *int64
	if p.UserID != 0 {
		uid = &p.UserID
	}
	// The inspection finishes even if the caller goes away.
	run, err := s.Execute(context.WithoutCancel(ctx), *plan, "manual", who, uid)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": run.ID, "run": run, "message": run.Summary})
}

// ---- runs ----

func (s *Service) apiRuns(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	planID, _ := strconv.ParseInt(r.URL.Query().Get("plan"), 10, 64)
	items, total, err := s.Runs(r.Context(), iam.FromContext(r.Context()), planID, pg.Offset(), pg.Size)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.List[Run]{Items: items, Total: total, Page: pg.Page, Size: pg.Size})
}

func (s *Service) report(w http.ResponseWriter, r *http.Request) (*ReportData, bool) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return nil, false
	}
	d, err := s.Report(r.Context(), iam.FromContext(r.Context()), id)
	if err != nil {
		web.Fail(w, r, err)
		return nil, false
	}
	return d, true
}

func (s *Service) apiRunDetail(w http.ResponseWriter, r *http.Request) {
	d, ok := s.report(w, r)
	if !ok {
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"run": d.Run, "items": web.NonNil(d.Items), "findings": web.NonNil(d.Findings), "closed": web.NonNil(d.Closed), "report_version": d.Version})
}

func (s *Service) apiReview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var in ReviewInput
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	version, err := s.Review(ctx, r, iam.FromContext(ctx), id, in)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "version": version, "message": fmt.Sprintf("已复核，报告第 %d 版已归档", version)})
}

var formats = map[string]struct{ ext, ctype, label string }{
	"xlsx": {".xlsx", report.ContentType, "Excel"},
	"html": {".html", "text/html; charset=utf-8", "打印版 HTML"},
	"pdf":  {".pdf", "application/pdf", "PDF"},
}

func (s *Service) apiDownload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "xlsx"
	}
	f, ok := formats[format]
	if !ok {
		web.Fail(w, r, web.Errorf(400, "invalid_format", "格式须为 xlsx、html 或 pdf"))
		return
	}
	p := iam.FromContext(ctx)
	run, err := s.Run(ctx, s.db, p, id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	a, err := s.Archived(ctx, id, format, p.Account)
	if errors.Is(err, ErrNoChromium) {
		web.Fail(w, r, web.Errorf(http.StatusNotImplemented, "pdf_unavailable", "%s", err.Error()))
		return
	} else if errors.Is(err, store.ErrNotFound) {
		web.Fail(w, r, web.Errorf(404, "not_found", "巡检报告尚未生成"))
		return
	} else if err != nil {
		web.Fail(w, r, err)
		return
	}
	name := fmt.Sprintf("巡检报告-%s-%d-第%d版%s", run.PlanName, id, a.Version, f.ext)
	// The export is recorded before any byte of it leaves.
	if err := s.audit.Record(ctx, s.db, entry(r, audit.Entry{Action: "inspect.report.export", ObjectType: "inspect_run", ObjectID: fmt.Sprint(id),
		Detail: fmt.Sprintf("下载巡检报告 #%d 第 %d 版（%s，SM3 %s）", id, a.Version, f.label, a.SM3[:16])})); err != nil {
		web.Fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Content-Disposition", report.ContentDisposition(name))
	h.Set("Content-Length", strconv.Itoa(len(a.Content)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Report-SM3", a.SM3)
	w.WriteHeader(http.StatusOK)
	w.Write(a.Content)
}

// ---- findings ----

func (s *Service) findingFilter(r *http.Request) FindingFilter {
	q := r.URL.Query()
	run, _ := strconv.ParseInt(q.Get("run"), 10, 64)
	return FindingFilter{Status: q.Get("status"), RunID: run}
}

func (s *Service) apiFindings(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	items, total, err := s.Findings(r.Context(), iam.FromContext(r.Context()), s.findingFilter(r), pg.Offset(), pg.Size)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.List[Finding]{Items: items, Total: total, Page: pg.Page, Size: pg.Size})
}

func (s *Service) apiUpdateFinding(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var in FindingInput
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := s.UpdateFinding(ctx, r, iam.FromContext(ctx), id, in); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "message": "隐患已更新"})
}
