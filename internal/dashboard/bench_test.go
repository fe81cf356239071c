package dashboard_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/dashboard"
	"zhsj/internal/dataset"
	"zhsj/internal/iam"
	"zhsj/internal/indicator"
	"zhsj/internal/indicator/gen"
	"zhsj/internal/store"
)

// Benchmarks of issue 4 on the --scale large data (1,000,000 market entities, 50,000 licences,
// 500,000 sampling batches, 10,000,000 API calls, and the other datasets in proportion):
//
//	go test -run '^$' -bench 'Indicator|DashboardAPI' -benchtime 1x -timeout 3h ./internal/dashboard/
//
// The large database is built once (gen.Large straight into the tables, then a full
// computation) and kept for later runs: SQLite under $ZHSJ_BENCH_DIR (default
// $TMPDIR/zhsj-bench-dashboard), PostgreSQL as the database zhsj_bench_dashboard on the server
// of $ZHSJ_TEST_POSTGRES_URL (skipped without it).

const benchMarker = "bench.dashboard.large.v1"

func largeDB(b *testing.B, dialect string) *store.DB {
	b.Helper()
	ctx := context.Background()
	var opt store.Options
	switch dialect {
	case "sqlite":
		dir := os.Getenv("ZHSJ_BENCH_DIR")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "zhsj-bench-dashboard")
		}
		opt.DataDir = dir
	case "postgres":
		base := os.Getenv("ZHSJ_TEST_POSTGRES_URL")
		if base == "" {
			b.Skip("ZHSJ_TEST_POSTGRES_URL not set")
		}
		admin, err := sql.Open("pgx", base)
		if err != nil {
			b.Fatal(err)
		}
		var n int
		admin.QueryRow(`SELECT COUNT(*) FROM pg_database WHERE datname = 'zhsj_bench_dashboard'`).Scan(&n)
		if n == 0 {
			if _, err := admin.Exec(`CREATE DATABASE zhsj_bench_dashboard`); err != nil {
				b.Fatal(err)
			}
		}
		admin.Close()
		u, _ := url.Parse(base)
		u.Path = "/zhsj_bench_dashboard"
		opt.URL = u.String()
	}
	db, err := store.OpenMigrated(ctx, opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var have int
	db.Get(ctx, &have, `SELECT COUNT(*) FROM settings WHERE key = ?`, benchMarker)
	if have > 0 {
		return db
	}
	t0 := time.Now()
	if err := iam.LoadRegions(ctx, db); err != nil {
		b.Fatal(err)
	}
	if err := dataset.SeedCodeTables(ctx, db); err != nil {
		b.Fatal(err)
	}
	for _, name := range gen.Datasets() {
		ds, _ := indicator.Dataset(name)
		if _, err := db.Exec(ctx, "DELETE FROM "+ds.Table); err != nil {
			b.Fatal(err)
		}
	}
	if err := gen.Fill(ctx, db, gen.Large, gen.Options{Source: "bench"}); err != nil {
		b.Fatal(err)
	}
	if dialect == "postgres" {
		// As autovacuum would have left a database that has been running: statistics and the
		// visibility map (index-only scans).
		db.Exec(ctx, "VACUUM ANALYZE")
	} else {
		db.Exec(ctx, "ANALYZE")
	}
	b.Logf("%s: large data written in %v", dialect, time.Since(t0))
	s := indicator.New(db, nil, nil, nil)
	if err := s.Init(ctx); err != nil {
		b.Fatal(err)
	}
	t1 := time.Now()
	if _, err := s.Compute(ctx, indicator.Unit{Kind: "full"}, 0); err != nil {
		b.Fatal(err)
	}
	db.Exec(ctx, `UPDATE ind_requests SET status = 'done' WHERE status = 'pending'`)
	b.Logf("%s: first full computation %v", dialect, time.Since(t1))
	if _, err := db.Exec(ctx, `INSERT INTO settings(key, value, updated_at) VALUES (?, '1', ?)`, benchMarker, store.Now()); err != nil {
		b.Fatal(err)
	}
	return db
}

func benchDialects(b *testing.B, f func(b *testing.B, dialect string)) {
	for _, d := range []string{"sqlite", "postgres"} {
		b.Run(d, func(b *testing.B) { f(b, d) })
	}
}

// BenchmarkIndicatorFullRecompute: every indicator from the raw rows (goal < 60 s on SQLite).
func BenchmarkIndicatorFullRecompute(b *testing.B) {
	benchDialects(b, func(b *testing.B, dialect string) {
		db := largeDB(b, dialect)
		s := indicator.New(db, nil, nil, benchLogger())
		if err := s.Init(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		var cells int64
		for i := 0; i < b.N; i++ {
			rec, err := s.Compute(context.Background(), indicator.Unit{Kind: "full"}, 0)
			if err != nil {
				b.Fatal(err)
			}
			cells = rec.Cells
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/recompute")
		b.ReportMetric(float64(cells), "cells")
	})
}

// BenchmarkIndicatorIncremental10k: the refresh after an ingestion of 10,000 sampling batches
// of the current month spread over every county (goal < 2 s on SQLite). The rows are removed
// again afterwards (and the values refreshed), so the database stays as built.
func BenchmarkIndicatorIncremental10k(b *testing.B) {
	benchDialects(b, func(b *testing.B, dialect string) {
		ctx := context.Background()
		db := largeDB(b, dialect)
		s := indicator.New(db, nil, nil, benchLogger())
		if err := s.Init(ctx); err != nil {
			b.Fatal(err)
		}
		now := time.Now().In(time.FixedZone("CST", 8*3600))
		first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		month := first.Format("2006-01")
		var total time.Duration
		for i := 0; i < b.N; i++ {
			offset := 50_000_000 + rand.IntN(1_000_000)*10
			err := gen.Fill(ctx, db, gen.Sizes{"sampling": 10_000}, gen.Options{Start: first, End: first.AddDate(0, 0, now.Day()-1), Offset: offset, Source: "bench-incremental"})
			if err != nil {
				b.Fatal(err)
			}
			var regions []string
			db.Select(ctx, &regions, `SELECT DISTINCT region_code FROM ds_sampling WHERE source = 'bench-incremental'`)
			sc := indicator.Scope{Counties: map[string]bool{}, Months: map[string]bool{month: true}}
			for _, r := range regions {
				sc.Counties[r] = true
			}
			t0 := time.Now()
			rec, err := s.Compute(ctx, indicator.Unit{Kind: "incremental", Dataset: "sampling", Scope: sc}, 0)
			if err != nil {
				b.Fatal(err)
			}
			total += time.Since(t0)
			b.Logf("%s: 10,000 rows in %d counties, refresh %v, %d cells", dialect, len(regions), time.Since(t0), rec.Cells)
			b.StopTimer()
			if _, err := db.Exec(ctx, `DELETE FROM ds_sampling WHERE source = 'bench-incremental'`); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Compute(ctx, indicator.Unit{Kind: "incremental", Dataset: "sampling", Scope: sc}, 0); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/refresh")
	})
}

// BenchmarkDashboardAPI: every dashboard JSON API (each page, each card and chart, the topic
// pages) under 8 concurrent clients through the real handler stack; reports the p95 of every
// endpoint (goal: each < 50 ms on SQLite). Each client walks the endpoint list in its own
// random order for the benchmark's duration (ZHSJ_BENCH_SECONDS, default 20).
func BenchmarkDashboardAPI(b *testing.B) {
	benchDialects(b, func(b *testing.B, dialect string) {
		ctx := context.Background()
		db := largeDB(b, dialect)
		e := apptest.New(b, db)
		var n int
		db.Get(ctx, &n, `SELECT COUNT(*) FROM users WHERE account = 'bench_leader'`)
		if n == 0 {
			e.User("bench_leader", "610000", "leader")
		}
		db.Get(ctx, &n, `SELECT COUNT(*) FROM users WHERE account = 'bench_xian'`)
		if n == 0 {
			e.User("bench_xian", "610100", "leader")
		}
		var paths []string
		for _, p := range dashboard.Pages {
			paths = append(paths, p.APIPath())
			for _, w := range p.Widgets {
				paths = append(paths, p.APIPath()+"/"+w.ID)
			}
		}
		for _, g := range indicator.Topics {
			paths = append(paths, "/api/v1/dashboard/topics/"+g.Key)
		}
		paths = append(paths, "/api/v1/dashboard/themes/product_quality")
		secs := 20
		fmt.Sscan(os.Getenv("ZHSJ_BENCH_SECONDS"), &secs)
		clients := []*apptest.Client{e.Login("bench_leader"), e.Login("bench_xian")}
		for _, c := range clients { // warm caches and prepared statements
			for _, p := range paths {
				c.Do("GET", p, nil)
			}
		}
		b.ResetTimer()
		var mu sync.Mutex
		lat := map[string][]time.Duration{}
		deadline := time.Now().Add(time.Duration(secs) * time.Second)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			c := clients[i%2]
			region := map[int]string{0: "", 1: "?region=610113"}[i%2]
			if i%4 == 2 {
				region = "?period=" + time.Now().Format("2006")
			}
			wg.Go(func() {
				order := slices.Clone(paths)
				for time.Now().Before(deadline) {
					rand.Shuffle(len(order), func(a, z int) { order[a], order[z] = order[z], order[a] })
					for _, p := range order {
						t0 := time.Now()
						res := c.Do("GET", p+region, nil)
						d := time.Since(t0)
						if res.Status != 200 {
							b.Errorf("GET %s%s: %d %.200s", p, region, res.Status, res.Body)
							return
						}
						mu.Lock()
						lat[p] = append(lat[p], d)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		type row struct {
			path     string
			n        int
			p50, p95 time.Duration
		}
		var rows []row
		var all []time.Duration
		for p, ds := range lat {
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			rows = append(rows, row{p, len(ds), ds[len(ds)/2], ds[int(float64(len(ds))*0.95)]})
			all = append(all, ds...)
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].p95 > rows[j].p95 })
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		var lines []string
		over := 0
		for _, r := range rows {
			if r.p95 > 50*time.Millisecond {
				over++
			}
			lines = append(lines, fmt.Sprintf("%-58s n=%5d p50=%6.1fms p95=%6.1fms", r.path, r.n, ms(r.p50), ms(r.p95)))
		}
		b.Logf("%s: %d endpoints, %d requests, overall p95 %.1f ms, %d endpoints with p95 > 50 ms; slowest first:\n%s",
			dialect, len(rows), len(all), ms(all[int(float64(len(all))*0.95)]), over, strings.Join(lines[:min(len(lines), 15)], "\n"))
		b.ReportMetric(ms(rows[0].p95), "max-p95-ms")
		b.ReportMetric(ms(all[int(float64(len(all))*0.95)]), "p95-ms")
		b.ReportMetric(float64(len(all))/float64(secs), "req/s")
	})
}

// benchLogger logs the computation's per-group timings with ZHSJ_BENCH_DEBUG=1.
func benchLogger() *slog.Logger {
	if os.Getenv("ZHSJ_BENCH_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
