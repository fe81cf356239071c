package inspect

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/events"
	"zhsj/internal/iam"
	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Options tune the service.
type Options struct {
	Version string // program version, on the report cover
	Logger  *slog.Logger
	// PDF renders a printable HTML page to PDF (Chromium); nil finds Chromium on PATH.
	PDF func(ctx context.Context, html []byte) ([]byte, error)
}

// Service runs inspections and keeps their plans, results, findings and reports.
type Service struct {
	db    *store.DB
	audit *audit.Log
	src   Sources
	opt   Options
	log   *slog.Logger
	pages *web.Pages
	// Now is the clock (tests move it).
	Now func() time.Time
	// window is what the previous inspection read of the metrics.
	window metricWindow
}

// New returns the service.
func New(db *store.DB, log *audit.Log, src Sources, opt Options) *Service {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.PDF == nil {
		opt.PDF = chromiumPDF
	}
	return &Service{db: db, audit: log, src: src, opt: opt, log: opt.Logger, Now: store.Now}
}

// Job names.
const (
	JobDaily   = "inspect.plans.daily"
	JobWeekly  = "inspect.plans.weekly"
	JobMonthly = "inspect.plans.monthly"
)

// RegisterJobs registers the scheduled inspections: every enabled plan of a cycle runs at
// 08:00 (daily; Mondays for weekly; the 1st for monthly).
func (s *Service) RegisterJobs(j *jobs.Scheduler) {
	for _, c := range []struct{ name, title, spec, cycle string }{
		{JobDaily, "日巡检", "0 0 8 * * *", CycleDaily},
		{JobWeekly, "周巡检", "0 0 8 * * 1", CycleWeekly},
		{JobMonthly, "月巡检", "0 0 8 1 * *", CycleMonthly},
	} {
		cycle := c.cycle
		j.Register(c.name, c.title, c.spec, func(ctx context.Context, run *jobs.Run) error {
			return s.runCycle(ctx, cycle, run)
		})
	}
}

func (s *Service) runCycle(ctx context.Context, cycle string, jr *jobs.Run) error {
	s.failStale(ctx)
	var plans []Plan
	if err := s.db.Select(ctx, &plans, `SELECT `+planCols+` FROM inspect_plans WHERE enabled AND cycle = ? ORDER BY id`, cycle); err != nil {
		return err
	}
	var errs []error
	for _, p := range plans {
		run, err := s.Execute(ctx, p, "schedule", audit.Entry{Kind: audit.KindOperation, Actor: "system", RegionCode: p.RegionCode}, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
			continue
		}
		jr.Add("runs", 1)
		jr.Note("%s：健康评分 %d", p.Name, run.Score)
	}
	return errors.Join(errs...)
}

// failStale marks runs left "running" by a crashed instance as failed.
func (s *Service) failStale(ctx context.Context) {
	s.db.Exec(ctx, `UPDATE inspect_runs SET status = 'failed', error = '巡检中断（进程退出或超时）', finished_at = ? WHERE status = 'running' AND started_at < ?`,
		s.Now(), s.Now().Add(-time.Hour))
}

const planCols = `id, name, cycle, categories, system_name, scope, inspector, reviewer, owner, enabled, region_code, created_by, created_at, updated_at`

// period returns the time span a run of plan inspects.
func (s *Service) period(ctx context.Context, p Plan, now time.Time) time.Time {
	switch p.Cycle {
	case CycleDaily:
		return now.Add(-24 * time.Hour)
	case CycleWeekly:
		return now.AddDate(0, 0, -7)
	case CycleMonthly:
		return now.AddDate(0, -1, 0)
	}
	var last sql.NullTime
	if err := s.db.Get(ctx, &last, `SELECT MAX(started_at) FROM inspect_runs WHERE plan_id = ? AND status = 'done'`, p.ID); err == nil && last.Valid && last.Time.After(now.AddDate(0, -1, 0)) {
		return last.Time
	}
	return now.Add(-24 * time.Hour)
}

// Execute runs plan now: every item of its categories, the score against the previous
// run, findings opened, updated or closed, the report archived (version 1), and the audit
// entry (who: entry's actor) — all results in one transaction.
func (s *Service) Execute(ctx context.Context, p Plan, trigger string, who audit.Entry, createdBy *int64) (*Run, error) {
	now := s.Now()
	run := &Run{PlanID: p.ID, PlanName: p.Name, Cycle: p.Cycle, TriggerKind: trigger, Actor: who.Actor, Status: "running",
		PeriodStart: s.period(ctx, p, now), PeriodEnd: now, StartedAt: now, Inspector: firstNonEmpty(p.Inspector, who.Actor),
		Reviewer: p.Reviewer, RegionCode: p.RegionCode, CreatedBy: createdBy}
	var prev struct {
		ID    int64 `db:"id"`
		Score int   `db:"score"`
	}
	prevItems := map[string]Item{}
	if err := s.db.Get(ctx, &prev, `SELECT id, score FROM inspect_runs WHERE plan_id = ? AND status = 'done' ORDER BY id DESC LIMIT 1`, p.ID); err == nil {
		run.PrevRunID, run.PrevScore = &prev.ID, &prev.Score
		var items []Item
		if err := s.db.Select(ctx, &items, `SELECT `+itemCols+` FROM inspect_items WHERE run_id = ?`, prev.ID); err != nil {
			return nil, err
		}
		for _, it := range items {
			prevItems[it.Code] = it
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	id, err := store.InsertID(ctx, s.db, `INSERT INTO inspect_runs (plan_id, plan_name, cycle, trigger_kind, actor, status, period_start, period_end, started_at,
		prev_run_id, prev_score, inspector, reviewer, region_code, created_by) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		run.PlanID, run.PlanName, run.Cycle, run.TriggerKind, run.Actor, run.PeriodStart, run.PeriodEnd, run.StartedAt,
		run.PrevRunID, run.PrevScore, run.Inspector, run.Reviewer, run.RegionCode, run.CreatedBy)
	if err != nil {
		return nil, err
	}
	run.ID = id

	e := &env{db: s.db, src: s.src, from: run.PeriodStart, to: run.PeriodEnd, prev: prevItems, now: now}
	e.base, e.baseAt = s.window.get()
	items := s.runChecks(ctx, p, e)
	s.window.set(e.read, now)
	for i := range items {
		items[i].RunID = run.ID
		if pi, ok := prevItems[items[i].Code]; ok {
			items[i].PrevConclusion = pi.Conclusion
		}
	}
	score(run, items)
	finished := s.Now()
	run.FinishedAt = &finished
	run.Status = "done"

	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for i := range items {
			it := &items[i]
			iid, err := store.InsertID(ctx, tx, `INSERT INTO inspect_items (run_id, seq, category, code, name, method, threshold, measured, value, conclusion, risk, advice, prev_conclusion)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, it.RunID, it.Seq, it.Category, it.Code, it.Name, it.Method, it.Threshold, it.Measured, it.Value,
				it.Conclusion, it.Risk, it.Advice, it.PrevConclusion)
			if err != nil {
				return err
			}
			it.ID = iid
		}
		opened, closed, err := s.findings(ctx, tx, p, run, items, finished)
		if err != nil {
			return err
		}
		run.Summary = fmt.Sprintf("检查 %d 项：正常 %d、警告 %d、严重 %d、检查失败 %d、不适用 %d；健康评分 %d（%s）；新增隐患 %d 个，复查关闭 %d 个",
			len(items), run.NormalCount, run.WarningCount, run.CriticalCount, run.FailedCount, run.NACount, run.Score, run.ScoreDelta(), opened, closed)
		if _, err := tx.Exec(ctx, `UPDATE inspect_runs SET status = 'done', finished_at = ?, score = ?, normal_count = ?, warning_count = ?, critical_count = ?,
			failed_count = ?, na_count = ?, summary = ? WHERE id = ?`, finished, run.Score, run.NormalCount, run.WarningCount, run.CriticalCount,
			run.FailedCount, run.NACount, run.Summary, run.ID); err != nil {
			return err
		}
		if err := s.archive(ctx, tx, run.ID, run.Actor); err != nil {
			return err
		}
		who.Action, who.ObjectType, who.ObjectID, who.Result = "inspect.run.execute", "inspect_run", fmt.Sprint(run.ID), audit.ResultSuccess
		who.Detail = fmt.Sprintf("执行巡检“%s”（%s）：%s", p.Name, map[string]string{"schedule": "定时", "manual": "手动"}[trigger], run.Summary)
		if who.RegionCode == "" {
			who.RegionCode = p.RegionCode
		}
		return s.audit.Record(ctx, tx, who)
	})
	if err != nil {
		s.db.Exec(context.WithoutCancel(ctx), `UPDATE inspect_runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?`, err.Error(), s.Now(), run.ID)
		return nil, fmt.Errorf("保存巡检结果失败: %w", err)
	}
	return run, nil
}

// runChecks runs the plan's items, each with its own time limit; a check that fails or
// panics becomes a "检查失败" item and never stops the others.
func (s *Service) runChecks(ctx context.Context, p Plan, e *env) []Item {
	var items []Item
	for _, cat := range p.CategoryList() {
		for _, c := range checks {
			if c.Category != cat || c.Dialect != "" && c.Dialect != s.db.Dialect() {
				continue
			}
			limit := 30 * time.Second
			if c.Code == "bk.restore_test" {
				limit = 10 * time.Minute
			}
			r := runOne(ctx, c, e, limit)
			items = append(items, Item{Seq: len(items) + 1, Category: c.Category, Code: c.Code, Name: c.Name, Method: c.Method,
				Threshold: c.Threshold, Measured: r.Measured, Value: r.Value, Conclusion: r.Conclusion, Risk: r.Risk, Advice: r.Advice})
		}
	}
	return items
}

func runOne(ctx context.Context, c check, e *env, limit time.Duration) (r result) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			slog.Error("inspect check panicked", "check", c.Code, "panic", p, "stack", string(debug.Stack()))
			r = failed(fmt.Errorf("内部错误：%v", p))
		}
	}()
	return c.Run(ctx, e)
}

// score counts the conclusions and computes the health score: 100 minus points per item by
// risk (low 3, medium 8, high 15), not below 0.
func score(run *Run, items []Item) {
	run.Score = 100
	for _, it := range items {
		switch it.Conclusion {
		case Normal:
			run.NormalCount++
		case Warning:
			run.WarningCount++
		case Critical:
			run.CriticalCount++
		case Failed:
			run.FailedCount++
		case NA:
			run.NACount++
		}
		if it.Conclusion != Normal && it.Conclusion != NA {
			run.Score -= riskPoints[it.Risk]
		}
	}
	run.Score = max(run.Score, 0)
}

// findings opens a finding for each item that is not normal (or updates the open one of the
// same check), closes open findings whose check is normal again, and publishes
// inspect.finding.opened for each new one.
func (s *Service) findings(ctx context.Context, tx *store.Tx, p Plan, run *Run, items []Item, now time.Time) (opened, closed int, err error) {
	for _, it := range items {
		switch it.Conclusion {
		case Warning, Critical, Failed:
			var existing int64
			err := tx.Get(ctx, &existing, `SELECT id FROM inspect_findings WHERE code = ? AND region_code = ? AND status <> 'closed'`, it.Code, p.RegionCode)
			if err == nil {
				if _, err := tx.Exec(ctx, `UPDATE inspect_findings SET last_run_id = ?, item_id = ?, detail = ?, risk = ?, advice = ?, updated_at = ? WHERE id = ?`,
					run.ID, it.ID, it.Measured, it.Risk, it.Advice, now, existing); err != nil {
					return 0, 0, err
				}
				continue
			} else if !errors.Is(err, store.ErrNotFound) {
				return 0, 0, err
			}
			deadline := now.In(shanghai).AddDate(0, 0, deadlineDays[it.Risk]).Format("2006-01-02")
			title := fmt.Sprintf("%s：%s", it.Name, ConclusionLabels[it.Conclusion])
			fid, err := store.InsertID(ctx, tx, `INSERT INTO inspect_findings (run_id, last_run_id, item_id, code, category, title, detail, risk, owner, deadline,
				status, advice, region_code, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)
				ON CONFLICT (code, region_code) WHERE status <> 'closed' DO NOTHING`,
				run.ID, run.ID, it.ID, it.Code, it.Category, title, it.Measured, it.Risk, p.Owner, deadline, it.Advice, p.RegionCode, now, now)
			if errors.Is(err, sql.ErrNoRows) {
				continue // a concurrent inspection opened it a moment ago
			} else if err != nil {
				return 0, 0, err
			}
			opened++
			if err := events.Publish(ctx, tx, EventFindingOpened, map[string]any{
				"finding": fid, "inspection": run.ID, "plan": p.ID, "code": it.Code, "severity": RiskLabels[it.Risk], "risk": it.Risk,
				"owner": p.Owner, "deadline": deadline, "system": p.SystemName, "title": title,
			}); err != nil {
				return 0, 0, err
			}
		case Normal:
			res, err := tx.Exec(ctx, `UPDATE inspect_findings SET status = 'closed', closed_at = ?, closed_run_id = ?, closed_note = ?, last_run_id = ?, updated_at = ?
				WHERE code = ? AND region_code = ? AND status <> 'closed'`, now, run.ID,
				fmt.Sprintf("巡检 #%d 复查正常（%s），自动关闭", run.ID, it.Measured), run.ID, now, it.Code, p.RegionCode)
			if err != nil {
				return 0, 0, err
			}
			n, _ := res.RowsAffected()
			closed += int(n)
		}
	}
	return opened, closed, nil
}

const itemCols = `id, run_id, seq, category, code, name, method, threshold, measured, value, conclusion, risk, advice, prev_conclusion`

// ---- plans ----

// PlanInput is what a plan form sends.
type PlanInput struct {
	Name       string   `json:"name"`
	Cycle      string   `json:"cycle"`
	Categories []string `json:"categories"`
	SystemName string   `json:"system_name"`
	Scope      string   `json:"scope"`
	Inspector  string   `json:"inspector"`
	Reviewer   string   `json:"reviewer"`
	Owner      string   `json:"owner"`
	Enabled    *bool    `json:"enabled"`
}

func (in *PlanInput) check() error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len([]rune(in.Name)) > 100 {
		return web.Errorf(400, "invalid_plan", "请填写巡检计划名称（不超过 100 字）")
	}
	if CycleLabels[in.Cycle] == "" {
		return web.Errorf(400, "invalid_cycle", "巡检周期须为 daily（日）、weekly（周）、monthly（月）或 adhoc（按需）")
	}
	for _, c := range in.Categories {
		if CategoryLabels[c] == "" {
			return web.Errorf(400, "invalid_category", "未知的巡检类别 %q", c)
		}
	}
	in.SystemName = firstNonEmpty(strings.TrimSpace(in.SystemName), "智慧市监平台")
	for _, f := range []*string{&in.Scope, &in.Inspector, &in.Reviewer, &in.Owner} {
		*f = strings.TrimSpace(*f)
		if len([]rune(*f)) > 500 {
			return web.Errorf(400, "invalid_plan", "字段内容过长（不超过 500 字）")
		}
	}
	return nil
}

func planScope(p *iam.Principal) (string, []any) {
	return p.Filter(iam.Cols{Region: "region_code", Owner: "created_by"})
}

// Plans lists the plans inside the principal's scope.
func (s *Service) Plans(ctx context.Context, p *iam.Principal) ([]Plan, error) {
	w, args := planScope(p)
	out := []Plan{}
	err := s.db.Select(ctx, &out, `SELECT `+planCols+` FROM inspect_plans WHERE `+w+` ORDER BY id`, args...)
	return out, err
}

// Plan returns one plan inside the principal's scope.
func (s *Service) Plan(ctx context.Context, q store.Q, p *iam.Principal, id int64) (*Plan, error) {
	w, args := planScope(p)
	var pl Plan
	err := q.Get(ctx, &pl, `SELECT `+planCols+` FROM inspect_plans WHERE id = ? AND `+w, append([]any{id}, args...)...)
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.ErrNotFound
	}
	return &pl, err
}

// ownerExists checks that a finding owner names an account.
func (s *Service) ownerExists(ctx context.Context, q store.Q, account string) error {
	if account == "" {
		return nil
	}
	var n int
	if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM users WHERE account = ?`, account); err != nil {
		return err
	}
	if n == 0 {
		return web.Errorf(400, "invalid_owner", "责任人账号 %s 不存在", account)
	}
	return nil
}
