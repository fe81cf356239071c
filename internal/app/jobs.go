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
