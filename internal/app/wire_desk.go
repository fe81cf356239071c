package app

import (
	"context"
	"io/fs"
	"sync"

	"zhsj/internal/demo"
	"zhsj/internal/desk"
	"zhsj/internal/iam"
	"zhsj/internal/jobs"
)

// desks remembers each app's service desk, so that tests can drive its clock.
var desks sync.Map // *App → *desk.Desk

// DeskOf returns the service desk of an app.
func DeskOf(a *App) *desk.Desk {
	d, _ := desks.Load(a)
	dd, _ := d.(*desk.Desk)
	return dd
}

// The service desk (服务台): tickets under the procured SLAs, approvals, knowledge base, work
// reports. It hears alerts and inspection findings through events only.
func init() {
	wire("desk", 70, func(ctx context.Context, a *App) (module, fs.FS, error) {
		d := desk.New(a.DB, desk.Options{Audit: a.Audit, Notify: a.Notify, BaseURL: a.Cfg.BaseURL, Logger: a.Log})
		d.Subscribe(a.Events)
		a.Jobs.Register("desk.sla.evaluate", "服务台 SLA 计时评估：预警、超时与逐级升级", "0 * * * * *", func(ctx context.Context, run *jobs.Run) error {
			res, err := d.EvaluateSLA(ctx)
			run.Add("checked", int64(res.Checked))
			run.Add("warned", int64(res.Warned))
			run.Add("breached", int64(res.Breached))
			run.Add("escalated", int64(res.Escalated))
			return err
		})
		for _, kind := range []struct{ name, title, spec, kind string }{
			{"desk.report.monthly", "生成上月服务台工作月报并归档", "0 0 6 1 * *", desk.ReportMonthly},
			{"desk.report.annual", "生成上年服务台总结报告并归档", "0 30 6 1 1 *", desk.ReportAnnual},
		} {
			a.Jobs.Register(kind.name, kind.title, kind.spec, func(ctx context.Context, run *jobs.Run) error {
				period := d.PreviousPeriod(kind.kind)
				id, err := d.Generate(ctx, nil, iam.System(), kind.kind, period, "schedule")
				if err == nil {
					run.Note("%s 报告编号 %d", period, id)
				}
				return err
			})
		}
		a.Seeders = append(a.Seeders, demo.Seeder{Name: "desk", Title: "服务台演示数据", Run: func(ctx context.Context, env *demo.Env) ([]string, error) {
			return d.Seed(ctx, env)
		}})
		desks.Store(a, d)
		return d, desk.Templates(), nil
	})
}
