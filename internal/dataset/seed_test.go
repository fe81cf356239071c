package dataset

import (
	"fmt"
	"strings"
	"testing"

	"zhsj/internal/demo"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

func TestSeedDemo(t *testing.T) {
	t.Parallel()
	const tiny = demo.Scale("tiny")
	SeedSizes[tiny] = map[string]int{"enterprise": 1500, "licence": 200, "sampling": 600, "supervision": 300, "trace": 150, "ebike": 300, "resource": 30, "apicall": 1000}
	t.Cleanup(func() { delete(SeedSizes, tiny) })
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		lines, err := m.SeedDemo(ctx, tiny, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(strings.Join(lines, "\n"))
		for _, d := range All() {
			if n := count(t, db, "SELECT COUNT(*) FROM "+d.Table); n != SeedSizes[tiny][d.Name] {
				t.Errorf("%s: %d rows, want %d", d.Name, n, SeedSizes[tiny][d.Name])
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_quarantine`); n != 0 {
			var errs []string
			db.Select(ctx, &errs, `SELECT errors FROM ds_quarantine LIMIT 5`)
			t.Fatalf("generated records quarantined: %d %v", n, errs)
		}
		// Every recorded defect is really in its record.
		notInEnt := "NOT EXISTS (SELECT 1 FROM ds_enterprise e WHERE e.uscc = t.%s)"
		checks := map[string]string{
			"enterprise/legal_rep_id_no/" + DefectIDInvalid: "t.legal_rep_id_no_issue IS NOT NULL",
			"enterprise/approval_date/" + DefectDateOrder:   "t.approval_date < t.establish_date",
			"enterprise/cancel_date/" + DefectMissing:       "t.cancel_date IS NULL AND t.status IN ('注销', '吊销')",
			"enterprise/ent_type/" + DefectNotInCodeTable:   "t.ent_type NOT IN (SELECT code FROM ds_code_items WHERE table_name = 'ent_type')",
			"enterprise/industry_code/" + DefectIndustry:    "SUBSTR(t.industry_code, 1, 2) NOT IN (SELECT code FROM ds_code_items WHERE table_name = 'industry')",
			"enterprise/address/" + DefectMissing:           "t.address IS NULL",
			"licence/holder_uscc/" + DefectReference:        fmt.Sprintf(notInEnt, "holder_uscc"),
			"licence/holder_uscc/" + DefectUSCCInvalid:      fmt.Sprintf(notInEnt, "holder_uscc"),
			"licence/expiry_date/" + DefectDateOrder:        "t.expiry_date < t.issue_date",
			"licence/status/" + DefectStatus:                "t.status = '有效' AND t.expiry_date < '2026-06-30'",
			"licence/region_code/" + DefectRegionMismatch:   "t.region_code <> (SELECT e.region_code FROM ds_enterprise e WHERE e.uscc = t.holder_uscc)",
			"sampling/producer_uscc/" + DefectUSCCInvalid:   fmt.Sprintf(notInEnt, "producer_uscc"),
			"sampling/category_code/" + DefectMissing:       "t.category_code IS NULL",
			"sampling/failed_items/" + DefectMissing:        "t.failed_items IS NULL AND t.result = '不合格'",
			"sampling/rectify_date/" + DefectDateOrder:      "t.rectify_date < t.sampling_date",
			"supervision/findings/" + DefectMissing:         "t.findings IS NULL AND t.result = '发现问题'",
			"supervision/reinspect_date/" + DefectDateOrder: "t.reinspect_date < t.inspect_date",
			"trace/codes_issued/" + DefectStatus:            "t.on_platform = FALSE AND t.codes_issued > 0",
			"ebike/ccc_cert_no/" + DefectMissing:            "t.ccc_cert_no IS NULL",
			"ebike/owner_id_no/" + DefectIDInvalid:          "t.owner_id_no_issue IS NOT NULL",
			"ebike/producer_uscc/" + DefectUSCCInvalid:      fmt.Sprintf(notInEnt, "producer_uscc"),
			"resource/record_count/" + DefectMissing:        "t.record_count IS NULL",
			"apicall/latency_ms/" + DefectMissing:           "t.latency_ms IS NULL",
		}
		made := "t.extra ->> 'manufacture_date'"
		if db.Dialect() == store.Postgres {
			made = "CAST(t.extra AS jsonb) ->> 'manufacture_date'"
		}
		checks["ebike/manufacture_date/"+DefectDateOrder] = made + " > t.registration_date"
		kinds := map[string]int{}
		for _, d := range All() {
			defects, err := Defects(ctx, db, d.Name)
			if err != nil {
				t.Fatal(err)
			}
			for _, df := range defects {
				pred, ok := checks[d.Name+"/"+df.Field+"/"+df.Kind]
				if !ok {
					t.Fatalf("no check for defect %+v", df)
				}
				kinds[d.Name+"/"+df.Field+"/"+df.Kind]++
				conds := make([]string, len(d.Key))
				args := []any{}
				for i, part := range strings.Split(df.Key, " / ") {
					conds[i] = "t." + d.Key[i] + " = ?"
					args = append(args, part)
				}
				if n := count(t, db, "SELECT COUNT(*) FROM "+d.Table+" t WHERE "+strings.Join(conds, " AND ")+" AND "+pred, args...); n != 1 {
					t.Errorf("defect %+v not in the data", df)
				}
			}
		}
		if len(kinds) < 15 {
			t.Errorf("only %d defect kinds seeded: %v", len(kinds), kinds)
		}
		// A known fraction, not zero and not most.
		total := count(t, db, `SELECT COUNT(*) FROM ds_demo_defects WHERE dataset = 'enterprise'`)
		if total < 30 || total > 400 {
			t.Errorf("enterprise defects: %d", total)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_ingest_runs WHERE notes = '演示数据：历史运行记录' AND status = 'failed'`); n == 0 {
			t.Error("no failed runs in the run history")
		}
		// Idempotent: a second run adds nothing.
		before := count(t, db, `SELECT COUNT(*) FROM ds_ingest_runs`)
		if lines, err := m.SeedDemo(ctx, tiny, nil); err != nil || len(lines) != 0 {
			t.Fatalf("second seed: %v %v", lines, err)
		}
		if after := count(t, db, `SELECT COUNT(*) FROM ds_ingest_runs`); after != before {
			t.Errorf("second seed ran again: %d → %d runs", before, after)
		}
	})
}

// TestGeneratorsAtMediumScale runs every demo-data generator over its medium-scale row count
// (the API-call log capped at 100,000 rows) without loading: every generated identifier must be
// well formed (an invalid credit-code body once stopped `zhsj seed --scale medium` at the
// 326th licence).
func TestGeneratorsAtMediumScale(t *testing.T) {
	t.Parallel()
	sizes := SeedSizes[demo.Medium]
	g, err := newGenerator(sizes)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range All() {
		n := min(sizes[d.Name], 100_000)
		if n == 0 {
			continue
		}
		src := g.source(d.Name, n)
		rows := 0
		for {
			if _, err := src.Next(); err != nil {
				break
			}
			rows++
		}
		if rows != n {
			t.Errorf("%s: %d rows of %d", d.Name, rows, n)
		}
	}
}
