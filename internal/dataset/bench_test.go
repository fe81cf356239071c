package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

var benchHeader = []string{"统一社会信用代码", "企业名称", "主体类型", "法定代表人", "法定代表人身份证号", "注册资本", "成立日期", "住所", "行政区划代码", "登记状态", "登记机关"}

// writeEnterpriseCSV writes n valid enterprise rows (one in three with an ID number, every
// 101st with a future establishment date, which the pipeline quarantines).
func writeEnterpriseCSV(w *csv.Writer, n int) { writeEnterpriseCSVFrom(w, 0, n) }

// writeEnterpriseCSVFrom writes the rows from to from+n-1 of that sequence (other keys).
func writeEnterpriseCSVFrom(w *csv.Writer, from, n int) {
	w.Write(benchHeader)
	regions := []string{"610102", "610113", "610302", "610402", "610502", "610602", "610702", "610802", "610902", "611002"}
	for i := from; i < from+n; i++ {
		r := regions[i%len(regions)]
		id := ""
		if i%3 == 0 {
			id = validate.MakeCitizenID(r, time.Date(1960+i%40, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC), i, i%2 == 0)
		}
		date := fmt.Sprintf("%d-%02d-%02d", 1995+i%29, 1+i%12, 1+i%28)
		if i%101 == 0 {
			date = "2099-01-01"
		}
		w.Write([]string{validate.MakeUSCC('9', '1', r, fmt.Sprintf("%08d", i)), fmt.Sprintf("测试企业%d有限公司", i), "1130", "张三", id,
			strconv.Itoa(i % 5000), date, "陕西省某地" + strconv.Itoa(i), r, "存续", "市场监督管理局"})
	}
	w.Flush()
}

func enterpriseCSV(n int) []byte {
	var b bytes.Buffer
	writeEnterpriseCSV(csv.NewWriter(&b), n)
	return b.Bytes()
}

func BenchmarkIngestEnterpriseSQLite(b *testing.B) {
	data := enterpriseCSV(20000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := storetest.SQLite(b)
		m := newModule(b, db)
		b.StartTimer()
		res, err := m.Ingest(ctx, bytes.NewReader(data), Options{Dataset: "enterprise", SourceName: "bench.csv"})
		if err != nil || res.Upserted == 0 {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.Read)/(float64(res.DurationMS)/1000), "rows/s")
	}
}

// BenchmarkIngestVsImport is the ingestion benchmark, side by side in one run:
// a generated market-entity CSV (ZHSJ_BENCH_ROWS rows, default 1,000,000) loaded
//
//   - by sqlite3's .import into a WAL database, into a table with the same natural primary
//     key (uscc) and into a bare table without a key;
//
//   - by sqlite3 doing ingestion's work on the table natively: .import into the keyed table,
//     then one CREATE INDEX for each of ds_enterprise's seven secondary indexes;
//
//   - by zhsj ingest (parsing, validation, normalisation, sealing of ID numbers, upsert by key
//     into ds_enterprise with its dashboard indexes, quarantine, run record) into SQLite;
//
//   - on PostgreSQL (when ZHSJ_TEST_POSTGRES_URL is set): COPY into a table with the same key
//     (alone, and followed by the seven indexes), and zhsj ingest.
//
//     ZHSJ_BENCH_ROWS=1000000 go test -run '^$' -bench IngestVsImport -benchtime 1x -timeout 3h ./internal/dataset/
func BenchmarkIngestVsImport(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("ZHSJ_BENCH_ROWS"); s != "" {
		rows, _ = strconv.Atoi(s)
	}
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		b.Skip("sqlite3 command not installed")
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "enterprise.csv")
	f, _ := os.Create(file)
	bw := bufio.NewWriterSize(f, 1<<20)
	writeEnterpriseCSV(csv.NewWriter(bw), rows)
	bw.Flush()
	f.Close()
	st, _ := os.Stat(file)
	b.Logf("%d rows, %.1f MB", rows, float64(st.Size())/1e6)
	cols := "uscc TEXT%s, name TEXT, ent_type TEXT, legal_rep TEXT, legal_rep_id TEXT, reg_capital TEXT, establish_date TEXT, address TEXT, region_code TEXT, status TEXT, reg_authority TEXT"
	imp := func(name, key string) float64 {
		db := filepath.Join(dir, name+".db")
		start := time.Now()
		out, err := exec.Command(sqlite3, db, "PRAGMA journal_mode=WAL;", fmt.Sprintf("CREATE TABLE ent ("+cols+");", key), ".import --csv --skip 1 "+file+" ent").CombinedOutput()
		if err != nil {
			b.Fatalf("sqlite3 .import: %v %s", err, out)
		}
		return float64(rows) / time.Since(start).Seconds()
	}
	// The same work done natively: .import into the keyed table, then its secondary indexes
	// built as ds_enterprise's are after a first load, one CREATE INDEX each, on the CSV's
	// columns nearest to theirs (region+stamp, date+region, status+region, type+region,
	// industrial flag+region, stamp, ID number).
	indexedOn := []string{"region_code, reg_authority", "establish_date, region_code", "status, region_code",
		"ent_type, region_code", "legal_rep, region_code", "reg_capital", "legal_rep_id"}
	indexed := func(name string) float64 {
		db := filepath.Join(dir, name+".db")
		start := time.Now()
		args := []string{db, "PRAGMA journal_mode=WAL;", fmt.Sprintf("CREATE TABLE ent ("+cols+");", " PRIMARY KEY"), ".import --csv --skip 1 " + file + " ent"}
		for i, on := range indexedOn {
			args = append(args, fmt.Sprintf("CREATE INDEX ent_%d ON ent(%s);", i, on))
		}
		if out, err := exec.Command(sqlite3, args...).CombinedOutput(); err != nil {
			b.Fatalf("sqlite3 .import and indexes: %v %s", err, out)
		}
		return float64(rows) / time.Since(start).Seconds()
	}
	// The .import work (the same file into the same keyed table, no validation) done through
	// database/sql and modernc.org/sqlite, as zhsj writes: a prepared 500-row INSERT.
	goImp := func(name string) float64 {
		db, err := store.OpenMigrated(context.Background(), store.Options{DataDir: filepath.Join(dir, name)})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(ctx, fmt.Sprintf("CREATE TABLE ent ("+cols+")", " PRIMARY KEY")); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		in, _ := os.Open(file)
		defer in.Close()
		cr := csv.NewReader(bufio.NewReaderSize(in, 1<<20))
		cr.ReuseRecord = true
		cr.Read() // header
		const per = 500
		one := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		full := "INSERT INTO ent VALUES " + one + strings.Repeat(", "+one, per-1)
		prepared, err := db.Writer().PrepareContext(ctx, full)
		if err != nil {
			b.Fatal(err)
		}
		defer prepared.Close()
		err = db.InTx(ctx, func(tx *store.Tx) error {
			args := make([]any, 0, per*11)
			stmt := tx.Stmt(ctx, prepared)
			flush := func(q string) error {
				var err error
				if q == full {
					_, err = stmt.ExecContext(ctx, args...)
				} else {
					_, err = tx.Exec(ctx, q, args...)
				}
				args = args[:0]
				return err
			}
			for {
				rec, err := cr.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				for _, v := range rec {
					args = append(args, strings.Clone(v))
				}
				if len(args) == per*11 {
					if err := flush(full); err != nil {
						return err
					}
				}
			}
			if n := len(args) / 11; n > 0 {
				return flush("INSERT INTO ent VALUES " + one + strings.Repeat(", "+one, n-1))
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return float64(rows) / time.Since(start).Seconds()
	}
	for i := 0; i < b.N; i++ {
		keyed := imp(fmt.Sprintf("keyed%d", i), " PRIMARY KEY")
		bare := imp(fmt.Sprintf("bare%d", i), "")
		same := indexed(fmt.Sprintf("indexed%d", i))
		b.ReportMetric(goImp(fmt.Sprintf("modernc%d", i)), "modernc_keyed_rows/s")
		b.ReportMetric(rawImport(b, filepath.Join(dir, fmt.Sprintf("raw%d.db", i)), file, cols), "engine_keyed_rows/s")
		db, err := store.OpenMigrated(context.Background(), store.Options{DataDir: filepath.Join(dir, fmt.Sprintf("zhsj%d", i))})
		if err != nil {
			b.Fatal(err)
		}
		m := newModule(b, db)
		in, _ := os.Open(file)
		start := time.Now()
		res, err := m.Ingest(ctx, in, Options{Dataset: "enterprise", SourceName: "enterprise.csv", BytesTotal: st.Size()})
		ours := float64(rows) / time.Since(start).Seconds()
		in.Close()
		db.Close()
		if err != nil || res.Read != int64(rows) {
			b.Fatalf("zhsj ingest: %+v %v", res, err)
		}
		b.ReportMetric(keyed, "import_keyed_rows/s")
		b.ReportMetric(bare, "import_bare_rows/s")
		b.ReportMetric(ours, "zhsj_sqlite_rows/s")
		b.ReportMetric(ours/keyed, "ratio_vs_keyed")
		b.ReportMetric(ours/bare, "ratio_vs_bare")
		b.ReportMetric(same, "import_indexed_rows/s")
		b.ReportMetric(same/keyed, "native_indexed_vs_keyed")
		b.ReportMetric(ours/same, "ratio_vs_indexed")
		if os.Getenv("ZHSJ_TEST_POSTGRES_URL") == "" {
			continue
		}
		url := storetest.PostgresURL(b)
		start = time.Now()
		out, err := exec.Command("psql", url, "-q", "-c", fmt.Sprintf("CREATE TABLE ent ("+cols+")", " PRIMARY KEY"),
			"-c", `\copy ent FROM '`+file+`' WITH (FORMAT csv, HEADER true)`).CombinedOutput()
		if err != nil {
			b.Fatalf("COPY: %v %s", err, out)
		}
		copyRate := float64(rows) / time.Since(start).Seconds()
		if out, err := exec.Command("psql", url, "-q", "-c", "DROP TABLE ent").CombinedOutput(); err != nil {
			b.Fatalf("psql: %v %s", err, out)
		}
		start = time.Now()
		args := []string{url, "-q", "-c", fmt.Sprintf("CREATE TABLE ent ("+cols+")", " PRIMARY KEY"),
			"-c", `\copy ent FROM '` + file + `' WITH (FORMAT csv, HEADER true)`}
		for i, on := range indexedOn {
			args = append(args, "-c", fmt.Sprintf("CREATE INDEX ent_%d ON ent(%s)", i, on))
		}
		if out, err := exec.Command("psql", args...).CombinedOutput(); err != nil {
			b.Fatalf("COPY and indexes: %v %s", err, out)
		}
		copyIndexed := float64(rows) / time.Since(start).Seconds()
		pdb, err := store.OpenMigrated(context.Background(), store.Options{URL: storetest.PostgresURL(b)})
		if err != nil {
			b.Fatal(err)
		}
		pm := newModule(b, pdb)
		in, _ = os.Open(file)
		start = time.Now()
		res, err = pm.Ingest(ctx, in, Options{Dataset: "enterprise", SourceName: "enterprise.csv", BytesTotal: st.Size()})
		pg := float64(rows) / time.Since(start).Seconds()
		in.Close()
		pdb.Close()
		if err != nil || res.Read != int64(rows) {
			b.Fatalf("zhsj ingest on PostgreSQL: %+v %v", res, err)
		}
		b.ReportMetric(copyRate, "pg_copy_rows/s")
		b.ReportMetric(pg, "zhsj_pg_rows/s")
		b.ReportMetric(pg/copyRate, "ratio_vs_copy")
		b.ReportMetric(copyIndexed, "pg_copy_indexed_rows/s")
		b.ReportMetric(pg/copyIndexed, "ratio_vs_copy_indexed")
	}
}
