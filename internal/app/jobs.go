package app

import (
	"context"
	"time"

	"zhsj/internal/jobs"
	"zhsj/internal/store"
)

// registerJobs registers the foundation's housekeeping jobs.
func (a *App) registerJobs() {
	a.Jobs.Register("audit.prune", "审计日志按保留期清理", "0 30 3 * * *", func(ctx context.Context, run *jobs.Run) error {
		n, err := a.Audit.Prune(ctx, store.Now().AddDate(0, 0, -a.Cfg.AuditRetention))
		run.Add("deleted", n)
		return err
	})
	// Run and delivery records grow with every job tick and message: successful runs are kept
	// 30 days, failures and deliveries as long as the audit log.
	a.Jobs.Register("housekeeping.prune", "清理过期的任务运行记录与通知发送记录", "0 45 3 * * *", func(ctx context.Context, run *jobs.Run) error {
		now := store.Now()
		keep := now.AddDate(0, 0, -a.Cfg.AuditRetention)
		runs, err := a.Jobs.Prune(ctx, now.AddDate(0, 0, -30), keep)
		run.Add("job_runs", runs)
		if err != nil {
			return err
		}
		sent, err := a.Notify.Prune(ctx, keep)
		run.Add("deliveries", sent)
		return err
	})
	a.Jobs.Register("iam.sessions.cleanup", "清理过期会话", "0 15 * * * *", func(ctx context.Context, run *jobs.Run) error {
		cutoff := store.Now().Add(-7 * 24 * time.Hour)
		res, err := a.DB.Exec(ctx, `DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?`, cutoff, cutoff)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		run.Add("deleted", n)
		return nil
	})
}
