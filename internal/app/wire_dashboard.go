package app

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"time"

	"zhsj/internal/dashboard"
	"zhsj/internal/demo"
	"zhsj/internal/indicator"
	"zhsj/internal/quality"
)

// The indicator layer and the Smart Cloud Center dashboards. The catalogue is seeded at start;
// the job indicator.refresh materialises values — after each ingestion (incrementally), each
// definition change and each manual request, and nightly in full — and the dashboards read
// them.
func init() {
	wire("indicator", 80, func(ctx context.Context, a *App) (module, fs.FS, error) {
		ind := indicator.New(a.DB, a.Audit, a.Jobs, a.Log)
		ind.Quality = a.qualityScore
		if err := ind.Init(ctx); err != nil {
			return nil, nil, err
		}
		a.Jobs.Register(indicator.JobRefresh, "指标计算（入库增量刷新、定义变更重算、每日全量重算）", "0 0 2 * * *", ind.RunJob)
		for _, ev := range []string{indicator.EventIngestDone, indicator.EventIngestFailed, indicator.EventRequested} {
			a.Events.Subscribe(ev, indicator.Subscriber, ind.HandleEvent)
		}
		a.Seeders = append(a.Seeders, demo.Seeder{Name: "indicator", Title: "看板指标计算", Run: func(ctx context.Context, env *demo.Env) ([]string, error) {
			return indicator.SeedDemo(ctx, ind, string(env.Scale))
		}})
		indicatorServices.Store(a, ind)
		return ind, indicator.Templates(), nil
	})
	wire("dashboard", 81, func(ctx context.Context, a *App) (module, fs.FS, error) {
		ind := a.Indicators()
		if ind == nil {
			return nil, nil, errors.New("指标模块未装配")
		}
		return dashboard.New(a.DB, ind, a.Audit, a.Log), dashboard.Templates(), nil
	})
}

var indicatorServices sync.Map // *App → *indicator.Service

// Indicators returns the app's indicator layer.
func (a *App) Indicators() *indicator.Service {
	v, _ := indicatorServices.Load(a)
	s, _ := v.(*indicator.Service)
	return s
}

// qualityScore is a dataset's score in the latest quality run that checked it, scored by the
// quality engine's own rules (quality.Score with its configured dimension weights); ok false
// when the dataset was never checked (暂无质量评分).
func (a *App) qualityScore(ctx context.Context, name string) (indicator.QualityScore, bool) {
	qm := a.Quality()
	if qm == nil {
		return indicator.QualityScore{}, false
	}
	var run struct {
		ID         int64     `db:"id"`
		FinishedAt time.Time `db:"finished_at"`
	}
	err := a.DB.Get(ctx, &run, `SELECT r.id, r.finished_at FROM quality_runs r
		WHERE r.id = (SELECT MAX(run_id) FROM quality_results WHERE dataset = ?)`, name)
	if err != nil {
		return indicator.QualityScore{}, false
	}
	var results []*quality.Result
	if err := a.DB.Select(ctx, &results, `SELECT id, run_id, rule_id, rule_code, rule_name, rule_version, dataset, template, dimension, severity,
		threshold, checked, failed, pass_rate, status, metric, message, sampled, regional, duration_ms
		FROM quality_results WHERE run_id = ? AND dataset = ?`, run.ID, name); err != nil {
		return indicator.QualityScore{}, false
	}
	st, err := qm.Settings(ctx)
	if err != nil {
		return indicator.QualityScore{}, false
	}
	v, ok := quality.Score(results, st.Weights).Datasets[name]
	if !ok {
		return indicator.QualityScore{}, false
	}
	return indicator.QualityScore{Score: v, At: run.FinishedAt}, true
}
