package ops

import (
	"errors"
	"fmt"
	"net/http"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/jobs"
	"zhsj/internal/web"
)

// Permissions of the scheduled-jobs page.
const (
	PermJobsRead = "jobs.read" // 查看定时任务与运行记录
	PermJobsRun  = "jobs.run"  // 立即运行、暂停与恢复定时任务
)

// SetScheduler gives the module the job scheduler it shows on /ops/jobs.
func (s *Service) SetScheduler(j *jobs.Scheduler) { s.jobs = j }

// JobView is a job with its latest run, as the page and the API show it.
type JobView struct {
	jobs.Job
	Last *jobs.RunRecord `json:"last_run,omitempty"`
}

func (s *Service) jobViews(r *http.Request) ([]JobView, []jobs.RunRecord, error) {
	list, err := s.jobs.Jobs(r.Context())
	if err != nil {
		return nil, nil, err
	}
	name := r.URL.Query().Get("job")
	runs, err := s.jobs.Runs(r.Context(), name, 100)
	if err != nil {
		return nil, nil, err
	}
	out := make([]JobView, len(list))
	for i, j := range list {
		out[i].Job = j
		last, err := s.jobs.Runs(r.Context(), j.Name, 1)
		if err != nil {
			return nil, nil, err
		}
		if len(last) > 0 {
			out[i].Last = &last[0]
		}
	}
	return out, runs, nil
}

func (s *Service) jobsPage(w http.ResponseWriter, r *http.Request) {
	list, runs, err := s.jobViews(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.pages.Render(w, r, "ops_jobs.html", web.PageData{Title: "定时任务", Crumbs: []web.Crumb{{Title: "运维中心"}, {Title: "定时任务"}},
		Data: map[string]any{"Jobs": list, "Runs": runs, "Job": r.URL.Query().Get("job"), "CanRun": iam.FromContext(r.Context()).Can(PermJobsRun),
			"Labels": jobs.StatusLabels}})
}

func (s *Service) listJobs(w http.ResponseWriter, r *http.Request) {
	list, runs, err := s.jobViews(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": list, "runs": runs})
}

func (s *Service) runJob(w http.ResponseWriter, r *http.Request) {
	name, p := r.PathValue("name"), iam.FromContext(r.Context())
	id, err := s.jobs.RunNow(r.Context(), name, p.Account)
	if err != nil {
		web.Fail(w, r, jobError(err))
		return
	}
	if err := s.recordJob(r, "ops.job.run", name, fmt.Sprintf("立即运行定时任务 %s（运行 #%d）", name, id)); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"id": id, "message": fmt.Sprintf("已开始运行（运行 #%d），结果见下方运行记录", id)})
}

func (s *Service) setJob(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	if in.Enabled == nil {
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "missing_enabled", "请指定 enabled（true 恢复，false 暂停）"))
		return
	}
	name := r.PathValue("name")
	if err := s.jobs.SetEnabled(r.Context(), name, *in.Enabled); err != nil {
		web.Fail(w, r, jobError(err))
		return
	}
	action, verb := "ops.job.resume", "恢复"
	if !*in.Enabled {
		action, verb = "ops.job.pause", "暂停"
	}
	if err := s.recordJob(r, action, name, verb+"定时任务 "+name); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "已" + verb})
}

func (s *Service) recordJob(r *http.Request, action, name, detail string) error {
	return s.audit.Record(r.Context(), nil, audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation, Action: action,
		ObjectType: "job", ObjectID: name, Result: audit.ResultSuccess, Detail: detail}))
}

func jobError(err error) error {
	switch {
	case errors.Is(err, jobs.ErrUnknownJob):
		return web.Errorf(http.StatusNotFound, "unknown_job", "没有这个定时任务")
	case errors.Is(err, jobs.ErrBusy):
		return web.Errorf(http.StatusConflict, "job_busy", "该任务正在运行，请等本次运行结束后再试")
	case errors.Is(err, jobs.ErrNotStarted):
		return web.Errorf(http.StatusServiceUnavailable, "scheduler_stopped", "任务调度器未启动，请稍后再试")
	}
	return err
}
