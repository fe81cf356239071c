package quality_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app"
	"zhsj/internal/dataset"
	"zhsj/internal/dataset/validate"
	"zhsj/internal/quality"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// BenchmarkEnterpriseRowRules compares the engine running every built-in row-level rule of the
// market-entity dataset over 1,000,000 rows (one scan, failed rows kept up to the cap, results
// written) with one hand-written SQL query computing the same failure counts. Rows are
// generated here with a known fraction of defects. ZHSJ_BENCH_ROWS overrides the row count.
//
//	ZHSJ_TEST_POSTGRES_URL=… go test -run '^$' -bench EnterpriseRowRules -benchtime 3x ./internal/quality/
func BenchmarkEnterpriseRowRules(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("ZHSJ_BENCH_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			var db *store.DB
			if dialect == "sqlite" {
				db = storetest.SQLite(b)
			} else {
				db = storetest.Postgres(b)
			}
			ctx := context.Background()
			if err := dataset.SeedCodeTables(ctx, db); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			generateEnterprises(b, db, n)
			b.Logf("%s: generated %d rows in %v", dialect, n, time.Since(start).Round(time.Second))
			m, err := quality.New(db, app.QualityCatalog(), quality.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Init(ctx, quality.BuiltinRules()); err != nil {
				b.Fatal(err)
			}
			var ids []int64
			rules, _ := m.ListRules(ctx, quality.RuleFilter{Dataset: "enterprise"})
			for _, r := range rules {
				if t, _ := quality.TemplateByCode(r.Template); t.Level == "row" {
					ids = append(ids, r.ID)
				}
			}
			if len(ids) < 10 {
				b.Fatalf("only %d row-level rules", len(ids))
			}
			q, codes := handwritten(db.Dialect())
			// Interleaved: each iteration runs the engine, then the hand-written query, so both see
			// the same load on a shared machine.
			var engine, hand time.Duration
			rounds := 3
			if s := os.Getenv("ZHSJ_BENCH_ROUNDS"); s != "" {
				rounds, _ = strconv.Atoi(s)
			}
			b.ResetTimer()
			for i := 0; i < rounds; i++ {
				t0 := time.Now()
				_, res, err := m.Execute(ctx, quality.RunOptions{RuleIDs: ids, Trigger: quality.TriggerManual})
				if err != nil {
					b.Fatal(err)
				}
				engine += time.Since(t0)
				counts := map[string]int64{}
				for _, r := range res {
					if r.Status == quality.StatusError {
						b.Fatalf("%s: %s", r.RuleCode, r.Message)
					}
					counts[r.RuleCode] = r.Failed
				}
				t1 := time.Now()
				vals := make([]int64, len(codes))
				dest := make([]any, len(codes))
				for j := range vals {
					dest[j] = &vals[j]
				}
				if err := db.QueryRow(ctx, q).Scan(dest...); err != nil {
					b.Fatal(err)
				}
				hand += time.Since(t1)
				for j, c := range codes {
					if counts[c] != vals[j] {
						b.Fatalf("%s: engine counted %d failures, the hand-written query %d", c, counts[c], vals[j])
					}
				}
				if len(codes) != len(counts) {
					b.Fatalf("hand-written query covers %d rules, the engine ran %d", len(codes), len(counts))
				}
			}
			b.StopTimer()
			ratio := engine.Seconds() / hand.Seconds()
			b.ReportMetric(float64(len(ids)), "rules")
			b.ReportMetric(engine.Seconds()/float64(rounds), "engine-s/op")
			b.ReportMetric(hand.Seconds()/float64(rounds), "handwritten-s/op")
			b.ReportMetric(ratio, "ratio")
			b.Logf("%s: %d row-level rules over %d rows, %d interleaved rounds — engine %v, hand-written query %v per run, ratio %.2f (goal ≤ 2)",
				dialect, len(ids), n, rounds, (engine / time.Duration(rounds)).Round(time.Millisecond), (hand / time.Duration(rounds)).Round(time.Millisecond), ratio)
		})
	}
}

// handwritten is the query a DBA would write for the same failure counts (checked against the
// engine's counts above, so it cannot drift from the rules).
func handwritten(d store.Dialect) (string, []string) {
	type c struct{ code, cond string }
	regexNot := func(col, re string) string {
		if d == store.Postgres {
			return "NOT (" + col + " ~ '" + re + "')"
		}
		return "NOT (" + col + " REGEXP '" + re + "')"
	}
	capital := "CAST(reg_capital AS REAL)"
	if d == store.Postgres {
		capital = "CASE WHEN reg_capital ~ '^ *-{0,1}[0-9]+([.][0-9]+){0,1} *$' THEN CAST(TRIM(reg_capital) AS NUMERIC) END"
	}
	region := "zhsj_region_valid(region_code)"
	if d == store.Postgres {
		region = "(CASE WHEN region_code ~ '^[0-9]{6}$' THEN region_code IN (SELECT code FROM quality_region_codes) OR substr(region_code, 1, 2) IN (" +
			"'11','12','13','14','15','21','22','23','31','32','33','34','35','36','37','41','42','43','44','45','46','50','51','52','53','54','62','63','64','65','71','81','82'" +
			") ELSE zhsj_region_valid(region_code) END)"
	}
	present := func(col string) string { return col + " IS NOT NULL AND TRIM(" + col + ") <> ''" }
	cs := []c{
		{"ENT_USCC_VALID", present("uscc") + " AND NOT zhsj_uscc_valid(uscc)"},
		{"ENT_NAME_NOT_EMPTY", "name IS NULL OR TRIM(name) = ''"},
		{"ENT_NAME_LENGTH", "name IS NOT NULL AND (length(name) < 2 OR length(name) > 200)"},
		{"ENT_TYPE_IN_CODE", present("ent_type") + " AND ent_type NOT IN (SELECT code FROM ds_code_items WHERE table_name = 'ent_type' AND enabled)"},
		{"ENT_STATUS_VALID", present("status") + " AND status NOT IN ('存续', '在业', '吊销', '注销', '迁出', '撤销')"},
		{"ENT_REGION_VALID", present("region_code") + " AND NOT " + region},
		{"ENT_ESTABLISH_NOT_FUTURE", present("establish_date") + " AND establish_date > '" + time.Now().In(validate.CST).Format(time.DateOnly) + "'"},
		{"ENT_ESTABLISH_NOT_EMPTY", "establish_date IS NULL OR TRIM(establish_date) = ''"},
		{"ENT_CAPITAL_RANGE", present("reg_capital") + " AND (" + regexNot("reg_capital", "^ *-{0,1}[0-9]+([.][0-9]+){0,1} *$") + " OR " + capital + " < 0 OR " + capital + " > 100000000)"},
		{"ENT_LEGAL_REP_ID_VALID", present("legal_rep_id_no_mask") + " AND legal_rep_id_no_issue IS NOT NULL AND legal_rep_id_no_issue <> ''"},
		{"ENT_ADDRESS_NOT_EMPTY", "address IS NULL OR TRIM(address) = ''"},
		{"ENT_INDUSTRY_FORMAT", present("industry_code") + " AND " + regexNot("industry_code", "^[0-9]{2,4}$")},
		{"ENT_INDUSTRY_IN_CODE", present("industry_code") + " AND SUBSTR(industry_code, 1, 2) NOT IN (SELECT code FROM ds_code_items WHERE table_name = 'industry' AND enabled)"},
		{"ENT_DATE_ORDER", "NULLIF(establish_date, '') > NULLIF(approval_date, '')"},
		{"ENT_CANCEL_DATE", "status IN ('注销', '吊销') AND (cancel_date IS NULL OR cancel_date = '')"},
	}
	var sums []string
	var codes []string
	for _, x := range cs {
		sums = append(sums, "SUM(CASE WHEN "+x.cond+" THEN 1 ELSE 0 END)")
		codes = append(codes, x.code)
	}
	return "SELECT " + strings.Join(sums, ",\n ") + " FROM ds_enterprise", codes
}

// generateEnterprises writes n market entities with about 1 % defects per rule.
func generateEnterprises(b testing.TB, db *store.DB, n int) {
	ctx := context.Background()
	rng := rand.New(rand.NewSource(42))
	regions := []string{"610102", "610103", "610104", "610111", "610112", "610113", "610116", "610302", "610303", "610402",
		"610502", "610602", "610702", "610802", "610902", "611002", "610403", "610581"}
	types := []string{"1100", "1110", "1120", "1130", "1150", "1200", "1210", "4100", "9100", "9200"}
	statuses := []string{"存续", "存续", "存续", "在业", "吊销", "注销", "迁出"}
	now := store.Now()
	cols := "uscc, name, ent_type, industry_code, legal_rep, legal_rep_id_no_mask, legal_rep_id_no_issue, reg_capital, establish_date, approval_date, cancel_date, address, region_code, status, row_hash, first_seen_at, last_updated_at"
	const per = 17
	batch := 1000
	if db.Dialect() == store.SQLite {
		batch = 1900 // 32766 parameters at most
	}
	defect := func(p int) bool { return rng.Intn(1000) < p }
	for start := 0; start < n; start += 50_000 {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			end := min(start+50_000, n)
			for bs := start; bs < end; bs += batch {
				be := min(bs+batch, end)
				var sb strings.Builder
				sb.WriteString("INSERT INTO ds_enterprise(" + cols + ") VALUES ")
				args := make([]any, 0, (be-bs)*per)
				for i := bs; i < be; i++ {
					if i > bs {
						sb.WriteByte(',')
					}
					sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
					region := regions[rng.Intn(len(regions))]
					u := validate.MakeUSCC('9', '1', region, fmt.Sprintf("MA%06X", i))
					if defect(10) {
						u = u[:17] + string("0123456789ABCDEFGHJKLMNPQRTUWXY"[(strings.IndexByte("0123456789ABCDEFGHJKLMNPQRTUWXY", u[17])+1)%31])
					}
					var name any = fmt.Sprintf("陕西%s测试有限公司%d", region, i)
					switch {
					case defect(10):
						name = ""
					case defect(5):
						name = "甲"
					}
					et := types[rng.Intn(len(types))]
					if defect(10) {
						et = "9999"
					}
					ind := fmt.Sprintf("%04d", 100+rng.Intn(9000))
					if defect(10) {
						ind = "ABC"
					}
					var mask, issue any = "6101**********123X", nil
					if defect(5) {
						issue = "id_check"
					}
					capital := strconv.Itoa(rng.Intn(100000))
					switch {
					case defect(10):
						capital = "-1"
					case defect(5):
						capital = "abc"
					}
					est := time.Date(1990+rng.Intn(35), time.Month(1+rng.Intn(12)), 1+rng.Intn(28), 0, 0, 0, 0, time.UTC)
					if defect(5) {
						est = time.Now().AddDate(1, 0, 0)
					}
					appr := est.AddDate(0, 0, rng.Intn(300))
					if defect(5) {
						appr = est.AddDate(0, 0, -10)
					}
					st := statuses[rng.Intn(len(statuses))]
					if defect(5) {
						st = "未知"
					}
					var cancel any
					if (st == "注销" || st == "吊销") && !defect(50) {
						cancel = appr.AddDate(1, 0, 0).Format(time.DateOnly)
					}
					var addr any = "陕西省某市某区某路" + strconv.Itoa(i) + "号"
					if defect(20) {
						addr = nil
					}
					if defect(2) {
						region = "619999"
					}
					args = append(args, u, name, et, ind, "张三", mask, issue, capital, est.Format(time.DateOnly), appr.Format(time.DateOnly),
						cancel, addr, region, st, "h", now, now)
				}
				if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if db.Dialect() == store.Postgres {
		db.Exec(ctx, "ANALYZE ds_enterprise")
	}
}
