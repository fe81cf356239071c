package app

import (
	"context"
	"io/fs"
	"time"

	"zhsj/internal/demo"
	"zhsj/internal/jobs"
	"zhsj/internal/monitor"
	"zhsj/internal/store"
)

// The monitoring module: probes, metrics, alert rules, the status page and the HTTP face of
// the notification hub. Its engine runs as the job "monitor.engine", so exactly one instance
// probes at a time and another takes over when it stops.
func init() {
	wire("monitor", 50, func(ctx context.Context, a *App) (module, fs.FS, error) {
		m := monitor.New(a.DB, monitor.Options{
			Audit: a.Audit, Notify: a.Notify, Logger: a.Log, BaseURL: a.Cfg.BaseURL,
			SelfURL: func() string {
				if a.Cfg.BaseURL != "" {
					return a.Cfg.BaseURL
				}
				scheme := "http"
				if a.Cfg.TLSCert != "" {
					scheme = "https"
				}
				return scheme + "://" + a.Cfg.Addr
			},
			Registerer: a.Registry(),
		})
		a.Jobs.Register("monitor.engine", "监控引擎：探测、主机指标与告警评估（单实例运行，故障自动接管）", "@every 15s",
			func(ctx context.Context, run *jobs.Run) error {
				return m.NewEngine().Run(ctx)
			})
		a.Jobs.Register("monitor.rollup", "监控数据汇总（5 分钟与小时）", "30 */5 * * * *", func(ctx context.Context, run *jobs.Run) error {
			n, err := m.Rollup(ctx, 2*time.Hour)
			run.Add("rows", n)
			return err
		})
		a.Jobs.Register("monitor.retention", "按保留期清理监控数据", "0 40 3 * * *", func(ctx context.Context, run *jobs.Run) error {
			n, err := m.Prune(ctx)
			run.Add("deleted", n)
			return err
		})
		a.Seeders = append(a.Seeders, demo.Seeder{Name: "monitor", Title: "运行监控演示对象", Run: func(ctx context.Context, env *demo.Env) ([]string, error) {
			var lines []string
			err := env.DB.InTx(ctx, func(tx *store.Tx) error {
				var err error
				lines, err = m.SeedDemo(ctx, tx)
				return err
			})
			return lines, err
		}})
		for _, name := range monitor.Subscribed {
			a.Events.Subscribe(name, "monitor.notify", m.HandleEvent)
		}
		return m, monitor.Templates(), nil
	})
}
