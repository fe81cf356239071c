package dataset

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// indexNames lists the indexes of table (all of them, also the unique key).
func indexNames(t testing.TB, db *store.DB, table string) []string {
	t.Helper()
	var names []string
	var err error
	if db.Dialect() == store.Postgres {
		err = db.Select(ctx, &names, `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ? ORDER BY indexname`, table)
	} else {
		err = db.Select(ctx, &names, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name`, table)
	}
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func deferredRows(t testing.TB, db *store.DB) int {
	return count(t, db, `SELECT COUNT(*) FROM settings WHERE key LIKE ?`, deferredPrefix+"%")
}

// The number of good rows of enterpriseCSV(n): every 101st row has a future date.
func goodRows(n int) int { return n - (n+100)/101 }

// The bulk-load tests do not run in parallel with the others: TestLargeFileStreams measures
// the heap of the whole process.

// TestBulkLoadDefersIndexes: a large first load into an empty table drops the secondary
// indexes and builds them again; the result is the same table, with the same indexes, as a
// load that kept them; a failed load also leaves every index in place.
func TestBulkLoadDefersIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		m.batchRows = 500
		want := indexNames(t, db, "ds_enterprise")
		if len(want) < 8 {
			t.Fatalf("indexes of ds_enterprise: %v", want)
		}
		data := enterpriseCSV(3000)
		var sawDeferred bool
		var phases []string
		defs, err := secondaryIndexes(ctx, db, "ds_enterprise")
		if err != nil {
			t.Fatal(err)
		}
		secondary := len(defs)
		res, err := m.Ingest(ctx, bytes.NewReader(data), Options{Dataset: "enterprise", SourceName: "bulk.csv",
			Progress: func(p Progress) {
				if p.Read < 3000 && len(indexNames(t, db, "ds_enterprise")) < len(want) && deferredRows(t, db) == 1 {
					sawDeferred = true
				}
				if p.Phase == "" {
					return
				}
				// Each rebuild step is announced before its index is built, on the run's row
				// too (committed: the run page reads it meanwhile), after every record is read.
				var row string
				db.Get(ctx, &row, `SELECT phase FROM ds_ingest_runs WHERE id = ?`, p.RunID)
				i := len(phases) + 1
				if p.Read != 3000 || row != p.Phase || len(indexNames(t, db, "ds_enterprise")) != len(want)-(secondary-i+1) {
					t.Errorf("phase %d: %+v, on the run row %q, indexes %v", i, p, row, indexNames(t, db, "ds_enterprise"))
				}
				phases = append(phases, p.Phase)
			}})
		if err != nil || res.Upserted != int64(goodRows(3000)) || res.Quarantined != 3000-int64(goodRows(3000)) {
			t.Fatalf("bulk load: %+v %v", res, err)
		}
		if !sawDeferred {
			t.Error("the secondary indexes were not deferred during the load of an empty table")
		}
		if len(phases) != secondary || phases[secondary-1] != fmt.Sprintf("数据已全部写入，正在重建索引（第 %d 个，共 %d 个）", secondary, secondary) {
			t.Errorf("phases: %q", phases)
		}
		if run, err := m.GetRun(ctx, iam.System(), res.RunID); err != nil || run.Phase != "" || run.Status != StatusCommitted {
			t.Errorf("run after commit: %+v %v", run, err)
		}
		if got := indexNames(t, db, "ds_enterprise"); !slices.Equal(got, want) {
			t.Fatalf("indexes after the load: %v, want %v", got, want)
		}
		if n := deferredRows(t, db); n != 0 {
			t.Fatalf("deferred index records left: %d", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_enterprise`); n != goodRows(3000) {
			t.Fatalf("rows: %d", n)
		}
		// The indexes are usable (and the same data as a keyed load): one region's rows.
		if n := count(t, db, `SELECT COUNT(*) FROM ds_enterprise WHERE region_code = '610102'`); n == 0 {
			t.Fatal("no rows by region")
		}
		// A rerun writes nothing and leaves the indexes alone.
		again, err := m.Ingest(ctx, bytes.NewReader(data), Options{Dataset: "enterprise", SourceName: "bulk.csv"})
		if err != nil || again.Upserted != 0 || again.Unchanged != int64(goodRows(3000)) {
			t.Fatalf("rerun: %+v %v", again, err)
		}
		if got := indexNames(t, db, "ds_enterprise"); !slices.Equal(got, want) {
			t.Fatalf("indexes after the rerun: %v", got)
		}

		// A bulk load that fails halfway (cancelled) keeps its committed batches and builds the
		// indexes again before it reports the failure; a rerun completes it without duplicates.
		if _, err := db.Exec(ctx, `DELETE FROM ds_enterprise`); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		failed, err := m.Ingest(cctx, bytes.NewReader(data), Options{Dataset: "enterprise", SourceName: "bulk.csv",
			Progress: func(p Progress) {
				if deferredRows(t, db) == 1 {
					cancel()
				}
			}})
		if err == nil || failed.Status != StatusFailed {
			t.Fatalf("cancelled load: %+v %v", failed, err)
		}
		if got := indexNames(t, db, "ds_enterprise"); !slices.Equal(got, want) {
			t.Fatalf("indexes after the failed load: %v", got)
		}
		if n := deferredRows(t, db); n != 0 {
			t.Fatalf("deferred index records left after the failed load: %d", n)
		}
		part := count(t, db, `SELECT COUNT(*) FROM ds_enterprise`)
		if part == 0 || part >= goodRows(3000) {
			t.Fatalf("rows after the cancelled load: %d", part)
		}
		rest, err := m.Ingest(ctx, bytes.NewReader(data), Options{Dataset: "enterprise", SourceName: "bulk.csv"})
		if err != nil || rest.Upserted != int64(goodRows(3000)-part) {
			t.Fatalf("completing run: %+v %v (had %d)", rest, err, part)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_enterprise`); n != goodRows(3000) {
			t.Fatalf("rows after completing: %d", n)
		}
	})
}

// TestBulkLoadKilled kills (SIGKILL) a process in the middle of a bulk load, after the
// indexes were dropped, and checks that the next start builds them again (once the killed
// run is no longer alive), that an immediate rerun also does, and that no row is duplicated.
func TestBulkLoadKilled(t *testing.T) {
	if dir := os.Getenv("ZHSJ_TEST_BULK_KILL_DIR"); dir != "" {
		bulkKillChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBulkLoadKilled$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ZHSJ_TEST_BULK_KILL_DIR="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err == nil || !errorsAs(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed: %v\n%s", err, out)
	}
	db, err := store.OpenMigrated(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := deferredRows(t, db); n != 1 {
		t.Fatalf("the kill did not happen while the indexes were deferred (records %d)", n)
	}
	if got := indexNames(t, db, "ds_enterprise"); len(got) != 1 {
		t.Fatalf("indexes after the kill: %v", got)
	}
	part := count(t, db, `SELECT COUNT(*) FROM ds_enterprise`)
	if part == 0 {
		t.Fatal("no batch committed before the kill")
	}

	// A start right after the kill: the run still looks alive, its indexes are left to it.
	m := newModule(t, db)
	if n := deferredRows(t, db); n != 1 {
		t.Fatalf("indexes of a live-looking run rebuilt at start (records %d)", n)
	}
	// Once its heartbeat is stale, the next start builds them. (As if it had died while
	// rebuilding: the phase it showed goes with it.)
	if _, err := db.Exec(ctx, `UPDATE ds_ingest_runs SET heartbeat_at = ?, phase = '数据已全部写入，正在重建索引（第 1 个，共 7 个）' WHERE status = 'running'`, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	want := indexNames(t, storetest.SQLite(t), "ds_enterprise")
	if got := indexNames(t, db, "ds_enterprise"); !slices.Equal(got, want) || deferredRows(t, db) != 0 {
		t.Fatalf("indexes after the next start: %v, want %v", got, want)
	}
	var check string
	if err := db.Get(ctx, &check, `PRAGMA integrity_check`); err != nil || check != "ok" {
		t.Fatalf("integrity: %q %v", check, err)
	}
	// The rerun completes the load: no duplicates, the same table as one clean load.
	res, err := m.Ingest(ctx, bytes.NewReader(enterpriseCSV(3000)), Options{Dataset: "enterprise", SourceName: "bulk.csv"})
	if err != nil || res.Upserted != int64(goodRows(3000)-part) {
		t.Fatalf("rerun after the kill: %+v %v (had %d)", res, err, part)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM ds_enterprise`); n != goodRows(3000) {
		t.Fatalf("rows after the rerun: %d", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM ds_ingest_runs WHERE status = 'interrupted' AND phase = ''`); n != 1 {
		t.Fatalf("killed run not marked interrupted: %d", n)
	}
}

// TestBulkLoadKilledRerun: an immediate rerun after a kill (the killed run still looks
// alive) builds the missing indexes by its end.
func TestBulkLoadKilledRerun(t *testing.T) {
	if dir := os.Getenv("ZHSJ_TEST_BULK_KILL_DIR"); dir != "" {
		bulkKillChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBulkLoadKilledRerun$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ZHSJ_TEST_BULK_KILL_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("child was not killed\n%s", out)
	}
	db, err := store.OpenMigrated(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := newModule(t, db)
	m.batchRows = 500
	if n := deferredRows(t, db); n != 1 {
		t.Fatalf("deferred records: %d", n)
	}
	res, err := m.Ingest(ctx, bytes.NewReader(enterpriseCSV(3000)), Options{Dataset: "enterprise", SourceName: "bulk.csv"})
	if err != nil || res.Status != StatusCommitted {
		t.Fatalf("rerun: %+v %v", res, err)
	}
	want := indexNames(t, storetest.SQLite(t), "ds_enterprise")
	if got := indexNames(t, db, "ds_enterprise"); !slices.Equal(got, want) || deferredRows(t, db) != 0 {
		t.Fatalf("indexes after the rerun: %v, want %v", got, want)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM ds_enterprise`); n != goodRows(3000) {
		t.Fatalf("rows after the rerun: %d", n)
	}
}

// bulkKillChild loads 3,000 rows in batches of 500 into a database in dir and kills its own
// process with SIGKILL after the second batch committed.
func bulkKillChild(t *testing.T, dir string) {
	db, err := store.OpenMigrated(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m := newModule(t, db)
	m.batchRows = 500
	batches := 0
	m.Ingest(ctx, bytes.NewReader(enterpriseCSV(3000)), Options{Dataset: "enterprise", SourceName: "bulk.csv",
		Progress: func(p Progress) {
			if batches++; batches == 2 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Minute)
			}
		}})
	t.Fatal("not killed")
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
