package dataset

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestLoadRefreshesStatistics: a run that writes many rows refreshes the table's planner
// statistics, and on SQLite the readers then pick the date index for a one-year count in a
// city (without statistics SQLite takes the region index, which matches a fifth of the rows).
func TestLoadRefreshesStatistics(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		stats := `SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'ds_enterprise'`
		if db.Dialect() == store.Postgres {
			stats = `SELECT COUNT(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'ds_enterprise'`
		}
		if db.Dialect() == store.SQLite {
			db.Exec(ctx, `ANALYZE sqlite_schema`) // sqlite_stat1 exists, empty
		}
		ingest(t, m, "small.csv", "enterprise", string(enterpriseCSV(50)))
		if n := count(t, db, stats); n != 0 {
			t.Fatalf("statistics after a small run: %d rows", n)
		}
		if n, ok := db.AnalyzedRows(ctx, "ds_enterprise"); ok {
			t.Fatalf("rows counted by statistics that do not exist: %d", n)
		}
		res, err := m.Ingest(ctx, bytes.NewReader(enterpriseCSV(analyzeMinRows+500)), Options{Dataset: "enterprise", SourceName: "big.csv"})
		if err != nil || res.Upserted < analyzeMinRows {
			t.Fatalf("big run: %+v %v", res, err)
		}
		if n := count(t, db, stats); n == 0 {
			t.Fatal("no statistics after a large run")
		}
		if n, ok := db.AnalyzedRows(ctx, "ds_enterprise"); !ok || n < int64(res.Upserted) {
			t.Fatalf("rows counted by the statistics: %d %v, upserted %d", n, ok, res.Upserted)
		}
		if db.Dialect() != store.SQLite {
			// Vacuumed too: the pages are marked all-visible, so counts read indexes alone.
			if n := count(t, db, `SELECT relallvisible FROM pg_class WHERE oid = to_regclass('ds_enterprise')`); n == 0 {
				t.Error("the loaded table was not vacuumed: no page is all-visible")
			}
			return
		}
		// Every row was read: all rows share one status, and the statistics say so (a sampling
		// ANALYZE would claim about a thousand rows per status and mislead the planner).
		var stat string
		db.Get(ctx, &stat, `SELECT stat FROM sqlite_stat1 WHERE idx = 'ds_enterprise_status'`)
		if f := strings.Fields(stat); len(f) < 2 || f[0] != f[1] {
			t.Errorf("statistics of the status index: %q", stat)
		}
		plan := queryPlan(t, db, `SELECT COUNT(*) FROM ds_enterprise t
			WHERE t.region_code IN (SELECT code FROM regions WHERE path LIKE ?) AND t.establish_date >= ? AND t.establish_date <= ?`,
			"/610000/610100/%", "2020-01-01", "2020-12-31")
		if !strings.Contains(plan, "ds_enterprise_period") {
			t.Errorf("one year in one city is not read through the date index: %s", plan)
		}
	})
}

// TestRegionStatsReadTheIndexAlone: a dataset's record count and freshness within a city
// (dataset pages, theme-library status) are read from the region index alone, not from every
// row of the city.
func TestRegionStatsReadTheIndexAlone(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	for _, d := range All() {
		if d.Name == "apicall" { // province-wide log with its own aggregate index (0083)
			continue
		}
		plan := queryPlan(t, db, `SELECT COUNT(*), MAX(t.last_updated_at) FROM `+d.Table+` t
			WHERE t.region_code IN (SELECT code FROM regions WHERE path LIKE ?)`, "/610000/610100/%")
		if !strings.HasPrefix(plan, "SEARCH t USING COVERING INDEX "+d.Table+"_region ") {
			t.Errorf("%s: %s", d.Name, plan)
		}
	}
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q, its steps joined by "; ".
func queryPlan(t *testing.T, db *store.DB, q string, args ...any) string {
	t.Helper()
	var plan []struct {
		ID, Parent, NotUsed int
		Detail              string
	}
	if err := db.Select(ctx, &plan, "EXPLAIN QUERY PLAN "+q, args...); err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, p := range plan {
		steps = append(steps, p.Detail)
	}
	return strings.Join(steps, "; ")
}

// TestLoadAnalyzesOnlyATenth: a run refreshes the statistics only when it writes at least a
// tenth of the rows they counted, so that a daily load into a register of millions does not
// read the whole table each time. The statistics are made to claim first 1,000,000 rows
// (a run of 10,500 new rows leaves them), then 50,000 (the same run refreshes them).
func TestLoadAnalyzesOnlyATenth(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		run := func(from int) {
			var b bytes.Buffer
			writeEnterpriseCSVFrom(csv.NewWriter(&b), from, analyzeMinRows+500)
			res, err := m.Ingest(ctx, &b, Options{Dataset: "enterprise", SourceName: "day.csv"})
			if err != nil || res.Upserted < analyzeMinRows {
				t.Fatalf("run from %d: %+v %v", from, res, err)
			}
		}
		claim := func(rows int64) {
			q := `UPDATE pg_class SET reltuples = ? WHERE oid = 'ds_enterprise'::regclass`
			if db.Dialect() == store.SQLite {
				q = `UPDATE sqlite_stat1 SET stat = ? || substr(stat, instr(stat, ' ')) WHERE tbl = 'ds_enterprise'`
			}
			if _, err := db.Exec(ctx, q, rows); err != nil {
				t.Fatal(err)
			}
			if n, ok := db.AnalyzedRows(ctx, "ds_enterprise"); !ok || n != rows {
				t.Fatalf("statistics claim %d rows (%v), want %d", n, ok, rows)
			}
		}
		run(0) // the first load takes statistics
		claim(1_000_000)
		run(100_000)
		if n, _ := db.AnalyzedRows(ctx, "ds_enterprise"); n != 1_000_000 {
			t.Fatalf("a run of a hundredth of the table refreshed the statistics: %d rows", n)
		}
		claim(50_000)
		run(200_000)
		var rows int64
		db.Get(ctx, &rows, `SELECT COUNT(*) FROM ds_enterprise`)
		if n, _ := db.AnalyzedRows(ctx, "ds_enterprise"); n != rows {
			t.Fatalf("after a run of a fifth of the table the statistics count %d rows, the table has %d", n, rows)
		}
	})
}
