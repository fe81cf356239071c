package app

import (
	"context"
	"fmt"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/jobs"
	"zhsj/internal/monitor"
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
	if a.DB.Dialect() == store.Postgres {
		a.Jobs.Register("store.partitions", "数据表分区维护：创建审计日志与监控采样的后续分区", "0 10 0 * * *", func(ctx context.Context, run *jobs.Run) error {
			n, err := a.maintainPartitions(ctx)
			run.Add("created", int64(n))
			return err
		})
	}
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

// timePartitioned are the tables partitioned by time on PostgreSQL (DESIGN §10).
var timePartitioned = []store.TimePartitions{audit.Partitions, monitor.SamplePartitions}

// maintainPartitions creates the coming partitions of the time-partitioned tables and moves
// into their partitions the rows their default partitions caught (PostgreSQL; nothing on
// SQLite). It runs at start and daily, and returns the number of partitions created.
func (a *App) maintainPartitions(ctx context.Context) (int, error) {
	total := 0
	for _, p := range timePartitioned {
		n, err := p.Maintain(ctx, a.DB, store.Now())
		if err != nil {
			return total, fmt.Errorf("%s: %w", p.Table, err)
		}
		total += n
	}
	return total, nil
}
