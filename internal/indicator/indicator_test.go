package indicator_test

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"zhsj/internal/dataset"
	"zhsj/internal/events"
	"zhsj/internal/iam"
	"zhsj/internal/indicator"
	"zhsj/internal/indicator/gen"
	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// province is a caller with the whole province as jurisdiction.
var province = &iam.Principal{Account: "t", Region: "610000", RegionPath: "/610000/", Scopes: []iam.RoleScope{{Kind: iam.ScopeAll}}}

func setup(t testing.TB, db *store.DB) *indicator.Service {
	t.Helper()
	ctx := context.Background()
	if err := iam.LoadRegions(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := dataset.SeedCodeTables(ctx, db); err != nil {
		t.Fatal(err)
	}
	s := indicator.New(db, nil, nil, nil)
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// setupComputed is setup with the catalogue's first computation done.
func setupComputed(t testing.TB, db *store.DB) *indicator.Service {
	t.Helper()
	s := setup(t, db)
	if _, err := s.Drain(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	return s
}

func full(t testing.TB, s *indicator.Service) {
	t.Helper()
	rec, err := s.Compute(context.Background(), indicator.Unit{Kind: "full"}, 0)
	if err != nil {
		t.Fatalf("full recompute: %v", err)
	}
	if rec.Status != "succeeded" || rec.Cells == 0 {
		t.Fatalf("full recompute: %+v", rec)
	}
}

// rawValue computes an aggregate straight from the rows with an independent query (plain
// aggregate with WHERE, regions by their stored path, periods by text range).
func rawValue(t *testing.T, db *store.DB, sp indicator.Spec, region, period string, dim *string) float64 {
	t.Helper()
	ds, _ := indicator.Dataset(sp.Dataset)
	agg := map[string]string{"count": "COUNT(*)", "sum": "SUM(" + sp.Expr + ")", "count_distinct": "COUNT(DISTINCT " + sp.Expr + ")"}[sp.Agg]
	var where []string
	var args []any
	if sp.Filter != "" {
		where = append(where, "("+sp.Filter+")")
	}
	if region != "610000" {
		where = append(where, "t.region_code IN (SELECT code FROM regions WHERE path LIKE (SELECT path FROM regions WHERE code = ?) || '%')")
		args = append(args, region)
	}
	col := sp.PeriodField
	if col == "" {
		col = ds.PeriodField
	}
	pcol := "t." + col
	if col == "first_seen_at" {
		pcol = map[store.Dialect]string{store.SQLite: "date(t.first_seen_at, '+8 hours')", store.Postgres: "to_char(t.first_seen_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"}[db.Dialect()]
	}
	if period != "" {
		if !sp.Cumulative {
			where = append(where, pcol+" LIKE ?")
			args = append(args, period+"%")
		} else {
			where = append(where, "substr("+pcol+", 1, ?) <= ?")
			args = append(args, len(period), period)
		}
	}
	if dim != nil {
		where = append(where, "COALESCE(CAST(t."+sp.Breakdown+" AS TEXT), '') = ?")
		args = append(args, *dim)
	}
	q := "SELECT CAST(COALESCE(" + agg + ", 0) AS DOUBLE PRECISION) FROM " + ds.Table + " t"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	var v float64
	if err := db.Get(context.Background(), &v, q, args...); err != nil {
		t.Fatalf("%s raw: %v\n%s", sp.Code, err, q)
	}
	return v
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestIndicatorsEqualRawRecomputation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := setup(t, db)
		if err := gen.Fill(ctx, db, gen.Tiny, gen.Options{Start: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
		// Resources first seen in two different months, for the stock indicator.
		db.Exec(ctx, `UPDATE ds_resource SET first_seen_at = ? WHERE id % 2 = 0`, time.Date(2025, 3, 10, 4, 0, 0, 0, time.UTC))
		db.Exec(ctx, `UPDATE ds_resource SET first_seen_at = ? WHERE id % 2 = 1`, time.Date(2025, 5, 31, 20, 0, 0, 0, time.UTC)) // 6-01 in Shanghai
		full(t, s)
		rd, err := s.Reader(ctx, province)
		if err != nil {
			t.Fatal(err)
		}
		defs, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sels := []indicator.Sel{{"610000", ""}, {"610100", ""}, {"610403", ""}, {"610000", "2024"}, {"610113", "2025"},
			{"610100", "2024-03"}, {"610581", "2025-06"}, {"610000", "2025-05"}}
		checked, nonzero := 0, 0
		for _, d := range defs {
			if d.Kind != indicator.KindAggregate {
				continue
			}
			for _, sel := range sels {
				if !d.HasPeriod(sel.Kind()) {
					continue
				}
				if d.Breakdown != "" {
					pts, err := rd.Breakdown(ctx, d.Code, sel)
					if err != nil {
						t.Fatal(err)
					}
					sum := 0.0
					for _, p := range pts {
						dim := p.Key
						want := rawValue(t, db, d.Spec, sel.Region, sel.Period, &dim)
						if p.Value == nil || !near(*p.Value, want) {
							t.Errorf("%s %v dim %q: %v, raw %v", d.Code, sel, dim, p.Value, want)
						}
						sum += *p.Value
						checked++
					}
					if want := rawValue(t, db, d.Spec, sel.Region, sel.Period, nil); !near(sum, want) && d.Agg != "count_distinct" {
						t.Errorf("%s %v: breakdown sums to %v, raw total %v", d.Code, sel, sum, want)
					}
					continue
				}
				c, err := rd.Value(ctx, d.Code, sel)
				if err != nil {
					t.Fatal(err)
				}
				want := rawValue(t, db, d.Spec, sel.Region, sel.Period, nil)
				if c.Value == nil || !near(*c.Value, want) {
					t.Errorf("%s %v: materialised %v, raw %v", d.Code, sel, c.Value, want)
				}
				if c.ComputedAt == nil {
					t.Errorf("%s %v: no computation time", d.Code, sel)
				}
				checked++
				if want != 0 {
					nonzero++
				}
			}
		}
		if checked < 250 || nonzero < 120 {
			t.Fatalf("checked %d values, %d non-zero: the fixture does not exercise the indicators", checked, nonzero)
		}
		// Ratios equal the ratio of the raw counts.
		for _, d := range defs {
			if d.Kind != indicator.KindRatio || d.Breakdown != "" {
				continue
			}
			num, _ := s.Get(ctx, d.Numerator)
			den, _ := s.Get(ctx, d.Denominator)
			if num.Breakdown != "" {
				continue
			}
			for _, sel := range sels[:6] {
				c, err := rd.Value(ctx, d.Code, sel)
				if err != nil {
					t.Fatal(err)
				}
				dp := sel.Period
				if d.DenAll {
					dp = ""
				}
				n, dn := rawValue(t, db, num.Spec, sel.Region, sel.Period, nil), rawValue(t, db, den.Spec, sel.Region, dp, nil)
				if dn == 0 {
					if c.Value != nil {
						t.Errorf("%s %v: %v without denominator", d.Code, sel, *c.Value)
					}
					continue
				}
				if want := n / dn * d.Scale; c.Value == nil || !near(*c.Value, want) {
					t.Errorf("%s %v: %v, raw %v", d.Code, sel, c.Value, want)
				}
			}
		}
	})
}

// TestHandComputedValues pins a few indicators to numbers worked out by hand, so that a
// definition that is wrong in the same way as its raw recomputation still fails.
func TestHandComputedValues(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := setup(t, db)
		now := store.Now()
		ins := func(q string, args ...any) {
			if _, err := db.Exec(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}
		sampling := `INSERT INTO ds_sampling(batch_no, plan_level, product_name, category_code, producer_uscc, sampling_date, region_code, result, row_hash, first_seen_at, last_updated_at) VALUES (?, '省', '电饭锅', ?, ?, ?, ?, ?, 'h', ?, ?)`
		ins(sampling, "B1", "02", "U1", "2024-03-05", "610113", "合格", now, now)
		ins(sampling, "B2", "02", "U1", "2024-03-20", "610113", "不合格", now, now)
		ins(sampling, "B3", "08", "U2", "2024-04-01", "610102", "合格", now, now)
		ins(sampling, "B4", "08", "U3", "2024-04-02", "610302", "合格", now, now)
		ent := `INSERT INTO ds_enterprise(uscc, name, region_code, status, is_industrial, establish_date, quality_manager_count, row_hash, first_seen_at, last_updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'h', ?, ?)`
		ins(ent, "U1", "甲", "610113", "存续", true, "2020-01-01", 2, now, now)
		ins(ent, "U2", "乙", "610102", "在业", true, "2024-02-01", 3, now, now)
		ins(ent, "U4", "丙", "610104", "存续", true, "2021-01-01", 1, now, now)
		ins(ent, "U5", "丁", "610104", "注销", true, "2021-01-01", 9, now, now)
		ins(ent, "U3", "戊", "610302", "存续", false, "2019-01-01", 0, now, now)
		full(t, s)
		rd, _ := s.Reader(ctx, province)
		want := []struct {
			code   string
			sel    indicator.Sel
			value  float64
			isNull bool
		}{
			{"SMP_BATCHES", indicator.Sel{Region: "610100"}, 3, false},
			{"SMP_PASS_RATE", indicator.Sel{Region: "610100"}, 200.0 / 3, false},
			{"SMP_PASS_RATE", indicator.Sel{Region: "610100", Period: "2024-03"}, 50, false},
			{"SMP_PASS_RATE", indicator.Sel{Region: "610000", Period: "2024-05"}, 0, true},
			{"SMP_PASS_RATE", indicator.Sel{Region: "610000"}, 75, false},
			// Xi'an has three in-scope industrial enterprises (U1, U2, U4); U1 and U2 were sampled.
			{"SMP_COVERAGE", indicator.Sel{Region: "610100"}, 200.0 / 3, false},
			{"SMP_COVERAGE", indicator.Sel{Region: "610100", Period: "2024-03"}, 100.0 / 3, false},
			// 宝鸡's only sampled producer is not an industrial enterprise.
			{"SMP_COVERAGE", indicator.Sel{Region: "610300"}, 0, true},
			{"ENT_TOTAL", indicator.Sel{Region: "610000"}, 4, false},
			{"ENT_TOTAL", indicator.Sel{Region: "610000", Period: "2023"}, 3, false}, // U2 was founded in 2024
			{"ENT_QM", indicator.Sel{Region: "610100"}, 6, false},
			{"ENT_INDUSTRIAL", indicator.Sel{Region: "610100", Period: "2024-01"}, 2, false},
		}
		for _, w := range want {
			c, err := rd.Value(ctx, w.code, w.sel)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case w.isNull && c.Value != nil:
				t.Errorf("%s %v = %v, want undefined", w.code, w.sel, *c.Value)
			case !w.isNull && (c.Value == nil || !near(*c.Value, w.value)):
				t.Errorf("%s %v = %v, want %v", w.code, w.sel, c.Value, w.value)
			}
		}
		pts, err := rd.Breakdown(ctx, "SMP_PASS_RATE_BY_CAT", indicator.Sel{Region: "610000"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, p := range pts {
			got[p.Label] = fmt.Sprintf("%.1f", *p.Value)
		}
		if got["电子电器"] != "50.0" || got["食品相关产品"] != "100.0" || len(got) != 2 {
			t.Errorf("eight-category pass rates: %v", got)
		}
		byRegion, err := rd.ByRegion(ctx, "SMP_BATCHES", indicator.Sel{Region: "610100"})
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]float64{}
		for _, p := range byRegion {
			counts[p.Key] = *p.Value
		}
		if counts["610113"] != 2 || counts["610102"] != 1 || counts["610104"] != 0 || len(byRegion) != 13 {
			t.Errorf("Xi'an by county: %v (%d points)", counts, len(byRegion))
		}
	})
}

type valueRow struct {
	Code   string  `db:"code"`
	Level  string  `db:"region_level"`
	Region string  `db:"region_code"`
	Kind   string  `db:"period_kind"`
	Period string  `db:"period"`
	Dim    string  `db:"dim"`
	Value  float64 `db:"value"`
}

func dump(t testing.TB, db *store.DB) map[string]float64 {
	t.Helper()
	var rows []valueRow
	if err := db.Select(context.Background(), &rows, `SELECT code, region_level, region_code, period_kind, period, dim, value FROM ind_values`); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, r := range rows {
		out[strings.Join([]string{r.Code, r.Level, r.Region, r.Kind, r.Period, r.Dim}, "|")] = r.Value
	}
	return out
}

func diff(a, b map[string]float64) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || !near(v, w) {
			out = append(out, fmt.Sprintf("%s: incremental %v, full %v", k, v, b[k]))
		}
	}
	for k, w := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s: incremental missing, full %v", k, w))
		}
	}
	sort.Strings(out)
	return out
}

func TestIncrementalEqualsFull(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := setup(t, db)
		opt := gen.Options{Start: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)}
		if err := gen.Fill(ctx, db, gen.Tiny, opt); err != nil {
			t.Fatal(err)
		}
		full(t, s)
		before := dump(t, db)

		// An ingestion: new rows in two counties and two months, and changed rows that move
		// between regions and periods (the event names old and new regions and periods).
		add := gen.Options{Start: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC),
			Offset: 1_000_000, Regions: []string{"610113", "610302"}}
		sizes := gen.Sizes{"sampling": 200, "enterprise": 50, "trace": 30}
		if err := gen.Fill(ctx, db, sizes, add); err != nil {
			t.Fatal(err)
		}
		// Enterprises without an establishment date count only in the whole-time cells.
		for i, st := range []string{"存续", "在业", "注销"} {
			if _, err := db.Exec(ctx, `INSERT INTO ds_enterprise(uscc, name, region_code, status, is_industrial, quality_manager_count, row_hash, first_seen_at, last_updated_at)
				VALUES (?, '无成立日期企业', '610113', ?, TRUE, 2, 'h', ?, ?)`, fmt.Sprintf("NODATE%d", i), st, store.Now(), store.Now()); err != nil {
				t.Fatal(err)
			}
		}
		var moved []struct {
			ID     int64  `db:"id"`
			Region string `db:"region_code"`
			Date   string `db:"sampling_date"`
		}
		db.Select(ctx, &moved, `SELECT id, region_code, sampling_date FROM ds_sampling WHERE id <= 5 ORDER BY id`)
		regions := map[string]bool{"610113": true, "610302": true}
		periods := map[string]bool{"2024-02": true, "2024-03": true}
		for _, m := range moved {
			regions[m.Region] = true
			periods[m.Date[:7]] = true
			if _, err := db.Exec(ctx, `UPDATE ds_sampling SET region_code = '610113', sampling_date = '2024-03-15', result = '不合格' WHERE id = ?`, m.ID); err != nil {
				t.Fatal(err)
			}
		}
		for _, ds := range []string{"sampling", "enterprise", "trace"} {
			sc := indicator.Scope{Counties: regions, Months: periods}
			if ds == "enterprise" || ds == "trace" {
				sc = indicator.Scope{Counties: map[string]bool{"610113": true, "610302": true}, Months: map[string]bool{"2024-02": true, "2024-03": true}}
			}
			rec, err := s.Compute(ctx, indicator.Unit{Kind: "incremental", Dataset: ds, Scope: sc}, 0)
			if err != nil || rec.Status != "succeeded" {
				t.Fatalf("incremental %s: %v %+v", ds, err, rec)
			}
		}
		incremental := dump(t, db)
		if len(diff(incremental, before)) == 0 {
			t.Fatal("the ingestion changed no value")
		}
		full(t, s)
		if d := diff(incremental, dump(t, db)); len(d) > 0 {
			t.Fatalf("incremental refresh differs from full recompute in %d cells:\n%s", len(d), strings.Join(d[:min(len(d), 20)], "\n"))
		}
	})
}

// TestIngestionEventsQueueOneRefresh: each ingestion event is queued once however often it is
// delivered, a run that changed nothing queues nothing, and draining the queue refreshes only
// the dataset's indicators for the event's regions and months.
func TestIngestionEventsQueueOneRefresh(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := setupComputed(t, db)
		ev := func(id int64, payload string) events.Event {
			return events.Event{ID: id, Name: "dataset.ingest.committed", Payload: []byte(payload), Attempt: 1}
		}
		for i := 0; i < 3; i++ { // delivered three times
			if err := s.HandleEvent(ctx, ev(7, `{"dataset":"sampling","run_id":3,"upserted":5,"regions":["610113","610302"],"periods":["2024-03"]}`)); err != nil {
				t.Fatal(err)
			}
		}
		s.HandleEvent(ctx, ev(8, `{"dataset":"sampling","run_id":4,"upserted":0,"regions":[],"periods":[]}`))
		s.HandleEvent(ctx, ev(9, `{"dataset":"no_such_dataset","run_id":5,"upserted":9}`))
		var pending int
		db.Get(ctx, &pending, `SELECT COUNT(*) FROM ind_requests WHERE status = 'pending'`)
		if pending != 1 {
			t.Fatalf("%d pending requests, want 1", pending)
		}
		if n, err := s.Drain(ctx, 0); err != nil || n != 1 {
			t.Fatalf("drain: %d %v", n, err)
		}
		runs, err := s.Runs(ctx, "SMP_BATCHES", 1)
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs: %v %v", runs, err)
		}
		r := runs[0]
		if r.Kind != "incremental" || r.Dataset != "sampling" || r.Regions != `["610113","610302"]` || r.Periods != `["2024-03"]` || r.Status != "succeeded" {
			t.Fatalf("run %+v", r)
		}
		if strings.Contains(r.Codes, "LIC_TOTAL") || !strings.Contains(r.Codes, "SMP_SAMPLED_ENT") {
			t.Fatalf("refreshed %s", r.Codes)
		}
		// An enterprise ingestion also refreshes the sampling indicator that reads enterprises.
		s.HandleEvent(ctx, ev(10, `{"dataset":"enterprise","run_id":6,"upserted":1,"regions":["610113"],"periods":["2024-03"]}`))
		s.Drain(ctx, 0)
		runs, _ = s.Runs(ctx, "", 1)
		if !strings.Contains(runs[0].Codes, "SMP_SAMPLED_ENT") || !strings.Contains(runs[0].Codes, "ENT_TOTAL") || strings.Contains(runs[0].Codes, "SMP_BATCHES") {
			t.Fatalf("enterprise refresh computed %s", runs[0].Codes)
		}
	})
}

// TestSeedDemo fills the topic datasets once and computes every indicator.
func TestSeedDemo(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	ctx := context.Background()
	s := setup(t, db)
	lines, err := indicator.SeedDemo(ctx, s, "small")
	if err != nil || len(lines) != 5 {
		t.Fatalf("seed: %v %v", lines, err)
	}
	var n int
	db.Get(ctx, &n, `SELECT COUNT(*) FROM ds_complaint`)
	if n != gen.Demo["complaint"] {
		t.Fatalf("%d complaints", n)
	}
	rd, _ := s.Reader(ctx, province)
	c, _ := rd.Value(ctx, "CMP_TOTAL", indicator.Sel{Region: "610000"})
	if c.Value == nil || *c.Value != float64(n) {
		t.Fatalf("CMP_TOTAL %v, want %d", c.Value, n)
	}
	if lines, err = indicator.SeedDemo(ctx, s, "small"); err != nil || len(lines) != 1 {
		t.Fatalf("second seed: %v %v", lines, err)
	}
	db.Get(ctx, &n, `SELECT COUNT(*) FROM ds_complaint`)
	if n != gen.Demo["complaint"] {
		t.Fatalf("second seed added rows: %d", n)
	}
}

// TestInterruptedComputationsFail: a computation that a dead process left "running" is marked
// failed when the refresh job next runs; live ones and finished ones are left alone.
func TestInterruptedComputationsFail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := setupComputed(t, db)
		now := store.Now()
		jobRun := func(status string) int64 {
			id, err := store.InsertID(ctx, db, `INSERT INTO job_runs(job, trigger_kind, instance, status, started_at) VALUES (?, 'manual', 'test', ?, ?)`,
				indicator.JobRefresh, status, now)
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		dead, live := jobRun("failed"), jobRun("running")
		run := func(status string, job any, started time.Time) int64 {
			id, err := store.InsertID(ctx, db, `INSERT INTO ind_runs(kind, status, job_run_id, started_at) VALUES ('full', ?, ?, ?)`, status, job, started)
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		want := map[int64]string{
			run("running", dead, now):                     "failed",    // its job run is over
			run("running", live, now):                     "running",   // its job run is alive
			run("running", nil, now.Add(-2*time.Hour)):    "failed",    // seeding, two hours ago
			run("running", nil, now.Add(-10*time.Minute)): "running",   // seeding, still going
			run("succeeded", dead, now.Add(-2*time.Hour)): "succeeded", // finished
		}
		if err := s.RunJob(ctx, &jobs.Run{ID: jobRun("running")}); err != nil {
			t.Fatal(err)
		}
		for id, status := range want {
			var got struct {
				Status string `db:"status"`
				Error  string `db:"error"`
			}
			if err := db.Get(ctx, &got, `SELECT status, error FROM ind_runs WHERE id = ?`, id); err != nil {
				t.Fatal(err)
			}
			if got.Status != status || (status == "failed") != strings.Contains(got.Error, "中断") {
				t.Errorf("run %d: %+v, want %s", id, got, status)
			}
		}
	})
}
