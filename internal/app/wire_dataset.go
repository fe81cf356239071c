package app

import (
	"context"
	"io/fs"

	"zhsj/internal/dataset"
)

// The dataset module: market-supervision datasets, code tables, ingestion (files, pull,
// push), quarantine and run records.
func init() {
	wire("dataset", 10, func(ctx context.Context, a *App) (module, fs.FS, error) {
		m := dataset.New(dataset.Deps{DB: a.DB, Keys: a.Keys, Audit: a.Audit, IAM: a.IAM, Jobs: a.Jobs, Logger: a.Log})
		if err := m.Init(ctx); err != nil {
			return nil, nil, err
		}
		m.RegisterJobs(a.Jobs)
		a.Seeders = append(a.Seeders, m.Seeder())
		return m, dataset.Templates(), nil
	})
}
